//! Streaming decoder for AWS's binary event stream (`application/vnd.amazon.eventstream`), the
//! framing of Bedrock's `invoke-with-response-stream` and `converse-stream` answers
//! (providers.md §5.3).
//!
//! One message, all integers big-endian:
//! `[total_len u32][headers_len u32][prelude_crc u32][headers][payload][message_crc u32]`, where
//! `prelude_crc` is the CRC32 (IEEE, zlib's) of the first 8 bytes and `message_crc` the CRC32 of
//! everything before it. A header is `[name_len u8][name][type u8][value]`, the value typed:
//! 0 true, 1 false, 2 i8, 3 i16, 4 i32, 5 i64, 6 bytes (u16 length), 7 UTF-8 string (u16
//! length), 8 timestamp (i64 ms), 9 UUID (16 bytes).
//!
//! The decoder is sans-I/O and split-invariant (the same bytes give the same messages however
//! they are cut into reads), never panics on any input, checks both CRCs, and bounds memory:
//! headers over 128 KiB, or a message over `max_message_size`, is an error as soon as its prelude
//! says so (nothing of it is buffered). A whole message inside one read is decoded in place; only
//! a message straddling reads is copied. After an error the decoder stays failed.
//!
//! `relayable` says what aigw relays of one decoded message (Bedrock's conventions, as boto3
//! presents them): a `chunk` event's model event (its base64 `bytes`), `{"<event-type>": payload}`
//! for any other event, and an error for an `exception` or `error` message.

use std::borrow::Cow;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use crate::envelope::push_json_string;
use crate::sse::StreamError;

/// Bytes before the headers: total length, headers length, prelude CRC.
pub const PRELUDE_LEN: usize = 12;
/// Prelude plus the trailing message CRC: the smallest possible message.
pub const MIN_MESSAGE_LEN: usize = PRELUDE_LEN + 4;
/// AWS's limit on the headers of one message.
pub const MAX_HEADERS_LEN: usize = 128 * 1024;
/// AWS's limit on one payload, plus the largest headers and the framing.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024 + MAX_HEADERS_LEN + MIN_MESSAGE_LEN;

/// A typed header value, borrowing the decoder's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(&'a [u8]),
    String(&'a str),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One decoded message: its headers in wire order and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub headers: Vec<(&'a str, HeaderValue<'a>)>,
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// The value of string header `name` (e.g. `:event-type`), if present and a string.
    pub fn header_str(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find_map(|(n, v)| match v {
            HeaderValue::String(s) if *n == name => Some(*s),
            _ => None,
        })
    }
}

