//! Fuzz target: the AWS event-stream decoder never panics, gives the same messages (or the same
//! error) however the input is split (the first byte picks the cut points), and round-trips
//! what `encode` produces; what the relay makes of each message (`relayable`: base64, JSON,
//! exceptions) never panics either.
#![no_main]

use _codec::eventstream::{encode, relayable, EventStreamDecoder, Message};
use _codec::sse::StreamError;
use libfuzzer_sys::fuzz_target;

type Owned = (Vec<(String, String)>, Vec<u8>);

fn owned(m: Message<'_>) -> Owned {
    let _ = relayable(&m, &mut Vec::new());
    (m.headers.iter().map(|(n, v)| (n.to_string(), format!("{v:?}"))).collect(), m.payload.to_vec())
}

fn decode(pieces: &[&[u8]]) -> (Vec<Owned>, Result<bool, StreamError>) {
    let mut d = EventStreamDecoder::new(1 << 20);
    let mut out = Vec::new();
    for p in pieces {
        if let Err(e) = d.feed(p, &mut |m| out.push(owned(m))) {
            return (out, Err(e));
        }
    }
    let truncated = d.finish();
    (out, Ok(truncated))
}

fuzz_target!(|input: &[u8]| {
    let Some((&step, data)) = input.split_first() else { return };
    let step = usize::from(step % 16) + 1;
    let pieces: Vec<&[u8]> = data.chunks(step).collect();
    assert_eq!(decode(&pieces), decode(&[data]));
    // Valid framing around arbitrary payload bytes always decodes back to them.
    let framed = encode(&[(":event-type", "chunk"), (":message-type", "event")], data);
    let (messages, end) = decode(&[&framed]);
    assert_eq!(end, Ok(false));
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].1, data);
    // A chunk whose payload is the input goes through the base64 / JSON paths of `relayable`.
    let chunk = encode(&[(":event-type", "chunk"), (":message-type", "event")], &[&br#"{"bytes":""#[..], data].concat());
    let _ = decode(&[&chunk]);
});
