//! Fuzz target: a stream's events judged one after another by `RepeatScan` (json_repeat.rs),
//! each resumed from where it stops repeating the last one that passed, get `is_json`'s
//! answer for each alone, and nothing panics. The input's first byte splits the rest into
//! the events (so the fuzzer can make runs that share their beginnings).
#![no_main]

use _codec::envelope::is_json;
use _codec::json_repeat::RepeatScan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&separator, rest)) = input.split_first() else { return };
    let mut scan = RepeatScan::new();
    for event in rest.split(|&b| b == separator) {
        assert_eq!(scan.is_json(event), is_json(event), "{:?}", String::from_utf8_lossy(event));
    }
});
