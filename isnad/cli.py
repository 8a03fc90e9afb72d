"""The ``isnad`` command: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from archiver.audit import run_audit, select_captures
from archiver.capture import PackagedCapture
from archiver.catalog import COMPLETE, PARTIAL, CaptureRow
from archiver.errors import IsnadError
from archiver.signing import PUBLIC_KEY_FILE, init_keys, public_fingerprint
from archiver.verify import VerificationReport, verify_package_file
from crawlers.job import CaptureJob
from isnad import __version__, service
from isnad.config import Settings, load_settings

app = typer.Typer(
    help="Isnad: capture web pages as evidence, store them, and prove they are unaltered.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True)

_state: dict[str, Any] = {"debug": False, "config": None}


class Scope(StrEnum):
    page = "page"
    host = "host"
    domain = "domain"


def _settings() -> Settings:
    return load_settings(_state["config"])


@app.callback()
def main_options(
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
) -> None:
    _state["config"] = config
    _state["debug"] = debug


@app.command()
def version() -> None:
    """Print Isnad's version."""
    out.print(f"isnad {__version__}")


@app.command()
def capture(
    urls: Annotated[list[str], typer.Argument(help="one or more URLs, each its own package")],
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
    as_json: Annotated[bool, typer.Option("--json", help="print results as JSON")] = False,
) -> None:
    """Capture URLs as evidence packages (WACZ), stored and catalogued.

    Exit status: 0 when every capture is COMPLETE and stored, 1 when one is PARTIAL or waits
    for storage, 2 when one FAILED.
    """
    settings = _settings()
    options = service.CaptureOptions(
        operator=operator or settings.effective_operator(),
        case_id=case, tags=tuple(tag or ()), note=note, use_browser=not no_browser,
        depth=depth, scope=scope.value if scope else None, posts=posts,
    )
    results: list[PackagedCapture] = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def on_progress(job: CaptureJob) -> None:
            if job.capture_id not in tasks:
                tasks[job.capture_id] = progress.add_task("", total=None)
            progress.update(tasks[job.capture_id], description=(
                f"{job.url}  [dim]{job.exchanges} exchanges, "
                f"{job.payload_bytes / 1e6:.1f} MB, {len(job.pages)} page(s)[/dim]"))

        def on_result(result: PackagedCapture) -> None:
            results.append(result)
            if not as_json:
                _print_result(result)

        service.capture(settings, urls, options, on_progress=on_progress, on_result=on_result)
    if as_json:
        archive = service.open_archive(settings)
        out.print_json(json.dumps([_row_json(archive.catalog.get(r.capture_id))
                                   for r in results]))
    states = {r.state for r in results}
    if not states <= {COMPLETE, PARTIAL}:
        raise typer.Exit(2)
    pending = any(r.package and not r.stored for r in results)
    raise typer.Exit(0 if states <= {COMPLETE} and not pending else 1)


def _print_result(result: PackagedCapture) -> None:
    colour = {"COMPLETE": "green", "PARTIAL": "yellow"}.get(result.state, "red")
    out.print(f"[{colour}]{result.state}[/{colour}] {result.capture_id}")
    for reason in result.reasons:
        out.print(f"  - {reason}")
    if result.package:
        out.print(f"  package  {result.location}\n  sha256   {result.package.sha256}")
        if not result.stored:
            out.print("  [yellow]storage pending[/yellow]: a target could not take the package; "
                      "it is kept in the local spool until `isnad storage sync` succeeds")


