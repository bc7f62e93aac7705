//! The Python binding `aigw._codec`: thin wrappers over the plain-Rust codecs.
//! This is the only module that may use pyo3.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList};
use std::borrow::Cow;

// ---- conversions shared by every block ----
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
// ---- end shared conversions ----

// ---- websocket (codec-ws helper) ----
mod ws {
    //! `WsCodec`, `DeflateParams`, `negotiate_deflate` and the opcode constants. Type checks
    //! and object creation only; all parsing lives in `reader`/`writer`/`deflate`.

    use super::{bytes_like, ListSink};
    use crate::deflate::{negotiate, DeflateParams as Params};
    use crate::frame::{OP_BINARY, OP_PING, OP_PONG, OP_TEXT};
    use crate::reader::{EventParts, Reader, ReaderConfig, EVENT_KINDS};
    use crate::writer::{close_code, Piece, Splices, Writer, SPLICE_MIN};
    use pyo3::exceptions::{PyBufferError, PyValueError};
    use pyo3::ffi;
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyList, PyString};
    use std::os::raw::c_int;

    /// Negotiated permessage-deflate parameters (RFC 7692 §7).
    #[pyclass(module = "aigw._codec", name = "DeflateParams", eq, get_all, set_all)]
    #[derive(Clone, PartialEq, Eq)]
    pub struct PyDeflateParams {
        server_no_context_takeover: bool,
        client_no_context_takeover: bool,
        server_max_window_bits: u8,
        client_max_window_bits: u8,
    }

    impl PyDeflateParams {
        /// The plain-Rust parameters as set (attributes are writable, so not yet validated).
        fn params(&self) -> Params {
            Params {
                server_no_context_takeover: self.server_no_context_takeover,
                client_no_context_takeover: self.client_no_context_takeover,
                server_max_window_bits: self.server_max_window_bits,
                client_max_window_bits: self.client_max_window_bits,
            }
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
            let p = Params {
                server_no_context_takeover,
                client_no_context_takeover,
                server_max_window_bits,
                client_max_window_bits,
            };
            Ok(Self::from_params(validated(p)?))
        }

        fn __repr__(&self) -> String {
            self.params().repr()
        }
    }

    fn validated(p: Params) -> PyResult<Params> {
        p.validated().map_err(|e| PyValueError::new_err(e.0))
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
        let prefs = validated(Params {
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        })?;
        let found = negotiate(offers, &prefs).map_err(|e| PyValueError::new_err(e.0))?;
        Ok(found.map(|(h, p)| (h, PyDeflateParams::from_params(p))))
    }

    /// One WebSocket connection's framing (see the stub for the event tuples).
    #[pyclass(subclass, module = "aigw._codec")]
    pub struct WsCodec {
        reader: Reader,
        pub(super) writer: Writer,
        /// Large payloads sent by reference (see `data_to_send_vectored`).
        spliced: Splices<Py<PyBytes>>,
        /// Data messages `relay_buffered` queued on a peer, and their payload bytes.
        relayed_messages: u64,
        relayed_bytes: u64,
    }

    /// Event kind of a message `relay_buffered` relayed and also reports (not an opcode).
    pub const RELAYED: u32 = 0x200;

    /// Pushes each event onto `sink` as the tuple the stub describes.
    fn push_event<'py>(sink: &mut ListSink<'py>, e: EventParts<'_>) {
        let py = sink.list.py();
        match e {
            EventParts::Payload(kind, p) => sink.push((kind, PyBytes::new(py, p))),
            EventParts::Status(kind, code, reason) => {
                sink.push((kind, code, PyString::new(py, reason)))
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
            let deflate = deflate.map(|d| validated(d.params())).transpose()?;
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
                spliced: Splices::default(),
                relayed_messages: 0,
                relayed_bytes: 0,
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
            let mut sink = ListSink::new(py);
            if !self.reader.commit(nbytes, &mut self.writer, &mut |e| {
                push_event(&mut sink, e.parts())
            }) {
                return Err(PyValueError::new_err(
                    "nbytes exceeds the buffer returned by get_buffer",
                ));
            }
            sink.finish()
        }

        /// Like `buffer_updated`, but each complete TEXT/BINARY message is queued on `peer`
        /// (framed for its role: masked, compressed as it negotiated) instead of returned. The
        /// list holds the other events, plus `(RELAYED, opcode, payload)` for each relayed
        /// message containing `report` (b"" reports every one), in wire order.
        #[pyo3(signature = (nbytes, peer, report=None))]
        fn relay_buffered<'py>(
            &mut self,
            py: Python<'py>,
            nbytes: usize,
            mut peer: PyRefMut<'py, WsCodec>,
            report: Option<&[u8]>,
        ) -> PyResult<Bound<'py, PyList>> {
            let mut sink = ListSink::new(py);
            let (mut messages, mut bytes) = (0u64, 0u64);
            let writer = &mut peer.writer;
            let ok = self.reader.commit(nbytes, &mut self.writer, &mut |e| match e.parts() {
                EventParts::Payload(kind, p) if kind == u32::from(OP_TEXT) || kind == u32::from(OP_BINARY) => {
                    writer.send_message(kind as u8, p);
                    messages += 1;
                    bytes += p.len() as u64;
                    if report.is_some_and(|m| memchr::memmem::find(p, m).is_some()) {
                        sink.push((RELAYED, kind, PyBytes::new(py, p)));
                    }
                }
                parts => push_event(&mut sink, parts),
            });
            self.relayed_messages += messages;
            self.relayed_bytes += bytes;
            if !ok {
                return Err(PyValueError::new_err(
                    "nbytes exceeds the buffer returned by get_buffer",
                ));
            }
            sink.finish()
        }

        /// Data messages `relay_buffered` has queued on peers.
        #[getter]
        fn relayed_messages(&self) -> u64 {
            self.relayed_messages
        }

        /// Payload bytes of those messages.
        #[getter]
        fn relayed_bytes(&self) -> u64 {
            self.relayed_bytes
        }

        /// Copy `data` into the read buffer and parse it.
        fn receive_data<'py>(&mut self, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
            let bytes = bytes_like(data)?;
            let mut sink = ListSink::new(data.py());
            self.reader.receive(&bytes, &mut self.writer, &mut |e| {
                push_event(&mut sink, e.parts())
            });
            sink.finish()
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
            let code = code.map(close_code).transpose();
            code.and_then(|code| self.writer.send_close(code, reason))
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
            self.writer
                .send_raw_frame(opcode, &bytes_like(payload)?, fin)
                .map_err(|e| PyValueError::new_err(e.0))
        }

        /// Drain and return everything queued.
        fn data_to_send<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
            if self.spliced.is_empty() {
                let out = PyBytes::new(py, self.writer.pending());
                self.writer.clear();
                return Ok(out);
            }
            let total = self.output_size();
            let (spliced, queue) = (&mut self.spliced, self.writer.pending());
            let out = PyBytes::new_with(py, total, |buf| {
                spliced.drain_into(queue, |p| p.as_bytes(py), buf);
                Ok(())
            })?;
            self.writer.clear();
            Ok(out)
        }

        /// Drain everything queued for one `transport.write` (bytes) or, when large payloads
        /// were queued by reference, one `transport.writelines` (a list of bytes, in wire
        /// order, the caller's own payload objects among them: not copied).
        fn data_to_send_vectored<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
            if self.spliced.is_empty() {
                return Ok(self.data_to_send(py)?.into_any());
            }
            let parts = PyList::empty(py);
            for piece in self.spliced.drain(self.writer.pending()) {
                match piece {
                    Piece::Queued(b) => parts.append(PyBytes::new(py, b))?,
                    Piece::Payload(p) => parts.append(p)?,
                }
            }
            self.writer.clear();
            Ok(parts.into_any())
        }

        /// Bytes queued and not yet drained.
        #[getter]
        fn output_size(&self) -> usize {
            self.writer.pending_len() + self.spliced.payload_len()
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
                .push(self.writer.queued_len(), b.clone().unbind(), len);
            true
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
            let (tail, len) = slf.get().buf.tail(slf.get().start);
            // SAFETY: `tail` clamps the start to the buffer's length, so tail..tail+len lies
            // inside the allocation; see the type's doc comment for why it stays valid and
            // writable while `slf` (stored in view.obj with a new reference by FillInfo) is
            // alive.
            let rc = unsafe {
                ffi::PyBuffer_FillInfo(
                    view,
                    slf.as_ptr(),
                    tail as *mut std::ffi::c_void,
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
        for (name, kind) in EVENT_KINDS {
            m.add(name, kind)?;
        }
        m.add("RELAYED", RELAYED)?;
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
    eventstream_bindings::register(m)?; // AWS event stream (Bedrock)
    Ok(())
}

// ---- HTTP heads, chunked bodies, SSE/NDJSON (upstream helper) ----
mod upstream_bindings {
    use super::{bytes_like, ListSink};
    use crate::chunked::{covers, gather, ChunkedDecoder as RsChunked};
    use crate::http::{self, ascii_text, latin1_text, HeadError, Header, Limits};
    use crate::sse::{LastEventType, NdjsonDecoder as RsNdjson, SseDecoder as RsSse, SseEvent, StreamError};
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

    fn head_error(e: HeadError) -> PyErr {
        HttpParseError::new_err((e.status, e.message))
    }

    fn headers_list<'py>(py: Python<'py>, headers: &[Header<'_>]) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, headers.iter().map(|(name, value)| (PyBytes::new(py, name), PyBytes::new(py, value))))
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
        let d = bytes_like(data)?;
        let Some(h) = http::parse_request_head(&d, limits, start_hint).map_err(head_error)? else {
            return Ok(None);
        };
        let headers = headers_list(py, &h.headers)?;
        Ok(Some((ascii_text(h.method), ascii_text(h.target), h.minor_version, headers, h.consumed).into_pyobject(py)?))
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
        let d = bytes_like(data)?;
        let Some(h) = http::parse_response_head(&d, limits, start_hint).map_err(head_error)? else {
            return Ok(None);
        };
        let headers = headers_list(py, &h.headers)?;
        Ok(Some((h.status, latin1_text(h.reason), h.minor_version, headers, h.consumed).into_pyobject(py)?))
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
            let d = bytes_like(data)?;
            let mut spans = Vec::new();
            self.inner.feed_keeping_rest(&d, &mut spans, &mut self.unused).map_err(|e| PyValueError::new_err(e.0))?;
            if data.is_instance_of::<PyBytes>() && covers(&spans, d.len()) {
                return Ok(data.clone()); // the whole read is body: no copy
            }
            let total = spans.iter().map(|r| r.len()).sum();
            Ok(PyBytes::new_with(py, total, |buf| {
                gather(&d, &spans, buf);
                Ok(())
            })?
            .into_any())
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
        last_type: LastEventType<Py<PyString>>,
    }

    #[pymethods]
    impl SseDecoder {
        #[new]
        #[pyo3(signature = (max_event_size=8 << 20))]
        fn new(max_event_size: usize) -> Self {
            SseDecoder { inner: RsSse::new(max_event_size), last_type: LastEventType::default() }
        }

        /// Decode one read; returns the events it completed as (event, data, id) tuples.
        fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
            let d = bytes_like(data)?;
            let mut sink = ListSink::new(py);
            let last_type = &mut self.last_type;
            let r = self.inner.feed(&d, &mut |e: SseEvent<'_>| {
                let event = e.event.map(|t| last_type.get_or_make(t, || PyString::new(py, t).unbind()).clone_ref(py));
                sink.push((event, PyBytes::new(py, e.data), e.id));
            });
            let list = sink.finish()?;
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
            let d = bytes_like(data)?;
            let mut sink = ListSink::new(py);
            let r = self.inner.feed(&d, &mut |line: &[u8]| sink.push(PyBytes::new(py, line)));
            let list = sink.finish()?;
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

    use crate::mask::{apply_mask, kernel_name, mask_key};
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
        let key = mask_key(key).map_err(PyValueError::new_err)?;
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
    //! `StreamRelay`: upstream SSE / NDJSON / AWS event-stream reads framed as
    //! `universal.stream` messages straight into a `WsCodec`'s output queue, one Python call per
    //! network read (or, without a codec, only read for usage beside a pass-through).

    use super::ws::WsCodec;
    use crate::envelope::Envelope;
    use crate::frame::OP_TEXT;
    use crate::relay::{Framing, Relay, RelayOptions};
    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyList};

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(is_json, m)?)?;
        m.add_class::<StreamRelay>()
    }

    /// Whether `data` is one JSON document in valid UTF-8 (the relay's splice test).
    #[pyfunction]
    fn is_json(data: &[u8]) -> bool {
        crate::envelope::is_json(data)
    }

    /// Largest event by default: 8 MiB for SSE/NDJSON; AWS's own limit (16 MiB payload, 128 KiB
    /// headers) for an event stream.
    fn default_max_event_size(framing: Framing) -> usize {
        match framing {
            Framing::EventStream => crate::eventstream::DEFAULT_MAX_MESSAGE_SIZE,
            Framing::Sse | Framing::Ndjson => 8 << 20,
        }
    }

    /// One streamed request's relay (see the stub).
    #[pyclass(module = "aigw._codec")]
    pub struct StreamRelay {
        inner: Relay,
    }

    #[pymethods]
    impl StreamRelay {
        #[new]
        #[pyo3(signature = (event_id, framing = "sse", *, terminator = None, keep_first = 1, keep_last = 2,
                            max_event_size = None, collect = false, collect_limit = 10 << 20))]
        #[allow(clippy::too_many_arguments)]
        fn new(
            event_id: &str,
            framing: &str,
            terminator: Option<Vec<u8>>,
            keep_first: usize,
            keep_last: usize,
            max_event_size: Option<usize>,
            collect: bool,
            collect_limit: usize,
        ) -> PyResult<Self> {
            let framing = Framing::from_name(framing).map_err(PyValueError::new_err)?;
            let max_event_size = max_event_size.unwrap_or_else(|| default_max_event_size(framing));
            let options = RelayOptions::new(framing, terminator, keep_first, keep_last, max_event_size, collect, collect_limit);
            Ok(StreamRelay { inner: Relay::new(Envelope::stream(event_id), options) })
        }

        /// Relay one network read into `ws`'s output queue (None: read the events only);
        /// returns the events it completed. ValueError on a malformed or oversized event or an
        /// event-stream exception (the relay is then unusable).
        #[pyo3(signature = (chunk, ws = None))]
        fn feed(&mut self, chunk: &[u8], ws: Option<PyRefMut<'_, WsCodec>>) -> PyResult<usize> {
            let result = match ws {
                Some(mut ws) => {
                    let writer = &mut ws.writer;
                    self.inner.feed(chunk, Some(&mut |msg: &[u8]| writer.send_message(OP_TEXT, msg)))
                }
                None => self.inner.feed(chunk, None),
            };
            result.map_err(|e| PyValueError::new_err(e.0.into_owned()))
        }

        /// The upstream ended: queue NDJSON's last unterminated line; True when an SSE event
        /// or an event-stream message was cut off mid-way (the stream was truncated).
        #[pyo3(signature = (ws = None))]
        fn finish(&mut self, ws: Option<PyRefMut<'_, WsCodec>>) -> bool {
            match ws {
                Some(mut ws) => {
                    let writer = &mut ws.writer;
                    self.inner.finish(Some(&mut |msg: &[u8]| writer.send_message(OP_TEXT, msg)))
                }
                None => self.inner.finish(None),
            }
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

// ---- AWS event stream (providers helper) ----
mod eventstream_bindings {
    //! `EventStreamDecoder`: Bedrock's binary event stream, one list of messages per read.

    use super::{bytes_like, ListSink};
    use crate::eventstream::{EventStreamDecoder as RsDecoder, HeaderValue, Message};
    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<EventStreamDecoder>()
    }

    fn message<'py>(py: Python<'py>, m: &Message<'_>) -> PyResult<Bound<'py, PyTuple>> {
        let headers = PyDict::new(py);
        for (name, value) in &m.headers {
            match *value {
                HeaderValue::Bool(b) => headers.set_item(*name, b)?,
                HeaderValue::Byte(v) => headers.set_item(*name, v)?,
                HeaderValue::Short(v) => headers.set_item(*name, v)?,
                HeaderValue::Int(v) => headers.set_item(*name, v)?,
                HeaderValue::Long(v) | HeaderValue::Timestamp(v) => headers.set_item(*name, v)?,
                HeaderValue::Bytes(b) => headers.set_item(*name, PyBytes::new(py, b))?,
                HeaderValue::String(t) => headers.set_item(*name, t)?,
                HeaderValue::Uuid(u) => headers.set_item(*name, PyBytes::new(py, &u))?,
            }
        }
        (headers, PyBytes::new(py, m.payload)).into_pyobject(py)
    }

    /// AWS event-stream decoder (see the stub).
    #[pyclass(module = "aigw._codec")]
    pub struct EventStreamDecoder {
        inner: RsDecoder,
    }

    #[pymethods]
    impl EventStreamDecoder {
        #[new]
        #[pyo3(signature = (max_message_size = crate::eventstream::DEFAULT_MAX_MESSAGE_SIZE))]
        fn new(max_message_size: usize) -> Self {
            EventStreamDecoder { inner: RsDecoder::new(max_message_size) }
        }

        /// Decode one read; returns the messages it completed as (headers dict, payload) tuples.
        /// ValueError on a CRC mismatch, bad lengths, an oversized message or a bad header.
        fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
            let d = bytes_like(data)?;
            let mut sink = ListSink::new(py);
            let mut failed: Option<PyErr> = None;
            let r = self.inner.feed(&d, &mut |m: Message<'_>| match message(py, &m) {
                Ok(t) => sink.push(t),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            let list = sink.finish()?;
            r.map_err(|e| PyValueError::new_err(e.0))?;
            Ok(list)
        }

        /// End of stream: True when a partial message was left over (truncated stream).
        fn finish(&mut self) -> bool {
            self.inner.finish()
        }
    }
}
// ---- end AWS event stream ----
