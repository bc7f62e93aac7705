//! The pipeline's usual request run natively from its plan to its logged answer: what
//! `_Run.main`, `_Run._run_step` and `UpstreamClient.request` do in aigw/pipeline.py and
//! aigw/upstream/client.py for a request with one step, no cache, no rate limit and no
//! stream, as one awaitable (`UsualRequest`) instead of three coroutines.
//!
//! Those stay the specification and the path for every other request. `UsualMain.start`
//! returns `_Run.main`'s coroutine for a request it cannot take at all (a stream, a cache, a
//! rate limit, another upstream client). The awaitable's first step plans the request
//! (`UsualPlan`), builds the upstream request (the provider's `build_request`, in Python) and
//! writes it on an idle pooled connection (`UpstreamExchange`); when any of that declines it
//! has changed nothing and runs `_Run.main` instead, from the start. Once the request is
//! written it yields the answer's future to the task, as `await waiter` does; when the task
//! resumes it, the usual whole answer is delivered natively (`WholeAnswer`) and the record
//! finished and handed to the observers and loggers. Any other outcome (an error answer, a
//! stream, a failed exchange, an exception thrown into it) is handed to `_Run.resumed`, which
//! carries on from the same point in Python.

use super::slot_layout::{is_false, Layout};
use super::upstream::request_message;
use super::upstream_exchange::UpstreamExchange;
use super::usual_build::UsualBuild;
use super::usual_plan::UsualPlan;
use super::usual_request::{delegate, Frame, Input, Sent, State, Step, UsualRequest};
use super::whole_answer::WholeAnswer;
use pyo3::exceptions::{PyGeneratorExit, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyString, PyTuple, PyType};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<UsualMain>()?;
    m.add_class::<UsualRequest>()?;
    super::usual_request::add_am_send(m.py())
}

const RUN_SLOTS: &[&str] = &["rt", "gw", "req", "headers", "record", "collect"];
const R_RT: usize = 0;
const R_GW: usize = 1;
const R_REQ: usize = 2;
const R_HEADERS: usize = 3;
const R_RECORD: usize = 4;
const R_COLLECT: usize = 5;

const RUNTIME_SLOTS: &[&str] = &["client", "cache", "limiter", "loggers", "observers"];
const RT_CLIENT: usize = 0;
const RT_CACHE: usize = 1;
const RT_LIMITER: usize = 2;
const RT_LOGGERS: usize = 3;
const RT_OBSERVERS: usize = 4;

const POLICY_SLOTS: &[&str] = &["rate_limit"];
const GW_RATE_LIMIT: usize = 0;

const REQUEST_SLOTS: &[&str] = &["steps", "principal", "owner"];
const Q_STEPS: usize = 0;
const Q_PRINCIPAL: usize = 1;
const Q_OWNER: usize = 2;

const RECORD_SLOTS: &[&str] = &[
    "principal",
    "step",
    "provider",
    "model",
    "endpoint",
    "request_body",
    "attempts",
    "ttfb_ms",
    "duration_ms",
];
const L_PRINCIPAL: usize = 0;
const L_STEP: usize = 1;
const L_PROVIDER: usize = 2;
const L_MODEL: usize = 3;
const L_ENDPOINT: usize = 4;
const L_REQUEST_BODY: usize = 5;
const L_ATTEMPTS: usize = 6;
const L_TTFB_MS: usize = 7;
const L_DURATION_MS: usize = 8;

const PLAN_SLOTS: &[&str] = &["index", "provider", "call", "retry", "key", "overrides", "caching"];
const PL_INDEX: usize = 0;
const PL_PROVIDER: usize = 1;
const PL_CALL: usize = 2;
const PL_RETRY: usize = 3;
const PL_KEY: usize = 4;
const PL_OVERRIDES: usize = 5;
const PL_CACHING: usize = 6;

const CACHING_SLOTS: &[&str] = &["ttl", "key"];
const CA_TTL: usize = 0;
const CA_KEY: usize = 1;

