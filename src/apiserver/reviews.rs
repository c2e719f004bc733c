//! Request-only kinds: objects a client POSTs to ask a question, which are answered and never stored. Access
//! reviews (`kubectl auth can-i`) say yes, because every authenticated user may do everything until RBAC
//! exists; `SelfSubjectReview` (`kubectl auth whoami`) reports the caller; `TokenReview` checks a bearer token
//! against the token file. `Binding` posted to the namespace collection binds a pod, as `pods/binding` does.

use serde_json::{json, Value};

use super::auth::UserInfo;
use super::ApiState;
use crate::api::registry::ResourceDesc;
use crate::api::status::ApiError;

/// Why an access review says yes, until authorization exists.
const ALLOWED_REASON: &str = "no authorizer is configured: every authenticated user may do everything";

/// The answered review: the request as sent, with its `status` filled in.
pub fn answer(state: &ApiState, desc: &ResourceDesc, mut review: Value, user: &UserInfo) -> Result<Value, ApiError> {
    let status = match desc.kind {
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            json!({"allowed": true, "reason": ALLOWED_REASON})
        }
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        "SelfSubjectReview" => json!({"userInfo": user_json(user)}),
        "TokenReview" => {
            let token = review.pointer("/spec/token").and_then(Value::as_str).unwrap_or_default();
            match state.tokens.authenticate(token) {
                Some(reviewed) => json!({"authenticated": true, "user": user_json(&reviewed)}),
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            }
        }
        other => return Err(ApiError::method_not_supported(desc.group, desc.plural, &format!("create of {other}"))),
    };
    let map = review.as_object_mut().ok_or_else(|| ApiError::bad_request("the request body must be a JSON object"))?;
    map.insert("apiVersion".into(), json!(super::object::api_version(desc.group, desc.version)));
    map.insert("kind".into(), json!(desc.kind));
    map.entry("metadata").or_insert_with(|| json!({}));
    map.insert("status".into(), status);
    Ok(review)
}

fn user_json(user: &UserInfo) -> Value {
    let mut rendered = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        rendered["uid"] = json!(user.uid);
    }
    rendered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whoami_reports_the_caller() {
        let user = UserInfo { name: "ferrokube-admin".into(), uid: String::new(), groups: vec!["system:masters".into()] };
        assert_eq!(user_json(&user), json!({"username": "ferrokube-admin", "groups": ["system:masters"]}));
    }
}
