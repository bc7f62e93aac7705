//! The server WebSocket's read and write in native code: a connection's `buffer_updated`
//! (asyncio's BufferedProtocol), doing what `WebSocket._received`, `_dispatch`, the protocol's `deliver`
//! and `_flush` (aigw/server/websocket.py, aigw/protocol/websocket.py) do for a read: the
//! codec parses what the loop read into its buffer, each data message goes to the handler's
//! `on_message`, each other event to the protocol's `handle_control` (stopping after one that
//! closes), the protocol's `data_seen` is set, and what the batch queued is written in one
//! transport call; and its `_write_out`, the write a tick's sends schedule with `call_soon`,
//! doing what `_flush` does.
//!
//! Those stay the specification and the path for every other case: a relay's connection
//! (`relay_peer`) is `_received`'s; `on_message` failing with an Exception goes to
//! `_dispatch_failed` (logged, the connection closed 1011, the rest of the batch dropped, as
//! `_dispatch` does); the write is `_flush`'s unless the connection is open, not lost, not
//! holding the 101 head and not paused for writing. The objects are read and written in their
//! `__slots__` (`slot_layout::Layout`).

use super::fastcall::{self, one_argument_through_trampoline, FixedArity, MethodDef};
use super::slot_layout::{is_false, is_none, Layout};
use super::ws::WsCodec;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList, PyTuple, PyType, PyWeakrefMethods, PyWeakrefReference};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<WsReceive>() // WsReceiver is made by it, never from Python
}

const WS_SLOTS: &[&str] = &[
    "protocol",
    "codec",
    "relay_peer",
    "_on_message",
    "_flush_scheduled",
    "_lost",
    "_head",
    "write_paused",
    "_transport",
];
const W_PROTOCOL: usize = 0;
const W_CODEC: usize = 1;
const W_RELAY_PEER: usize = 2;
const W_ON_MESSAGE: usize = 3;
const W_FLUSH_SCHEDULED: usize = 4;
const W_LOST: usize = 5;
const W_HEAD: usize = 6;
const W_WRITE_PAUSED: usize = 7;
const W_TRANSPORT: usize = 8;

const P_STATE: usize = 0;
const P_DATA_SEEN: usize = 1;

/// The opcodes below this are data messages (TEXT 1, BINARY 2).
const FIRST_CONTROL: i64 = 3;

/// Makes each server WebSocket's native `buffer_updated`; made once by aigw/server/websocket.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct WsReceive {
    ws: Layout,
    /// The protocol's `state` and `data_seen`.
    protocol: Layout,
    open: Py<PyAny>,
    closed: Py<PyAny>,
}

#[pymethods]
impl WsReceive {
    /// `classes`: (the server's WebSocket, its WebSocketConnection), whose slots it uses
    /// (ValueError when one is missing); `open`, `closed`: the protocol's OPEN and CLOSED.
    #[new]
    fn new(
        classes: (Bound<'_, PyType>, Bound<'_, PyType>),
        open: Bound<'_, PyAny>,
        closed: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let (ws, protocol) = classes;
        Ok(WsReceive {
            ws: Layout::new(&ws, WS_SLOTS)?,
            protocol: Layout::new(&protocol, &["state", "data_seen"])?,
            open: open.unbind(),
            closed: closed.unbind(),
        })
    }

    /// `(buffer_updated, write_out)` for `ws` as builtin functions that hold it weakly (so
    /// that `ws` can hold them without a cycle): `buffer_updated(nbytes)` and `write_out()`,
    /// `_flush`'s work; None unless `ws` is exactly the server's WebSocket.
    #[allow(clippy::type_complexity)]
    fn receivers<'py>(
        slf: &Bound<'py, Self>,
        ws: &Bound<'py, PyAny>,
    ) -> PyResult<Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
        if !slf.get().ws.is(ws) {
            return Ok(None);
        }
        let receiver = WsReceiver {
            receive: slf.clone().unbind(),
            ws: PyWeakrefReference::new(ws)?.unbind(),
        };
        let receiver = Bound::new(slf.py(), receiver)?;
        Ok(Some((BUFFER_UPDATED.bind(&receiver)?, WRITE_OUT.bind(&receiver)?)))
    }
}

