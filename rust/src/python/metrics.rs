//! The request path's observers in native calls. `MetricSeries`: metrics.rs for
//! aigw.observe.metrics. One per label set; `observe(record)` reads a finished request's
//! LogRecord in one call (the Python observer spent ~170 bytecodes per request on the same
//! counting), and the collector reads the counts back at scrape time. `RecordObservers` reads
//! records from their slots: the function `series_observer` makes finds a record's series by its labels and counts
//! it there; `cost` is aigw.observe.costs.cost_of in one call. Each remembers the last key it
//! found in its dict (`LastFound`): a gateway's requests mostly repeat their labels, and
//! comparing a key's few values costs less than building, hashing and looking up its tuple
//! (the model, a new string per request, is hashed afresh each time).

use super::fastcall::{self, MethodDef};
use super::slot_reader::SlotReader;
use crate::metrics::{Finished, Series, Try};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use std::sync::Mutex;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MetricSeries>()?;
    m.add_class::<RecordObservers>()?;
    Ok(())
}

/// The LogRecord fields the observers read, by index (`Read::get`).
const FIELDS: [&str; 15] = [
    "cache_status", "tokens_in", "tokens_out", "custom_cost", "provider", "model", "gateway", "request_type",
    "status", "success", "stream", "attempts", "duration_ms", "ttfb_ms", "cost",
];
const CACHE_STATUS: usize = 0;
const TOKENS_IN: usize = 1;
const TOKENS_OUT: usize = 2;
const CUSTOM_COST: usize = 3;
const PROVIDER: usize = 4;
const MODEL: usize = 5;
const GATEWAY: usize = 6;
const REQUEST_TYPE: usize = 7;
const STATUS: usize = 8;
const SUCCESS: usize = 9;
const STREAM: usize = 10;
const ATTEMPTS: usize = 11;
const DURATION_MS: usize = 12;
const TTFB_MS: usize = 13;
const COST: usize = 14;

/// How a record's fields are read: from the slots of the observers' record class (any other
/// object through getattr), or through getattr alone.
enum Read<'a> {
    Slots(&'a SlotReader),
    Attrs,
}

impl Read<'_> {
    fn get<'py>(&self, record: &Bound<'py, PyAny>, field: usize) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Read::Slots(reader) => reader.get(record, field),
            Read::Attrs => record.getattr(PyString::intern(record.py(), FIELDS[field])),
        }
    }

    /// A number field as f64, None when it is None.
    fn number(&self, record: &Bound<'_, PyAny>, field: usize) -> PyResult<Option<f64>> {
        let v = self.get(record, field)?;
        if v.is_none() {
            Ok(None)
        } else {
            v.extract::<f64>().map(Some)
        }
    }
}

/// The last key an observer found in one of its dicts, with what the dict held for it.
///
/// Sound only for dicts that never replace nor remove an entry (GatewayMetrics' series and
/// PriceTable's memo only ever add): then a key equal to the remembered one finds the same
/// value. "Equal" is decided without the tuple: each value the same object, or both exact
/// `str` or both exact `int` and equal; that implies the tuples are equal, so the dict would
/// find the same entry. Anything else (a float, a subclass) is looked up as before.
struct LastFound<const N: usize> {
    dict: Py<PyDict>,
    key: [Py<PyAny>; N],
    found: Py<PyAny>,
}

