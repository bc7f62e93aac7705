"""TurnBatcher spaces the loop's turns while its crowd rule holds: each busy turn sleeps what is
left of the window, a turn whose work filled the window sleeps nothing, an idle turn pauses the
spacing until the recheck (no busy poll), and it stops when the crowd leaves or it is closed.

The clock is the test's: the fake sleep and a "worker" callback (the loop's other work in a
turn) move it, so each turn's work is exact."""

from __future__ import annotations

import asyncio

import pytest

from aigw.server.turn_batching import StreamGauge, TurnBatcher

WINDOW = 200e-6


class Clock:
    """A clock that the fake sleep and the worker move."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def work_each_turn(clock: Clock, seconds: float, turns: int) -> asyncio.Future:
    """Keep the loop busy for `turns` turns, each taking `seconds` of the clock; the future
    is done after the last."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def work(left: int) -> None:
        clock.now += seconds
        if left > 1:
            loop.call_soon(work, left - 1)
        else:
            done.set_result(None)

    loop.call_soon(work, turns)
    return done


async def spaced_turns(work: float) -> tuple[TurnBatcher, Clock]:
    """A batcher started on a loop kept busy 20 turns, each turn's work taking `work`."""
    clock = Clock()
    batcher = TurnBatcher(WINDOW, lambda: True, clock=clock, sleep=clock.sleep)
    batcher.start()
    await work_each_turn(clock, work, 20)
    batcher.close()
    return batcher, clock


async def test_a_crowded_busy_loop_sleeps_what_is_left_of_the_window_each_turn():
    batcher, clock = await spaced_turns(50e-6)
    assert batcher.turns >= 15
    assert clock.sleeps and all(s == pytest.approx(WINDOW - 50e-6) for s in clock.sleeps)
    assert batcher.slept == pytest.approx(sum(clock.sleeps))


async def test_a_turn_whose_work_filled_the_window_sleeps_nothing():
    batcher, clock = await spaced_turns(300e-6)
    assert batcher.turns >= 15
    assert clock.sleeps == []


async def test_idle_turns_pause_the_spacing_until_the_recheck_instead_of_polling():
    clock = Clock()
    asked = []
    batcher = TurnBatcher(WINDOW, lambda: asked.append(1) or True, recheck=0.01, idle_span=0.001, clock=clock, sleep=clock.sleep)
    batcher.start()
    await asyncio.sleep(0.055)  # nothing else runs: every turn the batcher sees is idle
    batcher.close()
    assert batcher.turns == 0
    # Per recheck: the recheck, a fresh turn, then idle turns for idle_span (5 windows), each
    # spaced; a busy poll would have looked thousands of times.
    assert 2 <= len(asked) <= 60
    assert all(s == pytest.approx(WINDOW) for s in clock.sleeps)


async def test_one_idle_turn_between_bursts_keeps_the_spacing():
    clock = Clock()
    batcher = TurnBatcher(WINDOW, lambda: True, clock=clock, sleep=clock.sleep)
    batcher.start()
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def bursts(left: int) -> None:  # a turn of work, then a turn with none, and again
        clock.now += 50e-6 if left % 2 else 0.0
        if left > 1:
            loop.call_soon(bursts, left - 1)
        else:
            done.set_result(None)

    loop.call_soon(bursts, 40)
    await done
    batcher.close()
    assert batcher.turns >= 15  # never paused: the busy turns went on being counted


async def test_the_spacing_resumes_at_the_recheck_once_work_arrives():
    clock = Clock()
    batcher = TurnBatcher(WINDOW, lambda: True, recheck=0.005, clock=clock, sleep=clock.sleep)
    batcher.start()
    await asyncio.sleep(0.002)  # idle: paused
    assert batcher.turns == 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    while batcher.turns == 0 and loop.time() < deadline:  # busy, in real time, past the recheck
        await work_each_turn(clock, 50e-6, 100)
    batcher.close()
    assert batcher.turns > 0 and clock.sleeps


async def test_the_spacing_stops_when_the_crowd_leaves():
    clock = Clock()
    crowd = [True]
    batcher = TurnBatcher(WINDOW, lambda: crowd[0], clock=clock, sleep=clock.sleep)
    batcher.start()
    await work_each_turn(clock, 50e-6, 10)
    crowd[0] = False
    await work_each_turn(clock, 50e-6, 3)
    turns = batcher.turns
    await work_each_turn(clock, 50e-6, 10)
    assert batcher.turns == turns


async def test_start_after_close_does_nothing():
    clock = Clock()
    batcher = TurnBatcher(WINDOW, lambda: True, clock=clock, sleep=clock.sleep)
    batcher.close()
    batcher.start()
    await work_each_turn(clock, 50e-6, 10)
    assert batcher.turns == 0 and clock.sleeps == []


def test_the_window_must_be_positive():
    with pytest.raises(ValueError):
        TurnBatcher(0, lambda: True)


def test_a_watcher_hears_each_time_the_count_rises_to_its_threshold():
    gauge = StreamGauge()
    heard: list[int] = []
    gauge.watch(2, lambda: heard.append(gauge.relaying))
    gauge.enter()
    gauge.enter()  # 2: heard
    gauge.enter()  # 3: above, not again
    gauge.exit()
    gauge.exit()
    gauge.enter()  # 2 again: heard again
    assert heard == [2, 2]


def test_an_unwatched_callback_is_no_longer_called():
    gauge = StreamGauge()
    batcher = TurnBatcher(WINDOW, lambda: True)
    gauge.watch(1, batcher.start)
    gauge.unwatch(batcher.start)  # another bound method of the same batcher: still found
    assert gauge.watchers == ()


async def test_a_start_from_another_loop_does_nothing():
    clock = Clock()
    other = asyncio.new_event_loop()
    batcher = TurnBatcher(WINDOW, lambda: True, loop=other, clock=clock, sleep=clock.sleep)
    try:
        batcher.start()  # the running loop is not the batcher's
        await work_each_turn(clock, 50e-6, 10)
        assert batcher.turns == 0 and clock.sleeps == []
    finally:
        other.close()


def test_a_start_outside_any_loop_is_ignored_and_binds_nothing():
    clock = Clock()
    batcher = TurnBatcher(WINDOW, lambda: True, clock=clock, sleep=clock.sleep)
    batcher.start()  # no running loop: no error, no loop taken, not marked as spacing

    async def later() -> None:
        batcher.start()
        await work_each_turn(clock, 50e-6, 20)
        batcher.close()

    asyncio.run(later())
    assert batcher.turns >= 15
