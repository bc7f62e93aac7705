//! The HTTP doors' usual whole answer in native code: what `HttpSink.deliver` (aigw/api/
//! http_sink.py) then `ResponseWriter.send_whole` (aigw/server/http_response.py) then
//! `HttpConnection.send` (aigw/server/http.py) do for a provider's whole answer, as one head
//! and body written to the client's transport.
//!
//! Those stay the specification and the path for every other answer. `deliver` first checks
//! every condition of the usual case (exact classes, a sink with no extra headers, a writer
//! that has not started on a connection that is live, has nothing queued and reads no body,
//! a status with a body, a body below 64 KiB, upstream fields of bytes pairs and gateway
//! fields in ASCII without a line break) and otherwise returns False having changed nothing;
//! the pipeline then makes the `Answer` and calls the sink's `deliver`. The objects are read
//! and written in their `__slots__` (`slot_layout::Layout`).
//!
//! The head is the one the Python path writes: the upstream's fields minus this hop's own and
//! any `cf-aig-*` (`relayed_headers`), a content-type when the upstream sent none, then
//! `cf-aig-log-id`, `-event-id`, `-cache-status` and, on the Universal endpoint, `-step`,
//! framed by Content-Length, with `connection: close` when the connection may not carry
//! another request.

use super::slot_layout::Layout;
use super::upstream::is_relayed;
use crate::http_response::{write_response_head, BodyFraming};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString, PyTuple, PyType};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<HttpWholeDeliver>()?;
    Ok(())
}

const SINK_SLOTS: &[&str] = &["response", "step_header", "extra_headers"];
const K_RESPONSE: usize = 0;
const K_STEP_HEADER: usize = 1;
const K_EXTRA_HEADERS: usize = 2;

const WRITER_SLOTS: &[&str] = &[
    "_channel",
    "_head_request",
    "_close",
    "_state",
    "_length",
    "_sent",
    "status",
];
const W_CHANNEL: usize = 0;
const W_HEAD_REQUEST: usize = 1;
const W_CLOSE: usize = 2;
const W_STATE: usize = 3;
const W_LENGTH: usize = 4;
const W_SENT: usize = 5;
const W_STATUS: usize = 6;

const CONNECTION_SLOTS: &[&str] = &["_server", "_transport", "lost", "_out", "_body"];
const C_SERVER: usize = 0;
const C_TRANSPORT: usize = 1;
const C_LOST: usize = 2;
const C_OUT: usize = 3;
const C_BODY: usize = 4;

/// Bodies this size and above go the Python way (`send_whole` queues them apart).
const WHOLE_LIMIT: usize = 65536;

/// One answer's facts the pipeline already holds (see `WholeAnswer`).
pub(crate) struct WholeFacts<'a, 'py> {
    pub status: &'a Bound<'py, PyAny>,
    /// The upstream response's fields (`UpstreamResponse.headers`).
    pub fields: &'a Bound<'py, PyAny>,
    /// The answer's bare media type (the content-type sent when the upstream sent none).
    pub media: &'a Bound<'py, PyAny>,
    pub log_id: &'a Bound<'py, PyAny>,
    pub event_id: &'a Bound<'py, PyAny>,
    /// The answering step's index (`cf-aig-step`).
    pub index: &'a Bound<'py, PyAny>,
    pub body: &'a Bound<'py, PyBytes>,
}

/// The HTTP doors' usual whole answer (see the module docs), made once by
/// aigw/api/http_sink.py and handed to the pipeline's `WholeAnswer`.
#[pyclass(module = "aigw._codec", frozen)]
pub struct HttpWholeDeliver {
    sink: Layout,
    writer: Layout,
    connection: Layout,
    /// `_REASONS`: status → reason phrase.
    reasons: Py<PyDict>,
    /// The writer's NEW and ENDED states.
    new: Py<PyAny>,
    ended: Py<PyAny>,
}

