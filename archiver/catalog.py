"""The catalog: an index of captures, their artifacts and custody events (SQLAlchemy 2).

SQLite by default; PostgreSQL by changing the URL. Storage stays the source of truth.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    cast,
    create_engine,
    event,
    exists,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    aliased,
    defer,
    mapped_column,
    relationship,
    selectinload,
)

from archiver.custody import CustodyEvent
from archiver.errors import NotFound
from archiver.states import CaptureState, CopyState, ImportFileState

# Old names, now aliases of archiver.states members: isnad/ (service, cli, output) imports them.
COMPLETE = CaptureState.COMPLETE
PARTIAL = CaptureState.PARTIAL
FAILED = CaptureState.FAILED
STORED = CopyState.STORED

# The fields of a capture record a signed custody head vouches for (with the artifacts' hashes).
RECORD_FIELDS = ("id", "url", "final_url", "state", "reasons", "error", "case_id", "tags",
                 "note", "operator", "started_at", "ended_at", "package_key", "package_sha256",
                 "package_size")


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in UTC, handed back with its zone by every database.

    SQLite keeps no zone (a ``DateTime(timezone=True)`` comes back naive, and would be written
    out as ``2026-12-01T02:01:03`` with nothing saying UTC); PostgreSQL hands back its session's
    zone. Every catalog time goes through here, so every time read from the catalog is UTC and
    says so. A naive value given to the catalog is taken as UTC (Isnad writes UTC only)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(moment: datetime) -> datetime:
    """The same moment in UTC; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class CaptureRow(Base):
    __tablename__ = "captures"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    final_url: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[str | None] = mapped_column(String(200), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    operator: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    package_key: Mapped[str | None] = mapped_column(Text)
    package_sha256: Mapped[str | None] = mapped_column(String(64))
    package_size: Mapped[int | None] = mapped_column(BigInteger)
    # Who runs it, so an interrupted capture can be told apart from a running one.
    worker_host: Mapped[str | None] = mapped_column(String(255))
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    work_dir: Mapped[str | None] = mapped_column(Text)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    @property
    def package_location(self) -> str | None:
        """Where to find the package: the primary stored copy, else the local spool."""
        stored = [c for c in self.copies if c.state == CopyState.STORED and c.key]
        return stored[0].location if stored else self.spool_path

    # Where the package waits when a storage target could not take it (see `storage sync`).
    spool_path: Mapped[str | None] = mapped_column(Text)

    artifacts: Mapped[list[ArtifactRow]] = relationship(
        back_populates="capture", cascade="all, delete-orphan", order_by="ArtifactRow.path"
    )
    copies: Mapped[list[CopyRow]] = relationship(
        back_populates="capture", cascade="all, delete-orphan", order_by="CopyRow.target"
    )
    events: Mapped[list[CustodyEventRow]] = relationship(
        back_populates="capture", cascade="all, delete-orphan", order_by="CustodyEventRow.seq"
    )
    posts: Mapped[list[PostRow]] = relationship(
        back_populates="capture", cascade="all, delete-orphan", order_by="PostRow.id"
    )
    # Never loaded with the row: a crawl lists thousands (see Catalog.pages).
    pages: Mapped[list[PageRow]] = relationship(
        back_populates="capture", cascade="all, delete-orphan", order_by="PageRow.seq",
        lazy="raise"
    )


class ArtifactRow(Base):
    """A file inside a package, or a resource record inside one of its WARCs."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    media_type: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)

    capture: Mapped[CaptureRow] = relationship(back_populates="artifacts")


class PageRow(Base):
    """A page a capture lists (one line of its package's pages/pages.jsonl), so that the
    capture's own row stays small however many pages a crawl found."""

    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("capture_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # its place in pages.jsonl, from 0
    url: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # the page as pages.jsonl has it

    capture: Mapped[CaptureRow] = relationship(back_populates="pages")


class CopyRow(Base):
    """A capture's presence on one storage target: its package, index record and custody."""

    __tablename__ = "copies"
    __table_args__ = (UniqueConstraint("capture_id", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), index=True)
    target: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))  # a CopyState: STORED or PENDING
    key: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[str | None] = mapped_column(String(255))
    events_stored: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    stored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    capture: Mapped[CaptureRow] = relationship(back_populates="copies")


class PostRow(Base):
    """A social media post a capture holds (the normalized record; the full one is in the
    package as metadata/post.json), so posts can be found by platform, id, author and time."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), index=True)
    platform: Mapped[str] = mapped_column(String(40), index=True)
    post_id: Mapped[str] = mapped_column(String(200), index=True)
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    author_id: Mapped[str | None] = mapped_column(String(200))
    author_handle: Mapped[str | None] = mapped_column(String(200), index=True)
    author_name: Mapped[str | None] = mapped_column(Text)
    published: Mapped[str | None] = mapped_column(String(40), index=True)
    language: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str | None] = mapped_column(Text)

    capture: Mapped[CaptureRow] = relationship(back_populates="posts")

    @classmethod
    def from_post(cls, post: dict[str, Any]) -> PostRow:
        return cls(**{k: post.get(k) for k in (
            "platform", "post_id", "url", "status", "author_id", "author_handle",
            "author_name", "published", "language", "text")})


class CustodyEventRow(Base):
    __tablename__ = "custody_events"
    __table_args__ = (UniqueConstraint("capture_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    time: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    object_sha256: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    capture: Mapped[CaptureRow] = relationship(back_populates="events")

    def to_event(self) -> CustodyEvent:
        return CustodyEvent(**{name: getattr(self, name)
                               for name in CustodyEvent.__dataclass_fields__})


class CustodyHeadRow(Base):
    """The signed head of a capture's custody chain, and the TSA anchors of earlier heads."""

    __tablename__ = "custody_heads"

    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), primary_key=True)
    head: Mapped[dict[str, Any]] = mapped_column(JSON)
    anchors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ImportRow(Base):
    """An import: material handed over by a provider (issue 14), as received and checked.

    Each file received is an :class:`ImportFileRow`; each WARC/ARC stored becomes a capture of
    its own (its package, custody and copies), so list, show, verify, audit, export and
    reindex work on it as on any capture."""

    __tablename__ = "imports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # as the person says
    received_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the import's own time
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    case_id: Mapped[str | None] = mapped_column(String(200), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)  # a CaptureState
    paths: Mapped[list[str]] = mapped_column(JSON, default=list)  # what was handed over
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    files: Mapped[list[ImportFileRow]] = relationship(
        back_populates="imported", cascade="all, delete-orphan", order_by="ImportFileRow.id")