@app.command("list")
def list_captures(
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the captures in the catalog."""
    archive = service.open_archive(_settings())
    rows = archive.catalog.list()
    if as_json:
        out.print_json(json.dumps([_row_summary(r) for r in rows]))
        return
    table = Table("capture id", "state", "storage", "started (UTC)", "case", "url")
    table.columns[0].no_wrap = True
    table.columns[0].min_width = 36
    for r in rows:
        table.add_row(r.id, r.state, _row_summary(r)["storage"],
                      f"{r.started_at:%Y-%m-%d %H:%M:%S}", r.case_id or "", r.url)
    out.print(table)


@app.command()
def show(
    capture_id: Annotated[str, typer.Argument(help="capture id (or a unique prefix)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a capture: its context, artifacts with hashes, and custody events."""
    archive = service.open_archive(_settings())
    row = archive.catalog.get(capture_id)
    data = _row_json(row)
    if as_json:
        out.print_json(json.dumps(data, default=str))
        return
    out.print(f"[bold]{row.id}[/bold]  {row.state}")
    for key in ("url", "final_url", "operator", "case", "tags", "note", "started_at",
                "ended_at", "package_location", "package_sha256", "error"):
        if data.get(key):
            out.print(f"  {key:17} {data[key]}")
    for reason in row.reasons or []:
        out.print(f"  reason            {reason}")
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
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-hash packages and WARC records and check custody chains; exit 1 on any mismatch."""
    reports: list[VerificationReport] = []
    if target and target.endswith(".wacz") and Path(target).exists():
        reports.append(verify_package_file(target, service.proof_options(_settings())))
    else:
        if not target and not all_:
            raise IsnadError("give a capture id, a .wacz path, or --all")
        settings = _settings()
        archive = service.open_archive(settings)
        ids = [r.id for r in archive.catalog.list()] if all_ else [str(target)]
        for capture_id in ids:
            reports.append(service.verify_capture(archive, capture_id,
                                                  settings.effective_operator()))
    if as_json:
        out.print_json(json.dumps([r.to_dict() for r in reports]))
    else:
        for report in reports:
            _print_report(report)
    raise typer.Exit(0 if all(r.ok for r in reports) else 1)


keys_app = typer.Typer(help="The key that signs every package.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("init")
def keys_init(
    passphrase: Annotated[bool, typer.Option(
        "--passphrase", help="encrypt the private key (asked twice, or ISNAD_SIGNING__PASSPHRASE)")
    ] = False,
) -> None:
    """Create the signing key pair in the data folder (private key mode 0600)."""
    settings = _settings()
    secret = None
    if passphrase:
        secret = settings.signing_passphrase() or typer.prompt(
            "passphrase", hide_input=True, confirmation_prompt=True)
    key = init_keys(settings.key_dir, secret)
    out.print(f"signing key: {key.path} (mode 600{', encrypted' if secret else ''})")
    out.print(f"public key:  {key.path.with_name(PUBLIC_KEY_FILE)}")
    out.print(f"fingerprint: {key.fingerprint}")


@keys_app.command("show")
def keys_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the public key and its fingerprint (give both to whoever checks packages)."""
    settings = _settings()
    path = settings.key_dir / PUBLIC_KEY_FILE
    fingerprint = public_fingerprint(settings.key_dir)
    if fingerprint is None:
        raise IsnadError(f"no signing key at {settings.key_dir}: run `isnad keys init`")
    pem = path.read_text()
    if as_json:
        out.print_json(json.dumps({"fingerprint": fingerprint, "public_key_pem": pem,
                                   "path": str(path)}))
        return
    out.print(f"fingerprint: {fingerprint}")
    out.print(pem.rstrip(), highlight=False)


@app.command()
def timestamp(
    pending: Annotated[bool, typer.Option("--pending", help="retry every pending timestamp")
                       ] = False,
) -> None:
    """Ask the TSAs again for the timestamps that failed; late tokens go beside the package."""
    if not pending:
        raise IsnadError("nothing to do: use `isnad timestamp --pending`")
    settings = _settings()
    archive = service.open_archive(settings)
    result = service.retry_timestamps(archive, settings, settings.effective_operator())
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
def custody_anchor() -> None:
    """Timestamp every custody head not yet anchored (for the housekeeping schedule)."""
    settings = _settings()
    result = service.anchor_custody(service.open_archive(settings), settings)
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
    output: Annotated[Path, typer.Option("-o", "--output", help="bundle folder (new or empty)")],
    operator: Annotated[str | None, typer.Option("--operator", help="who exports")] = None,
) -> None:
    """Write a bundle for a court or a partner: packages, files, hashes, tokens, report."""
    from isnad.export import export_bundle

    settings = _settings()
    archive = service.open_archive(settings)
    who = operator or settings.effective_operator()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("exporting", total=None)
        bundle = export_bundle(archive, settings, ids, output, who,
                               lambda what: progress.update(task, description=what))
    out.print(f"exported {len(bundle.captures)} capture(s) to {bundle.folder}")
    out.print(f"  {bundle.files} files listed in {bundle.folder / 'SHA256SUMS'}")
    out.print(f"  report: {bundle.folder / 'report.html'} and {bundle.folder / 'report.pdf'}")


storage_app = typer.Typer(help="Storage targets: resume pending uploads, check protection.",
                          no_args_is_help=True)
app.add_typer(storage_app, name="storage")


