//! The type model structured-merge-diff merges by: scalars, lists (atomic, associative by
//! key fields, or sets of scalars) and maps (structs with named fields and/or elements;
//! atomic or separable), with named types. Read from structured-merge-diff's own YAML form
//! here; `openapi` builds it from Kubernetes' OpenAPI schemas and CRD schemas.

use crate::Error;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How the parts of a list or map are owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relationship {
    /// The whole value is one field.
    Atomic,
    /// A list whose elements are fields of their own, identified by key fields or by value.
    Associative,
    /// A map whose entries are fields of their own.
    Separable,
}

/// One type: what a value of it may be. A value picks the variant that fits it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Atom {
    pub scalar: bool,
    pub list: Option<ListType>,
    pub map: Option<MapType>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ListType {
    pub element: TypeRef,
    pub relationship: Relationship,
    pub keys: Arc<[String]>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MapType {
    pub fields: Arc<BTreeMap<String, StructField>>,
    /// The type of entries that are not named fields; `None`: only named fields are allowed.
    pub element: Option<TypeRef>,
    pub relationship: Relationship,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StructField {
    pub ty: TypeRef,
    /// Used for a list-map key field an element leaves out.
    pub default: Option<Value>,
}

/// A reference to a type, with an optional override of its relationship.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeRef {
    Named(Arc<str>, Option<Relationship>),
    Inline(Arc<Atom>, Option<Relationship>),
}

/// A set of named types.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    types: HashMap<String, Arc<Atom>>,
}

/// The type of values whose shape is deduced from the value itself: maps are granular,
/// lists atomic (structured-merge-diff's `__untyped_deduced_`).
pub const DEDUCED: &str = "__untyped_deduced_";
/// A value owned whole, whatever it holds (`__untyped_atomic_`).
pub const UNTYPED_ATOMIC: &str = "__untyped_atomic_";

fn untyped(relationship: Relationship, element: &str) -> Atom {
    Atom {
        scalar: true,
        list: Some(ListType {
            element: TypeRef::named(UNTYPED_ATOMIC),
            relationship: Relationship::Atomic,
            keys: Arc::from([]),
        }),
        map: Some(MapType {
            fields: Arc::default(),
            element: Some(TypeRef::named(element)),
            relationship,
        }),
    }
}

impl TypeRef {
    pub fn named(name: &str) -> Self {
        Self::Named(Arc::from(name), None)
    }

    pub fn inline(atom: Atom) -> Self {
        Self::Inline(Arc::new(atom), None)
    }

    /// The same reference with its relationship overridden.
    pub fn with_relationship(self, relationship: Relationship) -> Self {
        match self {
            Self::Named(name, _) => Self::Named(name, Some(relationship)),
            Self::Inline(atom, _) => Self::Inline(atom, Some(relationship)),
        }
    }
}

impl Schema {
    /// A schema with only the built-in untyped types.
    pub fn new() -> Self {
        let mut types = HashMap::new();
        types.insert(
            DEDUCED.to_owned(),
            Arc::new(untyped(Relationship::Separable, DEDUCED)),
        );
        types.insert(
            UNTYPED_ATOMIC.to_owned(),
            Arc::new(untyped(Relationship::Atomic, UNTYPED_ATOMIC)),
        );
        Self { types }
    }

    pub fn insert(&mut self, name: &str, atom: Atom) {
        self.types.insert(name.to_owned(), Arc::new(atom));
    }

    pub fn contains(&self, name: &str) -> bool {
        self.types.contains_key(name)
    }

    /// The type a reference names, with its relationship override applied.
    pub fn resolve<'a>(&'a self, reference: &'a TypeRef) -> Result<Cow<'a, Atom>, Error> {
        let (atom, relationship) = match reference {
            TypeRef::Named(name, relationship) => {
                let atom = self
                    .types
                    .get(&**name)
                    .ok_or_else(|| Error::Schema(format!("no type named {name:?}")))?;
                (&**atom, *relationship)
            }
            TypeRef::Inline(atom, relationship) => (&**atom, *relationship),
        };
        let Some(relationship) = relationship else {
            return Ok(Cow::Borrowed(atom));
        };
        let mut atom = atom.clone();
        if let Some(list) = &mut atom.list {
            list.relationship = relationship;
        }
        if let Some(map) = &mut atom.map {
            map.relationship = relationship;
        }
        Ok(Cow::Owned(atom))
    }

