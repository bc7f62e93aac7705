//! The usual `universal.create` message read in one pass: its eventId and, per step, the
//! provider, endpoint, flat string headers and the `query` cut out as raw bytes (as
//! `universal::cut_queries` cuts it). The Python parser decodes and checks the same message
//! field by field; this reads only messages it would accept unchanged and answers None for
//! anything else (another type, a missing or mistyped field, a repeated key, a step
//! `authorization` or `config`, nested header values, an eventId the gateway refuses, anything
//! a decoder would refuse, nesting past the limit), so the Python parser still reports every
//! mistake in its own words. Never panics.
//!
//! One pass over the bytes with json_scan's pieces, every string, number and key checked as a
//! decoder checks it (the message is UTF-8, no lone surrogate escape, no number that overflows
//! a double), every container's level against the limit; a query's `stream` and `model` read
//! on the way (json_fields). It replaced a serde reader that went over each query three times
//! (serde's skip, a scan, a scan of the envelope); that reader stays as `by_serde`, the
//! reference the tests and the `universal_create` fuzz target hold this one to.

use std::borrow::Cow;

use crate::json_fields::object_fields;
use crate::json_scan::{self, literal, skip_ws, string, value_end_within};
use crate::universal::{read_query, CutQuery};

#[doc(hidden)]
pub mod by_serde;

/// One step of a `FastCreate`.
#[derive(Debug, PartialEq, Eq)]
pub struct FastStep<'a> {
    pub provider: Cow<'a, str>,
    /// Without its leading slashes (the Python parser's `endpoint.lstrip("/")`).
    pub endpoint: Cow<'a, str>,
    /// In the order sent; names as sent.
    pub headers: Headers<'a>,
    pub query: CutQuery<'a>,
}

/// A step's headers: (name, value) pairs.
pub type Headers<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// A `universal.create` as the gateway runs it.
#[derive(Debug, PartialEq, Eq)]
pub struct FastCreate<'a> {
    pub event_id: Option<Cow<'a, str>>,
    pub steps: Vec<FastStep<'a>>,
}

/// See the module docs. `max_depth` is the message's nesting limit (the message is level 1),
/// `max_event_id` the longest eventId in characters.
pub fn parse_create(payload: &[u8], max_depth: usize, max_event_id: usize) -> Option<FastCreate<'_>> {
    let message = Reader { text: simdutf8::basic::from_utf8(payload).ok()?, max_depth };
    let (mut kind, mut top_event_id, mut request) = (None, None, None);
    let end = message.members(skip_ws(payload, 0), 1, |key, at| match &*key {
        "type" if kind.is_none() => keep(&mut kind, message.text(at)?),
        "eventId" if top_event_id.is_none() => keep(&mut top_event_id, message.nullable_text(at)?),
        "request" if request.is_none() => keep(&mut request, message.request(at)?),
        "type" | "eventId" | "request" => None, // repeated
        _ => message.skip(at, 2),
    })?;
    if skip_ws(payload, end) != payload.len() || kind.as_deref() != Some("universal.create") {
        return None;
    }
    let Request { steps, event_id } = request?;
    // eventId: the request object's, else the first step's of an array, else the message's;
    // only the one chosen is judged (the Python parser's order).
    let event_id = match event_id {
        Some(chosen) => chosen,
        None => top_event_id.flatten(),
    };
    if let Some(id) = &event_id {
        if id.is_empty() || id.chars().count() > max_event_id {
            return None;
        }
    }
    Some(FastCreate { event_id, steps })
}

/// A member's value read into its slot: `(value, end)` → `Some(end)`, for `Reader::members`.
fn keep<T>(slot: &mut Option<T>, (value, end): (T, usize)) -> Option<usize> {
    *slot = Some(value);
    Some(end)
}

/// `request`: its steps, and the eventId it names (the object's, or the first array
/// element's): None when it names none, Some(None) for null.
struct Request<'a> {
    steps: Vec<FastStep<'a>>,
    event_id: Option<Option<Cow<'a, str>>>,
}

/// A step and the eventId it names (as `Request`'s).
type Step<'a> = (FastStep<'a>, Option<Option<Cow<'a, str>>>);

/// The message being read (checked UTF-8 once, so its strings are cut from it as text with no
/// second check) and its nesting limit. Each reader takes the index where its value starts and
/// answers what it read and the index after it; None where the message is not one the fast
/// path takes.
struct Reader<'a> {
    text: &'a str,
    max_depth: usize,
}

