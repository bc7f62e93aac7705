//! The HTTP sink's `consume` in native code: what the `consume` closure of `HttpSink.relay`
//! (aigw/api/http_sink.py) does with each read of a relayed stream, inside the upstream
//! connection's `data_received`: the piece written to the response (`ResponseWriter.write`:
//! framed as a chunk, queued on the connection, its flush scheduled once per loop tick,
//! `HttpConnection.queue`), kept for the log (`collected`), read for usage (`tap`), and
//! whether the client can take more answered (`is_writable`). The scheduled flush is native
//! too (`HttpConnection.flush`). One builtin call a read, and one a tick, instead of five
//! Python frames and one.
//!
//! The closure and the Python methods stay the specification and take every other case: a
//! response that is not started, has a Content-Length or no body, a connection that is gone
//! or behind (`write_paused`: the hard limit's check). `make` answers None unless the writer
//! and its connection are exactly their classes. Their state is read and written in their
//! `__slots__` (`slot_layout::Layout`).

use super::fastcall::{self, one_argument_through_trampoline, FixedArity, MethodDef};
use super::slot_layout::{is_false, Layout};
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyType};
use pyo3::{PyTraverseError, PyVisit};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<HttpStreamConsumers>()?; // HttpStreamConsume and HttpFlush are made by it
    Ok(())
}

const WRITER_SLOTS: &[&str] = &["_channel", "_state", "_chunked", "_length", "_sent", "_no_body"];
const W_CHANNEL: usize = 0;
const W_STATE: usize = 1;
const W_CHUNKED: usize = 2;
const W_LENGTH: usize = 3;
const W_SENT: usize = 4;
const W_NO_BODY: usize = 5;

const CONNECTION_SLOTS: &[&str] = &[
    "lost",
    "write_paused",
    "_out",
    "_out_size",
    "_flush_scheduled",
    "_loop",
    "_transport",
];
const C_LOST: usize = 0;
const C_WRITE_PAUSED: usize = 1;
const C_OUT: usize = 2;
const C_OUT_SIZE: usize = 3;
const C_FLUSH_SCHEDULED: usize = 4;
const C_LOOP: usize = 5;
const C_TRANSPORT: usize = 6;

/// Makes the native `consume` of a stream relayed to one HTTP response (see the module docs);
/// made once by aigw/api/http_sink.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct HttpStreamConsumers {
    writer: Layout,
    conn: Layout,
    /// The writer's STARTED state, and its ENDED one (states below it are not finished).
    started: Py<PyAny>,
    ended: i64,
    /// Queued output up to this size is joined into one write (aigw.server.http.JOIN_LIMIT).
    join_limit: usize,
    /// b"\r\n", the end of every chunk.
    crlf: Py<PyBytes>,
}

#[pymethods]
impl HttpStreamConsumers {
    /// `classes`: (ResponseWriter, HttpConnection), whose slots it uses (ValueError when one is
    /// missing); `states`: the writer's (STARTED, ENDED); `join_limit`: the connection's
    /// JOIN_LIMIT.
    #[new]
    fn new(classes: [Bound<'_, PyType>; 2], states: (Bound<'_, PyAny>, i64), join_limit: usize) -> PyResult<Self> {
        let [writer, conn] = classes;
        Ok(HttpStreamConsumers {
            writer: Layout::new(&writer, WRITER_SLOTS)?,
            conn: Layout::new(&conn, CONNECTION_SLOTS)?,
            started: states.0.unbind(),
            ended: states.1,
            join_limit,
            crlf: PyBytes::new(writer.py(), b"\r\n").unbind(),
        })
    }

    /// `consume(chunk) -> bool` writing to `response`, appending each chunk to `collected`
    /// (a list, or None) and handing it to `tap` (or None), as a builtin function; None when
    /// `response` is not exactly a ResponseWriter on an HttpConnection.
    fn make<'py>(
        slf: &Bound<'py, Self>,
        response: &Bound<'py, PyAny>,
        collected: &Bound<'py, PyAny>,
        tap: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = slf.py();
        let this = slf.get();
        if !this.writer.is(response) {
            return Ok(None);
        }
        // SAFETY: `response` is exactly a ResponseWriter.
        let Some(channel) = (unsafe { this.writer.get(response, W_CHANNEL) }) else {
            return Ok(None);
        };
        if !this.conn.is(&channel) {
            return Ok(None);
        }
        let collected = match collected.downcast_exact::<PyList>() {
            Ok(list) => Some(list.clone().unbind()),
            Err(_) if collected.is_none() => None,
            Err(_) => return Ok(None),
        };
        let flush = HttpFlush {
            consumers: slf.clone().unbind(),
            channel: channel.clone().unbind(),
        };
        let flush = FLUSH.bind(&Bound::new(py, flush)?)?.unbind();
        let consume = HttpStreamConsume {
            consumers: slf.clone().unbind(),
            response: response.clone().unbind(),
            channel: channel.unbind(),
            collected,
            tap: (!tap.is_none()).then(|| tap.clone().unbind()),
            flush,
        };
        CONSUME.bind(&Bound::new(py, consume)?).map(Some)
    }
}

