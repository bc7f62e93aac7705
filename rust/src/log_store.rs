//! The SQLite log store's writer, in Rust: stores a log batch (log_batch.rs) in one transaction
//! with two prepared statements, binding each cell straight from the payload's bytes.
//!
//! It runs in the log writer process only (`aigw.builtins.sqlite_log_process`), never in the
//! gateway's: this crate links its own copy of SQLite (rusqlite's `bundled`), and two copies of
//! SQLite in one process must never open the same database file at once (each keeps its own
//! POSIX locks, and closing one copy's descriptor drops the other's locks). The writer process
//! migrates the store with Python's sqlite3, closes that connection, then opens this one.
//!
//! The schema is the Python side's (`sqlite_log_schema`): this module only inserts rows in
//! the `logs` columns it is given (bodies packed by log_body.rs when that pays), and prunes.

use crate::log_batch::{parse_log_batch, BatchError, Cell};
use crate::log_body::{Packer, REQUEST_PACKED, RESPONSE_PACKED};
use rusqlite::{Connection, Statement};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Why a batch or a pruning pass was not stored.
#[derive(Debug)]
pub enum StoreError {
    Batch(BatchError),
    Sqlite(rusqlite::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Batch(e) => e.fmt(f),
            StoreError::Sqlite(e) => write!(f, "sqlite: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

impl From<BatchError> for StoreError {
    fn from(e: BatchError) -> Self {
        StoreError::Batch(e)
    }
}

/// How long a write waits for another process's lock (worker processes share the file).
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// One connection to a migrated log store, inserting batches.
pub struct LogStore {
    conn: Connection,
    columns: usize,
    insert_log: String,
    packer: Packer,
}

const INSERT_BODIES: &str =
    "INSERT OR IGNORE INTO log_bodies (log_id, request_body, response_body, body_encoding) VALUES (?, ?, ?, ?)";

impl LogStore {
    /// Open the store at `path` (it must exist and be migrated) in WAL mode with
    /// `synchronous = NORMAL`, the Python connection's promises: a committed batch survives
    /// the gateway's crash, an OS crash may lose the last ones. `columns` is the `logs`
    /// table's column list, comma-separated, in the order a row's cells come.
    pub fn open(path: &Path, columns: &str) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let names: Vec<&str> = columns.split(',').map(str::trim).filter(|c| !c.is_empty()).collect();
        let placeholders = vec!["?"; names.len()].join(", ");
        let insert_log = format!("INSERT OR IGNORE INTO logs ({}) VALUES ({placeholders})", names.join(", "));
        let store = LogStore { conn, columns: names.len(), insert_log, packer: Packer::default() };
        // Prepared now, so a column the table lacks is refused at start, not at the first batch.
        store.conn.prepare_cached(&store.insert_log)?;
        store.conn.prepare_cached(INSERT_BODIES)?;
        Ok(store)
    }

    /// Store one marshal-encoded batch in one transaction (all or nothing); returns how many
    /// of its rows had a log_id already stored (those are left as they were).
    pub fn store(&mut self, payload: &[u8]) -> Result<u64, StoreError> {
        let batch = parse_log_batch(payload, self.columns)?;
        let tx = self.conn.transaction()?;
        let mut stored = 0u64;
        {
            let mut insert = tx.prepare_cached(&self.insert_log)?;
            for i in 0..batch.rows() {
                stored += execute(&mut insert, batch.row(i))? as u64;
            }
            let mut insert = tx.prepare_cached(INSERT_BODIES)?;
            for row in &batch.bodies {
                insert_bodies(&mut insert, row, &mut self.packer)?;
            }
        }
        self.packer.trim();
        tx.commit()?;
        Ok(batch.rows() as u64 - stored)
    }

    /// Delete logs (and their bodies) created before `older_than` (unix seconds) and all but
    /// the newest `keep_newest`, in one transaction; returns how many logs were deleted.
    /// `sqlite_logs.prune_store`'s statements, for the connection this process writes with.
    pub fn prune(&mut self, older_than: Option<f64>, keep_newest: Option<i64>) -> Result<u64, StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut deleted = 0u64;
        if let Some(t) = older_than {
            tx.execute("DELETE FROM log_bodies WHERE log_id IN (SELECT log_id FROM logs WHERE created_at < ?)", [t])?;
            deleted += tx.execute("DELETE FROM logs WHERE created_at < ?", [t])? as u64;
        }
        if let Some(keep) = keep_newest {
            let cut: Option<String> = tx
                .query_row("SELECT log_id FROM logs ORDER BY log_id DESC LIMIT 1 OFFSET ?", [keep], |r| r.get(0))
                .map(Some)
                .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
            if let Some(cut) = cut {
                tx.execute("DELETE FROM log_bodies WHERE log_id <= ?", [&cut])?;
                deleted += tx.execute("DELETE FROM logs WHERE log_id <= ?", [&cut])? as u64;
            }
        }
        tx.commit()?;
        Ok(deleted)
    }
}

fn execute(statement: &mut Statement<'_>, cells: &[Cell<'_>]) -> rusqlite::Result<usize> {
    for (i, cell) in cells.iter().enumerate() {
        bind(statement, i + 1, cell)?;
    }
    statement.raw_execute()
}

