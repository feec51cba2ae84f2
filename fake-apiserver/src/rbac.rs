//! RBAC for ServiceAccount callers: a request bearing the token `serviceaccount:<ns>:<name>`
//! (kube-rs sends it; kubectl sends no token over plain HTTP) or impersonating
//! `system:serviceaccount:<ns>:<name>` (`kubectl --as=…`) is authorised against the Roles, ClusterRoles and bindings stored here, as a real API server
//! would, so the operator can run with exactly the RBAC objects the install manifest applies.
//! Requests without such a token are the cluster admin's (every other test's client).

use crate::resources::Registry;
use crate::selectors::Selector;
use crate::status::ApiError;
use crate::store::Store;
use serde_json::Value;
use std::sync::Arc;

/// Prefix of the bearer tokens that name a ServiceAccount.
pub const TOKEN_PREFIX: &str = "serviceaccount:";
const GROUP: &str = "rbac.authorization.k8s.io";

/// A ServiceAccount, from its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub namespace: String,
    pub name: String,
}

impl ServiceAccount {
    /// The caller named by an `Authorization` header, if it is a ServiceAccount.
    pub fn from_authorization(header: Option<&str>) -> Option<Self> {
        Self::parse(
            header?
                .strip_prefix("Bearer ")?
                .strip_prefix(TOKEN_PREFIX)?,
        )
    }

    /// The caller an `Impersonate-User` header names, if it is a ServiceAccount.
    pub fn from_impersonation(header: Option<&str>) -> Option<Self> {
        Self::parse(header?.strip_prefix("system:serviceaccount:")?)
    }

