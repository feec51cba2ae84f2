//! Running the real kubectl against a served fake API server, from async tests.

use std::path::Path;
use std::process::{Command, Output};

/// Whether `kubectl` can be run here; tests print a `SKIP:` line and return when it cannot.
pub fn kubectl_installed() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok()
}

/// `kubectl --kubeconfig <config> <args>`, on a blocking thread: the fake server it talks to
/// usually runs on the caller's runtime.
pub async fn kubectl(config: &Path, args: &[&str]) -> std::io::Result<Output> {
    let mut command = Command::new("kubectl");
    command.arg("--kubeconfig").arg(config).args(args);
    tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(std::io::Error::other)?
}

/// Like [`kubectl`], with `input` on kubectl's standard input (`-f -`).
pub async fn kubectl_with_input(
    config: &Path,
    args: &[&str],
    input: String,
) -> std::io::Result<Output> {
    use std::io::Write;
    use std::process::Stdio;
    let mut command = Command::new("kubectl");
    command
        .arg("--kubeconfig")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        child.wait_with_output()
    })
    .await
    .map_err(std::io::Error::other)?
}
