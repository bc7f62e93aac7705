//! The usual request's awaitable (`UsualRequest`): the coroutine protocol an asyncio Task
//! and `await` drive (`send`, `throw`, `close`, `__await__`), over the state of one request.
//!
//! Each step takes the state out, so a call into the awaitable from inside one of its own
//! steps finds it running (ValueError, as a generator says "already executing"); what a step
//! does with its state is `UsualMain::step` (usual_main.rs). Once Python's coroutine runs the
//! request (`_Run.main` or `_Run.resumed`), each step is handed to it as `await` hands them.

use super::usual_main::UsualMain;
use pyo3::exceptions::{PyGeneratorExit, PyRuntimeError, PyStopIteration, PyTypeError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyType;
use pyo3::{PyTraverseError, PyVisit};

/// What `_Run.main` was called with.
pub(super) struct Frame {
    pub(super) run: Py<PyAny>,
    pub(super) log_options: Py<PyAny>,
    pub(super) collect: Py<PyAny>,
    pub(super) started: Py<PyAny>,
}

impl Frame {
    /// `_Run.main`'s coroutine for this request.
    pub(super) fn main<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.run.bind(py).call_method1(
            intern!(py, "main"),
            (self.log_options.bind(py), self.collect.bind(py), self.started.bind(py)),
        )
    }

    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.run)?;
        visit.call(&self.log_options)?;
        visit.call(&self.collect)?;
        visit.call(&self.started)
    }
}

/// The first attempt, its request written: what `_Run.resumed` needs besides the frame.
pub(super) struct Sent {
    pub(super) plan: Py<PyAny>,
    pub(super) upstream: Py<PyAny>,
    pub(super) connection: Py<PyAny>,
    pub(super) waiter: Py<PyAny>,
    pub(super) attempt: Py<PyAny>,
    /// time.monotonic() when the attempt began.
    pub(super) started: f64,
}

impl Sent {
    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.plan)?;
        visit.call(&self.upstream)?;
        visit.call(&self.connection)?;
        visit.call(&self.waiter)?;
        visit.call(&self.attempt)
    }
}

pub(super) enum State {
    /// Not started: the first step plans and sends, or hands the request to `_Run.main`.
    Start(Frame),
    /// The request written; the answer's future yielded to the task.
    Waiting(Frame, Sent),
    /// Python's coroutine runs the request now (`_Run.main` or `_Run.resumed`).
    Delegating(Py<PyAny>),
    /// A step is running (a call into the awaitable from inside it finds this).
    Running,
    Done,
}

