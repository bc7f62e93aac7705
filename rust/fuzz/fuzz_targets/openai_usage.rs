//! Fuzz target: reading usage from an arbitrary answer never panics, and whatever it reports
//! is a pair of counts it found (never both unknown); wrapping the input as a usage object's
//! value never panics either.
#![no_main]

use _codec::usage::openai_usage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Some((tokens_in, tokens_out)) = openai_usage(input) {
        assert!(tokens_in.is_some() || tokens_out.is_some());
    }
    let wrapped = [&br#"{"usage":{"prompt_tokens":"#[..], input, b"}}"].concat();
    let _ = openai_usage(&wrapped);
});
