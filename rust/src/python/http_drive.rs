//! A usual HTTP request answered without an asyncio Task (`HttpDrive`).
//!
//! Without it, a keep-alive connection's task (`HttpConnection._serve`, aigw/server/http.py)
//! answers its requests in turn: each request resolves the future the task waits on, the task
//! wakes (entered as the current task, its coroutine resumed), begins the answer, waits for the
//! upstream's (a second wake), and makes a new future for the next request. For the usual
//! request none of that needs a task: the native door answers with a StreamedResponse whose
//! producer is a native `UsualRequest`, which yields one thing while it runs natively, the
//! future of its answer's head, and runs no Python that needs a current task.
//!
//! So the connection's native `buffer_updated` (http_receive.rs) starts a drive for a request
//! taken whole on an idle connection: it is the connection's `_task` while the request runs.
//! Its first step is scheduled as a Task's would be (`loop.call_soon`, in a copy of the
//! context); it begins the response (`_begin`), calls the app and its producer, and steps the
//! `UsualRequest` as a Task would, each later step from the future's done callback, a
//! cancellation thrown in where it waits. When the answer is done, the connection is made idle
//! again natively (`_between`), with no future for a next request: that request starts a drive
//! of its own.
//!
//! Everything else is `_serve`'s, which stays the specification: a request with an Upgrade
//! field, an app whose `http` answers with an awaitable, a producer that is not a
//! `UsualRequest`, a step that needs Python's coroutine (`Step::HandOver`: an error answer, a
//! retry, a fallback, a cancellation). The drive hands the request to a Task running `_serve`
//! from where it stopped, made the connection's `_task`; that Task ends once the connection
//! is idle again. An app's failure goes to the connection's `_answered_driven`, which does what
//! `_serve` does after one. To the connection the drive answers `cancel` and `done` as a Task.

use super::fastcall::{self, call_method_in_context, MethodDef};
use super::http_serve::HttpServe;
use super::slot_layout::Layout;
use super::usual_request::{run_step, Input, Step, UsualRequest};
use pyo3::exceptions::asyncio::CancelledError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};
use pyo3::{PyTraverseError, PyVisit};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<HttpDrives>()?;
    m.add_class::<HttpDrive>() // made by HttpDrives, never from Python
}

const CONNECTION_SLOTS: &[&str] = &["_server", "_loop", "_task"];
const C_SERVER: usize = 0;
const C_LOOP: usize = 1;
const C_TASK: usize = 2;

/// What every drive uses, made once by aigw/server/http.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct HttpDrives {
    serve: Py<HttpServe>,
    streamed_response: Py<PyType>,
    conn: Layout,
    /// ("context",), the keyword of `call_soon`, `add_done_callback` and `create_task`.
    context_keyword: Py<PyTuple>,
}

#[pymethods]
impl HttpDrives {
    /// `serve`: the HttpServe whose `begin` and `between` `_serve` uses; `streamed_response`:
    /// the StreamedResponse class; `connection`: HttpConnection, whose slots it uses
    /// (ValueError when one is missing).
    #[new]
    fn new(
        serve: Bound<'_, HttpServe>,
        streamed_response: Bound<'_, PyType>,
        connection: Bound<'_, PyType>,
    ) -> PyResult<Self> {
        let py = serve.py();
        Ok(HttpDrives {
            serve: serve.unbind(),
            streamed_response: streamed_response.unbind(),
            conn: Layout::new(&connection, CONNECTION_SLOTS)?,
            context_keyword: PyTuple::new(py, ["context"])?.unbind(),
        })
    }
}

