//! Specifications for the frame parser: RFC 6455 §5.7 examples, every failure path, and
//! property tests (random frame sequences under random chunkings).

use super::*;
use crate::frame::{encode_header, OP_BINARY};
use crate::writer::Writer;
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
    Fail(u16),
}

fn owned(e: Event<'_>) -> Ev {
    match e {
        Event::Text(p) => Ev::Text(p.to_vec()),
        Event::Binary(p) => Ev::Binary(p.to_vec()),
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(c, r) => Ev::Close(c, r.to_string()),
        Event::Fail(c, _) => Ev::Fail(c),
    }
}

/// Parse `chunks` in order with a fresh reader; returns events and the queued output.
fn run(cfg: ReaderConfig, chunks: &[&[u8]]) -> (Vec<Ev>, Vec<u8>) {
    let mut r = Reader::new(cfg);
    let mut w = Writer::new(cfg.client, cfg.deflate);
    let mut evs = Vec::new();
    for c in chunks {
        r.receive(c, &mut w, &mut |e| evs.push(owned(e)));
    }
    (evs, w.take())
}

fn client_cfg() -> ReaderConfig {
    ReaderConfig {
        client: true,
        ..ReaderConfig::default()
    }
}

fn server(bytes: &[u8]) -> Vec<Ev> {
    run(ReaderConfig::default(), &[bytes]).0
}

/// A masked frame as a client sends it (fixed key for readability).
fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let key = [0x37, 0xfa, 0x21, 0x3d];
    encode_header(
        &mut out,
        b0 & 0x80 != 0,
        b0 & 0x40 != 0,
        b0 & 0x0f,
        Some(key),
        payload.len() as u64,
    );
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out[0] = b0;
    out
}

#[test]
fn rfc_single_frame_unmasked_text_on_client() {
    let (evs, _) = run(client_cfg(), &[&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]]);
    assert_eq!(evs, [Ev::Text(b"Hello".to_vec())]);
}

#[test]
fn rfc_single_frame_masked_text_on_server() {
    let evs = server(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    assert_eq!(evs, [Ev::Text(b"Hello".to_vec())]);
}

#[test]
fn rfc_fragmented_unmasked_text() {
    let (evs, _) = run(
        client_cfg(),
        &[&[0x01, 0x03, 0x48, 0x65, 0x6c], &[0x80, 0x02, 0x6c, 0x6f]],
    );
    assert_eq!(evs, [Ev::Text(b"Hello".to_vec())]);
}

#[test]
fn rfc_ping_is_reported_and_answered_with_a_masked_pong() {
    let (evs, out) = run(client_cfg(), &[&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]]);
    assert_eq!(evs, [Ev::Ping(b"Hello".to_vec())]);
    let back = run(ReaderConfig::default(), &[&out]).0;
    assert_eq!(back, [Ev::Pong(b"Hello".to_vec())]);
}

