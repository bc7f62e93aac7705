//! `new_log_id` (the request's UUIDv7, logid.rs) and `LogRowEncoder`: the SQLite log store's rows written straight from a `LogRecord`'s attributes
//! into Python's marshal format, so the gateway's process spends one native call per logged
//! request and keeps no Python object of it (the record is freed at once; nothing waits for the
//! garbage collector). The writer process reads a batch with one `marshal.loads`.
//!
//! The row is `aigw.builtins.sqlite_logs.log_row`'s, column for column: NULLs as the sentinels
//! (`"\0"` for text, `-(2**63 - 1)` for numbers), flags as 0/1, the error cut to
//! `max_error_chars` characters, metadata, attempts, custom cost and session as compact JSON.
//! A value of a type this encoder does not write (a str subclass, an int past 64 bits, an object
//! inside the metadata) makes `add` return False with nothing appended: the caller then encodes
//! that record in Python (`add_marshalled`). The JSON may differ from orjson's in spelling
//! (float digits), never in value.
//!
//! `LogEntry` is LogBatcher's `submit` for such a backlog as one native call: the common
//! record is appended and counted without a Python frame; everything else goes to Python.

use crate::logid::{format_log_id, LogIdClock, RandomPool};
use crate::marshal::MarshalWriter;
use super::fastcall::{self, MethodDef};
use super::logrow_json::{attempt_json, json, json_str};
use super::slot_reader::SlotReader;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::ffi;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyType};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LogRowEncoder>()?;
    m.add_class::<LogEntry>()?;
    m.add_class::<LogPayload>()?;
    m.add_function(wrap_pyfunction!(new_log_id, m)?)?;
    // SAFETY: pthread_atfork only records the three handler pointers; `forked_child` is an
    // `extern "C"` function that lives as long as the process and does one atomic add
    // (async-signal-safe, as a handler that runs in a forked child must be); registered twice,
    // it would bump twice, which changes nothing. If it cannot be registered (ENOMEM), forks
    // go unnoticed as they did before the pool existed.
    unsafe {
        libc::pthread_atfork(None, None, Some(forked_child));
    }
    Ok(())
}

/// The log id clock and the OS randomness its milliseconds start from, under one lock.
static LOG_IDS: Mutex<(LogIdClock, RandomPool)> = Mutex::new((LogIdClock::new(), RandomPool::new()));

/// Bumped in every forked child (`pthread_atfork`): the child's pool throws away the bytes it
/// shares with its parent.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn forked_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// A fresh lowercase UUIDv7 (RFC 9562): 48-bit unix-ms timestamp, version 7, variant 10. Ids
/// from one process sort strictly in creation order, also within one millisecond (a new
/// millisecond starts from 73 random bits from the OS, each further id adds one); a clock
/// that steps back keeps the last timestamp. Thread-safe; a forked child never starts a
/// millisecond from its parent's random bits.
#[pyfunction]
fn new_log_id(py: Python<'_>) -> Bound<'_, PyString> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut ids = LOG_IDS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (clock, pool) = &mut *ids;
    let generation = FORK_GENERATION.load(Ordering::Relaxed);
    let fresh = || {
        // No OS randomness (never seen on Linux): the clock's nanoseconds keep ids unique
        // enough for logs and still ordered.
        pool.draw(generation, |buf| getrandom::fill(buf).is_ok())
            .unwrap_or(now.as_nanos() ^ 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834)
    };
    let (ms, rand) = clock.next(now.as_millis() as u64, fresh);
    drop(ids);
    let id = format_log_id(ms, rand);
    PyString::new(py, std::str::from_utf8(&id).unwrap_or_default())
}

const NULL_TEXT: &str = "\0";
/// The NULL number, `-(2**63 - 1)`, in marshal (`marshal.dumps(-(2**63 - 1), 2)`: five 15-bit
/// digits), copied whole for each absent number rather than cut into digits each time.
const NULL_NUMBER_MARSHAL: [u8; 15] = [b'l', 251, 255, 255, 255, 255, 127, 255, 127, 255, 127, 255, 127, 7, 0];

/// The LogRecord attributes a row reads, in the order `columns` uses them.
const RECORD_FIELDS: [&str; 29] = [
    "log_id", "created_at", "gateway", "request_type", "event_id", "provider", "model", "endpoint",
    "status", "success", "step", "cache_status", "stream", "cancelled", "duration_ms", "ttfb_ms",
    "tokens_in", "tokens_out", "metadata", "error", "request_content_type", "response_content_type",
    "attempts", "cost", "custom_cost", "principal", "feedback", "score", "session",
];

