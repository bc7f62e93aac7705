//! Incremental decoder for the HTTP/1.1 chunked transfer coding (RFC 9112 §7.1).
//!
//! A byte-at-a-time state machine that can be split at any byte: input arrives in arbitrary
//! reads, and the decoded body comes back as ranges of the caller's input (no copy here).
//! Chunk extensions are ignored (bounded), trailers are skipped (bounded), every CRLF is
//! checked, and the chunk size is limited to `max_chunk_size`. After the last chunk and its
//! trailer section the decoder is done and reports where the next message starts.

use memchr::memchr;
use std::ops::Range;

/// Malformed chunked framing. Further input after an error keeps failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedError(pub &'static str);

/// Longest chunk-size line (size, extensions) and longest trailer section we accept.
pub const MAX_LINE: usize = 4096;
pub const MAX_TRAILERS: usize = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits; `digits` counts them.
    Size { digits: u8 },
    /// After the digits: optional whitespace, then (once `semi`) `;ext` up to CR.
    Ext { semi: bool },
    /// Saw the CR of the size line.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// Expecting CR, then LF after the chunk data.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a non-empty trailer line; `cr`: the last byte was its CR.
    Trailer { cr: bool },
    /// Saw the CR of the final empty line.
    FinalLf,
    Done,
    Failed(&'static str),
}

pub struct ChunkedDecoder {
    state: State,
    size: u64,
    line_len: usize,
    trailer_len: usize,
    max_chunk_size: u64,
}

impl ChunkedDecoder {
    pub fn new(max_chunk_size: u64) -> Self {
        ChunkedDecoder { state: State::Size { digits: 0 }, size: 0, line_len: 0, trailer_len: 0, max_chunk_size }
    }

    /// True once the last chunk and the trailer section have been read.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Like `feed`, for a caller that keeps what follows the body: the bytes of `data` past
    /// the end of this message (all of them once done) are appended to `rest`.
    pub fn feed_keeping_rest(
        &mut self,
        data: &[u8],
        out: &mut Vec<Range<usize>>,
        rest: &mut Vec<u8>,
    ) -> Result<(), ChunkedError> {
        let used = if self.done() { 0 } else { self.feed(data, out)? };
        rest.extend_from_slice(data.get(used..).unwrap_or_default());
        Ok(())
    }

    /// Decodes `data`, pushing the ranges of `data` that are body bytes onto `out`. Returns how
    /// many bytes of `data` belong to this message: less than `data.len()` only once done, and
    /// the rest is the start of whatever follows the message.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Range<usize>>) -> Result<usize, ChunkedError> {
        let mut i = 0;
        while i < data.len() {
            let Some(&b) = data.get(i) else { break };
            match self.state {
                State::Failed(m) => return Err(ChunkedError(m)),
                State::Done => return Ok(i),
                State::Data => {
                    let avail = (data.len() - i) as u64;
                    let take = avail.min(self.size) as usize;
                    out.push(i..i + take);
                    i += take;
                    self.size -= take as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::Size { digits } => {
                    let v = match b {
                        b'0'..=b'9' => Some(b - b'0'),
                        b'a'..=b'f' => Some(b - b'a' + 10),
                        b'A'..=b'F' => Some(b - b'A' + 10),
                        _ => None,
                    };
                    if let Some(v) = v {
                        self.size = match self.size.checked_mul(16).and_then(|s| s.checked_add(u64::from(v))) {
                            Some(s) if s <= self.max_chunk_size => s,
                            _ => return self.fail("chunk size too large"),
                        };
                        self.state = State::Size { digits: digits.saturating_add(1) };
                    } else if digits == 0 {
                        return self.fail("missing chunk size");
                    } else {
                        self.state = State::Ext { semi: false };
                        continue; // re-examine this byte as part of the extension/CR
                    }
                    self.bump_line()?;
                }
                State::Ext { semi } => {
                    // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): ignored, but only
                    // printable bytes, and only whitespace between the size and the first ';'.
                    match b {
                        b'\r' => self.state = State::SizeLf,
                        b'\n' => return self.fail("bare LF after chunk size"),
                        b';' => self.state = State::Ext { semi: true },
                        b'\t' | b' ' => {}
                        0x21..=0x7e | 0x80..=0xff if semi => {}
                        _ => return self.fail("invalid byte after chunk size"),
                    }
                    self.bump_line()?;
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return self.fail("expected LF after chunk size");
                    }
                    self.line_len = 0;
                    self.state = if self.size == 0 { State::TrailerStart } else { State::Data };
                }
                State::DataCr => {
                    if b != b'\r' {
                        return self.fail("expected CRLF after chunk data");
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return self.fail("expected CRLF after chunk data");
                    }
                    self.state = State::Size { digits: 0 };
                }
                State::TrailerStart => {
                    self.state = match b {
                        b'\r' => State::FinalLf,
                        b'\n' => return self.fail("bare LF in trailer section"),
                        _ => State::Trailer { cr: false },
                    };
                    self.bump_trailer(1)?;
                }
                State::Trailer { cr } => {
                    if cr {
                        if b != b'\n' {
                            return self.fail("bare CR in trailer section");
                        }
                        self.state = State::TrailerStart;
                        self.bump_trailer(1)?;
                    } else {
                        // Skip to the next CR in one step.
                        let rest = data.get(i..).unwrap_or(&[]);
                        let n = match memchr(b'\r', rest) {
                            Some(p) => {
                                self.state = State::Trailer { cr: true };
                                p + 1
                            }
                            None => rest.len(),
                        };
                        if memchr(b'\n', rest.get(..n).unwrap_or(&[])).is_some() {
                            return self.fail("bare LF in trailer section");
                        }
                        self.bump_trailer(n)?;
                        i += n;
                        continue;
                    }
                }
                State::FinalLf => {
                    if b != b'\n' {
                        return self.fail("expected CRLF after the last chunk");
                    }
                    self.state = State::Done;
                }
            }
            i += 1;
        }
        match self.state {
            State::Failed(m) => Err(ChunkedError(m)),
            _ => Ok(i),
        }
    }

    fn fail<T>(&mut self, m: &'static str) -> Result<T, ChunkedError> {
        self.state = State::Failed(m);
        Err(ChunkedError(m))
    }

    fn bump_line(&mut self) -> Result<(), ChunkedError> {
        self.line_len += 1;
        if self.line_len > MAX_LINE {
            return self.fail("chunk size line too long");
        }
        Ok(())
    }

    fn bump_trailer(&mut self, n: usize) -> Result<(), ChunkedError> {
        self.trailer_len = self.trailer_len.saturating_add(n);
        if self.trailer_len > MAX_TRAILERS {
            return self.fail("trailer section too large");
        }
        Ok(())
    }
}