@storage_app.command("sync")
def storage_sync() -> None:
    """Upload what waits in the local spool (retries with backoff); exit 1 if any remains."""
    archive = service.open_archive(_settings())
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("syncing", total=None)
        report = archive.sync(lambda what: progress.update(task, description=what))
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
def storage_check() -> None:
    """Report each target's versioning and lock configuration; exit 1 if evidence is at risk."""
    archive = service.open_archive(_settings(), recover=False)
    worst = 0
    for target in archive.targets:
        out.print(f"[bold]{target.name}[/bold]  {target.location('')}")
        for finding in target.check():
            colour = {"ok": "green", "warning": "yellow"}.get(finding.level, "red")
            out.print(f"  [{colour}]{finding.level:7}[/{colour}] {finding.message}",
                      highlight=False)
            worst = max(worst, {"ok": 0, "warning": 1}.get(finding.level, 2))
    raise typer.Exit(worst and 1)


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
    archive = service.open_archive(settings)
    since_date = _parse_date(since) if since else None
    rows = select_captures(archive, sample=sample, since=since_date)
    selection = (f"sample of {sample}" if sample else f"since {since}" if since else "all") + (
        f", target {target}" if target else "")
    total = sum(r.package_size or 0 for r in rows) * (1 if target else len(archive.targets))
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("auditing", total=total or None)
        result = run_audit(
            archive, rows, actor=settings.effective_operator(), target=target,
            selection=selection, on_bytes=lambda n: progress.advance(task, n),
            on_copy=lambda f: progress.update(task, description=f"{f.capture_id[:13]}… "
                                              f"{f.target}"))
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
    else:
        out.print(result.summary(), highlight=False)
        out.print(f"report: {result.report_path}")
    raise typer.Exit(0 if result.ok else 1)


def _parse_date(text: str) -> Any:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise IsnadError(f"--since {text!r} is not a date (use YYYY-MM-DD)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def reindex() -> None:
    """Rebuild the catalog from storage alone, into an empty database."""
    from archiver.reindex import reindex as rebuild

    archive = service.open_archive(_settings(), recover=False)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err,
                  transient=True) as progress:
        task = progress.add_task("reading storage", total=None)
        report = rebuild(archive, lambda cid: progress.update(task, description=cid))
    out.print(f"rebuilt {report.captures} captures, {report.copies} copies, "
              f"{report.events} custody events from {len(archive.targets)} target(s)")
    for problem in report.problems:
        out.print(f"[yellow]problem[/yellow] {problem}", highlight=False)
    raise typer.Exit(1 if report.problems else 0)


def _print_report(report: VerificationReport) -> None:
    verdict = "[green]INTACT[/green]" if report.ok else "[red]MISMATCH[/red]"
    if report.verdict:  # e.g. a FAILED capture: no package to call intact
        verdict = f"[{'yellow' if report.ok else 'red'}]{report.verdict}[/]"
    out.print(f"{verdict} {report.subject}")
    for check in report.checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        out.print(f"  {mark} {check.name}: {check.detail}", highlight=False)


def _row_summary(r: CaptureRow) -> dict[str, Any]:
    pending = [c.target for c in r.copies if c.state != "STORED"]
    return {
        "storage": ("pending: " + ", ".join(pending)) if pending else
        ("stored: " + ", ".join(c.target for c in r.copies)) if r.copies else "none",
        "id": r.id, "state": r.state, "url": r.url, "final_url": r.final_url,
        "case": r.case_id, "tags": r.tags, "operator": r.operator,
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "ended_at": r.ended_at.isoformat() if r.ended_at else None,
        "package_location": r.package_location, "package_sha256": r.package_sha256,
        "reasons": r.reasons, "error": r.error,
    }


def _row_json(r: CaptureRow) -> dict[str, Any]:
    return {
        **_row_summary(r),
        "note": r.note,
        "package_key": r.package_key,
        "package_size": r.package_size,
        "context": r.context,
        "artifacts": [{"path": a.path, "kind": a.kind, "media_type": a.media_type,
                       "sha256": a.sha256, "size": a.size} for a in r.artifacts],
        "custody": [e.to_event().__dict__ for e in r.events],
        "copies": [{"target": c.target, "state": c.state, "location": c.location,
                    "sha256": c.sha256, "size": c.size, "version": c.version,
                    "stored_at": c.stored_at.isoformat() if c.stored_at else None,
                    "attempts": c.attempts, "last_error": c.last_error} for c in r.copies],
        "spool_path": r.spool_path,
        "posts": [{"platform": p.platform, "post_id": p.post_id, "url": p.url,
                   "status": p.status, "author_handle": p.author_handle,
                   "published": p.published} for p in r.posts],
    }


def main() -> None:
    """Entry point: errors a user can act on are one line, without a traceback."""
    debug = "--debug" in sys.argv
    try:
        # Without standalone mode click returns the exit code of typer.Exit instead of exiting.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except IsnadError as exc:
        if debug:
            raise
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and the unexpected
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if debug:
            raise
        err.print(f"[red]error:[/red] {type(exc).__name__}: {exc} (run with --debug for details)",
                  highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
