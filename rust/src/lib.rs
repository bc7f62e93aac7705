//! aigw's byte-level codecs: everything on the gateway's hot path that loops over bytes.
//!
//! This crate is a plain Rust library (`cargo test` needs no Python). The Python extension
//! `aigw._codec` is the `python` feature, and only `python.rs` (and its submodules in `python/`) touches pyo3.

// WebSocket (RFC 6455, RFC 7692)
pub mod deflate;
pub mod frame;
pub mod mask;
pub mod readbuf;
pub mod reader;
pub mod utf8;
pub mod writer;

// eight-byte word tests the byte scanners share
mod swar;

// serde visitor pieces shared by the JSON readers below; a request body's fields in one pass
mod json_visit;
pub mod json_fields;
pub mod json_repeat;
pub mod json_scan;

// HTTP/1.1 heads, chunked bodies, SSE / NDJSON, AWS event stream
pub mod chunked;
pub mod eventstream;
pub mod header_rules;
pub mod http;
pub mod http_response;
pub mod http_request;
pub mod sse;
pub mod usage;

// Log ids, log rows for a writer process (Python's marshal format), and that process's SQLite writer
pub mod log_batch;
pub mod log_body;
pub mod log_store;
pub mod logid;
pub mod marshal;

// The Universal API: client messages' bodies cut out, the stream relay
pub mod envelope;
pub mod relay;
pub mod universal;
pub mod universal_create;

// /compat stream translation's fast path
pub mod compat;

// Prometheus counts per label set (aigw.observe.metrics)
pub mod metrics;

#[cfg(feature = "python")]
mod python;
