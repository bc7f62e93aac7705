//! HTTP/1.1 heads, chunked bodies, SSE and NDJSON decoders for the upstream client: type checks
//! and object creation only; the parsing lives in `http`, `chunked` and `sse`.

use super::header_objects::{bytes_pairs, latin1_str, name_bytes, name_str};
use super::{bytes_like, ListSink};
use crate::chunked::{covers, gather, ChunkedDecoder as RsChunked};
use crate::http_request;
use crate::http::{self, ascii_text, HeadError, Header, Limits};
use crate::http_response::{write_response_head, BodyFraming, HeadWriteError};
use crate::sse::{LastEventType, NdjsonDecoder as RsNdjson, SseDecoder as RsSse, SseEvent, StreamError};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PySlice, PyString, PyTuple};

pyo3::create_exception!(_codec, HttpParseError, PyValueError, "A malformed or oversized HTTP head: args (status, message).");

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("HttpParseError", m.py().get_type::<HttpParseError>())?;
    m.add_function(wrap_pyfunction!(parse_request_head, m)?)?;
    m.add_function(wrap_pyfunction!(parse_response_head, m)?)?;
    m.add_function(wrap_pyfunction!(serialize_response_head, m)?)?;
    m.add_function(wrap_pyfunction!(request_message, m)?)?;
    m.add_function(wrap_pyfunction!(whole_response, m)?)?;
    m.add_function(wrap_pyfunction!(take_whole_request, m)?)?;
    m.add_function(wrap_pyfunction!(index_fields, m)?)?;
    m.add_function(wrap_pyfunction!(has_field, m)?)?;
    m.add_function(wrap_pyfunction!(take_whole_response, m)?)?;
    m.add_function(wrap_pyfunction!(relayed_headers, m)?)?;
    m.add_class::<ChunkedDecoder>()?;
    m.add_class::<SseDecoder>()?;
    m.add_class::<NdjsonDecoder>()?;
    m.add_function(wrap_pyfunction!(openai_usage, m)?)?;
    m.add_function(wrap_pyfunction!(anthropic_usage, m)?)?;
    Ok(())
}

/// The bytes of a response head: the status line, each `(name, value)` of `headers` (str
/// pairs) but content-length / transfer-encoding (and connection when `close`), then the
/// framing fields from the keywords and `connection: close`. ValueError for a CR or LF in a
/// field, UnicodeEncodeError-like ValueError for a character past U+00FF.
#[pyfunction]
#[pyo3(signature = (status, reason, headers, content_length=None, chunked=false, close=false))]
fn serialize_response_head<'py>(
    py: Python<'py>,
    status: u16,
    reason: &str,
    headers: &Bound<'py, PyAny>,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let framing = match (content_length, chunked) {
        (Some(n), _) => BodyFraming::Length(n),
        (None, true) => BodyFraming::Chunked,
        (None, false) => BodyFraming::None,
    };
    let mut out = Vec::with_capacity(256);
    write_head(&mut out, status, reason, headers, framing, close)?;
    Ok(PyBytes::new(py, &out))
}

/// A whole response in one bytes object: the head `serialize_response_head` writes for
/// `content_length=len(body)`, then `body` (the server's usual answer, one buffer, no
/// concatenation after). Errors as `serialize_response_head`.
#[pyfunction]
fn whole_response<'py>(
    py: Python<'py>,
    status: u16,
    reason: &str,
    headers: &Bound<'py, PyAny>,
    body: &[u8],
    close: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(256 + body.len());
    write_head(&mut out, status, reason, headers, BodyFraming::Length(body.len() as u64), close)?;
    out.extend_from_slice(body);
    Ok(PyBytes::new(py, &out))
}

/// Appends a response head to `out` from `headers`, an iterable of (str, str) pairs.
fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    headers: &Bound<'_, PyAny>,
    framing: BodyFraming,
    close: bool,
) -> PyResult<()> {
    let mut pairs: Vec<(Bound<'_, PyString>, Bound<'_, PyString>)> = Vec::new();
    for item in headers.try_iter()? {
        let (name, value): (Bound<'_, PyString>, Bound<'_, PyString>) = item?.extract()?;
        pairs.push((name, value));
    }
    let mut texts = Vec::with_capacity(pairs.len());
    for (name, value) in &pairs {
        texts.push((super::text_of(name)?, super::text_of(value)?));
    }
    write_response_head(out, status, reason, texts, framing, close).map_err(|e| match e {
        HeadWriteError::LineBreak(name) => PyValueError::new_err(format!("header {name:?} contains a line break")),
        HeadWriteError::NotLatin1(name) => PyValueError::new_err(format!("header {name:?} has a character outside ISO-8859-1")),
    })
}

