//! The NetworkPolicy (networking.k8s.io/v1) of `spec.networkPolicy`: ingress to the `http`
//! port from the DiceService's own namespace and from its scrapers and probers; everything
//! else denied, since selecting the pods in an Ingress policy denies what no rule admits.

use super::{object_meta, selector_labels};
use crate::crd::NetworkPeer;
use crate::validate::Validated;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub fn build(service: &Validated) -> Option<NetworkPolicy> {
    let access = service.network_access.as_ref()?;
    let peer = |peer: &NetworkPeer| NetworkPolicyPeer {
        namespace_selector: Some(peer.namespace_selector.clone()),
        pod_selector: Some(peer.pod_selector.clone()),
        ..NetworkPolicyPeer::default()
    };
    let same_namespace = NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    };
    Some(NetworkPolicy {
        metadata: object_meta(service, &service.name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector_labels(service)),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::String("http".into())),
                    protocol: Some("TCP".into()),
                    ..NetworkPolicyPort::default()
                }]),
                from: Some(vec![
                    same_namespace,
                    peer(&access.scrapers),
                    peer(&access.probers),
                ]),
            }]),
            ..NetworkPolicySpec::default()
        }),
    })
}

#[derive(Debug)]
pub struct NetworkPolicyChild;

impl super::Child for NetworkPolicyChild {
    type Object = NetworkPolicy;
    const STEM: &'static str = "networkpolicy";
    const LIFECYCLE: super::Lifecycle = super::Lifecycle::DeletedWhenSwitchedOff;

    fn build(inputs: super::Inputs<'_>) -> Option<NetworkPolicy> {
        build(inputs.service)
    }
}
