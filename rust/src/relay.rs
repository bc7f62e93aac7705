//! The stream relay: upstream SSE / NDJSON / AWS event-stream bytes in, finished
//! `universal.stream` messages out.
//!
//! One `Relay` per streamed request. Each network read is fed once; every event's data is
//! spliced into the request's envelope (see `envelope`) and handed to a sink closure (the
//! WebSocket writer) without building anything per event on the Python side. Terminator
//! payloads such as `[DONE]` are swallowed. An AWS event stream's messages are relayed as
//! `eventstream::relayable` says (Bedrock's base64 `chunk`s decoded; an `exception` message
//! fails the stream). The first and last few payloads are kept so Python can read the
//! provider's usage report at the end, and the whole body can be collected for the log when
//! payload logging is on (bounded). Fed without a sink, the relay only reads the events (the
//! HTTP route's tap beside bytes passed through unchanged).

use std::borrow::Cow;
use std::collections::VecDeque;

use crate::envelope::Envelope;
use crate::json_repeat::RepeatScan;
use crate::eventstream::{relayable, EventStreamDecoder};
use crate::sse::{NdjsonDecoder, SseDecoder, StreamError};

/// How the upstream body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Sse,
    Ndjson,
    /// AWS's binary event stream (`application/vnd.amazon.eventstream`, Bedrock's streams).
    EventStream,
}

enum Decoder {
    Sse(SseDecoder),
    Ndjson(NdjsonDecoder),
    EventStream(EventStreamDecoder),
}

impl Framing {
    /// The framing called `name` ("sse", "ndjson" or "eventstream"); otherwise a message naming it.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "sse" => Ok(Framing::Sse),
            "ndjson" => Ok(Framing::Ndjson),
            "eventstream" => Ok(Framing::EventStream),
            other => Err(format!("unknown framing {other:?} (sse, ndjson or eventstream)")),
        }
    }
}

/// Where finished messages go: a sink closure, or None to only read the events.
pub type MessageSink<'s> = Option<&'s mut dyn FnMut(&[u8])>;

/// Why a stream failed: a framing error, or (event stream) the upstream's own mid-stream
/// exception, named by its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayError(pub Cow<'static, str>);

impl From<StreamError> for RelayError {
    fn from(e: StreamError) -> Self {
        RelayError(Cow::Borrowed(e.0))
    }
}

/// Most payloads kept at either end of a stream: larger `keep_first`/`keep_last` are capped.
pub const MAX_KEEP: usize = 64;

/// Settings of one relay.
#[derive(Clone, Debug)]
pub struct RelayOptions {
    pub framing: Framing,
    /// Data payload that ends the stream and is not relayed (`[DONE]`), compared after
    /// trimming ASCII whitespace.
    pub terminator: Option<Vec<u8>>,
    /// How many payloads to keep from the start and from the end of the stream.
    pub keep_first: usize,
    pub keep_last: usize,
    /// Largest single event (an event-stream message, framing included); a bigger one fails
    /// the stream.
    pub max_event_size: usize,
    /// Keep the raw upstream body, up to this many bytes (0 = do not collect).
    pub collect_limit: usize,
}

/// Upstream stream → relayed messages.
pub struct Relay {
    decoder: Decoder,
    envelope: Envelope,
    options: RelayOptions,
    first: Vec<Vec<u8>>,
    last: VecDeque<Vec<u8>>,
    events: u64,
    saw_terminator: bool,
    collected: Vec<u8>,
    scratch: Vec<u8>,
    /// An event-stream message's relayed form when it is not its payload as is.
    decoded: Vec<u8>,
    /// A feed failed: the stream is broken and every later feed fails too.
    failed: bool,
    /// Each event's JSON check, resumed where it stops repeating the last event.
    judge: RepeatScan,
}

fn trim(data: &[u8]) -> &[u8] {
    let start = data.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(data.len());
    let end = data.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &data[start..end.max(start)]
}

impl RelayOptions {
    /// Options as the binding takes them: keep counts capped at `MAX_KEEP`, and the raw body
    /// collected (up to `collect_limit` bytes) only when `collect` is set.
    pub fn new(
        framing: Framing,
        terminator: Option<Vec<u8>>,
        keep_first: usize,
        keep_last: usize,
        max_event_size: usize,
        collect: bool,
        collect_limit: usize,
    ) -> Self {
        RelayOptions {
            framing,
            terminator,
            keep_first: keep_first.min(MAX_KEEP),
            keep_last: keep_last.min(MAX_KEEP),
            max_event_size,
            collect_limit: if collect { collect_limit } else { 0 },
        }
    }
}

