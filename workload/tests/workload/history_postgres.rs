//! History against a real PostgreSQL (Debian `postgresql`, started here on a private port with
//! its data in a temp dir; `SKIP:` without it): persist, downsample, retention; no sample lost
//! across a database restart; and the real binary serving everything while the database is
//! unreachable at start, then history once it appears.

use crate::common;

use common::Server;
use dice_workload::history::{History, HistoryError, ManualClock, Store, Writer};
use dice_workload::metrics::Metrics;
use dice_workload::sampler::sample::{Cpu, Memory};
use dice_workload::sampler::{Sample, Samples};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A throwaway PostgreSQL cluster; stopped and deleted on drop.
struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Postgres {
    /// `None` (after a SKIP line) when PostgreSQL is not installed or cannot run here.
    fn create() -> Option<Postgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").is_file());
        let Some(bin) = bin else {
            println!(
                "SKIP: PostgreSQL not installed (make test installs Debian `postgresql` as root)"
            );
            return None;
        };
        let root = nix::unistd::Uid::effective().is_root();
        let dir = tempfile::tempdir().unwrap();
        if root {
            // PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
            let user = nix::unistd::User::from_name("postgres").ok().flatten()?;
            std::os::unix::fs::chown(dir.path(), Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let postgres = Postgres {
            bin,
            dir,
            port,
            as_postgres: root,
        };
        let data = postgres.data().display().to_string();
        let ok = postgres.run(
            "initdb",
            &["-D", &data, "-U", "dice", "--auth=trust", "--no-sync"],
        );
        if !ok {
            println!("SKIP: initdb failed; PostgreSQL cannot run here");
            return None;
        }
        postgres.start();
        Some(postgres)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, program: &str, args: &[&str]) -> bool {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        let data = self.data().display().to_string();
        assert!(
            self.run(
                "pg_ctl",
                &["-D", &data, "-o", &options, "-l", &log, "-w", "start"]
            ),
            "pg_ctl start"
        );
    }

    fn stop(&self) {
        let data = self.data().display().to_string();
        assert!(
            self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]),
            "pg_ctl stop"
        );
    }

    fn url(&self) -> String {
        format!("postgres://dice@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }
}

fn sample(at_ms: u64, cpu: f64) -> Sample {
    Sample {
        timestamp_ms: at_ms,
        cpu: Cpu {
            usage_percent: cpu,
            per_core_percent: vec![],
        },
        memory: Memory {
            usage_percent: 40.0,
            ..Memory::default()
        },
        ..Sample::default()
    }
}

fn writer(store: &Store, capacity: usize, retention: Duration, clock: Arc<ManualClock>) -> Writer {
    let metrics = Metrics::new(Arc::new(Samples::default())).history;
    Writer::new(
        History::new(store.clone(), Duration::from_secs(30)),
        metrics,
        capacity,
        retention,
        clock,
    )
}

#[tokio::test]
async fn persist_downsample_and_retention_on_postgres() -> Result<(), HistoryError> {
    let Some(postgres) = Postgres::create() else {
        return Ok(());
    };
    let store = Store::lazy(&postgres.url())?;
    let clock = Arc::new(ManualClock::default());
    let day: u64 = 86_400_000;
    let mut writer = writer(&store, 100, Duration::from_millis(7 * day), clock.clone());
    for (days_ago, cpu) in [(9, 90.0), (8, 80.0), (1, 10.0)] {
        writer.buffer(&sample((10 - days_ago) * day, cpu));
    }
    writer.buffer(&sample(9 * day + 30_000, 20.0));
    writer.flush().await?;
    assert_eq!(store.count("cpu").await?, 4);
    // The last day in one-day buckets: one bucket averaging 10 and 20.
    let buckets = store
        .downsample(
            "cpu",
            ((9 * day) as i64, (10 * day) as i64),
            day as i64,
            1000,
        )
        .await?;
    assert_eq!(buckets.len(), 1);
    assert_eq!(
        (buckets[0].avg, buckets[0].min, buckets[0].max),
        (15.0, 10.0, 20.0)
    );
    clock.set_ms((10 * day) as i64);
    assert_eq!(
        writer.cleanup_if_due().await?,
        4,
        "cpu and ram of the two samples older than 7 days"
    );
    assert_eq!(store.count("cpu").await?, 2);
    Ok(())
}

#[tokio::test]
async fn no_sample_is_lost_when_postgres_stops_and_returns() -> Result<(), HistoryError> {
    let Some(postgres) = Postgres::create() else {
        return Ok(());
    };
    let store = Store::lazy(&postgres.url())?;
    let mut writer = writer(&store, 100, Duration::from_secs(86_400), Arc::default());
    let mut failures = 0;
    for n in 1..=30u64 {
        if n == 10 {
            postgres.stop();
        }
        if n == 15 {
            postgres.start();
        }
        writer.buffer(&sample(n * 1000, n as f64));
        if writer.flush().await.is_err() {
            failures += 1;
        }
    }
    assert!(
        failures >= 5,
        "writes failed while PostgreSQL was down ({failures})"
    );
    assert_eq!(
        writer.buffered(),
        0,
        "the first write after the restart wrote the backlog"
    );
    assert_eq!(store.count("cpu").await?, 30, "every sample, none lost");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_without_its_database_and_catches_up_when_it_appears() {
    let Some(postgres) = Postgres::create() else {
        return;
    };
    postgres.stop();
    let server = Server::start(&[
        ("DICE_HISTORY_DB", &postgres.url()),
        ("DICE_PERSIST_INTERVAL", "200ms"),
        ("DICE_SAMPLE_INTERVAL", "100ms"),
    ]);
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(server.url(path)).send();
    assert_eq!(get("/health").await.unwrap().status(), 200);
    let unavailable = |response: Value| response["code"] == "history_unavailable";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = get("/api/v1/history?metric=cpu").await.unwrap();
        if response.status() == 503 {
            let body: Value = response.json().await.unwrap();
            assert!(unavailable(body.clone()), "{body}");
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .contains("history unavailable"),
                "{body}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "history never reported the missing database"
        );
    }
    postgres.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let response = get("/api/v1/history?metric=cpu&from=-5m&step=1s")
            .await
            .unwrap();
        if response.status() == 200 {
            let body: Value = response.json().await.unwrap();
            if body["series"][0]["points"]
                .as_array()
                .is_some_and(|p| p.len() >= 3)
            {
                break body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "history never caught up after PostgreSQL started"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(body["metric"], "cpu");
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    let value = |series: &str| common::sample(&metrics, series);
    assert!(
        value("dice_history_writes_total{result=\"failure\"}") >= 1.0,
        "{metrics}"
    );
    assert!(
        value("dice_history_writes_total{result=\"success\"}") >= 1.0,
        "{metrics}"
    );
    assert_eq!(value("dice_history_dropped_samples_total"), 0.0);
}
