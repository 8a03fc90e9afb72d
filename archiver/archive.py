"""The archive: the catalog, the storage targets and the data folder, working together.

Preservation rules kept here:

* every copy is verified against the hash computed before upload, and listed in the catalog
  with its location;
* the local copy of a package is released only once every target holds a verified copy; until
  then it waits in ``HOME/spool/`` and ``sync()`` (``isnad storage sync``) retries, with backoff;
* custody events go to the catalog at once and to each target as one immutable object per
  event, as soon as the target can take them;
* a capture whose process died is settled at the next start: FAILED, files kept aside.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from archiver import custody
from archiver.catalog import RECORD_FIELDS, CaptureRow, Catalog
from archiver.errors import IsnadError, NotFound, StorageError
from archiver.hashing import sha256_bytes
from archiver.states import CaptureState, CopyState, CustodyAction
from archiver.storage import Storage, StoredObject

if TYPE_CHECKING:
    from archiver.pagetext import PageTexts
    from archiver.proof import ProofOptions, Prover
    from archiver.signing import SigningKey

log = logging.getLogger(__name__)

INDEX_FORMAT = "isnad-capture-index/1"
INDEX_NAME = "capture.json"
HEAD_NAME = "custody-head.json"


def storage_prefix(capture_id: str, started: datetime) -> str:
    """Where a capture lives in storage: by UTC date, then capture id."""
    return f"captures/{started.astimezone(UTC):%Y/%m/%d}/{capture_id}"


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def capture_index(row: CaptureRow) -> dict[str, Any]:
    """The capture's catalog entry as stored beside its package (what `reindex` reads)."""
    return {
        "format": INDEX_FORMAT,
        "capture": {
            "id": row.id, "url": row.url, "final_url": row.final_url, "state": row.state,
            "reasons": row.reasons, "error": row.error, "case_id": row.case_id,
            "tags": row.tags, "note": row.note, "operator": row.operator,
            "started_at": iso(row.started_at), "ended_at": iso(row.ended_at),
            "package_key": row.package_key, "package_sha256": row.package_sha256,
            "package_size": row.package_size, "context": row.context,
        },
        "artifacts": [
            {"path": a.path, "kind": a.kind, "media_type": a.media_type, "sha256": a.sha256,
             "size": a.size}
            for a in row.artifacts
        ],
    }


def record_fields(index: dict[str, Any]) -> dict[str, str]:
    """The SHA-256 of each field of a capture record (as :func:`capture_index` writes it, or
    ``capture.json``) a custody head vouches for, and of its artifact list. Times are
    normalised so that a change in how they are written is not taken for an edit."""
    capture = index.get("capture") or {}
    values = {name: capture.get(name) for name in RECORD_FIELDS}
    for name in ("started_at", "ended_at"):
        values[name] = _normal_time(values[name])
    values["artifacts"] = sorted([str(a.get("path")), a.get("sha256"), a.get("size")]
                                 for a in index.get("artifacts") or [])
    return {name: sha256_bytes(custody.canonical_json(value)) for name, value in values.items()}


def fields_sha256(fields: dict[str, str]) -> str:
    return sha256_bytes(custody.canonical_json(fields))


def record_sha256(index: dict[str, Any]) -> str:
    """The hash of a capture record: of its :func:`record_fields`."""
    return fields_sha256(record_fields(index))