class ImportFileRow(Base):
    """One file of an import: its name as received, hashes, findings, and what became of it
    (``stored`` as a capture, ``duplicate`` of one already in the vault, ``refused``)."""

    __tablename__ = "import_files"
    __table_args__ = (UniqueConstraint("import_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[str] = mapped_column(ForeignKey("imports.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    hashes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    declared: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16))
    capture_id: Mapped[str | None] = mapped_column(String(36), index=True)
    duplicate_of: Mapped[str | None] = mapped_column(String(36))
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    imported: Mapped[ImportRow] = relationship(back_populates="files")



# The engines of the catalogs opened in this process, for close_connections().
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def close_connections() -> None:
    """Close the pooled connections of every catalog this process opened, as the
    interpreter's teardown would: for a process that leaves with ``os._exit`` (a command that
    only read). SQLite then checkpoints its write-ahead log into the database file and removes
    it, and a PostgreSQL server sees the session end instead of a connection cut."""
    for engine in list(_ENGINES):
        engine.dispose()


class Catalog:
    """Access to the catalog database."""

    def __init__(self, url: str, *, upgrade: bool | None = None) -> None:
        """Open the catalog at ``url``, its schema at the migrations' head.

        ``upgrade``: bring an older schema to head (None, the default: on SQLite only, the
        embedded default needs no set-up; a PostgreSQL catalog shared by many machines is
        upgraded by one deliberate `isnad db upgrade`, never by whichever worker starts first).
        """
        from archiver import schema

        self.url = url
        # Workers, their capture processes and `submit` calls write at once: SQLite waits
        # for the lock (up to a minute) instead of failing at the first busy moment.
        # A database server that restarted leaves every pooled connection dead: each is
        # checked when taken from the pool (pre-ping) and replaced, instead of failing the
        # first write after an outage.
        # A server that stops answering makes a call fail within bounded time (see
        # _connect_args), never wait for ever: a capture process must end, not hang.
        server = {} if url.startswith("sqlite") else {"pool_pre_ping": True,
                                                       "pool_timeout": POOL_TIMEOUT}
        self.engine = create_engine(url, future=True, connect_args=_connect_args(url), **server)
        _ENGINES.add(self.engine)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        schema.ensure(self.engine, upgrade_automatically=(
            upgrade if upgrade is not None else self.engine.dialect.name == "sqlite"))
        if self.engine.dialect.name == "sqlite":
            _refresh_sqlite_statistics(self.engine)
        # Captures whose record this process changed since their custody head was last signed:
        # only these get a new record hash (an edit made behind the catalog's back never does).
        self.touched: dict[str, set[str]] = {}
        # The session of a custody lock this thread holds (see custody_lock).
        self._held = threading.local()

    @property
    def safe_url(self) -> str:
        """The catalog's URL to show: its password (if the URL holds one) hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction, committed at the end. Inside :meth:`custody_lock`,
        that lock's session and transaction (committed when the lock is let go)."""
        held = getattr(self._held, "session", None)
        if held is not None:
            yield held
            return
        with Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    @contextmanager
    def custody_lock(self, capture_id: str) -> Iterator[None]:
        """Hold a capture's custody chain alone, in one transaction, until the block ends.

        Appending an event is read the last event, write the next, sign the new head: two
        processes doing that at once would both write event N+1, or sign heads that
        contradict each other. Every catalog call made in the block (by this thread) joins
        the lock's transaction, which is committed at the end (rolled back on an error).
        PostgreSQL: the capture's row is locked (SELECT … FOR UPDATE), other captures go on.
        SQLite: the database's write lock is taken first (BEGIN IMMEDIATE), so no writer
        reads a chain another is about to extend; waiting for it uses the busy timeout.
        """
        held = getattr(self._held, "session", None)
        if held is not None:  # nested: the same transaction, this capture locked too
            self._lock_row(held, capture_id)
            yield
            return
        with Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                if self.engine.dialect.name == "sqlite":
                    session.connection().exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    self._lock_row(session, capture_id)
                self._held.session = session
                try:
                    yield
                finally:
                    self._held.session = None

    def _lock_row(self, session: Session, capture_id: str) -> None:
        if self.engine.dialect.name != "sqlite":
            session.execute(select(CaptureRow.id).where(CaptureRow.id == capture_id)
                            .with_for_update())

    # -- captures -------------------------------------------------------------------------
    def add_capture(self, row: CaptureRow) -> None:
        with self.session() as s:
            s.add(row)
        self.touched.setdefault(row.id, set()).add("*")

    def update_capture(self, capture_id: str, *, guard: Callable[[Session], bool] | None = None,
                       **values: Any) -> bool:
        """Change a capture's fields. ``guard`` runs first in the same transaction: when it
        says False nothing is changed (and False is returned). It is how a state change is
        made only while a condition elsewhere holds (a job's attempt still current) with no
        moment between the look and the change."""
        with self.session() as s:
            if guard is not None and not guard(s):
                return False
            row = s.get(CaptureRow, capture_id)
            if row is None:
                raise NotFound(f"no capture {capture_id}")
            for key, value in values.items():
                setattr(row, key, value)
        changed = set(values) & set(RECORD_FIELDS)
        if changed:
            self.touched.setdefault(capture_id, set()).update(changed)
        return True

    def take_touched(self, capture_id: str) -> set[str]:
        """The record fields this process changed since the last call ("*": all, a new row;
        "artifacts": the artifact list)."""
        return self.touched.pop(capture_id, set())

    def get(self, capture_id: str) -> CaptureRow:
        """A capture by id or unique id prefix, with artifacts and events loaded."""
        with self.session() as s:
            row = by_id_or_prefix(s, CaptureRow, capture_id, "capture")
            _ = row.artifacts, row.events, row.copies, row.posts
            return row

    def list(self, state: str | None = None) -> list[CaptureRow]:
        with self.session() as s:
            query = select(CaptureRow).order_by(CaptureRow.id).options(
                selectinload(CaptureRow.copies))  # one query for all copies, not one per row
            if state:
                query = query.where(CaptureRow.state == state)
            return list(s.scalars(query).all())

    def capture_ids(self) -> list[str]:
        """Every capture's id, in order (without loading the rows)."""
        with self.session() as s:
            return list(s.scalars(select(CaptureRow.id).order_by(CaptureRow.id)))

    def find(self, *, case: str | None = None, tags: tuple[str, ...] = (),
             states: tuple[str, ...] = (), since: datetime | None = None,
             until: datetime | None = None, url: str | None = None,
             limit: int | None = None, offset: int = 0, context: bool = True,
             source: str | None = None, platform: str | None = None
             ) -> tuple[list[CaptureRow], int]:
        """Captures matching every filter given, newest first, and how many match in all.

        ``url`` matches part of the requested or final URL (case-insensitive); ``tags`` must
        all be present; ``since``/``until`` bound the start time; ``source`` is ``import``
        (captures made of imported files) or ``capture`` (the others); ``platform``: captures
        holding a post of that platform (``telegram``, ``x``...). The filtering is SQL.
        ``limit`` and ``offset`` cut out one page; its rows come with their copies (loaded in
        one query for the page). Without ``context`` the rows' ``context`` (the big JSON
        column: a crawl's pages) is not read, and must not be used.
        """
        where = self._filters(case=case, tags=tags, states=states, since=since, until=until,
                              url=url, source=source, platform=platform)
        with self.session() as s:
            total = s.scalar(select(func.count()).select_from(CaptureRow).where(*where)) or 0
            query = (select(CaptureRow).where(*where).order_by(CaptureRow.id.desc())
                     .options(*_row_options(context)))
            if limit is not None:
                query = query.limit(limit)
            if offset:
                query = query.offset(offset)
            return list(s.scalars(query).all()), total

    def iter_find(self, *, case: str | None = None, tags: tuple[str, ...] = (),
                  states: tuple[str, ...] = (), since: datetime | None = None,
                  until: datetime | None = None, url: str | None = None,
                  batch: int = 500, context: bool = True, source: str | None = None,
                  platform: str | None = None) -> Iterator[CaptureRow]:
        """Every capture `find` would give, newest first, read ``batch`` at a time (each batch
        in a session of its own, by id: memory stays flat however many there are)."""
        where = self._filters(case=case, tags=tags, states=states, since=since, until=until,
                              url=url, source=source, platform=platform)
        last: str | None = None
        while True:
            with self.session() as s:
                query = (select(CaptureRow).where(*where).order_by(CaptureRow.id.desc())
                         .options(*_row_options(context)).limit(batch))
                if last is not None:
                    query = query.where(CaptureRow.id < last)
                rows = list(s.scalars(query).all())
            yield from rows
            if len(rows) < batch:
                return
            last = rows[-1].id

    def _filters(self, *, case: str | None, tags: tuple[str, ...], states: tuple[str, ...],
                 since: datetime | None, until: datetime | None, url: str | None,
                 source: str | None = None, platform: str | None = None) -> list[Any]:
        """The SQL conditions of `find`'s filters."""
        where = []
        if platform is not None:
            where.append(CaptureRow.id.in_(select(PostRow.capture_id)
                                           .where(PostRow.platform == platform)))
        if source is not None:
            imported = select(ImportFileRow.capture_id).where(
                ImportFileRow.capture_id.is_not(None))
            where.append(CaptureRow.id.in_(imported) if source == "import"
                         else CaptureRow.id.not_in(imported))
        if case is not None:
            where.append(CaptureRow.case_id == case)
        for tag in tags:
            where.append(_has_tag(self.engine.dialect.name, tag))
        if states:
            where.append(CaptureRow.state.in_(states))
        if since is not None:
            where.append(CaptureRow.started_at >= since)
        if until is not None:
            where.append(CaptureRow.started_at < until)
        if url:
            pattern = "%" + _like_escape(url) + "%"
            where.append(or_(CaptureRow.url.ilike(pattern, escape="\\"),
                             CaptureRow.final_url.ilike(pattern, escape="\\")))
        return where

    def cases(self) -> list[tuple[str | None, int, datetime | None]]:
        """Each case (None: captures of no case) with how many captures it holds and when
        its latest started, the latest first."""
        with self.session() as s:
            query = (select(CaptureRow.case_id, func.count(), func.max(CaptureRow.started_at))
                     .group_by(CaptureRow.case_id)
                     .order_by(func.max(CaptureRow.started_at).desc()))
            return [(case, count, latest) for case, count, latest in s.execute(query)]

    def platforms(self) -> list[str]:
        """The platforms of the posts the catalog holds, by name."""
        with self.session() as s:
            return list(s.scalars(select(PostRow.platform).distinct().order_by(PostRow.platform)))

    def unique_prefixes(self, ids: list[str], minimum: int = 8) -> dict[str, str]:
        """The shortest prefix (at least ``minimum`` long) naming each id alone in the catalog.

        Ids sort, so an id's only rivals are its two neighbours, each found by one step in
        the primary key's index: one statement for up to 500 ids in the catalog (a page of the
        web app's list made 100 before, a fixed cost of every page), two for any other id.
        """
        rival = aliased(CaptureRow)
        before = (select(rival.id).where(rival.id < CaptureRow.id).order_by(rival.id.desc())
                  .limit(1).scalar_subquery())
        after = (select(rival.id).where(rival.id > CaptureRow.id).order_by(rival.id)
                 .limit(1).scalar_subquery())
        neighbours: dict[str, list[str | None]] = {}
        unique = list(dict.fromkeys(ids))
        with self.session() as s:
            for first in range(0, len(unique), 500):
                chunk = unique[first:first + 500]
                for capture_id, low, high in s.execute(
                        select(CaptureRow.id, before, after).where(CaptureRow.id.in_(chunk))):
                    neighbours[capture_id] = [low, high]
            for capture_id in unique:
                if capture_id not in neighbours:  # not (or no longer) in the catalog
                    neighbours[capture_id] = [
                        s.scalar(select(CaptureRow.id).where(CaptureRow.id < capture_id)
                                 .order_by(CaptureRow.id.desc()).limit(1)),
                        s.scalar(select(CaptureRow.id).where(CaptureRow.id > capture_id)
                                 .order_by(CaptureRow.id).limit(1))]
        shortest: dict[str, str] = {}
        for capture_id in ids:
            shared = max((_common_prefix(capture_id, n) for n in neighbours[capture_id] if n),
                         default=0)
            shortest[capture_id] = capture_id[:max(minimum, shared + 1)]
        return shortest

    def is_empty(self) -> bool:
        with self.session() as s:
            return s.scalars(select(CaptureRow.id).limit(1)).first() is None

    # -- imports --------------------------------------------------------------------------
    def add_import(self, row: ImportRow) -> None:
        with self.session() as s:
            s.add(row)

    def update_import(self, import_id: str, **values: Any) -> None:
        with self.session() as s:
            row = s.get(ImportRow, import_id)
            if row is None:
                raise NotFound(f"no import {import_id}")
            for key, value in values.items():
                setattr(row, key, value)

    def get_import(self, import_id: str) -> ImportRow:
        """An import by id or unique id prefix, with its files loaded."""
        with self.session() as s:
            row = by_id_or_prefix(s, ImportRow, import_id, "import")
            _ = row.files
            return row

    def list_imports(self) -> list[ImportRow]:
        with self.session() as s:
            rows = list(s.scalars(select(ImportRow).order_by(ImportRow.id.desc())).all())
            for row in rows:
                _ = row.files
            return rows

    def save_import_file(self, import_id: str, name: str, **values: Any) -> ImportFileRow:
        """Create or update the file ``name`` of an import."""
        with self.session() as s:
            row = s.scalars(select(ImportFileRow).where(ImportFileRow.import_id == import_id,
                                                        ImportFileRow.name == name)).first()
            if row is None:
                row = ImportFileRow(import_id=import_id, name=name, size=0, hashes={},
                                    declared={}, findings=[])
                s.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            s.flush()
            return row

    def stored_import_file(self, sha256: str) -> ImportFileRow | None:
        """The imported file with this SHA-256 already stored as a capture (None: not in the
        vault)."""
        with self.session() as s:
            return s.scalars(select(ImportFileRow).where(
                ImportFileRow.sha256 == sha256, ImportFileRow.state == ImportFileState.IMPORTED,
                ImportFileRow.capture_id.is_not(None)).order_by(ImportFileRow.id).limit(1)
            ).first()

    # -- copies ---------------------------------------------------------------------------
    def copies(self, capture_id: str) -> list[CopyRow]:
        with self.session() as s:
            return list(s.scalars(select(CopyRow).where(CopyRow.capture_id == capture_id)
                                  .order_by(CopyRow.target)).all())

    def pending_copies(self) -> list[CopyRow]:
        with self.session() as s:
            return list(s.scalars(select(CopyRow).where(CopyRow.state == CopyState.PENDING)
                                  .order_by(CopyRow.capture_id, CopyRow.target)).all())

    def save_copy(self, capture_id: str, target: str, **values: Any) -> CopyRow:
        """Create or update the copy of a capture on a target."""
        with self.session() as s:
            row = s.scalars(select(CopyRow).where(CopyRow.capture_id == capture_id,
                                                  CopyRow.target == target)).first()
            if row is None:
                row = CopyRow(capture_id=capture_id, target=target, events_stored=0,
                              attempts=0, state=values.get("state", CopyState.PENDING))
                s.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            s.flush()
            return row

    def mark_events_stored(self, capture_id: str, target: str, seq: int) -> None:
        """Record that ``target`` holds the capture's events up to ``seq``: only ever raised
        (two processes flushing at once must not set it back)."""
        with self.session() as s:
            s.execute(update(CopyRow).where(CopyRow.capture_id == capture_id,
                                            CopyRow.target == target,
                                            CopyRow.events_stored < seq)
                      .values(events_stored=seq))

    def replace_artifacts(self, capture_id: str, artifacts: list[ArtifactRow]) -> None:
        with self.session() as s:
            row = s.get(CaptureRow, capture_id)
            if row is None:
                raise NotFound(f"no capture {capture_id}")
            row.artifacts.clear()
            s.flush()
            row.artifacts.extend(artifacts)
        self.touched.setdefault(capture_id, set()).add("artifacts")

    def replace_pages(self, capture_id: str, pages: list[dict[str, Any]],
                      batch: int = 1000) -> None:
        """Make ``pages`` (in order) the capture's page list, written ``batch`` at a time."""
        with self.session() as s:
            s.execute(PageRow.__table__.delete().where(PageRow.capture_id == capture_id))
            for start in range(0, len(pages), batch):
                s.execute(PageRow.__table__.insert(), [
                    {"capture_id": capture_id, "seq": start + i, "url": str(p.get("url") or ""),
                     "data": p} for i, p in enumerate(pages[start:start + batch])])

    def pages(self, capture_id: str) -> list[dict[str, Any]]:
        """A capture's page list, in order. A capture catalogued before the page table
        (revision 0003) has it in its row's context instead: read from there."""
        with self.session() as s:
            pages = list(s.scalars(select(PageRow.data).where(PageRow.capture_id == capture_id)
                                   .order_by(PageRow.seq)))
            if pages:
                return pages
            context = s.scalar(select(CaptureRow.context).where(CaptureRow.id == capture_id))
            return list((context or {}).get("pages") or [])

    def set_post(self, capture_id: str, post: dict[str, Any]) -> None:
        with self.session() as s:
            row = s.get(CaptureRow, capture_id)
            if row is None:
                raise NotFound(f"no capture {capture_id}")
            row.posts.clear()
            s.flush()
            row.posts.append(PostRow.from_post(post))

    def find_posts(self, platform: str, post_id: str) -> list[PostRow]:
        with self.session() as s:
            return list(s.scalars(select(PostRow).where(
                PostRow.platform == platform, PostRow.post_id == post_id)))

    # -- custody --------------------------------------------------------------------------
    def last_event(self, capture_id: str) -> CustodyEvent | None:
        with self.session() as s:
            row = s.scalars(
                select(CustodyEventRow)
                .where(CustodyEventRow.capture_id == capture_id)
                .order_by(CustodyEventRow.seq.desc())
                .limit(1)
            ).first()
            return row.to_event() if row else None

    def add_event(self, ev: CustodyEvent) -> None:
        with self.session() as s:
            s.add(CustodyEventRow(**asdict(ev)))

    def events(self, capture_id: str) -> list[CustodyEvent]:
        with self.session() as s:
            rows = s.scalars(
                select(CustodyEventRow)
                .where(CustodyEventRow.capture_id == capture_id)
                .order_by(CustodyEventRow.seq)
            ).all()
            return [r.to_event() for r in rows]

    def head(self, capture_id: str) -> CustodyHeadRow | None:
        """The custody head of a capture (None for chains recorded before heads existed)."""
        with self.session() as s:
            return s.get(CustodyHeadRow, capture_id)

    def save_head(self, capture_id: str, **values: Any) -> None:
        with self.session() as s:
            row = s.get(CustodyHeadRow, capture_id)
            if row is None:
                row = CustodyHeadRow(capture_id=capture_id, anchors=[])
                s.add(row)
            for key, value in values.items():
                setattr(row, key, value)


