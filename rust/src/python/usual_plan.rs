//! The pipeline's usual plan in native code: each step of a request that names no option,
//! resolved to its provider, its headers, the gateway's own retry and cache policies and the
//! credential to use, as `plan_steps` in aigw/pipeline.py does.
//!
//! `plan_steps` stays the specification and the path for every other request: this returns
//! None, having changed nothing (it only builds new objects and asks the key store), unless
//! every step is the usual one: a known provider, a checked endpoint, no request-level headers,
//! step headers that are none or a door's checked ones and name no `cf-` option, no `config`,
//! a provider that keeps HttpProvider's `has_client_auth`, and either the client's auth header
//! or the default stored key. Errors (too many steps, an unknown provider, missing
//! credentials) are left to `plan_steps` to report. Objects are read in their `__slots__`
//! (`slot_layout::Layout`).

use super::fastcall::{self, FixedArity, MethodDef};
use super::headers::any_name_starts;
use super::slot_layout::{is_false, Classes, Layout};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PySequence, PySet, PyType};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<UsualPlan>()?;
    Ok(())
}

const RUNTIME_SLOTS: &[&str] = &["providers", "keys"];
const RT_PROVIDERS: usize = 0;
const RT_KEYS: usize = 1;

const POLICY_SLOTS: &[&str] = &["max_steps", "retry", "cache_ttl"];
const GW_MAX_STEPS: usize = 0;
const GW_RETRY: usize = 1;
const GW_CACHE_TTL: usize = 2;

const REQUEST_SLOTS: &[&str] = &["steps"];
const Q_STEPS: usize = 0;

const STEP_SLOTS: &[&str] = &[
    "provider", "endpoint", "headers", "body", "stream", "model", "config", "method", "query",
];
const ST_PROVIDER: usize = 0;
const ST_ENDPOINT: usize = 1;
const ST_HEADERS: usize = 2;
const ST_BODY: usize = 3;
const ST_STREAM: usize = 4;
const ST_MODEL: usize = 5;
const ST_CONFIG: usize = 6;
const ST_METHOD: usize = 7;
const ST_QUERY: usize = 8;

const OVERRIDES_SLOTS: &[&str] = &["has_client_auth"];
const O_HAS_CLIENT_AUTH: usize = 0;

/// The classes whose slots the function reads: (Runtime, GatewayPolicy, GatewayRequest,
/// StepRequest, Overrides, SettingsKeyStore).
const CLASSES: usize = 6;

/// The pipeline's usual plan (see the module docs), made once by aigw/pipeline.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct UsualPlan {
    runtime: Layout,
    policy: Layout,
    request: Layout,
    step: Layout,
    overrides: Layout,
    /// The gateway's own key store (aigw/key_store.py), whose `_keys` is read in place.
    key_store: Layout,
    /// validation's `_PASSED_ENDPOINTS` (endpoints already checked), `CheckedHeaders`.
    passed_endpoints: Py<PySet>,
    checked_headers: Py<PyType>,
    /// The pipeline's memos: ttl → the no-option cache policy; provider class → Overrides;
    /// provider class → whether it prefers a stored key's alias.
    no_options_caching: Py<PyDict>,
    overrides_memo: Py<PyDict>,
    prefers_alias: Py<PyDict>,
    make_call: Py<PyAny>,
    make_plan: Py<PyAny>,
}

#[pymethods]
impl UsualPlan {
    /// `classes`: (Runtime, GatewayPolicy, GatewayRequest, StepRequest, Overrides,
    /// SettingsKeyStore), their slots checked (ValueError); the rest as named on the struct.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        classes: Classes<'_, CLASSES>,
        passed_endpoints: Bound<'_, PySet>,
        checked_headers: Bound<'_, PyType>,
        no_options_caching: Bound<'_, PyDict>,
        overrides_memo: Bound<'_, PyDict>,
        prefers_alias: Bound<'_, PyDict>,
        make_call: Bound<'_, PyAny>,
        make_plan: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let [runtime, policy, request, step, overrides, key_store] = classes;
        Ok(UsualPlan {
            runtime: Layout::new(&runtime, RUNTIME_SLOTS)?,
            policy: Layout::new(&policy, POLICY_SLOTS)?,
            request: Layout::new(&request, REQUEST_SLOTS)?,
            step: Layout::new(&step, STEP_SLOTS)?,
            overrides: Layout::new(&overrides, OVERRIDES_SLOTS)?,
            key_store: Layout::new(&key_store, &["_keys"])?,
            passed_endpoints: passed_endpoints.unbind(),
            checked_headers: checked_headers.unbind(),
            no_options_caching: no_options_caching.unbind(),
            overrides_memo: overrides_memo.unbind(),
            prefers_alias: prefers_alias.unbind(),
            make_call: make_call.unbind(),
            make_plan: make_plan.unbind(),
        })
    }

    /// `plan(rt, gw, req, headers)` as a builtin function: the request's list of StepPlans as
    /// `plan_steps` makes them when every step is the usual one, else None.
    fn function<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        PLAN.bind(slf)
    }
}

static PLAN: MethodDef<UsualPlan> = MethodDef::fastcall(
    c"plan",
    c"plan(rt, gw, req, headers): plan_steps' answer for the usual request, else None.",
    fastcall::fixed_arity::<UsualPlan, 4>,
);

impl FixedArity<4> for UsualPlan {
    const FUNCTION: &'static str = "plan";

