"""The ``isnad`` command: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

# Typer 0.29 carries its own copy of Click: its exceptions are not the `click` package's.
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.rich_utils import rich_format_error

from isnad import __version__
from isnad import app as isnad_app
from isnad.app import (
    CaptureRefused,
    CaptureState,
    IsnadError,
    JobState,
    VerificationReport,
    monitors,
    records,
)
from isnad.app.archive import signing_key
from isnad.app.capture import check_free_space
from isnad.app.jobs import JobSpec
from isnad.app.runtime import JobRow, Runtime, Watch, read_batch
from isnad.app.schedules import SchedulerService
from isnad.app.worker import LocalRun, Worker
from isnad.config import Settings, load_settings
from isnad.logs import configure_for_cli, configure_from_settings

app = typer.Typer(
    help="Isnad: capture web pages as evidence, store them, and prove they are unaltered.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
)
# soft_wrap: a line is never broken at the console's width (80 when not a terminal), so an
# error or a result stays one line in a log or a pipe.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

_state: dict[str, Any] = {"debug": False, "config": None}


class Scope(StrEnum):
    page = "page"
    host = "host"
    domain = "domain"


class State(StrEnum):
    COMPLETE = "COMPLETE"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    RUNNING = "RUNNING"


def _settings() -> Settings:
    return load_settings(_state["config"])


def _archive(settings: Settings | None = None, *, recover: bool = True) -> isnad_app.Archive:
    """The archive, after its folders are made (a folder that cannot be is one clear line)."""
    return isnad_app.open_archive(settings or _settings(), recover=recover)


def _emit_json(data: Any) -> None:
    """JSON on stdout, never wrapped or coloured (a script reads it)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _progress(console: Console, *columns: Any) -> Progress:
    """Spinners that vanish when done, and are not drawn at all into a log or a pipe (where
    they would only leave blank lines)."""
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
    configure_for_cli(config, debug=debug, console=err)


@app.command()
def version() -> None:
    """Print Isnad's version."""
    out.print(f"isnad {__version__}", highlight=False)


def _job_template(settings: Settings, *, case: str | None, tag: list[str] | None,
                  note: str | None, operator: str | None, depth: int | None,
                  scope: Scope | None, no_browser: bool, posts: int | None,
                  priority: int | None) -> JobSpec:
    return JobSpec(url="", operator=operator or settings.effective_operator(), case_id=case,
                   tags=tuple(tag or ()), note=note, source="cli", priority=priority,
                   use_browser=not no_browser, depth=depth,
                   scope=scope.value if scope else None, posts=posts)


def _specs(urls: list[str] | None, input_file: str | None, template: JobSpec
           ) -> list[JobSpec]:
    """The jobs asked for: URLs (``-``: read them from stdin) and/or a batch file. A bad line
    of a batch is said with its number; the good lines still go in. A bad URL given as an
    argument is a usage error: nothing is queued."""
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
    as_json: Annotated[bool, typer.Option("--json", help="the jobs as JSON")] = False,
) -> None:
    """Queue URLs for capture and return at once with their job ids (a worker captures them:
    `isnad worker`). Exit status 1 when a line of a batch file was skipped."""
    settings = _settings()
    specs = _specs(urls, input_file, _job_template(
        settings, case=case, tag=tag, note=note, operator=operator, depth=depth, scope=scope,
        no_browser=no_browser, posts=posts, priority=priority))
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
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c", min=1, max=64, help="captures at once when no worker runs "
        "(default: worker.concurrency)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print every result as one JSON list "
                                          "at the end")] = False,
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="print each result as one JSON line "
                                           "as soon as it is finished")] = False,
) -> None:
    """Capture URLs as evidence packages (WACZ), stored and catalogued, and wait for them.

    The captures are queued as jobs: a running worker takes them; with none, this command runs
    them itself, N at a time. Exit status: 0 when every capture is COMPLETE and stored, 1 when
    one is PARTIAL or waits for storage, 2 when one FAILED, 130 when interrupted.
    """
    if as_json and as_jsonl:
        raise typer.BadParameter("give --json or --jsonl, not both", param_hint="'--jsonl'")
    settings = _settings()
    specs = _specs(urls, input_file, _job_template(
        settings, case=case, tag=tag, note=note, operator=operator, depth=depth, scope=scope,
        no_browser=no_browser, posts=posts, priority=priority))
    archive = _archive(settings)
    runtime = Runtime(settings, archive)
    check_free_space(settings, archive)
    # The key is opened before anything is queued: a locked or exposed key stops here.
    signing_key(settings, create=True)
    rows = runtime.submit(specs)
    workers = runtime.workers()
    local = None if workers else runtime.run_here(rows, concurrency)
    view = _CaptureView(archive, [r.id for r in rows], "json" if as_json else "jsonl" if as_jsonl
                        else "human")
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


