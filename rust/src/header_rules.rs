//! Header rules the HTTP doors apply in Rust (python/headers.rs): which names and values
//! `aigw.validation.header_fields` would keep unchanged, and which names a `Connection` value
//! claims for the client's hop. Pure functions over what the parser read (bytes; a value's
//! bytes are its code points, latin-1), so `cargo test` covers them.

/// RFC 9110 §5.6.2 tchar, lowercase letters only (a name `header_fields` keeps as it is).
pub fn is_lowercase_token(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| LOWERCASE_TOKEN[c as usize])
}

/// `LOWERCASE_TOKEN[b]`: byte `b` may be in a lowercase token (tchar, RFC 9110 §5.6.2, less
/// the uppercase letters).
static LOWERCASE_TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~');
        c += 1;
    }
    table
};

/// A field value `header_fields` keeps as it is: HTAB, visible ASCII, space and 0x80..=0xFF
/// (obs-text, U+0080..U+00FF once decoded) only, with no space or tab at either end.
pub fn is_clean_value(value: &[u8]) -> bool {
    !value.starts_with(b" ")
        && !value.starts_with(b"\t")
        && !value.ends_with(b" ")
        && !value.ends_with(b"\t")
        && value.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

/// Whether `name` is one of the comma-separated tokens of a `Connection` value (any case).
pub fn named_by_connection(name: &str, connection: &str) -> bool {
    connection.split(',').any(|token| token.trim().eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowercase_token_table_holds_exactly_the_lowercase_tchars() {
        for c in 0..=255u8 {
            let tchar = c.is_ascii_lowercase() || c.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&c);
            assert_eq!(is_lowercase_token(&[c]), tchar, "byte {c:#04x}");
        }
    }

    #[test]
    fn a_lowercase_token_is_what_header_fields_keeps_as_a_name() {
        assert!(is_lowercase_token(b"x-api-key") && is_lowercase_token(b"a!#$%&'*+-.^_`|~9"));
        assert!(!is_lowercase_token(b"X-Api-Key") && !is_lowercase_token(b"a b") && !is_lowercase_token(b""));
        assert!(!is_lowercase_token(b"caf\xe9"));
    }

    #[test]
    fn a_clean_value_is_a_trimmed_field_value() {
        assert!(is_clean_value(b"Bearer sk-1") && is_clean_value(b"") && is_clean_value(b"a\tb") && is_clean_value(b"caf\xe9"));
        assert!(!is_clean_value(b" a") && !is_clean_value(b"a\t") && !is_clean_value(b"a\r\nb"));
        assert!(!is_clean_value(b"\x7f") && !is_clean_value(b"\0"));
    }

    #[test]
    fn a_connection_value_names_its_tokens_in_any_case_and_spacing() {
        assert!(named_by_connection("x-trace", "keep-alive, X-Trace"));
        assert!(named_by_connection("keep-alive", "Keep-Alive"));
        assert!(!named_by_connection("x-trace", "keep-alive, x-traced"));
        assert!(!named_by_connection("x", ""));
    }
}
