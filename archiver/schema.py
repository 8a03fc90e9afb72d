"""The catalog's schema, kept by Alembic migrations (``archiver/migrations/``).

One history of revisions serves SQLite and PostgreSQL alike. Upgrading takes a lock first
(``BEGIN IMMEDIATE`` on SQLite, a transaction-level advisory lock on PostgreSQL) and looks at
the revision again under it, so many processes opening a new catalog at once (a hundred
``isnad submit``) upgrade it once and the others find it done. The whole upgrade is one
transaction: a failure leaves the database as it was.

A catalog made before migrations existed (tables made by ``create_all``, no
``alembic_version``) is brought in by the first revision, which creates only the tables and
indexes missing: its data is untouched.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, text

from archiver.errors import SchemaError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant will do: it names the one advisory lock upgrades take on PostgreSQL.
_PG_LOCK = 0x15_4A_D0_01

# Every module that declares catalog tables on archiver.catalog.Base. A module that adds
# tables is added here, so that migrations and `isnad db check` see them (docs/migrations.md).
MODEL_MODULES = ("archiver.catalog", "archiver.jobs", "archiver.monitors", "archiver.alerts",
                 "archiver.accounts", "archiver.cases", "archiver.frontier")


def metadata() -> MetaData:
    """The catalog's tables, every model module loaded."""
    import importlib

    for name in MODEL_MODULES:
        importlib.import_module(name)
    from archiver.catalog import Base

    return Base.metadata


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Autogenerate looks at the catalog's own tables only: APScheduler's job store and the
    scheduler's tables share the database and are not migrated here (nor ever dropped)."""
    if type_ == "table":
        return name in metadata().tables
    return True


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Revisions spell the catalog's own column types in plain SQLAlchemy, so that they never
    import model code (which changes after them)."""
    from archiver.catalog import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the catalog (no alembic.ini: the scripts ship in the
    package), with ``connection`` for env.py to run on."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The revision this Isnad's code needs."""
    found = _scripts().get_heads()
    if len(found) != 1:
        raise SchemaError(f"the catalog migrations have {len(found)} heads ({', '.join(found)}):"
                          " merge them (docs/migrations.md)")
    return found[0]


def known(revision: str) -> bool:
    """Whether ``revision`` is one of this Isnad's migrations."""
    try:
        return _scripts().get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - alembic raises several kinds for an unknown id
        return False


def current(engine: Engine) -> str | None:
    """The revision the database is at (None: not under migrations yet, or empty)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _lock(conn: Connection) -> None:
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # The write lock from the start (a deferred transaction would read, then fail to
        # write when another process got there first).
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to ``revision`` (default: head) in one locked transaction; the
    revisions before and after."""
    with engine.connect() as conn:
        _lock(conn)
        before = MigrationContext.configure(conn).get_current_revision()
        if before is not None and not known(before):
            raise SchemaError(_unknown(before))
        command.upgrade(config(conn), revision)
        after = MigrationContext.configure(conn).get_current_revision()
        conn.commit()
    return before, after


def ensure(engine: Engine, *, upgrade_automatically: bool) -> None:
    """Make sure the catalog is at head: upgrade it if allowed, else say what to run."""
    now = current(engine)
    wanted = head()
    if now == wanted:
        return
    if now is not None and not known(now):
        raise SchemaError(_unknown(now))
    if upgrade_automatically:
        upgrade(engine)
        return
    where = engine.url.render_as_string(hide_password=True)
    state = "has no Isnad schema yet" if now is None else f"is at schema revision {now}"
    raise SchemaError(f"the catalog database {where} {state}; this Isnad needs {wanted}: run "
                      "`isnad db upgrade` (docs/migrations.md)")


def check(engine: Engine) -> list[str]:
    """Differences between the database's tables and the catalog's models, in words (empty:
    they agree). A model changed without a revision shows here."""
    from alembic.autogenerate import compare_metadata

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_name": include_name, "compare_type": True})
        return [str(diff) for diff in compare_metadata(context, metadata())]


def _unknown(revision: str) -> str:
    return (f"the catalog database is at schema revision {revision}, which this Isnad does not "
            "know (made by a newer version?): upgrade Isnad, never the other way round")
