//! The Universal WebSocket session's usual start in native code: a `universal.create` the
//! session takes (accepting, a new eventId, room among its requests in flight, no `compat`
//! step) made into its GatewayRequest, sink and Task, as `UniversalSession._start` does in
//! aigw/api/universal_ws.py; and the Task's done callback (`_ran`) for a request that ended
//! with its record.
//!
//! `_start` stays the specification and the path for every other message: `start` returns
//! False, having changed nothing, unless the session is exactly a UniversalSession whose state
//! makes the start the usual one and its loop has no task factory. The callback hands a
//! cancelled or failed task to `_ran` itself. The session is read in its `__slots__`
//! (`slot_layout::Layout`); `run` and `_Task` are read from the module's globals on each call,
//! as the Python reads them (tests and the floor benchmark swap `run`).

use super::fastcall::{self, one_argument_through_trampoline, FixedArity, MethodDef};
use super::slot_layout::{is_false, Layout};
use super::usual_drive::{TaskParts, UsualDrive};
use super::usual_request::UsualRequest;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::{PyTraverseError, PyVisit};
use std::sync::Arc;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<UsualStart>()?; // SessionRan is made by it, never from Python
    Ok(())
}

const SESSION_SLOTS: &[&str] = &[
    "runtime",
    "principal",
    "accepting",
    "gateway",
    "max_inflight",
    "request_headers",
    "inflight",
    "on_record",
    "compat",
    "_loop",
];
const S_RUNTIME: usize = 0;
const S_PRINCIPAL: usize = 1;
const S_ACCEPTING: usize = 2;
const S_GATEWAY: usize = 3;
const S_MAX_INFLIGHT: usize = 4;
const S_REQUEST_HEADERS: usize = 5;
const S_INFLIGHT: usize = 6;
const S_ON_RECORD: usize = 7;
const S_COMPAT: usize = 8;
const S_LOOP: usize = 9;

/// `_start`'s usual case (see the module docs), made once by aigw/api/universal_ws.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct UsualStart {
    session: Layout,
    /// StepRequest's `provider`, GatewayPolicy's `name`.
    step: Layout,
    policy: Layout,
    /// aigw/api/universal_ws.py's globals, for `run` and `_Task`.
    globals: Py<PyDict>,
    make_request: Py<PyAny>,
    new_log_id: Py<PyAny>,
    make_sink: Py<PyAny>,
    /// aigw.pipeline's `run` and its native set-up (`_usual_run`), called straight away
    /// when `run` is that function (one Python frame fewer).
    pipeline_run: Py<PyAny>,
    usual_run: Py<PyAny>,
    /// ("loop", "name"): the Task's keywords, as a vectorcall's names.
    task_keywords: Py<PyTuple>,
    /// ("context",): `add_done_callback`'s keyword, for a driven request's waits.
    context_keyword: Py<PyTuple>,
    /// asyncio.Task: a request is driven without one (usual_drive.rs) only when `_Task` is it.
    asyncio_task: Py<PyAny>,
    /// The server's WebSocket (aigw/server/websocket.py): its count of work in flight.
    work: Arc<WorkCount>,
}

const WEBSOCKET_SLOTS: &[&str] = &["_in_flight", "_activity", "_shutting_down"];
const W_IN_FLIGHT: usize = 0;
const W_ACTIVITY: usize = 1;
const W_SHUTTING_DOWN: usize = 2;

/// A WebSocket's `work_started()` and `work_finished()` (aigw/server/websocket.py), counted in
/// place in the server's own WebSocket; asked of any other `ws`, and of the server's when the
/// last unit of work ends during shutdown (then the connection closes: the Python's).
pub(crate) struct WorkCount(Layout);

impl WorkCount {
    /// The count of work in flight of `ws`, exactly the server's WebSocket, when it is an int.
    fn in_flight(&self, ws: &Bound<'_, PyAny>) -> Option<i64> {
        // SAFETY: `get` runs only on an object just checked to be exactly the class.
        let count = self
            .0
            .is(ws)
            .then(|| unsafe { self.0.get(ws, W_IN_FLIGHT) })
            .flatten()?;
        count.downcast_exact::<PyInt>().ok()?.extract::<i64>().ok()
    }

    /// `ws.work_started()`.
    fn started(&self, ws: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = ws.py();
        match self.in_flight(ws) {
            // SAFETY: `in_flight` checked `ws` to be exactly the class.
            Some(n) if n < i64::MAX => unsafe { self.0.set(ws, W_IN_FLIGHT, (n + 1).into_pyobject(py)?.into_any()) },
            _ => drop(ws.call_method0(intern!(py, "work_started"))?),
        }
        Ok(())
    }

