//! The HTTP surface: Kubernetes REST paths → store operations, with real status codes and bodies.

use crate::list_options::ListOptions;
use crate::managed_fields::Writer;
use crate::selectors::Selector;
use crate::status::ApiError;
use crate::store::{PatchKind, PatchRequest, Subresource};
use crate::table;
use crate::typed::FieldValidation;
use crate::watch::{self, WatchRequest};
use crate::{SharedStore, lock};
use crate::{discovery, openapi, protobuf, rbac, scale};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What a request path names.
#[derive(Debug, PartialEq)]
enum Route {
    Version,
    ApiVersions,
    GroupList,
    ResourceList { group: String, version: String },
    Resource(Target),
}

#[derive(Debug, PartialEq)]
struct Target {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn route(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Some(Route::Version),
        ["api"] => return Some(Route::ApiVersions),
        ["apis"] => return Some(Route::GroupList),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let target =
        |namespace: Option<&str>, plural: &str, name: Option<&&str>, sub: Option<&&str>| {
            Route::Resource(Target {
                group: group.to_owned(),
                version: version.to_owned(),
                namespace: namespace.map(str::to_owned),
                plural: plural.to_owned(),
                name: name.map(|n| (*n).to_owned()),
                subresource: sub.map(|s| (*s).to_owned()),
            })
        };
    Some(match rest {
        [] => Route::ResourceList {
            group: group.into(),
            version: version.into(),
        },
        // `namespaces/<name>/status` is the Namespace's subresource, not a collection.
        ["namespaces", ns, plural, more @ ..] if !matches!(*plural, "status" | "finalize") => {
            target(Some(ns), plural, more.first(), more.get(1))
        }
        [plural, more @ ..] if more.len() <= 2 => target(None, plural, more.first(), more.get(1)),
        _ => return None,
    })
}

pub async fn handle(
    State(store): State<SharedStore>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(rest) = uri.path().strip_prefix("/openapi/v3") {
        let registry = &lock(&store).registry;
        let document = match rest.trim_matches('/') {
            "" => Some(openapi::index(registry)),
            path => openapi::document(registry, path),
        };
        return document.map_or_else(
            || ApiError::UnknownResource.into_response(),
            |d| Json(d).into_response(),
        );
    }
    let Some(route) = route(uri.path()) else {
        return ApiError::UnknownResource.into_response();
    };
    match route {
        Route::Version => Json(discovery::version()).into_response(),
        Route::ApiVersions => Json(discovery::api_versions()).into_response(),
        Route::GroupList => Json(discovery::group_list(&lock(&store).registry)).into_response(),
        Route::ResourceList { group, version } => {
            match discovery::resource_list(&lock(&store).registry, &group, &version) {
                Some(list) => Json(list).into_response(),
                None => ApiError::UnknownResource.into_response(),
            }
        }
        Route::Resource(target) => {
            if let Err(refused) = authorize(&store, &method, &target, &headers, &params, &body) {
                return refused.into_response();
            }
            match resource(&store, &method, target, &headers, &params, &body) {
                Ok(response) => response,
                Err(error) => error.into_response(),
            }
        }
    }
}

/// RBAC, for callers that present a ServiceAccount token (see [`rbac`]).
fn authorize(
    store: &SharedStore,
    method: &Method,
    target: &Target,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    body: &[u8],
) -> Result<(), ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let impersonated = headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok());
    let caller = rbac::ServiceAccount::from_authorization(authorization)
        .or_else(|| rbac::ServiceAccount::from_impersonation(impersonated));
    let Some(caller) = caller else {
        return Ok(());
    };
    let watching = params.get("watch").is_some_and(|w| w == "true" || w == "1");
    let verb = match (method.as_str(), target.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if watching => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (other, _) => return Err(ApiError::MethodNotAllowed(other.to_owned())),
    };
    let resource = match &target.subresource {
        Some(sub) => format!("{}/{sub}", target.plural),
        None => target.plural.clone(),
    };
    let request = rbac::Attributes {
        verb,
        group: &target.group,
        resource,
        namespace: target.namespace.as_deref(),
        name: target.name.as_deref(),
    };
    let store = lock(store);
    rbac::authorize(&store, &caller, &request)?;
    let writes = matches!(verb, "create" | "update" | "patch") && target.subresource.is_none();
    if writes && store.owner_references_enforced {
        let written = parse(body, FieldValidation::Ignore).unwrap_or(Value::Null);
        let existing = match (
            &target.name,
            store.resource(&target.group, &target.version, &target.plural),
        ) {
            (Some(name), Ok(t)) => store
                .get(&t, target.namespace.as_deref().unwrap_or_default(), name)
                .ok(),
            _ => None,
        };
        rbac::owner_references_admission(&store, &caller, &request, &written, existing.as_ref())?;
    }
    Ok(())
}

