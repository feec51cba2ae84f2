//! The form in which the controller caches a DiceService: metadata parsed, spec and status kept
//! as their JSON, deflated. Parsed into Rust structs (maps, options, strings each on the heap) a
//! full spec takes several times its JSON size, and its JSON deflates to about half, for every
//! DiceService, all the time; a reconcile inflates and parses the one it works on with
//! [`CachedDiceService::expand`] (microseconds).

use super::DiceService;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

/// A DiceService as the controller's store holds it.
#[derive(Clone, Debug, Deserialize)]
pub struct CachedDiceService {
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "deflated")]
    spec: Box<[u8]>,
    #[serde(default, deserialize_with = "deflated_if_present")]
    status: Option<Box<[u8]>>,
}

/// Fast rather than small: the cache deflates every DiceService event.
const LEVEL: u8 = 1;
/// Far above any DiceService the API server admits (it bounds a request at 3 MiB).
const INFLATED_LIMIT: usize = 8 << 20;

fn deflate(value: &serde_json::Value) -> Box<[u8]> {
    miniz_oxide::deflate::compress_to_vec(value.to_string().as_bytes(), LEVEL).into_boxed_slice()
}

fn deflated<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Box<[u8]>, D::Error> {
    Ok(deflate(&serde_json::Value::deserialize(deserializer)?))
}

fn deflated_if_present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Box<[u8]>>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.filter(|v| !v.is_null()).map(|v| deflate(&v)))
}

/// A cached DiceService that does not read back (a defect, never the user's input).
#[derive(Debug, thiserror::Error)]
pub enum ExpandError {
    #[error("the cached JSON does not inflate: {0}")]
    Inflate(String),
    #[error("the cached JSON does not parse: {0}")]
    Parse(#[from] serde_json::Error),
}

fn inflate<T: serde::de::DeserializeOwned>(deflated: &[u8]) -> Result<T, ExpandError> {
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, INFLATED_LIMIT)
        .map_err(|error| ExpandError::Inflate(error.to_string()))?;
    Ok(serde_json::from_slice(&json)?)
}

impl CachedDiceService {
    /// The DiceService itself, its spec and status parsed.
    pub fn expand(&self) -> Result<DiceService, ExpandError> {
        let mut service = DiceService::new("", inflate(&self.spec)?);
        service.metadata = self.metadata.clone();
        service.status = self.status.as_deref().map(inflate).transpose()?;
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

    #[test]
    fn the_full_example_is_cached_in_three_fifths_of_its_json() {
        let manifests = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../manifests/examples/full.yaml"
        ))
        .expect("the example exists");
        let service = manifests
            .split("\n---")
            .filter_map(|doc| serde_yaml::from_str::<serde_json::Value>(doc).ok())
            .find(|doc| doc["kind"] == "DiceService")
            .expect("the example holds a DiceService");
        let json = service["spec"].to_string();
        let cached: CachedDiceService = serde_json::from_value(service).expect("a DiceService");
        assert!(
            cached.spec.len() * 5 < json.len() * 3,
            "{} bytes cached for {} bytes of JSON",
            cached.spec.len(),
            json.len()
        );
        let direct: crate::crd::DiceServiceSpec = serde_json::from_str(&json).expect("a spec");
        assert_eq!(cached.expand().expect("expands").spec, direct);
    }
}
