//! `StreamRelay`: upstream SSE / NDJSON / AWS event-stream reads framed as
//! `universal.stream` messages straight into a `WsCodec`'s output queue, one Python call per
//! network read (or, without a codec, only read for usage beside a pass-through).

use super::fastcall::{self, MethodDef};
use super::ws::WsCodec;
use crate::envelope::Envelope;
use crate::frame::OP_TEXT;
use crate::relay::{Framing, Relay, RelayOptions};
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use std::borrow::Cow;
use pyo3::types::{PyBytes, PyDict, PyList};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(is_json, m)?)?;
    m.add_function(wrap_pyfunction!(created_message, m)?)?;
    m.add_function(wrap_pyfunction!(cut_queries, m)?)?;
    m.add_function(wrap_pyfunction!(create_reader, m)?)?;
    m.add_function(wrap_pyfunction!(body_fields, m)?)?;
    m.add_function(wrap_pyfunction!(lone_model, m)?)?;
    m.add_function(wrap_pyfunction!(splice, m)?)?;
    m.add_function(wrap_pyfunction!(stream_and_model, m)?)?;
    m.add_function(wrap_pyfunction!(anthropic_text_chunks, m)?)?;
    m.add_class::<StreamRelay>()
}

/// For the run of Anthropic text-delta events from `events[start]`: `(bytes, next)`, one
/// OpenAI chunk per event (`head`, `{"content":`, the text literal as sent, `tail`) and the
/// index of the first event that is not a text delta (rust/src/compat.rs).
#[pyfunction]
fn anthropic_text_chunks<'py>(py: Python<'py>, events: &Bound<'py, PyList>, start: usize, head: &[u8], tail: &[u8]) -> PyResult<(Bound<'py, PyBytes>, usize)> {
    let mut out = Vec::new();
    let mut next = start;
    while next < events.len() {
        let item = events.get_item(next)?;
        let Ok(event) = item.downcast::<PyBytes>() else { break };
        if !crate::compat::push_text_chunk(event.as_bytes(), head, tail, &mut out) {
            break;
        }
        next += 1;
    }
    Ok((PyBytes::new(py, &out), next))
}

/// `body[:start] + insert + body[end:]` in one allocation (a pass-through body with its model
/// written over `lone_model`'s span). ValueError unless `start <= end <= len(body)`.
#[pyfunction]
pub(super) fn splice<'py>(py: Python<'py>, body: &[u8], start: usize, end: usize, insert: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    if start > end || end > body.len() {
        return Err(PyValueError::new_err(format!("splice: {start}..{end} is not within {} bytes", body.len())));
    }
    let (head, tail) = (&body[..start], &body[end..]);
    PyBytes::new_with(py, head.len() + insert.len() + tail.len(), |out| {
        out[..head.len()].copy_from_slice(head);
        out[head.len()..head.len() + insert.len()].copy_from_slice(insert);
        out[head.len() + insert.len()..].copy_from_slice(tail);
        Ok(())
    })
}

/// `("stream" is true, "model" string or None)` of a request body that is one decodable JSON
/// object, None for any other body (rust/src/universal.rs `body_fields`). Nothing is decoded
/// into Python objects.
#[pyfunction]
fn body_fields(body: &[u8]) -> Option<(bool, Option<String>)> {
    crate::universal::body_fields(body).map(|(stream, model)| (stream, model.map(|m| m.into_owned())))
}

/// `(stream, model, start, end)` of a request body that is one JSON object a decoder accepts
/// whose only top-level `"model"` is a string, `body[start:end]` its literal (quotes
/// included), and no top-level key is spelled with escapes; None for any other body (then it
/// is decoded whole). One pass (rust/src/json_fields.rs); nothing else is decoded.
#[pyfunction]
fn lone_model(body: &[u8]) -> Option<(bool, String, usize, usize)> {
    let found = crate::json_fields::read(body)?;
    if found.escaped_key {
        return None;
    }
    let (start, end) = found.model_span?;
    Some((found.stream, found.model?.into_owned(), start, end))
}

/// A pass-through request's (stream asked, model or None), as `_stream_and_model` reads them
/// (rust/src/universal.rs `stream_and_model`).
/// The body may be any bytes-like object.
#[pyfunction]
pub(crate) fn stream_and_model(endpoint: &str, query: &str, content_type: &str, body: &Bound<'_, PyAny>) -> PyResult<(bool, Option<String>)> {
    let body = super::bytes_like(body)?;
    let (stream, model) = crate::universal::stream_and_model(endpoint, query, content_type, &body);
    Ok((stream, model.map(Cow::into_owned)))
}

