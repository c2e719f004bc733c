//! The REST surface of every resource as a version-neutral model: which paths exist, which operations each path
//! has, with what parameters, bodies and responses. The OpenAPI v3 and Swagger 2.0 writers both render this one
//! model, so the two documents always describe the same API. Operation ids and actions follow upstream's naming
//! (`patchCoreV1NamespacedPodStatus`, `x-kubernetes-action: patch`) because clients key on them.

use std::collections::BTreeMap;

use super::{components, Gvk};
use crate::api::registry::ResourceDesc;

/// Subresources that upgrade or proxy the connection instead of exchanging an object (upstream action `connect`).
const CONNECT_SUBRESOURCES: &[&str] = &["attach", "exec", "portforward", "proxy"];
/// Subresources whose GET streams text, although the registry may name the parent kind as theirs.
const TEXT_SUBRESOURCES: &[&str] = &["log"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Put,
    Post,
    Patch,
    Delete,
}

impl Method {
    /// The key of the operation in a path item.
    pub(super) fn key(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Put => "put",
            Self::Post => "post",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }

    /// The word upstream puts in connect operation ids (`connectCoreV1GetNamespacedPodExec`).
    fn title(self) -> &'static str {
        match self {
            Self::Get => "Get",
            Self::Put => "Put",
            Self::Post => "Post",
            Self::Patch => "Patch",
            Self::Delete => "Delete",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Location {
    Path,
    Query,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ParamType {
    String,
    Integer,
    Boolean,
}

impl ParamType {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
        }
    }
}

/// A path or query parameter.
#[derive(Debug)]
pub(super) struct Param {
    pub name: &'static str,
    pub location: Location,
    pub kind: ParamType,
    pub description: &'static str,
}

const fn query(name: &'static str, kind: ParamType, description: &'static str) -> Param {
    Param { name, location: Location::Query, kind, description }
}

const NAME: Param = Param { name: "name", location: Location::Path, kind: ParamType::String, description: "name of the object" };
const NAMESPACE: Param = Param {
    name: "namespace",
    location: Location::Path,
    kind: ParamType::String,
    description: "object name and auth scope, such as for teams and projects",
};
const PRETTY: Param = query("pretty", ParamType::String, "If 'true', the output is indented.");

const DRY_RUN: Param = query(
    "dryRun",
    ParamType::String,
    "When present, the request is validated and processed but nothing is persisted. The only valid value is All.",
);
const FIELD_MANAGER: Param = query(
    "fieldManager",
    ParamType::String,
    "The name of the actor making the change, recorded in managedFields. Required for apply patches.",
);
const FIELD_VALIDATION: Param = query(
    "fieldValidation",
    ParamType::String,
    "What to do with unknown or duplicate fields in the body: Ignore drops them, Warn (the default) drops them \
     and returns a warning header for each, Strict fails the request.",
);
const FORCE: Param = query(
    "force",
    ParamType::Boolean,
    "Apply patches only: take ownership of fields that other managers own instead of failing with a conflict.",
);

const ALLOW_WATCH_BOOKMARKS: Param = query(
    "allowWatchBookmarks",
    ParamType::Boolean,
    "Watch only: the client accepts BOOKMARK events, which the server may send at any time.",
);
const CONTINUE: Param = query("continue", ParamType::String, "The continue token of the previous page of a paginated list.");
const FIELD_SELECTOR: Param =
    query("fieldSelector", ParamType::String, "Restricts the result to objects whose fields match. Defaults to everything.");
const LABEL_SELECTOR: Param =
    query("labelSelector", ParamType::String, "Restricts the result to objects whose labels match. Defaults to everything.");
const LIMIT: Param = query(
    "limit",
    ParamType::Integer,
    "The maximum number of items in one page; the list metadata carries a continue token when more remain.",
);
const RESOURCE_VERSION: Param = query(
    "resourceVersion",
    ParamType::String,
    "The resource version the list is served from, or the watch starts after; unset or 0 means the latest.",
);
const RESOURCE_VERSION_MATCH: Param =
    query("resourceVersionMatch", ParamType::String, "How resourceVersion applies to a list: Exact or NotOlderThan.");
const SEND_INITIAL_EVENTS: Param =
    query("sendInitialEvents", ParamType::Boolean, "Watch only: start with synthetic ADDED events for the current state, then a bookmark.");
const TIMEOUT_SECONDS: Param = query("timeoutSeconds", ParamType::Integer, "The longest the call may last, in seconds.");
const WATCH: Param = query("watch", ParamType::Boolean, "Stream added, modified and deleted events instead of returning a list.");

const GRACE_PERIOD_SECONDS: Param = query(
    "gracePeriodSeconds",
    ParamType::Integer,
    "Seconds before the object is deleted; zero means immediately. Defaults to the kind's own grace period.",
);
const ORPHAN_DEPENDENTS: Param =
    query("orphanDependents", ParamType::Boolean, "Deprecated, use propagationPolicy: whether dependents are orphaned.");
const PROPAGATION_POLICY: Param =
    query("propagationPolicy", ParamType::String, "Whether and how dependents are garbage collected: Orphan, Background or Foreground.");

const LIST_PARAMS: &[&Param] = &[
    &ALLOW_WATCH_BOOKMARKS,
    &CONTINUE,
    &FIELD_SELECTOR,
    &LABEL_SELECTOR,
    &LIMIT,
    &RESOURCE_VERSION,
    &RESOURCE_VERSION_MATCH,
    &SEND_INITIAL_EVENTS,
    &TIMEOUT_SECONDS,
    &WATCH,
];
/// Create and replace: kubectl ≥ 1.29 sends `fieldValidation` only where the PATCH operation lists it, so every
/// write operation carries it.
const WRITE_PARAMS: &[&Param] = &[&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION];
const PATCH_PARAMS: &[&Param] = &[&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION, &FORCE];
const DELETE_PARAMS: &[&Param] = &[&DRY_RUN, &GRACE_PERIOD_SECONDS, &ORPHAN_DEPENDENTS, &PROPAGATION_POLICY];
const DELETE_COLLECTION_PARAMS: &[&Param] = &[
    &CONTINUE,
    &DRY_RUN,
    &FIELD_SELECTOR,
    &GRACE_PERIOD_SECONDS,
    &LABEL_SELECTOR,
    &LIMIT,
    &ORPHAN_DEPENDENTS,
    &PROPAGATION_POLICY,
    &RESOURCE_VERSION,
    &RESOURCE_VERSION_MATCH,
    &SEND_INITIAL_EVENTS,
    &TIMEOUT_SECONDS,
];

/// The JSON patch flavours the server accepts; kubectl's client-side apply requires the strategic one.
pub(super) const PATCH_CONTENT_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// What a request or response carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Payload {
    /// An object of the named definition.
    Object(String),
    /// A patch document in one of `PATCH_CONTENT_TYPES`.
    Patch,
    /// A stream of text, such as a connection upgrade's.
    Text,
}

