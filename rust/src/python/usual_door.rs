//! The gateway's usual HTTP request in native code, from the server's call to the pipeline:
//! a provider route (`ANY /v1/{account}/{gateway}/{provider}/{rest}`) to a gateway entered
//! without an await, naming no option, with its body all here, made into its GatewayRequest
//! and the StreamedResponse whose producer runs it, as `GatewayApp._dispatch` (aigw/gateway.py)
//! then `HttpDoors.provider` and `_answer` (aigw/api/http_routes.py) do.
//!
//! Any other built-in route that is not public (the Universal endpoint, /compat, the logs API),
//! to a gateway entered so, gets its handler's awaitable straight away: what `_dispatch` awaits
//! for it, without `_dispatch`'s frame.
//!
//! A gateway is entered without an await when it needs no token and was entered before
//! (`FrontDoor._opened`, the policy still the gateway's: read in place), or else when
//! `FrontDoor.enter_now` (Python) enters it: one that needs no token, or one whose token the
//! auth backend accepts without an await (`AuthenticatesNow`, as the built-in `tokens` backend
//! does). A provider-route request is entered after every other check, so one the door declines
//! is entered once, by `_dispatch`.
//!
//! Those stay the specification and the path for every other request: the door's function
//! returns `_dispatch(request)`'s coroutine, having changed nothing, unless the request is
//! exactly a `Request` whose route the router has cached as the provider route, whose gateway
//! is entered so, whose headers split natively (`split_client_fields`) with no `cf-aig-*` option, whose
//! target holds no `%`, and whose doors keep no record list (`on_record`). The producer reads
//! `run` and `plain_http_sink` from http_routes' globals on each call, as the Python lambda
//! does, and calls the pipeline's native set-up (`_usual_run`) itself when `run` is the
//! pipeline's. The objects are read in their `__slots__` (`slot_layout::Layout`).

use super::fastcall::{one_argument_through_trampoline, MethodDef};
use super::headers::{gateway_token, split_client_fields};
use super::relay::stream_and_model;
use super::slot_layout::{is_false, Classes, Layout};
use super::usual_compat::{self, run_and_maker, CompatPart, Plan};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple, PyType, PyWeakrefMethods, PyWeakrefReference};
use pyo3::{PyTraverseError, PyVisit};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<UsualDoor>()?; // AppDoor and DoorProducer are made by it, never from Python
    Ok(())
}

const REQUEST_SLOTS: &[&str] = &["method", "path", "target", "query", "headers", "_body"];
const Q_METHOD: usize = 0;
const Q_PATH: usize = 1;
const Q_TARGET: usize = 2;
const Q_QUERY: usize = 3;
const Q_HEADERS: usize = 4;
const Q_BODY: usize = 5;

const ROUTER_SLOTS: &[&str] = &["_dirty", "_hits"];
const RT_DIRTY: usize = 0;
const RT_HITS: usize = 1;

const MATCH_SLOTS: &[&str] = &["route", "params"];
const M_ROUTE: usize = 0;
const M_PARAMS: usize = 1;

const FRONT_DOOR_SLOTS: &[&str] = &["_opened", "_policies", "_locked", "_auth_now"];
const F_OPENED: usize = 0;
const F_POLICIES: usize = 1;
const F_LOCKED: usize = 2;
const F_AUTH_NOW: usize = 3;

const CONTEXT_SLOTS: &[&str] = &["name", "policy", "principal"];
const X_NAME: usize = 0;
const X_POLICY: usize = 1;
const X_PRINCIPAL: usize = 2;

const ROUTE_SLOTS: &[&str] = &["handler", "public"];
const RO_HANDLER: usize = 0;
const RO_PUBLIC: usize = 1;

const DOORS_SLOTS: &[&str] = &["runtime", "on_record"];
const D_RUNTIME: usize = 0;
const D_ON_RECORD: usize = 1;

/// The classes whose slots the door reads: (Request, Headers, Router, RouteMatch, Route,
/// FrontDoor, GatewayContext, HttpDoors).
const CLASSES: usize = 8;

