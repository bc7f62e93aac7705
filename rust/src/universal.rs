//! A Universal API client message with each step's `query` (the provider's request body) cut
//! out as raw bytes, so the body is forwarded as the client wrote it and never becomes Python
//! objects (it was decoded and re-encoded per request before).
//!
//! `cut_queries` parses the whole message once (validating every byte of JSON, nesting bounded
//! bounded: a cut query may not take the message past `max_depth` levels) and returns the message with each cut query
//! replaced by `null` (the envelope, small, which the caller decodes and validates as before)
//! plus one slot per step: the query's bytes and what the gateway reads from it (`stream` is
//! `true`, the `model` string; a repeated key counts its last value, as orjson does). Only a
//! `query` that is a JSON object is cut. Anything unusual (not an object, a repeated
//! `request` or `query` key, invalid JSON, too deep) gives None: the caller then parses the
//! message as it is, and reports what is wrong with it.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use memchr::memmem;
use std::borrow::Cow;
use std::sync::LazyLock;
use std::fmt;
use crate::json_visit::{scalars_are, Text};

/// One step's cut `query`: its byte range in the message, `"stream": true`, its `"model"` string.
#[derive(Debug, PartialEq, Eq)]
pub struct CutQuery<'a> {
    pub start: usize,
    pub end: usize,
    pub stream: bool,
    pub model: Option<Cow<'a, str>>,
}

/// A message's envelope (queries replaced by `null`) and one slot per step (None: nothing cut
/// for that step). None when nothing was cut or the message is not plain enough (see above).
/// The message itself is level 1 of `max_depth`; the envelope's own depth is the caller's to check.
pub fn cut_queries(payload: &[u8], max_depth: usize) -> Option<(Vec<u8>, Vec<Option<CutQuery<'_>>>)> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let slots = de.deserialize_map(Message { base: payload.as_ptr() as usize, max_depth }).ok()?;
    de.end().ok()?;
    let slots = slots?;
    if slots.iter().all(Option::is_none) {
        return None;
    }
    let envelope = envelope(payload, slots.iter().flatten())?;
    Some((envelope, slots))
}

/// `payload` with each of `cuts` (in order, inside it) replaced by `null`; None if a cut is not.
pub(crate) fn envelope<'a>(payload: &[u8], cuts: impl Iterator<Item = &'a CutQuery<'a>>) -> Option<Vec<u8>> {
    let mut envelope = Vec::with_capacity(payload.len().min(4096));
    let mut at = 0;
    for cut in cuts {
        envelope.extend_from_slice(payload.get(at..cut.start)?);
        envelope.extend_from_slice(b"null");
        at = cut.end;
    }
    envelope.extend_from_slice(payload.get(at..)?);
    Some(envelope)
}

/// (`"stream"` is `true`, the `"model"` string) of a whole request body that is one JSON
/// object a decoder would accept; None for anything else (not JSON, not an object, a lone
/// surrogate, an overflowing number). The HTTP provider routes read a body's options so, in
/// one pass (json_fields.rs); a top-level key spelled with escapes sends it to serde.
pub fn body_fields(body: &[u8]) -> Option<(bool, Option<Cow<'_, str>>)> {
    let found = crate::json_fields::read(body)?;
    if found.escaped_key {
        return read_query(body);
    }
    Some((found.stream, found.model))
}

/// `body_fields` by serde's ignoring parser and `scan`: the reference the one-pass reader is
/// held to (tests, the `body_fields` fuzz target).
#[doc(hidden)]
pub fn body_fields_by_serde(body: &[u8]) -> Option<(bool, Option<Cow<'_, str>>)> {
    if body.first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice::<IgnoredAny>(body).ok()?;
    let found = scan(body)?;
    if found.escaped_key {
        return read_query(body);
    }
    Some((found.stream, found.model))
}

