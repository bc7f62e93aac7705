//! A provider's usual upstream request in native code: what `HttpProvider.build_request`
//! (aigw/providers.py) builds for a call to a provider class that keeps that method, its URL
//! its own base URL joined with an endpoint checked and joined before: the client's headers
//! forwarded (`forwardable_headers`), the stored key in the provider's auth header, the
//! provider's `add_headers` (Python, when the class has its own), then the UpstreamRequest.
//!
//! `build_request` stays the specification and the path for every other call: `build` returns
//! None, having changed nothing, for a provider class with its own `build_request` or
//! `url_for`, a call with a query or a `?` in its endpoint, an endpoint not checked before,
//! headers of another kind, or a URL the memo has not joined; the pipeline then calls the
//! provider's method. The call is read in its `__slots__` (`slot_layout::Layout`); the
//! provider (a plugin's object, no slots) by attribute.

use super::headers::forwardable_headers;
use super::slot_layout::Layout;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PySet, PyString, PyTuple, PyType};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<UsualBuild>()?;
    Ok(())
}

const CALL_SLOTS: &[&str] = &["endpoint", "headers", "body", "query", "method"];
const C_ENDPOINT: usize = 0;
const C_HEADERS: usize = 1;
const C_BODY: usize = 2;
const C_QUERY: usize = 3;
const C_METHOD: usize = 4;

/// `HttpProvider.build_request`'s usual case (see the module docs), made once by
/// aigw/providers.py and given to the pipeline's `UsualMain`.
#[pyclass(module = "aigw._codec", frozen)]
pub struct UsualBuild {
    call: Layout,
    /// `HttpProvider.build_request` (the function a provider's class must keep).
    build_request: Py<PyAny>,
    /// validation's endpoints checked before, the fields never forwarded, CheckedHeaders.
    passed: Py<PySet>,
    excluded: Py<PyAny>,
    checked_headers: Py<PyType>,
    /// providers' `_JOINED` memo: (base URL, endpoint) → URL.
    joined: Py<PyDict>,
    make_upstream: Py<PyAny>,
}

#[pymethods]
impl UsualBuild {
    /// `call`: the Call class (its slots checked: ValueError); `build_request`:
    /// `HttpProvider.build_request`; `passed`: the set of endpoints checked before;
    /// `excluded`: the fields never forwarded; `checked_headers`: CheckedHeaders; `joined`:
    /// the URL memo (a dict); `make_upstream`: the UpstreamRequest maker.
    #[new]
    fn new(
        call: &Bound<'_, PyType>,
        build_request: Bound<'_, PyAny>,
        passed: Bound<'_, PySet>,
        excluded: Bound<'_, PyAny>,
        checked_headers: Bound<'_, PyType>,
        joined: Bound<'_, PyDict>,
        make_upstream: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        Ok(UsualBuild {
            call: Layout::new(call, CALL_SLOTS)?,
            build_request: build_request.unbind(),
            passed: passed.unbind(),
            excluded: excluded.unbind(),
            checked_headers: checked_headers.unbind(),
            joined: joined.unbind(),
            make_upstream: make_upstream.unbind(),
        })
    }

    /// `build(provider, call, key)`: the UpstreamRequest `provider.build_request(call, key)`
    /// returns, or None, having changed nothing, when the call is not the usual one.
    #[pyo3(name = "build")]
    fn build_py<'py>(
        &self,
        provider: &Bound<'py, PyAny>,
        call: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.build(provider, call, key)
    }
}

impl UsualBuild {
    /// See `build_py`.
    pub(crate) fn build<'py>(
        &self,
        provider: &Bound<'py, PyAny>,
        call: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = provider.py();
        if !self.call.is(call) {
            return Ok(None);
        }
        match provider.get_type().getattr(intern!(py, "build_request")) {
            Ok(own) if own.is(self.build_request.bind(py)) => {}
            _ => return Ok(None), // its own build_request (or none: the pipeline's call says so)
        }
        // SAFETY (every get below): `call` was checked to be exactly its class.
        let c = |i| unsafe { self.call.get(call, i) };
        let (Some(endpoint), Some(headers), Some(body), Some(query), Some(method)) =
            (c(C_ENDPOINT), c(C_HEADERS), c(C_BODY), c(C_QUERY), c(C_METHOD))
        else {
            return Ok(None);
        };
        let (Ok(endpoint), Ok(query)) = (endpoint.downcast_into::<PyString>(), query.downcast_into::<PyString>())
        else {
            return Ok(None);
        };
        if !self.passed.bind(py).contains(&endpoint)? {
            return Ok(None); // check_endpoint's to check (and report)
        }
        // url_for → join_url's memo, as build_request reads it.
        if provider.getattr(intern!(py, "_own_url_for"))?.is_truthy()?
            || !super::text_of(&query)?.is_empty()
            || super::text_of(&endpoint)?.contains('?')
        {
            return Ok(None);
        }
        let base_url = provider.getattr(intern!(py, "base_url"))?;
        let Some(url) = self
            .joined
            .bind(py)
            .get_item(PyTuple::new(py, [base_url, endpoint.into_any()])?)?
        else {
            return Ok(None);
        };
        let Ok(headers) = headers.downcast_into_exact::<PyDict>().or_else(|e| {
            let h = e.into_inner();
            if h.get_type().is(self.checked_headers.bind(py)) {
                h.downcast_into::<PyDict>().map_err(|_| ())
            } else {
                Err(())
            }
        }) else {
            return Ok(None);
        };
        let auth = if key.is_none() {
            None
        } else {
            let (Ok(scheme), Ok(key)) = (
                provider
                    .getattr(intern!(py, "auth_scheme"))?
                    .downcast_into::<PyString>(),
                key.downcast::<PyString>(),
            ) else {
                return Ok(None);
            };
            let name = provider.getattr(intern!(py, "auth_header"))?;
            let (Ok(name), Ok(scheme), Ok(key)) = (
                name.downcast_into::<PyString>(),
                super::text_of(&scheme),
                super::text_of(key),
            ) else {
                return Ok(None);
            };
            let value = PyString::new(py, &[scheme, key].concat());
            Some((name, value.into_any()))
        };
        let has_body = match body.downcast::<PyBytes>() {
            Ok(b) => !b.as_bytes().is_empty(),
            Err(_) => body.is_truthy()?,
        };
        // The usual call from here on: build_request's headers, add_headers, the request.
        let fields = forwardable_headers(&headers, self.excluded.bind(py), auth, has_body)?;
        if provider.getattr(intern!(py, "_adds_headers"))?.is_truthy()? {
            provider.call_method1(intern!(py, "add_headers"), (call, &fields))?;
        }
        Ok(Some(self.make_upstream.bind(py).call1((method, url, fields, body))?))
    }
}
