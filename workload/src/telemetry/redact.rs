//! Credentials in URLs kept out of the logs: an OTLP endpoint may carry `user:password@`
//! (and an exporter's error repeats the URL), so every log line has the userinfo of each URL
//! replaced by `***` before it is written.

use std::borrow::Cow;

const MASK: &[u8] = b"***";

/// `line` with the userinfo of every `scheme://user:password@host` replaced by `***`;
/// borrowed when there is none (almost every line: no `@` at all).
pub fn userinfo(line: &[u8]) -> Cow<'_, [u8]> {
    if !line.contains(&b'@') {
        return Cow::Borrowed(line);
    }
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut at = 0;
    while let Some(offset) = find(&line[at..], b"://") {
        let start = at + offset + 3;
        let authority_end = line[start..]
            .iter()
            .position(|&b| {
                matches!(b, b'/' | b'?' | b'#' | b'"' | b'\'' | b'\\') || b.is_ascii_whitespace()
            })
            .map_or(line.len(), |end| start + end);
        if let Some(last_at) = line[start..authority_end].iter().rposition(|&b| b == b'@') {
            let buffer = out.get_or_insert_with(|| Vec::with_capacity(line.len()));
            buffer.extend_from_slice(&line[copied..start]);
            buffer.extend_from_slice(MASK);
            copied = start + last_at;
        }
        at = authority_end.max(start);
    }
    match out {
        Some(mut buffer) => {
            buffer.extend_from_slice(&line[copied..]);
            Cow::Owned(buffer)
        }
        None => Cow::Borrowed(line),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::userinfo;

    fn redacted(line: &str) -> String {
        String::from_utf8(userinfo(line.as_bytes()).into_owned()).expect("utf-8")
    }

    #[test]
    fn userinfo_is_masked_in_every_url_of_a_line() {
        let line = r#"{"endpoint":"http://user:s3cret@collector:4318/v1/metrics","error":"error sending request for url (https://a:b@c.example/v1/metrics)"}"#;
        let out = redacted(line);
        assert!(!out.contains("s3cret") && !out.contains("a:b@"), "{out}");
        assert!(
            out.contains("http://***@collector:4318/v1/metrics"),
            "{out}"
        );
        assert!(out.contains("https://***@c.example/v1/metrics"), "{out}");
    }

    #[test]
    fn lines_without_userinfo_are_left_alone() {
        for line in [
            "plain line",
            r#"{"user":"someone@example.com","url":"http://collector:4318/x@y"}"#,
        ] {
            assert!(
                matches!(userinfo(line.as_bytes()), std::borrow::Cow::Borrowed(_)),
                "{line}"
            );
        }
    }
}
