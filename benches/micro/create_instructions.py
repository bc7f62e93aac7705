"""Instructions the usual `universal.create` costs to read (issue 15 item 2), exact where time
is not.

Reads the message the WebSocket load client sends (benches/throughput/ws_load.py: two chat
messages, max_tokens 32) with `fast_create`, the call the Universal session makes per message,
N times. Run it under callgrind twice (two values of N) and divide the difference of the totals
by the difference of N, which cancels the interpreter's start-up:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benches/micro/create_instructions.py --messages 1000
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benches/micro/create_instructions.py --messages 11000
    # (I refs of the second − I refs of the first) ÷ 10,000

(`python` must be the interpreter itself, not a shim that execs it, for valgrind to follow it.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from aigw.api.universal_messages import fast_create

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "throughput"))
from ws_load import REQUEST  # noqa: E402  (the body the WebSocket load client sends)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10000)
    args = ap.parse_args()
    message = orjson.dumps({"type": "universal.create", "request": {"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": REQUEST}})
    if fast_create(message) is None:
        raise SystemExit("the message did not take the fast path")
    for _ in range(args.messages):
        fast_create(message)


if __name__ == "__main__":
    main()
