//! The operator's requests by verb and kind, read from the fake API server's request log.

use fake_apiserver::RecordedRequest;
use std::collections::BTreeMap;

/// What a request did, as the API server's audit log would name it.
pub fn verb(request: &RecordedRequest) -> &'static str {
    let (path, query) = request.uri.split_once('?').unwrap_or((&request.uri, ""));
    let named = resource_and_name(path).is_some_and(|(_, name)| name.is_some());
    let apply = request
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/apply-patch"));
    match request.method.as_str() {
        "GET"
            if query
                .split('&')
                .any(|p| p == "watch=true" || p == "watch=1") =>
        {
            "watch"
        }
        "GET" if named => "get",
        "GET" => "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" if apply => "apply",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "other",
    }
}

/// The resource (plural, with a `/subresource` when there is one) and the object's name.
fn resource_and_name(path: &str) -> Option<(String, Option<&str>)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/... or /apis/group/version/...
    let rest = match *segments.first()? {
        "api" => segments.get(2..)?,
        "apis" => segments.get(3..)?,
        _ => return None,
    };
    let rest = match rest {
        ["namespaces", _, rest @ ..] if !rest.is_empty() => rest,
        rest => rest,
    };
    match rest {
        [plural] => Some(((*plural).to_owned(), None)),
        [plural, name] => Some(((*plural).to_owned(), Some(*name))),
        [plural, name, sub, ..] => Some((format!("{plural}/{sub}"), Some(*name))),
        _ => None,
    }
}

pub fn kind(request: &RecordedRequest) -> String {
    let path = request
        .uri
        .split_once('?')
        .map_or(&*request.uri, |(p, _)| p);
    resource_and_name(path).map_or_else(|| path.to_owned(), |(resource, _)| resource)
}

/// Reads and writes by (resource, verb), for a Markdown table.
pub fn breakdown<'a>(
    requests: impl Iterator<Item = &'a RecordedRequest>,
) -> BTreeMap<(String, &'static str), usize> {
    let mut counts = BTreeMap::new();
    for request in requests {
        *counts.entry((kind(request), verb(request))).or_insert(0) += 1;
    }
    counts
}

pub fn is_write(request: &RecordedRequest) -> bool {
    !matches!(verb(request), "get" | "list" | "watch")
}

/// A server-side apply (sent, whether or not it changed anything).
pub fn is_apply(request: &RecordedRequest) -> bool {
    request.method == "PATCH"
        && request
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/apply-patch"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, uri: &str, content_type: Option<&str>) -> RecordedRequest {
        RecordedRequest {
            method: method.into(),
            uri: uri.into(),
            content_type: content_type.map(str::to_owned),
            remote: true,
            status: 200,
        }
    }

    #[test]
    fn verbs_and_kinds_are_named_like_an_audit_log() {
        let cases = [
            (
                request(
                    "GET",
                    "/apis/apps/v1/deployments?labelSelector=a&watch=true",
                    None,
                ),
                "deployments",
                "watch",
            ),
            (
                request("GET", "/apis/apps/v1/deployments?limit=500", None),
                "deployments",
                "list",
            ),
            (
                request("GET", "/api/v1/namespaces/d/secrets/s", None),
                "secrets",
                "get",
            ),
            (
                request(
                    "PATCH",
                    "/api/v1/namespaces/d/services/x?fieldManager=m&force=true",
                    Some("application/apply-patch+yaml"),
                ),
                "services",
                "apply",
            ),
            (
                request(
                    "PATCH",
                    "/apis/dice.dev/v1alpha1/namespaces/d/diceservices/x/status?force=true",
                    Some("application/apply-patch+yaml"),
                ),
                "diceservices/status",
                "apply",
            ),
            (
                request(
                    "PATCH",
                    "/apis/dice.dev/v1alpha1/namespaces/d/diceservices/x",
                    Some("application/json-patch+json"),
                ),
                "diceservices",
                "patch",
            ),
            (
                request("POST", "/apis/events.k8s.io/v1/namespaces/d/events", None),
                "events",
                "create",
            ),
            (
                request("DELETE", "/api/v1/namespaces/m/configmaps/x", None),
                "configmaps",
                "delete",
            ),
        ];
        for (request, kind_wanted, verb_wanted) in cases {
            assert_eq!(
                (kind(&request).as_str(), verb(&request)),
                (kind_wanted, verb_wanted),
                "{}",
                request.uri
            );
        }
    }
}
