"""The ``isnad`` command: a thin layer that parses arguments and calls the library."""

# No `from __future__ import annotations` here: Typer reads each command's annotations with
# typing.get_type_hints, which compiles every string annotation again at each start. Names
# known only to type checkers (TYPE_CHECKING below) are quoted instead.
import copy
import html
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

# Typer 0.29 carries its own copy of Click: its exceptions are not the `click` package's.
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from isnad import __version__
from isnad.app import CaptureRefused, CaptureState, IsnadError, JobState, records
from isnad.logs import configure_for_cli, configure_from_settings

if TYPE_CHECKING:
    # The use cases are imported by the commands that run them, not here: `isnad --help` and
    # `isnad list` must not pay for Scrapy, Playwright, yt-dlp, boto3 or the signing code
    # (tests/test_fixed_costs.py, tests/test_cli_scale.py).
    from rich.progress import Progress

    from isnad.app.archive import Archive
    from isnad.app.jobs import JobSpec
    from isnad.app.proof import VerificationReport
    from isnad.app.runtime import JobRow, Runtime, Watch
    from isnad.app.worker import LocalRun
    from isnad.config import Settings

app = typer.Typer(
    help="Isnad: capture web pages as evidence, store them, and prove they are unaltered.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    # Click's plain help: Typer's Rich panels import Markdown and Pygments (a third of
    # `isnad --help`'s start, issue 17's 0.25 s); every subcommand's help follows this one.
    rich_markup_mode=None,
)
# soft_wrap: a line is never broken at the console's width (80 when not a terminal), so an
# error or a result stays one line in a log or a pipe.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

_state: dict[str, Any] = {"debug": False, "config": None, "settings": None}


class Scope(StrEnum):
    page = "page"
    host = "host"
    domain = "domain"


class State(StrEnum):
    COMPLETE = "COMPLETE"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    RUNNING = "RUNNING"


def _settings() -> "Settings":
    from isnad.config import load_settings

    # Loaded once a command: the entry point's logging set-up already read them.
    if _state.get("settings") is None:
        _state["settings"] = load_settings(_state["config"])
    return _state["settings"]


def _archive(settings: "Settings | None" = None, *, recover: bool = True) -> "Archive":
    """The archive, after its folders are made (a folder that cannot be is one clear line)."""
    from isnad.app.archive import open_archive
    return open_archive(settings or _settings(), recover=recover)


def _emit_json(data: Any) -> None:
    """JSON on stdout, never wrapped or coloured (a script reads it)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _progress(console: Console, *columns: Any) -> "Progress":
    """Spinners that vanish when done, and are not drawn at all into a log or a pipe (where
    they would only leave blank lines)."""
    from rich.progress import Progress
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


def _show_version(value: bool) -> None:
    if value:
        out.print(f"isnad {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    _state["config"] = config
    _state["debug"] = debug
    _state["settings"] = configure_for_cli(config, debug=debug, console=err)


@app.command()
def version() -> None:
    """Print Isnad's version."""
    out.print(f"isnad {__version__}", highlight=False)


def _job_template(settings: "Settings", *, case: str | None, tag: list[str] | None,
                  note: str | None, operator: str | None, depth: int | None,
                  scope: Scope | None, no_browser: bool, posts: int | None,
                  priority: int | None, processes: int | None = None) -> "JobSpec":
    from isnad.app.jobs import JobSpec
    return JobSpec(url="", operator=operator or settings.effective_operator(), case_id=case,
                   tags=tuple(tag or ()), note=note, source="cli", priority=priority,
                   use_browser=not no_browser, depth=depth, processes=processes,
                   scope=scope.value if scope else None, posts=posts)


def _specs(urls: list[str] | None, input_file: str | None, template: "JobSpec"
           ) -> "list[JobSpec]":
    """The jobs asked for: URLs (``-``: read them from stdin) and/or a batch file. A bad line
    of a batch is said with its number; the good lines still go in. A bad URL given as an
    argument is a usage error: nothing is queued."""
    from isnad.app.jobs import JobSpec
    from isnad.app.runtime import read_batch
    urls = list(urls or [])
    sources = ([input_file] if input_file else []) + (["-"] if "-" in urls else [])
    specs: list[JobSpec] = []
    for url in (u for u in urls if u != "-"):
        spec = JobSpec(**{**template.to_dict(), "url": url})
        try:
            spec.check()
        except CaptureRefused as exc:
            raise typer.BadParameter(str(exc), param_hint="'URL...'") from exc
        specs.append(spec)
    for source in sources:
        good, bad = read_batch(source, template)
        for problem in bad:
            err.print(f"[yellow]skipped[/yellow] {escape(source)} {escape(str(problem))}",
                      highlight=False)
        _state["batch_problems"] = _state.get("batch_problems", 0) + len(bad)
        specs.extend(good)
    if not specs:
        raise typer.BadParameter("no URL to capture: give URLs, `-` (stdin) or -i FILE",
                                 param_hint="URL")
    return specs


_URLS = Annotated[list[str] | None, typer.Argument(
    help="http(s) URLs, each its own package; `-` reads them from stdin", metavar="URL...")]
_INPUT = Annotated[str | None, typer.Option(
    "--input", "-i", help="a batch file: one URL a line (# comments), or a CSV with a header "
    "(url; optional case, tags, note, priority); `-` for stdin")]
_CASE = Annotated[str | None, typer.Option("--case", help="case identifier")]
_TAG = Annotated[list[str] | None, typer.Option("--tag", help="tag (repeatable)")]
_NOTE = Annotated[str | None, typer.Option("--note", help="free-text note")]
_OPERATOR = Annotated[str | None, typer.Option("--operator", help="who asks; default: OS user")]
_DEPTH = Annotated[int | None, typer.Option("--depth", min=0, help="follow links N deep")]
_SCOPE = Annotated[Scope | None, typer.Option("--scope", help="which links to follow")]
_PROCESSES = Annotated[int | None, typer.Option(
    "--processes", min=1, max=32, help="with --depth: processes that read the pages together, "
    "into one package (default: capture.processes)")]
_NO_BROWSER = Annotated[bool, typer.Option("--no-browser", help="plain HTTP, no Chromium")]
_POSTS = Annotated[int | None, typer.Option(
    "--posts", min=1, help="a channel or profile URL: also capture its N latest posts")]
_PRIORITY = Annotated[int | None, typer.Option(
    "--priority", min=0, max=100, help="higher runs sooner (default: 30 for a person, "
    "20 for a monitor, 10 for an import)")]


@app.command()
def submit(
    urls: _URLS = None, input_file: _INPUT = None, case: _CASE = None, tag: _TAG = None,
    note: _NOTE = None, operator: _OPERATOR = None, depth: _DEPTH = None, scope: _SCOPE = None,
    no_browser: _NO_BROWSER = False, posts: _POSTS = None, priority: _PRIORITY = None,
    processes: _PROCESSES = None,
    as_json: Annotated[bool, typer.Option("--json", help="the jobs as JSON")] = False,
) -> None:
    """Queue URLs for capture and return at once with their job ids (a worker captures them:
    `isnad worker`). Exit status 1 when a line of a batch file was skipped."""
    from isnad.app.runtime import Runtime
    settings = _settings()
    specs = _specs(urls, input_file, _job_template(
        settings, case=case, tag=tag, note=note, operator=operator, depth=depth, scope=scope,
        no_browser=no_browser, posts=posts, priority=priority, processes=processes))
    runtime = Runtime(settings, _archive(settings, recover=False))
    rows = runtime.submit(specs)
    if as_json:
        _emit_json([runtime.record(row) for row in rows])
    else:
        for row in rows:
            out.print(f"queued {row.id}  {escape(row.url)}", highlight=False)
        if not runtime.workers():
            err.print("no worker is running: start one with `isnad worker`", highlight=False)
    raise typer.Exit(1 if _state.get("batch_problems") else 0)


@app.command()
def capture(
    urls: _URLS = None, input_file: _INPUT = None, case: _CASE = None, tag: _TAG = None,
    note: _NOTE = None, operator: _OPERATOR = None, depth: _DEPTH = None, scope: _SCOPE = None,
    no_browser: _NO_BROWSER = False, posts: _POSTS = None, priority: _PRIORITY = None,
    processes: _PROCESSES = None,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c", min=1, max=64, help="captures at once when no worker runs "
        "(default: worker.concurrency)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print every result as one JSON list "
                                          "at the end")] = False,
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="print each result as one JSON line "
                                           "as soon as it is finished")] = False,
    pages: Annotated[bool, typer.Option("--pages", help="with --json/--jsonl: include the list "
                                        "of pages crawled (always in the package)")] = False,
) -> None:
    """Capture URLs as evidence packages (WACZ), stored and catalogued, and wait for them.

    The captures are queued as jobs: a running worker takes them; with none, this command runs
    them itself, N at a time. Exit status: 0 when every capture is COMPLETE and stored, 1 when
    one is PARTIAL or waits for storage, 2 when one FAILED, 130 when interrupted.
    """
    from isnad.app.archive import signing_key
    from isnad.app.capture import check_free_space
    from isnad.app.runtime import Runtime
    if as_json and as_jsonl:
        raise typer.BadParameter("give --json or --jsonl, not both", param_hint="'--jsonl'")
    settings = _settings()
    specs = _specs(urls, input_file, _job_template(
        settings, case=case, tag=tag, note=note, operator=operator, depth=depth, scope=scope,
        no_browser=no_browser, posts=posts, priority=priority, processes=processes))
    archive = _archive(settings)
    runtime = Runtime(settings, archive)
    check_free_space(settings, archive)
    # The key is opened before anything is queued: a locked or exposed key stops here.
    signing_key(settings, create=True)
    rows = runtime.submit(specs)
    workers = runtime.workers()
    local = None if workers else runtime.run_here(rows, concurrency)
    view = _CaptureView(archive, [r.id for r in rows], "json" if as_json else "jsonl" if as_jsonl
                        else "human", pages=pages)
    if workers:
        err.print(f"queued {len(rows)} job(s); {len(workers)} worker(s) running will capture "
                  "them", highlight=False)
    try:
        with view.progress:
            for seen in runtime.watch([r.id for r in rows]):
                view.update(seen)
                if seen.pending:
                    time.sleep(0.25)
    except KeyboardInterrupt:
        view.progress.stop()
        _interrupted(runtime, local, rows)
        raise typer.Exit(130) from None
    finally:
        if local is not None:
            local.close()
    view.close()
    _capture_exit(view)


