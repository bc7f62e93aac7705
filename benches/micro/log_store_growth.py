"""What the writer process's Rust store costs per row as the store grows, by the shape of the
event ids (issue 15 item 1): CPU and wall time per row over many 500-row batches.

    python benches/micro/log_store_growth.py --batches 200 --event-ids uuid
    python benches/micro/log_store_growth.py --batches 200 --event-ids repeating --drop-index logs_event_id
    python benches/micro/log_store_growth.py --batches 200 --event-ids sequential --page-size 4096

Event ids: `repeating` e0..e499 in every batch (test_log_writer.py's records), `uuid` random
(a client sending UUIDs), `sequential` 0, 1, 2 ... (ws_load.py's), `log-id` the row's own
UUIDv7 (an HTTP request naming no cf-aig-event-id).
"""

from __future__ import annotations

import argparse
import marshal
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_log_writer as records  # noqa: E402  (the micro benchmark's typical records)

from aigw._codec import SqliteLogStore  # noqa: E402
from aigw.builtins import sqlite_logs  # noqa: E402
from aigw.builtins.sqlite_log_schema import connect  # noqa: E402


def payloads(batches: int, event_ids: str) -> list[bytes]:
    out = []
    for k in range(batches):
        batch = records._batch()
        for i, pending in enumerate(batch):
            r = pending.record
            if event_ids == "uuid":
                r.event_id = str(uuid.uuid4())
            elif event_ids == "sequential":
                r.event_id = str(k * len(batch) + i)
            elif event_ids == "log-id":
                r.event_id = r.log_id
        rows, bodies, _ = sqlite_logs.rows_of(batch)
        out.append(marshal.dumps((rows, bodies), 2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--event-ids", choices=("repeating", "uuid", "sequential", "log-id"), default="repeating")
    ap.add_argument("--drop-index", action="append", default=[], help="an index to drop first (repeatable)")
    ap.add_argument("--page-size", type=int, help="make the store with pages of this many bytes (default: aigw's)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "logs.db"
        if args.page_size:  # set on the empty file first: connect's own setting then finds pages
            with sqlite3.connect(path) as conn:
                conn.execute(f"PRAGMA page_size = {args.page_size}")
                conn.execute("VACUUM")
        connect(path, create=True).close()
        with sqlite3.connect(path) as conn:
            for index in args.drop_index:
                conn.execute(f'DROP INDEX "{index}"')
        store = SqliteLogStore(str(path), sqlite_logs.LOG_COLUMNS)
        work = payloads(args.batches, args.event_ids)
        cpu, wall = time.process_time(), time.perf_counter()
        for payload in work:
            store.store(payload)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        store.close()
        rows = args.batches * 500
        dropped = ",".join(args.drop_index) or "none"
        with sqlite3.connect(path) as conn:
            page = conn.execute("PRAGMA page_size").fetchone()[0]
        print(f"event ids {args.event_ids}, dropped {dropped}, {page}-byte pages: {cpu / rows * 1e6:.2f} us CPU, {wall / rows * 1e6:.2f} us wall per row over {rows} rows")


if __name__ == "__main__":
    main()
