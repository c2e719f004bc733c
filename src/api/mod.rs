//! The API vocabulary, pure: the registry that describes every resource kind once, the rules of each kind
//! (defaulting, validation, Table columns, selectable fields), selectors, patches, OpenAPI schemas and the
//! `Status` error shape. No IO here: nothing in `api` touches the network or the disk, so all of it is
//! testable without a runtime.
//!
//! Must not import `storage`, `apiserver` or any IO crate.

pub mod convert;
pub mod kinds;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod registry;
pub mod rules;
pub mod selector;
pub mod status;
pub mod table;
