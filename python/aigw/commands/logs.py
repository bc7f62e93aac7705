"""`aigw logs`: tail and filter the request logs; `aigw logs show LOG_ID` for one log.

Reads the log store the configuration chooses (the first logger of `[logs] stores` that can
be queried, i.e. is an `aigw.LogStore`: the built-in `sqlite`, or a plugin's such as
`postgres`), through the LogStore protocol (`query`/`get`). With `--data-dir` it reads that
directory's SQLite store, `<data_dir>/logs.db`. The configuration is `--config`, else
`$AIGW_CONFIG`, else the defaults (data dir `$AIGW_DATA_DIR`, else `./.aigw`).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import click
import orjson

from aigw.builtins.sqlite_logs import LOGS_DB, SqliteLogger
from aigw.interfaces import LogStore
from aigw.log_query import LogPage, LogQuery, StoredLog
from aigw.logrecords import record_to_dict

DEFAULT_DATA_DIR = ".aigw"

# ---- finding the store ---------------------------------------------------------------------


class BlockingStore:
    """A LogStore driven from synchronous code: each call runs on a private event loop (kept
    for the command's life, so a store's connection pool is reused between polls)."""

    def __init__(self, store: LogStore, where: str) -> None:
        self.store = store
        self.where = where
        self._loop = asyncio.new_event_loop()

    def _run(self, coro: Any) -> Any:
        try:
            return self._loop.run_until_complete(coro)
        except FileNotFoundError:
            raise click.ClickException(f"no log store at {self.where} (has `aigw serve` run with this data dir?)") from None

    def query(self, query: LogQuery) -> LogPage:
        """`LogStore.query`, waited for."""
        return self._run(self.store.query(query))

    def get(self, log_id: str) -> StoredLog | None:
        """`LogStore.get`, waited for."""
        return self._run(self.store.get(log_id))

    def close(self) -> None:
        """Release the store (its `aclose`, else `close`) and the loop."""
        close = getattr(self.store, "aclose", None) or getattr(self.store, "close", None)
        try:
            if close is not None:
                result = close()
                if inspect.isawaitable(result):
                    self._loop.run_until_complete(result)
        finally:
            self._loop.close()

    def __enter__(self) -> BlockingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(data_dir: Path | None, config_path: Path | None) -> BlockingStore:
    """The log store to read (see the module docstring), or a clear error when there is none."""
    if data_dir is not None:
        return BlockingStore(SqliteLogger(data_dir / LOGS_DB), str(data_dir / LOGS_DB))
    from aigw.commands.check_config import select_or_exit
    from aigw.commands.settings_option import load_settings_or_exit
    from aigw.components import build
    from aigw.plugins import PluginManager
    from aigw.types import PluginContext

    settings = load_settings_or_exit(config_path, log_warnings=False)
    selection = select_or_exit(settings)
    regs = PluginManager(settings.plugins.enabled).load().registries()
    for name in selection.loggers:
        ctx = PluginContext(name, settings.plugin_config.get(name, {}), settings, Path(settings.data_dir))
        logger = build(regs.loggers, name, ctx)
        if isinstance(logger, LogStore):
            where = str(getattr(logger, "path", None) or f"the {name!r} log store")
            return BlockingStore(logger, where)
    chosen = ", ".join(selection.loggers) or "none"
    raise click.ClickException(f"none of the configured loggers ({chosen}) can be queried; list a log store in [logs] stores")


def store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--data-dir and --config, shared by `aigw logs` and `aigw logs show`."""
    command = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML configuration naming the data dir. Default: $AIGW_CONFIG.",
    )(command)
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Read the SQLite store (logs.db) of this data directory. Default: the configured log store.",
    )(command)


# ---- parsing options -----------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: str, now: float | None = None) -> float:
    """Unix seconds from "10m"/"2h"/"7d" (that long ago), unix seconds, or ISO 8601 (UTC if
    no zone is given). Raises ValueError otherwise."""
    m = _DURATION.match(value)
    if m:
        return (time.time() if now is None else now) - float(m[1]) * _UNIT_SECONDS[m[2]]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a duration like 10m or 2h, a unix time, or an ISO 8601 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


