//! A log batch read back from Python's marshal format: the payload the gateway's process sends
//! its SQLite writer process (`LogRowEncoder.take`, or `marshal.dumps((rows, bodies), 2)` for
//! records the encoder refused), cut into cells that borrow the payload's bytes.
//!
//! The batch is a 2-tuple: a list of `logs` rows (tuples of `columns` scalars) and a list of
//! `log_bodies` rows (3-tuples: log id, request body, response body). Scalars are the subset
//! marshal.rs writes (None, bool, int, float, str, bytes), plus the interned-str and
//! short-string spellings CPython may use. The NULL sentinels `log_row` uses (a lone NUL for
//! text, `-(2**63 - 1)` for numbers) are read as NULL here, so the store binds them as such.
//!
//! Sans-I/O and total: any input yields a batch or an error naming the offset, never a panic,
//! and no count in the input allocates more than the input's own length could hold.

use crate::marshal::MarshalWriter;
use std::fmt;

/// A NULL written as text (`aigw.builtins.sqlite_logs.NULL_TEXT`).
pub const NULL_TEXT: &str = "\0";
/// A NULL written as a number (`aigw.builtins.sqlite_logs.NULL_NUMBER`).
pub const NULL_NUMBER: i64 = -i64::MAX;

/// One value of a row, borrowing the payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A batch: `rows` of `columns` cells each, flattened, and the bodies' rows.
#[derive(Debug, Default, PartialEq)]
pub struct LogBatch<'a> {
    pub columns: usize,
    pub cells: Vec<Cell<'a>>,
    pub bodies: Vec<[Cell<'a>; 3]>,
}

impl<'a> LogBatch<'a> {
    /// How many `logs` rows the batch holds.
    pub fn rows(&self) -> usize {
        self.cells.len().checked_div(self.columns).unwrap_or(0)
    }

    /// The `i`th `logs` row's cells (panics only for `i >= rows()`, a caller's bug).
    pub fn row(&self, i: usize) -> &[Cell<'a>] {
        &self.cells[i * self.columns..(i + 1) * self.columns]
    }

    /// The batch in marshal format, as `parse_log_batch` reads it (NULL as None): the inverse
    /// the tests and the fuzz target write batches with.
    pub fn to_marshal(&self) -> Vec<u8> {
        let mut w = MarshalWriter::new();
        w.tuple(2);
        w.list(self.rows());
        for i in 0..self.rows() {
            w.tuple(self.columns);
            self.row(i).iter().for_each(|c| c.write(&mut w));
        }
        w.list(self.bodies.len());
        for b in &self.bodies {
            w.tuple(3);
            b.iter().for_each(|c| c.write(&mut w));
        }
        w.buf
    }
}

impl Cell<'_> {
    fn write(&self, w: &mut MarshalWriter) {
        match *self {
            Cell::Null => w.none(),
            Cell::Int(v) => w.int(v),
            Cell::Float(v) => w.float(v),
            Cell::Text(s) => w.str(s),
            Cell::Blob(b) => w.bytes(b),
        }
    }
}

/// Why a payload is not a batch: what was expected, and at which byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "log batch: {} at byte {}", self.what, self.offset)
    }
}

impl std::error::Error for BatchError {}

