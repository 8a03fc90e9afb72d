"""Logging, configured once, at the entry point (the CLI, a worker, a service).

Two forms of the same records: human lines for a person at a terminal, JSON lines (one object a
line) for workers and services, whose logs a machine reads. A log file, when named, always gets
JSON lines, appended. Nothing below ``isnad/`` configures logging: modules only call
``logging.getLogger(__name__)``, and Scrapy is told not to install its own root handler.

Context travels as ``extra=``: ``log.info("captured", extra={"job_id": j, "capture_id": c})``
gives ``"job_id": ..., "capture_id": ...`` in a JSON line and ``job_id=... capture_id=...`` at
the end of a human one.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from archiver.errors import IsnadError

if TYPE_CHECKING:
    from rich.console import Console

    from isnad.config import LoggingSettings, Settings

LogMode = Literal["human", "json"]

# Libraries that are chatty below WARNING. They are held at WARNING unless the level is DEBUG,
# on the handlers too: Scrapy sets its own loggers to DEBUG whenever a crawler process starts.
THIRD_PARTY = ("scrapy", "scrapy_playwright", "twisted", "asyncio", "urllib3", "huey",
               "botocore", "boto3", "s3transfer", "filelock", "hpack", "httpx", "httpcore",
               "playwright", "apscheduler")
# Python warnings (deprecations in the libraries' APIs, mostly) speak to developers: shown at
# DEBUG only, not in an investigator's terminal or a worker's log.
DEVELOPER_ONLY = ("py.warnings",)
# Every handler this module installs carries this name, so the next call replaces it.
HANDLER_NAME = "isnad.logs"
# What every LogRecord has; anything else on a record came with ``extra=``.
_STANDARD = {*vars(logging.makeLogRecord({})), "message", "asctime", "taskName"}
_VALUES = (str, int, float, bool, type(None), list, tuple, dict, Path, datetime)


def utc_time(record: logging.LogRecord) -> str:
    """The record's moment in UTC, ISO 8601 with milliseconds and a Z."""
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields given with ``extra=`` (job_id, capture_id, url...), in the order given.

    Values only: an object whose text is its address in memory (Scrapy passes its crawler and
    spider with every record) says nothing in a log line, and is left out."""
    return {k: v for k, v in vars(record).items()
            if k not in _STANDARD and not k.startswith("_") and isinstance(v, _VALUES)}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": utc_time(record), "level": record.levelname,
                                 "logger": record.name, "message": record.getMessage()}
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)  # an extra never overwrites the four fields above
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a Path, a datetime or an enum in extra= is written, not a crash.
        return json.dumps(entry, ensure_ascii=False, default=str)


class HumanFormatter(logging.Formatter):
    """``2026-12-01T08:00:00.123Z WARNING isnad.app: message  job_id=...`` (the time and level
    left out when a Rich handler shows them itself)."""

    def __init__(self, *, prefix: bool = True) -> None:
        super().__init__()
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        extras = extra_fields(record)
        if extras:
            text += "  " + " ".join(f"{k}={v}" for k, v in extras.items())
        if self.prefix:
            text = f"{utc_time(record)} {record.levelname} {record.name}: {text}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _QuietLibraries(logging.Filter):
    """Drops third-party records below WARNING, and Python warnings (unless at DEBUG)."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        if self.debug:
            return True
        if record.name in DEVELOPER_ONLY:
            return False
        return record.levelno >= logging.WARNING or not any(
            record.name == name or record.name.startswith(name + ".") for name in THIRD_PARTY)


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}: DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return number


def _terminal_handler(mode: LogMode, console: Console | None) -> logging.Handler:
    if mode == "json":
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLinesFormatter())
    elif console.is_terminal if console is not None else sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        # The CLI's own console, when given: log lines then print above its progress display.
        handler = RichHandler(console=console or Console(stderr=True), show_path=False,
                              markup=False, rich_tracebacks=False, log_time_format="%H:%M:%S")
        handler.setFormatter(HumanFormatter(prefix=False))
    else:  # human lines into a pipe or a file: plain, one line each, with the UTC time
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(HumanFormatter())
    return handler


