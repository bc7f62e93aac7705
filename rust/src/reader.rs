//! The incremental WebSocket frame parser (RFC 6455 §5-§8, RFC 7692 §6) over a fixed-size
//! read buffer that the reader holds only while input is in progress.
//!
//! Input may be split at any byte. Complete frames are unmasked in place and handed out as
//! slices of the read buffer (no copy for a single-frame message); a frame that spans reads is
//! unmasked chunk by chunk as it arrives and appended to (or inflated into) the message buffer,
//! so the read buffer never grows and only a partial header or control frame (≤ 139 bytes) is
//! ever kept across reads. Once everything received is consumed (no partial frame, no
//! message in progress) the reader lets go of its buffer, so an idle connection holds none
//! (see `readbuf`). Fragments are assembled with control frames interleaved, text is
//! UTF-8-checked as each fragment arrives, and limits are checked from the header before any
//! allocation. A protocol violation queues a close frame, reports `Fail`, and the reader then
//! ignores all input; so does a peer close.

use crate::deflate::{Decompressor, DeflateParams, InflateError};
use crate::frame::{
    check_header, is_control, is_valid_close_code, parse_header, CLOSE_INVALID_PAYLOAD,
    CLOSE_NO_STATUS, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
    OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
};
use crate::mask::apply_mask;
use crate::readbuf::SharedReadBuf;
use crate::utf8::{validate, IncrementalUtf8};
use crate::writer::Writer;

/// Smallest read buffer: a whole control frame (14 + 125 bytes) must fit with room to spare.
pub const MIN_READ_BUFFER: usize = 1024;
/// Largest read buffer (bigger requests are clamped).
pub const MAX_READ_BUFFER: usize = 64 << 20;
/// Most we reserve for a message from its header alone; beyond this the buffer grows as
/// payload actually arrives.
const MAX_UPFRONT_RESERVE: u64 = 16 << 20;
/// The message buffer is released after a message larger than this.
const KEEP_MESSAGE_CAPACITY: usize = 1 << 20;

/// What the parser reports, in wire order. Slices borrow the reader until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    Text(&'a [u8]),
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    /// The peer's close frame: code (1005 when the body was empty) and reason.
    Close(u16, &'a str),
    /// We failed the connection: a close frame with this code has been queued.
    Fail(u16, &'static str),
}

/// Event kind for a connection failure; not an opcode (opcodes are 4 bits).
pub const FAIL: u32 = 0x100;

/// The event kinds by their Python names.
pub const EVENT_KINDS: [(&str, u32); 6] = [
    ("TEXT", OP_TEXT as u32),
    ("BINARY", OP_BINARY as u32),
    ("CLOSE", OP_CLOSE as u32),
    ("PING", OP_PING as u32),
    ("PONG", OP_PONG as u32),
    ("FAIL", FAIL),
];

/// An event as the binding hands it out, tagged with its kind (its opcode, or `FAIL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventParts<'a> {
    /// TEXT, BINARY, PING, PONG: the payload.
    Payload(u32, &'a [u8]),
    /// CLOSE, FAIL: the close code and reason.
    Status(u32, u16, &'a str),
}

impl<'a> Event<'a> {
    /// The event's kind and contents, the shape of the Python event tuples.
    #[inline]
    pub fn parts(self) -> EventParts<'a> {
        match self {
            Event::Text(p) => EventParts::Payload(u32::from(OP_TEXT), p),
            Event::Binary(p) => EventParts::Payload(u32::from(OP_BINARY), p),
            Event::Ping(p) => EventParts::Payload(u32::from(OP_PING), p),
            Event::Pong(p) => EventParts::Payload(u32::from(OP_PONG), p),
            Event::Close(code, reason) => EventParts::Status(u32::from(OP_CLOSE), code, reason),
            Event::Fail(code, reason) => EventParts::Status(FAIL, code, reason),
        }
    }
}

/// Parser settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderConfig {
    /// We are the client: frames must arrive unmasked (servers require masked frames).
    pub client: bool,
    pub max_message_size: usize,
    pub max_frame_size: u64,
    pub auto_pong: bool,
    pub deflate: Option<DeflateParams>,
    pub read_buffer_size: usize,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            client: false,
            max_message_size: 16 << 20,
            max_frame_size: u64::MAX,
            auto_pong: true,
            deflate: None,
            read_buffer_size: 64 << 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Peer closed or we failed: input is ignored.
    Done,
}

