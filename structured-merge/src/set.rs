//! A set of field paths (structured-merge-diff's `fieldpath.Set`): members at this level and
//! a child set per path element, converted to and from the FieldsV1 JSON of `managedFields`.

use crate::Error;
use crate::path::{Path, PathElement};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Invariant: no child set is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    pub fn new() -> Self {
        Self::default()
    }

    /// A set of the given paths.
    pub fn of<I: IntoIterator<Item = Path>>(paths: I) -> Self {
        let mut set = Self::new();
        for path in paths {
            set.insert(&path);
        }
        set
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Whether `element` is a member at this level.
    pub fn is_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    /// The members at this level.
    pub fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    /// The child sets, by their path element.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &Set)> {
        self.children.iter()
    }

    /// Adds `child` below `element`.
    pub fn graft(&mut self, element: &PathElement, child: Set) {
        if child.is_empty() {
            return;
        }
        let merged = match self.children.get(element) {
            Some(mine) => mine.union(&child),
            None => child,
        };
        self.children.insert(element.clone(), merged);
    }

    /// The paths below `element`.
    pub fn child(&self, element: &PathElement) -> Option<&Set> {
        self.children.get(element)
    }

    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (element, child) in &other.children {
            let merged = match out.children.get(element) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(element.clone(), merged);
        }
        out
    }

    /// The paths of `self` that `other` does not hold (path by path: a member of `other` does
    /// not take the paths below it).
    pub fn difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(element, child)| {
                let rest = match other.children.get(element) {
                    Some(theirs) => child.difference(theirs),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (element.clone(), rest))
            })
            .collect();
        Set { members, children }
    }

    /// The paths of `self` that are neither in `other` nor below a member of `other`.
    pub fn recursive_difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter(|(element, _)| !other.members.contains(*element))
            .filter_map(|(element, child)| {
                let rest = match other.children.get(element) {
                    Some(theirs) => child.recursive_difference(theirs),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (element.clone(), rest))
            })
            .collect();
        Set { members, children }
    }

    pub fn intersection(&self, other: &Set) -> Set {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(element, child)| {
                let both = child.intersection(other.children.get(element)?);
                (!both.is_empty()).then(|| (element.clone(), both))
            })
            .collect();
        Set { members, children }
    }

    /// Only the members that have nothing below them.
    pub fn leaves(&self) -> Set {
        let members = self
            .members
            .iter()
            .filter(|m| !self.children.contains_key(*m))
            .cloned()
            .collect();
        let children = self
            .children
            .iter()
            .filter_map(|(element, child)| {
                let leaves = child.leaves();
                (!leaves.is_empty()).then(|| (element.clone(), leaves))
            })
            .collect();
        Set { members, children }
    }

    /// Every member path, in order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        let elements: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for element in elements {
            prefix.push(element.clone());
            if self.members.contains(element) {
                out.push(prefix.clone());
            }
            if let Some(child) = self.children.get(element) {
                child.collect_paths(prefix, out);
            }
            prefix.pop();
        }
    }

    /// How many member paths.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(Set::len).sum::<usize>()
    }

    /// The FieldsV1 JSON: `{"f:spec": {"f:replicas": {}}, ...}`, with `"."` where a path is a
    /// member and has children.
    pub fn to_fields_v1(&self) -> Value {
        let mut object = Map::new();
        for member in &self.members {
            if !self.children.contains_key(member) {
                object.insert(member.to_string(), Value::Object(Map::new()));
            }
        }
        for (element, child) in &self.children {
            let mut inner = child.to_fields_v1();
            if self.members.contains(element)
                && let Value::Object(map) = &mut inner
            {
                map.insert(".".to_owned(), Value::Object(Map::new()));
            }
            object.insert(element.to_string(), inner);
        }
        Value::Object(object)
    }

    /// Reads FieldsV1 JSON.
    pub fn from_fields_v1(fields: &Value) -> Result<Set, Error> {
        let Value::Object(map) = fields else {
            return Err(Error::FieldsV1("a field set must be an object".into()));
        };
        let mut set = Set::new();
        for (key, value) in map {
            if key == "." {
                continue;
            }
            let element = PathElement::parse(key)?;
            let Value::Object(inner) = value else {
                return Err(Error::FieldsV1(format!("{key}: expected an object")));
            };
            if inner.is_empty() || inner.contains_key(".") {
                set.members.insert(element.clone());
            }
            let child = Set::from_fields_v1(value)?;
            if !child.is_empty() {
                set.children.insert(element, child);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::field(name)
    }

    #[test]
    fn fields_v1_round_trips_with_dot_markers() {
        let text = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}}}}
        });
        let set = Set::from_fields_v1(&text).unwrap();
        assert!(set.has(&[f("metadata"), f("labels")]));
        assert!(!set.has(&[f("metadata")]));
        let element = PathElement::key(&[("name", json!("c"))]);
        assert!(set.has(&[f("spec"), f("containers"), element.clone()]));
        assert!(set.has(&[f("spec"), f("containers"), element, f("image")]));
        assert_eq!(set.to_fields_v1(), text);
        assert_eq!(set.len(), 4, "labels, app, the container and its image");
    }

    #[test]
    fn difference_is_path_by_path_and_recursive_difference_takes_subtrees() {
        let set = Set::of([vec![f("a")], vec![f("a"), f("b")], vec![f("c")]]);
        let other = Set::of([vec![f("a")]]);
        assert_eq!(
            set.difference(&other),
            Set::of([vec![f("a"), f("b")], vec![f("c")]])
        );
        assert_eq!(set.recursive_difference(&other), Set::of([vec![f("c")]]));
        assert_eq!(set.leaves(), Set::of([vec![f("a"), f("b")], vec![f("c")]]));
    }
}
