//! The object store: resourceVersions, generations, uids, status isolation, patches, apply,
//! finalizers, owner-reference garbage collection, and the event history watches replay.

use crate::event_views;
mod namespaces;

use crate::managed_fields::{self, Writer};
use crate::resources::{Registry, ResourceType};
use crate::selectors::Selector;
use crate::status::ApiError;
use crate::typed::{self, FieldValidation};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast;

/// Watch history kept for resuming; older resourceVersions get `410 Gone`. As kube-apiserver's
/// watch cache, an event is dropped once it is older than [`HISTORY_WINDOW`] (its
/// `eventFreshDuration`) and newer ones arrive, or when the history is full: a watch that
/// resumes from a version older than that has to list again.
const HISTORY: usize = 50_000;
const HISTORY_WINDOW: std::time::Duration = std::time::Duration::from_secs(75);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct StoredEvent {
    pub resource_version: u64,
    pub kind: EventType,
    pub group: String,
    pub plural: String,
    pub object: Arc<Value>,
    /// For a MODIFIED event whose labels changed, the labels before: a label-selector watch
    /// sees the object arrive (ADDED) or leave (DELETED) by them.
    pub previous_labels: Option<Value>,
    encoded: OnceLock<String>,
    encoded_metadata: OnceLock<String>,
}

impl StoredEvent {
    fn new(
        resource_version: u64,
        kind: EventType,
        t: &ResourceType,
        object: Arc<Value>,
        previous_labels: Option<Value>,
    ) -> Self {
        Self {
            resource_version,
            kind,
            group: t.group.clone(),
            plural: t.plural.clone(),
            object,
            previous_labels,
            encoded: OnceLock::new(),
            encoded_metadata: OnceLock::new(),
        }
    }

    /// The object as JSON (or its `PartialObjectMetadata` view), encoded once for every watch
    /// that sends it, as kube-apiserver's watch cache encodes each event once per format.
    pub fn encoded(&self, metadata_only: bool) -> &str {
        if metadata_only {
            self.encoded_metadata
                .get_or_init(|| crate::partial::metadata_view(&self.object).to_string())
        } else {
            self.encoded.get_or_init(|| self.object.to_string())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Strategic,
    Json,
    Apply,
}

/// One PATCH request: its kind, body, field manager (for apply) and target subresource.
#[derive(Debug, Clone, Copy)]
pub struct PatchRequest<'a> {
    pub kind: PatchKind,
    pub body: &'a Value,
    pub field_manager: &'a str,
    pub subresource: Subresource,
    pub field_validation: FieldValidation,
    /// `force=true`: an apply takes fields other managers own instead of conflicting.
    pub force: bool,
}

/// Events after a resourceVersion plus a receiver for later ones, taken together.
#[derive(Debug)]
pub struct Subscription {
    pub backlog: Vec<Arc<StoredEvent>>,
    pub receiver: broadcast::Receiver<Arc<StoredEvent>>,
}

#[derive(Debug)]
pub struct Store {
    pub registry: Registry,
    resource_version: u64,
    /// Shared with the events and lists that show them: a write replaces an object, never
    /// changes it in place.
    objects: BTreeMap<ObjectKey, Arc<Value>>,
    /// Every stored object's uid, for owner-reference checks.
    uids: HashSet<String>,
    /// Objects by the uids their owner references name, so a delete finds its dependents
    /// without scanning the store.
    dependents: HashMap<String, BTreeSet<ObjectKey>>,
    history: VecDeque<(std::time::Instant, Arc<StoredEvent>)>,
    events: broadcast::Sender<Arc<StoredEvent>>,
    /// Committed writes (creates, updates, deletes); no-op writes do not count.
    pub writes: u64,
    /// Of those, writes to Leases: leader election renews them all the time, so "an idle
    /// operator writes nothing" is about the other writes.
    pub lease_writes: u64,
    /// The OwnerReferencesPermissionEnforcement admission plugin is on (the API layer checks
    /// writes against it).
    pub owner_references_enforced: bool,
    /// The WatchList feature gate: streaming lists (`sendInitialEvents`) are served.
    pub watch_list_enabled: bool,
}

impl Store {
    /// A copy to run a `dryRun=All` write on: the same objects, no history, and no watcher
    /// hears of what happens to it.
    pub fn scratch_copy(&self) -> Store {
        Store {
            registry: self.registry.clone(),
            resource_version: self.resource_version,
            objects: self.objects.clone(),
            uids: self.uids.clone(),
            dependents: self.dependents.clone(),
            history: VecDeque::new(),
            events: broadcast::channel(1).0,
            writes: 0,
            lease_writes: 0,
            owner_references_enforced: self.owner_references_enforced,
            watch_list_enabled: self.watch_list_enabled,
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        let mut store = Self {
            registry: Registry::default(),
            resource_version: 0,
            objects: BTreeMap::new(),
            uids: HashSet::new(),
            dependents: HashMap::new(),
            history: VecDeque::new(),
            events: broadcast::channel(HISTORY).0,
            writes: 0,
            lease_writes: 0,
            owner_references_enforced: false,
            watch_list_enabled: true,
        };
        for namespace in ["default", "kube-system"] {
            if let Some(t) = store.registry.get("", "v1", "namespaces").cloned() {
                let namespace = json!({"metadata": {"name": namespace}});
                let writer = Writer::update("");
                let _ = store.create(&t, "", namespace, FieldValidation::Strict, &writer);
            }
        }
        store
    }
}

fn key(t: &ResourceType, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        group: t.group.clone(),
        plural: t.plural.clone(),
        namespace: if t.namespaced {
            namespace.to_owned()
        } else {
            String::new()
        },
        name: name.to_owned(),
    }
}

fn owner_uids(object: &Value) -> Vec<String> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str().map(str::to_owned))
        .collect()
}

