//! Request bodies in Kubernetes' protobuf encoding, as kubectl's `create namespace`, `create
//! secret` and `create configmap` send them: the `k8s\0` envelope around a `runtime.Unknown`
//! whose `raw` bytes are the object, decoded with the k8s-pb types into the JSON the store keeps.

use crate::status::ApiError;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The four bytes every protobuf-encoded Kubernetes object starts with.
const MAGIC: &[u8] = b"k8s\0";

pub fn is_protobuf(content_type: &str) -> bool {
    content_type.starts_with("application/vnd.kubernetes.protobuf")
}

/// The object in `body` as JSON, for the kinds kubectl's generators send.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let bad = |why: String| ApiError::BadRequest(format!("invalid protobuf body: {why}"));
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("no k8s envelope".into()))?;
    let unknown = Unknown::decode(envelope).map_err(|e| bad(e.to_string()))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let mut object = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => {
            let namespace =
                core::Namespace::decode(raw.as_slice()).map_err(|e| bad(e.to_string()))?;
            let finalizers = namespace.spec.map(|s| s.finalizers).unwrap_or_default();
            json!({"metadata": meta(namespace.metadata), "spec": {"finalizers": finalizers}})
        }
        ("v1", "Secret") => {
            let secret = core::Secret::decode(raw.as_slice()).map_err(|e| bad(e.to_string()))?;
            let data: BTreeMap<String, String> = secret
                .data
                .iter()
                .map(|(k, v)| (k.clone(), base64(v)))
                .collect();
            let mut object = json!({"metadata": meta(secret.metadata), "data": data});
            if !secret.string_data.is_empty() {
                object["stringData"] = json!(secret.string_data);
            }
            if let Some(type_) = secret.r#type {
                object["type"] = json!(type_);
            }
            if let Some(immutable) = secret.immutable {
                object["immutable"] = json!(immutable);
            }
            object
        }
        ("v1", "ConfigMap") => {
            let config_map =
                core::ConfigMap::decode(raw.as_slice()).map_err(|e| bad(e.to_string()))?;
            let binary: BTreeMap<String, String> = config_map
                .binary_data
                .iter()
                .map(|(k, v)| (k.clone(), base64(v)))
                .collect();
            let mut object =
                json!({"metadata": meta(config_map.metadata), "data": config_map.data});
            if !binary.is_empty() {
                object["binaryData"] = json!(binary);
            }
            object
        }
        ("v1", "ServiceAccount") => {
            let account =
                core::ServiceAccount::decode(raw.as_slice()).map_err(|e| bad(e.to_string()))?;
            json!({"metadata": meta(account.metadata)})
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "protobuf {api_version} {kind}: the fake API server decodes protobuf Namespaces, \
                 Secrets, ConfigMaps and ServiceAccounts only; send JSON or YAML (kubectl apply)"
            )));
        }
    };
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

/// The metadata fields a client sets on create.
fn meta(meta: Option<ObjectMeta>) -> Value {
    let meta = meta.unwrap_or_default();
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_owned(), value);
    };
    if let Some(name) = meta.name {
        put("name", json!(name));
    }
    if let Some(prefix) = meta.generate_name {
        put("generateName", json!(prefix));
    }
    if let Some(namespace) = meta.namespace {
        put("namespace", json!(namespace));
    }
    if !meta.labels.is_empty() {
        put("labels", json!(meta.labels));
    }
    if !meta.annotations.is_empty() {
        put("annotations", json!(meta.annotations));
    }
    Value::Object(out)
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::apimachinery::pkg::runtime::TypeMeta;

    fn envelope(kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some("v1".into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut body = MAGIC.to_vec();
        body.extend(unknown.encode_to_vec());
        body
    }

    #[test]
    fn a_secret_decodes_with_its_data_in_base64() {
        let secret = core::Secret {
            metadata: Some(ObjectMeta {
                name: Some("slack".into()),
                ..ObjectMeta::default()
            }),
            data: BTreeMap::from([("url".to_owned(), b"http://x/hook?".to_vec())]),
            r#type: Some("Opaque".into()),
            ..core::Secret::default()
        };
        let object = decode(&envelope("Secret", secret.encode_to_vec())).unwrap();
        assert_eq!(object["kind"], "Secret");
        assert_eq!(object["metadata"]["name"], "slack");
        assert_eq!(object["data"]["url"], "aHR0cDovL3gvaG9vaz8=");
        assert_eq!(object["type"], "Opaque");
    }

    #[test]
    fn other_kinds_are_refused_with_what_is_supported() {
        let error = decode(&envelope("Pod", Vec::new())).unwrap_err();
        assert!(matches!(error, ApiError::UnsupportedMediaType(m) if m.contains("Secrets")));
        assert!(matches!(
            decode(b"not protobuf"),
            Err(ApiError::BadRequest(_))
        ));
    }
}
