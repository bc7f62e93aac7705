//! The pipeline's usual answer in native code: a successful, non-streamed JSON answer from the
//! gateway's own upstream client, its body all here, read, logged and delivered through the
//! request's sink, as `_Run._whole_answer` then `_Run._deliver` do in aigw/pipeline.py.
//!
//! Those stay the specification and the path for every other answer: the function first
//! checks that every condition of the usual case holds (exact classes, a status below 400, a
//! media type and framing the pipeline's memos already know as JSON, a body read_now would
//! hand over whole, a provider that keeps HttpProvider's framing) and otherwise returns False
//! having changed nothing. The usage is read natively for a provider that keeps HttpProvider's
//! reader, else by the provider's own `usage_from_body` (and `usage_from_headers`), called as
//! `_deliver` calls them. The objects are read and written in their `__slots__`
//! (`slot_layout::Layout`).

use super::fastcall::{self, FixedArity, MethodDef};
use super::http_whole::{HttpWholeDeliver, WholeFacts};
use super::slot_layout::{is_false, Classes, Layout};
use super::upstream::openai_usage;
use super::ws_whole::{CreatedFacts, WsWholeDeliver};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<WholeAnswer>()?;
    Ok(())
}

const RUN_SLOTS: &[&str] = &["req", "sink", "record", "collect"];
const R_REQ: usize = 0;
const R_SINK: usize = 1;
const R_RECORD: usize = 2;
const R_COLLECT: usize = 3;

const PLAN_SLOTS: &[&str] = &["index", "provider", "overrides"];
const PL_INDEX: usize = 0;
const PL_PROVIDER: usize = 1;
const PL_OVERRIDES: usize = 2;

const OVERRIDES_SLOTS: &[&str] = &["framing", "usage_from_body", "usage_from_headers"];
const O_FRAMING: usize = 0;
const O_USAGE_FROM_BODY: usize = 1;
const O_USAGE_FROM_HEADERS: usize = 2;

const RESPONSE_SLOTS: &[&str] = &[
    "status",
    "headers",
    "content_type",
    "_chunks",
    "_size",
    "_max_body",
    "_eof",
    "_exc",
    "_decoder",
    "_paused",
    "_finished",
];
const S_STATUS: usize = 0;
const S_HEADERS: usize = 1;
const S_CONTENT_TYPE: usize = 2;
const S_CHUNKS: usize = 3;
const S_SIZE: usize = 4;
const S_MAX_BODY: usize = 5;
const S_EOF: usize = 6;
const S_EXC: usize = 7;
const S_DECODER: usize = 8;
const S_PAUSED: usize = 9;
const S_FINISHED: usize = 10;

const ATTEMPT_SLOTS: &[&str] = &["status"];
const A_STATUS: usize = 0;

const REQUEST_SLOTS: &[&str] = &["event_id"];
const Q_EVENT_ID: usize = 0;

const RECORD_SLOTS: &[&str] = &[
    "log_id",
    "status",
    "success",
    "error",
    "response_content_type",
    "tokens_in",
    "tokens_out",
    "response_body",
    "response_body_size",
];
const L_LOG_ID: usize = 0;
const L_STATUS: usize = 1;
const L_SUCCESS: usize = 2;
const L_ERROR: usize = 3;
const L_RESPONSE_CONTENT_TYPE: usize = 4;
const L_TOKENS_IN: usize = 5;
const L_TOKENS_OUT: usize = 6;
const L_RESPONSE_BODY: usize = 7;
const L_RESPONSE_BODY_SIZE: usize = 8;

/// The classes whose slots the function uses: (_Run, StepPlan, Overrides, UpstreamResponse,
/// Attempt, GatewayRequest, LogRecord).
const CLASSES: usize = 7;

