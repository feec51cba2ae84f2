//! Finds the programs the stack runs: Prometheus, Alertmanager and the blackbox exporter on PATH
//! (Debian's names first), and our own binaries in one build directory.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The Prometheus programs, as Debian's `prometheus`, `prometheus-alertmanager` and
/// `prometheus-blackbox-exporter` packages (or upstream tarballs) install them.
#[derive(Debug, Clone)]
pub struct Tools {
    pub prometheus: PathBuf,
    pub alertmanager: PathBuf,
    pub blackbox_exporter: PathBuf,
}

impl Tools {
    /// The programs on PATH, or the names of the missing ones.
    pub fn find() -> Result<Self, Vec<&'static str>> {
        let prometheus = on_path(&["prometheus"]);
        let alertmanager = on_path(&["prometheus-alertmanager", "alertmanager"]);
        let blackbox = on_path(&["prometheus-blackbox-exporter", "blackbox_exporter"]);
        match (prometheus, alertmanager, blackbox) {
            (Some(prometheus), Some(alertmanager), Some(blackbox_exporter)) => Ok(Self {
                prometheus,
                alertmanager,
                blackbox_exporter,
            }),
            (prometheus, alertmanager, blackbox) => {
                let missing = [
                    (prometheus.is_none(), "prometheus"),
                    (alertmanager.is_none(), "alertmanager"),
                    (blackbox.is_none(), "blackbox exporter"),
                ];
                Err(missing.iter().filter(|m| m.0).map(|m| m.1).collect())
            }
        }
    }
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// dice-server, dice-traffic and dice-operator from one cargo build.
#[derive(Debug, Clone)]
pub struct OwnBinaries {
    pub dice_server: PathBuf,
    pub dice_traffic: PathBuf,
    pub dice_operator: PathBuf,
}

impl OwnBinaries {
    pub fn in_dir(dir: &Path) -> Result<Self> {
        let binary = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(Error::Process(format!(
                    "{} not found; build it first (`cargo build --workspace --bins`)",
                    path.display()
                )))
            }
        };
        Ok(Self {
            dice_server: binary("dice-server")?,
            dice_traffic: binary("dice-traffic")?,
            dice_operator: binary("dice-operator")?,
        })
    }

    /// The build directory of the running executable (`target/<profile>`), also from a test
    /// binary in `target/<profile>/deps`.
    pub fn build_dir() -> Result<PathBuf> {
        let exe = std::env::current_exe().map_err(|e| Error::io("current executable", e))?;
        let dir = exe
            .parent()
            .ok_or_else(|| Error::Process("the executable has no directory".into()))?;
        Ok(match dir.file_name() {
            Some(name) if name == "deps" => dir.parent().unwrap_or(dir).to_path_buf(),
            _ => dir.to_path_buf(),
        })
    }
}
