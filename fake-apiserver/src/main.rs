//! Runs the fake Kubernetes API server on 127.0.0.1 and writes a kubeconfig for it.

use clap::Parser;
use fake_apiserver::{FakeApiServer, kubeconfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "fake-apiserver",
    about = "A fake Kubernetes API server for tests"
)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, env = "FAKE_APISERVER_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write the kubeconfig (printed to stdout when absent).
    #[arg(long, env = "FAKE_APISERVER_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Mark every Deployment ready, as a kubelet would (for `make e2e-cluster` against this
    /// server, which waits for real readiness).
    #[arg(long, env = "FAKE_APISERVER_SIMULATE_KUBELET")]
    simulate_kubelet: bool,
    /// Inject faults (500/429/409, lost answers, slow answers, cut watches) into every request,
    /// drawn from this seed.
    #[arg(long, env = "FAKE_APISERVER_FAULT_SEED")]
    fault_seed: Option<u64>,
    /// With --fault-seed: the share of requests refused or slowed (conflicts and lost answers
    /// at half of it).
    #[arg(long, env = "FAKE_APISERVER_FAULT_RATE", default_value_t = 0.1, value_parser = parse_rate)]
    fault_rate: f64,
    /// Run the OwnerReferencesPermissionEnforcement admission plugin, as OpenShift and hardened
    /// clusters do: ServiceAccount callers need `update` on an owner's `finalizers` to set
    /// `blockOwnerDeletion`, and `delete` on an object to change its owner references.
    #[arg(long, env = "FAKE_APISERVER_OWNER_REFERENCES_PERMISSION_ENFORCEMENT")]
    owner_references_permission_enforcement: bool,
    /// Serve streaming lists (`sendInitialEvents`, the WatchList feature gate, on by default
    /// in Kubernetes 1.32 and from 1.34); `false` refuses them as 1.33 does.
    #[arg(long, env = "FAKE_APISERVER_WATCH_LIST", default_value_t = true, action = clap::ArgAction::Set)]
    watch_list: bool,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    (0.0..=1.0)
        .contains(&rate)
        .then_some(rate)
        .ok_or_else(|| format!("{rate} is outside 0..=1"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {}: {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let Ok(address) = listener.local_addr() else {
        eprintln!("error: cannot read the bound address");
        return ExitCode::FAILURE;
    };
    let config = kubeconfig(address);
    match &args.kubeconfig {
        Some(path) => {
            if let Err(error) = std::fs::write(path, &config) {
                eprintln!("error: cannot write {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
            println!(
                "fake-apiserver listening on http://{address}; kubeconfig at {}",
                path.display()
            );
        }
        None => print!("{config}"),
    }
    let server = FakeApiServer::new();
    if args.owner_references_permission_enforcement {
        server.enforce_owner_reference_permissions();
    }
    if !args.watch_list {
        server.disable_watch_list();
    }
    if args.simulate_kubelet {
        tokio::spawn(fake_apiserver::kubelet::simulate(server.client()));
    }
    let serving = match args.fault_seed {
        Some(seed) => {
            println!("injecting faults: seed {seed}, rate {}", args.fault_rate);
            let faults = fake_apiserver::faults::Faults::new(
                fake_apiserver::faults::FaultPlan::uniform(seed, args.fault_rate),
            );
            server.spawn_with_faults(listener, faults)
        }
        None => server.spawn(listener),
    };
    tokio::select! {
        result = serving => match result {
            Ok(Ok(())) => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        },
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}
