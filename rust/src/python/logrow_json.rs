//! The JSON columns of a log row (metadata, attempts, custom cost, session): Python values
//! written as compact JSON straight into the row's buffer, with serde_json's escaping and
//! float digits (orjson's spelling may differ, never the value). Anything this writer does
//! not know (an int past 64 bits, an object, a lone surrogate) makes it answer false: the
//! caller leaves that record to the Python encoder.

use super::slot_reader::SlotReader;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// Containers nested deeper than this are left to Python (its encoder reports them).
const MAX_JSON_DEPTH: usize = 32;

/// `s` as a JSON string.
pub(super) fn json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping: `"`, `\` and control characters; everything else as UTF-8.
    out.push(b'"');
    crate::envelope::push_escaped_str(out, s);
    out.push(b'"');
}

/// `v` as compact JSON (None, bool, int, float, str, dict with str keys, list, tuple); false
/// for anything else (nothing useful is left in `out` then: the caller discards it).
pub(super) fn json(out: &mut Vec<u8>, v: &Bound<'_, PyAny>, depth: usize) -> PyResult<bool> {
    if depth > MAX_JSON_DEPTH {
        return Ok(false);
    }
    if v.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(s) = v.downcast::<PyString>() {
        match super::text_of(s) {
            Ok(text) => json_str(out, text),
            Err(_) => return Ok(false),
        }
    } else if let Ok(b) = v.downcast::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
    } else if v.is_instance_of::<PyInt>() {
        match v.extract::<i64>() {
            Ok(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            Err(_) => return Ok(false),
        }
    } else if let Ok(f) = v.downcast::<PyFloat>() {
        // Non-finite floats are `null`, as orjson writes them; the digits are serde_json's.
        let x = f.value();
        if x.is_finite() {
            out.extend_from_slice(zmij::Buffer::new().format_finite(x).as_bytes());
        } else {
            out.extend_from_slice(b"null");
        }
    } else if let Ok(d) = v.downcast::<PyDict>() {
        out.push(b'{');
        for (i, (k, item)) in d.iter().enumerate() {
            let Ok(key) = k.downcast::<PyString>() else { return Ok(false) };
            let Ok(key) = super::text_of(key) else { return Ok(false) };
            if i > 0 {
                out.push(b',');
            }
            json_str(out, key);
            out.push(b':');
            if !json(out, &item, depth + 1)? {
                return Ok(false);
            }
        }
        out.push(b'}');
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        out.push(b'[');
        for (i, item) in v.try_iter()?.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if !json(out, &item?, depth + 1)? {
                return Ok(false);
            }
        }
        out.push(b']');
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// The `i`th attempt as a JSON object of `keys` (`"name":` each) and their values, appended to
/// `out` (with a comma before all but the first); false when a value cannot be written here.
/// `fields` is scratch space for the values, reused across attempts.
pub(super) fn attempt_json<'py>(
    out: &mut Vec<u8>,
    reader: &SlotReader,
    keys: &[Vec<u8>],
    fields: &mut Vec<Bound<'py, PyAny>>,
    i: usize,
    attempt: &Bound<'py, PyAny>,
) -> PyResult<bool> {
    out.extend_from_slice(if i > 0 { b",{" } else { b"{" });
    fields.clear();
    reader.get_all(attempt, fields)?;
    for (j, (key, value)) in keys.iter().zip(fields.iter()).enumerate() {
        if j > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key);
        if !json(out, value, 1)? {
            return Ok(false);
        }
    }
    out.push(b'}');
    Ok(true)
}