#[derive(Debug)]
pub(super) struct Body {
    pub payload: Payload,
    pub required: bool,
}

#[derive(Debug)]
pub(super) struct Operation {
    pub method: Method,
    pub id: String,
    pub description: String,
    /// `x-kubernetes-action`.
    pub action: &'static str,
    pub gvk: Gvk,
    pub params: &'static [&'static Param],
    pub body: Option<Body>,
    /// The success codes and what each carries; every operation may also answer 401.
    pub responses: Vec<(u16, Payload)>,
    /// Whether a GET can stream watch events.
    pub watchable: bool,
}

#[derive(Debug)]
pub(super) struct PathItem {
    pub path: String,
    /// Path parameters and `pretty`, shared by every operation.
    pub params: Vec<&'static Param>,
    pub operations: Vec<Operation>,
}

/// The paths of one group-version, in registry order.
#[derive(Debug)]
pub(super) struct GroupVersionPaths {
    pub group: &'static str,
    pub version: &'static str,
    pub paths: Vec<PathItem>,
}

impl GroupVersionPaths {
    /// The key of the group-version in the v3 index: `api/v1`, `apis/apps/v1`.
    pub(super) fn document_path(&self) -> String {
        if self.group.is_empty() {
            format!("api/{}", self.version)
        } else {
            format!("apis/{}/{}", self.group, self.version)
        }
    }
}

