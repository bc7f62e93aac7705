//! Fuzz the WebSocket frame parser: arbitrary bytes under an arbitrary chunking, as server and
//! as client, with and without permessage-deflate. It must never panic, and the events and the
//! queued output must not depend on how the input was split.
#![no_main]

use _codec::deflate::DeflateParams;
use _codec::reader::{Event, Reader, ReaderConfig};
use _codec::writer::Writer;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    client: bool,
    deflate: bool,
    small_limits: bool,
    cuts: Vec<u16>,
    data: Vec<u8>,
}

fn owned(e: Event<'_>) -> (u16, Vec<u8>) {
    match e {
        Event::Text(p) => (1, p.to_vec()),
        Event::Binary(p) => (2, p.to_vec()),
        Event::Ping(p) => (9, p.to_vec()),
        Event::Pong(p) => (10, p.to_vec()),
        Event::Close(c, r) => (8, [&c.to_be_bytes()[..], r.as_bytes()].concat()),
        Event::Fail(c, r) => (256, [&c.to_be_bytes()[..], r.as_bytes()].concat()),
    }
}

fn run(cfg: ReaderConfig, parts: &[&[u8]]) -> (Vec<(u16, Vec<u8>)>, usize) {
    let mut r = Reader::new(cfg);
    let mut w = Writer::new(cfg.client, cfg.deflate);
    let mut evs = Vec::new();
    for p in parts {
        r.receive(p, &mut w, &mut |e| evs.push(owned(e)));
    }
    (evs, w.pending().len())
}

fuzz_target!(|input: Input| {
    let cfg = ReaderConfig {
        client: input.client,
        deflate: input.deflate.then(DeflateParams::default),
        max_message_size: if input.small_limits { 1000 } else { 1 << 20 },
        max_frame_size: if input.small_limits { 500 } else { u64::MAX },
        read_buffer_size: 1024,
        ..ReaderConfig::default()
    };
    let data = &input.data[..];
    let mut points: Vec<usize> = input.cuts.iter().map(|&c| usize::from(c) % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut parts = Vec::new();
    let mut prev = 0;
    for p in points {
        parts.push(&data[prev..p]);
        prev = p;
    }
    parts.push(&data[prev..]);
    let whole = run(cfg, &[data]);
    let split = run(cfg, &parts);
    assert_eq!(whole, split);
});
