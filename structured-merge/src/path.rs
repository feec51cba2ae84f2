//! One step of a field path, as structured-merge-diff names it and `metadata.managedFields`
//! spells it: `f:name` (a field or map key), `k:{..}` (a list-map element by its keys),
//! `v:..` (a set element by value) and `i:N` (an element of a list addressed by position).

use crate::Error;
use serde_json::{Map, Value};
use std::fmt;

/// A step of a path. Keys and values are kept as canonical JSON (object keys sorted), which is
/// the text FieldsV1 uses after the `k:` / `v:` prefix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    Field(String),
    Key(String),
    Value(String),
    Index(usize),
}

/// A path from the object's root.
pub type Path = Vec<PathElement>;

impl PathElement {
    pub fn field(name: &str) -> Self {
        Self::Field(name.to_owned())
    }

    /// The element of a list-map whose key fields hold `fields`.
    pub fn key(fields: &[(&str, Value)]) -> Self {
        let object: Map<String, Value> = fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        Self::Key(canonical(&Value::Object(object)))
    }

    /// The element of a set holding `value`.
    pub fn value(value: &Value) -> Self {
        Self::Value(canonical(value))
    }

    /// Reads the FieldsV1 spelling (`f:`, `k:`, `v:`, `i:`).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = || Error::FieldsV1(format!("unknown path element {text:?}"));
        let (prefix, rest) = text.split_once(':').ok_or_else(bad)?;
        match prefix {
            "f" => Ok(Self::Field(rest.to_owned())),
            "k" => {
                let value: Value = serde_json::from_str(rest).map_err(|_| bad())?;
                if !value.is_object() {
                    return Err(bad());
                }
                Ok(Self::Key(canonical(&value)))
            }
            "v" => {
                let value: Value = serde_json::from_str(rest).map_err(|_| bad())?;
                Ok(Self::Value(canonical(&value)))
            }
            "i" => rest.parse().map(Self::Index).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    /// The key fields of a `Key` element.
    pub fn key_fields(&self) -> Option<Map<String, Value>> {
        match self {
            Self::Key(text) => match serde_json::from_str(text) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(name) => write!(f, "f:{name}"),
            Self::Key(keys) => write!(f, "k:{keys}"),
            Self::Value(value) => write!(f, "v:{value}"),
            Self::Index(index) => write!(f, "i:{index}"),
        }
    }
}

/// A path as structured-merge-diff prints it: `.spec.ports[port=80,protocol="TCP"]`.
pub fn display(path: &[PathElement]) -> String {
    let mut out = String::new();
    for element in path {
        match element {
            PathElement::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            PathElement::Key(_) => {
                let fields = element.key_fields().unwrap_or_default();
                let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            PathElement::Value(value) => out.push_str(&format!("[={value}]")),
            PathElement::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

/// JSON text with object keys sorted (serde_json's map keeps them sorted) and a whole float
/// written as an integer (`2.0` as `2`), as Go's JSON encoding writes it.
pub fn canonical(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{}", f as i64),
            _ => value.to_string(),
        },
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        _ => value.to_string(),
    }
}
