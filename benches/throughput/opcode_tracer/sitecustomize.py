"""Counts the bytecodes `aigw serve` executes per request, by function (count_opcodes.py).

Imported at start-up when this directory is on PYTHONPATH and AIGW_OPCODES_OUT is set; a
no-op otherwise. After AIGW_OPCODES_START seconds it traces the main thread's Python frames
with opcode events for AIGW_OPCODES_SECONDS, then writes `requests N` (each plain HTTP request
as the connection's `_serve` takes it: its first call, or a resumption at `await waiter`,
since the usual provider-route request reaches the pipeline through no Python `run` nor
`response_writer`; each asyncio Task registered, since a WebSocket request is one Task
whichever way it starts, and its usual start calls no Python `run`; and aigw.pipeline.run's
calls from anywhere else; when the gateway's metrics are on, the requests they count as
finished in the window instead, since a WebSocket request driven without a Task runs no
Python frame of its own) and one
`count file:function` line per function to
$AIGW_OPCODES_OUT.<pid> (the log writer's child process, which inherits the environment,
writes a file of its own). Dataclass-generated `__init__`s are named by their class.
With AIGW_OPCODES_CALLS=1 the counts are frame starts and resumptions (`call` events: a call,
or a coroutine resumed) instead of bytecodes, to see where the ~200 instructions each costs go.
With AIGW_OPCODES_LINES=1 the counts are by line (`file:function:line`), to see which lines of a
function its bytecodes come from.
With AIGW_FLOOR=1 (or min) the pipeline is swapped for the floor's stand-in (floor_pipeline/floor.py),
whose calls count as the requests.
Tracing makes the process several times slower: its counts are exact, its timings useless.
"""

import asyncio
import collections
import os
import sys
import threading
import time

if os.environ.get("AIGW_OPCODES_OUT"):
    _counts: collections.Counter = collections.Counter()
    _state = {"on": False, "requests": 0}
    _by_line = os.environ.get("AIGW_OPCODES_LINES") == "1"
    _calls = os.environ.get("AIGW_OPCODES_CALLS") == "1"
    _PIPELINE = os.path.join("aigw", "pipeline.py")
    _SESSION = os.path.join("aigw", "api", "universal_ws.py")
    _DOORS = (os.path.join("aigw", "api", "http_routes.py"), os.path.join("aigw", "api", "compat_routes.py"))
    _WEAKSET = "_weakrefset.py"
    _SERVER = os.path.join("aigw", "server", "http.py")
    _lines: dict = {}

    def _next_request_lines(code) -> set:
        """The lines of `code` (HttpConnection._serve) that await the next request."""
        lines = _lines.get(code)
        if lines is None:
            import linecache

            source = linecache.getlines(code.co_filename)
            lines = _lines[code] = {
                n for n in range(code.co_firstlineno, len(source) + 1) if "request = await waiter" in source[n - 1]
            }
        return lines

    def _local(frame, event, arg):
        if event == "opcode":
            code = frame.f_code
            if code.co_filename == "<string>":  # dataclasses' generated methods
                name = f"{type(frame.f_locals.get('self')).__name__}.{code.co_name}"
                _counts[("<dataclass>", name)] += 1
            elif _by_line:
                _counts[(code.co_filename, f"{code.co_name}:{frame.f_lineno}")] += 1
            else:
                _counts[(code.co_filename, code.co_name)] += 1
        return _local

    def _global(frame, event, arg):
        if not _state["on"]:
            return None
        code = frame.f_code
        if _calls:
            name = f"{type(frame.f_locals.get('self')).__name__}.{code.co_name}" if code.co_filename == "<string>" else code.co_name
            _counts[("<dataclass>" if code.co_filename == "<string>" else code.co_filename, name)] += 1
        else:
            frame.f_trace_opcodes = True
        if code.co_name == "run" and code.co_filename.endswith(_PIPELINE):
            # A WebSocket request is counted at its start: the usual one's native start calls
            # no Python `run` (usual_start.rs), the others call it from _start or _run. An
            # HTTP request is counted by its response writer: the usual provider-route
            # request's native door calls no Python `run` (usual_door.rs), the doors' others do.
            caller = frame.f_back.f_code if frame.f_back is not None else None
            if caller is None or not (
                (caller.co_filename.endswith(_SESSION) and caller.co_name in ("_start", "_run"))
                or caller.co_filename.endswith(_DOORS)
            ):
                _state["requests"] += 1
        elif code.co_name == "_serve" and code.co_filename.endswith(_SERVER):
            # A call event at the first line starts the connection's task (its first request);
            # one at `request = await waiter` resumes it with the next request.
            if frame.f_lineno == code.co_firstlineno or frame.f_lineno in _next_request_lines(code):
                _state["requests"] += 1
        elif code.co_name == "add" and code.co_filename.endswith(_WEAKSET) and isinstance(frame.f_locals.get("item"), asyncio.Task):
            # asyncio registering a Task in its WeakSet: a WebSocket request's (an HTTP
            # connection's one Task was made before the window opened).
            _state["requests"] += 1
        elif code.co_name == "floor_run":  # the floor's stand-in for it (AIGW_FLOOR=1)
            _state["requests"] += 1
        return None if _calls else _local

    sys.settrace(_global)  # the main thread: the event loop's

    # The gateway's metrics, remembered as they are made (the server freezes the start-up's
    # objects, which then leave `gc.get_objects()`).
    _metrics: list = []
    try:
        from aigw.observe import metrics as _metrics_module

        _real_init = _metrics_module.GatewayMetrics.__init__

        def _remembered_init(self, *args, **kwargs):
            _real_init(self, *args, **kwargs)
            _metrics.append(self)

        _metrics_module.GatewayMetrics.__init__ = _remembered_init
    except ImportError:
        pass

    def _finished_requests() -> int | None:
        """The requests the gateway's metrics have counted so far (None without metrics): a
        WebSocket request driven without a Task (usual_drive.rs) runs no Python frame of its
        own to count it by."""
        if not _metrics:
            return None
        return sum(s.requests for m in _metrics for s in list(m._series.values()))

    def _window() -> None:
        time.sleep(float(os.environ.get("AIGW_OPCODES_START", "6")))
        before = _finished_requests()
        _state["on"] = True
        time.sleep(float(os.environ.get("AIGW_OPCODES_SECONDS", "4")))
        _state["on"] = False
        after = _finished_requests()
        time.sleep(0.5)  # frames still running finish their current opcode counts
        # The metrics' count of the window when they are on (requests finished in it; the
        # frames counted below, requests started in it, only without them).
        requests = after - before if before is not None and after is not None else _state["requests"]
        path = f"{os.environ['AIGW_OPCODES_OUT']}.{os.getpid()}"
        with open(path + ".tmp", "w") as out:
            out.write(f"requests {requests}\n")
            for (where, name), n in _counts.most_common():
                out.write(f"{n} {where}:{name}\n")
        os.replace(path + ".tmp", path)  # whole, for the reader polling for it

    threading.Thread(target=_window, name="aigw-opcode-window", daemon=True).start()

if os.environ.get("AIGW_FLOOR") in ("1", "min"):  # the floor under the pipeline, traced (floor_pipeline/floor.py)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "floor_pipeline"))
    import floor  # noqa: F401,E402
