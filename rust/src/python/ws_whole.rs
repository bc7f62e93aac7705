//! The Universal WebSocket's usual whole answer in native code: what `WebSocketSink.deliver`
//! (aigw/api/universal_ws.py) then `WebSocket.send_text` (aigw/server/websocket.py) do for a
//! provider's whole answer: one `universal.created` carrying the body unchanged, queued on the
//! connection's codec, the connection's flush scheduled once per loop tick.
//!
//! Those stay the specification and the path for every other answer: `deliver` returns False,
//! having changed nothing, unless the sink is exactly a WebSocketSink with no step metadata
//! (a `compat` step's) whose connection is exactly the server's WebSocket with its exact codec,
//! and the message is one the native writer writes (`created_message`; a count past 2**63
//! is Python's). A connection no longer open drops the message, as `send_text` does. The
//! objects are read and written in their `__slots__` (`slot_layout::Layout`).

use super::relay::created_message;
use super::slot_layout::Layout;
use super::ws::WsCodec;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString, PyType};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<WsWholeDeliver>()?;
    Ok(())
}

const SINK_SLOTS: &[&str] = &["ws", "step_metadata", "answered"];
const K_WS: usize = 0;
const K_STEP_METADATA: usize = 1;
const K_ANSWERED: usize = 2;

const WS_SLOTS: &[&str] = &["protocol", "codec", "_flush_scheduled", "_loop"];
const W_PROTOCOL: usize = 0;
const W_CODEC: usize = 1;
const W_FLUSH_SCHEDULED: usize = 2;
const W_LOOP: usize = 3;

/// One whole answer's facts, as the pipeline's `WholeAnswer` holds them.
pub(crate) struct CreatedFacts<'a, 'py> {
    pub event_id: &'a Bound<'py, PyAny>,
    pub log_id: &'a Bound<'py, PyAny>,
    pub index: &'a Bound<'py, PyAny>,
    pub media: &'a Bound<'py, PyAny>,
    pub status: &'a Bound<'py, PyAny>,
    /// (tokens in, tokens out) when the answer reports usage.
    pub usage: Option<(&'a Bound<'py, PyAny>, &'a Bound<'py, PyAny>)>,
    pub body: &'a Bound<'py, PyBytes>,
}

/// The Universal WebSocket's usual whole answer (see the module docs), made once by
/// aigw/api/universal_ws.py and handed to the pipeline's `WholeAnswer`.
#[pyclass(module = "aigw._codec", frozen)]
pub struct WsWholeDeliver {
    sink: Layout,
    ws: Layout,
    /// The server WebSocket's protocol's `state` slot, and its OPEN state.
    protocol: Layout,
    open: Py<PyAny>,
}

#[pymethods]
impl WsWholeDeliver {
    /// `classes`: (WebSocketSink, the server's WebSocket, its WebSocketConnection), whose
    /// slots it uses (ValueError when one is missing); `open`: the protocol's OPEN state.
    #[new]
    fn new(
        classes: (Bound<'_, PyType>, Bound<'_, PyType>, Bound<'_, PyType>),
        open: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let (sink, ws, protocol) = classes;
        Ok(WsWholeDeliver {
            sink: Layout::new(&sink, SINK_SLOTS)?,
            ws: Layout::new(&ws, WS_SLOTS)?,
            protocol: Layout::new(&protocol, &["state"])?,
            open: open.unbind(),
        })
    }
}

impl WsWholeDeliver {
    /// The sink class this delivers for.
    pub(crate) fn sink_class<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        self.sink.class(py)
    }

