//! How the controller's watches read what exists: with streaming lists served, one watch
//! request per kind and no list request at all, at start and after a restart; with the
//! WatchList feature off (Kubernetes 1.33), paged lists, and it converges just the same.

use crate::restart::{cluster_for_full_example, converge};
use crate::support::{self, eventually};
use dice_operator::children::ChildKind;
use dice_operator::metrics::OperatorMetrics;
use fake_apiserver::{FakeApiServer, RecordedRequest};
use std::sync::Arc;

const SERVICES: usize = 4;

/// Collection reads (lists and watches) from `from` on.
fn collection_reads(server: &FakeApiServer, from: usize) -> Vec<RecordedRequest> {
    server.requests()[from..]
        .iter()
        .filter(|r| r.method == "GET" && !r.uri.contains("/openapi/"))
        .filter(|r| {
            let path = r.uri.split('?').next().unwrap_or_default();
            // A collection: `.../<plural>`, not `.../<plural>/<name>`.
            let plural = path.rsplit('/').next().unwrap_or_default();
            plural == "diceservices"
                || ChildKind::ALL
                    .iter()
                    .any(|kind| kind.resource().1 == plural)
        })
        .cloned()
        .collect()
}

fn is_watch(request: &RecordedRequest) -> bool {
    request.uri.contains("watch=true")
}

/// A page of a paged list, as the operator's watches read them (the simulated controllers
/// list without a limit).
fn is_page(request: &RecordedRequest) -> bool {
    !is_watch(request) && request.uri.contains("limit=")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_streaming_lists_a_restart_lists_nothing_page_by_page() {
    let (server, client, spec, kubelet) = cluster_for_full_example().await;
    let operator = support::start_operator(&client, Arc::new(OperatorMetrics::default()));
    converge(&client, &spec, SERVICES).await;
    operator.abort();
    let _ = operator.await;

    let restarted = server.requests().len();
    let operator = support::start_operator(&client, Arc::new(OperatorMetrics::default()));
    eventually("every owned-kind watch started again", || async {
        let watches = collection_reads(&server, restarted)
            .iter()
            .filter(|r| is_watch(r) && r.uri.contains("sendInitialEvents=true"))
            .count();
        // The probe, the DiceServices and twelve child kinds.
        (watches >= 14).then_some(())
    })
    .await;
    let reads = collection_reads(&server, restarted);
    let pages: Vec<&str> = reads
        .iter()
        .filter(|r| is_page(r))
        .map(|r| r.uri.as_str())
        .collect();
    assert_eq!(pages, Vec::<&str>::new(), "no paged list after a restart");
    operator.abort();
    kubelet.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_watch_list_feature_the_watches_page_and_converge() {
    let (server, client, spec, kubelet) = cluster_for_full_example().await;
    server.disable_watch_list();
    let started = server.requests().len();
    let operator = support::start_operator(&client, Arc::new(OperatorMetrics::default()));
    converge(&client, &spec, SERVICES).await;
    let reads = collection_reads(&server, started);
    let refused_probes = reads
        .iter()
        .filter(|r| r.uri.contains("sendInitialEvents=true"))
        .collect::<Vec<_>>();
    assert_eq!(refused_probes.len(), 1, "one probe: {refused_probes:?}");
    assert_eq!(refused_probes[0].status, 422);
    assert!(
        reads
            .iter()
            .any(|r| !is_watch(r) && r.uri.contains("limit=100")),
        "paged lists"
    );
    operator.abort();
    kubelet.abort();
}