def _interrupted(runtime: Runtime, local: LocalRun | None, rows: list[JobRow]) -> None:
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


def _capture_exit(view: _CaptureView) -> None:
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

    def __init__(self, archive: Any, job_ids: list[str], mode: str) -> None:
        self.archive = archive
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

    def update(self, seen: Watch) -> None:
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

    def running(self, job: JobRow) -> None:
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
            sys.stdout.write(json.dumps(records.capture_record(row), ensure_ascii=False,
                                        default=str) + "\n")
            sys.stdout.flush()
        elif self.mode == "json":
            self.json_records[row.id] = records.capture_record(row)
        else:
            _print_result(self.progress.console, row, f"{len(self.done)}/{self.total}")

    def close(self) -> None:
        """The JSON list, or a summary table when there were several captures."""
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
    if ctx.invoked_subcommand is not None:
        return
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
        if row.state == JobState.RUNNING:
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
    settings = _settings()
    runtime = Runtime(settings, _archive(settings, recover=False))
    row = runtime.retry(job_id)
    out.print(f"queued {row.id} again (attempt {row.attempts + 1})", highlight=False)


monitor_app = typer.Typer(help="Channels watched on a schedule: each new post captured once.",
                          no_args_is_help=True)
app.add_typer(monitor_app, name="monitor")
_MONITOR_ID = Annotated[str, typer.Argument(help="monitor id or unique prefix")]


@monitor_app.command("add")
def monitor_add(
    url: Annotated[str, typer.Argument(help="a platform channel or profile URL")],
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
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Watch a channel or profile: each run lists it and captures every post not seen before."""
    settings = _settings()
    row = monitors.add_monitor(
        settings, _archive(settings, recover=False), url,
        operator=operator or settings.effective_operator(), every=every, cron=cron,
        jitter=jitter, case_id=case, tags=tuple(tag or ()), note=note, posts=posts,
        recheck=recheck, use_browser=not no_browser)
    if as_json:
        _emit_json(monitors.monitor_record(row, 0))
        return
    when = f"every {row.every}s" if row.every else f"cron {row.cron}"
    out.print(f"monitor {row.id}  {escape(row.url)}  ({row.platform}, {when})", highlight=False)


@monitor_app.command("list")
def monitor_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every monitor, its schedule and how it fares."""
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
    settings = _settings()
    shown = monitors.show_monitor(settings, _archive(settings, recover=False), monitor_id)
    if as_json:
        _emit_json(shown)
        return
    for key in ("id", "url", "platform", "every", "cron", "jitter", "case", "tags", "note",
                "posts", "recheck", "operator", "paused", "flagged", "failures", "posts_seen",
                "last_run_at"):
        out.print(f"{key:12} {escape(str(shown[key]))}", highlight=False)
    for run in shown["runs"]:
        out.print(f"run {run['id']}  {(run['started_at'] or '')[:19]}  "
                  f"{run['state'] or 'running'}  listed {run['listed']}, new {run['new_posts']}"
                  + "".join(f"\n    note: {escape(n)}" for n in run["notes"]), highlight=False)


def _set_paused(monitor_id: str, paused: bool) -> None:
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
    """Post by post: when first and last seen, each capture and its state."""
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
        if gone := post["disappeared"]:
            out.print(f"    DISAPPEARED ({gone['status']}) {(gone['at'] or '')[:19]}: evidence "
                      f"capture {gone['evidence_capture']}", highlight=False)


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
) -> None:
    """Run the schedules (housekeeping: fixity audit, pending timestamps, uploads, custody
    anchors; see [schedules]) until stopped.

    SIGTERM or Ctrl-C: no new run starts; runs under way finish first.
    """
    settings = _settings()
    configure_from_settings(settings.logging, settings.home, service=True,
                            debug=_state["debug"], file=log_file, console=err)
    SchedulerService(settings).run()


