"""One Redis client per component, and the back-off that keeps a dead Redis off the request path.

Every command runs with the configured timeout (connect and read), so a stalled Redis costs a
request at most `timeout_ms`. After a failure the component stops asking Redis for 100 ms,
then 200 ms, ... up to `backoff_max_ms` (each request meanwhile gets the component's degraded
answer at once: a cache MISS, or the limiter's `on_error` policy); the first call after the
pause tries again, and a success resets the back-off. The client reconnects on the next command
after a loss: the pause is what keeps thousands of requests a second from each waiting on a
refused connection.
"""

from __future__ import annotations

import logging
import time

from aigw_redis.client import RedisClient
from aigw_redis.resp import RedisError, RedisReplyError
from aigw_redis.settings import RedisSettings

log = logging.getLogger("aigw.redis")

#: What counts as "Redis is unreachable or misbehaving" (never a bug of ours).
REDIS_ERRORS = (RedisError, OSError, TimeoutError)
FIRST_PAUSE = 0.1  # seconds


def make_client(settings: RedisSettings) -> RedisClient:
    """A client on its own pipelined connection, with the plugin's timeout for connecting and
    for each command, and no retries of its own (the back-off decides when to try again)."""
    return RedisClient(settings.url.reveal(), timeout=settings.timeout)


class Backoff:
    """When to leave Redis alone after failures (see the module docstring)."""

    def __init__(self, what: str, maximum: float, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.what = what
        self.maximum = maximum
        self._clock = clock
        self._pause = 0.0
        self._until = 0.0
        self.failures = 0  # since start, for tests and metrics

    @property
    def pause(self) -> float:
        """The current pause in seconds (0 when healthy)."""
        return self._pause

    @property
    def healthy(self) -> bool:
        """Whether the last call succeeded (or none failed yet)."""
        return self._pause == 0.0

    def allows(self) -> bool:
        """Whether a call may go to Redis now."""
        return self._pause == 0.0 or self._clock() >= self._until

    def failed(self, exc: BaseException) -> None:
        """Record a failure: pause, doubling, and say so (once per outage, then at each pause
        of the maximum length, so an outage is visible but does not flood the log)."""
        self.failures += 1
        first = self._pause == 0.0
        self._pause = min(self.maximum, self._pause * 2 if self._pause else FIRST_PAUSE)
        self._until = self._clock() + self._pause
        if first or self._pause == self.maximum:
            # The exception text never holds the URL's password (the client names host:port).
            log.warning("%s: Redis unavailable (%s: %s); retrying in %.1f s", self.what, type(exc).__name__, exc, self._pause)

    def succeeded(self) -> None:
        """Record a success: the outage, if any, is over."""
        if self._pause:
            log.warning("%s: Redis is reachable again", self.what)
            self._pause = 0.0


async def check_at_start(client: RedisClient, backoff: Backoff) -> None:
    """PING Redis at start-up. A refused or timed-out connection only warns (the gateway starts
    degraded and the back-off takes over: Redis may just be restarting); a server that answers
    but refuses us (bad password, no permission, not Redis) raises, stopping start-up, because
    that is a configuration mistake that waiting will not fix."""
    try:
        await client.ping()
    except RedisReplyError:  # WRONGPASS, NOAUTH, NOPERM, ...: a configuration mistake
        raise
    except REDIS_ERRORS as exc:
        backoff.failed(exc)
