//! The query parameters of a list or watch, checked as apimachinery's `ValidateListOptions`
//! checks them, streaming lists (`sendInitialEvents`, the WatchList feature) included.

use crate::status::ApiError;
use std::collections::HashMap;

const NOT_OLDER_THAN: &str = "NotOlderThan";
const EXACT: &str = "Exact";

/// The options of one list or watch request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListOptions {
    pub watch: bool,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    /// `Some` when the parameter was given (its value then says whether to send them).
    pub send_initial_events: Option<bool>,
    pub allow_watch_bookmarks: bool,
    pub continue_token: Option<String>,
}

impl ListOptions {
    pub fn from_query(params: &HashMap<String, String>) -> Self {
        let flag = |name: &str| params.get(name).map(|v| v == "true" || v == "1");
        let text = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
        Self {
            watch: flag("watch").unwrap_or(false),
            resource_version: text("resourceVersion"),
            resource_version_match: text("resourceVersionMatch"),
            send_initial_events: flag("sendInitialEvents"),
            allow_watch_bookmarks: flag("allowWatchBookmarks").unwrap_or(false),
            continue_token: text("continue"),
        }
    }

    /// Whether this watch starts with the current objects and a bookmark marking their end.
    pub fn streams_initial_events(&self) -> bool {
        self.watch && self.send_initial_events == Some(true)
    }

    /// Refuses what a real API server refuses, with its `422` causes; `watch_list` is whether
    /// the WatchList feature gate is on (beta and on by default in Kubernetes 1.32, off in
    /// 1.33, on again from 1.34).
    pub fn validate(&self, watch_list: bool) -> Result<(), ApiError> {
        let causes = if self.watch {
            self.watch_causes(watch_list)
        } else {
            self.list_causes()
        };
        if causes.is_empty() {
            return Ok(());
        }
        Err(ApiError::Invalid {
            kind: "ListOptions.meta.k8s.io".into(),
            name: String::new(),
            causes,
        })
    }

    fn watch_causes(&self, watch_list: bool) -> Vec<String> {
        let mut causes = Vec::new();
        let matching = self.resource_version_match.as_deref();
        if self.send_initial_events.is_some() {
            if matching != Some(NOT_OLDER_THAN) {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    &format!("sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}"),
                ));
            }
            if !watch_list {
                causes.push(forbidden(
                    "sendInitialEvents",
                    "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                ));
            }
        }
        if let Some(matching) = matching {
            if self.send_initial_events.is_none() {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ));
            }
            if matching != NOT_OLDER_THAN {
                causes.push(not_supported(matching, &[NOT_OLDER_THAN]));
            }
            if self.continue_token.is_some() {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
        causes
    }

    fn list_causes(&self) -> Vec<String> {
        let mut causes = Vec::new();
        if let Some(matching) = self.resource_version_match.as_deref() {
            if self.resource_version.is_none() {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if self.continue_token.is_some() {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if matching != EXACT && matching != NOT_OLDER_THAN {
                causes.push(not_supported(matching, &[EXACT, NOT_OLDER_THAN, ""]));
            }
            if matching == EXACT && self.resource_version.as_deref() == Some("0") {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if self.send_initial_events.is_some() {
            causes.push(forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            ));
        }
        causes
    }
}

/// `field: Forbidden: detail`, as `field.Forbidden` renders.
fn forbidden(field: &str, detail: &str) -> String {
    format!("{field}: Forbidden: {detail}")
}

/// `field.NotSupported` for `resourceVersionMatch`.
fn not_supported(value: &str, supported: &[&str]) -> String {
    let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "resourceVersionMatch: Unsupported value: {value:?}: supported values: {}",
        quoted.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(query: &[(&str, &str)]) -> ListOptions {
        let params = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ListOptions::from_query(&params)
    }

    const STREAMING: &[(&str, &str)] = &[
        ("watch", "true"),
        ("sendInitialEvents", "true"),
        ("resourceVersionMatch", "NotOlderThan"),
        ("resourceVersion", "0"),
        ("allowWatchBookmarks", "true"),
    ];

    #[test]
    fn a_streaming_list_is_admitted_only_with_the_feature_on() {
        let streaming = options(STREAMING);
        assert!(streaming.streams_initial_events());
        assert_eq!(streaming.validate(true), Ok(()));
        let refused = streaming.validate(false).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: \
             sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"
        );
    }

    #[test]
    fn options_are_refused_where_apimachinery_refuses_them() {
        let without_match = options(&[("watch", "true"), ("sendInitialEvents", "true")]);
        assert!(
            without_match
                .validate(true)
                .unwrap_err()
                .to_string()
                .contains(
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
                )
        );
        let match_alone = options(&[("watch", "true"), ("resourceVersionMatch", "NotOlderThan")]);
        assert!(match_alone.validate(true).is_err());
        let on_a_list = options(&[("sendInitialEvents", "true")]);
        assert!(
            on_a_list
                .validate(true)
                .unwrap_err()
                .to_string()
                .contains("sendInitialEvents is forbidden for list")
        );
        let exact_zero = options(&[("resourceVersion", "0"), ("resourceVersionMatch", "Exact")]);
        assert!(exact_zero.validate(true).is_err());
        assert_eq!(
            options(&[("watch", "true"), ("resourceVersion", "5")]).validate(false),
            Ok(())
        );
    }
}
