//! A /compat translated stream's usual read in native code: what the `translated` consumer of
//! `TranslatedChunks.pump` (aigw/compat/sink.py) does with a read of an Anthropic Messages
//! stream answered as OpenAI chat completion chunks, inside the upstream connection's
//! `data_received`, when every event the read completes is a text delta (nearly every read of
//! a stream): the read's SSE events decoded (`SsePayloads.feed`), each text delta turned into
//! a `chat.completion.chunk` from its JSON literal as it came (`StreamDecoder.feed`'s text run,
//! `ChunkEncoder.anthropic_text_run`), the bytes handed to the sink's `consume`. One builtin
//! call a read instead of five Python frames.
//!
//! Every other read (an event that is not a text delta, the stream's first events before the
//! chunks' shared head exists) goes to `TranslatedChunks._relay_events` with the decoded
//! events, and a malformed read to `_relay_malformed`: the Python stays the specification.
//! `make` answers None unless every object is exactly its class. A text delta changes no state
//! of the decoder or the encoder, so the native read is a function of the encoder's head.

use super::fastcall::{one_argument_through_trampoline, MethodDef};
use super::slot_layout::{is_none, Layout};
use super::upstream::SseDecoder;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyList, PyType};
use pyo3::{PyTraverseError, PyVisit};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TranslatedPushes>()?; // TranslatedPush is made by it, never from Python
    Ok(())
}

/// Makes the native consumer of one translated stream's reads (see the module docs); made
/// once by aigw/compat/sink.py.
#[pyclass(module = "aigw._codec", frozen)]
pub struct TranslatedPushes {
    /// TranslatedChunks: `tr`, `decoder`.
    chunks: Layout,
    /// SsePayloads: `_decoder`.
    payloads: Layout,
    /// StreamTranslator: `decoder`.
    translator: Layout,
    /// anthropic_format.StreamDecoder: `enc`, `_text_run`.
    decoder: Layout,
    /// openai_format.ChunkEncoder: `_head`.
    encoder: Layout,
    /// What follows a text delta's content in its chunk (openai_format's `_TEXT_TAIL`).
    tail: Vec<u8>,
}

#[pymethods]
impl TranslatedPushes {
    /// `classes`: (TranslatedChunks, SsePayloads, StreamTranslator, Anthropic's StreamDecoder,
    /// OpenAI's ChunkEncoder), whose slots it uses (ValueError when one is missing); `tail`:
    /// what follows a text delta's content.
    #[new]
    fn new(classes: [Bound<'_, PyType>; 5], tail: &[u8]) -> PyResult<Self> {
        let [chunks, payloads, translator, decoder, encoder] = classes;
        Ok(TranslatedPushes {
            chunks: Layout::new(&chunks, &["tr", "decoder"])?,
            payloads: Layout::new(&payloads, &["_decoder"])?,
            translator: Layout::new(&translator, &["decoder"])?,
            decoder: Layout::new(&decoder, &["enc", "_text_run"])?,
            encoder: Layout::new(&encoder, &["_head"])?,
            tail: tail.to_vec(),
        })
    }

    /// `translated(chunk) -> bool` for `chunks` handing its bytes to `consume`, as a builtin
    /// function; None unless `chunks` translates an Anthropic stream to OpenAI chunks with the
    /// classes it was made with.
    fn make<'py>(
        slf: &Bound<'py, Self>,
        chunks: &Bound<'py, PyAny>,
        consume: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let this = slf.get();
        if !this.chunks.is(chunks) {
            return Ok(None);
        }
        // SAFETY (every get below): each object is checked to be exactly the layout's class
        // before its slots are read.
        let (Some(tr), Some(payloads)) = (unsafe { this.chunks.get(chunks, 0) }, unsafe {
            this.chunks.get(chunks, 1)
        }) else {
            return Ok(None);
        };
        if !this.payloads.is(&payloads) || !this.translator.is(&tr) {
            return Ok(None);
        }
        let (Some(sse), Some(decoder)) = (unsafe { this.payloads.get(&payloads, 0) }, unsafe {
            this.translator.get(&tr, 0)
        }) else {
            return Ok(None);
        };
        let Ok(sse) = sse.downcast_into_exact::<SseDecoder>() else {
            return Ok(None);
        };
        if !this.decoder.is(&decoder) {
            return Ok(None);
        }
        let (Some(encoder), text_run) = (unsafe { this.decoder.get(&decoder, 0) }, unsafe {
            this.decoder.get(&decoder, 1)
        }) else {
            return Ok(None);
        };
        if !this.encoder.is(&encoder) || text_run.is_none() || is_none(&text_run) {
            return Ok(None);
        }
        let push = TranslatedPush {
            pushes: slf.clone().unbind(),
            chunks: chunks.clone().unbind(),
            consume: consume.clone().unbind(),
            sse: sse.unbind(),
            encoder: encoder.unbind(),
        };
        TRANSLATED.bind(&Bound::new(slf.py(), push)?).map(Some)
    }
}

