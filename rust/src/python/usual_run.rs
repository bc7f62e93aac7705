//! The start of the pipeline's usual request in native code: its log record made and the
//! request's awaitable returned (`UsualMain.start`'s), as `run` in aigw/pipeline.py returns
//! `_Run.main`'s coroutine.
//!
//! `run` stays the specification and the path for every other request: this returns None,
//! having changed nothing, unless the request names no option (request-level headers none or
//! a door's checked ones; the first step's headers none or a door's; no `cf-aig-*` option
//! among them to read: metadata, logging flags) and, when its body is logged, its content
//! type's media type is one the pipeline's memos already know. Objects are read and written
//! in their `__slots__` (`slot_layout::Layout`).

use super::fastcall::{self, FixedArity, MethodDef};
use super::slot_layout::{Classes, Layout};
use super::usual_main::UsualMain;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PySequence, PyString, PyType};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<UsualRun>()?;
    Ok(())
}

const POLICY_SLOTS: &[&str] = &["name", "collect_logs"];
const GW_NAME: usize = 0;
const GW_COLLECT_LOGS: usize = 1;

const REQUEST_SLOTS: &[&str] = &["request_type", "event_id", "steps", "headers", "log_id"];
const Q_REQUEST_TYPE: usize = 0;
const Q_EVENT_ID: usize = 1;
const Q_STEPS: usize = 2;
const Q_HEADERS: usize = 3;
const Q_LOG_ID: usize = 4;

const STEP_SLOTS: &[&str] = &["provider", "endpoint", "headers", "body", "stream", "model"];
const ST_PROVIDER: usize = 0;
const ST_ENDPOINT: usize = 1;
const ST_HEADERS: usize = 2;
const ST_BODY: usize = 3;
const ST_STREAM: usize = 4;
const ST_MODEL: usize = 5;

const RECORD_SLOTS: &[&str] = &["stream", "request_content_type", "request_body", "request_body_size"];
const L_STREAM: usize = 0;
const L_REQUEST_CONTENT_TYPE: usize = 1;
const L_REQUEST_BODY: usize = 2;
const L_REQUEST_BODY_SIZE: usize = 3;

/// The classes whose slots the function uses: (GatewayPolicy, GatewayRequest, StepRequest,
/// LogRecord).
const CLASSES: usize = 4;

/// The pipeline's usual start (see the module docs), made once by aigw/pipeline.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct UsualRun {
    policy: Layout,
    request: Layout,
    step: Layout,
    record: Layout,
    checked_headers: Py<PyType>,
    /// The pipeline's memos: content type → media type, media type → logged as text.
    media_types: Py<PyDict>,
    textual: Py<PyDict>,
    /// `time.monotonic`, `time.time`, `new_log_id`, the LogRecord maker, `_new_run`.
    monotonic: Py<PyAny>,
    wall_time: Py<PyAny>,
    new_log_id: Py<PyAny>,
    make_record: Py<PyAny>,
    new_run: Py<PyAny>,
    /// What runs the request from its plan on (`UsualMain.start`).
    usual_main: Py<UsualMain>,
}

#[pymethods]
impl UsualRun {
    /// `classes`: (GatewayPolicy, GatewayRequest, StepRequest, LogRecord), their slots
    /// checked (ValueError); the rest as named on the struct.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        classes: Classes<'_, CLASSES>,
        checked_headers: Bound<'_, PyType>,
        media_types: Bound<'_, PyDict>,
        textual: Bound<'_, PyDict>,
        monotonic: Bound<'_, PyAny>,
        wall_time: Bound<'_, PyAny>,
        new_log_id: Bound<'_, PyAny>,
        make_record: Bound<'_, PyAny>,
        new_run: Bound<'_, PyAny>,
        usual_main: Bound<'_, UsualMain>,
    ) -> PyResult<Self> {
        let [policy, request, step, record] = classes;
        Ok(UsualRun {
            policy: Layout::new(&policy, POLICY_SLOTS)?,
            request: Layout::new(&request, REQUEST_SLOTS)?,
            step: Layout::new(&step, STEP_SLOTS)?,
            record: Layout::new(&record, RECORD_SLOTS)?,
            checked_headers: checked_headers.unbind(),
            media_types: media_types.unbind(),
            textual: textual.unbind(),
            monotonic: monotonic.unbind(),
            wall_time: wall_time.unbind(),
            new_log_id: new_log_id.unbind(),
            make_record: make_record.unbind(),
            new_run: new_run.unbind(),
            usual_main: usual_main.unbind(),
        })
    }

    /// `start(rt, gw, req, sink)` as a builtin function: the request's awaitable as `run`
    /// returns it for the usual request, else None.
    fn function<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        START.bind(slf)
    }
}

static START: MethodDef<UsualRun> = MethodDef::fastcall(
    c"start",
    c"start(rt, gw, req, sink): run's awaitable for the usual request, else None.",
    fastcall::fixed_arity::<UsualRun, 4>,
);

impl FixedArity<4> for UsualRun {
    const FUNCTION: &'static str = "start";

