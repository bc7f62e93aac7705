//! The Python binding `aigw._codec`: thin wrappers over the plain-Rust codecs.
//! This is the only module that may use pyo3.

use pyo3::prelude::*;

/// The extension module `aigw._codec`.
#[pymodule]
fn _codec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    upstream_bindings::register(m)?;
    Ok(())
}

// ---- HTTP heads, chunked bodies, SSE/NDJSON (upstream helper) ----
mod upstream_bindings {
    use crate::chunked::ChunkedDecoder as RsChunked;
    use crate::http::{self, HeadError, Header, Limits};
    use crate::sse::{NdjsonDecoder as RsNdjson, SseDecoder as RsSse, SseEvent, StreamError};
    use pyo3::buffer::PyBuffer;
    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

    pyo3::create_exception!(_codec, HttpParseError, PyValueError, "A malformed or oversized HTTP head: args (status, message).");

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("HttpParseError", m.py().get_type::<HttpParseError>())?;
        m.add_function(wrap_pyfunction!(parse_request_head, m)?)?;
        m.add_function(wrap_pyfunction!(parse_response_head, m)?)?;
        m.add_class::<ChunkedDecoder>()?;
        m.add_class::<SseDecoder>()?;
        m.add_class::<NdjsonDecoder>()?;
        Ok(())
    }

    /// Runs `f` on the bytes of a bytes-like object: zero-copy for `bytes`, one copy otherwise.
    fn with_bytes<R>(data: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
        if let Ok(b) = data.downcast::<PyBytes>() {
            return Ok(f(b.as_bytes()));
        }
        let buf = PyBuffer::<u8>::get(data)?;
        Ok(f(&buf.to_vec(data.py())?))
    }

    fn head_error(e: HeadError) -> PyErr {
        HttpParseError::new_err((e.status, e.message))
    }

    fn headers_list<'py>(py: Python<'py>, headers: &[Header<'_>]) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (name, value) in headers {
            list.append((PyBytes::new(py, name), PyBytes::new(py, value)))?;
        }
        Ok(list)
    }

    fn ascii(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn latin1(b: &[u8]) -> String {
        b.iter().map(|&c| char::from(c)).collect()
    }

    #[pyfunction]
    #[pyo3(signature = (data, max_size=16384, max_headers=100, *, max_target=8192, start_hint=0))]
    fn parse_request_head<'py>(
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        max_size: usize,
        max_headers: usize,
        max_target: usize,
        start_hint: usize,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let limits = Limits { max_size, max_headers, max_target };
        with_bytes(data, |d| match http::parse_request_head(d, limits, start_hint) {
            Ok(None) => Ok(None),
            Ok(Some(h)) => {
                let headers = headers_list(py, &h.headers)?;
                Ok(Some((ascii(h.method), ascii(h.target), h.minor_version, headers, h.consumed).into_pyobject(py)?))
            }
            Err(e) => Err(head_error(e)),
        })?
    }

    #[pyfunction]
    #[pyo3(signature = (data, max_size=65536, max_headers=200, *, start_hint=0))]
    fn parse_response_head<'py>(
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        max_size: usize,
        max_headers: usize,
        start_hint: usize,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let limits = Limits { max_size, max_headers, max_target: max_size };
        with_bytes(data, |d| match http::parse_response_head(d, limits, start_hint) {
            Ok(None) => Ok(None),
            Ok(Some(h)) => {
                let headers = headers_list(py, &h.headers)?;
                Ok(Some((h.status, latin1(h.reason), h.minor_version, headers, h.consumed).into_pyobject(py)?))
            }
            Err(e) => Err(head_error(e)),
        })?
    }

    fn stream_error(e: StreamError) -> PyErr {
        PyValueError::new_err(e.0)
    }

    /// Incremental chunked transfer-coding decoder.
    #[pyclass(module = "aigw._codec")]
    pub struct ChunkedDecoder {
        inner: RsChunked,
        unused: Vec<u8>,
    }

    #[pymethods]
    impl ChunkedDecoder {
        #[new]
        #[pyo3(signature = (max_chunk_size=1 << 40))]
        fn new(max_chunk_size: u64) -> Self {
            ChunkedDecoder { inner: RsChunked::new(max_chunk_size), unused: Vec::new() }
        }

        /// Decode one read; returns the body bytes it contained (b"" when none).
        fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
            let whole = data.downcast::<PyBytes>().ok().cloned();
            let inner = &mut self.inner;
            let unused = &mut self.unused;
            with_bytes(data, |d| {
                if inner.done() {
                    unused.extend_from_slice(d);
                    return Ok(PyBytes::new(py, b"").into_any());
                }
                let mut spans = Vec::new();
                let used = inner.feed(d, &mut spans).map_err(|e| PyValueError::new_err(e.0))?;
                unused.extend_from_slice(d.get(used..).unwrap_or(&[]));
                match spans.as_slice() {
                    [] => Ok(PyBytes::new(py, b"").into_any()),
                    [one] if one.start == 0 && one.end == d.len() && whole.is_some() => {
                        Ok(whole.clone().map(Bound::into_any).unwrap_or_else(|| PyBytes::new(py, b"").into_any()))
                    }
                    [one] => Ok(PyBytes::new(py, d.get(one.clone()).unwrap_or(&[])).into_any()),
                    many => {
                        let total: usize = many.iter().map(|r| r.len()).sum();
                        let b = PyBytes::new_with(py, total, |buf| {
                            let mut at = 0;
                            for r in many {
                                let piece = d.get(r.clone()).unwrap_or(&[]);
                                if let Some(dst) = buf.get_mut(at..at + piece.len()) {
                                    dst.copy_from_slice(piece);
                                }
                                at += piece.len();
                            }
                            Ok(())
                        })?;
                        Ok(b.into_any())
                    }
                }
            })?
        }

        /// True once the terminating chunk and trailers were read.
        #[getter]
        fn done(&self) -> bool {
            self.inner.done()
        }

        /// Bytes fed after the end of the chunked body (the start of the next message).
        #[getter]
        fn unused_data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
            PyBytes::new(py, &self.unused)
        }
    }

    /// WHATWG server-sent events decoder.
    #[pyclass(module = "aigw._codec")]
    pub struct SseDecoder {
        inner: RsSse,
        /// The last event type handed to Python, reused while it repeats.
        last_type: Option<(String, Py<PyString>)>,
    }

    #[pymethods]
    impl SseDecoder {
        #[new]
        #[pyo3(signature = (max_event_size=8 << 20))]
        fn new(max_event_size: usize) -> Self {
            SseDecoder { inner: RsSse::new(max_event_size), last_type: None }
        }

        /// Decode one read; returns the events it completed as (event, data, id) tuples.
        fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
            let list = PyList::empty(py);
            let mut failed: Option<PyErr> = None;
            let inner = &mut self.inner;
            let last_type = &mut self.last_type;
            let r = with_bytes(data, |d| {
                inner.feed(d, &mut |e: SseEvent<'_>| {
                    let event: Option<Py<PyString>> = e.event.map(|t| match last_type {
                        Some((s, p)) if s == t => p.clone_ref(py),
                        _ => {
                            let p = PyString::new(py, t).unbind();
                            *last_type = Some((t.to_owned(), p.clone_ref(py)));
                            p
                        }
                    });
                    let item = (event, PyBytes::new(py, e.data), e.id);
                    if let Err(err) = list.append(item) {
                        failed.get_or_insert(err);
                    }
                })
            })?;
            if let Some(err) = failed {
                return Err(err);
            }
            r.map_err(stream_error)?;
            Ok(list)
        }

        /// End of stream: True when an unterminated event or line was discarded (truncated).
        fn finish(&mut self) -> bool {
            self.inner.finish()
        }

        /// The last valid `retry:` value in milliseconds, or None.
        #[getter]
        fn retry(&self) -> Option<u64> {
            self.inner.retry()
        }

        /// The last event id seen, or None.
        #[getter]
        fn last_event_id(&self) -> Option<String> {
            self.inner.last_event_id().map(str::to_owned)
        }
    }

    /// Newline-delimited JSON line splitter.
    #[pyclass(module = "aigw._codec")]
    pub struct NdjsonDecoder {
        inner: RsNdjson,
    }

    #[pymethods]
    impl NdjsonDecoder {
        #[new]
        #[pyo3(signature = (max_line_size=8 << 20))]
        fn new(max_line_size: usize) -> Self {
            NdjsonDecoder { inner: RsNdjson::new(max_line_size) }
        }

        /// Decode one read; returns its complete non-empty lines without terminators.
        fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
            let list = PyList::empty(py);
            let mut failed: Option<PyErr> = None;
            let inner = &mut self.inner;
            let r = with_bytes(data, |d| {
                inner.feed(d, &mut |line: &[u8]| {
                    if let Err(err) = list.append(PyBytes::new(py, line)) {
                        failed.get_or_insert(err);
                    }
                })
            })?;
            if let Some(err) = failed {
                return Err(err);
            }
            r.map_err(stream_error)?;
            Ok(list)
        }

        /// End of stream: the final unterminated line, or None.
        fn finish<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
            self.inner.finish().map(|l| PyBytes::new(py, &l))
        }
    }
}
// ---- end upstream helper ----