/// One stream's `consume`: the response, its connection, and where each chunk goes besides.
#[pyclass(module = "aigw._codec", frozen)]
pub struct HttpStreamConsume {
    consumers: Py<HttpStreamConsumers>,
    response: Py<PyAny>,
    channel: Py<PyAny>,
    collected: Option<Py<PyList>>,
    tap: Option<Py<PyAny>>,
    /// The connection's native flush, scheduled once per tick.
    flush: Py<PyAny>,
}

#[pymethods]
impl HttpStreamConsume {
    /// Its references for the cycle collector (the upstream response holds this `consume`
    /// while the stream is pushed).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.consumers)?;
        visit.call(&self.response)?;
        visit.call(&self.channel)?;
        if let Some(collected) = &self.collected {
            visit.call(collected)?;
        }
        if let Some(tap) = &self.tap {
            visit.call(tap)?;
        }
        visit.call(&self.flush)
    }
}

static CONSUME: MethodDef<HttpStreamConsume> = MethodDef::one_argument(
    c"consume",
    c"consume(chunk): the chunk written to the response, kept and read; whether the client can take more.",
    consume_fast,
);

one_argument_through_trampoline!(consume_fast, HttpStreamConsume, consume);

impl HttpStreamConsume {
    fn consume<'py>(&self, chunk: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = chunk.py();
        let consumers = self.consumers.get();
        let (response, channel) = (self.response.bind(py), self.channel.bind(py));
        if !self.write(consumers, response, channel, chunk)? {
            response.call_method1(intern!(py, "write"), (chunk,))?;
        }
        if let Some(collected) = &self.collected {
            collected.bind(py).append(chunk)?;
        }
        if let Some(tap) = &self.tap {
            tap.bind(py).call1((chunk,))?;
        }
        // is_writable: not write_paused, not lost, and not ended.
        // SAFETY (every get below): `make` checked both objects' classes, and a writer's
        // channel is set once, when it is made.
        let c = |i| unsafe { consumers.conn.get(channel, i) };
        let state = match unsafe { consumers.writer.get(response, W_STATE) } {
            Some(state) => state.extract::<i64>()?,
            None => return Err(PyRuntimeError::new_err("a ResponseWriter lost its state")),
        };
        let writable = is_false(&c(C_WRITE_PAUSED)) && is_false(&c(C_LOST)) && state < consumers.ended;
        Ok(PyBool::new(py, writable).to_owned().into_any())
    }

    /// `ResponseWriter.write(chunk)` in its usual case (started, chunked or read to close, the
    /// connection open and not behind); False, having changed nothing, for any other.
    fn write<'py>(
        &self,
        consumers: &HttpStreamConsumers,
        response: &Bound<'py, PyAny>,
        channel: &Bound<'py, PyAny>,
        chunk: &Bound<'py, PyAny>,
    ) -> PyResult<bool> {
        let py = chunk.py();
        // SAFETY (every get/set below): as in `consume`.
        let w = |i| unsafe { consumers.writer.get(response, i) };
        let c = |i| unsafe { consumers.conn.get(channel, i) };
        let usual = matches!(w(W_STATE), Some(s) if s.is(consumers.started.bind(py)))
            && is_false(&w(W_NO_BODY))
            && matches!(w(W_LENGTH), Some(l) if l.is_none())
            && is_false(&c(C_LOST))
            && is_false(&c(C_WRITE_PAUSED));
        let (true, Ok(data)) = (usual, chunk.downcast_exact::<PyBytes>()) else {
            return Ok(false);
        };
        let (Some(Ok(sent)), Some(chunked), Some(Ok(out)), Some(Ok(out_size)), Some(scheduled)) = (
            w(W_SENT).map(|n| n.extract::<u64>()),
            w(W_CHUNKED),
            c(C_OUT).map(|l| l.downcast_into_exact::<PyList>()),
            c(C_OUT_SIZE).map(|n| n.extract::<usize>()),
            c(C_FLUSH_SCHEDULED),
        ) else {
            return Ok(false);
        };
        let data = data.as_bytes();
        if data.is_empty() {
            return Ok(true);
        }
        unsafe {
            consumers
                .writer
                .set(response, W_SENT, PyInt::new(py, sent + data.len() as u64).into_any())
        };
        // HttpConnection.queue, three times for a chunk: its size line, the data (not copied:
        // the flush joins what a tick queued) and its CRLF.
        let size = if chunked.is_truthy()? {
            let line = PyBytes::new(py, format!("{:x}\r\n", data.len()).as_bytes());
            let size = line.as_bytes().len() + data.len() + 2;
            out.append(line)?;
            out.append(chunk)?;
            out.append(consumers.crlf.bind(py))?;
            size
        } else {
            out.append(chunk)?;
            data.len()
        };
        unsafe {
            consumers
                .conn
                .set(channel, C_OUT_SIZE, PyInt::new(py, out_size + size).into_any())
        };
        if !scheduled.is(PyBool::new(py, true)) {
            let Some(loop_) = c(C_LOOP) else {
                return Err(PyRuntimeError::new_err("an HttpConnection lost its loop"));
            };
            unsafe {
                consumers
                    .conn
                    .set(channel, C_FLUSH_SCHEDULED, PyBool::new(py, true).to_owned().into_any())
            };
            loop_.call_method1(intern!(py, "call_soon"), (self.flush.bind(py),))?;
        }
        Ok(true)
    }
}

