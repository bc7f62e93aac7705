//! The Python binding `aigw._codec`: thin wrappers over the plain-Rust codecs.
//! This is the only module that may use pyo3.

use pyo3::prelude::*;

// ---- websocket (codec-ws helper) ----
mod ws {
    //! `WsCodec`, `DeflateParams`, `negotiate_deflate` and the opcode constants. Type checks
    //! and object creation only; all parsing lives in `reader`/`writer`/`deflate`.

    use crate::deflate::{negotiate, DeflateParams as Params};
    use crate::frame::{OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};
    use crate::reader::{Event, Reader, ReaderConfig};
    use crate::writer::Writer;
    use pyo3::buffer::PyBuffer;
    use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
    use pyo3::ffi;
    use pyo3::prelude::*;
    use pyo3::types::{PyByteArray, PyBytes, PyList, PyString};
    use std::borrow::Cow;
    use std::os::raw::c_int;

    /// Event kind for a connection failure; not an opcode.
    pub const FAIL: u32 = 0x100;

    /// Negotiated permessage-deflate parameters (RFC 7692 §7).
    #[pyclass(module = "aigw._codec", name = "DeflateParams", eq, get_all, set_all)]
    #[derive(Clone, PartialEq, Eq)]
    pub struct PyDeflateParams {
        server_no_context_takeover: bool,
        client_no_context_takeover: bool,
        server_max_window_bits: u8,
        client_max_window_bits: u8,
    }

    fn check_bits(name: &str, bits: u8) -> PyResult<u8> {
        if (8..=15).contains(&bits) {
            Ok(bits)
        } else {
            Err(PyValueError::new_err(format!(
                "{name} must be 8..15, got {bits}"
            )))
        }
    }

    impl PyDeflateParams {
        fn to_params(&self) -> PyResult<Params> {
            Ok(Params {
                server_no_context_takeover: self.server_no_context_takeover,
                client_no_context_takeover: self.client_no_context_takeover,
                server_max_window_bits: check_bits(
                    "server_max_window_bits",
                    self.server_max_window_bits,
                )?,
                client_max_window_bits: check_bits(
                    "client_max_window_bits",
                    self.client_max_window_bits,
                )?,
            })
        }
        fn from_params(p: Params) -> Self {
            Self {
                server_no_context_takeover: p.server_no_context_takeover,
                client_no_context_takeover: p.client_no_context_takeover,
                server_max_window_bits: p.server_max_window_bits,
                client_max_window_bits: p.client_max_window_bits,
            }
        }
    }

    #[pymethods]
    impl PyDeflateParams {
        /// Parameters as agreed (e.g. parsed by a client from the server's response).
        #[new]
        #[pyo3(signature = (*, server_no_context_takeover=false, client_no_context_takeover=false, server_max_window_bits=15, client_max_window_bits=15))]
        fn new(
            server_no_context_takeover: bool,
            client_no_context_takeover: bool,
            server_max_window_bits: u8,
            client_max_window_bits: u8,
        ) -> PyResult<Self> {
            let p = Self {
                server_no_context_takeover,
                client_no_context_takeover,
                server_max_window_bits,
                client_max_window_bits,
            };
            p.to_params()?;
            Ok(p)
        }

        fn __repr__(&self) -> String {
            let b = |v: bool| if v { "True" } else { "False" };
            format!(
                "DeflateParams(server_no_context_takeover={}, client_no_context_takeover={}, server_max_window_bits={}, client_max_window_bits={})",
                b(self.server_no_context_takeover),
                b(self.client_no_context_takeover),
                self.server_max_window_bits,
                self.client_max_window_bits
            )
        }
    }