/// The LogRecord attributes `submit` reads besides RECORD_FIELDS: the bodies and their sizes.
const BODY_FIELDS: [&str; 4] = ["request_body", "response_body", "request_body_size", "response_body_size"];

/// The bounds `submit` keeps (LogBatcher's settings; `set_bounds`).
#[derive(Clone, Copy)]
struct Bounds {
    max_body_bytes: usize,
    max_backlog: usize,
    max_backlog_bytes: usize,
    batch_size: usize,
}

/// What `submit` did (the values LogBatcher reads).
const SUBMIT_APPENDED: u8 = 0;
const SUBMIT_WAKE: u8 = 1;
const SUBMIT_FULL: u8 = 2;
const SUBMIT_ASK_PYTHON: u8 = 3;

/// Where one pending row ends in the two buffers (cumulative), so `take_all` can cut.
#[derive(Clone, Copy)]
struct Mark {
    rows_end: usize,
    bodies_end: usize,
    bodies: usize,  // bodies rows so far
    payload: usize, // body bytes so far (what the backlog bound counts)
}

impl Mark {
    /// Before the first pending row.
    const START: Mark = Mark { rows_end: 0, bodies_end: 0, bodies: 0, payload: 0 };
}

/// Buffer capacity kept after `take_all` empties a backlog (more is given back).
const KEEP_CAPACITY: usize = 4 << 20;

/// Encoded log rows waiting for the writer (see the module docs).
#[pyclass(module = "aigw._codec")]
pub struct LogRowEncoder {
    rows: MarshalWriter,
    bodies: MarshalWriter,
    marks: Vec<Mark>,
    record: SlotReader,
    attempt: SlotReader,
    /// `"name":` of each attempt field, as JSON (written once here, not per attempt).
    attempt_keys: Vec<Vec<u8>>,
    max_error_chars: usize,
    /// Reads `BODY_FIELDS` of a record (for `submit`).
    bodies_of: SlotReader,
    bounds: Option<Bounds>,
    spares: Spares,
}

/// Spare payload buffers an encoder reuses (a batch's ~400 KB allocated fresh each time costs
/// page faults: the allocator hands memory that large back to the OS when it is freed).
type Spares = Arc<Mutex<Vec<Vec<u8>>>>;

/// Payload buffers kept for reuse: one being written while the next is made.
const SPARE_BUFFERS: usize = 2;

/// One batch's `marshal.dumps((rows, bodies))`, as a read-only bytes-like object (buffer
/// protocol; `len()`; `bytes(payload)` copies it). Its memory goes back to the encoder's
/// spares when the object is freed, so a steady writer allocates no new batch buffers.
///
/// Soundness of the buffer export: the object is frozen and `data` is never changed after
/// it is made, so the pointer and length handed out stay valid; `PyBuffer_FillInfo` stores a
/// new reference to the object in `view.obj`, so the object (and `data`) outlives every
/// export; the export is read-only (FillInfo refuses PyBUF_WRITABLE), and `u8` has no invalid
/// values.
#[pyclass(module = "aigw._codec", frozen)]
pub struct LogPayload {
    data: Vec<u8>,
    spares: Spares,
}

impl Drop for LogPayload {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        if data.capacity() <= KEEP_CAPACITY {
            if let Ok(mut spares) = self.spares.lock() {
                if spares.len() < SPARE_BUFFERS {
                    spares.push(data);
                }
            }
        }
    }
}

#[pymethods]
impl LogPayload {
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: std::os::raw::c_int) -> PyResult<()> {
        if view.is_null() {
            return Err(pyo3::exceptions::PyBufferError::new_err("null view"));
        }
        let data = &slf.get().data;
        // SAFETY: see the type's doc comment: `data` is alive and unchanged while view.obj
        // (a new reference FillInfo takes) keeps `slf` alive; readonly = 1.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(view, slf.as_ptr(), data.as_ptr() as *mut std::ffi::c_void, data.len() as ffi::Py_ssize_t, 1, flags)
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    fn __len__(&self) -> usize {
        self.data.len()
    }
}

