//! The last whole answer a usage reader walked end to end and found to be one JSON text in
//! UTF-8 (what `envelope::is_json` checks), so that `created_message` splices that same
//! object into its `universal.created` without walking it a second time (~4k instructions for
//! a chat completion). The usage readers (`openai_usage`, `anthropic_usage`) read every answer
//! the Universal WebSocket delivers whole, just before its message is written.
//!
//! The object is held, one at a time: a bytes object is immutable and its identity cannot be
//! reused while it is alive, so "this very object" is a sound key. Only answers up to
//! `MAX_HELD` are held, so little is kept alive past its request.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Mutex;

/// The largest answer held (a bigger one is checked again by `created_message`).
const MAX_HELD: usize = 1 << 20;

static LAST_CHECKED: Mutex<Option<Py<PyBytes>>> = Mutex::new(None);

/// Remember that `body` is one JSON text in UTF-8 (the caller walked it whole). Called with
/// the GIL held (from a pyfunction), so the answer it replaces is released at once.
pub(crate) fn remember(body: &Bound<'_, PyBytes>) {
    if body.as_bytes().len() <= MAX_HELD {
        if let Ok(mut last) = LAST_CHECKED.lock() {
            *last = Some(body.clone().unbind());
        }
    }
}

/// Whether `body` is the very object last remembered (so it is one JSON text in UTF-8).
pub(crate) fn is_known(body: &Bound<'_, PyBytes>) -> bool {
    LAST_CHECKED.lock().is_ok_and(|last| last.as_ref().is_some_and(|held| held.as_ptr() == body.as_ptr()))
}
