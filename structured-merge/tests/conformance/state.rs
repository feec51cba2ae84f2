//! Runs one upstream `TestCase` as structured-merge-diff's fixture does (`internal/fixture/
//! state.go`): operations in order on one live object and its managers, then the expected
//! object and managed fields compared.

use crate::cases::{self, Case, SchemaSource};
use crate::golit::Expr;
use serde_json::Value;
use structured_merge::schema::DEDUCED;
use structured_merge::{
    Error, ManagedFields, Schema, TypeRef, Updater, VersionedSet, values_equal,
};

/// Strips the common leading tabs of a Go raw string (`FixTabsOrDie`).
fn fix_tabs(text: &str) -> String {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.len() > 1 && lines[0].is_empty() {
        lines.remove(0);
    }
    let prefix: String = lines
        .first()
        .map(|l| l.chars().take_while(|c| *c == '\t').collect())
        .unwrap_or_default();
    lines
        .iter()
        .map(|line| {
            line.strip_prefix(prefix.as_str())
                .unwrap_or(line.trim_start_matches('\t'))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn yaml(text: &str) -> Result<Value, String> {
    let fixed = fix_tabs(text);
    if fixed.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_yaml::from_str(&fixed).map_err(|e| format!("YAML: {e}"))
}

struct State {
    schema: Schema,
    by_version: bool,
    root: Option<String>,
    live: Value,
    managers: ManagedFields,
}

impl State {
    fn root(&self, version: &str) -> TypeRef {
        match (&self.root, self.by_version) {
            (_, true) => TypeRef::named(version),
            (Some(root), false) => TypeRef::named(root),
            (None, false) => TypeRef::named(DEDUCED),
        }
    }

    fn operation(&mut self, op: &Expr) -> Result<(), String> {
        let Expr::Composite(kind, _) = op else {
            return Err(format!("not an operation: {op:?}"));
        };
        let kind = kind.rsplit('.').next().unwrap_or_default();
        let text = |name: &str| op.field(name).and_then(Expr::as_str).unwrap_or_default();
        let manager = text("Manager");
        let version = text("APIVersion");
        let root = self.root(version);
        let updater = Updater {
            schema: &self.schema,
            root: &root,
        };
        let object = yaml(text("Object"))?;
        match kind {
            "Update" => {
                self.managers = updater
                    .update(&self.live, &object, version, &self.managers, manager)
                    .map_err(|e| e.to_string())?;
                self.live = object;
                Ok(())
            }
            "Apply" | "ForceApply" => {
                let force = kind == "ForceApply";
                let expected = op.field("Conflicts").map(cases::conflicts).transpose()?;
                match updater.apply(&self.live, &object, version, &self.managers, manager, force) {
                    Ok((new, managers)) => {
                        if let Some(expected) = expected.filter(|c| !c.is_empty()) {
                            return Err(format!("expected conflicts {expected:?}, got none"));
                        }
                        self.managers = managers;
                        if let Some(new) = new {
                            self.live = new;
                        }
                        Ok(())
                    }
                    Err(Error::Conflicts(got)) => match expected {
                        Some(expected) if expected == got => Ok(()),
                        Some(expected) => {
                            Err(format!("expected conflicts {expected:?}, got {got:?}"))
                        }
                        None => Err(Error::Conflicts(got).to_string()),
                    },
                    Err(other) => Err(other.to_string()),
                }
            }
            "ExtractApply" => {
                let config = match self.managers.get(manager) {
                    _ if self.live.is_null() => object,
                    Some(owned) if owned.api_version != version => {
                        return Err("managed set at another version".into());
                    }
                    owned => {
                        let leaves = owned.map(|o| o.set.leaves()).unwrap_or_default();
                        let extracted = self.schema.extract_items(&self.live, &leaves, &root);
                        self.schema
                            .merge(&extracted, &object, &root)
                            .map_err(|e| e.to_string())?
                    }
                };
                let (new, managers) = updater
                    .apply(&self.live, &config, version, &self.managers, manager, true)
                    .map_err(|e| e.to_string())?;
                self.managers = managers;
                if let Some(new) = new {
                    self.live = new;
                }
                Ok(())
            }
            other => Err(format!("operation {other} is not emulated")),
        }
    }
}

fn managed(expr: &Expr) -> Result<ManagedFields, String> {
    let Expr::Composite(_, elements) = expr else {
        return Err(format!("managed fields: {expr:?}"));
    };
    let mut out = ManagedFields::new();
    for element in elements {
        let manager = element
            .key
            .as_ref()
            .and_then(Expr::as_str)
            .ok_or("managed fields without a manager")?;
        let Expr::Call(_, args) = &element.value else {
            return Err(format!("versioned set: {:?}", element.value));
        };
        let [set, version, applied] = args.as_slice() else {
            return Err(format!("versioned set: {args:?}"));
        };
        out.insert(
            manager.to_owned(),
            VersionedSet {
                set: cases::set(set)?,
                api_version: version.as_str().unwrap_or_default().to_owned(),
                applied: cases::json_value(applied)? == Value::Bool(true),
            },
        );
    }
    Ok(out)
}

/// Runs a case; `Err` says how the outcome differs from upstream's expectation.
pub fn run(case: &Case) -> Result<(), String> {
    let source = case.schema.clone()?;
    for unsupported in ["IgnoreFilter", "IgnoredFields"] {
        if case.body.field(unsupported).is_some() {
            return Err(format!(
                "uses {unsupported}, an updater option the API server sets only for status and scale"
            ));
        }
    }
    let (schema, root, by_version) = match source {
        SchemaSource::Deduced => (Schema::new(), None, false),
        SchemaSource::Yaml { text, root } => {
            let schema = Schema::from_smd_yaml(&fix_tabs(&text)).map_err(|e| e.to_string())?;
            let by_version = root.is_none();
            (schema, root, by_version)
        }
    };
    let mut state = State {
        schema,
        by_version,
        root,
        live: Value::Null,
        managers: ManagedFields::new(),
    };
    let outcome = run_ops(case, &mut state);
    match (outcome, case.expect_error) {
        (Ok(()), true) => Err("expected an error, got none".into()),
        (Err(_), true) => Ok(()),
        (outcome, false) => outcome,
    }
}

fn run_ops(case: &Case, state: &mut State) -> Result<(), String> {
    let Some(Expr::Composite(_, ops)) = case.body.field("Ops") else {
        return Err("no operations".into());
    };
    for (index, op) in ops.iter().enumerate() {
        state
            .operation(&op.value)
            .map_err(|e| format!("operation {index}: {e}"))?;
    }
    if let Some(object) = case.body.field("Object").and_then(Expr::as_str) {
        let expected = yaml(object)?;
        if !object.trim().is_empty() && !values_equal(&expected, &state.live) {
            return Err(format!("object: expected {expected}, got {}", state.live));
        }
    }
    if let Some(expected) = case.body.field("Managed") {
        let expected = managed(expected)?;
        // As upstream's `ManagedFields.Difference`: sets and versions, not the applied flag.
        let key = |m: &ManagedFields| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.set.clone(), v.api_version.clone()))
                .collect::<Vec<_>>()
        };
        if key(&expected) != key(&state.managers) {
            let show = |m: &ManagedFields| {
                m.iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}@{}{}: {}",
                            v.api_version,
                            if v.applied { " (applied)" } else { "" },
                            v.set.to_fields_v1()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(format!(
                "managed: expected {}, got {}",
                show(&expected),
                show(&state.managers)
            ));
        }
    }
    Ok(())
}