def _normal_time(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return iso(moment)


@dataclass
class SyncReport:
    stored: list[str] = field(default_factory=list)  # "capture-id → target"
    still_pending: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Archive:
    """Catalog + storage targets (the first is the primary) + the data folder."""

    def __init__(self, home: Path, catalog: Catalog, targets: list[Storage], *,
                 retries: int = 3, backoff: float = 0.5, host: str | None = None) -> None:
        if not targets:
            raise IsnadError("no storage target configured")
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise IsnadError(f"storage target names must be unique: {names}")
        self.home = Path(home)
        # The machine this data folder belongs to, as captures record it: a capture left
        # RUNNING is settled only by its own machine (the one whose folder holds its files).
        self.host = host or socket.gethostname()
        self.catalog = catalog
        self.targets = targets
        self.retries = retries
        self.backoff = backoff
        # Signing and timestamping (set by the service from its settings; None: off).
        self.prover_factory: Callable[[], Prover] | None = None
        # What packages are checked against, made on first use: a command that verifies
        # nothing (`isnad list`) never loads the proof modules nor reads the key.
        self.proof_options_factory: Callable[[], ProofOptions | None] | None = None
        self._proof_options: ProofOptions | None = None
        # The key that signs custody heads (set by the service; None: heads are unsigned).
        self.head_key: Callable[[], SigningKey | None] | None = None
        # Called as each capture is catalogued COMPLETE or PARTIAL, with its package while it
        # is still local (the service indexes it for search there), and the text its WARCs'
        # writers kept of their HTML records (by member name; archiver/pagetext.py). Must
        # not raise: an error is logged and the capture goes on.
        self.on_catalogued: Callable[[str, Path, Mapping[str, PageTexts]], None] | None = None
        self._head_key: tuple[SigningKey | None, str | None] | None = None
        self.work_root = self.home / "work"
        self.spool_root = self.home / "spool"
        self.quarantine_root = self.home / "quarantine"
        self.causes_root = self.home / "causes"
        self.queue_root = self.home / "custody-queue"

    @property
    def proof_options(self) -> ProofOptions | None:
        """The options packages are verified with (None: nothing configured)."""
        if self._proof_options is None and self.proof_options_factory is not None:
            self._proof_options = self.proof_options_factory()
        return self._proof_options

    @proof_options.setter
    def proof_options(self, options: ProofOptions | None) -> None:
        self._proof_options = options

    def new_prover(self) -> Prover | None:
        return self.prover_factory() if self.prover_factory else None

    @property
    def primary(self) -> Storage:
        return self.targets[0]

    def target(self, name: str) -> Storage:
        for target in self.targets:
            if target.name == name:
                return target
        raise IsnadError(f"no storage target named {name!r}; configured: "
                         + ", ".join(t.name for t in self.targets))

    # -- custody --------------------------------------------------------------------------
    def record_event(
        self,
        capture_id: str,
        actor: str,
        action: str,
        object_sha256: str | None,
        details: dict[str, Any] | None = None,
        *,
        checked_only: bool = False,
        time: str | None = None,
    ) -> custody.CustodyEvent:
        """Append a custody event to the catalog, sign the chain's new head, then write both to
        every target that holds the capture.

        ``checked_only`` marks an event that only looked (verify, audit): its head keeps the
        record hash of the head before, so that looking never vouches for an edited record."""
        self._signing_key()  # opened before the lock: a key file is not read while holding it
        # Many workers may append to one chain at once: read the last event, add the next and
        # sign the new head as one locked step, so the chain stays one chain.
        with self.catalog.custody_lock(capture_id):
            previous = self.catalog.last_event(capture_id)
            if previous is None:
                details = {**(details or {}), custody.HEAD_MARK: custody.HEAD_FORMAT}
            event = custody.next_event(
                previous,
                capture_id=capture_id,
                actor=actor,
                action=action,
                object_sha256=object_sha256,
                details=details,
                time=time,
            )
            self.catalog.add_event(event)
            self.write_head(capture_id, keep_record=checked_only)
        self.flush_events(capture_id)
        return event

    def record_or_queue(self, capture_id: str, actor: str, action: str,
                        object_sha256: str | None, details: dict[str, Any] | None = None, *,
                        checked_only: bool = False) -> str | None:
        """Record a custody event that must not be lost to a full disk (verify, audit).

        The event is first written to ``HOME/custody-queue/`` (a few hundred bytes, before the
        catalog's own files can take the last free space), then recorded and taken out of the
        queue. When the catalog cannot be written it stays queued and is recorded at the next
        start. Returns None once recorded, else one line saying where the event waits."""
        entry = {"capture_id": capture_id, "actor": actor, "action": action,
                 "object_sha256": object_sha256, "details": details or {},
                 "checked_only": checked_only, "time": custody.utc_now()}
        queued: Path | None = self.queue_root / f"{entry['time']}-{os.getpid()}.json"
        try:
            self.queue_root.mkdir(parents=True, exist_ok=True)
            with open(queued, "x", encoding="utf-8") as out:
                out.write(json.dumps(entry, ensure_ascii=False))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            log.warning("custody event not queued ahead (%s): recording it directly", exc)
            queued = None
        try:
            self.record_event(capture_id, actor, action, object_sha256, details,
                              checked_only=checked_only, time=entry["time"])
        except (OSError, SQLAlchemyError) as exc:
            why = str(exc).splitlines()[0]
            if queued is None:
                return (f"NOT RECORDED: the catalog could not be written ({why}), nor the "
                        f"queue in {self.queue_root}")
            return (f"queued in {queued}: the catalog could not be written ({why}); it is "
                    "recorded at the next start")
        if queued is not None:
            queued.unlink(missing_ok=True)
        return None

    def record_queued_events(self, min_age: float = 60.0) -> int:
        """Record the events queued while the catalog could not be written, oldest first,
        each with the time it happened. An entry younger than ``min_age`` seconds may belong to
        a process still recording it, and is left for later."""
        if not self.queue_root.is_dir():
            return 0
        done = 0
        for path in sorted(self.queue_root.glob("*.json")):
            if time.time() - path.stat().st_mtime < min_age:
                continue
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("queued custody event %s unreadable: %s", path, exc)
                continue
            try:
                self.catalog.get(entry["capture_id"])  # NotFound: not in this catalog
                self.record_event(
                    entry["capture_id"], entry["actor"], entry["action"],
                    entry["object_sha256"],
                    {**entry["details"], "queued": {"recorded_at": custody.utc_now(),
                                                    "because": "the catalog could not be "
                                                    "written (disk full?)"}},
                    checked_only=entry.get("checked_only", False), time=entry["time"])
            except (OSError, SQLAlchemyError) as exc:
                log.warning("queued custody events not recorded yet: %s", exc)
                break
            except (IsnadError, KeyError, TypeError) as exc:  # not in this catalog, or damaged
                log.warning("queued custody event %s not recorded (%s); kept as %s.unrecorded",
                            path, exc, path.name)
                path.rename(path.with_name(path.name + ".unrecorded"))
                continue
            path.unlink()
            done += 1
        return done

    def write_head(self, capture_id: str, *, keep_record: bool = False) -> dict[str, Any]:
        """Sign the head of a capture's chain as it stands and keep it in the catalog.

        The new head is signed only over what the head before vouched for: if the chain before
        the newest event no longer matches that head (events removed, rewritten), the break
        is written into the new head and every later one, so that signing again never hides it.
        """
        with self.catalog.custody_lock(capture_id):
            return self._write_head(capture_id, keep_record)

    def _write_head(self, capture_id: str, keep_record: bool) -> dict[str, Any]:
        row = self.catalog.get(capture_id)
        events = self.catalog.events(capture_id)
        head_row = self.catalog.head(capture_id)
        previous = head_row.head if head_row else None
        breaks = list((previous or {}).get("breaks") or [])
        found = _head_breaks(previous, events[:-1])
        if found:
            breaks.append({"at_event": len(events), "problems": found})
        # A field's hash changes only with a change this process made through the catalog; an
        # edit made behind its back keeps failing against the head signed before it.
        current = record_fields(capture_index(row))
        fields = dict(current)
        before = (previous or {}).get("record_fields")
        changed = set() if keep_record else self.catalog.take_touched(capture_id)
        if isinstance(before, dict):
            if "*" not in changed:
                fields = {name: current[name] if name in changed or name not in before
                          else before[name] for name in current}
        head = custody.chain_head(capture_id, events, fields_sha256(fields))
        head["record_fields"] = fields
        if breaks:
            head["breaks"] = breaks
        key, why_not = self._signing_key()
        if key is not None:
            from archiver.signing import sign_bytes

            head["signature"] = sign_bytes(key, custody.head_signed_bytes(head))
        else:
            head["unsigned"] = why_not
        self.catalog.save_head(capture_id, head=head)
        return head

    def use_head_key(self, opener: Callable[[], SigningKey | None]) -> None:
        """Sign custody heads with the key ``opener`` gives (opened on first use)."""
        self.head_key = opener
        self._head_key = None

    def _signing_key(self) -> tuple[SigningKey | None, str | None]:
        if self._head_key is None:
            try:
                key = self.head_key() if self.head_key else None
                self._head_key = (key, None if key else "signing is off")
            except IsnadError as exc:  # a locked key: the head says why it is unsigned
                self._head_key = (None, f"the signing key could not be opened: {exc}")
        return self._head_key

    def flush_events(self, capture_id: str) -> None:
        """Write the custody events a target does not hold yet, then the chain's head (best
        effort; sync retries). The last event counts as stored only once the head is too."""
        events = None
        for copy in self.catalog.copies(capture_id):
            if copy.state != CopyState.STORED:
                continue
            events = events if events is not None else self.catalog.events(capture_id)
            missing = [e for e in events if e.seq > copy.events_stored]
            if not missing:
                continue
            target = self.target(copy.target)
            prefix = self.prefix_of(capture_id)
            stored = self._flush_to(target, prefix, capture_id, missing, copy.events_stored)
            self.catalog.mark_events_stored(capture_id, copy.target, stored)

    def _flush_to(self, target: Storage, prefix: str, capture_id: str,
                  missing: list[custody.CustodyEvent], stored: int) -> int:
        """Write events a target lacks, then the chain's head; the last seq surely stored
        (the newest event counts only once a head counting it is stored too)."""

        def put(batch: list[custody.CustodyEvent]) -> int:
            done = stored
            for event in batch:
                target.put_bytes(f"{prefix}/custody/{event.seq:06d}-{event.action}.json",
                                 (event.to_json() + "\n").encode("utf-8"))
                if event is not batch[-1]:
                    done = max(done, event.seq)
            return done

        try:
            stored = put(missing)
            newest = missing[-1].seq
            # Another process may append (and write its head here) meanwhile: a head read
            # before its event and written after its head would leave this target an older
            # head. So look again after writing, until the head written is the catalog's:
            # whoever writes a head last has looked last.
            sent: dict[str, Any] | None = None
            for _ in range(20):
                head = self.catalog.head(capture_id)
                if head is None or head.head == sent:
                    break
                newer = [e for e in self.catalog.events(capture_id) if e.seq > newest]
                if newer:
                    stored = max(newest, put(newer))
                    newest = newer[-1].seq
                target.put_bytes(f"{prefix}/{HEAD_NAME}", _head_json(head.head))
                sent = head.head
            return max(stored, newest)
        except (StorageError, OSError) as exc:
            self.catalog.save_copy(capture_id, target.name, last_error=str(exc))
            return stored

    def stored_events(self, target: Storage, prefix: str) -> list[custody.CustodyEvent]:
        """The custody events of a capture as a target holds them.

        An object that is not a readable event (empty, cut short, not JSON) is a
        :class:`StorageError` naming it, never a crash."""
        events = []
        for key in target.list(prefix + "/custody/"):
            data = target.read_bytes(key)
            try:
                events.append(custody.CustodyEvent.from_dict(json.loads(data)))
            except (ValueError, TypeError, KeyError) as exc:
                what = "empty (0 bytes)" if not data else f"not a custody event ({exc})"
                raise StorageError(f"{target.name}:{key} is {what}") from exc
        return sorted(events, key=lambda e: e.seq)

    def stored_head(self, target: Storage, prefix: str) -> dict[str, Any] | None:
        """The custody head a target holds (None when it holds none)."""
        key = f"{prefix}/{HEAD_NAME}"
        try:
            data = target.read_bytes(key)
        except NotFound:
            return None
        try:
            head = json.loads(data)
            if not isinstance(head, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            what = "empty (0 bytes)" if not data else f"not a custody head ({exc})"
            raise StorageError(f"{target.name}:{key} is {what}") from exc
        return head

    def prefix_of(self, capture_id: str) -> str:
        row = self.catalog.get(capture_id)
        return storage_prefix(row.id, row.started_at.replace(tzinfo=row.started_at.tzinfo or UTC))

    # -- preservation ---------------------------------------------------------------------
    def preserve(self, capture_id: str, package: Path | None, actor: str) -> bool:
        """Store a finished capture on every target; spool what could not be stored.

        Returns True when every target holds a verified copy (the local copy is then gone).
        """
        all_stored = True
        for target in self.targets:
            all_stored &= self._store_on(target, capture_id, package, actor)
        # A capture stored without a package event (a FAILED one) still gets its custody out.
        self.flush_events(capture_id)
        if package is None:
            return all_stored
        if all_stored:
            self._release(package)  # the local copy goes only once every copy is verified
            self.catalog.update_capture(capture_id, spool_path=None, work_dir=None)
        else:
            spooled = self.spool_root / capture_id / package.name
            if package != spooled:
                spooled.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(package, spooled)
                self._release(package)
            self.catalog.update_capture(capture_id, spool_path=str(spooled), work_dir=None)
        return all_stored

    def refresh_index(self, capture_id: str) -> None:
        """Rewrite ``capture.json`` on every target holding the capture (after late changes,
        such as a late timestamp token); a target that fails is retried by the next sync."""
        row = self.catalog.get(capture_id)
        index = json.dumps(capture_index(row), ensure_ascii=False, indent=1).encode("utf-8")
        for copy in row.copies:
            if copy.state == CopyState.STORED:
                try:
                    self.target(copy.target).put_bytes(
                        f"{self.prefix_of(capture_id)}/{INDEX_NAME}", index)
                except StorageError as exc:
                    log.warning("capture.json of %s not refreshed on %s: %s", capture_id,
                                copy.target, exc)

    def _release(self, package: Path) -> None:
        """Remove a local package, and its capture's own work or spool folder with it."""
        package.unlink(missing_ok=True)
        if package.parent.parent.resolve() in (self.work_root.resolve(),
                                               self.spool_root.resolve()):
            shutil.rmtree(package.parent, ignore_errors=True)

    def _store_on(self, target: Storage, capture_id: str, package: Path | None, actor: str
                  ) -> bool:
        row = self.catalog.get(capture_id)
        prefix = self.prefix_of(capture_id)
        attempts = next((c.attempts for c in row.copies if c.target == target.name), 0) + 1
        try:
            stored: StoredObject | None = None
            if package is not None and row.package_key and row.package_sha256:
                stored = target.put_file(row.package_key, package, row.package_sha256)
            index = json.dumps(capture_index(row), ensure_ascii=False, indent=1)
            target.put_bytes(f"{prefix}/{INDEX_NAME}", index.encode("utf-8"))
        except (StorageError, OSError) as exc:
            self.catalog.save_copy(capture_id, target.name, state=CopyState.PENDING,
                                   key=row.package_key, attempts=attempts, last_error=str(exc))
            self.record_event(capture_id, actor, CustodyAction.STORAGE_FAILED, row.package_sha256,
                              {"target": target.name, "error": str(exc),
                               "kept_locally": True})
            return False
        self.catalog.save_copy(
            capture_id, target.name, state=CopyState.STORED, attempts=attempts, last_error=None,
            key=stored.key if stored else None,
            location=stored.location if stored else target.location(prefix),
            sha256=stored.sha256 if stored else None, size=stored.size if stored else None,
            version=stored.version if stored else None, stored_at=datetime.now(UTC))
        if stored:
            self.record_event(capture_id, actor, CustodyAction.STORED, stored.sha256, {
                "target": target.name, "key": stored.key, "location": stored.location,
                "version": stored.version})
            self.record_event(capture_id, actor, CustodyAction.VERIFIED, stored.sha256, {
                "target": target.name, "method": _verify_method(target),
                "bytes": stored.size})
        return True

    def sync(self, progress: Callable[[str], None] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> SyncReport:
        """Retry every pending copy (with backoff) and every custody event not yet stored."""
        report = SyncReport()
        pending_by_capture: dict[str, list[str]] = {}
        for copy in self.catalog.pending_copies():
            pending_by_capture.setdefault(copy.capture_id, []).append(copy.target)
        for capture_id, target_names in pending_by_capture.items():
            row = self.catalog.get(capture_id)
            package = Path(row.spool_path) if row.spool_path else None
            if row.package_key and (package is None or not package.exists()):
                report.errors.append(f"{capture_id}: the spooled package is missing "
                                     f"({row.spool_path}); it cannot be stored")
                continue
            for name in target_names:
                target = self.target(name)
                if progress:
                    progress(f"{capture_id} → {name}")
                for attempt in range(self.retries):
                    if self._store_on(target, capture_id, package, "isnad storage sync"):
                        report.stored.append(f"{capture_id} → {name}")
                        break
                    if attempt + 1 < self.retries:
                        sleep(self.backoff * 2 ** attempt)
                else:
                    report.still_pending.append(f"{capture_id} → {name}")
            if not any(c.state == CopyState.PENDING for c in self.catalog.copies(capture_id)):
                if package is not None:
                    shutil.rmtree(package.parent, ignore_errors=True)
                self.catalog.update_capture(capture_id, spool_path=None)
        for row in self.catalog.list():
            self.flush_events(row.id)
        return report

    # -- capture lifecycle ----------------------------------------------------------------
    def recover_interrupted(self) -> list[str]:
        """Mark captures whose process died as FAILED; keep their files aside, never delete.

        Only captures started on this machine (``host``) are judged: another machine's
        process may be alive, and its files are on its own disk.
        """
        recovered = []
        for row in self.catalog.list(state=CaptureState.RUNNING):
            if row.worker_host != self.host or _process_alive(row):
                continue
            cause = self._noted_cause(row.id)
            reason = ("interrupted: the capturing process ended before the capture finished"
                      + (f" ({cause})" if cause else ""))
            # Several processes of this machine (workers, a `capture`) may look at once: only
            # the one whose conditional UPDATE finds the capture still RUNNING settles it; the
            # others would move files already moved and record a second "failed".
            if not self.catalog.update_capture(
                    row.id, guard=_still_running(row.id), state=CaptureState.FAILED,
                    reasons=[reason], error=reason, ended_at=datetime.now(UTC)):
                continue
            # The dead process may have changed the record (its start time) without getting to
            # sign it: the settled record is signed anew as a whole.
            self.catalog.touched.setdefault(row.id, set()).add("*")
            kept = self.set_aside(row.id, Path(row.work_dir)) if row.work_dir else None
            self.catalog.update_capture(row.id, work_dir=str(kept) if kept else None)
            self.record_event(
                row.id, "isnad", CustodyAction.FAILED, None,
                {"reason": reason, "partial_files_kept_in": str(kept) if kept else None},
            )
            self.preserve(row.id, None, "isnad")
            self.causes_root.joinpath(row.id).unlink(missing_ok=True)
            recovered.append(row.id)
        return recovered

    def set_aside(self, capture_id: str, work_dir: Path) -> Path | None:
        """Move a failed capture's work folder to ``HOME/quarantine/`` (kept, never deleted)."""
        if not work_dir.exists():
            return None
        self.quarantine_root.mkdir(parents=True, exist_ok=True)
        kept = self.quarantine_root / capture_id
        shutil.move(work_dir, kept)
        return kept

    def note_cause(self, capture_id: str, cause: str) -> None:
        """Keep why a capture failed when the catalog cannot be written (a full disk): a few
        bytes in ``HOME/causes/``, read when the capture is settled at the next start."""
        try:
            self.causes_root.mkdir(parents=True, exist_ok=True)
            self.causes_root.joinpath(capture_id).write_text(cause)
        except OSError as exc:
            log.error("capture %s failed (%s); the cause could not be kept: %s", capture_id,
                      cause, exc)

    def _noted_cause(self, capture_id: str) -> str | None:
        try:
            return self.causes_root.joinpath(capture_id).read_text().strip() or None
        except OSError:
            return None


def _head_breaks(previous: dict[str, Any] | None, events: list[custody.CustodyEvent]
                 ) -> list[str]:
    """How the chain before a new event departs from the head signed before it."""
    if previous is None:
        if custody.is_anchored_chain(events):
            return ["the head before this event was missing"]
        return []
    # Breaks already carried are not found again.
    problems = custody.head_problems({k: v for k, v in previous.items() if k != "breaks"},
                                     events, None)
    signature = previous.get("signature")
    if signature:
        from archiver.signing import verify_bytes

        problems += verify_bytes(signature, custody.head_signed_bytes(previous)).problems
    return problems


def _head_json(head: dict[str, Any]) -> bytes:
    return (json.dumps(head, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode()


def _verify_method(target: Storage) -> str:
    verify = getattr(target, "verify", None)
    if verify == "readback":
        return "size and SHA-256 checksum read back from the store, and the object re-hashed"
    if verify == "checksum":
        return "size and SHA-256 checksum read back from the store"
    return "stored file re-hashed"


def process_alive(pid: int) -> bool:
    """Is process ``pid`` running? A zombie (dead, not yet reaped by its parent) is not."""
    import psutil  # here, not at the top: a command that judges no process does not load it

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _still_running(capture_id: str) -> Callable[[Any], bool]:
    """A guard for :meth:`Catalog.update_capture`: the capture is still RUNNING (and, this
    UPDATE having written it, stays ours until the transaction ends)."""
    def guard(session: Any) -> bool:
        return session.execute(
            update(CaptureRow).where(CaptureRow.id == capture_id,
                                     CaptureRow.state == CaptureState.RUNNING)
            .values(state=CaptureState.RUNNING)).rowcount == 1
    return guard


def _process_alive(row: CaptureRow) -> bool:
    if not row.worker_pid or not process_alive(row.worker_pid):
        return False
    import psutil

    try:
        started = psutil.Process(row.worker_pid).create_time()
    except psutil.Error:
        return False
    # A reused pid belongs to a process that started later than ours.
    return abs(started - float((row.context or {}).get("process_started", started))) < 1.0