/// CRC32 (IEEE) of `parts` in order. crc32fast picks the SIMD kernel at run time; flate2's
/// `Crc` reaches zlib-rs built without `std`, i.e. without CPU detection: its table CRC was a
/// third of the decoder's time.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    for part in parts {
        crc.update(part);
    }
    crc.finalize()
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Take `n` bytes from the front of `input`, or fail with `what`.
fn take<'a>(input: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], StreamError> {
    if input.len() < n {
        return Err(StreamError(what));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

/// Parse the headers block (exactly `block`, no more, no less).
pub fn parse_headers(mut block: &[u8]) -> Result<Vec<(&str, HeaderValue<'_>)>, StreamError> {
    const SHORT: &str = "event stream header runs past the headers block";
    let mut headers = Vec::new();
    while !block.is_empty() {
        let name_len = take(&mut block, 1, SHORT)?[0] as usize;
        if name_len == 0 {
            return Err(StreamError("event stream header with an empty name"));
        }
        let name = std::str::from_utf8(take(&mut block, name_len, SHORT)?)
            .map_err(|_| StreamError("event stream header name is not UTF-8"))?;
        let kind = take(&mut block, 1, SHORT)?[0];
        let value = match kind {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(take(&mut block, 1, SHORT)?[0] as i8),
            3 => {
                let b = take(&mut block, 2, SHORT)?;
                HeaderValue::Short(i16::from_be_bytes([b[0], b[1]]))
            }
            4 => HeaderValue::Int(be_u32(take(&mut block, 4, SHORT)?) as i32),
            5 | 8 => {
                let b = take(&mut block, 8, SHORT)?;
                let v = i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                if kind == 5 {
                    HeaderValue::Long(v)
                } else {
                    HeaderValue::Timestamp(v)
                }
            }
            6 | 7 => {
                let b = take(&mut block, 2, SHORT)?;
                let len = u16::from_be_bytes([b[0], b[1]]) as usize;
                let bytes = take(&mut block, len, SHORT)?;
                if kind == 6 {
                    HeaderValue::Bytes(bytes)
                } else {
                    HeaderValue::String(
                        std::str::from_utf8(bytes).map_err(|_| StreamError("event stream string header is not UTF-8"))?,
                    )
                }
            }
            9 => {
                let b = take(&mut block, 16, SHORT)?;
                let mut uuid = [0u8; 16];
                uuid.copy_from_slice(b);
                HeaderValue::Uuid(uuid)
            }
            _ => return Err(StreamError("event stream header of an unknown type")),
        };
        headers.push((name, value));
    }
    Ok(headers)
}

/// Check a prelude (at least PRELUDE_LEN bytes): its CRC and lengths. Returns the message's
/// total length and its headers' length.
fn check_prelude(prelude: &[u8], max_message_size: usize) -> Result<(usize, usize), StreamError> {
    if crc32(&[&prelude[..8]]) != be_u32(&prelude[8..12]) {
        return Err(StreamError("event stream prelude CRC mismatch"));
    }
    let total = be_u32(&prelude[0..4]) as usize;
    let headers = be_u32(&prelude[4..8]) as usize;
    if total < MIN_MESSAGE_LEN || headers > total - MIN_MESSAGE_LEN {
        return Err(StreamError("event stream message lengths are inconsistent"));
    }
    if headers > MAX_HEADERS_LEN {
        return Err(StreamError("event stream headers over 128 KiB"));
    }
    if total > max_message_size {
        return Err(StreamError("event stream message over the size limit"));
    }
    Ok((total, headers))
}

/// Decode one complete message (`msg.len()` is its total length, prelude already checked).
fn decode_message(msg: &[u8], headers_len: usize) -> Result<Message<'_>, StreamError> {
    let body_end = msg.len() - 4;
    if crc32(&[&msg[..body_end]]) != be_u32(&msg[body_end..]) {
        return Err(StreamError("event stream message CRC mismatch"));
    }
    let headers = parse_headers(&msg[PRELUDE_LEN..PRELUDE_LEN + headers_len])?;
    Ok(Message { headers, payload: &msg[PRELUDE_LEN + headers_len..body_end] })
}

/// Incremental decoder of a stream of event-stream messages.
#[derive(Debug)]
pub struct EventStreamDecoder {
    /// A message straddling reads (its prelude is checked once 12 bytes are here).
    pending: Vec<u8>,
    /// Total and headers length of the pending message, once its prelude was checked.
    pending_lens: Option<(usize, usize)>,
    max_message_size: usize,
    failed: bool,
}

impl EventStreamDecoder {
    /// A decoder refusing messages longer than `max_message_size` bytes (framing included).
    pub fn new(max_message_size: usize) -> Self {
        EventStreamDecoder { pending: Vec::new(), pending_lens: None, max_message_size, failed: false }
    }

