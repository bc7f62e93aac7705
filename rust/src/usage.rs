//! Token usage from a whole JSON answer without building the document: one pass over the
//! bytes (json_scan.rs's pieces) that checks every other value by the grammar and passes over
//! it; serde's ignoring parser (`IgnoredAny`) does the same as the tests' and the fuzz
//! target's reference (`*_by_serde`). Two shapes:
//!
//! - OpenAI's (`{"usage": {"prompt_tokens": …, "completion_tokens": …}}`, or the Responses
//!   API's `input_tokens` / `output_tokens`), by `aigw.providers.openai_usage`'s rules:
//!   `prompt_tokens` when the key is present (even null), else `input_tokens`, likewise
//!   `completion_tokens` / `output_tokens`.
//! - Anthropic's Messages (`{"usage": {"input_tokens", "cache_creation_input_tokens",
//!   "cache_read_input_tokens", "output_tokens"}}`), by the Anthropic adapter's
//!   `anthropic_usage`: tokens in are the sum of the three input counts present, tokens out
//!   `output_tokens`.
//!
//! In both only JSON integers count (not floats, not booleans); no usable count at all is no
//! usage. A repeated key counts its last value (as orjson does). Integers beyond i64 are not
//! counted, nor is an input sum beyond i64 (Python would add them: no real answer has them),
//! nor `-0` (a float to serde; Python would count 0).

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;
use crate::json_scan::{self, number, skip_ws, value_end};
use crate::json_visit::{scalars_are, Text};
use std::borrow::Cow;

/// (tokens in, tokens out), either possibly unknown.
pub type TokenPair = (Option<i64>, Option<i64>);

/// The usage of `body`, or None when it is not a JSON object, has no `usage` object, or that
/// object names no integer count.
pub fn openai_usage(body: &[u8]) -> Option<TokenPair> {
    openai_pair(read(body)??)
}

/// The usage of an Anthropic Messages answer `body` (tokens in: input plus cache creation
/// plus cache read tokens, those present), or None as for `openai_usage`.
pub fn anthropic_usage(body: &[u8]) -> Option<TokenPair> {
    anthropic_pair(read(body)??)
}

/// `openai_usage` by serde's parser (the reader this module had first): the reference the
/// tests and the `openai_usage` fuzz target hold the one-pass reader to.
pub fn openai_usage_by_serde(body: &[u8]) -> Option<TokenPair> {
    openai_pair(read_by_serde(body)??)
}

/// Whether the one-pass reader reads `body` to its end (then `body` is one JSON text in UTF-8;
/// the `openai_usage` fuzz target holds it to that).
#[doc(hidden)]
pub fn reads_to_end(body: &[u8]) -> bool {
    read(body).is_some()
}

/// `anthropic_usage` by serde's parser, as `openai_usage_by_serde`.
pub fn anthropic_usage_by_serde(body: &[u8]) -> Option<TokenPair> {
    anthropic_pair(read_by_serde(body)??)
}

pub(crate) fn openai_pair(fields: UsageFields) -> Option<TokenPair> {
    let tokens_in = if fields.has_prompt { fields.prompt } else { fields.input };
    let tokens_out = if fields.has_completion { fields.completion } else { fields.output };
    if tokens_in.is_none() && tokens_out.is_none() {
        return None;
    }
    Some((tokens_in, tokens_out))
}

pub(crate) fn anthropic_pair(fields: UsageFields) -> Option<TokenPair> {
    let parts = [fields.input, fields.cache_creation, fields.cache_read];
    let tokens_in = parts.iter().flatten().try_fold(None, |sum: Option<i64>, &n| sum.unwrap_or(0).checked_add(n).map(Some));
    let tokens_in = tokens_in.flatten();
    let tokens_out = fields.output;
    if tokens_in.is_none() && tokens_out.is_none() {
        return None;
    }
    Some((tokens_in, tokens_out))
}

/// The top-level object's last `usage` (None when it is not an object), or None when `body`
/// is not a JSON object serde's parser takes.
fn read_by_serde(body: &[u8]) -> Option<Option<UsageFields>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let usage = de.deserialize_map(Top).ok()?;
    de.end().ok()?;
    Some(usage)
}

// ---- the one-pass reader ---------------------------------------------------------------------