@app.command()
def workers(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    every: Annotated[bool, typer.Option("--all", help="also workers that stopped, and those "
                                        "gone for more than a day")] = False,
) -> None:
    """Workers and schedulers (host, pid, concurrency, current jobs, last sign of life):
    those alive, and those gone (silent for worker.stale_after seconds without stopping;
    their jobs are queued again by the live workers)."""
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
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="at most N, newest first")
                     ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the captures as JSON")] = False,
) -> None:
    """List captures, newest first: short id, state, storage, start time (UTC), URL."""
    found = isnad_app.find_captures(
        isnad_app.open_archive(_settings()), case=case, tags=tuple(tag or ()),
        states=tuple(s.value for s in state or ()),
        since=_parse_date(since, "--since") if since else None,
        until=_parse_date(until, "--until", end_of_day=True) if until else None,
        url=url, limit=limit, shorten=not as_json)
    if as_json:
        _emit_json(found.captures)
        return
    short, total = found.short_ids, found.total
    id_width = max((len(v) for v in short.values()), default=8)
    # id, state, storage, time: fixed widths; the URL takes what is left of the line.
    url_width = max(out.width - (id_width + 2 + 8 + 2 + 7 + 2 + 16 + 2), 10)
    out.print(f"[bold]{'id':{id_width}}  {'state':8}  {'stored':7}  {'started (UTC)':16}  url"
              "[/bold]", highlight=False)
    for c in found.captures:
        started = c["started_at"] or ""
        stored = {True: "yes", False: "pending", None: "-"}[c["stored"]]
        out.print(f"{short[c['id']]:{id_width}}  {_state_markup(c['state'])}"
                  f"{' ' * (8 - len(c['state']))}  {stored:7}  "
                  f"{started[:16].replace('T', ' '):16}  {escape(_middle(c['url'], url_width))}",
                  highlight=False)
    shown = len(found.captures)
    shown_text = f"{shown} of {total}" if shown < total else f"{total}"
    out.print(f"{shown_text} capture(s)" + ("" if shown == total else
                                       "  (--limit: newest first)"), highlight=False)


