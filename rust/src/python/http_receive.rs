//! The HTTP server's reading of a request in native code: a client connection's
//! `get_buffer` and `buffer_updated` (asyncio's BufferedProtocol), which for the usual request
//! do what `HttpConnection.buffer_updated`, `_process` and `RequestReader.next_request`
//! (aigw/server/http.py, aigw/protocol/http11.py) do: append what was read to the reader's
//! buffer, take a whole request out of it (`take_whole_request`) and hand it to the
//! connection's task (the future it waits on), or start its drive (http_drive.rs) or a new
//! task.
//!
//! Those stay the specification and the path for every other case: after appending, anything
//! but a connection that is idle between requests (not closing, not lost, no body streaming,
//! no app that streams bodies) with a reader waiting for a head goes to the connection's
//! `_process`; so do a head that is not all here, a body that is not, and a malformed head
//! (nothing was taken from the buffer: `_process` reads them again and answers as it does).
//! The objects are read and written in their `__slots__` (`slot_layout::Layout`).

use super::fastcall::{one_argument_through_trampoline, MethodDef};
use super::http_drive::HttpDrives;
use super::slot_layout::{is_false, is_none, Layout};
use super::upstream::take_whole_request;
use pyo3::buffer::PyBuffer;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyType, PyWeakrefMethods, PyWeakrefReference};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<HttpReceive>()?; // ConnRequestReader is made by it, never from Python
    Ok(())
}

const CONNECTION_SLOTS: &[&str] = &[
    "_reader",
    "_closing",
    "lost",
    "_body",
    "_busy",
    "_streams",
    "_idle_at",
    "_deadline",
    "_next",
    "_loop",
    "_task",
    "_drives",
];
const C_READER: usize = 0;
const C_CLOSING: usize = 1;
const C_LOST: usize = 2;
const C_BODY: usize = 3;
const C_BUSY: usize = 4;
const C_STREAMS: usize = 5;
const C_IDLE_AT: usize = 6;
const C_DEADLINE: usize = 7;
const C_NEXT: usize = 8;
const C_LOOP: usize = 9;
const C_TASK: usize = 10;
const C_DRIVES: usize = 11;

const READER_SLOTS: &[&str] = &[
    "_buf",
    "_max_head",
    "_max_headers",
    "_max_body",
    "_state",
    "_partial",
    "_client",
    "_tls",
    "_scanned",
];
const R_BUF: usize = 0;
const R_MAX_HEAD: usize = 1;
const R_MAX_HEADERS: usize = 2;
const R_MAX_BODY: usize = 3;
const R_STATE: usize = 4;
const R_PARTIAL: usize = 5;
const R_CLIENT: usize = 6;
const R_TLS: usize = 7;
const R_SCANNED: usize = 8;

/// The server's native request reading (see the module docs), made once by aigw/server/http.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct HttpReceive {
    conn: Layout,
    reader: Layout,
    /// The reader's state while it waits for a head (`_HEAD`).
    head: Py<PyAny>,
    /// What `take_whole_request` makes a request and its headers with, and `unquote`.
    make_request: Py<PyAny>,
    make_headers: Py<PyAny>,
    unquote: Py<PyAny>,
    /// What starts a request's drive on a connection with drives (`_drives`): http_drive.rs.
    drives: Option<Py<HttpDrives>>,
}

#[pymethods]
impl HttpReceive {
    /// `classes`: (HttpConnection, RequestReader), whose slots it uses (ValueError when one is
    /// missing); `head`: the reader's `_HEAD` state; `make_request`, `make_headers`,
    /// `unquote`: what the reader gives `take_whole_request`; `drives`: what starts the drive
    /// of a request taken on a connection with drives (`_drives`; without it, or when it
    /// cannot, a Task runs `_serve`).
    #[new]
    #[pyo3(signature = (classes, head, make_request, make_headers, unquote, drives=None))]
    fn new(
        classes: (Bound<'_, PyType>, Bound<'_, PyType>),
        head: Bound<'_, PyAny>,
        make_request: Bound<'_, PyAny>,
        make_headers: Bound<'_, PyAny>,
        unquote: Bound<'_, PyAny>,
        drives: Option<Bound<'_, HttpDrives>>,
    ) -> PyResult<Self> {
        let (conn, reader) = classes;
        Ok(HttpReceive {
            conn: Layout::new(&conn, CONNECTION_SLOTS)?,
            reader: Layout::new(&reader, READER_SLOTS)?,
            head: head.unbind(),
            make_request: make_request.unbind(),
            make_headers: make_headers.unbind(),
            unquote: unquote.unbind(),
            drives: drives.map(Bound::unbind),
        })
    }

