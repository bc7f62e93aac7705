//! The Python binding `aigw._codec`: thin wrappers over the plain-Rust codecs.
//! It and its submodules in python/ are the only code that may use pyo3.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList};
use std::borrow::Cow;

// ---- conversions shared by every binding module ----
/// Borrow the bytes of a bytes-like object: bytes without a copy, others copied (a
/// bytearray may be resized by code that runs while we hold the slice).
fn bytes_like<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(b) = obj.downcast::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    match PyBuffer::<u8>::get(obj) {
        Ok(buf) => Ok(Cow::Owned(buf.to_vec(obj.py())?)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "expected a bytes-like object, got {}",
            obj.get_type().name()?
        ))),
    }
}

/// A str's text as UTF-8, read in place for the usual ASCII string; `PyString::to_str` (its
/// UTF-8 made and cached by CPython) for any other. UnicodeEncodeError for lone surrogates.
/// On the request path strings are read a few dozen times a request: this is a flag test and
/// two loads where `to_str` is a call into CPython and an error check.
#[inline]
fn text_of<'a>(s: &'a Bound<'_, pyo3::types::PyString>) -> PyResult<&'a str> {
    let op = s.as_ptr();
    // SAFETY: `op` is a live str (the Bound holds a reference, the GIL is held). A compact
    // ASCII str (CPython's unicodeobject.h: `state.compact && state.ascii`) stores its
    // `length` characters, one byte each, all below 0x80, right after its PyASCIIObject
    // header, and never changes them: the bytes are valid UTF-8 and live as long as `s`.
    unsafe {
        if pyo3::ffi::PyUnicode_IS_COMPACT_ASCII(op) != 0 {
            let len = pyo3::ffi::PyUnicode_GET_LENGTH(op) as usize;
            let data = (op as *mut pyo3::ffi::PyASCIIObject).offset(1) as *const u8;
            return Ok(std::str::from_utf8_unchecked(std::slice::from_raw_parts(data, len)));
        }
    }
    s.to_str()
}

/// Appends items to a new list from inside a plain-Rust callback (which cannot fail);
/// remembers the first Python error for `finish`.
struct ListSink<'py> {
    list: Bound<'py, PyList>,
    err: Option<PyErr>,
}

impl<'py> ListSink<'py> {
    fn new(py: Python<'py>) -> Self {
        ListSink {
            list: PyList::empty(py),
            err: None,
        }
    }

    fn push(&mut self, item: impl IntoPyObject<'py>) {
        if self.err.is_none() {
            if let Err(e) = self.list.append(item) {
                self.err = Some(e);
            }
        }
    }

    /// The list, or the first error.
    fn finish(self) -> PyResult<Bound<'py, PyList>> {
        match self.err {
            Some(e) => Err(e),
            None => Ok(self.list),
        }
    }
}

// One module per binding area (granian-style `register(m)`), in rust/src/python/.
mod checked_json; // the last answer a usage reader found to be JSON (created_message skips re-checking it)
mod chunk_push; // a pushed upstream stream's on_data, natively
mod eventstream; // AWS event stream (Bedrock)
mod fastcall; // builtin functions called without an argument tuple
mod header_objects; // header names and values as Python objects (common names made once)
mod headers; // the HTTP doors' passes over a request's headers
mod http_receive; // the HTTP server's reading of the usual request, natively
mod http_serve; // the HTTP server's steps around each request, natively
mod http_whole; // the HTTP doors' usual whole answer, natively
mod kernels; // mask/UTF-8 kernels for benches
mod logrow; // SQLite log rows in marshal format for the writer process
mod logrow_json; // a log row's JSON columns
mod logstore; // the writer process's SQLite store
mod metrics; // Prometheus counts per label set
mod relay; // the Universal API's stream relay (SSE, NDJSON, AWS event stream)
mod slot_layout; // __slots__ read and written in place by native code
mod slot_reader; // attributes read straight from __slots__ instances
mod slots; // dataclass instances built in one native call
mod upstream; // HTTP heads, chunked bodies, SSE/NDJSON decoders
mod upstream_exchange; // the upstream client's usual exchange, natively
mod upstream_body; // its streamed body: the head, each pushed read, the end
mod usual_plan; // the pipeline's usual plan, natively
mod usual_build; // a provider's usual upstream request, natively
mod usual_door; // the gateway's usual HTTP request up to the pipeline, natively
mod usual_compat; // the /compat chat doors' usual pass-through, for usual_door
mod usual_main; // the pipeline's usual request, natively, as one awaitable
mod usual_request; // that awaitable's coroutine protocol
mod usual_run; // the pipeline's usual start, natively
mod usual_start; // the Universal WebSocket session's usual start, natively
mod usual_drive; // a usual Universal WebSocket request run without an asyncio Task
mod http_drive; // a usual HTTP request answered without an asyncio Task
mod ws_receive; // the server WebSocket's read
mod whole_answer; // the pipeline's usual whole answer, natively
mod ws; // the WebSocket codec
mod ws_whole; // the Universal WebSocket's usual whole answer, natively
mod ws_stream; // the Universal WebSocket sink's consume of a pushed stream, natively
mod translated_push; // a /compat translated stream's usual read, natively
mod http_stream; // the HTTP sink's consume of a relayed stream, natively

/// The extension module `aigw._codec`.
#[pymodule]
fn _codec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    ws::register(m)?;
    upstream::register(m)?;
    upstream_exchange::register(m)?;
    whole_answer::register(m)?;
    http_whole::register(m)?;
    http_receive::register(m)?;
    http_serve::register(m)?;
    ws_whole::register(m)?;
    ws_stream::register(m)?;
    chunk_push::register(m)?;
    translated_push::register(m)?;
    http_stream::register(m)?;
    usual_plan::register(m)?;
    usual_run::register(m)?;
    usual_main::register(m)?;
    usual_start::register(m)?;
    usual_drive::register(m)?;
    http_drive::register(m)?;
    ws_receive::register(m)?;
    usual_door::register(m)?;
    usual_build::register(m)?;
    kernels::register(m)?;
    headers::register(m)?;
    relay::register(m)?;
    eventstream::register(m)?;
    logrow::register(m)?;
    logstore::register(m)?;
    metrics::register(m)?;
    slots::register(m)?;
    Ok(())
}
