//! `make demo` keeps working: `dice-stack` with its defaults prints the URLs of a working stack,
//! and Ctrl-C stops every program it started.

use dice_stack::tools::Tools;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// dice-stack, stopped even when an assertion fails: SIGTERM lets it stop the programs it
/// started (SIGKILL would orphan them), SIGKILL only if it does not exit.
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(15);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn the_demo_prints_working_urls_and_ctrl_c_stops_everything() -> TestResult {
    if let Err(missing) = Tools::find() {
        println!(
            "SKIP: {} not installed (make test installs them as root)",
            missing.join(", ")
        );
        return Ok(());
    }
    let work = tempfile::tempdir()?;
    let mut demo = Demo(
        Command::new(env!("CARGO_BIN_EXE_dice-stack"))
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .arg("--work-dir")
            .arg(work.path())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?,
    );
    let stderr = demo.0.stderr.take().ok_or("no stderr")?;
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let mut next_line = |what: &str| -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match lines.recv_timeout(left) {
                Ok(line) => {
                    seen.push(line.clone());
                    if line.contains(what) {
                        return Ok(line);
                    }
                }
                Err(_) => break,
            }
        }
        Err(format!(
            "no line with {what:?}; output so far:\n{}",
            seen.join("\n")
        ))
    };

    let url_in = |line: &str| {
        line.split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_owned)
    };
    let dice = url_in(&next_line("dice-server dice/dice-full")?).ok_or("no dice-server URL")?;
    let prometheus = url_in(&next_line("Prometheus ")?).ok_or("no Prometheus URL")?;
    let alertmanager = url_in(&next_line("Alertmanager ")?).ok_or("no Alertmanager URL")?;
    next_line("traffic: dice-traffic")?;

    let get = |url: &str| reqwest::blocking::get(url).map(|r| r.status().as_u16());
    assert_eq!(get(&format!("{dice}/health"))?, 200);
    assert_eq!(get(&prometheus)?, 200);
    assert_eq!(get(&format!("{alertmanager}/-/ready"))?, 200);

    kill(Pid::from_raw(demo.0.id() as i32), Signal::SIGINT)?;
    next_line("stack stopped")?;
    let status = demo.0.wait()?;
    assert!(status.success(), "dice-stack exited with {status}");
    for url in [&dice, &prometheus, &alertmanager] {
        assert!(get(url).is_err(), "{url} still answers after Ctrl-C");
    }
    Ok(())
}