    /// `ws.work_finished()`.
    fn finished(&self, ws: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = ws.py();
        // SAFETY (the gets and sets): `in_flight` checked `ws` to be exactly the class.
        match self.in_flight(ws) {
            Some(n) if n > 1 => unsafe { self.0.set(ws, W_IN_FLIGHT, (n - 1).into_pyobject(py)?.into_any()) },
            Some(1) if is_false(&unsafe { self.0.get(ws, W_SHUTTING_DOWN) }) => unsafe {
                self.0.set(ws, W_IN_FLIGHT, 0i64.into_pyobject(py)?.into_any());
                self.0.set(ws, W_ACTIVITY, PyBool::new(py, true).to_owned().into_any());
            },
            _ => drop(ws.call_method0(intern!(py, "work_finished"))?),
        }
        Ok(())
    }
}

#[pymethods]
impl UsualStart {
    /// `session`, `step`, `policy`, `websocket`: the classes UniversalSession, StepRequest,
    /// GatewayPolicy and the server's WebSocket (their slots checked: ValueError); `globals`:
    /// universal_ws's module globals; then the GatewayRequest maker, `new_log_id`, the sink
    /// maker, and aigw.pipeline's `run` and `_usual_run`.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        session: &Bound<'_, PyType>,
        step: &Bound<'_, PyType>,
        policy: &Bound<'_, PyType>,
        globals: Bound<'_, PyDict>,
        make_request: Bound<'_, PyAny>,
        new_log_id: Bound<'_, PyAny>,
        make_sink: Bound<'_, PyAny>,
        pipeline_run: Bound<'_, PyAny>,
        usual_run: Bound<'_, PyAny>,
        websocket: &Bound<'_, PyType>,
    ) -> PyResult<Self> {
        let py = session.py();
        Ok(UsualStart {
            session: Layout::new(session, SESSION_SLOTS)?,
            step: Layout::new(step, &["provider"])?,
            policy: Layout::new(policy, &["name"])?,
            globals: globals.unbind(),
            make_request: make_request.unbind(),
            new_log_id: new_log_id.unbind(),
            make_sink: make_sink.unbind(),
            pipeline_run: pipeline_run.unbind(),
            usual_run: usual_run.unbind(),
            task_keywords: PyTuple::new(py, ["loop", "name"])?.unbind(),
            context_keyword: PyTuple::new(py, ["context"])?.unbind(),
            asyncio_task: py.import("asyncio")?.getattr("Task")?.unbind(),
            work: Arc::new(WorkCount(Layout::new(websocket, WEBSOCKET_SLOTS)?)),
        })
    }

    /// `start(session, ws, event_id, steps)` as a builtin function: True when the request
    /// was started as `_start` starts it; False, having changed nothing, otherwise.
    fn function<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        START.bind(slf)
    }

    /// `on_message(ws, opcode, payload)` for `session`, as a builtin function: the session's
    /// `handle_message` (aigw/api/universal_ws.py) for a text message that `fast_create`
    /// reads, natively up to the usual start (`start`); every other message, and a usual
    /// create the usual start declines or fails, goes to the session's Python
    /// (`handle_message`, `_start_read`).
    fn message_function<'py>(
        slf: &Bound<'py, Self>,
        session: Bound<'py, PyAny>,
        fast_create: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let messages = SessionMessages {
            start: slf.clone().unbind(),
            session: session.unbind(),
            fast_create: fast_create.unbind(),
        };
        MESSAGE.bind(&Bound::new(slf.py(), messages)?)
    }
}

/// What a session's native `on_message` is bound to.
#[pyclass(module = "aigw._codec", frozen)]
pub struct SessionMessages {
    start: Py<UsualStart>,
    session: Py<PyAny>,
    /// aigw.api.universal_messages.fast_create.
    fast_create: Py<PyAny>,
}

#[pymethods]
impl SessionMessages {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.start)?;
        visit.call(&self.session)?;
        visit.call(&self.fast_create)
    }
}

static MESSAGE: MethodDef<SessionMessages> = MethodDef::fastcall(
    c"on_message",
    c"on_message(ws, opcode, payload): a Universal WebSocket session's client message (aigw.api.universal_ws).",
    fastcall::fixed_arity::<SessionMessages, 3>,
);