/// The definition name of every kind a request or response carries.
pub(super) type Kinds = BTreeMap<Gvk, String>;

/// What a verb's request carries.
#[derive(Clone, Copy)]
enum Request {
    Nothing,
    Object,
    Patch,
    DeleteOptions,
}

/// What a verb's success responses carry.
#[derive(Clone, Copy)]
enum Reply {
    Object,
    List,
    Status,
}

/// How one registry verb becomes an operation.
struct Verb {
    /// The registry's verb (`get`, `deletecollection`).
    name: &'static str,
    method: Method,
    /// `{id_verb}{GroupVersion}{id_infix}{Namespaced}{Kind}…`, as in `deleteCoreV1CollectionNamespacedPod`.
    id_verb: &'static str,
    id_infix: &'static str,
    /// `x-kubernetes-action`.
    action: &'static str,
    /// The description is `{phrase} {article} {Kind}` (`read the specified Pod`), with the subresource's name
    /// before the article for subresources (`read status of the specified Pod`).
    phrase: &'static str,
    article: &'static str,
    params: &'static [&'static Param],
    request: Request,
    reply: Reply,
    codes: &'static [u16],
}

const LIST: Verb = Verb {
    name: "list",
    method: Method::Get,
    id_verb: "list",
    id_infix: "",
    action: "list",
    phrase: "list or watch objects of kind",
    article: "",
    params: LIST_PARAMS,
    request: Request::Nothing,
    reply: Reply::List,
    codes: &[200],
};
const CREATE: Verb = Verb {
    name: "create",
    method: Method::Post,
    id_verb: "create",
    id_infix: "",
    action: "post",
    phrase: "create",
    article: "a",
    params: WRITE_PARAMS,
    request: Request::Object,
    reply: Reply::Object,
    codes: &[200, 201, 202],
};
const DELETE_COLLECTION: Verb = Verb {
    name: "deletecollection",
    method: Method::Delete,
    id_verb: "delete",
    id_infix: "Collection",
    action: "deletecollection",
    phrase: "delete collection of",
    article: "",
    params: DELETE_COLLECTION_PARAMS,
    request: Request::DeleteOptions,
    reply: Reply::Status,
    codes: &[200],
};
const READ: Verb = Verb {
    name: "get",
    method: Method::Get,
    id_verb: "read",
    id_infix: "",
    action: "get",
    phrase: "read",
    article: "the specified",
    params: &[],
    request: Request::Nothing,
    reply: Reply::Object,
    codes: &[200],
};
const REPLACE: Verb = Verb {
    name: "update",
    method: Method::Put,
    id_verb: "replace",
    id_infix: "",
    action: "put",
    phrase: "replace",
    article: "the specified",
    params: WRITE_PARAMS,
    request: Request::Object,
    reply: Reply::Object,
    codes: &[200, 201],
};
const PATCH: Verb = Verb {
    name: "patch",
    method: Method::Patch,
    id_verb: "patch",
    id_infix: "",
    action: "patch",
    phrase: "partially update",
    article: "the specified",
    params: PATCH_PARAMS,
    request: Request::Patch,
    reply: Reply::Object,
    codes: &[200, 201],
};
const DELETE: Verb = Verb {
    name: "delete",
    method: Method::Delete,
    id_verb: "delete",
    id_infix: "",
    action: "delete",
    phrase: "delete",
    article: "a",
    params: DELETE_PARAMS,
    request: Request::DeleteOptions,
    reply: Reply::Status,
    codes: &[200, 202],
};