    /// Server side: pick the first acceptable permessage-deflate offer; (response header,
    /// params) or None. Raises ValueError on a malformed header.
    #[pyfunction]
    #[pyo3(signature = (offers, *, server_no_context_takeover=false, client_no_context_takeover=false, server_max_window_bits=15, client_max_window_bits=15))]
    fn negotiate_deflate(
        offers: &str,
        server_no_context_takeover: bool,
        client_no_context_takeover: bool,
        server_max_window_bits: u8,
        client_max_window_bits: u8,
    ) -> PyResult<Option<(String, PyDeflateParams)>> {
        let prefs = PyDeflateParams::new(
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        )?
        .to_params()?;
        match negotiate(offers, &prefs) {
            Ok(found) => Ok(found.map(|(h, p)| (h, PyDeflateParams::from_params(p)))),
            Err(e) => Err(PyValueError::new_err(e.0)),
        }
    }

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

    /// One WebSocket connection's framing (see the stub for the event tuples).
    #[pyclass(subclass, module = "aigw._codec")]
    pub struct WsCodec {
        reader: Reader,
        pub(super) writer: Writer,
        /// Large payloads sent by reference (not copied into the writer's queue): each goes
        /// out right after byte `offset` of the queue. Offsets only grow (the queue is
        /// append-only until drained).
        spliced: Vec<(usize, Py<PyBytes>)>,
        spliced_len: usize,
    }

    /// Data messages at least this large go out by reference (see `data_to_send_vectored`).
    const SPLICE_MIN: usize = 64 << 10;

