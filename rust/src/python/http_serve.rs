//! The HTTP server's steps around each request of a keep-alive connection in native code, for
//! `HttpConnection._serve` (aigw/server/http.py): `begin(conn, request)`, the response writer
//! of a request that asks for no upgrade; and `between(conn, writer)`, the step after a
//! response that completed: the connection idle again, its idle timer armed, and the future
//! its task waits on for the next request.
//!
//! `_serve` stays the specification and the path for every other case: `begin` returns None
//! for a request with an Upgrade field (or of another kind), and `between` returns None,
//! having changed nothing, unless the connection is open and reads no body, its response
//! completed (ended, keep-alive), the server is not shutting down, reading is not paused, and
//! nothing more is buffered (pipelined bytes are `_process`'s). The objects are read and
//! written in their `__slots__` (`slot_layout::Layout`).

use super::fastcall::{self, FixedArity, MethodDef};
use super::slot_layout::{is_false, is_none, Classes, Layout};
use super::upstream::has_field;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyString};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<HttpServe>()?; // ServeBegin and ServeBetween are made by it, never from Python
    Ok(())
}

const CONNECTION_SLOTS: &[&str] = &[
    "_server",
    "_loop",
    "_reader",
    "_closing",
    "lost",
    "_body",
    "_busy",
    "_writer",
    "_read_paused",
    "_idle_at",
    "_idle_timer",
    "_next",
    "_drives",
];
const C_SERVER: usize = 0;
const C_LOOP: usize = 1;
const C_READER: usize = 2;
const C_CLOSING: usize = 3;
const C_LOST: usize = 4;
const C_BODY: usize = 5;
const C_BUSY: usize = 6;
const C_WRITER: usize = 7;
const C_READ_PAUSED: usize = 8;
const C_IDLE_AT: usize = 9;
const C_IDLE_TIMER: usize = 10;
const C_NEXT: usize = 11;
const C_DRIVES: usize = 12;

const REQUEST_SLOTS: &[&str] = &["headers", "method", "http_version", "keep_alive"];
const Q_HEADERS: usize = 0;
const Q_METHOD: usize = 1;
const Q_VERSION: usize = 2;
const Q_KEEP_ALIVE: usize = 3;

/// The classes whose slots the steps use: (HttpConnection, Request, Headers, ResponseWriter,
/// RequestReader, ServerSettings).
const CLASSES: usize = 6;

/// The steps around each request (see the module docs), made once by aigw/server/http.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct HttpServe {
    conn: Layout,
    request: Layout,
    headers: Layout,
    /// ResponseWriter's `_state` and `_close`; RequestReader's `_buf` and `_state`.
    writer: Layout,
    reader: Layout,
    /// ServerSettings' `http_keepalive_timeout`.
    settings: Layout,
    /// The writer's ENDED state and the reader's state while it waits for a head.
    ended: Py<PyAny>,
    head: Py<PyAny>,
    /// `response_writer`'s maker: (channel, head request, HTTP/1.0, close).
    make_writer: Py<PyAny>,
}

#[pymethods]
impl HttpServe {
    /// `classes`: (HttpConnection, Request, Headers, ResponseWriter, RequestReader,
    /// ServerSettings), their slots checked (ValueError); `ended`: the writer's ENDED state;
    /// `head`: the reader's `_HEAD`; `make_writer`: the writer maker `response_writer` calls.
    #[new]
    fn new(
        classes: Classes<'_, CLASSES>,
        ended: Bound<'_, PyAny>,
        head: Bound<'_, PyAny>,
        make_writer: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let [conn, request, headers, writer, reader, settings] = classes;
        Ok(HttpServe {
            conn: Layout::new(&conn, CONNECTION_SLOTS)?,
            request: Layout::new(&request, REQUEST_SLOTS)?,
            headers: Layout::new(&headers, &["raw"])?,
            writer: Layout::new(&writer, &["_state", "_close"])?,
            reader: Layout::new(&reader, &["_buf", "_state"])?,
            settings: Layout::new(&settings, &["http_keepalive_timeout"])?,
            ended: ended.unbind(),
            head: head.unbind(),
            make_writer: make_writer.unbind(),
        })
    }

    /// `(begin, between)` as builtin functions (see the module docs).
    fn functions<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let py = slf.py();
        let begin = Bound::new(
            py,
            ServeBegin {
                serve: slf.clone().unbind(),
            },
        )?;
        let between = Bound::new(
            py,
            ServeBetween {
                serve: slf.clone().unbind(),
            },
        )?;
        Ok((BEGIN.bind(&begin)?, BETWEEN.bind(&between)?))
    }
}