/// True when `spans` is the single range 0..len: a read that was body from end to end.
pub fn covers(spans: &[Range<usize>], len: usize) -> bool {
    matches!(spans, [one] if one.start == 0 && one.end == len)
}

/// Copies the `spans` of `data` one after another into the front of `out` (sized to their
/// total length by the caller); a span outside `data`, or past the end of `out`, is skipped.
pub fn gather(data: &[u8], spans: &[Range<usize>], out: &mut [u8]) {
    let mut at = 0;
    for span in spans {
        let piece = data.get(span.clone()).unwrap_or_default();
        if let Some(dst) = out.get_mut(at..at + piece.len()) {
            dst.copy_from_slice(piece);
            at += piece.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `data` fed in pieces split at `cuts`; returns (body, done, leftover) or the error.
    fn decode(data: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkedError> {
        let mut d = ChunkedDecoder::new(1 << 40);
        let mut body = Vec::new();
        let mut leftover = Vec::new();
        let mut bounds: Vec<usize> = cuts.iter().copied().filter(|&c| c < data.len()).collect();
        bounds.sort_unstable();
        bounds.push(data.len());
        let mut prev = 0;
        for &b in &bounds {
            let piece = &data[prev..b];
            prev = b;
            if d.done() {
                leftover.extend_from_slice(piece);
                continue;
            }
            let mut out = Vec::new();
            let used = d.feed(piece, &mut out)?;
            for r in out {
                body.extend_from_slice(&piece[r]);
            }
            leftover.extend_from_slice(&piece[used..]);
        }
        Ok((body, d.done(), leftover))
    }

    const WIKI: &[u8] = b"4\r\nWiki\r\n7\r\npedia i\r\nB\r\nn \r\nchunks.\r\n0\r\n\r\nNEXT";

    #[test]
    fn decodes_the_classic_example() {
        let (body, done, rest) = decode(WIKI, &[]).unwrap();
        assert_eq!(body, b"Wikipedia in \r\nchunks.");
        assert!(done);
        assert_eq!(rest, b"NEXT");
    }

    #[test]
    fn decodes_byte_by_byte() {
        let cuts: Vec<usize> = (1..WIKI.len()).collect();
        assert_eq!(decode(WIKI, &cuts).unwrap(), decode(WIKI, &[]).unwrap());
    }

    #[test]
    fn ignores_extensions_and_skips_trailers() {
        let data = b"5;name=\"v\" ; x\r\nhello\r\n0;last\r\nExpires: never\r\nX: y\r\n\r\n";
        let (body, done, rest) = decode(data, &[]).unwrap();
        assert_eq!((body.as_slice(), done, rest.as_slice()), (&b"hello"[..], true, &b""[..]));
    }

    #[test]
    fn accepts_uppercase_hex_and_leading_zeros() {
        let (body, done, _) = decode(b"000A\r\n0123456789\r\n00\r\n\r\n", &[]).unwrap();
        assert_eq!((body.len(), done), (10, true));
    }

    #[test]
    fn incomplete_input_is_not_done() {
        let (body, done, _) = decode(b"5\r\nhel", &[]).unwrap();
        assert_eq!((body.as_slice(), done), (&b"hel"[..], false));
        assert!(!decode(b"0\r\n", &[]).unwrap().1);
    }

    #[test]
    fn rejects_malformed_framing() {
        for bad in [
            &b"\r\n"[..],
            b"x\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloXX",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\0",
            b"0\r\n\r\r",
            b"0\r\nA: b\nc\r\n\r\n",
            b"1\x00\r\n",
            b"1x\r\n",
            b"fffffffffffffffffff\r\n",
        ] {
            assert!(decode(bad, &[]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn enforces_the_chunk_size_limit() {
        let mut d = ChunkedDecoder::new(10);
        assert!(d.feed(b"a\r\n", &mut Vec::new()).is_ok());
        let mut d = ChunkedDecoder::new(10);
        assert!(d.feed(b"b\r\n", &mut Vec::new()).is_err());
        assert!(d.feed(b"", &mut Vec::new()).is_err());
        assert!(d.feed(b"0", &mut Vec::new()).is_err());
    }

    #[test]
    fn chunk_size_overflow_is_an_error_even_without_a_limit() {
        let mut d = ChunkedDecoder::new(u64::MAX);
        assert!(d.feed(b"ffffffffffffffff", &mut Vec::new()).is_ok());
        assert!(d.feed(b"f", &mut Vec::new()).is_err());
    }

    #[test]
    fn enforces_line_and_trailer_limits() {
        let long_ext = [&b"1;"[..], &vec![b'a'; MAX_LINE]].concat();
        assert!(decode(&long_ext, &[]).is_err());
        let long_trailer = [&b"0\r\nA: "[..], &vec![b'a'; MAX_TRAILERS]].concat();
        assert!(decode(&long_trailer, &[]).is_err());
    }

    fn encode(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            out.extend_from_slice(format!("{:x};e=1\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\nT: v\r\n\r\nrest");
        out
    }

    proptest! {
        #[test]
        fn chunking_of_the_input_does_not_change_the_result(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
            cuts in proptest::collection::vec(0usize..400, 0..12),
        ) {
            let wire = encode(&chunks);
            let (body, done, rest) = decode(&wire, &cuts).unwrap();
            prop_assert_eq!(body, chunks.concat());
            prop_assert!(done);
            prop_assert_eq!(rest, b"rest".to_vec());
        }

        #[test]
        fn arbitrary_input_never_panics(data: Vec<u8>, cuts in proptest::collection::vec(0usize..64, 0..4)) {
            let _ = decode(&data, &cuts);
        }
    }

    #[test]
    fn feed_keeping_rest_keeps_the_bytes_after_the_body() {
        let mut d = ChunkedDecoder::new(1 << 40);
        let (mut spans, mut rest) = (Vec::new(), Vec::new());
        d.feed_keeping_rest(b"3\r\nabc\r\n0\r\n\r\nHTTP", &mut spans, &mut rest).unwrap();
        assert_eq!(spans, vec![3..6]);
        assert_eq!(rest, b"HTTP");
    }

    #[test]
    fn feed_keeping_rest_keeps_everything_once_done() {
        let mut d = ChunkedDecoder::new(1 << 40);
        let (mut spans, mut rest) = (Vec::new(), Vec::new());
        d.feed_keeping_rest(b"0\r\n\r\n", &mut spans, &mut rest).unwrap();
        d.feed_keeping_rest(b"next", &mut spans, &mut rest).unwrap();
        assert!(spans.is_empty());
        assert_eq!(rest, b"next");
    }

    #[test]
    fn gather_concatenates_the_spans() {
        let mut out = [0u8; 5];
        gather(b"abcdefgh", &[1..3, 5..8], &mut out);
        assert_eq!(&out, b"bcfgh");
    }

    #[test]
    fn gather_skips_spans_outside_the_input() {
        let mut out = [0u8; 2];
        gather(b"abc", &[0..1, 2..9, 2..3], &mut out);
        assert_eq!(&out, b"ac");
    }

    #[test]
    fn covers_only_a_single_span_over_everything() {
        assert!(covers(std::slice::from_ref(&(0..5)), 5));
        assert!(!covers(std::slice::from_ref(&(0..4)), 5));
        assert!(!covers(std::slice::from_ref(&(1..5)), 5));
        assert!(!covers(&[0..2, 2..5], 5));
        assert!(!covers(&[], 0));
    }
}