/// A Universal client message with each step's `query` object cut out (rust/src/universal.rs):
/// `(envelope, slots)`, the envelope the message with those queries replaced by `null`, one
/// slot per step, `(query bytes as sent, "stream" is true, "model" string or None)` or None.
/// None when nothing was cut, a query would take the message past `max_depth` levels, or the
/// message is unusual: parse the message as it is.
#[pyfunction]
fn cut_queries<'py>(py: Python<'py>, payload: &[u8], max_depth: usize) -> Option<(Bound<'py, PyBytes>, Vec<Option<(Bound<'py, PyBytes>, bool, Option<String>)>>)> {
    let (envelope, slots) = crate::universal::cut_queries(payload, max_depth)?;
    let slots = slots
        .into_iter()
        .map(|slot| slot.map(|c| (PyBytes::new(py, &payload[c.start..c.end]), c.stream, c.model.map(|m| m.into_owned()))))
        .collect();
    Some((PyBytes::new(py, &envelope), slots))
}

/// The usual `universal.create` read in one pass (crate::universal_create): `(eventId or None,
/// [step(provider, endpoint, headers, query bytes as sent, stream, model, None), ...])`, or
/// None: the message is for the Python parser (anything unusual, every mistake). A step streams
/// when its query says `"stream": true` or its endpoint asks (`:streamGenerateContent`); its
/// model is the query's `"model"` string, else the one its endpoint names
/// (crate::universal::model_in_endpoint): `cut_step_request`'s rules, so `step` (the pipeline's
/// StepRequest maker) gets what that function would give it.
fn parse_create<'py>(
    py: Python<'py>,
    payload: &[u8],
    max_depth: usize,
    max_event_id: usize,
    step: &Bound<'py, PyAny>,
) -> PyResult<Option<(Option<String>, Bound<'py, PyList>)>> {
    let Some(create) = crate::universal_create::parse_create(payload, max_depth, max_event_id) else {
        return Ok(None);
    };
    let steps = PyList::empty(py);
    for fast in create.steps {
        let headers = PyDict::new(py);
        for (name, value) in &fast.headers {
            headers.set_item(&**name, &**value)?;
        }
        let Some(query) = payload.get(fast.query.start..fast.query.end) else { return Ok(None) };
        let query = PyBytes::new(py, query);
        let endpoint = &*fast.endpoint;
        let stream = fast.query.stream || endpoint.contains(":streamGenerateContent");
        let model = fast.query.model.as_deref().or_else(|| crate::universal::model_in_endpoint(endpoint));
        steps.append(step.call1((&*fast.provider, endpoint, headers, query, stream, model, py.None()))?)?;
    }
    Ok(Some((create.event_id.map(Cow::into_owned), steps)))
}

/// `parse_create(payload, max_depth, max_event_id, step)` with the last three bound: the
/// receiver of the builtin `create_reader` hands out.
#[pyclass(module = "aigw._codec", frozen)]
struct CreateReader {
    max_depth: usize,
    max_event_id: usize,
    step: Py<PyAny>,
}

/// A builtin `fast_create(payload)` doing `parse_create(payload, max_depth, max_event_id,
/// step)`: one argument, no keyword parsing and no Python frame around it (the Universal
/// WebSocket reads every client message with it).
#[pyfunction]
fn create_reader<'py>(py: Python<'py>, max_depth: usize, max_event_id: usize, step: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    READ_CREATE.bind(&Bound::new(py, CreateReader { max_depth, max_event_id, step: step.unbind() })?)
}

static READ_CREATE: MethodDef<CreateReader> =
    MethodDef::one_argument(c"fast_create", c"The usual universal.create read whole: (eventId or None, steps), or None.", read_create);

/// `READ_CREATE`'s C function. Through `fastcall::answer`: the body drops no `Py<T>` (its
/// objects are `Bound`, its errors handed back).
unsafe extern "C" fn read_create(slf: *mut ffi::PyObject, payload: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this as READ_CREATE's C function with the GIL held, its receiver
    // a CreateReader (`fastcall::receiver`) and `payload` a live object for the call.
    unsafe {
        fastcall::answer(|py| {
            let reader = fastcall::receiver::<CreateReader>(py, slf);
            let reader = reader.get();
            let payload = Bound::from_borrowed_ptr(py, payload);
            let payload = payload.downcast::<PyBytes>()?;
            let read = parse_create(py, payload.as_bytes(), reader.max_depth, reader.max_event_id, reader.step.bind(py))?;
            Ok(read.into_pyobject(py)?.into_any())
        })
    }
}