/// A value written as is (`marshal` semantics for exact str, bool, int, float); false for any
/// other type.
fn scalar(w: &mut MarshalWriter, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    if let Ok(s) = v.downcast_exact::<PyString>() {
        match super::text_of(s) {
            Ok(text) => w.str(text),
            Err(_) => return Ok(false), // lone surrogates: Python's marshal writes them
        }
    } else if let Ok(b) = v.downcast_exact::<PyBool>() {
        w.bool(b.is_true());
    } else if v.is_exact_instance_of::<PyInt>() {
        match v.extract::<i64>() {
            Ok(n) => w.int(n),
            Err(_) => return Ok(false),
        }
    } else if let Ok(f) = v.downcast_exact::<PyFloat>() {
        w.float(f.value());
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// `bool(v)`, without a call for True and False themselves.
fn truth(v: &Bound<'_, PyAny>) -> PyResult<bool> {
    match v.downcast_exact::<PyBool>() {
        Ok(b) => Ok(b.is_true()),
        Err(_) => v.is_truthy(),
    }
}

/// `v` unless it is None.
fn not_none<'a, 'py>(v: &'a Bound<'py, PyAny>) -> Option<&'a Bound<'py, PyAny>> {
    (!v.is_none()).then_some(v)
}

/// `T if v is None else v` of log_row.
fn text_or_null(w: &mut MarshalWriter, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    if v.is_none() {
        w.str(NULL_TEXT);
        return Ok(true);
    }
    scalar(w, v)
}

/// `N if v is None else v` of log_row.
fn number_or_null(w: &mut MarshalWriter, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    if v.is_none() {
        w.buf.extend_from_slice(&NULL_NUMBER_MARSHAL);
        return Ok(true);
    }
    scalar(w, v)
}

/// A body's size column: the length of a body kept in the row, or what the record names (the
/// size of a body not kept, or None).
#[derive(Clone, Copy)]
enum SizeColumn<'a, 'py> {
    Length(usize),
    Named(&'a Bound<'py, PyAny>),
}

impl SizeColumn<'_, '_> {
    fn write(self, w: &mut MarshalWriter) -> PyResult<bool> {
        match self {
            SizeColumn::Length(n) => {
                w.int(i64::try_from(n).unwrap_or(i64::MAX)); // a length is at most isize::MAX
                Ok(true)
            }
            SizeColumn::Named(v) => number_or_null(w, v),
        }
    }
}

/// A body as bytes (bytes, bytearray or any buffer), or None.
fn body(w: &mut MarshalWriter, v: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        w.none();
        return Ok(0);
    };
    let data = super::bytes_like(v)?; // bytes borrowed, anything else copied
    w.bytes(&data);
    Ok(data.len())
}

impl LogRowEncoder {
    /// `marshal.dumps((rows, bodies))` of the `n` pending rows between two marks.
    fn payload<'py>(&self, py: Python<'py>, from: Mark, to: Mark, n: usize) -> PyResult<Bound<'py, LogPayload>> {
        let mut head = MarshalWriter::new();
        head.tuple(2);
        head.list(n);
        let mut middle = MarshalWriter::new();
        middle.list(to.bodies - from.bodies);
        let rows = &self.rows.buf[from.rows_end..to.rows_end];
        let bodies = &self.bodies.buf[from.bodies_end..to.bodies_end];
        let size = head.buf.len() + rows.len() + middle.buf.len() + bodies.len();
        let mut data = self.spares.lock().ok().and_then(|mut spares| spares.pop()).unwrap_or_default();
        data.clear();
        // try_: a batch the allocator cannot hold is a MemoryError (every row stays pending),
        // not an abort of the gateway.
        data.try_reserve_exact(size).map_err(|_| pyo3::exceptions::PyMemoryError::new_err("no memory for a log batch"))?;
        for part in [&head.buf[..], rows, &middle.buf[..], bodies] {
            data.extend_from_slice(part);
        }
        Bound::new(py, LogPayload { data, spares: Arc::clone(&self.spares) })
    }

    fn mark(&mut self, has_body: bool, payload: usize) {
        let (bodies, before) = self.marks.last().map_or((0, 0), |m| (m.bodies, m.payload));
        self.marks.push(Mark {
            rows_end: self.rows.buf.len(),
            bodies_end: self.bodies.buf.len(),
            bodies: bodies + usize::from(has_body),
            payload: before + payload,
        });
    }

    /// `(log_id, request_body, response_body)` appended to `self.bodies`; the body bytes, or
    /// None when the log_id cannot be written here.
    fn bodies_row(&mut self, log_id: &Bound<'_, PyAny>, request: Option<&Bound<'_, PyAny>>, response: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
        self.bodies.tuple(3);
        if !scalar(&mut self.bodies, log_id)? {
            return Ok(None);
        }
        Ok(Some(body(&mut self.bodies, request)? + body(&mut self.bodies, response)?))
    }

    /// `add` with the size columns as `submit` knows them: true when appended, false when a
    /// value needs the Python encoder (nothing appended).
    fn append(
        &mut self,
        record: &Bound<'_, PyAny>,
        request_body_size: SizeColumn<'_, '_>,
        response_body_size: SizeColumn<'_, '_>,
        request_body: Option<&Bound<'_, PyAny>>,
        response_body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let v = self.record.get_array::<{ RECORD_FIELDS.len() }>(record)?;
        if !self.row(&v, request_body_size, response_body_size)? {
            return Ok(false);
        }
        let present = |b: Option<&Bound<'_, PyAny>>| b.is_some_and(|b| !b.is_none());
        let mut payload = 0;
        if present(request_body) || present(response_body) {
            let start = self.bodies.buf.len();
            match self.bodies_row(&v[0], request_body, response_body) {
                Ok(Some(n)) => payload = n,
                failed => {
                    // Undo the row too: the record is either whole in the batch or not at all.
                    self.bodies.buf.truncate(start);
                    let last = self.marks.last().map_or(0, |m| m.rows_end);
                    self.rows.buf.truncate(last);
                    return failed.map(|_| false);
                }
            }
        }
        self.mark(present(request_body) || present(response_body), payload);
        Ok(true)
    }

    /// The row of the record whose attributes are `v` appended to `self.rows`; false (and
    /// `self.rows` as before) when a value cannot be written here.
    fn row(&mut self, v: &[Bound<'_, PyAny>; RECORD_FIELDS.len()], q: SizeColumn<'_, '_>, p: SizeColumn<'_, '_>) -> PyResult<bool> {
        let start = self.rows.buf.len();
        let ok = self.columns(v, q, p).inspect_err(|_| self.rows.buf.truncate(start))?;
        if !ok {
            self.rows.buf.truncate(start);
        }
        Ok(ok)
    }

    fn columns(&mut self, v: &[Bound<'_, PyAny>; RECORD_FIELDS.len()], q: SizeColumn<'_, '_>, p: SizeColumn<'_, '_>) -> PyResult<bool> {
        let w = &mut self.rows;
        w.tuple(31);
        macro_rules! col {
            ($f:ident, $i:expr) => {
                if !$f(w, &v[$i])? {
                    return Ok(false);
                }
            };
        }
        macro_rules! flag {
            ($i:expr) => {
                w.int(i64::from(truth(&v[$i])?))
            };
        }
        col!(scalar, 0); // log_id
        col!(scalar, 1); // created_at
        col!(scalar, 2); // gateway
        col!(scalar, 3); // request_type
        col!(text_or_null, 4); // event_id
        col!(text_or_null, 5); // provider
        col!(text_or_null, 6); // model
        col!(text_or_null, 7); // endpoint
        match v[8].extract::<i64>() {
            Ok(n) if v[8].is_instance_of::<PyInt>() => w.int(n), // int(status)
            _ => return Ok(false),
        }
        flag!(9); // success
        col!(number_or_null, 10); // step
        col!(scalar, 11); // cache_status
        flag!(12); // stream
        flag!(13); // cancelled
        col!(scalar, 14); // duration_ms
        col!(number_or_null, 15); // ttfb_ms
        col!(number_or_null, 16); // tokens_in
        col!(number_or_null, 17); // tokens_out
        if !json_column(w, &v[18], v[18].is_truthy()?)? {
            return Ok(false); // metadata
        }
        let error = &v[19];
        if error.is_none() {
            w.str(NULL_TEXT);
        } else {
            let Ok(text) = error.downcast_exact::<PyString>() else { return Ok(false) };
            let Ok(text) = super::text_of(text) else { return Ok(false) };
            match text.char_indices().nth(self.max_error_chars) {
                Some((cut, _)) => w.str(&text[..cut]),
                None => w.str(text),
            }
        }
        col!(text_or_null, 20); // request_content_type
        col!(text_or_null, 21); // response_content_type
        if !q.write(w)? || !p.write(w)? {
            return Ok(false);
        }
        let attempts = &v[22];
        if attempts.is_truthy()? {
            let (reader, keys) = (&self.attempt, &self.attempt_keys);
            // Written straight into the row (a failure discards the whole row).
            let written = w.utf8_written(|out| -> PyResult<bool> {
                let mut fields = Vec::with_capacity(keys.len());
                out.push(b'[');
                // The record's own list read by index (no iterator object); anything else iterated.
                if let Ok(list) = attempts.downcast_exact::<PyList>() {
                    for (i, attempt) in list.iter().enumerate() {
                        if !attempt_json(out, reader, keys, &mut fields, i, &attempt)? {
                            return Ok(false);
                        }
                    }
                } else {
                    for (i, attempt) in attempts.try_iter()?.enumerate() {
                        if !attempt_json(out, reader, keys, &mut fields, i, &attempt?)? {
                            return Ok(false);
                        }
                    }
                }
                out.push(b']');
                Ok(true)
            })?;
            if !written {
                return Ok(false);
            }
        } else {
            w.str(NULL_TEXT);
        }
        col!(number_or_null, 23); // cost
        if !json_column(w, &v[24], !v[24].is_none())? {
            return Ok(false); // custom_cost
        }
        col!(text_or_null, 25); // principal
        col!(number_or_null, 26); // feedback
        col!(number_or_null, 27); // score
        if !json_column(w, &v[28], !v[28].is_none())? {
            return Ok(false); // session
        }
        Ok(true)
    }
}

/// `_json_text(v) if present else T` of log_row.
fn json_column(w: &mut MarshalWriter, v: &Bound<'_, PyAny>, present: bool) -> PyResult<bool> {
    if !present {
        w.str(NULL_TEXT);
        return Ok(true);
    }
    // Written straight into the row (a failure discards the whole row).
    w.utf8_written(|out| json(out, v, 0))
}

#[pymethods]
impl LogRowEncoder {
    /// An empty encoder for rows of `record_type` (LogRecord) whose attempts are
    /// `attempt_type` (Attempt) instances written as JSON objects of `attempt_fields`, in that
    /// order; the error is cut at `max_error_chars` characters.
    #[new]
    fn new(record_type: &Bound<'_, PyType>, attempt_type: &Bound<'_, PyType>, attempt_fields: Vec<Bound<'_, PyString>>, max_error_chars: usize) -> PyResult<Self> {
        let py = record_type.py();
        let names: Vec<Bound<'_, PyString>> = RECORD_FIELDS.iter().map(|n| PyString::intern(py, n)).collect();
        let mut attempt_keys = Vec::with_capacity(attempt_fields.len());
        for field in &attempt_fields {
            let mut key = Vec::new();
            json_str(&mut key, field.to_str()?);
            key.push(b':');
            attempt_keys.push(key);
        }
        Ok(LogRowEncoder {
            rows: MarshalWriter::new(),
            bodies: MarshalWriter::new(),
            marks: Vec::new(),
            record: SlotReader::new(record_type, &names)?,
            attempt: SlotReader::new(attempt_type, &attempt_fields)?,
            attempt_keys,
            max_error_chars,
            bodies_of: SlotReader::new(record_type, &BODY_FIELDS.iter().map(|n| PyString::intern(py, n)).collect::<Vec<_>>())?,
            bounds: None,
            spares: Spares::default(),
        })
    }

    /// The bounds `submit` applies: LogBatcher's max_body_bytes, max_backlog (rows),
    /// max_backlog_bytes (body bytes pending) and batch_size.
    fn set_bounds(&mut self, max_body_bytes: usize, max_backlog: usize, max_backlog_bytes: usize, batch_size: usize) {
        self.bounds = Some(Bounds { max_body_bytes, max_backlog, max_backlog_bytes, batch_size });
    }

    /// LogBatcher's common case in one call: append `record` (its bodies as they are) when
    /// the backlog has room for it. Returns 0 (appended), 1 (appended, and the writer should
    /// wake: the first pending row or a full batch), 2 (not appended: the backlog holds
    /// max_backlog rows) or 3 (not appended: the batcher decides in Python: a body over
    /// max_body_bytes or over what the backlog may hold, a value only Python encodes, or no
    /// bounds set). Never drops anything itself.
    fn submit(&mut self, record: &Bound<'_, PyAny>) -> PyResult<u8> {
        let Some(bounds) = self.bounds else { return Ok(SUBMIT_ASK_PYTHON) };
        if self.marks.len() >= bounds.max_backlog {
            return Ok(SUBMIT_FULL);
        }
        let request = self.bodies_of.get(record, 0)?;
        let response = self.bodies_of.get(record, 1)?;
        // A body's size column: its length when it is kept, else the size the record names
        // (read only then).
        let (request_named, response_named);
        let request_size = if request.is_none() {
            request_named = self.bodies_of.get(record, 2)?;
            SizeColumn::Named(&request_named)
        } else {
            SizeColumn::Length(request.len()?)
        };
        let response_size = if response.is_none() {
            response_named = self.bodies_of.get(record, 3)?;
            SizeColumn::Named(&response_named)
        } else {
            SizeColumn::Length(response.len()?)
        };
        let mut body_bytes = 0;
        for size in [request_size, response_size] {
            let too_big = match size {
                SizeColumn::Length(n) => {
                    body_bytes += n;
                    n > bounds.max_body_bytes
                }
                // None (nothing collected) is no size: not raised and caught as a TypeError each time.
                SizeColumn::Named(v) => !v.is_none() && v.extract::<usize>().is_ok_and(|n| n > bounds.max_body_bytes),
            };
            if too_big {
                return Ok(SUBMIT_ASK_PYTHON);
            }
        }
        if body_bytes > 0 && self.body_bytes() + body_bytes > bounds.max_backlog_bytes {
            return Ok(SUBMIT_ASK_PYTHON);
        }
        if !self.append(record, request_size, response_size, not_none(&request), not_none(&response))? {
            return Ok(SUBMIT_ASK_PYTHON);
        }
        let n = self.marks.len();
        Ok(if n == 1 || n == bounds.batch_size { SUBMIT_WAKE } else { SUBMIT_APPENDED })
    }

    /// Append `record`'s row, with `request_body_size` / `response_body_size` as its size
    /// columns and the two bodies (None, or bytes-like) as its `log_bodies` row when either is
    /// present. True when appended; False when a value needs the Python encoder (nothing was
    /// appended). An attribute the record lacks raises AttributeError.
    #[pyo3(signature = (record, request_body_size, response_body_size, request_body=None, response_body=None))]
    fn add(
        &mut self,
        record: &Bound<'_, PyAny>,
        request_body_size: &Bound<'_, PyAny>,
        response_body_size: &Bound<'_, PyAny>,
        request_body: Option<&Bound<'_, PyAny>>,
        response_body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.append(record, SizeColumn::Named(request_body_size), SizeColumn::Named(response_body_size), request_body, response_body)
    }

    /// Append a row (and maybe a bodies row) already marshalled by Python with
    /// `marshal.dumps(value, 2)` (version 2: no back-references, so it can be spliced).
    #[pyo3(signature = (row, bodies=None, body_bytes=0))]
    fn add_marshalled(&mut self, row: &[u8], bodies: Option<&[u8]>, body_bytes: usize) -> PyResult<()> {
        if row.first() != Some(&b'(') || bodies.is_some_and(|b| b.first() != Some(&b'(')) {
            return Err(PyValueError::new_err("expected marshal.dumps(tuple, 2) bytes"));
        }
        self.rows.buf.extend_from_slice(row);
        if let Some(b) = bodies {
            self.bodies.buf.extend_from_slice(b);
        }
        self.mark(bodies.is_some(), body_bytes);
        Ok(())
    }

    /// Every pending row, as `[(payload, rows in it), ...]` of at most `limit` rows each,
    /// oldest first, a payload being a `LogPayload` holding `marshal.dumps((rows, bodies))`.
    /// Each chunk is cut from the buffers where it lies and the buffers are cleared once: each
    /// byte is copied once however large the backlog (cutting chunk by chunk from the front
    /// moved the rest each time, with the GIL held), into a reused buffer when one is spare.
    /// A MemoryError leaves every row pending.
    fn take_all<'py>(&mut self, py: Python<'py>, limit: usize) -> PyResult<Vec<(Bound<'py, LogPayload>, usize)>> {
        let limit = limit.max(1);
        let mut chunks = Vec::with_capacity(self.marks.len().div_ceil(limit));
        let mut from = Mark::START;
        for group in self.marks.chunks(limit) {
            let to = group[group.len() - 1];
            // Made before anything is cleared: a MemoryError leaves every row pending.
            chunks.push((self.payload(py, from, to, group.len())?, group.len()));
            from = to;
        }
        self.marks.clear();
        for buf in [&mut self.rows.buf, &mut self.bodies.buf] {
            buf.clear();
            // A backlog that once grew large (a slow disk) gives its memory back.
            if buf.capacity() > KEEP_CAPACITY {
                buf.shrink_to(KEEP_CAPACITY);
            }
        }
        Ok(chunks)
    }

    /// Body bytes of the pending rows (what the backlog bound counts).
    #[getter]
    fn body_bytes(&self) -> usize {
        self.marks.last().map_or(0, |m| m.payload)
    }

    /// Rows waiting to be taken.
    fn __len__(&self) -> usize {
        self.marks.len()
    }
}

