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
use std::borrow::Cow;
use std::fmt;

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
    let mut envelope = Vec::with_capacity(payload.len().min(4096));
    let mut at = 0;
    for cut in slots.iter().flatten() {
        envelope.extend_from_slice(&payload[at..cut.start]);
        envelope.extend_from_slice(b"null");
        at = cut.end;
    }
    envelope.extend_from_slice(&payload[at..]);
    Some((envelope, slots))
}

/// Slots per step of the message's `request`; None inside when there is no `request`.
type Slots<'a> = Option<Vec<Option<CutQuery<'a>>>>;

/// Failures that make the caller parse the message itself.
fn bail<E: de::Error>(why: &str) -> E {
    E::custom(why)
}

/// Where cut queries are measured from: the message's address, and its depth limit.
#[derive(Clone, Copy)]
struct Message {
    base: usize,
    max_depth: usize,
}

impl<'de> Visitor<'de> for Message {
    type Value = Slots<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut slots = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
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
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
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
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "query" {
                if raw.is_some() {
                    return Err(bail("repeated query"));
                }
                raw = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let Some(raw) = raw else { return Ok(None) };
        let text = raw.get();
        if !text.starts_with('{') {
            return Ok(None); // null, or not an object: the caller's to judge
        }
        // serde_json skips a raw value without a depth limit: the query's nesting is counted here.
        if self.depth + nesting(text.as_bytes()) > self.at.max_depth + 1 {
            return Err(bail("too deep"));
        }
        // The raw value borrows the message: its offset is the distance between the pointers.
        let start = (text.as_ptr() as usize).wrapping_sub(self.at.base);
        let (stream, model) = read_query(text.as_bytes()).ok_or_else(|| bail::<A::Error>("unreadable query"))?;
        Ok(Some(CutQuery { start, end: start + text.len(), stream, model }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// How many levels of objects and arrays valid JSON `json` nests (a scalar: 0). Any other
/// input gives some count, never a panic.
fn nesting(json: &[u8]) -> usize {
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < json.len() {
        match json[i] {
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                // Skip the string: to its closing quote, stepping over escapes.
                i += 1;
                while let Some(n) = json.get(i..).and_then(|rest| memchr::memchr2(b'"', b'\\', rest)) {
                    i += n;
                    if json[i] == b'"' {
                        break;
                    }
                    i += 2;
                }
            }
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// (`"stream"` is `true`, the `"model"` string) of a query object, last value of each key.
fn read_query(query: &[u8]) -> Option<(bool, Option<Cow<'_, str>>)> {
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
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "stream" => stream = matches!(map.next_value::<Scalar<'de>>()?, Scalar::True),
                "model" => {
                    model = match map.next_value::<Scalar<'de>>()? {
                        Scalar::Str(s) => Some(s),
                        _ => None,
                    }
                }
                _ => {
                    map.next_value::<Strict>()?;
                }
            }
        }
        Ok((stream, model))
    }
}

/// Any JSON value, kept only when it is `true` or a string.
enum Scalar<'a> {
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
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        StrictVisitor.visit_map(map).map(|_| Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        StrictVisitor.visit_seq(seq).map(|_| Scalar::Other)
    }
}

/// Any JSON value, read to the end as the caller's decoder would read it: every string
/// decoded (a lone surrogate escape is an error), every number parsed (one that overflows a
/// double is an error). serde_json skips an ignored value without those checks, and a query
/// must be refused exactly when decoding the whole message would refuse it.
struct Strict;

impl<'de> de::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        while map.next_entry::<Strict, Strict>()?.is_some() {}
        Ok(Strict)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }
}

#[cfg(test)]
mod tests {
    use super::{cut_queries, CutQuery};
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
    fn nesting_skips_brackets_inside_strings() {
        assert_eq!(super::nesting(br#"{"a":"[[[{\"\\","b":[{}]}"#), 3);
        assert_eq!(super::nesting(b"1"), 0);
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
    fn whitespace_around_a_query_stays_in_the_envelope() {
        let (envelope, slots) = cut(b"{\"request\" : { \"query\" :\n {\"x\" : 1} \n}}").unwrap();
        assert_eq!(envelope, "{\"request\" : { \"query\" :\n null \n}}");
        assert_eq!(slots[0].as_ref().unwrap().0, "{\"x\" : 1}");
    }

    proptest::proptest! {
        #[test]
        fn nesting_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            super::nesting(&data);
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