class TimeParam(click.ParamType):
    """A click parameter for parse_time."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_time(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def parse_meta(pairs: tuple[str, ...]) -> dict[str, str]:
    """{"key": "value"} from ("key=value", ...); raises click.BadParameter on a missing "="."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--meta")
        out[key] = value
    return out


# ---- rendering -----------------------------------------------------------------------------

COLUMNS = (
    "TIME (UTC)", "STATUS", "PROVIDER", "MODEL", "TOKENS", "COST", "DURATION", "TTFB", "STEP", "CACHE", "EVENT ID",
    "LOG ID",
)  # fmt: skip
_MAX_CELL = 40


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}ms" if value < 10_000 else f"{value / 1000:.1f}s"


def format_cost(cost: float | None, custom: bool = False) -> str:
    """USD with 6 decimals ("$0.000450"), "*" after a client-set price, "-" when unknown."""
    return "-" if cost is None else f"${cost:.6f}" + ("*" if custom else "")


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 3] + "..."


def format_time(ts: float) -> str:
    """UTC "YYYY-MM-DD HH:MM:SS.mmm"."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def row_cells(r: StoredLog) -> tuple[str, ...]:
    """The listing's cells for one log, in COLUMNS order."""
    status = str(r.status) + ("" if r.success else " err") + (" cancelled" if r.cancelled else "")
    tokens = f"{'-' if r.tokens_in is None else r.tokens_in}/{'-' if r.tokens_out is None else r.tokens_out}"
    return (
        format_time(r.created_at),
        status,
        _clip(r.provider or "-"),
        _clip(r.model or "-"),
        tokens,
        format_cost(r.cost, r.custom_cost is not None),
        _ms(r.duration_ms),
        _ms(r.ttfb_ms),
        "-" if r.step is None else str(r.step),
        r.cache_status,
        _clip(r.event_id or "-"),
        r.log_id,
    )


def column_widths(rows: list[tuple[str, ...]]) -> list[int]:
    """Each column's width: its widest cell or title."""
    return [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]


def format_row(cells: tuple[str, ...], widths: list[int]) -> str:
    """Cells left-aligned to `widths`, two spaces apart; a wider cell pushes the rest right."""
    return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()


def _json_line(r: StoredLog, bodies: str = "omit") -> str:
    return orjson.dumps(record_to_dict(r, bodies=bodies)).decode()  # type: ignore[arg-type]


