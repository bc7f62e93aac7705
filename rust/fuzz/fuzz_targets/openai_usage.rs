//! Fuzz target: reading usage (OpenAI's and Anthropic's shapes) from an arbitrary answer never
//! panics, and whatever it reports is a pair of counts it found (never both unknown); wrapping
//! the input as a usage object's value never panics either.
#![no_main]

use _codec::usage::{anthropic_usage, openai_usage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    for read in [openai_usage, anthropic_usage] {
        if let Some((tokens_in, tokens_out)) = read(input) {
            assert!(tokens_in.is_some() || tokens_out.is_some());
        }
    }
    let wrapped = [&br#"{"usage":{"prompt_tokens":"#[..], input, b"}}"].concat();
    let _ = openai_usage(&wrapped);
    let wrapped = [&br#"{"usage":{"input_tokens":7,"cache_read_input_tokens":"#[..], input, b"}}"].concat();
    let _ = anthropic_usage(&wrapped);
});
