"""Capture jobs: what to capture and why, as a plain record any process can run.

A :class:`JobSpec` holds only serialisable facts (URL, options, who, case, priority, source);
the in-process observation a crawl fills (WARC writer, guard, counters) is made from it in the
capture process. Submitting writes the job to the catalog (queued) and hands its id to the queue.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from archiver.errors import CaptureRefused, IsnadError
from archiver.jobs import JobRow, JobStore
from archiver.redaction import redact_url
from archiver.states import JobSource
from crawlers.netguard import validate_url

# An investigator's submission runs before a monitor's run, which runs before a batch import.
SOURCE_PRIORITY = {JobSource.CLI: 30, JobSource.API: 30, JobSource.MONITOR: 20,
                   JobSource.IMPORT: 10}
SCOPES = ("page", "host", "domain")
MAX_PROCESSES = 32  # processes reading one crawl's pages (capture.processes has the same bound)


@dataclass
class JobSpec:
    """One capture job, as submitted."""

    url: str
    operator: str
    case_id: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    source: str = JobSource.CLI.value  # cli, api, monitor:<id>, import:<id>
    priority: int | None = None  # None: the source's (see SOURCE_PRIORITY)
    use_browser: bool = True
    depth: int | None = None
    processes: int | None = None  # processes that read the crawl's pages (None: the setting)
    scope: str | None = None
    posts: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown CSV columns, kept
    # A monitor's job: {"id", "role": "listing"} for a run (its id is the job's), or
    # {"id", "role": "post", "run", "platform", "post_id"} for a post a run found.
    monitor: dict[str, Any] | None = None
    # A batch import run as a job (issue 14): the import's id (its url is ``import:ID``); the
    # worker runs (or resumes) the import instead of a capture.
    import_id: str | None = None

    def effective_priority(self) -> int:
        if self.priority is not None:
            return self.priority
        return SOURCE_PRIORITY.get(JobSource(self.source.split(":", 1)[0]), 0)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        known = {f.name for f in fields(cls)}
        spec = cls(**{k: v for k, v in data.items() if k in known})
        spec.tags = tuple(spec.tags)
        return spec

    def check(self) -> None:
        """Refuse what can never be captured: a malformed URL, an unknown scope or source."""
        if self.import_id is not None:  # not a capture: its url only names the import
            if self.url != f"import:{self.import_id}":
                raise CaptureRefused(f"an import job's url is import:{self.import_id}")
        else:
            validate_url(self.url)
        if self.scope is not None and self.scope not in SCOPES:
            raise CaptureRefused(f"unknown scope {self.scope!r} (one of {', '.join(SCOPES)})")
        kind = self.source.split(":", 1)[0]
        if kind not in {s.value for s in JobSource}:
            raise CaptureRefused(f"unknown job source {self.source!r}")
        if self.priority is not None and not 0 <= self.priority <= 100:
            raise CaptureRefused(f"priority {self.priority} is outside 0..100")
        if self.processes is not None and not 1 <= self.processes <= MAX_PROCESSES:
            raise CaptureRefused(f"processes {self.processes} is outside 1..{MAX_PROCESSES}")


@dataclass
class BatchLine:
    """A line of a batch file that could not become a job, and why."""

    line: int
    text: str
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}: {self.text[:120]!r}"


def parse_batch(text: str, template: JobSpec) -> tuple[list[JobSpec], list[BatchLine]]:
    """Jobs from a batch: a text list (one URL a line, ``#`` comments) or a CSV with a header
    (``url`` required; ``case``, ``tags``, ``note``, ``priority`` optional; other columns kept).

    Each good line becomes a job (the template gives what a line does not say); each bad line
    is reported with its number, and does not stop the others."""
    first = next((line for line in text.splitlines() if line.strip()
                  and not line.lstrip().startswith("#")), "")
    if "," in first and "url" in [c.strip().lower() for c in first.split(",")]:
        return _parse_csv(text, template)
    specs, problems = [], []
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.split(r"\s#", raw.strip(), maxsplit=1)[0].strip()  # a trailing comment
        if not line or line.startswith("#"):
            continue
        if len(line.split()) > 1:
            problems.append(BatchLine(number, raw, "more than one word on the line (one URL "
                                      "a line; a space inside a URL is written %20)"))
            continue
        spec = JobSpec(**{**template.to_dict(), "url": line})
        _keep(spec, number, raw, specs, problems)
    return specs, problems


def _parse_csv(text: str, template: JobSpec) -> tuple[list[JobSpec], list[BatchLine]]:
    specs: list[JobSpec] = []
    problems: list[BatchLine] = []
    lines = text.splitlines()
    # The header is the first line that is neither blank nor a comment.
    start = next(i for i, line in enumerate(lines) if line.strip()
                 and not line.lstrip().startswith("#"))
    reader = csv.DictReader(io.StringIO("\n".join(lines[start:])))
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
    for row in reader:
        number = start + reader.line_num
        raw = ",".join(str(v) for v in row.values() if v is not None)
        if None in row:
            problems.append(BatchLine(number, raw, "more fields than the header names"))
            continue
        values = {k: (v or "").strip() for k, v in row.items()}
        if not values.get("url"):
            if any(values.values()):
                problems.append(BatchLine(number, raw, "no url"))
            continue
        spec = JobSpec(**{**template.to_dict(), "url": values["url"]})
        spec.case_id = values.get("case") or template.case_id
        tags = [t.strip() for t in (values.get("tags") or "").replace(";", ",").split(",")]
        spec.tags = (*template.tags, *(t for t in tags if t and t not in template.tags))
        spec.note = values.get("note") or template.note
        spec.extra = {k: v for k, v in values.items()
                      if k not in {"url", "case", "tags", "note", "priority"} and v}
        if values.get("priority"):
            try:
                spec.priority = int(values["priority"])
            except ValueError:
                problems.append(BatchLine(number, raw, f"priority {values['priority']!r} is "
                                          "not a whole number"))
                continue
        _keep(spec, number, raw, specs, problems)
    return specs, problems


def _keep(spec: JobSpec, number: int, raw: str, specs: list[JobSpec],
          problems: list[BatchLine]) -> None:
    try:
        spec.check()
    except IsnadError as exc:
        problems.append(BatchLine(number, raw, str(exc)))
    else:
        specs.append(spec)


def add_jobs(store: JobStore, specs: list[JobSpec], secrets: Path) -> list[JobRow]:
    """Write each job to the catalog, queued (the queue is told by the caller).

    A password in a URL is the operator's secret: the catalog (which may be shared by many
    machines) holds the URL without it; the URL as given waits in ``secrets/JOB`` (owner only)
    until the job ends, and is then deleted (see :func:`take_secret_url`)."""
    for spec in specs:
        spec.check()
    rows = []
    for spec in specs:
        shown = redact_url(spec.url)
        data = {**spec.to_dict(), "url": shown}
        row = store.add(url=shown, spec=data, priority=spec.effective_priority(),
                        source=spec.source, operator=spec.operator, case_id=spec.case_id)
        if shown != spec.url:
            secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = secrets / row.id
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
                fh.write(spec.url)
        rows.append(row)
    return rows


def secret_url(secrets: Path, job_id: str) -> str | None:
    """The URL of a job as given (with its password), while the job has not ended."""
    try:
        return (secrets / job_id).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def forget_secret(secrets: Path, job_id: str) -> None:
    """The job has ended: its URL's password is kept nowhere any more."""
    (secrets / job_id).unlink(missing_ok=True)
