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