def configure_logging(mode: LogMode = "human", level: str | int = "WARNING",
                      file: Path | None = None, *, console: Console | None = None) -> None:
    """Set up logging for this process: replaces what an earlier call installed.

    ``mode``: "human" (Rich on a terminal, plain lines elsewhere) or "json" (JSON lines), on
    stderr (through ``console``, a Rich console on stderr, when given). ``file``: also append
    JSON lines there (its folder is created). Third-party loggers stay at WARNING unless
    ``level`` is DEBUG. A file that cannot be opened raises IsnadError, before anything changes.
    """
    if mode not in ("human", "json"):
        raise ValueError(f"unknown log format {mode!r}: human or json")
    number = _level(level)
    debug = number <= logging.DEBUG
    handlers = [_terminal_handler(mode, console)]
    if file is not None:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            # Watched: a file moved away by logrotate is reopened. Opened for appending
            # (O_APPEND), one write per record: a worker and its capture processes can share it.
            logged = logging.handlers.WatchedFileHandler(file, mode="a", encoding="utf-8")
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(file) \
                else ""
            raise IsnadError(f"cannot open the log file {file}: {exc.strerror or exc}{where}"
                             ) from exc
        logged.setFormatter(JsonLinesFormatter())
        handlers.append(logged)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.set_name(HANDLER_NAME)
        handler.setLevel(number)
        handler.addFilter(_QuietLibraries(debug))
        root.addHandler(handler)
    root.setLevel(number)
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)
    logging.captureWarnings(True)  # Python warnings become records (py.warnings), not stray lines


def resolve_mode(setting: str, *, service: bool = False) -> LogMode:
    """The form for a ``[logging] format`` setting: "auto" is JSON lines for a worker or a
    service (``service=True``), human lines for a command a person runs."""
    if setting == "auto":
        return "json" if service else "human"
    if setting not in ("human", "json"):
        raise ValueError(f"unknown log format {setting!r}: auto, human or json")
    return setting  # type: ignore[return-value]


def configure_from_settings(settings: LoggingSettings, home: Path, *, service: bool = False,
                            debug: bool = False, file: Path | None = None,
                            console: Console | None = None) -> None:
    """Configure logging from the ``[logging]`` section. ``debug`` (``--debug``) means DEBUG;
    ``file`` (a ``--log-file`` option) wins over ``logging.file``; a relative file is taken
    inside the data folder ``home``."""
    target = file or settings.file
    if target is not None and not target.is_absolute() and file is None:
        target = home / target
    try:
        configure_logging(resolve_mode(settings.format, service=service),
                          "DEBUG" if debug else settings.level, target, console=console)
    except IsnadError as exc:
        if file is not None:
            raise
        raise IsnadError(f"{exc} (named by logging.file, ISNAD_LOGGING__FILE)") from exc


def configure_for_cli(config_file: Path | None, *, debug: bool,
                      console: Console | None = None) -> Settings | None:
    """What the CLI's entry point calls before any command: the ``[logging]`` settings of
    ``config_file``. Settings that do not load leave the defaults: the command itself then
    reports them, as one clear error, instead of this call. The settings loaded (None: they
    do not load), for the command to use rather than load them a second time."""
    from isnad.config import LoggingSettings, load_settings

    settings: Settings | None
    try:
        settings = load_settings(config_file)
        section, home = settings.logging, settings.home
    except IsnadError:
        settings, section, home = None, LoggingSettings(), Path(".")
    configure_from_settings(section, home, debug=debug, console=console)
    return settings


__all__ = ["HANDLER_NAME", "THIRD_PARTY", "HumanFormatter", "JsonLinesFormatter", "LogMode",
           "configure_for_cli", "configure_from_settings", "configure_logging", "resolve_mode"]