/// The upstream client's whole request (crate::http_request): head and body in one bytes
/// object, or None when anything is unusual (a field that is not a (str | bytes, str | bytes)
/// pair, a method that is not a token, a line break, a character above U+00FF): the Python
/// head builder then reports it.
#[pyfunction]
#[pyo3(signature = (method, target, host, fields, body=None))]
pub(crate) fn request_message<'py>(
    py: Python<'py>,
    method: &str,
    target: &[u8],
    host: &[u8],
    fields: &Bound<'py, PyAny>,
    body: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let mut pairs: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)> = Vec::new();
    for item in fields.try_iter()? {
        let item = item?;
        let Ok(pair) = item.downcast::<PyTuple>() else { return Ok(None) };
        if pair.len() != 2 {
            return Ok(None);
        }
        pairs.push((pair.get_item(0)?, pair.get_item(1)?));
    }
    /// A str or bytes name or value as written; None for anything else.
    fn field<'a>(v: &'a Bound<'_, PyAny>) -> Option<http_request::Field<'a>> {
        if let Ok(s) = v.downcast_exact::<PyString>() {
            return super::text_of(s).ok().map(http_request::Field::Text);
        }
        v.downcast_exact::<PyBytes>().ok().map(|b| http_request::Field::Bytes(b.as_bytes()))
    }
    let mut texts = Vec::with_capacity(pairs.len());
    for (name, value) in &pairs {
        let (Some(name), Some(value)) = (field(name), field(value)) else { return Ok(None) };
        texts.push((name, value));
    }
    let body = body.map(bytes_like).transpose()?;
    let mut out = Vec::with_capacity(256 + body.as_ref().map_or(0, |b| b.len()));
    if http_request::write_request(&mut out, method, target, host, &texts, body.as_deref()).is_none() {
        return Ok(None);
    }
    Ok(Some(PyBytes::new(py, &out)))
}

/// Response fields of an upstream hop that the gateway's hop sets itself or must not repeat:
/// the body may have been decoded (gzip) and is re-framed (chunked or a new length).
const NOT_RELAYED: [&[u8]; 10] = [
    b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
    b"proxy-authenticate", b"proxy-connection", b"content-length", b"content-encoding",
];

/// Whether an upstream response field named `name` goes on to the client: not one of this
/// hop's own (`NOT_RELAYED`), not a `cf-aig-*`.
pub(crate) fn is_relayed(name: &[u8]) -> bool {
    !(NOT_RELAYED.iter().any(|n| n.eq_ignore_ascii_case(name))
        || name.get(..7).is_some_and(|p| p.eq_ignore_ascii_case(b"cf-aig-")))
}

/// The upstream's response fields (`(name, value)` pairs of bytes or str) minus this hop's own
/// and any `cf-aig-*`, as str pairs (ISO-8859-1), and whether a content-type is among them.
/// Names keep their case; a str is passed on as the same object, bytes are decoded once (a
/// common name is the shared object, see header_objects).
#[pyfunction]
fn relayed_headers<'py>(py: Python<'py>, raw: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyList>, bool)> {
    let out = PyList::empty(py);
    let mut has_content_type = false;
    for item in raw.try_iter()? {
        let (name, value): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item?.extract()?;
        let raw_name: &[u8] = match name.downcast::<PyBytes>() {
            Ok(b) => b.as_bytes(),
            Err(_) => super::text_of(name.downcast::<PyString>()?)?.as_bytes(),
        };
        if !is_relayed(raw_name) {
            continue;
        }
        has_content_type |= raw_name.eq_ignore_ascii_case(b"content-type");
        let name = if name.is_instance_of::<PyBytes>() { name_str(py, raw_name)?.into_any() } else { name.clone() };
        let value = match value.downcast_into::<PyBytes>() {
            Ok(b) => latin1_str(py, b.as_bytes())?,
            Err(e) => e.into_inner().downcast_into::<PyString>()?,
        };
        out.append((name, value))?;
    }
    Ok((out, has_content_type))
}

