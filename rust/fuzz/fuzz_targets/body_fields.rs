//! Fuzz target: the one-pass body reader (json_fields.rs) says what serde's ignoring parser and
//! the scan say (`body_fields_by_serde`) for any bytes, reports a model span only over the
//! model's own string literal, and never panics.
#![no_main]

use _codec::json_fields::read;
use _codec::universal::body_fields_by_serde;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let reference = body_fields_by_serde(input);
    match read(input) {
        None => assert!(reference.is_none(), "{:?}", String::from_utf8_lossy(input)),
        Some(found) => {
            assert!(reference.is_some(), "{:?}", String::from_utf8_lossy(input));
            if !found.escaped_key {
                assert_eq!(Some((found.stream, found.model.clone())), reference);
            }
            if let Some((start, end)) = found.model_span {
                let literal: String = serde_json::from_slice(&input[start..end]).expect("the span is a string literal");
                assert_eq!(Some(literal.as_str()), found.model.as_deref());
            }
        }
    }
});
