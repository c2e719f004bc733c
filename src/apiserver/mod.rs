//! The API server: HTTPS in, storage out. Serves the Kubernetes REST API (discovery, OpenAPI, resources,
//! watches) from the registry in `api`, authenticates every request, and stores objects through the generic
//! store over a `storage::Backend`.
//!
//! May import `api` and `storage`; must not import controllers, the scheduler or node code.

pub mod admission;
pub mod auth;
pub mod bootstrap;
pub mod discovery;
pub mod fields;
pub mod handlers;
pub mod metrics;
pub mod object;
pub mod openapi_http;
pub mod pki;
pub mod render;
pub mod request;
pub mod reviews;
pub mod serve;
pub mod store;
pub mod watch;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::api::openapi::OpenApiDocs;

/// Everything a request handler needs, shared by all connections.
pub struct ApiState {
    pub store: store::Store,
    pub discovery: discovery::Discovery,
    pub openapi: OpenApiDocs,
    pub metrics: Arc<metrics::Metrics>,
    pub tokens: auth::TokenAuthenticator,
    /// Turns true once bootstrap objects exist; `/readyz` answers 200 from then on.
    pub ready: AtomicBool,
}
