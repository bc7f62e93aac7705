//! The WebSocket reader's read buffer: a fixed-size block shared (reference-counted) between
//! the reader and any views of it exported to Python, so a connection can drop its buffer
//! while idle without a stale view ever pointing at freed memory.
//!
//! The reader takes a buffer when input arrives and releases it once everything received has
//! been consumed; the memory itself is freed (or kept in a small per-thread cache of spares,
//! so busy connections do not churn malloc) only when the last holder lets go.

use std::cell::{RefCell, UnsafeCell};
use std::sync::Arc;

/// Spare blocks kept per thread for reuse.
const CACHE_SLOTS: usize = 4;

thread_local! {
    static SPARES: RefCell<Vec<Box<[UnsafeCell<u8>]>>> = const { RefCell::new(Vec::new()) };
}

/// The memory of one read buffer. Its bytes are only reached through raw pointers
/// ([`SharedReadBuf::as_mut_slice`], [`SharedReadBuf::raw`]); `UnsafeCell` says they may be
/// written while shared.
struct Block(Box<[UnsafeCell<u8>]>);

// SAFETY: the block is plain bytes with no thread affinity. Who may write it and when is
// governed by `SharedReadBuf`'s contract (one connection, used from one thread at a time).
unsafe impl Send for Block {}
// SAFETY: as above; `&Block` gives no access to the bytes without `unsafe`.
unsafe impl Sync for Block {}

impl Drop for Block {
    fn drop(&mut self) {
        let cells = std::mem::take(&mut self.0);
        // Thread teardown may have destroyed the cache already: then the block is just freed.
        let _ = SPARES.try_with(|s| {
            if let Ok(mut spares) = s.try_borrow_mut() {
                if spares.len() < CACHE_SLOTS {
                    spares.push(cells);
                }
            }
        });
    }
}

/// A strong reference to a read buffer. The reader holds one while the connection has input
/// in progress; each exported view holds another, so the memory lives until the last goes.
#[derive(Clone)]
pub struct SharedReadBuf(Arc<Block>);

impl SharedReadBuf {
    /// A buffer of exactly `len` bytes (a cached spare of that size when there is one).
    pub fn new(len: usize) -> Self {
        let spare = SPARES
            .try_with(|s| {
                let mut spares = s.try_borrow_mut().ok()?;
                let i = spares.iter().position(|b| b.len() == len)?;
                Some(spares.swap_remove(i))
            })
            .ok()
            .flatten();
        let cells = spare.unwrap_or_else(|| (0..len).map(|_| UnsafeCell::new(0)).collect());
        Self(Arc::new(Block(cells)))
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0 .0.len()
    }

    /// Never true for a buffer the reader uses (they are at least 1 KiB).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Start of the memory, for handing a region to Python. The memory stays valid as long
    /// as any clone of this handle is alive.
    pub fn raw(&self) -> *mut u8 {
        UnsafeCell::raw_get(self.0 .0.as_ptr())
    }

    /// The region from byte `start` (clamped to the length) to the end, as a pointer and a
    /// length for handing to Python; valid as long as any clone of this handle is alive.
    pub fn tail(&self, start: usize) -> (*mut u8, usize) {
        let start = start.min(self.len());
        // In bounds (start ≤ len), so this is the same pointer `add` would give.
        (self.raw().wrapping_add(start), self.len() - start)
    }

    /// The bytes, for the reader's parsing.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the pointer and length describe the live allocation owned by the Arc we
        // borrow. Bytes behind UnsafeCell may be written through a shared handle. No other
        // Rust reference into the block exists while this one lives: only the reader calls
        // this (through `&mut self`, so not twice at once), and the other holders — exported
        // views — hold raw pointers that Python writes through only between calls into the
        // reader (a connection is driven by one thread at a time, and the reader runs no
        // Python code that could write into a view while the slice is alive). `u8` has no
        // invalid values, so whatever Python wrote is a valid byte.
        unsafe { std::slice::from_raw_parts_mut(self.raw(), self.len()) }
    }
}

impl std::fmt::Debug for SharedReadBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedReadBuf({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_buffer_is_reused_by_the_next_of_its_size() {
        let a = SharedReadBuf::new(4096);
        let p = a.raw();
        drop(a);
        let b = SharedReadBuf::new(4096);
        assert_eq!(b.raw(), p);
        assert_eq!(b.len(), 4096);
        let c = SharedReadBuf::new(2048);
        assert_eq!(c.len(), 2048);
    }

    #[test]
    fn memory_lives_while_any_clone_does() {
        let mut a = SharedReadBuf::new(1024);
        let view = a.clone();
        a.as_mut_slice()[0] = 7;
        drop(a);
        // SAFETY: `view` keeps the block alive; nothing else references it.
        assert_eq!(unsafe { *view.raw() }, 7);
    }

    #[test]
    fn tail_starts_at_the_offset_and_runs_to_the_end() {
        let b = SharedReadBuf::new(1024);
        assert_eq!(b.tail(1000), (b.raw().wrapping_add(1000), 24));
        assert_eq!(b.tail(0), (b.raw(), 1024));
    }

    #[test]
    fn a_tail_past_the_end_is_empty() {
        let b = SharedReadBuf::new(1024);
        assert_eq!(b.tail(5000), (b.raw().wrapping_add(1024), 0));
    }
}
