//! One pass over a request body: whether it is one JSON object a decoder accepts, and its
//! top-level `"stream"` and `"model"`, without building anything.
//!
//! "Accepts" is what `aigw.universal::body_fields_by_serde` accepts (serde_json's ignoring
//! parser, then a scan for what orjson refuses although serde skips it: invalid UTF-8, a lone
//! surrogate escape, a number that overflows a double); tests and the `body_fields` fuzz target
//! hold the two equal. Strings are scanned eight bytes at a time (json_scan.rs). Nesting has
//! no depth limit (`json_scan::Nesting`: the heap only past 64 levels).
//!
//! The provider routes read a body's stream flag and model so (for logs and the cache); /compat
//! also takes the span of a lone `"model"` string to write the provider's model in its place,
//! sending the rest of the client's body as it came.

use std::borrow::Cow;

use crate::json_scan::{self, literal, number, skip_ws, string, Nesting};

/// What one pass found in a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFields<'a> {
    /// The last top-level `"stream"` is `true`.
    pub stream: bool,
    /// The last top-level `"model"`, when it is a string.
    pub model: Option<Cow<'a, str>>,
    /// That string literal's bytes, quotes included, when `"model"` is the only top-level key
    /// of that name (so writing another literal there changes the model and nothing else).
    pub model_span: Option<(usize, usize)>,
    /// A top-level key is spelled with escapes: it was not compared (it may be either name).
    pub escaped_key: bool,
}

/// Which of the two names a top-level key is.
#[derive(Clone, Copy)]
enum Key {
    Stream,
    Model,
}

/// The fields of `body` when it is one JSON object (optionally followed by whitespace) that a
/// decoder accepts; None for anything else. Any input gives an answer, never a panic.
pub fn read(body: &[u8]) -> Option<BodyFields<'_>> {
    if body.first() != Some(&b'{') {
        return None;
    }
    simdutf8::basic::from_utf8(body).ok()?;
    let (fields, end) = object_fields(body, 0, usize::MAX)?;
    (skip_ws(body, end) == body.len()).then_some(fields)
}

/// `read` of the object at `at` inside `body` (UTF-8 already checked by the caller), of at
/// most `max_levels` levels of objects and arrays: its fields and the index after it (what
/// follows is the caller's). The spans in the fields are indices into `body`.
pub(crate) fn object_fields(body: &[u8], mut at: usize, max_levels: usize) -> Option<(BodyFields<'_>, usize)> {
    if body.get(at) != Some(&b'{') {
        return None;
    }
    let (mut stream, mut models, mut model_at, mut escaped_key) = (false, 0u32, None, false);
    let mut open = Nesting::new();
    let mut pending: Option<Key> = None; // the top-level key whose value starts next
    loop {
        // A value starts at `at`.
        let key = pending.take();
        let &c = body.get(at)?;
        let mut is_true = false;
        let mut string_at = None;
        match c {
            b'{' | b'[' => {
                at = skip_ws(body, at + 1);
                let close = if c == b'{' { b'}' } else { b']' };
                if open.depth() >= max_levels {
                    return None;
                }
                if body.get(at) == Some(&close) {
                    at += 1; // empty container: a complete value
                } else {
                    open.push(c == b'{');
                    if c == b'{' {
                        let (next, named) = member_key(body, at, open.depth() == 1, &mut escaped_key)?;
                        at = next;
                        pending = named;
                    }
                    note(key, false, None, &mut stream, &mut models, &mut model_at);
                    continue;
                }
            }
            b'"' => {
                let end = string::<true>(body, at)?;
                string_at = Some((at, end));
                at = end;
            }
            b'-' | b'0'..=b'9' => at = number::<true>(body, at)?,
            b't' => {
                at = literal(body, at, b"true")?;
                is_true = true;
            }
            b'f' => at = literal(body, at, b"false")?,
            b'n' => at = literal(body, at, b"null")?,
            _ => return None,
        }
        note(key, is_true, string_at, &mut stream, &mut models, &mut model_at);
        // A value ended at `at`: close containers or go on to the next member.
        loop {
            let Some(object) = open.innermost_is_object() else {
                let model = match model_at {
                    Some((start, end)) => Some(decode(&body[start..end])?),
                    None => None,
                };
                let model_span = if models == 1 { model_at } else { None };
                return Some((BodyFields { stream, model, model_span, escaped_key }, at));
            };
            at = skip_ws(body, at);
            let close = if object { b'}' } else { b']' };
            match body.get(at) {
                Some(&b',') => {
                    at = skip_ws(body, at + 1);
                    if object {
                        let (next, named) = member_key(body, at, open.depth() == 1, &mut escaped_key)?;
                        at = next;
                        pending = named;
                    }
                    break;
                }
                Some(&b) if b == close => {
                    open.pop();
                    at += 1;
                }
                _ => return None,
            }
        }
    }
}

