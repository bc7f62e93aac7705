//! The upstream client's usual exchange in native code: an idle pooled connection taken and
//! the request written (`UpstreamExchange.send_function`), then the whole answer parsed,
//! handed to its waiter and the connection parked idle again (each connection's
//! `data_received`, made by `UpstreamExchange.receiver`).
//!
//! aigw/upstream/client.py and connection.py hold the whole state machine in Python and stay
//! its specification: these are the same steps, in the same order, for the one case every
//! request of a busy gateway takes. Each entry first checks that its case is the usual one
//! (exact classes, an idle live connection, no queue, a whole answer without a Keep-Alive
//! field, a pool whose sweeper is armed, an open client) and otherwise, before changing
//! anything, leaves the call to the Python method that handles every case. The objects'
//! state is read and written in their `__slots__`, at offsets checked when the exchange is
//! made (`slots::slot_offset`): what CPython's specialised attribute loads and stores do,
//! without a frame and ~30 bytecodes per Python method.

use super::fastcall::{self, one_argument_through_trampoline, FixedArity, MethodDef};
use super::slot_layout::{is_false, is_none, Layout};
use super::upstream::take_whole_response;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyTuple, PyType, PyWeakrefReference};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<UpstreamExchange>()?; // ConnReceiver is made by it, never from Python
    Ok(())
}

// The slots each side reads or writes, in the order given to Layout::new.
const CONNECTION_SLOTS: &[&str] = &[
    "_response",
    "_waiter",
    "_buf",
    "_is_head",
    "_decode",
    "_limits",
    "closed",
    "pool",
    "_deadline",
    "_reusable",
    "_got_bytes",
    "_total_deadline",
    "transport",
    "_written",
    "_timer",
    "_timer_when",
    "_on_deadline",
    "owner",
    "busy",
    "idle_deadline",
    "loop",
    "keep_alive_limit",
    "_framing",
    "_chunked",
    "_remaining",
]; // fmt: skip
pub(super) const C_RESPONSE: usize = 0;
pub(super) const C_WAITER: usize = 1;
pub(super) const C_BUF: usize = 2;
pub(super) const C_IS_HEAD: usize = 3;
pub(super) const C_DECODE: usize = 4;
pub(super) const C_LIMITS: usize = 5;
pub(super) const C_CLOSED: usize = 6;
pub(super) const C_POOL: usize = 7;
pub(super) const C_DEADLINE: usize = 8;
pub(super) const C_REUSABLE: usize = 9;
pub(super) const C_GOT_BYTES: usize = 10;
pub(super) const C_TOTAL_DEADLINE: usize = 11;
pub(super) const C_TRANSPORT: usize = 12;
pub(super) const C_WRITTEN: usize = 13;
pub(super) const C_TIMER: usize = 14;
pub(super) const C_TIMER_WHEN: usize = 15;
pub(super) const C_ON_DEADLINE: usize = 16;
pub(super) const C_OWNER: usize = 17;
pub(super) const C_BUSY: usize = 18;
pub(super) const C_IDLE_DEADLINE: usize = 19;
pub(super) const C_LOOP: usize = 20;
pub(super) const C_KEEP_ALIVE_LIMIT: usize = 21;
pub(super) const C_FRAMING: usize = 22;
pub(super) const C_CHUNKED: usize = 23;
pub(super) const C_REMAINING: usize = 24;

// connection.py's body framings (`_framing`) the native body path takes.
pub(super) const LENGTH: i64 = 1;
pub(super) const CHUNKED: i64 = 2;
pub(super) const UNTIL_CLOSE: i64 = 3;

const RESPONSE_SLOTS: &[&str] = &[
    "_exc",
    "_on_data",
    "_on_end",
    "_paused",
    "_eof",
    "_conn",
    "_finished",
    "_chunks",
    "_size",
    "_waiter",
    "_limit",
]; // fmt: skip
pub(super) const R_EXC: usize = 0;
pub(super) const R_ON_DATA: usize = 1;
pub(super) const R_ON_END: usize = 2;
pub(super) const R_PAUSED: usize = 3;
pub(super) const R_EOF: usize = 4;
pub(super) const R_CONN: usize = 5;
pub(super) const R_FINISHED: usize = 6;
pub(super) const R_CHUNKS: usize = 7;
pub(super) const R_SIZE: usize = 8;
pub(super) const R_WAITER: usize = 9;
pub(super) const R_LIMIT: usize = 10;

