"""What a log id costs when it starts a new millisecond (issue 15): every millisecond with a
request starts one (each request's up to ~1,000 requests a second, one in seven at 7,000), and
its random start used to be one `getrandom` system call (now one call per 32 such starts).

Waits for each millisecond to begin, then times one `new_log_id()` call; prints the median of
each of three runs of N calls, in nanoseconds (the timer's own ~50-100 ns included):

    python benches/micro/log_id_cost.py [--calls 1500]

Compare two builds by pointing PYTHONPATH at each tree in turn, minutes apart at most.
"""

from __future__ import annotations

import argparse
import statistics
import time

from aigw._codec import new_log_id


def median_new_millisecond_cost(calls: int) -> float:
    """The median time of `calls` new_log_id() calls, each the first of its millisecond, in ns."""
    costs = []
    for _ in range(calls):
        ms = time.time_ns() // 1_000_000
        while time.time_ns() // 1_000_000 == ms:
            pass
        started = time.perf_counter_ns()
        new_log_id()
        costs.append(time.perf_counter_ns() - started)
    return statistics.median(costs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1500)
    args = ap.parse_args()
    print(" ".join(f"{median_new_millisecond_cost(args.calls):.0f}" for _ in range(3)), "ns (median of each run)")


if __name__ == "__main__":
    main()