/// `read_by_serde` in one pass over the bytes (json_scan.rs), for a body in UTF-8: the other
/// values are checked by the grammar and passed over; the top-level keys and the usage
/// object's are decoded (escapes) and compared. Where the document is one a decoder accepts
/// the two agree (tests, the `openai_usage` fuzz target); beyond that this one refuses any
/// body that is not UTF-8, and serde refuses some that are not JSON in ways the grammar
/// allows (a lone surrogate escape in a key, a float past f64 where a count is read).
///
/// Some only for a body that is one JSON text in UTF-8, walked to its end (what
/// `envelope::is_json` accepts): `created_message` splices such a body without checking it
/// again (python/checked_json.rs). Tests and the fuzz target hold it to that.
pub(crate) fn read(body: &[u8]) -> Option<Option<UsageFields>> {
    simdutf8::basic::from_utf8(body).ok()?;
    let mut at = skip_ws(body, 0);
    if body.get(at) != Some(&b'{') {
        return None;
    }
    let mut usage = None;
    at = members(body, at, |name, at| {
        if name != b"usage" {
            return value_end(body, at);
        }
        let (end, fields) = usage_value(body, at)?;
        usage = fields;
        Some(end)
    })?;
    (skip_ws(body, at) == body.len()).then_some(usage)
}

/// Reads the object at `at` (its `{`): each member's name (escapes decoded) and where its value
/// starts go to `value`, which answers where that value ends. The index after the object.
fn members(body: &[u8], at: usize, mut value: impl FnMut(&[u8], usize) -> Option<usize>) -> Option<usize> {
    json_scan::members(body, at, |key, at| value(&decoded(&body[key])?, at))
}

/// A checked string literal's text as bytes: borrowed without escapes, else decoded.
fn decoded(literal: &[u8]) -> Option<Cow<'_, [u8]>> {
    let inner = &literal[1..literal.len() - 1];
    if !inner.contains(&b'\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_slice::<String>(literal).ok().map(|text| Cow::Owned(text.into_bytes()))
}

/// A `usage` value at `at`: where it ends, and its counts when it is an object.
fn usage_value(body: &[u8], at: usize) -> Option<(usize, Option<UsageFields>)> {
    if body.get(at) != Some(&b'{') {
        return Some((value_end(body, at)?, None));
    }
    let mut u = UsageFields::default();
    let end = members(body, at, |name, at| {
        let slot = match name {
            b"prompt_tokens" => {
                u.has_prompt = true;
                &mut u.prompt
            }
            b"input_tokens" => &mut u.input,
            b"completion_tokens" => {
                u.has_completion = true;
                &mut u.completion
            }
            b"output_tokens" => &mut u.output,
            b"cache_creation_input_tokens" => &mut u.cache_creation,
            b"cache_read_input_tokens" => &mut u.cache_read,
            _ => return value_end(body, at),
        };
        let (end, count) = count(body, at)?;
        *slot = count;
        Some(end)
    })?;
    Some((end, Some(u)))
}

/// A count's value at `at`: where it ends, and the number when it is a JSON integer within
/// i64 (as serde reads one: `-0` is a float to serde, so not a count).
fn count(body: &[u8], at: usize) -> Option<(usize, Option<i64>)> {
    if !matches!(body.get(at), Some(b'-' | b'0'..=b'9')) {
        return Some((value_end(body, at)?, None));
    }
    let end = number::<false>(body, at)?;
    let (negative, digits) = match &body[at..end] {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    // An integer literal (the grammar is checked: ASCII digits, no leading zero) within i64;
    // `-0` is a float to serde, so not a count either.
    if digits.iter().any(|b| !b.is_ascii_digit()) || (negative && digits == b"0") {
        return Some((end, None));
    }
    let magnitude = digits.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')));
    let value = match magnitude {
        Some(m) if negative => 0i64.checked_sub_unsigned(m),
        Some(m) => i64::try_from(m).ok(),
        None => None,
    };
    Some((end, value))
}

// ---- serde's reader -----------------------------------------------------------------------

#[derive(Default)]
pub(crate) struct UsageFields {
    has_prompt: bool,
    prompt: Option<i64>,
    input: Option<i64>,
    has_completion: bool,
    completion: Option<i64>,
    output: Option<i64>,
    cache_creation: Option<i64>,
    cache_read: Option<i64>,
}

/// The top-level object: the last `usage` value, None when absent or not an object.
struct Top;

impl<'de> Visitor<'de> for Top {
    type Value = Option<UsageFields>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut usage = None;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            if key == "usage" {
                usage = map.next_value::<MaybeUsage>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(usage)
    }
}

/// Any JSON value: the counts when it is an object.
struct MaybeUsage(Option<UsageFields>);

impl<'de> de::Deserialize<'de> for MaybeUsage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UsageVisitor)
    }
}

struct UsageVisitor;