/// `(tokens_in, tokens_out)` of a whole OpenAI-shaped JSON answer (`usage` with
/// prompt/completion or input/output tokens; either may be None), or None when it reports no
/// usage or is not a JSON object (rust/src/usage.rs has the rules). Nothing else is decoded.
#[pyfunction]
pub(crate) fn openai_usage(body: &Bound<'_, PyBytes>) -> Option<(Option<i64>, Option<i64>)> {
    crate::usage::openai_pair(read_usage(body)?)
}

/// `(tokens_in, tokens_out)` of a whole Anthropic Messages answer (tokens in: input plus cache
/// creation plus cache read tokens), or None as `openai_usage` (rust/src/usage.rs).
#[pyfunction]
fn anthropic_usage(body: &Bound<'_, PyBytes>) -> Option<(Option<i64>, Option<i64>)> {
    crate::usage::anthropic_pair(read_usage(body)?)
}

/// The usage fields of `body` (usage::read); a body read to its end is one JSON text in UTF-8,
/// remembered so for the `universal.created` written next (checked_json.rs).
fn read_usage(body: &Bound<'_, PyBytes>) -> Option<crate::usage::UsageFields> {
    let read = crate::usage::read(body.as_bytes())?;
    super::checked_json::remember(body);
    read
}

fn head_error(e: HeadError) -> PyErr {
    HttpParseError::new_err((e.status, e.message))
}

fn headers_list<'py>(py: Python<'py>, headers: &[Header<'_>]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, headers.iter().map(|(name, value)| (name_bytes(py, name), PyBytes::new(py, value))))
}

/// `{name: [value, ...]}` of `headers` as text (names come lowercased from the parser), in
/// the order first seen: what `aigw.protocol.http11.Headers` looks names up in.
fn headers_index<'py>(py: Python<'py>, headers: &[Header<'_>]) -> PyResult<Bound<'py, PyDict>> {
    let index = PyDict::new(py);
    for (name, value) in headers {
        add_to_index(&index, name_str(py, name)?, latin1_str(py, value)?)?;
    }
    Ok(index)
}

fn add_to_index<'py>(index: &Bound<'py, PyDict>, key: Bound<'py, PyString>, value: Bound<'py, PyString>) -> PyResult<()> {
    match index.get_item(&key)? {
        Some(values) => values.downcast_into::<PyList>()?.append(value),
        None => index.set_item(key, PyList::new(index.py(), [value])?),
    }
}

/// Whether `raw`, a list of `(name, value)` bytes pairs (`Headers.raw`), has a field whose
/// name is `name` byte for byte (the parser lowercases names). None when `raw` is not a list of
/// bytes pairs.
#[pyfunction]
pub(crate) fn has_field(raw: &Bound<'_, PyAny>, name: &[u8]) -> PyResult<Option<bool>> {
    Ok(bytes_pairs(raw)?.map(|pairs| pairs.iter().any(|(field, _)| field.as_bytes() == name)))
}

/// `Headers`' name index of `raw`, a list of `(name, value)` bytes pairs (`Headers.raw`):
/// `{name: [value, ...]}`, both decoded as latin-1 (names as they are), in the order first
/// seen. Built when a request's headers are first looked up by name, not when it is parsed.
/// None when `raw` is not a list of bytes pairs (then `Headers` builds it in Python).
#[pyfunction]
fn index_fields<'py>(raw: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyDict>>> {
    let py = raw.py();
    let Some(pairs) = bytes_pairs(raw)? else { return Ok(None) };
    let index = PyDict::new(py);
    for (name, value) in &pairs {
        add_to_index(&index, name_str(py, name.as_bytes())?, latin1_str(py, value.as_bytes())?)?;
    }
    Ok(Some(index))
}