impl Relay {
    /// A relay whose messages use `envelope`.
    pub fn new(envelope: Envelope, options: RelayOptions) -> Self {
        let decoder = match options.framing {
            Framing::Sse => Decoder::Sse(SseDecoder::new(options.max_event_size)),
            Framing::Ndjson => Decoder::Ndjson(NdjsonDecoder::new(options.max_event_size)),
            Framing::EventStream => Decoder::EventStream(EventStreamDecoder::new(options.max_event_size)),
        };
        Relay {
            decoder,
            envelope,
            first: Vec::with_capacity(options.keep_first),
            last: VecDeque::with_capacity(options.keep_last),
            options,
            events: 0,
            saw_terminator: false,
            collected: Vec::new(),
            scratch: Vec::new(),
            decoded: Vec::new(),
            failed: false,
            judge: RepeatScan::new(),
        }
    }

    /// Payloads kept from the start of the stream.
    pub fn first(&self) -> &[Vec<u8>] {
        &self.first
    }

    /// Payloads kept from the end of the stream (oldest first).
    pub fn last(&self) -> impl ExactSizeIterator<Item = &Vec<u8>> {
        self.last.iter()
    }

    /// Events relayed so far (terminators excluded).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether the terminator payload was seen. An event stream has none (its end is the end
    /// of its last message): always true there.
    pub fn saw_terminator(&self) -> bool {
        self.saw_terminator || self.options.framing == Framing::EventStream
    }

    /// The collected upstream body (empty unless collecting).
    pub fn collected(&self) -> &[u8] {
        &self.collected
    }

