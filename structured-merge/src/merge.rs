//! Merging an applied configuration into the live object, and comparing two versions of an
//! object into added, removed and modified fields — one walk over both values, as
//! structured-merge-diff's merging walker, including how it orders list-map elements.

use crate::Error;
use crate::path::{Path, PathElement};
use crate::schema::{ListType, MapType, Relationship, Schema, TypeRef};
use crate::set::Set;
use crate::shape::{Shape, entry_type, list_item_element, shape};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};

/// What changed between two versions of an object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    pub added: Set,
    pub removed: Set,
    pub modified: Set,
}

impl Comparison {
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.modified.is_empty()
    }
}

/// What a walk does at leaves and after each list element or map entry.
trait Visitor {
    /// Whether the new side may hold duplicated list elements (a comparison of stored
    /// objects); an applied configuration may not.
    fn allows_duplicates(&self) -> bool;
    fn leaf(&mut self, path: &Path, lhs: Option<&Value>, rhs: Option<&Value>);
    fn item(&mut self, path: &Path, lhs: Option<&Value>, rhs: Option<&Value>);
}

/// Collects a comparison.
struct Comparing(Comparison);

impl Visitor for Comparing {
    fn allows_duplicates(&self) -> bool {
        true
    }

    fn leaf(&mut self, path: &Path, lhs: Option<&Value>, rhs: Option<&Value>) {
        match (lhs, rhs) {
            (None, _) => self.0.added.insert(path),
            (_, None) => self.0.removed.insert(path),
            (Some(l), Some(r)) if !values_equal(l, r) => self.0.modified.insert(path),
            _ => {}
        }
    }

    fn item(&mut self, path: &Path, lhs: Option<&Value>, rhs: Option<&Value>) {
        match (lhs, rhs) {
            (None, _) => self.0.added.insert(path),
            (_, None) => self.0.removed.insert(path),
            _ => {}
        }
    }
}

/// Merges; nothing to collect.
struct Merging;

impl Visitor for Merging {
    fn allows_duplicates(&self) -> bool {
        false
    }

    fn leaf(&mut self, _: &Path, _: Option<&Value>, _: Option<&Value>) {}

    fn item(&mut self, _: &Path, _: Option<&Value>, _: Option<&Value>) {}
}

/// Numbers compare by value (`1` equals `1.0`), as structured-merge-diff's value equality.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || (x.as_f64().is_some() && x.as_f64() == y.as_f64())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

impl Schema {
    /// `lhs` with `rhs` merged in: `rhs` wins at leaves and atomic values; list-map elements
    /// and map entries merge one by one.
    pub fn merge(&self, lhs: &Value, rhs: &Value, ty: &TypeRef) -> Result<Value, Error> {
        let merged = walk(
            &mut Walk {
                schema: self,
                visitor: &mut Merging,
                path: Vec::new(),
            },
            Some(lhs),
            Some(rhs),
            ty,
        )?;
        Ok(merged.unwrap_or(Value::Null))
    }

    /// The fields added, removed and modified from `lhs` to `rhs`.
    pub fn compare(&self, lhs: &Value, rhs: &Value, ty: &TypeRef) -> Result<Comparison, Error> {
        let mut comparing = Comparing(Comparison::default());
        walk(
            &mut Walk {
                schema: self,
                visitor: &mut comparing,
                path: Vec::new(),
            },
            Some(lhs),
            Some(rhs),
            ty,
        )?;
        Ok(comparing.0)
    }
}

/// One walk over two values: the schema, what it does on the way, and where it is.
struct Walk<'a> {
    schema: &'a Schema,
    visitor: &'a mut dyn Visitor,
    path: Path,
}

fn walk(
    w: &mut Walk<'_>,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    ty: &TypeRef,
) -> Result<Option<Value>, Error> {
    let atom = w.schema.resolve(ty)?;
    let left = shape(&atom, lhs)?;
    let right = shape(&atom, rhs)?;
    let chosen = match (lhs, rhs) {
        (_, None) => left,
        (None, _) => right,
        _ if left.same(&right) => right,
        // Different variants on each side: the old one is walked for what it loses, then
        // the new one for the result.
        _ => {
            walk_shape(w, lhs, rhs, left)?;
            right
        }
    };
    walk_shape(w, lhs, rhs, chosen)
}

fn walk_shape(
    w: &mut Walk<'_>,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    chosen: Shape<'_>,
) -> Result<Option<Value>, Error> {
    Ok(match chosen {
        Shape::Scalar => leaf(w, lhs, rhs),
        Shape::List(list) => walk_list(w, lhs, rhs, list)?,
        Shape::Map(map) => walk_map(w, lhs, rhs, map)?,
    })
}

fn leaf(w: &mut Walk<'_>, lhs: Option<&Value>, rhs: Option<&Value>) -> Option<Value> {
    w.visitor.leaf(&w.path, lhs, rhs);
    rhs.or(lhs).cloned()
}

