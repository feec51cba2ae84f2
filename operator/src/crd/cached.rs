//! The form in which the controller caches a DiceService: metadata parsed, spec and status kept
//! as the compact JSON the API server sent. Parsed into Rust structs (maps, options, strings
//! each on the heap) a full spec takes several times its JSON size, for every DiceService, all
//! the time; a reconcile parses the one it works on with [`CachedDiceService::expand`].

use super::DiceService;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

/// A DiceService as the controller's store holds it.
#[derive(Clone, Debug, Deserialize)]
pub struct CachedDiceService {
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "compact_json")]
    spec: Box<str>,
    #[serde(default, deserialize_with = "compact_optional_json")]
    status: Option<Box<str>>,
}

fn compact_json<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Box<str>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(value.to_string().into_boxed_str())
}

fn compact_optional_json<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Box<str>>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value
        .filter(|v| !v.is_null())
        .map(|v| v.to_string().into_boxed_str()))
}

impl CachedDiceService {
    /// The DiceService itself, its spec and status parsed.
    pub fn expand(&self) -> Result<DiceService, serde_json::Error> {
        let mut service = DiceService::new("", serde_json::from_str(&self.spec)?);
        service.metadata = self.metadata.clone();
        service.status = self
            .status
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?;
        Ok(service)
    }
}

impl Resource for CachedDiceService {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        DiceService::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        DiceService::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        DiceService::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        DiceService::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cached_diceservice_expands_to_what_the_api_server_sent() {
        let sent = json!({
            "apiVersion": "dice.dev/v1alpha1", "kind": "DiceService",
            "metadata": {"name": "dice", "namespace": "games", "uid": "u1", "generation": 3},
            "spec": {"replicas": 2, "monitoring": {"labels": {"release": "kps"}}},
            "status": {"replicas": 2, "readyReplicas": 1, "observedGeneration": 3}
        });
        let text = sent.to_string();
        let cached: CachedDiceService = serde_json::from_str(&text).expect("a DiceService");
        let direct: DiceService = serde_json::from_str(&text).expect("a DiceService");
        assert_eq!(cached.expand().expect("parses"), direct);
    }

    #[test]
    fn a_diceservice_without_status_expands_without_one() {
        let sent = json!({"apiVersion": "dice.dev/v1alpha1", "kind": "DiceService",
            "metadata": {"name": "dice"}, "spec": {}, "status": null});
        let cached: CachedDiceService = serde_json::from_value(sent).expect("a DiceService");
        assert_eq!(cached.expand().expect("parses").status, None);
    }
}