impl<'de> Visitor<'de> for UsageVisitor {
    type Value = MaybeUsage;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut u = UsageFields::default();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match &*key {
                "prompt_tokens" => (u.has_prompt, u.prompt) = (true, map.next_value::<Count>()?.0),
                "input_tokens" => u.input = map.next_value::<Count>()?.0,
                "completion_tokens" => (u.has_completion, u.completion) = (true, map.next_value::<Count>()?.0),
                "output_tokens" => u.output = map.next_value::<Count>()?.0,
                "cache_creation_input_tokens" => u.cache_creation = map.next_value::<Count>()?.0,
                "cache_read_input_tokens" => u.cache_read = map.next_value::<Count>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(MaybeUsage(Some(u)))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(MaybeUsage(None))
    }

    scalars_are!(MaybeUsage(None));
}

/// A token count: Some for a JSON integer within i64, None for any other value.
struct Count(Option<i64>);

impl<'de> de::Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor)
    }
}

struct CountVisitor;

impl<'de> Visitor<'de> for CountVisitor {
    type Value = Count;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_i64<E>(self, v: i64) -> Result<Count, E> {
        Ok(Count(Some(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Count, E> {
        Ok(Count(i64::try_from(v).ok()))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Count, E> {
        Ok(Count(None))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Count, E> {
        Ok(Count(None))
    }
    fn visit_str<E>(self, _: &str) -> Result<Count, E> {
        Ok(Count(None))
    }
    fn visit_unit<E>(self) -> Result<Count, E> {
        Ok(Count(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Count(None))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Count(None))
    }
}

#[cfg(test)]
mod tests {
    use super::{anthropic_usage, anthropic_usage_by_serde, openai_usage, openai_usage_by_serde, read};
    use proptest::prelude::*;

    #[test]
    fn anthropic_input_is_the_sum_of_the_input_counts_present() {
        let body = br#"{"id":"msg","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":2,"output_tokens":7}}"#;
        assert_eq!(anthropic_usage(body), Some((Some(17), Some(7))));
        assert_eq!(anthropic_usage(br#"{"usage":{"cache_read_input_tokens":4}}"#), Some((Some(4), None)));
        assert_eq!(anthropic_usage(br#"{"usage":{"input_tokens":null,"output_tokens":3}}"#), Some((None, Some(3))));
    }

    #[test]
    fn anthropic_usage_without_integer_counts_is_none() {
        assert_eq!(anthropic_usage(br#"{"usage":{"input_tokens":1.5,"output_tokens":true}}"#), None);
        assert_eq!(anthropic_usage(br#"{"usage":[1]}"#), None);
        assert_eq!(anthropic_usage(b"not json"), None);
    }

    #[test]
    fn an_anthropic_input_sum_past_i64_is_not_counted() {
        let body = br#"{"usage":{"input_tokens":9223372036854775807,"cache_read_input_tokens":1,"output_tokens":2}}"#;
        assert_eq!(anthropic_usage(body), Some((None, Some(2))));
    }

    #[test]
    fn chat_completions_usage() {
        let body = br#"{"id":"x","choices":[{"message":{"content":"the \"usage\": {}"}}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#;
        assert_eq!(openai_usage(body), Some((Some(9), Some(12))));
    }

    #[test]
    fn responses_api_names() {
        assert_eq!(openai_usage(br#"{"usage":{"input_tokens":3,"output_tokens":4}}"#), Some((Some(3), Some(4))));
    }

    #[test]
    fn a_present_prompt_tokens_wins_even_when_null() {
        assert_eq!(openai_usage(br#"{"usage":{"prompt_tokens":null,"input_tokens":3,"output_tokens":4}}"#), Some((None, Some(4))));
    }

    #[test]
    fn only_integers_count() {
        assert_eq!(openai_usage(br#"{"usage":{"prompt_tokens":1.5,"completion_tokens":true}}"#), None);
        assert_eq!(openai_usage(br#"{"usage":{"prompt_tokens":"7","completion_tokens":2}}"#), Some((None, Some(2))));
    }

    #[test]
    fn no_usage_object_no_usage() {
        assert_eq!(openai_usage(br#"{"usage":[1,2]}"#), None);
        assert_eq!(openai_usage(br#"{"usage":null}"#), None);
        assert_eq!(openai_usage(br#"{"choices":[]}"#), None);
        assert_eq!(openai_usage(br#"[{"usage":{"prompt_tokens":1}}]"#), None);
    }

    #[test]
    fn the_last_usage_key_wins() {
        assert_eq!(openai_usage(br#"{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}"#), Some((Some(2), None)));
    }

    #[test]
    fn broken_json_has_no_usage() {
        assert_eq!(openai_usage(br#"{"usage":{"prompt_tokens":1}"#), None);
        assert_eq!(openai_usage(br#"{"usage":{"prompt_tokens":1}} trailing"#), None);
        assert_eq!(openai_usage(b"\xff"), None);
        assert_eq!(openai_usage(b""), None);
    }

    #[test]
    fn escaped_keys_are_read_as_their_text() {
        assert_eq!(openai_usage(br#"{"us\u0061ge":{"prompt_\u0074okens":5}}"#), Some((Some(5), None)));
    }

    #[test]
    fn a_body_that_is_not_utf8_has_no_usage() {
        assert_eq!(openai_usage(b"{\"x\":\"\xff\",\"usage\":{\"prompt_tokens\":1}}"), None);
    }

    #[test]
    fn negative_zero_and_integers_past_i64_are_not_counts() {
        assert_eq!(openai_usage(br#"{"usage":{"prompt_tokens":-0,"completion_tokens":9223372036854775808}}"#), None);
        assert_eq!(openai_usage(br#"{"usage":{"prompt_tokens":-9223372036854775808,"completion_tokens":1e2}}"#), Some((Some(i64::MIN), None)));
        assert_eq!(openai_usage_by_serde(br#"{"usage":{"prompt_tokens":-0,"completion_tokens":9223372036854775808}}"#), None);
    }

    /// Agreement where a decoder accepts the document (serde's Value is strict: UTF-8, no lone
    /// surrogate, no float past f64); elsewhere the one-pass reader only has to answer. And
    /// wherever it reads a document to its end, that document is one JSON text in UTF-8.
    fn agrees(data: &[u8]) -> bool {
        let strict = serde_json::from_slice::<serde_json::Value>(data).is_ok();
        let (openai, anthropic) = (openai_usage(data), anthropic_usage(data));
        let read_means_json = read(data).is_none() || crate::envelope::is_json(data);
        read_means_json && (!strict || (openai == openai_usage_by_serde(data) && anthropic == anthropic_usage_by_serde(data)))
    }

    #[test]
    fn a_body_is_read_to_its_end_only_when_it_is_one_json_text() {
        for json in [&br#"{"usage":{"prompt_tokens":1}}"#[..], br#" {"choices":[{"t":"\u00e9"}],"x":null} "#, b"{}"] {
            assert!(read(json).is_some() && crate::envelope::is_json(json));
        }
        for not_json in [&br#"{"usage":{}} {}"#[..], b"{\"a\":\"\xff\"}", br#"{"a":[1,]}"#, br#"{"a":1"#, b"[]"] {
            assert!(read(not_json).is_none(), "{}", String::from_utf8_lossy(not_json));
        }
    }

    fn count() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            Just("-0".into()), Just("9223372036854775808".into()), Just("1.5".into()), Just("2e3".into()),
            Just("null".into()), Just("true".into()), Just("\"7\"".into()), Just("[1]".into()), Just("{\"a\":1}".into()),
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "cache_creation_input_tokens",
            "cache_read_input_tokens", "total_tokens", "usage", "prompt_\\u0074okens", "us\\u0061ge", "x",
        ])
        .prop_map(String::from)
    }

    /// Answers shaped like providers' (usage objects, nested look-alikes, repeated keys) as text.
    fn answer() -> impl Strategy<Value = String> {
        let usage = || {
            prop::collection::vec((name(), count()), 0..5)
                .prop_map(|members| format!("{{{}}}", members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(",")))
        };
        let value = prop_oneof![usage(), count(), Just("\"text with \\\"usage\\\": {}\"".into()), usage().prop_map(|u| format!("[{u}]"))];
        prop::collection::vec((name(), value), 0..5)
            .prop_map(|members| format!("{{{}}}", members.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect::<Vec<_>>().join(" ,")))
    }

    proptest! {
        #[test]
        fn agrees_with_serde_on_answers(text in answer()) {
            prop_assert!(agrees(text.as_bytes()), "{}", text);
        }

        #[test]
        fn agrees_with_serde_on_every_prefix_of_an_answer(text in answer()) {
            for cut in 0..text.len() {
                prop_assert!(agrees(&text.as_bytes()[..cut]), "{}", &text[..cut]);
            }
        }

        #[test]
        fn answers_any_bytes(data in prop::collection::vec(any::<u8>(), 0..48)) {
            let wrapped = [&br#"{"usage":{"prompt_tokens":"#[..], &data, b"}}"].concat();
            prop_assert!(agrees(&data) && agrees(&wrapped));
        }
    }
}