#[pyfunction]
#[pyo3(signature = (data, max_size=16384, max_headers=100, *, max_target=8192, start_hint=0, index=false))]
fn parse_request_head<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    max_size: usize,
    max_headers: usize,
    max_target: usize,
    start_hint: usize,
    index: bool,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let limits = Limits { max_size, max_headers, max_target };
    let d = bytes_like(data)?;
    let Some(h) = http::parse_request_head(&d, limits, start_hint).map_err(head_error)? else {
        return Ok(None);
    };
    let headers = headers_list(py, &h.headers)?;
    if index {
        // With the name index the server's Headers looks names up in (no Python loop).
        let by_name = headers_index(py, &h.headers)?;
        return Ok(Some((ascii_text(h.method), ascii_text(h.target), h.minor_version, headers, h.consumed, by_name).into_pyobject(py)?));
    }
    Ok(Some((ascii_text(h.method), ascii_text(h.target), h.minor_version, headers, h.consumed).into_pyobject(py)?))
}

/// The server reader's usual request in one call: parses the head at the start of `buf` (a
/// bytearray) as `parse_request_head(buf, max_size, max_headers, start_hint=start_hint,
/// index=True)` does and, when its body is all here and plainly framed
/// (`http::whole_request_body`, at most `max_body` bytes), removes the request's bytes from
/// `buf` and returns `make(method, target, path, query, http_version, headers_type(fields,
/// index), client, body, tls, [], keep_alive)`; the path is the target's part before any "?",
/// through `unquote` when it holds a "%". Returns None when the head is not all here, and the
/// head tuple (six items, nothing removed) when its body is not whole. HttpParseError as
/// `parse_request_head`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn take_whole_request<'py>(
    py: Python<'py>,
    buf: &Bound<'py, PyByteArray>,
    max_size: usize,
    max_headers: usize,
    start_hint: usize,
    max_body: u64,
    make: &Bound<'py, PyAny>,
    headers_type: &Bound<'py, PyAny>,
    client: &Bound<'py, PyAny>,
    tls: bool,
    unquote: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    // max_target as parse_request_head's default.
    let limits = Limits { max_size, max_headers, max_target: 8192 };
    let d = buf.to_vec(); // a copy: the calls below run Python code while these bytes are read
    let Some(h) = http::parse_request_head(&d, limits, start_hint).map_err(head_error)? else {
        return Ok(None);
    };
    let fields = headers_list(py, &h.headers)?;
    let f = http::framing_fields(&h.headers);
    let target = ascii_text(h.target);
    let Some((body, end)) = http::whole_request_body(&d, &h, &f, max_body) else {
        let by_name = headers_index(py, &h.headers)?;
        let head = (ascii_text(h.method), target, h.minor_version, fields, h.consumed, by_name);
        return Ok(Some(head.into_pyobject(py)?.into_any()));
    };
    let (raw_path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let path = if raw_path.contains('%') { unquote.call1((raw_path,))? } else { PyString::new(py, raw_path).into_any() };
    let version = match h.minor_version {
        1 => pyo3::intern!(py, "1.1").clone(),
        0 => pyo3::intern!(py, "1.0").clone(),
        minor => PyString::new(py, &format!("1.{minor}")),
    };
    let keep_alive = http::request_keeps_alive(h.minor_version, &f);
    let body = PyBytes::new(py, body);
    buf.del_item(PySlice::new(py, 0, end as isize, 1))?;
    // No name index: most requests never look a header up by name (`index_fields` builds it
    // on the first look-up).
    let headers = headers_type.call1((fields,))?;
    let args = (ascii_text(h.method), &target, path, query, version, headers, client, body, tls, PyList::empty(py), keep_alive);
    Ok(Some(make.call1(args)?))
}

#[pyfunction]
#[pyo3(signature = (data, max_size=65536, max_headers=200, *, start_hint=0, framing=false))]
fn parse_response_head<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    max_size: usize,
    max_headers: usize,
    start_hint: usize,
    framing: bool,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let limits = Limits { max_size, max_headers, max_target: max_size };
    let d = bytes_like(data)?;
    let Some(h) = http::parse_response_head(&d, limits, start_hint).map_err(head_error)? else {
        return Ok(None);
    };
    let headers = headers_list(py, &h.headers)?;
    if framing {
        let fields = framing_tuple(py, &http::framing_fields(&h.headers))?;
        return Ok(Some((h.status, latin1_str(py, h.reason)?, h.minor_version, headers, h.consumed, fields).into_pyobject(py)?));
    }
    Ok(Some((h.status, latin1_str(py, h.reason)?, h.minor_version, headers, h.consumed).into_pyobject(py)?))
}

