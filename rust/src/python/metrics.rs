//! The request path's observers in native calls. `MetricSeries`: metrics.rs for
//! aigw.observe.metrics. One per label set; `observe(record)` reads a finished request's
//! LogRecord in one call (the Python observer spent ~170 bytecodes per request on the same
//! counting), and the collector reads the counts back at scrape time. `observe_series` finds a
//! record's series by its labels; `record_cost` is aigw.observe.costs.cost_of in one call.

use crate::metrics::{Finished, Series, Try};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyTuple};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MetricSeries>()?;
    m.add_function(wrap_pyfunction!(observe_series, m)?)?;
    m.add_function(wrap_pyfunction!(record_cost, m)?)?;
    Ok(())
}

/// `observe_series(record, series, new_series)`: count `record` in its series, found in the
/// dict `series` by the label key aigw.observe.metrics.Metrics builds (gateway, request_type,
/// provider, model, status, success, cache_status), else made by `new_series(key)`. What
/// `Metrics.observe` did in ~30 bytecodes, in one call.
#[pyfunction]
fn observe_series(record: &Bound<'_, PyAny>, series: &Bound<'_, PyDict>, new_series: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = record.py();
    let key = PyTuple::new(
        py,
        [
            record.getattr(intern!(py, "gateway"))?,
            record.getattr(intern!(py, "request_type"))?,
            record.getattr(intern!(py, "provider"))?,
            record.getattr(intern!(py, "model"))?,
            record.getattr(intern!(py, "status"))?,
            record.getattr(intern!(py, "success"))?,
            record.getattr(intern!(py, "cache_status"))?,
        ],
    )?;
    let found = match series.get_item(&key)? {
        Some(found) => found,
        None => new_series.call1((key,))?,
    };
    match found.downcast::<MetricSeries>() {
        Ok(native) => native.borrow_mut().observe(record),
        Err(_) => found.call_method1(intern!(py, "observe"), (record,)).map(drop),
    }
}

/// `x or default`, as Python evaluates it.
fn or_else<'py>(x: Bound<'py, PyAny>, default: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    Ok(if x.is_truthy()? { x } else { default })
}

/// `record_cost(record, found, price)`: aigw.observe.costs.cost_of(record, table) with the
/// table's memo `found` ((provider, model) → Price or None) read here and `price(provider,
/// model)` (the table's `price`) called on a miss. The arithmetic is Python's own number
/// protocol, so any value gives what cost_of gives; tests/observe hold the two equal.
#[pyfunction]
fn record_cost<'py>(record: &Bound<'py, PyAny>, found: &Bound<'py, PyDict>, price: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = record.py();
    if record.getattr(intern!(py, "cache_status"))?.eq(intern!(py, "HIT"))? {
        return Ok(PyFloat::new(py, 0.0).into_any());
    }
    let tokens_in = record.getattr(intern!(py, "tokens_in"))?;
    let tokens_out = record.getattr(intern!(py, "tokens_out"))?;
    if tokens_in.is_none() && tokens_out.is_none() {
        return Ok(py.None().into_bound(py));
    }
    let custom = record.getattr(intern!(py, "custom_cost"))?;
    let (rate_in, rate_out) = if !custom.is_none() {
        let rates = custom.try_iter()?.collect::<PyResult<Vec<_>>>()?;
        match <[_; 2]>::try_from(rates) {
            Ok([rate_in, rate_out]) => (rate_in, rate_out),
            Err(rates) => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!("custom_cost has {} values, not 2", rates.len())))
            }
        }
    } else {
        let provider = record.getattr(intern!(py, "provider"))?;
        let model = record.getattr(intern!(py, "model"))?;
        let key = PyTuple::new(py, [&provider, &model])?;
        let found = match found.get_item(&key)? {
            Some(found) => found,
            None => price.call1((provider, model))?,
        };
        if found.is_none() {
            return Ok(py.None().into_bound(py));
        }
        let rate_in = found.getattr(intern!(py, "input"))?;
        let rate_out = found.getattr(intern!(py, "output"))?;
        if (tokens_in.is_truthy()? && rate_in.is_none()) || (tokens_out.is_truthy()? && rate_out.is_none()) {
            return Ok(py.None().into_bound(py)); // tokens of a kind the table has no price for
        }
        (rate_in, rate_out)
    };
    let zero = PyInt::new(py, 0).into_any();
    let zero_rate = PyFloat::new(py, 0.0).into_any();
    let cost_in = or_else(tokens_in, zero.clone())?.mul(or_else(rate_in, zero_rate.clone())?)?;
    let cost_out = or_else(tokens_out, zero)?.mul(or_else(rate_out, zero_rate)?)?;
    cost_in.add(cost_out)
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
