//! A usual Universal WebSocket request run without an asyncio Task (`UsualDrive`).
//!
//! A Task cost a request ~9,000 instructions that did nothing for it (callgrind, ws:ns_c32:
//! 106,303 → 97,280 without it): its registration in asyncio's Python `WeakSet` of all tasks
//! and the weak reference's callback when it dies, entering and leaving it as the current task
//! on each step, and the done callback's hop. The native request (`UsualRequest`) yields exactly one thing while
//! it runs natively, the future of its answer's head, and runs no Python that needs a current
//! task. So the drive steps it as a Task would: the first step from the loop's ready queue,
//! each later one from the future's done callback, each in the request's own copy of the
//! context, a cancellation thrown in as `CancelledError` where the request waits. Its end is
//! `_ran`'s, run in place instead of a callback later.
//!
//! The moment the request needs Python's coroutine (`_Run.main` or `_Run.resumed`: an error
//! answer, a retry, a stream, a cancellation), the step hands it over unstarted
//! (`Step::HandOver`) and the rest runs as the Task it would always have had: the drive puts
//! that Task in the session's `inflight` in its place, with the usual done callback, so
//! `asyncio.current_task()`, timeouts and cancellation are a Task's wherever Python code runs.
//!
//! To the session the drive looks like the Task it replaces: `cancel`, `cancelled`, `done`,
//! `exception` and `result` as a Task's (what `_cancel`, `on_close` and `_ran` call), and
//! `ended()`, an awaitable for `cancel_all`.

use super::fastcall::{self, call_method_in_context, MethodDef};
use super::usual_request::{run_step, Input, Step, UsualRequest};
use super::usual_start::SessionRan;
use pyo3::exceptions::asyncio::CancelledError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::{PyTraverseError, PyVisit};

/// What a drive needs to hand its request over to a Task: `_Task(coro, loop=loop, name=name)`
/// (the keywords' names in `task_keywords`), and ("context",) for the waits' callbacks.
pub(super) struct TaskParts {
    pub(super) task_class: Py<PyAny>,
    pub(super) loop_: Py<PyAny>,
    pub(super) name: Py<PyAny>,
    pub(super) task_keywords: Py<PyTuple>,
    pub(super) context_keyword: Py<PyTuple>,
}

enum Phase {
    /// The request runs natively: between steps (or before the first).
    Native(Py<UsualRequest>),
    /// A step is running (the request is taken out for it).
    Stepping,
    /// Python's coroutine runs the rest of the request as this Task.
    HandedOver(Py<PyAny>),
    Ended(Ending),
}

enum Ending {
    Record(Py<PyAny>),
    Cancelled,
    Failed(Py<PyAny>),
}

/// One usual request driven without a Task (see the module docs).
#[pyclass(module = "aigw._codec")]
pub struct UsualDrive {
    phase: Phase,
    /// The future the request waits for, while it waits.
    waiting: Option<Py<PyAny>>,
    /// A cancellation asked for and not yet thrown in (a Task's `_must_cancel`).
    must_cancel: bool,
    /// The request's own context (`contextvars.copy_context()` at its start), as a Task's.
    context: Py<PyAny>,
    ran: Py<SessionRan>,
    parts: TaskParts,
    /// `ended()`'s future, made when first asked for.
    ended: Option<Py<PyAny>>,
}

impl UsualDrive {
    /// Starts `request` driven, as the session's in-flight request `ran` describes: put in
    /// `inflight`, its first step scheduled as a Task's is (`loop.call_soon`, in a copy of the
    /// current context). An error of the drive's own in a step (not the request's, which
    /// `_ran` answers) goes to the loop's exception handler, as a done callback's would.
    pub(super) fn start<'py>(
        py: Python<'py>,
        request: Bound<'py, UsualRequest>,
        ran: Py<SessionRan>,
        parts: TaskParts,
        inflight: &Bound<'py, PyAny>,
        event_id: &Bound<'py, PyAny>,
    ) -> PyResult<()> {
        // SAFETY: the GIL is held; the result is a new reference, or NULL with the error set.
        let context = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent())? };
        let loop_ = parts.loop_.clone_ref(py);
        let keyword = parts.context_keyword.clone_ref(py);
        let drive = Bound::new(
            py,
            UsualDrive {
                phase: Phase::Native(request.unbind()),
                waiting: None,
                must_cancel: false,
                context: context.clone().unbind(),
                ran,
                parts,
                ended: None,
            },
        )?;
        inflight.set_item(event_id, &drive)?;
        // Not run at once: the first steps of the requests one read brings run together in
        // the next tick, as Tasks' do (run at once, each in its message's handling, the
        // gateway answered fewer requests a second at 32 in flight: `ab-s27-eager`).
        let wake = WAKE.bind(&drive)?;
        let none = py.None().into_bound(py);
        let scheduled = call_method_in_context(
            loop_.bind(py),
            intern!(py, "call_soon"),
            &[&wake, &none],
            &context,
            keyword.bind(py),
        );
        if let Err(e) = scheduled {
            // Never to run: taken off the session and the connection's work count (the
            // caller answers the error).
            let ran = drive.borrow().ran.clone_ref(py);
            ran.get().finished(py)?;
            return Err(e);
        }
        Ok(())
    }
}