#[test]
fn rfc_masked_pong() {
    let evs = server(&[
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    assert_eq!(evs, [Ev::Pong(b"Hello".to_vec())]);
}

#[test]
fn rfc_256_byte_and_64k_binary_messages() {
    for len in [256usize, 65536] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut frame = vec![0x82];
        if len == 256 {
            frame.extend_from_slice(&[0x7E, 0x01, 0x00]);
        } else {
            frame.extend_from_slice(&[0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        }
        frame.extend_from_slice(&payload);
        let (evs, _) = run(client_cfg(), &[&frame]);
        assert_eq!(evs, [Ev::Binary(payload)]);
    }
}

#[test]
fn auto_pong_off_queues_nothing() {
    let cfg = ReaderConfig {
        auto_pong: false,
        ..ReaderConfig::default()
    };
    let (evs, out) = run(cfg, &[&masked(0x89, b"x")]);
    assert_eq!(evs, [Ev::Ping(b"x".to_vec())]);
    assert!(out.is_empty());
}

#[test]
fn control_frames_interleave_with_fragments() {
    let mut wire = masked(0x01, b"Hel");
    wire.extend(masked(0x89, b"p"));
    wire.extend(masked(0x00, b"l"));
    wire.extend(masked(0x8A, b"q"));
    wire.extend(masked(0x80, b"o"));
    let evs = server(&wire);
    assert_eq!(
        evs,
        [
            Ev::Ping(b"p".to_vec()),
            Ev::Pong(b"q".to_vec()),
            Ev::Text(b"Hello".to_vec())
        ]
    );
}

#[test]
fn close_frames_are_parsed_and_nothing_is_queued() {
    let (evs, out) = run(ReaderConfig::default(), &[&masked(0x88, b"\x03\xe8bye")]);
    assert_eq!(evs, [Ev::Close(1000, "bye".into())]);
    assert!(out.is_empty());
    assert_eq!(server(&masked(0x88, b"")), [Ev::Close(1005, String::new())]);
}

#[test]
fn input_after_close_is_ignored() {
    let mut wire = masked(0x88, b"\x03\xe8");
    wire.extend(masked(0x81, b"late"));
    assert_eq!(server(&wire), [Ev::Close(1000, String::new())]);
}

fn fails_with(bytes: &[u8], code: u16) {
    let (evs, out) = run(ReaderConfig::default(), &[bytes]);
    assert_eq!(evs.last(), Some(&Ev::Fail(code)), "{evs:?}");
    assert_eq!(out[0], 0x88);
    assert_eq!(u16::from_be_bytes([out[2], out[3]]), code);
}

#[test]
fn protocol_errors_fail_with_1002() {
    fails_with(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'], 1002); // unmasked from client
    fails_with(&masked(0x83, b""), 1002); // reserved data opcode
    fails_with(&masked(0x8B, b""), 1002); // reserved control opcode
    fails_with(&masked(0xA1, b""), 1002); // RSV2
    fails_with(&masked(0x91, b""), 1002); // RSV3
    fails_with(&masked(0xC1, b"x"), 1002); // RSV1 without deflate
    fails_with(&masked(0x09, b""), 1002); // fragmented ping
    fails_with(&masked(0x89, &[0; 126]), 1002); // long ping
    fails_with(&masked(0x80, b"x"), 1002); // continuation without start
    fails_with(&[masked(0x01, b"a"), masked(0x81, b"b")].concat(), 1002); // new message mid-fragment
    fails_with(&masked(0x88, b"\x03"), 1002); // 1-byte close body
    fails_with(&masked(0x88, b"\x03\xed"), 1002); // close code 1005
    fails_with(&masked(0x88, b"\x00\x00"), 1002); // close code 0
    fails_with(&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4], 1002); // 2^63 length
}

#[test]
fn client_rejects_masked_frames() {
    let (evs, _) = run(client_cfg(), &[&masked(0x81, b"x")]);
    assert_eq!(evs, [Ev::Fail(1002)]);
}

#[test]
fn invalid_utf8_fails_with_1007_on_the_fragment_that_carries_it() {
    fails_with(&masked(0x81, b"\xff"), 1007);
    fails_with(&masked(0x88, b"\x03\xe8\xff"), 1007);
    // The first fragment is already invalid: fail before the message could end.
    let (evs, _) = run(ReaderConfig::default(), &[&masked(0x01, b"ok\xF0\x80")]);
    assert_eq!(evs, [Ev::Fail(1007)]);
    // A truncated sequence is only invalid once the message ends.
    let (evs, _) = run(ReaderConfig::default(), &[&masked(0x01, b"ok\xE2\x82")]);
    assert_eq!(evs, []);
    let (evs, _) = run(
        ReaderConfig::default(),
        &[&masked(0x01, b"ok\xE2\x82"), &masked(0x80, b"")],
    );
    assert_eq!(evs, [Ev::Fail(1007)]);
}

#[test]
fn oversized_frames_and_messages_fail_with_1009_from_the_header() {
    let cfg = ReaderConfig {
        max_message_size: 10,
        ..ReaderConfig::default()
    };
    // Header alone (payload never sent) is enough.
    let mut hdr = Vec::new();
    encode_header(
        &mut hdr,
        true,
        false,
        OP_BINARY,
        Some([1, 2, 3, 4]),
        1 << 40,
    );
    assert_eq!(run(cfg, &[&hdr]).0, [Ev::Fail(1009)]);
    let frags = [masked(0x02, b"123456"), masked(0x80, b"123456")].concat();
    assert_eq!(run(cfg, &[&frags]).0, [Ev::Fail(1009)]);
    let cfg = ReaderConfig {
        max_frame_size: 4,
        ..ReaderConfig::default()
    };
    assert_eq!(run(cfg, &[&masked(0x82, b"12345")]).0, [Ev::Fail(1009)]);
}

#[test]
fn events_before_a_failure_are_delivered_and_input_after_is_ignored() {
    let wire = [masked(0x81, b"a"), masked(0x83, b""), masked(0x81, b"b")].concat();
    let (evs, _) = run(ReaderConfig::default(), &[&wire, &masked(0x81, b"c")]);
    assert_eq!(evs, [Ev::Text(b"a".to_vec()), Ev::Fail(1002)]);
}

/// Feed `bytes` through the buffered path (free_tail_shared + commit), as the event loop does.
fn feed(r: &mut Reader, w: &mut Writer, bytes: &[u8]) -> Vec<Ev> {
    let (mut buf, start) = r.free_tail_shared();
    buf.as_mut_slice()[start..start + bytes.len()].copy_from_slice(bytes);
    drop(buf);
    let mut evs = Vec::new();
    assert!(r.commit(bytes.len(), w, &mut |e| evs.push(owned(e))));
    evs
}

#[test]
fn a_new_reader_holds_no_read_buffer() {
    assert!(!Reader::new(ReaderConfig::default()).holds_buffer());
}

#[test]
fn the_read_buffer_is_released_once_all_input_is_consumed() {
    let mut r = Reader::new(ReaderConfig::default());
    let mut w = Writer::new(false, None);
    assert_eq!(
        feed(&mut r, &mut w, &masked(0x81, b"hi")),
        [Ev::Text(b"hi".to_vec())]
    );
    assert!(!r.holds_buffer());
}

#[test]
fn a_partial_frame_keeps_the_read_buffer_until_it_completes() {
    let mut r = Reader::new(ReaderConfig::default());
    let mut w = Writer::new(false, None);
    let wire = masked(0x81, b"hello");
    assert!(feed(&mut r, &mut w, &wire[..3]).is_empty());
    assert!(r.holds_buffer());
    assert_eq!(
        feed(&mut r, &mut w, &wire[3..]),
        [Ev::Text(b"hello".to_vec())]
    );
    assert!(!r.holds_buffer());
}

#[test]
fn a_fragmented_message_keeps_the_read_buffer_until_its_last_fragment() {
    let mut r = Reader::new(ReaderConfig::default());
    let mut w = Writer::new(false, None);
    assert!(feed(&mut r, &mut w, &masked(0x01, b"he")).is_empty());
    assert!(r.holds_buffer());
    assert_eq!(
        feed(&mut r, &mut w, &masked(0x80, b"llo")),
        [Ev::Text(b"hello".to_vec())]
    );
    assert!(!r.holds_buffer());
}

#[test]
fn commit_without_a_buffer_is_refused() {
    let mut r = Reader::new(ReaderConfig::default());
    let mut w = Writer::new(false, None);
    assert!(!r.commit(1, &mut w, &mut |_| {}));
    assert!(r.commit(0, &mut w, &mut |_| {}));
}

#[test]
fn a_protocol_error_after_our_close_queues_no_second_close() {
    let mut r = Reader::new(ReaderConfig::default());
    let mut w = Writer::new(false, None);
    w.send_close(Some(1000), "").unwrap();
    assert_eq!(w.take(), [0x88, 0x02, 0x03, 0xe8]);
    let mut evs = Vec::new();
    r.receive(&masked(0x83, b""), &mut w, &mut |e| evs.push(owned(e)));
    assert_eq!(evs, [Ev::Fail(1002)]);
    assert_eq!(w.take(), b"");
}

#[test]
fn pings_after_our_close_are_reported_but_not_ponged() {
    let mut r = Reader::new(ReaderConfig::default());
    let mut w = Writer::new(false, None);
    w.send_close(Some(1000), "").unwrap();
    let mut evs = Vec::new();
    r.receive(&masked(0x89, b"p"), &mut w, &mut |e| evs.push(owned(e)));
    assert_eq!(evs, [Ev::Ping(b"p".to_vec())]);
    assert_eq!(
        w.take(),
        [0x88, 0x02, 0x03, 0xe8],
        "our close frame is the last frame"
    );
}

fn deflate_cfg() -> ReaderConfig {
    ReaderConfig {
        deflate: Some(DeflateParams::default()),
        ..ReaderConfig::default()
    }
}

#[test]
fn compressed_messages_are_inflated() {
    let mut w = Writer::new(true, Some(DeflateParams::default()));
    w.send_message(OP_TEXT, b"Hello");
    w.send_message(OP_TEXT, b"Hello");
    let wire = w.take();
    assert_eq!(
        run(deflate_cfg(), &[&wire]).0,
        [Ev::Text(b"Hello".to_vec()), Ev::Text(b"Hello".to_vec())]
    );
}

#[test]
fn compression_bomb_fails_with_1009() {
    let mut w = Writer::new(true, Some(DeflateParams::default()));
    w.send_message(OP_BINARY, &vec![0u8; 8 << 20]);
    let cfg = ReaderConfig {
        max_message_size: 1 << 20,
        ..deflate_cfg()
    };
    assert_eq!(run(cfg, &[&w.take()]).0, [Ev::Fail(1009)]);
}

#[test]
fn rsv1_on_continuation_fails() {
    let wire = [masked(0x41, b"\xf2\x48"), masked(0xC0, b"\xcd")].concat();
    assert_eq!(run(deflate_cfg(), &[&wire]).0, [Ev::Fail(1002)]);
}

#[test]
fn corrupt_deflate_reports_the_same_failure_under_any_chunking() {
    // Found by the frame_parser fuzz target: inflated garbage that is also invalid UTF-8.
    let data = [193, 107, 107, 107, 107, 77, 77, 38, 133, 103, 0];
    let cfg = ReaderConfig {
        client: true,
        max_message_size: 1000,
        ..deflate_cfg()
    };
    // The queued close frame's length tells the reasons apart (masks are random).
    let summary = |(evs, out): (Vec<Ev>, Vec<u8>)| (evs, out.len());
    let whole = summary(run(cfg, &[&data]));
    for cut in 0..data.len() {
        assert_eq!(
            summary(run(cfg, &[&data[..cut], &data[cut..]])),
            whole,
            "cut at {cut}"
        );
    }
}

#[test]
fn output_past_the_cap_is_too_big_even_when_corrupt_data_follows() {
    // Found by the frame_parser fuzz target (rust/fuzz/regressions/frame_parser-1007-vs-1009):
    // a compressed fragment whose inflated output passes the 1000-byte cap before its deflate
    // data turns invalid. Whole, it failed with 1007; cut before the bad bits, with 1009.
    let data = [
        0x42, 0x4d, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0xdd, 0xe9, 0xce, 0x17, 0x17, 0x5d,
        0x5d, 0x5d, 0x42, 0x3a, 0x3a, 0x07, 0x07, 0xb5, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,
        0x07, 0x2c, 0x42, 0x42, 0x3a, 0x3a, 0xd1, 0xd1, 0x07, 0x07, 0xb5, 0x07, 0x05, 0x07,
        0x07, 0x07, 0x07, 0x07, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xff,
        0xff, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xba, 0xc3, 0xc3, 0xc3, 0x07, 0x7f,
    ];
    let cfg = ReaderConfig {
        client: true,
        max_message_size: 1000,
        max_frame_size: 500,
        read_buffer_size: 1024,
        ..deflate_cfg()
    };
    // The queued close frame's length tells the reasons apart.
    let summary = |(evs, out): (Vec<Ev>, Vec<u8>)| (evs, out.len());
    // Our (masked, client) close frame: 2-byte header, 4-byte key, code, reason.
    let too_big = (vec![Ev::Fail(1009)], 2 + 4 + 2 + "message too big".len());
    let (a, b, c, d) = (3, 15, 26, 54); // the fuzzer's cut points
    let parts = [&data[..a], &data[a..b], &data[b..c], &data[c..d], &data[d..]];
    assert_eq!(summary(run(cfg, &parts)), too_big);
    assert_eq!(summary(run(cfg, &[&data])), too_big);
    for cut in 0..data.len() {
        assert_eq!(summary(run(cfg, &[&data[..cut], &data[cut..]])), too_big, "cut at {cut}");
    }
}

// ---- property tests ----

#[derive(Debug, Clone)]
enum Item {
    /// A data message split into fragments, with control frames after some fragments.
    Message {
        text: bool,
        compressed: bool,
        fragments: Vec<Vec<u8>>,
        pings: Vec<Option<Vec<u8>>>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..40),
        2 => prop::collection::vec(any::<u8>(), 120..130),
        1 => (65530usize..65540).prop_map(|n| (0..n).map(|i| (i % 97) as u8).collect()),
    ]
}

fn text_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-z é€😀]{0,30}".prop_map(String::into_bytes),
        1 => (120usize..70_000).prop_map(|n| "é".repeat(n / 2).into_bytes()),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    let control = prop::collection::vec(any::<u8>(), 0..126);
    prop_oneof![
        4 => (any::<bool>(), any::<bool>(), prop::collection::vec(any::<prop::sample::Index>(), 0..4),
              prop::collection::vec(prop::option::of(prop::collection::vec(any::<u8>(), 0..10)), 4))
            .prop_flat_map(|(text, compressed, cuts, pings)| {
                let body = if text { text_payload().boxed() } else { payload().boxed() };
                body.prop_map(move |b| {
                    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(b.len() + 1)).collect();
                    points.sort();
                    let mut fragments = Vec::new();
                    let mut prev = 0;
                    for p in points { fragments.push(b[prev..p].to_vec()); prev = p; }
                    fragments.push(b[prev..].to_vec());
                    Item::Message { text, compressed, fragments, pings: pings.clone() }
                })
            }),
        1 => control.clone().prop_map(Item::Ping),
        1 => control.prop_map(Item::Pong),
    ]
}

