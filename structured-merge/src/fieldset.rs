//! The field set of a value (what an apply of it owns), and the inverse walks: removing or
//! extracting the items a set names; naming struct fields as members for pruning.

use crate::Error;
use crate::path::{Path, PathElement};
use crate::schema::{Relationship, Schema, TypeRef};
use crate::set::Set;
use crate::shape::{Shape, entry_type, list_item_element, shape};
use serde_json::{Map, Value};
use std::collections::HashMap;

impl Schema {
    /// The fields `value` sets: leaves, atomic values whole, list elements and map entries
    /// (which become `.` members), as structured-merge-diff's `ToFieldSet`.
    pub fn to_field_set(&self, value: &Value, ty: &TypeRef) -> Result<Set, Error> {
        let mut set = Set::new();
        self.collect_fields(value, ty, &mut Vec::new(), &mut set)?;
        Ok(set)
    }

    fn collect_fields(
        &self,
        value: &Value,
        ty: &TypeRef,
        path: &mut Path,
        set: &mut Set,
    ) -> Result<(), Error> {
        let atom = self.resolve(ty)?;
        match shape(&atom, Some(value))? {
            Shape::Scalar => set.insert(path),
            Shape::List(list) => {
                if list.relationship == Relationship::Atomic {
                    set.insert(path);
                    return Ok(());
                }
                let Some(items) = value.as_array() else {
                    return Ok(());
                };
                let mut elements = Vec::with_capacity(items.len());
                let mut seen: HashMap<PathElement, usize> = HashMap::new();
                for (index, item) in items.iter().enumerate() {
                    let element = list_item_element(self, list, index, item)?;
                    *seen.entry(element.clone()).or_default() += 1;
                    elements.push(element);
                }
                for (item, element) in items.iter().zip(elements) {
                    path.push(element.clone());
                    // A duplicated element is owned whole: its parts cannot be told apart.
                    if seen.get(&element).copied().unwrap_or(0) == 1 {
                        self.collect_fields(item, &list.element, path, set)?;
                    }
                    set.insert(path);
                    path.pop();
                }
            }
            Shape::Map(map) => {
                if map.relationship == Relationship::Atomic {
                    set.insert(path);
                    return Ok(());
                }
                let Some(entries) = value.as_object() else {
                    return Ok(());
                };
                for (key, entry) in entries {
                    let entry_ty = entry_type(map, path, key)?;
                    path.push(PathElement::Field(key.clone()));
                    self.collect_fields(entry, entry_ty, path, set)?;
                    let empty_map = entry.as_object().is_some_and(Map::is_empty);
                    if entry.is_null() || empty_map || !map.fields.contains_key(key) {
                        set.insert(path);
                    }
                    path.pop();
                }
            }
        }
        Ok(())
    }

    /// `value` without the fields, list elements and map entries `set` names.
    pub fn remove_items(&self, value: &Value, set: &Set, ty: &TypeRef) -> Value {
        self.filter_items(value, set, ty, false)
    }

    /// Only the parts of `value` that `set` names.
    pub fn extract_items(&self, value: &Value, set: &Set, ty: &TypeRef) -> Value {
        self.filter_items(value, set, ty, true)
    }

    fn filter_items(&self, value: &Value, set: &Set, ty: &TypeRef, extract: bool) -> Value {
        let Ok(atom) = self.resolve(ty) else {
            return value.clone();
        };
        let Ok(found) = shape(&atom, Some(value)) else {
            return value.clone();
        };
        match found {
            Shape::Scalar => value.clone(),
            Shape::List(list) => {
                let items = match value.as_array() {
                    Some(items) if !items.is_empty() => items,
                    _ => return value.clone(),
                };
                if list.relationship == Relationship::Atomic {
                    return value.clone();
                }
                let mut kept = Vec::new();
                for (index, item) in items.iter().enumerate() {
                    let Ok(element) = list_item_element(self, list, index, item) else {
                        continue;
                    };
                    let below = set.child(&element);
                    if set.is_member(&element) {
                        if extract {
                            kept.push(match below {
                                Some(below) => self.filter_items(item, below, &list.element, true),
                                None => item.clone(),
                            });
                        }
                        continue;
                    }
                    match below {
                        Some(below) => {
                            kept.push(self.filter_items(item, below, &list.element, extract))
                        }
                        None if extract => {}
                        None => kept.push(item.clone()),
                    }
                }
                if kept.is_empty() {
                    Value::Null
                } else {
                    Value::Array(kept)
                }
            }
            Shape::Map(map) => {
                let entries = match value.as_object() {
                    Some(entries) if !entries.is_empty() => entries,
                    _ => return value.clone(),
                };
                if map.relationship == Relationship::Atomic {
                    return value.clone();
                }
                let mut kept = Map::new();
                for (key, entry) in entries {
                    let element = PathElement::Field(key.clone());
                    let Ok(entry_ty) = entry_type(map, &[], key) else {
                        continue;
                    };
                    let below = set.child(&element);
                    if set.is_member(&element) {
                        if extract {
                            let extracted = match below {
                                Some(below) => self.filter_items(entry, below, entry_ty, true),
                                None => entry.clone(),
                            };
                            kept.insert(key.clone(), extracted);
                        }
                        continue;
                    }
                    match below {
                        Some(below) => {
                            kept.insert(
                                key.clone(),
                                self.filter_items(entry, below, entry_ty, extract),
                            );
                        }
                        None if extract => {}
                        None => {
                            kept.insert(key.clone(), entry.clone());
                        }
                    }
                }
                if kept.is_empty() {
                    Value::Null
                } else {
                    Value::Object(kept)
                }
            }
        }
    }

    /// `set` with every named struct field that has paths below it made a member too, so
    /// that pruning removes a struct field whose contents nobody owns any more.
    pub fn ensure_named_fields_are_members(&self, set: &Set, ty: Option<&TypeRef>) -> Set {
        let atom = ty.and_then(|ty| self.resolve(ty).ok());
        let map = atom.as_ref().and_then(|a| a.map.as_ref());
        let list = atom.as_ref().and_then(|a| a.list.as_ref());
        let mut out = Set::new();
        for member in set.members() {
            out.insert(std::slice::from_ref(member));
        }
        for (element, child) in set.children() {
            let child_ty = match element {
                PathElement::Field(name) => {
                    map.and_then(|m| m.fields.get(name).map(|f| &f.ty).or(m.element.as_ref()))
                }
                PathElement::Key(_) => list.map(|l| &l.element),
                _ => None,
            };
            if let (PathElement::Field(name), Some(m)) = (element, map)
                && m.fields.contains_key(name)
            {
                out.insert(std::slice::from_ref(element));
            }
            let inner = self.ensure_named_fields_are_members(child, child_ty);
            out.graft(element, inner);
        }
        out
    }
}
