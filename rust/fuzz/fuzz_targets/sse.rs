//! Fuzz target: the SSE and NDJSON decoders give the same output however the input is split
//! (the first byte picks the cut points), and never panic.
#![no_main]

use _codec::sse::{NdjsonDecoder, SseDecoder};
use libfuzzer_sys::fuzz_target;

type Event = (Option<String>, Vec<u8>, Option<String>);

fn sse(pieces: &[&[u8]]) -> (Vec<Event>, bool) {
    let mut d = SseDecoder::new(1 << 20);
    let mut out = Vec::new();
    for p in pieces {
        d.feed(p, &mut |e| out.push((e.event.map(String::from), e.data.to_vec(), e.id.map(String::from))))
            .expect("within the size limit");
    }
    let truncated = d.finish();
    (out, truncated)
}

fn ndjson(pieces: &[&[u8]]) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
    let mut d = NdjsonDecoder::new(1 << 20);
    let mut out = Vec::new();
    for p in pieces {
        d.feed(p, &mut |l| out.push(l.to_vec())).expect("within the size limit");
    }
    (out, d.finish())
}

fuzz_target!(|input: &[u8]| {
    let Some((&step, data)) = input.split_first() else { return };
    let step = usize::from(step % 16) + 1;
    let pieces: Vec<&[u8]> = data.chunks(step).collect();
    assert_eq!(sse(&pieces), sse(&[data]));
    assert_eq!(ndjson(&pieces), ndjson(&[data]));
});
