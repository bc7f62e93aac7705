//! `MetricSeries`: metrics.rs for aigw.observe.metrics. One per label set; `observe(record)`
//! reads a finished request's LogRecord in one call (the Python observer spent ~170 bytecodes
//! per request on the same counting), and the collector reads the counts back at scrape time.

use crate::metrics::{Finished, Series, Try};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MetricSeries>()?;
    Ok(())
}

#[pyclass(module = "aigw._codec")]
struct MetricSeries {
    /// The label values, in the collector's order.
    #[pyo3(get)]
    labels: Py<PyTuple>,
    series: Series,
}

/// A number attribute of `obj` as f64, None when it is None.
fn number(obj: &Bound<'_, PyAny>, name: &Bound<'_, pyo3::types::PyString>) -> PyResult<Option<f64>> {
    let v = obj.getattr(name)?;
    if v.is_none() {
        Ok(None)
    } else {
        v.extract::<f64>().map(Some)
    }
}

/// A histogram's (bucket counts, sum) for the collector.
fn histogram<'py>(py: Python<'py>, h: &crate::metrics::Histogram) -> PyResult<(Bound<'py, PyList>, f64)> {
    Ok((PyList::new(py, h.counts())?, h.sum()))
}

#[pymethods]
impl MetricSeries {
    /// Empty counts for the label set `labels`, with the histograms' upper bounds.
    #[new]
    fn new(labels: Py<PyTuple>, duration_bounds: Vec<f64>, ttft_bounds: Vec<f64>, token_bounds: Vec<f64>) -> Self {
        MetricSeries { labels, series: Series::new(duration_bounds, ttft_bounds, token_bounds) }
    }

    /// Count one finished request from its LogRecord: duration, time to first token (streams
    /// only), tokens, cost (already set), retries and fallbacks from its attempts, and a 429
    /// refused before any attempt. A value of the wrong type raises TypeError; nothing is
    /// counted then.
    fn observe(&mut self, record: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = record.py();
        let stream = record.getattr(intern!(py, "stream"))?.is_truthy()?;
        let attempts = record.getattr(intern!(py, "attempts"))?;
        let finished = Finished {
            duration_ms: record.getattr(intern!(py, "duration_ms"))?.extract()?,
            ttfb_ms: if stream { number(record, intern!(py, "ttfb_ms"))? } else { None },
            tokens_in: number(record, intern!(py, "tokens_in"))?,
            tokens_out: number(record, intern!(py, "tokens_out"))?,
            cost: number(record, intern!(py, "cost"))?,
            status: record.getattr(intern!(py, "status"))?.extract()?,
            attempts: attempts.len()?,
        };
        let mut tries = Vec::new();
        if finished.attempts > 1 {
            tries.reserve(finished.attempts);
            for a in attempts.try_iter()? {
                let a = a?;
                tries.push(Try { step: a.getattr(intern!(py, "step"))?.extract()?, attempt: a.getattr(intern!(py, "attempt"))?.extract()? });
            }
        }
        self.series.observe(&finished, &tries);
        Ok(())
    }

    #[getter]
    fn requests(&self) -> u64 {
        self.series.requests
    }

    #[getter]
    fn cost(&self) -> f64 {
        self.series.cost
    }

    #[getter]
    fn retries(&self) -> u64 {
        self.series.retries
    }

    #[getter]
    fn fallbacks(&self) -> u64 {
        self.series.fallbacks
    }

    #[getter]
    fn rate_limited(&self) -> u64 {
        self.series.rate_limited
    }

    /// (bucket counts, sum) of request durations in seconds.
    #[getter]
    fn duration<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, f64)> {
        histogram(py, &self.series.duration)
    }

    /// (bucket counts, sum) of streams' times to first token in seconds.
    #[getter]
    fn ttft<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, f64)> {
        histogram(py, &self.series.ttft)
    }

    /// (bucket counts, sum) of input tokens per request.
    #[getter]
    fn tokens_in<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, f64)> {
        histogram(py, &self.series.tokens_in)
    }

    /// (bucket counts, sum) of output tokens per request.
    #[getter]
    fn tokens_out<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, f64)> {
        histogram(py, &self.series.tokens_out)
    }
}