def _interrupted(runtime: "Runtime", local: "LocalRun | None", rows: "list[JobRow]") -> None:
    """Ctrl-C: say what was done, what still waits, what was abandoned, and how to go on."""
    queued, abandoned = local.abandon() if local else ([], [])
    for row in rows:
        row = runtime.job(row.id)
        if row.id in abandoned:
            what = "abandoned (its capture was stopped and recorded as FAILED)"
        elif row.state in (JobState.QUEUED, JobState.RUNNING):
            what = f"still {row.state}" + (" (a worker will run it)" if row.id in queued
                                            or local is None else "")
        else:
            what = row.state
        err.print(f"{row.id}  {escape(row.url)}: {what}", highlight=False)
    err.print("interrupted. Queued jobs run when a worker starts (`isnad worker`); run an "
              "abandoned one again with `isnad jobs retry ID`.", highlight=False)


def _capture_exit(view: "_CaptureView") -> None:
    states = {row.state for row in view.done.values()}
    if view.failed_jobs or not states <= {CaptureState.COMPLETE, CaptureState.PARTIAL}:
        raise typer.Exit(2)
    pending = any(row.package_key and not records.package_stored(row) for row in view.done.values())
    raise typer.Exit(0 if states <= {CaptureState.COMPLETE} and not pending else 1)


class _CaptureView:
    """What `isnad capture` shows: one spinner per running job, each result as it ends.

    Results go through the console the spinners draw on, so they never garble each other;
    with --json/--jsonl stdout carries JSON only and the spinners go to stderr.
    """

    def __init__(self, archive: Any, job_ids: list[str], mode: str, *, pages: bool = False
                 ) -> None:
        from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
        self.archive = archive
        self.pages = pages  # the page list in each JSON result
        self.expected = len(job_ids)
        self.mode = mode
        console = out if mode == "human" else err
        self.progress = _progress(console, SpinnerColumn(), TextColumn("{task.description}"),
                                  TimeElapsedColumn())
        self.tasks: dict[str, TaskID] = {}
        self.counts: dict[str, int] = {}  # captures each job has made so far
        self.done: dict[str, Any] = {}
        self.failed_jobs: list[JobRow] = []
        self.json_records: dict[str, dict[str, Any]] = {}
        # Results are listed (--json, the summary) in the order asked for: by job, then by
        # capture id (a channel first, then its posts as listed), whatever order they ended in.
        self.job_order = {job_id: i for i, job_id in enumerate(job_ids)}
        self.place: dict[str, tuple[int, str]] = {}

    @property
    def total(self) -> int:
        # --posts adds captures as a channel's list is read: the total grows with them.
        return self.expected + sum(n - 1 for n in self.counts.values() if n > 1)

    def update(self, seen: "Watch") -> None:
        for job in seen.finished_jobs:
            self._stop_spinner(job.id)
        for capture_row, job_id in seen.finished_captures:
            self.finished(capture_row, job_id)
        for row in seen.running:
            self.running(row)
        for job in seen.finished_jobs:
            if job.state == JobState.FAILED and job.id not in {f.id for f in self.failed_jobs}:
                self.failed_jobs.append(job)
                self.progress.console.print(
                    f"[red]job failed[/red] {escape(job.url)}  [dim]{job.id}[/dim]\n"
                    f"  - {escape(job.error or 'no reason recorded')}", highlight=False)
        seen.finished_jobs.clear()

    def running(self, job: "JobRow") -> None:
        p = job.progress or {}
        self.counts[job.id] = int(p.get("captures") or 1)
        if p.get("capture") in self.done:
            # Its capture's result is printed: no frame may show it spinning any more.
            self._stop_spinner(job.id)
            return
        shown = _middle(p.get("url") or job.url, 60)
        description = (f"{escape(shown)}  [dim]{p.get('stage', 'starting')}, "
                       f"{p.get('exchanges', 0)} exchanges, {p.get('bytes', 0) / 1e6:.1f} MB, "
                       f"{p.get('pages', 0)} page(s)[/dim]")
        if job.id not in self.tasks:
            self.tasks[job.id] = self.progress.add_task(description, total=None)
        else:
            self.progress.update(self.tasks[job.id], description=description)

    def _stop_spinner(self, job_id: str) -> None:
        task = self.tasks.pop(job_id, None)
        if task is not None:
            self.progress.remove_task(task)

    def finished(self, row: Any, job_id: str) -> None:
        self.done[row.id] = row
        self.place[row.id] = (self.job_order.get(job_id, len(self.job_order)), row.id)
        self._stop_spinner(job_id)
        # Redraw now: what is printed next would otherwise carry the last frame.
        self.progress.refresh()
        if self.mode == "jsonl":
            sys.stdout.write(json.dumps(records.capture_result(row, pages=self._pages(row)),
                                        ensure_ascii=False, default=str) + "\n")
            sys.stdout.flush()
        elif self.mode == "json":
            self.json_records[row.id] = records.capture_result(row, pages=self._pages(row))
        else:
            _print_result(self.progress.console, row, f"{len(self.done)}/{self.total}")

    def _pages(self, row: Any) -> list[dict[str, Any]] | None:
        """The capture's page list when --pages asked for it (read from the catalog)."""
        return self.archive.catalog.pages(row.id) if self.pages else None

    def close(self) -> None:
        """The JSON list, or a summary table when there were several captures."""
        from rich.table import Table
        ordered = sorted(self.done, key=self.place.__getitem__)
        if self.mode == "json":
            _emit_json([self.json_records[capture_id] for capture_id in ordered])
        elif self.mode == "human" and len(self.done) + len(self.failed_jobs) > 1:
            short = self.archive.catalog.unique_prefixes(list(self.done))
            id_width = max([len(v) for v in short.values()] + [36])
            table = Table("url", "state", "id", title="Summary", title_justify="left")
            width = max(20, out.width - id_width - 8 - 10)  # 10: the borders and padding
            for row in (self.done[capture_id] for capture_id in ordered):
                table.add_row(escape(_middle(row.url, width)), _state_markup(row.state),
                              short[row.id])
            for job in self.failed_jobs:
                table.add_row(escape(_middle(job.url, width)), "[red]JOB FAILED[/red]",
                              f"job {job.id}")
            out.print(table)


def _state_markup(state: str) -> str:
    colour = {"COMPLETE": "green", "PARTIAL": "yellow", "RUNNING": "blue"}.get(state, "red")
    return f"[{colour}]{state}[/{colour}]"


def _print_result(console: Console, row: Any, counter: str) -> None:
    console.print(f"[dim]\\[{counter}][/dim] {_state_markup(row.state)} "
                  f"{escape(row.url)}  [dim]{row.id}[/dim]", highlight=False)
    for reason in row.reasons or []:
        console.print(f"  - {escape(reason)}", highlight=False)
    failed = records.failed_subresources(row)
    if failed:
        console.print(f"  failed subresources ({len(failed)}):", highlight=False)
        for entry in failed[:_SHOWN_FAILURES]:
            console.print(f"    {escape(entry.get('url', '?'))}  "
                          f"[dim]{escape(str(entry.get('error', '?')))}[/dim]", highlight=False)
        if len(failed) > _SHOWN_FAILURES:
            console.print(f"    … and {len(failed) - _SHOWN_FAILURES} more: "
                          f"isnad show {row.id} --json", highlight=False)
    if row.package_key:
        console.print(f"  package  {escape(str(row.package_location))}\n"
                      f"  sha256   {row.package_sha256}", highlight=False)
        if records.package_stored(row) is False:
            console.print("  [yellow]storage pending[/yellow]: a target could not take the "
                          "package; it is kept in the local spool until `isnad storage sync` "
                          "succeeds", highlight=False)


# More would bury the result; the full list is in the record (`isnad show ID --json`).
_SHOWN_FAILURES = 20


# -- the queue: jobs and workers ----------------------------------------------------------
jobs_app = typer.Typer(help="Capture jobs: what waits, what runs where, what failed and why.",
                       no_args_is_help=False, invoke_without_command=True)
app.add_typer(jobs_app, name="jobs")


class JobStateOption(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


@jobs_app.callback()
def jobs_list(
    ctx: typer.Context,
    state: Annotated[list[JobStateOption] | None, typer.Option(
        "--state", help="only jobs in this state (repeatable)")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="newest N jobs")] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List jobs, newest first (`isnad jobs show|cancel|retry ID` for one)."""
    from rich.table import Table
    if ctx.invoked_subcommand is not None:
        return
    from isnad.app.runtime import Runtime
    settings = _settings()
    runtime = Runtime(settings, _archive(settings, recover=False))
    rows = runtime.jobs(tuple(s.value for s in state or ()), limit)
    if as_json:
        _emit_json([runtime.record(row) for row in rows])
        return
    if not rows:
        out.print("no jobs")
        return
    table = Table("job", "state", "pri", "url", "where / why", "created (UTC)")
    for row in rows:
        p = row.progress or {}
        if row.state == JobState.RUNNING and p.get("stage") == "importing":
            why = (f"{row.worker}: importing, {p.get('files_done', 0)}/{p.get('files', 0)} "
                   f"files, {p.get('bytes', 0)}/{p.get('total_bytes', 0)} bytes")
        elif row.state == JobState.RUNNING:
            why = f"{row.worker}: {p.get('stage', '')}, {p.get('exchanges', 0)} exchanges"
        elif row.state == JobState.FAILED:
            why = row.error or ""
        elif row.state == JobState.DONE:
            results = p.get("results") or {}
            why = ", ".join(sorted(set(results.values()))) or ""
        else:
            why = row.error or ""
        table.add_row(row.id, row.state, str(row.priority), escape(_middle(row.url, 50)),
                      escape(_middle(why, 60)), records.utc_iso(row.created_at)[:19])
    out.print(table)


@jobs_app.command("show")
def jobs_show(job_id: Annotated[str, typer.Argument(help="job id or unique prefix")],
              as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One job: what was asked, its attempts, its captures."""
    from isnad.app.runtime import Runtime
    settings = _settings()
    runtime = Runtime(settings, _archive(settings, recover=False))
    record = runtime.record(runtime.job(job_id))
    if as_json:
        _emit_json(record)
        return
    for key in ("id", "url", "state", "priority", "source", "operator", "case", "tags",
                "attempts", "created_at", "started_at", "ended_at", "worker", "error"):
        if record.get(key) not in (None, [], ""):
            out.print(f"{key:11} {escape(str(record[key]))}", highlight=False)
    if record["progress"]:
        out.print(f"{'progress':11} {escape(json.dumps(record['progress']))}", highlight=False)
    for capture_id in record["captures"]:
        out.print(f"{'capture':11} {capture_id}", highlight=False)
    for entry in record["history"]:
        out.print(f"{'attempt':11} #{entry.get('attempt')} {entry.get('outcome')} on "
                  f"{entry.get('worker')} {entry.get('ended_at')}"
                  + (f": {escape(entry['error'])}" if entry.get("error") else ""),
                  highlight=False)


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[str, typer.Argument(help="job id or unique prefix")]
                ) -> None:
    """Cancel a queued job; stop a running one (its capture is recorded as FAILED)."""
    from isnad.app.runtime import Runtime
    settings = _settings()
    runtime = Runtime(settings, _archive(settings, recover=False))
    row = runtime.job(job_id)
    if JobState(row.state).final:
        _error(f"job {row.id} is already {row.state}: nothing to cancel")
        raise typer.Exit(1)
    state = runtime.cancel(row.id)
    if state == JobState.CANCELLED:
        out.print(f"cancelled {row.id}", highlight=False)
    elif state == JobState.RUNNING:
        out.print(f"asked the worker running {row.id} to stop it", highlight=False)
    else:
        _error(f"job {row.id} is already {state}: nothing to cancel")
        raise typer.Exit(1)


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[str, typer.Argument(help="job id or unique prefix")]) -> None:
    """Queue a failed, cancelled or done job again (a new attempt; earlier ones are kept)."""
    from isnad.app.runtime import Runtime
    settings = _settings()
    runtime = Runtime(settings, _archive(settings, recover=False))
    row = runtime.retry(job_id)
    out.print(f"queued {row.id} again (attempt {row.attempts + 1})", highlight=False)