/// One translated stream's consumer: its TranslatedChunks, the sink's `consume`, and what
/// `make` checked of the chunks (the SSE decoder, the encoder).
#[pyclass(module = "aigw._codec", frozen)]
pub struct TranslatedPush {
    pushes: Py<TranslatedPushes>,
    chunks: Py<PyAny>,
    consume: Py<PyAny>,
    sse: Py<SseDecoder>,
    encoder: Py<PyAny>,
}

#[pymethods]
impl TranslatedPush {
    /// Its references for the cycle collector (the upstream response holds this consumer
    /// while the stream is pushed, and the chunks hold the response).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.pushes)?;
        visit.call(&self.chunks)?;
        visit.call(&self.consume)?;
        visit.call(&self.sse)?;
        visit.call(&self.encoder)
    }
}

static TRANSLATED: MethodDef<TranslatedPush> = MethodDef::one_argument(
    c"translated",
    c"translated(chunk): the read's text deltas as OpenAI chunks handed to consume; whether it can take more.",
    translated_fast,
);

one_argument_through_trampoline!(translated_fast, TranslatedPush, translated);

impl TranslatedPush {
    fn translated<'py>(&self, chunk: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = chunk.py();
        let chunks = self.chunks.bind(py);
        let consume = self.consume.bind(py);
        let fed = self.sse.bind(py).borrow_mut().feed_data(py, chunk);
        let events = match fed {
            Ok(events) => events,
            Err(e) if e.is_instance_of::<PyValueError>(py) => {
                return chunks.call_method1(intern!(py, "_relay_malformed"), (e.into_value(py), consume));
            }
            Err(e) => return Err(e),
        };
        if events.is_empty() {
            return Ok(PyBool::new(py, true).to_owned().into_any());
        }
        let slow = |events: Bound<'py, PyList>| chunks.call_method1(intern!(py, "_relay_events"), (events, consume));
        let pushes = self.pushes.get();
        let encoder = self.encoder.bind(py);
        // SAFETY: `make` checked that the encoder is exactly the layout's class.
        let head = match unsafe { pushes.encoder.get(encoder, 0) } {
            Some(head) => head,
            None => return slow(events),
        };
        let Ok(head) = head.downcast::<PyBytes>() else {
            return slow(events);
        };
        let head = head.as_bytes();
        if head.is_empty() {
            return slow(events); // before the stream's start chunk
        }
        let mut out = Vec::new();
        for event in events.iter() {
            let Ok(event) = event.downcast::<PyBytes>() else {
                return slow(events);
            };
            if !crate::compat::push_text_chunk(event.as_bytes(), head, &pushes.tail, &mut out) {
                return slow(events);
            }
        }
        consume.call1((PyBytes::new(py, &out),))
    }
}
