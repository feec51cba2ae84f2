//! Ownership bookkeeping of writes (structured-merge-diff's `Updater`): an update takes the
//! fields it changed from everybody else; an apply owns exactly the fields of its
//! configuration, prunes what it applied last time and no longer does (unless someone else
//! owns it), and conflicts with other owners of fields it changes unless forced.

use crate::Error;
use crate::merge::{Comparison, values_equal};
use crate::path::{Path, display};
use crate::schema::{Schema, TypeRef};
use crate::set::Set;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The fields one manager owns, at the API version it wrote them, and whether by apply.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionedSet {
    pub set: Set,
    pub api_version: String,
    pub applied: bool,
}

/// Every manager's fields, by manager name.
pub type ManagedFields = BTreeMap<String, VersionedSet>;

/// A field an apply would change that another manager owns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conflict {
    pub manager: String,
    pub path: Path,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conflict with \"{}\": {}",
            self.manager,
            display(&self.path)
        )
    }
}

/// Applies and updates against one schema and root type.
#[derive(Clone, Copy, Debug)]
pub struct Updater<'s> {
    pub schema: &'s Schema,
    pub root: &'s TypeRef,
}

impl Updater<'_> {
    /// Takes the fields `new` changes from the other managers (or refuses with the conflicts,
    /// unless `force`), and removes the fields it removes from everybody.
    fn settle(
        &self,
        old: &Value,
        new: &Value,
        managers: &mut ManagedFields,
        writer: &str,
        force: bool,
    ) -> Result<Comparison, Error> {
        let comparison = self.schema.compare(old, new, self.root)?;
        let changed = comparison.modified.union(&comparison.added);
        let mut conflicts = Vec::new();
        for (manager, owned) in managers.iter() {
            if manager == writer {
                continue;
            }
            for path in owned.set.intersection(&changed).paths() {
                conflicts.push(Conflict {
                    manager: manager.clone(),
                    path,
                });
            }
        }
        if !force && !conflicts.is_empty() {
            conflicts.sort();
            return Err(Error::Conflicts(conflicts));
        }
        for (manager, owned) in managers.iter_mut() {
            if manager != writer {
                owned.set = owned
                    .set
                    .difference(&changed)
                    .difference(&comparison.removed);
            }
        }
        managers.retain(|_, owned| !owned.set.is_empty());
        Ok(comparison)
    }

    /// The managers after `manager` replaced `live` with `new` by a create, update or patch.
    pub fn update(
        &self,
        live: &Value,
        new: &Value,
        version: &str,
        managers: &ManagedFields,
        manager: &str,
    ) -> Result<ManagedFields, Error> {
        let mut managers = managers.clone();
        let comparison = self.settle(live, new, &mut managers, manager, true)?;
        let previous = managers.remove(manager).map(|m| m.set).unwrap_or_default();
        let owned = previous
            .union(&comparison.modified)
            .union(&comparison.added)
            .difference(&comparison.removed);
        if !owned.is_empty() {
            managers.insert(
                manager.to_owned(),
                VersionedSet {
                    set: owned,
                    api_version: version.to_owned(),
                    applied: false,
                },
            );
        }
        Ok(managers)
    }

    /// The object after `manager` applies `config` to `live` (`None`: nothing changed) and
    /// the managers after it.
    pub fn apply(
        &self,
        live: &Value,
        config: &Value,
        version: &str,
        managers: &ManagedFields,
        manager: &str,
        force: bool,
    ) -> Result<(Option<Value>, ManagedFields), Error> {
        let mut managers = managers.clone();
        let merged = self.schema.merge(live, config, self.root)?;
        let last = managers.get(manager).map(|m| m.set.clone());
        let set = self.schema.to_field_set(config, self.root)?;
        managers.insert(
            manager.to_owned(),
            VersionedSet {
                set,
                api_version: version.to_owned(),
                applied: true,
            },
        );
        let pruned = match &last {
            Some(last) if !last.is_empty() => self.prune(&merged, &managers, last)?,
            _ => merged,
        };
        self.settle(live, &pruned, &mut managers, manager, force)?;
        let changed = !values_equal(live, &pruned);
        Ok((changed.then_some(pruned), managers))
    }

    /// Removes what `last` (the applier's previous set) held and nobody owns now.
    fn prune(&self, merged: &Value, managers: &ManagedFields, last: &Set) -> Result<Value, Error> {
        let schema = self.schema;
        let named = |set: &Set| schema.ensure_named_fields_are_members(set, Some(self.root));
        let removed = schema.remove_items(merged, &named(last), self.root);
        // Add back what another manager (or the new configuration) owns.
        let owned = managers
            .values()
            .fold(Set::new(), |all, m| all.union(&m.set));
        let merged_set = schema.to_field_set(merged, self.root)?;
        let removed_set = schema.to_field_set(&removed, self.root)?;
        let keep = named(&removed_set).union(&named(&owned));
        let pruned = schema.remove_items(merged, &named(&merged_set).difference(&keep), self.root);
        // Only what `last` held may go: add back anything else the pruning took.
        let pruned_set = named(&schema.to_field_set(&pruned, self.root)?);
        let gone = named(&merged_set)
            .difference(&pruned_set)
            .intersection(&named(last));
        Ok(schema.remove_items(merged, &gone, self.root))
    }
}
