//! The controller against an unreliable API server (seeded fault injection: 500s, 429s, 409s,
//! writes whose answer is lost, slow answers, watches cut off): every DiceService still becomes
//! Ready with exactly one of each child, nothing crashes, retries stay bounded, and once
//! converged the operator writes nothing more.

use dice_operator::controller::retry::BACKOFF_MAX;
use dice_operator::crd::DiceService;
use dice_operator::metrics::OperatorMetrics;
use fake_apiserver::faults::{FaultPlan, Faults};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::{apply, cluster_with_crd, condition, start_operator};

use crate::support;

const SERVICES: usize = 20;
const UNDER_FAULTS: Duration = Duration::from_secs(90);

fn plan() -> FaultPlan {
    FaultPlan {
        seed: 0x00D1_CE5E_ED00,
        error_rate: 0.10,
        conflict_rate: 0.08,
        lost_response_rate: 0.08,
        slow_rate: 0.10,
        slow_max: Duration::from_millis(400),
        watch_cut_rate: 0.5,
        watch_cut_max: Duration::from_secs(3),
    }
}

/// Owner uid → how many objects of kind `K` it owns (every object must have one owner).
async fn owners<K>(client: &kube::Client) -> BTreeMap<String, usize>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let objects = Api::<K>::namespaced(client.clone(), "default")
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=dice-operator"))
        .await
        .unwrap();
    let mut owners = BTreeMap::new();
    for object in objects {
        let references = object.owner_references();
        assert_eq!(
            references.len(),
            1,
            "{} has {} owners",
            object.name_any(),
            references.len()
        );
        *owners.entry(references[0].uid.clone()).or_insert(0) += 1;
    }
    owners
}

/// Each DiceService that is not Ready, with its conditions and its Deployment's status, so a
/// failure says whether the operator gave up, backed off or never saw the change.
async fn not_ready(client: &kube::Client, services: &[DiceService]) -> String {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut report = String::new();
    for service in services {
        if condition(service, "Ready").is_some_and(|(status, _)| status == "True") {
            continue;
        }
        let deployment = deployments
            .get_opt(&service.name_any())
            .await
            .ok()
            .flatten();
        report.push_str(&format!(
            "{}: status {:?}; Deployment status {:?}\n",
            service.name_any(),
            service.status,
            deployment.and_then(|d| d.status)
        ));
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_converges_through_injected_faults_without_duplicates() {
    let (server, client) = cluster_with_crd().await;
    let faults = Faults::new(plan());
    let metrics = Arc::new(OperatorMetrics::default());
    let operator = start_operator(&server.client_with_faults(faults.clone()), metrics.clone());
    let kubelet = tokio::spawn(fake_apiserver::kubelet::simulate(client.clone()));

    let services: Api<DiceService> = Api::namespaced(client.clone(), "default");
    for n in 0..SERVICES {
        let name = format!("dice-{n:02}");
        apply(&services, &name, json!({"replicas": 1 + n % 3})).await;
    }

    // Under faults most converge within seconds, but a DiceService whose retries kept failing
    // waits out its backoff (up to `BACKOFF_MAX`): the outage then ends, and it must converge
    // within one more backoff period, with the watches still cut now and then.
    let started = Instant::now();
    let mut deadline = UNDER_FAULTS;
    let mut outage_over = false;
    let ready = loop {
        let listed = services.list(&ListParams::default()).await.unwrap();
        let ready = listed
            .iter()
            .filter(|s| condition(s, "Ready").is_some_and(|(status, _)| status == "True"))
            .count();
        if ready == SERVICES {
            break listed;
        }
        assert!(
            !operator.is_finished(),
            "the operator stopped while faults were injected"
        );
        if started.elapsed() >= deadline && !outage_over {
            println!(
                "{ready} of {SERVICES} Ready after {UNDER_FAULTS:?} of faults; the outage ends"
            );
            faults.set_errors_enabled(false);
            outage_over = true;
            deadline = started.elapsed() + BACKOFF_MAX + Duration::from_secs(30);
        } else if started.elapsed() >= deadline {
            panic!(
                "only {ready} of {SERVICES} Ready {:?} after the outage ended:\n{}",
                BACKOFF_MAX + Duration::from_secs(30),
                not_ready(&client, &listed.items).await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    faults.set_errors_enabled(true);
    let converged_in = started.elapsed();
    let c = &faults.counts;
    let injected = [
        ("500", c.internal_errors.load(Ordering::Relaxed)),
        ("429", c.too_many_requests.load(Ordering::Relaxed)),
        ("409", c.conflicts.load(Ordering::Relaxed)),
        ("lost answers", c.lost_responses.load(Ordering::Relaxed)),
        ("slowed", c.slowed.load(Ordering::Relaxed)),
        ("watches cut", c.watches_cut.load(Ordering::Relaxed)),
    ];
    let requests = c.requests.load(Ordering::Relaxed);
    println!(
        "converged in {converged_in:?} after {requests} operator requests; injected {injected:?}"
    );
    for (fault, count) in injected {
        assert!(
            count > 0,
            "no {fault} injected; the test proves nothing about it"
        );
    }

    // Exactly one of each child per DiceService: no duplicates, no orphans.
    let uids: Vec<String> = ready.iter().map(|s| s.uid().unwrap()).collect();
    for (kind, owned) in [
        ("Deployment", owners::<Deployment>(&client).await),
        ("Service", owners::<Service>(&client).await),
        ("ServiceAccount", owners::<ServiceAccount>(&client).await),
        ("ConfigMap", owners::<ConfigMap>(&client).await),
    ] {
        assert_eq!(owned.len(), SERVICES, "{kind}: owners {owned:?}");
        for uid in &uids {
            assert_eq!(owned.get(uid), Some(&1), "{kind} of {uid}");
        }
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    for n in 0..SERVICES {
        let deployment = deployments.get(&format!("dice-{n:02}")).await.unwrap();
        let replicas = deployment.spec.unwrap().replicas;
        assert_eq!(replicas, Some(1 + (n % 3) as i32), "dice-{n:02}");
    }

    // Retries are bounded: failures were retried (with backoff), not looped on.
    let failed_reconciles = metrics
        .reconciliations
        .get_or_create(&dice_operator::metrics::ResultLabels { result: "error" })
        .get();
    assert!(failed_reconciles > 0, "no reconcile saw a fault");
    let per_service = requests as f64 / SERVICES as f64;
    assert!(
        per_service < 60.0,
        "{per_service:.1} requests per DiceService: retries are not bounded"
    );

    // Converged means quiet: once no DiceService waits for a retry (a status write whose answer
    // was lost is retried, and rightly so), with faults still on (watches keep being cut and
    // re-listed), the operator writes nothing for five seconds.
    let failing = dice_operator::metrics::MapLabels { map: "failures" };
    let retries_done = Instant::now();
    while metrics.held.get_or_create(&failing).get() > 0 {
        assert!(
            retries_done.elapsed() < BACKOFF_MAX,
            "DiceServices still failing after every one was Ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let writes = server.writes();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        server.writes(),
        writes,
        "the operator kept writing after convergence"
    );
    assert!(!operator.is_finished());
    operator.abort();
    kubelet.abort();
}
