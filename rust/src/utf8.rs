//! Incremental, fail-fast UTF-8 validation for fragmented text messages (RFC 6455 §8.1).
//!
//! Each chunk is checked with `simdutf8::compat` (runtime-dispatched SIMD, std-compatible error
//! positions). A chunk may end inside a multi-byte sequence: its 1..=3 trailing bytes are kept
//! in a carry and completed with the first bytes of the next chunk. The validator fails as soon
//! as bytes are provably invalid, including a truncated sequence that can never complete
//! (std, and so simdutf8::compat, report those with `error_len() == Some(_)`).

use simdutf8::compat::from_utf8;

/// Error: the text stream is not UTF-8. `valid_up_to` is the absolute offset (over everything
/// fed since the last reset) of the first byte of the offending sequence, as std reports it
/// for the concatenated input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error {
    pub valid_up_to: usize,
}

/// Validates a byte stream chunk by chunk.
#[derive(Debug, Default, Clone)]
pub struct IncrementalUtf8 {
    carry: [u8; 4],
    carry_len: usize,
    /// Bytes fed and accepted so far, excluding the carry.
    offset: usize,
}

/// Length of the sequence a leading byte announces (1 for anything that cannot lead, which
/// then fails validation).
#[inline]
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

/// True when every byte is ASCII; the fast path for tiny inputs (a u64 test per 8 bytes).
#[inline]
pub fn is_ascii_small(data: &[u8]) -> bool {
    let mut chunks = data.chunks_exact(8);
    let mut acc = 0u64;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        acc |= u64::from_ne_bytes(w);
    }
    let mut tail = 0u8;
    for b in chunks.remainder() {
        tail |= b;
    }
    acc & 0x8080_8080_8080_8080 == 0 && tail & 0x80 == 0
}

/// Validate one complete byte string (no carry). ASCII fast path for short inputs.
#[inline]
pub fn validate(data: &[u8]) -> bool {
    (data.len() <= 32 && is_ascii_small(data)) || from_utf8(data).is_ok()
}

impl IncrementalUtf8 {
    /// A validator at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget all state (a new message begins).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Accept the next chunk. Fails as soon as the stream so far cannot be a prefix of UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Utf8Error> {
        if self.carry_len > 0 {
            let need = sequence_len(self.carry[0]);
            let take = need.saturating_sub(self.carry_len).min(data.len());
            let mut seq = [0u8; 4];
            seq[..self.carry_len].copy_from_slice(&self.carry[..self.carry_len]);
            seq[self.carry_len..self.carry_len + take].copy_from_slice(&data[..take]);
            let seq_len = self.carry_len + take;
            match from_utf8(&seq[..seq_len]) {
                Ok(_) => {
                    self.offset += seq_len;
                    self.carry_len = 0;
                    data = &data[take..];
                }
                Err(e) if e.error_len().is_some() => {
                    return Err(Utf8Error {
                        valid_up_to: self.offset,
                    });
                }
                Err(_) => {
                    // Still a valid but incomplete prefix: `data` was shorter than needed.
                    self.carry = seq;
                    self.carry_len = seq_len;
                    return Ok(());
                }
            }
        }
        if data.len() <= 16 && is_ascii_small(data) {
            self.offset += data.len();
            return Ok(());
        }
        match from_utf8(data) {
            Ok(_) => {
                self.offset += data.len();
                Ok(())
            }
            Err(e) if e.error_len().is_some() => Err(Utf8Error {
                valid_up_to: self.offset + e.valid_up_to(),
            }),
            Err(e) => {
                let good = e.valid_up_to();
                let rest = data.get(good..).unwrap_or(&[]);
                if rest.len() > 3 {
                    // Cannot happen (an incomplete suffix is 1..=3 bytes); fail rather than panic.
                    return Err(Utf8Error {
                        valid_up_to: self.offset + good,
                    });
                }
                self.offset += good;
                self.carry[..rest.len()].copy_from_slice(rest);
                self.carry_len = rest.len();
                Ok(())
            }
        }
    }

    /// The stream ended: fail if a sequence is left incomplete.
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if self.carry_len > 0 {
            Err(Utf8Error {
                valid_up_to: self.offset,
            })
        } else {
            Ok(())
        }
    }

    /// Bytes of an incomplete trailing sequence currently held back.
    pub fn pending(&self) -> usize {
        self.carry_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed_all(parts: &[&[u8]]) -> Result<(), Utf8Error> {
        let mut v = IncrementalUtf8::new();
        for p in parts {
            v.feed(p)?;
        }
        v.finish()
    }

    #[test]
    fn sequence_split_across_every_point_is_accepted() {
        let s = "aé€😀z".as_bytes();
        for i in 0..=s.len() {
            for j in i..=s.len() {
                assert_eq!(feed_all(&[&s[..i], &s[i..j], &s[j..]]), Ok(()));
            }
        }
    }

    #[test]
    fn impossible_continuation_fails_before_the_message_ends() {
        let mut v = IncrementalUtf8::new();
        v.feed(b"ab").unwrap();
        // F0 80 can never start a valid sequence (F0 needs 90..BF next).
        assert_eq!(v.feed(b"\xF0\x80"), Err(Utf8Error { valid_up_to: 2 }));
        let mut v = IncrementalUtf8::new();
        v.feed(b"\xF0").unwrap();
        assert_eq!(v.feed(b"\x80"), Err(Utf8Error { valid_up_to: 0 }));
        let mut v = IncrementalUtf8::new();
        assert!(v.feed(b"\xED\xA0").is_err(), "surrogates are invalid");
    }

    #[test]
    fn truncated_sequence_fails_at_finish() {
        let mut v = IncrementalUtf8::new();
        v.feed(b"ok\xE2\x82").unwrap();
        assert_eq!(v.pending(), 2);
        assert_eq!(v.finish(), Err(Utf8Error { valid_up_to: 2 }));
    }

    fn utf8ish() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                4 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
                1 => prop::collection::vec(any::<u8>(), 1..3),
            ],
            0..40,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn matches_std_under_random_splits(data in utf8ish(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
            points.sort();
            let mut parts = Vec::new();
            let mut prev = 0;
            for p in points { parts.push(&data[prev..p]); prev = p; }
            parts.push(&data[prev..]);
            let ours = feed_all(&parts);
            match std::str::from_utf8(&data) {
                Ok(_) => prop_assert_eq!(ours, Ok(())),
                Err(e) => prop_assert_eq!(ours, Err(Utf8Error { valid_up_to: e.valid_up_to() })),
            }
        }
    }
}