    /// Decode one read, calling `emit` for every message it completes. An error (bad CRC,
    /// inconsistent lengths, oversized message, malformed header) leaves the decoder failed.
    pub fn feed(&mut self, input: &[u8], emit: &mut impl FnMut(Message<'_>)) -> Result<(), StreamError> {
        if self.failed {
            return Err(StreamError("event stream decoder already failed"));
        }
        let r = self.feed_inner(input, emit);
        if r.is_err() {
            self.failed = true;
            self.pending = Vec::new();
        }
        r
    }

    fn feed_inner(&mut self, mut input: &[u8], emit: &mut impl FnMut(Message<'_>)) -> Result<(), StreamError> {
        if !self.pending.is_empty() {
            // Complete the prelude, then the message, from this read.
            if self.pending.len() < PRELUDE_LEN {
                let n = (PRELUDE_LEN - self.pending.len()).min(input.len());
                self.pending.extend_from_slice(&input[..n]);
                input = &input[n..];
                if self.pending.len() < PRELUDE_LEN {
                    return Ok(());
                }
                self.pending_lens = Some(check_prelude(&self.pending, self.max_message_size)?);
            }
            let Some((total, headers_len)) = self.pending_lens else {
                return Err(StreamError("event stream decoder lost its prelude"));
            };
            let n = (total - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..n]);
            input = &input[n..];
            if self.pending.len() < total {
                return Ok(());
            }
            let msg = std::mem::take(&mut self.pending);
            self.pending_lens = None;
            emit(decode_message(&msg, headers_len)?);
        }
        // Whole messages are decoded in place; a partial one is kept for the next read.
        while input.len() >= PRELUDE_LEN {
            let (total, headers_len) = check_prelude(input, self.max_message_size)?;
            if input.len() < total {
                self.pending_lens = Some((total, headers_len));
                break;
            }
            let (msg, rest) = input.split_at(total);
            emit(decode_message(msg, headers_len)?);
            input = rest;
        }
        if !input.is_empty() {
            self.pending.reserve(self.pending_lens.map_or(PRELUDE_LEN, |(total, _)| total));
            self.pending.extend_from_slice(input);
        }
        Ok(())
    }

    /// The stream ended: true when a partial message was left (the stream was truncated).
    pub fn finish(&mut self) -> bool {
        let truncated = !self.pending.is_empty();
        self.pending = Vec::new();
        self.pending_lens = None;
        truncated
    }
}

/// Standard base64 as Python's `binascii.a2b_base64(strict_mode=True)` takes it: canonical
/// padding required, no whitespace or other bytes, unused low bits of the last symbol ignored.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// How AWS serialises a `chunk` payload: `{"bytes":"<base64>"` then optional fields.
const CHUNK_PREFIX: &[u8] = br#"{"bytes":""#;

/// The value of the last header called `name` as a string (None when absent or not a string).
/// A repeated header counts by its last value, as a dict of the headers would.
fn last_str<'a>(m: &Message<'a>, name: &str) -> Option<&'a str> {
    match m.headers.iter().rev().find(|(n, _)| *n == name)?.1 {
        HeaderValue::String(s) => Some(s),
        _ => None,
    }
}

/// What the relay sends for message `m` (the JSON of one `universal.stream`):
/// * `:message-type` `exception` or `error`: an error naming AWS's `:exception-type` (or
///   `:error-code`), never the payload: the stream failed mid-way;
/// * `:event-type` `chunk` (invoke-with-response-stream): the model event its `bytes` carry,
///   base64-decoded into `decoded` (an invalid base64 string is an error; a payload without a
///   string `bytes` field is relayed as it is);
/// * any other `:event-type` (converse-stream): `{"<event-type>": payload}`, boto3's shape;
/// * no event type: the payload.
pub fn relayable<'a: 'r, 'r>(m: &Message<'a>, decoded: &'r mut Vec<u8>) -> Result<&'r [u8], Cow<'static, str>> {
    match last_str(m, ":message-type") {
        Some("exception") => {
            return Err(format!("upstream {}", last_str(m, ":exception-type").unwrap_or("exception")).into());
        }
        Some("error") => {
            let message = format!("upstream error {}", last_str(m, ":error-code").unwrap_or(""));
            return Err(message.trim_end().to_string().into());
        }
        _ => {}
    }
    let payload = m.payload;
    decoded.clear();
    match last_str(m, ":event-type") {
        Some("chunk") => {
            // The common spelling is decoded without parsing its JSON: base64 has no `"` or
            // `\`, so the first quote ends the string. Anything else takes the JSON path.
            if let Some(rest) = payload.strip_prefix(CHUNK_PREFIX) {
                if let Some(end) = memchr::memchr(b'"', rest) {
                    if BASE64.decode_vec(&rest[..end], decoded).is_ok() {
                        return Ok(decoded);
                    }
                    decoded.clear();
                }
            }
            match serde_json::from_slice::<serde_json::Value>(payload) {
                Ok(serde_json::Value::Object(doc)) => match doc.get("bytes") {
                    Some(serde_json::Value::String(text)) => match BASE64.decode_vec(text.as_bytes(), decoded) {
                        Ok(()) => Ok(decoded),
                        Err(_) => Err(Cow::Borrowed("upstream chunk with invalid base64")),
                    },
                    _ => Ok(payload),
                },
                _ => Ok(payload),
            }
        }
        Some(event_type) => {
            decoded.reserve(event_type.len() + payload.len() + 6);
            decoded.push(b'{');
            push_json_string(decoded, event_type.as_bytes());
            decoded.push(b':');
            decoded.extend_from_slice(payload);
            decoded.push(b'}');
            Ok(decoded)
        }
        None => Ok(payload),
    }
}

