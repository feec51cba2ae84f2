//! `dice-operator render`: a DiceService manifest in, every child as YAML out, no cluster needed.

use crate::children::{self, Children};
use crate::crd::DiceService;
use crate::validate::{Defaults, validate};
use crate::{Error, Result};
use serde::Deserialize;
use std::io::Read;
use std::path::Path;

/// Every DiceService in `manifest` (other kinds, e.g. Secrets, are skipped) with its children.
pub fn render_manifest(
    manifest: &str,
    defaults: &Defaults,
) -> Result<Vec<(DiceService, Children)>> {
    let mut rendered = Vec::new();
    for document in serde_yaml::Deserializer::from_str(manifest) {
        let value =
            serde_yaml::Value::deserialize(document).map_err(|e| Error::Parse(e.to_string()))?;
        if value.is_null() || value.get("kind").and_then(|k| k.as_str()) != Some("DiceService") {
            continue;
        }
        let service: DiceService =
            serde_yaml::from_value(value).map_err(|e| Error::Parse(e.to_string()))?;
        let children = children::build(&validate(&service, defaults)?);
        rendered.push((service, children));
    }
    if rendered.is_empty() {
        return Err(Error::Parse("the manifest holds no DiceService".into()));
    }
    Ok(rendered)
}

/// The children of one DiceService as `(file stem, YAML)` pairs, in apply order.
pub fn documents(children: &Children) -> Result<Vec<(&'static str, String)>> {
    let Children {
        service_account,
        deployment,
        service,
        service_monitor,
        prometheus_rule,
        probe,
        alertmanager_config,
        dashboard,
    } = children;
    let yaml = |value: &dyn erased::Yaml| value.to_yaml();
    let mut documents = vec![
        ("serviceaccount", yaml(service_account)?),
        ("deployment", yaml(deployment)?),
        ("service", yaml(service)?),
    ];
    let optional: [(&'static str, Option<&dyn erased::Yaml>); 5] = [
        ("servicemonitor", service_monitor.as_ref().map(|o| o as _)),
        ("prometheusrule", prometheus_rule.as_ref().map(|o| o as _)),
        ("probe", probe.as_ref().map(|o| o as _)),
        (
            "alertmanagerconfig",
            alertmanager_config.as_ref().map(|o| o as _),
        ),
        ("dashboard", dashboard.as_ref().map(|o| o as _)),
    ];
    for (stem, object) in optional {
        if let Some(object) = object {
            documents.push((stem, yaml(object)?));
        }
    }
    Ok(documents)
}

mod erased {
    use crate::{Error, Result};

    /// Object-safe YAML serialization, so children of different types share one list.
    pub trait Yaml {
        fn to_yaml(&self) -> Result<String>;
    }

    impl<T: serde::Serialize> Yaml for T {
        fn to_yaml(&self) -> Result<String> {
            serde_yaml::to_string(self).map_err(|e| Error::Serialize(e.to_string()))
        }
    }
}

/// Reads `file` (`-` for stdin), renders it, and prints or writes one file per object.
pub fn run(file: &Path, output_dir: Option<&Path>, defaults: &Defaults) -> Result<()> {
    let manifest = read(file)?;
    for (service, children) in render_manifest(&manifest, defaults)? {
        let name = service.metadata.name.clone().unwrap_or_default();
        for (kind, yaml) in documents(&children)? {
            match output_dir {
                Some(dir) => {
                    let path = dir.join(format!("{name}-{kind}.yaml"));
                    std::fs::create_dir_all(dir)
                        .and_then(|()| std::fs::write(&path, &yaml))
                        .map_err(|source| Error::Write {
                            path: path.display().to_string(),
                            source,
                        })?;
                }
                None => print!("---\n{yaml}"),
            }
        }
    }
    Ok(())
}

fn read(file: &Path) -> Result<String> {
    let mut text = String::new();
    let result = if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
    };
    result.map_err(|source| Error::Read {
        path: file.display().to_string(),
        source,
    })?;
    Ok(text)
}