const POOL_SLOTS: &[&str] = &["client", "idle", "queues", "held", "sweeper"];
const P_CLIENT: usize = 0;
const P_IDLE: usize = 1;
const P_QUEUES: usize = 2;
const P_HELD: usize = 3;
const P_SWEEPER: usize = 4;

const CLIENT_SLOTS: &[&str] = &["_closed", "idle_timeout", "max_connections_per_owner"];
const K_CLOSED: usize = 0;
const K_IDLE_TIMEOUT: usize = 1;
const K_MAX_PER_OWNER: usize = 2;

/// The upstream client's usual exchange (see the module docs), made once per process by
/// aigw/upstream/client.py from its classes.
#[pyclass(module = "aigw._codec", frozen)]
pub struct UpstreamExchange {
    pub(super) conn: Layout,
    pool: Layout,
    client: Layout,
    pub(super) response: Layout,
    /// What the Python connection hands `take_whole_response`: the response maker and the
    /// headers class.
    make_response: Py<PyAny>,
    /// The maker of a response whose body follows (response.py's `streamed_response`).
    pub(super) make_streamed: Py<PyAny>,
    pub(super) headers_type: Py<PyAny>,
    /// The connection's deadline callbacks (connection.py's `_first_byte_timeout`,
    /// `_total_timeout`).
    on_first_byte: Py<PyAny>,
    pub(super) on_total: Py<PyAny>,
}

#[pymethods]
impl UpstreamExchange {
    /// `client`, `pool`, `connection`, `response`: the classes UpstreamClient, _Pool,
    /// Connection and UpstreamResponse (their slots are checked here: ValueError when one the
    /// exchange uses is not a writable object slot); `make_response`, `headers_type`: what the
    /// connection gives `take_whole_response`; `make_streamed`: response.py's
    /// `streamed_response`; `on_first_byte`, `on_total`: its deadline callbacks.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        client: &Bound<'_, PyType>,
        pool: &Bound<'_, PyType>,
        connection: &Bound<'_, PyType>,
        response: &Bound<'_, PyType>,
        make_response: &Bound<'_, PyAny>,
        make_streamed: &Bound<'_, PyAny>,
        headers_type: &Bound<'_, PyAny>,
        on_first_byte: &Bound<'_, PyAny>,
        on_total: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        Ok(UpstreamExchange {
            conn: Layout::new(connection, CONNECTION_SLOTS)?,
            pool: Layout::new(pool, POOL_SLOTS)?,
            client: Layout::new(client, CLIENT_SLOTS)?,
            response: Layout::new(response, RESPONSE_SLOTS)?,
            make_response: make_response.clone().unbind(),
            make_streamed: make_streamed.clone().unbind(),
            headers_type: headers_type.clone().unbind(),
            on_first_byte: on_first_byte.clone().unbind(),
            on_total: on_total.clone().unbind(),
        })
    }

    /// A `data_received` for `connection`: a builtin function that takes a whole answer to
    /// the waiting request natively, starts the usual streamed body and feeds a body's usual
    /// reads as `connection._feed_body(data)` does (upstream_body.rs), and calls
    /// `connection._feed_body(data)` or `connection._received(data)` (`_received(data,
    /// parsed)`, the head already parsed) for everything else. It holds the connection
    /// weakly, so the connection can hold it without a reference cycle.
    fn receiver<'py>(slf: &Bound<'py, Self>, connection: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let conn = PyWeakrefReference::new(connection)?.unbind();
        let receiver = Bound::new(
            py,
            ConnReceiver {
                conn,
                exchange: slf.clone().unbind(),
            },
        )?;
        RECEIVE.bind(&receiver)
    }

    /// `send(pool, owner, data, is_head, first_byte_timeout, total_deadline, decode)`, as a
    /// builtin function: when the pool has an idle live connection `owner` may take and no
    /// request is queued, takes it for `owner`, writes `data` and arms its deadline as
    /// `Connection.send` does, and returns `(connection, waiter)`; otherwise returns None,
    /// having changed nothing (the client then takes the Python path).
    fn send_function<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        SEND.bind(slf)
    }
}

