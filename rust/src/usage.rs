//! Token usage from a whole JSON answer without building the document: every other value is
//! skipped by the parser (`IgnoredAny`). Two shapes:
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
//! counted, nor is an input sum beyond i64 (Python would add them: no real answer has them).

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;
use crate::json_visit::{scalars_are, Text};

/// (tokens in, tokens out), either possibly unknown.
pub type TokenPair = (Option<i64>, Option<i64>);

/// The usage of `body`, or None when it is not a JSON object, has no `usage` object, or that
/// object names no integer count.
pub fn openai_usage(body: &[u8]) -> Option<TokenPair> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let usage = de.deserialize_map(Top).ok()?;
    de.end().ok()?;
    let fields = usage?;
    let tokens_in = if fields.has_prompt { fields.prompt } else { fields.input };
    let tokens_out = if fields.has_completion { fields.completion } else { fields.output };
    if tokens_in.is_none() && tokens_out.is_none() {
        return None;
    }
    Some((tokens_in, tokens_out))
}

/// The usage of an Anthropic Messages answer `body` (tokens in: input plus cache creation
/// plus cache read tokens, those present), or None as for `openai_usage`.
pub fn anthropic_usage(body: &[u8]) -> Option<TokenPair> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let usage = de.deserialize_map(Top).ok()?;
    de.end().ok()?;
    let fields = usage?;
    let parts = [fields.input, fields.cache_creation, fields.cache_read];
    let tokens_in = parts.iter().flatten().try_fold(None, |sum: Option<i64>, &n| sum.unwrap_or(0).checked_add(n).map(Some));
    let tokens_in = tokens_in.flatten();
    let tokens_out = fields.output;
    if tokens_in.is_none() && tokens_out.is_none() {
        return None;
    }
    Some((tokens_in, tokens_out))
}

#[derive(Default)]
struct UsageFields {
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
    use super::{anthropic_usage, openai_usage};

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
}