fn not_found(t: &ResourceType, name: &str) -> ApiError {
    let kind = if t.group.is_empty() {
        t.plural.clone()
    } else {
        format!("{}.{}", t.plural, t.group)
    };
    ApiError::NotFound {
        kind,
        name: name.to_owned(),
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn new_uid() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Rejects a custom resource its schema does not admit, like the API server's `422 Invalid`.
fn admit(
    t: &ResourceType,
    name: &str,
    schema: &crd_admission::Schema,
    object: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let problems = schema.validate(object, old);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        kind: t.kind.clone(),
        name: name.to_owned(),
        causes: problems,
    })
}

/// Refuses what Kubernetes' built-in validation refuses (label syntax, requests within limits,
/// port names), with its `422 Invalid` causes.
fn refuse_invalid(t: &ResourceType, name: &str, object: &Value) -> Result<(), ApiError> {
    let causes = crate::validation::problems(t, object);
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        kind: t.kind.clone(),
        name: name.to_owned(),
        causes,
    })
}

/// Why the API server would refuse `name` for this kind: a Namespace needs an RFC 1123 label,
/// a Service a DNS-1035 label (it becomes a DNS name starting with a letter), everything else
/// a subdomain.
fn name_problem(t: &ResourceType, name: &str) -> Option<String> {
    match (t.group.as_str(), t.kind.as_str()) {
        ("", "Namespace") => crd_admission::names::label_problem(name),
        ("", "Service") => crd_admission::names::dns1035_label_problem(name),
        _ => crd_admission::names::subdomain_problem(name),
    }
}

/// A Deployment's `spec.selector` cannot change once created (apps/v1): a real server answers
/// 422, which is also what stops one Deployment from being taken over by another owner's.
fn immutable_field_changed(t: &ResourceType, existing: &Value, result: &Value) -> Option<String> {
    let deployment = t.group == "apps" && t.kind == "Deployment";
    let before = &existing["spec"]["selector"];
    let after = &result["spec"]["selector"];
    (deployment && before != after)
        .then(|| format!("spec.selector: Invalid value: {after}: field is immutable"))
}

/// The built-in defaults controllers notice: a Deployment without `spec.replicas` gets 1 (so
/// an apply that stops setting it — an autoscaler taking over — falls back to one pod unless
/// another manager still holds the field, as on a real server).
fn default_builtin(t: &ResourceType, object: &mut Value) {
    let deployment = t.group == "apps" && t.kind == "Deployment";
    if deployment && object["spec"].is_object() && object["spec"].get("replicas").is_none() {
        object["spec"]["replicas"] = json!(1);
    }
}

/// A strategic merge patch of a built-in kind, by its schema's patch strategies; refused for
/// custom resources, as a real server does.
fn strategic_patch(t: &ResourceType, document: &Value, patch: &Value) -> Result<Value, ApiError> {
    if t.schema.is_some() {
        return Err(ApiError::UnsupportedMediaType(
            "application/strategic-merge-patch+json (not supported for custom resources)".into(),
        ));
    }
    let definitions = crate::field_types::definitions();
    let empty = serde_json::Map::new();
    let raw = definitions.map_or(&empty, |d| &d.raw);
    let root = definitions.and_then(|d| d.definition_name(&t.group, &t.version, &t.kind));
    let schema = root.and_then(|name| raw.get(name));
    Ok(crate::strategic::apply(raw, schema, document, patch))
}

