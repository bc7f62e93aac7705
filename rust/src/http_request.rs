//! The upstream client's request message in one buffer: request line, Host, the caller's
//! fields (minus those the client sets itself), Content-Length and the body, as
//! `aigw.upstream.client`'s Python head builder writes them. Only the plain case is written
//! here; anything unusual (a method that is not a token, CR or LF anywhere in the head, a
//! character above U+00FF) answers None, and the Python builder reports it in its words.
//! Never panics.

use std::io::Write;

/// A field name or value as the caller gave it: text (written as ISO-8859-1) or bytes.
#[derive(Clone, Copy, Debug)]
pub enum Field<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// Fields the client writes itself; the caller's are dropped (compared lowercased).
const SKIPPED: [&[u8]; 4] = [b"host", b"content-length", b"transfer-encoding", b"connection"];

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `field` appended as ISO-8859-1; None for a character above U+00FF or a CR or LF.
fn put(out: &mut Vec<u8>, field: Field<'_>) -> Option<()> {
    let start = out.len();
    match field {
        Field::Bytes(b) => out.extend_from_slice(b),
        Field::Text(t) if t.is_ascii() => out.extend_from_slice(t.as_bytes()),
        Field::Text(t) => {
            for c in t.chars() {
                out.push(u8::try_from(u32::from(c)).ok()?);
            }
        }
    }
    (!out[start..].iter().any(|&b| b == b'\r' || b == b'\n')).then_some(())
}

/// Appends the whole request to `out`: `{method} {target} HTTP/1.1`, `Host: {host}`, each
/// field not in `SKIPPED`, then `Content-Length: {len}` and the body when there is one
/// (`Content-Length: 0` for a POST, PUT or PATCH without one), then the blank line. None (and
/// `out` as it was up to where it stopped) when anything is unusual (see the module docs).
pub fn write_request(out: &mut Vec<u8>, method: &str, target: &[u8], host: &[u8], fields: &[(Field<'_>, Field<'_>)], body: Option<&[u8]>) -> Option<()> {
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return None;
    }
    let line_break = |b: &[u8]| b.iter().any(|&c| c == b'\r' || c == b'\n');
    if line_break(target) || line_break(host) {
        return None;
    }
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host);
    for &(name, value) in fields {
        let at = out.len();
        out.extend_from_slice(b"\r\n");
        put(out, name)?;
        let written = &out[at + 2..];
        if SKIPPED.iter().any(|skipped| skipped.eq_ignore_ascii_case(written)) {
            // Its value must still be ISO-8859-1, as the Python builder encodes every field
            // before it skips any (a line break there is harmless, but None only hands the
            // request to Python, which decides).
            out.truncate(at);
            let mut scratch = Vec::new();
            put(&mut scratch, value)?;
            continue;
        }
        out.extend_from_slice(b": ");
        put(out, value)?;
    }
    match body {
        Some(body) => {
            out.extend_from_slice(b"\r\nContent-Length: ");
            let _ = write!(out, "{}", body.len()); // writing to a Vec cannot fail
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(body);
        }
        None if matches!(method, "POST" | "PUT" | "PATCH") => out.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n"),
        None => out.extend_from_slice(b"\r\n\r\n"),
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, fields: &[(Field<'_>, Field<'_>)], body: Option<&[u8]>) -> Option<String> {
        let mut out = Vec::new();
        write_request(&mut out, method, b"/v1/x?a=1", b"api.example", fields, body)?;
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn writes_the_line_host_fields_length_and_body() {
        let fields = [(Field::Text("content-type"), Field::Text("application/json")), (Field::Bytes(b"x-b"), Field::Bytes(b"1"))];
        assert_eq!(
            request("POST", &fields, Some(b"{}")).unwrap(),
            "POST /v1/x?a=1 HTTP/1.1\r\nHost: api.example\r\ncontent-type: application/json\r\nx-b: 1\r\nContent-Length: 2\r\n\r\n{}"
        );
        assert_eq!(request("POST", &[], None).unwrap(), "POST /v1/x?a=1 HTTP/1.1\r\nHost: api.example\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(request("GET", &[], None).unwrap(), "GET /v1/x?a=1 HTTP/1.1\r\nHost: api.example\r\n\r\n");
    }

    #[test]
    fn drops_the_fields_the_client_sets_and_writes_latin1() {
        let fields = [(Field::Text("Host"), Field::Text("evil")), (Field::Text("Content-Length"), Field::Text("9")), (Field::Text("x-é"), Field::Text("ü"))];
        let mut out = Vec::new();
        write_request(&mut out, "GET", b"/", b"h", &fields, None).unwrap();
        assert_eq!(out, b"GET / HTTP/1.1\r\nHost: h\r\nx-\xe9: \xfc\r\n\r\n");
    }

    #[test]
    fn leaves_everything_unusual_to_python() {
        assert_eq!(request("GET /", &[], None), None);
        assert_eq!(request("", &[], None), None);
        assert_eq!(request("GET", &[(Field::Text("x"), Field::Text("a\r\nb: c"))], None), None);
        assert_eq!(request("GET", &[(Field::Text("x\n"), Field::Text("a"))], None), None);
        assert_eq!(request("GET", &[(Field::Text("connection"), Field::Text("€"))], None), None); // skipped, still encoded
        assert_eq!(request("GET", &[(Field::Text("x"), Field::Text("€"))], None), None);
        let mut out = Vec::new();
        assert_eq!(write_request(&mut out, "GET", b"/\r\n", b"h", &[], None), None);
    }
}