/// Encode one message with string headers (tests, simulators, benchmarks).
pub fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in headers {
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(7);
        block.extend_from_slice(&(value.len() as u16).to_be_bytes());
        block.extend_from_slice(value.as_bytes());
    }
    let total = (MIN_MESSAGE_LEN + block.len() + payload.len()) as u32;
    let mut msg = Vec::with_capacity(total as usize);
    msg.extend_from_slice(&total.to_be_bytes());
    msg.extend_from_slice(&(block.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&[&msg]);
    msg.extend_from_slice(&prelude_crc.to_be_bytes());
    msg.extend_from_slice(&block);
    msg.extend_from_slice(payload);
    let crc = crc32(&[&msg]);
    msg.extend_from_slice(&crc.to_be_bytes());
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    type Owned = (Vec<(String, String)>, Vec<u8>);

    fn owned(m: Message<'_>) -> Owned {
        let headers = m.headers.iter().map(|(n, v)| (n.to_string(), format!("{v:?}"))).collect();
        (headers, m.payload.to_vec())
    }

    fn decode_all(pieces: &[&[u8]]) -> (Result<Vec<Owned>, StreamError>, bool) {
        let mut d = EventStreamDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        let mut out = Vec::new();
        for p in pieces {
            if let Err(e) = d.feed(p, &mut |m| out.push(owned(m))) {
                return (Err(e), d.finish());
            }
        }
        let truncated = d.finish();
        (Ok(out), truncated)
    }

    const EVENT: [(&str, &str); 3] =
        [(":event-type", "contentBlockDelta"), (":content-type", "application/json"), (":message-type", "event")];
    const PAYLOAD: &[u8] = br#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"ab"}"#;

    /// providers.md §5.3's sample, built by the reference Python encoder (es_frame).
    fn sample() -> Vec<u8> {
        let mut stream = encode(&EVENT, PAYLOAD);
        stream.extend(encode(
            &[(":event-type", "metadata"), (":content-type", "application/json"), (":message-type", "event")],
            br#"{"usage":{"inputTokens":5,"outputTokens":2,"totalTokens":7},"metrics":{"latencyMs":42}}"#,
        ));
        stream
    }

    #[test]
    fn the_reference_sample_decodes_to_its_headers_and_payload() {
        let bytes = encode(&EVENT, PAYLOAD);
        // The same bytes as providers.md's reference encoder es_frame() (lengths and both CRCs).
        assert_eq!(bytes.len(), 157);
        assert_eq!(&bytes[..12], &[0, 0, 0, 157, 0, 0, 0, 87, 185, 187, 248, 159]);
        assert_eq!(&bytes[153..], &[139, 56, 178, 104]);
        let mut d = EventStreamDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        let mut got = Vec::new();
        d.feed(&bytes, &mut |m| {
            assert_eq!(m.header_str(":event-type"), Some("contentBlockDelta"));
            assert_eq!(m.header_str(":message-type"), Some("event"));
            got.push(m.payload.to_vec());
        })
        .unwrap();
        assert_eq!(got, vec![PAYLOAD.to_vec()]);
        assert!(!d.finish());
    }

    #[test]
    fn a_stream_split_at_every_byte_gives_the_same_messages() {
        let stream = sample();
        let (whole, _) = decode_all(&[&stream]);
        let whole = whole.unwrap();
        assert_eq!(whole.len(), 2);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(decode_all(&[a, b]), (Ok(whole.clone()), false), "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode_all(&bytes), (Ok(whole), false));
    }

    #[test]
    fn a_flipped_bit_anywhere_is_caught_by_a_crc_or_a_length_check() {
        let stream = encode(&EVENT, PAYLOAD);
        for i in 0..stream.len() {
            let mut bad = stream.clone();
            bad[i] ^= 0x01;
            let (r, _) = decode_all(&[&bad]);
            assert!(r.is_err() || r.as_ref().unwrap().is_empty(), "byte {i}");
        }
    }

    #[test]
    fn a_truncated_stream_is_reported_by_finish() {
        let stream = sample();
        let (r, truncated) = decode_all(&[&stream[..stream.len() - 3]]);
        assert_eq!(r.unwrap().len(), 1);
        assert!(truncated);
    }

    #[test]
    fn an_oversized_message_fails_at_its_prelude_without_buffering_it() {
        let mut prelude = Vec::new();
        prelude.extend_from_slice(&(64u32 << 20).to_be_bytes());
        prelude.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32(&[&prelude]);
        prelude.extend_from_slice(&crc.to_be_bytes());
        let mut d = EventStreamDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        assert_eq!(d.feed(&prelude, &mut |_| {}), Err(StreamError("event stream message over the size limit")));
        assert!(d.feed(b"", &mut |_| {}).is_err(), "stays failed");
    }

    #[test]
    fn inconsistent_lengths_are_refused() {
        for (total, headers) in [(15u32, 0u32), (16, 1), (20, 5)] {
            let mut m = Vec::new();
            m.extend_from_slice(&total.to_be_bytes());
            m.extend_from_slice(&headers.to_be_bytes());
            let crc = crc32(&[&m]);
            m.extend_from_slice(&crc.to_be_bytes());
            m.resize(total.max(16) as usize, 0);
            assert!(decode_all(&[&m]).0.is_err(), "{total}/{headers}");
        }
    }

    #[test]
    fn every_header_type_decodes() {
        let mut block = Vec::new();
        let mut push = |name: &str, kind: u8, value: &[u8]| {
            block.push(name.len() as u8);
            block.extend_from_slice(name.as_bytes());
            block.push(kind);
            block.extend_from_slice(value);
        };
        push("t", 0, &[]);
        push("f", 1, &[]);
        push("b", 2, &[0xFF]);
        push("s", 3, &(-2i16).to_be_bytes());
        push("i", 4, &(-3i32).to_be_bytes());
        push("l", 5, &(-4i64).to_be_bytes());
        push("y", 6, &[0, 2, 0xDE, 0xAD]);
        push("z", 7, &[0, 2, b'o', b'k']);
        push("ts", 8, &1_700_000_000_000i64.to_be_bytes());
        push("u", 9, &[7; 16]);
        let headers = parse_headers(&block).unwrap();
        assert_eq!(
            headers,
            vec![
                ("t", HeaderValue::Bool(true)),
                ("f", HeaderValue::Bool(false)),
                ("b", HeaderValue::Byte(-1)),
                ("s", HeaderValue::Short(-2)),
                ("i", HeaderValue::Int(-3)),
                ("l", HeaderValue::Long(-4)),
                ("y", HeaderValue::Bytes(&[0xDE, 0xAD])),
                ("z", HeaderValue::String("ok")),
                ("ts", HeaderValue::Timestamp(1_700_000_000_000)),
                ("u", HeaderValue::Uuid([7; 16])),
            ]
        );
    }

    fn relayed(headers: &[(&str, &str)], payload: &[u8]) -> Result<Vec<u8>, Cow<'static, str>> {
        let bytes = encode(headers, payload);
        let mut out = None;
        EventStreamDecoder::new(DEFAULT_MAX_MESSAGE_SIZE)
            .feed(&bytes, &mut |m| out = Some(relayable(&m, &mut Vec::new()).map(|d| d.to_vec())))
            .unwrap();
        out.unwrap()
    }

    const CHUNK: [(&str, &str); 2] = [(":event-type", "chunk"), (":message-type", "event")];

    #[test]
    fn a_chunk_relays_the_model_event_its_base64_carries_in_any_json_spelling() {
        for payload in [&br#"{"bytes":"eyJhIjoxfQ==","p":"abc"}"#[..], br#"{"p":"x","bytes":"eyJhIjoxfQ=="}"#, br#"{ "bytes" : "eyJhIjoxfQ\u003d\u003d" }"#] {
            assert_eq!(relayed(&CHUNK, payload), Ok(br#"{"a":1}"#.to_vec()), "{:?}", String::from_utf8_lossy(payload));
        }
    }

    #[test]
    fn a_chunk_with_invalid_base64_is_an_error_and_one_without_bytes_is_relayed_as_is() {
        for bad in [&br#"{"bytes":"eyJhIjoxfQ"}"#[..], br#"{"bytes":"ey J"}"#, br#"{"bytes":"\u00e9"}"#] {
            assert_eq!(relayed(&CHUNK, bad), Err(Cow::Borrowed("upstream chunk with invalid base64")));
        }
        for kept in [&br#"{"other":1}"#[..], b"not json", br#"{"bytes":5}"#, b"[]"] {
            assert_eq!(relayed(&CHUNK, kept), Ok(kept.to_vec()));
        }
    }

    #[test]
    fn other_events_are_wrapped_in_their_event_type() {
        assert_eq!(relayed(&EVENT, PAYLOAD), Ok([&br#"{"contentBlockDelta":"#[..], PAYLOAD, b"}"].concat()));
        assert_eq!(relayed(&[(":event-type", "a\"b")], b"1"), Ok(br#"{"a\"b":1}"#.to_vec()));
        assert_eq!(relayed(&[(":message-type", "event")], b"{}"), Ok(b"{}".to_vec()));
    }

    #[test]
    fn exception_and_error_messages_fail_naming_their_type_not_their_payload() {
        let exception = [(":message-type", "exception"), (":exception-type", "throttlingException")];
        assert_eq!(relayed(&exception, b"{\"message\":\"secret\"}"), Err(Cow::Borrowed("upstream throttlingException")));
        assert_eq!(relayed(&[(":message-type", "exception")], b"{}"), Err(Cow::Borrowed("upstream exception")));
        assert_eq!(relayed(&[(":message-type", "error"), (":error-code", "InternalError")], b""), Err(Cow::Borrowed("upstream error InternalError")));
        assert_eq!(relayed(&[(":message-type", "error")], b""), Err(Cow::Borrowed("upstream error")));
    }

    #[test]
    fn a_repeated_header_counts_by_its_last_value() {
        let headers = [(":message-type", "event"), (":event-type", "chunk"), (":message-type", "exception")];
        assert_eq!(relayed(&headers, b"{}"), Err(Cow::Borrowed("upstream exception")));
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        for block in [&[0u8][..], &[1, b'a'], &[1, b'a', 10], &[1, b'a', 7, 0, 5, b'x'], &[1, 0xFF, 0], &[1, b'a', 7, 0, 1, 0xFF]] {
            assert!(parse_headers(block).is_err(), "{block:?}");
        }
    }
}