def _row_options(context: bool) -> list[Any]:
    """Loader options of a listing: the copies in one query; the context only if wanted."""
    options: list[Any] = [selectinload(CaptureRow.copies)]
    if not context:
        options.append(defer(CaptureRow.context, raiseload=True))
    return options


def by_id_or_prefix(session: Session, model: Any, ident: str, what: str) -> Any:
    """The ``model`` row whose id is ``ident``, or whose id alone begins with it (at least 4
    characters: people type short ids); NotFound naming ``what`` otherwise."""
    row = session.get(model, ident)
    if row is None and len(ident) >= 4:
        matches = session.scalars(select(model).where(model.id.startswith(ident))
                                  .limit(2)).all()
        if len(matches) > 1:
            raise NotFound(f"{what} id prefix {ident!r} is ambiguous")
        row = matches[0] if matches else None
    if row is None:
        raise NotFound(f"no {what} {ident!r} in the catalog")
    return row


def _has_tag(dialect: str, tag: str) -> Any:
    """SQL: the capture's JSON list of tags holds ``tag``."""
    if dialect == "sqlite":
        return exists(select(1).select_from(func.json_each(CaptureRow.tags))
                      .where(literal_column("value") == tag))
    # Elsewhere: the tag, JSON-encoded with its quotes, inside the encoded list.
    encoded = json.dumps(tag)
    return cast(CaptureRow.tags, Text).like("%" + _like_escape(encoded) + "%", escape="\\")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