    /// `sink.deliver(answer, body)`'s usual case: True when the message was queued (or
    /// dropped on a closing connection, as `send_text` drops it), False having changed nothing.
    pub(crate) fn deliver(
        &self,
        sink: &Bound<'_, PyAny>,
        answer: &Bound<'_, PyAny>,
        facts: &CreatedFacts<'_, '_>,
    ) -> PyResult<bool> {
        let py = sink.py();
        if !self.sink.is(sink) {
            return Ok(false);
        }
        // SAFETY (every get/set below): each object was checked to be exactly its class.
        let (Some(ws), Some(step_metadata)) = (unsafe { self.sink.get(sink, K_WS) }, unsafe {
            self.sink.get(sink, K_STEP_METADATA)
        }) else {
            return Ok(false);
        };
        if !step_metadata.is_none() || !self.ws.is(&ws) {
            return Ok(false);
        }
        let w = |i| unsafe { self.ws.get(&ws, i) };
        let (Some(protocol), Some(codec), Some(scheduled), Some(loop_)) =
            (w(W_PROTOCOL), w(W_CODEC), w(W_FLUSH_SCHEDULED), w(W_LOOP))
        else {
            return Ok(false);
        };
        let Ok(codec) = codec.downcast_exact::<WsCodec>() else {
            return Ok(false);
        };
        if !self.protocol.is(&protocol) {
            return Ok(false);
        }
        let Some(message) = created(py, facts)? else {
            return Ok(false);
        };
        // The usual answer from here on: deliver's `answered`, then send_text.
        unsafe { self.sink.set(sink, K_ANSWERED, answer.clone()) };
        let open = matches!(unsafe { self.protocol.get(&protocol, 0) }, Some(s) if s.is(self.open.bind(py)));
        if !open {
            return Ok(true); // dropped once the connection is closing
        }
        codec.borrow_mut().send_text(&message)?;
        // SAFETY: `ws` is exactly the class of `self.ws`, whose slot W_FLUSH_SCHEDULED is.
        unsafe { schedule_flush(&self.ws, &ws, W_FLUSH_SCHEDULED, &scheduled, &loop_) }?;
        Ok(true)
    }
}

/// `WebSocket._schedule_flush`: the connection's `_write_out` (its `_flush`, natively) queued
/// on its loop once a tick
/// (`scheduled`: its `_flush_scheduled`, read from slot `slot` of `layout`, set there).
///
/// # Safety
/// `ws` is exactly the class `layout` was made for, and `slot` is its `_flush_scheduled`.
pub(super) unsafe fn schedule_flush(
    layout: &Layout,
    ws: &Bound<'_, PyAny>,
    slot: usize,
    scheduled: &Bound<'_, PyAny>,
    loop_: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let py = ws.py();
    if !scheduled.is(PyBool::new(py, true)) {
        // SAFETY: the contract above.
        unsafe { layout.set(ws, slot, PyBool::new(py, true).to_owned().into_any()) };
        loop_.call_method1(intern!(py, "call_soon"), (ws.getattr(intern!(py, "_write_out"))?,))?;
    }
    Ok(())
}

/// The `universal.created` message, or None when a value is not one the native writer takes.
fn created<'py>(py: Python<'py>, facts: &CreatedFacts<'_, 'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let (Ok(event_id), Ok(log_id), Ok(media)) = (
        facts.event_id.downcast::<PyString>(),
        facts.log_id.downcast::<PyString>(),
        facts.media.downcast::<PyString>(),
    ) else {
        return Ok(None);
    };
    let (Ok(event_id), Ok(log_id), Ok(media)) =
        (super::text_of(event_id), super::text_of(log_id), super::text_of(media))
    else {
        return Ok(None);
    };
    let (Ok(step), Ok(status)) = (facts.index.extract::<i64>(), facts.status.extract::<i64>()) else {
        return Ok(None);
    };
    let usage = match facts.usage {
        None => None,
        Some((tokens_in, tokens_out)) => {
            match (tokens_in.extract::<Option<i64>>(), tokens_out.extract::<Option<i64>>()) {
                (Ok(tokens_in), Ok(tokens_out)) => Some((tokens_in, tokens_out)),
                _ => return Ok(None), // a count past 2**63: Python writes it
            }
        }
    };
    let message = created_message(py, "MISS", event_id, log_id, step, media, status, usage, facts.body);
    Ok(Some(message.into_any()))
}