/// (content-length, conflicting lengths, transfer-encoding, connection, content-encoding,
/// keep-alive): what the upstream client frames the body by; and the content type as text
/// ("" when absent), which every caller reads next.
fn framing_tuple<'py>(py: Python<'py>, f: &http::FramingFields<'_>) -> PyResult<Bound<'py, PyTuple>> {
    let bytes = |v: Option<&[u8]>| v.map(|v| PyBytes::new(py, v));
    let fields = (
        bytes(f.content_length),
        f.conflicting_lengths,
        bytes(f.transfer_encoding.as_deref()),
        bytes(f.connection.as_deref()),
        bytes(f.content_encoding),
        bytes(f.keep_alive),
        latin1_str(py, f.content_type.unwrap_or_default())?,
    );
    fields.into_pyobject(py)
}

/// The upstream client's usual answer in one call: parses the response head at the start of
/// `data` as `parse_response_head(data, max_size, start_hint=start_hint, framing=True)` does
/// and, when the body came whole with it and needs no framing (`http::whole_body`; `decode`:
/// a Content-Encoding would need undoing, so such an answer is not whole), returns
/// `(make(status, reason, minor, headers_type(fields), content_type, [body] or [], len(body),
/// limit, max_body), reusable, keep_alive)`: the response, whether the connection may carry
/// another request (`http::reusable`), and the Keep-Alive field's bytes (None when absent).
/// Returns None when the head is not all here, and parse_response_head's six-item tuple when
/// the body is not whole. HttpParseError as `parse_response_head`.
// Also called from Rust: the upstream exchange's `data_received` (upstream_exchange.rs).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn take_whole_response<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    max_size: usize,
    start_hint: usize,
    decode: bool,
    make: &Bound<'py, PyAny>,
    headers_type: &Bound<'py, PyAny>,
    limit: &Bound<'py, PyAny>,
    max_body: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    // max_headers as parse_response_head's default.
    let limits = Limits { max_size, max_headers: 200, max_target: max_size };
    let d = bytes_like(data)?;
    let Some(h) = http::parse_response_head(&d, limits, start_hint).map_err(head_error)? else {
        return Ok(None);
    };
    let headers = headers_list(py, &h.headers)?;
    let f = http::framing_fields(&h.headers);
    let Some(body) = http::whole_body(&d, &h, &f, decode) else {
        let fields = framing_tuple(py, &f)?;
        return Ok(Some((h.status, latin1_str(py, h.reason)?, h.minor_version, headers, h.consumed, fields).into_pyobject(py)?));
    };
    let content_type = latin1_str(py, f.content_type.unwrap_or_default())?;
    let chunks = if body.is_empty() { PyList::empty(py) } else { PyList::new(py, [PyBytes::new(py, body)])? };
    let fields = headers_type.call1((headers,))?;
    let args = (h.status, latin1_str(py, h.reason)?, h.minor_version, fields, content_type, chunks, body.len(), limit, max_body);
    let response = make.call1(args)?;
    let keep_alive = f.keep_alive.map(|v| PyBytes::new(py, v));
    (response, http::reusable(h.minor_version, &f), keep_alive).into_pyobject(py).map(Some)
}

fn stream_error(e: StreamError) -> PyErr {
    PyValueError::new_err(e.0)
}

/// Incremental chunked transfer-coding decoder.
#[pyclass(module = "aigw._codec")]
pub struct ChunkedDecoder {
    inner: RsChunked,
    unused: Vec<u8>,
}

impl ChunkedDecoder {
    /// Whether bytes were fed after the end of the chunked body.
    pub(crate) fn has_unused_data(&self) -> bool {
        !self.unused.is_empty()
    }
}

#[pymethods]
impl ChunkedDecoder {
    #[new]
    #[pyo3(signature = (max_chunk_size=1 << 40))]
    pub(crate) fn new(max_chunk_size: u64) -> Self {
        ChunkedDecoder { inner: RsChunked::new(max_chunk_size), unused: Vec::new() }
    }

