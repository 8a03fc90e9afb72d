"""The ``isnad`` command: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import json
import sys
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

from archiver.archive import Archive
from archiver.capture import PackagedCapture
from archiver.catalog import COMPLETE, PARTIAL, CaptureRow
from archiver.redaction import redact_url
from crawlers.job import CaptureJob
from crawlers.netguard import validate_url
from isnad import __version__, service
from isnad import app as isnad_app
from isnad.app import CaptureRefused, IsnadError, VerificationReport, records
from isnad.config import Settings, load_settings

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


def _archive(settings: Settings | None = None, *, recover: bool = True) -> Archive:
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


@app.command()
def version() -> None:
    """Print Isnad's version."""
    out.print(f"isnad {__version__}", highlight=False)


def _check_urls(urls: list[str]) -> list[str]:
    """A malformed URL is a usage error, refused before anything is recorded."""
    for url in urls:
        try:
            validate_url(url)
        except CaptureRefused as exc:
            raise typer.BadParameter(str(exc)) from exc
    return urls


@app.command()
def capture(
    urls: Annotated[list[str], typer.Argument(
        help="one or more http(s) URLs, each its own package", metavar="URL...",
        callback=_check_urls)],
    case: Annotated[str | None, typer.Option("--case", help="case identifier")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="tag (repeatable)")] = None,
    note: Annotated[str | None, typer.Option("--note", help="free-text note")] = None,
    operator: Annotated[str | None, typer.Option("--operator", help="who asks; default: OS user")
                        ] = None,
    depth: Annotated[int | None, typer.Option("--depth", min=0, help="follow links N deep")
                     ] = None,
    scope: Annotated[Scope | None, typer.Option("--scope", help="which links to follow")] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="plain HTTP, no Chromium")
                          ] = False,
    posts: Annotated[int | None, typer.Option(
        "--posts", min=1, help="a channel or profile URL: also capture its N latest posts")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print every result as one JSON list "
                                          "at the end")] = False,
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="print each result as one JSON line "
                                           "as soon as it is finished")] = False,
) -> None:
    """Capture URLs as evidence packages (WACZ), stored and catalogued.

    Exit status: 0 when every capture is COMPLETE and stored, 1 when one is PARTIAL or waits
    for storage, 2 when one FAILED.
    """
    if as_json and as_jsonl:
        raise typer.BadParameter("give --json or --jsonl, not both", param_hint="'--jsonl'")
    settings = _settings()
    archive = _archive(settings)
    options = service.CaptureOptions(
        operator=operator or settings.effective_operator(),
        case_id=case, tags=tuple(tag or ()), note=note, use_browser=not no_browser,
        depth=depth, scope=scope.value if scope else None, posts=posts,
    )
    view = _CaptureView(archive, len(urls), "json" if as_json else "jsonl" if as_jsonl
                        else "human")
    with view.progress:
        results = service.capture(settings, urls, options, on_progress=view.running,
                                  on_result=view.finished, archive=archive)
    view.close()
    states = {r.state for r in results}
    if not states <= {COMPLETE, PARTIAL}:
        raise typer.Exit(2)
    pending = any(r.package and not r.stored for r in results)
    raise typer.Exit(0 if states <= {COMPLETE} and not pending else 1)


class _CaptureView:
    """What `isnad capture` shows: one spinner per running capture, each result as it ends.

    Results go through the console the spinners draw on, so they never garble each other;
    with --json/--jsonl stdout carries JSON only and the spinners go to stderr.
    """

    def __init__(self, archive: Archive, expected: int, mode: str) -> None:
        self.archive = archive
        self.expected = expected
        self.mode = mode
        console = out if mode == "human" else err
        self.progress = _progress(console, SpinnerColumn(), TextColumn("{task.description}"),
                                  TimeElapsedColumn())
        self.tasks: dict[str, TaskID] = {}
        self.done: dict[str, CaptureRow] = {}
        self.records: list[dict[str, Any]] = []

    @property
    def total(self) -> int:
        # --posts adds captures as a channel's list is read: the total grows with them.
        return max(self.expected, len(set(self.tasks) | set(self.done)))

    def running(self, job: CaptureJob) -> None:
        if job.capture_id in self.done:
            return  # a late report of a finished capture must not start a spinner again
        shown = _middle(redact_url(job.url), 60)
        description = (f"{escape(shown)}  [dim]{job.exchanges} exchanges, "
                       f"{job.payload_bytes / 1e6:.1f} MB, {len(job.pages)} page(s)[/dim]")
        if job.capture_id not in self.tasks:
            self.tasks[job.capture_id] = self.progress.add_task(description, total=None)
        else:
            self.progress.update(self.tasks[job.capture_id], description=description)

    def finished(self, result: PackagedCapture) -> None:
        task = self.tasks.pop(result.capture_id, None)
        if task is not None:
            self.progress.remove_task(task)
            # Redraw now: what is printed next would otherwise carry the last frame, in which
            # the finished capture still spins.
            self.progress.refresh()
        row = self.archive.catalog.get(result.capture_id)
        self.done[result.capture_id] = row
        if self.mode == "jsonl":
            sys.stdout.write(json.dumps(records.capture_record(row), ensure_ascii=False,
                                        default=str) + "\n")
            sys.stdout.flush()
        elif self.mode == "json":
            self.records.append(records.capture_record(row))
        else:
            _print_result(self.progress.console, result, row,
                          f"{len(self.done)}/{self.total}")

    def close(self) -> None:
        """The JSON list, or a summary table when there were several captures."""
        if self.mode == "json":
            _emit_json(self.records)
        elif self.mode == "human" and len(self.done) > 1:
            short = self.archive.catalog.unique_prefixes(list(self.done))
            id_width = max(len(v) for v in short.values())
            table = Table("url", "state", "id", title="Summary", title_justify="left")
            width = max(20, out.width - id_width - 8 - 10)  # 10: the borders and padding
            for row in self.done.values():
                table.add_row(escape(_middle(row.url, width)), _state_markup(row.state),
                              short[row.id])
            out.print(table)


def _state_markup(state: str) -> str:
    colour = {"COMPLETE": "green", "PARTIAL": "yellow", "RUNNING": "blue"}.get(state, "red")
    return f"[{colour}]{state}[/{colour}]"


def _print_result(console: Console, result: PackagedCapture, row: CaptureRow, counter: str
                  ) -> None:
    console.print(f"[dim]\\[{counter}][/dim] {_state_markup(result.state)} "
                  f"{escape(row.url)}  [dim]{result.capture_id}[/dim]", highlight=False)
    for reason in result.reasons:
        console.print(f"  - {escape(reason)}", highlight=False)
    failed = records.failed_subresources(row)
    if failed:
        console.print(f"  failed subresources ({len(failed)}):", highlight=False)
        for entry in failed[:_SHOWN_FAILURES]:
            console.print(f"    {escape(entry.get('url', '?'))}  "
                          f"[dim]{escape(str(entry.get('error', '?')))}[/dim]", highlight=False)
        if len(failed) > _SHOWN_FAILURES:
            console.print(f"    … and {len(failed) - _SHOWN_FAILURES} more: "
                          f"isnad show {result.capture_id} --json", highlight=False)
    if result.package:
        console.print(f"  package  {escape(str(result.location))}\n"
                      f"  sha256   {result.package.sha256}", highlight=False)
        if not result.stored:
            console.print("  [yellow]storage pending[/yellow]: a target could not take the "
                          "package; it is kept in the local spool until `isnad storage sync` "
                          "succeeds", highlight=False)


# More would bury the result; the full list is in the record (`isnad show ID --json`).
_SHOWN_FAILURES = 20


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