const CALL_SLOTS: &[&str] = &["provider", "model", "endpoint", "stream"];
const CL_PROVIDER: usize = 0;
const CL_MODEL: usize = 1;
const CL_ENDPOINT: usize = 2;
const CL_STREAM: usize = 3;

const UPSTREAM_SLOTS: &[&str] = &["method", "url", "headers", "body"];
const U_METHOD: usize = 0;
const U_URL: usize = 1;
const U_HEADERS: usize = 2;
const U_BODY: usize = 3;

const CLIENT_SLOTS: &[&str] = &[
    "_closed",
    "_loop",
    "total_timeout",
    "first_byte_timeout",
    "_urls",
    "_pools",
];
const K_CLOSED: usize = 0;
const K_LOOP: usize = 1;
const K_TOTAL_TIMEOUT: usize = 2;
const K_FIRST_BYTE_TIMEOUT: usize = 3;
const K_URLS: usize = 4;
const K_POOLS: usize = 5;

/// How many classes `UsualMain` is given, in this order: _Run, Runtime, GatewayPolicy,
/// GatewayRequest, LogRecord, StepPlan, Call, UpstreamRequest, UpstreamClient, Attempt,
/// CachePolicy, RetryPolicy, Overrides.
const CLASSES: usize = 13;

/// The native parts the awaitable runs: the usual plan, the client's exchange, the usual
/// whole answer.
type Parts<'py> = (
    Bound<'py, UsualPlan>,
    Bound<'py, UpstreamExchange>,
    Bound<'py, WholeAnswer>,
    Bound<'py, UsualBuild>,
);

/// What makes `UsualRequest`s (see the module docs), made once by aigw/pipeline.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct UsualMain {
    run: Layout,
    runtime: Layout,
    policy: Layout,
    request: Layout,
    record: Layout,
    plan: Layout,
    call: Layout,
    upstream: Layout,
    client: Layout,
    attempt: Layout,
    caching: Layout,
    retry: Layout,
    overrides: Layout,
    usual_plan: Py<UsualPlan>,
    exchange: Py<UpstreamExchange>,
    whole_answer: Py<WholeAnswer>,
    /// HttpProvider.build_request's usual case.
    build: Py<UsualBuild>,
    /// `_make_attempt`, `time.monotonic`, `time.time`, `keep_request_body`, `_Sent`.
    make_attempt: Py<PyAny>,
    monotonic: Py<PyAny>,
    wall_time: Py<PyAny>,
    keep_request_body: Py<PyAny>,
    make_sent: Py<PyAny>,
}