/// The usual provider-route request (see the module docs), made once by aigw/gateway.py;
/// `function` makes each GatewayApp's `http`.
#[pyclass(module = "aigw._codec", frozen)]
pub struct UsualDoor {
    request: Layout,
    headers: Layout,
    router: Layout,
    matched: Layout,
    route: Layout,
    front_door: Layout,
    context: Layout,
    doors: Layout,
    /// `GatewayApp._dispatch` (the function), for every other request.
    dispatch: Py<PyAny>,
    /// http_routes' `_HOP` and `CheckedHeaders`, as `client_hop_headers` gives them.
    hop: Py<PyAny>,
    checked_headers: Py<PyType>,
    new_log_id: Py<PyAny>,
    make_step: Py<PyAny>,
    make_request: Py<PyAny>,
    streamed_response: Py<PyAny>,
    /// aigw/api/http_routes.py's globals, for `run` and `plain_http_sink`.
    globals: Py<PyDict>,
    /// aigw.pipeline's `run` and its native set-up (`_usual_run`).
    pipeline_run: Py<PyAny>,
    usual_run: Py<PyAny>,
    /// The /compat chat doors' usual pass-through (usual_compat.rs).
    compat: CompatPart,
    /// GatewayContext's maker (`aigw.slots_maker.maker`).
    make_context: Py<PyAny>,
}

#[pymethods]
impl UsualDoor {
    /// `classes`: (Request, Headers, Router, RouteMatch, Route, FrontDoor, GatewayContext,
    /// HttpDoors), their slots checked (ValueError); `dispatch`: `GatewayApp._dispatch`;
    /// `hop`, `checked_headers`: what `client_hop_headers` splits with; then `new_log_id`, the
    /// StepRequest and GatewayRequest makers, `streamed_response`, http_routes' globals,
    /// aigw.pipeline's `run` and `_usual_run`; `compat_classes`: (CompatDoors, Passthrough),
    /// `compat_globals`: compat_routes' globals; `make_context`: GatewayContext's maker.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        classes: Classes<'_, CLASSES>,
        dispatch: Bound<'_, PyAny>,
        hop: Bound<'_, PyAny>,
        checked_headers: Bound<'_, PyType>,
        new_log_id: Bound<'_, PyAny>,
        make_step: Bound<'_, PyAny>,
        make_request: Bound<'_, PyAny>,
        streamed_response: Bound<'_, PyAny>,
        globals: Bound<'_, PyDict>,
        pipeline_run: Bound<'_, PyAny>,
        usual_run: Bound<'_, PyAny>,
        compat_classes: Classes<'_, { usual_compat::CLASSES }>,
        compat_globals: Bound<'_, PyDict>,
        make_context: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let [request, headers, router, matched, route, front_door, context, doors] = classes;
        Ok(UsualDoor {
            request: Layout::new(&request, REQUEST_SLOTS)?,
            headers: Layout::new(&headers, &["raw"])?,
            router: Layout::new(&router, ROUTER_SLOTS)?,
            matched: Layout::new(&matched, MATCH_SLOTS)?,
            route: Layout::new(&route, ROUTE_SLOTS)?,
            front_door: Layout::new(&front_door, FRONT_DOOR_SLOTS)?,
            context: Layout::new(&context, CONTEXT_SLOTS)?,
            doors: Layout::new(&doors, DOORS_SLOTS)?,
            dispatch: dispatch.unbind(),
            hop: hop.unbind(),
            checked_headers: checked_headers.unbind(),
            new_log_id: new_log_id.unbind(),
            make_step: make_step.unbind(),
            make_request: make_request.unbind(),
            streamed_response: streamed_response.unbind(),
            globals: globals.unbind(),
            pipeline_run: pipeline_run.unbind(),
            usual_run: usual_run.unbind(),
            compat: CompatPart::new(compat_classes, compat_globals)?,
            make_context: make_context.unbind(),
        })
    }

    /// `http(request)` for `app` as a builtin function: the usual request's StreamedResponse,
    /// or `app._dispatch(request)`'s coroutine. `router`, `front_door`, `doors`: the app's; `route`:
    /// the provider route (`router.add`'s answer); `compat`: the /compat doors, and
    /// `compat_routes` their chat routes, `((route, front), ...)`. It holds `app` weakly (the
    /// app holds it).
    #[allow(clippy::too_many_arguments)]
    fn function<'py>(
        slf: &Bound<'py, Self>,
        app: &Bound<'py, PyAny>,
        router: &Bound<'py, PyAny>,
        front_door: &Bound<'py, PyAny>,
        doors: &Bound<'py, PyAny>,
        route: &Bound<'py, PyAny>,
        compat: &Bound<'py, PyAny>,
        compat_routes: Vec<(Bound<'py, PyAny>, Bound<'py, PyString>)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let door = slf.get();
        if !(door.router.is(router)
            && door.front_door.is(front_door)
            && door.doors.is(doors)
            && door.compat.reads(compat))
        {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "UsualDoor.function: not the classes it reads",
            ));
        }
        let bound = Bound::new(
            py,
            AppDoor {
                door: slf.clone().unbind(),
                app: PyWeakrefReference::new(app)?.unbind(),
                router: router.clone().unbind(),
                front_door: front_door.clone().unbind(),
                doors: doors.clone().unbind(),
                route: route.clone().unbind(),
                compat: compat.clone().unbind(),
                compat_routes: compat_routes
                    .into_iter()
                    .map(|(r, f)| (r.unbind(), f.into_any().unbind()))
                    .collect(),
            },
        )?;
        HTTP.bind(&bound)
    }
}