fn spec_part(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    copy
}

impl Store {
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub fn resource(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Result<ResourceType, ApiError> {
        self.registry
            .get(group, version, plural)
            .cloned()
            .ok_or(ApiError::UnknownResource)
    }

    pub fn get(&self, t: &ResourceType, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&key(t, namespace, name))
            .map(|object| Value::clone(object))
            .ok_or_else(|| not_found(t, name))
    }

    pub fn list(
        &self,
        t: &ResourceType,
        namespace: Option<&str>,
        selector: &Selector,
    ) -> Vec<Arc<Value>> {
        self.list_page(t, namespace, selector, None, None).0
    }

    /// Up to `limit` objects of a kind in key order (namespace, name), starting after `after`;
    /// with the key of the last one when more remain (a list's `continue`). Reads a key range,
    /// not the whole store.
    pub fn list_page(
        &self,
        t: &ResourceType,
        namespace: Option<&str>,
        selector: &Selector,
        after: Option<(String, String)>,
        limit: Option<usize>,
    ) -> (Vec<Arc<Value>>, Option<(String, String)>) {
        let start = |(namespace, name): (String, String)| ObjectKey {
            group: t.group.clone(),
            plural: t.plural.clone(),
            namespace,
            name,
        };
        let lower = match after {
            Some(after) => Bound::Excluded(start(after)),
            None => Bound::Included(start((
                namespace.unwrap_or_default().to_owned(),
                String::new(),
            ))),
        };
        let mut items = Vec::new();
        let mut last: Option<&ObjectKey> = None;
        for (key, object) in self.objects.range((lower, Bound::Unbounded)) {
            if key.group != t.group || key.plural != t.plural {
                break;
            }
            if namespace.is_some_and(|ns| key.namespace != ns) {
                break;
            }
            if !selector.matches(object) {
                continue;
            }
            if limit.is_some_and(|limit| items.len() == limit) {
                let last = last.map(|k| (k.namespace.clone(), k.name.clone()));
                return (items, last);
            }
            items.push(object.clone());
            last = Some(key);
        }
        (items, None)
    }

    /// Events after `since` and a receiver for later ones, taken together so none is missed.
    pub fn subscribe(&self, since: u64) -> Result<Subscription, ApiError> {
        let oldest = self
            .history
            .front()
            .map_or(self.resource_version, |(_, e)| e.resource_version - 1);
        if since < oldest {
            return Err(ApiError::Gone {
                requested: since,
                oldest,
            });
        }
        let backlog = self
            .history
            .iter()
            .map(|(_, e)| e)
            .filter(|e| e.resource_version > since)
            .cloned()
            .collect();
        Ok(Subscription {
            backlog,
            receiver: self.events.subscribe(),
        })
    }

