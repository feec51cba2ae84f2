//! Which variant of a type a value takes, and how a list element is named in a path: the
//! two decisions every walk over a typed value makes first.

use crate::Error;
use crate::path::PathElement;
use crate::schema::{Atom, ListType, MapType, Relationship, Schema, TypeRef};
use serde_json::Value;

/// The variant of an atom a value is walked as.
#[derive(Clone, Copy, Debug)]
pub enum Shape<'a> {
    Scalar,
    List(&'a ListType),
    Map(&'a MapType),
}

impl Shape<'_> {
    /// Same variant (structured-merge-diff compares the deduced atoms).
    pub fn same(&self, other: &Shape<'_>) -> bool {
        matches!(
            (self, other),
            (Shape::Scalar, Shape::Scalar)
                | (Shape::List(_), Shape::List(_))
                | (Shape::Map(_), Shape::Map(_))
        )
    }
}

/// The variant `value` fits; for an absent or null value (or one that fits none), the first
/// the atom has, in the order scalar, list, map.
pub fn shape<'a>(atom: &'a Atom, value: Option<&Value>) -> Result<Shape<'a>, Error> {
    match value {
        Some(Value::Bool(_) | Value::Number(_) | Value::String(_)) if atom.scalar => {
            return Ok(Shape::Scalar);
        }
        Some(Value::Array(_)) if atom.list.is_some() => {
            if let Some(list) = &atom.list {
                return Ok(Shape::List(list));
            }
        }
        Some(Value::Object(_)) if atom.map.is_some() => {
            if let Some(map) = &atom.map {
                return Ok(Shape::Map(map));
            }
        }
        _ => {}
    }
    if atom.scalar {
        Ok(Shape::Scalar)
    } else if let Some(list) = &atom.list {
        Ok(Shape::List(list))
    } else if let Some(map) = &atom.map {
        Ok(Shape::Map(map))
    } else {
        Err(Error::Schema("a type with no variant".into()))
    }
}

/// The type of a map entry at `path`: its named field's, else the map's element type.
pub fn entry_type<'a>(
    map: &'a MapType,
    path: &[PathElement],
    key: &str,
) -> Result<&'a TypeRef, Error> {
    map.fields
        .get(key)
        .map(|field| &field.ty)
        .or(map.element.as_ref())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{}.{key}: field not declared in schema",
                crate::path::display(path)
            ))
        })
}

/// The path element of list element `item` at `index`.
pub fn list_item_element(
    schema: &Schema,
    list: &ListType,
    index: usize,
    item: &Value,
) -> Result<PathElement, Error> {
    if list.relationship != Relationship::Associative {
        return Ok(PathElement::Index(index));
    }
    if list.keys.is_empty() {
        return match item {
            Value::Object(_) | Value::Array(_) => Err(Error::Invalid(
                "associative list without keys has an element that's a map type".into(),
            )),
            scalar => Ok(PathElement::value(scalar)),
        };
    }
    let Value::Object(object) = item else {
        return Err(Error::Invalid(
            "associative list with keys has an element that is not a map type".into(),
        ));
    };
    let element_atom = schema.resolve(&list.element)?;
    let mut fields = Vec::with_capacity(list.keys.len());
    for key in list.keys.iter() {
        // A key field the element leaves out takes its schema default, or is left out of
        // the key (structured-merge-diff v6: keys may be optional).
        let value = object.get(key).cloned().or_else(|| {
            element_atom
                .map
                .as_ref()
                .and_then(|map| map.fields.get(key))
                .and_then(|field| field.default.clone())
        });
        if let Some(value) = value {
            fields.push((key.as_str(), value));
        }
    }
    if fields.is_empty() {
        return Err(Error::Invalid(
            "associative list with keys has an element that omits all key fields (and doesn't have default values for any key fields)".into(),
        ));
    }
    Ok(PathElement::key(&fields))
}
