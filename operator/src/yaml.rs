//! The YAML we print (`render`, `crd`, alertmanager.yml): block style that means the same to a
//! YAML 1.2 reader and to a YAML 1.1 one (kubectl's Go YAML, PyYAML). serde_yaml quotes only
//! what YAML 1.2 would misread, so `off` became a boolean for kubectl; here a string is written
//! plain only when it cannot be anything but a string under either version.

use serde::Serialize;
use serde_json::{Map, Number, Value};
use std::fmt::Write as _;

/// One YAML document (no `---` line) for `value`, keys in sorted order.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let mut out = String::new();
    match &value {
        Value::Object(map) if !map.is_empty() => write_map(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => write_seq(items, 0, &mut out),
        scalar => {
            write_inline(scalar, 2, &mut out);
            out.push('\n');
        }
    }
    Ok(out)
}

fn write_map(map: &Map<String, Value>, indent: usize, out: &mut String) {
    for (index, (key, value)) in map.iter().enumerate() {
        // The first entry of a map inside a sequence item follows its `- ` on the same line.
        if index > 0 || !out.ends_with("- ") {
            pad(indent, out);
        }
        write_string_inline(key, out);
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_map(inner, indent + 2, out);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(items, indent, out);
            }
            scalar => {
                out.push(' ');
                write_inline(scalar, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

fn write_seq(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        pad(indent, out);
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => write_map(inner, indent + 2, out),
            Value::Array(nested) if !nested.is_empty() => {
                out.pop();
                out.push('\n');
                write_seq(nested, indent + 2, out);
            }
            scalar => {
                write_inline(scalar, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

/// A scalar or an empty collection; a block scalar's lines are indented by `indent`.
fn write_inline(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(text) if literal_block_fits(text) => write_literal(text, indent, out),
        Value::String(text) => write_string_inline(text, out),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// Integers as they are; floats always with a point and a signed exponent, the form YAML 1.1
/// requires (`1e20` is a string to PyYAML, `1.0e+20` a float to every reader).
fn write_number(n: &Number, out: &mut String) {
    if n.is_f64() {
        let text = n.to_string();
        let (mantissa, exponent) = text.split_once(['e', 'E']).unwrap_or((&text, ""));
        out.push_str(mantissa);
        if !mantissa.contains('.') {
            out.push_str(".0");
        }
        if !exponent.is_empty() {
            out.push('e');
            if !exponent.starts_with(['-', '+']) {
                out.push('+');
            }
            out.push_str(exponent);
        }
    } else {
        out.push_str(&n.to_string());
    }
}

fn write_string_inline(text: &str, out: &mut String) {
    if plain_is_unambiguous(text) {
        out.push_str(text);
    } else {
        write_double_quoted(text, out);
    }
}

/// Words YAML 1.1 resolves to booleans or null (matched without regard to case).
const RESERVED_WORDS: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// A plain scalar is written only when it starts with a letter (no number, sign, `.inf`, `~`,
/// `=`, `<<`, tag or anchor can), holds no character with a meaning anywhere in a line (`:`,
/// `#`, flow or quote indicators), has no edge spaces and is no boolean or null word.
pub fn plain_is_unambiguous(text: &str) -> bool {
    let mut chars = text.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let safe = |c: char| c.is_ascii_alphanumeric() || " _./-()+=%@".contains(c);
    starts_with_letter
        && text.chars().all(safe)
        && !text.ends_with(' ')
        && !RESERVED_WORDS
            .iter()
            .any(|word| word.eq_ignore_ascii_case(text))
}

/// Multi-line text reads best as a literal block; it is used only where no reader can differ:
/// printable characters, no carriage return, no line that is only blanks, a first line that
/// is neither empty nor starts with a blank (that would need an indentation indicator).
fn literal_block_fits(text: &str) -> bool {
    text.contains('\n')
        && !text.starts_with([' ', '\t', '\n'])
        && text.chars().all(|c| c == '\n' || printable(c) && c != '\t')
        && text
            .split('\n')
            .all(|line| line.is_empty() || !line.trim().is_empty())
}

fn write_literal(text: &str, indent: usize, out: &mut String) {
    let body = text.trim_end_matches('\n');
    let chomping = match text.len() - body.len() {
        0 => "|-",
        1 => "|",
        _ => "|+",
    };
    out.push_str(chomping);
    for line in text[..body.len()].split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(indent, out);
            out.push_str(line);
        }
    }
    // `|+` keeps the trailing line breaks: all but the last are written as empty lines.
    for _ in 1..text.len() - body.len() {
        out.push('\n');
    }
}

/// YAML 1.1's printable set, less the characters YAML 1.1 reads as line breaks (NEL, LS, PS)
/// and the byte-order mark.
fn printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

fn write_double_quoted(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if printable(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
}

fn pad(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_a_yaml_1_1_reader_would_misread_are_quoted() {
        let yaml = to_string(
            &json!({"a": ["off", "On", "y", "=", "12:30", "0x1F", "1e3", "~", "null", "<<"]}),
        )
        .unwrap();
        assert_eq!(
            yaml,
            "a:\n- \"off\"\n- \"On\"\n- \"y\"\n- \"=\"\n- \"12:30\"\n- \"0x1F\"\n- \"1e3\"\n- \"~\"\n- \"null\"\n- \"<<\"\n"
        );
    }

    #[test]
    fn plain_words_stay_plain_and_nesting_follows_kubectl_layout() {
        let object = json!({"kind": "Deployment", "spec": {"containers": [{"name": "dice", "env": [{"name": "DICE_GPU", "value": "off"}]}], "replicas": 2, "empty": {}}});
        assert_eq!(
            to_string(&object).unwrap(),
            "kind: Deployment\nspec:\n  containers:\n  - env:\n    - name: DICE_GPU\n      value: \"off\"\n    name: dice\n  empty: {}\n  replicas: 2\n"
        );
    }

    #[test]
    fn floats_keep_a_point_and_a_signed_exponent() {
        assert_eq!(
            to_string(&json!([1.0, 0.5, 1e20, 2.5e-7])).unwrap(),
            "- 1.0\n- 0.5\n- 1.0e+20\n- 2.5e-7\n"
        );
    }

    #[test]
    fn multi_line_text_is_a_literal_block_with_its_trailing_breaks() {
        assert_eq!(
            to_string(&json!({"q": "a\n  b\n"})).unwrap(),
            "q: |\n  a\n    b\n"
        );
        assert_eq!(
            to_string(&json!({"q": "a\nb"})).unwrap(),
            "q: |-\n  a\n  b\n"
        );
        assert_eq!(to_string(&json!({"q": "a\n\n"})).unwrap(), "q: |+\n  a\n\n");
        assert_eq!(
            to_string(&json!({"q": " a\nb"})).unwrap(),
            "q: \" a\\nb\"\n"
        );
    }

    #[test]
    fn nested_sequences_and_control_characters() {
        assert_eq!(to_string(&json!([["a"], []])).unwrap(), "-\n  - a\n- []\n");
        assert_eq!(
            to_string(&json!("x\u{85}\u{7}")).unwrap(),
            "\"x\\x85\\x07\"\n"
        );
    }
}