/// Record the value of top-level key `key` (None: not one of the two): `"stream"` counts when
/// it is `true`, `"model"` when it is a string (its span); the last of each wins.
fn note(key: Option<Key>, is_true: bool, string_at: Option<(usize, usize)>, stream: &mut bool, models: &mut u32, model_at: &mut Option<(usize, usize)>) {
    match key {
        Some(Key::Stream) => *stream = is_true,
        Some(Key::Model) => {
            *models += 1;
            *model_at = string_at;
        }
        None => {}
    }
}

/// A string literal's text (its escapes decoded; it was checked already).
fn decode(literal: &[u8]) -> Option<Cow<'_, str>> {
    let inner = &literal[1..literal.len() - 1];
    if !inner.contains(&b'\\') {
        return std::str::from_utf8(inner).ok().map(Cow::Borrowed);
    }
    serde_json::from_slice::<String>(literal).ok().map(Cow::Owned)
}

/// An object member's key and colon at `at`: where its value starts (whitespace skipped), and
/// for a key of the top-level object (`top`), which of the two names it is.
fn member_key(data: &[u8], at: usize, top: bool, escaped_key: &mut bool) -> Option<(usize, Option<Key>)> {
    let (literal, value_at) = json_scan::member_key::<true>(data, at)?;
    let mut named = None;
    if top {
        let name = &literal[1..literal.len() - 1];
        if name.contains(&b'\\') {
            *escaped_key = true;
        } else if name == b"stream" {
            named = Some(Key::Stream);
        } else if name == b"model" {
            named = Some(Key::Model);
        }
    }
    Some((value_at, named))
}

#[cfg(test)]
mod tests {
    use super::read;
    use crate::json_scan::strategies;
    use crate::universal::body_fields_by_serde;
    use proptest::prelude::*;
    use std::borrow::Cow;

    /// What `read` says, as `body_fields` reports it (an escaped top-level key aside).
    fn fields(data: &[u8]) -> Option<(bool, Option<Cow<'_, str>>)> {
        read(data).map(|f| (f.stream, f.model))
    }

    /// The reference, where `read` compares keys itself (no escaped top-level key).
    fn reference(data: &[u8]) -> Option<(bool, Option<Cow<'_, str>>)> {
        body_fields_by_serde(data)
    }

    fn agrees(data: &[u8]) -> bool {
        match read(data) {
            Some(f) if f.escaped_key => reference(data).is_some(),
            _ => fields(data) == reference(data),
        }
    }

