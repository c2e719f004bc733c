//! Running the server: opens storage, builds the shared state, writes certificates and the admin kubeconfig,
//! creates the bootstrap objects, then accepts HTTPS connections (client certificates optional, checked
//! against the cluster CA) and dispatches each request: health and version endpoints without authentication,
//! everything else only for an authenticated user.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use ipnet::Ipv4Net;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower::ServiceExt;

use super::auth::{self, PeerIdentity, TokenAuthenticator, UserInfo};
use super::discovery::{self, Discovery};
use super::metrics::{InstrumentedBackend, Metrics};
use super::pki::{self, PkiFiles, ServingNames};
use super::render::{self, bytes_response, error_response, json_response};
use super::request::{parse_api_path, ApiPath, Query};
use super::store::Store;
use super::{admission::ServiceAllocator, bootstrap, handlers, ApiState};
use crate::api::registry;
use crate::api::status::ApiError;
use crate::storage::Backend;

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT_SECONDS: u64 = 10;
/// How long start-up keeps retrying the bootstrap objects while storage is not reachable yet.
const BOOTSTRAP_ATTEMPTS_MAX: u32 = 60;

/// `ferrokube server` settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub datastore_endpoint: Option<String>,
    pub bind_address: IpAddr,
    pub secure_port: u16,
    pub service_cluster_ip_range: Ipv4Net,
    pub node_port_first: u16,
    pub node_port_last: u16,
    pub token_auth_file: Option<PathBuf>,
    pub tls_sans: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    #[error(transparent)]
    Tokens(#[from] auth::TokenFileError),
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error("bootstrap objects could not be created: {0}")]
    Bootstrap(ApiError),
}

/// Opens the configured store: PostgreSQL for `postgres://` endpoints, else the embedded SQLite store.
pub async fn open_backend(config: &ServerConfig) -> Result<Arc<dyn Backend>, ServerError> {
    match config.datastore_endpoint.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = crate::storage::postgres::PostgresStore::connect(url).await?;
            Ok(Arc::new(store))
        }
        Some(other) => Err(ServerError::Config(format!(
            "unsupported --datastore-endpoint {other:?}: use postgres://… or leave it out for the embedded store"
        ))),
        None => {
            std::fs::create_dir_all(&config.data_dir)
                .map_err(|e| ServerError::Config(format!("cannot create data dir {}: {e}", config.data_dir.display())))?;
            let store = crate::storage::sqlite::SqliteStore::open(&config.data_dir.join("state.db")).await?;
            Ok(Arc::new(store))
        }
    }
}

/// Builds the shared state over a backend; used by `run` and by in-process tests.
pub fn build_state(config: &ServerConfig, backend: Arc<dyn Backend>) -> Result<Arc<ApiState>, ServerError> {
    let metrics = Arc::new(Metrics::default());
    let backend: Arc<dyn Backend> = Arc::new(InstrumentedBackend { inner: backend, metrics: metrics.clone() });
    let openapi = crate::api::openapi::build(registry::builtin());
    let schemas = Arc::new(openapi.components().clone());
    let services = ServiceAllocator {
        cluster_ip_range: config.service_cluster_ip_range,
        node_port_first: config.node_port_first,
        node_port_last: config.node_port_last,
    };
    let tokens = match &config.token_auth_file {
        Some(path) => TokenAuthenticator::from_file(path)?,
        None => TokenAuthenticator::default(),
    };
    let server_address = format!("{}:{}", kubeconfig_host(config.bind_address), config.secure_port);
    Ok(Arc::new(ApiState {
        store: Store { backend, schemas, services },
        discovery: Discovery::build(registry::builtin(), &server_address),
        openapi,
        metrics,
        tokens,
        ready: Default::default(),
    }))
}

fn kubeconfig_host(bind_address: IpAddr) -> String {
    if bind_address.is_unspecified() || bind_address.is_loopback() {
        "127.0.0.1".to_string()
    } else {
        match bind_address {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        }
    }
}