/// Whether `a == b` is known without calling Python code: the same object, or two exact
/// strs or two exact ints with equal values.
fn same_value(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> bool {
    if a.is(b) {
        return true;
    }
    if a.is_exact_instance_of::<PyString>() && b.is_exact_instance_of::<PyString>() {
        // SAFETY: two live str objects (exact type checked), the GIL held; PyUnicode_Compare
        // of two strs compares their code points and cannot fail (-1 is then "less than").
        return unsafe { ffi::PyUnicode_Compare(a.as_ptr(), b.as_ptr()) } == 0;
    }
    if a.is_exact_instance_of::<PyInt>() && b.is_exact_instance_of::<PyInt>() {
        return matches!((a.extract::<i64>(), b.extract::<i64>()), (Ok(a), Ok(b)) if a == b);
    }
    false
}

/// `last`'s value when `dict` is its dict and `key` equals its key (`LastFound`).
fn recall<'py, const N: usize>(last: &Mutex<Option<LastFound<N>>>, dict: &Bound<'py, PyDict>, key: &[Bound<'py, PyAny>; N]) -> Option<Bound<'py, PyAny>> {
    let py = dict.py();
    let last = last.lock().ok()?;
    let last = last.as_ref()?;
    (last.dict.is(dict) && key.iter().zip(&last.key).all(|(k, l)| same_value(k, l.bind(py)))).then(|| last.found.bind(py).clone())
}

/// Remember that `dict[key]` is `found`.
fn remember<const N: usize>(last: &Mutex<Option<LastFound<N>>>, dict: &Bound<'_, PyDict>, key: &[Bound<'_, PyAny>; N], found: &Bound<'_, PyAny>) {
    if let Ok(mut last) = last.lock() {
        let key = std::array::from_fn(|i| key[i].clone().unbind());
        *last = Some(LastFound { dict: dict.clone().unbind(), key, found: found.clone().unbind() });
    }
}

/// A key's values as the tuple its dict is keyed by.
fn key_tuple<'py, const N: usize>(py: Python<'py>, key: &[Bound<'py, PyAny>; N]) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, key)
}

/// `dict[key]` (the tuple of `key`'s values), remembered in `last` when found; None when the
/// dict has no such key.
fn find<'py, const N: usize>(last: &Mutex<Option<LastFound<N>>>, dict: &Bound<'py, PyDict>, key: &[Bound<'py, PyAny>; N]) -> PyResult<Option<Bound<'py, PyAny>>> {
    if let Some(found) = recall(last, dict, key) {
        return Ok(Some(found));
    }
    let found = dict.get_item(key_tuple(dict.py(), key)?)?;
    if let Some(found) = &found {
        remember(last, dict, key, found);
    }
    Ok(found)
}

/// The request path's two observers in one native call each, reading a finished request's
/// LogRecord straight from its slots (`record_type`'s; another object through getattr).
#[pyclass(module = "aigw._codec", frozen)]
struct RecordObservers {
    reader: SlotReader,
    /// The last label key `series_observer`'s function found in a series dict.
    last_series: Mutex<Option<LastFound<7>>>,
    /// The last (provider, model) `cost` found in a price memo.
    last_price: Mutex<Option<LastFound<2>>>,
}

#[pymethods]
impl RecordObservers {
    #[new]
    fn new(record_type: &Bound<'_, PyType>) -> PyResult<Self> {
        let py = record_type.py();
        let names: Vec<_> = FIELDS.iter().map(|name| PyString::intern(py, name)).collect();
        Ok(RecordObservers { reader: SlotReader::new(record_type, &names)?, last_series: Mutex::new(None), last_price: Mutex::new(None) })
    }

    /// `cost(record, found, price)`: aigw.observe.costs.cost_of(record, table) with the
    /// table's memo `found` ((provider, model) → Price or None) read here and `price(provider,
    /// model)` (the table's `price`) called on a miss. The arithmetic is Python's own number
    /// protocol, so any value gives what cost_of gives; tests/observe hold the two equal.
    fn cost<'py>(&self, record: &Bound<'py, PyAny>, found: &Bound<'py, PyDict>, price: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        record_cost(&Read::Slots(&self.reader), record, found, price, &self.last_price)
    }

    /// A function `observe(record)` that sets `record.cost` to `cost(record, found, price)`,
    /// called without a Python frame (a builtin taking one argument): CostMeter's `observe`.
    fn cost_observer<'py>(slf: &Bound<'py, Self>, found: Bound<'py, PyDict>, price: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let bound = BoundObserver { observers: slf.clone().unbind(), kind: Observe::Cost { found: found.unbind(), price: price.unbind() } };
        OBSERVE.bind(&Bound::new(slf.py(), bound)?)
    }

    /// A function `observe(record)` counting `record` in its series, found in the dict
    /// `series` by the label key aigw.observe.metrics.GatewayMetrics builds (gateway,
    /// request_type, provider, model, status, success, cache_status), else made by the method
    /// `new_series()` returns (a `weakref.WeakMethod`: the function does not keep its metrics
    /// object alive; ReferenceError once it is gone); a series that is not a MetricSeries is
    /// asked to `observe(record)`. GatewayMetrics' `observe`, called without a Python frame.
    fn series_observer<'py>(slf: &Bound<'py, Self>, series: Bound<'py, PyDict>, new_series: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let bound = BoundObserver { observers: slf.clone().unbind(), kind: Observe::Series { series: series.unbind(), new_series: new_series.unbind() } };
        OBSERVE.bind(&Bound::new(slf.py(), bound)?)
    }
}

