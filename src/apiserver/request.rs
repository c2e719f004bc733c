//! Reading a request: which resource, namespace, name and subresource a path names (upstream's RequestInfo),
//! the query parameters the API accepts, and which response form the Accept header asks for.

use crate::api::registry::{self, ResourceDesc};
use crate::api::status::ApiError;

/// What a path under `/api` or `/apis` names.
#[derive(Debug)]
pub enum ApiPath {
    /// `/api` or `/apis`.
    Root {
        legacy: bool,
    },
    /// `/apis/<group>`.
    Group {
        group: String,
    },
    /// `/api/v1` or `/apis/<group>/<version>`.
    GroupVersion {
        group: String,
        version: String,
    },
    Resource(ResourcePath),
}

/// A request on a resource: collection, object or subresource.
#[derive(Debug)]
pub struct ResourcePath {
    pub desc: &'static ResourceDesc,
    /// The namespace in the path; `None` for cluster-scoped kinds and for lists across all namespaces.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Set by the deprecated `/watch/` path prefix.
    pub watch_prefix: bool,
}

/// Parses `/api/...` and `/apis/...` paths; `None` when the path is outside the resource API.
pub fn parse_api_path(path: &str) -> Option<Result<ApiPath, ApiError>> {
    let trimmed = path.trim_end_matches('/');
    let mut parts: Vec<&str> = trimmed.split('/').skip(1).collect();
    let (group, version, rest) = match parts.first().copied() {
        Some("api") => {
            if parts.len() == 1 {
                return Some(Ok(ApiPath::Root { legacy: true }));
            }
            let version = parts[1].to_string();
            parts.drain(..2);
            (String::new(), version, parts)
        }
        Some("apis") => {
            match parts.len() {
                1 => return Some(Ok(ApiPath::Root { legacy: false })),
                2 => return Some(Ok(ApiPath::Group { group: parts[1].to_string() })),
                _ => {}
            }
            let (group, version) = (parts[1].to_string(), parts[2].to_string());
            parts.drain(..3);
            (group, version, parts)
        }
        _ => return None,
    };
    Some(parse_resource_parts(group, version, rest))
}

fn parse_resource_parts(group: String, version: String, mut parts: Vec<&str>) -> Result<ApiPath, ApiError> {
    if parts.is_empty() {
        return Ok(ApiPath::GroupVersion { group, version });
    }
    let watch_prefix = parts[0] == "watch";
    if watch_prefix {
        parts.remove(0);
    }
    let mut namespace = None;
    // `namespaces/<ns>/<resource>/…` selects a namespace, except for the namespace's own subresources.
    if parts.first() == Some(&"namespaces") && parts.len() > 2 && !matches!(parts[2], "status" | "finalize") {
        namespace = Some(parts[1].to_string());
        parts.drain(..2);
    }
    let plural = parts.first().copied().unwrap_or_default();
    let not_found = || ApiError::NotFound { message: "the server could not find the requested resource".into(), details: None };
    let desc = registry::find(&group, &version, plural).ok_or_else(not_found)?;
    if parts.len() > 3 && parts.get(2) != Some(&"proxy") {
        return Err(not_found());
    }
    if namespace.is_some() && !desc.namespaced {
        return Err(not_found());
    }
    let name = parts.get(1).map(|name| name.to_string());
    let subresource = parts.get(2).map(|sub| sub.to_string());
    if let Some(sub) = &subresource {
        if !desc.subresources.iter().any(|known| known.name == sub) {
            return Err(not_found());
        }
    }
    Ok(ApiPath::Resource(ResourcePath { desc, namespace, name, subresource, watch_prefix }))
}

/// The query parameters of resource requests, as upstream names them.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|raw| {
                form_urlencoded::parse(raw.as_bytes())
                    .filter(|(key, _)| !key.is_empty())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A boolean parameter: `true`/`1` are true, absent or `false`/`0` false, anything else a 400.
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("") | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!("invalid value for {key}: {other:?}: must be true or false"))),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(text) => {
                text.parse().map(Some).map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {text:?}: must be an integer")))
            }
        }
    }

    pub fn dry_run(&self) -> Result<bool, ApiError> {
        let values: Vec<&str> = self.pairs.iter().filter(|(k, _)| k == "dryRun").map(|(_, v)| v.as_str()).collect();
        for value in &values {
            if *value != "All" {
                return Err(ApiError::bad_request(format!("Invalid dryRun value: {value:?}: supported values: \"All\"")));
            }
        }
        Ok(!values.is_empty())
    }
}