impl SessionMessages {
    /// Whether universal_ws's `_usual_start` is still a function of this message handler's
    /// UsualStart (`UsualStart.function()`'s builtin, whose receiver it is).
    fn start_is_the_modules(&self, py: Python<'_>) -> PyResult<bool> {
        let globals = self.start.get().globals.bind(py);
        let Some(current) = globals.get_item(intern!(py, "_usual_start"))? else {
            return Ok(false);
        };
        if !current.is_instance_of::<pyo3::types::PyCFunction>() {
            return Ok(false);
        }
        // SAFETY: `current` is a live builtin function object (checked just above); its
        // receiver is a borrowed reference (or NULL for a function without one), compared
        // by address only.
        let receiver = unsafe { ffi::PyCFunction_GetSelf(current.as_ptr()) };
        Ok(std::ptr::eq(receiver, self.start.as_ptr()))
    }
}

/// The opcode of a text message (`_codec.TEXT`).
const TEXT: i64 = 1;

impl FixedArity<3> for SessionMessages {
    const FUNCTION: &'static str = "on_message";

    fn call<'py>(&self, py: Python<'py>, args: [Bound<'py, PyAny>; 3]) -> PyResult<Bound<'py, PyAny>> {
        let [ws, opcode, payload] = &args;
        let session = self.session.bind(py);
        let python = || session.call_method1(intern!(py, "handle_message"), (ws, opcode, payload));
        if !opcode
            .downcast_exact::<PyInt>()
            .is_ok_and(|o| o.extract::<i64>().is_ok_and(|o| o == TEXT))
        {
            return python();
        }
        // `_start` calls the module's `_usual_start` as it finds it: one swapped (by a test)
        // is called there, through the Python.
        if !self.start_is_the_modules(py)? {
            return python();
        }
        // A message fast_create cannot read, or refuses, is handle_message's to read and report.
        let fast = match self.fast_create.bind(py).call1((payload,)) {
            Ok(fast) if !fast.is_none() => fast,
            _ => return python(),
        };
        let Ok(fast) = fast.downcast_into_exact::<PyTuple>() else {
            return python();
        };
        let (event_id, steps) = (fast.get_item(0)?, fast.get_item(1)?);
        let event_id = match event_id.is_none() {
            true => self.start.get().new_log_id.bind(py).call0()?,
            false => event_id,
        };
        match self.start.get().start(session, ws, &event_id, &steps) {
            Ok(true) => Ok(py.None().into_bound(py)),
            // A refusal, a compat step, a bug: handle_message's from `_start` on.
            Ok(false) => session.call_method1(intern!(py, "_start_read"), (ws, event_id, steps, py.None())),
            Err(e) => session.call_method1(intern!(py, "_start_read"), (ws, event_id, steps, e.into_value(py))),
        }
    }
}

static START: MethodDef<UsualStart> = MethodDef::fastcall(
    c"start",
    c"start(session, ws, event_id, steps): True when _start's usual start was made.",
    fastcall::fixed_arity::<UsualStart, 4>,
);

impl FixedArity<4> for UsualStart {
    const FUNCTION: &'static str = "start";

