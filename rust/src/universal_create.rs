//! The usual `universal.create` message read in one pass: its eventId and, per step, the
//! provider, endpoint, flat string headers and the `query` cut out as raw bytes (as
//! `universal::cut_queries` cuts it). The Python parser decodes and checks the same message
//! field by field; this reads only messages it would accept unchanged and answers None for
//! anything else (another type, a missing or mistyped field, a repeated key, a step
//! `authorization` or `config`, nested header values, an eventId the gateway refuses, an
//! envelope a decoder would refuse or that may nest too deep), so the Python parser still
//! reports every mistake in its own words. Never panics.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

use crate::json_visit::Text;
use crate::universal::{bail, cut_query, envelope, scan, CutQuery, Message};

/// One step of a `FastCreate`.
#[derive(Debug, PartialEq, Eq)]
pub struct FastStep<'a> {
    pub provider: Cow<'a, str>,
    /// Without its leading slashes (the Python parser's `endpoint.lstrip("/")`).
    pub endpoint: Cow<'a, str>,
    /// In the order sent; names as sent.
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub query: CutQuery<'a>,
}

/// A `universal.create` as the gateway runs it.
#[derive(Debug, PartialEq, Eq)]
pub struct FastCreate<'a> {
    pub event_id: Option<Cow<'a, str>>,
    pub steps: Vec<FastStep<'a>>,
}

/// See the module docs. `max_depth` is the message's nesting limit (the message is level 1),
/// `max_event_id` the longest eventId in characters.
pub fn parse_create(payload: &[u8], max_depth: usize, max_event_id: usize) -> Option<FastCreate<'_>> {
    let at = Message { base: payload.as_ptr() as usize, max_depth };
    let mut de = serde_json::Deserializer::from_slice(payload);
    let top = de.deserialize_map(TopVisitor { at }).ok()?;
    de.end().ok()?;
    if top.kind.as_deref() != Some("universal.create") {
        return None;
    }
    let request = top.request?;
    // The envelope (the message without its queries) must be what a decoder accepts (serde
    // skips ignored values unchecked: lone surrogates, overflowing numbers) and plainly within
    // the depth limit: more brackets than the limit leaves the exact check to Python.
    let envelope = envelope(payload, request.steps.iter().map(|step| &step.query))?;
    scan(&envelope)?;
    if envelope.iter().filter(|&&b| b == b'{' || b == b'[').count() > max_depth {
        return None;
    }
    // eventId: the request object's, else the first step's of an array, else the message's;
    // only the one chosen is judged (the Python parser's order).
    let event_id = match request.event_id {
        Some(chosen) => chosen,
        None => top.event_id.flatten(),
    };
    if let Some(id) = &event_id {
        if id.is_empty() || id.chars().count() > max_event_id {
            return None;
        }
    }
    Some(FastCreate { event_id, steps: request.steps })
}

/// The message's own fields.
struct Top<'de> {
    kind: Option<Cow<'de, str>>,
    /// The message's `eventId`: None absent, Some(None) null.
    event_id: Option<Option<Cow<'de, str>>>,
    request: Option<Request<'de>>,
}

struct TopVisitor {
    at: Message,
}

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a universal.create message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut top = Top { kind: None, event_id: None, request: None };
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match &*key {
                "type" if top.kind.is_none() => top.kind = Some(map.next_value::<Text<'de>>()?.0),
                "eventId" if top.event_id.is_none() => top.event_id = Some(map.next_value::<Option<Text<'de>>>()?.map(|t| t.0)),
                "request" if top.request.is_none() => top.request = Some(map.next_value_seed(RequestSeed { at: self.at })?),
                "type" | "eventId" | "request" => return Err(bail("repeated key")),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(top)
    }
}

/// `request`: one step object or a non-empty array of them.
struct Request<'de> {
    steps: Vec<FastStep<'de>>,
    /// The eventId the request names (the object's, or the first array element's): None when
    /// it names none, Some(None) for null.
    event_id: Option<Option<Cow<'de, str>>>,
}

struct RequestSeed {
    at: Message,
}

impl<'de> DeserializeSeed<'de> for RequestSeed {
    type Value = Request<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed {
    type Value = Request<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a step object or an array of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        // message (1) > request (2) > query (3)
        let (step, event_id) = StepSeed { at: self.at, depth: 3 }.visit_map(map)?;
        Ok(Request { steps: vec![step], event_id })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut steps = Vec::new();
        let mut event_id = None;
        // message (1) > request (2) > step (3) > query (4)
        while let Some((step, id)) = seq.next_element_seed(StepSeed { at: self.at, depth: 4 })? {
            if steps.is_empty() {
                event_id = id;
            }
            steps.push(step);
        }
        if steps.is_empty() {
            return Err(bail("no steps"));
        }
        Ok(Request { steps, event_id })
    }
}