/// One GatewayApp's `http` (made by `UsualDoor.function`).
#[pyclass(module = "aigw._codec", frozen)]
pub struct AppDoor {
    door: Py<UsualDoor>,
    app: Py<PyWeakrefReference>,
    router: Py<PyAny>,
    front_door: Py<PyAny>,
    doors: Py<PyAny>,
    route: Py<PyAny>,
    /// The /compat doors and their chat routes with each one's front door.
    compat: Py<PyAny>,
    compat_routes: Vec<(Py<PyAny>, Py<PyAny>)>,
}

impl AppDoor {
    fn http<'py>(&self, request: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = request.py();
        let door = self.door.get();
        let found = match door.usual(self, request)? {
            Door::Answered(answer) => return Ok(answer),
            Door::Resolved(found) => found,
            Door::Unresolved => py.None().into_bound(py),
        };
        let Some(app) = self.app.bind(py).upgrade() else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err("the gateway app is gone"));
        };
        // `_dispatch(request, False, found)`: the route the door resolved is not resolved again.
        door.dispatch.bind(py).call1((app, request, false, found))
    }
}

static HTTP: MethodDef<AppDoor> =
    MethodDef::one_argument(c"http", c"The gateway app's http(request) (aigw.gateway).", http_fast);
one_argument_through_trampoline!(http_fast, AppDoor, http);

