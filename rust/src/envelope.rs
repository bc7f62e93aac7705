//! Universal API envelopes: splice upstream event payloads into `universal.stream` messages
//! without turning them into objects.
//!
//! A streamed chunk becomes `{"type":"universal.stream","metadata":{"eventId":"e1"},"response":<data>}`.
//! When `data` is a JSON document it is copied verbatim (validated, never re-serialized);
//! otherwise it is embedded as a JSON string (invalid UTF-8 replaced by U+FFFD), so the
//! message is always valid JSON whatever the upstream sent.


/// Whether `data` is exactly one JSON document (surrounding whitespace allowed) in valid UTF-8.
///
/// The grammar is checked in one pass (`json_scan::is_json_text`, what serde's `IgnoredAny`
/// accepts), which reads string contents without checking their encoding, so UTF-8 is
/// validated separately: a document spliced verbatim into a WebSocket text frame must be valid
/// UTF-8, or the client fails the whole (multiplexed) connection with 1007.
pub fn is_json(data: &[u8]) -> bool {
    // Fast reject: a JSON document starts with a value's first byte after whitespace.
    crate::json_scan::may_start_value(data.get(crate::json_scan::skip_ws(data, 0)))
        && simdutf8::basic::from_utf8(data).is_ok()
        && crate::json_scan::is_json_text(data)
}

/// `ESCAPE[b]` is 0 when byte `b` goes into a JSON string as is, else the escape letter
/// (`u` for the \u00XX form).
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `s`'s characters as inside a JSON string (serde_json's escapes: `"`, `\\` and the control
/// characters), without the quotes.
pub(crate) fn push_escaped_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if esc == b'u' {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Append `data` to `out` as a quoted JSON string; invalid UTF-8 becomes U+FFFD.
pub fn push_json_string(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'"');
    for chunk in data.utf8_chunks() {
        push_escaped_str(out, chunk.valid());
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
    out.push(b'"');
}

/// Append `data` as a JSON value: verbatim when it is JSON, else as a JSON string.
pub fn push_json_value(out: &mut Vec<u8>, data: &[u8]) {
    if is_json(data) {
        out.extend_from_slice(data);
    } else {
        push_json_string(out, data);
    }
}

/// What a `universal.created` message says of one whole answer (websocket-api.md's metadata).
#[derive(Clone, Copy, Debug)]
pub struct Created<'a> {
    pub cache_status: &'a str,
    pub event_id: &'a str,
    pub log_id: &'a str,
    pub step: i64,
    pub content_type: &'a str,
    pub status: i64,
    /// (tokensIn, tokensOut), either possibly unknown (JSON null); None: no `usage` at all.
    pub usage: Option<(Option<i64>, Option<i64>)>,
}

