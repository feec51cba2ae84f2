//! The schema model from Kubernetes' own schemas: the OpenAPI definitions of built-in kinds
//! (`x-kubernetes-list-type`, `-list-map-keys`, `-map-type`, and the older patch-strategy
//! extensions for lists without a list type, as kube-openapi's converter reads them) and the
//! `openAPIV3Schema` of a CRD version (lists atomic and maps granular unless marked).

use crate::Error;
use crate::schema::{Atom, DEDUCED, ListType, MapType, Relationship, Schema, StructField, TypeRef};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The name a `$ref` points at (`#/$defs/X`, `#/definitions/X`, `#/components/schemas/X`).
fn ref_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// The first non-null type of a schema (`"type": ["array", "null"]` in JSON-schema exports).
fn schema_type(schema: &Map<String, Value>) -> Option<&str> {
    match schema.get("type")? {
        Value::String(t) => Some(t),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    }
}

fn relationship_of_map(schema: &Map<String, Value>) -> Option<Relationship> {
    match schema.get("x-kubernetes-map-type")?.as_str()? {
        "atomic" => Some(Relationship::Atomic),
        "granular" => Some(Relationship::Separable),
        _ => None,
    }
}

/// A list's relationship and keys: `x-kubernetes-list-type`, else the strategic-merge-patch
/// extensions (a merge strategy with a merge key is a list-map, without one a set), else atomic.
fn list_kind(schema: &Map<String, Value>) -> (Relationship, Vec<String>) {
    let text = |key: &str| schema.get(key).and_then(Value::as_str);
    match text("x-kubernetes-list-type") {
        Some("set") => return (Relationship::Associative, Vec::new()),
        Some("map") => {
            let keys = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|keys| {
                    keys.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            return (Relationship::Associative, keys);
        }
        Some(_) => return (Relationship::Atomic, Vec::new()),
        None => {}
    }
    match text("x-kubernetes-patch-strategy") {
        Some(strategy) if strategy.split(',').any(|s| s == "merge") => {
            let keys = text("x-kubernetes-patch-merge-key")
                .map(str::to_owned)
                .into_iter()
                .collect();
            (Relationship::Associative, keys)
        }
        _ => (Relationship::Atomic, Vec::new()),
    }
}

/// Converts one JSON schema (inline or a definition) to a type reference.
fn convert(schema: &Value, object_meta: Option<&str>) -> Result<TypeRef, Error> {
    let Some(schema) = schema.as_object() else {
        return Ok(TypeRef::named(DEDUCED));
    };
    let reference = schema.get("$ref").and_then(Value::as_str).or_else(|| {
        // OpenAPI v3 wraps a described reference in `allOf: [{$ref}]`.
        match schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([only]) => only.get("$ref").and_then(Value::as_str),
            _ => None,
        }
    });
    if let Some(reference) = reference {
        let named = TypeRef::named(ref_name(reference));
        return Ok(match relationship_of_map(schema) {
            Some(relationship) => named.with_relationship(relationship),
            None => named,
        });
    }
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if int_or_string
        || schema.contains_key("oneOf")
        || schema.contains_key("anyOf") && schema_type(schema).is_none()
    {
        return Ok(TypeRef::inline(Atom {
            scalar: true,
            ..Atom::default()
        }));
    }
    Ok(TypeRef::inline(match schema_type(schema) {
        Some("array") => {
            let element = match schema.get("items") {
                Some(items) => convert(items, None)?,
                None => TypeRef::named(DEDUCED),
            };
            let (relationship, keys) = list_kind(schema);
            Atom {
                list: Some(ListType {
                    element,
                    relationship,
                    keys: keys.into(),
                }),
                ..Atom::default()
            }
        }
        Some("object") | None
            if schema.contains_key("properties")
                || schema.contains_key("additionalProperties")
                || schema_type(schema) == Some("object") =>
        {
            let mut fields = BTreeMap::new();
            for (name, property) in schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let ty = match (name.as_str(), object_meta) {
                    ("metadata", Some(meta)) => TypeRef::named(meta),
                    _ => convert(property, None)?,
                };
                let default = property.get("default").cloned();
                fields.insert(name.clone(), StructField { ty, default });
            }
            let element = match schema.get("additionalProperties") {
                Some(Value::Bool(false)) | None if !preserve => None,
                Some(extra @ Value::Object(_)) => Some(convert(extra, None)?),
                _ => Some(TypeRef::named(DEDUCED)),
            };
            if fields.is_empty() && element.is_none() {
                // An object schema that names nothing: its shape comes from the value.
                return Ok(TypeRef::named(DEDUCED));
            }
            Atom {
                map: Some(MapType {
                    fields: Arc::new(fields),
                    element,
                    relationship: relationship_of_map(schema).unwrap_or(Relationship::Separable),
                }),
                ..Atom::default()
            }
        }
        Some(_) => Atom {
            scalar: true,
            ..Atom::default()
        },
        None if preserve => return Ok(TypeRef::named(DEDUCED)),
        None => Atom {
            scalar: true,
            ..Atom::default()
        },
    }))
}

/// The definition name of `ObjectMeta` in the usual exports.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

impl Schema {
    /// Adds every definition of an OpenAPI document's definitions map (`$defs`,
    /// `definitions` or `components.schemas`), each under its own name.
    pub fn add_openapi_definitions(
        &mut self,
        definitions: &Map<String, Value>,
    ) -> Result<(), Error> {
        for (name, definition) in definitions {
            let atom = match convert(definition, None)? {
                TypeRef::Inline(atom, None) => (*atom).clone(),
                other => self
                    .resolve(&other)
                    .map(|a| a.into_owned())
                    .unwrap_or_else(|_| Atom {
                        scalar: true,
                        ..Atom::default()
                    }),
            };
            self.insert(name, atom);
        }
        Ok(())
    }

    /// Adds a custom resource's type from its CRD version's `openAPIV3Schema`, under `name`;
    /// `metadata` is typed as `ObjectMeta` when the schema has it.
    pub fn add_crd_version(&mut self, name: &str, open_api_v3_schema: &Value) -> Result<(), Error> {
        let meta = self.contains(OBJECT_META).then_some(OBJECT_META);
        // A schema that names no property (`x-kubernetes-preserve-unknown-fields` alone) is
        // typed by its values, around the fields every object has.
        let mut atom = match convert(open_api_v3_schema, meta)? {
            TypeRef::Inline(atom, _) => (*atom).clone(),
            other => self.resolve(&other)?.into_owned(),
        };
        if let Some(map) = &mut atom.map {
            let mut fields = (*map.fields).clone();
            for (field, ty) in [("apiVersion", None), ("kind", None), ("metadata", meta)] {
                fields
                    .entry(field.to_owned())
                    .or_insert_with(|| StructField {
                        ty: ty.map_or_else(
                            || {
                                TypeRef::inline(Atom {
                                    scalar: true,
                                    ..Atom::default()
                                })
                            },
                            TypeRef::named,
                        ),
                        default: None,
                    });
            }
            map.fields = Arc::new(fields);
        }
        self.insert(name, atom);
        Ok(())
    }
}
