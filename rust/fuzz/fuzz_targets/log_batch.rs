//! Fuzz target: reading a log batch (the SQLite writer process's input) never panics on any
//! input, and a batch it reads, written back in marshal format, reads back the same.
#![no_main]

use _codec::log_batch::parse_log_batch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&columns, payload)) = input.split_first() else { return };
    let columns = (columns % 40) as usize;
    let Ok(batch) = parse_log_batch(payload, columns) else { return };
    assert_eq!(batch.cells.len(), batch.rows() * columns);
    // Compared as bytes, so a NaN reads back "the same" too.
    let written = batch.to_marshal();
    let again = parse_log_batch(&written, columns).expect("a written batch reads back");
    assert_eq!(again.to_marshal(), written);
});