impl<'a> Reader<'a> {
    fn data(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The text of the (checked) string literal from `start` to `end`, quotes included:
    /// borrowed from the message unless it has escapes to decode.
    fn literal_text(&self, start: usize, end: usize) -> Option<Cow<'a, str>> {
        // Cut at the quotes (ASCII), so on character boundaries of the UTF-8 text.
        let inner = self.text.get(start + 1..end - 1)?;
        if !inner.as_bytes().contains(&b'\\') {
            return Some(Cow::Borrowed(inner));
        }
        serde_json::from_str::<String>(self.text.get(start..end)?).ok().map(Cow::Owned)
    }

    /// The object at `at`, a container at `level` (the message is level 1): `each(key,
    /// value_at)` for every member in order (the key decoded), answering where that value
    /// ends. The index after the object.
    fn members(&self, at: usize, level: usize, mut each: impl FnMut(Cow<'a, str>, usize) -> Option<usize>) -> Option<usize> {
        if self.data().get(at) != Some(&b'{') || level > self.max_depth {
            return None;
        }
        json_scan::members(self.data(), at, |key, at| each(self.literal_text(key.start, key.end)?, at))
    }

    /// A string.
    fn text(&self, at: usize) -> Option<(Cow<'a, str>, usize)> {
        if self.data().get(at) != Some(&b'"') {
            return None;
        }
        let end = string::<true>(self.data(), at)?;
        Some((self.literal_text(at, end)?, end))
    }

    /// A string or null.
    fn nullable_text(&self, at: usize) -> Option<(Option<Cow<'a, str>>, usize)> {
        if self.data().get(at) == Some(&b'n') {
            return Some((None, self.null(at)?));
        }
        let (text, end) = self.text(at)?;
        Some((Some(text), end))
    }

    /// null (and nothing else).
    fn null(&self, at: usize) -> Option<usize> {
        literal(self.data(), at, b"null")
    }

    /// Any value, a container there being at `level`.
    fn skip(&self, at: usize, level: usize) -> Option<usize> {
        value_end_within::<true>(self.data(), at, (self.max_depth + 1).checked_sub(level)?)
    }

    /// `request`: one step object or a non-empty array of them (at level 2).
    fn request(&self, at: usize) -> Option<(Request<'a>, usize)> {
        let data = self.data();
        if data.get(at) != Some(&b'[') {
            // message (1) > request (2) > query (3)
            let ((step, event_id), end) = self.step(at, 2)?;
            return Some((Request { steps: vec![step], event_id }, end));
        }
        if self.max_depth < 2 {
            return None;
        }
        let (mut steps, mut event_id) = (Vec::new(), None);
        let mut at = skip_ws(data, at + 1);
        if data.get(at) == Some(&b']') {
            return None; // no steps
        }
        loop {
            // message (1) > request (2) > step (3) > query (4)
            let ((step, id), end) = self.step(at, 3)?;
            if steps.is_empty() {
                event_id = id;
            }
            steps.push(step);
            at = skip_ws(data, end);
            match data.get(at)? {
                b',' => at = skip_ws(data, at + 1),
                b']' => return Some((Request { steps, event_id }, at + 1)),
                _ => return None,
            }
        }
    }

    /// One step object at `level`.
    fn step(&self, at: usize, level: usize) -> Option<(Step<'a>, usize)> {
        let (mut provider, mut endpoint, mut headers, mut query, mut event_id) = (None, None, None, None, None);
        let (mut authorization, mut config) = (false, false);
        let end = self.members(at, level, |key, at| match &*key {
            "provider" if provider.is_none() => keep(&mut provider, self.text(at)?),
            "endpoint" if endpoint.is_none() => keep(&mut endpoint, self.text(at)?),
            "headers" if headers.is_none() => keep(&mut headers, self.headers(at, level + 1)?),
            "query" if query.is_none() => keep(&mut query, self.query(at, level + 1)?),
            "eventId" if event_id.is_none() => keep(&mut event_id, self.nullable_text(at)?),
            // A step's own `authorization` or `config` is for the Python parser to apply.
            "authorization" if !authorization => {
                authorization = true;
                self.null(at)
            }
            "config" if !config => {
                config = true;
                self.null(at)
            }
            "provider" | "endpoint" | "headers" | "query" | "eventId" | "authorization" | "config" => None, // repeated
            _ => self.skip(at, level + 1),
        })?;
        let provider = provider.filter(|p| !p.is_empty())?;
        let endpoint = match endpoint? {
            Cow::Borrowed(e) => Cow::Borrowed(e.trim_start_matches('/')),
            Cow::Owned(e) => Cow::Owned(e.trim_start_matches('/').to_owned()),
        };
        let step = FastStep { provider, endpoint, headers: headers.unwrap_or_default(), query: query? };
        Some(((step, event_id), end))
    }

    /// `headers`: null (none) or an object of strings, names unrepeated, at `level`.
    fn headers(&self, at: usize, level: usize) -> Option<(Headers<'a>, usize)> {
        if self.data().get(at) == Some(&b'n') {
            return Some((Vec::new(), self.null(at)?));
        }
        let mut headers: Headers<'a> = Vec::new();
        let end = self.members(at, level, |name, at| {
            if headers.iter().any(|(n, _)| *n == name) {
                return None;
            }
            let (value, end) = self.text(at)?;
            headers.push((name, value));
            Some(end)
        })?;
        Some((headers, end))
    }

    /// `query`: an object at `level`, cut out whole with its top-level `stream` and `model`.
    fn query(&self, at: usize, level: usize) -> Option<(CutQuery<'a>, usize)> {
        let (found, end) = object_fields(self.data(), at, (self.max_depth + 1).checked_sub(level)?)?;
        let (stream, model) = if found.escaped_key {
            // A key spelled with escapes might be "stream" or "model": decode the keys.
            read_query(&self.data()[at..end])?
        } else {
            (found.stream, found.model)
        };
        Some((CutQuery { start: at, end, stream, model }, end))
    }
}

#[cfg(test)]
mod tests {
    use super::by_serde::parse_create_by_serde;
    use super::*;
    use crate::json_scan::strategies;
    use proptest::prelude::*;
    use serde_json::{json, Value};

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