/// A pass-through request's (stream asked, model), read as `aigw.api.http_routes`'s
/// `_stream_and_model` reads them: the body's top-level `stream` / `model` when it is a JSON
/// object that mentions either and the Content-Type says JSON (`content_type` is "json" when
/// the request has none); a stream also when the endpoint or query asks for one (Gemini's
/// `:streamGenerateContent` and `alt=sse`, `-stream` / `/stream` paths); the model else the one
/// the endpoint names (`model_in_endpoint`).
pub fn stream_and_model<'a>(endpoint: &'a str, query: &str, content_type: &str, body: &'a [u8]) -> (bool, Option<Cow<'a, str>>) {
    let (mut asked, mut model) = (false, None);
    // Searchers built once: `memmem::find` builds one per call (~500 instructions each).
    static STREAM_KEY: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"stream\""));
    static MODEL_KEY: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"model\""));
    let mentions = |key: &memmem::Finder<'static>| key.find(body).is_some();
    if body.first() == Some(&b'{') && (mentions(&STREAM_KEY) || mentions(&MODEL_KEY)) && content_type.contains("json") {
        if let Some((stream, named)) = body_fields(body) {
            (asked, model) = (stream, named);
        }
    }
    let stream = asked
        || endpoint.contains(":streamGenerateContent")
        || query.contains("alt=sse")
        || endpoint.ends_with("-stream")
        || endpoint.ends_with("/stream");
    (stream, model.or_else(|| model_in_endpoint(endpoint).map(Cow::Borrowed)))
}

/// The model an endpoint names: what follows the first `models/` that is followed by at least
/// one character other than `/`, `:` and `?` (the regex `models/([^/:?]+)`), else the endpoint
/// itself when it is a Workers AI model id (`@cf/...`, `@hf/...`).
pub fn model_in_endpoint(endpoint: &str) -> Option<&str> {
    let mut rest = endpoint;
    while let Some(at) = rest.find("models/") {
        let after = &rest[at + "models/".len()..];
        let end = after.find(['/', ':', '?']).unwrap_or(after.len());
        if end > 0 {
            return Some(&after[..end]);
        }
        rest = &rest[at + 1..];
    }
    (endpoint.starts_with("@cf/") || endpoint.starts_with("@hf/")).then_some(endpoint)
}

/// Slots per step of the message's `request`; None inside when there is no `request`.
type Slots<'a> = Option<Vec<Option<CutQuery<'a>>>>;

/// Failures that make the caller parse the message itself.
pub(crate) fn bail<E: de::Error>(why: &str) -> E {
    E::custom(why)
}

/// Where cut queries are measured from: the message's address, and its depth limit.
#[derive(Clone, Copy)]
pub(crate) struct Message {
    pub(crate) base: usize,
    pub(crate) max_depth: usize,
}

impl<'de> Visitor<'de> for Message {
    type Value = Slots<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut slots = None;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            if key == "request" {
                if slots.is_some() {
                    return Err(bail("repeated request"));
                }
                slots = Some(map.next_value_seed(Request { at: self })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(slots)
    }
}

/// `request`: one step object, or an array of them (a slot per element, objects or not).
struct Request {
    at: Message,
}

impl<'de> DeserializeSeed<'de> for Request {
    type Value = Vec<Option<CutQuery<'de>>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Request {
    type Value = Vec<Option<CutQuery<'de>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a step object or an array of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        // message (1) > request (2) > query (3)
        Ok(vec![StepQuery { at: self.at, depth: 3 }.visit_map(map)?])
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut slots = Vec::new();
        // message (1) > request (2) > step (3) > query (4)
        while let Some(slot) = seq.next_element_seed(StepQuery { at: self.at, depth: 4 })? {
            slots.push(slot);
        }
        Ok(slots)
    }

    // Any other `request` is the caller's to refuse: no slots.
    scalars_are!(Vec::new());
}

/// One element of `request`: the cut `query` of a step object, None for anything else.
struct StepQuery {
    at: Message,
    depth: usize, // the query's level in the message
}

