//! Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) and field selectors, with the
//! fields each kind supports.

use crate::status::ApiError;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    labels: Vec<Requirement>,
    /// Field paths (`metadata.name`, `involvedObject.uid`), the value, and whether it must equal
    /// (`=`, `==`) or differ (`!=`).
    fields: Vec<(String, String, bool)>,
}

impl Selector {
    pub fn parse(
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Self, ApiError> {
        let labels = match label_selector {
            Some(text) if !text.trim().is_empty() => split_top_level(text)
                .into_iter()
                .map(|r| parse_requirement(r.trim()))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        let mut fields = Vec::new();
        for term in field_selector
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.trim().is_empty())
        {
            let (key, value, equal) = if let Some((k, v)) = term.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k, v, true)
            } else {
                return Err(ApiError::BadRequest(format!(
                    "invalid field selector {term:?}"
                )));
            };
            // Which paths a kind supports is checked by `check_fields`.
            fields.push((key.trim().into(), value.trim().into(), equal));
        }
        Ok(Self { labels, fields })
    }

    /// Refuses a field selector on a field the kind does not index, as a real server does
    /// (`field label not supported`): every kind has `metadata.name` and `metadata.namespace`,
    /// a few kinds a few more (their `AddFieldLabelConversionFunc`s).
    pub fn check_fields(&self, group: &str, kind: &str) -> Result<(), ApiError> {
        let extra: &[&str] = match (group, kind) {
            ("", "Event") => &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            ("events.k8s.io", "Event") => &[
                "regarding.kind",
                "regarding.namespace",
                "regarding.name",
                "regarding.uid",
                "regarding.apiVersion",
                "regarding.resourceVersion",
                "regarding.fieldPath",
                "reason",
                "reportingController",
                "type",
            ],
            ("", "Pod") => &[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ],
            ("", "Secret") => &["type"],
            ("", "Namespace") => &["status.phase"],
            ("", "Service") => &["spec.clusterIP", "spec.type"],
            _ => &[],
        };
        for (path, _, _) in &self.fields {
            let known = path == "metadata.name" || path == "metadata.namespace";
            if !known && !extra.contains(&path.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "field label not supported: {path}"
                )));
            }
        }
        Ok(())
    }

    pub fn matches(&self, object: &Value) -> bool {
        let meta = &object["metadata"];
        let label = |key: &str| meta["labels"].get(key).and_then(Value::as_str);
        let labels_match = self.labels.iter().all(|r| match r {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => !label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
        });
        let fields_match = self.fields.iter().all(|(path, value, equal)| {
            let found = path
                .split('.')
                .try_fold(object, |at, key| at.get(key))
                .map(|v| match v {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            (found == *value) == *equal
        });
        labels_match && fields_match
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (at, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(text: &str) -> Result<Requirement, ApiError> {
    let invalid = || ApiError::BadRequest(format!("unable to parse requirement: {text:?}"));
    let set = |rest: &str| -> Result<Vec<String>, ApiError> {
        let inner = rest
            .trim()
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(invalid)?;
        Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
    };
    if let Some((key, rest)) = text.split_once(" notin ") {
        return Ok(Requirement::NotIn(key.trim().into(), set(rest)?));
    }
    if let Some((key, rest)) = text.split_once(" in ") {
        return Ok(Requirement::In(key.trim().into(), set(rest)?));
    }
    if let Some((key, value)) = text.split_once("!=") {
        return Ok(Requirement::NotEquals(
            key.trim().into(),
            value.trim().into(),
        ));
    }
    if let Some((key, value)) = text.split_once("==").or_else(|| text.split_once('=')) {
        return Ok(Requirement::Equals(key.trim().into(), value.trim().into()));
    }
    if let Some(key) = text.strip_prefix('!') {
        return Ok(Requirement::NotExists(key.trim().into()));
    }
    if text.is_empty() || text.contains(char::is_whitespace) {
        return Err(invalid());
    }
    Ok(Requirement::Exists(text.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn every_requirement_kind_filters_as_kubernetes_does() {
        let obj = object(json!({"app": "dice", "tier": "web"}));
        let matches = |s: &str| Selector::parse(Some(s), None).expect(s).matches(&obj);
        assert!(matches("app=dice"));
        assert!(matches("app==dice,tier=web"));
        assert!(!matches("app!=dice"));
        assert!(matches("tier in (web, api)"));
        assert!(!matches("tier notin (web)"));
        assert!(matches("app"));
        assert!(matches("!missing"));
        assert!(!matches("missing"));
        assert!(matches("app=dice,tier in (web,api),!missing"));
    }

    #[test]
    fn field_selectors_match_by_path_as_kubectl_describe_sends_them() {
        let mut obj = object(json!({}));
        obj["involvedObject"] = json!({"kind": "DiceService", "name": "a", "uid": "u1"});
        let by_field = |s: &str| Selector::parse(None, Some(s)).expect(s).matches(&obj);
        assert!(by_field("metadata.name=a"));
        assert!(!by_field("metadata.namespace=other"));
        assert!(by_field(
            "involvedObject.kind=DiceService,involvedObject.name=a,involvedObject.uid=u1"
        ));
        assert!(!by_field("involvedObject.uid=u2"));
        assert!(by_field("involvedObject.uid!=u2"));
        assert!(Selector::parse(None, Some("nonsense")).is_err());
    }

    #[test]
    fn a_field_the_kind_does_not_index_is_refused() {
        let selector = |s: &str| Selector::parse(None, Some(s)).unwrap();
        assert!(
            selector("involvedObject.uid=u")
                .check_fields("", "Event")
                .is_ok()
        );
        assert!(
            selector("metadata.name=a")
                .check_fields("apps", "Deployment")
                .is_ok()
        );
        let refused = selector("spec.replicas=2").check_fields("apps", "Deployment");
        assert_eq!(
            refused.unwrap_err().to_string(),
            "field label not supported: spec.replicas"
        );
        assert!(
            selector("involvedObject.uid=u")
                .check_fields("apps", "Deployment")
                .is_err()
        );
    }
}
