//! /compat stream translation's fast path: the Anthropic Messages event a stream is mostly made
//! of, a text delta (`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta",
//! "text":"…"}}`), recognised without building the document, its `text` handed back as the
//! JSON string literal it was sent as (to be spliced into the OpenAI chunk as it is).
//!
//! Rules are those of decoding the event with orjson and reading `type`, `delta.type` and
//! `delta.text`: a repeated key counts its last value; the event must be one JSON object a
//! decoder accepts (no lone surrogate, no overflowing number: every value is decoded but the
//! text, which is checked as a literal); anything else is None and the caller decodes the
//! event itself.

use crate::universal::{string_literal_ok, Scalar};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use crate::json_visit::{scalars_are, Text};

/// The `text` of a text-delta event as its JSON string literal (quotes and escapes as sent),
/// or None for any other event.
pub fn anthropic_text_delta(event: &[u8]) -> Option<&str> {
    let mut de = serde_json::Deserializer::from_slice(event);
    let text = de.deserialize_map(Event).ok()??;
    de.end().ok()?;
    // Every other value was decoded (Strict); the text literal, kept raw, is checked here.
    string_literal_ok(text.as_bytes()).then_some(text)
}

/// When `event` is a text delta, appends its OpenAI chunk to `out` (`head`, `{"content":`,
/// the text literal as sent, `tail`) and returns true; otherwise leaves `out` alone.
pub fn push_text_chunk(event: &[u8], head: &[u8], tail: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(text) = anthropic_text_delta(event) else { return false };
    out.extend_from_slice(head);
    out.extend_from_slice(br#"{"content":"#);
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(tail);
    true
}

/// The event object: the text literal when `type` is `content_block_delta` and `delta` a
/// text delta (last value of each key).
struct Event;

impl<'de> Visitor<'de> for Event {
    type Value = Option<&'de str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut is_delta, mut text) = (false, None);
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match &*key {
                "type" => is_delta = matches!(map.next_value::<Scalar<'de>>()?, Scalar::Str(t) if t == "content_block_delta"),
                "delta" => text = map.next_value::<Delta<'de>>()?.0,
                _ => {
                    map.next_value::<Strict>()?;
                }
            }
        }
        Ok(if is_delta { text } else { None })
    }
}

/// `delta`: its `text` literal when it is a `text_delta` object with a string `text`.
struct Delta<'a>(Option<&'a str>);

impl<'de> de::Deserialize<'de> for Delta<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DeltaVisitor)
    }
}

struct DeltaVisitor;

impl<'de> Visitor<'de> for DeltaVisitor {
    type Value = Delta<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut is_text, mut text) = (false, None);
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match &*key {
                "type" => is_text = matches!(map.next_value::<Scalar<'de>>()?, Scalar::Str(t) if t == "text_delta"),
                "text" => {
                    let raw = map.next_value::<&'de RawValue>()?.get();
                    text = raw.starts_with('"').then_some(raw);
                }
                _ => {
                    map.next_value::<Strict>()?;
                }
            }
        }
        Ok(Delta(if is_text { text } else { None }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        StrictVisitor.visit_seq(seq).map(|_| Delta(None))
    }
    scalars_are!(Delta(None));
}

/// Any JSON value, read as a decoder of the whole event reads it: every string decoded (a lone
/// surrogate escape is an error), every number parsed (one that overflows a double is an
/// error). serde_json skips an ignored value without those checks.
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
    scalars_are!(Strict);
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
    use super::anthropic_text_delta as text;

    #[test]
    fn a_text_delta_gives_its_text_literal_as_sent() {
        assert_eq!(text(br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \u00e9\n"}}"#), Some(r#""Hi \u00e9\n""#));
        assert_eq!(text(br#"{"delta":{"text":"x","type":"text_delta"},"type":"content_block_delta"}"#), Some(r#""x""#));
    }

    #[test]
    fn any_other_event_is_left_to_the_caller() {
        for event in [
            &br#"{"type":"content_block_delta","delta":{"type":"input_json_delta","partial_json":"{"}}"#[..],
            br#"{"type":"message_delta","delta":{"type":"text_delta","text":"x"}}"#,
            br#"{"type":"content_block_delta","delta":{"type":"text_delta","text":7}}"#,
            br#"{"type":"content_block_delta","delta":{"type":"text_delta"}}"#,
            br#"{"type":"content_block_delta","delta":"text_delta"}"#,
            br#"{"type":7,"delta":{"type":"text_delta","text":"x"}}"#,
            br#"{"type":"content_block_delta","delta":{"type":["text_delta"],"text":"x"}}"#,
            br#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"x"},"type":"ping"}"#,
            br#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"\ud800"}}"#,
            br#"{"type":"content_block_delta","index":1e400,"delta":{"type":"text_delta","text":"x"}}"#,
            br#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}"#,
            b"[]",
        ] {
            assert_eq!(text(event), None, "{}", String::from_utf8_lossy(event));
        }
    }

    #[test]
    fn a_text_delta_becomes_an_openai_chunk_and_anything_else_nothing() {
        let mut out = b"<".to_vec();
        assert!(super::push_text_chunk(br#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"a\"b"}}"#, b"H", b"T", &mut out));
        assert!(!super::push_text_chunk(br#"{"type":"message_stop"}"#, b"H", b"T", &mut out));
        assert_eq!(out, br#"<H{"content":"a\"b"T"#);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = text(&data);
        }
    }
}