    /// `(get_buffer, buffer_updated)` for `connection`, reading into `scratch` (a writable
    /// buffer of bytes): builtin functions that hold the connection weakly, so that it can hold
    /// them without a reference cycle. `get_buffer(hint)` returns `scratch`;
    /// `buffer_updated(n)` takes the `n` bytes read into it (see the module docs).
    fn receivers<'py>(
        slf: &Bound<'py, Self>,
        connection: &Bound<'py, PyAny>,
        scratch: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let py = slf.py();
        if !slf.get().conn.is(connection) {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "receivers: not exactly the connection class",
            ));
        }
        let receiver = Bound::new(
            py,
            ConnRequestReader {
                conn: PyWeakrefReference::new(connection)?.unbind(),
                receive: slf.clone().unbind(),
                scratch: scratch.clone().unbind(),
            },
        )?;
        Ok((GET_BUFFER.bind(&receiver)?, BUFFER_UPDATED.bind(&receiver)?))
    }
}

impl HttpReceive {
    /// `buffer_updated(nbytes)` for `conn`, the bytes in `scratch`.
    fn received<'py>(&self, conn: &Bound<'py, PyAny>, scratch: &Bound<'py, PyAny>, nbytes: usize) -> PyResult<()> {
        let py = conn.py();
        if !self.conn.is(conn) {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "buffer_updated: not the connection class",
            ));
        }
        // SAFETY (every get/set below): each object was checked to be exactly its class.
        let c = |i| unsafe { self.conn.get(conn, i) };
        let Some(reader) = c(C_READER).filter(|r| self.reader.is(r)) else {
            return self.process(conn);
        };
        let r = |i| unsafe { self.reader.get(&reader, i) };
        let Some(buf) = r(R_BUF) else { return self.process(conn) };
        let Ok(buf) = buf.downcast_into_exact::<PyByteArray>() else {
            return self.process(conn); // feed() would fail there as it does
        };
        append(&buf, scratch, nbytes)?; // feed(scratch[:nbytes])
        if buf.len() == 0 {
            return Ok(()); // _process would find nothing to take
        }
        // _process's usual case: a connection between requests, the reader waiting for a head.
        let usual = is_false(&c(C_CLOSING))
            && is_false(&c(C_LOST))
            && is_none(&c(C_BODY))
            && is_false(&c(C_BUSY))
            && is_false(&c(C_STREAMS))
            && is_none(&r(R_PARTIAL))
            && matches!(r(R_STATE), Some(s) if s.is(self.head.bind(py)));
        if !usual {
            return self.process(conn);
        }
        let (Some(max_head), Some(max_headers), Some(max_body), Some(client), Some(tls), Some(scanned)) = (
            r(R_MAX_HEAD),
            r(R_MAX_HEADERS),
            r(R_MAX_BODY),
            r(R_CLIENT),
            r(R_TLS),
            r(R_SCANNED),
        ) else {
            return self.process(conn);
        };
        let (Ok(max_head), Ok(max_headers), Ok(max_body), Ok(scanned), Ok(tls)) = (
            max_head.extract::<usize>(),
            max_headers.extract::<usize>(),
            max_body.extract::<u64>(),
            scanned.extract::<usize>(),
            tls.extract::<bool>(),
        ) else {
            return self.process(conn);
        };
        let taken = take_whole_request(
            py,
            &buf,
            max_head,
            max_headers,
            scanned,
            max_body,
            self.make_request.bind(py),
            self.make_headers.bind(py),
            &client,
            tls,
            self.unquote.bind(py),
        );
        let request = match taken {
            Ok(Some(request)) if !request.is_instance_of::<pyo3::types::PyTuple>() => request,
            Ok(None) => {
                // next_request: remember how far the head was searched; _process: a request
                // that did not arrive whole runs against the read deadline.
                let scanned = buf.len().into_pyobject(py)?.into_any();
                unsafe { self.reader.set(&reader, R_SCANNED, scanned) };
                conn.call_method0(intern!(py, "_arm_deadline"))?;
                return Ok(());
            }
            // A body still to come, or a malformed head: nothing was taken from the buffer;
            // the Python path reads it again and does what it does.
            _ => return self.process(conn),
        };
        // The usual request, taken: next_request's and _process's bookkeeping.
        unsafe { self.reader.set(&reader, R_SCANNED, 0i64.into_pyobject(py)?.into_any()) };
        let set = |i, v: Bound<'py, PyAny>| unsafe { self.conn.set(conn, i, v) };
        set(C_IDLE_AT, py.None().into_bound(py));
        set(C_BUSY, PyBool::new(py, true).to_owned().into_any());
        if !is_none(&c(C_DEADLINE)) {
            conn.call_method0(intern!(py, "_cancel_deadline"))?;
        }
        match c(C_NEXT) {
            Some(waiter) if !waiter.is_none() => {
                set(C_NEXT, py.None().into_bound(py));
                waiter.call_method1(intern!(py, "set_result"), (request,))?;
            }
            _ => {
                if let Some(drives) = &self.drives {
                    // Declined (an upgrade) or failed (a loop that cannot schedule it): a Task.
                    let driven =
                        !is_false(&c(C_DRIVES)) && HttpDrives::start(drives.bind(py), conn, &request).is_ok_and(|d| d);
                    if driven {
                        return Ok(());
                    }
                }
                let Some(loop_) = c(C_LOOP) else { return Ok(()) };
                let serve = conn.call_method1(intern!(py, "_serve"), (request,))?;
                let task = loop_.call_method1(intern!(py, "create_task"), (serve,))?;
                set(C_TASK, task);
            }
        }
        Ok(())
    }

    fn process(&self, conn: &Bound<'_, PyAny>) -> PyResult<()> {
        conn.call_method0(intern!(conn.py(), "_process")).map(drop)
    }
}