/// LogBatcher's `submit` for an encoded backlog in one native call (a logger binds it as its
/// `log`): a record `LogRowEncoder.submit` appends is counted here and, when the encoder says
/// so, the writer is woken by calling `wake()`; every other case (the entry closed, the
/// backlog full, a bound, a value only Python encodes, the writer thread taking rows at this
/// moment) is `slow(record)`, LogBatcher's Python `submit`, whose answer is returned.
///
/// The entry takes no lock: the append is one call under the GIL, as the writer's
/// `take_all` is; the wake-up is the batcher's (its lock, then notify), so a writer that saw
/// an empty backlog under that lock is waiting by the time it is notified.
///
/// The entry is not tracked by the garbage collector: `wake` and `slow` must not lead back to
/// whatever holds the entry (LogBatcher passes closures over a weak reference to itself).
#[pyclass(module = "aigw._codec", frozen)]
pub struct LogEntry {
    encoder: Py<LogRowEncoder>,
    wake: Py<PyAny>,
    slow: Py<PyAny>,
    accepted: AtomicU64,
    open: AtomicBool,
}

#[pymethods]
impl LogEntry {
    /// An open entry appending to `encoder` (which has its bounds set), waking the writer
    /// with `wake()` and handing what it does not take to `slow(record) -> bool`.
    #[new]
    fn new(encoder: Py<LogRowEncoder>, wake: Py<PyAny>, slow: Py<PyAny>) -> Self {
        LogEntry { encoder, wake, slow, accepted: AtomicU64::new(0), open: AtomicBool::new(true) }
    }

