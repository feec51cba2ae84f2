//! The `PartialObjectMetadata` view of an object, what metadata-only clients
//! (`Accept: ...;as=PartialObjectMetadata`) ask for.

use serde_json::{Value, json};

/// The `PartialObjectMetadata` form of `object`.
pub fn metadata_view(object: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": object["metadata"].clone()})
}