/// Read `payload` as a batch of `logs` rows of exactly `columns` cells.
pub fn parse_log_batch(payload: &[u8], columns: usize) -> Result<LogBatch<'_>, BatchError> {
    let mut r = Reader { buf: payload, at: 0 };
    if r.container(b'(')? != 2 {
        return Err(r.error("a 2-tuple (rows, bodies)"));
    }
    let rows = r.container(b'[')?;
    // Each cell is at least one byte: a count past what is left is refused before reserving.
    let wanted = rows.checked_mul(columns).filter(|&n| n <= r.left());
    let mut cells = Vec::with_capacity(wanted.ok_or_else(|| r.error("a row count the payload can hold"))?);
    for _ in 0..rows {
        if r.container(b'(')? != columns {
            return Err(r.error("a row of the logs table's columns"));
        }
        for _ in 0..columns {
            cells.push(r.cell()?);
        }
    }
    let count = r.container(b'[')?;
    if count > r.left() {
        return Err(r.error("a bodies count the payload can hold"));
    }
    let mut bodies = Vec::with_capacity(count);
    for _ in 0..count {
        if r.container(b'(')? != 3 {
            return Err(r.error("a bodies row (log_id, request, response)"));
        }
        bodies.push([r.cell()?, r.cell()?, r.cell()?]);
    }
    if r.left() != 0 {
        return Err(r.error("the end of the batch"));
    }
    Ok(LogBatch { columns, cells, bodies })
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.buf.len() - self.at
    }

    fn error(&self, what: &'static str) -> BatchError {
        BatchError { offset: self.at, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BatchError> {
        if n > self.left() {
            return Err(self.error("more bytes (the payload ends early)"));
        }
        let out = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, BatchError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A type byte without marshal's FLAG_REF bit (a reference *to* it changes nothing here).
    fn kind(&mut self) -> Result<u8, BatchError> {
        Ok(self.take(1)?[0] & 0x7f)
    }

    /// A container's item count; `kind` is `(` or `[` (marshal's small tuple `)` counts as `(`).
    fn container(&mut self, kind: u8) -> Result<usize, BatchError> {
        match (kind, self.kind()?) {
            (b'(', b')') => Ok(self.take(1)?[0] as usize),
            (b'(', b'(') | (b'[', b'[') => Ok(self.u32()? as usize),
            (b'(', _) => Err(self.error("a tuple")),
            _ => Err(self.error("a list")),
        }
    }

    fn text(&mut self, n: usize) -> Result<Cell<'a>, BatchError> {
        let bytes = self.take(n)?;
        let s = simdutf8::basic::from_utf8(bytes).map_err(|_| self.error("UTF-8 text"))?;
        Ok(if s == NULL_TEXT { Cell::Null } else { Cell::Text(s) })
    }

    fn cell(&mut self) -> Result<Cell<'a>, BatchError> {
        Ok(match self.kind()? {
            b'N' => Cell::Null,
            b'T' => Cell::Int(1),
            b'F' => Cell::Int(0),
            b'i' => Cell::Int(self.u32()? as i32 as i64),
            b'l' => self.long()?,
            b'g' => {
                let b = self.take(8)?;
                Cell::Float(f64::from_le_bytes(b.try_into().map_err(|_| self.error("a float"))?))
            }
            b'u' | b't' | b'a' | b'A' => {
                let n = self.u32()? as usize;
                self.text(n)?
            }
            b'z' | b'Z' => {
                let n = self.take(1)?[0] as usize;
                self.text(n)?
            }
            b's' => {
                let n = self.u32()? as usize;
                Cell::Blob(self.take(n)?)
            }
            _ => return Err(BatchError { offset: self.at.saturating_sub(1), what: "a None, int, float, str or bytes" }),
        })
    }

    /// marshal's `l`: a signed count of 15-bit digits, least significant first; past i64 is refused.
    fn long(&mut self) -> Result<Cell<'a>, BatchError> {
        let count = self.u32()? as i32;
        let n = count.unsigned_abs() as usize;
        if n > 5 {
            return Err(self.error("an int within 64 bits"));
        }
        let mut magnitude: u128 = 0;
        for i in 0..n {
            let b = self.take(2)?;
            let digit = u16::from_le_bytes([b[0], b[1]]);
            if digit >= 1 << 15 {
                return Err(self.error("a 15-bit digit"));
            }
            magnitude |= (digit as u128) << (15 * i);
        }
        let value = if count < 0 { -(magnitude as i128) } else { magnitude as i128 };
        let value = i64::try_from(value).map_err(|_| self.error("an int within 64 bits"))?;
        Ok(if value == NULL_NUMBER { Cell::Null } else { Cell::Int(value) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(rows: &[&[Cell]], bodies: &[[Cell; 3]]) -> Vec<u8> {
        let columns = rows.first().map_or(0, |r| r.len());
        let cells = rows.iter().flat_map(|r| r.iter().copied()).collect();
        LogBatch { columns, cells, bodies: bodies.to_vec() }.to_marshal()
    }

    #[test]
    fn reads_what_the_row_encoder_writes() {
        let payload = batch(
            &[&[Cell::Text("id1"), Cell::Int(200), Cell::Float(1.5), Cell::Int(1 << 40)], &[Cell::Text("id2"), Cell::Int(-7), Cell::Null, Cell::Int(i64::MIN + 2)]],
            &[[Cell::Text("id1"), Cell::Blob(b"{}"), Cell::Null]],
        );
        let b = parse_log_batch(&payload, 4).unwrap();
        assert_eq!(b.rows(), 2);
        assert_eq!(b.row(0), &[Cell::Text("id1"), Cell::Int(200), Cell::Float(1.5), Cell::Int(1 << 40)]);
        assert_eq!(b.row(1)[1], Cell::Int(-7));
        assert_eq!(b.row(1)[3], Cell::Int(i64::MIN + 2));
        assert_eq!(b.bodies, vec![[Cell::Text("id1"), Cell::Blob(b"{}"), Cell::Null]]);
    }

    #[test]
    fn the_null_sentinels_read_as_null() {
        let payload = batch(&[&[Cell::Text(NULL_TEXT), Cell::Int(NULL_NUMBER)]], &[]);
        assert_eq!(parse_log_batch(&payload, 2).unwrap().row(0), &[Cell::Null, Cell::Null]);
    }

    #[test]
    fn pythons_own_marshal_spellings_are_read() {
        // marshal.dumps(([("ab",)], []), 4): small tuples as `)`, a short str as `z`, FLAG_REF bits.
        let payload = b")\x02[\x01\x00\x00\x00\xa9\x01\xda\x02ab[\x00\x00\x00\x00";
        let b = parse_log_batch(payload, 1).unwrap();
        assert_eq!(b.row(0), &[Cell::Text("ab")]);
    }

    #[test]
    fn a_row_of_the_wrong_width_is_refused() {
        let payload = batch(&[&[Cell::Int(1)]], &[]);
        assert_eq!(parse_log_batch(&payload, 2).unwrap_err().what, "a row of the logs table's columns");
    }

    #[test]
    fn a_huge_row_count_is_refused_before_reserving() {
        let payload = b"(\x02\x00\x00\x00[\xff\xff\xff\xff";
        assert_eq!(parse_log_batch(payload, 31).unwrap_err().what, "a row count the payload can hold");
    }

    #[test]
    fn truncated_payloads_and_trailing_bytes_are_refused() {
        let payload = batch(&[&[Cell::Text("id"), Cell::Blob(b"xyz")]], &[]);
        for cut in 0..payload.len() {
            assert!(parse_log_batch(&payload[..cut], 2).is_err(), "cut at {cut}");
        }
        let mut longer = payload.clone();
        longer.push(b'N');
        assert_eq!(parse_log_batch(&longer, 2).unwrap_err().what, "the end of the batch");
    }

    #[test]
    fn invalid_utf8_text_is_refused() {
        let mut w = MarshalWriter::new();
        w.tuple(2);
        w.list(1);
        w.tuple(1);
        w.utf8(b"\xff");
        w.list(0);
        assert_eq!(parse_log_batch(&w.buf, 1).unwrap_err().what, "UTF-8 text");
    }

    #[test]
    fn six_digit_ints_are_refused_unread() {
        let payload = b"(\x02\x00\x00\x00[\x01\x00\x00\x00(\x01\x00\x00\x00l\x06\x00\x00\x00";
        assert_eq!(parse_log_batch(payload, 1).unwrap_err().what, "an int within 64 bits");
    }

    #[test]
    fn ints_past_64_bits_are_refused() {
        // marshal.dumps(([(2**64,)], []), 2)
        let payload = b"(\x02\x00\x00\x00[\x01\x00\x00\x00(\x01\x00\x00\x00l\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00[\x00\x00\x00\x00";
        assert_eq!(parse_log_batch(payload, 1).unwrap_err().what, "an int within 64 bits");
    }
}