/// One step object, its query at level `depth`.
struct StepSeed {
    at: Message,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for StepSeed {
    type Value = (FastStep<'de>, Option<Option<Cow<'de, str>>>);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StepSeed {
    type Value = (FastStep<'de>, Option<Option<Cow<'de, str>>>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a step object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut provider: Option<Cow<'de, str>> = None;
        let mut endpoint: Option<Cow<'de, str>> = None;
        let mut headers: Option<Vec<(Cow<'de, str>, Cow<'de, str>)>> = None;
        let mut query: Option<&'de RawValue> = None;
        let mut event_id: Option<Option<Cow<'de, str>>> = None;
        let (mut authorization, mut config) = (false, false);
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match &*key {
                "provider" if provider.is_none() => provider = Some(map.next_value::<Text<'de>>()?.0),
                "endpoint" if endpoint.is_none() => endpoint = Some(map.next_value::<Text<'de>>()?.0),
                "headers" if headers.is_none() => headers = Some(map.next_value::<Option<FlatHeaders>>()?.map_or_else(Vec::new, |h| h.0)),
                "query" if query.is_none() => query = Some(map.next_value()?),
                "eventId" if event_id.is_none() => event_id = Some(map.next_value::<Option<Text<'de>>>()?.map(|t| t.0)),
                // A step's own `authorization` or `config` is for the Python parser to apply.
                "authorization" if !authorization => {
                    authorization = true;
                    if map.next_value::<Option<IgnoredAny>>()?.is_some() {
                        return Err(bail("step authorization"));
                    }
                }
                "config" if !config => {
                    config = true;
                    if map.next_value::<Option<IgnoredAny>>()?.is_some() {
                        return Err(bail("step config"));
                    }
                }
                "provider" | "endpoint" | "headers" | "query" | "eventId" | "authorization" | "config" => {
                    return Err(bail("repeated key"))
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let provider = provider.filter(|p| !p.is_empty()).ok_or_else(|| bail::<A::Error>("no provider"))?;
        let endpoint = endpoint.ok_or_else(|| bail::<A::Error>("no endpoint"))?;
        let query = cut_query(query.ok_or_else(|| bail::<A::Error>("no query"))?, self.at, self.depth)?
            .ok_or_else(|| bail::<A::Error>("query not an object"))?;
        let endpoint = match endpoint {
            Cow::Borrowed(e) => Cow::Borrowed(e.trim_start_matches('/')),
            Cow::Owned(e) => Cow::Owned(e.trim_start_matches('/').to_owned()),
        };
        Ok((FastStep { provider, endpoint, headers: headers.unwrap_or_default(), query }, event_id))
    }
}

/// A `headers` object whose values are all strings, names unrepeated, in the order sent.
struct FlatHeaders<'de>(Vec<(Cow<'de, str>, Cow<'de, str>)>);

impl<'de> de::Deserialize<'de> for FlatHeaders<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FlatHeadersVisitor)
    }
}

struct FlatHeadersVisitor;

impl<'de> Visitor<'de> for FlatHeadersVisitor {
    type Value = FlatHeaders<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut headers: Vec<(Cow<'de, str>, Cow<'de, str>)> = Vec::new();
        while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
            if headers.iter().any(|(n, _)| *n == name) {
                return Err(bail("repeated header"));
            }
            let Text(value) = map.next_value()?;
            headers.push((name, value));
        }
        Ok(FlatHeaders(headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(msg: &str) -> Option<FastCreate<'_>> {
        parse_create(msg.as_bytes(), 128, 256)
    }

    #[test]
    fn reads_the_usual_message() {
        let msg = r#"{"type":"universal.create","request":{"eventId":"e1","provider":"openai","endpoint":"/chat/completions","headers":{"X-A":"1"},"query":{"model":"m","stream":true}}}"#;
        let c = parse(msg).unwrap();
        assert_eq!(c.event_id.as_deref(), Some("e1"));
        let s = &c.steps[0];
        assert_eq!((&*s.provider, &*s.endpoint), ("openai", "chat/completions"));
        assert_eq!(s.headers, vec![(Cow::Borrowed("X-A"), Cow::Borrowed("1"))]);
        assert_eq!(&msg[s.query.start..s.query.end], r#"{"model":"m","stream":true}"#);
        assert!(s.query.stream && s.query.model.as_deref() == Some("m"));
    }

    #[test]
    fn the_request_event_id_wins_and_an_array_takes_its_first_steps() {
        let msg = r#"{"type":"universal.create","eventId":"top","request":[{"provider":"a","endpoint":"x","query":{}},{"eventId":"second","provider":"b","endpoint":"y","query":{}}]}"#;
        let c = parse(msg).unwrap();
        assert_eq!(c.event_id.as_deref(), Some("top")); // the first step names none
        assert_eq!(c.steps.len(), 2);
        let msg = r#"{"type":"universal.create","eventId":"top","request":{"eventId":null,"provider":"a","endpoint":"x","query":{}}}"#;
        assert_eq!(parse(msg).unwrap().event_id, None);
    }

    #[test]
    fn leaves_everything_unusual_to_python() {
        for msg in [
            r#"{"type":"universal.cancel","eventId":"e"}"#,
            r#"{"type":"universal.create","request":[]}"#,
            r#"{"type":"universal.create","request":{"provider":"","endpoint":"x","query":{}}}"#,
            r#"{"type":"universal.create","request":{"provider":"a","query":{}}}"#,
            r#"{"type":"universal.create","request":{"provider":"a","endpoint":"x"}}"#,
            r#"{"type":"universal.create","request":{"provider":"a","endpoint":"x","query":[]}}"#,
            r#"{"type":"universal.create","request":{"provider":"a","provider":"b","endpoint":"x","query":{}}}"#,
            r#"{"type":"universal.create","request":{"provider":"a","endpoint":"x","query":{},"headers":{"a":1}}}"#,
            r#"{"type":"universal.create","request":{"provider":"a","endpoint":"x","query":{},"headers":{"a":"1","a":"2"}}}"#,
            r#"{"type":"universal.create","request":{"provider":"a","endpoint":"x","query":{},"authorization":"Bearer k"}}"#,
            r#"{"type":"universal.create","request":{"provider":"a","endpoint":"x","query":{},"config":{"maxAttempts":2}}}"#,
            r#"{"type":"universal.create","request":{"eventId":"","provider":"a","endpoint":"x","query":{}}}"#,
            r#"{"type":"universal.create","request":{"eventId":7,"provider":"a","endpoint":"x","query":{}}}"#,
            r#"{"type":"universal.create","extra":"\ud800","request":{"provider":"a","endpoint":"x","query":{}}}"#,
            r#"{"type":"universal.create","extra":1e999,"request":{"provider":"a","endpoint":"x","query":{}}}"#,
            r#"{"type":"universal.create","type":"universal.create","request":{"provider":"a","endpoint":"x","query":{}}}"#,
            r#"["universal.create"]"#,
            "",
            "{",
        ] {
            assert_eq!(parse(msg), None, "{msg}");
        }
        let long = format!(r#"{{"type":"universal.create","eventId":"{}","request":{{"provider":"a","endpoint":"x","query":{{}}}}}}"#, "e".repeat(257));
        assert_eq!(parse(&long), None);
        let deep = format!(r#"{{"type":"universal.create","x":{}{},"request":{{"provider":"a","endpoint":"x","query":{{}}}}}}"#, "[".repeat(130), "]".repeat(130));
        assert_eq!(parse(&deep), None);
    }

    #[test]
    fn strings_without_escapes_are_borrowed_and_escaped_ones_decoded() {
        let msg = r#"{"type":"universal.create","request":{"eventId":"e\u0031","provider":"openai","endpoint":"x","headers":{"a":"1","b\u0032":"\u0033"},"query":{}}}"#;
        let c = parse(msg).unwrap();
        assert!(matches!(c.steps[0].provider, Cow::Borrowed("openai")));
        assert_eq!(c.event_id.as_deref(), Some("e1"));
        assert!(matches!(c.steps[0].headers[0], (Cow::Borrowed("a"), Cow::Borrowed("1"))));
        assert_eq!(c.steps[0].headers[1], (Cow::Owned("b2".to_owned()), Cow::Owned("3".to_owned())));
    }

    #[test]
    fn a_null_authorization_or_config_and_unknown_keys_are_passed_over() {
        let msg = r#"{"type":"universal.create","v":[1,{"a":2}],"request":{"provider":"a","endpoint":"x","authorization":null,"config":null,"headers":null,"other":{"b":[3]},"query":{}}}"#;
        let c = parse(msg).unwrap();
        assert!(c.steps[0].headers.is_empty() && c.event_id.is_none());
    }
}