impl HttpDrives {
    /// Starts a drive for `request` on `conn` (exactly the connection class): its response
    /// begun (`_begin`), the drive made the connection's `_task`, its first step scheduled in
    /// a copy of the current context. False, having changed nothing, for a request `_begin`
    /// declines (an upgrade): the caller then makes a Task, as it would without drives.
    pub(super) fn start<'py>(
        slf: &Bound<'py, Self>,
        conn: &Bound<'py, PyAny>,
        request: &Bound<'py, PyAny>,
    ) -> PyResult<bool> {
        let py = slf.py();
        let me = slf.get();
        if !me.conn.is(conn) {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "HttpDrives.start: not the connection class",
            ));
        }
        // SAFETY (get/set below): `conn` was checked to be exactly its class.
        let Some(loop_) = (unsafe { me.conn.get(conn, C_LOOP) }) else {
            return Err(pyo3::exceptions::PyAttributeError::new_err("_loop"));
        };
        // Begun here, not in the first step: a request to upgrade goes to its Task at once.
        let Some(writer) = me.serve.get().begin(conn, request)? else {
            return Ok(false);
        };
        // SAFETY: the GIL is held; the result is a new reference, or NULL with the error set.
        let context = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent())? };
        let drive = Bound::new(
            py,
            HttpDrive {
                phase: Phase::Scheduled,
                answer: Some(Answer {
                    conn: conn.clone().unbind(),
                    request: request.clone().unbind(),
                    writer: Some(writer.unbind()),
                    result: None,
                }),
                waiting: None,
                must_cancel: false,
                context: context.clone().unbind(),
                drives: slf.clone().unbind(),
            },
        )?;
        let wake = WAKE.bind(&drive)?;
        let none = py.None().into_bound(py);
        let keyword = me.context_keyword.bind(py);
        call_method_in_context(&loop_, intern!(py, "call_soon"), &[&wake, &none], &context, keyword)?;
        unsafe { me.conn.set(conn, C_TASK, drive.into_any()) };
        Ok(true)
    }
}

/// The request a drive answers, and how far: its writer once begun, the app's
/// StreamedResponse once it answered.
struct Answer {
    conn: Py<PyAny>,
    request: Py<PyAny>,
    writer: Option<Py<PyAny>>,
    result: Option<Py<PyAny>>,
}

enum Phase {
    /// The first step is scheduled.
    Scheduled,
    /// The producer's `UsualRequest`, between its steps.
    Producing(Py<UsualRequest>),
    /// A step is running.
    Stepping,
    /// Ended, cancelled, or handed over to a Task.
    Over { cancelled: bool },
}

/// One usual HTTP request answered without a Task (see the module docs).
#[pyclass(module = "aigw._codec")]
pub struct HttpDrive {
    phase: Phase,
    /// Released when the drive is over (the connection holds the drive as its `_task`).
    answer: Option<Answer>,
    /// The future the request waits for, while it waits.
    waiting: Option<Py<PyAny>>,
    /// A cancellation asked for and not yet thrown in (a Task's `_must_cancel`).
    must_cancel: bool,
    context: Py<PyAny>,
    drives: Py<HttpDrives>,
}

/// The first step (scheduled by `start`) or a wait's done callback: the next step, with
/// CancelledError thrown in if the drive was cancelled (before its first step, it ends there,
/// as a Task cancelled then does).
fn wake<'py>(drive: &Bound<'py, HttpDrive>) -> PyResult<Bound<'py, PyAny>> {
    let py = drive.py();
    let (phase, cancelled) = {
        let mut me = drive.borrow_mut();
        me.waiting = None;
        let cancelled = std::mem::take(&mut me.must_cancel);
        (std::mem::replace(&mut me.phase, Phase::Stepping), cancelled)
    };
    match phase {
        Phase::Scheduled if cancelled => over(drive, true),
        Phase::Scheduled => first_step(drive)?,
        Phase::Producing(usual) => {
            let input = match cancelled {
                true => Input::Throw(CancelledError::new_err(()).into_value(py).into_bound(py).into_any()),
                false => Input::Send(py.None().into_bound(py)),
            };
            produce(drive, usual, input)?
        }
        other => drive.borrow_mut().phase = other,
    }
    Ok(py.None().into_bound(py))
}

