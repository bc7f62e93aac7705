//! Fuzz target: cutting queries out of an arbitrary message never panics; every cut is inside
//! the message, in order, and is itself one JSON object; the envelope is valid JSON whenever
//! the message was. Wrapped as a step's query, the input is cut or refused, never a panic.
#![no_main]

use _codec::universal::cut_queries;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    check(input);
    let wrapped = [&br#"{"type":"universal.create","request":[{"provider":"p","query":"#[..], input, b"}]}"].concat();
    check(&wrapped);
});

fn check(message: &[u8]) {
    if let Some((envelope, slots)) = cut_queries(message, 128) {
        let mut at = 0;
        for cut in slots.iter().flatten() {
            assert!(at <= cut.start && cut.start < cut.end && cut.end <= message.len());
            assert!(serde_json::from_slice::<serde_json::Value>(&message[cut.start..cut.end]).map(|v| v.is_object()).unwrap_or(true));
            at = cut.end;
        }
        assert!(serde_json::from_slice::<serde::de::IgnoredAny>(&envelope).is_ok());
    }
}
