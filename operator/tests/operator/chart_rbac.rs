//! The chart's RBAC grants the operator exactly what it uses: the kinds it applies come from
//! its own list (`ChildKind::ALL`, made from the one list of kinds), not from a second list
//! kept by hand here.

use crate::chart::{documents, helm, template};
use dice_operator::children::ChildKind;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

type Grants = BTreeMap<(String, String), BTreeSet<String>>;

/// Every (API group, resource) the role's rules name, with the verbs granted on it.
fn grants(role: &Value) -> Grants {
    let mut grants = Grants::new();
    for rule in role["rules"].as_array().unwrap() {
        let strings = |field: &str| -> Vec<String> {
            rule[field]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        for group in strings("apiGroups") {
            for resource in strings("resources") {
                grants
                    .entry((group.clone(), resource))
                    .or_default()
                    .extend(strings("verbs"));
            }
        }
    }
    grants
}

fn verbs(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|v| (*v).to_owned()).collect()
}

/// What the operator needs besides its children: its own resource and status, Events, and
/// (with `checkSecrets`) Secret reads.
fn own_needs(check_secrets: bool) -> Grants {
    let mut needs = Grants::new();
    let mut need = |group: &str, resource: &str, list: &[&str]| {
        needs.insert((group.into(), resource.into()), verbs(list));
    };
    need("dice.dev", "diceservices", &["list", "watch", "patch"]);
    need("dice.dev", "diceservices/status", &["patch"]);
    // Owner references with `blockOwnerDeletion`, where OwnerReferencesPermissionEnforcement
    // runs (install_path turns it on in the fake API server).
    need("dice.dev", "diceservices/finalizers", &["update"]);
    need("events.k8s.io", "events", &["create", "patch"]);
    if check_secrets {
        need("", "secrets", &["get"]);
    }
    needs
}

/// What the operator's role must grant: each child kind's verbs and its own needs.
fn expected_grants(check_secrets: bool) -> Grants {
    let mut expected = own_needs(check_secrets);
    for kind in ChildKind::ALL {
        let (group, resource) = kind.resource();
        let needed = verbs(&kind.verbs());
        expected
            .entry((group.into(), resource.into()))
            .and_modify(|v| v.extend(needed.clone()))
            .or_insert(needed);
    }
    expected
}

fn assert_exactly(granted: &Grants, expected: &Grants, context: &str) {
    for (resource, verbs) in expected {
        assert_eq!(
            granted.get(resource),
            Some(verbs),
            "{context}: {resource:?} needs exactly {verbs:?}"
        );
    }
    let extra: Vec<_> = granted
        .keys()
        .filter(|r| !expected.contains_key(*r))
        .collect();
    assert!(
        extra.is_empty(),
        "{context}: granted but never used: {extra:?}"
    );
}

#[test]
fn the_operators_role_grants_exactly_the_verbs_each_child_kind_needs() {
    let Some(helm) = helm() else { return };
    for check_secrets in [true, false] {
        let flag = format!("checkSecrets={check_secrets}");
        let objects = documents(&template(&helm, &["--set", &flag]).unwrap());
        let role = objects
            .iter()
            .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "dice-operator")
            .expect("the operator's ClusterRole");
        assert_exactly(&grants(role), &expected_grants(check_secrets), &flag);
    }
}

/// Every grant that is not confined to a namespace, over all the ClusterRoles the install binds.
fn cluster_wide(objects: &[Value]) -> Grants {
    let mut all = Grants::new();
    for role in objects.iter().filter(|o| o["kind"] == "ClusterRole") {
        for (resource, verbs) in grants(role) {
            all.entry(resource).or_default().extend(verbs);
        }
    }
    all
}

/// Reading CRDs (which Prometheus Operator kinds exist) is the one cluster-wide need of a
/// namespaced install.
fn discovery() -> Grants {
    Grants::from([(
        (
            "apiextensions.k8s.io".to_owned(),
            "customresourcedefinitions".to_owned(),
        ),
        verbs(&["list", "watch"]),
    )])
}

#[test]
fn the_default_install_grants_nothing_cluster_wide_it_does_not_use_and_watched_namespaces_nothing_at_all()
 {
    let Some(helm) = helm() else { return };
    let everywhere = documents(&template(&helm, &[]).unwrap());
    let mut expected = expected_grants(true);
    expected.extend(discovery());
    assert_exactly(&cluster_wide(&everywhere), &expected, "default install");

    let watched = documents(
        &template(
            &helm,
            &[
                "--set",
                "watchNamespaces={shop,books}",
                "--set",
                "dashboardNamespaces=null",
            ],
        )
        .unwrap(),
    );
    assert_exactly(&cluster_wide(&watched), &discovery(), "watchNamespaces");
    let bindings: Vec<&Value> = watched
        .iter()
        .filter(|o| o["kind"] == "ClusterRoleBinding")
        .collect();
    assert!(
        bindings
            .iter()
            .all(|b| b["roleRef"]["name"] == "dice-operator-crds"),
        "only the CRD reader is bound cluster-wide: {bindings:?}"
    );
    for namespace in ["shop", "books"] {
        let role = watched
            .iter()
            .find(|o| {
                o["kind"] == "Role"
                    && o["metadata"]["name"] == "dice-operator"
                    && o["metadata"]["namespace"] == namespace
            })
            .unwrap_or_else(|| panic!("a Role in {namespace}"));
        assert_exactly(&grants(role), &expected_grants(true), namespace);
        assert!(
            watched.iter().any(|o| o["kind"] == "RoleBinding"
                && o["metadata"]["namespace"] == namespace
                && o["roleRef"]["name"] == "dice-operator"),
            "bound in {namespace}"
        );
    }
    let deployment = watched.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "DICE_OPERATOR_NAMESPACE" && v["value"] == "books,shop"),
        "{env}"
    );
}