def follow(reader: Any, query: LogQuery, after: str | None, interval: float,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[list[StoredLog]]:
    """Forever: sleep `interval`, then yield the logs matching `query` stored after log id
    `after` (oldest first; possibly an empty list). `reader` has a blocking `query` (a
    BlockingStore, or a SqliteLogReader)."""  # fmt: skip
    while True:
        sleep(interval)
        page_query = LogQuery(**{**_fields(query), "order": "asc", "cursor": after, "limit": 1000})
        records = reader.query(page_query).records
        if records:
            after = records[-1].log_id
        yield records


def _fields(query: LogQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in LogQuery.__dataclass_fields__}


# ---- commands ------------------------------------------------------------------------------


@click.group("logs", invoke_without_command=True, short_help="Show, filter and follow request logs.")
@store_options
@click.option("--gateway", help="Only this gateway.")
@click.option("--provider", help="Only this provider (openai, anthropic, ...).")
@click.option("--model", help="Only this model.")
@click.option("--status", type=int, help="Only this HTTP status.")
@click.option("--errors", is_flag=True, help="Only failed requests.")
@click.option("--event-id", help="Only this event id.")
@click.option("--since", type=TimeParam(), help="Not before: 10m, 2h, 7d ago, a unix time or ISO 8601.")
@click.option("--until", type=TimeParam(), help="Before: same forms as --since.")
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Custom metadata entry (repeatable).")
@click.option("--cached/--uncached", default=None, help="Only cache hits / only misses.")
@click.option("-n", "--limit", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="How many recent logs.")  # fmt: skip
@click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing new logs as they are stored.")
@click.option("--interval", type=click.FloatRange(0.05), default=1.0, show_default=True,
              help="Seconds between polls with --follow.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of columns.")
@click.option("--summary", is_flag=True,
              help="Totals by provider and model (requests, errors, tokens, cost) of every matching log, not -n.")  # fmt: skip
@click.pass_context
def logs_command(ctx: click.Context, data_dir: Path | None, config_path: Path | None, gateway: str | None,
                 provider: str | None, model: str | None, status: int | None, errors: bool,
                 event_id: str | None, since: float | None, until: float | None, meta: tuple[str, ...],
                 cached: bool | None, limit: int, follow_: bool, interval: float, as_json: bool,
                 summary: bool) -> None:  # fmt: skip
    """Show the most recent request logs, oldest first, filtered; or `show LOG_ID` for one."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"data_dir": data_dir, "config_path": config_path}
        return
    query = LogQuery(
        gateway=gateway, provider=provider, model=model, status=status,
        success=False if errors else None, event_id=event_id, since=since, until=until,
        metadata=parse_meta(meta), cached=cached, limit=limit,
    )  # fmt: skip
    with open_store(data_dir, config_path) as reader:
        if summary:
            rows_ = summary_rows(summarize(reader, query))
            if as_json:
                for row_ in rows_:
                    click.echo(orjson.dumps(row_).decode())
            else:
                _print_summary(rows_)
            return
        records = list(reversed(reader.query(query).records))
        rows = [row_cells(r) for r in records]
        widths = column_widths(rows)
        if as_json:
            for r in records:
                click.echo(_json_line(r))
        else:
            click.echo(format_row(COLUMNS, widths))
            for row in rows:
                click.echo(format_row(row, widths))
            if not records and not follow_:
                click.echo("(no logs match)")
        if not follow_:
            return
        last = records[-1].log_id if records else None
        try:
            for batch in follow(reader, query, last, interval):
                for r in batch:
                    click.echo(_json_line(r) if as_json else format_row(row_cells(r), widths))
        except KeyboardInterrupt:
            pass


# ---- --summary ---------------------------------------------------------------------------------

SUMMARY_COLUMNS = ("PROVIDER", "MODEL", "REQUESTS", "ERRORS", "TOKENS IN", "TOKENS OUT", "COST", "UNPRICED")


def summarize(reader: Any, query: LogQuery) -> dict[tuple[str, str], dict[str, Any]]:
    """Totals by (provider, model) over every log matching `query` (paged through the store's
    query, so it works on every LogStore): requests, errors, tokens in/out, the sum of known
    costs, and how many requests had no known cost."""
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    page_query = LogQuery(**{**_fields(query), "order": "asc", "cursor": None, "limit": 10_000})
    while True:
        page = reader.query(page_query)
        for r in page.records:
            t = totals.setdefault((r.provider or "-", r.model or "-"), {"requests": 0, "errors": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0, "unpriced": 0})
            t["requests"] += 1
            t["errors"] += not r.success
            t["tokens_in"] += r.tokens_in or 0
            t["tokens_out"] += r.tokens_out or 0
            if r.cost is None:
                t["unpriced"] += 1
            else:
                t["cost"] += r.cost
        if page.next_cursor is None:
            return totals
        page_query.cursor = page.next_cursor


def summary_rows(totals: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per (provider, model), most expensive first, then a "total" row."""
    rows = [{"provider": p, "model": m, **t} for (p, m), t in totals.items()]
    rows.sort(key=lambda row: (-row["cost"], -row["requests"], row["provider"], row["model"]))
    if rows:
        keys = ("requests", "errors", "tokens_in", "tokens_out", "cost", "unpriced")
        rows.append({"provider": "total", "model": "", **{k: sum(row[k] for row in rows) for k in keys}})
    return rows


def _print_summary(rows: list[dict[str, Any]]) -> None:
    if not rows:
        click.echo("(no logs match)")
        return
    cells = [
        (row["provider"], row["model"], str(row["requests"]), str(row["errors"]), str(row["tokens_in"]),
         str(row["tokens_out"]), format_cost(row["cost"]), str(row["unpriced"]))
        for row in rows
    ]  # fmt: skip
    widths = [max(len(c[i]) for c in [SUMMARY_COLUMNS, *cells]) for i in range(len(SUMMARY_COLUMNS))]
    for c in [SUMMARY_COLUMNS, *cells]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(c, widths)).rstrip())


