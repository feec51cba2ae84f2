//! Object name rules the API server enforces before anything else: custom resources and most
//! kinds need an RFC 1123 subdomain, namespaces (and Services) an RFC 1123 label.

/// Why `name` is not a lowercase RFC 1123 subdomain (≤ 253 characters, dot-separated labels).
pub fn subdomain_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("Required value: name or generateName is required".into());
    }
    if name.len() > 253 {
        return Some(format!(
            "Invalid value: {name:?}: must be no more than 253 characters"
        ));
    }
    // Unlike a label, a subdomain's dot-separated parts have no length limit of their own.
    (!name.split('.').all(is_rfc1123_shaped)).then(|| {
        format!(
            "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case \
             alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
             character (e.g. 'example.com')"
        )
    })
}

/// Why `name` is not a lowercase RFC 1123 label (≤ 63 characters, no dots).
pub fn label_problem(name: &str) -> Option<String> {
    if name.len() > 63 {
        return Some(format!(
            "Invalid value: {name:?}: must be no more than 63 characters"
        ));
    }
    (!is_rfc1123_shaped(name)).then(|| {
        format!(
            "Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case \
             alphanumeric characters or '-', and must start and end with an alphanumeric \
             character (e.g. 'my-name')"
        )
    })
}

/// Why `name` is not a DNS-1035 label (≤ 63 characters, lowercase alphanumerics and `-`,
/// starting with a letter): what a Service's name must be.
pub fn dns1035_label_problem(name: &str) -> Option<String> {
    if name.len() > 63 {
        return Some(format!(
            "Invalid value: {name:?}: must be no more than 63 characters"
        ));
    }
    let shaped = name.starts_with(|c: char| c.is_ascii_lowercase()) && is_rfc1123_shaped(name);
    (!shaped).then(|| {
        format!(
            "Invalid value: {name:?}: a DNS-1035 label must consist of lower case alphanumeric \
             characters or '-', start with an alphabetic character, and end with an \
             alphanumeric character (e.g. 'my-name',  or 'abc-123')"
        )
    })
}

fn is_rfc1123_shaped(label: &str) -> bool {
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    label.starts_with(alphanumeric)
        && label.ends_with(alphanumeric)
        && label.chars().all(|c| alphanumeric(c) || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_and_labels_follow_rfc_1123() {
        for good in ["dice", "dice-1", "a.b-c.d", "0"] {
            assert_eq!(subdomain_problem(good), None, "{good}");
        }
        for bad in ["", "Dice", "-dice", "dice-", "a..b", "x\",job=~\".+", "a_b"] {
            assert!(subdomain_problem(bad).is_some(), "{bad}");
        }
        assert!(subdomain_problem(&"a".repeat(254)).is_some());
        for good in ["dice", "a-1", "x"] {
            assert_eq!(dns1035_label_problem(good), None, "{good}");
        }
        for bad in ["1dice", "a.b", "Dice", "dice-", "", &"a".repeat(64)] {
            assert!(dns1035_label_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(
            subdomain_problem(&"d".repeat(70)),
            None,
            "no per-part limit"
        );
        assert_eq!(label_problem("team-a"), None);
        assert!(label_problem("a.b").is_some());
        assert!(label_problem(&"a".repeat(64)).is_some());
    }
}
