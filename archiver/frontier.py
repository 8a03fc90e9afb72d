"""The frontier of a crawl spread over several processes: which URLs of one capture are waiting,
taken, or done, kept in the catalog so every part of the crawl sees the same list.

Each URL of a capture is one row, keyed by the SHA-256 of its canonical form: a link found by
two parts at once is added once (the key is unique), and a URL is handed to exactly one part,
because a part takes URLs with one conditional UPDATE (``state = 'queued'`` is checked again
as the row is changed: a row another part took meanwhile is not changed, nor returned).
A part that dies gives its URLs back (:meth:`Frontier.release`), so none is lost with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Engine,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from archiver.catalog import Base, Catalog, UTCDateTime

QUEUED, CLAIMED, DONE = "queued", "claimed", "done"
_IN_CHUNK = 500  # keys in one IN (...): under every SQLite build's limit on parameters
PAGE, REQUISITE = "page", "requisite"


class FrontierRow(Base):
    """One URL of a capture's crawl: a page to load (``page``) or a file a page needs
    (``requisite``, fetched by the part that took it), and where it stands."""

    __tablename__ = "frontier"

    capture_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the URL
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10))
    depth: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10), index=True)
    part: Mapped[int | None] = mapped_column(Integer)  # the part that took it
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


def url_key(canonical_url: str) -> str:
    """The row key of a (canonicalised) URL."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FrontierCounts:
    queued: int = 0
    claimed: int = 0
    done: int = 0
    pages: int = 0  # page rows, whatever their state (counted against max_pages)


_ENGINES: dict[str, Engine] = {}


def _engine(url: str) -> Engine:
    """The frontier's engine for the catalog at ``url`` (one per process, see _new_engine)."""
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = _new_engine(url)
    return engine


def forget_connections() -> None:
    """In a process just forked from one that used the frontier: drop the engines copied
    from it without closing their connections (those are the parent's: SQLAlchemy's way for a
    forked process, ``dispose(close=False)``); this process opens its own."""
    for engine in _ENGINES.values():
        engine.dispose(close=False)
    _ENGINES.clear()


