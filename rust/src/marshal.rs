//! A writer of Python's `marshal` format (the subset of plain values: None, int, float, str,
//! bytes, tuple, list), so rows built in Rust reach a Python process that reads them with
//! `marshal.loads`, which is C and fast. No back-references (FLAG_REF) are written, so pieces
//! written separately can be concatenated into one container, as `marshal.dumps(x, 2)` allows.
//!
//! Format (CPython Python/marshal.c, every version since 2): one type byte, then
//! little-endian fields: `N` None; `T`/`F` booleans; `i` int32; `l` int32 digit count (negative for a negative
//! number) then that many 15-bit digits as u16, least significant first; `g` f64; `u` int32
//! length + UTF-8; `s` int32 length + bytes; `(` and `[` int32 count + items.

/// Appends marshal-encoded values to a byte vector.
#[derive(Debug, Default, Clone)]
pub struct MarshalWriter {
    pub buf: Vec<u8>,
}

const PYLONG_SHIFT: u32 = 15;
const PYLONG_MASK: u64 = (1 << PYLONG_SHIFT) - 1;

impl MarshalWriter {
    pub fn new() -> Self {
        Self::default()
    }

    fn len32(&mut self, n: usize) {
        // Lengths here are rows, columns and bodies: callers keep them far below 2 GiB
        // (bodies are capped by the logger's max_body_bytes), so the cast cannot truncate.
        self.buf.extend_from_slice(&(n as u32).to_le_bytes());
    }

    /// `None`.
    pub fn none(&mut self) {
        self.buf.push(b'N');
    }

    /// `True` or `False`.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(if v { b'T' } else { b'F' });
    }

    /// An int of any i64 value (`i` when it fits 32 bits, else `l`).
    pub fn int(&mut self, v: i64) {
        if let Ok(small) = i32::try_from(v) {
            self.buf.push(b'i');
            self.buf.extend_from_slice(&small.to_le_bytes());
            return;
        }
        // At most five 15-bit digits: |i64::MIN| is 2**63. No allocation: the NULL sentinel
        // of the log rows (-i64::MAX) takes this path for every absent number.
        let mut magnitude = v.unsigned_abs();
        let mut digits = [0u8; 10];
        let mut n = 0;
        while magnitude != 0 {
            digits[2 * n..2 * n + 2].copy_from_slice(&((magnitude & PYLONG_MASK) as u16).to_le_bytes());
            magnitude >>= PYLONG_SHIFT;
            n += 1;
        }
        let count = n as i32;
        self.buf.push(b'l');
        self.buf.extend_from_slice(&(if v < 0 { -count } else { count }).to_le_bytes());
        self.buf.extend_from_slice(&digits[..2 * n]);
    }

    /// A float (binary, `g`).
    pub fn float(&mut self, v: f64) {
        self.buf.push(b'g');
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A str (UTF-8, `u`).
    pub fn str(&mut self, s: &str) {
        self.utf8(s.as_bytes());
    }

    /// A str from bytes the caller guarantees are UTF-8 (`marshal.loads` checks them anyway).
    pub fn utf8(&mut self, s: &[u8]) {
        self.buf.push(b'u');
        self.len32(s.len());
        self.buf.extend_from_slice(s);
    }

    /// A bytes object (`s`).
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.push(b's');
        self.len32(b.len());
        self.buf.extend_from_slice(b);
    }

    /// A str whose UTF-8 `write` appends to the buffer in place (no text of its own to copy
    /// from); the length is filled in after. `write`'s result is returned; when it reports a
    /// failure the caller discards what was written (the bytes it appended may be partial).
    pub fn utf8_written<R>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        self.buf.push(b'u');
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let result = write(&mut self.buf);
        let n = self.buf.len() - at - 4;
        self.buf[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
        result
    }

    /// The head of a tuple of `n` items (the items follow).
    pub fn tuple(&mut self, n: usize) {
        self.buf.push(b'(');
        self.len32(n);
    }

    /// The head of a list of `n` items (the items follow).
    pub fn list(&mut self, n: usize) {
        self.buf.push(b'[');
        self.len32(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut MarshalWriter)) -> Vec<u8> {
        let mut w = MarshalWriter::new();
        f(&mut w);
        w.buf
    }

    #[test]
    fn small_ints_are_int32() {
        assert_eq!(written(|w| w.int(5)), b"i\x05\x00\x00\x00");
        assert_eq!(written(|w| w.int(-1)), b"i\xff\xff\xff\xff");
    }

    #[test]
    fn large_ints_are_15_bit_digits_with_a_signed_count() {
        // marshal.dumps(2**31, 2) == b'l\x03\x00\x00\x00\x00\x00\x00\x00\x02\x00'
        assert_eq!(written(|w| w.int(1 << 31)), b"l\x03\x00\x00\x00\x00\x00\x00\x00\x02\x00");
        // marshal.dumps(-(2**63 - 1), 2): five digits, count -5
        let out = written(|w| w.int(-(i64::MAX)));
        assert_eq!(&out[..5], b"l\xfb\xff\xff\xff");
        assert_eq!(&out[5..], b"\xff\x7f\xff\x7f\xff\x7f\xff\x7f\x07\x00");
    }

    #[test]
    fn a_str_written_in_place_is_the_str_written_whole() {
        let whole = written(|w| w.str("{\"a\":1}"));
        let in_place = written(|w| w.utf8_written(|buf| buf.extend_from_slice(b"{\"a\":1}")));
        assert_eq!(in_place, whole);
    }

    #[test]
    fn i64_min_does_not_overflow() {
        let out = written(|w| w.int(i64::MIN));
        assert_eq!(&out[..5], b"l\xfb\xff\xff\xff");
        assert_eq!(&out[5..], b"\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00");
    }

    #[test]
    fn floats_strings_bytes_and_containers() {
        assert_eq!(written(|w| w.float(1.5)), b"g\x00\x00\x00\x00\x00\x00\xf8?");
        assert_eq!(written(|w| w.str("é")), b"u\x02\x00\x00\x00\xc3\xa9");
        assert_eq!(written(|w| w.bytes(b"ab")), b"s\x02\x00\x00\x00ab");
        assert_eq!(
            written(|w| {
                w.tuple(2);
                w.none();
                w.list(0);
            }),
            b"(\x02\x00\x00\x00N[\x00\x00\x00\x00"
        );
    }
}