/// Runs the request's next step for `input`, and whatever the step ends with: a wait on the
/// future it yields, the request's end, or the hand-over to a Task.
fn advance<'py>(drive: &Bound<'py, UsualDrive>, input: Input<'py>) -> PyResult<()> {
    let py = drive.py();
    let request = {
        let mut me = drive.borrow_mut();
        match std::mem::replace(&mut me.phase, Phase::Stepping) {
            Phase::Native(request) => request,
            other => {
                me.phase = other;
                return Ok(());
            }
        }
    };
    match run_step(request.bind(py), input, true) {
        Ok(Step::Yield(future)) => {
            drive.borrow_mut().phase = Phase::Native(request);
            // A wait that cannot be made (a bug) ends the request as a Task's failed step.
            wait_on(drive, future).or_else(|e| end(drive, Ending::Failed(e.into_value(py).into_any())))
        }
        Ok(Step::Return(record)) => {
            // Cancelled during its last step: a Task then ends cancelled, not with the record.
            let cancelled = std::mem::take(&mut drive.borrow_mut().must_cancel);
            end(
                drive,
                if cancelled {
                    Ending::Cancelled
                } else {
                    Ending::Record(record.unbind())
                },
            )
        }
        Ok(Step::HandOver(coro)) => hand_over(drive, coro),
        Err(e) if e.is_instance_of::<CancelledError>(py) => end(drive, Ending::Cancelled),
        Err(e) => end(drive, Ending::Failed(e.into_value(py).into_any())),
    }
}

/// Waits for `future`: the next step runs from its done callback, in the request's context.
fn wait_on<'py>(drive: &Bound<'py, UsualDrive>, future: Bound<'py, PyAny>) -> PyResult<()> {
    let py = drive.py();
    let wake = WAKE.bind(drive)?;
    let (context, keyword) = {
        let me = drive.borrow();
        (me.context.clone_ref(py), me.parts.context_keyword.clone_ref(py))
    };
    let name = intern!(py, "add_done_callback");
    call_method_in_context(&future, name, &[&wake], context.bind(py), keyword.bind(py))?;
    let cancel_now = {
        let mut me = drive.borrow_mut();
        me.waiting = Some(future.clone().unbind());
        me.must_cancel
    };
    if cancel_now {
        // Cancelled during the step: the wait is cancelled at once (the wake throws it in).
        future.call_method0(intern!(py, "cancel"))?;
    }
    Ok(())
}

/// The first step (scheduled by `start`) or a wait's done callback: the next step, with
/// CancelledError thrown in if the request was cancelled (its wait then cancelled too; before
/// its first step, it ends there, as a Task cancelled then does). A failed wait is the
/// request's to meet (it reads the future itself, as `await` would have raised it).
fn wake<'py>(drive: &Bound<'py, UsualDrive>) -> PyResult<Bound<'py, PyAny>> {
    let py = drive.py();
    let cancelled = {
        let mut me = drive.borrow_mut();
        me.waiting = None;
        std::mem::take(&mut me.must_cancel)
    };
    let input = match cancelled {
        true => Input::Throw(CancelledError::new_err(()).into_value(py).into_bound(py).into_any()),
        false => Input::Send(py.None().into_bound(py)),
    };
    advance(drive, input)?;
    Ok(py.None().into_bound(py))
}