    fn call<'py>(&self, py: Python<'py>, args: [Bound<'py, PyAny>; 4]) -> PyResult<Bound<'py, PyAny>> {
        let [rt, gw, req, sink] = &args;
        Ok(self
            .start(rt, gw, req, sink)?
            .unwrap_or_else(|| py.None().into_bound(py)))
    }
}

impl UsualRun {
    /// Whether `headers`, a first step's, hold no option `run` reads: empty, or a door's
    /// checked headers (which never do: the door put the request's options in its own
    /// headers; see CheckedHeaders).
    fn is_plain<'py>(&self, headers: &Bound<'py, PyAny>) -> PyResult<bool> {
        if !headers.is_truthy()? {
            return Ok(true);
        }
        Ok(headers.get_type().is(self.checked_headers.bind(headers.py())))
    }

    fn start<'py>(
        &self,
        rt: &Bound<'py, PyAny>,
        gw: &Bound<'py, PyAny>,
        req: &Bound<'py, PyAny>,
        sink: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = rt.py();
        if !(self.policy.is(gw) && self.request.is(req)) {
            return Ok(None);
        }
        // SAFETY (every get/set below): each object was checked to be exactly its class.
        let q = |i| unsafe { self.request.get(req, i) };
        let (Some(request_headers), Some(steps), Some(log_id), Some(request_type), Some(event_id)) =
            (q(Q_HEADERS), q(Q_STEPS), q(Q_LOG_ID), q(Q_REQUEST_TYPE), q(Q_EVENT_ID))
        else {
            return Ok(None);
        };
        // Request-level headers: a door's (the request's options, already lowercase) with no
        // option in them, or none. Anything else (a WebSocket client's, options to read) is run's.
        let headers = if request_headers.get_type().is(self.checked_headers.bind(py)) {
            if request_headers.is_truthy()? {
                return Ok(None); // options: metadata, logging flags
            }
            request_headers
        } else if !request_headers.is_truthy()? {
            PyDict::new(py).into_any()
        } else {
            return Ok(None);
        };
        let Ok(steps) = steps.downcast_into::<PySequence>() else {
            return Ok(None);
        };
        if steps.len()? == 0 {
            return Ok(None);
        }
        let first = steps.get_item(0)?;
        if !self.step.is(&first) {
            return Ok(None);
        }
        let s = |i| unsafe { self.step.get(&first, i) };
        let (Some(provider), Some(endpoint), Some(step_headers), Some(body), Some(stream), Some(model)) = (
            s(ST_PROVIDER),
            s(ST_ENDPOINT),
            s(ST_HEADERS),
            s(ST_BODY),
            s(ST_STREAM),
            s(ST_MODEL),
        ) else {
            return Ok(None);
        };
        if !self.is_plain(&step_headers)? {
            return Ok(None); // a client's step headers may carry options (_gateway_options)
        }
        let g = |i| unsafe { self.policy.get(gw, i) };
        let (Some(name), Some(collect)) = (g(GW_NAME), g(GW_COLLECT_LOGS)) else {
            return Ok(None);
        };
        // The body logged: its media type and whether it is text, when the memos know them.
        let logged = if collect.is_truthy()? {
            let content_type = match step_headers.downcast::<PyDict>() {
                Ok(d) => match d.get_item(intern!(py, "content-type"))? {
                    Some(v) => v,
                    None => PyString::new(py, "").into_any(),
                },
                Err(_) => PyString::new(py, "").into_any(), // an empty mapping of another kind
            };
            let Some(media) = self.media_types.bind(py).get_item(&content_type)? else {
                return Ok(None);
            };
            let media = if media.is_truthy()? {
                media
            } else {
                intern!(py, "application/json").clone().into_any()
            };
            let Some(textual) = self.textual.bind(py).get_item(&media)? else {
                return Ok(None);
            };
            let Ok(body) = body.downcast_into::<PyBytes>() else {
                return Ok(None);
            };
            Some((media, textual.is_truthy()?, body))
        } else {
            None
        };
        // The usual request from here on.
        let started = self.monotonic.bind(py).call0()?;
        let log_id = if log_id.is_truthy()? {
            log_id
        } else {
            self.new_log_id.bind(py).call0()?
        };
        let created = self.wall_time.bind(py).call0()?;
        let record = self.make_record.bind(py).call1((
            log_id,
            created,
            name,
            request_type,
            event_id,
            provider,
            model,
            endpoint,
        ))?;
        if !self.record.is(&record) {
            return Err(PyTypeError::new_err("the LogRecord maker made another class"));
        }
        let set = |i, v: Bound<'py, PyAny>| unsafe { self.record.set(&record, i, v) };
        set(L_STREAM, stream.clone());
        if let Some((media, textual, body)) = logged {
            set(L_REQUEST_CONTENT_TYPE, media);
            if textual {
                set(L_REQUEST_BODY, body.into_any());
            } else {
                set(L_REQUEST_BODY_SIZE, body.as_bytes().len().into_pyobject(py)?.into_any());
            }
        }
        // log_options are `headers` (no option among them), collect and collect_payload the
        // gateway's setting.
        let run = self
            .new_run
            .bind(py)
            .call1((rt, gw, req, &headers, sink, record, &collect))?;
        UsualMain::start(self.usual_main.bind(py), &run, &headers, &collect, &started, &stream).map(Some)
    }
}