static SEND: MethodDef<UpstreamExchange> = MethodDef::fastcall(
    c"send",
    c"send(pool, owner, data, is_head, first_byte_timeout, total_deadline, decode): (connection, waiter) or None.",
    fastcall::fixed_arity::<UpstreamExchange, 7>,
);

impl FixedArity<7> for UpstreamExchange {
    const FUNCTION: &'static str = "send";

    fn call<'py>(&self, py: Python<'py>, args: [Bound<'py, PyAny>; 7]) -> PyResult<Bound<'py, PyAny>> {
        let [pool, owner, data, is_head, first_byte_timeout, total_deadline, decode] = &args;
        let sent = self.send(pool, owner, data, is_head, first_byte_timeout, total_deadline, decode)?;
        Ok(sent.unwrap_or_else(|| py.None().into_bound(py)))
    }
}

impl UpstreamExchange {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send<'py>(
        &self,
        pool: &Bound<'py, PyAny>,
        owner: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
        is_head: &Bound<'py, PyAny>,
        first_byte_timeout: &Bound<'py, PyAny>,
        total_deadline: &Bound<'py, PyAny>,
        decode: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = pool.py();
        if !self.pool.is(pool) {
            return Ok(None);
        }
        // SAFETY (every get/set below): each object was checked to be exactly its class.
        let p = |i| unsafe { self.pool.get(pool, i) };
        let (Some(idle), Some(queues), Some(held), Some(client)) = (p(P_IDLE), p(P_QUEUES), p(P_HELD), p(P_CLIENT))
        else {
            return Ok(None);
        };
        let (Ok(idle), Ok(queues), Ok(held)) = (
            idle.downcast_into::<PyList>(),
            queues.downcast_into::<PyDict>(),
            held.downcast_into::<PyDict>(),
        ) else {
            return Ok(None);
        };
        // A queue means capacity is handed out in turn (client.py's `_acquire` and `grant`).
        if idle.is_empty() || !queues.is_empty() || !self.client.is(&client) {
            return Ok(None);
        }
        // pool.may_take(owner)
        let Some(cap) = (unsafe { self.client.get(&client, K_MAX_PER_OWNER) }) else {
            return Ok(None);
        };
        let holds = if owner.is_none() {
            None
        } else {
            Some(held.get_item(owner)?)
        };
        if let (Some(holding), false) = (&holds, cap.is_none()) {
            let holding: i64 = match holding {
                Some(n) => n.extract()?,
                None => 0,
            };
            if holding >= cap.extract::<i64>()? {
                return Ok(None);
            }
        }
        let conn = idle.get_item(idle.len() - 1)?;
        if !self.conn.is(&conn) {
            return Ok(None);
        }
        let c = |i| unsafe { self.conn.get(&conn, i) };
        let (Some(loop_), Some(transport), Some(idle_deadline)) = (c(C_LOOP), c(C_TRANSPORT), c(C_IDLE_DEADLINE))
        else {
            return Ok(None);
        };
        let now: f64 = loop_.call_method0(intern!(py, "time"))?.extract()?;
        // pool.take_idle's test (a dead one is closed there), and Connection.send's.
        if !is_false(&c(C_CLOSED)) || idle_deadline.extract::<f64>()? <= now || transport.is_none() {
            return Ok(None);
        }
        if transport.call_method0(intern!(py, "is_closing"))?.is_truthy()? {
            return Ok(None);
        }
        let fb = now + first_byte_timeout.extract::<f64>()?;
        let total = total_deadline.extract::<f64>()?;
        // The usual case from here on: pool.take_idle, loop.create_future, Connection.send.
        idle.del_item(idle.len() - 1)?;
        if let Some(holding) = holds {
            let n: i64 = match holding {
                Some(n) => n.extract()?,
                None => 0,
            };
            held.set_item(owner, n + 1)?;
        }
        let set = |i, v: Bound<'py, PyAny>| unsafe { self.conn.set(&conn, i, v) };
        let yes = || PyBool::new(py, true).to_owned().into_any();
        let no = || PyBool::new(py, false).to_owned().into_any();
        set(C_OWNER, owner.clone());
        set(C_BUSY, yes());
        let waiter = loop_.call_method0(intern!(py, "create_future"))?;
        set(C_WAITER, waiter.clone());
        set(C_IS_HEAD, is_head.clone());
        set(C_GOT_BYTES, no());
        set(C_TOTAL_DEADLINE, total_deadline.clone());
        set(C_DECODE, decode.clone());
        set(C_WRITTEN, yes());
        transport.call_method1(intern!(py, "write"), (data,))?;
        let (when, callback) = if fb < total {
            (fb, &self.on_first_byte)
        } else {
            (total, &self.on_total)
        };
        // SAFETY: `conn` is exactly a Connection.
        unsafe { self.arm(&conn, &PyFloat::new(py, when).into_any(), callback.bind(py)) }?;
        Ok(Some(PyTuple::new(py, [conn, waiter])?.into_any()))
    }