/// `_serve`'s first lines for the request, after its writer: the app's answer, the producer;
/// the producer stepped when it is the native `UsualRequest`, else the request handed over.
fn first_step(drive: &Bound<'_, HttpDrive>) -> PyResult<()> {
    let py = drive.py();
    let drives = drive.borrow().drives.clone_ref(py);
    let drives = drives.get();
    let Some((conn, request, Some(writer), _)) = parts(drive) else {
        over(drive, false); // not reached: a scheduled drive has its answer, begun
        return Ok(());
    };
    // SAFETY: `conn` is exactly the connection class (checked when the drive started).
    let server = unsafe { drives.conn.get(&conn, C_SERVER) };
    let answered = server
        .ok_or_else(|| pyo3::exceptions::PyAttributeError::new_err("_server"))
        .and_then(|server| server.getattr(intern!(py, "app")))
        .and_then(|app| app.call_method1(intern!(py, "http"), (&request,)));
    let result = match answered {
        Ok(result) => result,
        Err(e) => return answered_driven(drive, Some(e)),
    };
    if !result.get_type().is(drives.streamed_response.bind(py)) {
        // app.http's awaitable: `_serve` awaits it and sends what it answers.
        let none = py.None();
        return hand_over(
            drive,
            conn.call_method1(intern!(py, "_serve"), (&request, &writer, result, none)),
        );
    }
    if let Some(a) = drive.borrow_mut().answer.as_mut() {
        a.result = Some(result.clone().unbind());
    }
    let produced = match result
        .getattr(intern!(py, "produce"))
        .and_then(|produce| produce.call1((&writer,)))
    {
        Ok(produced) => produced,
        Err(e) => return answered_driven(drive, Some(e)),
    };
    match produced.downcast_into::<UsualRequest>() {
        Ok(usual) => produce(drive, usual.unbind(), Input::Send(py.None().into_bound(py))),
        Err(other) => {
            let other = other.into_inner();
            hand_over(
                drive,
                conn.call_method1(intern!(py, "_serve"), (&request, &writer, other, &result)),
            )
        }
    }
}

/// One step of the producer's `UsualRequest` for `input`, and whatever it ends with: a wait
/// on the future it yields, the answer's end, or the hand-over to a Task.
fn produce<'py>(drive: &Bound<'py, HttpDrive>, usual: Py<UsualRequest>, input: Input<'py>) -> PyResult<()> {
    let py = drive.py();
    match run_step(usual.bind(py), input, true) {
        Ok(Step::Yield(future)) => {
            drive.borrow_mut().phase = Phase::Producing(usual.clone_ref(py));
            if let Err(e) = wait_on(drive, &future) {
                // A wait that cannot be made (a bug): the producer's failure.
                let _ = usual.bind(py).call_method0(intern!(py, "close"));
                return answered_driven(drive, Some(e));
            }
            Ok(())
        }
        Ok(Step::Return(_record)) => answered(drive),
        Ok(Step::HandOver(coro)) => {
            let Some((conn, request, writer, result)) = parts(drive) else {
                over(drive, false); // not reached: a producing drive has its answer
                return Ok(());
            };
            hand_over(
                drive,
                conn.call_method1(intern!(py, "_serve"), (request, writer, coro, result)),
            )
        }
        Err(e) if e.is_instance_of::<CancelledError>(py) => {
            over(drive, true);
            Ok(())
        }
        Err(e) => answered_driven(drive, Some(e)),
    }
}

/// Waits for `future`: the next step runs from its done callback, in the drive's context.
fn wait_on<'py>(drive: &Bound<'py, HttpDrive>, future: &Bound<'py, PyAny>) -> PyResult<()> {
    let py = drive.py();
    let wake = WAKE.bind(drive)?;
    let (context, keyword) = {
        let me = drive.borrow();
        (me.context.clone_ref(py), me.drives.get().context_keyword.clone_ref(py))
    };
    let name = intern!(py, "add_done_callback");
    call_method_in_context(future, name, &[&wake], context.bind(py), keyword.bind(py))?;
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