/// Serialize items as a client would (masked, compressed messages as one RSV1 frame) and list
/// the events a server must report.
fn serialize(items: &[Item]) -> (Vec<u8>, Vec<Ev>) {
    let mut w = Writer::new(true, None);
    let mut wz = Writer::new(true, Some(DeflateParams::default()));
    let mut wire = Vec::new();
    let mut evs = Vec::new();
    for it in items {
        match it {
            Item::Ping(p) => {
                w.send_frame(OP_PING, p, true, false);
                evs.push(Ev::Ping(p.clone()));
            }
            Item::Pong(p) => {
                w.send_frame(OP_PONG, p, true, false);
                evs.push(Ev::Pong(p.clone()));
            }
            Item::Message {
                text,
                compressed,
                fragments,
                pings,
            } => {
                let op = if *text { OP_TEXT } else { OP_BINARY };
                let whole = fragments.concat();
                if *compressed {
                    wz.send_message(op, &whole);
                    wire.extend(w.take());
                    wire.extend(wz.take());
                } else {
                    for (i, f) in fragments.iter().enumerate() {
                        let last = i + 1 == fragments.len();
                        w.send_frame(if i == 0 { op } else { OP_CONT }, f, last, false);
                        if let (false, Some(Some(p))) = (last, pings.get(i)) {
                            w.send_frame(OP_PING, p, true, false);
                            evs.push(Ev::Ping(p.clone()));
                        }
                    }
                }
                evs.push(if *text {
                    Ev::Text(whole)
                } else {
                    Ev::Binary(whole)
                });
            }
        }
        wire.extend(w.take());
    }
    (wire, evs)
}