/// Runs the server until interrupted.
pub async fn run(config: ServerConfig) -> Result<(), ServerError> {
    let files = PkiFiles::in_dir(&config.data_dir);
    let server_url = format!("https://{}:{}", kubeconfig_host(config.bind_address), config.secure_port);
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| ServerError::Config(format!("cannot create data dir {}: {e}", config.data_dir.display())))?;
    pki::ensure(
        &files,
        &ServingNames { bind_address: config.bind_address, extra_sans: config.tls_sans.clone(), kubeconfig_server: server_url },
    )?;
    let backend = open_backend(&config).await?;
    let state = build_state(&config, backend)?;
    let address = SocketAddr::new(config.bind_address, config.secure_port);
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|source| ServerError::Listen { address, source })?;
    let tls = tls_config(&files)?;
    tracing::info!(%address, "serving the Kubernetes API over HTTPS");
    println!("ferrokube is starting on https://{address}");
    println!("admin kubeconfig: {}", files.admin_kubeconfig.display());
    println!("try: kubectl --kubeconfig {} get namespaces", files.admin_kubeconfig.display());
    let bootstrap_state = state.clone();
    tokio::spawn(async move {
        for attempt in 1..=BOOTSTRAP_ATTEMPTS_MAX {
            match bootstrap::ensure_defaults(&bootstrap_state.store, config.secure_port).await {
                Ok(()) => {
                    bootstrap_state.ready.store(true, Ordering::Release);
                    tracing::info!("bootstrap objects present; ready");
                    return;
                }
                Err(error) => tracing::warn!(attempt, %error, "bootstrap objects not created yet; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tracing::error!("{}", ServerError::Bootstrap(ApiError::service_unavailable("gave up creating bootstrap objects")));
    });
    let progress_backend = state.store.backend.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(super::watch::WATCH_BOOKMARK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            progress_backend.notify_progress();
        }
    });
    accept_loop(listener, tls, state).await;
    Ok(())
}