impl<'de> DeserializeSeed<'de> for StepQuery {
    type Value = Option<CutQuery<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StepQuery {
    type Value = Option<CutQuery<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a step object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw: Option<&'de RawValue> = None;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            if key == "query" {
                if raw.is_some() {
                    return Err(bail("repeated query"));
                }
                raw = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        match raw {
            Some(raw) => cut_query(raw, self.at, self.depth),
            None => Ok(None),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    scalars_are!(None);
}

/// A step's `query` value cut out of the message at `at`, found at level `depth`: None when it
/// is not an object (null, or anything the caller is to judge); an error when it holds what a
/// decoder would refuse or takes the message past its depth limit.
pub(crate) fn cut_query<'de, E: de::Error>(raw: &'de RawValue, at: Message, depth: usize) -> Result<Option<CutQuery<'de>>, E> {
    let text = raw.get();
    if !text.starts_with('{') {
        return Ok(None);
    }
    // serde_json skips a raw value without a depth limit or decoding it: `scan` checks both.
    let found = scan(text.as_bytes()).ok_or_else(|| bail::<E>("not decodable"))?;
    if depth + found.depth > at.max_depth + 1 {
        return Err(bail("too deep"));
    }
    let (stream, model) = if found.escaped_key {
        // A key spelled with escapes might be "stream" or "model": decode the keys.
        read_query(text.as_bytes()).ok_or_else(|| bail::<E>("unreadable query"))?
    } else {
        (found.stream, found.model)
    };
    // The raw value borrows the message: its offset is the distance between the pointers.
    let start = (text.as_ptr() as usize).wrapping_sub(at.base);
    Ok(Some(CutQuery { start, end: start + text.len(), stream, model }))
}

/// What one pass over a query object finds.
#[derive(Default)]
pub(crate) struct Scan<'a> {
    depth: usize,                // how many levels of objects and arrays it nests
    stream: bool,                // its last top-level "stream" is true
    model: Option<Cow<'a, str>>, // its last top-level "model", when a string
    escaped_key: bool,           // a top-level key is spelled with escapes (not compared here)
}

