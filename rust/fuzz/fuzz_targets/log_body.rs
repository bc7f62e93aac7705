//! Fuzz target: unpacking a stored log body never panics on any input (nor allocates more
//! than its bound), and any input that packs unpacks to itself.
#![no_main]

use _codec::log_body::{unpack, Packer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let _ = unpack(input);
    if let Some(packed) = Packer::default().pack(input) {
        assert_eq!(unpack(packed).expect("a packed body unpacks"), input);
    }
});