/// The producer returned: the connection idle again natively (`between`), or else the rest of
/// `_serve`'s step after an answer (`_answered_driven`).
fn answered(drive: &Bound<'_, HttpDrive>) -> PyResult<()> {
    let py = drive.py();
    let Some((conn, _, Some(writer), _)) = parts(drive) else {
        over(drive, false); // not reached: a producing drive has its answer, begun
        return Ok(());
    };
    let drives = drive.borrow().drives.clone_ref(py);
    match drives.get().serve.get().between(&conn, &writer) {
        // A completed response (so a finished one: nothing for `_answer_unfinished`).
        Ok(Some(idle)) if idle.is_truthy()? => {
            over(drive, false);
            Ok(())
        }
        Ok(_) => answered_driven(drive, None),
        Err(e) => failed_answering(drive, e),
    }
}

/// `_serve`'s step after the app's answer, in Python (`_answered_driven`): `error`, the app's
/// or its producer's failure, for `_answer_failed`; None: an answer that returned. A failure
/// that is no `Exception` (KeyboardInterrupt ...) goes to the loop, as from a Task.
fn answered_driven(drive: &Bound<'_, HttpDrive>, error: Option<PyErr>) -> PyResult<()> {
    let py = drive.py();
    if let Some(e) = &error {
        if !e.is_instance_of::<pyo3::exceptions::PyException>(py) {
            over(drive, false);
            return Err(e.clone_ref(py));
        }
    }
    let Some(a) = take_answer(drive, false) else {
        return Ok(());
    };
    let error = error.map(|e| e.into_value(py).into_any());
    a.conn
        .bind(py)
        .call_method1(intern!(py, "_answered_driven"), (a.request, a.writer, a.result, error))?;
    Ok(())
}

/// A failure of the drive's own (not the app's): logged and the connection aborted, as
/// `_serve` does (`_failed_answering`).
fn failed_answering(drive: &Bound<'_, HttpDrive>, error: PyErr) -> PyResult<()> {
    let py = drive.py();
    let Some(a) = take_answer(drive, false) else {
        return Err(error);
    };
    a.conn
        .bind(py)
        .call_method1(intern!(py, "_failed_answering"), (a.request, error.into_value(py)))?;
    Ok(())
}

/// The rest of the request as a Task running `coro` (`_serve` from where the drive stopped),
/// made the connection's `_task` in the drive's place.
fn hand_over(drive: &Bound<'_, HttpDrive>, coro: PyResult<Bound<'_, PyAny>>) -> PyResult<()> {
    let py = drive.py();
    let coro = match coro {
        Ok(coro) => coro,
        Err(e) => return failed_answering(drive, e),
    };
    let (drives, context, cancel) = {
        let me = drive.borrow();
        (me.drives.clone_ref(py), me.context.clone_ref(py), me.must_cancel)
    };
    let Some(a) = take_answer(drive, false) else {
        let _ = coro.call_method0(intern!(py, "close"));
        return Ok(());
    };
    let conn = a.conn.bind(py);
    let drives = drives.get();
    // SAFETY (get/set): `conn` is exactly the connection class (checked when the drive started).
    let task = unsafe { drives.conn.get(conn, C_LOOP) }
        .ok_or_else(|| pyo3::exceptions::PyAttributeError::new_err("_loop"))
        .and_then(|loop_| {
            let name = intern!(py, "create_task");
            call_method_in_context(
                &loop_,
                name,
                &[&coro],
                context.bind(py),
                drives.context_keyword.bind(py),
            )
        });
    let task = match task {
        Ok(task) => task,
        Err(e) => {
            let _ = coro.call_method0(intern!(py, "close"));
            return conn
                .call_method1(intern!(py, "_failed_answering"), (a.request, e.into_value(py)))
                .map(drop);
        }
    };
    unsafe { drives.conn.set(conn, C_TASK, task.clone()) };
    // A cancellation asked for during the step, and not thrown in, is the Task's.
    if cancel {
        task.call_method0(intern!(py, "cancel"))?;
    }
    Ok(())
}