fn bind(statement: &mut Statement<'_>, at: usize, cell: &Cell<'_>) -> rusqlite::Result<()> {
    match *cell {
        Cell::Null => statement.raw_bind_parameter(at, rusqlite::types::Null),
        Cell::Int(v) => statement.raw_bind_parameter(at, v),
        Cell::Float(v) => statement.raw_bind_parameter(at, v),
        Cell::Text(s) => statement.raw_bind_parameter(at, s),
        Cell::Blob(b) => statement.raw_bind_parameter(at, b),
    }
}

/// Insert one `log_bodies` row, (log_id, request body, response body), each blob body
/// packed when that pays and `body_encoding` saying which are.
fn insert_bodies(statement: &mut Statement<'_>, row: &[Cell<'_>; 3], packer: &mut Packer) -> rusqlite::Result<usize> {
    let [log_id, request, response] = row;
    bind(statement, 1, log_id)?;
    let encoding = bind_body(statement, 2, request, packer, REQUEST_PACKED)? | bind_body(statement, 3, response, packer, RESPONSE_PACKED)?;
    statement.raw_bind_parameter(4, encoding)?;
    statement.raw_execute()
}

/// Bind one body, packed when it is a blob packing pays for; returns `flag` when it was.
/// (SQLite copies a bound blob, so the packer's buffer is free again at once.)
fn bind_body(statement: &mut Statement<'_>, at: usize, cell: &Cell<'_>, packer: &mut Packer, flag: i64) -> rusqlite::Result<i64> {
    if let Cell::Blob(body) = *cell {
        if let Some(packed) = packer.pack(body) {
            statement.raw_bind_parameter(at, packed)?;
            return Ok(flag);
        }
    }
    bind(statement, at, cell)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_batch::{NULL_NUMBER, NULL_TEXT};
    use crate::marshal::MarshalWriter;

    const SCHEMA: &str = "CREATE TABLE logs (log_id TEXT PRIMARY KEY NOT NULL, created_at REAL NOT NULL, status INTEGER NOT NULL, model TEXT, tokens_in INTEGER) WITHOUT ROWID;
        CREATE TABLE log_bodies (log_id TEXT PRIMARY KEY NOT NULL, request_body BLOB, response_body BLOB, body_encoding INTEGER NOT NULL DEFAULT 0);";
    const COLUMNS: &str = "log_id, created_at, status, model, tokens_in";

    fn store() -> (tempdir::Dir, LogStore) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("logs.db");
        Connection::open(&path).unwrap().execute_batch(SCHEMA).unwrap();
        let store = LogStore::open(&path, COLUMNS).unwrap();
        (dir, store)
    }

    fn payload(ids: &[&str], created: f64, with_bodies: bool) -> Vec<u8> {
        payload_with_bodies(ids, created, with_bodies.then_some((b"{\"q\":1}", None)))
    }

    /// A batch of `ids`, each with the bodies (request, response; None is NULL) when given.
    fn payload_with_bodies(ids: &[&str], created: f64, bodies: Option<(&[u8], Option<&[u8]>)>) -> Vec<u8> {
        let mut w = MarshalWriter::new();
        w.tuple(2);
        w.list(ids.len());
        for id in ids {
            w.tuple(5);
            w.str(id);
            w.float(created);
            w.int(200);
            w.str(NULL_TEXT);
            w.int(NULL_NUMBER);
        }
        let Some((request, response)) = bodies else {
            w.list(0);
            return w.buf;
        };
        w.list(ids.len());
        for id in ids {
            w.tuple(3);
            w.str(id);
            w.bytes(request);
            match response {
                Some(r) => w.bytes(r),
                None => w.none(),
            }
        }
        w.buf
    }

    fn count(s: &LogStore, sql: &str) -> i64 {
        s.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir().join(format!("aigw-log-store-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn a_batch_is_stored_with_its_bodies_and_sentinels_as_null() {
        let (_d, mut s) = store();
        assert_eq!(s.store(&payload(&["a", "b"], 10.0, true)).unwrap(), 0);
        assert_eq!(count(&s, "SELECT count(*) FROM logs WHERE model IS NULL AND tokens_in IS NULL AND status = 200"), 2);
        assert_eq!(count(&s, "SELECT count(*) FROM log_bodies WHERE request_body = CAST('{\"q\":1}' AS BLOB) AND response_body IS NULL"), 2);
    }

    #[test]
    fn a_long_body_is_stored_packed_and_a_short_one_as_it_is() {
        let (_d, mut s) = store();
        let answer = b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n".repeat(64);
        s.store(&payload_with_bodies(&["a"], 1.0, Some((b"{\"q\":1}", Some(&answer))))).unwrap();
        let (request, response, encoding): (Vec<u8>, Vec<u8>, i64) = s
            .conn
            .query_row("SELECT request_body, response_body, body_encoding FROM log_bodies", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap();
        assert_eq!(encoding, RESPONSE_PACKED);
        assert_eq!(request, b"{\"q\":1}");
        assert!(response.len() * 5 < answer.len());
        assert_eq!(crate::log_body::unpack(&response).unwrap(), answer);
    }

    #[test]
    fn rows_already_stored_are_counted_and_left_alone() {
        let (_d, mut s) = store();
        s.store(&payload(&["a"], 10.0, false)).unwrap();
        assert_eq!(s.store(&payload(&["a", "b"], 20.0, false)).unwrap(), 1);
        assert_eq!(count(&s, "SELECT count(*) FROM logs WHERE created_at = 10.0"), 1);
    }

    #[test]
    fn a_bad_batch_stores_nothing() {
        let (_d, mut s) = store();
        let mut p = payload(&["a", "b"], 10.0, true);
        p.truncate(p.len() - 3);
        assert!(matches!(s.store(&p), Err(StoreError::Batch(_))));
        assert_eq!(count(&s, "SELECT count(*) FROM logs"), 0);
    }

    #[test]
    fn a_column_the_table_lacks_is_refused_at_open() {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("logs.db");
        Connection::open(&path).unwrap().execute_batch(SCHEMA).unwrap();
        assert!(LogStore::open(&path, "log_id, nope").is_err());
    }

    #[test]
    fn prune_deletes_old_rows_and_keeps_the_newest() {
        let (_d, mut s) = store();
        s.store(&payload(&["a", "b"], 10.0, true)).unwrap();
        s.store(&payload(&["c", "d", "e"], 20.0, true)).unwrap();
        assert_eq!(s.prune(Some(15.0), None).unwrap(), 2);
        assert_eq!(s.prune(None, Some(1)).unwrap(), 2);
        assert_eq!(count(&s, "SELECT count(*) FROM logs WHERE log_id = 'e'"), 1);
        assert_eq!(count(&s, "SELECT count(*) FROM log_bodies"), 1);
        assert_eq!(s.prune(None, Some(5)).unwrap(), 0);
    }
}
