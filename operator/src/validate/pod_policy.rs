//! What the administrator lets a DiceService put on its pods: pod annotations by key prefix,
//! PriorityClasses by name, and nothing a "restricted" Pod Security namespace would refuse.
//!
//! Pod annotations and the priority class reach other components: the legacy AppArmor
//! annotation `unconfined` lifts the pod's confinement, `sidecar.istio.io/*` changes the mesh,
//! `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"` keeps a node from scaling down,
//! and `system-node-critical` preempts other tenants' pods.

use crate::crd::DiceServiceSpec;
use crate::{Error, Result};

/// The allow-lists (`--allowed-pod-annotation-prefixes`, `--allowed-priority-classes`); `*`
/// allows anything, an empty list refuses the field.
#[derive(Debug, Clone, PartialEq)]
pub struct PodPolicy {
    /// Prefixes of the annotation keys a DiceService may set (`prometheus.io/`).
    pub annotation_prefixes: Vec<String>,
    /// PriorityClass names a DiceService may use.
    pub priority_classes: Vec<String>,
}

impl Default for PodPolicy {
    /// The operator's flag defaults.
    fn default() -> Self {
        Self {
            annotation_prefixes: split(crate::DEFAULT_POD_ANNOTATION_PREFIXES),
            priority_classes: Vec::new(),
        }
    }
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

const ANY: &str = "*";

/// The Pod Security Standards' AppArmor and seccomp annotations, and the values the
/// "restricted" (and "baseline") profile admits in each: Kubernetes still honours them on
/// older nodes, and an admission check refuses the pod for any other value.
const SECURITY_ANNOTATIONS: [(&str, &[&str]); 3] = [
    (
        "container.apparmor.security.beta.kubernetes.io/",
        &["runtime/default", "localhost/"],
    ),
    (
        "seccomp.security.alpha.kubernetes.io/pod",
        &["runtime/default", "docker/default", "localhost/"],
    ),
    (
        "container.seccomp.security.alpha.kubernetes.io/",
        &["runtime/default", "docker/default", "localhost/"],
    ),
];

pub fn check(spec: &DiceServiceSpec, policy: &PodPolicy) -> Result<()> {
    let annotations = spec.pod_annotations.iter().flatten();
    for (key, value) in annotations {
        if let Some(problem) = pod_security_problem(key, value) {
            return Err(Error::InvalidSpec(format!(
                "spec.podAnnotations {key:?}: {value:?} {problem}"
            )));
        }
        if !policy
            .annotation_prefixes
            .iter()
            .any(|p| allows_key(p, key))
        {
            return Err(Error::InvalidSpec(format!(
                "spec.podAnnotations may not set {key:?}: the operator allows {} \
                 (--allowed-pod-annotation-prefixes, chart value allowedPodAnnotationPrefixes)",
                allowed("annotation keys starting with", &policy.annotation_prefixes)
            )));
        }
    }
    if let Some(class) = &spec.priority_class_name
        && !policy
            .priority_classes
            .iter()
            .any(|allowed| allowed == ANY || allowed == class)
    {
        return Err(Error::InvalidSpec(format!(
            "spec.priorityClassName {class:?} is not allowed: the operator allows {} \
             (--allowed-priority-classes, chart value allowedPriorityClasses); a class of \
             higher priority than other tenants' pods preempts them",
            allowed("the PriorityClasses", &policy.priority_classes)
        )));
    }
    Ok(())
}

fn allows_key(prefix: &str, key: &str) -> bool {
    prefix == ANY || key.starts_with(prefix)
}

fn allowed(what: &str, list: &[String]) -> String {
    if list.is_empty() {
        "none".to_owned()
    } else {
        format!("only {what} {}", list.join(", "))
    }
}

/// Why a restricted Pod Security namespace would refuse a pod carrying this annotation.
fn pod_security_problem(key: &str, value: &str) -> Option<&'static str> {
    let (_, admitted) = SECURITY_ANNOTATIONS
        .iter()
        .find(|(prefix, _)| key.starts_with(prefix))?;
    let fine = admitted.iter().any(|allowed| {
        if allowed.ends_with('/') {
            value.starts_with(allowed)
        } else {
            value == *allowed
        }
    });
    (!fine).then_some(
        "is refused by the restricted Pod Security Standard (only runtime/default or a \
         localhost/ profile); the operator already sets the RuntimeDefault seccomp profile",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> DiceServiceSpec {
        serde_yaml::from_str(yaml).expect("spec parses")
    }

    fn open() -> PodPolicy {
        PodPolicy {
            annotation_prefixes: vec![ANY.into()],
            priority_classes: vec![ANY.into()],
        }
    }

    #[test]
    fn only_listed_annotation_prefixes_pass_and_an_empty_list_refuses_the_field() {
        let policy = PodPolicy::default();
        assert!(
            check(
                &spec("podAnnotations: {prometheus.io/scrape: 'false'}"),
                &policy
            )
            .is_ok()
        );
        for key in [
            "sidecar.istio.io/inject",
            "cluster-autoscaler.kubernetes.io/safe-to-evict",
            "owner",
        ] {
            let error = check(
                &spec(&format!("podAnnotations: {{{key}: 'false'}}")),
                &policy,
            )
            .expect_err(key)
            .to_string();
            assert!(
                error.contains(key) && error.contains("allowedPodAnnotationPrefixes"),
                "{error}"
            );
        }
        let none = PodPolicy {
            annotation_prefixes: Vec::new(),
            ..PodPolicy::default()
        };
        let error = check(&spec("podAnnotations: {prometheus.io/scrape: 'x'}"), &none)
            .expect_err("refused")
            .to_string();
        assert!(error.contains("allows none"), "{error}");
        assert!(check(&spec("podAnnotations: {}"), &none).is_ok());
    }

    #[test]
    fn priority_classes_need_the_administrators_word() {
        let system = spec("priorityClassName: system-node-critical");
        let error = check(&system, &PodPolicy::default())
            .expect_err("refused by default")
            .to_string();
        assert!(
            error.contains("preempts") && error.contains("allows none"),
            "{error}"
        );
        let standard = PodPolicy {
            priority_classes: vec!["dice-standard".into()],
            ..PodPolicy::default()
        };
        assert!(check(&system, &standard).is_err());
        assert!(check(&spec("priorityClassName: dice-standard"), &standard).is_ok());
        assert!(check(&system, &open()).is_ok());
    }

    #[test]
    fn what_a_restricted_namespace_refuses_is_refused_even_when_everything_is_allowed() {
        for (key, value) in [
            (
                "container.apparmor.security.beta.kubernetes.io/dice-server",
                "unconfined",
            ),
            ("seccomp.security.alpha.kubernetes.io/pod", "unconfined"),
            (
                "container.seccomp.security.alpha.kubernetes.io/dice-server",
                "unconfined",
            ),
        ] {
            let hostile = spec(&format!("podAnnotations: {{{key}: {value}}}"));
            let error = check(&hostile, &open()).expect_err(key).to_string();
            assert!(error.contains("restricted Pod Security"), "{error}");
        }
        let confined = spec(
            "podAnnotations: {container.apparmor.security.beta.kubernetes.io/dice-server: localhost/dice}",
        );
        assert!(check(&confined, &open()).is_ok());
    }
}