const COLLECTION_VERBS: &[Verb] = &[LIST, CREATE, DELETE_COLLECTION];
const ITEM_VERBS: &[Verb] = &[READ, REPLACE, PATCH, DELETE];
const SUBRESOURCE_VERBS: &[Verb] = &[READ, REPLACE, PATCH, CREATE];
/// Streaming subresources (log, exec, …) by verb; they have no PATCH, so every PATCH operation with a GVK is a
/// real object patch with `fieldValidation` (kubectl decides by the first PATCH operation of a GVK it finds).
const STREAM_VERBS: &[Verb] = &[READ, REPLACE, CREATE, DELETE];

/// Builds the paths of every resource, grouped by group-version in order of first appearance.
pub(super) fn build(resources: &[ResourceDesc], kinds: &Kinds) -> Vec<GroupVersionPaths> {
    let mut groups: Vec<GroupVersionPaths> = Vec::new();
    for resource in resources {
        let paths = resource_paths(resource, kinds);
        match groups.iter_mut().find(|gv| gv.group == resource.group && gv.version == resource.version) {
            Some(gv) => gv.paths.extend(paths),
            None => groups.push(GroupVersionPaths { group: resource.group, version: resource.version, paths }),
        }
    }
    groups
}

/// The operations of one path: the verbs it serves and what they exchange.
struct Target<'a> {
    resource: &'a ResourceDesc,
    /// `CoreV1`, `AppsV1`, `RbacAuthorizationV1`.
    group_version: &'a str,
    /// `Namespaced` for the paths of namespaced kinds under a namespace, else empty.
    scope: &'a str,
    /// Appended to operation ids: the subresource's name capitalised, or `ForAllNamespaces`.
    id_suffix: String,
    subresource: Option<&'a str>,
    gvk: Gvk,
    /// The definition of the object exchanged, or `None` when the path streams text.
    object: Option<&'a str>,
    /// Verbs the registry allows on this path.
    allowed: &'a [&'a str],
}

impl Target<'_> {
    fn operations(&self, verbs: &[Verb]) -> Vec<Operation> {
        verbs.iter().filter(|verb| self.allowed.contains(&verb.name)).map(|verb| self.operation(verb)).collect()
    }

    fn operation(&self, verb: &Verb) -> Operation {
        let kind = self.resource.kind;
        let connect = self.subresource.is_some_and(|name| CONNECT_SUBRESOURCES.contains(&name));
        let (id_verb, id_infix, action) =
            if connect { ("connect", verb.method.title(), "connect") } else { (verb.id_verb, verb.id_infix, verb.action) };
        let id = format!("{id_verb}{}{id_infix}{}{kind}{}", self.group_version, self.scope, self.id_suffix);
        let target = match (self.subresource, verb.article) {
            (Some(name), article) => format!("{name} of {article} {kind}"),
            (None, "") => kind.to_string(),
            (None, article) => format!("{article} {kind}"),
        };
        let object = self.object.map(|name| Payload::Object(name.to_string()));
        let reply = match (verb.reply, &object) {
            (_, None) => Payload::Text,
            (Reply::Object, Some(object)) => object.clone(),
            (Reply::List, Some(_)) => Payload::Object(super::list_definition_name(self.resource)),
            (Reply::Status, Some(_)) => Payload::Object(components::STATUS.to_string()),
        };
        let body = match (verb.request, &object) {
            (Request::Nothing, _) | (_, None) => None,
            (Request::Object, Some(object)) => Some(Body { payload: object.clone(), required: true }),
            (Request::Patch, Some(_)) => Some(Body { payload: Payload::Patch, required: true }),
            (Request::DeleteOptions, Some(_)) => {
                Some(Body { payload: Payload::Object(components::DELETE_OPTIONS.to_string()), required: false })
            }
        };
        Operation {
            method: verb.method,
            id,
            description: format!("{} {target}", verb.phrase),
            action,
            gvk: self.gvk,
            params: if object.is_some() { verb.params } else { &[] },
            body,
            responses: verb.codes.iter().map(|code| (*code, reply.clone())).collect(),
            watchable: verb.name == LIST.name && self.allowed.contains(&"watch"),
        }
    }
}

