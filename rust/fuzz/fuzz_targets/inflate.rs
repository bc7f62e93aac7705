//! Fuzz permessage-deflate: random bytes through the capped inflater must never panic nor grow
//! past the cap; random messages must survive a compress/inflate round trip with context
//! takeover (in either mode) when fed back in random fragments.
#![no_main]

use _codec::deflate::{Compressor, Decompressor, InflateError};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    garbage: Vec<u8>,
    cap: u16,
    window_bits: u8,
    no_context_takeover: bool,
    messages: Vec<(Vec<u8>, u8)>,
}

fuzz_target!(|input: Input| {
    let bits = 8 + input.window_bits % 8;
    let cap = usize::from(input.cap);
    let mut d = Decompressor::new(15, false);
    let mut out = Vec::new();
    match d.decompress(&input.garbage, true, &mut out, cap) {
        Ok(()) => assert!(out.len() <= cap),
        Err(InflateError::TooBig) | Err(InflateError::Corrupt) => {}
    }
    assert!(out.len() <= cap + 1 + 64 * 1024);

    let mut c = Compressor::new(bits, input.no_context_takeover);
    let mut d = Decompressor::new(bits, input.no_context_takeover);
    for (msg, frag) in &input.messages {
        let mut wire = Vec::new();
        c.compress(msg, &mut wire);
        let step = usize::from(*frag).max(1);
        let mut out = Vec::new();
        for part in wire.chunks(step) {
            d.decompress(part, false, &mut out, usize::MAX - 1).expect("own output inflates");
        }
        d.decompress(&[], true, &mut out, usize::MAX - 1).expect("own output inflates");
        assert_eq!(&out, msg);
    }
});
