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

import ast
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, MetaData, text
from sqlalchemy.exc import SQLAlchemyError

from archiver.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The head revision and how many revision files it was read from, written here so that opening
# a catalog already at head (every command but the first) costs one query: neither Alembic nor
# reading the scripts. Trusted only while versions/ holds that many revision files; a revision
# added without changing these falls back to reading the scripts (slower, still right), and
# tests/test_cli_scale.py fails until they are changed.
HEAD = "0007_frontier"
HEAD_FILES = 7
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
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg


@cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

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
    from alembic.runtime.migration import MigrationContext

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
    from alembic import command
    from alembic.runtime.migration import MigrationContext

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
    """Make sure the catalog is at head: upgrade it if allowed, else say what to run.

    A catalog already at head (every command but the first) is recognised with one plain
    query and the revision ids read from the migration files, without importing Alembic
    (a fifth of a second of start-up that `isnad list` would otherwise pay each time)."""
    plain_head = known_head()
    if plain_head is not None and _plain_current(engine) == plain_head:
        return
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
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_name": include_name, "compare_type": True})
        return [str(diff) for diff in compare_metadata(context, metadata())]


def revision_files() -> list[Path]:
    """The migration scripts in versions/ (not ``__init__.py``)."""
    return sorted(path for path in (MIGRATIONS / "versions").glob("*.py")
                  if not path.name.startswith("_"))


def known_head() -> str | None:
    """The head revision without Alembic: ``HEAD`` while versions/ holds the ``HEAD_FILES``
    scripts it was read from, else read from the scripts (None: Alembic must decide)."""
    if len(revision_files()) == HEAD_FILES:
        return HEAD
    return _plain_head()


@cache
def _plain_head() -> str | None:
    """The head revision read from the migration files themselves (their ``revision`` and
    ``down_revision`` assignments), without Alembic; None when that reading is not plain (a
    merge, a branch, an assignment it cannot read): Alembic then decides."""
    revisions: dict[str, Any] = {}
    for path in revision_files():
        values: dict[str, Any] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = node.target if isinstance(node, ast.AnnAssign) else (
                node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1
                else None)
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision") \
                    and node.value is not None:
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    return None
        if not isinstance(values.get("revision"), str):
            continue  # not a revision (__init__.py)
        revisions[values["revision"]] = values.get("down_revision")
    if not all(down is None or isinstance(down, str) for down in revisions.values()):
        return None  # a merge revision: several parents
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None


def _plain_current(engine: Engine) -> str | None:
    """The revision in ``alembic_version`` by a plain query (None: no such table, no row,
    or more than one row: Alembic then looks)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:
        return None
    return rows[0][0] if len(rows) == 1 else None


def _unknown(revision: str) -> str:
    return (f"the catalog database is at schema revision {revision}, which this Isnad does not "
            "know (made by a newer version?): upgrade Isnad, never the other way round")