/// The `universal.created` message for a whole answer (crate::envelope::write_created): the
/// bytes `created(universal_metadata(answer), body)` makes in Python, in one call.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn created_message<'py>(
    py: Python<'py>,
    cache_status: &str,
    event_id: &str,
    log_id: &str,
    step: i64,
    content_type: &str,
    status: i64,
    usage: Option<(Option<i64>, Option<i64>)>,
    body: &Bound<'py, PyBytes>,
) -> Bound<'py, PyBytes> {
    let mut out = Vec::new();
    let created = crate::envelope::Created { cache_status, event_id, log_id, step, content_type, status, usage };
    // The answer the usage reader just walked whole is not walked again (checked_json.rs).
    crate::envelope::write_created(&created, body.as_bytes(), super::checked_json::is_known(body), &mut out);
    PyBytes::new(py, &out)
}

/// Whether `data` is one JSON document in valid UTF-8 (the relay's splice test).
#[pyfunction]
fn is_json(data: &[u8]) -> bool {
    crate::envelope::is_json(data)
}

/// Largest event by default: 8 MiB for SSE/NDJSON; AWS's own limit (16 MiB payload, 128 KiB
/// headers) for an event stream.
fn default_max_event_size(framing: Framing) -> usize {
    match framing {
        Framing::EventStream => crate::eventstream::DEFAULT_MAX_MESSAGE_SIZE,
        Framing::Sse | Framing::Ndjson => 8 << 20,
    }
}

/// One streamed request's relay (see the stub).
#[pyclass(module = "aigw._codec")]
pub struct StreamRelay {
    inner: Relay,
}

impl StreamRelay {
    /// `feed(chunk, ws)`: one read's events framed onto `ws`'s output queue; how many.
    pub(super) fn feed_to(&mut self, chunk: &[u8], ws: &mut WsCodec) -> PyResult<usize> {
        let writer = &mut ws.writer;
        self.inner
            .feed(chunk, Some(&mut |msg: &[u8]| writer.send_message(OP_TEXT, msg)))
            .map_err(|e| PyValueError::new_err(e.0.into_owned()))
    }
}

#[pymethods]
impl StreamRelay {
    #[new]
    #[pyo3(signature = (event_id, framing = "sse", *, terminator = None, keep_first = 1, keep_last = 2,
                        max_event_size = None, collect = false, collect_limit = 10 << 20))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        event_id: &str,
        framing: &str,
        terminator: Option<Vec<u8>>,
        keep_first: usize,
        keep_last: usize,
        max_event_size: Option<usize>,
        collect: bool,
        collect_limit: usize,
    ) -> PyResult<Self> {
        let framing = Framing::from_name(framing).map_err(PyValueError::new_err)?;
        let max_event_size = max_event_size.unwrap_or_else(|| default_max_event_size(framing));
        let options = RelayOptions::new(framing, terminator, keep_first, keep_last, max_event_size, collect, collect_limit);
        Ok(StreamRelay { inner: Relay::new(Envelope::stream(event_id), options) })
    }

    /// Relay one network read into `ws`'s output queue (None: read the events only);
    /// returns the events it completed. ValueError on a malformed or oversized event or an
    /// event-stream exception (the relay is then unusable).
    #[pyo3(signature = (chunk, ws = None))]
    fn feed(&mut self, chunk: &[u8], ws: Option<PyRefMut<'_, WsCodec>>) -> PyResult<usize> {
        match ws {
            Some(mut ws) => self.feed_to(chunk, &mut ws),
            None => self.inner.feed(chunk, None).map_err(|e| PyValueError::new_err(e.0.into_owned())),
        }
    }

    /// The upstream ended: queue NDJSON's last unterminated line; True when an SSE event
    /// or an event-stream message was cut off mid-way (the stream was truncated).
    #[pyo3(signature = (ws = None))]
    fn finish(&mut self, ws: Option<PyRefMut<'_, WsCodec>>) -> bool {
        match ws {
            Some(mut ws) => {
                let writer = &mut ws.writer;
                self.inner.finish(Some(&mut |msg: &[u8]| writer.send_message(OP_TEXT, msg)))
            }
            None => self.inner.finish(None),
        }
    }

    /// Data of the first events (for usage extraction).
    #[getter]
    fn first<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.first().iter().map(|d| PyBytes::new(py, d)))
    }

    /// Data of the last events, oldest first.
    #[getter]
    fn last<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.last().map(|d| PyBytes::new(py, d)))
    }

    /// Events relayed (terminators excluded).
    #[getter]
    fn events(&self) -> u64 {
        self.inner.events()
    }

    /// Whether the terminator (e.g. `[DONE]`) arrived.
    #[getter]
    fn saw_terminator(&self) -> bool {
        self.inner.saw_terminator()
    }

    /// The raw upstream body collected for the log (empty unless `collect`).
    #[getter]
    fn collected<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.collected())
    }
}