impl RecordObservers {
    /// Count `record` in its series in `series` (see `series_observer`), a missing one made
    /// by `new_series(key)`.
    fn count_in_series<'py>(
        &self,
        record: &Bound<'py, PyAny>,
        series: &Bound<'py, PyDict>,
        new_series: impl FnOnce(Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        let read = Read::Slots(&self.reader);
        let py = record.py();
        let key = [
            read.get(record, GATEWAY)?,
            read.get(record, REQUEST_TYPE)?,
            read.get(record, PROVIDER)?,
            read.get(record, MODEL)?,
            read.get(record, STATUS)?,
            read.get(record, SUCCESS)?,
            read.get(record, CACHE_STATUS)?,
        ];
        let found = match find(&self.last_series, series, &key)? {
            Some(found) => found,
            None => new_series(key_tuple(py, &key)?)?,
        };
        match found.downcast::<MetricSeries>() {
            Ok(native) => native.borrow_mut().count(&read, record),
            Err(_) => found.call_method1(intern!(py, "observe"), (record,)).map(drop),
        }
    }
}

/// What a `BoundObserver` does with a record.
enum Observe {
    /// `record.cost = RecordObservers.cost(record, found, price)`.
    Cost { found: Py<PyDict>, price: Py<PyAny> },
    /// Count `record` in its series in `series`, a missing one made by the weak method `new_series`.
    Series { series: Py<PyDict>, new_series: Py<PyAny> },
}

/// The receiver of the functions `cost_observer` and `series_observer` hand out.
#[pyclass(module = "aigw._codec", frozen)]
struct BoundObserver {
    observers: Py<RecordObservers>,
    kind: Observe,
}

impl BoundObserver {
    /// Observe `record`; None.
    fn observe<'py>(&self, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = record.py();
        let observers = self.observers.get();
        match &self.kind {
            Observe::Cost { found, price } => {
                let cost = record_cost(&Read::Slots(&observers.reader), record, found.bind(py), price.bind(py), &observers.last_price)?;
                record.setattr(intern!(py, "cost"), cost)?;
            }
            Observe::Series { series, new_series } => observers.count_in_series(record, series.bind(py), |key| {
                let method = new_series.bind(py).call0()?;
                if method.is_none() {
                    return Err(pyo3::exceptions::PyReferenceError::new_err("the metrics object of this observer is gone"));
                }
                method.call1((key,))
            })?,
        }
        Ok(py.None().into_bound(py))
    }
}

static OBSERVE: MethodDef<BoundObserver> = MethodDef::one_argument(c"observe", c"Observe one finished request's record.", observe_one);

// `OBSERVE`'s C function, through pyo3's trampoline (the memo drops the references it
// replaces: see fastcall.rs).
fastcall::one_argument_through_trampoline!(observe_one, BoundObserver, observe);

/// `x or default`, as Python evaluates it.
fn or_else<'py>(x: Bound<'py, PyAny>, default: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    Ok(if x.is_truthy()? { x } else { default })
}

