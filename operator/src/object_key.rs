//! The identity of a namespaced object in the operator's in-memory maps: `namespace/name`,
//! typed, so no caller formats or splits the string itself.

use std::fmt;

/// `namespace/name` in one allocation (a namespace holds no `/`, so the first one splits it).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(Box<str>);

impl ObjectKey {
    pub fn new(namespace: &str, name: &str) -> Self {
        Self(format!("{namespace}/{name}").into_boxed_str())
    }

    /// The key of a Kubernetes object (an empty namespace for a cluster-scoped one).
    pub fn of(object: &impl kube::Resource) -> Self {
        let meta = object.meta();
        Self::new(
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        )
    }

    /// A key written as `namespace/name` (the dashboard owner annotation), if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        let (namespace, name) = text.split_once('/')?;
        (!namespace.is_empty() && !name.is_empty()).then(|| Self::new(namespace, name))
    }

    pub fn namespace(&self) -> &str {
        self.split().0
    }

    pub fn name(&self) -> &str {
        self.split().1
    }

    fn split(&self) -> (&str, &str) {
        self.0.split_once('/').unwrap_or(("", &self.0))
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gives_back_its_parts() {
        let key = ObjectKey::new("team-a", "dice");
        assert_eq!((key.namespace(), key.name()), ("team-a", "dice"));
        assert_eq!(key.to_string(), "team-a/dice");
        let cluster_scoped = ObjectKey::new("", "crd");
        assert_eq!(
            (cluster_scoped.namespace(), cluster_scoped.name()),
            ("", "crd")
        );
        assert_eq!(ObjectKey::parse("team-a/dice"), Some(key));
        assert_eq!(ObjectKey::parse("dice"), None);
    }
}
