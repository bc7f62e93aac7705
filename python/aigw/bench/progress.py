"""The live progress of `aigw bench` while a run lasts.

On a terminal: a `rich` progress bar per run (its budget of requests or seconds, the current
rate, p50 so far and errors), refreshed in place. Without `rich`, a refreshed plain line. When
stderr is not a terminal nothing is redrawn: one plain line per run is written at its end.
"""

from __future__ import annotations

import asyncio
from typing import Any, TextIO

from aigw.bench.report import percentile, progress_line
from aigw.bench.workload import Recorder

__all__ = ["Progress"]


def _status(rec: Recorder, rate: float) -> str:
    p50 = percentile(rec.latencies[-2000:], 50)
    p50_text = f"{p50 * 1000:.2f} ms" if p50 is not None else "- ms"
    errors = sum(rec.errors.values())
    style = "bold red" if errors else "green"
    return f"{rate:>9,.0f} req/s  p50 {p50_text:>10}  [{style}]errors {errors:,}[/]"


class Progress:
    """Shows one run's progress on `stream`; `await run()` until cancelled, then `close()`."""

    def __init__(self, rec: Recorder, stream: TextIO, *, interval: float = 0.25, live: bool | None = None) -> None:
        self.rec = rec
        self.stream = stream
        self.interval = interval
        self.live = stream.isatty() if live is None else live
        self._bar: Any = None
        self._task: Any = None
        if self.live:
            try:
                import rich.console
                import rich.progress as rp
            except ImportError:
                return
            console = rich.console.Console(file=stream)
            self._bar = rp.Progress(
                rp.TextColumn("{task.description:<8}"),
                rp.BarColumn(),
                rp.TextColumn("{task.fields[budget]}"),
                rp.TextColumn("{task.fields[status]}"),
                rp.TimeElapsedColumn(),
                console=console,
                auto_refresh=False,
            )

    def _budget(self) -> tuple[float, float, str]:
        """(done, total, "12/100 req" or "1.2/10.0 s") of the run's budget."""
        wl = self.rec.workload
        if wl.requests:
            done, total = float(self.rec.finished), float(wl.requests)
            return done, total, f"{done:>8,.0f}/{total:,.0f} req"
        done = min(self.rec.elapsed, wl.duration)
        return done, wl.duration, f"{done:>6.1f}/{wl.duration:,.1f} s"

    async def run(self) -> None:
        """Redraw every `interval` seconds (on a terminal) until cancelled."""
        if not self.live:
            await asyncio.Event().wait()
        last = (0.0, 0)
        if self._bar is not None:
            done, total, budget = self._budget()
            self._bar.start()
            self._task = self._bar.add_task(
                self.rec.workload.surface, total=total, completed=done, budget=budget, status=_status(self.rec, 0)
            )
        while True:
            await asyncio.sleep(self.interval)
            now, finished = self.rec.elapsed, self.rec.finished
            if self._bar is not None:
                window = now - last[0]
                rate = (finished - last[1]) / window if window > 0 else 0.0
                done, total, budget = self._budget()
                self._bar.update(self._task, completed=done, budget=budget, status=_status(self.rec, rate))
                self._bar.refresh()
            else:
                self.stream.write("\r" + progress_line(self.rec, last) + "\033[K")
                self.stream.flush()
            last = (now, finished)

    def close(self) -> None:
        """End the display: the bar at its final figures, or the plain summary line."""
        rec = self.rec
        average = rec.finished / rec.elapsed if rec.elapsed > 0 else 0.0
        if self._bar is not None and self._task is not None:
            done, total, budget = self._budget()
            status = _status(rec, average).replace("req/s", "avg/s")
            self._bar.update(self._task, completed=done, budget=budget, status=status)
            self._bar.refresh()
            self._bar.stop()
            return
        line = progress_line(rec, (0.0, 0)).replace("req/s", "avg/s")
        if self.live:
            self.stream.write("\r" + line + "\033[K\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

