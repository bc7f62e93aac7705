//! Fuzz target: reading usage (OpenAI's and Anthropic's shapes) from an arbitrary answer never
//! panics, whatever it reports is a pair of counts it found (never both unknown), and where a
//! decoder accepts the answer the one-pass reader says what serde's reader says; an answer it
//! reads to its end is one JSON text in UTF-8 (`created_message` splices it unchecked);
//! wrapping the input as a usage object's value holds the same.
#![no_main]

use _codec::envelope::is_json;
use _codec::usage::{anthropic_usage, anthropic_usage_by_serde, openai_usage, openai_usage_by_serde, reads_to_end};
use libfuzzer_sys::fuzz_target;

fn check(input: &[u8]) {
    assert!(!reads_to_end(input) || is_json(input), "{:?}", String::from_utf8_lossy(input));
    let strict = serde_json::from_slice::<serde_json::Value>(input).is_ok();
    for (read, by_serde) in [(openai_usage as fn(&[u8]) -> _, openai_usage_by_serde as fn(&[u8]) -> _), (anthropic_usage, anthropic_usage_by_serde)] {
        let found = read(input);
        if let Some((tokens_in, tokens_out)) = found {
            assert!(tokens_in.is_some() || tokens_out.is_some());
        }
        if strict {
            assert_eq!(found, by_serde(input), "{:?}", String::from_utf8_lossy(input));
        }
    }
}

fuzz_target!(|input: &[u8]| {
    check(input);
    check(&[&br#"{"usage":{"prompt_tokens":"#[..], input, b"}}"].concat());
    check(&[&br#"{"usage":{"input_tokens":7,"cache_read_input_tokens":"#[..], input, b"}}"].concat());
});
