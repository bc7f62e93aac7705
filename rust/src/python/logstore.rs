//! `SqliteLogStore`: log_store.rs for the SQLite log writer process. Only that process makes
//! one (log_store.rs says why the gateway's process must not open its database with this copy
//! of SQLite). Batches are stored with the GIL released; errors are `RuntimeError`s whose text
//! names the batch's fault or SQLite's, never a row's values.
//!
//! `pack_log_body` / `unpack_log_body`: log_body.rs for the Python side of the store (the
//! thread writer packs as the Rust store does; readers unpack).

use crate::log_body::{unpack, Packer};
use crate::log_store::LogStore;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;
use std::sync::Mutex;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SqliteLogStore>()?;
    m.add_function(wrap_pyfunction!(pack_log_body, m)?)?;
    m.add_function(wrap_pyfunction!(unpack_log_body, m)?)?;
    Ok(())
}

/// `body` as the log store keeps a packed body (its length, then an LZ4 block), or None when
/// it is to be stored as it is (under 1 KiB, or LZ4 does not shrink it by an eighth).
#[pyfunction]
fn pack_log_body<'py>(py: Python<'py>, body: &[u8]) -> Option<Bound<'py, PyBytes>> {
    Packer::default().pack(body).map(|packed| PyBytes::new(py, packed))
}

/// The body a packed one holds; ValueError when it is truncated or corrupt.
#[pyfunction]
fn unpack_log_body<'py>(py: Python<'py>, stored: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let body = unpack(stored).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, &body))
}

#[pyclass(module = "aigw._codec")]
struct SqliteLogStore {
    // None once closed. A Mutex because pyo3 classes are shared across threads; the writer
    // process uses it from one thread, so it is never contended.
    store: Mutex<Option<LogStore>>,
}

fn runtime_error(e: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}

impl SqliteLogStore {
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut LogStore) -> Result<T, crate::log_store::StoreError> + Send) -> PyResult<T> {
        py.allow_threads(|| {
            let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
            let store = guard.as_mut().ok_or_else(|| "the log store is closed".to_string())?;
            f(store).map_err(|e| e.to_string())
        })
        .map_err(runtime_error)
    }
}

#[pymethods]
impl SqliteLogStore {
    #[new]
    fn new(py: Python<'_>, path: PathBuf, columns: &str) -> PyResult<Self> {
        let columns = columns.to_owned();
        let store = py.allow_threads(move || LogStore::open(&path, &columns)).map_err(runtime_error)?;
        Ok(SqliteLogStore { store: Mutex::new(Some(store)) })
    }

    /// Store one batch, `marshal.dumps((rows, bodies))`, in one transaction; returns how many
    /// rows had a log_id already stored.
    fn store(&self, py: Python<'_>, payload: &[u8]) -> PyResult<u64> {
        self.with(py, |s| s.store(payload))
    }

    /// Delete logs created before `older_than` and all but the newest `keep_newest`; returns
    /// how many were deleted.
    #[pyo3(signature = (older_than=None, keep_newest=None))]
    fn prune(&self, py: Python<'_>, older_than: Option<f64>, keep_newest: Option<i64>) -> PyResult<u64> {
        self.with(py, |s| s.prune(older_than, keep_newest))
    }

    /// Close the connection (idempotent).
    fn close(&self) {
        self.store.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}