    /// Connection.data_received for `conn`: the whole answer taken natively (see `receiver`).
    fn receive<'py>(&self, conn: &Bound<'py, PyAny>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = conn.py();
        let slow = |parsed: Option<&Bound<'py, PyAny>>| match parsed {
            None => conn.call_method1(intern!(py, "_received"), (data,)),
            Some(parsed) => conn.call_method1(intern!(py, "_received"), (data, parsed)),
        };
        if !self.conn.is(conn) {
            return slow(None);
        }
        // SAFETY (every get/set below): `conn` is exactly a Connection.
        let c = |i| unsafe { self.conn.get(conn, i) };
        if let Some(response) = c(C_RESPONSE) {
            if !response.is_none() {
                // A body on its way (each read of a stream): `_received`'s first case, without
                // its frame, and the usual read without `_feed_body`'s either (upstream_body.rs).
                // SAFETY: `conn` is exactly a Connection.
                if unsafe { self.feed_body(conn, &response, data) }? {
                    return Ok(py.None().into_bound(py));
                }
                return conn.call_method1(intern!(py, "_feed_body"), (data,));
            }
        }
        let waiter = match (c(C_RESPONSE), c(C_WAITER), c(C_BUF)) {
            (Some(response), Some(waiter), Some(buf)) if response.is_none() && !waiter.is_none() && buf.is_none() => {
                waiter
            }
            _ => return slow(None),
        };
        if !is_false(&c(C_IS_HEAD)) || waiter.call_method0(intern!(py, "done"))?.is_truthy()? {
            return slow(None);
        }
        let Some(limits) = c(C_LIMITS) else {
            return slow(None);
        };
        let Ok(limits) = limits.downcast_into::<PyTuple>() else {
            return slow(None);
        };
        if limits.len() != 3 {
            return slow(None);
        }
        let max_size: usize = limits.get_item(0)?.extract()?;
        let decode = matches!(c(C_DECODE), Some(d) if d.is(PyBool::new(py, true)));
        let parsed = take_whole_response(
            py,
            data,
            max_size,
            0,
            decode,
            self.make_response.bind(py),
            self.headers_type.bind(py),
            &limits.get_item(1)?,
            &limits.get_item(2)?,
        );
        let parsed = match parsed {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return slow(Some(&py.None().into_bound(py))),
            Err(_) => return slow(None), // the Python path parses again and reports it
        };
        if parsed.len() != 3 || !parsed.get_item(2)?.is_none() {
            // Not whole (a stream, a body still arriving, an interim answer), or a Keep-Alive
            // field to read: the usual streamed head starts its body here, and Python carries
            // on from the parsed head for every other.
            // SAFETY: `conn` is exactly a Connection.
            if parsed.len() == 6 && unsafe { self.start_body(conn, &waiter, data, &parsed, &limits) }? {
                return Ok(py.None().into_bound(py));
            }
            return slow(Some(parsed.as_any()));
        }
        let (response, reusable) = (parsed.get_item(0)?, parsed.get_item(1)?);
        let set = |i, v: Bound<'py, PyAny>| unsafe { self.conn.set(conn, i, v) };
        set(C_WAITER, py.None().into_bound(py));
        set(C_DEADLINE, py.None().into_bound(py));
        set(C_REUSABLE, reusable.clone());
        waiter.call_method1(intern!(py, "set_result"), (response,))?;
        if reusable.is_truthy()? && is_false(&c(C_CLOSED)) {
            self.release(conn)?;
        } else {
            conn.call_method1(intern!(py, "_finished"), (false,))?;
        }
        Ok(py.None().into_bound(py))
    }

    /// `conn.pool.release(conn)`, natively in its usual case: the client open, no Keep-Alive
    /// limit, no queue to serve, the idle sweeper armed.
    pub(super) fn release(&self, conn: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = conn.py();
        // SAFETY (every get/set below): each object was checked to be exactly its class.
        let c = |i| unsafe { self.conn.get(conn, i) };
        // An empty slot raises AttributeError, as `self.pool` does in Python.
        let pool = match c(C_POOL) {
            Some(pool) => pool,
            None => conn.getattr(intern!(py, "pool"))?,
        };
        let slow = || pool.call_method1(intern!(py, "release"), (conn,)).map(drop);
        if !self.pool.is(&pool) {
            return slow();
        }
        let p = |i| unsafe { self.pool.get(&pool, i) };
        let (Some(client), Some(idle), Some(queues), Some(held), Some(sweeper)) =
            (p(P_CLIENT), p(P_IDLE), p(P_QUEUES), p(P_HELD), p(P_SWEEPER))
        else {
            return slow();
        };
        let (Ok(idle), Ok(queues), Ok(held)) = (
            idle.downcast_into::<PyList>(),
            queues.downcast_into::<PyDict>(),
            held.downcast_into::<PyDict>(),
        ) else {
            return slow();
        };
        if !self.client.is(&client) || !queues.is_empty() || sweeper.is_none() || !is_none(&c(C_KEEP_ALIVE_LIMIT)) {
            return slow();
        }
        let k = |i| unsafe { self.client.get(&client, i) };
        if !is_false(&k(K_CLOSED)) {
            return slow(); // a closed client closes what comes back
        }
        let (Some(idle_timeout), Some(loop_), Some(busy), Some(owner)) =
            (k(K_IDLE_TIMEOUT), c(C_LOOP), c(C_BUSY), c(C_OWNER))
        else {
            return slow();
        };
        let busy = busy.is(PyBool::new(py, true));
        let holding = if busy && !owner.is_none() {
            match held.get_item(&owner)? {
                Some(n) => Some(n.extract::<i64>()?),
                None => return slow(), // Python's KeyError
            }
        } else {
            None
        };
        let idle_timeout: f64 = idle_timeout.extract()?;
        let now: f64 = loop_.call_method0(intern!(py, "time"))?.extract()?;
        let set = |i, v: Bound<'_, PyAny>| unsafe { self.conn.set(conn, i, v) };
        if busy {
            set(C_BUSY, PyBool::new(py, false).to_owned().into_any());
            match holding {
                Some(n) if n > 1 => held.set_item(&owner, n - 1)?,
                Some(_) => held.del_item(&owner)?,
                None => {}
            }
            set(C_OWNER, py.None().into_bound(py));
        }
        set(C_IDLE_DEADLINE, PyFloat::new(py, now + idle_timeout).into_any());
        idle.append(conn)
    }
}

/// What a connection's native `data_received` is bound to: the connection (weakly) and the
/// exchange that takes its answers.
#[pyclass(module = "aigw._codec", frozen)]
pub struct ConnReceiver {
    conn: Py<PyWeakrefReference>,
    exchange: Py<UpstreamExchange>,
}

impl ConnReceiver {
    fn received<'py>(&self, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = data.py();
        match self.conn.bind(py).upgrade() {
            Some(conn) => self.exchange.get().receive(&conn, data),
            None => Ok(py.None().into_bound(py)), // the connection is gone: nobody to tell
        }
    }
}

static RECEIVE: MethodDef<ConnReceiver> = MethodDef::one_argument(
    c"data_received",
    c"The connection's data_received (aigw.upstream.connection).",
    receive_fast,
);
one_argument_through_trampoline!(receive_fast, ConnReceiver, received);