def _body_text(body: bytes, content_type: str | None) -> str | None:
    """The body as text when it is JSON or text, pretty-printing JSON; None when binary."""
    ct = (content_type or "").lower()
    if "json" in ct:
        try:
            return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
        except orjson.JSONDecodeError:
            pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _show_body(label: str, body: bytes | None, size: int | None, content_type: str | None) -> None:
    click.echo(f"\n--- {label} ({content_type or 'no content type'}) ---")
    if size is None:
        click.echo("(not collected)")
    elif body is None:
        click.echo(f"({size} bytes, not stored: over the size limit or dropped under load)")
    else:
        text = _body_text(body, content_type)
        click.echo(text if text is not None else f"({len(body)} bytes of binary data; --json gives base64)")


def _show_attempts(r: StoredLog) -> None:
    """One line per upstream try: step, try number, provider/model, status, duration, error."""
    click.echo(f"\n--- attempts ({len(r.attempts)}) ---")
    if not r.attempts:
        click.echo("(none: answered from the cache, refused before any upstream call, or not recorded)")
        return
    for a in r.attempts:
        who = f"{a.provider}/{a.model}" if a.model else a.provider
        outcome = "answered" if a.error is None else a.error
        click.echo(f"step {a.step} try {a.attempt}  {who}  status {a.status or '-'}  {_ms(a.duration_ms)}  {outcome}")


def _show_session(r: StoredLog) -> None:
    """A realtime session's stats: frames and bytes each way, how each side closed, resumptions."""
    s = r.session
    if s is None:
        return
    click.echo("\n--- realtime session ---")
    click.echo(f"client -> provider  {s.get('frames_in', 0)} frames  {s.get('bytes_in', 0)} bytes")
    click.echo(f"provider -> client  {s.get('frames_out', 0)} frames  {s.get('bytes_out', 0)} bytes")
    for side in ("client", "upstream"):
        code, reason = s.get(f"{side}_close_code"), s.get(f"{side}_close_reason")
        click.echo(f"{side} close  {'-' if code is None else code}{f' {reason}' if reason else ''}")
    click.echo(f"closed by  {s.get('closed_by') or '-'}")
    click.echo(f"resumptions  {s.get('resumptions', 0)}")
    known = {"frames_in", "bytes_in", "frames_out", "bytes_out", "client_close_code", "client_close_reason",
             "upstream_close_code", "upstream_close_reason", "closed_by", "resumptions"}
    for key, value in s.items():
        if key not in known:
            click.echo(f"{key}  {value}")


@logs_command.command("show")
@click.argument("log_id")
@store_options
@click.option("--json", "as_json", is_flag=True, help="The log as JSON, bodies in base64.")
@click.pass_context
def show_command(
    ctx: click.Context, log_id: str, data_dir: Path | None, config_path: Path | None, as_json: bool
) -> None:
    """Show one log with its request and response bodies."""
    parent = ctx.obj or {}
    with open_store(data_dir or parent.get("data_dir"), config_path or parent.get("config_path")) as reader:
        r = reader.get(log_id)
    if r is None:
        raise click.ClickException(f"no log with id {log_id}")
    if as_json:
        click.echo(_json_line(r, bodies="base64"))
        return
    d = record_to_dict(r)
    d["created_at"] = format_time(r.created_at) + " UTC"
    d["metadata"] = orjson.dumps(r.metadata).decode() if r.metadata else None
    width = max(len(k) for k in d)
    for key, value in d.items():
        if key.endswith("_body_size") or key.endswith("_content_type") or key in ("attempts", "session"):
            continue
        click.echo(f"{key.ljust(width)}  {'-' if value is None else value}")
    _show_attempts(r)
    _show_session(r)
    _show_body("request body", r.request_body, r.request_body_size, r.request_content_type)
    _show_body("response body", r.response_body, r.response_body_size, r.response_content_type)