#[pymethods]
impl UsualMain {
    /// `classes` as `CLASSES` names them (their slots checked: ValueError); `parts` the
    /// native pieces (UsualPlan, UpstreamExchange, WholeAnswer, UsualBuild); the rest as named on the
    /// struct.
    #[new]
    fn new(
        classes: Vec<Bound<'_, PyType>>,
        parts: Parts<'_>,
        make_attempt: Bound<'_, PyAny>,
        monotonic: Bound<'_, PyAny>,
        wall_time: Bound<'_, PyAny>,
        keep_request_body: Bound<'_, PyAny>,
        make_sent: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let classes: [Bound<'_, PyType>; CLASSES] = classes
            .try_into()
            .map_err(|_| PyValueError::new_err(format!("UsualMain takes {CLASSES} classes")))?;
        let [run, runtime, policy, request, record, plan, call, upstream, client, attempt, caching, retry, overrides] =
            classes;
        let (usual_plan, exchange, whole_answer, build) = parts;
        Ok(UsualMain {
            run: Layout::new(&run, RUN_SLOTS)?,
            runtime: Layout::new(&runtime, RUNTIME_SLOTS)?,
            policy: Layout::new(&policy, POLICY_SLOTS)?,
            request: Layout::new(&request, REQUEST_SLOTS)?,
            record: Layout::new(&record, RECORD_SLOTS)?,
            plan: Layout::new(&plan, PLAN_SLOTS)?,
            call: Layout::new(&call, CALL_SLOTS)?,
            upstream: Layout::new(&upstream, UPSTREAM_SLOTS)?,
            client: Layout::new(&client, CLIENT_SLOTS)?,
            attempt: Layout::new(&attempt, &["duration_ms"])?,
            caching: Layout::new(&caching, CACHING_SLOTS)?,
            retry: Layout::new(&retry, &["request_timeout_ms"])?,
            overrides: Layout::new(&overrides, &["prepare"])?,
            usual_plan: usual_plan.unbind(),
            exchange: exchange.unbind(),
            whole_answer: whole_answer.unbind(),
            build: build.unbind(),
            make_attempt: make_attempt.unbind(),
            monotonic: monotonic.unbind(),
            wall_time: wall_time.unbind(),
            keep_request_body: keep_request_body.unbind(),
            make_sent: make_sent.unbind(),
        })
    }

    /// `run.main(log_options, collect, started)`'s awaitable: a `UsualRequest` when the
    /// request may be the usual one (`stream`: whether its step asked for a stream), else
    /// that coroutine itself.
    pub(crate) fn start<'py>(
        slf: &Bound<'py, Self>,
        run: &Bound<'py, PyAny>,
        log_options: &Bound<'py, PyAny>,
        collect: &Bound<'py, PyAny>,
        started: &Bound<'py, PyAny>,
        stream: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let frame = Frame {
            run: run.clone().unbind(),
            log_options: log_options.clone().unbind(),
            collect: collect.clone().unbind(),
            started: started.clone().unbind(),
        };
        if !(stream.is(PyBool::new(py, false)) && slf.get().may_take(run)) {
            return frame.main(py);
        }
        let request = UsualRequest {
            main: slf.clone().unbind(),
            state: State::Start(frame),
        };
        Ok(Bound::new(py, request)?.into_any())
    }
}

impl UsualMain {
    /// Whether the request `run` holds may be the usual one, before anything is planned: no
    /// rate limit, the gateway's own upstream client.
    fn may_take(&self, run: &Bound<'_, PyAny>) -> bool {
        if !self.run.is(run) {
            return false;
        }
        // SAFETY (every get below): each object was checked to be exactly its class.
        let (Some(rt), Some(gw)) = (unsafe { self.run.get(run, R_RT) }, unsafe { self.run.get(run, R_GW) }) else {
            return false;
        };
        if !(self.runtime.is(&rt) && self.policy.is(&gw)) {
            return false;
        }
        let r = |i| unsafe { self.runtime.get(&rt, i) };
        let (Some(client), Some(limiter)) = (r(RT_CLIENT), r(RT_LIMITER)) else {
            return false;
        };
        let limited = match unsafe { self.policy.get(&gw, GW_RATE_LIMIT) } {
            Some(limit) => !limiter.is_none() && limit.extract::<i64>().map_or(true, |n| n > 0),
            None => true,
        };
        !limited && self.client.is(&client)
    }

