//! Fuzz target: reading a `universal.create` in one pass never panics on any input; what it
//! reads agrees with the message (each query is a JSON object inside it, in order, and every
//! step names a provider) and with the serde reader it replaced (`by_serde`: the same answer
//! wherever that one reads the message; past its plain bracket bound, the same as it reads
//! without the bound). Wrapped as a step's query or headers, the input is read or refused.
#![no_main]

use _codec::universal_create::by_serde::parse_create_by_serde;
use _codec::universal_create::parse_create;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    check(input);
    let as_query = [&br#"{"type":"universal.create","request":{"provider":"p","endpoint":"e","query":"#[..], input, b"}}"].concat();
    check(&as_query);
    let as_headers = [&br#"{"type":"universal.create","request":[{"provider":"p","endpoint":"e","query":{},"headers":"#[..], input, b"}]}"].concat();
    check(&as_headers);
});

fn check(message: &[u8]) {
    let read = parse_create(message, 128, 256);
    match (&read, parse_create_by_serde(message, 128, 256)) {
        (_, Some(reference)) => assert_eq!(read, Some(reference)),
        (Some(fast), None) => assert_eq!(parse_create_by_serde(message, 1 << 20, 256).as_ref(), Some(fast)),
        (None, None) => {}
    }
    if let Some(create) = read {
        assert!(!create.steps.is_empty());
        let mut at = 0;
        for step in &create.steps {
            let q = &step.query;
            assert!(at <= q.start && q.start < q.end && q.end <= message.len());
            assert!(serde_json::from_slice::<serde_json::Value>(&message[q.start..q.end]).map(|v| v.is_object()).unwrap_or(false));
            assert!(!step.provider.is_empty() && !step.endpoint.starts_with('/'));
            at = q.end;
        }
        assert!(create.event_id.as_ref().is_none_or(|id| !id.is_empty() && id.chars().count() <= 256));
    }
}
