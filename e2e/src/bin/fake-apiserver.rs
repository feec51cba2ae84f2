//! Runs the fake Kubernetes API server on 127.0.0.1 and writes a kubeconfig for it.

use clap::Parser;
use dice_e2e::{FakeApiServer, kubeconfig};
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
    if args.simulate_kubelet {
        tokio::spawn(dice_e2e::kubelet::simulate(server.client()));
    }
    tokio::select! {
        result = server.spawn(listener) => match result {
            Ok(Ok(())) => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        },
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}