fn resource(
    store: &SharedStore,
    method: &Method,
    target: Target,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let t = lock(store).resource(&target.group, &target.version, &target.plural)?;
    // `dryRun=All`: the write runs on a copy, validated and answered as usual, and is dropped.
    let dry_run = match params.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "invalid dryRun value {other:?}: only \"All\" is supported"
            )));
        }
    };
    let writable = || -> WriteTarget<'_> {
        if dry_run {
            WriteTarget::Scratch(Box::new(lock(store).scratch_copy()))
        } else {
            WriteTarget::Live(lock(store))
        }
    };
    let manager = params
        .get("fieldManager")
        .map(String::as_str)
        .unwrap_or_default();
    let sub = match target.subresource.as_deref() {
        None => Subresource::Main,
        Some("status") if t.status_subresource => Subresource::Status,
        Some("scale") if t.scale.is_some() => {
            let name = target.name.as_deref().ok_or(ApiError::UnknownResource)?;
            let namespace = target.namespace.clone().unwrap_or_default();
            let kind = (method == Method::PATCH)
                .then(|| patch_kind(headers))
                .transpose()?;
            let body = if method == Method::GET {
                Value::Null
            } else {
                parse(body, FieldValidation::Ignore)?
            };
            let write = scale::Write {
                patch: kind,
                body,
                manager,
            };
            return scale::request(store, method, &t, (&namespace, name), write);
        }
        Some(_) => return Err(ApiError::UnknownResource),
    };
    let namespace = target.namespace.clone().unwrap_or_default();
    if t.namespaced && target.name.is_some() && target.namespace.is_none() {
        return Err(ApiError::UnknownResource);
    }
    let wants_table = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"));
    let metadata_only = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
    let selector = Selector::parse(
        params.get("labelSelector").map(String::as_str),
        params.get("fieldSelector").map(String::as_str),
    )?;
    selector.check_fields(&t.group, &t.kind)?;
    let name = target.name.as_deref();
    let validation =
        FieldValidation::from_param(params.get("fieldValidation").map(String::as_str))?;
    let listing = ListOptions::from_query(params);
    if method == Method::GET && name.is_none() {
        listing.validate(lock(store).watch_list_enabled)?;
    }
    let object = match (method.as_str(), name) {
        ("GET", None) if listing.watch => {
            // A streaming list starts from the current objects whatever version it names
            // (`NotOlderThan`), then marks their end with a bookmark.
            let since = params
                .get("resourceVersion")
                .and_then(|v| v.parse().ok())
                .filter(|_| !listing.streams_initial_events());
            let timeout = params
                .get("timeoutSeconds")
                .and_then(|v| v.parse().ok())
                .map_or(Duration::from_secs(1800), Duration::from_secs);
            return Ok(watch::respond(
                store.clone(),
                WatchRequest {
                    resource: t,
                    namespace: target.namespace,
                    selector,
                    since,
                    bookmarks: listing.allow_watch_bookmarks,
                    initial_events_end: listing.streams_initial_events()
                        && listing.allow_watch_bookmarks,
                    timeout,
                    metadata_only,
                },
            ));
        }
        ("GET", None) => {
            let store = lock(store);
            // Paginated like a real server (`limit`, `continue`): every page carries the first
            // page's resourceVersion, so a watch from it replays what changed meanwhile.
            let (snapshot, after) = match params.get("continue") {
                Some(token) => continue_token(token)?,
                None => (store.resource_version(), None),
            };
            let limit = params
                .get("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .filter(|l| *l > 0);
            let (items, next) =
                store.list_page(&t, target.namespace.as_deref(), &selector, after, limit);
            let mut metadata = json!({"resourceVersion": snapshot.to_string()});
            if let Some((namespace, name)) = next {
                metadata["continue"] = format!("{snapshot}/{namespace}/{name}").into();
            }
            let mut list = if wants_table {
                table::table(&t, &items, &snapshot.to_string())
            } else if metadata_only {
                let items: Vec<Value> = items
                    .iter()
                    .map(|o| crate::partial::metadata_view(o))
                    .collect();
                json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "items": items})
            } else {
                let items: Vec<&Value> = items.iter().map(|o| &**o).collect();
                json!({"kind": format!("{}List", t.kind), "apiVersion": t.api_version(), "items": items})
            };
            list["metadata"] = metadata;
            return Ok(Json(list).into_response());
        }
        ("GET", Some(name)) => lock(store).get(&t, &namespace, name)?,
        ("POST", None) => {
            let object = body_object(headers, body, validation)?;
            let status = axum::http::StatusCode::CREATED;
            let writer = Writer::update(manager);
            let created = writable().create(&t, &namespace, object, validation, &writer)?;
            return Ok((status, Json(created)).into_response());
        }
        ("PUT", Some(name)) => writable().update(
            &t,
            (&namespace, name),
            body_object(headers, body, validation)?,
            sub,
            validation,
            &Writer::update(manager),
        )?,
        ("PATCH", Some(name)) => {
            let kind = patch_kind(headers)?;
            if kind == PatchKind::Apply && manager.is_empty() {
                return Err(ApiError::BadRequest(
                    "fieldManager is required for apply patches".into(),
                ));
            }
            writable().patch(
                &t,
                &namespace,
                name,
                PatchRequest {
                    kind,
                    body: &parse(body, validation)?,
                    field_manager: manager,
                    subresource: sub,
                    field_validation: validation,
                    force: params.get("force").is_some_and(|f| f == "true"),
                },
            )?
        }
        ("DELETE", Some(name)) => writable().delete(&t, &namespace, name)?,
        (verb, _) => return Err(ApiError::MethodNotAllowed(verb.to_owned())),
    };
    if wants_table {
        return Ok(Json(table::table(&t, &[Arc::new(object)], "")).into_response());
    }
    if metadata_only {
        return Ok(Json(crate::partial::metadata_view(&object)).into_response());
    }
    Ok(Json(object).into_response())
}