    fn call<'py>(&self, py: Python<'py>, args: [Bound<'py, PyAny>; 4]) -> PyResult<Bound<'py, PyAny>> {
        let [session, ws, event_id, steps] = &args;
        let started = self.start(session, ws, event_id, steps)?;
        Ok(PyBool::new(py, started).to_owned().into_any())
    }
}

impl UsualStart {
    fn start<'py>(
        &self,
        session: &Bound<'py, PyAny>,
        ws: &Bound<'py, PyAny>,
        event_id: &Bound<'py, PyAny>,
        steps: &Bound<'py, PyAny>,
    ) -> PyResult<bool> {
        let py = session.py();
        if !self.session.is(session) {
            return Ok(false);
        }
        // SAFETY (every get below): `session` was checked to be exactly its class.
        let s = |i| unsafe { self.session.get(session, i) };
        let (
            Some(runtime),
            Some(principal),
            Some(accepting),
            Some(gateway),
            Some(max_inflight),
            Some(request_headers),
            Some(inflight),
            Some(on_record),
            Some(compat),
            Some(loop_),
        ) = (
            s(S_RUNTIME),
            s(S_PRINCIPAL),
            s(S_ACCEPTING),
            s(S_GATEWAY),
            s(S_MAX_INFLIGHT),
            s(S_REQUEST_HEADERS),
            s(S_INFLIGHT),
            s(S_ON_RECORD),
            s(S_COMPAT),
            s(S_LOOP),
        )
        else {
            return Ok(false);
        };
        // Refusals (a revoked token, a duplicate eventId, too many in flight) are _start's.
        let Ok(inflight) = inflight.downcast_into::<PyDict>() else {
            return Ok(false);
        };
        if !accepting.is(PyBool::new(py, true)) || inflight.contains(event_id)? {
            return Ok(false);
        }
        let Ok(max_inflight) = max_inflight.extract::<usize>() else {
            return Ok(false);
        };
        if inflight.len() >= max_inflight || loop_.is_none() || !self.policy.is(&gateway) {
            return Ok(false);
        }
        let Ok(steps) = steps.downcast_exact::<PyList>() else {
            return Ok(false);
        };
        if !compat.is_none() {
            // A `compat` step is expanded first (`_run`).
            for step in steps.iter() {
                if !self.step.is(&step) {
                    return Ok(false);
                }
                // SAFETY: `step` was checked to be exactly a StepRequest.
                match unsafe { self.step.get(&step, 0) } {
                    Some(provider) if provider.downcast::<PyString>().is_ok_and(|p| p != "compat") => {}
                    _ => return Ok(false),
                }
            }
        }
        if !loop_.call_method0(intern!(py, "get_task_factory"))?.is_none() {
            return Ok(false); // loop.create_task: _start's
        }
        let globals = self.globals.bind(py);
        let (Some(run), Some(task_class)) = (
            globals.get_item(intern!(py, "run"))?,
            globals.get_item(intern!(py, "_Task"))?,
        ) else {
            return Ok(false);
        };
        // The usual start from here on, in _start's order.
        let principal = if principal.is_none() {
            principal
        } else {
            principal.getattr(intern!(py, "id"))?
        };
        // SAFETY: `gateway` was checked to be exactly a GatewayPolicy.
        let Some(name) = (unsafe { self.policy.get(&gateway, 0) }) else {
            return Ok(false);
        };
        let log_id = self.new_log_id.bind(py).call0()?;
        let websocket = intern!(py, "websocket");
        let request = self.make_request.bind(py).call1((
            name,
            websocket,
            event_id,
            steps,
            request_headers,
            &log_id,
            principal,
            session,
        ))?;
        self.work.started(ws)?;
        let sink = self.make_sink.bind(py).call1((ws, event_id))?;
        let coro = match run.is(self.pipeline_run.bind(py)) {
            // run's first line: the usual request set up natively, else run itself
            true => match self.usual_run.bind(py).call1((&runtime, &gateway, &request, &sink))? {
                usual if usual.is_none() => run.call1((runtime, gateway, &request, &sink))?,
                usual => usual,
            },
            false => run.call1((runtime, gateway, &request, &sink))?,
        };
        let ran = SessionRan {
            work: Arc::clone(&self.work),
            session: session.clone().unbind(),
            inflight: inflight.clone().unbind(),
            on_record: on_record.unbind(),
            ws: ws.clone().unbind(),
            request: request.unbind(),
            sink: sink.unbind(),
            event_id: event_id.clone().unbind(),
        };
        if let Ok(usual) = coro.downcast_exact::<UsualRequest>() {
            if task_class.is(self.asyncio_task.bind(py))
                && globals
                    .get_item(intern!(py, "_DRIVE"))?
                    .is_some_and(|d| d.is_truthy().unwrap_or(false))
            {
                let parts = TaskParts {
                    task_class: task_class.unbind(),
                    loop_: loop_.unbind(),
                    name: log_id.unbind(),
                    task_keywords: self.task_keywords.clone_ref(py),
                    context_keyword: self.context_keyword.clone_ref(py),
                };
                UsualDrive::start(py, usual.clone(), Py::new(py, ran)?, parts, inflight.as_any(), event_id)?;
                return Ok(true);
            }
        }
        let task = self.task(&task_class, &coro, &loop_, &log_id)?;
        inflight.set_item(event_id, &task)?;
        let ran = Bound::new(py, ran)?;
        task.call_method1(intern!(py, "add_done_callback"), (RAN.bind(&ran)?,))?;
        Ok(true)
    }

    /// `_Task(coro, loop=loop, name=log_id)`, called as the interpreter calls it (keywords by
    /// name, no dict).
    fn task<'py>(
        &self,
        task_class: &Bound<'py, PyAny>,
        coro: &Bound<'py, PyAny>,
        loop_: &Bound<'py, PyAny>,
        name: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = task_class.py();
        let args = [coro.as_ptr(), loop_.as_ptr(), name.as_ptr()];
        // SAFETY: `args` holds three live borrowed references for the call (one positional,
        // then the values of the two names in `task_keywords`); the result is a new reference
        // or NULL with the error set.
        unsafe {
            let made = ffi::PyObject_Vectorcall(task_class.as_ptr(), args.as_ptr(), 1, self.task_keywords.as_ptr());
            Bound::from_owned_ptr_or_err(py, made)
        }
    }
}

