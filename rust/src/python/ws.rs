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
    pub(super) fn buffer_updated<'py>(
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
        let report = report.map(memchr::memmem::Finder::new); // built once per read, not per message
        let ok = self.reader.commit(nbytes, &mut self.writer, &mut |e| match e.parts() {
            EventParts::Payload(kind, p) if kind == u32::from(OP_TEXT) || kind == u32::from(OP_BINARY) => {
                writer.send_message(kind as u8, p);
                messages += 1;
                bytes += p.len() as u64;
                if report.as_ref().is_some_and(|m| m.find(p).is_some()) {
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
    pub(crate) fn send_text(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
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
    pub(super) fn data_to_send_vectored<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
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