/// A data frame whose payload is still arriving.
#[derive(Debug, Clone, Copy)]
struct PayloadInFlight {
    fin: bool,
    mask: [u8; 4],
    phase: usize,
    remaining: u64,
}

type Failure = (u16, &'static str);

/// The message being assembled from fragments.
struct Assembler {
    /// Opcode of the message in progress (TEXT/BINARY), or OP_CONT when none.
    opcode: u8,
    compressed: bool,
    msg: Vec<u8>,
    utf8: IncrementalUtf8,
    inflater: Option<Decompressor>,
    max_message_size: usize,
}

impl Assembler {
    /// Take one chunk of a data frame's (already unmasked) payload; `last` marks the end of
    /// the message. Returns true when the message is complete in `self.msg`.
    fn chunk(&mut self, chunk: &[u8], last: bool) -> Result<bool, Failure> {
        let text = self.opcode == OP_TEXT;
        if self.compressed {
            let before = self.msg.len();
            let inflater = self
                .inflater
                .as_mut()
                .ok_or((CLOSE_PROTOCOL_ERROR, "RSV1 set without permessage-deflate"))?;
            let inflated = inflater.decompress(chunk, last, &mut self.msg, self.max_message_size);
            // Check the text produced so far (up to the cap) before reporting an inflate error,
            // so the failure reported does not depend on how the input was chunked.
            let end = self.msg.len().min(self.max_message_size);
            if text && end > before {
                self.utf8
                    .feed(&self.msg[before..end])
                    .map_err(|_| (CLOSE_INVALID_PAYLOAD, "invalid UTF-8 in text message"))?;
            }
            inflated.map_err(|e| match e {
                InflateError::TooBig => (CLOSE_TOO_BIG, "message too big"),
                InflateError::Corrupt => (CLOSE_INVALID_PAYLOAD, "invalid compressed data"),
            })?;
        } else {
            self.msg.extend_from_slice(chunk);
            if text {
                self.utf8
                    .feed(chunk)
                    .map_err(|_| (CLOSE_INVALID_PAYLOAD, "invalid UTF-8 in text message"))?;
            }
        }
        if last && text {
            self.utf8
                .finish()
                .map_err(|_| (CLOSE_INVALID_PAYLOAD, "invalid UTF-8 in text message"))?;
        }
        Ok(last)
    }

    /// Forget the delivered message.
    fn done(&mut self) {
        self.opcode = OP_CONT;
        self.compressed = false;
        if self.msg.capacity() > KEEP_MESSAGE_CAPACITY {
            self.msg = Vec::new();
        } else {
            self.msg.clear();
        }
    }
}

/// One connection's incoming side.
pub struct Reader {
    /// Present while input is in progress (taken on demand, released when idle).
    buf: Option<SharedReadBuf>,
    buf_size: usize,
    start: usize,
    end: usize,
    cfg: ReaderConfig,
    state: State,
    inflight: Option<PayloadInFlight>,
    asm: Assembler,
}

impl Reader {
    /// A reader whose read buffer, when it has one, is `cfg.read_buffer_size` bytes (clamped
    /// to 1 KiB..64 MiB). No buffer is allocated until input arrives.
    pub fn new(cfg: ReaderConfig) -> Self {
        let size = cfg.read_buffer_size.clamp(MIN_READ_BUFFER, MAX_READ_BUFFER);
        let inflater = cfg.deflate.map(|p| {
            if cfg.client {
                Decompressor::new(p.server_max_window_bits, p.server_no_context_takeover)
            } else {
                Decompressor::new(p.client_max_window_bits, p.client_no_context_takeover)
            }
        });
        Self {
            buf: None,
            buf_size: size,
            start: 0,
            end: 0,
            cfg,
            state: State::Open,
            inflight: None,
            asm: Assembler {
                opcode: OP_CONT,
                compressed: false,
                msg: Vec::new(),
                utf8: IncrementalUtf8::new(),
                inflater,
                max_message_size: cfg.max_message_size,
            },
        }
    }

    /// The read buffer, taken (from the per-thread spares or the allocator) if absent.
    fn buffer(&mut self) -> &mut SharedReadBuf {
        let size = self.buf_size;
        self.buf.get_or_insert_with(|| SharedReadBuf::new(size))
    }

    /// The read buffer and where its free tail starts (for exporting the tail to Python):
    /// bytes `end..len` of the returned buffer are free, to be filled by the caller and
    /// committed with [`Reader::commit`]. Never empty while the reader is open. The caller's
    /// clone keeps the memory alive however long it holds it; only what is committed before
    /// the reader lets go of this buffer is parsed.
    pub fn free_tail_shared(&mut self) -> (SharedReadBuf, usize) {
        let end = self.end;
        (self.buffer().clone(), end)
    }

    /// True while the reader holds a read buffer (input in progress).
    pub fn holds_buffer(&self) -> bool {
        self.buf.is_some()
    }

    /// Bytes received and not yet consumed (a partial header or control frame).
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// True once the peer closed or we failed the connection.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// `n` bytes were written into the free tail: parse everything now available. Returns
    /// false (and consumes nothing) if `n` exceeds the free tail.
    pub fn commit(&mut self, n: usize, w: &mut Writer, sink: &mut dyn FnMut(Event<'_>)) -> bool {
        let free = self.buf.as_ref().map_or(0, |b| b.len() - self.end);
        if n > free {
            return false;
        }
        self.end += n;
        self.process(w, sink);
        true
    }

    /// Copy `data` in (in buffer-sized pieces) and parse it.
    pub fn receive(&mut self, mut data: &[u8], w: &mut Writer, sink: &mut dyn FnMut(Event<'_>)) {
        while !data.is_empty() && self.state == State::Open {
            let end = self.end;
            let tail = &mut self.buffer().as_mut_slice()[end..];
            let n = tail.len().min(data.len());
            tail[..n].copy_from_slice(&data[..n]);
            data = &data[n..];
            self.end += n;
            self.process(w, sink);
        }
    }

    fn fail(&mut self, w: &mut Writer, sink: &mut dyn FnMut(Event<'_>), (code, reason): Failure) {
        self.state = State::Done;
        self.start = 0;
        self.end = 0;
        self.inflight = None;
        // Valid code and short reason: cannot be refused. Queued to go out last, after any
        // replies to the events reported before the failure; not at all if our close frame
        // is already queued or sent.
        let _ = w.queue_final_close(code, reason);
        sink(Event::Fail(code, reason));
    }

    fn process(&mut self, w: &mut Writer, sink: &mut dyn FnMut(Event<'_>)) {
        let Some(mut buf) = self.buf.take() else {
            return;
        };
        if let Err(f) = self.parse(buf.as_mut_slice(), w, sink) {
            self.fail(w, sink, f);
        }
        if self.state == State::Done {
            self.start = 0;
            self.end = 0;
            return; // the buffer is released: input is ignored from now on
        }
        // Keep only the unconsumed partial header/control frame, at the front.
        if self.start > 0 {
            buf.as_mut_slice().copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // Idle (nothing buffered, no frame or message in progress): let the buffer go. A
        // view exported earlier keeps its memory alive until Python drops the view.
        if self.end > 0 || self.inflight.is_some() || self.asm.opcode != OP_CONT {
            self.buf = Some(buf);
        }
    }

    fn parse(
        &mut self,
        buf: &mut [u8],
        w: &mut Writer,
        sink: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), Failure> {
        while self.state == State::Open {
            if let Some(mut p) = self.inflight {
                let avail = (self.end - self.start) as u64;
                if avail == 0 && p.remaining > 0 {
                    return Ok(());
                }
                let n = avail.min(p.remaining) as usize;
                let chunk = &mut buf[self.start..self.start + n];
                p.phase = apply_mask(chunk, p.mask, p.phase);
                p.remaining -= n as u64;
                self.start += n;
                let last = p.fin && p.remaining == 0;
                self.inflight = if p.remaining == 0 { None } else { Some(p) };
                if self.asm.chunk(chunk, last)? {
                    sink(message_event(self.asm.opcode, &self.asm.msg));
                    self.asm.done();
                }
                continue;
            }
            let h = match parse_header(&buf[self.start..self.end]) {
                Ok(Some(h)) => h,
                Ok(None) => return Ok(()),
                Err(_) => return Err((CLOSE_PROTOCOL_ERROR, "frame length over 2^63")),
            };
            check_header(&h, self.asm.inflater.is_some()).map_err(|r| (CLOSE_PROTOCOL_ERROR, r))?;
            let mask = match (h.mask, self.cfg.client) {
                (Some(m), false) => m,
                (None, true) => [0; 4],
                (None, false) => return Err((CLOSE_PROTOCOL_ERROR, "unmasked frame from client")),
                (Some(_), true) => return Err((CLOSE_PROTOCOL_ERROR, "masked frame from server")),
            };
            if h.payload_len > self.cfg.max_frame_size {
                return Err((CLOSE_TOO_BIG, "frame too big"));
            }
            let total = h.header_len as u64 + h.payload_len;
            if is_control(h.opcode) {
                if ((self.end - self.start) as u64) < total {
                    return Ok(());
                }
                let body = self.start + h.header_len;
                let end = body + h.payload_len as usize;
                self.start = end;
                let payload = &mut buf[body..end];
                apply_mask(payload, mask, 0);
                Self::control(&self.cfg, h.opcode, payload, w, sink)?;
                if h.opcode == OP_CLOSE {
                    self.state = State::Done;
                }
                continue;
            }
            if h.opcode == OP_CONT {
                if self.asm.opcode == OP_CONT {
                    return Err((CLOSE_PROTOCOL_ERROR, "continuation frame without a message"));
                }
                if h.rsv1 {
                    return Err((CLOSE_PROTOCOL_ERROR, "RSV1 set on a continuation frame"));
                }
            } else {
                if self.asm.opcode != OP_CONT {
                    return Err((
                        CLOSE_PROTOCOL_ERROR,
                        "new data frame inside a fragmented message",
                    ));
                }
                self.asm.opcode = h.opcode;
                self.asm.compressed = h.rsv1;
                self.asm.utf8.reset();
            }
            if !self.asm.compressed
                && self.asm.msg.len() as u64 + h.payload_len > self.cfg.max_message_size as u64
            {
                return Err((CLOSE_TOO_BIG, "message too big"));
            }
            let avail = (self.end - self.start) as u64;
            if h.fin && h.opcode != OP_CONT && !h.rsv1 && avail >= total {
                // Fast path: a whole single-frame message in the buffer, delivered in place.
                let body = self.start + h.header_len;
                let end = body + h.payload_len as usize;
                self.start = end;
                let payload = &mut buf[body..end];
                apply_mask(payload, mask, 0);
                if h.opcode == OP_TEXT {
                    if !validate(payload) {
                        return Err((CLOSE_INVALID_PAYLOAD, "invalid UTF-8 in text message"));
                    }
                    sink(Event::Text(payload));
                } else {
                    sink(Event::Binary(payload));
                }
                self.asm.opcode = OP_CONT;
                continue;
            }
            if !self.asm.compressed {
                // Within max_message_size (checked above); capped again so a huge configured
                // limit cannot turn one header into a huge allocation before data arrives.
                self.asm
                    .msg
                    .reserve(h.payload_len.min(MAX_UPFRONT_RESERVE) as usize);
            }
            self.start += h.header_len;
            self.inflight = Some(PayloadInFlight {
                fin: h.fin,
                mask,
                phase: 0,
                remaining: h.payload_len,
            });
        }
        Ok(())
    }

    fn control(
        cfg: &ReaderConfig,
        opcode: u8,
        payload: &[u8],
        w: &mut Writer,
        sink: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), Failure> {
        match opcode {
            OP_PING => {
                if cfg.auto_pong && !w.close_queued() {
                    // ≤ 125 bytes (checked by check_header): cannot be refused. Never after
                    // our close frame: nothing may follow it.
                    let _ = w.send_control(OP_PONG, payload);
                }
                sink(Event::Ping(payload));
            }
            OP_PONG => sink(Event::Pong(payload)),
            _ => {
                let (code, reason) = match payload {
                    [] => (CLOSE_NO_STATUS, ""),
                    [_] => return Err((CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte body")),
                    [a, b, rest @ ..] => {
                        let code = u16::from_be_bytes([*a, *b]);
                        if !is_valid_close_code(code) {
                            return Err((CLOSE_PROTOCOL_ERROR, "invalid close code"));
                        }
                        let reason = std::str::from_utf8(rest).map_err(|_| {
                            (CLOSE_INVALID_PAYLOAD, "invalid UTF-8 in close reason")
                        })?;
                        (code, reason)
                    }
                };
                sink(Event::Close(code, reason));
            }
        }
        Ok(())
    }
}

fn message_event(opcode: u8, msg: &[u8]) -> Event<'_> {
    if opcode == OP_TEXT {
        Event::Text(msg)
    } else {
        Event::Binary(msg)
    }
}

const _: () = assert!(MIN_READ_BUFFER > 2 * (MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD));

#[cfg(test)]
mod tests;