/// One pass over a query object (valid JSON by serde_json's skip): its nesting and top-level
/// `stream` / `model`, or None when it holds what a decoder of the whole message would refuse
/// although serde_json skips it unchecked: a lone surrogate escape, a number that overflows a
/// double, invalid UTF-8. Any input gives an answer, never a panic.
pub(crate) fn scan(json: &[u8]) -> Option<Scan<'_>> {
    simdutf8::basic::from_utf8(json).ok()?;
    let mut found = Scan::default();
    let (mut depth, mut i, mut expect_key) = (0usize, 0usize, false);
    while i < json.len() {
        match json[i] {
            b'{' | b'[' => {
                depth += 1;
                found.depth = found.depth.max(depth);
                expect_key = depth == 1;
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => expect_key = depth == 1,
            b'"' => {
                let end = skip_string(json, i + 1)?;
                if expect_key {
                    expect_key = false;
                    let key = &json[i + 1..end];
                    if key.contains(&b'\\') {
                        found.escaped_key = true;
                    } else if key == b"stream" || key == b"model" {
                        let value = value_after_colon(&json[end + 1..])?;
                        if key == b"stream" {
                            found.stream = matches!(value, Scalar::True);
                        } else {
                            found.model = match value {
                                Scalar::Str(s) => Some(s),
                                _ => None,
                            };
                        }
                    }
                }
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let end = json[i..].iter().position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')).map_or(json.len(), |n| i + n);
                let number = &json[i..end];
                // Without an exponent only a number of more than 308 digits overflows a double.
                if number.len() > 308 || number.iter().any(|b| matches!(b, b'e' | b'E')) {
                    let value: f64 = std::str::from_utf8(number).ok()?.parse().ok()?;
                    if !value.is_finite() {
                        return None;
                    }
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Some(found)
}

/// The value after a key's closing quote (`rest` starts just after it: whitespace, `:`,
/// whitespace, the value), read as a Scalar.
fn value_after_colon(rest: &[u8]) -> Option<Scalar<'_>> {
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[colon] != b':' {
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(&rest[colon + 1..]);
    de::Deserialize::deserialize(&mut de).ok()
}

/// Whether `literal` is one JSON string literal (quotes included) without a lone surrogate
/// escape (serde_json hands back a raw string without decoding it).
pub(crate) fn string_literal_ok(literal: &[u8]) -> bool {
    literal.len() >= 2 && literal[0] == b'"' && skip_string(literal, 1) == Some(literal.len() - 1)
}

/// The index of the closing quote of the string whose first byte is at `i`; None for a lone
/// surrogate escape (or a string that does not end).
fn skip_string(json: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i += memchr::memchr2(b'"', b'\\', json.get(i..)?)?;
        if json[i] == b'"' {
            return Some(i);
        }
        if json.get(i + 1) == Some(&b'u') {
            i = crate::json_scan::unicode_escape(json, i)?;
        } else {
            i += 2;
        }
    }
}

/// (`"stream"` is `true`, the `"model"` string) of a query object, last value of each key.
pub(crate) fn read_query(query: &[u8]) -> Option<(bool, Option<Cow<'_, str>>)> {
    let mut de = serde_json::Deserializer::from_slice(query);
    let found = de.deserialize_map(QueryFields).ok()?;
    de.end().ok()?;
    Some(found)
}

struct QueryFields;

impl<'de> Visitor<'de> for QueryFields {
    type Value = (bool, Option<Cow<'de, str>>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut stream, mut model) = (false, None);
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match &*key {
                "stream" => stream = matches!(map.next_value::<Scalar<'de>>()?, Scalar::True),
                "model" => {
                    model = match map.next_value::<Scalar<'de>>()? {
                        Scalar::Str(s) => Some(s),
                        _ => None,
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((stream, model))
    }
}

/// Any JSON value, kept only when it is `true` or a string.
pub(crate) enum Scalar<'a> {
    True,
    Str(Cow<'a, str>),
    Other,
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(if v { Scalar::True } else { Scalar::Other })
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}



#[cfg(test)]
mod tests {
    use super::{cut_queries, model_in_endpoint, stream_and_model, CutQuery};
    use std::borrow::Cow;

    fn cut(payload: &[u8]) -> Option<(String, Vec<Option<(String, bool, Option<String>)>>)> {
        let (envelope, slots) = cut_queries(payload, 128)?;
        let slots = slots
            .into_iter()
            .map(|s| s.map(|c: CutQuery| (String::from_utf8(payload[c.start..c.end].to_vec()).unwrap(), c.stream, c.model.map(Cow::into_owned))))
            .collect();
        Some((String::from_utf8(envelope).unwrap(), slots))
    }

    #[test]
    fn one_step_query_is_cut_verbatim() {
        let msg = br#"{"type":"universal.create","request":{"eventId":"e1","provider":"openai","endpoint":"chat/completions","query":{ "model" : "gpt-4o", "n": 1.0, "messages":[{"role":"user","content":"hi"}]}}}"#;
        let (envelope, slots) = cut(msg).unwrap();
        assert_eq!(envelope, r#"{"type":"universal.create","request":{"eventId":"e1","provider":"openai","endpoint":"chat/completions","query":null}}"#);
        assert_eq!(slots, vec![Some((r#"{ "model" : "gpt-4o", "n": 1.0, "messages":[{"role":"user","content":"hi"}]}"#.to_string(), false, Some("gpt-4o".to_string())))]);
    }

    #[test]
    fn each_step_of_an_array_gets_its_slot() {
        let msg = br#"{"type":"universal.create","request":[{"provider":"a","query":{"stream":true}},7,{"provider":"b"},{"query":{"model":"m\u0031","stream":false}}]}"#;
        let (envelope, slots) = cut(msg).unwrap();
        assert_eq!(envelope, r#"{"type":"universal.create","request":[{"provider":"a","query":null},7,{"provider":"b"},{"query":null}]}"#);
        assert_eq!(
            slots,
            vec![Some((r#"{"stream":true}"#.into(), true, None)), None, None, Some((r#"{"model":"m\u0031","stream":false}"#.into(), false, Some("m1".into())))]
        );
    }

    #[test]
    fn only_top_level_stream_and_model_count() {
        let (_, slots) = cut(br#"{"request":{"query":{"messages":[{"model":"inner","stream":true}],"x":{"stream":true},"model" : "top"}}}"#).unwrap();
        assert_eq!(slots[0].as_ref().map(|s| (s.1, s.2.clone())), Some((false, Some("top".into()))));
        let (_, slots) = cut(br#"{"request":{"query":{"note":"\"stream\": true, \"model\": 1","stream":true}}}"#).unwrap();
        assert_eq!(slots[0].as_ref().map(|s| (s.1, s.2.clone())), Some((true, None)));
    }

    #[test]
    fn a_key_spelled_with_escapes_is_decoded() {
        let (_, slots) = cut(br#"{"request":{"query":{"str\u0065am":true,"\u006dodel":"m"}}}"#).unwrap();
        assert_eq!(slots[0].as_ref().map(|s| (s.1, s.2.clone())), Some((true, Some("m".into()))));
    }

    #[test]
    fn the_last_of_a_repeated_key_in_a_query_counts() {
        let (_, slots) = cut(br#"{"request":{"query":{"stream":true,"model":"a","stream":"yes","model":2}}}"#).unwrap();
        assert_eq!(slots[0].as_ref().map(|s| (s.1, s.2.clone())), Some((false, None)));
    }

    #[test]
    fn nothing_unusual_is_cut() {
        assert_eq!(cut(br#"{"type":"universal.cancel","eventId":"e"}"#), None); // no request
        assert_eq!(cut(br#"{"request":{"query":null}}"#), None); // not an object
        assert_eq!(cut(br#"{"request":{"query":[1]}}"#), None);
        assert_eq!(cut(br#"{"request":{"query":{}},"request":{"query":{}}}"#), None); // repeated request
        assert_eq!(cut(br#"{"request":{"query":{},"query":{}}}"#), None); // repeated query
        assert_eq!(cut(br#"{"request":{"query":{"a":}}}"#), None); // invalid JSON
        assert_eq!(cut(br#"[{"request":{"query":{}}}]"#), None); // not an object
        assert_eq!(cut(br#"{"request":{"query":{}}} x"#), None); // trailing bytes
    }

    fn nested(levels_in_query: usize, array: bool) -> Vec<u8> {
        let inner = ["[".repeat(levels_in_query - 1), "]".repeat(levels_in_query - 1)];
        let query = format!("{{\"a\":{}{}}}", inner[0], inner[1]);
        let request = if array { format!("[{{\"query\":{query}}}]") } else { format!("{{\"query\":{query}}}") };
        format!("{{\"request\":{request}}}").into_bytes()
    }

    #[test]
    fn a_query_may_take_the_message_to_the_depth_limit_and_no_further() {
        // message > request > query: the query may nest 126 levels in a 128-level message.
        assert!(cut(&nested(126, false)).is_some());
        assert_eq!(cut(&nested(127, false)), None);
        assert!(cut(&nested(125, true)).is_some());
        assert_eq!(cut(&nested(126, true)), None);
        assert_eq!(cut(&nested(5000, false)), None);
    }

    #[test]
    fn a_model_in_the_endpoint_is_the_first_nonempty_one_after_models() {
        assert_eq!(model_in_endpoint("v1beta/models/gemini-2.0-flash:generateContent"), Some("gemini-2.0-flash"));
        assert_eq!(model_in_endpoint("models//models/x?y"), Some("x"));
        assert_eq!(model_in_endpoint("models/"), None);
        assert_eq!(model_in_endpoint("@cf/meta/llama"), Some("@cf/meta/llama"));
        assert_eq!(model_in_endpoint("chat/completions"), None);
    }

    #[test]
    fn stream_and_model_read_the_body_only_when_it_is_json_that_mentions_them() {
        let body = br#"{"model":"m","stream":true}"#;
        assert_eq!(stream_and_model("chat/completions", "", "application/json", body), (true, Some(Cow::Borrowed("m"))));
        assert_eq!(stream_and_model("chat/completions", "", "text/plain", body), (false, None));
        assert_eq!(stream_and_model("models/g:streamGenerateContent", "", "json", b"{}"), (true, Some(Cow::Borrowed("g"))));
        assert_eq!(stream_and_model("x", "alt=sse", "json", b"[]"), (true, None));
    }

    #[test]
    fn scan_skips_brackets_inside_strings() {
        assert_eq!(super::scan(br#"{"a":"[[[{\"\\","b":[{}]}"#).map(|s| s.depth), Some(3));
        assert_eq!(super::scan(b"1").map(|s| s.depth), Some(0));
    }

    #[test]
    fn scan_refuses_what_a_decoder_refuses() {
        for bad in [&br#"["\ud800"]"#[..], br#"["\ud800\u0041"]"#, br#"["\udfff"]"#, br#"[1e309]"#, br#"[-1E+400]"#, b"[\"\xff\"]", br#"["\u12"]"#] {
            assert!(super::scan(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
        for good in [&br#"["\ud83d\ude00", "\u00e9\\u"]"#[..], br#"[1e308, -0.5e-400, 12345678901234567890123]"#, "[\"é\"]".as_bytes()] {
            assert!(super::scan(good).is_some(), "{}", String::from_utf8_lossy(good));
        }
    }

    #[test]
    fn a_query_the_whole_message_decoder_would_refuse_is_not_cut() {
        // A double that overflows, lone surrogates: orjson refuses them, so must this.
        for query in [r#"{"n":1e400}"#, r#"{"t":"\ud800"}"#, r#"{"t":["\udc00"]}"#, r#"{"a":{"\ud800":1}}"#] {
            assert_eq!(cut(format!(r#"{{"request":{{"query":{query}}}}}"#).as_bytes()), None, "{query}");
        }
        assert!(cut(br#"{"request":{"query":{"n":99999999999999999999999,"m":1e-400,"t":"\ud800\udc00"}}}"#).is_some());
    }

    #[test]
    fn body_fields_of_a_json_object_only() {
        use super::body_fields;
        assert_eq!(body_fields(br#"{"model":"m","stream":true,"messages":[]}"#), Some((true, Some(Cow::Borrowed("m")))));
        assert_eq!(body_fields(br#"{"x":1}"#), Some((false, None)));
        assert_eq!(body_fields(br#"{"model":"m""#), None);
        assert_eq!(body_fields(br#"{"model":"m","t":"\ud800"}"#), None);
        assert_eq!(body_fields(br#"[{"model":"m"}]"#), None);
        assert_eq!(body_fields(b""), None);
    }

    #[test]
    fn whitespace_around_a_query_stays_in_the_envelope() {
        let (envelope, slots) = cut(b"{\"request\" : { \"query\" :\n {\"x\" : 1} \n}}").unwrap();
        assert_eq!(envelope, "{\"request\" : { \"query\" :\n null \n}}");
        assert_eq!(slots[0].as_ref().unwrap().0, "{\"x\" : 1}");
    }

    proptest::proptest! {
        #[test]
        fn scan_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            super::scan(&data);
        }

        #[test]
        fn never_panics_and_cuts_within_bounds(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Some((_, slots)) = cut_queries(&data, 128) {
                for c in slots.into_iter().flatten() {
                    proptest::prop_assert!(c.start < c.end && c.end <= data.len());
                }
            }
        }
    }
}
