//! How the SQLite log store keeps a body: as sent, or LZ4-compressed when that pays.
//!
//! A streamed answer's log body is its SSE, where every event repeats the same id, model and
//! field names: LZ4 stores it ~25x smaller for ~2.5 µs per 15 KB, far less than the writes
//! it saves (SQLite writes each page twice, to the WAL and again at the checkpoint, and the
//! kernel copies every byte each time). A packed body is the body's length (u32,
//! little-endian) then one LZ4 block; `log_bodies.body_encoding` says which bodies of a row
//! are packed. Bodies under `MIN_PACKED` bytes, and bodies LZ4 does not shrink by an eighth,
//! are kept as they are.

use std::fmt;

/// Bodies shorter than this are stored as they are (a one-shot JSON answer rarely shrinks
/// enough to pay for the call).
pub const MIN_PACKED: usize = 1024;

/// `body_encoding` bits: which of a row's bodies are packed.
pub const REQUEST_PACKED: i64 = 1;
pub const RESPONSE_PACKED: i64 = 2;

/// LZ4 never expands a byte into more than 255 (a match of length ~255 per token byte), so a
/// packed body claiming more than this many times its size is corrupt, and is refused before
/// anything is allocated for it.
const MAX_RATIO: usize = 255;

/// Why a stored body could not be unpacked.
#[derive(Debug, PartialEq, Eq)]
pub enum UnpackError {
    /// Shorter than its length prefix.
    Truncated,
    /// The prefix claims a length the block cannot hold.
    ImplausibleLength(u64),
    /// The LZ4 block is malformed, or decodes to another length than the prefix says.
    Corrupt,
}

impl fmt::Display for UnpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnpackError::Truncated => f.write_str("packed log body: shorter than its length prefix"),
            UnpackError::ImplausibleLength(n) => write!(f, "packed log body: a length of {n} bytes its block cannot hold"),
            UnpackError::Corrupt => f.write_str("packed log body: the LZ4 block is corrupt"),
        }
    }
}

impl std::error::Error for UnpackError {}

/// Packs bodies into a buffer it keeps (its memory is reused from body to body, never zeroed
/// again), up to `KEPT_BUFFER` bytes between batches (`trim`).
#[derive(Default)]
pub struct Packer {
    buf: Vec<u8>,
}

/// The buffer a Packer keeps between batches; one for a larger body (up to 10 MiB by default)
/// is let go by `trim`.
pub const KEPT_BUFFER: usize = 1 << 20;

impl Packer {
    /// Let go of a buffer grown past `KEPT_BUFFER` for a large body.
    pub fn trim(&mut self) {
        if self.buf.capacity() > KEPT_BUFFER {
            self.buf = Vec::new();
        }
    }

    /// `body` packed, when that pays; None when the body is to be stored as it is.
    pub fn pack(&mut self, body: &[u8]) -> Option<&[u8]> {
        if body.len() < MIN_PACKED {
            return None;
        }
        let len = u32::try_from(body.len()).ok()?;
        let bound = 4 + lz4_flex::block::get_maximum_output_size(body.len());
        if self.buf.len() < bound {
            self.buf.resize(bound, 0);
        }
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        let n = 4 + lz4_flex::block::compress_into(body, &mut self.buf[4..bound]).ok()?;
        (n <= body.len() - body.len() / 8).then(|| &self.buf[..n])
    }
}

/// The body a packed one holds. Total: any input gives the body or an error, never a panic,
/// and never allocates more than `MAX_RATIO` times the input.
pub fn unpack(stored: &[u8]) -> Result<Vec<u8>, UnpackError> {
    let Some((prefix, block)) = stored.split_first_chunk::<4>() else { return Err(UnpackError::Truncated) };
    let len = u32::from_le_bytes(*prefix) as usize;
    if len > block.len().saturating_mul(MAX_RATIO) {
        return Err(UnpackError::ImplausibleLength(len as u64));
    }
    let mut body = vec![0u8; len];
    match lz4_flex::block::decompress_into(block, &mut body) {
        Ok(n) if n == len => Ok(body),
        _ => Err(UnpackError::Corrupt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(events: usize) -> Vec<u8> {
        let mut body = Vec::new();
        for i in 0..events {
            body.extend_from_slice(format!("data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"delta\":{{\"content\":\"tok{i}\"}}}}]}}\n\n").as_bytes());
        }
        body
    }

    #[test]
    fn a_streamed_answer_is_packed_and_unpacks_to_itself() {
        let body = sse(64);
        let mut packer = Packer::default();
        let packed = packer.pack(&body).unwrap();
        assert!(packed.len() * 5 < body.len(), "{} -> {}", body.len(), packed.len());
        assert_eq!(unpack(packed).unwrap(), body);
    }

    #[test]
    fn the_most_compressible_body_is_within_the_plausible_ratio() {
        let body = vec![b'a'; 1 << 20];
        let mut packer = Packer::default();
        let packed = packer.pack(&body).unwrap();
        assert!(packed.len() < 5000, "{}", packed.len());
        assert_eq!(unpack(packed).unwrap(), body);
    }

    #[test]
    fn a_short_body_is_kept_as_it_is() {
        let mut packer = Packer::default();
        assert!(packer.pack(&[b'a'; MIN_PACKED - 1]).is_none());
        assert!(packer.pack(&[b'a'; MIN_PACKED]).is_some());
    }

    #[test]
    fn a_body_lz4_cannot_shrink_is_kept_as_it_is() {
        // xorshift bytes: no repeats for LZ4 to find
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let body: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(Packer::default().pack(&body).is_none());
    }

    #[test]
    fn a_packer_reused_for_a_shorter_body_packs_only_that_body() {
        let mut packer = Packer::default();
        packer.pack(&sse(200)).unwrap();
        let body = sse(64);
        assert_eq!(unpack(packer.pack(&body).unwrap()).unwrap(), body);
    }

    #[test]
    fn a_buffer_grown_for_a_large_body_is_let_go_by_trim() {
        let mut packer = Packer::default();
        packer.pack(&sse(64)).unwrap();
        packer.trim();
        assert!(packer.buf.capacity() > 0, "a small buffer is kept");
        packer.pack(&vec![b'a'; 4 << 20]).unwrap();
        packer.trim();
        assert_eq!(packer.buf.capacity(), 0);
        let body = sse(64);
        assert_eq!(unpack(packer.pack(&body).unwrap()).unwrap(), body);
    }

    #[test]
    fn a_truncated_or_corrupt_body_is_an_error() {
        let mut packer = Packer::default();
        let out = packer.pack(&sse(64)).unwrap().to_vec();
        assert_eq!(unpack(&out[..3]), Err(UnpackError::Truncated));
        assert_eq!(unpack(&out[..out.len() - 5]), Err(UnpackError::Corrupt));
        let mut longer = out.clone();
        longer[..4].copy_from_slice(&(sse(64).len() as u32 + 1).to_le_bytes());
        assert_eq!(unpack(&longer), Err(UnpackError::Corrupt));
    }

    #[test]
    fn an_implausible_length_is_refused_before_allocating() {
        let mut stored = u32::MAX.to_le_bytes().to_vec();
        stored.extend_from_slice(&[0x10, b'a']);
        assert_eq!(unpack(&stored), Err(UnpackError::ImplausibleLength(u32::MAX as u64)));
    }
}
