//! The HTTP doors' passes over a request's headers, one native call each: splitting the
//! client's headers into the provider's and the gateway's options (`split_client_fields`), and
//! the headers a provider call forwards (`forwardable_headers`). Each replaces a Python loop
//! over every header (a dict comprehension, a filter), 25–40 bytecodes a header per pass
//! (benches/README.md, "Bytecodes per request").
//!
//! The sets of names stay in Python (`aigw.api.http_routes._HOP`, `aigw.providers`'
//! `_NOT_FORWARDED`): they are handed in, so the rules have one spelling. The prefixes
//! (`cf-aig-`, `proxy-`) are the gateway's own and fixed.

use super::header_objects::{bytes_pairs, latin1_str, name_str};
use crate::header_rules::{is_clean_value, is_lowercase_token, named_by_connection};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple, PyType};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(split_client_fields, m)?)?;
    m.add_function(wrap_pyfunction!(forwardable_headers, m)?)?;
    m.add_function(wrap_pyfunction!(any_name_starts, m)?)?;
    m.add_function(wrap_pyfunction!(gateway_token, m)?)?;
    Ok(())
}

const OPTION_PREFIX: &str = "cf-aig-";
const GATEWAY_TOKEN: &str = "cf-aig-authorization";
const PROXY_PREFIX: &str = "proxy-";
const TRACEPARENT: &str = "traceparent";

/// A request's headers split as the HTTP doors pass them on, from `raw`, the `(name, value)`
/// bytes pairs as the server's parser keeps them (`Headers.raw`); each name keeps its last
/// value, in the order names were first seen. Names starting `cf-aig-` go to the options (the
/// gateway token, `cf-aig-authorization`, to neither); names in `hop`, starting `proxy-`, or
/// named by the request's first `connection` value are the client's hop and dropped; the rest
/// go to the provider, and W3C `traceparent` to the options as well (the provider's headers
/// then hold no option of the request's). Both results are new instances of `cls` (a dict
/// subclass) holding text (latin-1, as `Headers` decodes).
///
/// Reading the pairs rather than `Headers`' name index means the index is not built for a
/// request that needs nothing else from it. None (nothing split) unless every item is a pair
/// of bytes, every name a lowercase token and every value a clean field value: what
/// `aigw.validation.header_fields` would keep unchanged. A parser that enforces RFC 9110 yields
/// only such headers; anything else is left to the Python path, which checks and reports it.
#[pyfunction]
#[pyo3(signature = (raw, hop, cls))]
pub(crate) fn split_client_fields<'py>(
    raw: &Bound<'py, PyAny>,
    hop: &Bound<'py, PyAny>,
    cls: &Bound<'py, PyType>,
) -> PyResult<Option<(Bound<'py, PyDict>, Bound<'py, PyDict>)>> {
    let py = raw.py();
    let Some(pairs) = bytes_pairs(raw)? else { return Ok(None) };
    // Each pair's bytes read once (the objects stay alive in `pairs`).
    let fields: Vec<(&[u8], &[u8])> = pairs.iter().map(|(name, value)| (name.as_bytes(), value.as_bytes())).collect();
    if !fields.iter().all(|&(name, value)| is_lowercase_token(name) && is_clean_value(value)) {
        return Ok(None);
    }
    // The first Connection value names more hop headers (as `Headers.get` reads it).
    let connection: Option<String> = fields.iter().find(|(name, _)| *name == b"connection").map(|(_, value)| value.iter().map(|&b| b as char).collect());
    let provider = cls.call0()?.downcast_into::<PyDict>()?;
    let options = cls.call0()?.downcast_into::<PyDict>()?;
    for &(name, value) in &fields {
        if name.starts_with(OPTION_PREFIX.as_bytes()) {
            if name != GATEWAY_TOKEN.as_bytes() {
                options.set_item(name_str(py, name)?, latin1_str(py, value)?)?;
            }
            continue;
        }
        if name.starts_with(PROXY_PREFIX.as_bytes()) {
            continue;
        }
        if let Some(connection) = &connection {
            // A lowercase token is ASCII, so this never fails.
            let Ok(text) = std::str::from_utf8(name) else { return Ok(None) };
            if named_by_connection(text, connection) {
                continue;
            }
        }
        let key = name_str(py, name)?;
        if hop.contains(&key)? {
            continue;
        }
        let value = latin1_str(py, value)?;
        if name == TRACEPARENT.as_bytes() {
            options.set_item(&key, &value)?; // an option too: the request's trace
        }
        provider.set_item(key, value)?;
    }
    Ok(Some((provider, options)))
}