    #[test]
    fn nesting_to_the_limit_is_read_and_past_it_left_to_python() {
        // The message is level 1: an extra value at level 2 may open 3 more levels under a
        // limit of 4, a single step's query (level 3) 2, an array's step's query (level 4) 1.
        let cases = [
            (r#"{"type":"universal.create","x":[[[1]]],"request":{"provider":"a","endpoint":"x","query":{}}}"#, true),
            (r#"{"type":"universal.create","x":[[[[]]]],"request":{"provider":"a","endpoint":"x","query":{}}}"#, false),
            (r#"{"type":"universal.create","request":{"provider":"a","endpoint":"x","query":{"m":[1]}}}"#, true),
            (r#"{"type":"universal.create","request":{"provider":"a","endpoint":"x","query":{"m":[[]]}}}"#, false),
            (r#"{"type":"universal.create","request":{"provider":"a","endpoint":"x","v":{"w":{}},"query":{}}}"#, true),
            (r#"{"type":"universal.create","request":{"provider":"a","endpoint":"x","v":{"w":{"z":[]}},"query":{}}}"#, false),
            (r#"{"type":"universal.create","request":[{"provider":"a","endpoint":"x","query":{}}]}"#, true),
            (r#"{"type":"universal.create","request":[{"provider":"a","endpoint":"x","query":{"m":{}}}]}"#, false),
        ];
        for (msg, read) in cases {
            assert_eq!(parse_create(msg.as_bytes(), 4, 256).is_some(), read, "{msg}");
        }
    }

    #[test]
    fn an_escaped_key_in_a_query_is_decoded_to_find_stream_and_model() {
        let msg = r#"{"type":"universal.create","request":{"provider":"a","endpoint":"x","query":{"str\u0065am":true,"mod\u0065l":"m\u00e9"}}}"#;
        let q = &parse(msg).unwrap().steps[0].query;
        assert!(q.stream && q.model.as_deref() == Some("mé"));
    }

    /// The deepest level of objects and arrays in a JSON text (the document itself is 1).
    fn nesting(message: &[u8]) -> usize {
        fn level(v: &Value) -> usize {
            match v {
                Value::Array(a) => 1 + a.iter().map(level).max().unwrap_or(0),
                Value::Object(o) => 1 + o.values().map(level).max().unwrap_or(0),
                _ => 0,
            }
        }
        serde_json::from_slice::<Value>(message).map_or(usize::MAX, |v| level(&v))
    }

    /// Whether the one-pass reader reads `message` as the serde reader does. Where the serde
    /// reader leaves a message to Python only because it has more brackets than `max_depth`
    /// (its plain bound), the one-pass reader may read it: then as the serde reader does
    /// without that bound, and only when it truly nests no deeper than the limit.
    fn agrees(message: &[u8], max_depth: usize) -> bool {
        let read = parse_create(message, max_depth, 8);
        match (&read, parse_create_by_serde(message, max_depth, 8)) {
            (_, Some(reference)) => read == Some(reference),
            (Some(fast), None) => parse_create_by_serde(message, 1 << 20, 8).as_ref() == Some(fast) && nesting(message) <= max_depth,
            (None, None) => true,
        }
    }

    /// A value of a kind a field may wrongly hold.
    fn wrong() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::sample::select(vec!["", "/x", "universal.cancel", "toolongid", "a\u{e9}\u{1f600}"]).prop_map(|s| json!(s)),
            Just(Value::Null),
            Just(json!(7)),
            Just(json!({"maxAttempts": 2})),
            Just(json!([{"a": 1}])),
            Just(json!({"k": 1})),
        ]
    }

    fn optional(name: &'static str, value: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<(&'static str, Value)>> {
        prop::option::of(value.prop_map(move |v| (name, v)))
    }

    /// A step the fast path reads.
    fn step() -> impl Strategy<Value = serde_json::Map<String, Value>> {
        let headers = prop::collection::btree_map(prop::sample::select(vec!["x-a", "Authorization", "k\u{e9}"]), ".{0,4}", 0..3)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), json!(v))).collect()));
        let query = prop_oneof![
            Just(json!({"model": "m", "stream": true})),
            prop::collection::btree_map(prop_oneof![".{0,3}", Just("model".to_owned()), Just("stream".to_owned())], strategies::json_value(&["m"]), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ];
        (
            prop::sample::select(vec!["openai", "workers-ai", "\u{e9}x"]),
            prop::sample::select(vec!["chat/completions", "/chat/completions", "//v1/x", ""]),
            query,
            (
                optional("headers", prop_oneof![Just(Value::Null), headers]),
                optional("eventId", prop_oneof![Just(Value::Null), Just(json!("e1")), Just(json!("\u{e9}\u{1f600}"))]),
                optional("authorization", Just(Value::Null)),
                optional("config", Just(Value::Null)),
                optional("extra", strategies::json_value(&["x"])),
            ),
        )
            .prop_map(|(provider, endpoint, query, (a, b, c, d, e))| {
                let mut step = serde_json::Map::new();
                step.insert("provider".into(), json!(provider));
                step.insert("endpoint".into(), json!(endpoint));
                step.insert("query".into(), query);
                for (name, value) in [a, b, c, d, e].into_iter().flatten() {
                    step.insert(name.into(), value);
                }
                step
            })
    }

    /// Messages the fast path reads, and (half of them) the same with one field changed to a
    /// value of another kind or removed.
    fn messages() -> impl Strategy<Value = Vec<u8>> {
        let change = prop::option::of((
            prop::sample::select(vec!["type", "eventId", "request", "provider", "endpoint", "headers", "query", "authorization", "config"]),
            prop::option::of(wrong()),
        ));
        (prop::collection::vec(step(), 1..4), any::<bool>(), optional("eventId", prop_oneof![Just(Value::Null), Just(json!("top"))]),
         optional("extra", strategies::json_value(&["x"])), change)
            .prop_map(|(mut steps, array, event_id, extra, mut change)| {
                let mut message = serde_json::Map::new();
                message.insert("type".into(), json!("universal.create"));
                for (name, value) in [event_id, extra].into_iter().flatten() {
                    message.insert(name.into(), value);
                }
                let mut apply = |target: &mut serde_json::Map<String, Value>, top: bool| {
                    if let Some((field, value)) = change.take().filter(|(field, _)| ["type", "eventId", "request"].contains(field) == top) {
                        match value {
                            Some(value) => target.insert(field.into(), value),
                            None => target.remove(field),
                        };
                    }
                };
                apply(&mut steps[0], false);
                let request = if array { Value::Array(steps.into_iter().map(Value::Object).collect()) } else { Value::Object(steps.swap_remove(0)) };
                message.insert("request".into(), request);
                apply(&mut message, true);
                serde_json::to_vec(&Value::Object(message)).unwrap()
            })
    }

    /// Bytes that make a message a near miss when spliced in anywhere.
    fn piece() -> impl Strategy<Value = &'static [u8]> {
        prop::sample::select(vec![
            &b"{"[..], b"}", b"[", b"]", b",", b":", b" ", b"\"", b"\\", b"\\u0065", b"\\ud800", b"\"\\ud83d\\ude00\"", b"1e999", b"01", b"-",
            b"null", b"tru", b"\x01", b"\xc3", b"\xff", b"\"provider\":\"p\",", b"\"query\":{},", b"\"eventId\":\"e\",",
        ])
    }

    proptest! {
        #[test]
        fn agrees_with_the_serde_reader_on_messages_near_the_usual_create(message in messages(), max_depth in 2usize..7) {
            prop_assert!(agrees(&message, max_depth), "{}", String::from_utf8_lossy(&message));
        }

        #[test]
        fn agrees_with_the_serde_reader_with_a_piece_spliced_in(message in messages(), at in any::<prop::sample::Index>(), piece in piece()) {
            let at = at.index(message.len() + 1);
            let message = [&message[..at], piece, &message[at..]].concat();
            prop_assert!(agrees(&message, 128), "{}", String::from_utf8_lossy(&message));
        }

        #[test]
        fn agrees_with_the_serde_reader_on_every_prefix(message in messages()) {
            for cut in 0..message.len() {
                prop_assert!(agrees(&message[..cut], 128));
            }
        }
    }
}
