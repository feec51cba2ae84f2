//! Whether an existing object with a child's name is this DiceService's to change. The operator
//! never adopts what it did not create: every child is claimed before anything is applied, and
//! one object that belongs to somebody else stops the whole apply (a Deployment must not run as
//! another team's ServiceAccount or mount their claim).

use crate::children::{Child, Children, Desired, VisitPairs, dashboard};
use crate::controller::observed::{Index, Observed, ObservedChildren};
use crate::object_key::ObjectKey;
use crate::served::ServedKinds;
use crate::validate::Validated;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::{Client, Resource};
use std::ops::ControlFlow;

/// The labels `dice-operator render` writes; with them and no controller, an object is the
/// rendered form of this DiceService (`render | kubectl apply`, then the operator takes over).
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", crate::FIELD_MANAGER);
const INSTANCE: &str = "app.kubernetes.io/instance";

/// What an existing object is to the DiceService about to apply a child of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Created by this DiceService (same uid).
    Ours,
    /// `render` output applied by hand for this DiceService; the first apply takes it over.
    Rendered,
    /// Somebody else's; the sentence says whose.
    Foreign(String),
}

/// Judges `existing` for `service`. In the DiceService's namespace ownership is the controller
/// owner reference; elsewhere (a dashboard) it is the owner and owner-uid annotations, which
/// only the operator writes in the namespaces dashboards are allowed in.
pub fn claim(existing: &ObjectMeta, service: &Validated) -> Claim {
    let controller = existing
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    if let Some(controller) = controller {
        let same_service = controller.kind == "DiceService"
            && controller.api_version.starts_with("dice.dev/")
            && controller.name == service.name;
        return match (same_service, service.uid.as_deref()) {
            (true, Some(uid)) if uid == controller.uid => Claim::Ours,
            (true, _) => Claim::Foreign(format!(
                "is controlled by an earlier DiceService {} (uid {}) and waits for garbage collection",
                controller.name, controller.uid
            )),
            (false, _) => Claim::Foreign(format!(
                "is controlled by {} {}",
                controller.kind, controller.name
            )),
        };
    }
    let annotations = existing.annotations.as_ref();
    let annotation = |key: &str| annotations.and_then(|a| a.get(key)).map(String::as_str);
    let remote = existing.namespace.as_deref() != Some(service.namespace.as_str());
    let owner = ObjectKey::new(&service.namespace, &service.name).to_string();
    if remote {
        match (
            annotation(dashboard::OWNER_ANNOTATION),
            annotation(dashboard::OWNER_UID_ANNOTATION),
        ) {
            (Some(o), Some(uid)) if o == owner && service.uid.as_deref() == Some(uid) => {
                return Claim::Ours;
            }
            (Some(o), None) if o == owner && rendered_for(existing, service) => {
                return Claim::Rendered;
            }
            (Some(o), _) => return Claim::Foreign(format!("belongs to DiceService {o}")),
            (None, _) => {}
        }
    } else if rendered_for(existing, service) {
        // Render output was applied by somebody else; an object the operator itself applied and
        // that has no controller any more was orphaned (`kubectl delete --cascade=orphan`) by
        // an earlier DiceService of this name: adopting it would hand that one's data volume
        // to this one, and delete it with it. (Without a uid the DiceService exists only
        // offline, as in `render` and builder tests, and owns nothing yet.)
        if applied_by_operator(existing) && service.uid.is_some() {
            return Claim::Foreign(format!(
                "was created by an earlier DiceService {} and orphaned when it was deleted; \
                 delete it, or label it away from app.kubernetes.io/instance={} to keep it",
                service.name, service.name
            ));
        }
        return Claim::Rendered;
    }
    Claim::Foreign(
        "was not created by this DiceService (no controller reference to it, and not the \
         output of `dice-operator render` for it)"
            .to_owned(),
    )
}

