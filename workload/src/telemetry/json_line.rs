//! Fast building blocks for JSON log lines: escaped strings, numbers, hex ids, timestamps.
//!
//! A log line per request is on the hot path, so these push straight into a `String` instead
//! of going through `fmt` machinery for every character and number.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `text` as a JSON string literal, copying runs that need no escaping whole.
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    push_escaped(out, text);
    out.push('"');
}

fn push_escaped(out: &mut String, text: &str) {
    let mut plain_from = 0;
    for (at, byte) in text.bytes().enumerate() {
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // Escaped bytes are ASCII, so `at` is always a char boundary.
        out.push_str(&text[plain_from..at]);
        if escaped.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(escaped);
        }
        plain_from = at + 1;
    }
    out.push_str(&text[plain_from..]);
}

/// A `fmt::Write` that JSON-escapes whatever is written through it (for `Debug` values).
pub struct Escaping<'a>(pub &'a mut String);

impl Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        push_escaped(self.0, text);
        Ok(())
    }
}

pub fn push_u64(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    push_ascii(out, &digits[at..]);
}

/// Every caller passes ASCII digits, so this never falls back.
fn push_ascii(out: &mut String, ascii: &[u8]) {
    out.push_str(std::str::from_utf8(ascii).unwrap_or("?"));
}

pub fn push_i64(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    push_u64(out, value.unsigned_abs());
}

/// Appends `value` as exactly `width` (at most 32) lowercase hex digits.
pub fn push_hex(out: &mut String, value: u128, width: u32) {
    let mut digits = [b'0'; 32];
    let width = width.min(32) as usize;
    for (index, digit) in digits[..width].iter_mut().enumerate() {
        let shift = (width - 1 - index) * 4;
        *digit = HEX[((value >> shift) & 0xf) as usize];
    }
    push_ascii(out, &digits[..width]);
}

thread_local! {
    /// The second the cached prefix belongs to, and `YYYY-MM-DDTHH:MM:SS` for it.
    static SECOND_PREFIX: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends `now` as RFC 3339 UTC with microseconds; the date part is formatted once a second.
pub fn push_rfc3339_micros(out: &mut String, now: SystemTime) {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let second = since_epoch.as_secs();
    SECOND_PREFIX.with_borrow_mut(|(cached_second, prefix)| {
        if *cached_second != second {
            prefix.clear();
            let whole = humantime::format_rfc3339_seconds(UNIX_EPOCH + since_epoch);
            let _ = write!(prefix, "{whole}");
            prefix.pop(); // the trailing 'Z'
            *cached_second = second;
        }
        out.push_str(prefix);
    });
    let micros = since_epoch.subsec_micros();
    let mut fraction = *b".000000";
    for (index, divisor) in [100_000, 10_000, 1_000, 100, 10, 1].into_iter().enumerate() {
        fraction[index + 1] = b'0' + ((micros / divisor) % 10) as u8;
    }
    push_ascii(out, &fraction);
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn strings_escape_like_serde_json() {
        for text in [
            "plain",
            "a \"quoted\"\nline\u{1}\u{1f}",
            "é, ✓ and \\ back\tslash\r",
            "",
        ] {
            let mut out = String::new();
            push_json_string(&mut out, text);
            assert_eq!(
                out,
                serde_json::to_string(text).expect("serde_json"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn debug_values_are_escaped_without_an_intermediate_string() {
        let mut out = String::new();
        let _ = write!(Escaping(&mut out), "{:?}", "say \"hi\"");
        assert_eq!(out, r#"\"say \\\"hi\\\"\""#);
    }

    #[test]
    fn numbers_and_hex_ids_are_exact() {
        let mut out = String::new();
        push_u64(&mut out, 0);
        out.push(' ');
        push_u64(&mut out, u64::MAX);
        out.push(' ');
        push_i64(&mut out, i64::MIN);
        out.push(' ');
        push_hex(&mut out, 0x0af7651916cd43dd8448eb211c80319c, 32);
        out.push(' ');
        push_hex(&mut out, 0xb7, 16);
        assert_eq!(
            out,
            "0 18446744073709551615 -9223372036854775808 0af7651916cd43dd8448eb211c80319c 00000000000000b7"
        );
    }

    #[test]
    fn timestamps_match_humantime_across_second_boundaries() {
        let base = UNIX_EPOCH + Duration::from_secs(1_795_321_135);
        for offset_micros in [0, 1, 999_999, 1_000_000, 1_000_007, 86_400_000_123] {
            let at = base + Duration::from_micros(offset_micros);
            let mut out = String::new();
            push_rfc3339_micros(&mut out, at);
            assert_eq!(out, humantime::format_rfc3339_micros(at).to_string());
        }
    }
}