    /// Queue `record`: True when it was accepted, else what `slow(record)` answers.
    fn __call__<'py>(&self, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.accept(record)
    }

    /// A builtin function doing what calling this entry does, called without an argument
    /// tuple (`METH_O`): what LogBatcher binds as its `submit`.
    fn as_function<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        ACCEPT.bind(slf)
    }

    /// Send every later record to `slow` (the batcher is closing).
    fn close(&self) {
        self.open.store(false, Ordering::Relaxed);
    }

    /// Records accepted here since the last call (the batcher adds them to its stats).
    fn take_accepted(&self) -> u64 {
        self.accepted.swap(0, Ordering::Relaxed)
    }
}

impl LogEntry {
    /// `__call__`: the record appended and counted (True), or `slow(record)`'s answer.
    fn accept<'py>(&self, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = record.py();
        if self.open.load(Ordering::Relaxed) {
            // Borrowed only for the append: the callbacks below may use the encoder.
            let code = match self.encoder.bind(py).try_borrow_mut() {
                Ok(mut encoder) => encoder.submit(record)?,
                Err(_) => SUBMIT_ASK_PYTHON, // the writer is taking rows: Python waits for its lock
            };
            if code < SUBMIT_FULL {
                self.accepted.fetch_add(1, Ordering::Relaxed);
                if code == SUBMIT_WAKE {
                    self.wake.bind(py).call0()?;
                }
                return Ok(PyBool::new(py, true).to_owned().into_any());
            }
        }
        self.slow.bind(py).call1((record,))
    }
}

static ACCEPT: MethodDef<LogEntry> = MethodDef::one_argument(c"submit", c"Queue a record: True when it was accepted.", accept_one);

// `ACCEPT`'s C function: `LogEntry.accept` of its one argument, through pyo3's trampoline
// (see fastcall.rs: the encoder drops errors it recovers from, e.g. a size that is None).
fastcall::one_argument_through_trampoline!(accept_one, LogEntry, accept);
