//! The structured-merge type of every kind the fake serves, from the schemas a real API server
//! uses: Kubernetes' own OpenAPI definitions for built-in kinds (the kubernetes-validate
//! package's `_definitions.json`, which `make test` installs into `.tools/venv`; another file
//! through `DICE_KUBERNETES_SCHEMAS`) and each CRD version's `openAPIV3Schema`.
//!
//! Without the definitions file, built-in kinds are typed by their values alone (maps
//! granular, lists atomic) and a line on stderr says so.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use structured_merge::schema::DEDUCED;
use structured_merge::{Schema, TypeRef};

/// The Kubernetes minor whose schemas the fake follows (the kubectl client's).
pub const KUBERNETES_MINOR: &str = "v1.32.0-local";

/// A kind's schema and root type.
#[derive(Debug, Clone)]
pub struct FieldType {
    pub schema: Arc<Schema>,
    pub root: TypeRef,
}

impl PartialEq for FieldType {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.schema, &other.schema) && self.root == other.root
    }
}

/// The built-in definitions, as read, plus the definition name of each group-version-kind.
#[derive(Debug)]
pub struct Definitions {
    pub raw: Map<String, Value>,
    pub schema: Arc<Schema>,
    by_kind: HashMap<(String, String, String), String>,
}

fn definitions_file() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("DICE_KUBERNETES_SCHEMAS") {
        return Some(PathBuf::from(path));
    }
    let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/lib");
    let python = std::fs::read_dir(&lib)
        .ok()?
        .filter_map(Result::ok)
        .next()?
        .path();
    Some(
        python
            .join("site-packages/kubernetes_validate/kubernetes-json-schema")
            .join(KUBERNETES_MINOR)
            .join("_definitions.json"),
    )
}

fn load() -> Option<Definitions> {
    let file = definitions_file()?;
    let text = std::fs::read_to_string(&file).ok()?;
    let document: Value = serde_json::from_str(&text).ok()?;
    let raw = document
        .get("$defs")
        .or_else(|| document.get("definitions"))?
        .as_object()?
        .clone();
    let mut schema = Schema::new();
    schema.add_openapi_definitions(&raw).ok()?;
    let mut by_kind = HashMap::new();
    for (name, definition) in &raw {
        for gvk in definition["x-kubernetes-group-version-kind"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let text = |key: &str| gvk[key].as_str().unwrap_or_default().to_owned();
            by_kind.insert((text("group"), text("version"), text("kind")), name.clone());
        }
    }
    Some(Definitions {
        raw,
        schema: Arc::new(schema),
        by_kind,
    })
}

static DEFINITIONS: LazyLock<Option<Definitions>> = LazyLock::new(|| {
    let loaded = load();
    if loaded.is_none() {
        eprintln!(
            "fake API server: Kubernetes schemas not found (set DICE_KUBERNETES_SCHEMAS or run \
             `make test-tools`); built-in kinds are typed by their values"
        );
    }
    loaded
});

static DEDUCED_ONLY: LazyLock<Arc<Schema>> = LazyLock::new(|| Arc::new(Schema::new()));

impl Definitions {
    /// The definition name of a built-in group-version-kind.
    pub fn definition_name(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        let key = (group.to_owned(), version.to_owned(), kind.to_owned());
        self.by_kind.get(&key).map(String::as_str)
    }
}

/// The built-in definitions, when found.
pub fn definitions() -> Option<&'static Definitions> {
    DEFINITIONS.as_ref()
}

/// The type of a built-in kind.
pub fn builtin(group: &str, version: &str, kind: &str) -> FieldType {
    let found = definitions().and_then(|d| Some((d, d.definition_name(group, version, kind)?)));
    match found {
        Some((definitions, name)) => FieldType {
            schema: definitions.schema.clone(),
            root: TypeRef::named(name),
        },
        None => deduced(),
    }
}

/// A kind typed by its values alone.
pub fn deduced() -> FieldType {
    FieldType {
        schema: DEDUCED_ONLY.clone(),
        root: TypeRef::named(DEDUCED),
    }
}

/// The type of a custom resource version from its `openAPIV3Schema` (`None`: deduced).
pub fn custom(group: &str, version: &str, kind: &str, schema: Option<&Value>) -> FieldType {
    let Some(open_api) = schema else {
        return deduced();
    };
    let mut types = definitions().map_or_else(Schema::new, |d| (*d.schema).clone());
    let name = format!("{group}/{version}/{kind}");
    match types.add_crd_version(&name, open_api) {
        Ok(()) => FieldType {
            schema: Arc::new(types),
            root: TypeRef::named(&name),
        },
        Err(_) => deduced(),
    }
}