/// aigw.observe.costs.cost_of (see `RecordObservers::cost`).
fn record_cost<'py>(
    read: &Read<'_>,
    record: &Bound<'py, PyAny>,
    found: &Bound<'py, PyDict>,
    price: &Bound<'py, PyAny>,
    last: &Mutex<Option<LastFound<2>>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = record.py();
    if read.get(record, CACHE_STATUS)?.eq(intern!(py, "HIT"))? {
        return Ok(PyFloat::new(py, 0.0).into_any());
    }
    let tokens_in = read.get(record, TOKENS_IN)?;
    let tokens_out = read.get(record, TOKENS_OUT)?;
    if tokens_in.is_none() && tokens_out.is_none() {
        return Ok(py.None().into_bound(py));
    }
    let custom = read.get(record, CUSTOM_COST)?;
    let (rate_in, rate_out) = if !custom.is_none() {
        let rates = custom.try_iter()?.collect::<PyResult<Vec<_>>>()?;
        match <[_; 2]>::try_from(rates) {
            Ok([rate_in, rate_out]) => (rate_in, rate_out),
            Err(rates) => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!("custom_cost has {} values, not 2", rates.len())))
            }
        }
    } else {
        let key = [read.get(record, PROVIDER)?, read.get(record, MODEL)?];
        let found = match find(last, found, &key)? {
            Some(found) => found,
            None => {
                let [provider, model] = key;
                price.call1((provider, model))?
            }
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
    if let Some(cost) = float_cost(&tokens_in, &tokens_out, &rate_in, &rate_out) {
        return Ok(PyFloat::new(py, cost).into_any());
    }
    let zero = PyInt::new(py, 0).into_any();
    let zero_rate = PyFloat::new(py, 0.0).into_any();
    let cost_in = or_else(tokens_in, zero.clone())?.mul(or_else(rate_in, zero_rate.clone())?)?;
    let cost_out = or_else(tokens_out, zero)?.mul(or_else(rate_out, zero_rate)?)?;
    cost_in.add(cost_out)
}

/// `(tokens_in or 0) * (rate_in or 0.0) + (tokens_out or 0) * (rate_out or 0.0)` in f64, for
/// the usual record: each count None or an int (exactly) within 2**53, whose float is exact as
/// Python converts it, and each rate None or a float (exactly). Then every step is the float
/// operation Python performs, without a Python number made for it. None for anything else (the
/// number protocol decides).
fn float_cost(tokens_in: &Bound<'_, PyAny>, tokens_out: &Bound<'_, PyAny>, rate_in: &Bound<'_, PyAny>, rate_out: &Bound<'_, PyAny>) -> Option<f64> {
    fn count(v: &Bound<'_, PyAny>) -> Option<f64> {
        if v.is_none() {
            return Some(0.0);
        }
        let n: i64 = v.downcast_exact::<PyInt>().ok()?.extract().ok()?;
        (n.unsigned_abs() <= 1 << 53).then_some(n as f64)
    }
    fn rate(v: &Bound<'_, PyAny>) -> Option<f64> {
        if v.is_none() {
            return Some(0.0);
        }
        let r = v.downcast_exact::<PyFloat>().ok()?.value();
        Some(if r == 0.0 { 0.0 } else { r }) // `-0.0 or 0.0` is 0.0
    }
    Some(count(tokens_in)? * rate(rate_in)? + count(tokens_out)? * rate(rate_out)?)
}

#[pyclass(module = "aigw._codec")]
struct MetricSeries {
    /// The label values, in the collector's order.
    #[pyo3(get)]
    labels: Py<PyTuple>,
    series: Series,
}

impl MetricSeries {
    /// `observe`, the record's fields read by `read`.
    fn count(&mut self, read: &Read<'_>, record: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = record.py();
        let stream = read.get(record, STREAM)?.is_truthy()?;
        let attempts = read.get(record, ATTEMPTS)?;
        let finished = Finished {
            duration_ms: read.get(record, DURATION_MS)?.extract()?,
            ttfb_ms: if stream { read.number(record, TTFB_MS)? } else { None },
            tokens_in: read.number(record, TOKENS_IN)?,
            tokens_out: read.number(record, TOKENS_OUT)?,
            cost: read.number(record, COST)?,
            status: read.get(record, STATUS)?.extract()?,
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
        self.count(&Read::Attrs, record)
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
