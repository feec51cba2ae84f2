//! Leader election against the fake API server: racing candidates (one wins), release and
//! expiry hand-overs, a takeover noticed by the holder, and the renew deadline under an outage.

use dice_operator::leader::{Elector, LeaseSettings, Lost};
use fake_apiserver::FakeApiServer;
use fake_apiserver::faults::{FaultPlan, Faults};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::time::{Duration, Instant};

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        namespace: "default".into(),
        name: "dice-operator".into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(1),
        renew_deadline: Duration::from_millis(600),
        retry_period: Duration::from_millis(100),
    }
}

async fn lease(client: &kube::Client) -> (Option<String>, i32) {
    let lease = Api::<Lease>::namespaced(client.clone(), "default")
        .get("dice-operator")
        .await
        .unwrap();
    let spec = lease.spec.unwrap();
    (spec.holder_identity, spec.lease_transitions.unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_candidates_racing_for_a_new_lease_exactly_one_wins() {
    let server = FakeApiServer::new();
    let client = server.client();
    let candidates: Vec<_> = (0..8)
        .map(|n| Elector::new(client.clone(), settings(&format!("replica-{n}"))))
        .collect();
    let results =
        futures::future::join_all(candidates.iter().map(Elector::try_acquire_or_renew)).await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| *r.as_ref().unwrap())
        .map(|(n, _)| n)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(
        lease(&client).await.0,
        Some(format!("replica-{}", winners[0]))
    );
    // A second round changes nothing: the holder renews, the others still lose.
    let again =
        futures::future::join_all(candidates.iter().map(Elector::try_acquire_or_renew)).await;
    for (n, result) in again.iter().enumerate() {
        assert_eq!(*result.as_ref().unwrap(), n == winners[0], "replica-{n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_passes_at_once_and_an_abandoned_one_after_its_duration() {
    let server = FakeApiServer::new();
    let client = server.client();
    let (a, b) = (
        Elector::new(client.clone(), settings("a")),
        Elector::new(client.clone(), settings("b")),
    );
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    a.release().await.unwrap();
    assert_eq!(lease(&client).await.0, None);
    assert!(
        b.try_acquire_or_renew().await.unwrap(),
        "released lease not taken"
    );
    assert_eq!(lease(&client).await, (Some("b".into()), 1));

    // b stops renewing (crashed). a first sees the record, then waits out the duration.
    assert!(!a.try_acquire_or_renew().await.unwrap());
    let watching = Instant::now();
    while !a.try_acquire_or_renew().await.unwrap() {
        assert!(watching.elapsed() < Duration::from_secs(5), "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        watching.elapsed() >= Duration::from_millis(950),
        "taken over after {:?}, before the 1 s lease ran out",
        watching.elapsed()
    );
    assert_eq!(lease(&client).await, (Some("a".into()), 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holder_notices_a_takeover() {
    let server = FakeApiServer::new();
    let client = server.client();
    let a = Elector::new(client.clone(), settings("a"));
    assert!(a.try_acquire_or_renew().await.unwrap());
    let holding = tokio::spawn(async move { a.hold().await });
    tokio::time::sleep(Duration::from_millis(250)).await;
    // Someone (a partitioned-away replica's successor, an admin) writes another holder.
    let takeover =
        json!({"spec": {"holderIdentity": "intruder", "renewTime": "2030-01-01T00:00:00.000000Z"}});
    Api::<Lease>::namespaced(client.clone(), "default")
        .patch(
            "dice-operator",
            &PatchParams::default(),
            &Patch::Merge(&takeover),
        )
        .await
        .unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(2), holding)
        .await
        .expect("hold noticed the takeover")
        .unwrap();
    assert_eq!(lost, Lost::TakenOver);
}

fn only(error_rate: f64, conflict_rate: f64) -> std::sync::Arc<Faults> {
    Faults::new(FaultPlan {
        seed: 7,
        error_rate,
        conflict_rate,
        lost_response_rate: 0.0,
        slow_rate: 0.0,
        slow_max: Duration::ZERO,
        watch_cut_rate: 0.0,
        watch_cut_max: Duration::ZERO,
    })
}

/// A leader on a fresh server whose later requests meet `faults`.
async fn leader_behind(server: &FakeApiServer, faults: &std::sync::Arc<Faults>) -> Elector {
    faults.set_enabled(false);
    let leader = Elector::new(server.client_with_faults(faults.clone()), settings("a"));
    assert!(leader.try_acquire_or_renew().await.unwrap());
    faults.set_enabled(true);
    leader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_refused_with_409_while_the_lease_still_names_us_are_retried_not_a_takeover() {
    let server = FakeApiServer::new();
    // Every write answers 409; reads still show us as the holder.
    let faults = only(0.0, 1.0);
    let a = leader_behind(&server, &faults).await;
    let lost = tokio::time::timeout(Duration::from_secs(3), a.hold())
        .await
        .expect("gave up");
    assert_eq!(lost, Lost::RenewDeadline);
    assert!(
        faults
            .counts
            .conflicts
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_gives_up_at_the_renew_deadline() {
    let server = FakeApiServer::new();
    // The API server becomes unreachable for this replica.
    let faults = only(1.0, 0.0);
    let a = leader_behind(&server, &faults).await;
    let started = Instant::now();
    let lost = tokio::time::timeout(Duration::from_secs(3), a.hold())
        .await
        .expect("gave up");
    assert_eq!(lost, Lost::RenewDeadline);
    // It must stop before the lease (1 s) can pass to another replica.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
