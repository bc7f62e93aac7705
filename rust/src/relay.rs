//! The stream relay: upstream SSE / NDJSON bytes in, finished `universal.stream` messages out.
//!
//! One `Relay` per streamed request. Each network read is fed once; every event's data is
//! spliced into the request's envelope (see `envelope`) and handed to a sink closure (the
//! WebSocket writer) without building anything per event on the Python side. Terminator
//! payloads such as `[DONE]` are swallowed. The first and last few payloads are kept so Python
//! can read the provider's usage report at the end, and the whole body can be collected for
//! the log when payload logging is on (bounded).

use std::collections::VecDeque;

use crate::envelope::Envelope;
use crate::sse::{NdjsonDecoder, SseDecoder, StreamError};

/// How the upstream body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Sse,
    Ndjson,
}

enum Decoder {
    Sse(SseDecoder),
    Ndjson(NdjsonDecoder),
}

impl Framing {
    /// The framing called `name` ("sse" or "ndjson"); otherwise a message naming it.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "sse" => Ok(Framing::Sse),
            "ndjson" => Ok(Framing::Ndjson),
            other => Err(format!("unknown framing {other:?} (sse or ndjson)")),
        }
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
    /// Largest single event; a bigger one fails the stream.
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
    /// A feed failed: the stream is broken and every later feed fails too.
    failed: bool,
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
            failed: false,
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

    /// Whether the terminator payload was seen.
    pub fn saw_terminator(&self) -> bool {
        self.saw_terminator
    }

    /// The collected upstream body (empty unless collecting).
    pub fn collected(&self) -> &[u8] {
        &self.collected
    }

    /// Feed one network read; `send` receives each finished message. Returns the number of
    /// messages produced. After an error the relay must not be fed again.
    pub fn feed(&mut self, chunk: &[u8], send: &mut impl FnMut(&[u8])) -> Result<usize, StreamError> {
        if self.failed {
            return Err(StreamError("the relay failed earlier"));
        }
        if self.options.collect_limit > 0 {
            let room = self.options.collect_limit.saturating_sub(self.collected.len());
            self.collected.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        let mut produced = 0usize;
        let Relay { decoder, envelope, options, first, last, events, saw_terminator, scratch, failed, .. } = self;
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
                if last.len() == options.keep_last {
                    last.pop_front();
                }
                last.push_back(data.to_vec());
            }
            scratch.clear();
            envelope.write(data, scratch);
            send(scratch);
            *events += 1;
            produced += 1;
        };
        let fed = match decoder {
            Decoder::Sse(d) => d.feed(chunk, &mut |event| on_data(event.data)),
            Decoder::Ndjson(d) => d.feed(chunk, &mut |line| {
                if !trim(line).is_empty() {
                    on_data(line)
                }
            }),
        };
        *failed = fed.is_err();
        fed.map(|()| produced)
    }

    /// The upstream ended. NDJSON's final unterminated line is relayed; an SSE event cut off
    /// before its blank line is not (WHATWG) and is reported: returns true when the stream
    /// was truncated mid-event.
    pub fn finish(&mut self, send: &mut impl FnMut(&[u8])) -> bool {
        match &mut self.decoder {
            Decoder::Sse(d) => d.finish(),
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

    fn feed_line(&mut self, line: &[u8], send: &mut impl FnMut(&[u8])) -> Result<usize, StreamError> {
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
            r.feed(c, &mut |m| out.push(String::from_utf8(m.to_vec()).unwrap())).unwrap();
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
        assert!(!r.finish(&mut |m| out.push(String::from_utf8(m.to_vec()).unwrap())));
        assert_eq!(out.len(), 2);
        assert!(out[1].ends_with(r#""response":{"done":true}}"#));
    }

    #[test]
    fn a_stream_cut_mid_event_is_reported() {
        let mut r = relay(Framing::Sse, None);
        run(&mut r, &[b"data: {\"a\":1}\n\ndata: {\"partial"]);
        assert!(r.finish(&mut |_| {}));
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
        assert!(r.feed(b"data: 0123456789abcdef\n\n", &mut |_| {}).is_err());
    }

    #[test]
    fn framings_are_named_sse_and_ndjson() {
        assert_eq!(Framing::from_name("sse"), Ok(Framing::Sse));
        assert_eq!(Framing::from_name("ndjson"), Ok(Framing::Ndjson));
        assert_eq!(Framing::from_name("xml"), Err("unknown framing \"xml\" (sse or ndjson)".to_string()));
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
        assert!(r.feed(b"data: far more than eight bytes\n\n", &mut |_| {}).is_err());
        assert_eq!(r.feed(b"data: x\n\n", &mut |_| {}), Err(StreamError("the relay failed earlier")));
    }
}