/// The rest of the request as a Task running Python's coroutine `coro`: in the session's
/// `inflight` in the drive's place, with the usual done callback.
fn hand_over<'py>(drive: &Bound<'py, UsualDrive>, coro: Bound<'py, PyAny>) -> PyResult<()> {
    let py = drive.py();
    let (ran, task_class, loop_, name, keywords) = {
        let me = drive.borrow();
        let p = &me.parts;
        (
            me.ran.clone_ref(py),
            p.task_class.clone_ref(py),
            p.loop_.clone_ref(py),
            p.name.clone_ref(py),
            p.task_keywords.clone_ref(py),
        )
    };
    let args = [coro.as_ptr(), loop_.as_ptr(), name.as_ptr()];
    // SAFETY: `args` holds three live references for the call (one positional, then the
    // values of the two names in `keywords`); the result is a new reference or NULL with the
    // error set.
    let task = unsafe {
        let made = ffi::PyObject_Vectorcall(task_class.as_ptr(), args.as_ptr(), 1, keywords.as_ptr());
        Bound::from_owned_ptr_or_err(py, made)
    };
    let task = match task {
        Ok(task) => task,
        Err(e) => {
            let _ = coro.call_method0(intern!(py, "close"));
            return end(drive, Ending::Failed(e.into_value(py).into_any()));
        }
    };
    let (cancel, ended) = {
        let mut me = drive.borrow_mut();
        me.phase = Phase::HandedOver(task.clone().unbind());
        (std::mem::take(&mut me.must_cancel), me.ended.take())
    };
    SessionRan::replace_in_flight(ran.bind(py), drive.as_any(), &task)?;
    if cancel {
        task.call_method0(intern!(py, "cancel"))?;
    }
    // `cancel_all` finds the Task in `inflight` and waits for it next.
    resolve(py, ended)
}

/// `ended()`'s future, if one was asked for, completed (unless its waiter gave up on it).
fn resolve(py: Python<'_>, ended: Option<Py<PyAny>>) -> PyResult<()> {
    if let Some(ended) = ended {
        let ended = ended.bind(py);
        if !ended.call_method0(intern!(py, "done"))?.is_truthy()? {
            ended.call_method1(intern!(py, "set_result"), (py.None(),))?;
        }
    }
    Ok(())
}

/// The request's end: with its record as `_ran` ends a Task's (natively), otherwise through
/// the session's `_ran`, given the drive as the task.
fn end<'py>(drive: &Bound<'py, UsualDrive>, ending: Ending) -> PyResult<()> {
    let py = drive.py();
    let record = match &ending {
        Ending::Record(record) => Some(record.clone_ref(py)),
        _ => None,
    };
    let (ran, ended) = {
        let mut me = drive.borrow_mut();
        me.phase = Phase::Ended(ending);
        (me.ran.clone_ref(py), me.ended.take())
    };
    let answered = match record {
        Some(record) => ran.get().record_ended(py, record.bind(py)),
        None => ran.get().unusual_end(py, drive.as_any()).map(drop),
    };
    resolve(py, ended)?;
    answered
}

#[pymethods]
impl UsualDrive {
    /// As `Task.cancel`: False once the request has ended; otherwise it is cancelled where it
    /// waits (CancelledError thrown in), or at its next wait when it is running now.
    #[pyo3(signature = (msg=None))]
    fn cancel(slf: &Bound<'_, Self>, msg: Option<Bound<'_, PyAny>>) -> PyResult<bool> {
        let py = slf.py();
        let (task, waiting) = {
            let mut me = slf.borrow_mut();
            match &me.phase {
                Phase::Ended(_) => return Ok(false),
                Phase::HandedOver(task) => (Some(task.clone_ref(py)), None),
                Phase::Native(_) | Phase::Stepping => {
                    me.must_cancel = true;
                    (None, me.waiting.as_ref().map(|w| w.clone_ref(py)))
                }
            }
        };
        if let Some(task) = task {
            return task.bind(py).call_method1(intern!(py, "cancel"), (msg,))?.extract();
        }
        if let Some(waiting) = waiting {
            waiting.bind(py).call_method0(intern!(py, "cancel"))?;
        }
        Ok(true)
    }

    /// As `Task.done`: whether the request has ended (a handed-over request: its Task's).
    fn done(&self, py: Python<'_>) -> PyResult<bool> {
        match &self.phase {
            Phase::Ended(_) => Ok(true),
            Phase::HandedOver(task) => task.bind(py).call_method0(intern!(py, "done"))?.extract(),
            _ => Ok(false),
        }
    }

