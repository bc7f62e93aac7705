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
