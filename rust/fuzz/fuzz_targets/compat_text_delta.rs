//! Fuzz target: recognising an Anthropic text delta in arbitrary bytes never panics; a text it
//! hands back is a JSON string that decodes; wrapped as a delta's text, the input is taken or
//! refused, never a panic, and the chunk it makes is valid JSON between head and tail.
#![no_main]

use _codec::compat::{anthropic_text_delta, push_text_chunk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Some(text) = anthropic_text_delta(input) {
        assert!(serde_json::from_str::<String>(text).is_ok());
    }
    let event = [&br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"#[..], input, b"}}"].concat();
    let mut out = Vec::new();
    if push_text_chunk(&event, b"[", b"]", &mut out) {
        let body = &out[1..out.len() - 1];
        assert!(serde_json::from_slice::<serde_json::Value>(&[&body[..], b"}"].concat()).is_ok());
    }
});