monitor_app = typer.Typer(help="Channels, web pages and feeds watched on a schedule: each new "
                          "post or item captured once.",
                          no_args_is_help=True)
app.add_typer(monitor_app, name="monitor")
_MONITOR_ID = Annotated[str, typer.Argument(help="monitor id or unique prefix")]


@monitor_app.command("add")
def monitor_add(
    url: Annotated[str, typer.Argument(
        help="a platform channel or profile, or any http(s) web page or feed (RSS, Atom, "
        "sitemap)")],
    every: Annotated[str | None, typer.Option(
        "--every", help="run every 90s, 15m, 2h, 7d… (default: 1h)")] = None,
    cron: Annotated[str | None, typer.Option(
        "--cron", help='run on a crontab line instead, e.g. "0 */2 * * *" (UTC)')] = None,
    jitter: Annotated[str | None, typer.Option(
        "--jitter", help="move each run by up to this much (e.g. 2m)")] = None,
    case: _CASE = None, tag: _TAG = None, note: _NOTE = None, operator: _OPERATOR = None,
    posts: Annotated[int | None, typer.Option(
        "--posts", min=1, help="posts listed a run (default: platforms.posts)")] = None,
    recheck: Annotated[str | None, typer.Option(
        "--recheck", help="recheck posts first seen within this window, e.g. 7d")] = None,
    no_browser: _NO_BROWSER = False,
    webhook: Annotated[str | None, typer.Option(
        "--webhook", help="also POST this monitor's alerts here (signed JSON)")] = None,
    webhook_secret_env: Annotated[str | None, typer.Option(
        "--webhook-secret-env", help="the environment variable holding that webhook's HMAC "
        "secret (default: the [alerts] secret)")] = None,
    scope: Annotated[str | None, typer.Option(
        "--scope", help="web pages and feeds: which links are items: 'host' (a page's own "
        "host; the default for a page), a URL prefix (https://…), or 'regex:PATTERN'; a "
        "feed's or sitemap's entries are all items unless a scope is given")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Watch a channel or profile, or a web page or feed: each run lists it and captures
    every post (entry, URL, link) not seen before.

    A URL no platform module lists as a channel is a web page or feed: each run captures it
    and reads what was recorded: an RSS 2.0 / RSS 1.0 / Atom feed (its entries), a sitemap
    or sitemap index (its URLs), or an HTML page (its links within --scope). The type is
    read from the document (content type, root element), not from the URL.
    """
    from isnad.app import monitors
    settings = _settings()
    row = monitors.add_monitor(
        settings, _archive(settings, recover=False), url,
        operator=operator or settings.effective_operator(), every=every, cron=cron,
        jitter=jitter, case_id=case, tags=tuple(tag or ()), note=note, posts=posts,
        recheck=recheck, use_browser=not no_browser, webhook=webhook,
        webhook_secret_env=webhook_secret_env, scope=scope)
    if as_json:
        _emit_json(monitors.monitor_record(row, 0))
        return
    when = f"every {row.every}s" if row.every else f"cron {row.cron}"
    out.print(f"monitor {row.id}  {escape(row.url)}  ({row.platform or row.kind}, {when})",
              highlight=False)


@monitor_app.command("list")
def monitor_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every monitor, its schedule and how it fares."""
    from rich.table import Table

    from isnad.app import monitors
    settings = _settings()
    archive = _archive(settings, recover=False)
    rows = [monitors.show_monitor(settings, archive, row.id, runs=1)
            for row in monitors.list_monitors(settings, archive)]
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        out.print("no monitors")
        return
    table = Table("monitor", "url", "schedule", "posts seen", "last run", "state")
    for row in rows:
        last = row["runs"][0] if row["runs"] else None
        state = "paused" if row["paused"] else ("FLAGGED: failing" if row["flagged"] else
                                                 "active")
        table.add_row(row["id"], escape(_middle(row["url"], 50)),
                      f"every {row['every']}s" if row["every"] else f"cron {row['cron']}",
                      str(row["posts_seen"]),
                      f"{(last['started_at'] or '')[:19]} {last['state'] or 'running'}"
                      if last else "never", state)
    out.print(table)


@monitor_app.command("show")
def monitor_show(monitor_id: _MONITOR_ID,
                 as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One monitor and its recent runs."""
    from isnad.app import monitors
    settings = _settings()
    shown = monitors.show_monitor(settings, _archive(settings, recover=False), monitor_id)
    if as_json:
        _emit_json(shown)
        return
    for key in ("id", "url", "kind", "platform", "scope", "every", "cron", "jitter", "case",
                "tags", "note",
                "posts", "recheck", "operator", "paused", "flagged", "failures", "posts_seen",
                "last_run_at", "webhook", "webhook_secret_env"):
        out.print(f"{key:12} {escape(str(shown[key]))}", highlight=False)
    for run in shown["runs"]:
        out.print(f"run {run['id']}  {(run['started_at'] or '')[:19]}  "
                  f"{run['state'] or 'running'}  listed {run['listed']}, new {run['new_posts']}"
                  + "".join(f"\n    note: {escape(n)}" for n in run["notes"]), highlight=False)


def _set_paused(monitor_id: str, paused: bool) -> None:
    from isnad.app import monitors
    settings = _settings()
    row = monitors.set_paused(settings, _archive(settings, recover=False), monitor_id, paused)
    out.print(f"monitor {row.id} {'paused' if paused else 'resumed'}", highlight=False)


@monitor_app.command("pause")
def monitor_pause(monitor_id: _MONITOR_ID) -> None:
    """Stop scheduling a monitor's runs (it keeps what it saw)."""
    _set_paused(monitor_id, True)


@monitor_app.command("resume")
def monitor_resume(monitor_id: _MONITOR_ID) -> None:
    """Schedule a paused or flagged monitor again (its failure count starts over)."""
    _set_paused(monitor_id, False)


@monitor_app.command("remove")
def monitor_remove(monitor_id: _MONITOR_ID) -> None:
    """Stop watching a channel; its posts, runs and captures stay on record."""
    from isnad.app import monitors
    settings = _settings()
    row = monitors.remove_monitor(settings, _archive(settings, recover=False), monitor_id)
    out.print(f"monitor {row.id} removed (its posts and captures are kept)", highlight=False)


@monitor_app.command("run")
def monitor_run(
    monitor_id: _MONITOR_ID,
    wait: Annotated[bool, typer.Option(
        "--wait", help="wait for the run and its new posts' captures (run here when no "
        "worker is up)")] = False,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c", min=1, max=64, help="captures at once when run here")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run a monitor now: queue its run (a worker runs it), or with --wait see it through.
    Exit status with --wait: 0 COMPLETE, 1 PARTIAL, 2 FAILED."""
    from isnad.app import monitors
    from isnad.app.archive import signing_key
    from isnad.app.runtime import Runtime
    settings = _settings()
    archive = _archive(settings)
    if not wait:
        run_id = monitors.start_run(settings, archive, monitor_id)
        if as_json:
            _emit_json({"run": run_id, "job": run_id})
        else:
            out.print(f"queued run {run_id}", highlight=False)
            if not Runtime(settings, archive).workers():
                err.print("no worker is running: start one with `isnad worker` (or use "
                          "--wait)", highlight=False)
        return
    signing_key(settings, create=True)
    done = monitors.run_and_wait(settings, archive, monitor_id, concurrency=concurrency)
    run = monitors.monitor_run_record(done.run)
    if as_json:
        _emit_json({**run, "jobs": [records.job_record(j, []) for j in done.jobs]})
    else:
        out.print(f"run {run['id']}: {run['state']}, listed {run['listed']}, "
                  f"new {run['new_posts']}", highlight=False)
        for note in run["notes"]:
            out.print(f"  note: {escape(note)}", highlight=False)
        for job in done.jobs:
            out.print(f"  {job.state:9} {escape(job.url)}", highlight=False)
    raise typer.Exit({CaptureState.COMPLETE: 0, CaptureState.PARTIAL: 1}.get(run["state"], 2))


@monitor_app.command("timeline")
def monitor_timeline(monitor_id: _MONITOR_ID,
                     as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Post by post: when first and last seen, each capture and its state, its versions and
    the changes found between them (the fields changed, before → after)."""
    from isnad.app import monitors
    settings = _settings()
    data = monitors.timeline(settings, _archive(settings, recover=False), monitor_id)
    if as_json:
        _emit_json(data)
        return
    mon = data["monitor"]
    out.print(f"monitor {mon['id']}  {escape(mon['url'])}  {len(data['runs'])} run(s), "
              f"{len(data['posts'])} post(s)", highlight=False)
    for post in data["posts"]:
        out.print(f"{post['platform']} {escape(post['post_id'])}  first seen "
                  f"{post['first_seen'][:19]}  last seen {post['last_seen'][:19]}  "
                  f"{post['state']}  {escape(post['url'])}", highlight=False)
        for cap in post["captures"]:
            out.print(f"    {cap['role']} capture {cap['id'] or '-'}  {cap['state']}  "
                      f"post {cap['post_status'] or '?'}  {(cap['started_at'] or '')[:19]}",
                      highlight=False)
        for change in post.get("changes") or []:
            out.print(f"    CHANGED {(change['at'] or '')[:19]}: "
                      f"{escape(', '.join(change['fields']))} (capture "
                      f"{change['previous_capture']} → {change['new_capture']})",
                      highlight=False)
            for name, values in change["diff"].items():
                out.print(f"      {escape(name)}: {escape(_shown_value(values['before']))} → "
                          f"{escape(_shown_value(values['after']))}", highlight=False)
        if gone := post["disappeared"]:
            out.print(f"    DISAPPEARED ({gone['status']}) {(gone['at'] or '')[:19]}: evidence "
                      f"capture {gone['evidence_capture']}", highlight=False)


alerts_app = typer.Typer(help="Monitor alerts: the outbox of webhooks, delivered by the "
                         "scheduler.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list")
def alerts_list(
    monitor_id: Annotated[str | None, typer.Option("--monitor", help="one monitor's")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Alerts raised, newest first, and how each delivery stands."""
    from isnad.app import monitors
    from isnad.app.alerts import AlertOutbox, alert_record

    settings = _settings()
    archive = _archive(settings, recover=False)
    if monitor_id:
        monitor_id = monitors.get_monitor(settings, archive, monitor_id).id
    rows = [alert_record(r) for r in AlertOutbox(archive.catalog).list(monitor_id, limit)]
    if as_json:
        _emit_json(rows)
        return
    for row in rows:
        out.print(f"{(row['created_at'] or '')[:19]}  {row['event']:17} monitor "
                  f"{row['monitor']}  {row['state']:9} {escape(row['target'] or '(log only)')}"
                  + (f"\n    {row['attempts']} attempt(s): {escape(row['last_error'])}"
                     if row["last_error"] else ""), highlight=False)
    if not rows:
        out.print("no alerts")


@alerts_app.command("deliver")
def alerts_deliver() -> None:
    """Send the alerts due now (what `isnad scheduler` does every alerts.poll seconds); exit 1
    when one failed for good."""
    from isnad.app.alerts import AlertOutbox, deliver_due

    settings = _settings()
    report = deliver_due(settings, AlertOutbox(_archive(settings, recover=False).catalog))
    out.print(f"{len(report.delivered)} delivered, {len(report.retried)} to retry, "
              f"{len(report.failed)} failed", highlight=False)
    raise typer.Exit(1 if report.failed else 0)


def _shown_value(value: object, width: int = 60) -> str:
    """A diff's value on one line of a terminal: JSON, line breaks shown, cut at ``width``."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "⏎")
    return text if len(text) <= width else text[:width - 1] + "…"


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c", min=1, max=64, help="captures at once (default: "
        "worker.concurrency)")] = None,
    burst: Annotated[bool, typer.Option("--burst", help="stop when the queue is empty")
                     ] = False,
    log_file: Annotated[Path | None, typer.Option(
        "--log-file", help="also append JSON log lines here (default: logging.file)")] = None,
) -> None:
    """Take capture jobs from the queue and run them, N at once, until stopped.

    SIGTERM: no new job is taken; running captures get worker.drain_timeout seconds, then go
    back to the queue. Ctrl-C (SIGINT): running captures go back to the queue at once.
    """
    from isnad.app.archive import signing_key
    from isnad.app.worker import Worker
    settings = _settings()
    # A service logs JSON lines (unless logging.format says otherwise), to stderr and the file.
    configure_from_settings(settings.logging, settings.home, service=True,
                            debug=_state["debug"], file=log_file, console=err)
    archive = _archive(settings)
    signing_key(settings, create=True)
    Worker(settings, archive, concurrency=concurrency, burst=burst).run()


@app.command("scheduler")
def scheduler_command(
    log_file: Annotated[Path | None, typer.Option(
        "--log-file", help="also append JSON log lines here (default: logging.file)")] = None,
    worker: Annotated[int | None, typer.Option(
        "--worker", min=1, max=64, help="also run an `isnad worker` of N captures at once "
        "beside the schedules: everything on one machine in one command")] = None,
) -> None:
    """Run the schedules (monitors' runs; housekeeping: fixity audit, pending timestamps,
    uploads, custody anchors; see [schedules]) until stopped.

    The schedules queue runs; workers capture them (`isnad worker`, or --worker N here).
    SIGTERM or Ctrl-C: no new run starts; runs under way finish first.
    """
    from isnad.app.schedules import LocalWorker, SchedulerService

    settings = _settings()
    configure_from_settings(settings.logging, settings.home, service=True,
                            debug=_state["debug"], file=log_file, console=err)
    local = LocalWorker(settings, worker, _state["config"]) if worker else None
    SchedulerService(settings, local).run()


@app.command()
def workers(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    every: Annotated[bool, typer.Option("--all", help="also workers that stopped, and those "
                                        "gone for more than a day")] = False,
) -> None:
    """Workers and schedulers (host, pid, concurrency, current jobs, last sign of life):
    those alive, and those gone (silent for worker.stale_after seconds without stopping;
    their jobs are queued again by the live workers)."""
    from rich.table import Table

    from isnad.app.runtime import Runtime

    settings = _settings()
    runtime = Runtime(settings, _archive(settings, recover=False))
    running = runtime.jobs((JobState.RUNNING,))
    leader = runtime.schedules_leader()
    shown = [records.worker_record(w, running, state, leads=w.id == leader)
             for w, state in runtime.worker_states(every=every)]
    if as_json:
        _emit_json(shown)
        return
    if not any(r["state"] == "alive" for r in shown):
        err.print("no worker is running (start one with `isnad worker`)")
    if not shown:
        return
    table = Table("worker", "state", "kind", "host", "pid", "concurrency", "jobs",
                  "last sign of life (UTC)")
    for r in shown:
        state = r["state"] if r["state"] == "alive" else f"[yellow]{r['state']}[/yellow]"
        if r.get("leads"):
            state += " (leads)"
        table.add_row(r["id"], state, r["kind"], r["host"], str(r["pid"]),
                      str(r["concurrency"]), ", ".join(r["jobs"]) or "-",
                      (r["heartbeat_at"] or "")[:19])
    out.print(table)


def _middle(text: str, width: int) -> str:
    """``text`` shortened to ``width`` characters by cutting out its middle (URLs differ at
    both ends: the host and the last path segment)."""
    if len(text) <= width:
        return text
    keep = max(width - 1, 2)
    return text[:(keep + 1) // 2] + "…" + text[len(text) - keep // 2:]


# A screenful: `isnad list` answers at once however big the catalog; --page goes further.
LIST_PAGE = 50


class Source(StrEnum):
    capture = "capture"
    imported = "import"


@app.command("import")
def import_(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="WARC/ARC files, folders (read recursively), URL lists (.txt/.csv)",
        show_default=False)] = None,
    provider: Annotated[str | None, typer.Option(
        "--provider", help="who handed the material over (required)")] = None,
    received_at: Annotated[str | None, typer.Option(
        "--received-at", help="when it was received: DATE or DATETIME (UTC unless a zone)")
    ] = None,
    case: _CASE = None, tag: _TAG = None, note: _NOTE = None,
    operator: Annotated[str | None, typer.Option(
        "--operator", help="who received it; default: OS user")] = None,
    manifest: Annotated[Path | None, typer.Option(
        "--manifest", help="CSV of the hashes the provider declared (file, sha256/sha1/md5)")
    ] = None,
    urls: Annotated[list[Path] | None, typer.Option(
        "--urls", help="a list of URLs (text or CSV) to queue as captures (repeatable)")
    ] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="store a file again even when the vault holds it already")] = False,
    resume: Annotated[str | None, typer.Option(
        "--resume", help="resume the interrupted import ID (files stored are not redone)")
    ] = None,
    queue: Annotated[bool | None, typer.Option(
        "--queue/--no-queue", help="run it as a job on a worker (`isnad jobs` shows it); "
        "default: queued when over 20 GiB or 2000 files and a worker is running")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the import as JSON")] = False,
) -> None:
    """Take in archived material as evidence: each file hashed and checked on arrival, kept
    byte for byte in a signed, timestamped package with its provenance. Exit status 0 when
    every file was taken in without a problem (or the import was queued), 1 otherwise
    (PARTIAL, FAILED)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from isnad.app import imports as imports_uc

    settings = _settings()
    archive = _archive(settings)
    if resume:
        import_id = imports_uc.resolve_import(archive, resume)
    else:
        if not paths and not urls:
            raise typer.BadParameter("give files or folders to import (or --urls, --resume)",
                                     param_hint="'PATH...'")
        if not provider:
            raise typer.BadParameter("required: who handed the material over",
                                     param_hint="'--provider'")
        options = imports_uc.ImportOptions(
            provider=provider, operator=operator or settings.effective_operator(),
            received_at=_parse_date(received_at, "--received-at") if received_at else None,
            case_id=case, tags=tuple(tag or ()), note=note, manifest=manifest,
            urls=tuple(urls or ()), force=force)
        if queue is None and imports_uc.is_large(list(paths or ())):
            from isnad.app.runtime import Runtime

            queue = bool(Runtime(settings, archive).workers())
        import_id = imports_uc.start_import(archive, list(paths or ()), options)
    if queue:
        job_id = imports_uc.queue_import(settings, archive, import_id)
        if as_json:
            _emit_json({"id": import_id, "state": "queued", "job": job_id})
        else:
            out.print(f"import {import_id} queued as job {job_id}: a worker runs it (`isnad "
                      f"jobs show {job_id}`, then `isnad imports show {import_id}`)",
                      highlight=False)
        raise typer.Exit(0)
    if not as_json:
        err.print(f"import {import_id}", highlight=False)
    with _progress(err, TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn()) as bar:
        def progress(total: int, files: int) -> imports_uc.ImportProgress:
            task = bar.add_task(f"{files} file(s)", total=total)

            def done(name: str, state: str) -> None:
                if not as_json:
                    err.print(f"  {state:9} {escape(name)}", highlight=False)

            return imports_uc.ImportProgress(
                total, files, on_bytes=lambda n: bar.advance(task, n),
                on_file=lambda name, size: bar.update(task, description=_middle(name, 40)),
                on_done=done)

        try:
            result = imports_uc.run_import(settings, archive, import_id, progress)
        except KeyboardInterrupt:
            err.print(f"interrupted: resume with `isnad import --resume {import_id}` (the "
                      "files stored already are not redone)", highlight=False)
            raise typer.Exit(130) from None
    if as_json:
        _emit_json(result.record)
    else:
        _print_import(result.record)
    raise typer.Exit(0 if result.state == CaptureState.COMPLETE else 1)


def _print_import(data: dict[str, Any]) -> None:
    from rich.table import Table
    out.print(f"[bold]import {data['id']}[/bold]  {_state_markup(data['state'])}  "
              f"provider {escape(data['provider'])}, received by "
              f"{escape(data['received_by'])}", highlight=False)
    table = Table("file", "kind", "state", "bytes", "capture", "findings")
    for f in data["files"]:
        errors = [x for x in f["findings"] if x["severity"] == "error"]
        shown = "; ".join(f"{x['code']}" + (f" @{x['where']}" if x["where"] else "")
                          for x in errors[:3]) + (f" (+{len(errors) - 3})"
                                                  if len(errors) > 3 else "")
        table.add_row(escape(f["name"]), f["kind"], f["state"], str(f["size"]),
                      f["capture_id"] or (f"= {f['duplicate_of']}" if f["duplicate_of"]
                                          else ""), escape(shown))
    out.print(table)
    for finding in data["findings"]:
        out.print(f"  {finding['severity']}: {escape(finding['message'])}"
                  + (f" ({escape(finding['file'] or '')} {finding['where'] or ''})"
                     if finding.get("file") else ""), highlight=False)
    if data["jobs"]:
        out.print(f"  {len(data['jobs'])} URL(s) queued for capture (`isnad jobs`)")


imports_app = typer.Typer(help="Imports: material handed over, as received and checked.",
                          invoke_without_command=True)
app.add_typer(imports_app, name="imports")


@imports_app.callback()
def imports_list(ctx: typer.Context,
                 as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List imports, newest first (`isnad imports show ID` for one)."""
    from rich.table import Table

    from isnad.app import imports as imports_uc

    if ctx.invoked_subcommand is not None:
        return
    rows = imports_uc.list_imports(_archive(recover=False))
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        out.print("no imports")
        return
    table = Table("import", "state", "provider", "files", "bytes", "started (UTC)")
    for row in rows:
        states = ", ".join(f"{n} {s}" for s, n in sorted(row["file_states"].items()))
        table.add_row(row["id"], row["state"], escape(row["provider"]),
                      f"{row['files']} ({states})" if states else "0", str(row["bytes"]),
                      (row["started_at"] or "")[:19])
    out.print(table)


@imports_app.command("show")
def imports_show(import_id: Annotated[str, typer.Argument(help="import id or unique prefix")],
                 as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One import: who provided it, when, every file with its hashes, findings and capture."""
    from isnad.app import imports as imports_uc

    data = imports_uc.show_import(_archive(recover=False), import_id)
    if as_json:
        _emit_json(data)
    else:
        _print_import(data)


@app.command("list")
def list_captures(
    case: Annotated[str | None, typer.Option("--case", help="only this case")] = None,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", help="only captures with this tag (repeatable: all of them)")] = None,
    state: Annotated[list[State] | None, typer.Option(
        "--state", case_sensitive=False, help="only this state (repeatable: any of them)")
    ] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="started at or after DATE or DATETIME (UTC unless a zone is given)")
    ] = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="started before DATETIME, or on or before DATE")] = None,
    url: Annotated[str | None, typer.Option(
        "--url", help="URL (requested or final) contains this text")] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", min=1, help=f"at most N a page, newest first (default: {LIST_PAGE} in the "
        "table; every capture with --json/--jsonl)")] = None,
    page: Annotated[int, typer.Option("--page", min=1, help="which page of --limit captures")
                    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print the captures as a JSON list, "
                                          "written as they are read")] = False,
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="print each capture as one JSON "
                                           "line")] = False,
    source: Annotated[Source | None, typer.Option(
        "--source", help="only captures made by capturing, or of imported files")] = None,
) -> None:
    """List captures, newest first: short id, state, storage, start time (UTC), URL; a page at
    a time (--limit, --page)."""
    from isnad.app.archive import open_archive
    from isnad.app.catalog import find_captures, iter_captures
    if as_json and as_jsonl:
        raise typer.BadParameter("give --json or --jsonl, not both", param_hint="'--jsonl'")
    archive = open_archive(_settings())
    filters: dict[str, Any] = dict(
        case=case, tags=tuple(tag or ()), states=tuple(s.value for s in state or ()),
        since=_parse_date(since, "--since") if since else None,
        until=_parse_date(until, "--until", end_of_day=True) if until else None, url=url,
        source=source.value if source else None)
    if as_json or as_jsonl:
        # Every match, streamed from the catalog in batches, unless a page is asked for.
        found = (iter_captures(archive, **filters) if limit is None and page == 1
                 else iter(find_captures(archive, **filters, limit=limit or LIST_PAGE,
                                         offset=((limit or LIST_PAGE) * (page - 1)))
                           .captures))
        _stream_json(found, lines=as_jsonl)
        return
    size = limit or LIST_PAGE
    listed = find_captures(archive, **filters, limit=size, offset=size * (page - 1),
                           shorten=True)
    _print_capture_page(listed, first=size * (page - 1) + 1, page=page)


def _stream_json(items: Iterator[dict[str, Any]], *, lines: bool, flush: bool = False) -> None:
    """Each item as soon as it is read: one JSON line each, or the elements of one JSON list
    (the same list `json.loads` reads, written without holding it whole). ``flush``: each
    item reaches a pipe at once (for items that take time to make)."""
    separator = "" if lines else "[\n"
    for item in items:
        sys.stdout.write(separator + json.dumps(item, ensure_ascii=False, default=str)
                         + ("\n" if lines else ""))
        if not lines:
            separator = ",\n"
        if flush:
            sys.stdout.flush()
    if not lines:
        sys.stdout.write("[]\n" if separator == "[\n" else "\n]\n")
    sys.stdout.flush()


def _print_capture_page(found: Any, *, first: int, page: int) -> None:
    """One page of `isnad list` as a table, and where it stands in all that match."""
    short, total = found.short_ids, found.total
    id_width = max((len(v) for v in short.values()), default=8)
    # id, state, storage, time: fixed widths; the URL takes what is left of the line.
    url_width = max(out.width - (id_width + 2 + 8 + 2 + 7 + 2 + 16 + 2), 10)
    lines = [f"[bold]{'id':{id_width}}  {'state':8}  {'stored':7}  {'started (UTC)':16}  url"
             "[/bold]"]
    for c in found.captures:
        started = c["started_at"] or ""
        stored = {True: "yes", False: "pending", None: "-"}[c["stored"]]
        lines.append(f"{short[c['id']]:{id_width}}  {_state_markup(c['state'])}"
                     f"{' ' * (8 - len(c['state']))}  {stored:7}  "
                     f"{started[:16].replace('T', ' '):16}  "
                     f"{escape(_middle(c['url'], url_width))}")
    shown = len(found.captures)
    if shown == total:
        lines.append(f"{total} capture(s)")
    elif not shown:
        lines.append(f"none on page {page}: {total} capture(s) in all")
    else:
        last = first + shown - 1
        lines.append(f"{first}–{last} of {total} capture(s), newest first"
                     + (f"  (next: --page {page + 1})" if last < total else ""))
    # One print for the page: Rich's per-call cost, paid once.
    out.print("\n".join(lines), highlight=False)


@app.command("search")
def search_command(
    query: Annotated[list[str] | None, typer.Argument(
        help='words (all must match), "a phrase", prefix*; Arabic in any spelling of alef, '
        "hamza, taa marbuta, with or without harakat (after -- when a word starts with -)",
        metavar="QUERY...")] = None,
    case: Annotated[str | None, typer.Option("--case", help="only this case")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="only with this tag")] = None,
    state: Annotated[State | None, typer.Option("--state", case_sensitive=False,
                                                help="only this state")] = None,
    platform: Annotated[str | None, typer.Option(
        "--platform", help="only posts of this platform (telegram, youtube, ...)")] = None,
    source: Annotated[Source | None, typer.Option(
        "--source", help="only what was captured, or what was imported")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="captured at or after DATE or DATETIME (UTC unless a zone is given)")
    ] = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="captured before DATETIME, or on or before DATE")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000,
                                       help="at most N results, best first")] = 20,
    page: Annotated[int, typer.Option("--page", min=1, help="which page of --limit results")
                    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON")] = False,
    rebuild: Annotated[bool, typer.Option(
        "--rebuild", help="index every capture and import again, from the packages")] = False,
) -> None:
    """Find captures and imports by the words of their pages, posts, titles and notes."""
    from rich.progress import SpinnerColumn, TextColumn

    from isnad.app import search as search_app
    from isnad.app.archive import open_archive

    settings = _settings()
    if rebuild:
        archive = open_archive(settings, recover=False)
        with _progress(err, SpinnerColumn(), TextColumn("{task.description}")) as progress:
            task = progress.add_task("indexing", total=None)
            rebuilt = search_app.rebuild_index(
                archive, lambda ref: progress.update(task, description=ref))
        if as_json:
            _emit_json({"captures": rebuilt.captures, "imports": rebuilt.imports,
                        "problems": rebuilt.problems, "ok": rebuilt.ok})
        else:
            out.print(f"indexed {rebuilt.captures} captures and {rebuilt.imports} imports")
            for problem in rebuilt.problems:
                out.print(f"[yellow]problem[/yellow] {escape(problem)}", highlight=False)
        raise typer.Exit(0 if rebuilt.ok else 1)
    words = " ".join(query or ())
    if not words.strip():
        raise typer.BadParameter("give words to search for (or --rebuild)",
                                 param_hint="'QUERY'")
    filters = {"case": case, "tag": tag, "state": state.value if state else None,
               "platform": platform, "source": source.value if source else None,
               "since": _parse_date(since, "--since") if since else None,
               "until": _parse_date(until, "--until", end_of_day=True) if until else None}
    found = search_app.search(settings, words, filters=filters, limit=limit,
                              offset=limit * (page - 1))
    if as_json:
        _emit_json({"query": found.query, "total": found.total, "limit": found.limit,
                    "offset": found.offset, "hits": found.hits})
        return
    if not found.hits:
        out.print(f"nothing found ({found.total} in all)" if found.total else "nothing found")
        return
    first = found.offset + 1
    out.print(f"{first}-{found.offset + len(found.hits)} of {found.total}", highlight=False)
    for hit in found.hits:
        captured = (hit["captured_at"] or "")[:19].replace("T", " ")
        out.print(f"[bold]{hit['id'][:12]}[/bold] {hit['kind']:7} "
                  f"{_state_markup(hit['state'] or '')} {captured}  "
                  f"{escape(hit['title'] or '')}", highlight=False)
        if hit["url"]:
            out.print(f"  {escape(hit['url'])}", highlight=False)
        if hit["snippet"]:
            out.print(f"  {_marked_snippet(hit['snippet'])}", highlight=False)


def _marked_snippet(snippet: str) -> str:
    """A search snippet (escaped HTML with ``<mark>``) as console markup."""
    parts = re.split(r"<mark>(.*?)</mark>", snippet)
    return "".join(f"[reverse]{escape(html.unescape(p))}[/reverse]" if i % 2
                   else escape(html.unescape(p)) for i, p in enumerate(parts))


@app.command()
def show(
    capture_id: Annotated[str, typer.Argument(help="capture id (or a unique prefix)",
                                              metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a capture: its context, artifacts with hashes, and custody events."""
    from rich.table import Table

    from isnad.app.archive import open_archive
    from isnad.app.catalog import show_capture
    data = show_capture(open_archive(_settings()), capture_id)
    if as_json:
        _emit_json(data)
        return
    out.print(f"[bold]{data['id']}[/bold]  {data['state']}")
    for key in ("url", "final_url", "operator", "case", "tags", "note", "started_at",
                "ended_at", "package_location", "package_sha256", "error"):
        if data.get(key):
            out.print(f"  {key:17} {escape(str(data[key]))}", highlight=False)
    for reason in data["reasons"] or []:
        out.print(f"  reason            {escape(reason)}", highlight=False)
    for entry in data["failed_subresources"]:
        out.print(f"  failed            {escape(entry.get('url', '?'))}  "
                  f"[dim]{escape(str(entry.get('error', '?')))}[/dim]", highlight=False)
    pages = data["context"].get("pages") or []
    out.print(f"  pages             {len(pages)}", highlight=False)
    if pages:  # one block of plain lines: a crawl lists thousands
        out.print("\n".join(f"    {p.get('ts') or '':24} {p.get('url')}"
                             + (f"  {p['title']}" if p.get("title") else "") for p in pages),
                  markup=False, highlight=False, soft_wrap=True)
    artifacts = Table("artifact", "kind", "bytes", "sha256", title="Artifacts")
    for a in data["artifacts"]:
        artifacts.add_row(a["path"], a["kind"], str(a["size"]), a["sha256"])
    out.print(artifacts)
    copies = Table("target", "state", "location", "bytes", "stored (UTC)", title="Copies")
    for c in data["copies"]:
        copies.add_row(c["target"], c["state"], c["location"] or "", str(c["size"] or ""),
                       c["stored_at"] or (c["last_error"] or ""))
    out.print(copies)
    events = Table("#", "time (UTC)", "actor", "action", "object sha256", title="Custody")
    for e in data["custody"]:
        events.add_row(str(e["seq"]), e["time"], e["actor"], e["action"],
                       e["object_sha256"] or "")
    out.print(events)


@app.command()
def verify(
    target: Annotated[str | None, typer.Argument(help="capture id, or a path to a .wacz")] = None,
    all_: Annotated[bool, typer.Option("--all", help="verify every stored capture")] = False,
    allow_unsigned: Annotated[bool, typer.Option(
        "--allow-unsigned", help="accept a package without a signature (integrity only, "
        "no proof of origin)")] = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, max=64, help="with --all: captures verified at once (default: one "
        "per core)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the reports as a JSON list, each "
                                          "written as it is made")] = False,
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="each report as one JSON line")
                        ] = False,
) -> None:
    """Re-hash packages and WARC records, check signatures, timestamps and custody chains;
    exit 1 on any finding. With --all, each capture's report as soon as it is made."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from isnad.app.proof import verify as verify_captures
    if as_json and as_jsonl:
        raise typer.BadParameter("give --json or --jsonl, not both", param_hint="'--jsonl'")
    human = not (as_json or as_jsonl)
    # People see a bar (with the reports printed above it); JSON goes to stdout alone.
    with _progress(out if human else err, TextColumn("verifying"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn()) as progress:
        task = progress.add_task("verifying", total=None, visible=all_)
        failures = 0

        def reports() -> Iterator[dict[str, Any]]:
            nonlocal failures
            for report in verify_captures(
                    _settings(), target, every=all_, allow_unsigned=allow_unsigned,
                    workers=workers, on_total=lambda n: progress.update(task, total=n)):
                failures += not report.ok
                progress.advance(task)
                if human:
                    _print_report(report)
                yield report.to_dict()

        if human:
            for _ in reports():
                pass
        else:
            _stream_json(reports(), lines=as_jsonl, flush=True)
    raise typer.Exit(1 if failures else 0)


keys_app = typer.Typer(help="The key that signs every package.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("init")
def keys_init(
    passphrase: Annotated[bool, typer.Option(
        "--passphrase", help="encrypt the private key (asked twice, or ISNAD_SIGNING__PASSPHRASE)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the key's paths and "
                                          "fingerprint as JSON")] = False,
) -> None:
    """Create the signing key pair in the data folder (private key mode 0600)."""
    from isnad.app.keys import create_signing_key
    settings = _settings()
    secret = None
    if passphrase:
        secret = settings.signing_passphrase() or typer.prompt(
            "passphrase", hide_input=True, confirmation_prompt=True)
    key = create_signing_key(settings, secret)
    if as_json:
        _emit_json(records.signing_key(key))
        return
    out.print(f"signing key: {key.private_key} (mode 600{', encrypted' if key.encrypted else ''})")
    out.print(f"public key:  {key.public_key}")
    out.print(f"fingerprint: {key.fingerprint}")


@keys_app.command("show")
def keys_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the public key and its fingerprint (give both to whoever checks packages)."""
    from isnad.app.keys import public_key
    key = public_key(_settings())
    if as_json:
        _emit_json(records.public_key(key))
        return
    out.print(f"fingerprint: {key.fingerprint}")
    out.print(key.pem.rstrip(), highlight=False)


