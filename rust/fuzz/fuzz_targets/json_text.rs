//! Fuzz target: the one-pass grammar check (`json_scan::is_json_text`, behind `is_json`) says
//! what serde's ignoring parser says for any bytes, and never panics.
#![no_main]

use _codec::json_scan::is_json_text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let serde_says = serde_json::from_slice::<serde::de::IgnoredAny>(input).is_ok();
    assert_eq!(is_json_text(input), serde_says, "{:?}", String::from_utf8_lossy(input));
});
