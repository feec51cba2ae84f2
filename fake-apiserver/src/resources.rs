//! The kinds the fake API server serves: built-in ones, plus CRDs registered at run time.

use crate::field_types::{self, FieldType};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One servable resource, as discovery describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// Writes to the main resource leave `.status` alone; `/status` writes only `.status`.
    pub status_subresource: bool,
    /// `additionalPrinterColumns` of a CRD version: `(name, type, jsonPath)`.
    pub printer_columns: Vec<(String, String, String)>,
    /// A CRD version's `openAPIV3Schema` (for OpenAPI v3 discovery and `kubectl explain`).
    pub schema: Option<Arc<crd_admission::Schema>>,
    /// Where the `/scale` subresource reads and writes, when the kind has one.
    pub scale: Option<ScalePaths>,
    /// The schema server-side apply and `managedFields` follow.
    pub fields: FieldType,
}

/// A scale subresource: dotted paths of the replica counts and of the selector. A CRD's
/// selector is a string at its path; a Deployment's is a `LabelSelector` (`structured`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
    pub structured_selector: bool,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn builtin(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_ascii_lowercase(),
            namespaced,
            short_names: Vec::new(),
            status_subresource: false,
            printer_columns: Vec::new(),
            schema: None,
            scale: None,
            fields: field_types::builtin(group, version, kind),
        }
    }

    /// `/scale` as a Deployment has it.
    fn with_deployment_scale(mut self) -> Self {
        self.scale = Some(ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".spec.selector".into()),
            structured_selector: true,
        });
        self
    }

    fn with_status(mut self) -> Self {
        self.status_subresource = true;
        self
    }

    fn with_short_names(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";

/// Kinds keyed by `(group, version, plural)`.
#[derive(Debug, Clone)]
pub struct Registry {
    types: BTreeMap<(String, String, String), ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        let builtins = [
            ResourceType::builtin("", "v1", "Namespace", "namespaces", false)
                .with_status()
                .with_short_names(&["ns"]),
            ResourceType::builtin(
                "",
                "v1",
                "PersistentVolumeClaim",
                "persistentvolumeclaims",
                true,
            )
            .with_status(),
            ResourceType::builtin("", "v1", "PersistentVolume", "persistentvolumes", false)
                .with_status()
                .with_short_names(&["pv"]),
            ResourceType::builtin("", "v1", "ServiceAccount", "serviceaccounts", true)
                .with_short_names(&["sa"]),
            ResourceType::builtin("", "v1", "Service", "services", true)
                .with_status()
                .with_short_names(&["svc"]),
            ResourceType::builtin("", "v1", "ConfigMap", "configmaps", true)
                .with_short_names(&["cm"]),
            ResourceType::builtin("", "v1", "Secret", "secrets", true),
            ResourceType::builtin("", "v1", "Event", "events", true).with_short_names(&["ev"]),
            ResourceType::builtin("", "v1", "Pod", "pods", true)
                .with_status()
                .with_short_names(&["po"]),
            ResourceType::builtin("apps", "v1", "Deployment", "deployments", true)
                .with_status()
                .with_deployment_scale()
                .with_short_names(&["deploy"]),
            ResourceType::builtin("coordination.k8s.io", "v1", "Lease", "leases", true),
            ResourceType::builtin(
                "autoscaling",
                "v2",
                "HorizontalPodAutoscaler",
                "horizontalpodautoscalers",
                true,
            )
            .with_status()
            .with_short_names(&["hpa"]),
            ResourceType::builtin(
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
                true,
            )
            .with_status()
            .with_short_names(&["pdb"]),
            ResourceType::builtin(
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                "networkpolicies",
                true,
            )
            .with_short_names(&["netpol"]),
            ResourceType::builtin(RBAC, "v1", "ClusterRole", "clusterroles", false),
            ResourceType::builtin(
                RBAC,
                "v1",
                "ClusterRoleBinding",
                "clusterrolebindings",
                false,
            ),
            ResourceType::builtin(RBAC, "v1", "Role", "roles", true),
            ResourceType::builtin(RBAC, "v1", "RoleBinding", "rolebindings", true),
            ResourceType::builtin("events.k8s.io", "v1", "Event", "events", true),
            ResourceType::builtin(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                false,
            )
            .with_status()
            .with_short_names(&["crd", "crds"]),
        ];
        Self {
            types: builtins.into_iter().map(|t| (key(&t), t)).collect(),
        }
    }
}

fn key(t: &ResourceType) -> (String, String, String) {
    (t.group.clone(), t.version.clone(), t.plural.clone())
}

impl Registry {
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .get(&(group.to_owned(), version.to_owned(), plural.to_owned()))
    }

    pub fn all(&self) -> impl Iterator<Item = &ResourceType> {
        self.types.values()
    }

    /// Group name → its versions, in order.
    pub fn groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in self.types.values() {
            let versions = groups.entry(t.group.clone()).or_default();
            if !versions.contains(&t.version) {
                versions.push(t.version.clone());
            }
        }
        groups
    }

    /// Serves every served version of a CustomResourceDefinition object.
    pub fn register_crd(&mut self, crd: &Value) -> Vec<ResourceType> {
        let spec = &crd["spec"];
        let names = &spec["names"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let mut added = Vec::new();
        for version in spec["versions"].as_array().into_iter().flatten() {
            if version["served"].as_bool() == Some(false) {
                continue;
            }
            let open_api = version["schema"].get("openAPIV3Schema");
            let fields = field_types::custom(
                &text(&spec["group"]),
                &text(&version["name"]),
                &text(&names["kind"]),
                open_api,
            );
            let resource = ResourceType {
                fields,
                group: text(&spec["group"]),
                version: text(&version["name"]),
                kind: text(&names["kind"]),
                plural: text(&names["plural"]),
                singular: names["singular"]
                    .as_str()
                    .map_or_else(|| text(&names["kind"]).to_ascii_lowercase(), str::to_owned),
                namespaced: spec["scope"].as_str() != Some("Cluster"),
                short_names: names["shortNames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect(),
                status_subresource: version["subresources"].get("status").is_some(),
                printer_columns: version["additionalPrinterColumns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| (text(&c["name"]), text(&c["type"]), text(&c["jsonPath"])))
                    .collect(),
                schema: version["schema"]
                    .get("openAPIV3Schema")
                    .cloned()
                    .map(|schema| Arc::new(crd_admission::Schema::compile(schema))),
                scale: version["subresources"]
                    .get("scale")
                    .map(|scale| ScalePaths {
                        spec_replicas: text(&scale["specReplicasPath"]),
                        status_replicas: text(&scale["statusReplicasPath"]),
                        label_selector: scale["labelSelectorPath"].as_str().map(str::to_owned),
                        structured_selector: false,
                    }),
            };
            self.types.insert(key(&resource), resource.clone());
            added.push(resource);
        }
        added
    }

    pub fn unregister_crd(&mut self, crd: &Value) {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let plural = spec["names"]["plural"].as_str().unwrap_or_default();
        self.types
            .retain(|(g, _, p), _| !(g == group && p == plural));
    }
}
