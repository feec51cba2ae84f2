//! Namespaces as kube-apiserver and the namespace controller keep them: a create needs its
//! namespace to exist and not be terminating; deleting a namespace marks it Terminating,
//! deletes what it holds (waiting on finalizers) and removes it once empty.

use super::{EventType, ObjectKey, Store, not_found, now};
use crate::resources::ResourceType;
use crate::status::ApiError;
use serde_json::{Value, json};

fn namespace_key(name: &str) -> ObjectKey {
    ObjectKey {
        group: String::new(),
        plural: "namespaces".into(),
        namespace: String::new(),
        name: name.to_owned(),
    }
}

impl Store {
    /// A create in `namespace` needs it to exist and not be terminating.
    pub(super) fn check_namespace(
        &self,
        t: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        let Some(found) = self.objects.get(&namespace_key(namespace)) else {
            return Err(ApiError::NotFound {
                kind: "namespaces".into(),
                name: namespace.into(),
            });
        };
        if found["metadata"]["deletionTimestamp"].is_string() {
            return Err(ApiError::Forbidden(format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                t.plural
            )));
        }
        Ok(())
    }

    /// Marks the namespace terminating, deletes what it holds (finalizers are waited for),
    /// and removes it once empty, as the namespace controller does.
    pub(super) fn delete_namespace(
        &mut self,
        t: &ResourceType,
        name: &str,
    ) -> Result<Value, ApiError> {
        let object_key = namespace_key(name);
        let mut namespace = self
            .objects
            .get(&object_key)
            .map(|namespace| Value::clone(namespace))
            .ok_or_else(|| not_found(t, name))?;
        if !namespace["metadata"]["deletionTimestamp"].is_string() {
            namespace["metadata"]["deletionTimestamp"] = json!(now());
            namespace["status"] = json!({"phase": "Terminating"});
            namespace = self.commit(t, object_key, Some(namespace), EventType::Modified);
        }
        let contents: Vec<ObjectKey> = self
            .objects
            .keys()
            .filter(|k| k.namespace == name)
            .cloned()
            .collect();
        for content in contents {
            let found = self
                .registry
                .all()
                .find(|r| r.namespaced && r.group == content.group && r.plural == content.plural)
                .cloned();
            if let Some(content_type) = found {
                let _ = self.delete(&content_type, name, &content.name);
            }
        }
        Ok(self.finish_namespace(name).unwrap_or(namespace))
    }

    /// Removes a terminating namespace once nothing is left in it.
    pub(super) fn finish_namespace(&mut self, name: &str) -> Option<Value> {
        let namespace = Value::clone(self.objects.get(&namespace_key(name))?);
        let terminating = namespace["metadata"]["deletionTimestamp"].is_string();
        if !terminating || self.objects.keys().any(|k| k.namespace == name) {
            return None;
        }
        let t = self.registry.get("", "v1", "namespaces")?.clone();
        Some(self.commit(&t, namespace_key(name), Some(namespace), EventType::Deleted))
    }
}