impl HttpServe {
    /// The writer `_serve` makes for `request` (set as the connection's `_writer`), or None
    /// for a request with an Upgrade field or of another kind (nothing changed).
    pub(super) fn begin<'py>(
        &self,
        conn: &Bound<'py, PyAny>,
        request: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = conn.py();
        if !(self.conn.is(conn) && self.request.is(request)) {
            return Ok(None);
        }
        // SAFETY (every get/set below): each object was checked to be exactly its class.
        let q = |i| unsafe { self.request.get(request, i) };
        let (Some(headers), Some(method), Some(version), Some(keep_alive)) =
            (q(Q_HEADERS), q(Q_METHOD), q(Q_VERSION), q(Q_KEEP_ALIVE))
        else {
            return Ok(None);
        };
        if !self.headers.is(&headers) {
            return Ok(None);
        }
        let Some(raw) = (unsafe { self.headers.get(&headers, 0) }) else {
            return Ok(None);
        };
        if has_field(&raw, b"upgrade")? != Some(false) {
            return Ok(None); // perhaps an upgrade: `_serve` asks is_websocket_upgrade
        }
        let (Ok(method), Ok(version)) = (method.downcast::<PyString>(), version.downcast::<PyString>()) else {
            return Ok(None);
        };
        let Some(server) = (unsafe { self.conn.get(conn, C_SERVER) }) else {
            return Ok(None);
        };
        let keep_alive = keep_alive.is_truthy()? && !server.getattr(intern!(py, "shutting_down"))?.is_truthy()?;
        let writer = self.make_writer.bind(py).call1((
            conn,
            super::text_of(method)? == "HEAD",
            super::text_of(version)? != "1.1",
            !keep_alive,
        ))?;
        unsafe { self.conn.set(conn, C_WRITER, writer.clone()) };
        Ok(Some(writer))
    }

    /// The future the connection's task awaits for its next request, the connection made idle
    /// as `_serve` makes it; for a connection with drives (`_drives`), True and no future (its
    /// next request starts a drive of its own); None, having changed nothing, when the step is
    /// not the usual one.
    pub(super) fn between<'py>(
        &self,
        conn: &Bound<'py, PyAny>,
        writer: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = conn.py();
        if !(self.conn.is(conn) && self.writer.is(writer)) {
            return Ok(None);
        }
        // SAFETY (every get/set below): each object was checked to be exactly its class.
        let c = |i| unsafe { self.conn.get(conn, i) };
        if !(is_false(&c(C_CLOSING)) && is_false(&c(C_LOST)) && is_none(&c(C_BODY)) && is_false(&c(C_READ_PAUSED))) {
            return Ok(None);
        }
        // writer.completed: ended normally, the connection kept alive.
        let w = |i| unsafe { self.writer.get(writer, i) };
        if !(matches!(w(0), Some(s) if s.is(self.ended.bind(py))) && is_false(&w(1))) {
            return Ok(None);
        }
        let (Some(server), Some(loop_), Some(reader)) = (c(C_SERVER), c(C_LOOP), c(C_READER)) else {
            return Ok(None);
        };
        // reader.pending: nothing buffered, no body being read.
        if !self.reader.is(&reader) {
            return Ok(None);
        }
        let r = |i| unsafe { self.reader.get(&reader, i) };
        let idle_reader = match (r(0), r(1)) {
            (Some(buf), Some(state)) => {
                state.is(self.head.bind(py)) && buf.downcast::<PyByteArray>().is_ok_and(|b| b.len() == 0)
            }
            _ => false,
        };
        if !idle_reader || server.getattr(intern!(py, "shutting_down"))?.is_truthy()? {
            return Ok(None);
        }
        let settings = server.getattr(intern!(py, "settings"))?;
        if !self.settings.is(&settings) {
            return Ok(None);
        }
        let Some(keepalive) = (unsafe { self.settings.get(&settings, 0) }) else {
            return Ok(None);
        };
        // The usual step from here on: idle again, the idle timer armed (_arm_idle_timer), the
        // future for the next request.
        let now = loop_.call_method0(intern!(py, "time"))?;
        let when = now.add(keepalive)?;
        let set = |i, v: Bound<'py, PyAny>| unsafe { self.conn.set(conn, i, v) };
        set(C_BUSY, PyBool::new(py, false).to_owned().into_any());
        set(C_WRITER, py.None().into_bound(py));
        set(C_IDLE_AT, when.clone());
        if is_none(&c(C_IDLE_TIMER)) {
            let due = conn.getattr(intern!(py, "_idle_due"))?;
            set(C_IDLE_TIMER, loop_.call_method1(intern!(py, "call_at"), (when, due))?);
        }
        if !is_false(&c(C_DRIVES)) {
            return Ok(Some(PyBool::new(py, true).to_owned().into_any()));
        }
        let waiter = loop_.call_method0(intern!(py, "create_future"))?;
        set(C_NEXT, waiter.clone());
        Ok(Some(waiter))
    }
}

/// `begin(conn, request)` (made by `HttpServe.functions`).
#[pyclass(module = "aigw._codec", frozen)]
pub struct ServeBegin {
    serve: Py<HttpServe>,
}

/// `between(conn, writer)` (made by `HttpServe.functions`).
#[pyclass(module = "aigw._codec", frozen)]
pub struct ServeBetween {
    serve: Py<HttpServe>,
}

static BEGIN: MethodDef<ServeBegin> = MethodDef::fastcall(
    c"begin",
    c"begin(conn, request): the request's response writer, or None (aigw.server.http).",
    fastcall::fixed_arity::<ServeBegin, 2>,
);

static BETWEEN: MethodDef<ServeBetween> = MethodDef::fastcall(
    c"between",
    c"between(conn, writer): the future for the next request, or None (aigw.server.http).",
    fastcall::fixed_arity::<ServeBetween, 2>,
);

impl FixedArity<2> for ServeBegin {
    const FUNCTION: &'static str = "begin";

    fn call<'py>(&self, py: Python<'py>, args: [Bound<'py, PyAny>; 2]) -> PyResult<Bound<'py, PyAny>> {
        let [conn, request] = &args;
        Ok(self
            .serve
            .get()
            .begin(conn, request)?
            .unwrap_or_else(|| py.None().into_bound(py)))
    }
}

impl FixedArity<2> for ServeBetween {
    const FUNCTION: &'static str = "between";

    fn call<'py>(&self, py: Python<'py>, args: [Bound<'py, PyAny>; 2]) -> PyResult<Bound<'py, PyAny>> {
        let [conn, writer] = &args;
        Ok(self
            .serve
            .get()
            .between(conn, writer)?
            .unwrap_or_else(|| py.None().into_bound(py)))
    }
}