fn tls_config(files: &PkiFiles) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let read = |path: &PathBuf| std::fs::read(path).map_err(|source| pki::PkiError::Io { path: path.clone(), source });
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut read(&files.serving_cert)?.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| ServerError::Config(format!("serving certificate: {e}")))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut read(&files.serving_key)?.as_slice())
        .map_err(|e| ServerError::Config(format!("serving key: {e}")))?
        .ok_or_else(|| ServerError::Config("serving key file holds no key".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut read(&files.ca_cert)?.as_slice()) {
        let ca = ca.map_err(|e| ServerError::Config(format!("CA certificate: {e}")))?;
        roots.add(ca).map_err(|e| ServerError::Config(format!("CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| ServerError::Config(format!("client certificate verifier: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Config(format!("TLS versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Config(format!("serving certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

async fn accept_loop(listener: tokio::net::TcpListener, tls: Arc<rustls::ServerConfig>, state: Arc<ApiState>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let router = router(state);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => {
                tracing::info!("shutting down");
                return;
            }
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(Duration::from_secs(TLS_HANDSHAKE_TIMEOUT_SECONDS), acceptor.accept(tcp)).await;
            let stream = match handshake {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let identity = PeerIdentity(
                stream.get_ref().1.peer_certificates().and_then(|certs| certs.first()).and_then(|cert| auth::user_from_certificate(cert)),
            );
            let service = router.map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(identity.clone());
                request.map(Body::new)
            });
            let service = hyper_util::service::TowerToHyperService::new(service);
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(error) = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// The HTTP application: one dispatcher for every path, so routing follows upstream's RequestInfo rules.
pub fn router(state: Arc<ApiState>) -> axum::Router {
    axum::Router::new().fallback(dispatch).with_state(state)
}

async fn dispatch(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query = Query::parse(parts.uri.query());
    let user = authenticate(&state, &parts.headers, parts.extensions.get::<PeerIdentity>());
    let (verb, resource, response) = route(&state, parts.method, &path, query, parts.headers, body, user).await;
    let code = response.status().as_u16();
    state.metrics.record_request(verb, &resource, code, started.elapsed());
    tracing::debug!(verb, %path, code, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    response
}

fn authenticate(state: &ApiState, headers: &HeaderMap, peer: Option<&PeerIdentity>) -> Option<UserInfo> {
    if let Some(PeerIdentity(Some(user))) = peer {
        return Some(user.clone());
    }
    let header = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer "))?.trim();
    state.tokens.authenticate(token)
}

const PUBLIC_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/version"];

async fn route(
    state: &Arc<ApiState>,
    method: Method,
    path: &str,
    query: Query,
    headers: HeaderMap,
    body: Body,
    user: Option<UserInfo>,
) -> (&'static str, String, Response) {
    let public = PUBLIC_PATHS.iter().any(|p| path == *p || path.starts_with(&format!("{p}/")));
    let user = match user {
        Some(user) => user,
        None if public => UserInfo { name: "system:anonymous".into(), uid: String::new(), groups: vec!["system:unauthenticated".into()] },
        None => return ("OTHER", String::new(), error_response(&ApiError::Unauthorized)),
    };
    match path {
        "/healthz" | "/livez" => ("GET", String::new(), bytes_response(StatusCode::OK, "text/plain; charset=utf-8", b"ok".to_vec())),
        "/readyz" => ("GET", String::new(), readyz(state)),
        "/version" => ("GET", String::new(), json_response(StatusCode::OK, &discovery::version_info())),
        "/metrics" => {
            ("GET", String::new(), bytes_response(StatusCode::OK, "text/plain; version=0.0.4", state.metrics.render().into_bytes()))
        }
        "/openapi/v2" | "/swagger-2.0.0.pb-v1" => ("GET", String::new(), super::openapi_http::v2(state, &headers)),
        "/openapi/v3" => ("GET", String::new(), super::openapi_http::v3_index(state)),
        p if p.starts_with("/openapi/v3/") => {
            ("GET", String::new(), super::openapi_http::v3_document(state, &p["/openapi/v3/".len()..], &query))
        }
        _ => match parse_api_path(path) {
            None => ("OTHER", String::new(), error_response(&not_found_path())),
            Some(Err(error)) => ("OTHER", String::new(), error_response(&error)),
            Some(Ok(ApiPath::Resource(resource_path))) => {
                let verb = handlers::metric_verb(&method, &resource_path, &query);
                let resource = resource_path.desc.plural.to_string();
                let response = match handlers::serve_resource(state.clone(), method, resource_path, query, headers, body, &user).await {
                    Ok(response) => response,
                    Err(error) => error_response(&error),
                };
                (verb, resource, response)
            }
            Some(Ok(other)) => ("GET", String::new(), discovery_response(state, other, &headers)),
        },
    }
}

fn not_found_path() -> ApiError {
    ApiError::NotFound { message: "the server could not find the requested resource".into(), details: None }
}

fn readyz(state: &ApiState) -> Response {
    if state.ready.load(Ordering::Acquire) {
        bytes_response(StatusCode::OK, "text/plain; charset=utf-8", b"ok".to_vec())
    } else {
        bytes_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            b"[-]bootstrap-objects failed: not finished\nreadyz check failed".to_vec(),
        )
    }
}

fn discovery_response(state: &ApiState, path: ApiPath, headers: &HeaderMap) -> Response {
    let accept = headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok());
    let aggregated = discovery::aggregated_version(accept);
    let discovery = &state.discovery;
    let (document, content_type) = match (path, aggregated) {
        (ApiPath::Root { legacy: true }, Some(version)) => (
            if version == discovery::AggregatedVersion::V2 { &discovery.aggregated_core_v2 } else { &discovery.aggregated_core_v2beta1 },
            version.content_type(),
        ),
        (ApiPath::Root { legacy: false }, Some(version)) => (
            if version == discovery::AggregatedVersion::V2 {
                &discovery.aggregated_groups_v2
            } else {
                &discovery.aggregated_groups_v2beta1
            },
            version.content_type(),
        ),
        (ApiPath::Root { legacy: true }, None) => (&discovery.legacy_versions, render::JSON),
        (ApiPath::Root { legacy: false }, None) => (&discovery.group_list, render::JSON),
        (ApiPath::Group { group }, _) => match discovery.groups.get(&group) {
            Some(document) => (document, render::JSON),
            None => return error_response(&not_found_path()),
        },
        (ApiPath::GroupVersion { group, version }, _) => match discovery.resource_lists.get(&(group, version)) {
            Some(document) => (document, render::JSON),
            None => return error_response(&not_found_path()),
        },
        (ApiPath::Resource(_), _) => return error_response(&not_found_path()),
    };
    let if_none_match = headers.get(axum::http::header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    let mut response = if if_none_match == Some(document.etag.as_str()) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        bytes_response(StatusCode::OK, content_type, document.body.clone())
    };
    let response_headers = response.headers_mut();
    response_headers.insert(axum::http::header::ETAG, document.etag.parse().expect("ETags are ASCII"));
    response_headers.insert(axum::http::header::VARY, axum::http::HeaderValue::from_static("Accept"));
    response_headers.insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("public"));
    response
}
