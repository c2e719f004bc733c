//! Which resources the API serves, for the loops that act on every kind (namespace deletion, garbage collection):
//! the preferred version of each group, asked group by group so that one broken group (an aggregated API that is
//! down) costs only its own resources, with the failures worded as upstream's discovery client words them.

use std::collections::BTreeMap;

use kube::core::GroupVersion;
use kube::discovery::{ApiResource, Scope};

/// One resource at its group's preferred version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServedResource {
    pub resource: ApiResource,
    pub namespaced: bool,
    /// The verbs discovery lists (`list`, `watch`, `delete`, `deletecollection`, ...).
    pub verbs: Vec<String>,
}

impl ServedResource {
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|served| served == verb)
    }

    /// `<group>/<version>, Resource=<plural>`, as Go prints a GroupVersionResource (the core group prints as `/v1`).
    pub fn group_version_resource(&self) -> String {
        format!("{}/{}, Resource={}", self.resource.group, self.resource.version, self.resource.plural)
    }
}

/// What one discovery pass found.
#[derive(Clone, Debug, Default)]
pub struct Discovered {
    pub resources: Vec<ServedResource>,
    /// Group versions whose resource list could not be read, with why (`apps/v1` → message).
    pub failed_groups: BTreeMap<String, String>,
    /// Group versions that do not parse.
    pub unparsable_group_versions: Vec<String>,
}

impl Discovered {
    /// Upstream `ErrGroupDiscoveryFailed`'s text, when some groups failed.
    pub fn failure_message(&self) -> Option<String> {
        if self.failed_groups.is_empty() {
            return None;
        }
        let groups: Vec<String> = self.failed_groups.iter().map(|(group_version, error)| format!("{group_version}: {error}")).collect();
        Some(format!("unable to retrieve the complete list of server APIs: {}", groups.join(", ")))
    }

    /// The groups (without version) that failed, whose resources a caller should treat as still there.
    pub fn failed_group_names(&self) -> Vec<&str> {
        self.failed_groups.keys().map(|group_version| group_version.rsplit_once('/').map_or("", |(group, _)| group)).collect()
    }
}

/// The preferred version of every served group (core `v1` included). Fails only when the group list itself cannot be
/// read; a group whose resources cannot be read is reported in `failed_groups`.
pub async fn preferred_resources(client: &kube::Client) -> Result<Discovered, kube::Error> {
    let groups = client.list_api_groups().await?;
    let mut wanted = vec![GroupVersion::gv("", "v1")];
    let mut discovered = Discovered::default();
    for group in groups.groups {
        let version = group.preferred_version.as_ref().or(group.versions.first()).map(|preferred| preferred.group_version.clone());
        let Some(group_version) = version else { continue };
        match group_version.parse::<GroupVersion>() {
            Ok(parsed) => wanted.push(parsed),
            Err(_) => discovered.unparsable_group_versions.push(group_version),
        }
    }
    let answers = futures::future::join_all(wanted.iter().map(|gv| kube::discovery::pinned_group(client, gv))).await;
    for (gv, answer) in wanted.iter().zip(answers) {
        match answer {
            Ok(group) => {
                for (resource, capabilities) in group.recommended_resources() {
                    discovered.resources.push(ServedResource {
                        resource,
                        namespaced: capabilities.scope == Scope::Namespaced,
                        verbs: capabilities.operations,
                    });
                }
            }
            Err(error) => {
                let message = match &error {
                    kube::Error::Api(status) => status.message.clone(),
                    other => other.to_string(),
                };
                discovered.failed_groups.insert(gv.api_version(), message);
            }
        }
    }
    Ok(discovered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_message_lists_every_failed_group_in_order() {
        let mut discovered = Discovered::default();
        assert_eq!(discovered.failure_message(), None);
        discovered.failed_groups.insert("metrics.k8s.io/v1beta1".into(), "the server is currently unable to handle the request".into());
        discovered.failed_groups.insert("custom.example.com/v1".into(), "boom".into());
        assert_eq!(
            discovered.failure_message().as_deref(),
            Some(
                "unable to retrieve the complete list of server APIs: custom.example.com/v1: boom, metrics.k8s.io/v1beta1: the server is \
                 currently unable to handle the request"
            )
        );
        assert_eq!(discovered.failed_group_names(), vec!["custom.example.com", "metrics.k8s.io"]);
    }

    #[test]
    fn resources_print_as_go_prints_a_group_version_resource() {
        let pods = ServedResource {
            resource: ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "Pod".into(),
                plural: "pods".into(),
            },
            namespaced: true,
            verbs: vec!["list".into(), "delete".into()],
        };
        assert_eq!(pods.group_version_resource(), "/v1, Resource=pods");
        assert!(pods.supports("delete"));
        assert!(!pods.supports("deletecollection"));
    }
}
