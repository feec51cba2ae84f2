//! `dice-operator render`: a DiceService manifest in, every child as YAML out, no cluster needed.

pub mod alertmanager;
mod error;

pub use alertmanager::SecretValues;
pub use error::RenderError;

use crate::children::{self, Child, Children, Desired, Visit};
use crate::crd::DiceService;
use crate::validate::{Defaults, validate};
use error::Result;
use kube::CustomResourceExt;
use serde::Deserialize;
use std::io::Read;
use std::path::Path;

/// Every DiceService in `manifest` (other kinds, e.g. Secrets, are skipped) with its children.
/// Each is first admitted as the API server would admit it (defaults filled in, then the CRD's
/// schema and CEL rules, unknown fields refused as with kubectl's strict field validation), so
/// what renders here is what a cluster accepts.
pub fn render_manifest(
    manifest: &str,
    defaults: &Defaults,
) -> Result<Vec<(DiceService, Children)>> {
    let schema = &*SCHEMA;
    let mut rendered = Vec::new();
    for document in serde_yaml::Deserializer::from_str(manifest) {
        // Through serde_yaml's own value first: it refuses duplicate keys, as kubectl does.
        let value = serde_yaml::Value::deserialize(document)
            .map_err(|e| RenderError::Parse(e.to_string()))?;
        let mut value =
            serde_json::to_value(value).map_err(|e| RenderError::Parse(e.to_string()))?;
        if value.is_null() || value["kind"] != "DiceService" {
            continue;
        }
        crd_admission::apply_defaults(schema, &mut value);
        admit(schema, &value)?;
        let service: DiceService =
            serde_json::from_value(value).map_err(|e| RenderError::Parse(e.to_string()))?;
        let children = children::build(&validate(&service, defaults)?);
        rendered.push((service, children));
    }
    if rendered.is_empty() {
        return Err(RenderError::Parse(
            "the manifest holds no DiceService".into(),
        ));
    }
    Ok(rendered)
}

/// The CRD's `openAPIV3Schema`, generated once.
static SCHEMA: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
    serde_json::to_value(DiceService::crd())
        .map(|crd| crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone())
        .unwrap_or_default()
});

/// Refuses what the API server would: a bad name or namespace, or a schema violation.
fn admit(schema: &serde_json::Value, object: &serde_json::Value) -> Result<()> {
    let metadata = &object["metadata"];
    let name = metadata["name"].as_str().unwrap_or_default();
    let mut problems = Vec::new();
    if let Some(problem) = crd_admission::names::subdomain_problem(name) {
        problems.push(format!("metadata.name: {problem}"));
    }
    if let Some(problem) = metadata["namespace"]
        .as_str()
        .and_then(crd_admission::names::label_problem)
    {
        problems.push(format!("metadata.namespace: {problem}"));
    }
    problems.extend(crd_admission::validate(schema, object, None));
    if problems.is_empty() {
        return Ok(());
    }
    Err(RenderError::Refused {
        object: format!("DiceService {name:?}"),
        problems,
    })
}

/// The children of one DiceService as `(file stem, YAML)` pairs, in apply order.
pub fn documents(children: &Children) -> Result<Vec<(&'static str, String)>> {
    objects(children)?
        .into_iter()
        .map(|(stem, object)| {
            crate::yaml::to_string(&object)
                .map(|yaml| (stem, yaml))
                .map_err(|e| RenderError::Serialize(e.to_string()))
        })
        .collect()
}

/// The children of one DiceService as `(file stem, JSON)` pairs, in apply order.
pub fn objects(children: &Children) -> Result<Vec<(&'static str, serde_json::Value)>> {
    struct Objects(Vec<(&'static str, Result<serde_json::Value>)>);
    impl Visit<Desired> for Objects {
        fn visit<K: Child>(&mut self, object: &Option<K::Object>) {
            if let Some(object) = object {
                let json =
                    serde_json::to_value(object).map_err(|e| RenderError::Serialize(e.to_string()));
                self.0.push((K::STEM, json));
            }
        }
    }
    let mut objects = Objects(Vec::new());
    children.visit(&mut objects);
    objects
        .0
        .into_iter()
        .map(|(stem, json)| json.map(|json| (stem, json)))
        .collect()
}

/// What `render` writes besides the objects.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// One file per object in this directory instead of stdout.
    pub output_dir: Option<std::path::PathBuf>,
    /// Also the plain alertmanager.yml (alone on stdout; `alertmanager.yml` in the directory).
    pub alertmanager_config: bool,
    /// Command-line secret values for alertmanager.yml.
    pub secrets: SecretValues,
}

/// Every Secret value in the manifest, keyed by namespace, name and key.
pub fn manifest_secrets(
    manifest: &str,
) -> Result<std::collections::BTreeMap<(String, String, String), String>> {
    let mut values = std::collections::BTreeMap::new();
    for document in serde_yaml::Deserializer::from_str(manifest) {
        let value = serde_yaml::Value::deserialize(document)
            .map_err(|e| RenderError::Parse(e.to_string()))?;
        if value.get("kind").and_then(|k| k.as_str()) != Some("Secret") {
            continue;
        }
        let secret: k8s_openapi::api::core::v1::Secret =
            serde_yaml::from_value(value).map_err(|e| RenderError::Parse(e.to_string()))?;
        let namespace = secret
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = secret.metadata.name.clone().unwrap_or_default();
        let data = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()));
        for (key, text) in data.chain(secret.string_data.unwrap_or_default()) {
            values.insert((namespace.clone(), name.clone(), key), text);
        }
    }
    Ok(values)
}

/// Reads `file` (`-` for stdin), renders it, and prints or writes one file per object.
pub fn run(file: &Path, options: &Options, defaults: &Defaults) -> Result<()> {
    let manifest = read(file)?;
    let rendered = render_manifest(&manifest, defaults)?;
    let output_dir = options.output_dir.as_deref();
    if options.alertmanager_config {
        let mut secrets = options.secrets.clone();
        secrets.from_manifest = manifest_secrets(&manifest)?;
        let configs: Vec<_> = rendered
            .iter()
            .filter_map(|(_, children)| children.alertmanager_config.clone())
            .collect();
        if configs.is_empty() {
            return Err(RenderError::Parse(
                "no DiceService in the manifest declares spec.alerting".into(),
            ));
        }
        let yaml = alertmanager::alertmanager_yml(&configs, &secrets)?;
        match output_dir {
            Some(dir) => write(&dir.join("alertmanager.yml"), &yaml)?,
            None => {
                print!("{yaml}");
                return Ok(());
            }
        }
    }
    for (service, children) in rendered {
        let name = service.metadata.name.clone().unwrap_or_default();
        for (kind, yaml) in documents(&children)? {
            match output_dir {
                Some(dir) => write(&dir.join(format!("{name}-{kind}.yaml")), &yaml)?,
                None => print!("---\n{yaml}"),
            }
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    path.parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, text))
        .map_err(|source| RenderError::Write {
            path: path.display().to_string(),
            source,
        })
}

fn read(file: &Path) -> Result<String> {
    let mut text = String::new();
    let result = if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
    };
    result.map_err(|source| RenderError::Read {
        path: file.display().to_string(),
        source,
    })?;
    Ok(text)
}