/// What a step is given: `send(value)`, `throw(exception)`, or `close()`.
pub(super) enum Input<'py> {
    Send(Bound<'py, PyAny>),
    Throw(Bound<'py, PyAny>),
    Close,
}

/// What a step ends with: a value yielded to the task, the request's record returned, or
/// (only for a driven request: `run_step`'s `driven`) Python's coroutine, not yet started, to
/// run the rest of the request as an asyncio Task.
pub(super) enum Step<'py> {
    Yield(Bound<'py, PyAny>),
    Return(Bound<'py, PyAny>),
    HandOver(Bound<'py, PyAny>),
}

/// One usual request's run (see the module docs): an awaitable and the coroutine an asyncio
/// Task may run (`send`, `throw`, `close`, `__await__`).
#[pyclass(module = "aigw._codec")]
pub struct UsualRequest {
    pub(super) main: Py<UsualMain>,
    pub(super) state: State,
}

#[pymethods]
impl UsualRequest {
    /// The name a Task's repr shows for it (a coroutine's `__qualname__`).
    #[getter]
    fn __qualname__(&self) -> &'static str {
        "UsualRequest"
    }

    #[getter]
    fn __name__(&self) -> &'static str {
        "UsualRequest"
    }

    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        step(slf, Input::Send(py.None().into_bound(py)))
    }

    /// As a coroutine's `send`.
    fn send<'py>(slf: &Bound<'py, Self>, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        step(slf, Input::Send(value))
    }

    /// As a coroutine's `throw`: `typ` an exception, or its class with `val` its argument.
    #[pyo3(signature = (typ, val=None, tb=None))]
    fn throw<'py>(
        slf: &Bound<'py, Self>,
        typ: Bound<'py, PyAny>,
        val: Option<Bound<'py, PyAny>>,
        tb: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let exception = if typ.is_instance_of::<pyo3::exceptions::PyBaseException>() {
            typ
        } else if typ.is_instance_of::<PyType>() {
            match val {
                Some(v) if v.is_instance(&typ)? => v,
                Some(v) if !v.is_none() => typ.call1((v,))?,
                _ => typ.call0()?,
            }
        } else {
            return Err(PyTypeError::new_err(
                "exceptions must be classes or instances deriving from BaseException",
            ));
        };
        let exception = match tb {
            Some(tb) if !tb.is_none() => exception.call_method1(intern!(py, "with_traceback"), (tb,))?,
            _ => exception,
        };
        step(slf, Input::Throw(exception))
    }

    /// As a coroutine's `close`: GeneratorExit thrown in where it waits, and taken back.
    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        match step(slf, Input::Close) {
            Ok(_) => Err(PyRuntimeError::new_err("coroutine ignored GeneratorExit")),
            Err(e) if e.is_instance_of::<PyGeneratorExit>(py) || e.is_instance_of::<PyStopIteration>(py) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.main)?;
        match &self.state {
            State::Start(frame) => frame.traverse(&visit),
            State::Waiting(frame, sent) => {
                frame.traverse(&visit)?;
                sent.traverse(&visit)
            }
            State::Delegating(coro) => visit.call(coro),
            State::Running | State::Done => Ok(()),
        }
    }

    fn __clear__(&mut self) {
        self.state = State::Done;
    }
}

/// Runs one step of `slf` for `input`: the value to yield, or StopIteration(record).
fn step<'py>(slf: &Bound<'py, UsualRequest>, input: Input<'py>) -> PyResult<Bound<'py, PyAny>> {
    match run_step(slf, input, false)? {
        Step::Yield(value) => Ok(value),
        Step::Return(value) => Err(PyStopIteration::new_err((value.unbind(),))),
        Step::HandOver(_) => Err(PyRuntimeError::new_err("a coroutine's step handed its request over")),
    }
}

/// One step of `slf` for `input`, its state taken out while it runs. `driven`: the request
/// runs without an asyncio Task (usual_drive.rs), so a step that would start Python's
/// coroutine hands it over unstarted instead (`Step::HandOver`), for a Task to run.
pub(super) fn run_step<'py>(slf: &Bound<'py, UsualRequest>, input: Input<'py>, driven: bool) -> PyResult<Step<'py>> {
    let py = slf.py();
    let (main, state) = {
        let mut me = slf.borrow_mut();
        (me.main.clone_ref(py), std::mem::replace(&mut me.state, State::Running))
    };
    let (state, stepped) = main.get().step(py, state, input, driven);
    slf.borrow_mut().state = state;
    stepped
}