    /// Appends events to a list as tuples; remembers the first Python error.
    struct Collector<'py> {
        list: Bound<'py, PyList>,
        err: Option<PyErr>,
    }

    impl<'py> Collector<'py> {
        fn push(&mut self, e: Event<'_>) {
            if self.err.is_some() {
                return;
            }
            let py = self.list.py();
            let item = match e {
                Event::Text(p) => (u32::from(OP_TEXT), PyBytes::new(py, p))
                    .into_pyobject(py)
                    .map(Bound::into_any),
                Event::Binary(p) => (u32::from(OP_BINARY), PyBytes::new(py, p))
                    .into_pyobject(py)
                    .map(Bound::into_any),
                Event::Ping(p) => (u32::from(OP_PING), PyBytes::new(py, p))
                    .into_pyobject(py)
                    .map(Bound::into_any),
                Event::Pong(p) => (u32::from(OP_PONG), PyBytes::new(py, p))
                    .into_pyobject(py)
                    .map(Bound::into_any),
                Event::Close(code, reason) => {
                    (u32::from(OP_CLOSE), code, PyString::new(py, reason))
                        .into_pyobject(py)
                        .map(Bound::into_any)
                }
                Event::Fail(code, reason) => {
                    (FAIL, code, reason).into_pyobject(py).map(Bound::into_any)
                }
            };
            if let Err(e) = item.and_then(|t| self.list.append(t)) {
                self.err = Some(e);
            }
        }

        fn finish(self) -> PyResult<Bound<'py, PyList>> {
            match self.err {
                Some(e) => Err(e),
                None => Ok(self.list),
            }
        }
    }

    #[pymethods]
    impl WsCodec {
        #[new]
        #[pyo3(signature = (*, client=false, max_message_size=16*1024*1024, max_frame_size=None, auto_pong=true, deflate=None, read_buffer_size=64*1024))]
        fn new(
            client: bool,
            max_message_size: usize,
            max_frame_size: Option<u64>,
            auto_pong: bool,
            deflate: Option<PyRef<'_, PyDeflateParams>>,
            read_buffer_size: usize,
        ) -> PyResult<Self> {
            let deflate = deflate.map(|d| d.to_params()).transpose()?;
            let cfg = ReaderConfig {
                client,
                max_message_size,
                max_frame_size: max_frame_size.unwrap_or(u64::MAX),
                auto_pong,
                deflate,
                read_buffer_size,
            };
            Ok(Self {
                reader: Reader::new(cfg),
                writer: Writer::new(client, deflate),
                spliced: Vec::new(),
                spliced_len: 0,
            })
        }

        /// A writable view of the read buffer's free tail (asyncio BufferedProtocol).
        fn get_buffer<'py>(slf: Bound<'py, Self>, sizehint: isize) -> PyResult<Bound<'py, PyAny>> {
            let _ = sizehint; // the buffer is fixed-size; large frames stream through it
            let py = slf.py();
            let (buf, start) = slf.borrow_mut().reader.free_tail_shared();
            let tail = Bound::new(py, ReadBufferTail { buf, start })?;
            // SAFETY: `tail` is a live object implementing the buffer protocol; on success the
            // call returns a new reference, which `from_owned_ptr_or_err` takes over.
            unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromObject(tail.as_ptr())) }
        }

        /// `nbytes` were written into the last view from get_buffer: parse them.
        fn buffer_updated<'py>(
            &mut self,
            py: Python<'py>,
            nbytes: usize,
        ) -> PyResult<Bound<'py, PyList>> {
            let mut c = Collector {
                list: PyList::empty(py),
                err: None,
            };
            if !self
                .reader
                .commit(nbytes, &mut self.writer, &mut |e| c.push(e))
            {
                return Err(PyValueError::new_err(
                    "nbytes exceeds the buffer returned by get_buffer",
                ));
            }
            c.finish()
        }

        /// Copy `data` into the read buffer and parse it.
        fn receive_data<'py>(&mut self, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
            let bytes = bytes_like(data)?;
            let mut c = Collector {
                list: PyList::empty(data.py()),
                err: None,
            };
            self.reader
                .receive(&bytes, &mut self.writer, &mut |e| c.push(e));
            c.finish()
        }

        /// Queue one text message (bytes must already be UTF-8; str is encoded).
        fn send_text(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
            if let Ok(s) = data.downcast::<PyString>() {
                self.writer.send_message(OP_TEXT, s.to_str()?.as_bytes());
            } else if !self.splice(OP_TEXT, data) {
                self.writer.send_message(OP_TEXT, &bytes_like(data)?);
            }
            Ok(())
        }

        /// Queue one binary message.
        fn send_binary(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
            if !self.splice(OP_BINARY, data) {
                self.writer.send_message(OP_BINARY, &bytes_like(data)?);
            }
            Ok(())
        }

        /// Queue a ping (payload at most 125 bytes).
        #[pyo3(signature = (data=None))]
        fn send_ping(&mut self, data: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
            self.control(OP_PING, data)
        }

        /// Queue a pong (payload at most 125 bytes).
        #[pyo3(signature = (data=None))]
        fn send_pong(&mut self, data: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
            self.control(OP_PONG, data)
        }

        /// Queue a close frame (code None: an empty body).
        #[pyo3(signature = (code=Some(1000), reason=""))]
        fn send_close(&mut self, code: Option<i64>, reason: &str) -> PyResult<()> {
            let code = code
                .map(|c| u16::try_from(c).map_err(|_| PyValueError::new_err("invalid close code")))
                .transpose()?;
            self.writer
                .send_close(code, reason)
                .map_err(|e| PyValueError::new_err(e.0))
        }

        /// Queue one raw frame (fragmentation, tests). No compression, no checks.
        #[pyo3(signature = (opcode, payload, fin=true))]
        fn send_frame(
            &mut self,
            opcode: u8,
            payload: &Bound<'_, PyAny>,
            fin: bool,
        ) -> PyResult<()> {
            if opcode > 0xF {
                return Err(PyValueError::new_err("opcode must be 0..15"));
            }
            self.writer
                .send_frame(opcode, &bytes_like(payload)?, fin, false);
            Ok(())
        }

        /// Drain and return everything queued.
        fn data_to_send<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
            if self.spliced.is_empty() {
                let out = PyBytes::new(py, self.writer.pending());
                self.writer.clear();
                return Ok(out);
            }
            let total = self.writer.pending_len() + self.spliced_len;
            let parts = self.drain_parts(py)?;
            PyBytes::new_with(py, total, |buf| {
                let mut at = 0;
                for part in parts.iter() {
                    let b = part.downcast::<PyBytes>()?.as_bytes();
                    buf[at..at + b.len()].copy_from_slice(b);
                    at += b.len();
                }
                Ok(())
            })
        }

        /// Drain everything queued for one `transport.write` (bytes) or, when large payloads
        /// were queued by reference, one `transport.writelines` (a list of bytes, in wire
        /// order, the caller's own payload objects among them: not copied).
        fn data_to_send_vectored<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
            if self.spliced.is_empty() {
                let out = PyBytes::new(py, self.writer.pending());
                self.writer.clear();
                return Ok(out.into_any());
            }
            Ok(self.drain_parts(py)?.into_any())
        }

        /// Bytes queued and not yet drained.
        #[getter]
        fn output_size(&self) -> usize {
            self.writer.pending_len() + self.spliced_len
        }

        /// Bytes received but not yet consumed (a partial frame header or control frame).
        #[getter]
        fn buffered_input(&self) -> usize {
            self.reader.buffered()
        }

        /// True once a peer CLOSE or a FAIL was reported; further input is ignored.
        #[getter]
        fn closed(&self) -> bool {
            self.reader.is_done()
        }
    }

    impl WsCodec {
        /// Queue a large `bytes` data message by reference (header in the queue, payload
        /// spliced in at drain time). False, queueing nothing, when it must be copied: not
        /// exact `bytes` (a bytearray could change before it is sent), small, client side
        /// (masked) or compressed.
        fn splice(&mut self, opcode: u8, data: &Bound<'_, PyAny>) -> bool {
            let Ok(b) = data.downcast_exact::<PyBytes>() else {
                return false;
            };
            let len = b.as_bytes().len();
            if len < SPLICE_MIN || !self.writer.send_message_header(opcode, len) {
                return false;
            }
            self.spliced
                .push((self.writer.queued_len(), b.clone().unbind()));
            self.spliced_len += len;
            true
        }

        /// Drain the queue and the spliced payloads into a list of bytes in wire order.
        fn drain_parts<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
            let parts = PyList::empty(py);
            let queue = self.writer.pending();
            let mut at = 0;
            for (offset, payload) in self.spliced.drain(..) {
                if offset > at {
                    parts.append(PyBytes::new(py, queue.get(at..offset).unwrap_or_default()))?;
                }
                parts.append(payload)?;
                at = offset;
            }
            if at < queue.len() {
                parts.append(PyBytes::new(py, queue.get(at..).unwrap_or_default()))?;
            }
            self.spliced_len = 0;
            self.writer.clear();
            Ok(parts)
        }

        fn control(&mut self, opcode: u8, data: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
            let payload = data.map(bytes_like).transpose()?;
            self.writer
                .send_control(opcode, payload.as_deref().unwrap_or(&[]))
                .map_err(|e| PyValueError::new_err(e.0))
        }
    }

    /// The exporter behind `get_buffer`'s memoryview: the free tail (`start..`) of one read
    /// buffer.
    ///
    /// Soundness: this object owns a strong reference (`SharedReadBuf`, an `Arc`) to the read
    /// buffer's memory, and the memoryview holds one to this object (`view.obj`), so the
    /// memory outlives every export even after the codec lets go of the buffer (an idle codec
    /// drops its reference; the memory is freed or cached only when the last holder goes).
    /// A buffer never changes size, and `start` ≤ its length (the reader's `end`), so
    /// ptr+start..ptr+len stays in bounds. `u8` has no invalid values, and Rust holds no
    /// reference into the buffer across a return to Python, so writes through the view (by
    /// the event loop's recv_into, or by a stale view after the codec released the buffer)
    /// cannot break any Rust invariant. As with any BufferedProtocol, a connection is used
    /// from one thread at a time.
    #[pyclass(module = "aigw._codec", frozen)]
    struct ReadBufferTail {
        buf: crate::readbuf::SharedReadBuf,
        start: usize,
    }

    #[pymethods]
    impl ReadBufferTail {
        unsafe fn __getbuffer__(
            slf: Bound<'_, Self>,
            view: *mut ffi::Py_buffer,
            flags: c_int,
        ) -> PyResult<()> {
            if view.is_null() {
                return Err(PyBufferError::new_err("null view"));
            }
            let this = slf.get();
            let len = this.buf.len().saturating_sub(this.start);
            let start = this.start.min(this.buf.len());
            // SAFETY: `start` ≤ the buffer's length, so the offset pointer stays inside (or one
            // past) the allocation; see the type's doc comment for why start..len stays valid
            // and writable while `slf` (stored in view.obj with a new reference by FillInfo)
            // is alive.
            let rc = unsafe {
                ffi::PyBuffer_FillInfo(
                    view,
                    slf.as_ptr(),
                    this.buf.raw().add(start) as *mut std::ffi::c_void,
                    len as ffi::Py_ssize_t,
                    0,
                    flags,
                )
            };
            if rc != 0 {
                return Err(PyErr::fetch(slf.py()));
            }
            Ok(())
        }
    }

    /// Register the WebSocket part of the module.
    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("TEXT", u32::from(OP_TEXT))?;
        m.add("BINARY", u32::from(OP_BINARY))?;
        m.add("CLOSE", u32::from(OP_CLOSE))?;
        m.add("PING", u32::from(OP_PING))?;
        m.add("PONG", u32::from(OP_PONG))?;
        m.add("FAIL", FAIL)?;
        m.add_class::<PyDeflateParams>()?;
        m.add_class::<WsCodec>()?;
        m.add_function(wrap_pyfunction!(negotiate_deflate, m)?)?;
        Ok(())
    }
}
// ---- end websocket ----