#[pymethods]
impl HttpWholeDeliver {
    /// `classes`: (HttpSink, ResponseWriter, HttpConnection), whose slots it uses (ValueError
    /// when one is missing); `reasons`: status → reason phrase; `new`, `ended`: the writer's
    /// states before a response starts and after it ended.
    #[new]
    fn new(
        classes: (Bound<'_, PyType>, Bound<'_, PyType>, Bound<'_, PyType>),
        reasons: Bound<'_, PyDict>,
        new: Bound<'_, PyAny>,
        ended: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let (sink, writer, connection) = classes;
        Ok(HttpWholeDeliver {
            sink: Layout::new(&sink, SINK_SLOTS)?,
            writer: Layout::new(&writer, WRITER_SLOTS)?,
            connection: Layout::new(&connection, CONNECTION_SLOTS)?,
            reasons: reasons.unbind(),
            new: new.unbind(),
            ended: ended.unbind(),
        })
    }
}

impl HttpWholeDeliver {
    /// The sink class this delivers for.
    pub(crate) fn sink_class<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        self.sink.class(py)
    }

    /// The usual answer written to the client (True), or False having changed nothing.
    pub(crate) fn deliver(&self, sink: &Bound<'_, PyAny>, facts: &WholeFacts<'_, '_>) -> PyResult<bool> {
        let py = sink.py();
        if !self.sink.is(sink) {
            return Ok(false);
        }
        // SAFETY (every get/set below): each object was checked to be exactly its class.
        let k = |i| unsafe { self.sink.get(sink, i) };
        let (Some(writer), Some(step_header), Some(extra)) = (k(K_RESPONSE), k(K_STEP_HEADER), k(K_EXTRA_HEADERS))
        else {
            return Ok(false);
        };
        if !self.writer.is(&writer) {
            return Ok(false);
        }
        let w = |i| unsafe { self.writer.get(&writer, i) };
        let (Some(channel), Some(head_request), Some(close), Some(state)) =
            (w(W_CHANNEL), w(W_HEAD_REQUEST), w(W_CLOSE), w(W_STATE))
        else {
            return Ok(false);
        };
        let no = PyBool::new(py, false);
        if !state.is(self.new.bind(py)) || !head_request.is(no) || !self.connection.is(&channel) {
            return Ok(false);
        }
        let status: u16 = match facts.status.extract() {
            Ok(n @ 200..=999) if n != 204 && n != 304 => n,
            _ => return Ok(false),
        };
        let body = facts.body.as_bytes();
        if body.len() >= WHOLE_LIMIT {
            return Ok(false);
        }
        let c = |i| unsafe { self.connection.get(&channel, i) };
        let (Some(server), Some(transport), Some(lost), Some(out), Some(request_body)) =
            (c(C_SERVER), c(C_TRANSPORT), c(C_LOST), c(C_OUT), c(C_BODY))
        else {
            return Ok(false);
        };
        // send(): nothing queued, a client still there; may_keep_alive(): no body arriving.
        if !lost.is(no) || !request_body.is_none() || !matches!(out.downcast::<PyList>(), Ok(l) if l.is_empty()) {
            return Ok(false);
        }
        let shutting_down = server.getattr(intern!(py, "shutting_down"))?;
        let close = !close.is(no) || !shutting_down.is(no);
        let Some(reason) = self.reasons.bind(py).get_item(facts.status)? else {
            return Ok(false);
        };
        let Ok(reason) = reason.downcast_into::<PyString>() else {
            return Ok(false);
        };
        let Some(data) = self.message(status, &reason, facts, !step_header.is(no), &extra, close)? else {
            return Ok(false);
        };
        // The usual case from here on: send_whole's state, then the one write.
        let set = |i, v: Bound<'_, PyAny>| unsafe { self.writer.set(&writer, i, v) };
        if close {
            set(W_CLOSE, PyBool::new(py, true).to_owned().into_any());
        }
        let length = body.len().into_pyobject(py)?.into_any();
        set(W_STATUS, facts.status.clone());
        set(W_LENGTH, length.clone());
        set(W_SENT, length);
        set(W_STATE, self.ended.bind(py).clone());
        transport.call_method1(intern!(py, "write"), (data,))?;
        Ok(true)
    }