/// The pipeline's usual whole answer (see the module docs), made once by aigw/pipeline.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct WholeAnswer {
    run: Layout,
    plan: Layout,
    overrides: Layout,
    response: Layout,
    attempt: Layout,
    request: Layout,
    record: Layout,
    /// The pipeline's memos: content type → media type, media type → framing, media type →
    /// whether its bodies are logged as text.
    media_types: Py<PyDict>,
    framings: Py<PyDict>,
    textual: Py<PyDict>,
    /// `Framing.JSON`.
    json: Py<PyAny>,
    make_answer: Py<PyAny>,
    make_usage: Py<PyAny>,
    /// Sinks' own deliveries of the usual answer, natively: sink class → `HttpWholeDeliver`
    /// or `WsWholeDeliver` (aigw/api/http_sink.py and universal_ws.py add them at import).
    natives: Py<PyDict>,
}

#[pymethods]
impl WholeAnswer {
    /// `classes`: (_Run, StepPlan, Overrides, UpstreamResponse, Attempt, GatewayRequest,
    /// LogRecord), whose slots the function uses (ValueError when one is missing);
    /// `media_types`, `framings`, `textual`: the pipeline's memos (dicts); `json`:
    /// `Framing.JSON`; `make_answer`, `make_usage`: the makers of Answer and Usage.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        classes: Classes<'_, CLASSES>,
        media_types: Bound<'_, PyDict>,
        framings: Bound<'_, PyDict>,
        textual: Bound<'_, PyDict>,
        json: Bound<'_, PyAny>,
        make_answer: Bound<'_, PyAny>,
        make_usage: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let [run, plan, overrides, response, attempt, request, record] = classes;
        Ok(WholeAnswer {
            run: Layout::new(&run, RUN_SLOTS)?,
            plan: Layout::new(&plan, PLAN_SLOTS)?,
            overrides: Layout::new(&overrides, OVERRIDES_SLOTS)?,
            response: Layout::new(&response, RESPONSE_SLOTS)?,
            attempt: Layout::new(&attempt, ATTEMPT_SLOTS)?,
            request: Layout::new(&request, REQUEST_SLOTS)?,
            record: Layout::new(&record, RECORD_SLOTS)?,
            media_types: media_types.unbind(),
            framings: framings.unbind(),
            textual: textual.unbind(),
            json: json.unbind(),
            make_answer: make_answer.unbind(),
            make_usage: make_usage.unbind(),
            natives: PyDict::new(run.py()).unbind(),
        })
    }

    /// Delivers the usual answer to a sink of exactly `deliverer`'s sink class through it
    /// (an `HttpWholeDeliver`, with no `Answer` made, or a `WsWholeDeliver`) instead of the
    /// sink's `deliver`. False when that class has one already (the first stays: a module
    /// imported again makes sinks of a new class). TypeError for another kind of object.
    fn deliver_natively(&self, deliverer: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = deliverer.py();
        let class = if let Ok(http) = deliverer.downcast::<HttpWholeDeliver>() {
            http.get().sink_class(py)
        } else if let Ok(ws) = deliverer.downcast::<WsWholeDeliver>() {
            ws.get().sink_class(py)
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "deliver_natively takes an HttpWholeDeliver or a WsWholeDeliver",
            ));
        };
        let natives = self.natives.bind(py);
        if natives.contains(&class)? {
            return Ok(false);
        }
        natives.set_item(class, deliverer)?;
        Ok(true)
    }

    /// `deliver(run, plan, response, attempt)` as a builtin function: True when it read,
    /// logged and delivered the usual whole answer as `_whole_answer` and `_deliver` would
    /// (the attempt's status, the record's outcome, usage and body, the sink's `deliver`);
    /// False, having changed nothing, for any other answer.
    fn function<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        DELIVER.bind(slf)
    }
}

static DELIVER: MethodDef<WholeAnswer> = MethodDef::fastcall(
    c"deliver",
    c"deliver(run, plan, response, attempt): True when the usual whole answer was delivered.",
    fastcall::fixed_arity::<WholeAnswer, 4>,
);

impl FixedArity<4> for WholeAnswer {
    const FUNCTION: &'static str = "deliver";

