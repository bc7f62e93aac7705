//! Frame serialization into one connection's output queue (RFC 6455 §5, RFC 7692 §7.2.1).
//!
//! Server frames go out unmasked; client frames are masked with a fresh key per frame. Data
//! messages are compressed when permessage-deflate was negotiated (RSV1 on the single frame we
//! write). Everything is appended to one `Vec<u8>` that the caller drains once per loop tick.
//!
//! Mask keys: RFC 6455 §5.3 asks for keys an attacker cannot predict (they stop a hostile page
//! from choosing the bytes an intermediary sees); it does not ask for a cryptographic RNG.
//! We use wyrand, a 64-bit non-cryptographic generator, seeded per writer from std's
//! `RandomState` (whose keys come from the OS RNG) mixed with a process-wide counter and the
//! clock. Cheap (one multiply per frame) and not guessable from outside the process.

use crate::deflate::{Compressor, DeflateParams};
use crate::frame::{self, encode_header, is_valid_close_code, MAX_CONTROL_PAYLOAD, OP_CLOSE};
use crate::mask::extend_masked;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// Output buffers larger than this are released after being drained.
const KEEP_CAPACITY: usize = 1 << 20;

/// wyrand: per-frame mask keys.
#[derive(Debug, Clone)]
pub struct MaskRng(u64);

impl MaskRng {
    /// A generator seeded from std's OS-seeded `RandomState`, a counter and the clock.
    pub fn from_entropy() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self(std::collections::hash_map::RandomState::new().hash_one((n, t)))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let r = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((r >> 64) as u64) ^ (r as u64)
    }

    /// A fresh 4-byte masking key.
    #[inline]
    pub fn mask(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_ne_bytes()
    }
}

/// Why a send was refused (the caller's mistake, reported as ValueError in Python).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendError(pub &'static str);

/// One connection's outgoing side.
pub struct Writer {
    out: Vec<u8>,
    client: bool,
    rng: MaskRng,
    compressor: Option<Compressor>,
    scratch: Vec<u8>,
    /// A close frame that goes out after everything else queued, including frames queued
    /// after it (see [`Writer::queue_final_close`]).
    final_close: Vec<u8>,
    /// A close frame has been queued: the codec's automatic frames (pongs, a failure's
    /// close) stop, since nothing may follow our close (RFC 6455 §5.5.1).
    close_queued: bool,
}

impl Writer {
    /// A writer for the client (`client`: masked frames) or server side; with `deflate`, data
    /// messages are compressed using our direction's negotiated parameters.
    pub fn new(client: bool, deflate: Option<DeflateParams>) -> Self {
        let compressor = deflate.map(|p| {
            if client {
                Compressor::new(p.client_max_window_bits, p.client_no_context_takeover)
            } else {
                Compressor::new(p.server_max_window_bits, p.server_no_context_takeover)
            }
        });
        Self {
            out: Vec::new(),
            client,
            rng: MaskRng::from_entropy(),
            compressor,
            scratch: Vec::new(),
            final_close: Vec::new(),
            close_queued: false,
        }
    }

    /// Append one frame as given: no compression, no checks beyond encoding.
    pub fn send_frame(&mut self, opcode: u8, payload: &[u8], fin: bool, rsv1: bool) {
        self.close_queued |= opcode == OP_CLOSE;
        if self.client {
            let mask = self.rng.mask();
            encode_header(
                &mut self.out,
                fin,
                rsv1,
                opcode,
                Some(mask),
                payload.len() as u64,
            );
            extend_masked(&mut self.out, payload, mask);
        } else {
            encode_header(&mut self.out, fin, rsv1, opcode, None, payload.len() as u64);
            self.out.extend_from_slice(payload);
        }
    }

    /// Append one data message (text or binary) as a single frame, compressed when
    /// permessage-deflate is on.
    pub fn send_message(&mut self, opcode: u8, data: &[u8]) {
        match self.compressor.as_mut() {
            Some(c) => {
                let mut scratch = std::mem::take(&mut self.scratch);
                scratch.clear();
                c.compress(data, &mut scratch);
                self.send_frame(opcode, &scratch, true, true);
                if scratch.capacity() <= KEEP_CAPACITY {
                    self.scratch = scratch;
                }
            }
            None => self.send_frame(opcode, data, true, false),
        }
    }