    #[test]
    fn the_fields_of_a_plain_body() {
        let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
        let f = read(body).unwrap();
        assert_eq!((f.stream, f.model.as_deref(), f.escaped_key), (true, Some("gpt-4o"), false));
        assert_eq!(f.model_span, Some((9, 17)));
        assert_eq!(&body[9..17], br#""gpt-4o""#);
    }

    #[test]
    fn only_top_level_keys_count_and_the_last_of_each_wins() {
        let f = read(br#"{"a":{"model":"inner","stream":true},"model":"a","stream":true,"stream":false,"model":"b"}"#).unwrap();
        assert_eq!((f.stream, f.model.as_deref(), f.model_span), (false, Some("b"), None));
        let f = read(br#"{"model":7}"#).unwrap();
        assert_eq!((f.model, f.model_span), (None, None));
        let f = read(br#"{"model":"a","model":7}"#).unwrap();
        assert_eq!((f.model, f.model_span), (None, None));
    }

    #[test]
    fn an_escaped_model_is_decoded_and_an_escaped_key_is_flagged() {
        let f = read(br#"{"model":"caf\u00e9\/x"}"#).unwrap();
        assert_eq!(f.model.as_deref(), Some("café/x"));
        assert!(read(br#"{"mod\u0065l":"m"}"#).unwrap().escaped_key);
    }

    #[test]
    fn what_a_decoder_refuses_gives_nothing() {
        for bad in [
            &b""[..], b" {}", b"[]", b"{", b"{\"model\":\"m\"", b"{\"t\":\"\\ud800\"}", b"{\"t\":\"\\udc00\"}", b"{\"n\":1e400}",
            b"{\"n\":01}", b"{\"a\":1,}", b"{} {}", b"{\"k\":\"\x01\"}", b"{\"k\":\"\xff\"}", b"{\"k\":tru}",
        ] {
            assert_eq!(read(bad), None, "{}", String::from_utf8_lossy(bad));
            assert_eq!(reference(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn nesting_has_no_depth_limit() {
        let deep = [&b"{\"a\":"[..], &vec![b'['; 5000], &vec![b']'; 5000], b"}"].concat();
        assert!(read(&deep).is_some() && agrees(&deep));
    }

    /// JSON-ish text: the grammar's pieces in any order, so that near-misses are common.
    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            &b"{"[..], b"}", b"[", b"]", b",", b":", b" ", b"\"", b"\"model\"", b"\"stream\"", b"\"m\"", b"\"v\\n\"", b"\\u00e9",
            b"\\", b"0", b"-1", b"1.5", b"2e9", b"1e999", b"e", b".", b"true", b"false", b"null", b"\x01", b"\xc3\xa9",
            b"\"\\ud83d\\ude00\"", b"\"\\ud800\"", b"01", b"\t", b"\"mod\\u0065l\"",
        ]);
        prop::collection::vec(pieces, 0..24).prop_map(|parts| [&b"{"[..], &parts.concat()].concat())
    }

    proptest! {
        #[test]
        fn agrees_with_serde_and_the_scan_on_jsonish_text(data in jsonish()) {
            prop_assert!(agrees(&data), "{:?}", String::from_utf8_lossy(&data));
        }

        #[test]
        fn agrees_on_any_bytes_after_a_brace(tail in prop::collection::vec(any::<u8>(), 0..40)) {
            let data = [&b"{"[..], &tail].concat();
            prop_assert!(agrees(&data));
        }

        #[test]
        fn agrees_on_long_strings_with_any_byte_anywhere(text in strategies::string_bytes_with_one_odd_byte()) {
            let document = [&b"{\"model\":\""[..], &text, b"\"}"].concat();
            prop_assert!(agrees(&document), "{:?}", document);
        }

        #[test]
        fn agrees_on_objects_serde_writes_and_their_prefixes(value in arb_object()) {
            let text = serde_json::to_vec(&value).unwrap();
            prop_assert!(read(&text).is_some());
            for cut in 0..text.len() {
                prop_assert!(agrees(&text[..cut]));
            }
        }

        #[test]
        fn a_lone_model_string_is_replaced_by_writing_over_its_span(value in arb_object(), model in ".{0,8}", new in ".{0,8}") {
            let mut value = value;
            value.as_object_mut().unwrap().insert("model".into(), serde_json::Value::String(model.clone()));
            let text = serde_json::to_vec(&value).unwrap();
            let f = read(&text).unwrap();
            let (start, end) = f.model_span.unwrap();
            prop_assert_eq!(f.model.as_deref(), Some(model.as_str()));
            let replaced = [&text[..start], &serde_json::to_vec(&new).unwrap(), &text[end..]].concat();
            // Read back as serde reads the original (its float digits need not round-trip).
            let mut expected = serde_json::from_slice::<serde_json::Value>(&text).unwrap();
            expected.as_object_mut().unwrap().insert("model".into(), serde_json::Value::String(new));
            prop_assert_eq!(serde_json::from_slice::<serde_json::Value>(&replaced).unwrap(), expected);
        }
    }

    fn arb_object() -> impl Strategy<Value = serde_json::Value> {
        prop::collection::btree_map(prop_oneof![".{0,4}", Just("stream".to_string())], strategies::json_value(&["model", "stream"]), 0..5)
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
    }
}
