"""The PNG report of `aigw bench --png`: latency histogram, rate over time and, for several
runs (`--compare`), the runs side by side.

matplotlib is imported inside `write_png` with the non-interactive Agg backend, so a bench
without `--png` never imports it and no display is ever needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

__all__ = ["write_png"]


def write_png(path: str | Path, results: Sequence[dict[str, Any]], latencies: Sequence[Sequence[float]], title: str = "") -> Path:
    """Draw the runs into one PNG at `path` and return it.

    `results` are `summarize()` outputs and `latencies` each run's latency samples in seconds,
    in the same order. Panels: the latency histogram of every run (ms, log-spaced bins), the
    requests finished per second over the run (`rate_per_s`), and, with more than one run, bars
    of ok requests/s and of latency p50/p99 per run."""
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("--png needs matplotlib: pip install 'aigw[bench]'") from None
    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure  # a Figure without pyplot: no global state, no GUI
    from matplotlib.ticker import LogFormatter

    import numpy as np

    compare = len(results) > 1
    fig = Figure(figsize=(12, 8 if compare else 4.5), dpi=100, layout="constrained")
    grid = fig.add_gridspec(2 if compare else 1, 2)
    names = [r["surface"] for r in results]

    hist = fig.add_subplot(grid[0, 0])
    samples_ms = [np.asarray(lat, dtype=float) * 1000 for lat in latencies]
    positive = np.concatenate([s[s > 0] for s in samples_ms]) if samples_ms else np.array([])
    if positive.size:
        lo, hi = positive.min(), positive.max()
        bins = np.geomspace(lo, hi if hi > lo else lo * 1.01, 50)
        for name, s in zip(names, samples_ms):
            if s.size:
                hist.hist(s, bins=bins, histtype="step", linewidth=1.5, label=f"{name} ({s.size:,})")
        hist.set_xscale("log")
        # Plain numbers (2, 3, 10) rather than 2×10⁰ on the log axis.
        hist.xaxis.set_major_formatter(LogFormatter())
        hist.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
        hist.legend()
    hist.set_title("latency per request (ok requests)")
    hist.set_xlabel("ms")
    hist.set_ylabel("requests")

    rate = fig.add_subplot(grid[0, 1])
    for name, r in zip(names, results):
        # 1 s buckets; the last one covers only the run's tail, so its rate is its count over
        # that width (else every run would seem to slow down in its last second).
        buckets = np.asarray(r["rate_per_s"], dtype=float)
        edges = np.arange(len(buckets) + 1, dtype=float)
        edges[-1] = max(edges[-2] + 0.05, min(edges[-1], r["seconds"] or edges[-1]))
        rate.stairs(buckets / np.diff(edges), edges, linewidth=1.5, label=name)
    rate.set_title("requests finished per second")
    rate.set_xlabel("seconds from the start of the run")
    rate.set_ylabel("req/s")
    rate.set_ylim(bottom=0)
    rate.legend()

    if compare:
        x = np.arange(len(results))
        bars = fig.add_subplot(grid[1, 0])
        rps = [r["requests_per_s"] or 0 for r in results]
        drawn = bars.bar(x, rps, color=[f"C{i}" for i in range(len(results))])
        bars.bar_label(drawn, fmt="{:,.0f}")
        bars.set_xticks(x, names)
        bars.set_title("ok requests per second")
        bars.set_ylabel("req/s")

        lat = fig.add_subplot(grid[1, 1])
        width = 0.38
        for offset, q in ((-width / 2, "p50"), (width / 2, "p99")):
            values = [r["latency_ms"][q] or 0 for r in results]
            drawn = lat.bar(x + offset, values, width, label=q)
            lat.bar_label(drawn, fmt="{:,.2f}")
        lat.set_xticks(x, names)
        lat.set_title("latency (ms)")
        lat.set_ylabel("ms")
        lat.legend()

    if title:
        fig.suptitle(title)
    out = Path(path)
    fig.savefig(out, format="png")
    return out
