//! Fuzz target: a `universal.created` message for any eventId, content type and body is one
//! valid JSON document, whose response is the body itself when the body is JSON.
#![no_main]

use _codec::envelope::{is_json, write_created, Created};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // The first byte says where the eventId ends; the rest after it is the body.
    let Some((&split, rest)) = input.split_first() else { return };
    let cut = (split as usize).min(rest.len());
    let (id, body) = rest.split_at(cut);
    let event_id = String::from_utf8_lossy(id);
    let usage = match split % 3 {
        0 => None,
        1 => Some((Some(i64::from(split)), None)),
        _ => Some((None, Some(-i64::from(split)))),
    };
    let created = Created { cache_status: "MISS", event_id: &event_id, log_id: "l", step: i64::from(split), content_type: &event_id, status: 200, usage };
    let mut out = Vec::new();
    // As the caller that walked the body whole says: it is JSON (spliced unchecked).
    write_created(&created, body, split % 2 == 0 && is_json(body), &mut out);
    assert!(serde_json::from_slice::<serde::de::IgnoredAny>(&out).is_ok(), "a created message is valid JSON");
    // serde_json's Value refuses numbers past f64 (1e999) that JSON allows: compare when it reads.
    if let Ok(message) = serde_json::from_slice::<serde_json::Value>(&out) {
        assert_eq!(message["metadata"]["eventId"], *event_id);
        if is_json(body) {
            assert_eq!(message["response"], serde_json::from_slice::<serde_json::Value>(body).unwrap());
        }
    }
});