/// The extension module `aigw._codec`.
#[pymodule]
fn _codec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    ws::register(m)?; // websocket (codec-ws helper)
    upstream_bindings::register(m)?; // http heads, chunked, sse (upstream helper)
    kernels::register(m)?; // mask/UTF-8 kernels for benches (benches helper)
    relay_bindings::register(m)?; // the Universal API's stream relay
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

// ---- byte kernels exposed for benches and diagnostics (benches helper) ----
mod kernels {
    //! The WebSocket codec's inner kernels (masking, UTF-8 validation) callable on their own,
    //! so benches can compare them with memcpy and other libraries' kernels. Not a hot-path API.

    use crate::mask::{apply_mask, kernel_name};
    use crate::utf8::validate;
    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::{PyByteArray, PyBytes};

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(apply_mask_in_place, m)?)?;
        m.add_function(wrap_pyfunction!(validate_utf8, m)?)?;
        m.add_function(wrap_pyfunction!(mask_kernel, m)?)?;
        Ok(())
    }

    /// XOR `buf` in place with the 4-byte `key` (RFC 6455 §5.3; its own inverse), using the
    /// kernel the codec uses. ValueError unless `key` is 4 bytes.
    #[pyfunction]
    fn apply_mask_in_place(buf: &Bound<'_, PyByteArray>, key: &[u8]) -> PyResult<()> {
        let key: [u8; 4] = key
            .try_into()
            .map_err(|_| PyValueError::new_err("key must be 4 bytes"))?;
        // SAFETY: we hold the GIL and run no Python code while the slice is alive, so nothing
        // can resize or free the bytearray's storage under us.
        let data = unsafe { buf.as_bytes_mut() };
        apply_mask(data, key, 0);
        Ok(())
    }

    /// Whether `data` is valid UTF-8 (the codec's validator: ASCII fast path, then simdutf8).
    #[pyfunction]
    fn validate_utf8(data: &Bound<'_, PyBytes>) -> bool {
        validate(data.as_bytes())
    }

    /// The masking kernel runtime dispatch picked: "avx2", "sse2" or "u64".
    #[pyfunction]
    fn mask_kernel() -> &'static str {
        kernel_name()
    }
}
// ---- end byte kernels (benches helper) ----