@app.command()
def show(
    capture_id: Annotated[str, typer.Argument(help="capture id (or a unique prefix)",
                                              metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a capture: its context, artifacts with hashes, and custody events."""
    data = isnad_app.show_capture(isnad_app.open_archive(_settings()), capture_id)
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
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-hash packages and WARC records, check signatures, timestamps and custody chains;
    exit 1 on any finding."""
    reports: list[VerificationReport] = []
    for report in isnad_app.verify(_settings(), target, every=all_,
                                   allow_unsigned=allow_unsigned):
        reports.append(report)
        if not as_json:  # each result as it completes, not all at the end
            _print_report(report)
    if as_json:
        _emit_json([r.to_dict() for r in reports])
    raise typer.Exit(0 if all(r.ok for r in reports) else 1)


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
    settings = _settings()
    secret = None
    if passphrase:
        secret = settings.signing_passphrase() or typer.prompt(
            "passphrase", hide_input=True, confirmation_prompt=True)
    key = isnad_app.create_signing_key(settings, secret)
    if as_json:
        _emit_json(records.signing_key(key))
        return
    out.print(f"signing key: {key.private_key} (mode 600{', encrypted' if key.encrypted else ''})")
    out.print(f"public key:  {key.public_key}")
    out.print(f"fingerprint: {key.fingerprint}")


@keys_app.command("show")
def keys_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the public key and its fingerprint (give both to whoever checks packages)."""
    key = isnad_app.public_key(_settings())
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
    if not pending:
        raise IsnadError("nothing to do: use `isnad timestamp --pending`")
    settings = _settings()
    result = isnad_app.retry_timestamps(isnad_app.open_archive(settings), settings,
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
    settings = _settings()
    result = isnad_app.anchor_custody(isnad_app.open_archive(settings), settings)
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
    ids: Annotated[list[str], typer.Argument(help="capture ids (unique prefixes are enough)")],
    folder: Annotated[Path, typer.Option("-o", "--output", help="bundle folder (new or empty)")],
    operator: Annotated[str | None, typer.Option("--operator", help="who exports")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the bundle's paths as JSON")
                       ] = False,
) -> None:
    """Write a bundle for a court or a partner: packages, files, hashes, tokens, report."""
    settings = _settings()
    archive = isnad_app.open_archive(settings)
    who = operator or settings.effective_operator()
    with _progress(err, SpinnerColumn(), TextColumn("{task.description}"),
                   TimeElapsedColumn()) as progress:
        task = progress.add_task("exporting", total=None)
        bundle = isnad_app.export_bundle(archive, settings, ids, folder, who,
                                         lambda what: progress.update(task, description=what))
    if as_json:
        _emit_json(records.export_bundle(bundle))
        return
    out.print(f"exported {len(bundle.captures)} capture(s) to {bundle.folder}")
    out.print(f"  {bundle.files} files listed in {bundle.folder / 'SHA256SUMS'}")
    out.print(f"  report: {bundle.folder / 'report.html'} and {bundle.folder / 'report.pdf'}")


storage_app = typer.Typer(help="Storage targets: resume pending uploads, check protection.",
                          no_args_is_help=True)
app.add_typer(storage_app, name="storage")


@storage_app.command("sync")
def storage_sync(
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Upload what waits in the local spool (retries with backoff); exit 1 if any remains."""
    archive = isnad_app.open_archive(_settings())
    with _progress(err, SpinnerColumn(), TextColumn("{task.description}"),
                   TimeElapsedColumn()) as progress:
        task = progress.add_task("syncing", total=None)
        report = isnad_app.sync_storage(archive,
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
    checked = isnad_app.check_storage(_settings())
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
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Fixity audit: re-read and re-hash stored packages; exit 1 naming any mismatch."""
    settings = _settings()
    archive = isnad_app.open_archive(settings)
    plan = isnad_app.plan_audit(archive, sample=sample,
                                since=_parse_date(since, "--since") if since else None,
                                since_text=since, target=target)
    with _progress(err, SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn()) as progress:
        task = progress.add_task("auditing", total=plan.total_bytes or None)
        result = isnad_app.audit_fixity(
            archive, plan, settings.effective_operator(),
            on_bytes=lambda n: progress.advance(task, n),
            on_copy=lambda f: progress.update(task, description=f"{f.capture_id[:13]}… "
                                              f"{f.target}"))
    if as_json:
        _emit_json(result.to_dict())
    else:
        out.print(result.summary(), highlight=False)
        out.print(f"report: {result.report_path}")
    raise typer.Exit(0 if result.ok else 1)


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
    settings = _settings()
    with _progress(err, SpinnerColumn(), TextColumn("{task.description}")) as progress:
        task = progress.add_task("reading storage", total=None)
        rebuilt = isnad_app.rebuild_catalog(
            settings, lambda cid: progress.update(task, description=cid))
    if as_json:
        _emit_json(records.reindex_report(rebuilt))
        raise typer.Exit(0 if rebuilt.ok else 1)
    out.print(f"rebuilt {rebuilt.captures} captures, {rebuilt.copies} copies, "
              f"{rebuilt.events} custody events from {rebuilt.targets} target(s)")
    for problem in rebuilt.problems:
        out.print(f"[yellow]problem[/yellow] {escape(problem)}", highlight=False)
    raise typer.Exit(0 if rebuilt.ok else 1)


def _print_report(report: VerificationReport) -> None:
    verdict = "[green]INTACT[/green]" if report.ok else "[red]MISMATCH[/red]"
    if report.verdict:  # e.g. a FAILED capture: no package to call intact
        verdict = f"[{'yellow' if report.ok else 'red'}]{report.verdict}[/]"
    out.print(f"{verdict} {report.subject}")
    for check in report.checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        out.print(f"  {mark} {check.name}: {check.detail}", highlight=False)


def main() -> None:
    """Entry point: errors a user can act on are one line, without a traceback."""
    debug = "--debug" in sys.argv
    try:
        # Without standalone mode click returns the exit code of typer.Exit instead of exiting,
        # and hands usage errors to us, to print them one way on a terminal and another in a log.
        code = app(prog_name="isnad", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except NoArgsIsHelpError:
        sys.exit(0)  # bare `isnad` (or `isnad keys`): the help was printed; that is no error
    except ClickException as exc:  # unknown option, missing argument, bad value: exit 2
        _show_usage_error(exc)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        _error(_failure(exc))
        sys.exit(2)


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
        rich_format_error(exc)
    else:
        exc.show()


if __name__ == "__main__":
    main()