fn walk_map(
    w: &mut Walk<'_>,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    map: &MapType,
) -> Result<Option<Value>, Error> {
    let left = lhs.and_then(Value::as_object);
    let right = rhs.and_then(Value::as_object);
    let empty = |m: Option<&Map<String, Value>>| m.is_none_or(Map::is_empty);
    if map.relationship == Relationship::Atomic || (empty(left) && empty(right)) {
        return Ok(leaf(w, lhs, rhs));
    }
    let keys: BTreeSet<&String> = left
        .into_iter()
        .flatten()
        .chain(right.into_iter().flatten())
        .map(|(k, _)| k)
        .collect();
    let mut out = Map::new();
    for key in keys {
        let entry_ty = entry_type(map, &w.path, key)?;
        let l = left.and_then(|m| m.get(key));
        let r = right.and_then(|m| m.get(key));
        w.path.push(PathElement::Field(key.clone()));
        let merged = walk(w, l, r, entry_ty)?;
        w.visitor.item(&w.path, l, r);
        w.path.pop();
        if let Some(merged) = merged {
            out.insert(key.clone(), merged);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// Each element's path element, and the element per path element (`None` where the list
/// holds it more than once: duplicates are not merged).
type Indexed<'v> = (Vec<PathElement>, HashMap<PathElement, Option<&'v Value>>);

fn index_items<'v>(
    schema: &Schema,
    list: &ListType,
    items: &'v [Value],
    allow_duplicates: bool,
) -> Result<Indexed<'v>, Error> {
    let mut elements = Vec::with_capacity(items.len());
    let mut observed = HashMap::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let element = list_item_element(schema, list, index, item)?;
        if observed.contains_key(&element) {
            if !allow_duplicates {
                return Err(Error::Invalid(format!(
                    "duplicate entries for key {element}"
                )));
            }
            observed.insert(element.clone(), None);
        } else {
            observed.insert(element.clone(), Some(item));
        }
        elements.push(element);
    }
    Ok((elements, observed))
}

fn walk_list(
    w: &mut Walk<'_>,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    list: &ListType,
) -> Result<Option<Value>, Error> {
    let left = lhs.and_then(Value::as_array).map(Vec::as_slice);
    let right = rhs.and_then(Value::as_array).map(Vec::as_slice);
    let empty = |l: Option<&[Value]>| l.is_none_or(<[Value]>::is_empty);
    if list.relationship == Relationship::Atomic || (empty(left) && empty(right)) {
        return Ok(leaf(w, lhs, rhs));
    }
    let left = left.unwrap_or_default();
    let right = right.unwrap_or_default();
    let (left_elements, left_seen) = index_items(w.schema, list, left, true)?;
    let (right_elements, right_seen) =
        index_items(w.schema, list, right, w.visitor.allows_duplicates())?;
    let mut shared_order = right_elements
        .iter()
        .filter(|e| left_seen.contains_key(*e))
        .peekable();
    let mut next_shared = shared_order.next();
    let mut merged_right: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(left.len().max(right.len()));
    let null = Value::Null;
    // A duplicated element is walked as a null value.
    let left_item = |e: &PathElement| left_seen.get(e).map(|v| v.unwrap_or(&null));
    let right_item = |e: &PathElement| right_seen.get(e).map(|v| v.unwrap_or(&null));
    let mut item = |w: &mut Walk<'_>,
                    element: &PathElement,
                    l: Option<&Value>,
                    r: Option<&Value>|
     -> Result<(), Error> {
        w.path.push(element.clone());
        let merged = walk(w, l, r, &list.element)?;
        w.visitor.item(&w.path, l, r);
        w.path.pop();
        out.extend(merged);
        Ok(())
    };
    let (mut li, mut ri) = (0, 0);
    while li < left_elements.len() || ri < right_elements.len() {
        if li < left_elements.len() && ri < right_elements.len() {
            let element = &left_elements[li];
            if *element == right_elements[ri] {
                merged_right.insert(element);
                item(w, element, left_item(element), right_item(element))?;
                li += 1;
                ri += 1;
                if next_shared.is_some_and(|s| s == element) {
                    next_shared = shared_order.next();
                }
                continue;
            }
            if right_seen.contains_key(element) && next_shared.is_some_and(|s| s != element) {
                // Shared, but not the one the right side wants next.
                li += 1;
                continue;
            }
        }
        if li < left_elements.len() {
            let element = &left_elements[li];
            if !right_seen.contains_key(element) {
                item(w, element, Some(&left[li]), None)?;
                li += 1;
                continue;
            }
            if merged_right.contains(element) {
                li += 1;
                continue;
            }
        }
        if ri < right_elements.len() {
            let element = &right_elements[ri];
            merged_right.insert(element);
            item(w, element, left_item(element), right_item(element))?;
            ri += 1;
            if next_shared.is_some_and(|s| s == element) {
                next_shared = shared_order.next();
            }
        }
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}