impl WsReceive {
    /// A read of `nbytes` into the codec's buffer of `ws` (exactly the WebSocket class).
    fn received(&self, ws: &Bound<'_, PyAny>, nbytes: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = ws.py();
        // SAFETY (every get/set on `ws`): `ws` is exactly the class of `self.ws` (checked
        // by the caller).
        let w = |i| unsafe { self.ws.get(ws, i) };
        let (Some(protocol), Some(codec)) = (w(W_PROTOCOL), w(W_CODEC)) else {
            return python_read(ws, nbytes);
        };
        let codec = match codec.downcast_into_exact::<WsCodec>() {
            Ok(codec) if is_none(&w(W_RELAY_PEER)) && self.protocol.is(&protocol) => codec,
            _ => return python_read(ws, nbytes),
        };
        let events = codec.borrow_mut().buffer_updated(py, nbytes.extract()?)?;
        // SAFETY (every get/set on `protocol`): checked to be exactly its class above.
        let state = || unsafe { self.protocol.get(&protocol, P_STATE) };
        if events.is_empty() || matches!(state(), Some(s) if s.is(self.closed.bind(py))) {
            return Ok(());
        }
        // Sends during the batch wait for the write below.
        unsafe {
            self.ws
                .set(ws, W_FLUSH_SCHEDULED, PyBool::new(py, true).to_owned().into_any())
        };
        if let Err(e) = self.deliver(ws, &protocol, &events) {
            if !e.is_instance_of::<pyo3::exceptions::PyException>(py) {
                return Err(e);
            }
            ws.call_method1(intern!(py, "_dispatch_failed"), (e.into_value(py),))?;
        }
        self.write_out(ws, &codec, &protocol)
    }

    /// `_flush`: what the connection's codec queued written in one transport call, natively
    /// for an open connection not lost, not holding the 101 head and not paused for writing;
    /// `_flush` itself otherwise.
    fn write_out(
        &self,
        ws: &Bound<'_, PyAny>,
        codec: &Bound<'_, WsCodec>,
        protocol: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = ws.py();
        // SAFETY (every get/set): `ws` and `protocol` are exactly their classes (checked by
        // the callers).
        let w = |i| unsafe { self.ws.get(ws, i) };
        let usual = is_false(&w(W_LOST))
            && is_none(&w(W_HEAD))
            && is_false(&w(W_WRITE_PAUSED))
            && matches!(unsafe { self.protocol.get(protocol, P_STATE) }, Some(s) if s.is(self.open.bind(py)));
        let Some(transport) = w(W_TRANSPORT).filter(|_| usual) else {
            return ws.call_method0(intern!(py, "_flush")).map(drop);
        };
        unsafe {
            self.ws
                .set(ws, W_FLUSH_SCHEDULED, PyBool::new(py, false).to_owned().into_any())
        };
        let data = codec.borrow_mut().data_to_send_vectored(py)?;
        if data.is_instance_of::<PyList>() {
            transport.call_method1(intern!(py, "writelines"), (data,))?;
        } else if data.len()? > 0 {
            transport.call_method1(intern!(py, "write"), (data,))?;
        } else {
            return Ok(());
        }
        if !is_false(&w(W_WRITE_PAUSED)) {
            // The write filled the transport past its high-water mark: `_flush`'s limit check.
            ws.call_method0(intern!(py, "_check_hard_limit"))?;
        }
        Ok(())
    }