def _new_engine(url: str) -> Engine:
    """The frontier's own connections to the catalog database, one pool per process.

    The frontier is working state of a crawl under way, not evidence: a row written a moment
    before a power cut may be lost (the crawl it served is lost with it; its capture is settled
    as interrupted), but never half-written. So its commits do not wait for the disk
    (SQLite in WAL mode: ``synchronous=NORMAL``; PostgreSQL: ``synchronous_commit = off``),
    while the catalog's own connections keep waiting for it. A crawl writes the frontier a few
    times a page; waiting for the disk each time made a split crawl slower than one process.
    """
    sqlite_db = url.startswith("sqlite")
    engine = create_engine(url, connect_args={"timeout": 60} if sqlite_db else {},
                           pool_pre_ping=not sqlite_db)

    @event.listens_for(engine, "connect")
    def _settings(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
        cursor = dbapi_connection.cursor()
        if sqlite_db:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        else:
            cursor.execute("SET synchronous_commit TO off")
        cursor.close()
        if not sqlite_db:
            dbapi_connection.commit()

    return engine


class Frontier:
    """The frontier of capture ``capture_id`` in ``catalog`` (or the catalog database at that
    URL: a part of a crawl need not open the catalog, nor check its schema, to use it)."""

    def __init__(self, catalog: Catalog | str, capture_id: str) -> None:
        self.capture_id = capture_id
        self.engine = _engine(catalog if isinstance(catalog, str) else catalog.url)

    def _insert(self) -> object:
        dialect = self.engine.dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(FrontierRow)

    def _row(self, key: str, url: str, kind: str, depth: int, state: str,
             part: int | None) -> dict[str, object]:
        return {"capture_id": self.capture_id, "url_key": url_key(key), "url": url,
                "kind": kind, "depth": depth, "state": state, "part": part,
                "added_at": datetime.now(UTC)}

    def seed(self, key: str, url: str, part: int) -> None:
        """The first URL, taken at once by ``part`` (the part that reads the seed page)."""
        with Session(self.engine) as session, session.begin():
            session.execute(self._insert().values(  # type: ignore[attr-defined]
                self._row(key, url, PAGE, 0, CLAIMED, part)).on_conflict_do_nothing())

    def add_pages(self, links: list[tuple[str, str]], depth: int, max_pages: int) -> bool:
        """Queue pages (``(canonical key, url)``) at ``depth``, each once; at most
        ``max_pages`` pages in all. True when a link was left out for that cap.

        One transaction that adds the pages of a capture alone (SQLite: the database's write
        lock taken first, ``BEGIN IMMEDIATE``; PostgreSQL: a lock on the capture's frontier,
        held until commit), so the cap is exact: it counts the pages, looks up which links
        are there already, and inserts the new ones, in the order given, up to the cap, in
        one statement. A page's links cost three statements, not two a link."""
        keys: dict[str, str] = {}
        for key, url in links:
            keys.setdefault(url_key(key), url)  # once each, in the page's order
        if not keys:
            return False
        with Session(self.engine) as session, session.begin():
            self._adding_alone(session)
            count = session.scalar(select(func.count()).select_from(FrontierRow).where(
                FrontierRow.capture_id == self.capture_id, FrontierRow.kind == PAGE)) or 0
            present: set[str] = set()
            batch = list(keys)
            for start in range(0, len(batch), _IN_CHUNK):
                present.update(session.scalars(select(FrontierRow.url_key).where(
                    FrontierRow.capture_id == self.capture_id,
                    FrontierRow.url_key.in_(batch[start:start + _IN_CHUNK]))))
            new = [key for key in batch if key not in present]
            room = max(0, max_pages - count)
            now = datetime.now(UTC)
            rows = [{"capture_id": self.capture_id, "url_key": key, "url": keys[key],
                     "kind": PAGE, "depth": depth, "state": QUEUED, "part": None,
                     "added_at": now} for key in new[:room]]
            if rows:
                session.execute(self._insert().on_conflict_do_nothing(),  # type: ignore[attr-defined]
                                rows)
        return len(new) > room

    def _adding_alone(self, session: Session) -> None:
        """Hold the right to add pages to this capture's frontier until the transaction ends."""
        if self.engine.dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        else:
            session.execute(select(func.pg_advisory_xact_lock(
                func.hashtext("isnad-frontier:" + self.capture_id))))

    def take(self, key: str, url: str, depth: int, part: int, kind: str = REQUISITE) -> bool:
        """Take a URL for ``part`` if no part has it yet (a page's requisite, a redirect's
        target): True when this part got it."""
        stmt = self._insert().values(  # type: ignore[attr-defined]
            self._row(key, url, kind, depth, DONE if kind == PAGE else CLAIMED, part)
        ).on_conflict_do_nothing().returning(FrontierRow.url_key)
        with self.engine.begin() as connection:
            return connection.execute(stmt).first() is not None

    # The calls a part makes for each page (take, claim, done, waiting) use the engine's own
    # transactions, not an ORM session: half the CPU of one, paid a few times a page.
    def claim(self, part: int, n: int) -> list[tuple[str, int]]:
        """Take up to ``n`` queued pages for ``part``, shallowest first: ``(url, depth)``
        each. One conditional UPDATE: a page is handed to one part only."""
        if n <= 0:
            return []
        oldest = (select(FrontierRow.url_key)
                  .where(FrontierRow.capture_id == self.capture_id,
                         FrontierRow.state == QUEUED, FrontierRow.kind == PAGE)
                  .order_by(FrontierRow.depth, FrontierRow.added_at).limit(n))
        stmt = (update(FrontierRow)
                .where(FrontierRow.capture_id == self.capture_id,
                       FrontierRow.state == QUEUED,
                       FrontierRow.url_key.in_(oldest.scalar_subquery()))
                .values(state=CLAIMED, part=part)
                .returning(FrontierRow.url, FrontierRow.depth))
        with self.engine.begin() as connection:
            return [(url, depth) for url, depth in connection.execute(stmt)]

    def done(self, key: str, part: int) -> None:
        """A page ``part`` took has been read (or failed: its failure is part's to report)."""
        with self.engine.begin() as connection:
            connection.execute(update(FrontierRow).where(
                FrontierRow.capture_id == self.capture_id, FrontierRow.url_key == url_key(key),
                FrontierRow.part == part).values(state=DONE))

    def waiting(self) -> bool:
        """Is a page queued? One read: a part looks often when it has room, and a claim
        takes the database's write lock even when it finds nothing."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(FrontierRow.url_key)
                .where(FrontierRow.capture_id == self.capture_id, FrontierRow.state == QUEUED,
                       FrontierRow.kind == PAGE).limit(1)).first() is not None

    def counts(self) -> FrontierCounts:
        """How many URLs wait, are taken, are done (pages only), and pages in all."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(FrontierRow.state, func.count())
                .where(FrontierRow.capture_id == self.capture_id, FrontierRow.kind == PAGE)
                .group_by(FrontierRow.state)).all()
        by_state = dict(rows)
        return FrontierCounts(queued=by_state.get(QUEUED, 0), claimed=by_state.get(CLAIMED, 0),
                              done=by_state.get(DONE, 0), pages=sum(by_state.values()))

    def release(self, part: int) -> int:
        """Give back everything ``part`` took (it died: what it recorded is not packaged):
        its pages are queued again, its requisites forgotten (the pages that need them take
        them again). The number of pages queued again."""
        with Session(self.engine) as session, session.begin():
            pages = session.execute(
                update(FrontierRow).where(FrontierRow.capture_id == self.capture_id,
                                          FrontierRow.part == part, FrontierRow.kind == PAGE)
                .values(state=QUEUED, part=None)).rowcount
            session.execute(delete(FrontierRow).where(
                FrontierRow.capture_id == self.capture_id, FrontierRow.part == part,
                FrontierRow.kind == REQUISITE))
        return pages

    def left(self) -> list[str]:
        """The pages not read (queued, or taken and never finished), in crawl order."""
        with Session(self.engine) as session:
            return list(session.scalars(
                select(FrontierRow.url)
                .where(FrontierRow.capture_id == self.capture_id, FrontierRow.kind == PAGE,
                       FrontierRow.state != DONE)
                .order_by(FrontierRow.depth, FrontierRow.added_at)))

    def forget(self) -> None:
        """Delete the capture's rows (once it is sealed: its pages are in the package)."""
        with Session(self.engine) as session, session.begin():
            session.execute(delete(FrontierRow).where(
                FrontierRow.capture_id == self.capture_id))