/// Where a write goes: the store, or a scratch copy of it for a dry run.
enum WriteTarget<'a> {
    Live(std::sync::MutexGuard<'a, crate::store::Store>),
    Scratch(Box<crate::store::Store>),
}

impl std::ops::Deref for WriteTarget<'_> {
    type Target = crate::store::Store;
    fn deref(&self) -> &Self::Target {
        match self {
            WriteTarget::Live(store) => store,
            WriteTarget::Scratch(store) => store,
        }
    }
}

impl std::ops::DerefMut for WriteTarget<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            WriteTarget::Live(store) => store,
            WriteTarget::Scratch(store) => store,
        }
    }
}

fn patch_kind(headers: &HeaderMap) -> Result<PatchKind, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Ok(
        match content_type.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => PatchKind::Merge,
            "application/strategic-merge-patch+json" => PatchKind::Strategic,
            "application/json-patch+json" => PatchKind::Json,
            "application/apply-patch+yaml" => PatchKind::Apply,
            other => return Err(ApiError::UnsupportedMediaType(other.to_owned())),
        },
    )
}

/// The request body as JSON: JSON and YAML parse, protobuf (kubectl's `create <kind>`
/// generators send it) is decoded.
fn body_object(
    headers: &HeaderMap,
    body: &[u8],
    validation: FieldValidation,
) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if protobuf::is_protobuf(content_type) {
        return protobuf::decode(body);
    }
    parse(body, validation)
}

/// Bodies may be JSON or YAML (kubectl's apply patches are YAML). A duplicate key is refused
/// under strict field validation, as a real server does; otherwise the last one wins.
fn parse(body: &[u8], validation: FieldValidation) -> Result<Value, ApiError> {
    let invalid = |e: serde_yaml::Error| {
        ApiError::BadRequest(format!("the request body is not valid JSON or YAML: {e}"))
    };
    if validation != FieldValidation::Strict {
        return serde_yaml::from_slice::<Value>(body).map_err(invalid);
    }
    let value = serde_yaml::from_slice::<serde_yaml::Value>(body).map_err(|e| {
        if e.to_string().contains("duplicate entry") {
            ApiError::BadRequest(format!("strict decoding error: {e}"))
        } else {
            invalid(e)
        }
    })?;
    serde_json::to_value(value).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// A list's `continue` token: the first page's resourceVersion and the last key returned.
fn continue_token(token: &str) -> Result<(u64, Option<(String, String)>), ApiError> {
    let invalid = || ApiError::BadRequest(format!("invalid continue token {token:?}"));
    let mut parts = token.splitn(3, '/');
    let snapshot = parts
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(invalid)?;
    let namespace = parts.next().ok_or_else(invalid)?.to_owned();
    let name = parts.next().ok_or_else(invalid)?.to_owned();
    Ok((snapshot, Some((namespace, name))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_discovery_and_resources() {
        assert_eq!(route("/api"), Some(Route::ApiVersions));
        assert_eq!(
            route("/apis/apps/v1"),
            Some(Route::ResourceList {
                group: "apps".into(),
                version: "v1".into()
            })
        );
        let Some(Route::Resource(t)) =
            route("/apis/dice.dev/v1alpha1/namespaces/ns/diceservices/d/status")
        else {
            panic!("not a resource");
        };
        assert_eq!(
            (
                t.namespace.as_deref(),
                t.plural.as_str(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            (Some("ns"), "diceservices", Some("d"), Some("status"))
        );
        let Some(Route::Resource(ns)) = route("/api/v1/namespaces/default") else {
            panic!("namespace")
        };
        assert_eq!(
            (ns.plural.as_str(), ns.name.as_deref(), ns.namespace),
            ("namespaces", Some("default"), None)
        );
        let Some(Route::Resource(all)) = route("/apis/apps/v1/deployments") else {
            panic!("list")
        };
        assert_eq!((all.namespace, all.name), (None, None));
        assert_eq!(route("/healthz/x/y/z/w"), None);
    }
}
