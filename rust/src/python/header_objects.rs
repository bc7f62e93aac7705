//! Header names and values as Python objects, made as cheaply as CPython allows: the names
//! most requests and answers carry are made once per process (text interned, so its hash is
//! computed once for every dict it keys, and bytes), and any other text is decoded as
//! ISO-8859-1 (RFC 9110 §5.5) by CPython in one pass, without a copy through a Rust `String`.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

/// Lowercase header names seen on nearly every request or answer through the gateway (the
/// parsers lowercase names, so these are the only spellings looked up).
const COMMON: [&[u8]; 32] = [
    b"host",
    b"user-agent",
    b"accept",
    b"accept-encoding",
    b"accept-language",
    b"authorization",
    b"connection",
    b"content-length",
    b"content-type",
    b"content-encoding",
    b"transfer-encoding",
    b"keep-alive",
    b"cache-control",
    b"date",
    b"server",
    b"vary",
    b"via",
    b"x-request-id",
    b"x-api-key",
    b"traceparent",
    b"tracestate",
    b"anthropic-version",
    b"anthropic-beta",
    b"openai-organization",
    b"openai-project",
    b"openai-version",
    b"openai-processing-ms",
    b"x-stainless-lang",
    b"x-stainless-package-version",
    b"x-stainless-os",
    b"x-stainless-runtime",
    b"x-stainless-retry-count",
];

static MADE: GILOnceCell<Vec<(Py<PyString>, Py<PyBytes>)>> = GILOnceCell::new();

fn made(py: Python<'_>) -> &Vec<(Py<PyString>, Py<PyBytes>)> {
    MADE.get_or_init(py, || {
        COMMON
            .iter()
            .map(|name| {
                // Every entry of COMMON is ASCII, so this is its text.
                let text = std::str::from_utf8(name).unwrap_or_default();
                (PyString::intern(py, text).unbind(), PyBytes::new(py, name).unbind())
            })
            .collect()
    })
}

fn common(name: &[u8]) -> Option<usize> {
    if name.len() > 27 {
        return None; // longer than any common name: no comparisons
    }
    COMMON.iter().position(|n| *n == name)
}

/// `name` as text: the shared object for a common name, else decoded as ISO-8859-1.
pub fn name_str<'py>(py: Python<'py>, name: &[u8]) -> PyResult<Bound<'py, PyString>> {
    match common(name) {
        Some(i) => Ok(made(py)[i].0.clone_ref(py).into_bound(py)),
        None => latin1_str(py, name),
    }
}

/// `name` as bytes: the shared object for a common name, else a new one.
pub fn name_bytes<'py>(py: Python<'py>, name: &[u8]) -> Bound<'py, PyBytes> {
    match common(name) {
        Some(i) => made(py)[i].1.clone_ref(py).into_bound(py),
        None => PyBytes::new(py, name),
    }
}

/// `b` as text, byte for code point (ISO-8859-1): CPython's own latin-1 decoder, which copies
/// the bytes once (an ASCII string when they are all ASCII). Fails only when out of memory.
pub fn latin1_str<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: the pointer and length describe the live slice `b`, which CPython only reads
    // (copying it into the new string) during the call; errors is NULL, which the latin-1
    // decoder accepts (it cannot fail on any byte). A NULL result (out of memory) becomes the
    // raised exception in from_owned_ptr_or_err; otherwise we own the new reference.
    let text = unsafe {
        let ptr = ffi::PyUnicode_DecodeLatin1(b.as_ptr().cast(), b.len() as ffi::Py_ssize_t, std::ptr::null());
        Bound::from_owned_ptr_or_err(py, ptr)?
    };
    Ok(text.downcast_into::<PyString>()?)
}

/// A header field as the server's parser keeps it: (name, value) bytes.
pub type BytesPair<'py> = (Bound<'py, PyBytes>, Bound<'py, PyBytes>);

/// The `(name, value)` pairs of `raw` when it is what the server's parser keeps (`Headers.raw`):
/// a list of 2-tuples of bytes. None for anything else (a tuple of pairs, str pairs, ...), which
/// the callers leave to their Python path.
pub fn bytes_pairs<'py>(raw: &Bound<'py, PyAny>) -> PyResult<Option<Vec<BytesPair<'py>>>> {
    let Ok(raw) = raw.downcast::<PyList>() else { return Ok(None) };
    let mut pairs = Vec::with_capacity(raw.len());
    for item in raw.iter() {
        let Ok(pair) = item.downcast_into::<PyTuple>() else { return Ok(None) };
        if pair.len() != 2 {
            return Ok(None);
        }
        let (Ok(name), Ok(value)) = (pair.get_item(0)?.downcast_into::<PyBytes>(), pair.get_item(1)?.downcast_into::<PyBytes>()) else {
            return Ok(None);
        };
        pairs.push((name, value));
    }
    Ok(Some(pairs))
}
