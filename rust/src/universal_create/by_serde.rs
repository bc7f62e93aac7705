//! The serde reader `parse_create` replaced, kept as its reference: the tests and the
//! `universal_create` fuzz target hold the one-pass reader to what this reads (serde_json's
//! parser, then `universal::scan` over what it skipped unchecked).

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

use super::{FastCreate, FastStep};
use crate::json_visit::Text;
use crate::universal::{bail, cut_query, envelope, scan, Message};

/// `parse_create` by serde's visitors (the reader it replaced): what the one-pass reader is
/// held to.
pub fn parse_create_by_serde(payload: &[u8], max_depth: usize, max_event_id: usize) -> Option<FastCreate<'_>> {
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