/// A connection's scheduled flush (`HttpConnection.flush`).
#[pyclass(module = "aigw._codec", frozen)]
pub struct HttpFlush {
    consumers: Py<HttpStreamConsumers>,
    channel: Py<PyAny>,
}

#[pymethods]
impl HttpFlush {
    /// Its references for the cycle collector.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.consumers)?;
        visit.call(&self.channel)
    }
}

static FLUSH: MethodDef<HttpFlush> = MethodDef::fastcall(
    c"flush",
    c"flush(): everything the connection queued, written now (HttpConnection.flush).",
    fastcall::fixed_arity::<HttpFlush, 0>,
);

impl FixedArity<0> for HttpFlush {
    const FUNCTION: &'static str = "flush";

    fn call<'py>(&self, py: Python<'py>, _args: [Bound<'py, PyAny>; 0]) -> PyResult<Bound<'py, PyAny>> {
        self.flush_now(py)?;
        Ok(py.None().into_bound(py))
    }
}

impl HttpFlush {
    fn flush_now(&self, py: Python<'_>) -> PyResult<()> {
        let consumers = self.consumers.get();
        let channel = self.channel.bind(py);
        // SAFETY (every get/set below): `make` checked the connection's class.
        let c = |i| unsafe { consumers.conn.get(channel, i) };
        let set = |i, v: Bound<'_, PyAny>| unsafe { consumers.conn.set(channel, i, v) };
        set(C_FLUSH_SCHEDULED, PyBool::new(py, false).to_owned().into_any());
        let Some(Ok(out)) = c(C_OUT).map(|l| l.downcast_into_exact::<PyList>()) else {
            return channel.call_method0(intern!(py, "flush")).map(drop);
        };
        if out.is_empty() {
            return Ok(());
        }
        let size = match c(C_OUT_SIZE) {
            Some(n) => n.extract::<usize>()?,
            None => 0,
        };
        set(C_OUT, PyList::empty(py).into_any());
        set(C_OUT_SIZE, PyInt::new(py, 0).into_any());
        if !is_false(&c(C_LOST)) {
            return Ok(());
        }
        let Some(transport) = c(C_TRANSPORT) else {
            return Ok(());
        };
        if out.len() == 1 {
            transport.call_method1(intern!(py, "write"), (out.get_item(0)?,))?;
        } else if size <= consumers.join_limit {
            let joined = PyBytes::new(py, b"").call_method1(intern!(py, "join"), (&out,))?;
            transport.call_method1(intern!(py, "write"), (joined,))?;
        } else {
            transport.call_method1(intern!(py, "writelines"), (out,))?;
        }
        Ok(())
    }
}