    /// Feed one network read; `send` receives each finished message (None: events are only
    /// read, counted and kept). Returns the number of events. Messages completed before an
    /// error in the same read are sent; after an error every feed fails.
    pub fn feed(&mut self, chunk: &[u8], mut send: MessageSink<'_>) -> Result<usize, RelayError> {
        if self.failed {
            return Err(RelayError(Cow::Borrowed("the relay failed earlier")));
        }
        if self.options.collect_limit > 0 {
            let room = self.options.collect_limit.saturating_sub(self.collected.len());
            self.collected.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        let mut produced = 0usize;
        let Relay { decoder, envelope, options, first, last, events, saw_terminator, scratch, decoded, failed, judge, .. } = self;
        let mut on_data = |data: &[u8]| {
            if *saw_terminator {
                return; // anything after the terminator is not part of the answer
            }
            if let Some(term) = &options.terminator {
                if trim(data) == term.as_slice() {
                    *saw_terminator = true;
                    return;
                }
            }
            if first.len() < options.keep_first {
                first.push(data.to_vec());
            } else if options.keep_last > 0 {
                // The oldest kept payload's buffer takes the newest: no allocation per event.
                let mut kept = if last.len() == options.keep_last { last.pop_front().unwrap_or_default() } else { Vec::new() };
                kept.clear();
                kept.extend_from_slice(data);
                last.push_back(kept);
            }
            if let Some(send) = send.as_mut() {
                scratch.clear();
                envelope.write_judged(data, judge.is_json(data), scratch);
                send(scratch);
            }
            *events += 1;
            produced += 1;
        };
        let fed: Result<(), RelayError> = match decoder {
            Decoder::Sse(d) => d.feed(chunk, &mut |event| on_data(event.data)).map_err(RelayError::from),
            Decoder::Ndjson(d) => d
                .feed(chunk, &mut |line| {
                    if !trim(line).is_empty() {
                        on_data(line)
                    }
                })
                .map_err(RelayError::from),
            Decoder::EventStream(d) => {
                // The decoder finishes the read; messages after an exception are not relayed.
                let mut refused: Option<Cow<'static, str>> = None;
                let r = d.feed(chunk, &mut |m| {
                    if refused.is_none() {
                        match relayable(&m, decoded) {
                            Ok(data) => on_data(data),
                            Err(e) => refused = Some(e),
                        }
                    }
                });
                match refused {
                    Some(e) => Err(RelayError(e)),
                    None => r.map_err(RelayError::from),
                }
            }
        };
        *failed = fed.is_err();
        fed.map(|()| produced)
    }

    /// The upstream ended. NDJSON's final unterminated line is relayed; an SSE event cut off
    /// before its blank line is not (WHATWG), nor is a partial event-stream message, and both
    /// are reported: returns true when the stream was truncated mid-event.
    pub fn finish(&mut self, send: MessageSink<'_>) -> bool {
        match &mut self.decoder {
            Decoder::Sse(d) => d.finish(),
            Decoder::EventStream(d) => d.finish(),
            Decoder::Ndjson(d) => {
                if let Some(line) = d.finish() {
                    if !trim(&line).is_empty() {
                        // Re-enter the common path for the last line.
                        let _ = self.feed_line(&line, send);
                    }
                }
                false
            }
        }
    }

    fn feed_line(&mut self, line: &[u8], send: MessageSink<'_>) -> Result<usize, RelayError> {
        let mut with_newline = line.to_vec();
        with_newline.push(b'\n');
        let limit = std::mem::take(&mut self.options.collect_limit); // already collected
        let result = self.feed(&with_newline, send);
        self.options.collect_limit = limit;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(framing: Framing, terminator: Option<&[u8]>) -> Relay {
        Relay::new(
            Envelope::stream("e1"),
            RelayOptions {
                framing,
                terminator: terminator.map(|t| t.to_vec()),
                keep_first: 1,
                keep_last: 2,
                max_event_size: 1 << 20,
                collect_limit: 0,
            },
        )
    }

    fn run(r: &mut Relay, chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        for c in chunks {
            r.feed(c, Some(&mut |m: &[u8]| out.push(String::from_utf8(m.to_vec()).unwrap()))).unwrap();
        }
        out
    }

    #[test]
    fn sse_events_become_stream_messages_and_done_is_swallowed() {
        let mut r = relay(Framing::Sse, Some(b"[DONE]"));
        let out = run(&mut r, &[b"data: {\"a\":1}\n\ndata: {\"a\"", b":2}\n\ndata: [DONE]\n\n"]);
        assert_eq!(
            out,
            [
                r#"{"type":"universal.stream","metadata":{"eventId":"e1"},"response":{"a":1}}"#,
                r#"{"type":"universal.stream","metadata":{"eventId":"e1"},"response":{"a":2}}"#,
            ]
        );
        assert!(r.saw_terminator());
        assert_eq!(r.events(), 2);
    }

    #[test]
    fn comments_and_event_names_are_not_relayed_but_data_is() {
        let mut r = relay(Framing::Sse, None);
        let out = run(&mut r, &[b": keep-alive\r\n\r\nevent: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n"]);
        assert_eq!(out.len(), 1);
        assert!(out[0].ends_with(r#""response":{"type":"message_stop"}}"#));
    }

    #[test]
    fn first_and_last_payloads_are_kept_for_usage() {
        let mut r = relay(Framing::Sse, Some(b"[DONE]"));
        run(&mut r, &[b"data: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\ndata: [DONE]\n\n"]);
        assert_eq!(r.first(), &[b"1".to_vec()]);
        assert_eq!(r.last().cloned().collect::<Vec<_>>(), vec![b"3".to_vec(), b"4".to_vec()]);
    }

    #[test]
    fn ndjson_lines_are_relayed_including_a_final_unterminated_one() {
        let mut r = relay(Framing::Ndjson, None);
        let mut out = run(&mut r, &[b"{\"done\":false}\n\n{\"done\":", b"true}"]);
        assert_eq!(out.len(), 1);
        assert!(!r.finish(Some(&mut |m: &[u8]| out.push(String::from_utf8(m.to_vec()).unwrap()))));
        assert_eq!(out.len(), 2);
        assert!(out[1].ends_with(r#""response":{"done":true}}"#));
    }

    #[test]
    fn a_stream_cut_mid_event_is_reported() {
        let mut r = relay(Framing::Sse, None);
        run(&mut r, &[b"data: {\"a\":1}\n\ndata: {\"partial"]);
        assert!(r.finish(None));
    }

    #[test]
    fn collection_is_bounded() {
        let mut r = Relay::new(
            Envelope::stream("e"),
            RelayOptions { framing: Framing::Sse, terminator: None, keep_first: 0, keep_last: 0, max_event_size: 1024, collect_limit: 10 },
        );
        run(&mut r, &[b"data: 0123456789abcdef\n\n"]);
        assert_eq!(r.collected(), b"data: 0123");
    }

    #[test]
    fn an_oversized_event_is_an_error() {
        let mut r = Relay::new(
            Envelope::stream("e"),
            RelayOptions { framing: Framing::Sse, terminator: None, keep_first: 0, keep_last: 0, max_event_size: 8, collect_limit: 0 },
        );
        assert!(r.feed(b"data: 0123456789abcdef\n\n", None).is_err());
    }

    #[test]
    fn framings_are_named_sse_and_ndjson() {
        assert_eq!(Framing::from_name("sse"), Ok(Framing::Sse));
        assert_eq!(Framing::from_name("ndjson"), Ok(Framing::Ndjson));
        assert_eq!(Framing::from_name("eventstream"), Ok(Framing::EventStream));
        assert_eq!(Framing::from_name("xml"), Err("unknown framing \"xml\" (sse, ndjson or eventstream)".to_string()));
    }

    #[test]
    fn options_cap_the_kept_payloads() {
        let o = RelayOptions::new(Framing::Sse, None, 1000, 65, 1 << 20, false, 0);
        assert_eq!((o.keep_first, o.keep_last), (MAX_KEEP, MAX_KEEP));
    }

    #[test]
    fn options_collect_only_when_asked() {
        assert_eq!(RelayOptions::new(Framing::Sse, None, 1, 2, 1, false, 99).collect_limit, 0);
        assert_eq!(RelayOptions::new(Framing::Sse, None, 1, 2, 1, true, 99).collect_limit, 99);
    }

    #[test]
    fn a_failed_relay_keeps_failing() {
        let mut r = Relay::new(
            Envelope::stream("e1"),
            RelayOptions::new(Framing::Sse, None, 1, 2, 8, false, 0),
        );
        assert!(r.feed(b"data: far more than eight bytes\n\n", None).is_err());
        assert_eq!(r.feed(b"data: x\n\n", None), Err(RelayError(Cow::Borrowed("the relay failed earlier"))));
    }

    fn bedrock_chunk(event: &str) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(event);
        crate::eventstream::encode(
            &[(":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event")],
            format!(r#"{{"bytes":"{b64}","p":"abcd"}}"#).as_bytes(),
        )
    }

    fn eventstream_relay(max_message_size: usize) -> Relay {
        Relay::new(Envelope::stream("e1"), RelayOptions::new(Framing::EventStream, None, 1, 2, max_message_size, false, 0))
    }

    #[test]
    fn bedrock_chunks_become_stream_messages_of_the_model_events_they_carry() {
        let stream = [bedrock_chunk(r#"{"type":"message_start"}"#), bedrock_chunk(r#"{"type":"message_stop"}"#)].concat();
        let want = [
            r#"{"type":"universal.stream","metadata":{"eventId":"e1"},"response":{"type":"message_start"}}"#,
            r#"{"type":"universal.stream","metadata":{"eventId":"e1"},"response":{"type":"message_stop"}}"#,
        ];
        for cut in 0..=stream.len() {
            let mut r = eventstream_relay(1 << 20);
            assert_eq!(run(&mut r, &[&stream[..cut], &stream[cut..]]), want, "cut at {cut}");
            assert!(!r.finish(None));
            assert_eq!(r.first(), &[br#"{"type":"message_start"}"#.to_vec()]);
            assert_eq!(r.events(), 2);
            assert!(r.saw_terminator(), "an event stream ends with its last message");
        }
    }

    #[test]
    fn an_exception_message_fails_the_stream_after_the_events_before_it() {
        let exception = crate::eventstream::encode(
            &[(":message-type", "exception"), (":exception-type", "throttlingException")],
            br#"{"message":"slow down"}"#,
        );
        let mut r = eventstream_relay(1 << 20);
        let mut sent = 0;
        let stream = [bedrock_chunk("{}"), exception, bedrock_chunk("{}")].concat();
        let result = r.feed(&stream, Some(&mut |_: &[u8]| sent += 1));
        assert_eq!(result, Err(RelayError(Cow::Borrowed("upstream throttlingException"))));
        assert_eq!(sent, 1);
        assert!(r.feed(&bedrock_chunk("{}"), None).is_err(), "stays failed");
    }

    #[test]
    fn a_corrupt_or_oversized_event_stream_message_fails_the_stream() {
        let mut bad = bedrock_chunk("{}");
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(eventstream_relay(1 << 20).feed(&bad, None), Err(RelayError(Cow::Borrowed("event stream message CRC mismatch"))));
        let big = bedrock_chunk(&"x".repeat(100));
        assert!(eventstream_relay(64).feed(&big, None).is_err());
    }

    #[test]
    fn an_event_stream_cut_mid_message_is_reported() {
        let stream = bedrock_chunk("{}");
        let mut r = eventstream_relay(1 << 20);
        r.feed(&stream[..stream.len() - 1], None).unwrap();
        assert!(r.finish(None));
    }

    #[test]
    fn fed_without_a_sink_the_relay_only_counts_and_keeps_events() {
        let mut r = relay(Framing::Sse, Some(b"[DONE]"));
        assert_eq!(r.feed(b"data: 1\n\ndata: 2\n\ndata: 3\n\ndata: [DONE]\n\n", None), Ok(3));
        assert_eq!(r.first(), &[b"1".to_vec()]);
        assert_eq!(r.last().cloned().collect::<Vec<_>>(), vec![b"2".to_vec(), b"3".to_vec()]);
        assert!(r.saw_terminator());
    }
}
