//! The /compat chat doors' usual request in native code, for the gateway's door
//! (usual_door.rs): a plain `provider/model` whose provider speaks the front door's own schema
//! (OpenAI chat to the OpenAI family, Messages to Anthropic), the body sent on as it came with
//! its lone top-level `"model"` string replaced, as `CompatDoors._handle` and `_answer`
//! (aigw/api/compat_routes.py) plan it.
//!
//! The Python stays the specification and the path for every other request: `plan` answers
//! what it read (for `_handle`, so the body is not read twice), having changed nothing, unless
//! the doors keep no record list, the body reads in one pass (`_codec.lone_model`) and its
//! `"model"` is a name the chat door has already resolved (`CompatDoors._plains`, read without
//! computing a missing name) to a `Passthrough` with a model to splice in. The doors and the
//! Passthrough are read in their `__slots__`.

use super::relay::splice;
use super::slot_layout::{Classes, Layout};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyString, PyTuple};

const DOORS_SLOTS: &[&str] = &["runtime", "_plains", "on_record"];
const C_RUNTIME: usize = 0;
const C_PLAINS: usize = 1;
const C_ON_RECORD: usize = 2;

const PASSTHROUGH_SLOTS: &[&str] = &["provider", "model", "calls", "spliced_model", "answering"];
const P_PROVIDER: usize = 0;
const P_MODEL: usize = 1;
const P_CALLS: usize = 2;
const P_SPLICED_MODEL: usize = 3;
const P_ANSWERING: usize = 4;

/// The classes whose slots it reads: (CompatDoors, Passthrough).
pub(super) const CLASSES: usize = 2;

/// What the gateway's door needs of the /compat doors.
pub(super) struct CompatPart {
    doors: Layout,
    passthrough: Layout,
    /// aigw/api/compat_routes.py's globals, for `run` and `_passthrough_sink`.
    globals: Py<PyDict>,
}

/// What `plan` made of a request.
pub(super) enum Plan<'py> {
    /// The usual pass-through.
    Passthrough(Planned<'py>),
    /// Another request whose body was read: `_codec.lone_model(body)`'s answer, for
    /// `_handle(front, request, ctx, lone)` (the body is not read twice).
    Read(Bound<'py, PyAny>),
    /// Another request, its body not read.
    Unread,
}

/// One usual pass-through request, planned: the step's parts and what answers it.
pub(super) struct Planned<'py> {
    pub provider: Bound<'py, PyAny>,
    pub model: Bound<'py, PyAny>,
    pub endpoint: Bound<'py, PyAny>,
    pub query: Bound<'py, PyAny>,
    pub body: Bound<'py, PyBytes>,
    pub stream: bool,
    /// The `cf-aig-provider` / `cf-aig-model` fields of the answer.
    pub answering: Bound<'py, PyAny>,
    pub runtime: Bound<'py, PyAny>,
    /// What `_codec.lone_model(body)` reads, for `_handle` if the request is declined after all.
    pub read: LoneModel<'py>,
}

/// A body's lone top-level `"model"` string and `"stream"`, as `_codec.lone_model` reads them.
pub(super) struct LoneModel<'py> {
    stream: bool,
    name: Bound<'py, PyString>,
    start: usize,
    end: usize,
}

impl<'py> LoneModel<'py> {
    /// `_codec.lone_model(body)`'s answer: `(stream, name, start, end)`. Made only for a
    /// request handed to `_handle`, not for the usual one.
    pub(super) fn answer(&self) -> PyResult<Bound<'py, PyAny>> {
        let py = self.name.py();
        let stream = PyBool::new(py, self.stream).to_owned().into_any();
        let (start, end) = (
            self.start.into_pyobject(py)?.into_any(),
            self.end.into_pyobject(py)?.into_any(),
        );
        Ok(PyTuple::new(py, [stream, self.name.clone().into_any(), start, end])?.into_any())
    }
}

/// `run` and the sink maker named `maker` from a doors module's globals (`globals`), read when
/// a producer is called, as the Python producers read them (tests swap `run`). NameError when
/// either is missing.
pub(super) fn run_and_maker<'py>(
    globals: &Bound<'py, PyDict>,
    maker: &Bound<'py, PyString>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let py = globals.py();
    match (globals.get_item(intern!(py, "run"))?, globals.get_item(maker)?) {
        (Some(run), Some(make_sink)) => Ok((run, make_sink)),
        _ => Err(pyo3::exceptions::PyNameError::new_err(format!(
            "the doors' module has no run or {maker}"
        ))),
    }
}

impl CompatPart {
    /// `classes`: (CompatDoors, Passthrough), their slots checked (ValueError); `globals`:
    /// compat_routes' module globals.
    pub(super) fn new(classes: Classes<'_, CLASSES>, globals: Bound<'_, PyDict>) -> PyResult<Self> {
        let [doors, passthrough] = classes;
        Ok(CompatPart {
            doors: Layout::new(&doors, DOORS_SLOTS)?,
            passthrough: Layout::new(&passthrough, PASSTHROUGH_SLOTS)?,
            globals: globals.unbind(),
        })
    }

