//! Writing a DiceService's status, and remembering each write until the DiceService watch shows
//! it. A reconcile that starts before the watch caught up (a child's event arrives first) then
//! works from the status it wrote, not the older copy in the cache: it neither writes the same
//! status twice nor repeats the Events of a transition it already announced.

use crate::FIELD_MANAGER;
use crate::crd::{CachedDiceService, DiceService, DiceServiceStatus};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A watch that has not shown a write after this long has relisted past it (or the write was a
/// no-op the server did not announce); the cached copy is trusted again.
const TRUST_WRITE_FOR: Duration = Duration::from_secs(30);

struct Written {
    resource_version: Option<String>,
    status: DiceServiceStatus,
    at: Instant,
}

/// Status writes the DiceService watch has not shown yet, by DiceService uid.
#[derive(Default)]
pub struct StatusWrites {
    unseen: Mutex<HashMap<String, Written>>,
}

impl std::fmt::Debug for StatusWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusWrites")
            .field("unseen", &self.len())
            .finish()
    }
}

impl StatusWrites {
    fn unseen(&self) -> std::sync::MutexGuard<'_, HashMap<String, Written>> {
        self.unseen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `service` as of the operator's last status write: the cached object itself when the
    /// watch has shown that write, else a copy carrying the status written.
    pub fn latest(&self, service: Arc<DiceService>) -> Arc<DiceService> {
        let Some(uid) = service.metadata.uid.as_deref() else {
            return service;
        };
        let mut unseen = self.unseen();
        let Some(written) = unseen.get(uid) else {
            return service;
        };
        let shown = written.resource_version.is_some()
            && written.resource_version == service.metadata.resource_version;
        if shown || written.at.elapsed() > TRUST_WRITE_FOR {
            unseen.remove(uid);
            return service;
        }
        let mut newer = (*service).clone();
        newer.status = Some(written.status.clone());
        Arc::new(newer)
    }

    /// Applies `status` to `service`'s status subresource and remembers it until the watch
    /// shows it.
    pub async fn write(
        &self,
        client: &Client,
        service: &DiceService,
        status: DiceServiceStatus,
    ) -> Result<(), kube::Error> {
        let api: Api<DiceService> =
            Api::namespaced(client.clone(), &service.namespace().unwrap_or_default());
        let patch =
            json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService", "status": status});
        let stored = api
            .patch_status(
                &service.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        if let Some(uid) = stored.metadata.uid {
            let written = Written {
                resource_version: stored.metadata.resource_version,
                status,
                at: Instant::now(),
            };
            self.unseen().insert(uid, written);
        }
        Ok(())
    }

    /// Forgets a write once the watch shows it, or its DiceService is gone.
    pub fn observe(&self, event: &watcher::Event<CachedDiceService>) {
        let (service, deleted) = match event {
            watcher::Event::Apply(service) | watcher::Event::InitApply(service) => (service, false),
            watcher::Event::Delete(service) => (service, true),
            watcher::Event::Init | watcher::Event::InitDone => return,
        };
        let Some(uid) = service.metadata.uid.as_deref() else {
            return;
        };
        let mut unseen = self.unseen();
        let shown = unseen.get(uid).is_some_and(|written| {
            written.resource_version.is_some()
                && written.resource_version == service.metadata.resource_version
        });
        if deleted || shown {
            unseen.remove(uid);
        }
    }

    /// How many writes the watch has not shown yet (`dice_operator_held_entries{map}`).
    pub fn len(&self) -> usize {
        self.unseen().len()
    }

    /// Whether every write has been shown.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(uid: &str, resource_version: &str, ready: bool) -> DiceService {
        let spec = serde_json::from_value(json!({})).expect("an empty spec is valid");
        let mut service = DiceService::new("dice", spec);
        service.metadata.namespace = Some("team".into());
        service.metadata.uid = Some(uid.into());
        service.metadata.resource_version = Some(resource_version.into());
        service.status = Some(DiceServiceStatus {
            ready_replicas: i32::from(ready),
            ..Default::default()
        });
        service
    }

    /// `service` as the controller's watch delivers it.
    fn cached(uid: &str, resource_version: &str) -> CachedDiceService {
        let text = serde_json::to_string(&service(uid, resource_version, false)).expect("JSON");
        serde_json::from_str(&text).expect("a DiceService")
    }

    fn remember(writes: &StatusWrites, uid: &str, resource_version: &str, ready: bool) {
        let written = Written {
            resource_version: Some(resource_version.into()),
            status: service(uid, resource_version, ready)
                .status
                .unwrap_or_default(),
            at: Instant::now(),
        };
        writes.unseen().insert(uid.into(), written);
    }

    #[test]
    fn a_cached_copy_older_than_the_last_write_reads_as_the_write() {
        let writes = StatusWrites::default();
        remember(&writes, "u1", "7", true);
        let stale = Arc::new(service("u1", "5", false));
        let latest = writes.latest(stale);
        assert_eq!(latest.status.as_ref().map(|s| s.ready_replicas), Some(1));
        assert_eq!(writes.len(), 1, "kept until the watch shows the write");
    }

    #[test]
    fn a_write_is_forgotten_once_the_watch_shows_it_or_the_service_is_deleted() {
        let writes = StatusWrites::default();
        remember(&writes, "u1", "7", true);
        remember(&writes, "u2", "9", true);
        writes.observe(&watcher::Event::Apply(cached("u1", "6")));
        assert_eq!(writes.len(), 2, "an older version does not show the write");
        writes.observe(&watcher::Event::Apply(cached("u1", "7")));
        writes.observe(&watcher::Event::Delete(cached("u2", "8")));
        assert!(writes.is_empty());
    }

    #[test]
    fn a_cached_copy_that_shows_the_write_is_used_as_it_is() {
        let writes = StatusWrites::default();
        remember(&writes, "u1", "7", true);
        let current = Arc::new(service("u1", "7", true));
        let latest = writes.latest(current.clone());
        assert!(Arc::ptr_eq(&latest, &current));
        assert!(writes.is_empty());
    }
}