    fn call<'py>(&self, py: Python<'py>, args: [Bound<'py, PyAny>; 4]) -> PyResult<Bound<'py, PyAny>> {
        let [run, plan, response, attempt] = &args;
        let delivered = self.deliver(run, plan, response, attempt)?;
        Ok(PyBool::new(py, delivered).to_owned().into_any())
    }
}

impl WholeAnswer {
    pub(crate) fn deliver(
        &self,
        run: &Bound<'_, PyAny>,
        plan: &Bound<'_, PyAny>,
        response: &Bound<'_, PyAny>,
        attempt: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let py = run.py();
        if !(self.run.is(run) && self.plan.is(plan) && self.response.is(response) && self.attempt.is(attempt)) {
            return Ok(false);
        }
        // SAFETY (every get/set below): each object was checked to be exactly its class.
        let s = |i| unsafe { self.response.get(response, i) };
        let Some(status) = s(S_STATUS) else { return Ok(false) };
        match status.extract::<i64>() {
            Ok(n) if n < 400 => {}
            _ => return Ok(false), // an error answer (or an odd status): `_error_answer`
        }
        // _MEDIA_TYPES[resp.content_type] and _FRAMINGS[media], when the memos know them.
        let Some(content_type) = s(S_CONTENT_TYPE) else {
            return Ok(false);
        };
        let Some(media) = self.media_types.bind(py).get_item(&content_type)? else {
            return Ok(false);
        };
        let Some(overrides) = (unsafe { self.plan.get(plan, PL_OVERRIDES) }) else {
            return Ok(false);
        };
        if !self.overrides.is(&overrides) {
            return Ok(false);
        }
        let o = |i| unsafe { self.overrides.get(&overrides, i) };
        if !is_false(&o(O_FRAMING)) {
            return Ok(false); // the provider's own framing: Python asks it
        }
        let (own_usage_reader, usage_in_headers) =
            (!is_false(&o(O_USAGE_FROM_BODY)), !is_false(&o(O_USAGE_FROM_HEADERS)));
        match self.framings.bind(py).get_item(&media)? {
            Some(framing) if framing.is(self.json.bind(py)) => {}
            _ => return Ok(false), // a stream, raw bytes, or a type the memo has not met
        }
        // UpstreamResponse.read_now's usual case: the body all here, plain, one piece.
        let yes = PyBool::new(py, true);
        let (Some(eof), Some(exc), Some(decoder), Some(finished), Some(paused)) =
            (s(S_EOF), s(S_EXC), s(S_DECODER), s(S_FINISHED), s(S_PAUSED))
        else {
            return Ok(false);
        };
        if !eof.is(yes) || !exc.is_none() || !decoder.is_none() || !finished.is(PyBool::new(py, false)) {
            return Ok(false);
        }
        let (Some(size), Some(max_body), Some(chunks)) = (s(S_SIZE), s(S_MAX_BODY), s(S_CHUNKS)) else {
            return Ok(false);
        };
        if size.extract::<i64>()? > max_body.extract::<i64>()? {
            return Ok(false);
        }
        let Ok(chunks) = chunks.downcast_into::<PyList>() else {
            return Ok(false);
        };
        let body = match chunks.len() {
            0 => PyBytes::new(py, b""),
            1 if !paused.is(yes) => match chunks.get_item(0)?.downcast_into_exact::<PyBytes>() {
                Ok(body) => body,
                Err(_) => return Ok(false),
            },
            _ => return Ok(false),
        };
        let r = |i| unsafe { self.run.get(run, i) };
        let (Some(req), Some(sink), Some(record), Some(collect)) = (r(R_REQ), r(R_SINK), r(R_RECORD), r(R_COLLECT))
        else {
            return Ok(false);
        };
        if !(self.request.is(&req) && self.record.is(&record)) {
            return Ok(false);
        }
        let (Some(event_id), Some(log_id), Some(index), Some(headers), Some(provider)) = (
            unsafe { self.request.get(&req, Q_EVENT_ID) },
            unsafe { self.record.get(&record, L_LOG_ID) },
            unsafe { self.plan.get(plan, PL_INDEX) },
            s(S_HEADERS),
            unsafe { self.plan.get(plan, PL_PROVIDER) },
        ) else {
            return Ok(false);
        };
        let collect = collect.is_truthy()?;
        // Whether the body is kept as text matters only when it is logged: the memo learns a
        // media type only where Python logs a body, so a gateway without logs never fills it.
        let textual = if collect {
            match self.textual.bind(py).get_item(&media)? {
                Some(textual) => textual.is_truthy()?,
                None => return Ok(false),
            }
        } else {
            false
        };
        // The usual case from here on. attempt.status = resp.status (_whole_answer); read_now.
        unsafe { self.attempt.set(attempt, A_STATUS, status.clone()) };
        let set_response = |i, v: Bound<'_, PyAny>| unsafe { self.response.set(response, i, v) };
        set_response(S_FINISHED, yes.to_owned().into_any());
        if !chunks.is_empty() {
            set_response(S_SIZE, 0i64.into_pyobject(py)?.into_any());
            chunks.del_item(0)?;
        }
        // _deliver: the usage HttpProvider reads (natively), or the provider's own reader's;
        // a provider with usage_from_headers is asked when the body has none. Their errors
        // are raised from here, as from _deliver.
        let none = || py.None().into_bound(py);
        let usage = if !own_usage_reader {
            match openai_usage(&body) {
                Some((tokens_in, tokens_out)) => self.make_usage.bind(py).call1((tokens_in, tokens_out))?,
                None => none(),
            }
        } else {
            provider.call_method1(intern!(py, "usage_from_body"), (&body,))?
        };
        let usage = if usage.is_none() && usage_in_headers {
            provider.call_method1(intern!(py, "usage_from_headers"), (&headers,))?
        } else {
            usage
        };
        let set_record = |i, v: Bound<'_, PyAny>| unsafe { self.record.set(&record, i, v) };
        set_record(L_STATUS, status.clone());
        set_record(L_SUCCESS, yes.to_owned().into_any());
        set_record(L_ERROR, none());
        set_record(L_RESPONSE_CONTENT_TYPE, media.clone());
        let (tokens_in, tokens_out) = if usage.is_none() {
            (none(), none())
        } else {
            (
                usage.getattr(intern!(py, "tokens_in"))?,
                usage.getattr(intern!(py, "tokens_out"))?,
            )
        };
        set_record(L_TOKENS_IN, tokens_in.clone());
        set_record(L_TOKENS_OUT, tokens_out.clone());
        if collect {
            if textual {
                set_record(L_RESPONSE_BODY, body.clone().into_any());
                set_record(L_RESPONSE_BODY_SIZE, none());
            } else {
                let size = body.as_bytes().len().into_pyobject(py)?.into_any();
                set_record(L_RESPONSE_BODY, none());
                set_record(L_RESPONSE_BODY_SIZE, size);
            }
        }
        // The sink's own delivery, natively, when its class registered one (deliver_natively).
        let native = self.natives.bind(py).get_item(sink.get_type())?;
        if let Some(http) = native.as_ref().and_then(|d| d.downcast::<HttpWholeDeliver>().ok()) {
            let facts = WholeFacts {
                status: &status,
                fields: &headers,
                media: &media,
                log_id: &log_id,
                event_id: &event_id,
                index: &index,
                body: &body,
            };
            if http.get().deliver(&sink, &facts)? {
                return Ok(true);
            }
        }
        let answer = self.make_answer.bind(py).call1((
            &event_id,
            &log_id,
            &index,
            &status,
            &media,
            intern!(py, "MISS"),
            &usage,
            headers,
        ))?;
        if let Some(ws) = native.as_ref().and_then(|d| d.downcast::<WsWholeDeliver>().ok()) {
            let facts = CreatedFacts {
                event_id: &event_id,
                log_id: &log_id,
                index: &index,
                media: &media,
                status: &status,
                usage: (!usage.is_none()).then_some((&tokens_in, &tokens_out)),
                body: &body,
            };
            if ws.get().deliver(&sink, &answer, &facts)? {
                return Ok(true);
            }
        }
        sink.call_method1(intern!(py, "deliver"), (answer, body))?;
        Ok(true)
    }
}
