"""Disaster recovery: rebuild the whole catalog from storage alone.

Every capture leaves, under ``captures/YYYY/MM/DD/<id>/`` on each target: its package, its
index record (``capture.json``) and its custody events (one object each). That is enough to
rebuild the captures, artifacts, copies and custody events into an empty database.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from archiver.archive import INDEX_FORMAT, INDEX_NAME, Archive
from archiver.catalog import (
    ArtifactRow,
    CaptureRow,
    CopyRow,
    CustodyEventRow,
    ImportRow,
    PostRow,
)
from archiver.custody import CustodyEvent, chain_problems
from archiver.errors import IsnadError
from archiver.states import CaptureState, CopyState, ImportFileState


@dataclass
class ReindexReport:
    captures: int = 0
    events: int = 0
    copies: int = 0
    problems: list[str] = field(default_factory=list)


def reindex(archive: Archive, progress: Callable[[str], None] | None = None) -> ReindexReport:
    """Rebuild the catalog from every storage target into an empty database."""
    if not archive.catalog.is_empty():
        raise IsnadError(
            f"the catalog ({archive.catalog.safe_url}) is not empty: reindex rebuilds into an "
            "empty database; move the old one aside first")
    report = ReindexReport()
    found: dict[str, dict[str, Any]] = {}
    for target in archive.targets:
        keys = set(target.list("captures/"))
        for key in sorted(k for k in keys if k.endswith("/" + INDEX_NAME)):
            prefix = key[: -len(INDEX_NAME) - 1]
            try:
                index = json.loads(target.read_bytes(key))
            except ValueError as exc:
                report.problems.append(f"{target.name}:{key}: unreadable index record: {exc}")
                continue
            if index.get("format") != INDEX_FORMAT:
                report.problems.append(f"{target.name}:{key}: unknown format "
                                       f"{index.get('format')!r}")
                continue
            capture_id = index["capture"]["id"]
            if progress:
                progress(capture_id)
            events = archive.stored_events(target, prefix)
            entry = found.setdefault(capture_id, {"index": index, "events": [], "copies": []})
            if len(events) > len(entry["events"]):
                entry["events"] = events  # the fullest custody record wins
            try:
                head = archive.stored_head(target, prefix)
            except IsnadError as exc:
                report.problems.append(f"{capture_id}: {exc}")
                head = None
            if head and head.get("count", 0) >= (entry.get("head") or {}).get("count", 0):
                entry["head"] = head  # the signed custody head, checked by verify
            if not entry.get("anchors"):
                entry["anchors"] = _stored_anchors(target, prefix, keys, report)
            package_key = index["capture"]["package_key"]
            has_package = bool(package_key) and package_key in keys
            if package_key and not has_package:
                report.problems.append(f"{capture_id}: package missing on {target.name}")
            if has_package and not entry.get("pages"):
                entry["pages"] = _stored_pages(target, package_key, index, report)
            entry["copies"].append(CopyRow(
                target=target.name, state=CopyState.STORED,
                key=package_key if has_package else None,
                location=target.location(package_key if has_package else prefix),
                sha256=index["capture"]["package_sha256"] if has_package else None,
                size=index["capture"]["package_size"] if has_package else None,
                events_stored=max((e.seq for e in events), default=0),
                attempts=0))
    for capture_id, entry in sorted(found.items()):
        problems = chain_problems(entry["events"])
        report.problems += [f"{capture_id}: {p}" for p in problems]
        _insert(archive, entry["index"], entry["events"], entry["copies"])
        if entry.get("pages"):
            archive.catalog.replace_pages(capture_id, entry["pages"])
        if entry.get("head"):
            archive.catalog.save_head(capture_id, head=entry["head"],
                                      anchors=entry.get("anchors") or [])
        report.captures += 1
        report.events += len(entry["events"])
        report.copies += len(entry["copies"])
    _rebuild_imports(archive, [e["index"]["capture"] for _, e in sorted(found.items())])
    return report


def _rebuild_imports(archive: Archive, captures: list[dict[str, Any]]) -> None:
    """The imports, from the captures of imported files (their signed context names the
    import, its provider and the file as received). Files an import refused or linked as
    duplicates left nothing in storage; the rebuilt import lists what was stored."""
    imports: dict[str, dict[str, Any]] = {}
    for capture in captures:
        context = capture.get("context") or {}
        imported = context.get("import") if context.get("source") == "import" else None
        if not isinstance(imported, dict) or not imported.get("id"):
            continue
        entry = imports.setdefault(imported["id"], {"import": imported, "files": []})
        original = next((f for f in imported.get("files") or []
                         if f.get("role") == "original"), None)
        if original:
            entry["files"].append((capture["id"], original))
    for import_id, entry in imports.items():
        about = entry["import"]
        errors = any(f.get("severity") == "error" for _, o in entry["files"]
                     for f in o.get("findings") or [])
        archive.catalog.add_import(ImportRow(
            id=import_id, provider=about.get("provider") or "", received_by=about.get(
                "received_by") or "", received_at=_time_any(about.get("received_at")),
            started_at=_time_any(about.get("imported_at")) or datetime.now(UTC),
            case_id=about.get("case"), tags=about.get("tags") or [], note=about.get("note"),
            state=CaptureState.PARTIAL if errors else CaptureState.COMPLETE, paths=[], findings=[],
            context={"rebuilt_from_storage": True}))
        for capture_id, original in entry["files"]:
            archive.catalog.save_import_file(
                import_id, original.get("name") or capture_id,
                source_path=original.get("source_path") or "", kind=original.get("kind")
                or "warc", size=original.get("size") or 0, sha256=original.get("sha256"),
                hashes=original.get("hashes") or {}, declared=original.get("declared") or {},
                state=ImportFileState.IMPORTED, capture_id=capture_id,
                findings=original.get("findings") or [])


def _stored_pages(target: Any, package_key: str, index: dict[str, Any],
                  report: ReindexReport) -> list[dict[str, Any]] | None:
    """The page list of a stored package (its pages/pages.jsonl), for a capture whose record
    keeps only the count (the list went to the page table, which a reindex rebuilds). Read
    where the copy can be read in place (a local folder); elsewhere the list stays in the
    package alone (None)."""
    context = index["capture"].get("context") or {}
    if "pages" in context or not context.get("page_count"):
        return None  # an older record holds the list itself, or there is none
    try:
        stream = target.open(package_key)
    except IsnadError as exc:
        report.problems.append(f"{target.name}:{package_key}: page list not read: {exc}")
        return None
    with stream:
        if not getattr(stream, "seekable", lambda: False)():
            return None  # an object store's stream: reading the list means the whole package
        try:
            with zipfile.ZipFile(stream) as wacz:
                _, *lines = wacz.read("pages/pages.jsonl").decode("utf-8").splitlines()
            return [json.loads(line) for line in lines if line.strip()]
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            report.problems.append(f"{target.name}:{package_key}: page list not read: {exc}")
            return None


def _time_any(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _stored_anchors(target: Any, prefix: str, keys: set[str], report: ReindexReport
                    ) -> list[dict[str, Any]]:
    """The TSA anchors of a capture's custody heads, as a target holds them."""
    from archiver.audit import ANCHORS_FOLDER
    from archiver.custody import head_sha256
    from archiver.timestamps import TimestampError, token_info

    folder = f"{prefix}/{ANCHORS_FOLDER}/"
    anchors = []
    for token_key in sorted(k for k in keys if k.startswith(folder) and k.endswith(".tsr")):
        stem = token_key[len(folder):-len(".tsr")]
        count, digest16, tsa = stem.split("-", 2)
        head_key = f"{folder}{count}-{digest16}-head.json"
        try:
            head = json.loads(target.read_bytes(head_key))
            info = token_info(target.read_bytes(token_key))
        except (IsnadError, ValueError, TimestampError) as exc:
            report.problems.append(f"{target.name}:{token_key}: unreadable anchor: {exc}")
            continue
        anchors.append({"count": head.get("count"), "last_hash": head.get("last_hash"),
                        "head_sha256": head_sha256(head), "tsa": tsa,
                        "gen_time": info.get("gen_time"), "head_key": head_key,
                        "token_key": token_key})
    return anchors


def _insert(archive: Archive, index: dict[str, Any], events: list[CustodyEvent],
            copies: list[CopyRow]) -> None:
    c = index["capture"]
    row = CaptureRow(
        id=c["id"], url=c["url"], final_url=c["final_url"], state=c["state"],
        reasons=c["reasons"], error=c["error"], case_id=c["case_id"], tags=c["tags"],
        note=c["note"], operator=c["operator"], started_at=_time(c["started_at"]),
        ended_at=_time(c["ended_at"]), package_key=c["package_key"],
        package_sha256=c["package_sha256"], package_size=c["package_size"],
        context=c["context"],
    )
    row.artifacts = [ArtifactRow(**a) for a in index["artifacts"]]
    row.copies = copies
    if (c["context"] or {}).get("post"):
        row.posts = [PostRow.from_post(c["context"]["post"])]
    row.events = [CustodyEventRow(**{k: getattr(e, k) for k in CustodyEvent.__dataclass_fields__})
                  for e in events]
    archive.catalog.add_capture(row)


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
