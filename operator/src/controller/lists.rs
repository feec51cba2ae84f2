//! How the watches read what exists when they start: one streaming list per watch where the API
//! server serves them (the WatchList feature, KEP-3157), so a restart costs one request per
//! kind whatever the cluster's size; paged lists elsewhere.

use kube::api::{Api, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;

/// Objects per page of a paged (re-)list. A dozen watches list at once when the operator
/// starts; with the default 500, their pages in flight alone were 30 MiB of its peak.
const LIST_PAGE: u32 = 100;
/// How long the probe waits for the end of a streaming list that matches nothing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// No object carries it: the probe's streaming list is empty but for its end bookmark.
const PROBE_SELECTOR: &str = "dice.dev/list-probe=none";

/// `--list-strategy`: streaming lists where served (the default), or one of the two always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ListStrategy {
    #[default]
    Auto,
    Streaming,
    Paged,
}

/// How every watch lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// `sendInitialEvents=true`: the initial state arrives on the watch itself.
    Streaming,
    /// `limit`/`continue` pages, then a watch.
    Paged,
}

impl Lists {
    /// A watch configuration that lists this way.
    pub fn config(self) -> watcher::Config {
        match self {
            Lists::Streaming => watcher::Config::default().streaming_lists(),
            Lists::Paged => watcher::Config::default().page_size(LIST_PAGE),
        }
    }

    /// What `strategy` comes to on this server: for `Auto`, one streaming list that matches
    /// nothing on `api` shows whether the server serves them. A server without the feature
    /// refuses the request (`422`, as Kubernetes 1.33 does) or, before 1.27, ignores the
    /// parameter and never sends the end bookmark.
    pub async fn choose<K>(api: &Api<K>, strategy: ListStrategy) -> Self
    where
        K: Clone + Debug + DeserializeOwned + Send + 'static,
    {
        let lists = match strategy {
            ListStrategy::Streaming => Lists::Streaming,
            ListStrategy::Paged => Lists::Paged,
            ListStrategy::Auto => match tokio::time::timeout(PROBE_TIMEOUT, streams(api)).await {
                Ok(true) => Lists::Streaming,
                Ok(false) | Err(_) => Lists::Paged,
            },
        };
        tracing::info!(?strategy, ?lists, "watches list their initial state");
        lists
    }
}

/// Whether a streaming list on `api` ends with the `k8s.io/initial-events-end` bookmark.
async fn streams<K>(api: &Api<K>) -> bool
where
    K: Clone + Debug + DeserializeOwned + Send + 'static,
{
    use futures::StreamExt;
    let probe = WatchParams::streaming_lists()
        .labels(PROBE_SELECTOR)
        .timeout(PROBE_TIMEOUT.as_secs() as u32);
    let mut events = match api.watch(&probe, "0").await {
        Ok(events) => events.boxed(),
        Err(error) => {
            tracing::debug!(%error, "streaming lists refused");
            return false;
        }
    };
    while let Some(event) = events.next().await {
        match event {
            Ok(WatchEvent::Bookmark(bookmark))
                if bookmark
                    .metadata
                    .annotations
                    .contains_key("k8s.io/initial-events-end") =>
            {
                return true;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(%error, "streaming list probe failed");
                return false;
            }
        }
    }
    false
}