/// What the door made of a request.
enum Door<'py> {
    /// The usual request's StreamedResponse.
    Answered(Bound<'py, PyAny>),
    /// Another request to a route the router had cached: its RouteMatch, for `_dispatch`.
    Resolved(Bound<'py, PyAny>),
    /// Another request, its route not looked up.
    Unresolved,
}

impl UsualDoor {
    /// What the front door's dict slot `slot` (`_opened` or `_locked`) remembers of gateway
    /// `name`, `(entered, account_id)`, when `policy_of(entered)` is still the gateway's policy
    /// and `params`' account is its own: `entered`. None otherwise (then `enter_now` decides).
    fn remembered<'py>(
        &self,
        front_door: &Bound<'py, PyAny>,
        slot: usize,
        name: &Bound<'py, PyAny>,
        params: &Bound<'py, PyDict>,
        policy_of: impl Fn(&Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = front_door.py();
        // SAFETY: the front door was checked to be exactly its class when the function was made.
        let f = |i| unsafe { self.front_door.get(front_door, i) };
        let (Some(remembered), Some(policies)) = (f(slot), f(F_POLICIES)) else {
            return Ok(None);
        };
        let (Ok(remembered), Ok(policies)) = (remembered.downcast_into::<PyDict>(), policies.downcast_into::<PyDict>())
        else {
            return Ok(None);
        };
        let Some(pair) = remembered.get_item(name)? else {
            return Ok(None);
        };
        let Ok(pair) = pair.downcast_into_exact::<PyTuple>() else {
            return Ok(None);
        };
        if pair.len() != 2 {
            return Ok(None);
        }
        let (entered, account_id) = (pair.get_item(0)?, pair.get_item(1)?);
        let Some(policy) = policy_of(&entered) else {
            return Ok(None);
        };
        match policies.get_item(name)? {
            Some(current) if current.is(&policy) => {}
            _ => return Ok(None), // a replaced policy: entered afresh
        }
        if let Some(account) = params.get_item(intern!(py, "account"))? {
            if account_id.is_truthy()? && !account_id.eq(&account)? {
                return Ok(None);
            }
        }
        Ok(Some(entered))
    }

    /// `FrontDoor.enter_without_token`'s usual answer read in place: the context of a gateway
    /// that needs no token, as `_opened` keeps it (see `remembered`).
    fn opened_context<'py>(
        &self,
        front_door: &Bound<'py, PyAny>,
        name: &Bound<'py, PyAny>,
        params: &Bound<'py, PyDict>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.remembered(front_door, F_OPENED, name, params, |ctx| {
            // SAFETY: `get` runs only on an object just checked to be exactly GatewayContext.
            self.context
                .is(ctx)
                .then(|| unsafe { self.context.get(ctx, X_POLICY) })
                .flatten()
        })
    }

    /// The request's GatewayContext: `opened` (`opened_context`'s); else, for a gateway that
    /// needs a token as `_locked` keeps it (see `remembered`), one made here with the
    /// principal `FrontDoor._auth_now` gives for the request's token (`gateway_token`, read
    /// from `raw`, the request's header pairs); else what `FrontDoor.enter_now` gives (Python:
    /// a gateway entered now, with the request's token if it needs one). None when the token
    /// is refused, the gateway must be awaited, or `enter_now` gives no context.
    #[allow(clippy::too_many_arguments)]
    fn entered<'py>(
        &self,
        opened: Option<Bound<'py, PyAny>>,
        front_door: &Bound<'py, PyAny>,
        request: &Bound<'py, PyAny>,
        route: &Bound<'py, PyAny>,
        params: &Bound<'py, PyDict>,
        name: &Bound<'py, PyAny>,
        raw: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = front_door.py();
        if let Some(ctx) = opened {
            return Ok(Some(ctx));
        }
        let locked = self.remembered(front_door, F_LOCKED, name, params, |policy| Some(policy.clone()))?;
        // SAFETY: the front door was checked to be exactly its class when the function was made.
        let auth_now = unsafe { self.front_door.get(front_door, F_AUTH_NOW) };
        if let (Some(policy), Some(auth_now), Some(raw)) = (locked, auth_now, raw) {
            if let Some(token) = gateway_token(raw)? {
                let principal = auth_now.call1((name, token))?;
                if principal.is_none() {
                    return Ok(None); // refused: `_dispatch` answers 401
                }
                return Ok(Some(self.make_context.bind(py).call1((name, policy, principal))?));
            }
        }
        let ctx = front_door.call_method1(intern!(py, "enter_now"), (request, route, params))?;
        Ok(self.context.is(&ctx).then_some(ctx))
    }

    /// The usual request's StreamedResponse, or what the door found before it declined,
    /// having changed nothing.
    fn usual<'py>(&self, app: &AppDoor, request: &Bound<'py, PyAny>) -> PyResult<Door<'py>> {
        let py = request.py();
        if !self.request.is(request) {
            return Ok(Door::Unresolved);
        }
        // SAFETY (every get below): each object was checked to be exactly its class (the
        // router, front door and doors when the function was made; they are never replaced).
        let q = |i| unsafe { self.request.get(request, i) };
        let (Some(method), Some(path), Some(target), Some(query), Some(headers), Some(body)) =
            (q(Q_METHOD), q(Q_PATH), q(Q_TARGET), q(Q_QUERY), q(Q_HEADERS), q(Q_BODY))
        else {
            return Ok(Door::Unresolved);
        };
        // router.resolve: a cached match of a built-in route, the router compiled.
        let router = app.router.bind(py);
        let rt = |i| unsafe { self.router.get(router, i) };
        let (Some(dirty), Some(hits)) = (rt(RT_DIRTY), rt(RT_HITS)) else {
            return Ok(Door::Unresolved);
        };
        if !dirty.is(PyBool::new(py, false)) {
            return Ok(Door::Unresolved);
        }
        let Ok(hits) = hits.downcast_into::<PyDict>() else {
            return Ok(Door::Unresolved);
        };
        let key = PyTuple::new(py, [method.clone(), path, PyBool::new(py, false).to_owned().into_any()])?;
        let Some(found) = hits.get_item(key)? else {
            return Ok(Door::Unresolved);
        };
        if !self.matched.is(&found) {
            return Ok(Door::Unresolved);
        }
        let m = |i| unsafe { self.matched.get(&found, i) };
        let (Some(route), Some(params)) = (m(M_ROUTE), m(M_PARAMS)) else {
            return Ok(Door::Resolved(found));
        };
        // Another route than the provider route: a built-in one that is not public (the
        // router caches no other), entered as below, then its handler's awaitable.
        let provider_route = route.is(app.route.bind(py));
        let private = self.route.is(&route) && is_false(&unsafe { self.route.get(&route, RO_PUBLIC) });
        if !(provider_route || private) {
            return Ok(Door::Resolved(found));
        }
        let Ok(params) = params.downcast_into_exact::<PyDict>() else {
            return Ok(Door::Resolved(found));
        };
        let Some(name) = params.get_item(intern!(py, "gateway"))? else {
            return Ok(Door::Resolved(found));
        };
        // FrontDoor.enter_without_token's usual answer, read in place.
        let front_door = app.front_door.bind(py);
        let opened = self.opened_context(front_door, &name, &params)?;
        if !provider_route {
            // _dispatch's `await route.handler(request, params, ctx)`, awaited by the server.
            // SAFETY: `get` runs only on headers just checked to be exactly Headers.
            let raw = self
                .headers
                .is(&headers)
                .then(|| unsafe { self.headers.get(&headers, 0) })
                .flatten();
            let Some(ctx) = self.entered(opened, front_door, request, &route, &params, &name, raw.as_ref())? else {
                return Ok(Door::Resolved(found));
            };
            if let Some(answer) = self.compat_passthrough(app, request, &route, &ctx, &headers, &body)? {
                return Ok(Door::Answered(answer));
            }
            let Some(handler) = (unsafe { self.route.get(&route, RO_HANDLER) }) else {
                return Ok(Door::Resolved(found));
            };
            return Ok(Door::Answered(handler.call1((request, params, ctx))?));
        }
        let (Some(provider), Some(rest)) = (
            params.get_item(intern!(py, "provider"))?,
            params.get_item(intern!(py, "rest"))?,
        ) else {
            return Ok(Door::Resolved(found));
        };
        // HttpDoors.provider: the usual request names no option and has its body here.
        let doors = app.doors.bind(py);
        let d = |i| unsafe { self.doors.get(doors, i) };
        let (Some(runtime), Some(on_record)) = (d(D_RUNTIME), d(D_ON_RECORD)) else {
            return Ok(Door::Resolved(found));
        };
        if !on_record.is_none() || body.is_none() || !self.headers.is(&headers) {
            return Ok(Door::Resolved(found));
        }
        let Ok(target) = target.downcast_into::<PyString>() else {
            return Ok(Door::Resolved(found));
        };
        if super::text_of(&target)?.contains('%') {
            return Ok(Door::Resolved(found)); // the raw rest may differ from the decoded one (_encoded_rest)
        }
        let Some(raw) = (unsafe { self.headers.get(&headers, 0) }) else {
            return Ok(Door::Resolved(found));
        };
        let Some((fields, options)) = split_client_fields(&raw, self.hop.bind(py), self.checked_headers.bind(py))?
        else {
            return Ok(Door::Resolved(found));
        };
        if !options.is_empty() {
            return Ok(Door::Resolved(found));
        }
        let (Ok(endpoint), Ok(query)) = (rest.downcast::<PyString>(), query.downcast::<PyString>()) else {
            return Ok(Door::Resolved(found));
        };
        let content_type = match fields.get_item(intern!(py, "content-type"))? {
            Some(v) => v.downcast_into::<PyString>()?,
            None => intern!(py, "json").clone(),
        };
        // The gateway entered last: a request declined above is entered by `_dispatch`.
        let Some(ctx) = self.entered(opened, front_door, request, &route, &params, &name, Some(&raw))? else {
            return Ok(Door::Resolved(found));
        };
        // The usual request from here on: what provider() and _answer() make.
        let (stream, model) = stream_and_model(
            super::text_of(endpoint)?,
            super::text_of(query)?,
            super::text_of(&content_type)?,
            &body,
        )?;
        let step = self.make_step.bind(py).call1((
            provider,
            endpoint,
            &fields,
            &body,
            stream,
            model,
            py.None(),
            method,
            query,
        ))?;
        let answer = self.answer(
            app,
            &ctx,
            intern!(py, "provider"),
            step,
            options.into_any(),
            runtime,
            None,
        )?;
        Ok(Door::Answered(answer))
    }

    /// `_answer`'s StreamedResponse for one step: its GatewayRequest of `request_type` for
    /// the gateway of `ctx` (exactly a GatewayContext) with a new log id, run by a producer
    /// through `compat`'s pass-through sink `(front, answering)`, else the plain HTTP sink.
    #[allow(clippy::too_many_arguments)]
    fn answer<'py>(
        &self,
        app: &AppDoor,
        ctx: &Bound<'py, PyAny>,
        request_type: &Bound<'py, PyString>,
        step: Bound<'py, PyAny>,
        options: Bound<'py, PyAny>,
        runtime: Bound<'py, PyAny>,
        compat: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = ctx.py();
        // SAFETY: the caller checked `ctx` to be exactly GatewayContext.
        let x = |i| unsafe { self.context.get(ctx, i) };
        let (Some(ctx_name), Some(policy), Some(principal)) = (x(X_NAME), x(X_POLICY), x(X_PRINCIPAL)) else {
            return Err(pyo3::exceptions::PyAttributeError::new_err(
                "a GatewayContext without its fields",
            ));
        };
        let log_id = self.new_log_id.bind(py).call0()?;
        let steps = PyList::new(py, [step])?;
        // `ctx.principal.id if ctx.principal is not None else None`
        let principal_id = if principal.is_none() {
            principal
        } else {
            principal.getattr(intern!(py, "id"))?
        };
        let gw_request = self.make_request.bind(py).call1((
            ctx_name,
            request_type,
            &log_id,
            steps,
            options,
            &log_id,
            principal_id,
        ))?;
        let producer = Bound::new(
            py,
            DoorProducer {
                door: app.door.clone_ref(py),
                runtime: runtime.unbind(),
                policy: policy.unbind(),
                request: gw_request.unbind(),
                compat: compat.map(|(front, answering)| (front.unbind(), answering.unbind())),
            },
        )?;
        let produce = PRODUCE.bind(&producer)?;
        self.streamed_response.bind(py).call1((produce,))
    }

    /// A /compat chat route's usual pass-through (usual_compat.rs) as `CompatDoors._handle`
    /// answers it, to the gateway of `ctx` (exactly a GatewayContext); for another request to
    /// it whose body the door read, `_handle`'s coroutine given what was read; None for any
    /// other request, having changed nothing.
    fn compat_passthrough<'py>(
        &self,
        app: &AppDoor,
        request: &Bound<'py, PyAny>,
        route: &Bound<'py, PyAny>,
        ctx: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        body: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = request.py();
        let Some(front) = app
            .compat_routes
            .iter()
            .find(|(r, _)| r.is(route))
            .map(|(_, f)| f.bind(py))
        else {
            return Ok(None);
        };
        let doors = app.compat.bind(py);
        let plan = match self.compat.plan(doors, front, body)? {
            Plan::Passthrough(plan) => plan,
            // `_handle(front, request, ctx, lone)`'s coroutine, the body read once
            Plan::Read(lone) => {
                return Ok(Some(
                    doors.call_method1(intern!(py, "_handle"), (front, request, ctx, lone))?,
                ))
            }
            Plan::Unread => return Ok(None),
        };
        // `_, options = client_hop_headers(request)`: a request naming an option (an event id,
        // a cache setting, ...) is `_handle`'s.
        // SAFETY: `get` runs only on headers just checked to be exactly Headers.
        let raw = self
            .headers
            .is(headers)
            .then(|| unsafe { self.headers.get(headers, 0) })
            .flatten();
        let split = match raw {
            Some(raw) => split_client_fields(&raw, self.hop.bind(py), self.checked_headers.bind(py))?,
            None => None,
        };
        let Some((_, options)) = split.filter(|(_, options)| options.is_empty()) else {
            let handled = doors.call_method1(intern!(py, "_handle"), (front, request, ctx, plan.read.answer()?))?;
            return Ok(Some(handled));
        };
        // make_step_request(plain.provider, endpoint, CheckedHeaders(), body, stream, plain.model, None, "POST", query)
        let step = self.make_step.bind(py).call1((
            plan.provider,
            plan.endpoint,
            self.checked_headers.bind(py).call0()?,
            plan.body,
            plan.stream,
            plan.model,
            py.None(),
            intern!(py, "POST"),
            plan.query,
        ))?;
        let compat = Some((front.clone(), plan.answering));
        Ok(Some(self.answer(
            app,
            ctx,
            intern!(py, "compat"),
            step,
            options.into_any(),
            plan.runtime,
            compat,
        )?))
    }
}