/// The gateway token an HTTP request presents, as `bearer_token(headers.get("cf-aig-authorization"))`
/// reads it (aigw/api/gateway_context.py): the first `cf-aig-authorization` field of `raw`
/// (the `(name, value)` bytes pairs as the server's parser keeps them), its value
/// `Bearer <token>` with the scheme in any case, the token trimmed. None when there is no such
/// token, and also (so the Python decides) when an item before it is not a pair of bytes or
/// its value holds a byte other than visible ASCII, space and tab.
#[pyfunction]
pub(crate) fn gateway_token<'py>(raw: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyString>>> {
    let Ok(raw) = raw.downcast::<PyList>() else {
        return Ok(None);
    };
    for item in raw.iter() {
        let Ok(pair) = item.downcast_into::<PyTuple>() else {
            return Ok(None);
        };
        if pair.len() != 2 {
            return Ok(None);
        }
        let Ok(name) = pair.get_item(0)?.downcast_into::<PyBytes>() else {
            return Ok(None);
        };
        if name.as_bytes() != GATEWAY_TOKEN.as_bytes() {
            continue;
        }
        let Ok(value) = pair.get_item(1)?.downcast_into::<PyBytes>() else {
            return Ok(None);
        };
        return Ok(bearer(value.as_bytes()).map(|token| PyString::new(raw.py(), token)));
    }
    Ok(None)
}

/// `bearer_token(value)` for a value of visible ASCII, spaces and tabs (where Python's
/// `strip` removes exactly spaces and tabs); None for any other value.
fn bearer(value: &[u8]) -> Option<&str> {
    if !value.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        return None;
    }
    let value = trim_blanks(value);
    // `scheme, _, token = value.partition(" ")`
    let (scheme, token) = match value.iter().position(|&b| b == b' ') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, &value[value.len()..]),
    };
    let token = trim_blanks(token);
    if !scheme.eq_ignore_ascii_case(b"bearer") || token.is_empty() {
        return None;
    }
    std::str::from_utf8(token).ok() // ASCII, checked above
}

/// `s` without its leading and trailing spaces and tabs.
fn trim_blanks(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// The `(name, value)` pairs of `headers` (a dict, lowercase names) that a provider call
/// forwards: all but names in `excluded` and names starting `cf-aig-` or `proxy-`. In the
/// dict's order. With `auth` (a name and a value) every field of that name is dropped and the
/// pair appended instead (a stored key replaces the client's); with `default_type`, a
/// `content-type: application/json` is appended when no Content-Type is forwarded. TypeError
/// for a name that is not a str.
#[pyfunction]
#[pyo3(signature = (headers, excluded, auth=None, default_type=false))]
pub(crate) fn forwardable_headers<'py>(
    headers: &Bound<'py, PyDict>,
    excluded: &Bound<'py, PyAny>,
    auth: Option<(Bound<'py, PyString>, Bound<'py, PyAny>)>,
    default_type: bool,
) -> PyResult<Bound<'py, PyList>> {
    let py = headers.py();
    let out = PyList::empty(py);
    let auth_name = match &auth {
        Some((name, _)) => Some(super::text_of(name)?),
        None => None,
    };
    let mut has_type = false;
    for (name, value) in headers.iter() {
        let text = super::text_of(name.downcast::<PyString>()?)?;
        if text.starts_with(OPTION_PREFIX) || text.starts_with(PROXY_PREFIX) || auth_name == Some(text) || excluded.contains(&name)? {
            continue;
        }
        has_type |= text == "content-type";
        out.append(PyTuple::new(py, [name, value])?)?;
    }
    if let Some((name, value)) = &auth {
        has_type |= auth_name == Some("content-type");
        out.append((name, value))?;
    }
    if default_type && !has_type {
        out.append(("content-type", "application/json"))?;
    }
    Ok(out)
}

/// Whether any key of `headers` (a dict of str names) starts with `prefix`: the pipeline's
/// "may this request set an option" test, one pass without a Python loop. TypeError for a
/// name that is not a str.
#[pyfunction]
pub(crate) fn any_name_starts(headers: &Bound<'_, PyDict>, prefix: &str) -> PyResult<bool> {
    for name in headers.keys() {
        if super::text_of(name.downcast::<PyString>()?)?.starts_with(prefix) {
            return Ok(true);
        }
    }
    Ok(false)
}
