//! Streaming decoders for the two line-oriented upstream stream framings: server-sent events
//! (WHATWG HTML "Parsing an event stream", providers.md §13) and NDJSON.
//!
//! Both are sans-I/O and split-invariant: the same bytes give the same events however they are
//! cut into reads. Lines are found on bytes with memchr (CR and LF never occur inside a UTF-8
//! sequence), so multi-byte characters straddling reads need no special care. Event data stays
//! bytes (the caller relays JSON as is); event type and id are decoded lossily (U+FFFD).
//! Every buffer is bounded: an event or a line over its limit is an error.

use memchr::{memchr, memchr2};

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
const BOM_SETTLED: u8 = 0xFF;

/// A malformed or oversized stream. The decoder stays failed afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError(pub &'static str);

/// One dispatched event, borrowing the decoder's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field, None when the event had none (the spec's default "message").
    pub event: Option<&'a str>,
    /// The `data:` lines joined with LF.
    pub data: &'a [u8],
    /// The last event id seen so far (it persists across events), None when empty.
    pub id: Option<&'a str>,
}

/// The last event type handed out, with the caller's object for it (e.g. a Python string),
/// so a stream that repeats one type (most do) builds that object once.
#[derive(Debug)]
pub struct LastEventType<T> {
    last: Option<(String, T)>,
}

impl<T> Default for LastEventType<T> {
    fn default() -> Self {
        LastEventType { last: None }
    }
}

impl<T> LastEventType<T> {
    /// The object for `name`: the remembered one when `name` repeats the last type, else
    /// `make()`, which is then remembered instead.
    pub fn get_or_make(&mut self, name: &str, make: impl FnOnce() -> T) -> &T {
        let slot = match self.last.take() {
            Some((last, object)) if last == name => (last, object),
            _ => (name.to_owned(), make()),
        };
        &self.last.insert(slot).1
    }
}

pub struct SseDecoder {
    /// The unterminated line carried over from earlier reads.
    line: Vec<u8>,
    /// The last line ended with CR at the end of a read: a following LF belongs to it.
    skip_lf: bool,
    /// BOM bytes matched at stream offset 0 so far, BOM_SETTLED once decided.
    bom: u8,
    data: Vec<u8>,
    event: Option<String>,
    last_id: Option<String>,
    retry: Option<u64>,
    max_event_size: usize,
    failed: Option<&'static str>,
}

impl SseDecoder {
    pub fn new(max_event_size: usize) -> Self {
        SseDecoder {
            line: Vec::new(),
            skip_lf: false,
            bom: 0,
            data: Vec::new(),
            event: None,
            last_id: None,
            retry: None,
            max_event_size,
            failed: None,
        }
    }

