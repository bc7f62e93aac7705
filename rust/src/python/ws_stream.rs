//! The Universal WebSocket sink's `consume` in native code: what the `consume` closure of
//! `WebSocketSink.relay` (aigw/api/universal_ws.py) does with each read of a pushed upstream
//! stream, inside the upstream connection's `data_received`: refuse it once the client's
//! connection has left OPEN (`ConnectionClosed(1006)`), frame its events onto the connection's
//! codec (`StreamRelay.feed`), schedule the connection's flush once per loop tick
//! (`WebSocket.flush_soon`) and answer whether the client can take more (`is_writable`).
//! One builtin call a read instead of five Python frames (the closure, `closed`, `flush_soon`,
//! `_schedule_flush`, `is_writable`).
//!
//! The closure stays the specification and the consumer of every other connection: `make`
//! answers None unless the connection is exactly the server's WebSocket, its protocol exactly
//! its WebSocketConnection and its codec exactly a `WsCodec`. The objects are read and written
//! in their `__slots__` (`slot_layout::Layout`).

use super::fastcall::{one_argument_through_trampoline, MethodDef};
use super::relay::StreamRelay;
use super::slot_layout::Layout;
use super::ws::WsCodec;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyType};
use pyo3::{PyTraverseError, PyVisit};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<WsStreamConsumers>()?; // WsStreamConsume is made by it, never from Python
    Ok(())
}

const WS_SLOTS: &[&str] = &["protocol", "codec", "_flush_scheduled", "_loop", "write_paused"];
const W_PROTOCOL: usize = 0;
const W_CODEC: usize = 1;
const W_FLUSH_SCHEDULED: usize = 2;
const W_LOOP: usize = 3;
const W_WRITE_PAUSED: usize = 4;

/// Makes the native `consume` of a stream relayed to one connection (see the module docs);
/// made once by aigw/api/universal_ws.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct WsStreamConsumers {
    ws: Layout,
    /// The server WebSocket's protocol's `state` slot, and its OPEN state.
    protocol: Layout,
    open: Py<PyAny>,
    /// ConnectionClosed, raised as `consume` raises it.
    closed: Py<PyAny>,
}

#[pymethods]
impl WsStreamConsumers {
    /// `classes`: (the server's WebSocket, its WebSocketConnection), whose slots it uses
    /// (ValueError when one is missing); `open`: the protocol's OPEN state; `closed`: the
    /// ConnectionClosed class.
    #[new]
    fn new(
        classes: (Bound<'_, PyType>, Bound<'_, PyType>),
        open: Bound<'_, PyAny>,
        closed: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let (ws, protocol) = classes;
        Ok(WsStreamConsumers {
            ws: Layout::new(&ws, WS_SLOTS)?,
            protocol: Layout::new(&protocol, &["state"])?,
            open: open.unbind(),
            closed: closed.unbind(),
        })
    }

    /// `consume(chunk) -> bool` for `relay` writing to `ws`, as a builtin function; None when
    /// `ws` is not the server's own WebSocket with its own codec (the closure serves it).
    fn make<'py>(
        slf: &Bound<'py, Self>,
        relay: Bound<'py, StreamRelay>,
        ws: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = slf.py();
        let this = slf.get();
        if !this.ws.is(ws) {
            return Ok(None);
        }
        // SAFETY (every get below): `ws` is exactly the WebSocket class.
        let (Some(protocol), Some(codec)) = (unsafe { this.ws.get(ws, W_PROTOCOL) }, unsafe {
            this.ws.get(ws, W_CODEC)
        }) else {
            return Ok(None);
        };
        let Ok(codec) = codec.downcast_into_exact::<WsCodec>() else {
            return Ok(None);
        };
        if !this.protocol.is(&protocol) {
            return Ok(None);
        }
        let consume = WsStreamConsume {
            consumers: slf.clone().unbind(),
            relay: relay.unbind(),
            ws: ws.clone().unbind(),
            protocol: protocol.unbind(),
            codec: codec.unbind(),
        };
        CONSUME.bind(&Bound::new(py, consume)?).map(Some)
    }
}

/// One stream's `consume`: its relay, the connection and what `make` checked of it.
#[pyclass(module = "aigw._codec", frozen)]
pub struct WsStreamConsume {
    consumers: Py<WsStreamConsumers>,
    relay: Py<StreamRelay>,
    ws: Py<PyAny>,
    protocol: Py<PyAny>,
    codec: Py<WsCodec>,
}

#[pymethods]
impl WsStreamConsume {
    /// Its references for the cycle collector: while a stream runs, the connection holds the
    /// request's Task, whose frames hold the stream's reader, which holds this `consume`; the
    /// collector can break such a cycle at the objects it clears once it sees these edges.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.consumers)?;
        visit.call(&self.relay)?;
        visit.call(&self.ws)?;
        visit.call(&self.protocol)?;
        visit.call(&self.codec)
    }
}

static CONSUME: MethodDef<WsStreamConsume> = MethodDef::one_argument(
    c"consume",
    c"consume(chunk): the read's events framed onto the connection; whether it can take more.",
    consume_fast,
);

one_argument_through_trampoline!(consume_fast, WsStreamConsume, consume);

impl WsStreamConsume {
    fn consume<'py>(&self, chunk: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = chunk.py();
        let consumers = self.consumers.get();
        let (ws, protocol) = (self.ws.bind(py), self.protocol.bind(py));
        // SAFETY (every get/set below): `make` checked both objects' classes, and an object's
        // class does not change while the WebSocket's slots keep the same objects (`protocol`
        // and `codec` are set once, when the connection is made).
        let open = |p: &Bound<'py, PyAny>| matches!(unsafe { consumers.protocol.get(p, 0) }, Some(state) if state.is(consumers.open.bind(py)));
        if !open(protocol) {
            return Err(PyErr::from_value(consumers.closed.bind(py).call1((1006,))?));
        }
        let data = super::bytes_like(chunk)?;
        let events = self
            .relay
            .bind(py)
            .borrow_mut()
            .feed_to(&data, &mut self.codec.bind(py).borrow_mut())?;
        let w = |i| unsafe { consumers.ws.get(ws, i) };
        if events > 0 {
            // flush_soon: the connection is OPEN (checked above; framing does not change it).
            let (Some(scheduled), Some(loop_)) = (w(W_FLUSH_SCHEDULED), w(W_LOOP)) else {
                return Err(pyo3::exceptions::PyRuntimeError::new_err("a WebSocket lost its loop"));
            };
            // SAFETY: `ws` is exactly the class of `consumers.ws`, whose slot this is.
            unsafe { super::ws_whole::schedule_flush(&consumers.ws, ws, W_FLUSH_SCHEDULED, &scheduled, &loop_) }?;
        }
        // is_writable: not write_paused and still OPEN.
        let paused = match w(W_WRITE_PAUSED) {
            Some(paused) => paused.is_truthy()?,
            None => true,
        };
        Ok(PyBool::new(py, !paused && open(protocol)).to_owned().into_any())
    }
}