    /// Decode one read; returns the body bytes it contained (b"" when none).
    pub(crate) fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let d = bytes_like(data)?;
        let mut spans = Vec::new();
        self.inner.feed_keeping_rest(&d, &mut spans, &mut self.unused).map_err(|e| PyValueError::new_err(e.0))?;
        if data.is_instance_of::<PyBytes>() && covers(&spans, d.len()) {
            return Ok(data.clone()); // the whole read is body: no copy
        }
        let total = spans.iter().map(|r| r.len()).sum();
        Ok(PyBytes::new_with(py, total, |buf| {
            gather(&d, &spans, buf);
            Ok(())
        })?
        .into_any())
    }

    /// True once the terminating chunk and trailers were read.
    #[getter]
    pub(crate) fn done(&self) -> bool {
        self.inner.done()
    }

    /// Bytes fed after the end of the chunked body (the start of the next message).
    #[getter]
    fn unused_data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.unused)
    }
}

/// WHATWG server-sent events decoder.
#[pyclass(module = "aigw._codec")]
pub struct SseDecoder {
    inner: RsSse,
    /// The last event type handed to Python, reused while it repeats.
    last_type: LastEventType<Py<PyString>>,
}

impl SseDecoder {
    /// The items `item` makes of the events one read completes, as a list; the decoder's
    /// error (an oversized event) after the events before it were made.
    fn decode<'py, T: IntoPyObject<'py>>(
        &mut self,
        data: &Bound<'py, PyAny>,
        mut item: impl FnMut(&mut LastEventType<Py<PyString>>, SseEvent<'_>) -> T,
    ) -> PyResult<Bound<'py, PyList>> {
        let d = bytes_like(data)?;
        let mut sink = ListSink::new(data.py());
        let SseDecoder { inner, last_type } = self;
        let r = inner.feed(&d, &mut |e: SseEvent<'_>| sink.push(item(last_type, e)));
        let list = sink.finish()?;
        r.map_err(stream_error)?;
        Ok(list)
    }
}

#[pymethods]
impl SseDecoder {
    #[new]
    #[pyo3(signature = (max_event_size=8 << 20))]
    fn new(max_event_size: usize) -> Self {
        SseDecoder { inner: RsSse::new(max_event_size), last_type: LastEventType::default() }
    }

    /// Decode one read; returns the events it completed as (event, data, id) tuples.
    fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        self.decode(data, |last_type, e| {
            let event = e.event.map(|t| last_type.get_or_make(t, || PyString::new(py, t).unbind()).clone_ref(py));
            (event, PyBytes::new(py, e.data), e.id.map(|id| PyString::new(py, id)))
        })
    }

    /// Decode one read; returns only the data payloads of the events it completed (for a
    /// reader that needs neither the event type nor the id: no tuple per event).
    pub(crate) fn feed_data<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        self.decode(data, |_, e| PyBytes::new(py, e.data))
    }

    /// End of stream: True when an unterminated event or line was discarded (truncated).
    fn finish(&mut self) -> bool {
        self.inner.finish()
    }

    /// The last valid `retry:` value in milliseconds, or None.
    #[getter]
    fn retry(&self) -> Option<u64> {
        self.inner.retry()
    }

    /// The last event id seen, or None.
    #[getter]
    fn last_event_id(&self) -> Option<String> {
        self.inner.last_event_id().map(str::to_owned)
    }
}

/// Newline-delimited JSON line splitter.
#[pyclass(module = "aigw._codec")]
pub struct NdjsonDecoder {
    inner: RsNdjson,
}

#[pymethods]
impl NdjsonDecoder {
    #[new]
    #[pyo3(signature = (max_line_size=8 << 20))]
    fn new(max_line_size: usize) -> Self {
        NdjsonDecoder { inner: RsNdjson::new(max_line_size) }
    }

    /// Decode one read; returns its complete non-empty lines without terminators.
    fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let d = bytes_like(data)?;
        let mut sink = ListSink::new(py);
        let r = self.inner.feed(&d, &mut |line: &[u8]| sink.push(PyBytes::new(py, line)));
        let list = sink.finish()?;
        r.map_err(stream_error)?;
        Ok(list)
    }

    /// End of stream: the final unterminated line, or None.
    fn finish<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.finish().map(|l| PyBytes::new(py, &l))
    }
}
