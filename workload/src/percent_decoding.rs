//! Percent-decoding for query strings and the `OTEL_*` key=value lists, without a dependency.

/// Decodes `%XX` escapes (invalid ones stay as written); in query strings `+` is a space.
pub fn decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn escapes_and_plus_signs() {
        assert_eq!(decode("Bearer%20x%2By+z", false), "Bearer x+y+z");
        assert_eq!(decode("a+b%3A%zz", true), "a b:%zz");
    }
}