    /// Append only the header of a data message (one unmasked, uncompressed frame) whose
    /// `len`-byte payload the caller sends itself, right after the bytes queued so far
    /// (`queued_len()` before this call marks the spot). Returns false, queueing nothing, when
    /// the payload must go through the queue instead: client frames are masked and
    /// compressed ones are rewritten.
    pub fn send_message_header(&mut self, opcode: u8, len: usize) -> bool {
        if self.client || self.compressor.is_some() {
            return false;
        }
        encode_header(&mut self.out, true, false, opcode, None, len as u64);
        true
    }

    /// Bytes in the main queue (excluding a pending final close): an offset callers may
    /// use to splice their own payloads in at drain time.
    pub fn queued_len(&self) -> usize {
        self.out.len()
    }

    /// `send_frame` for a caller-chosen opcode (fragmentation, tests): no compression and no
    /// checks beyond the opcode fitting in its 4 bits.
    pub fn send_raw_frame(&mut self, opcode: u8, payload: &[u8], fin: bool) -> Result<(), SendError> {
        if opcode > 0xF {
            return Err(SendError("opcode must be 0..15"));
        }
        self.send_frame(opcode, payload, fin, false);
        Ok(())
    }

    /// Append a ping or pong (payload at most 125 bytes).
    pub fn send_control(&mut self, opcode: u8, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError("control frame payload over 125 bytes"));
        }
        self.send_frame(opcode, payload, true, false);
        Ok(())
    }

    /// Append a close frame: `None` sends an empty body; otherwise `code` must be valid on the
    /// wire and the UTF-8 `reason` at most 123 bytes.
    pub fn send_close(&mut self, code: Option<u16>, reason: &str) -> Result<(), SendError> {
        let Some(code) = code else {
            if !reason.is_empty() {
                return Err(SendError("a close reason needs a close code"));
            }
            self.send_frame(OP_CLOSE, &[], true, false);
            return Ok(());
        };
        if !is_valid_close_code(code) {
            return Err(SendError("invalid close code"));
        }
        if reason.len() > MAX_CONTROL_PAYLOAD - 2 {
            return Err(SendError("close reason over 123 bytes"));
        }
        let mut body = [0u8; MAX_CONTROL_PAYLOAD];
        body[..2].copy_from_slice(&code.to_be_bytes());
        body[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
        self.send_frame(OP_CLOSE, &body[..2 + reason.len()], true, false);
        Ok(())
    }

    /// True once a close frame has been queued (by any send): nothing automatic follows it.
    pub fn close_queued(&self) -> bool {
        self.close_queued
    }

    /// Queue the close frame that fails the connection so that it goes out *last*: replies
    /// the application queues to events reported before the failure still precede it.
    /// Nothing is queued when we already sent a close (it stays the last frame we send).
    pub fn queue_final_close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        if self.close_queued {
            return Ok(());
        }
        let queued = std::mem::take(&mut self.out);
        let result = self.send_close(Some(code), reason);
        self.final_close = std::mem::replace(&mut self.out, queued);
        result
    }

    /// Number of bytes queued and not yet drained.
    pub fn pending_len(&self) -> usize {
        self.out.len() + self.final_close.len()
    }

    /// Everything queued, in wire order (a final close frame is moved to the end now).
    pub fn pending(&mut self) -> &[u8] {
        if !self.final_close.is_empty() {
            let close = std::mem::take(&mut self.final_close);
            self.out.extend_from_slice(&close);
        }
        &self.out
    }

    /// Forget the queued bytes after the caller copied them out; big buffers are released.
    pub fn clear(&mut self) {
        if self.out.capacity() > KEEP_CAPACITY {
            self.out = Vec::new();
        } else {
            self.out.clear();
        }
    }

    /// Drain the queue.
    pub fn take(&mut self) -> Vec<u8> {
        self.pending();
        std::mem::take(&mut self.out)
    }
}

