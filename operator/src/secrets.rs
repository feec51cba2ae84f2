//! Checks that the Secrets `spec.alerting` and `spec.history.postgres` refer to exist and hold
//! their keys. Only key names are read into messages and the cache; values never leave
//! [`SecretKeys::lookup`].

use crate::crd::SecretKeyRef;
use crate::validate::{HistoryStore, Validated};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a Secret's key names are trusted. Thousands of DiceServices usually share a few
/// Secrets: without the cache each reconcile read every one again. A Secret created or changed
/// later is seen within this time (a DiceService missing one is rechecked every 30 s anyway).
const FRESH_FOR: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
enum Lookup {
    Missing,
    /// The key names (never the values).
    Keys(BTreeSet<String>),
}

/// Recently read Secrets' key names, by namespace and name; entries expire after
/// [`FRESH_FOR`], so the map holds only Secrets read in the last few seconds.
#[derive(Debug, Default)]
pub struct SecretKeys {
    read: Mutex<HashMap<(String, String), (Instant, Lookup)>>,
}

impl SecretKeys {
    async fn lookup(
        &self,
        api: &Api<Secret>,
        namespace: &str,
        name: &str,
    ) -> Result<Lookup, kube::Error> {
        let key = (namespace.to_owned(), name.to_owned());
        let now = Instant::now();
        if let Some((_, lookup)) = self
            .entries()
            .get(&key)
            .filter(|(read_at, _)| now.duration_since(*read_at) < FRESH_FOR)
        {
            return Ok(lookup.clone());
        }
        let lookup = match api.get_opt(name).await? {
            None => Lookup::Missing,
            Some(secret) => {
                let data = secret.data.iter().flat_map(|d| d.keys());
                let string_data = secret.string_data.iter().flat_map(|d| d.keys());
                Lookup::Keys(data.chain(string_data).cloned().collect())
            }
        };
        let mut entries = self.entries();
        entries.retain(|_, (read_at, _)| now.duration_since(*read_at) < FRESH_FOR);
        entries.insert(key, (now, lookup.clone()));
        Ok(lookup)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (Instant, Lookup)>> {
        self.read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Secrets read less than [`FRESH_FOR`] ago (expired entries are dropped on the next read).
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.entries()
            .values()
            .filter(|(read_at, _)| now.duration_since(*read_at) < FRESH_FOR)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One readable message per reference whose Secret or key is missing.
pub async fn problems(
    client: &Client,
    known: &SecretKeys,
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
        let lookup = match known.lookup(&api, namespace, &reference.name).await {
            Ok(lookup) => lookup,
            Err(kube::Error::Api(status)) if status.code == 403 => {
                problems.push(format!(
                    "{field}: the operator may not read Secret {namespace}/{} ({})",
                    reference.name, status.message
                ));
                continue;
            }
            Err(error) => return Err(error),
        };
        match lookup {
            Lookup::Missing => problems.push(format!(
                "{field}: Secret {namespace}/{} does not exist",
                reference.name
            )),
            Lookup::Keys(keys) if !keys.contains(&reference.key) => problems.push(format!(
                "{field}: Secret {namespace}/{} has no key {:?}",
                reference.name, reference.key
            )),
            Lookup::Keys(_) => {}
        }
    }
    Ok(problems)
}