/// Append the `universal.created` message for a whole answer to `out`: the metadata in the
/// gateway's key order (cacheStatus, eventId, logId, step as a string, contentType, status,
/// usage when known), then `body` as the response: verbatim when it is JSON, else a JSON
/// string. The bytes `orjson.dumps` makes of the same message in Python. `known_json`: the
/// caller knows `body` passes `is_json` (a reader walked it whole), so it is spliced without
/// a second check; false has it checked here.
pub fn write_created(c: &Created<'_>, body: &[u8], known_json: bool, out: &mut Vec<u8>) {
    fn number(out: &mut Vec<u8>, n: Option<i64>) {
        match n {
            Some(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
    }
    // Text already (a &str): escaped without the invalid-UTF-8 pass of push_json_string.
    fn text(out: &mut Vec<u8>, s: &str) {
        out.push(b'"');
        push_escaped_str(out, s);
        out.push(b'"');
    }
    out.reserve(160 + c.event_id.len() + c.content_type.len() + body.len());
    out.extend_from_slice(br#"{"type":"universal.created","metadata":{"cacheStatus":"#);
    text(out, c.cache_status);
    out.extend_from_slice(br#","eventId":"#);
    text(out, c.event_id);
    out.extend_from_slice(br#","logId":"#);
    text(out, c.log_id);
    out.extend_from_slice(br#","step":""#);
    number(out, Some(c.step));
    out.extend_from_slice(br#"","contentType":"#);
    text(out, c.content_type);
    out.extend_from_slice(br#","status":"#);
    number(out, Some(c.status));
    if let Some((tokens_in, tokens_out)) = c.usage {
        out.extend_from_slice(br#","usage":{"tokensIn":"#);
        number(out, tokens_in);
        out.extend_from_slice(br#","tokensOut":"#);
        number(out, tokens_out);
        out.push(b'}');
    }
    out.extend_from_slice(br#"},"response":"#);
    if known_json {
        out.extend_from_slice(body);
    } else {
        push_json_value(out, body);
    }
    out.push(b'}');
}

/// A pre-built message template: `prefix` + value + `suffix`.
#[derive(Clone, Debug)]
pub struct Envelope {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
}

impl Envelope {
    /// The `universal.stream` envelope for one request.
    pub fn stream(event_id: &str) -> Self {
        let mut prefix = Vec::with_capacity(64 + event_id.len());
        prefix.extend_from_slice(br#"{"type":"universal.stream","metadata":{"eventId":"#);
        push_json_string(&mut prefix, event_id.as_bytes());
        prefix.extend_from_slice(br#"},"response":"#);
        Envelope { prefix, suffix: b"}".to_vec() }
    }

    /// An envelope with arbitrary prefix and suffix bytes.
    pub fn new(prefix: Vec<u8>, suffix: Vec<u8>) -> Self {
        Envelope { prefix, suffix }
    }

    /// Bytes a message around a `data_len`-byte payload is likely to need.
    pub fn size_hint(&self, data_len: usize) -> usize {
        self.prefix.len() + data_len + self.suffix.len() + 2
    }

    /// Append the whole message for `data` to `out`.
    pub fn write(&self, data: &[u8], out: &mut Vec<u8>) {
        self.write_judged(data, is_json(data), out);
    }

    /// `write`, told whether `data` passes `is_json` (a caller that checked it another way:
    /// json_repeat.rs): verbatim when it does, else as a JSON string.
    pub fn write_judged(&self, data: &[u8], json: bool, out: &mut Vec<u8>) {
        out.reserve(self.size_hint(data.len()));
        out.extend_from_slice(&self.prefix);
        if json {
            out.extend_from_slice(data);
        } else {
            push_json_string(out, data);
        }
        out.extend_from_slice(&self.suffix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, data: &[u8]) -> serde_json::Value {
        let mut out = Vec::new();
        Envelope::stream(id).write(data, &mut out);
        serde_json::from_slice(&out).expect("envelope is always valid JSON")
    }

    #[test]
    fn a_created_message_carries_the_metadata_then_the_body() {
        let c = Created { cache_status: "MISS", event_id: "e\"1", log_id: "l", step: 0, content_type: "application/json", status: 200, usage: Some((Some(3), None)) };
        let mut out = Vec::new();
        write_created(&c, br#"{"ok":true}"#, false, &mut out);
        assert_eq!(
            out,
            br#"{"type":"universal.created","metadata":{"cacheStatus":"MISS","eventId":"e\"1","logId":"l","step":"0","contentType":"application/json","status":200,"usage":{"tokensIn":3,"tokensOut":null}},"response":{"ok":true}}"#
        );
        out.clear();
        write_created(&Created { usage: None, ..c }, b"<html>\xff", false, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["response"], "<html>\u{FFFD}");
        assert!(v["metadata"].get("usage").is_none());
    }

    #[test]
    fn json_data_is_spliced_verbatim() {
        let mut out = Vec::new();
        Envelope::stream("e1").write(br#"{"response":"would"}"#, &mut out);
        assert_eq!(out, br#"{"type":"universal.stream","metadata":{"eventId":"e1"},"response":{"response":"would"}}"#);
    }

    #[test]
    fn non_json_data_becomes_a_string() {
        assert_eq!(message("e", b"[DONE")["response"], "[DONE");
        assert_eq!(message("e", b"hello\nworld")["response"], "hello\nworld");
    }

    #[test]
    fn truncated_json_is_not_spliced() {
        assert_eq!(message("e", br#"{"a":1"#)["response"], r#"{"a":1"#);
        assert_eq!(message("e", br#"{"a":1} {"b":2}"#)["response"], r#"{"a":1} {"b":2}"#);
    }

    #[test]
    fn event_ids_are_escaped() {
        assert_eq!(message("a\"b\\c\u{1}", b"1")["metadata"]["eventId"], "a\"b\\c\u{1}");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(message("e", b"ab\xffcd")["response"], "ab\u{FFFD}cd");
    }

    #[test]
    fn json_with_invalid_utf8_in_a_string_is_not_spliced_verbatim() {
        assert!(!is_json(b"{\"text\":\"ab\xffcd\"}"));
        let mut out = Vec::new();
        Envelope::stream("e").write(b"{\"text\":\"ab\xffcd\"}", &mut out);
        assert!(std::str::from_utf8(&out).is_ok(), "a text frame's payload must be UTF-8");
        assert_eq!(message("e", b"{\"text\":\"ab\xffcd\"}")["response"], "{\"text\":\"ab\u{FFFD}cd\"}");
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut out = Vec::new();
        push_json_string(&mut out, b"\x00\x08\x0c\x1f\t");
        assert_eq!(out, br#""\u0000\b\f\u001f\t""#);
    }

    #[test]
    fn scalars_and_whitespace_count_as_json() {
        for ok in [&b"1"[..], b" true ", b"null", b"\"s\"", b"[1,2]", b"-0.5e3"] {
            assert!(is_json(ok), "{:?}", ok);
        }
        for bad in [&b""[..], b" ", b"nul", b"'x'", b"{]", b"NaN"] {
            assert!(!is_json(bad), "{:?}", bad);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_make_a_valid_message(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut out = Vec::new();
            Envelope::stream("x").write(&data, &mut out);
            proptest::prop_assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
        }
    }
}