/// True when `opcode` is one of the two data opcodes a message may start with.
pub fn is_data_opcode(opcode: u8) -> bool {
    opcode == frame::OP_TEXT || opcode == frame::OP_BINARY
}

/// A close code given as a wider integer (as Python passes it): out of u16 range is invalid.
pub fn close_code(code: i64) -> Result<u16, SendError> {
    u16::try_from(code).map_err(|_| SendError("invalid close code"))
}

/// Data messages at least this large are worth sending by reference (see `Splices`).
pub const SPLICE_MIN: usize = 64 << 10;

/// Payloads the caller sends by reference instead of copying them into the writer's queue:
/// each goes out right after byte `offset` of the queue. Offsets only grow, since the queue
/// is append-only until drained.
#[derive(Debug)]
pub struct Splices<T> {
    entries: Vec<(usize, T)>,
    payload_len: usize,
}

/// One piece of the output in wire order: queued bytes, or a spliced payload.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a, T> {
    Queued(&'a [u8]),
    Payload(T),
}

impl<T> Default for Splices<T> {
    fn default() -> Self {
        Splices { entries: Vec::new(), payload_len: 0 }
    }
}

impl<T> Splices<T> {
    /// True when no payload waits: the queue alone is the output.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total bytes of the payloads waiting.
    pub fn payload_len(&self) -> usize {
        self.payload_len
    }

    /// Send `payload` (`len` bytes) right after the first `offset` bytes of the queue.
    pub fn push(&mut self, offset: usize, payload: T, len: usize) {
        self.entries.push((offset, payload));
        self.payload_len += len;
    }