@app.command()
def timestamp(
    pending: Annotated[bool, typer.Option("--pending", help="retry every pending timestamp")
                       ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Ask the TSAs again for the timestamps that failed; late tokens go beside the package."""
    from isnad.app.archive import open_archive
    from isnad.app.proof import retry_timestamps
    if not pending:
        raise IsnadError("nothing to do: use `isnad timestamp --pending`")
    settings = _settings()
    result = retry_timestamps(open_archive(settings), settings,
                              settings.effective_operator())
    if as_json:
        _emit_json(records.timestamp_retry(result))
        raise typer.Exit(1 if result.still_pending else 0)
    for line in result.obtained:
        out.print(f"[green]stamped[/green] {line}")
    for line in result.still_pending:
        out.print(f"[yellow]pending[/yellow] {line}")
    if not (result.obtained or result.still_pending):
        out.print("nothing pending")
    raise typer.Exit(1 if result.still_pending else 0)


custody_app = typer.Typer(help="The custody log of every capture.", no_args_is_help=True)
app.add_typer(custody_app, name="custody")


@custody_app.command("anchor")
def custody_anchor(
    as_json: Annotated[bool, typer.Option("--json", help="print what was anchored as JSON")
                       ] = False,
) -> None:
    """Timestamp every custody head not yet anchored (for the housekeeping schedule)."""
    from isnad.app.archive import open_archive
    from isnad.app.proof import anchor_custody
    settings = _settings()
    result = anchor_custody(open_archive(settings), settings)
    if as_json:
        _emit_json(records.anchor_report(result))
        raise typer.Exit(1 if result.problems else 0)
    for line in result.anchored:
        out.print(f"[green]anchored[/green] {line}", highlight=False)
    for line in result.problems:
        out.print(f"[yellow]not anchored[/yellow] {line}", highlight=False)
    if not (result.anchored or result.problems):
        out.print("nothing new to anchor")
    raise typer.Exit(1 if result.problems else 0)


@app.command()
def export(
    folder: Annotated[Path, typer.Option("-o", "--output", help="bundle folder (new or empty)")],
    ids: Annotated[list[str] | None, typer.Argument(
        help="capture ids (unique prefixes are enough)")] = None,
    monitor: Annotated[str | None, typer.Option(
        "--monitor", help="every capture of this monitor, with its timeline")] = None,
    operator: Annotated[str | None, typer.Option("--operator", help="who exports")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the bundle's paths as JSON")
                       ] = False,
) -> None:
    """Write a bundle for a court or a partner: packages, files, hashes, tokens, report."""
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    from isnad.app.archive import open_archive
    from isnad.app.export import export_bundle
    if not ids and not monitor:
        raise IsnadError("give capture ids, or --monitor ID")
    settings = _settings()
    archive = open_archive(settings)
    who = operator or settings.effective_operator()
    with _progress(err, SpinnerColumn(), TextColumn("{task.description}"),
                   TimeElapsedColumn()) as progress:
        task = progress.add_task("exporting", total=None)
        bundle = export_bundle(archive, settings, list(ids or []), folder, who,
                               lambda what: progress.update(task, description=what),
                               monitor=monitor)
    if as_json:
        _emit_json(records.export_bundle(bundle))
        return
    out.print(f"exported {len(bundle.captures)} capture(s) to {bundle.folder}")
    out.print(f"  {bundle.files} files listed in {bundle.folder / 'SHA256SUMS'}")
    out.print(f"  report: {bundle.folder / 'report.html'} and {bundle.folder / 'report.pdf'}")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="address to listen on (0.0.0.0: every "
                                      "interface; put a TLS proxy in front, docs/web.md)")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=0, max=64, help="captures run at once by the worker started beside "
        "the web app (default: worker.concurrency; 0: none, workers run elsewhere)")] = None,
    no_scheduler: Annotated[bool, typer.Option(
        "--no-scheduler", help="do not run the scheduler here (it runs elsewhere)")] = False,
    proxy_headers: Annotated[bool, typer.Option(
        "--proxy-headers", help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips "
        "(behind a TLS proxy)")] = False,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        "--forwarded-allow-ips", help="proxy addresses trusted (default: 127.0.0.1)")] = None,
    log_file: Annotated[Path | None, typer.Option(
        "--log-file", help="also append JSON log lines here (default: logging.file)")] = None,
) -> None:
    """Run the web app and HTTP API (/api/v1) and, beside them, a capture worker and the
    scheduler: one command is a whole installation on one machine. Sign in with a user of
    `isnad users add`; API clients with a token of `isnad tokens create`."""
    from isnad.app.archive import signing_key
    from isnad.web.serve import serve as run_server

    settings = _settings()
    configure_from_settings(settings.logging, settings.home, service=True,
                            debug=_state["debug"], file=log_file, console=err)
    signing_key(settings, create=True)
    from isnad.app import accounts

    if not any(not u["disabled"] for u in accounts.list_users(accounts.open_accounts(settings))):
        err.print("no one can sign in yet: add a user with `isnad users add NAME --role admin`")
    run_server(settings, host=host, port=port,
               workers=settings.worker.concurrency if workers is None else workers,
               scheduler=not no_scheduler, config=_state["config"],
               proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips)


cases_app = typer.Typer(help="Cases: the captures grouped by case, and each case's note.",
                        invoke_without_command=True)
app.add_typer(cases_app, name="cases")


@cases_app.callback()
def cases_list(ctx: typer.Context,
               as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List cases, the latest capture first: captures, latest start, note (`isnad cases note
    CASE TEXT` writes one)."""
    from rich.table import Table

    from isnad.app import catalog as catalog_app

    if ctx.invoked_subcommand is not None:
        return
    rows = catalog_app.list_cases(_archive(recover=False))
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        out.print("no cases")
        return
    table = Table("case", "captures", "latest (UTC)", "note")
    for row in rows:
        note = " ".join((row["note"] or "").split())  # one line in the table
        table.add_row(escape(row["case"]) if row["case"] is not None else "(no case)",
                      str(row["captures"]), (row["latest"] or "")[:19],
                      escape(note[:80] + ("…" if len(note) > 80 else "")))
    out.print(table)


@cases_app.command("note")
def cases_note(
    case: Annotated[str, typer.Argument(help="the case id")],
    text: Annotated[str | None, typer.Argument(
        help="the new note ('' clears it; '-' reads it from stdin); none: show the note")
    ] = None,
    operator: _OPERATOR = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a case's note, or replace it with TEXT (free text, at most 20,000 characters; not
    evidence: in no package, custody log or search index)."""
    from isnad.app import catalog as catalog_app

    settings = _settings()
    archive = _archive(settings, recover=False)
    if text is None:
        record = catalog_app.case_note(archive, case)
    else:
        note = sys.stdin.read() if text == "-" else text
        record = catalog_app.set_case_note(archive, case, note,
                                           by=operator or settings.effective_operator())
    if as_json:
        _emit_json(record)
    elif text is None:
        sys.stdout.write((record["note"] or "") + ("\n" if record["note"] else ""))
        if record["updated_by"]:
            err.print(f"case {escape(case)}: note by {escape(record['updated_by'])} at "
                      f"{record['updated_at']}", highlight=False)
    else:
        out.print(f"case {escape(case)}: note written ({len(record['note'])} characters)",
                  highlight=False)


users_app = typer.Typer(help="People who sign in to the web app (`isnad serve`): roles "
                        "admin, investigator, viewer.", no_args_is_help=True)
app.add_typer(users_app, name="users")


class Role(StrEnum):
    admin = "admin"
    investigator = "investigator"
    viewer = "viewer"


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="the user's sign-in name")],
    role: Annotated[Role, typer.Option("--role", help="what the user may do")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="read the password from the first line of stdin (no prompt)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add a user (the password is asked for, twice, unless --password-stdin)."""
    from isnad.app import accounts
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    record = accounts.add_user(accounts.open_accounts(_settings()), name, role.value, password)
    if as_json:
        _emit_json(record)
    else:
        out.print(f"added user {escape(record['name'])} ({record['role']})", highlight=False)


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List users: name, role, whether disabled, when added."""
    from rich.table import Table

    from isnad.app import accounts
    shown = accounts.list_users(accounts.open_accounts(_settings()))
    if as_json:
        _emit_json(shown)
        return
    if not shown:
        out.print("no users (add one with `isnad users add NAME --role admin`)")
        return
    table = Table("user", "role", "state", "created (UTC)")
    for u in shown:
        table.add_row(escape(u["name"]), u["role"], "disabled" if u["disabled"] else "active",
                      (u["created_at"] or "")[:19])
    out.print(table)


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="the user's name")]) -> None:
    """Disable a user: signed out at once, their tokens refused (both kept for the record)."""
    from isnad.app import accounts
    record = accounts.disable_user(accounts.open_accounts(_settings()), name)
    out.print(f"disabled user {escape(record['name'])}", highlight=False)


tokens_app = typer.Typer(help="API tokens of the HTTP API (`Authorization: Bearer TOKEN`).",
                         no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


class TokenScope(StrEnum):
    read = "read"
    submit = "submit"
    admin = "admin"


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option("--user", help="whose token")],
    scope: Annotated[list[TokenScope], typer.Option(
        "--scope", help="what it may do (repeatable); within the user's role")],
    name: Annotated[str | None, typer.Option("--name", help="a name to know it by")] = None,
    quota: Annotated[int | None, typer.Option(
        "--quota", min=0, help="captures it may submit a day (UTC); default: no limit")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an API token and print its secret, this once: it is stored only as a hash."""
    from isnad.app import accounts
    settings = _settings()
    made = accounts.create_token(accounts.open_accounts(settings), user,
                                 [s.value for s in scope], name=name,
                                 quota=quota if quota is not None else settings.web.default_quota)
    if as_json:
        _emit_json({**made.record, "secret": made.secret})
        return
    out.print(made.secret, highlight=False, soft_wrap=True)
    err.print(f"token {made.record['id']} of {escape(user)} "
              f"({', '.join(made.record['scopes'])}): keep the secret above now, it is not "
              "shown again", highlight=False)


@tokens_app.command("list")
def tokens_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List API tokens (never their secrets)."""
    from rich.table import Table

    from isnad.app import accounts
    shown = accounts.list_tokens(accounts.open_accounts(_settings()))
    if as_json:
        _emit_json(shown)
        return
    if not shown:
        out.print("no API tokens")
        return
    table = Table("token", "user", "name", "scopes", "quota/day", "state", "last used (UTC)")
    for t in shown:
        table.add_row(t["id"], escape(t["user"]), escape(t["name"]), ",".join(t["scopes"]),
                      "-" if t["daily_quota"] is None else str(t["daily_quota"]), t["state"],
                      (t["last_used_at"] or "never")[:19])
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="the token's id", metavar="ID")]
                  ) -> None:
    """Revoke an API token: refused from its next use on."""
    from isnad.app import accounts
    record = accounts.revoke_token(accounts.open_accounts(_settings()), token_id)
    out.print(f"revoked token {record['id']} of {escape(record['user'])}", highlight=False)


db_app = typer.Typer(help="The catalog database's schema (Alembic migrations).",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the catalog database to this Isnad's schema (PostgreSQL needs this once per
    release; SQLite is upgraded when opened)."""
    from isnad.app.database import upgrade_catalog

    before, after = upgrade_catalog(_settings())
    if before == after:
        out.print(f"the catalog is at schema revision {after} already", highlight=False)
    else:
        out.print(f"catalog schema upgraded: {before or '(none)'} → {after}", highlight=False)


@db_app.command("current")
def db_current(
    check: Annotated[bool, typer.Option(
        "--check", help="also compare the tables with the models; exit 1 if they differ")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The catalog's schema revision and the one this Isnad needs; exit 1 if behind."""
    from isnad.app.database import catalog_status

    status = catalog_status(_settings(), compare=check)
    if as_json:
        _emit_json({"url": status.url, "current": status.current, "head": status.head,
                    "at_head": status.at_head, "differences": status.differences})
    else:
        out.print(f"{status.url}: {status.current or '(no schema yet)'} "
                  f"({'at head' if status.at_head else f'head is {status.head}'})",
                  highlight=False)
        for line in status.differences:
            out.print(f"[yellow]differs[/yellow] {escape(line)}", highlight=False)
    raise typer.Exit(0 if status.at_head and not status.differences else 1)


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("-m", "--message", help="what the revision does")],
) -> None:
    """For developers: write a new migration from the models (archiver/migrations/versions/),
    compared with the configured catalog (brought to head first; use a scratch ISNAD_HOME)."""
    from isnad.app.database import new_revision

    out.print(f"wrote {new_revision(_settings(), message)}: review it before committing",
              highlight=False)


storage_app = typer.Typer(help="Storage targets: resume pending uploads, check protection.",
                          no_args_is_help=True)
app.add_typer(storage_app, name="storage")


@storage_app.command("sync")
def storage_sync(
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Upload what waits in the local spool (retries with backoff); exit 1 if any remains."""
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    from isnad.app.archive import open_archive
    from isnad.app.storage import sync_storage
    archive = open_archive(_settings())
    with _progress(err, SpinnerColumn(), TextColumn("{task.description}"),
                   TimeElapsedColumn()) as progress:
        task = progress.add_task("syncing", total=None)
        report = sync_storage(archive,
                              lambda what: progress.update(task, description=what))
    if as_json:
        _emit_json(records.sync_report(report))
        raise typer.Exit(1 if report.still_pending or report.errors else 0)
    for line in report.stored:
        out.print(f"[green]stored[/green]  {line}")
    for line in report.still_pending:
        out.print(f"[yellow]pending[/yellow] {line}")
    for line in report.errors:
        out.print(f"[red]error[/red]   {line}")
    if not (report.stored or report.still_pending or report.errors):
        out.print("nothing pending")
    raise typer.Exit(1 if report.still_pending or report.errors else 0)


@storage_app.command("check")
def storage_check(
    as_json: Annotated[bool, typer.Option("--json", help="print the findings as JSON")] = False,
) -> None:
    """Report each target's versioning and lock configuration; exit 1 if evidence is at risk."""
    from isnad.app.storage import check_storage
    checked = check_storage(_settings())
    worst = 0 if all(check.ok for check in checked) else 1
    if as_json:
        _emit_json(records.storage_check(checked))
        raise typer.Exit(worst)
    for check in checked:
        out.print(f"[bold]{escape(check.name)}[/bold]  {escape(check.location)}",
                  highlight=False)
        for finding in check.findings:
            colour = {"ok": "green", "warning": "yellow"}.get(finding.level, "red")
            out.print(f"  [{colour}]{finding.level:7}[/{colour}] {escape(finding.message)}",
                      highlight=False)
    raise typer.Exit(worst)


@app.command()
def audit(
    all_: Annotated[bool, typer.Option("--all", help="every stored capture (the default)")
                    ] = False,
    sample: Annotated[int | None, typer.Option("--sample", min=1, help="N random captures")
                      ] = None,
    since: Annotated[str | None, typer.Option("--since", help="captures since DATE (UTC)")
                     ] = None,
    target: Annotated[str | None, typer.Option("--target", help="only this storage target")
                      ] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, max=64, help="captures audited at once (default: one per core)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the whole audit as one JSON "
                                          "object at the end")] = False,
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="each capture's audit as one JSON "
                                           "line as it is made, then the totals")] = False,
) -> None:
    """Fixity audit: re-read and re-hash stored packages; exit 1 naming any mismatch. Each
    capture's result is shown as soon as it is audited."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    from isnad.app.archive import open_archive
    from isnad.app.audit import audit_fixity, plan_audit
    if as_json and as_jsonl:
        raise typer.BadParameter("give --json or --jsonl, not both", param_hint="'--jsonl'")
    settings = _settings()
    archive = open_archive(settings)
    plan = plan_audit(archive, sample=sample,
                      since=_parse_date(since, "--since") if since else None,
                      since_text=since, target=target)
    human = not (as_json or as_jsonl)
    with _progress(out if human else err, SpinnerColumn(), TextColumn("{task.description}"),
                   BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn()
                   ) as progress:
        task = progress.add_task("auditing", total=plan.total_bytes or None)
        done = 0

        def show(capture: Any) -> None:
            nonlocal done
            done += 1
            progress.update(task, description=f"{done}/{len(plan.rows)} captures")
            if as_jsonl:
                sys.stdout.write(json.dumps(capture.to_dict(), ensure_ascii=False,
                                            default=str) + "\n")
                sys.stdout.flush()
            elif human:
                _print_capture_audit(capture)

        result = audit_fixity(
            archive, plan, settings.effective_operator(),
            on_bytes=lambda n: progress.advance(task, n), on_capture=show,
            settings=settings, workers=workers or os.cpu_count() or 1)
    if as_json:
        _emit_json(result.to_dict())
    elif as_jsonl:
        totals = {k: v for k, v in result.to_dict().items() if k != "findings"}
        sys.stdout.write(json.dumps({"totals": totals}, ensure_ascii=False, default=str) + "\n")
    else:
        out.print(result.summary(), highlight=False)
        out.print(f"report: {result.report_path}")
    raise typer.Exit(0 if result.ok else 1)


def _print_capture_audit(capture: Any) -> None:
    """One line per capture, and a line per problem under it."""
    verdict = "[green]INTACT[/green]" if capture.ok else "[red]MISMATCH[/red]"
    out.print(f"{verdict} capture {capture.capture_id}", highlight=False)
    for finding in capture.findings:
        if not finding.ok:
            out.print(f"  [red]FAIL[/red] {escape(finding.target)}: {escape(finding.detail)}",
                      highlight=False)
    for problem in capture.custody_problems:
        out.print(f"  [red]FAIL[/red] custody: {escape(problem)}", highlight=False)


def _parse_date(text: str, option: str, *, end_of_day: bool = False) -> datetime:
    """A date or date-time given on the command line, in UTC (a usage error otherwise).

    ``end_of_day``: a bare date means up to the end of that day (``--until 2026-03-01``).
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a date (use YYYY-MM-DD or "
                                 "YYYY-MM-DDTHH:MM[:SS][+HH:MM])", param_hint=f"'{option}'"
                                 ) from exc
    if end_of_day and len(text) <= len("YYYY-MM-DD"):
        moment += timedelta(days=1)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def reindex(
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Rebuild the catalog from storage alone, into an empty database."""
    from rich.progress import SpinnerColumn, TextColumn

    from isnad.app.reindex import rebuild_catalog
    settings = _settings()
    with _progress(err, SpinnerColumn(), TextColumn("{task.description}")) as progress:
        task = progress.add_task("reading storage", total=None)
        rebuilt = rebuild_catalog(
            settings, lambda cid: progress.update(task, description=cid))
    if as_json:
        _emit_json(records.reindex_report(rebuilt))
        raise typer.Exit(0 if rebuilt.ok else 1)
    out.print(f"rebuilt {rebuilt.captures} captures, {rebuilt.copies} copies, "
              f"{rebuilt.events} custody events from {rebuilt.targets} target(s)")
    for problem in rebuilt.problems:
        out.print(f"[yellow]problem[/yellow] {escape(problem)}", highlight=False)
    raise typer.Exit(0 if rebuilt.ok else 1)


def _print_report(report: "VerificationReport") -> None:
    verdict = "[green]INTACT[/green]" if report.ok else "[red]MISMATCH[/red]"
    if report.verdict:  # e.g. a FAILED capture: no package to call intact
        verdict = f"[{'yellow' if report.ok else 'red'}]{report.verdict}[/]"
    out.print(f"{verdict} {report.subject}")
    for check in report.checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        out.print(f"  {mark} {check.name}: {check.detail}", highlight=False)


def main() -> None:
    """Entry point: errors a user can act on are one line, without a traceback."""
    code = _run()
    if _reads_only(sys.argv[1:]):
        _leave_at_once(code)
    sys.exit(code)


def _run() -> int:
    """The command the arguments name, run; its exit status."""
    debug = "--debug" in sys.argv
    # Isnad uses no Pydantic plugin: without this, validating the settings first reads the
    # entry points of every installed distribution to look for one (about 15 ms of each
    # command's start here). Set the variable (even empty) to have plugins load.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        # Without standalone mode click returns the exit code of typer.Exit instead of exiting,
        # and hands usage errors to us, to print them one way on a terminal and another in a log.
        code = _invoked(sys.argv[1:])(prog_name="isnad", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except NoArgsIsHelpError as exc:
        # Bare `isnad` (or `isnad keys`): its help, on stdout as `--help` prints it (Click
        # would write it to stderr); that is no error.
        typer.echo(exc.format_message())
        return 0
    except ClickException as exc:  # unknown option, missing argument, bad value: exit 2
        _show_usage_error(exc)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        return 130
    except Exception as exc:
        if debug:
            raise
        _error(_failure(exc))
        return 2


# Commands that read the catalog and print (the ones people run again and again): once they
# have printed, nothing of theirs is left to settle, and the interpreter's teardown (freeing
# some 550 modules and their objects one by one) cost a fifth of their CPU time (0.15 of
# 0.68 s for `isnad list` here). They leave at once instead, as a capture process does.
_READERS = frozenset({"list", "show", "search", "version"})


def _reads_only(args: list[str]) -> bool:
    """Whether ``args`` name a command of ``_READERS``, or `isnad jobs` / `isnad jobs show`
    (not `jobs cancel` or `retry`, which hand a message to the queue)."""
    name = _command_name(args)
    if name in _READERS:
        return True
    if name != "jobs":
        return False
    rest = args[args.index(name) + 1:]
    words = [arg for arg in rest if not arg.startswith("-")]
    # `jobs --state queued` reads `queued` as a word: it exits as other commands do.
    return not words or words[0] == "show"


def _leave_at_once(code: int) -> None:
    """Exit with ``code`` once the logs and the output are flushed, without the interpreter's
    teardown (isnad.app.child leaves the same way)."""
    import contextlib
    import logging

    catalog = sys.modules.get("archiver.catalog")  # not imported for this: none was opened
    if catalog is not None:
        catalog.close_connections()  # as the teardown would: SQLite's log folded in, a server told
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a reader that went away (`| head`)
            stream.flush()
    os._exit(code)


# The options `isnad` itself takes before a command's name, and those of them that take a value.
_MAIN_OPTIONS_WITH_VALUE = ("--config",)


def _invoked(args: list[str]) -> typer.Typer:
    """The app with only the command (or group of commands) that ``args`` name, when they name
    one: Typer builds every registered command's parameters from its signature at each start,
    a tenth of a second for the ~60 commands here, of which one runs (Click's "lazy group"
    idea). Anything else (``--help``, no command, an unknown name, shell completion) gets the
    whole app, so listings, suggestions and completion stay whole."""
    if any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ):
        return app
    name = _command_name(args)
    if name is None:
        return app
    commands = [c for c in app.registered_commands
                if (c.name or typer.main.get_command_name(c.callback.__name__)) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    only = copy.copy(app)
    only.registered_commands, only.registered_groups = commands, groups
    return only


def _command_name(args: list[str]) -> str | None:
    """The first word of ``args`` that is not one of `isnad`'s own options (or their values):
    the command's name, when it is one."""
    values = iter(args)
    for arg in values:
        if arg == "--":
            return None
        if arg in _MAIN_OPTIONS_WITH_VALUE:
            next(values, None)
            continue
        if not arg.startswith("-"):
            return arg
    return None


def _failure(exc: Exception) -> str:
    """The one line that says what went wrong."""
    if isinstance(exc, IsnadError):
        return str(exc)
    if isinstance(exc, OSError):  # a file or folder the system refused: say which
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where} (run with --debug for details)"
    return f"{type(exc).__name__}: {exc} (run with --debug for details)"


def _error(message: str) -> None:
    """One line on stderr, however long (a log line is not wrapped at 80 columns)."""
    err.print(f"[red]error:[/red] {escape(' '.join(message.split()))}", highlight=False)


def _show_usage_error(exc: ClickException) -> None:
    """Typer's framed message on a terminal; Click's plain lines (never wrapped) elsewhere."""
    if err.is_terminal:
        from typer.rich_utils import rich_format_error  # Markdown and more: only when needed

        rich_format_error(exc)
    else:
        exc.show()


if __name__ == "__main__":
    main()