    fn call<'py>(&self, py: Python<'py>, args: [Bound<'py, PyAny>; 4]) -> PyResult<Bound<'py, PyAny>> {
        let [rt, gw, req, headers] = &args;
        Ok(self
            .plan(rt, gw, req, headers)?
            .unwrap_or_else(|| py.None().into_bound(py)))
    }
}

impl UsualPlan {
    /// `keys.lookup(name, None)`: the stored default key of provider `name`, or None. Read in
    /// `SettingsKeyStore._keys` when `keys` is exactly one (`_keys.get(name, {}).get("default")`),
    /// else asked of `keys` (another KeyStore).
    fn default_key<'py>(&self, keys: &Bound<'py, PyAny>, name: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = keys.py();
        if self.key_store.is(keys) {
            // SAFETY: `keys` was just checked to be exactly SettingsKeyStore.
            if let Some(Ok(by_provider)) =
                unsafe { self.key_store.get(keys, 0) }.map(|k| k.downcast_into_exact::<PyDict>())
            {
                let Some(aliases) = by_provider.get_item(name)? else {
                    return Ok(py.None().into_bound(py));
                };
                if let Ok(aliases) = aliases.downcast_into_exact::<PyDict>() {
                    return Ok(aliases
                        .get_item(intern!(py, "default"))?
                        .unwrap_or_else(|| py.None().into_bound(py)));
                }
            }
        }
        keys.call_method1(intern!(py, "lookup"), (name, py.None()))
    }

    pub(crate) fn plan<'py>(
        &self,
        rt: &Bound<'py, PyAny>,
        gw: &Bound<'py, PyAny>,
        req: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = rt.py();
        if !(self.runtime.is(rt) && self.policy.is(gw) && self.request.is(req)) || headers.is_truthy()? {
            return Ok(None); // request-level headers are merged and checked by plan_steps
        }
        // SAFETY (every get below): each object was checked to be exactly its class.
        let g = |i| unsafe { self.policy.get(gw, i) };
        let (Some(steps), Some(max_steps), Some(retry), Some(ttl)) = (
            unsafe { self.request.get(req, Q_STEPS) },
            g(GW_MAX_STEPS),
            g(GW_RETRY),
            g(GW_CACHE_TTL),
        ) else {
            return Ok(None);
        };
        let Some(caching) = self.no_options_caching.bind(py).get_item(&ttl)? else {
            return Ok(None);
        };
        let Ok(steps) = steps.downcast_into::<PySequence>() else {
            return Ok(None);
        };
        let count = steps.len()?;
        if count as i64 > max_steps.extract::<i64>()? {
            return Ok(None); // plan_steps reports it
        }
        let (Some(providers), Some(keys)) = (unsafe { self.runtime.get(rt, RT_PROVIDERS) }, unsafe {
            self.runtime.get(rt, RT_KEYS)
        }) else {
            return Ok(None);
        };
        let Ok(providers) = providers.downcast_into::<PyDict>() else {
            return Ok(None);
        };
        let plans = PyList::empty(py);
        for index in 0..count {
            let step = steps.get_item(index)?;
            if !self.step.is(&step) {
                return Ok(None);
            }
            let s = |i| unsafe { self.step.get(&step, i) };
            let (Some(name), Some(endpoint), Some(own), Some(config)) =
                (s(ST_PROVIDER), s(ST_ENDPOINT), s(ST_HEADERS), s(ST_CONFIG))
            else {
                return Ok(None);
            };
            if config.is_truthy()? || !self.passed_endpoints.bind(py).contains(&endpoint)? {
                return Ok(None); // retry_policy reads a config; check_endpoint checks a new endpoint
            }
            let Some(provider) = providers.get_item(&name)? else {
                return Ok(None);
            };
            // A copy of the step's headers: none, or a door's checked ones (plan_steps' inline case).
            let step_headers = if !own.is_truthy()? {
                PyDict::new(py)
            } else if own.get_type().is(self.checked_headers.bind(py)) {
                own.downcast::<PyDict>()?.copy()?
            } else {
                return Ok(None);
            };
            match any_name_starts(&step_headers, "cf-") {
                Ok(false) => {}
                _ => return Ok(None), // an option (or a name that is not text): plan_steps
            }
            let kind = provider.get_type();
            let Some(overrides) = self.overrides_memo.bind(py).get_item(&kind)? else {
                return Ok(None);
            };
            if !self.overrides.is(&overrides)
                || !is_false(&unsafe { self.overrides.get(&overrides, O_HAS_CLIENT_AUTH) })
            {
                return Ok(None);
            }
            let auth_header = provider.getattr(intern!(py, "auth_header"))?;
            let key = match step_headers.get_item(&auth_header)? {
                Some(value) if value.is_truthy()? => py.None().into_bound(py), // the client's own key
                _ => {
                    let prefers = self.prefers_alias.bind(py).get_item(&kind)?;
                    if !is_false(&prefers) || step_headers.contains(intern!(py, "cf-aig-byok-alias"))? {
                        return Ok(None); // _stored_key's other cases
                    }
                    let key = self.default_key(&keys, &name)?;
                    if key.is_none() {
                        return Ok(None); // plan_steps raises ProviderCredentialsMissing
                    }
                    key
                }
            };
            let (Some(body), Some(query), Some(method), Some(stream), Some(model)) =
                (s(ST_BODY), s(ST_QUERY), s(ST_METHOD), s(ST_STREAM), s(ST_MODEL))
            else {
                return Ok(None);
            };
            let call =
                self.make_call
                    .bind(py)
                    .call1((&name, &endpoint, body, step_headers, query, method, stream, model))?;
            plans.append(
                self.make_plan
                    .bind(py)
                    .call1((index, provider, call, &retry, &caching, key, overrides))?,
            )?;
        }
        Ok(Some(plans.into_any()))
    }
}