    /// Interleave `queue` (the writer's pending bytes) with the payloads, in wire order, and
    /// forget the payloads. Empty queue pieces are left out.
    pub fn drain<'a>(&mut self, queue: &'a [u8]) -> Vec<Piece<'a, T>> {
        let mut pieces = Vec::with_capacity(2 * self.entries.len() + 1);
        let mut at = 0;
        for (offset, payload) in self.entries.drain(..) {
            if offset > at {
                pieces.push(Piece::Queued(queue.get(at..offset).unwrap_or_default()));
            }
            pieces.push(Piece::Payload(payload));
            at = offset.max(at);
        }
        if at < queue.len() {
            pieces.push(Piece::Queued(queue.get(at..).unwrap_or_default()));
        }
        self.payload_len = 0;
        pieces
    }

    /// Like `drain`, but copies the output in wire order into the front of `out` (sized by
    /// the caller to the queue plus `payload_len()`), reading each payload through `bytes`.
    pub fn drain_into(&mut self, queue: &[u8], bytes: impl Fn(&T) -> &[u8], out: &mut [u8]) {
        let mut written: usize = 0;
        let mut put = |b: &[u8]| {
            if let Some(dst) = out.get_mut(written..written.saturating_add(b.len())) {
                dst.copy_from_slice(b);
                written += b.len();
            }
        };
        let mut at = 0;
        for (offset, payload) in self.entries.drain(..) {
            put(queue.get(at..offset).unwrap_or_default());
            put(bytes(&payload));
            at = offset.max(at);
        }
        put(queue.get(at..).unwrap_or_default());
        self.payload_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{OP_BINARY, OP_PING, OP_TEXT};

    #[test]
    fn server_frames_are_unmasked_rfc_hello() {
        let mut w = Writer::new(false, None);
        w.send_message(OP_TEXT, b"Hello");
        assert_eq!(w.take(), [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    }

    #[test]
    fn client_frames_are_masked_with_changing_keys() {
        let mut w = Writer::new(true, None);
        w.send_message(OP_BINARY, b"Hello");
        w.send_message(OP_BINARY, b"Hello");
        let out = w.take();
        let (a, b) = out.split_at(11);
        assert_eq!(a[1], 0x85);
        let mut p = a[6..].to_vec();
        crate::mask::apply_mask(&mut p, [a[2], a[3], a[4], a[5]], 0);
        assert_eq!(p, b"Hello");
        assert_ne!(a[2..6], b[2..6]);
    }

    #[test]
    fn compressed_hello_matches_rfc7692() {
        let mut w = Writer::new(false, Some(DeflateParams::default()));
        w.send_message(OP_TEXT, b"Hello");
        let out = w.take();
        assert_eq!(out[0], 0xC1, "FIN + RSV1 + text");
        let mut d = crate::deflate::Decompressor::new(15, false);
        let mut msg = Vec::new();
        d.decompress(&out[2..], true, &mut msg, 100).unwrap();
        assert_eq!(msg, b"Hello");
    }

    #[test]
    fn close_and_control_limits() {
        let mut w = Writer::new(false, None);
        assert!(w.send_close(Some(1005), "").is_err());
        assert!(w.send_close(Some(1000), &"x".repeat(124)).is_err());
        assert!(w.send_control(OP_PING, &[0; 126]).is_err());
        assert!(w.pending().is_empty());
        w.send_close(Some(1000), "bye").unwrap();
        assert_eq!(w.take(), [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']);
    }

    #[test]
    fn final_close_goes_out_after_frames_queued_later() {
        let mut w = Writer::new(false, None);
        w.send_message(OP_TEXT, b"a");
        w.queue_final_close(1002, "").unwrap();
        w.send_message(OP_TEXT, b"b");
        assert_eq!(w.pending_len(), 10);
        assert_eq!(
            w.take(),
            [0x81, 1, b'a', 0x81, 1, b'b', 0x88, 2, 0x03, 0xea]
        );
    }

    #[test]
    fn splices_interleave_payloads_with_the_queue_in_wire_order() {
        let mut s = Splices::default();
        s.push(2, "P1", 2);
        s.push(2, "P2", 2);
        s.push(5, "P3", 2);
        assert_eq!(s.payload_len(), 6);
        let queue = b"h1h2h3tail";
        assert_eq!(
            s.drain(queue),
            vec![
                Piece::Queued(&b"h1"[..]),
                Piece::Payload("P1"),
                Piece::Payload("P2"),
                Piece::Queued(&b"h2h"[..]),
                Piece::Payload("P3"),
                Piece::Queued(&b"3tail"[..]),
            ]
        );
        assert!(s.is_empty());
        assert_eq!(s.payload_len(), 0);
    }

    #[test]
    fn a_payload_at_the_end_of_the_queue_leaves_no_empty_piece() {
        let mut s = Splices::default();
        s.push(3, 7u8, 1);
        assert_eq!(s.drain(b"hdr"), vec![Piece::Queued(&b"hdr"[..]), Piece::Payload(7)]);
    }

    #[test]
    fn raw_frames_take_any_4_bit_opcode() {
        let mut w = Writer::new(false, None);
        assert_eq!(w.send_raw_frame(0x3, b"x", false), Ok(()));
        assert_eq!(w.take(), [0x03, 0x01, b'x']);
        assert_eq!(w.send_raw_frame(0x10, b"x", true), Err(SendError("opcode must be 0..15")));
        assert!(w.take().is_empty());
    }

    #[test]
    fn close_codes_outside_u16_are_invalid() {
        assert_eq!(close_code(1000), Ok(1000));
        assert_eq!(close_code(-1), Err(SendError("invalid close code")));
        assert_eq!(close_code(65536), Err(SendError("invalid close code")));
    }

    #[test]
    fn drain_into_writes_the_wire_order_bytes() {
        let mut s = Splices::default();
        s.push(2, b"P1".to_vec(), 2);
        s.push(5, b"P3".to_vec(), 2);
        let queue = b"h1h2h3tail";
        let mut out = vec![0u8; queue.len() + s.payload_len()];
        s.drain_into(queue, |p| p.as_slice(), &mut out);
        assert_eq!(out, b"h1P1h2hP33tail");
        assert!(s.is_empty());
    }

    #[test]
    fn drain_into_without_payloads_copies_the_queue() {
        let mut s: Splices<Vec<u8>> = Splices::default();
        let mut out = [0u8; 3];
        s.drain_into(b"abc", |p| p.as_slice(), &mut out);
        assert_eq!(&out, b"abc");
    }
}