/// The type's `am_send` slot: what an asyncio Task's step and `await` call (`PyIter_Send`)
/// before `__next__` or `send`, so the request's record comes back as PYGEN_RETURN instead
/// of a StopIteration raised and caught for every request.
///
/// # Safety
/// CPython calls it with the GIL held, `slf` an instance of this type (the slot is set on
/// this type only, which has no subclasses: pyo3 makes it final), `arg` a live object and
/// `presult` a valid out pointer.
unsafe extern "C" fn am_send(
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
    presult: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // with_gil only counts the GIL CPython holds, so pyo3 drops references at once.
        Python::with_gil(|py| {
            // SAFETY: the contract above.
            let (slf, arg) = unsafe {
                (
                    Bound::from_borrowed_ptr(py, slf).downcast_into_unchecked::<UsualRequest>(),
                    Bound::from_borrowed_ptr(py, arg),
                )
            };
            match run_step(&slf, Input::Send(arg), false) {
                Ok(Step::Yield(value)) => (ffi::PySendResult::PYGEN_NEXT, value.into_ptr()),
                Ok(Step::Return(value)) => (ffi::PySendResult::PYGEN_RETURN, value.into_ptr()),
                Ok(Step::HandOver(_)) => {
                    PyRuntimeError::new_err("a coroutine's step handed its request over").restore(py);
                    (ffi::PySendResult::PYGEN_ERROR, std::ptr::null_mut())
                }
                Err(e) => {
                    e.restore(py);
                    (ffi::PySendResult::PYGEN_ERROR, std::ptr::null_mut())
                }
            }
        })
    }));
    let (status, result) = outcome.unwrap_or_else(|_| {
        Python::with_gil(|py| pyo3::panic::PanicException::new_err("a panic in UsualRequest's step").restore(py));
        (ffi::PySendResult::PYGEN_ERROR, std::ptr::null_mut())
    });
    // SAFETY: `presult` is a valid out pointer (the contract above).
    unsafe { *presult = result };
    status
}

/// Gives the UsualRequest type its `am_send` slot (pyo3 has no way to declare it).
pub(super) fn add_am_send(py: Python<'_>) -> PyResult<()> {
    let ty = py.get_type::<UsualRequest>();
    let tp = ty.as_type_ptr();
    // SAFETY: `tp` is the live heap type pyo3 made for UsualRequest (PyType_FromSpec), which
    // it gave `tp_as_async` (for `__await__`): a pointer into the type object's own
    // PyHeapTypeObject, writable like any heap type's slots. The GIL is held, no instance
    // exists yet (this runs when the module is made), and CPython reads `am_send` only
    // through this pointer on each call, so setting it now is seen by every later call.
    unsafe {
        let slots = (*tp).tp_as_async;
        if slots.is_null() {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "UsualRequest has no async slots",
            ));
        }
        (*slots).am_send = Some(am_send);
        ffi::PyType_Modified(tp);
    }
    Ok(())
}
/// One step of Python's coroutine `coro` for `input`, the awaitable delegating to it as
/// `await coro` would.
pub(super) fn delegate<'py>(
    py: Python<'py>,
    coro: Bound<'py, PyAny>,
    input: Input<'py>,
) -> (State, PyResult<Step<'py>>) {
    let outcome = match input {
        Input::Send(value) => {
            let mut result: *mut ffi::PyObject = std::ptr::null_mut();
            // SAFETY: both are live objects held by this frame, `result` a valid out pointer;
            // PyIter_Send returns a new reference (or NULL with the error set on PYGEN_ERROR).
            let status = unsafe { ffi::PyIter_Send(coro.as_ptr(), value.as_ptr(), &mut result) };
            match status {
                ffi::PySendResult::PYGEN_NEXT => Ok(Step::Yield(unsafe { Bound::from_owned_ptr(py, result) })),
                ffi::PySendResult::PYGEN_RETURN => Ok(Step::Return(unsafe { Bound::from_owned_ptr(py, result) })),
                ffi::PySendResult::PYGEN_ERROR => Err(PyErr::fetch(py)),
            }
        }
        Input::Throw(exception) => coro.call_method1(intern!(py, "throw"), (exception,)).map(Step::Yield),
        Input::Close => coro
            .call_method0(intern!(py, "close"))
            .and_then(|_| Err(PyGeneratorExit::new_err(()))),
    };
    match outcome {
        Ok(Step::Yield(value)) => (State::Delegating(coro.unbind()), Ok(Step::Yield(value))),
        Ok(Step::Return(value)) => (State::Done, Ok(Step::Return(value))),
        Ok(Step::HandOver(value)) => (State::Done, Ok(Step::HandOver(value))),
        Err(e) if e.is_instance_of::<PyStopIteration>(py) => {
            // `throw` returned: the coroutine ended with StopIteration(value).
            let value = e.value(py).getattr(intern!(py, "value"));
            (State::Done, value.map(Step::Return))
        }
        Err(e) => (State::Done, Err(e)),
    }
}
