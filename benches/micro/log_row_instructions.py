"""Instructions one log row costs to encode (issue 15 item 1), exact where time is not.

Appends the typical logged request's row (log_records.py) with `LogRowEncoder.submit`, the
call the SQLite logger's native entry makes per request, N times, emptying the backlog every
2,000 rows as the writer would. Run it under callgrind and divide `submit`'s inclusive count
by N (`--no-bodies`: the same record logged without bodies, as with payload collection off):

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.row python benches/micro/log_row_instructions.py [--no-bodies]
    callgrind_annotate --inclusive=yes --threshold=100 /tmp/cg.row | grep 'LogRowEncoder::submit \\['

(`python` must be the interpreter itself, not a shim that execs it, for valgrind to follow it.)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from log_records import typical_record  # noqa: E402

from aigw._codec import LogRowEncoder  # noqa: E402
from aigw.builtins.sqlite_logs import MAX_ERROR_CHARS  # noqa: E402
from aigw.types import Attempt, LogRecord  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--no-bodies", action="store_true", help="log the record without its bodies")
    args = ap.parse_args()
    encoder = LogRowEncoder(LogRecord, Attempt, [f.name for f in dataclasses.fields(Attempt)], MAX_ERROR_CHARS)
    encoder.set_bounds(10 << 20, 100_000, 1 << 30, 2000)
    records = [typical_record(i) for i in range(2000)]
    if args.no_bodies:
        for r in records:
            r.request_body = r.response_body = None
    done = 0
    while done < args.rows:
        for r in records[: args.rows - done]:
            if encoder.submit(r) > 1:
                raise SystemExit("the encoder refused the typical record")
        done += min(len(records), args.rows - done)
        encoder.take_all(2000)
    print(f"{done} rows submitted")


if __name__ == "__main__":
    main()