    /// The request's next step from `state` for `input`, and the state after it.
    /// `driven` (no asyncio Task runs the request): Python's coroutine, when the request
    /// goes to it, is handed over unstarted (`Step::HandOver`) rather than run to its first
    /// yield.
    pub(super) fn step<'py>(
        &self,
        py: Python<'py>,
        state: State,
        input: Input<'py>,
        driven: bool,
    ) -> (State, PyResult<Step<'py>>) {
        match (state, input) {
            (State::Start(frame), Input::Send(value)) => {
                if !value.is_none() {
                    let e = PyTypeError::new_err("can't send non-None value to a just-started coroutine");
                    return (State::Start(frame), Err(e));
                }
                match self.begin(py, &frame) {
                    Ok(Some((sent, waiter))) => {
                        let blocking = waiter.setattr(intern!(py, "_asyncio_future_blocking"), true);
                        let state = State::Waiting(frame, sent);
                        (state, blocking.map(|_| Step::Yield(waiter)))
                    }
                    Ok(None) => match frame.main(py) {
                        Ok(coro) if driven => (State::Done, Ok(Step::HandOver(coro))),
                        Ok(coro) => delegate(py, coro, Input::Send(py.None().into_bound(py))),
                        Err(e) => (State::Done, Err(e)),
                    },
                    Err((sent, e)) => (State::Done, self.failed(py, &frame, &sent, None, e).map(Step::Return)),
                }
            }
            (State::Start(_), Input::Throw(e)) => (State::Done, Err(PyErr::from_value(e))),
            (State::Start(_), Input::Close) => (State::Done, Err(PyGeneratorExit::new_err(()))),
            (State::Waiting(frame, sent), Input::Send(_)) => match self.answered(py, &frame, &sent) {
                Ok(Some(record)) => (State::Done, Ok(Step::Return(record))),
                Ok(None) => self.hand_over(py, &frame, &sent, None, driven),
                Err(e) => (State::Done, Err(e)),
            },
            (State::Waiting(frame, sent), Input::Throw(e)) => self.hand_over(py, &frame, &sent, Some(e), driven),
            (State::Waiting(frame, sent), Input::Close) => {
                let exit = PyGeneratorExit::new_err(()).into_value(py).into_bound(py).into_any();
                self.hand_over(py, &frame, &sent, Some(exit), driven)
            }
            (State::Delegating(coro), input) => delegate(py, coro.into_bound(py), input),
            (State::Running, _) => (
                State::Running,
                Err(PyValueError::new_err("coroutine already executing")),
            ),
            (State::Done, Input::Send(_)) => (
                State::Done,
                Err(PyRuntimeError::new_err("cannot reuse already awaited coroutine")),
            ),
            (State::Done, Input::Throw(e)) => (State::Done, Err(PyErr::from_value(e))),
            (State::Done, Input::Close) => (State::Done, Err(PyGeneratorExit::new_err(()))),
        }
    }

    /// `_Run.resumed`'s coroutine for the request `sent` began, run to its first yield
    /// (`driven`: handed over unstarted): `thrown` raised where the request waits for the
    /// answer's head.
    fn hand_over<'py>(
        &self,
        py: Python<'py>,
        frame: &Frame,
        sent: &Sent,
        thrown: Option<Bound<'py, PyAny>>,
        driven: bool,
    ) -> (State, PyResult<Step<'py>>) {
        let none = || py.None().into_bound(py);
        let resumed = self
            .make_sent
            .bind(py)
            .call1((
                sent.upstream.bind(py),
                sent.connection.bind(py),
                sent.waiter.bind(py),
                sent.attempt.bind(py),
                sent.started,
                thrown.unwrap_or_else(none),
            ))
            .and_then(|handed| {
                frame.run.bind(py).call_method1(
                    intern!(py, "resumed"),
                    (
                        sent.plan.bind(py),
                        handed,
                        frame.collect.bind(py),
                        frame.started.bind(py),
                    ),
                )
            });
        match resumed {
            Ok(coro) if driven => (State::Done, Ok(Step::HandOver(coro))),
            Ok(coro) => delegate(py, coro, Input::Send(none())),
            Err(e) => (State::Done, Err(e)),
        }
    }

    /// The first step: the request planned, built and written (Ok(Some): the attempt and the
    /// answer's future), or Ok(None) having changed nothing (`_Run.main` then runs it). An
    /// error writing the request (after the exchange took a connection) comes with the
    /// attempt begun, for `failed`.
    #[allow(clippy::type_complexity)]
    fn begin<'py>(&self, py: Python<'py>, frame: &Frame) -> Result<Option<(Sent, Bound<'py, PyAny>)>, (Sent, PyErr)> {
        // An error before the request is written declines: `_Run.main` meets it again and
        // reports it as the request's own.
        let prepared = match self.prepare(py, frame) {
            Ok(Some(prepared)) => prepared,
            Ok(None) | Err(_) => return Ok(None),
        };
        let Prepared {
            plan,
            upstream,
            attempt,
            started,
            pool,
            owner,
            data,
            is_head,
            first_byte_timeout,
            total_deadline,
        } = prepared;
        let exchange = self.exchange.get();
        let yes = PyBool::new(py, true).to_owned().into_any();
        let sent = exchange.send(
            &pool,
            &owner,
            &data,
            &is_head,
            &first_byte_timeout,
            &total_deadline,
            &yes,
        );
        let made = |connection: Bound<'py, PyAny>, waiter: &Bound<'py, PyAny>| Sent {
            plan: plan.clone().unbind(),
            upstream: upstream.clone().unbind(),
            connection: connection.unbind(),
            waiter: waiter.clone().unbind(),
            attempt: attempt.clone().unbind(),
            started,
        };
        let (connection, waiter) = match sent {
            Ok(Some(pair)) => match pair.downcast_into::<PyTuple>() {
                Ok(pair) => match (pair.get_item(0), pair.get_item(1)) {
                    (Ok(c), Ok(w)) => (c, w),
                    _ => return Ok(None),
                },
                Err(_) => return Ok(None),
            },
            Ok(None) => return Ok(None),
            Err(e) => {
                // Python's `_send` raised inside `request`: the attempt had begun.
                let none = py.None().into_bound(py);
                let sent = made(none.clone(), &none);
                let _ = self.commit(py, frame, &sent);
                return Err((sent, e));
            }
        };
        let sent = made(connection, &waiter);
        match self.commit(py, frame, &sent) {
            Ok(()) => Ok(Some((sent, waiter))),
            Err(e) => Err((sent, e)),
        }
    }

    /// Everything the first step reads and makes before it writes the request; None when the
    /// request is not the usual one after all.
    fn prepare<'py>(&self, py: Python<'py>, frame: &Frame) -> PyResult<Option<Prepared<'py>>> {
        let run = frame.run.bind(py);
        if !self.run.is(run) || frame.log_options.bind(py).is_truthy()? {
            return Ok(None); // options to note: main's note_request
        }
        // SAFETY (every get below): each object was checked to be exactly its class.
        let g = |i| unsafe { self.run.get(run, i) };
        let (Some(rt), Some(gw), Some(req), Some(headers)) = (g(R_RT), g(R_GW), g(R_REQ), g(R_HEADERS)) else {
            return Ok(None);
        };
        if !(self.runtime.is(&rt) && self.policy.is(&gw) && self.request.is(&req)) {
            return Ok(None);
        }
        let (Some(steps), Some(owner)) = (unsafe { self.request.get(&req, Q_STEPS) }, unsafe {
            self.request.get(&req, Q_OWNER)
        }) else {
            return Ok(None);
        };
        if steps.len()? != 1 {
            return Ok(None); // fallbacks: main's loop over the plans
        }
        let Some(client) = (unsafe { self.runtime.get(&rt, RT_CLIENT) }) else {
            return Ok(None);
        };
        if !self.client.is(&client) {
            return Ok(None);
        }
        let k = |i| unsafe { self.client.get(&client, i) };
        let (Some(loop_), Some(total_timeout), Some(client_first_byte), Some(urls), Some(pools)) = (
            k(K_LOOP),
            k(K_TOTAL_TIMEOUT),
            k(K_FIRST_BYTE_TIMEOUT),
            k(K_URLS),
            k(K_POOLS),
        ) else {
            return Ok(None);
        };
        if !is_false(&k(K_CLOSED)) || loop_.is_none() || loop_.call_method0(intern!(py, "is_closed"))?.is_truthy()? {
            return Ok(None);
        }
        let (Ok(urls), Ok(pools)) = (urls.downcast_into::<PyDict>(), pools.downcast_into::<PyDict>()) else {
            return Ok(None);
        };
        // plan_steps
        let Some(plans) = self.usual_plan.get().plan(&rt, &gw, &req, &headers)? else {
            return Ok(None);
        };
        let plan = plans.get_item(0)?;
        if !self.plan.is(&plan) {
            return Ok(None);
        }
        let p = |i| unsafe { self.plan.get(&plan, i) };
        let (Some(index), Some(provider), Some(call), Some(retry), Some(key), Some(overrides), Some(caching)) = (
            p(PL_INDEX),
            p(PL_PROVIDER),
            p(PL_CALL),
            p(PL_RETRY),
            p(PL_KEY),
            p(PL_OVERRIDES),
            p(PL_CACHING),
        ) else {
            return Ok(None);
        };
        // main's cache look-up and store: none for a request whose policy neither stores
        // (ttl 0) nor names a key, or without a cache.
        let cached = match unsafe { self.runtime.get(&rt, RT_CACHE) } {
            Some(cache) if cache.is_none() => false,
            _ if !self.caching.is(&caching) => true,
            _ => {
                let c = |i| unsafe { self.caching.get(&caching, i) };
                let (Some(ttl), Some(cache_key)) = (c(CA_TTL), c(CA_KEY)) else {
                    return Ok(None);
                };
                ttl.extract::<i64>().map_or(true, |ttl| ttl > 0) || cache_key.is_truthy()?
            }
        };
        if cached {
            return Ok(None);
        }
        // SAFETY: each object was checked to be exactly its class.
        let no_prepare = self.overrides.is(&overrides) && is_false(&unsafe { self.overrides.get(&overrides, 0) });
        if !no_prepare || !self.call.is(&call) || !self.retry.is(&retry) {
            return Ok(None); // an awaited prepare (_run_step's), or classes of another kind
        }
        // `start` took a step that asked for no stream; its call says the same (a streamed
        // call's first-byte timeout, the gateway's, is _run_step's to choose).
        if !is_false(&unsafe { self.call.get(&call, CL_STREAM) }) {
            return Ok(None);
        }
        // _run_step: the request the step sends.
        let upstream = match self.build.get().build(&provider, &call, &key)? {
            Some(upstream) => upstream, // HttpProvider.build_request's usual case, natively
            None => provider.call_method1(intern!(py, "build_request"), (&call, &key))?,
        };
        if !self.upstream.is(&upstream) {
            return Ok(None);
        }
        let u = |i| unsafe { self.upstream.get(&upstream, i) };
        let (Some(method), Some(url), Some(fields), Some(body)) = (u(U_METHOD), u(U_URL), u(U_HEADERS), u(U_BODY))
        else {
            return Ok(None);
        };
        let Some(first_byte_ms) = (unsafe { self.retry.get(&retry, 0) }) else {
            return Ok(None);
        };
        let first_byte_ms: i64 = first_byte_ms.extract()?;
        // UpstreamClient.request's usual case: a URL parsed before, a head written natively,
        // a pool for its origin.
        let Some(parsed) = urls.get_item(&url)? else {
            return Ok(None);
        };
        let Ok(parsed) = parsed.downcast_into::<PyTuple>() else {
            return Ok(None);
        };
        if parsed.len() != 3 || !(fields.is_exact_instance_of::<PyList>() || fields.is_exact_instance_of::<PyTuple>()) {
            return Ok(None);
        }
        let (pool_key, target, host) = (parsed.get_item(0)?, parsed.get_item(1)?, parsed.get_item(2)?);
        let (Ok(method_text), Ok(target), Ok(host)) = (
            method.downcast::<PyString>(),
            target.downcast::<PyBytes>(),
            host.downcast::<PyBytes>(),
        ) else {
            return Ok(None);
        };
        let Some(data) = request_message(
            py,
            method_text.to_str()?,
            target.as_bytes(),
            host.as_bytes(),
            &fields,
            Some(&body),
        )?
        else {
            return Ok(None);
        };
        let Some(pool) = pools.get_item(&pool_key)? else {
            return Ok(None);
        };
        let first_byte_timeout = if first_byte_ms != 0 {
            PyFloat::new(py, first_byte_ms as f64 / 1000.0).into_any()
        } else {
            client_first_byte
        };
        let now: f64 = loop_.call_method0(intern!(py, "time"))?.extract()?;
        let total_deadline = PyFloat::new(py, now + total_timeout.extract::<f64>()?).into_any();
        let created = self.wall_time.bind(py).call0()?;
        let none = py.None().into_bound(py);
        let (provider_name, model) = unsafe { (self.call.get(&call, CL_PROVIDER), self.call.get(&call, CL_MODEL)) };
        let (Some(provider_name), Some(model)) = (provider_name, model) else {
            return Ok(None);
        };
        let attempt = self
            .make_attempt
            .bind(py)
            .call1((&index, 1, provider_name, model, 0, &none, 0.0, created))?;
        if !self.attempt.is(&attempt) {
            return Ok(None);
        }
        let started: f64 = self.monotonic.bind(py).call0()?.extract()?;
        let is_head = PyBool::new(py, method_text.to_str()? == "HEAD").to_owned().into_any();
        Ok(Some(Prepared {
            plan,
            upstream,
            attempt,
            started,
            pool,
            owner,
            data: data.into_any(),
            is_head,
            first_byte_timeout,
            total_deadline,
        }))
    }

    /// What `_run_step` records once its first attempt is under way: the record's step,
    /// provider, model and endpoint, the body the step sends when it is logged and not the
    /// client's, the attempt; and `main`'s principal.
    fn commit(&self, py: Python<'_>, frame: &Frame, sent: &Sent) -> PyResult<()> {
        let run = frame.run.bind(py);
        // SAFETY (every get/set below): `prepare` checked each object's class, and a slot of
        // an exact instance stays one of that class.
        let g = |i| unsafe { self.run.get(run, i) };
        let (Some(record), Some(req), Some(collect)) = (g(R_RECORD), g(R_REQ), g(R_COLLECT)) else {
            return Err(PyRuntimeError::new_err("a request's run lost its record"));
        };
        if !self.record.is(&record) {
            return Err(PyTypeError::new_err("a request's record is not a LogRecord"));
        }
        let (plan, upstream) = (sent.plan.bind(py), sent.upstream.bind(py));
        let call =
            unsafe { self.plan.get(plan, PL_CALL) }.ok_or_else(|| PyRuntimeError::new_err("a plan lost its call"))?;
        let set = |i, v: Bound<'_, PyAny>| unsafe { self.record.set(&record, i, v) };
        let none = || py.None().into_bound(py);
        set(
            L_PRINCIPAL,
            unsafe { self.request.get(&req, Q_PRINCIPAL) }.unwrap_or_else(none),
        );
        set(L_STEP, unsafe { self.plan.get(plan, PL_INDEX) }.unwrap_or_else(none));
        let c = |i| unsafe { self.call.get(&call, i) }.unwrap_or_else(none);
        set(L_PROVIDER, c(CL_PROVIDER));
        set(L_MODEL, c(CL_MODEL));
        set(L_ENDPOINT, c(CL_ENDPOINT));
        if collect.is_truthy()? {
            let body = unsafe { self.upstream.get(upstream, U_BODY) }.unwrap_or_else(none);
            let logged = unsafe { self.record.get(&record, L_REQUEST_BODY) };
            if !matches!(&logged, Some(logged) if logged.is(&body)) {
                self.keep_request_body.bind(py).call1((&record, body))?;
            }
        }
        let attempts = unsafe { self.record.get(&record, L_ATTEMPTS) }
            .ok_or_else(|| PyRuntimeError::new_err("a record lost its attempts"))?;
        match attempts.downcast::<PyList>() {
            Ok(list) => list.append(sent.attempt.bind(py)),
            Err(_) => attempts
                .call_method1(intern!(py, "append"), (sent.attempt.bind(py),))
                .map(drop),
        }
    }

    /// The answer's head arrived: the usual whole answer delivered and the request finished
    /// (its record), or None for `_Run.resumed` to take it, nothing changed.
    fn answered<'py>(&self, py: Python<'py>, frame: &Frame, sent: &Sent) -> PyResult<Option<Bound<'py, PyAny>>> {
        // An exception (the upstream's failure, or InvalidStateError when resumed before the
        // answer came) is `client.sent`'s to raise again or to wait for.
        let Ok(response) = sent.waiter.bind(py).call_method0(intern!(py, "result")) else {
            return Ok(None);
        };
        let now: f64 = self.monotonic.bind(py).call0()?.extract()?;
        let run = frame.run.bind(py);
        let delivered = self
            .whole_answer
            .get()
            .deliver(run, sent.plan.bind(py), &response, sent.attempt.bind(py));
        match delivered {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return self.failed(py, frame, sent, Some(&response), e).map(Some),
        }
        // SAFETY (every get/set below): `prepare` checked each object's class.
        let g = |i| unsafe { self.run.get(run, i) };
        let (Some(record), Some(rt)) = (g(R_RECORD), g(R_RT)) else {
            return Err(PyRuntimeError::new_err("a request's run lost its record"));
        };
        let collect = frame.collect.bind(py).is_truthy()?;
        let set = |i, ms: f64| unsafe { self.record.set(&record, i, PyFloat::new(py, ms).into_any()) };
        set(L_TTFB_MS, (now - sent.started) * 1000.0);
        let end: f64 = self.monotonic.bind(py).call0()?.extract()?;
        let attempt = sent.attempt.bind(py);
        // SAFETY: `prepare` checked the attempt's class.
        unsafe {
            self.attempt
                .set(attempt, 0, PyFloat::new(py, (end - sent.started) * 1000.0).into_any())
        };
        let started: f64 = frame.started.bind(py).extract()?;
        set(L_DURATION_MS, (end - started) * 1000.0);
        // `_Run._finish`: the observers, then the loggers.
        let r = |i| unsafe { self.runtime.get(&rt, i) };
        if let Some(observers) = r(RT_OBSERVERS) {
            for observer in observers.try_iter()? {
                observer?.call_method1(intern!(py, "observe"), (&record,))?;
            }
        }
        if collect {
            if let Some(loggers) = r(RT_LOGGERS) {
                for logger in loggers.try_iter()? {
                    logger?.call_method1(intern!(py, "log"), (&record,))?;
                }
            }
        }
        Ok(Some(record))
    }

    /// `_Run.failed_natively`: `error` raised once the attempt had begun, ended as `main`
    /// ends it (the record, or the error raised again).
    fn failed<'py>(
        &self,
        py: Python<'py>,
        frame: &Frame,
        sent: &Sent,
        response: Option<&Bound<'py, PyAny>>,
        error: PyErr,
    ) -> PyResult<Bound<'py, PyAny>> {
        let none = py.None().into_bound(py);
        frame.run.bind(py).call_method1(
            intern!(py, "failed_natively"),
            (
                response.unwrap_or(&none),
                sent.attempt.bind(py),
                sent.started,
                error.into_value(py),
                frame.collect.bind(py),
                frame.started.bind(py),
            ),
        )
    }
}

/// What `prepare` read and made for the first attempt.
struct Prepared<'py> {
    plan: Bound<'py, PyAny>,
    upstream: Bound<'py, PyAny>,
    attempt: Bound<'py, PyAny>,
    started: f64,
    pool: Bound<'py, PyAny>,
    owner: Bound<'py, PyAny>,
    data: Bound<'py, PyAny>,
    is_head: Bound<'py, PyAny>,
    first_byte_timeout: Bound<'py, PyAny>,
    total_deadline: Bound<'py, PyAny>,
}