    /// Whether `doors` is exactly a CompatDoors (what `plan` reads).
    pub(super) fn reads(&self, doors: &Bound<'_, PyAny>) -> bool {
        self.doors.is(doors)
    }

    /// `_handle`'s plain pass-through on chat door `front` ("openai" or "anthropic") of a
    /// request whose body is `body`: its step's parts, or what was read of any other request.
    /// `doors` must be exactly a CompatDoors (`reads`).
    pub(super) fn plan<'py>(
        &self,
        doors: &Bound<'py, PyAny>,
        front: &Bound<'py, PyAny>,
        body: &Bound<'py, PyAny>,
    ) -> PyResult<Plan<'py>> {
        let py = doors.py();
        // SAFETY: the caller checked `doors` with `reads`.
        let d = |i| unsafe { self.doors.get(doors, i) };
        let (Some(runtime), Some(plains), Some(on_record)) = (d(C_RUNTIME), d(C_PLAINS), d(C_ON_RECORD)) else {
            return Ok(Plan::Unread);
        };
        if !on_record.is_none() {
            return Ok(Plan::Unread); // `_answer`'s producer that hands the record on
        }
        let Ok(sent) = body.downcast::<PyBytes>() else {
            return Ok(Plan::Unread);
        };
        // `_codec.lone_model(sent)`
        let none = || Ok(Plan::Read(py.None().into_bound(py)));
        let Some(found) = crate::json_fields::read(sent.as_bytes()) else {
            return none();
        };
        let (Some((start, end)), Some(name), false) = (found.model_span, found.model, found.escaped_key) else {
            return none();
        };
        let read = LoneModel {
            stream: found.stream,
            name: PyString::new(py, &name),
            start,
            end,
        };
        // `self._plains[front][name]`, a name resolved before (a Memo is a dict: its
        // `__missing__`, which resolves a new name, is not called here).
        let resolved = |plains: Bound<'py, PyAny>| -> PyResult<Option<Bound<'py, PyAny>>> {
            let Ok(plains) = plains.downcast_into::<PyDict>() else {
                return Ok(None);
            };
            let Some(memo) = plains.get_item(front)? else {
                return Ok(None);
            };
            let Ok(memo) = memo.downcast_into::<PyDict>() else {
                return Ok(None);
            };
            memo.get_item(&read.name)
        };
        let Some(plain) = resolved(plains)? else {
            return Ok(Plan::Read(read.answer()?));
        };
        if !self.passthrough.is(&plain) {
            return Ok(Plan::Read(read.answer()?)); // False: a name `_plan` answers
        }
        // SAFETY: `plain` was just checked to be exactly a Passthrough.
        let p = |i| unsafe { self.passthrough.get(&plain, i) };
        let (Some(provider), Some(model), Some(calls), Some(spliced), Some(answering)) = (
            p(P_PROVIDER),
            p(P_MODEL),
            p(P_CALLS),
            p(P_SPLICED_MODEL),
            p(P_ANSWERING),
        ) else {
            return Ok(Plan::Read(read.answer()?));
        };
        let Ok(spliced) = spliced.downcast_into::<PyBytes>() else {
            return Ok(Plan::Read(read.answer()?)); // None: the target changes more than the model's value
        };
        // `endpoint, query = plain.calls[stream]`
        let call = calls
            .downcast_into_exact::<PyTuple>()
            .ok()
            .and_then(|calls| calls.get_item(usize::from(found.stream)).ok())
            .and_then(|call| call.downcast_into_exact::<PyTuple>().ok())
            .filter(|call| call.len() == 2);
        let Some(call) = call else {
            return Ok(Plan::Read(read.answer()?));
        };
        let (endpoint, query) = (call.get_item(0)?, call.get_item(1)?);
        let body = splice(py, sent.as_bytes(), start, end, spliced.as_bytes())?;
        Ok(Plan::Passthrough(Planned {
            provider,
            model,
            endpoint,
            query,
            body,
            stream: found.stream,
            answering,
            runtime,
            read,
        }))
    }

    /// `run` and `_passthrough_sink(response, front, answering)`, read from compat_routes'
    /// globals when called (as `_answer`'s lambda reads them).
    pub(super) fn run_and_sink<'py>(
        &self,
        response: &Bound<'py, PyAny>,
        front: &Bound<'py, PyAny>,
        answering: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let py = response.py();
        let (run, make_sink) = run_and_maker(self.globals.bind(py), intern!(py, "_passthrough_sink"))?;
        let sink = make_sink.call1((response, front, answering))?;
        Ok((run, sink))
    }
}
