//! The stack's child processes, each in its own process group with its output in files, so
//! stopping the stack stops everything it started — helpers of helpers included — and nothing
//! else.

use crate::{Error, Result};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long stopped programs get to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Running {
    name: String,
    child: Child,
    exited: Option<ExitStatus>,
}

/// Started programs by name; dropping this stops them all.
#[derive(Debug)]
pub struct Processes {
    log_dir: PathBuf,
    running: Vec<Running>,
}

impl Processes {
    pub fn new(log_dir: &Path) -> Self {
        Self {
            log_dir: log_dir.to_path_buf(),
            running: Vec::new(),
        }
    }

    /// Starts `command` in a new process group; stdout goes to `<name>.out`, stderr to
    /// `<name>.log` in the log directory (appended to when a program that exited is started
    /// again under its name).
    pub fn spawn(&mut self, name: &str, mut command: Command) -> Result<u32> {
        if let Some(index) = self.running.iter().position(|r| r.name == name) {
            if self.exit_status(name).is_none() {
                return Err(Error::Process(format!("{name} is still running")));
            }
            self.running.remove(index);
        }
        let stdout = self.create(&format!("{name}.out"))?;
        let stderr = self.create(&format!("{name}.log"))?;
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| Error::Process(format!("cannot start {name}: {e}")))?;
        let pid = child.id();
        self.running.push(Running {
            name: name.to_owned(),
            child,
            exited: None,
        });
        Ok(pid)
    }

    fn create(&self, file: &str) -> Result<File> {
        let path = self.log_dir.join(file);
        File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))
    }

    /// Where `name`'s stdout goes.
    pub fn stdout_path(&self, name: &str) -> PathBuf {
        self.log_dir.join(format!("{name}.out"))
    }

    /// The last `lines` lines `name` wrote to stderr and stdout.
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        ["log", "out"]
            .iter()
            .map(|ext| self.log_dir.join(format!("{name}.{ext}")))
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .map(|text| {
                let all: Vec<&str> = text.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            })
            .filter(|tail| !tail.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The exit status once `name` has exited; `None` while it runs (or was never started).
    pub fn exit_status(&mut self, name: &str) -> Option<ExitStatus> {
        let running = self.running.iter_mut().find(|r| r.name == name)?;
        if running.exited.is_none() {
            running.exited = running.child.try_wait().ok().flatten();
        }
        running.exited
    }

    /// Sends `signal` to `name`'s process group.
    pub fn signal(&self, name: &str, signal: Signal) -> Result<()> {
        let running = self
            .running
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| Error::Process(format!("{name} was never started")))?;
        send(running, signal)
    }

    /// Waits up to `timeout` for `name` to exit.
    pub fn wait(&mut self, name: &str, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status(name) {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL to `name`'s process group, and waits for it.
    pub fn kill(&mut self, name: &str) -> Result<()> {
        self.signal(name, Signal::SIGKILL)?;
        self.wait(name, GRACE)
            .map(|_| ())
            .ok_or_else(|| Error::Process(format!("{name} survived SIGKILL")))
    }

    /// The process group ids of everything started, to check that none is left.
    pub fn groups(&self) -> Vec<u32> {
        self.running.iter().map(|r| r.child.id()).collect()
    }

    /// SIGTERM to every group still running, SIGKILL after the grace period; reaps them all.
    pub fn stop_all(&mut self) {
        for running in &self.running {
            if running.exited.is_none() {
                let _ = send(running, Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + GRACE;
        for running in &mut self.running {
            while running.exited.is_none() && Instant::now() < deadline {
                running.exited = running.child.try_wait().ok().flatten();
                std::thread::sleep(Duration::from_millis(20));
            }
            // The group, not only the leader: a leader that exited may leave helpers behind.
            let _ = send(running, Signal::SIGKILL);
            if running.exited.is_none() {
                running.exited = running.child.wait().ok();
            }
        }
        // Orphaned helpers die with SIGKILL but are reaped by init a moment later.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.groups().into_iter().any(group_alive) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn send(running: &Running, signal: Signal) -> Result<()> {
    let group = Pid::from_raw(running.child.id() as i32);
    match killpg(group, signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(errno) => Err(Error::Process(format!(
            "cannot signal {}: {errno}",
            running.name
        ))),
    }
}

/// Whether any process of the group `pgid` is still alive.
pub fn group_alive(pgid: u32) -> bool {
    killpg(Pid::from_raw(pgid as i32), None).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopping_kills_the_whole_group_including_grandchildren() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let mut processes = Processes::new(dir.path());
        let mut command = Command::new("sh");
        // The shell ignores SIGTERM and its background child outlives a killed parent.
        command.args(["-c", "trap '' TERM; sleep 300 & echo started; wait"]);
        let group = processes.spawn("stubborn", command)?;
        let started = Instant::now();
        while processes.log_tail("stubborn", 1) != "started" {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sh did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(group_alive(group));
        processes.stop_all();
        assert!(!group_alive(group), "a process of group {group} survived");
        Ok(())
    }

    #[test]
    fn kill_stops_one_program_and_reports_its_exit() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let mut processes = Processes::new(dir.path());
        let mut command = Command::new("sleep");
        command.arg("300");
        processes.spawn("sleeper", command)?;
        assert!(processes.exit_status("sleeper").is_none());
        processes.kill("sleeper")?;
        assert!(processes.exit_status("sleeper").is_some());
        Ok(())
    }

    #[test]
    fn a_program_that_exited_starts_again_under_its_name_but_a_running_one_does_not() -> Result<()>
    {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let mut processes = Processes::new(dir.path());
        let sleeper = || {
            let mut command = Command::new("sleep");
            command.arg("300");
            command
        };
        let first = processes.spawn("sleeper", sleeper())?;
        assert!(processes.spawn("sleeper", sleeper()).is_err());
        processes.kill("sleeper")?;
        let second = processes.spawn("sleeper", sleeper())?;
        assert_ne!(first, second);
        assert!(processes.exit_status("sleeper").is_none());
        assert_eq!(processes.groups(), vec![second]);
        Ok(())
    }
}