/// How unknown and duplicate fields in a request body are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn from_query(query: &Query) -> Result<Self, ApiError> {
        match query.get("fieldValidation") {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => {
                Err(ApiError::bad_request(format!("fieldValidation must be one of \"Ignore\", \"Warn\", \"Strict\", got {other:?}")))
            }
        }
    }
}

/// The shape of a successful response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseForm {
    Json,
    Yaml,
    Table,
    PartialObjectMetadata,
    PartialObjectMetadataList,
}

/// Picks the first acceptable form in the client's order, as upstream's negotiation does.
pub fn negotiate(accept: Option<&str>) -> Result<ResponseForm, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return Ok(ResponseForm::Json) };
    for entry in accept.split(',') {
        let mut pieces = entry.split(';').map(str::trim);
        let media = pieces.next().unwrap_or_default().to_ascii_lowercase();
        let params: Vec<(String, String)> =
            pieces.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let meta_v1 = param("g") == Some("meta.k8s.io") && matches!(param("v"), Some("v1") | Some("v1beta1"));
        match media.as_str() {
            "application/json" | "application/*" | "*/*" | "application/json-seq" => match param("as") {
                None => return Ok(ResponseForm::Json),
                Some("Table") if meta_v1 => return Ok(ResponseForm::Table),
                Some("PartialObjectMetadata") if meta_v1 => return Ok(ResponseForm::PartialObjectMetadata),
                Some("PartialObjectMetadataList") if meta_v1 => return Ok(ResponseForm::PartialObjectMetadataList),
                Some(_) => continue,
            },
            "application/yaml" => return Ok(ResponseForm::Yaml),
            _ => continue,
        }
    }
    Err(ApiError::NotAcceptable {
        message:
            "only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io"
                .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(path: &str) -> ResourcePath {
        match parse_api_path(path).unwrap().unwrap() {
            ApiPath::Resource(resource) => resource,
            other => panic!("{path} parsed as {other:?}"),
        }
    }

    #[test]
    fn paths_name_namespace_object_and_subresource() {
        let pods = resource("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(pods.desc.kind, "Pod");
        assert_eq!(pods.namespace.as_deref(), Some("default"));
        assert_eq!(pods.name.as_deref(), Some("web"));
        assert_eq!(pods.subresource.as_deref(), Some("status"));
        let all = resource("/apis/apps/v1/deployments");
        assert_eq!(all.namespace, None);
        let namespace = resource("/api/v1/namespaces/kube-system");
        assert_eq!(namespace.desc.plural, "namespaces");
        assert_eq!(namespace.name.as_deref(), Some("kube-system"));
        let finalize = resource("/api/v1/namespaces/gone/finalize");
        assert_eq!(finalize.subresource.as_deref(), Some("finalize"));
    }

    #[test]
    fn unknown_resources_and_subresources_are_not_found() {
        assert!(parse_api_path("/api/v1/widgets").unwrap().is_err());
        assert!(parse_api_path("/api/v1/namespaces/a/pods/b/nonsense").unwrap().is_err());
        assert!(parse_api_path("/healthz").is_none());
    }

    #[test]
    fn accept_header_negotiation_follows_client_order() {
        let kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(kubectl_get)).unwrap(), ResponseForm::Table);
        assert_eq!(negotiate(Some("application/json, */*")).unwrap(), ResponseForm::Json);
        assert_eq!(negotiate(Some("application/vnd.kubernetes.protobuf,application/json")).unwrap(), ResponseForm::Json);
        assert!(negotiate(Some("application/vnd.kubernetes.protobuf")).is_err());
        assert_eq!(
            negotiate(Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")).unwrap(),
            ResponseForm::PartialObjectMetadataList
        );
    }
}