/// The producer of one usual request's StreamedResponse: `run(runtime, policy, request,
/// plain_http_sink(response, False))`, `run` and `plain_http_sink` read from http_routes'
/// globals when called; for a /compat pass-through, `run(runtime, policy, request,
/// _passthrough_sink(response, front, answering))` from compat_routes' globals.
#[pyclass(module = "aigw._codec", frozen)]
pub struct DoorProducer {
    door: Py<UsualDoor>,
    runtime: Py<PyAny>,
    policy: Py<PyAny>,
    request: Py<PyAny>,
    /// A /compat pass-through's (front, answering).
    compat: Option<(Py<PyAny>, Py<PyAny>)>,
}

impl DoorProducer {
    fn produce<'py>(&self, response: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = response.py();
        let door = self.door.get();
        let (run, sink) = match &self.compat {
            Some((front, answering)) => door.compat.run_and_sink(response, front.bind(py), answering.bind(py))?,
            None => {
                let (run, make_sink) = run_and_maker(door.globals.bind(py), intern!(py, "plain_http_sink"))?;
                (run, make_sink.call1((response, false))?)
            }
        };
        let args = (self.runtime.bind(py), self.policy.bind(py), self.request.bind(py), sink);
        if run.is(door.pipeline_run.bind(py)) {
            // pipeline.run's first line, without its frame: the usual set-up, natively.
            let usual = door.usual_run.bind(py).call1(args.clone())?;
            if !usual.is_none() {
                return Ok(usual);
            }
        }
        run.call1(args)
    }
}

static PRODUCE: MethodDef<DoorProducer> = MethodDef::one_argument(
    c"produce",
    c"A usual provider-route request's producer (aigw.gateway).",
    produce_fast,
);
one_argument_through_trampoline!(produce_fast, DoorProducer, produce);

#[pymethods]
impl AppDoor {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.router)?;
        visit.call(&self.front_door)?;
        visit.call(&self.doors)?;
        visit.call(&self.route)?;
        visit.call(&self.compat)?;
        for (route, front) in &self.compat_routes {
            visit.call(route)?;
            visit.call(front)?;
        }
        Ok(())
    }
}

#[pymethods]
impl DoorProducer {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.runtime)?;
        visit.call(&self.policy)?;
        visit.call(&self.request)?;
        if let Some((front, answering)) = &self.compat {
            visit.call(front)?;
            visit.call(answering)?;
        }
        Ok(())
    }
}