    pub fn create(
        &mut self,
        t: &ResourceType,
        namespace: &str,
        mut object: Value,
        validation: FieldValidation,
        writer: &Writer<'_>,
    ) -> Result<Value, ApiError> {
        let name = object["metadata"]["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::BadRequest("metadata.name is required".into()))?
            .to_owned();
        if let Some(problem) = name_problem(t, &name) {
            return Err(ApiError::Invalid {
                kind: t.kind.clone(),
                name,
                causes: vec![format!("metadata.name: {problem}")],
            });
        }
        if t.namespaced {
            self.check_namespace(t, namespace, &name)?;
        }
        let object_key = key(t, namespace, &name);
        if self.objects.contains_key(&object_key) {
            return Err(ApiError::AlreadyExists {
                kind: t.plural.clone(),
                name,
            });
        }
        object["apiVersion"] = json!(t.api_version());
        object["kind"] = json!(t.kind);
        typed::decode(t, &mut object, validation)?;
        default_builtin(t, &mut object);
        if let Some(schema) = &t.schema {
            crd_admission::apply_defaults(schema.json(), &mut object);
            admit(t, &name, schema, &object, None)?;
        }
        refuse_invalid(t, &name, &object)?;
        let meta = &mut object["metadata"];
        meta["uid"] = json!(new_uid());
        meta["creationTimestamp"] = json!(now());
        meta["generation"] = json!(1);
        if writer.applied.is_none() {
            let provided = object["metadata"]["managedFields"].clone();
            managed_fields::stamp(
                &t.fields,
                &t.api_version(),
                (None, Some(&provided)),
                &mut object,
                writer,
                &now(),
            )?;
        }
        let meta = &mut object["metadata"];
        if t.namespaced {
            meta["namespace"] = json!(namespace);
        } else if let Some(map) = meta.as_object_mut() {
            map.remove("namespace");
        }
        if t.kind == "CustomResourceDefinition" && t.group == "apiextensions.k8s.io" {
            self.registry.register_crd(&object);
            object["status"] = json!({
                "acceptedNames": object["spec"]["names"].clone(),
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "lastTransitionTime": now()},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "lastTransitionTime": now()},
                ],
                "storedVersions": [object["spec"]["versions"][0]["name"].clone()],
            });
        }
        let created = self.commit(t, object_key, Some(object), EventType::Added);
        if self.orphaned(&created) {
            // The garbage collector removes dependents whose owners are all gone, also ones
            // created after the owner was deleted (e.g. by a reconcile still in flight).
            let _ = self.delete(t, namespace, &name);
        }
        Ok(created)
    }

    /// Owner references present, and none of their uids exists any more.
    fn orphaned(&self, object: &Value) -> bool {
        object["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|owners| {
                !owners.is_empty()
                    && owners
                        .iter()
                        .all(|o| o["uid"].as_str().is_none_or(|uid| !self.uids.contains(uid)))
            })
    }

    /// Replaces the object (or, for `Status`, only its status). `metadata.resourceVersion`, when
    /// present in `candidate`, must match the stored one.
    pub fn update(
        &mut self,
        t: &ResourceType,
        (namespace, name): (&str, &str),
        mut candidate: Value,
        sub: Subresource,
        validation: FieldValidation,
        writer: &Writer<'_>,
    ) -> Result<Value, ApiError> {
        let object_key = key(t, namespace, name);
        let existing = self
            .objects
            .get(&object_key)
            .cloned()
            .ok_or_else(|| not_found(t, name))?;
        let existing = &*existing;
        if sub == Subresource::Status && !t.status_subresource {
            return Err(ApiError::UnknownResource);
        }
        let expected = candidate["metadata"]["resourceVersion"]
            .as_str()
            .filter(|v| !v.is_empty());
        if expected.is_some_and(|v| Some(v) != existing["metadata"]["resourceVersion"].as_str()) {
            return Err(ApiError::Conflict {
                kind: t.plural.clone(),
                name: name.to_owned(),
            });
        }
        let mut result = match sub {
            Subresource::Status => {
                let mut result = existing.clone();
                result["status"] = candidate.get("status").cloned().unwrap_or(Value::Null);
                result
            }
            Subresource::Main => {
                for field in [
                    "uid",
                    "creationTimestamp",
                    "name",
                    "namespace",
                    "generation",
                    "deletionTimestamp",
                    "resourceVersion",
                ] {
                    match existing["metadata"].get(field) {
                        Some(value) => candidate["metadata"][field] = value.clone(),
                        None => {
                            if let Some(meta) = candidate["metadata"].as_object_mut() {
                                meta.remove(field);
                            }
                        }
                    }
                }
                if t.status_subresource {
                    candidate["status"] = existing.get("status").cloned().unwrap_or(Value::Null);
                }
                candidate["apiVersion"] = json!(t.api_version());
                candidate["kind"] = json!(t.kind);
                if let Some(schema) = &t.schema {
                    crd_admission::apply_defaults(schema.json(), &mut candidate);
                }
                default_builtin(t, &mut candidate);
                if spec_part(&candidate) != spec_part(existing) {
                    let generation = existing["metadata"]["generation"].as_i64().unwrap_or(1);
                    candidate["metadata"]["generation"] = json!(generation + 1);
                }
                candidate
            }
        };
        if let Some(map) = result.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        typed::decode(t, &mut result, validation)?;
        // The server computes managedFields, starting from the ones the request carries when it
        // sets them (non-empty, through the main resource); an apply computed them already.
        let provided = (sub == Subresource::Main)
            .then(|| result["metadata"]["managedFields"].clone())
            .filter(|fields| {
                fields.as_array().is_some_and(|a| !a.is_empty())
                    && *fields != existing["metadata"]["managedFields"]
            });
        if writer.applied.is_none() {
            result["metadata"]["managedFields"] = existing["metadata"]["managedFields"].clone();
        }
        if let Some(meta) = result["metadata"].as_object_mut() {
            meta.retain(|_, v| !v.is_null());
        }
        if let Some(cause) = immutable_field_changed(t, existing, &result) {
            return Err(ApiError::Invalid {
                kind: t.kind.clone(),
                name: name.to_owned(),
                causes: vec![cause],
            });
        }
        refuse_invalid(t, name, &result)?;
        if result == *existing && provided.is_none() {
            return Ok(existing.clone());
        }
        let writer = Writer {
            subresource: (sub == Subresource::Status)
                .then_some("status")
                .or(writer.subresource),
            ..*writer
        };
        if writer.applied.is_none() {
            managed_fields::stamp(
                &t.fields,
                &t.api_version(),
                (Some(existing), provided.as_ref()),
                &mut result,
                &writer,
                &now(),
            )?;
        }
        if let Some(schema) = &t.schema {
            admit(t, name, schema, &result, Some(existing))?;
        }
        let finalized = result["metadata"]["deletionTimestamp"].is_string()
            && result["metadata"]["finalizers"]
                .as_array()
                .is_none_or(Vec::is_empty);
        if finalized {
            return Ok(self.remove(t, object_key, result));
        }
        Ok(self.commit(t, object_key, Some(result), EventType::Modified))
    }

    pub fn patch(
        &mut self,
        t: &ResourceType,
        namespace: &str,
        name: &str,
        request: PatchRequest<'_>,
    ) -> Result<Value, ApiError> {
        let PatchRequest {
            kind,
            body,
            field_manager: manager,
            subresource: sub,
            field_validation: validation,
            force,
        } = request;
        let object_key = key(t, namespace, name);
        let existing = self
            .objects
            .get(&object_key)
            .map(|object| Value::clone(object));
        let invalid = |message: String| ApiError::Invalid {
            kind: t.kind.clone(),
            name: name.to_owned(),
            causes: vec![message],
        };
        match kind {
            PatchKind::Merge | PatchKind::Strategic | PatchKind::Json => {
                let mut document = existing.ok_or_else(|| not_found(t, name))?;
                if kind == PatchKind::Merge {
                    json_patch::merge(&mut document, body);
                } else if kind == PatchKind::Strategic {
                    document = strategic_patch(t, &document, body)?;
                } else {
                    let operations: json_patch::Patch = serde_json::from_value(body.clone())
                        .map_err(|e| ApiError::BadRequest(format!("invalid JSON patch: {e}")))?;
                    json_patch::patch(&mut document, &operations)
                        .map_err(|e| invalid(e.to_string()))?;
                }
                self.update(
                    t,
                    (namespace, name),
                    document,
                    sub,
                    validation,
                    &Writer::update(manager),
                )
            }
            PatchKind::Apply => {
                let writer = Writer {
                    applied: Some(body),
                    subresource: (sub == Subresource::Status).then_some("status"),
                    force,
                    ..Writer::update(manager)
                };
                let mut config = body.clone();
                config["metadata"]["name"] = json!(name);
                let object = managed_fields::apply(
                    &t.fields,
                    &t.api_version(),
                    existing.as_ref(),
                    &config,
                    &writer,
                    &now(),
                )?;
                match existing {
                    None if sub == Subresource::Main => {
                        self.create(t, namespace, object, validation, &writer)
                    }
                    None => Err(not_found(t, name)),
                    Some(_) => self.update(t, (namespace, name), object, sub, validation, &writer),
                }
            }
        }
    }

    /// Deletes now, or, with finalizers, marks `deletionTimestamp` and waits for them to go.
    pub fn delete(
        &mut self,
        t: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        if t.group.is_empty() && t.plural == "namespaces" {
            return self.delete_namespace(t, name);
        }
        let object_key = key(t, namespace, name);
        let mut existing = self
            .objects
            .get(&object_key)
            .map(|object| Value::clone(object))
            .ok_or_else(|| not_found(t, name))?;
        let has_finalizers = existing["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if existing["metadata"]["deletionTimestamp"].is_string() {
                return Ok(existing);
            }
            existing["metadata"]["deletionTimestamp"] = json!(now());
            // As the real API server does, so generation-based predicates see the deletion.
            if let Some(generation) = existing["metadata"]["generation"].as_i64() {
                existing["metadata"]["generation"] = json!(generation + 1);
            }
            return Ok(self.commit(t, object_key, Some(existing), EventType::Modified));
        }
        Ok(self.remove(t, object_key, existing))
    }

    fn remove(&mut self, t: &ResourceType, object_key: ObjectKey, object: Value) -> Value {
        let namespace = object_key.namespace.clone();
        let removed = self.commit(t, object_key, Some(object), EventType::Deleted);
        if t.namespaced {
            self.finish_namespace(&namespace);
        }
        if t.kind == "CustomResourceDefinition" {
            self.registry.unregister_crd(&removed);
        }
        self.collect_garbage(&removed);
        removed
    }

    /// Background cascading deletion: dependents owned by the removed object's uid go too.
    fn collect_garbage(&mut self, owner: &Value) {
        let Some(uid) = owner["metadata"]["uid"].as_str() else {
            return;
        };
        let dependents: Vec<ObjectKey> = self
            .dependents
            .get(uid)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default();
        for dependent in dependents {
            let t = self
                .registry
                .all()
                .find(|t| t.group == dependent.group && t.plural == dependent.plural)
                .cloned();
            if let Some(t) = t {
                let _ = self.delete(&t, &dependent.namespace, &dependent.name);
            }
        }
    }

    fn commit(
        &mut self,
        t: &ResourceType,
        object_key: ObjectKey,
        object: Option<Value>,
        kind: EventType,
    ) -> Value {
        self.writes += 1;
        let object = self.record(t, object_key, object, kind);
        if t.group == "events.k8s.io" && t.plural == "events" {
            self.mirror_event(&object, kind);
        }
        object
    }

    /// Keeps the core/v1 view of an events.k8s.io/v1 Event in step (not counted as a write:
    /// the client wrote once).
    fn mirror_event(&mut self, event: &Value, kind: EventType) {
        let Some(core) = self.registry.get("", "v1", "events").cloned() else {
            return;
        };
        let meta = &event["metadata"];
        let namespace = meta["namespace"].as_str().unwrap_or_default();
        let name = meta["name"].as_str().unwrap_or_default();
        let object_key = key(&core, namespace, name);
        let mut view = event_views::core_from_events(event);
        if kind == EventType::Deleted {
            view = self
                .objects
                .get(&object_key)
                .map_or(view, |object| Value::clone(object));
        }
        self.record(&core, object_key, Some(view), kind);
    }

    /// Moves `object_key` in the dependents index from the owners it had to the ones it has.
    fn index_dependent(&mut self, object_key: &ObjectKey, before: &[String], after: &[String]) {
        for owner in before {
            if let Some(keys) = self.dependents.get_mut(owner) {
                keys.remove(object_key);
                if keys.is_empty() {
                    self.dependents.remove(owner);
                }
            }
        }
        for owner in after {
            self.dependents
                .entry(owner.clone())
                .or_default()
                .insert(object_key.clone());
        }
    }

    fn record(
        &mut self,
        t: &ResourceType,
        object_key: ObjectKey,
        object: Option<Value>,
        kind: EventType,
    ) -> Value {
        self.resource_version += 1;
        if t.group == "coordination.k8s.io" && t.plural == "leases" {
            self.lease_writes += 1;
        }
        let mut object = object.unwrap_or(Value::Null);
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        let uid = object["metadata"]["uid"].as_str().map(str::to_owned);
        let owners_before = self
            .objects
            .get(&object_key)
            .map(|object| owner_uids(object))
            .unwrap_or_default();
        let owners_after = match kind {
            EventType::Deleted => Vec::new(),
            _ => owner_uids(&object),
        };
        if owners_before != owners_after {
            self.index_dependent(&object_key, &owners_before, &owners_after);
        }
        let previous_labels = match (kind, self.objects.get(&object_key)) {
            (EventType::Modified, Some(before))
                if before["metadata"]["labels"] != object["metadata"]["labels"] =>
            {
                Some(before["metadata"]["labels"].clone())
            }
            _ => None,
        };
        let shared = Arc::new(object);
        if kind == EventType::Deleted {
            self.objects.remove(&object_key);
            uid.map(|uid| self.uids.remove(&uid));
        } else {
            self.objects.insert(object_key, shared.clone());
            uid.map(|uid| self.uids.insert(uid));
        }
        let event = Arc::new(StoredEvent::new(
            self.resource_version,
            kind,
            t,
            shared.clone(),
            previous_labels,
        ));
        while self
            .history
            .front()
            .is_some_and(|(at, _)| self.history.len() >= HISTORY || at.elapsed() > HISTORY_WINDOW)
        {
            self.history.pop_front();
        }
        self.history
            .push_back((std::time::Instant::now(), event.clone()));
        let _ = self.events.send(event);
        Arc::unwrap_or_clone(shared)
    }
}