    /// The whole response's bytes, or None when a field is not the usual kind.
    fn message<'py>(
        &self,
        status: u16,
        reason: &Bound<'py, PyString>,
        facts: &WholeFacts<'_, 'py>,
        step_header: bool,
        extra: &Bound<'py, PyAny>,
        close: bool,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let py = facts.body.py();
        // The sink's extra headers (a /compat pass-through's cf-aig-provider and -model): a
        // tuple or list of (str, str) pairs, held here while their text is borrowed.
        let extra: Vec<Bound<'py, PyAny>> = match (extra.downcast::<PyTuple>(), extra.downcast::<PyList>()) {
            (Ok(t), _) => t.iter().collect(),
            (_, Ok(l)) => l.iter().collect(),
            _ => return Ok(None),
        };
        let mut extra_pairs: Vec<(Bound<'py, PyString>, Bound<'py, PyString>)> = Vec::with_capacity(extra.len());
        for item in &extra {
            let Ok(pair) = item.downcast_exact::<PyTuple>() else {
                return Ok(None);
            };
            if pair.len() != 2 {
                return Ok(None);
            }
            let (Ok(name), Ok(value)) = (
                pair.get_item(0)?.downcast_into_exact::<PyString>(),
                pair.get_item(1)?.downcast_into_exact::<PyString>(),
            ) else {
                return Ok(None);
            };
            extra_pairs.push((name, value));
        }
        let Ok(list) = facts.fields.downcast::<PyList>() else {
            return Ok(None);
        };
        // The pairs' bytes, held here so that their text stays borrowed while the head is written.
        let mut pairs: Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> = Vec::with_capacity(list.len());
        for item in list.iter() {
            let Ok(pair) = item.downcast_exact::<PyTuple>() else {
                return Ok(None);
            };
            if pair.len() != 2 {
                return Ok(None);
            }
            let (Ok(name), Ok(value)) = (
                pair.get_item(0)?.downcast_into_exact::<PyBytes>(),
                pair.get_item(1)?.downcast_into_exact::<PyBytes>(),
            ) else {
                return Ok(None);
            };
            pairs.push((name, value));
        }
        let mut fields: Vec<(&str, &str)> = Vec::with_capacity(pairs.len() + 5);
        let mut has_content_type = false;
        for (name, value) in &pairs {
            let (name, value) = (name.as_bytes(), value.as_bytes());
            if !is_relayed(name) {
                continue;
            }
            let (Some(name), Some(value)) = (ascii(name), ascii(value)) else {
                return Ok(None);
            };
            has_content_type |= name.eq_ignore_ascii_case("content-type");
            fields.push((name, value));
        }
        let texts = [facts.media, facts.log_id, facts.event_id];
        let mut strs: [&str; 3] = [""; 3];
        for (slot, text) in strs.iter_mut().zip(texts) {
            let Ok(text) = text.downcast::<PyString>() else {
                return Ok(None);
            };
            let Some(text) = super::text_of(text).ok().and_then(|t| ascii(t.as_bytes())) else {
                return Ok(None);
            };
            *slot = text;
        }
        let [media, log_id, event_id] = strs;
        if !has_content_type {
            fields.push((
                "content-type",
                if media.is_empty() { "application/json" } else { media },
            ));
        }
        fields.push(("cf-aig-log-id", log_id));
        fields.push(("cf-aig-event-id", event_id));
        fields.push(("cf-aig-cache-status", "MISS"));
        let mut digits = itoa::Buffer::new();
        if step_header {
            let Ok(index) = facts.index.extract::<i64>() else {
                return Ok(None);
            };
            fields.push(("cf-aig-step", digits.format(index)));
        }
        for (name, value) in &extra_pairs {
            let (Ok(name), Ok(value)) = (super::text_of(name), super::text_of(value)) else {
                return Ok(None);
            };
            let (Some(name), Some(value)) = (ascii(name.as_bytes()), ascii(value.as_bytes())) else {
                return Ok(None);
            };
            fields.push((name, value));
        }
        let Some(reason) = super::text_of(reason).ok() else {
            return Ok(None);
        };
        let body = facts.body.as_bytes();
        let mut out = Vec::with_capacity(256 + body.len());
        let framing = BodyFraming::Length(body.len() as u64);
        if write_response_head(&mut out, status, reason, fields, framing, close).is_err() {
            return Ok(None);
        }
        out.extend_from_slice(body);
        Ok(Some(PyBytes::new(py, &out)))
    }
}

/// `bytes` as text when it is ASCII (what the head writer copies as it is; a line break it
/// refuses itself, and `message` then declines).
fn ascii(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}
