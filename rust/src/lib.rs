//! aigw's byte-level codecs: everything on the gateway's hot path that loops over bytes.
//!
//! This crate is a plain Rust library (`cargo test` needs no Python). The Python extension
//! `aigw._codec` is the `python` feature, and only `python.rs` touches pyo3.

pub mod envelope;
// ---- websocket (codec-ws helper) ----
pub mod deflate;
pub mod frame;
pub mod mask;
pub mod reader;
pub mod utf8;
pub mod writer;
// ---- end websocket ----

#[cfg(feature = "python")]
mod python;

// ---- HTTP heads, chunked bodies, SSE/NDJSON (upstream helper) ----
pub mod chunked;
pub mod http;
pub mod sse;
// ---- end upstream helper ----