# Tables whose filters the planner must weigh: the statistics SQLite's planner reads
# (sqlite_stat1), refreshed when a table has grown or shrunk this much since the last ANALYZE.
# PostgreSQL's autovacuum analyses on its own.
STATISTICS_TABLES = ("captures", "jobs")
STATISTICS_MIN_ROWS = 1000
STATISTICS_FACTOR = 2


def _refresh_sqlite_statistics(engine: Any) -> None:
    """ANALYZE the tables of :data:`STATISTICS_TABLES` that have no statistics yet or have
    changed size by :data:`STATISTICS_FACTOR` since (at least :data:`STATISTICS_MIN_ROWS`
    rows). Without them SQLite takes an index on ``state`` (three values) as selective as one
    on ``case_id``: `find(states=("COMPLETE",))` then visited 80 % of the captures by that
    index and sorted them for a page of 50, time growing with the catalog (bench/
    web_bench.py). Best effort: a catalog another process holds locked is analysed by a
    later opening, never waited for."""
    try:
        with engine.connect() as conn:
            stale = []
            present = {row[0] for row in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            has_stats = "sqlite_stat1" in present
            for table in (t for t in STATISTICS_TABLES if t in present):
                # max(rowid): the number of rows ever inserted, read from the b-tree's edge.
                rows = conn.exec_driver_sql(f"SELECT max(rowid) FROM {table}").scalar() or 0
                if rows < STATISTICS_MIN_ROWS:
                    continue
                known = conn.exec_driver_sql(
                    "SELECT stat FROM sqlite_stat1 WHERE tbl = ? LIMIT 1", (table,)
                ).scalar() if has_stats else None
                counted = int(str(known).split()[0]) if known else 0
                if not counted or not (counted / STATISTICS_FACTOR <= rows
                                       <= counted * STATISTICS_FACTOR):
                    stale.append(table)
            if stale:
                conn.exec_driver_sql("PRAGMA busy_timeout = 200")
                try:
                    for table in stale:
                        conn.exec_driver_sql(f"ANALYZE {table}")
                    conn.commit()
                finally:
                    conn.exec_driver_sql("PRAGMA busy_timeout = 60000")
    except OperationalError as exc:  # locked, read-only, an older schema: plans stay as they were
        import logging

        logging.getLogger(__name__).debug("catalog statistics not refreshed: %s", exc)


# Bounds on a catalog server that stops answering (seconds). Without them a capture process
# writing to a PostgreSQL behind a dead link waits for ever: libpq has no connect timeout by
# default and an established connection whose peer vanished is never found dead.
CONNECT_TIMEOUT = 10  # libpq connect_timeout: connecting, start-up and authentication
POOL_TIMEOUT = 30  # a thread waiting for a free pooled connection
SERVER_SILENT_AFTER = 60  # sent data unacknowledged this long: the connection is dead


def _connect_args(url: str) -> dict[str, Any]:
    """The driver's connection arguments: for SQLite a busy wait of a minute; for
    PostgreSQL the bounds above, each unless the URL's query sets it (an operator's
    ``?connect_timeout=30`` wins)."""
    if url.startswith("sqlite"):
        return {"timeout": 60}
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return {}
    bounds = {
        "connect_timeout": CONNECT_TIMEOUT,
        # TCP keepalives find a silent server while waiting for a reply; tcp_user_timeout
        # (milliseconds) while sending. Both end in an error, never in a wait without end.
        "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
        "keepalives_count": 3, "tcp_user_timeout": SERVER_SILENT_AFTER * 1000,
    }
    return {key: value for key, value in bounds.items() if key not in parsed.query}


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
    cursor = dbapi_connection.cursor()
    # WAL lets `isnad list` read while a capture writes; FULL sync because this is evidence.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_tables(engine: Any, tables: list[Any] | None = None) -> None:
    """Create the catalog's tables (or ``tables``) that do not exist yet.

    Superseded by the migrations (archiver.schema), which make every catalog table: kept for
    code that has not moved to a revision yet (docs/migrations.md).

    Many processes may open a new catalog at once (a hundred `isnad submit`): SQLAlchemy looks,
    then creates, so another process can create a table between the two. Creating is
    idempotent, so losing that race is no error: look again."""
    for attempt in range(5):
        try:
            Base.metadata.create_all(engine, tables=tables)
            return
        except OperationalError as exc:
            if "already exists" not in str(exc) or attempt == 4:
                raise
