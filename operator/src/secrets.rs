//! Checks that the Secrets `spec.alerting` and `spec.history.postgres` refer to exist and hold
//! their keys. Only key names are read into messages; values never leave this function.

use crate::crd::SecretKeyRef;
use crate::validate::{HistoryStore, Validated};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

/// One readable message per reference whose Secret or key is missing.
pub async fn problems(
    client: &Client,
    namespace: &str,
    service: &Validated,
) -> Result<Vec<String>, kube::Error> {
    let mut references: Vec<(&str, &SecretKeyRef)> = Vec::new();
    if let Some(alerting) = &service.monitoring.alerting {
        if let Some((_, api_url)) = &alerting.slack {
            references.push(("spec.alerting.slack.apiURL", api_url));
        }
        if let Some(routing_key) = &alerting.pager_duty {
            references.push(("spec.alerting.pagerDuty.routingKey", routing_key));
        }
    }
    if let Some(HistoryStore::Postgres(url)) = service.history.as_ref().map(|h| &h.store) {
        references.push(("spec.history.postgres.secretRef", url));
    }
    if references.is_empty() {
        return Ok(Vec::new());
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut problems = Vec::new();
    for (field, reference) in references {
        let secret = match api.get_opt(&reference.name).await {
            Ok(secret) => secret,
            Err(kube::Error::Api(status)) if status.code == 403 => {
                problems.push(format!(
                    "{field}: the operator may not read Secret {namespace}/{} ({})",
                    reference.name, status.message
                ));
                continue;
            }
            Err(error) => return Err(error),
        };
        let has_key = secret.as_ref().is_some_and(|s| {
            s.data
                .as_ref()
                .is_some_and(|d| d.contains_key(&reference.key))
                || s.string_data
                    .as_ref()
                    .is_some_and(|d| d.contains_key(&reference.key))
        });
        match (secret.is_some(), has_key) {
            (false, _) => problems.push(format!(
                "{field}: Secret {namespace}/{} does not exist",
                reference.name
            )),
            (true, false) => problems.push(format!(
                "{field}: Secret {namespace}/{} has no key {:?}",
                reference.name, reference.key
            )),
            (true, true) => {}
        }
    }
    Ok(problems)
}