/// Whether the operator's own server-side apply wrote to `existing`.
fn applied_by_operator(existing: &ObjectMeta) -> bool {
    existing.managed_fields.iter().flatten().any(|entry| {
        entry.manager.as_deref() == Some(crate::FIELD_MANAGER)
            && entry.operation.as_deref() == Some("Apply")
    })
}

fn rendered_for(existing: &ObjectMeta, service: &Validated) -> bool {
    let labels = existing.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    label(MANAGED_BY.0) == Some(MANAGED_BY.1) && label(INSTANCE) == Some(service.name.as_str())
}

/// Objects that exist under a child's name and are not this DiceService's, and how many
/// requests finding out took. The watches' stores answer for objects carrying the operator's
/// labels, and the names unlabelled objects hold for the others; a child whose name an
/// unlabelled object holds (a victim's object has no such label), or whose kind's names are not
/// listed yet, is looked up once. A Prometheus Operator kind that is not served
/// has no objects to check.
pub async fn not_owned(
    client: &Client,
    service: &Validated,
    children: &Children,
    observed: &ObservedChildren,
    served: &ServedKinds,
) -> Result<Claims, kube::Error> {
    let mut check = Check {
        client,
        service,
        served,
        problems: Vec::new(),
        requests: 0,
        error: None,
    };
    children.visit_pairs(&observed.stores, &mut check).await;
    match check.error {
        Some(error) => Err(error),
        None => Ok(Claims {
            foreign: check.problems,
            lookups: check.requests,
        }),
    }
}

/// What checking every child's name found.
#[derive(Debug)]
pub struct Claims {
    /// Objects under a child's name that are somebody else's, one sentence each.
    pub foreign: Vec<String>,
    /// GET requests sent for children the watches had not seen.
    pub lookups: usize,
}

struct Check<'a> {
    client: &'a Client,
    service: &'a Validated,
    served: &'a ServedKinds,
    problems: Vec<String>,
    requests: usize,
    error: Option<kube::Error>,
}

impl VisitPairs<Desired, Observed> for Check<'_> {
    async fn visit<K: Child>(
        &mut self,
        desired: &Option<K::Object>,
        observed: &Index<K::Object>,
    ) -> ControlFlow<()> {
        let served = K::SERVED_AS.is_none_or(|kind| self.served.is_served(kind));
        let Some(desired) = desired.as_ref().filter(|_| served) else {
            return ControlFlow::Continue(());
        };
        match self.check::<K>(observed, desired).await {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                self.error = Some(error);
                ControlFlow::Break(())
            }
        }
    }
}

