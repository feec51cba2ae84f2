//! The chart's RBAC grants the operator exactly what it uses: the kinds it applies come from
//! its own list (`ChildKind`, which the compiler ties to every child), not from a second list
//! kept by hand here.

use crate::chart::{documents, helm, template};
use dice_operator::children::{self, ChildKind};
use dice_operator::crd::DiceService;
use dice_operator::validate::{Defaults, validate};
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

#[test]
fn the_operators_role_grants_exactly_the_verbs_each_child_kind_needs() {
    let Some(helm) = helm() else { return };
    let service: DiceService = serde_yaml::from_str(
        "apiVersion: dice.dev/v1alpha1\nkind: DiceService\nmetadata: {name: d, namespace: n}\nspec: {}\n",
    )
    .unwrap();
    let validated = validate(&service, &Defaults::with_image("img")).unwrap();
    let kinds: Vec<ChildKind> = children::build(&validated)
        .kinds()
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    assert_eq!(kinds.len(), 12, "every child kind, present or not");
    for check_secrets in [true, false] {
        let flag = format!("checkSecrets={check_secrets}");
        let objects = documents(&template(&helm, &["--set", &flag]).unwrap());
        let role = objects
            .iter()
            .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "dice-operator")
            .expect("the operator's ClusterRole");
        let mut expected = own_needs(check_secrets);
        for kind in &kinds {
            let (group, resource) = kind.resource();
            let needed = verbs(&kind.verbs());
            expected
                .entry((group.into(), resource.into()))
                .and_modify(|v| v.extend(needed.clone()))
                .or_insert(needed);
        }
        let granted = grants(role);
        for (resource, verbs) in &expected {
            assert_eq!(
                granted.get(resource),
                Some(verbs),
                "{flag}: {resource:?} needs exactly {verbs:?}"
            );
        }
        let extra: Vec<_> = granted
            .keys()
            .filter(|r| !expected.contains_key(*r))
            .collect();
        assert!(
            extra.is_empty(),
            "{flag}: granted but never used: {extra:?}"
        );
    }
}
