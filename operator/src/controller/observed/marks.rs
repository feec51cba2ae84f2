//! The compact forms of the metadata a [`super::Seen`] keeps: a controller owner reference in
//! one allocation, and kept labels or annotations by the index of their key.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use std::collections::BTreeMap;

/// Kept labels or annotations: the index of each key in its `KEPT_*` list, and the value.
pub type Marks = Box<[(u8, Box<str>)]>;

/// A controller owner reference in one allocation: apiVersion, kind, name and uid, each ending
/// in a newline (none of them can contain one).
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerRef(Box<str>);

impl ControllerRef {
    /// Each part cut to [`MARK_LIMIT`] bytes: the API server does not bound an owner
    /// reference's kind or apiVersion, and a part that long can belong to no DiceService, so a
    /// cut one is still foreign.
    pub fn new(owner: &OwnerReference) -> Self {
        let joined = format!(
            "{}\n{}\n{}\n{}\n",
            bounded(&owner.api_version),
            bounded(&owner.kind),
            bounded(&owner.name),
            bounded(&owner.uid)
        );
        Self(joined.into_boxed_str())
    }

    fn part(&self, index: usize) -> &str {
        self.0.split('\n').nth(index).unwrap_or_default()
    }

    pub fn kind(&self) -> &str {
        self.part(1)
    }

    pub fn uid(&self) -> &str {
        self.part(3)
    }

    pub fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.part(0).to_owned(),
            kind: self.kind().to_owned(),
            name: self.part(2).to_owned(),
            uid: self.uid().to_owned(),
            controller: Some(true),
            block_owner_deletion: None,
        }
    }
}

/// The longest value kept of a mark: an owner annotation is at most a namespace, `/` and a name
/// (317 bytes), a label value 63; a longer value (annotations may hold 256 KiB) is kept cut,
/// which no comparison matches.
pub const MARK_LIMIT: usize = 320;

/// `text` cut to at most [`MARK_LIMIT`] bytes, at a character boundary.
fn bounded(text: &str) -> &str {
    if text.len() <= MARK_LIMIT {
        return text;
    }
    let mut end = MARK_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The values of those `keys` that `wanted` admits, each at most [`MARK_LIMIT`] bytes.
pub fn kept(
    map: Option<&BTreeMap<String, String>>,
    keys: &[&str],
    wanted: impl Fn(&str) -> bool,
) -> Marks {
    keys.iter()
        .zip(0u8..)
        .filter(|(key, _)| wanted(key))
        .filter_map(|(key, index)| Some((index, bounded(map?.get(*key)?).into())))
        .collect()
}

pub fn unkept(marks: &Marks, keys: &[&str]) -> Option<BTreeMap<String, String>> {
    (!marks.is_empty()).then(|| {
        marks
            .iter()
            .map(|(index, value)| (keys[usize::from(*index)].to_owned(), value.to_string()))
            .collect()
    })
}

pub fn mark<'a>(marks: &'a Marks, keys: &[&str], key: &str) -> Option<&'a str> {
    let index = keys.iter().position(|k| *k == key)?;
    marks
        .iter()
        .find(|(i, _)| usize::from(*i) == index)
        .map(|(_, value)| &**value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_controller_reference_round_trips() {
        let owner = OwnerReference {
            api_version: "dice.dev/v1alpha1".into(),
            kind: "DiceService".into(),
            name: "dice".into(),
            uid: "7c0e1d1e-8b6f-4a44-9d6c-2f3a1b0c9d8e".into(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        let packed = ControllerRef::new(&owner);
        assert_eq!(packed.kind(), "DiceService");
        assert_eq!(packed.uid(), owner.uid);
        assert_eq!(packed.owner_reference(), owner);
    }

    #[test]
    fn kept_values_and_owner_parts_are_bounded_whatever_their_size() {
        let owner = OwnerReference {
            api_version: "v1".into(),
            kind: "K".repeat(50_000),
            name: "n".into(),
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        let packed = ControllerRef::new(&owner);
        assert_eq!(packed.kind().len(), MARK_LIMIT);
        assert_ne!(packed.kind(), "DiceService");
        let map: BTreeMap<String, String> = [("a".to_owned(), "é".repeat(200_000))].into();
        let marks = kept(Some(&map), &["a"], |_| true);
        let value = mark(&marks, &["a"], "a").unwrap_or_default();
        assert!(
            value.len() <= MARK_LIMIT && !value.is_empty(),
            "{}",
            value.len()
        );
    }

    #[test]
    fn kept_marks_read_back_by_key_and_leave_the_rest() {
        let keys = ["a", "b", "c"];
        let map: BTreeMap<String, String> = [("c", "3"), ("a", "1"), ("z", "26")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        let marks = kept(Some(&map), &keys, |key| key != "c");
        assert_eq!(mark(&marks, &keys, "a"), Some("1"));
        assert_eq!(mark(&marks, &keys, "b"), None);
        let back = unkept(&marks, &keys).unwrap_or_default();
        assert_eq!(back.len(), 1, "{back:?}");
        assert_eq!(back.get("a").map(String::as_str), Some("1"));
    }
}