fn resource_paths(resource: &ResourceDesc, kinds: &Kinds) -> Vec<PathItem> {
    let prefix = if resource.group.is_empty() {
        format!("/api/{}", resource.version)
    } else {
        format!("/apis/{}/{}", resource.group, resource.version)
    };
    let group_version = format!("{}{}", group_camel(resource.group), upper_first(resource.version));
    let base = Target {
        resource,
        group_version: &group_version,
        scope: if resource.namespaced { "Namespaced" } else { "" },
        id_suffix: String::new(),
        subresource: None,
        gvk: Gvk::of_resource(resource),
        object: Some(resource.schema_name),
        allowed: resource.verbs,
    };
    let (collection, mut scope_params) = if resource.namespaced {
        (format!("{prefix}/namespaces/{{namespace}}/{}", resource.plural), vec![&NAMESPACE])
    } else {
        (format!("{prefix}/{}", resource.plural), vec![])
    };
    scope_params.push(&PRETTY);
    let item = format!("{collection}/{{name}}");
    let mut item_params = vec![&NAME];
    item_params.extend(scope_params.iter().copied());

    let mut paths = vec![
        PathItem { path: collection, params: scope_params, operations: base.operations(COLLECTION_VERBS) },
        PathItem { path: item.clone(), params: item_params.clone(), operations: base.operations(ITEM_VERBS) },
    ];
    for subresource in resource.subresources {
        let gvk = Gvk::of_subresource(subresource);
        let streams = CONNECT_SUBRESOURCES.contains(&subresource.name) || TEXT_SUBRESOURCES.contains(&subresource.name);
        let object = kinds.get(&gvk).filter(|_| !streams).map(String::as_str);
        let target = Target {
            id_suffix: upper_first(subresource.name),
            subresource: Some(subresource.name),
            gvk,
            object,
            allowed: subresource.verbs,
            ..base
        };
        let verbs = if object.is_some() { SUBRESOURCE_VERBS } else { STREAM_VERBS };
        paths.push(PathItem {
            path: format!("{item}/{}", subresource.name),
            params: item_params.clone(),
            operations: target.operations(verbs),
        });
    }
    if resource.namespaced {
        let all_namespaces = Target { scope: "", id_suffix: "ForAllNamespaces".into(), ..base };
        paths.push(PathItem {
            path: format!("{prefix}/{}", resource.plural),
            params: vec![&PRETTY],
            operations: all_namespaces.operations(&[LIST]),
        });
    }
    paths.retain(|path| !path.operations.is_empty());
    paths
}

/// The group as upstream spells it in operation ids: `Core` for the legacy group, `.k8s.io` dropped and each
/// dotted part capitalised (`rbac.authorization.k8s.io` → `RbacAuthorization`).
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    group.trim_end_matches(".k8s.io").split('.').map(upper_first).collect()
}

/// The group as upstream spells it in tags: `core`, `apps`, `rbacAuthorization`.
pub(super) fn group_tag(group: &str, version: &str) -> String {
    let camel = group_camel(group);
    let mut chars = camel.chars();
    let first = chars.next().map(|c| c.to_ascii_lowercase()).unwrap_or_default();
    format!("{first}{}_{version}", chars.as_str())
}

fn upper_first(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_follow_upstream_spelling() {
        assert_eq!(group_camel(""), "Core");
        assert_eq!(group_camel("rbac.authorization.k8s.io"), "RbacAuthorization");
        assert_eq!(group_camel("flowcontrol.apiserver.k8s.io"), "FlowcontrolApiserver");
        assert_eq!(group_tag("", "v1"), "core_v1");
        assert_eq!(group_tag("rbac.authorization.k8s.io", "v1"), "rbacAuthorization_v1");
    }
}
