"""Instructions `is_json` costs on what a relay checks most (issue 15 item 2), exact where time
is not: a streamed chat.completion.chunk (every relayed SSE event is checked before it is
spliced into a `universal.stream` frame) or a whole chat completion (a `universal.created`),
both as benches/throughput/fast_upstream.py sends them.

Checks the document N times. Run it under callgrind twice (two values of N) and divide the
difference of the totals by the difference of N, which cancels the interpreter's start-up:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benches/micro/json_text_instructions.py --calls 1000 [--answer]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benches/micro/json_text_instructions.py --calls 11000 [--answer]
    # (I refs of the second − I refs of the first) ÷ 10,000

(`python` must be the interpreter itself, not a shim that execs it, for valgrind to follow it.)
The figure includes the Python call (~300 instructions), the same for any build.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aigw._codec import is_json

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "throughput"))
from fast_upstream import COMPLETION, chunk_event  # noqa: E402  (what the benchmarks' upstream sends)

#: An event of the burst streams the benchmarks' upstream sends, as the relay checks it (the
#: SSE `data: ` field's value).
CHUNK = chunk_event(12).removeprefix(b"data: ").rstrip(b"\n")
#: The whole chat completion (with usage) the benchmarks' upstream answers.
ANSWER = COMPLETION


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--answer", action="store_true", help="the whole chat completion instead of a stream's chunk")
    args = ap.parse_args()
    document = ANSWER if args.answer else CHUNK
    if not is_json(document):
        raise SystemExit("not JSON")
    for _ in range(args.calls):
        is_json(document)


if __name__ == "__main__":
    main()
