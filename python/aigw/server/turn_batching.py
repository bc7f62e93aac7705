"""Turn batching: while the loop is crowded, space its turns so that each reads many sockets.

A paced stream's chunk costs one loop wake-up, one read and one write when the loop wakes for
each chunk that arrives. With many streams relaying at once the chunks arrive back to back, and
a loop that waits a little between turns finds many of them ready at its next poll: one wake-up
for all of them, and the client's write carries every stream's chunks of that turn. This is what
network cards call interrupt moderation. It trades latency for CPU: each chunk may wait up to
twice the window (below), and a stream's first chunk, whose way through the gateway takes several
turns, waits up to several windows. So it is off unless asked for (`server.batch_window_us`), and on only
while `crowded()` says so (the gateway's rule: at least `server.batch_min_streams` streams are
relaying to Universal WebSocket clients, counted by a StreamGauge). Streams to HTTP clients are
not counted: each goes to its own connection, so a turn's writes cannot merge, and spacing the
turns measured slower for them.

The wait is a blocking sleep in a callback the loop runs once per turn (releasing the GIL, so the
log writer's thread runs meanwhile). A turn whose work already took the window sleeps nothing.
Once the turns have found (almost) nothing to do for a while (2 ms), the spacing pauses until a
recheck, so a crowd of idle streams does not turn the wait into a busy poll.

The sleep runs before the turn's other callbacks, among them the flushes of what its reads
brought, so a chunk waits up to twice the window: in its socket during one sleep, in the
gateway during the next.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["StreamGauge", "TurnBatcher"]


class StreamGauge:
    """How many streams are relaying (their sink counts them with `enter` and `exit`), and who
    wants to know when that count reaches a threshold: `watch(threshold, callback)` calls
    `callback()` each time the count rises to `threshold` (a TurnBatcher's `start`)."""

    __slots__ = ("relaying", "watchers")

    def __init__(self) -> None:
        self.relaying = 0
        self.watchers: tuple[tuple[int, Callable[[], None]], ...] = ()  # (threshold, callback)

    def watch(self, threshold: int, callback: Callable[[], None]) -> None:
        """Call `callback()` whenever the count rises to `threshold` (>= 1)."""
        self.watchers += ((threshold, callback),)

    def unwatch(self, callback: Callable[[], None]) -> None:
        """Forget `callback` (its gateway stopped)."""
        self.watchers = tuple(w for w in self.watchers if w[1] != callback)  # == : a bound method is made anew each time

    def enter(self) -> None:
        """One more stream relaying."""
        self.relaying += 1
        for threshold, callback in self.watchers:
            if self.relaying == threshold:
                callback()

    def exit(self) -> None:
        """A stream ended (however it ended)."""
        self.relaying -= 1


class TurnBatcher:
    """Spaces the running loop's turns `window` seconds apart while `crowded()` is true.

    `start()` (on `loop`, or when `loop` is None on the loop of the first start; e.g. when a
    stream count crosses its threshold) begins a turn callback that, each turn, sleeps what is left of the window since its last turn ended
    and reschedules itself; it stops when `crowded()` is false, and pauses for `recheck` seconds
    after `idle_span` seconds of turns whose work each took less than `idle_work` (nothing
    arrived). `close()` ends it.
    `turns` and `slept` count the busy turns it measured and the seconds it slept (for tests
    and benchmarks)."""

    __slots__ = ("window", "crowded", "recheck", "idle_work", "turns", "slept", "_loop", "_running", "_timer", "_turn_end",
                 "_idle", "_idle_turns", "_clock", "_sleep", "_closed")

    def __init__(
        self,
        window: float,
        crowded: Callable[[], bool],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        recheck: float = 0.005,
        idle_work: float = 20e-6,
        idle_span: float = 0.002,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window
        self.crowded = crowded
        self.recheck = recheck
        self.idle_work = idle_work
        self.turns = 0
        self.slept = 0.0
        self._loop = loop  # None: the loop of the first start()
        self._running = False  # a turn callback is scheduled
        self._timer: asyncio.TimerHandle | None = None  # the recheck after an idle turn
        self._turn_end: float | None = None
        self._idle = 0  # idle turns in a row
        # Turns come in bursts (streams started together keep their pace together): pause only
        # after `idle_span` of idle turns in a row, not after the first gap between bursts.
        self._idle_turns = max(2, round(idle_span / window))
        self._clock = clock
        self._sleep = sleep
        self._closed = False

    def start(self) -> None:
        """Begin spacing turns; nothing when already spacing or closed, or when called outside
        its loop (another gateway's, in another thread, crossed the shared count)."""
        if self._running or self._closed:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._loop is None:
            self._loop = running
        elif running is not self._loop:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._running = True
        self._turn_end = None  # the first turn measures nothing: it only marks where the next begins
        self._idle = 0
        self._loop.call_soon(self._turn)

    def close(self) -> None:
        """Stop for good (the gateway stops): no more turns, the recheck cancelled."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _turn(self) -> None:
        self._running = False
        if self._closed or not self.crowded():
            return
        if self._turn_end is not None:  # None after start(): no turn measured yet
            work = self._clock() - self._turn_end  # the loop's turn since this callback last ran
            if work < self.idle_work:
                self._idle += 1
                if self._idle >= self._idle_turns:  # nothing arrived for a while: stop polling
                    self._timer = self._loop.call_later(self.recheck, self._recheck)
                    return
            else:
                self._idle = 0
                self.turns += 1
            rest = self.window - work
            if rest > 0:
                self._sleep(rest)
                self.slept += rest
        self._turn_end = self._clock()
        self._running = True
        self._loop.call_soon(self._turn)

    def _recheck(self) -> None:
        self._timer = None
        if self.crowded():
            self.start()