/// `buf += scratch[:nbytes]` (RequestReader.feed).
fn append(buf: &Bound<'_, PyByteArray>, scratch: &Bound<'_, PyAny>, nbytes: usize) -> PyResult<()> {
    let view = PyBuffer::<u8>::get(scratch)?;
    if !view.is_c_contiguous() || nbytes > view.len_bytes() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "buffer_updated: more bytes than the buffer holds",
        ));
    }
    let old = buf.len();
    buf.resize(old + nbytes)?;
    // SAFETY: `view` holds a buffer export of `scratch`, C-contiguous, at least `nbytes` long
    // (checked), so its memory stays put while we read it; `buf` was just resized to hold
    // `old + nbytes` bytes, and cannot be the memory behind `scratch` (a bytearray with an
    // export refuses to resize: `resize` would have failed). No Python code runs between.
    unsafe {
        std::ptr::copy_nonoverlapping(view.buf_ptr() as *const u8, buf.data().add(old), nbytes);
    }
    Ok(())
}

/// One connection's `get_buffer` and `buffer_updated` (made by `HttpReceive.receivers`).
#[pyclass(module = "aigw._codec", frozen)]
pub struct ConnRequestReader {
    conn: Py<PyWeakrefReference>,
    receive: Py<HttpReceive>,
    scratch: Py<PyAny>,
}

impl ConnRequestReader {
    fn buffer<'py>(&self, _hint: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.scratch.bind(_hint.py()).clone())
    }

    fn updated<'py>(&self, nbytes: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = nbytes.py();
        if let Some(conn) = self.conn.bind(py).upgrade() {
            self.receive
                .get()
                .received(&conn, self.scratch.bind(py), nbytes.extract()?)?;
        }
        Ok(py.None().into_bound(py))
    }
}

static GET_BUFFER: MethodDef<ConnRequestReader> = MethodDef::one_argument(
    c"get_buffer",
    c"The connection's get_buffer (aigw.server.http).",
    get_buffer_fast,
);
one_argument_through_trampoline!(get_buffer_fast, ConnRequestReader, buffer);

static BUFFER_UPDATED: MethodDef<ConnRequestReader> = MethodDef::one_argument(
    c"buffer_updated",
    c"The connection's buffer_updated (aigw.server.http).",
    buffer_updated_fast,
);
one_argument_through_trampoline!(buffer_updated_fast, ConnRequestReader, updated);