    /// As `Task.cancelled`.
    fn cancelled(&self, py: Python<'_>) -> PyResult<bool> {
        match &self.phase {
            Phase::Ended(ending) => Ok(matches!(ending, Ending::Cancelled)),
            Phase::HandedOver(task) => task.bind(py).call_method0(intern!(py, "cancelled"))?.extract(),
            _ => Ok(false),
        }
    }

    /// As `Task.exception`, for an ended request (not a cancelled one).
    fn exception<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.phase {
            Phase::Ended(Ending::Failed(e)) => Ok(e.bind(py).clone()),
            Phase::Ended(Ending::Record(_)) => Ok(py.None().into_bound(py)),
            Phase::HandedOver(task) => task.bind(py).call_method0(intern!(py, "exception")),
            Phase::Ended(Ending::Cancelled) => Err(CancelledError::new_err(())),
            _ => Err(invalid_state(py)),
        }
    }

    /// As `Task.result`: the request's record.
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.phase {
            Phase::Ended(Ending::Record(record)) => Ok(record.bind(py).clone()),
            Phase::Ended(Ending::Failed(e)) => Err(PyErr::from_value(e.bind(py).clone())),
            Phase::Ended(Ending::Cancelled) => Err(CancelledError::new_err(())),
            Phase::HandedOver(task) => task.bind(py).call_method0(intern!(py, "result")),
            _ => Err(invalid_state(py)),
        }
    }

    /// An awaitable that completes (with None) once the request has ended or been handed
    /// over to its Task (then in the session's `inflight` instead): what `cancel_all` waits
    /// for.
    fn ended<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let (loop_, done) = {
            let me = slf.borrow();
            if let Some(ended) = &me.ended {
                return Ok(ended.bind(py).clone());
            }
            (
                me.parts.loop_.clone_ref(py),
                !matches!(me.phase, Phase::Native(_) | Phase::Stepping),
            )
        };
        let future = loop_.bind(py).call_method0(intern!(py, "create_future"))?;
        if done {
            future.call_method1(intern!(py, "set_result"), (py.None(),))?;
        } else {
            slf.borrow_mut().ended = Some(future.clone().unbind());
        }
        Ok(future)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = match &self.phase {
            Phase::Native(_) | Phase::Stepping => "pending",
            Phase::HandedOver(_) => "handed over to its Task",
            Phase::Ended(Ending::Record(_)) => "finished",
            Phase::Ended(Ending::Cancelled) => "cancelled",
            Phase::Ended(Ending::Failed(_)) => "failed",
        };
        let name = self
            .parts
            .name
            .bind(py)
            .str()
            .map(|s| s.to_string())
            .unwrap_or_default();
        format!("<UsualDrive {name} {state}>")
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        match &self.phase {
            Phase::Native(request) => visit.call(request)?,
            Phase::HandedOver(task) => visit.call(task)?,
            Phase::Ended(Ending::Record(v) | Ending::Failed(v)) => visit.call(v)?,
            Phase::Stepping | Phase::Ended(Ending::Cancelled) => {}
        }
        if let Some(waiting) = &self.waiting {
            visit.call(waiting)?;
        }
        if let Some(ended) = &self.ended {
            visit.call(ended)?;
        }
        visit.call(&self.context)?;
        visit.call(&self.ran)?;
        let p = &self.parts;
        visit.call(&p.task_class)?;
        visit.call(&p.loop_)?;
        visit.call(&p.name)
    }

    fn __clear__(&mut self) {
        if let Phase::Native(_) | Phase::HandedOver(_) = self.phase {
            self.phase = Phase::Ended(Ending::Cancelled);
        }
        self.waiting = None;
        self.ended = None;
    }
}

/// asyncio's InvalidStateError, as a Task's `result()` raises it before the Task is done.
fn invalid_state(py: Python<'_>) -> PyErr {
    let class = py.import("asyncio").and_then(|m| m.getattr("InvalidStateError"));
    match class.and_then(|c| c.downcast_into::<pyo3::types::PyType>().map_err(PyErr::from)) {
        Ok(class) => PyErr::from_type(class, "the request has not ended"),
        Err(e) => e,
    }
}

static WAKE: MethodDef<UsualDrive> = MethodDef::one_argument(
    c"wake",
    c"A driven usual request's wait ended: its next step.",
    wake_fast,
);

// `WAKE`'s C function: `wake` of the drive it was bound to (its argument is not read: the
// request reads its own future).
fastcall::bound_argument_through_trampoline!(wake_fast, UsualDrive, wake);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<UsualDrive>() // made by UsualStart, never from Python
}