/// The answer's parts (connection, request, writer, result); None once the drive is over.
#[allow(clippy::type_complexity)]
fn parts<'py>(
    drive: &Bound<'py, HttpDrive>,
) -> Option<(
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
)> {
    let py = drive.py();
    let me = drive.borrow();
    let a = me.answer.as_ref()?;
    let bound = |o: &Option<Py<PyAny>>| o.as_ref().map(|v| v.clone_ref(py).into_bound(py));
    Some((
        a.conn.clone_ref(py).into_bound(py),
        a.request.clone_ref(py).into_bound(py),
        bound(&a.writer),
        bound(&a.result),
    ))
}

/// Takes the answer out of the drive, which is then over (`cancelled`: ended so).
fn take_answer(drive: &Bound<'_, HttpDrive>, cancelled: bool) -> Option<Answer> {
    let mut me = drive.borrow_mut();
    me.phase = Phase::Over { cancelled };
    me.waiting = None;
    me.answer.take()
}

fn over(drive: &Bound<'_, HttpDrive>, cancelled: bool) {
    drop(take_answer(drive, cancelled));
}

#[pymethods]
impl HttpDrive {
    /// As `Task.cancel`: False once the drive is over; otherwise the request is cancelled where
    /// it waits (CancelledError thrown in), at its next wait when it is running now, or before
    /// its first step.
    #[pyo3(signature = (msg=None))]
    fn cancel(slf: &Bound<'_, Self>, msg: Option<Bound<'_, PyAny>>) -> PyResult<bool> {
        let _ = msg;
        let waiting = {
            let mut me = slf.borrow_mut();
            if let Phase::Over { .. } = me.phase {
                return Ok(false);
            }
            me.must_cancel = true;
            me.waiting.take()
        };
        if let Some(waiting) = waiting {
            waiting.bind(slf.py()).call_method0(intern!(slf.py(), "cancel"))?;
        }
        Ok(true)
    }

    /// As `Task.done`: whether the drive is over (ended, or handed over to its Task).
    fn done(&self) -> bool {
        matches!(self.phase, Phase::Over { .. })
    }

    /// As `Task.cancelled`: whether it ended cancelled.
    fn cancelled(&self) -> bool {
        matches!(self.phase, Phase::Over { cancelled: true })
    }

    fn __repr__(&self) -> &'static str {
        match self.phase {
            Phase::Scheduled => "<HttpDrive scheduled>",
            Phase::Producing(_) | Phase::Stepping => "<HttpDrive pending>",
            Phase::Over { cancelled: true } => "<HttpDrive cancelled>",
            Phase::Over { cancelled: false } => "<HttpDrive over>",
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Phase::Producing(usual) = &self.phase {
            visit.call(usual)?;
        }
        if let Some(a) = &self.answer {
            visit.call(&a.conn)?;
            visit.call(&a.request)?;
            if let Some(w) = &a.writer {
                visit.call(w)?;
            }
            if let Some(r) = &a.result {
                visit.call(r)?;
            }
        }
        if let Some(waiting) = &self.waiting {
            visit.call(waiting)?;
        }
        visit.call(&self.context)?;
        visit.call(&self.drives)
    }

    fn __clear__(&mut self) {
        self.phase = Phase::Over { cancelled: true };
        self.answer = None;
        self.waiting = None;
    }
}

static WAKE: MethodDef<HttpDrive> = MethodDef::one_argument(
    c"wake",
    c"A driven HTTP request's next step (aigw.server.http).",
    wake_fast,
);

// `WAKE`'s C function: `wake` of the drive it was bound to (its argument is not read: the
// request reads its own future).
fastcall::bound_argument_through_trampoline!(wake_fast, HttpDrive, wake);