    /// Keeps only the named types `roots` reach.
    pub fn retain_reachable(&mut self, roots: &[TypeRef]) {
        let mut reached = std::collections::HashSet::new();
        let mut pending: Vec<TypeRef> = roots.to_vec();
        while let Some(reference) = pending.pop() {
            let atom = match &reference {
                TypeRef::Named(name, _) => {
                    if !reached.insert(name.to_string()) {
                        continue;
                    }
                    match self.types.get(&**name) {
                        Some(atom) => atom.clone(),
                        None => continue,
                    }
                }
                TypeRef::Inline(atom, _) => atom.clone(),
            };
            if let Some(list) = &atom.list {
                pending.push(list.element.clone());
            }
            if let Some(map) = &atom.map {
                pending.extend(map.fields.values().map(|f| f.ty.clone()));
                pending.extend(map.element.clone());
            }
        }
        self.types
            .retain(|name, _| reached.contains(name) || name == DEDUCED || name == UNTYPED_ATOMIC);
    }

    /// Reads structured-merge-diff's YAML schema form (`types: [{name, map|list|scalar}]`).
    pub fn from_smd_yaml(text: &str) -> Result<Self, Error> {
        let document: YamlSchema =
            serde_yaml::from_str(text).map_err(|e| Error::Schema(e.to_string()))?;
        let mut schema = Self::new();
        for named in document.types {
            let atom = named.atom.into_atom()?;
            schema.insert(&named.name, atom);
        }
        Ok(schema)
    }
}

#[derive(Deserialize)]
struct YamlSchema {
    types: Vec<YamlNamed>,
}

#[derive(Deserialize)]
struct YamlNamed {
    name: String,
    #[serde(flatten)]
    atom: YamlAtom,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct YamlAtom {
    scalar: Option<String>,
    list: Option<YamlList>,
    map: Option<YamlMap>,
    untyped: Option<YamlUntyped>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct YamlUntyped {
    element_relationship: Option<Relationship>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct YamlList {
    element_type: Box<YamlTypeRef>,
    element_relationship: Option<Relationship>,
    #[serde(default)]
    keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct YamlMap {
    #[serde(default)]
    fields: Vec<YamlField>,
    element_type: Option<Box<YamlTypeRef>>,
    element_relationship: Option<Relationship>,
}

#[derive(Deserialize)]
struct YamlField {
    name: String,
    #[serde(rename = "type")]
    ty: YamlTypeRef,
    default: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct YamlTypeRef {
    named_type: Option<String>,
    element_relationship: Option<Relationship>,
    #[serde(flatten)]
    atom: YamlAtom,
}

impl YamlAtom {
    fn into_atom(self) -> Result<Atom, Error> {
        if let Some(untyped_atom) = self.untyped {
            let relationship = untyped_atom
                .element_relationship
                .unwrap_or(Relationship::Separable);
            return Ok(untyped(relationship, DEDUCED));
        }
        let list = self
            .list
            .map(|list| -> Result<ListType, Error> {
                Ok(ListType {
                    element: list.element_type.into_ref()?,
                    relationship: list.element_relationship.unwrap_or(Relationship::Atomic),
                    keys: list.keys.into(),
                })
            })
            .transpose()?;
        let map = self
            .map
            .map(|map| -> Result<MapType, Error> {
                let mut fields = BTreeMap::new();
                for field in map.fields {
                    let ty = field.ty.into_ref()?;
                    let default = field.default;
                    fields.insert(field.name, StructField { ty, default });
                }
                Ok(MapType {
                    fields: Arc::new(fields),
                    element: map.element_type.map(|t| t.into_ref()).transpose()?,
                    relationship: map.element_relationship.unwrap_or(Relationship::Separable),
                })
            })
            .transpose()?;
        Ok(Atom {
            scalar: self.scalar.is_some(),
            list,
            map,
        })
    }
}

impl YamlTypeRef {
    fn into_ref(self) -> Result<TypeRef, Error> {
        let reference = match self.named_type {
            Some(name) => TypeRef::named(&name),
            None => TypeRef::inline(self.atom.into_atom()?),
        };
        Ok(match self.element_relationship {
            Some(relationship) => reference.with_relationship(relationship),
            None => reference,
        })
    }
}