fn chunked<'a>(data: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
    points.sort();
    let mut parts = Vec::new();
    let mut prev = 0;
    for p in points {
        parts.push(&data[prev..p]);
        prev = p;
    }
    parts.push(&data[prev..]);
    parts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn serialized_frames_reparse_to_the_same_events_under_any_chunking(
        items in prop::collection::vec(item(), 0..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let (wire, expected) = serialize(&items);
        let cfg = ReaderConfig { read_buffer_size: 1024, ..deflate_cfg() };
        let (evs, _) = run(cfg, &chunked(&wire, &cuts));
        prop_assert_eq!(evs, expected);
    }

    #[test]
    fn arbitrary_bytes_give_the_same_events_under_any_chunking(
        data in prop::collection::vec(any::<u8>(), 0..400),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        client in any::<bool>(),
    ) {
        let cfg = ReaderConfig { client, max_message_size: 300, ..deflate_cfg() };
        let (whole, out1) = run(cfg, &[&data]);
        let (parts, out2) = run(cfg, &chunked(&data, &cuts));
        prop_assert_eq!(whole, parts);
        prop_assert_eq!(out1.len(), out2.len());
    }
}

#[test]
fn event_parts_carry_the_opcode_as_kind() {
    assert_eq!(Event::Text(b"a").parts(), EventParts::Payload(0x1, b"a"));
    assert_eq!(Event::Binary(b"b").parts(), EventParts::Payload(0x2, b"b"));
    assert_eq!(Event::Ping(b"").parts(), EventParts::Payload(0x9, b""));
    assert_eq!(Event::Pong(b"p").parts(), EventParts::Payload(0xA, b"p"));
    assert_eq!(Event::Close(1000, "bye").parts(), EventParts::Status(0x8, 1000, "bye"));
}

#[test]
fn a_failure_reports_kind_fail() {
    assert_eq!(Event::Fail(1002, "bad").parts(), EventParts::Status(FAIL, 1002, "bad"));
}

#[test]
fn event_kinds_are_named_for_python() {
    let kind = |name: &str| EVENT_KINDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k);
    assert_eq!(kind("TEXT"), Some(0x1));
    assert_eq!(kind("BINARY"), Some(0x2));
    assert_eq!(kind("CLOSE"), Some(0x8));
    assert_eq!(kind("PING"), Some(0x9));
    assert_eq!(kind("PONG"), Some(0xA));
    assert_eq!(kind("FAIL"), Some(FAIL));
}