    /// The last valid `retry:` value in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// The last event id (persists across events).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Decodes one read, calling `emit` for each event dispatched by a blank line.
    pub fn feed(&mut self, input: &[u8], emit: &mut impl FnMut(SseEvent<'_>)) -> Result<(), StreamError> {
        if let Some(m) = self.failed {
            return Err(StreamError(m));
        }
        let mut data = input;
        if self.bom != BOM_SETTLED {
            while let Some((&b, rest)) = data.split_first() {
                if BOM.get(usize::from(self.bom)) == Some(&b) {
                    data = rest;
                    self.bom += 1;
                    if usize::from(self.bom) == BOM.len() {
                        self.bom = BOM_SETTLED;
                        break;
                    }
                } else {
                    // Not a BOM after all: the bytes held so far start the first line.
                    self.line.extend_from_slice(BOM.get(..usize::from(self.bom)).unwrap_or(&[]));
                    self.bom = BOM_SETTLED;
                    break;
                }
            }
            if self.bom != BOM_SETTLED {
                return Ok(());
            }
        }
        if self.skip_lf {
            if let Some((&first, rest)) = data.split_first() {
                if first == b'\n' {
                    data = rest;
                }
                self.skip_lf = false;
            }
        }
        while let Some(p) = memchr2(b'\r', b'\n', data) {
            let content = data.get(..p).unwrap_or(&[]);
            let is_cr = data.get(p) == Some(&b'\r');
            data = data.get(p + 1..).unwrap_or(&[]);
            if self.line.is_empty() {
                self.process_line(content, emit)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(content);
                let r = self.process_line(&line, emit);
                line.clear();
                self.line = line;
                r?;
            }
            if is_cr {
                match data.split_first() {
                    Some((b'\n', rest)) => data = rest,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
        }
        if self.line.len() + data.len() + self.data.len() > self.max_event_size {
            return self.fail("event too large");
        }
        self.line.extend_from_slice(data);
        Ok(())
    }

    /// End of stream: resets the decoder and says whether an event (or line) was cut short.
    /// A conforming parser discards that event; the caller reports the stream as truncated.
    pub fn finish(&mut self) -> bool {
        let truncated = (self.bom != 0 && self.bom != BOM_SETTLED)
            || !self.line.is_empty()
            || !self.data.is_empty()
            || self.event.is_some();
        self.line.clear();
        self.data.clear();
        self.event = None;
        self.skip_lf = false;
        truncated
    }

    fn fail<T>(&mut self, m: &'static str) -> Result<T, StreamError> {
        self.failed = Some(m);
        Err(StreamError(m))
    }

    fn process_line(&mut self, line: &[u8], emit: &mut impl FnMut(SseEvent<'_>)) -> Result<(), StreamError> {
        let Some(&first) = line.first() else {
            if let Some((_, joined)) = self.data.split_last() {
                emit(SseEvent { event: self.event.as_deref(), data: joined, id: self.last_id.as_deref() });
            }
            self.data.clear();
            self.event = None;
            return Ok(());
        };
        if first == b':' {
            return Ok(());
        }
        let (field, value) = match memchr(b':', line) {
            Some(c) => {
                let v = line.get(c + 1..).unwrap_or(&[]);
                (line.get(..c).unwrap_or(&[]), v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.max_event_size {
                    return self.fail("event too large");
                }
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if memchr(0, value).is_none() => {
                self.last_id = if value.is_empty() { None } else { Some(String::from_utf8_lossy(value).into_owned()) };
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry = Some(value.iter().fold(0u64, |acc, &d| acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Newline-delimited JSON (Ollama): one value per line, LF or CRLF, blank lines skipped.
pub struct NdjsonDecoder {
    line: Vec<u8>,
    max_line_size: usize,
    failed: Option<&'static str>,
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

impl NdjsonDecoder {
    pub fn new(max_line_size: usize) -> Self {
        NdjsonDecoder { line: Vec::new(), max_line_size, failed: None }
    }

    /// Decodes one read, calling `emit` with each complete non-empty line (terminator removed).
    pub fn feed(&mut self, input: &[u8], emit: &mut impl FnMut(&[u8])) -> Result<(), StreamError> {
        if let Some(m) = self.failed {
            return Err(StreamError(m));
        }
        let mut data = input;
        while let Some(p) = memchr(b'\n', data) {
            let content = data.get(..p).unwrap_or(&[]);
            data = data.get(p + 1..).unwrap_or(&[]);
            if self.line.len() + content.len() > self.max_line_size {
                return self.fail();
            }
            if self.line.is_empty() {
                let l = strip_cr(content);
                if !l.is_empty() {
                    emit(l);
                }
            } else {
                self.line.extend_from_slice(content);
                let l = strip_cr(&self.line);
                if !l.is_empty() {
                    emit(l);
                }
                self.line.clear();
            }
        }
        if self.line.len() + data.len() > self.max_line_size {
            return self.fail();
        }
        self.line.extend_from_slice(data);
        Ok(())
    }

    /// End of stream: the final unterminated line, if it has any content.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let line = std::mem::take(&mut self.line);
        let l = strip_cr(&line);
        if l.iter().all(|&c| matches!(c, b' ' | b'\t' | b'\r')) {
            None
        } else {
            Some(l.to_vec())
        }
    }

    fn fail<T>(&mut self) -> Result<T, StreamError> {
        self.failed = Some("line too long");
        Err(StreamError("line too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Owned = (Option<String>, Vec<u8>, Option<String>);

    fn sse_pieces(pieces: &[&[u8]]) -> (Vec<Owned>, bool) {
        let mut d = SseDecoder::new(1 << 20);
        let mut out = Vec::new();
        for p in pieces {
            d.feed(p, &mut |e: SseEvent<'_>| out.push((e.event.map(String::from), e.data.to_vec(), e.id.map(String::from)))).unwrap();
        }
        let truncated = d.finish();
        (out, truncated)
    }

    fn split_at_cuts<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
        bounds.sort_unstable();
        bounds.push(data.len());
        let mut prev = 0;
        let mut out = Vec::new();
        for b in bounds {
            out.push(&data[prev..b]);
            prev = b;
        }
        out
    }

    /// The same stream in one read, byte by byte, and in pseudo-random reads.
    fn all_splits(data: &[u8]) -> (Vec<Owned>, bool) {
        let one = sse_pieces(&[data]);
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(sse_pieces(&bytes), one, "byte by byte");
        let mut seed = 0x9E37_79B9u32;
        for _ in 0..20 {
            let mut cuts = Vec::new();
            for _ in 0..6 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                cuts.push(seed as usize % (data.len() + 1));
            }
            assert_eq!(sse_pieces(&split_at_cuts(data, &cuts)), one, "cuts {cuts:?}");
        }
        one
    }

    fn ev(event: Option<&str>, data: &str, id: Option<&str>) -> Owned {
        (event.map(String::from), data.as_bytes().to_vec(), id.map(String::from))
    }

    const GOLDEN: &str = ": keep-alive\n\nevent: delta\ndata: {\"t\":\"€\"}\n\nid: 7\nretry: 1500\ndata: 😀 a\ndata:b\n\n: ping\ndata\n\n";

    fn golden_events() -> Vec<Owned> {
        vec![
            ev(Some("delta"), "{\"t\":\"€\"}", None),
            ev(None, "😀 a\nb", Some("7")),
            ev(None, "", Some("7")),
        ]
    }

    #[test]
    fn golden_stream_with_lf_endings() {
        assert_eq!(all_splits(GOLDEN.as_bytes()), (golden_events(), false));
    }

    #[test]
    fn golden_stream_with_crlf_endings() {
        let crlf = GOLDEN.replace('\n', "\r\n");
        assert_eq!(all_splits(crlf.as_bytes()), (golden_events(), false));
    }

    #[test]
    fn golden_stream_with_cr_endings() {
        let cr = GOLDEN.replace('\n', "\r");
        assert_eq!(all_splits(cr.as_bytes()), (golden_events(), false));
    }

    #[test]
    fn multibyte_characters_straddling_reads() {
        let data = "data: €😀\n\n".as_bytes();
        for cut in 6..data.len() {
            assert_eq!(sse_pieces(&[&data[..cut], &data[cut..]]).0, vec![ev(None, "€😀", None)]);
        }
    }

    #[test]
    fn bom_is_stripped_once_even_when_split() {
        let data = b"\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\n";
        let (events, _) = all_splits(data);
        assert_eq!(events[0], ev(None, "a", None));
        // A second BOM is not at offset 0: it becomes part of the field name, so no "data".
        assert_eq!(events.len(), 1);
        // A partial BOM that turns out not to be one is kept.
        assert_eq!(sse_pieces(&[b"\xEF", b"\xBBdata: x\n\n"]).0, vec![]);
        assert!(sse_pieces(&[b"\xEF"]).1);
    }

    #[test]
    fn cr_at_end_of_read_waits_for_the_next_byte() {
        assert_eq!(sse_pieces(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]).0, vec![ev(None, "a\nb", None)]);
        assert_eq!(sse_pieces(&[b"data: a\r", b"\r"]).0, vec![ev(None, "a", None)]);
    }

    #[test]
    fn one_leading_space_only_is_stripped() {
        assert_eq!(sse_pieces(&[b"data:  x \n\n"]).0, vec![ev(None, " x ", None)]);
    }

    #[test]
    fn event_without_data_dispatches_nothing_and_resets_the_type() {
        assert_eq!(sse_pieces(&[b"event: a\n\ndata: b\n\n"]).0, vec![ev(None, "b", None)]);
    }

    #[test]
    fn id_with_nul_and_bad_retry_are_ignored() {
        let mut d = SseDecoder::new(100);
        let mut n = 0;
        d.feed(b"id: 1\nretry: 10\n\nid: 2\x003\nretry: 1x\nretry: \ndata: a\n\n", &mut |e| {
            assert_eq!(e.id, Some("1"));
            n += 1;
        })
        .unwrap();
        assert_eq!((n, d.retry(), d.last_event_id()), (1, Some(10), Some("1")));
    }

    #[test]
    fn unknown_fields_and_field_names_are_case_sensitive() {
        assert_eq!(sse_pieces(&[b"Data: a\nfoo: b\ndata: c\n\n"]).0, vec![ev(None, "c", None)]);
    }

    #[test]
    fn pending_event_at_eof_is_discarded_and_reported() {
        assert_eq!(sse_pieces(&[b"data: a\n\ndata: b\n"]), (vec![ev(None, "a", None)], true));
        assert!(sse_pieces(&[b"data: a\n\ndata: b"]).1);
        assert!(!sse_pieces(&[b"data: a\n\n"]).1);
    }

    #[test]
    fn oversized_event_is_an_error_and_stays_one() {
        let mut d = SseDecoder::new(10);
        assert!(d.feed(b"data: 12345\ndata: 67890\n", &mut |_| {}).is_err());
        assert!(d.feed(b"\n", &mut |_| {}).is_err());
        let mut d = SseDecoder::new(10);
        assert!(d.feed(b"data: 1234567890123", &mut |_| {}).is_err());
    }

    fn ndjson(pieces: &[&[u8]]) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
        let mut d = NdjsonDecoder::new(1024);
        let mut out = Vec::new();
        for p in pieces {
            d.feed(p, &mut |l: &[u8]| out.push(l.to_vec())).unwrap();
        }
        (out, d.finish())
    }

    #[test]
    fn ndjson_splits_lines_tolerating_crlf_and_blank_lines() {
        let (lines, last) = ndjson(&[b"{\"a\":1}\r\n\n{\"b\"", b":2}\n{\"c\":3}"]);
        assert_eq!(lines, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
        assert_eq!(last, Some(b"{\"c\":3}".to_vec()));
        assert_eq!(ndjson(&[b"x\n"]).1, None);
    }

    #[test]
    fn ndjson_line_limit_is_an_error() {
        let mut d = NdjsonDecoder::new(4);
        assert!(d.feed(b"12345\n", &mut |_| {}).is_err());
        let mut d = NdjsonDecoder::new(4);
        assert!(d.feed(b"123", &mut |_| {}).is_ok());
        assert!(d.feed(b"45", &mut |_| {}).is_err());
    }

    proptest! {
        #[test]
        fn sse_chunking_does_not_change_events(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("data: x".to_string()), Just("data:€😀".to_string()), Just("event: e".to_string()),
                    Just(String::new()), Just(": c".to_string()), Just("id: 9".to_string()), Just("data".to_string()),
                ], 0..20),
            ends in proptest::collection::vec(prop_oneof![Just("\n"), Just("\r\n"), Just("\r")], 20),
            bom: bool,
            cuts in proptest::collection::vec(0usize..200, 0..10),
        ) {
            let mut s = String::from(if bom { "\u{FEFF}" } else { "" });
            for (l, e) in lines.iter().zip(ends.iter()) {
                s.push_str(l);
                s.push_str(e);
            }
            let data = s.as_bytes();
            prop_assert_eq!(sse_pieces(&split_at_cuts(data, &cuts)), sse_pieces(&[data]));
        }

        #[test]
        fn ndjson_chunking_does_not_change_lines(data in "[ab\\r\\n]{0,80}", cuts in proptest::collection::vec(0usize..80, 0..8)) {
            let bytes = data.as_bytes();
            prop_assert_eq!(ndjson(&split_at_cuts(bytes, &cuts)), ndjson(&[bytes]));
        }

        #[test]
        fn arbitrary_sse_input_never_panics(data: Vec<u8>, cuts in proptest::collection::vec(0usize..64, 0..4)) {
            let mut d = SseDecoder::new(32);
            for p in split_at_cuts(&data, &cuts) {
                let _ = d.feed(p, &mut |_| {});
            }
            d.finish();
        }
    }

    #[test]
    fn a_repeated_event_type_reuses_its_object() {
        let mut cache = LastEventType::default();
        let mut made = 0;
        for name in ["delta", "delta", "done", "delta"] {
            cache.get_or_make(name, || {
                made += 1;
                made
            });
        }
        assert_eq!(made, 3);
        assert_eq!(*cache.get_or_make("delta", || 99), 3);
    }
}