// ---- the Universal API's stream relay ----
mod relay_bindings {
    //! `StreamRelay`: upstream SSE/NDJSON reads framed as `universal.stream` messages straight
    //! into a `WsCodec`'s output queue, one Python call per network read.

    use super::ws::WsCodec;
    use crate::envelope::Envelope;
    use crate::frame::OP_TEXT;
    use crate::relay::{Framing, Relay, RelayOptions};
    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyList};

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<StreamRelay>()
    }

    /// One streamed request's relay (see the stub).
    #[pyclass(module = "aigw._codec")]
    pub struct StreamRelay {
        inner: Relay,
        failed: bool,
    }

    #[pymethods]
    impl StreamRelay {
        #[new]
        #[pyo3(signature = (event_id, framing = "sse", *, terminator = None, keep_first = 1, keep_last = 2,
                            max_event_size = 8 << 20, collect = false, collect_limit = 10 << 20))]
        #[allow(clippy::too_many_arguments)]
        fn new(
            event_id: &str,
            framing: &str,
            terminator: Option<Vec<u8>>,
            keep_first: usize,
            keep_last: usize,
            max_event_size: usize,
            collect: bool,
            collect_limit: usize,
        ) -> PyResult<Self> {
            let framing = match framing {
                "sse" => Framing::Sse,
                "ndjson" => Framing::Ndjson,
                other => return Err(PyValueError::new_err(format!("unknown framing {other:?} (sse or ndjson)"))),
            };
            let options = RelayOptions {
                framing,
                terminator,
                keep_first: keep_first.min(64),
                keep_last: keep_last.min(64),
                max_event_size,
                collect_limit: if collect { collect_limit } else { 0 },
            };
            Ok(StreamRelay { inner: Relay::new(Envelope::stream(event_id), options), failed: false })
        }

        /// Relay one network read into `ws`'s output queue; returns the messages queued.
        /// ValueError on a malformed or oversized event (the relay is then unusable).
        fn feed(&mut self, chunk: &[u8], mut ws: PyRefMut<'_, WsCodec>) -> PyResult<usize> {
            if self.failed {
                return Err(PyValueError::new_err("the relay failed earlier"));
            }
            let writer = &mut ws.writer;
            match self.inner.feed(chunk, &mut |msg| writer.send_message(OP_TEXT, msg)) {
                Ok(n) => Ok(n),
                Err(e) => {
                    self.failed = true;
                    Err(PyValueError::new_err(e.0))
                }
            }
        }

        /// The upstream ended: queue NDJSON's last unterminated line; True when an SSE event
        /// was cut off mid-way (the stream was truncated).
        fn finish(&mut self, mut ws: PyRefMut<'_, WsCodec>) -> bool {
            let writer = &mut ws.writer;
            self.inner.finish(&mut |msg| writer.send_message(OP_TEXT, msg))
        }

        /// Data of the first events (for usage extraction).
        #[getter]
        fn first<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
            PyList::new(py, self.inner.first().iter().map(|d| PyBytes::new(py, d)))
        }

        /// Data of the last events, oldest first.
        #[getter]
        fn last<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
            PyList::new(py, self.inner.last().map(|d| PyBytes::new(py, d)))
        }

        /// Events relayed (terminators excluded).
        #[getter]
        fn events(&self) -> u64 {
            self.inner.events()
        }

        /// Whether the terminator (e.g. `[DONE]`) arrived.
        #[getter]
        fn saw_terminator(&self) -> bool {
            self.inner.saw_terminator()
        }

        /// The raw upstream body collected for the log (empty unless `collect`).
        #[getter]
        fn collected<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
            PyBytes::new(py, self.inner.collected())
        }
    }
}
// ---- end stream relay ----
