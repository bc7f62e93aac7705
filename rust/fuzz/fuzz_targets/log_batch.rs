//! Fuzz target: reading a log batch (the SQLite writer process's input) never panics on any
//! input, and a batch it reads, written back in marshal format, reads back the same.
#![no_main]

use _codec::log_batch::{parse_log_batch, Cell, LogBatch};
use _codec::marshal::MarshalWriter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&columns, payload)) = input.split_first() else { return };
    let columns = (columns % 40) as usize;
    let Ok(batch) = parse_log_batch(payload, columns) else { return };
    assert_eq!(batch.cells.len(), batch.rows() * columns);
    // Compared as bytes, so a NaN reads back "the same" too.
    let written = write(&batch);
    let again = parse_log_batch(&written, columns).expect("a written batch reads back");
    assert_eq!(write(&again), written);
});

fn write(batch: &LogBatch) -> Vec<u8> {
    let mut w = MarshalWriter::new();
    w.tuple(2);
    w.list(batch.rows());
    for i in 0..batch.rows() {
        w.tuple(batch.columns);
        batch.row(i).iter().for_each(|c| put(&mut w, c));
    }
    w.list(batch.bodies.len());
    for b in &batch.bodies {
        w.tuple(3);
        b.iter().for_each(|c| put(&mut w, c));
    }
    w.buf
}

fn put(w: &mut MarshalWriter, c: &Cell) {
    match *c {
        Cell::Null => w.none(),
        Cell::Int(v) => w.int(v),
        Cell::Float(v) => w.float(v),
        Cell::Text(s) => w.str(s),
        Cell::Blob(b) => w.bytes(b),
    }
}