    /// `_write_out()` for `ws` (exactly the WebSocket class): `write_out`, its codec and
    /// protocol checked first (`_flush` for any other).
    fn scheduled_write(&self, ws: &Bound<'_, PyAny>) -> PyResult<()> {
        // SAFETY: `ws` is exactly the class of `self.ws` (checked by `receivers`).
        let w = |i| unsafe { self.ws.get(ws, i) };
        let (Some(protocol), Some(codec)) = (w(W_PROTOCOL), w(W_CODEC)) else {
            return ws.call_method0(intern!(ws.py(), "_flush")).map(drop);
        };
        match codec.downcast_into_exact::<WsCodec>() {
            Ok(codec) if self.protocol.is(&protocol) => self.write_out(ws, &codec, &protocol),
            _ => ws.call_method0(intern!(ws.py(), "_flush")).map(drop),
        }
    }

    /// The protocol's `deliver(events, on_message, ws)`: each data message to `on_message`,
    /// each other event to `handle_control`, stopping after the one that closed; `data_seen`
    /// set when a data message was among those handled. An error from `on_message` stops it.
    fn deliver(&self, ws: &Bound<'_, PyAny>, protocol: &Bound<'_, PyAny>, events: &Bound<'_, PyList>) -> PyResult<()> {
        let py = ws.py();
        // SAFETY (get/set): `ws` and `protocol` are exactly their classes (checked by the caller).
        let on_message = unsafe { self.ws.get(ws, W_ON_MESSAGE) }
            .ok_or_else(|| pyo3::exceptions::PyAttributeError::new_err("_on_message"))?;
        let mut active = false;
        for event in events.iter() {
            let event = event.downcast_into::<PyTuple>()?;
            let opcode = event.get_item(0)?;
            if opcode.extract::<i64>()? < FIRST_CONTROL {
                active = true;
                on_message.call1((ws, opcode, event.get_item(1)?))?;
            } else {
                protocol.call_method1(intern!(py, "handle_control"), (&event,))?;
                if matches!(unsafe { self.protocol.get(protocol, P_STATE) }, Some(s) if s.is(self.closed.bind(py))) {
                    break;
                }
            }
        }
        if active {
            unsafe {
                self.protocol
                    .set(protocol, P_DATA_SEEN, PyBool::new(py, true).to_owned().into_any())
            };
        }
        Ok(())
    }
}

/// The Python read (`_received`), for every case but the usual one.
fn python_read(ws: &Bound<'_, PyAny>, nbytes: &Bound<'_, PyAny>) -> PyResult<()> {
    ws.call_method1(intern!(ws.py(), "_received"), (nbytes,)).map(drop)
}

/// One connection's `buffer_updated` and `_write_out` (made by `WsReceive.receivers`).
#[pyclass(module = "aigw._codec", frozen)]
pub struct WsReceiver {
    receive: Py<WsReceive>,
    ws: Py<PyWeakrefReference>,
}

impl WsReceiver {
    fn updated<'py>(&self, nbytes: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = nbytes.py();
        if let Some(ws) = self.ws.bind(py).upgrade() {
            self.receive.get().received(&ws, nbytes)?;
        }
        Ok(py.None().into_bound(py))
    }
}

static BUFFER_UPDATED: MethodDef<WsReceiver> = MethodDef::one_argument(
    c"buffer_updated",
    c"The WebSocket's buffer_updated (aigw.server.websocket).",
    buffer_updated_fast,
);
one_argument_through_trampoline!(buffer_updated_fast, WsReceiver, updated);

static WRITE_OUT: MethodDef<WsReceiver> = MethodDef::fastcall(
    c"write_out",
    c"The WebSocket's scheduled write (aigw.server.websocket).",
    fastcall::fixed_arity::<WsReceiver, 0>,
);

impl FixedArity<0> for WsReceiver {
    const FUNCTION: &'static str = "write_out";

    fn call<'py>(&self, py: Python<'py>, _args: [Bound<'py, PyAny>; 0]) -> PyResult<Bound<'py, PyAny>> {
        if let Some(ws) = self.ws.bind(py).upgrade() {
            self.receive.get().scheduled_write(&ws)?;
        }
        Ok(py.None().into_bound(py))
    }
}