    fn parse(namespaced_name: &str) -> Option<Self> {
        let (namespace, name) = namespaced_name.split_once(':')?;
        Some(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    fn user(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }

    fn groups(&self) -> [String; 3] {
        [
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{}", self.namespace),
            "system:authenticated".to_owned(),
        ]
    }

    fn is_subject(&self, subject: &Value) -> bool {
        let name = subject["name"].as_str().unwrap_or_default();
        match subject["kind"].as_str() {
            Some("ServiceAccount") => {
                name == self.name && subject["namespace"].as_str() == Some(&self.namespace)
            }
            Some("User") => name == self.user(),
            Some("Group") => self.groups().iter().any(|g| g == name),
            _ => false,
        }
    }
}

/// What a request does, in RBAC's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    /// `deployments`, or `diceservices/status` for a subresource.
    pub resource: String,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// `Ok` when some binding of `caller` grants the request.
pub fn authorize(
    store: &Store,
    caller: &ServiceAccount,
    request: &Attributes<'_>,
) -> Result<(), ApiError> {
    let registry = &store.registry;
    let bound = |plural: &str, namespace: Option<&str>| -> Vec<Arc<Value>> {
        registry
            .get(GROUP, "v1", plural)
            .map(|t| store.list(t, namespace, &Selector::default()))
            .unwrap_or_default()
            .into_iter()
            .filter(|binding| {
                binding["subjects"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| caller.is_subject(s)))
            })
            .collect()
    };
    let mut rules = Vec::new();
    for binding in bound("clusterrolebindings", None) {
        rules.extend(role_rules(store, registry, &binding["roleRef"], None));
    }
    if let Some(namespace) = request.namespace {
        for binding in bound("rolebindings", Some(namespace)) {
            rules.extend(role_rules(
                store,
                registry,
                &binding["roleRef"],
                Some(namespace),
            ));
        }
    }
    if rules.iter().any(|rule| allows(rule, request)) {
        return Ok(());
    }
    let mut message = format!(
        "{}{} is forbidden: User \"{}\" cannot {} resource \"{}\" in API group \"{}\"",
        request.resource.split('/').next().unwrap_or_default(),
        if request.group.is_empty() {
            String::new()
        } else {
            format!(".{}", request.group)
        },
        caller.user(),
        request.verb,
        request.resource,
        request.group,
    );
    if let Some(name) = request.name {
        message = message.replacen(" is forbidden", &format!(" \"{name}\" is forbidden"), 1);
    }
    match request.namespace {
        Some(namespace) => message.push_str(&format!(" in the namespace \"{namespace}\"")),
        None => message.push_str(" at the cluster scope"),
    }
    Err(ApiError::Forbidden(message))
}

/// The rules of the role a binding refers to (a RoleBinding's Role is in its namespace).
fn role_rules(
    store: &Store,
    registry: &Registry,
    role_ref: &Value,
    namespace: Option<&str>,
) -> Vec<Value> {
    let name = role_ref["name"].as_str().unwrap_or_default();
    let (plural, namespace) = match role_ref["kind"].as_str() {
        Some("ClusterRole") => ("clusterroles", ""),
        Some("Role") => ("roles", namespace.unwrap_or_default()),
        _ => return Vec::new(),
    };
    registry
        .get(GROUP, "v1", plural)
        .and_then(|t| store.get(t, namespace, name).ok())
        .and_then(|role| role["rules"].as_array().cloned())
        .unwrap_or_default()
}

fn allows(rule: &Value, request: &Attributes<'_>) -> bool {
    let has = |field: &str, wanted: &str| {
        rule[field]
            .as_array()
            .is_some_and(|values| values.iter().any(|v| v == "*" || v == wanted))
    };
    let names_match = match rule["resourceNames"].as_array() {
        Some(names) if !names.is_empty() => request
            .name
            .is_some_and(|name| names.iter().any(|n| n == name)),
        _ => true,
    };
    has("apiGroups", request.group)
        && has("resources", &request.resource)
        && has("verbs", request.verb)
        && names_match
}

/// The OwnerReferencesPermissionEnforcement admission plugin (on where a cluster enables it,
/// e.g. OpenShift): changing an existing object's owner references needs `delete` on it, and
/// setting a reference with `blockOwnerDeletion: true` needs `update` on the owner's
/// `finalizers` subresource, on create too. `written` is the request body (its owner references are the ones set),
/// `existing` the stored object, if any.
pub fn owner_references_admission(
    store: &Store,
    caller: &ServiceAccount,
    target: &Attributes<'_>,
    written: &Value,
    existing: Option<&Value>,
) -> Result<(), ApiError> {
    let Some(references) = written["metadata"]["ownerReferences"].as_array() else {
        return Ok(());
    };
    let before = existing
        .and_then(|e| e["metadata"]["ownerReferences"].as_array())
        .cloned()
        .unwrap_or_default();
    if *references == before {
        return Ok(());
    }
    // A create may set any reference: whoever could create it could also not have.
    if existing.is_some() {
        let delete = Attributes {
            verb: "delete",
            ..target.clone()
        };
        if let Err(refused) = authorize(store, caller, &delete) {
            return Err(ApiError::Forbidden(format!(
                "{} \"{}\" is forbidden: cannot set an ownerRef on a resource you can't delete: {refused}",
                target.resource,
                target.name.unwrap_or_default()
            )));
        }
    }
    for reference in references {
        let blocking = reference["blockOwnerDeletion"] == Value::Bool(true);
        if !blocking || before.contains(reference) {
            continue;
        }
        let api_version = reference["apiVersion"].as_str().unwrap_or_default();
        let (group, _) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let kind = reference["kind"].as_str().unwrap_or_default();
        let plural = store
            .registry
            .all()
            .find(|t| t.group == group && t.kind == kind)
            .map_or_else(
                || format!("{}s", kind.to_ascii_lowercase()),
                |t| t.plural.clone(),
            );
        let owner = Attributes {
            verb: "update",
            group,
            resource: format!("{plural}/finalizers"),
            namespace: target.namespace,
            name: reference["name"].as_str(),
        };
        if let Err(refused) = authorize(store, caller, &owner) {
            return Err(ApiError::Forbidden(format!(
                "{} \"{}\" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: {refused}",
                target.resource,
                target.name.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rule_grants_only_its_groups_resources_verbs_and_names() {
        let rule =
            json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]});
        let request = |verb, resource: &str, name| Attributes {
            verb,
            group: "apps",
            resource: resource.to_owned(),
            namespace: Some("n"),
            name,
        };
        assert!(allows(&rule, &request("patch", "deployments", Some("d"))));
        assert!(!allows(&rule, &request("delete", "deployments", Some("d"))));
        assert!(!allows(
            &rule,
            &request("patch", "deployments/scale", Some("d"))
        ));
        let named = json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"], "resourceNames": ["x"]});
        assert!(allows(&named, &request("get", "deployments", Some("x"))));
        assert!(!allows(&named, &request("get", "deployments", Some("y"))));
        assert!(!allows(&named, &request("get", "deployments", None)));
    }

    #[test]
    fn only_serviceaccount_tokens_name_a_caller() {
        let caller = ServiceAccount::from_authorization(Some("Bearer serviceaccount:ops:dice"));
        assert_eq!(
            caller,
            Some(ServiceAccount {
                namespace: "ops".into(),
                name: "dice".into()
            })
        );
        assert_eq!(
            ServiceAccount::from_authorization(Some("Bearer admin")),
            None
        );
        assert_eq!(ServiceAccount::from_authorization(None), None);
    }
}
