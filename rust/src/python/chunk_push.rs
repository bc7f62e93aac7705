//! A pushed upstream stream's `on_data` in native code: what `UpstreamChunks._on_data`
//! (aigw/upstream_chunks.py) does with each piece of a streamed body, inside the upstream
//! connection's `data_received`: count it, note when the idle timeout's wait ended, hand it
//! to the pump's `consume`, and pass a consumer's failure or fullness to the Python that
//! handles them (`_consume_failed`, `_consumer_full`). One builtin call a read instead of a
//! Python frame.
//!
//! `_on_data` stays the specification and the push of any other class: `make` answers None
//! unless the object is exactly `UpstreamChunks`. Its state is read and written in its
//! `__slots__` (`slot_layout::Layout`).

use super::fastcall::{one_argument_through_trampoline, MethodDef};
use super::slot_layout::Layout;
use pyo3::exceptions::{PyException, PyRuntimeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyType};
use pyo3::{PyTraverseError, PyVisit};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ChunkPushes>()?; // ChunkPush is made by it, never from Python
    Ok(())
}

const CHUNKS_SLOTS: &[&str] = &["received", "_idle", "_waiting_since", "_loop", "_pushed", "_consume"];
const K_RECEIVED: usize = 0;
const K_IDLE: usize = 1;
const K_WAITING_SINCE: usize = 2;
const K_LOOP: usize = 3;
const K_PUSHED: usize = 4;
const K_CONSUME: usize = 5;

/// Makes the native `on_data` of one UpstreamChunks (see the module docs); made once by
/// aigw/upstream_chunks.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct ChunkPushes {
    chunks: Layout,
}

#[pymethods]
impl ChunkPushes {
    /// `chunks`: the UpstreamChunks class, whose slots it uses (ValueError when one is missing).
    #[new]
    fn new(chunks: &Bound<'_, PyType>) -> PyResult<Self> {
        Ok(ChunkPushes {
            chunks: Layout::new(chunks, CHUNKS_SLOTS)?,
        })
    }

    /// `on_data(piece)` for `chunks`, as a builtin function; None when `chunks` is not exactly
    /// an UpstreamChunks (its `_on_data` serves it).
    fn make<'py>(slf: &Bound<'py, Self>, chunks: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
        if !slf.get().chunks.is(chunks) {
            return Ok(None);
        }
        let push = ChunkPush {
            pushes: slf.clone().unbind(),
            chunks: chunks.clone().unbind(),
        };
        ON_DATA.bind(&Bound::new(slf.py(), push)?).map(Some)
    }
}

/// One stream's `on_data`: the UpstreamChunks it pushes to.
#[pyclass(module = "aigw._codec", frozen)]
pub struct ChunkPush {
    pushes: Py<ChunkPushes>,
    chunks: Py<PyAny>,
}

#[pymethods]
impl ChunkPush {
    /// Its references for the cycle collector: the response holds this `on_data` while it
    /// pushes, and the UpstreamChunks holds the response.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.pushes)?;
        visit.call(&self.chunks)
    }
}

static ON_DATA: MethodDef<ChunkPush> = MethodDef::one_argument(
    c"on_data",
    c"on_data(piece): the piece counted and handed to the pump's consumer (UpstreamChunks._on_data).",
    on_data_fast,
);

one_argument_through_trampoline!(on_data_fast, ChunkPush, on_data);

impl ChunkPush {
    fn on_data<'py>(&self, piece: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = piece.py();
        let layout = &self.pushes.get().chunks;
        let chunks = self.chunks.bind(py);
        // SAFETY (every get/set below): `make` checked that `chunks` is exactly the class, and
        // an object's class does not change.
        let k = |i| unsafe { layout.get(chunks, i) };
        let lost = || PyRuntimeError::new_err("an UpstreamChunks lost its state");
        // self.received += 1
        let received = k(K_RECEIVED).ok_or_else(lost)?;
        let received = match received.downcast_exact::<PyInt>() {
            Ok(n) => match n.extract::<i64>() {
                Ok(n) if n < i64::MAX => PyInt::new(py, n + 1).into_any(),
                _ => received.add(1)?,
            },
            Err(_) => received.add(1)?,
        };
        unsafe { layout.set(chunks, K_RECEIVED, received) };
        // if self._idle is not None: self._waiting_since = self._loop.time()
        if !k(K_IDLE).ok_or_else(lost)?.is_none() {
            let now = k(K_LOOP).ok_or_else(lost)?.call_method0(intern!(py, "time"))?;
            unsafe { layout.set(chunks, K_WAITING_SINCE, now) };
        }
        let pushed = k(K_PUSHED).ok_or_else(lost)?;
        let consume = k(K_CONSUME).ok_or_else(lost)?;
        // A consumer's Exception ends the pump with it; anything else (a cancellation, an
        // interrupt) propagates, as from the Python `except Exception`.
        let full = match consume.call1((piece,)).and_then(|answer| answer.is_truthy()) {
            Ok(writable) => !writable,
            Err(e) if e.is_instance_of::<PyException>(py) => {
                chunks.call_method1(intern!(py, "_consume_failed"), (pushed, e.into_value(py)))?;
                return Ok(py.None().into_bound(py));
            }
            Err(e) => return Err(e),
        };
        if full {
            chunks.call_method1(intern!(py, "_consumer_full"), (pushed,))?;
        }
        Ok(py.None().into_bound(py))
    }
}
