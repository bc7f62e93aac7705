//! A streamed upstream body in native code, the exchange's second half (see
//! upstream_exchange.rs): the usual streamed head starts its body (`Connection._received`'s
//! head case and `_start_body`), a body is fed read by read (`_feed_body`,
//! `UpstreamResponse._feed`: to the consumer it is pushed to, `push_to`, or into its buffer),
//! and its end parks the connection (`_body_done`, `UpstreamResponse._feed_eof`, `_finished`,
//! `_Pool.release`).
//!
//! connection.py and response.py stay the specification: each entry checks that its case is
//! the usual one and otherwise, before changing anything, leaves it to the Python method that
//! handles every case. The usual streamed head: a 2xx answer other than 204 to a request that
//! is not HEAD, framed by `Transfer-Encoding: chunked` alone or by a plain Content-Length, not
//! compressed (or not to be decoded), without a Keep-Alive field, on the request's first read.

use super::slot_layout::{is_false, is_none};
use super::upstream::ChunkedDecoder;
use super::upstream_exchange::*;
use crate::http;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyTuple, PyWeakrefReference};

impl UpstreamExchange {
    /// `Connection._arm(when, callback)` for `conn`, its usual case inline: a pending timer
    /// that fires no later than `when` stays (it re-checks the deadline when it fires).
    ///
    /// # Safety
    /// `conn` must be exactly a Connection.
    pub(super) unsafe fn arm<'py>(
        &self,
        conn: &Bound<'py, PyAny>,
        when: &Bound<'py, PyAny>,
        callback: &Bound<'py, PyAny>,
    ) -> PyResult<()> {
        // SAFETY: the caller's contract.
        let c = |i| unsafe { self.conn.get(conn, i) };
        let keeps_timer = match (c(C_TIMER), c(C_TIMER_WHEN)) {
            (Some(timer), Some(timer_when)) if !timer.is_none() => {
                timer_when.extract::<f64>()? <= when.extract::<f64>()?
            }
            _ => false,
        };
        if keeps_timer {
            unsafe {
                self.conn.set(conn, C_DEADLINE, when.clone());
                self.conn.set(conn, C_ON_DEADLINE, callback.clone());
            }
            return Ok(());
        }
        conn.call_method1(intern!(conn.py(), "_arm"), (when, callback))
            .map(drop)
    }

    /// The usual streamed head (see the module docs) in `parsed`, take_whole_response's
    /// `(status, reason, minor, headers, consumed, framing fields)` of `data`, the first read
    /// of the answer `waiter` waits for: the response made and handed to `waiter`, the rest of
    /// the read fed, as `_received` and `_start_body` do. False, having changed nothing, for
    /// any other head.
    ///
    /// # Safety
    /// `conn` must be exactly a Connection.
    pub(super) unsafe fn start_body<'py>(
        &self,
        conn: &Bound<'py, PyAny>,
        waiter: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
        parsed: &Bound<'py, PyTuple>,
        limits: &Bound<'py, PyTuple>,
    ) -> PyResult<bool> {
        let py = conn.py();
        // SAFETY (every get/set below): the caller's contract.
        let c = |i| unsafe { self.conn.get(conn, i) };
        let set = |i, v: Bound<'py, PyAny>| unsafe { self.conn.set(conn, i, v) };
        let status: i64 = parsed.get_item(0)?.extract()?;
        if !(200..300).contains(&status) || status == 204 || !is_false(&c(C_GOT_BYTES)) {
            return Ok(false);
        }
        let Ok(fields) = parsed.get_item(5)?.downcast_into::<PyTuple>() else {
            return Ok(false);
        };
        if fields.len() != 7 {
            return Ok(false);
        }
        let field = |i| fields.get_item(i);
        let (cl, conflicting, te, conn_hdr, ce, keep_alive) =
            (field(0)?, field(1)?, field(2)?, field(3)?, field(4)?, field(5)?);
        if conflicting.is_truthy()? || !keep_alive.is_none() {
            return Ok(false);
        }
        if !ce.is_none() && !is_false(&c(C_DECODE)) {
            return Ok(false); // a body to inflate
        }
        // connection.py's framing rules for the two usual cases: Transfer-Encoding alone whose
        // last coding is chunked (`te.rstrip().lower().endswith(b"chunked")`), or a plain
        // Content-Length of a body that is not empty.
        let framing = match (te.is_none(), cl.is_none()) {
            (false, true) => match te.downcast::<PyBytes>() {
                Ok(te) if ends_chunked(te.as_bytes()) => None,
                _ => return Ok(false),
            },
            (true, false) => match cl
                .downcast::<PyBytes>()
                .ok()
                .and_then(|cl| http::plain_length(cl.as_bytes()))
            {
                Some(n) if n > 0 => Some(n),
                _ => return Ok(false),
            },
            _ => return Ok(false),
        };
        let minor: i64 = parsed.get_item(2)?.extract()?;
        let closes = match conn_hdr.downcast::<PyBytes>() {
            Ok(v) => http::says_close(v.as_bytes()),
            Err(_) if conn_hdr.is_none() => false,
            Err(_) => return Ok(false),
        };
        let Some(total) = c(C_TOTAL_DEADLINE) else {
            return Ok(false);
        };
        let consumed: usize = parsed.get_item(4)?.extract()?;
        // _received: the first byte is in, and the total deadline rules from here.
        set(C_GOT_BYTES, PyBool::new(py, true).to_owned().into_any());
        let on_total = self.on_total.bind(py);
        unsafe { self.arm(conn, &total, on_total) }?;
        // _start_body, for the framings checked above.
        set(C_REUSABLE, PyBool::new(py, minor >= 1 && !closes).to_owned().into_any());
        match framing {
            None => {
                set(C_FRAMING, PyInt::new(py, CHUNKED).into_any());
                set(C_CHUNKED, Bound::new(py, ChunkedDecoder::new(1 << 40))?.into_any());
            }
            Some(n) => {
                set(C_FRAMING, PyInt::new(py, LENGTH).into_any());
                set(C_REMAINING, PyInt::new(py, n).into_any());
            }
        }
        let headers = self.headers_type.bind(py).call1((parsed.get_item(3)?,))?;
        let resp = self.make_streamed.bind(py).call1((
            parsed.get_item(0)?,
            parsed.get_item(1)?,
            parsed.get_item(2)?,
            headers,
            field(6)?,
            conn,
            PyList::empty(py),
            limits.get_item(1)?,
            limits.get_item(2)?,
        ))?;
        let dropped = conn.getattr(intern!(py, "_response_dropped"))?;
        let weak = PyWeakrefReference::new_with(&resp, dropped)?.into_any();
        set(C_RESPONSE, weak.clone());
        set(C_WAITER, py.None().into_bound(py));
        waiter.call_method1(intern!(py, "set_result"), (&resp,))?;
        let length = data.len()?;
        if consumed < length {
            let rest = data.get_item(pyo3::types::PySlice::new(py, consumed as isize, length as isize, 1))?;
            if !unsafe { self.feed_body(conn, &weak, &rest) }? {
                conn.call_method1(intern!(py, "_feed_body"), (rest,))?;
            }
        }
        if matches!(c(C_RESPONSE), Some(r) if r.is(&weak)) {
            unsafe { self.arm(conn, &total, on_total) }?;
        }
        Ok(true)
    }

    /// `_feed_body(data)` for a body of exactly an UpstreamResponse that has not failed: a
    /// chunked read, a read of a Content-Length body, a read of a body that ends at close, the
    /// decoded piece fed (`feed`) and the body's end (`body_done`) or a refused read
    /// (`_chunked_failed`) after it, as `_feed_body` orders them. False, having changed
    /// nothing, for any other case: `_feed_body` takes it.
    ///
    /// # Safety
    /// `conn` must be exactly a Connection.
    pub(super) unsafe fn feed_body<'py>(
        &self,
        conn: &Bound<'py, PyAny>,
        response: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<bool> {
        let py = conn.py();
        let Ok(weak) = response.downcast::<PyWeakrefReference>() else {
            return Ok(false);
        };
        let Some(resp) = weak.upgrade() else {
            return Ok(false);
        };
        if !self.response.is(&resp) || !is_none(&unsafe { self.response.get(&resp, R_EXC) }) {
            return Ok(false);
        }
        // SAFETY (every get/set below): `resp` is exactly an UpstreamResponse (checked above),
        // and `conn` exactly a Connection (the caller's contract).
        let c = |i| unsafe { self.conn.get(conn, i) };
        let Some(framing) = c(C_FRAMING) else {
            return Ok(false);
        };
        match framing.extract::<i64>() {
            Ok(CHUNKED) => {
                let Some(Ok(dec)) = c(C_CHUNKED).map(|d| d.downcast_into_exact::<ChunkedDecoder>()) else {
                    return Ok(false);
                };
                let fed = dec.borrow_mut().feed(py, data);
                match fed {
                    Ok(piece) => {
                        if piece.len()? > 0 {
                            unsafe { self.feed(&resp, &piece) }?;
                        }
                        if dec.borrow().done() {
                            if dec.borrow().has_unused_data() {
                                conn.call_method1(intern!(py, "_chunked_done"), (dec,))?;
                            } else {
                                unsafe { self.body_done(conn, weak) }?;
                            }
                        }
                    }
                    Err(e) if e.is_instance_of::<PyValueError>(py) => {
                        conn.call_method1(intern!(py, "_chunked_failed"), (resp, e.into_value(py)))?;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(LENGTH) => {
                let Some(Ok(remaining)) = c(C_REMAINING).map(|n| n.extract::<usize>()) else {
                    return Ok(false);
                };
                let n = data.len()?;
                let set = |i, v: Bound<'py, PyAny>| unsafe { self.conn.set(conn, i, v) };
                if n < remaining {
                    set(C_REMAINING, PyInt::new(py, remaining - n).into_any());
                    unsafe { self.feed(&resp, data) }?;
                    return Ok(true);
                }
                let piece = if n > remaining {
                    set(C_REUSABLE, PyBool::new(py, false).to_owned().into_any()); // stray bytes after the body
                    data.get_item(pyo3::types::PySlice::new(py, 0, remaining as isize, 1))?
                } else {
                    data.clone()
                };
                set(C_REMAINING, PyInt::new(py, 0).into_any());
                unsafe { self.feed(&resp, &piece) }?;
                unsafe { self.body_done(conn, weak) }?;
            }
            Ok(UNTIL_CLOSE) => {
                unsafe { self.feed(&resp, data) }?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `UpstreamResponse._feed(piece)`: handed to the consumer it is pushed to, or buffered
    /// (its reader's wait ended, the connection paused once the buffer is full, both by the
    /// Python methods' usual calls).
    ///
    /// # Safety
    /// `resp` must be exactly an UpstreamResponse.
    unsafe fn feed<'py>(&self, resp: &Bound<'py, PyAny>, piece: &Bound<'py, PyAny>) -> PyResult<()> {
        let py = resp.py();
        // SAFETY (every get/set below): the caller's contract.
        let r = |i| unsafe { self.response.get(resp, i) };
        let slow = || resp.call_method1(intern!(py, "_feed"), (piece,)).map(drop);
        if !is_none(&r(R_EXC)) {
            return Ok(()); // failed on the way (by an earlier piece's consumer): dropped, as `_feed` does
        }
        match r(R_ON_DATA) {
            Some(push) if !push.is_none() => return push.call1((piece,)).map(drop),
            Some(_) => {}
            None => return slow(),
        }
        let (Some(Ok(chunks)), Some(Ok(size)), Some(waiter), Some(Ok(limit)), Some(paused)) = (
            r(R_CHUNKS).map(|l| l.downcast_into_exact::<PyList>()),
            r(R_SIZE).map(|n| n.extract::<usize>()),
            r(R_WAITER),
            r(R_LIMIT).map(|n| n.extract::<usize>()),
            r(R_PAUSED),
        ) else {
            return slow();
        };
        chunks.append(piece)?;
        let size = size + piece.len()?;
        unsafe { self.response.set(resp, R_SIZE, PyInt::new(py, size).into_any()) };
        if !waiter.is_none() && !waiter.call_method0(intern!(py, "done"))?.is_truthy()? {
            waiter.call_method1(intern!(py, "set_result"), (py.None(),))?;
        }
        if size >= limit && !paused.is_truthy()? && !is_none(&r(R_CONN)) {
            unsafe {
                self.response
                    .set(resp, R_PAUSED, PyBool::new(py, true).to_owned().into_any())
            };
            if let Some(conn) = r(R_CONN) {
                conn.call_method0(intern!(py, "pause_reading"))?;
            }
        }
        Ok(())
    }

    /// `_body_done()` for `conn`, whose body `weak` ended: the response ended (`_feed_eof`:
    /// its consumer's `on_end(None)`, or its reader's wait ended) and the connection released
    /// to its pool, or closed. Left to `_body_done` when anything changed on the way (the
    /// response failed, was replaced, or paused its connection, which `_finished` resumes).
    ///
    /// # Safety
    /// `conn` must be exactly a Connection.
    unsafe fn body_done<'py>(&self, conn: &Bound<'py, PyAny>, weak: &Bound<'py, PyWeakrefReference>) -> PyResult<()> {
        let py = conn.py();
        // SAFETY (every get/set below): the caller's contract, and `resp` checked below.
        let c = |i| unsafe { self.conn.get(conn, i) };
        let slow = || conn.call_method0(intern!(py, "_body_done")).map(drop);
        if !matches!(c(C_RESPONSE), Some(r) if r.is(weak)) {
            return slow();
        }
        let Some(resp) = weak.upgrade() else {
            return slow();
        };
        if !self.response.is(&resp) {
            return slow();
        }
        let r = |i| unsafe { self.response.get(&resp, i) };
        let (true, Some(end), Some(paused), Some(waiter)) = (is_none(&r(R_EXC)), r(R_ON_END), r(R_PAUSED), r(R_WAITER))
        else {
            return slow();
        };
        if !paused.is(PyBool::new(py, false)) {
            return slow(); // `_finished` resumes the reading
        }
        let none = || py.None().into_bound(py);
        let set = |i, v: Bound<'py, PyAny>| unsafe { self.conn.set(conn, i, v) };
        let set_r = |i, v: Bound<'py, PyAny>| unsafe { self.response.set(&resp, i, v) };
        // _body_done
        set(C_RESPONSE, none());
        set(C_CHUNKED, none());
        set(C_DEADLINE, none()); // _disarm
                                 // UpstreamResponse._feed_eof
        set_r(R_EOF, PyBool::new(py, true).to_owned().into_any());
        set_r(R_CONN, none());
        if !end.is_none() {
            set_r(R_ON_DATA, none());
            set_r(R_ON_END, none());
            set_r(R_FINISHED, PyBool::new(py, true).to_owned().into_any());
            end.call1((none(),))?;
        } else if !waiter.is_none() && !waiter.call_method0(intern!(py, "done"))?.is_truthy()? {
            waiter.call_method1(intern!(py, "set_result"), (none(),))?;
        }
        // _finished(False)
        if c(C_REUSABLE).is_some_and(|v| v.is(PyBool::new(py, true))) && is_false(&c(C_CLOSED)) {
            self.release(conn)
        } else {
            conn.call_method1(intern!(py, "_finished"), (false,)).map(drop)
        }
    }
}

/// Whether a Transfer-Encoding value's last coding is chunked, as connection.py reads it
/// (`te.rstrip().lower().endswith(b"chunked")`; the trailing whitespace trimmed here is a subset
/// of Python's, so a value read otherwise goes to the Python, never the other way round).
fn ends_chunked(te: &[u8]) -> bool {
    let te = te.trim_ascii_end();
    te.len() >= 7 && te[te.len() - 7..].eq_ignore_ascii_case(b"chunked")
}
