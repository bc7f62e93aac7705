//! The response head the gateway's server writes (RFC 9112 §4–§6): status line, the app's
//! fields in ISO-8859-1, then the framing fields it sets itself (Content-Length or chunked,
//! `connection: close`), never the app's own. The parsers of heads are in http.rs.

/// How a response head frames its body (the framing headers come from here, never from the
/// app's own fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    Length(u64),
    Chunked,
    None,
}

/// Why a response head cannot be written.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadWriteError {
    /// A name or value holds CR or LF (it would inject a header or a body).
    LineBreak(String),
    /// A name or value holds a character above U+00FF (a head is ISO-8859-1).
    NotLatin1(String),
}

/// Appends `HTTP/1.1 {status} {reason}`, each app field, then the framing and
/// `connection: close` fields and the blank line, to `out` (ISO-8859-1). An app field named
/// content-length or transfer-encoding (any case), or connection when `close`, is dropped.
pub fn write_response_head<'a>(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    framing: BodyFraming,
    close: bool,
) -> Result<(), HeadWriteError> {
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(digits.format(status).as_bytes());
    out.push(b' ');
    latin1_into(out, reason).map_err(|_| HeadWriteError::NotLatin1("reason".into()))?;
    for (name, value) in fields {
        let framing_field = name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
            || (close && name.eq_ignore_ascii_case("connection"));
        if framing_field {
            continue;
        }
        if plain(name) && plain(value) {
            // The usual field, ASCII without a line break: its bytes are its ISO-8859-1 bytes.
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            continue;
        }
        if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
            return Err(HeadWriteError::LineBreak(name.to_owned()));
        }
        out.extend_from_slice(b"\r\n");
        latin1_into(out, name).map_err(|_| HeadWriteError::NotLatin1(name.to_owned()))?;
        out.extend_from_slice(b": ");
        latin1_into(out, value).map_err(|_| HeadWriteError::NotLatin1(name.to_owned()))?;
    }
    match framing {
        BodyFraming::Length(n) => {
            out.extend_from_slice(b"\r\ncontent-length: ");
            out.extend_from_slice(digits.format(n).as_bytes());
        }
        BodyFraming::Chunked => out.extend_from_slice(b"\r\ntransfer-encoding: chunked"),
        BodyFraming::None => {}
    }
    if close {
        out.extend_from_slice(b"\r\nconnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
    Ok(())
}

/// Whether `text` is ASCII without a CR or LF (one pass; what the checks below would pass and
/// `latin1_into` would copy unchanged).
fn plain(text: &str) -> bool {
    text.bytes().all(|b| b < 0x80 && b != b'\r' && b != b'\n')
}

/// `text` as ISO-8859-1 bytes; Err for a character above U+00FF (nothing of it is written).
fn latin1_into(out: &mut Vec<u8>, text: &str) -> Result<(), ()> {
    if text.is_ascii() {
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    let start = out.len();
    for c in text.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => {
                out.truncate(start);
                return Err(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod head_writer_tests {
    use super::*;

    #[test]
    fn a_response_head_drops_app_framing_fields_and_adds_its_own() {
        let mut out = Vec::new();
        let fields = [("Content-Length", "9"), ("x-a", "caf\u{e9}"), ("Connection", "keep-alive"), ("TRANSFER-ENCODING", "gzip")];
        write_response_head(&mut out, 200, "OK", fields, BodyFraming::Chunked, true).unwrap();
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nx-a: caf\xe9\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
        out.clear();
        write_response_head(&mut out, 204, "No Content", [("connection", "keep-alive")], BodyFraming::Length(0), false).unwrap();
        assert_eq!(out, b"HTTP/1.1 204 No Content\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n");
    }

    #[test]
    fn a_line_break_or_a_character_past_latin1_is_refused() {
        let mut out = Vec::new();
        let e = write_response_head(&mut out, 200, "OK", [("x", "a\r\nset-cookie: evil")], BodyFraming::None, false);
        assert_eq!(e, Err(HeadWriteError::LineBreak("x".into())));
        let e = write_response_head(&mut out, 200, "OK", [("x", "\u{2028}")], BodyFraming::None, false);
        assert_eq!(e, Err(HeadWriteError::NotLatin1("x".into())));
    }

    /// The writer before its plain-field shortcut, field by field: what it must still write.
    fn written_field_by_field(fields: &[(String, String)], close: bool) -> Result<Vec<u8>, HeadWriteError> {
        let mut out = b"HTTP/1.1 200 OK".to_vec();
        for (name, value) in fields {
            let framing = name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding")
                || (close && name.eq_ignore_ascii_case("connection"));
            if framing {
                continue;
            }
            if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
                return Err(HeadWriteError::LineBreak(name.clone()));
            }
            out.extend_from_slice(b"\r\n");
            latin1_into(&mut out, name).map_err(|_| HeadWriteError::NotLatin1(name.clone()))?;
            out.extend_from_slice(b": ");
            latin1_into(&mut out, value).map_err(|_| HeadWriteError::NotLatin1(name.clone()))?;
        }
        out.extend_from_slice(b"\r\ncontent-length: 7");
        if close {
            out.extend_from_slice(b"\r\nconnection: close");
        }
        out.extend_from_slice(b"\r\n\r\n");
        Ok(out)
    }

    proptest::proptest! {
        #[test]
        fn plain_fields_are_written_as_every_field_was(
            fields in proptest::collection::vec(("(?s)[a-zA-Z-]{0,4}[\r\n\u{e9}\u{2028}]?", "(?s)[ -~]{0,6}[\r\n\u{e9}\u{2028}]?[ -~]{0,3}"), 0..5),
            close: bool,
        ) {
            let mut out = Vec::new();
            let written = write_response_head(&mut out, 200, "OK", fields.iter().map(|(n, v)| (n.as_str(), v.as_str())), BodyFraming::Length(7), close);
            proptest::prop_assert_eq!(written.map(|()| out), written_field_by_field(&fields, close));
        }
    }
}
