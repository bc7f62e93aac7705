//! The Python binding `aigw._codec`: thin wrappers over the plain-Rust codecs.
//! This is the only module that may use pyo3.

use pyo3::prelude::*;

/// The extension module `aigw._codec`.
#[pymodule]
fn _codec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