/// What a usual request's done callback is bound to: `_ran`'s arguments, and the session's
/// `inflight` and `on_record` (both set once, in its `__init__`).
#[pyclass(module = "aigw._codec", frozen)]
pub struct SessionRan {
    work: Arc<WorkCount>,
    session: Py<PyAny>,
    inflight: Py<PyDict>,
    on_record: Py<PyAny>,
    ws: Py<PyAny>,
    request: Py<PyAny>,
    sink: Py<PyAny>,
    event_id: Py<PyAny>,
}

#[pymethods]
impl SessionRan {
    /// Its references for the cycle collector: a request that never ends keeps its session
    /// (which holds its Task, which holds this callback) in a cycle that the session's dict
    /// and the Task's callbacks, which the collector clears, can then break.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.session)?;
        visit.call(&self.inflight)?;
        visit.call(&self.on_record)?;
        visit.call(&self.ws)?;
        visit.call(&self.request)?;
        visit.call(&self.sink)?;
        visit.call(&self.event_id)
    }
}

impl SessionRan {
    /// `_ran(ws, request, sink, task)` for a task that ended with its record: the record to
    /// `on_record`, then the request taken off the session and the connection's work count;
    /// a cancelled or failed task goes to `_ran` itself.
    fn ran<'py>(&self, task: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = task.py();
        let ended = task.call_method0(intern!(py, "cancelled"))?.is_truthy()?
            || !task.call_method0(intern!(py, "exception"))?.is_none();
        if ended {
            return self.unusual_end(py, task);
        }
        let record = match self.on_record.bind(py).is_none() {
            true => None,
            false => Some(task.call_method0(intern!(py, "result"))),
        };
        match record {
            Some(Err(e)) => {
                self.finished(py)?;
                Err(e)
            }
            Some(Ok(record)) => self.record_ended(py, &record),
            None => self.finished(py),
        }
        .map(|_| py.None().into_bound(py))
    }

    /// `_ran`'s end of a request that ended with `record`: the record to `on_record`, then
    /// the request taken off the session and the connection's work count (whose error, if
    /// any, is the one raised).
    pub(super) fn record_ended(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<()> {
        let on_record = self.on_record.bind(py);
        let recorded = match on_record.is_none() {
            true => Ok(()),
            false => on_record.call1((record,)).map(drop),
        };
        self.finished(py)?;
        recorded
    }

    /// `_ran`'s `finally`: the request taken off the session, the connection's work count.
    pub(super) fn finished(&self, py: Python<'_>) -> PyResult<()> {
        let inflight = self.inflight.bind(py);
        let event_id = self.event_id.bind(py);
        if inflight.contains(event_id)? {
            inflight.del_item(event_id)?;
        }
        self.work.finished(self.ws.bind(py))
    }

    /// The session's own `_ran(ws, request, sink, task)`: for a request cancelled or failed.
    pub(super) fn unusual_end<'py>(&self, py: Python<'py>, task: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (ws, request, sink) = (self.ws.bind(py), self.request.bind(py), self.sink.bind(py));
        self.session
            .bind(py)
            .call_method1(intern!(py, "_ran"), (ws, request, sink, task))
    }

    /// A driven request handed over to `task`: the Task in the session's `inflight` in place
    /// of `drive` (unless the request has left it), with this as its done callback.
    pub(super) fn replace_in_flight<'py>(
        slf: &Bound<'py, Self>,
        drive: &Bound<'py, PyAny>,
        task: &Bound<'py, PyAny>,
    ) -> PyResult<()> {
        let py = slf.py();
        let me = slf.get();
        let inflight = me.inflight.bind(py);
        let event_id = me.event_id.bind(py);
        if matches!(inflight.get_item(event_id)?, Some(current) if current.is(drive)) {
            inflight.set_item(event_id, task)?;
        }
        task.call_method1(intern!(py, "add_done_callback"), (RAN.bind(slf)?,))?;
        Ok(())
    }
}

static RAN: MethodDef<SessionRan> = MethodDef::one_argument(
    c"ran",
    c"A usual request's done callback (aigw.api.universal_ws: _ran).",
    ran_fast,
);
one_argument_through_trampoline!(ran_fast, SessionRan, ran);