impl Check<'_> {
    async fn check<K: Child>(
        &mut self,
        observed: &Index<K::Object>,
        desired: &K::Object,
    ) -> Result<(), kube::Error> {
        let key = ObjectKey::of(desired);
        let (namespace, name) = (key.namespace(), key.name());
        let existing = match observed.get(namespace, name) {
            Some(seen) => Some(seen.meta(namespace, name)),
            // No object holds the name: nothing to look up.
            None if observed.foreign().holds(namespace, name) == Some(false) => None,
            // Somebody else's object (or the name's state is not listed yet): read it.
            None => {
                self.requests += 1;
                Api::<K::Object>::namespaced(self.client.clone(), namespace)
                    .get_opt(name)
                    .await?
                    .map(|object| object.meta().clone())
            }
        };
        if let Some(Claim::Foreign(whose)) = existing.map(|meta| claim(&meta, self.service)) {
            self.problems
                .push(format!("{} {key} {whose}", K::Object::kind(&())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{Defaults, validate};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use std::collections::BTreeMap;

    fn service() -> Validated {
        let service: crate::crd::DiceService = serde_yaml::from_str(
            "apiVersion: dice.dev/v1alpha1\nkind: DiceService\nmetadata: {name: dice, namespace: team-a, uid: u-1}\nspec: {}\n",
        )
        .unwrap();
        validate(&service, &Defaults::with_image("dice-server:1")).unwrap()
    }

    fn meta(namespace: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> ObjectMeta {
        let map = |pairs: &[(&str, &str)]| {
            (!pairs.is_empty()).then(|| {
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>()
            })
        };
        ObjectMeta {
            name: Some("dice".into()),
            namespace: Some(namespace.into()),
            labels: map(labels),
            annotations: map(annotations),
            ..ObjectMeta::default()
        }
    }

    fn controlled_by(kind: &str, name: &str, uid: &str) -> ObjectMeta {
        ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                api_version: if kind == "DiceService" {
                    "dice.dev/v1alpha1"
                } else {
                    "apps/v1"
                }
                .into(),
                kind: kind.into(),
                name: name.into(),
                uid: uid.into(),
                controller: Some(true),
                ..OwnerReference::default()
            }]),
            ..meta("team-a", &[], &[])
        }
    }

    #[test]
    fn only_a_controller_reference_with_this_uid_is_ours() {
        let service = service();
        assert_eq!(
            claim(&controlled_by("DiceService", "dice", "u-1"), &service),
            Claim::Ours
        );
        for (kind, name, uid) in [
            ("DiceService", "dice", "u-0"),
            ("DiceService", "other", "u-1"),
            ("ReplicaSet", "dice", "u-1"),
        ] {
            let verdict = claim(&controlled_by(kind, name, uid), &service);
            assert!(
                matches!(verdict, Claim::Foreign(_)),
                "{kind} {name} {uid}: {verdict:?}"
            );
        }
    }

    #[test]
    fn a_plain_object_is_foreign_and_rendered_output_for_this_name_is_taken_over() {
        let service = service();
        let managed = (MANAGED_BY.0, MANAGED_BY.1);
        assert!(matches!(
            claim(&meta("team-a", &[], &[]), &service),
            Claim::Foreign(_)
        ));
        let other_instance = [managed, (INSTANCE, "billing")];
        assert!(matches!(
            claim(&meta("team-a", &other_instance, &[]), &service),
            Claim::Foreign(_)
        ));
        let rendered = [managed, (INSTANCE, "dice")];
        assert_eq!(
            claim(&meta("team-a", &rendered, &[]), &service),
            Claim::Rendered
        );
    }

    #[test]
    fn an_orphan_the_operator_applied_is_not_adopted_by_the_next_diceservice_of_its_name() {
        let service = service();
        let rendered = [(MANAGED_BY.0, MANAGED_BY.1), (INSTANCE, "dice")];
        let mut orphan = meta("team-a", &rendered, &[]);
        orphan.managed_fields = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry {
                manager: Some(crate::FIELD_MANAGER.into()),
                operation: Some("Apply".into()),
                ..Default::default()
            },
        ]);
        let verdict = claim(&orphan, &service);
        assert!(
            matches!(&verdict, Claim::Foreign(why) if why.contains("orphaned")),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_remote_dashboard_is_ours_only_with_both_annotations() {
        let service = service();
        let rendered = [(MANAGED_BY.0, MANAGED_BY.1), (INSTANCE, "dice")];
        let owner = (dashboard::OWNER_ANNOTATION, "team-a/dice");
        let ours = [owner, (dashboard::OWNER_UID_ANNOTATION, "u-1")];
        assert_eq!(
            claim(&meta("monitoring", &[], &ours), &service),
            Claim::Ours
        );
        assert_eq!(
            claim(&meta("monitoring", &rendered, &[owner]), &service),
            Claim::Rendered
        );
        let earlier = [owner, (dashboard::OWNER_UID_ANNOTATION, "u-0")];
        let team_b = [(dashboard::OWNER_ANNOTATION, "team-b/dice")];
        for annotations in [&earlier[..], &team_b[..], &[]] {
            let verdict = claim(&meta("monitoring", &rendered, annotations), &service);
            assert!(
                matches!(verdict, Claim::Foreign(_)),
                "{annotations:?}: {verdict:?}"
            );
        }
    }
}
