"""The web console at `/ui` (off unless `[console] enabled = true`; see docs/console.md).

* `routes` — the page and its static files (public: they hold no data), and the console's own
  small JSON API under `/ui/api/...`, authenticated like any gateway route (a token that opens
  the `default` gateway), reading through the `LogStore` protocol;
* `live` — `WEBSOCKET /ui/api/live`: new log rows pushed as they are stored;
* `stats` — requests, latency and tokens per provider/model in time buckets, for the charts;
* `static/` — plain HTML, CSS and JavaScript modules, no build step and nothing fetched from
  elsewhere at run time. The playground in it opens ONE Universal WebSocket from the browser.
"""

from __future__ import annotations

from aigw.console.routes import add_console_routes

__all__ = ["add_console_routes"]
