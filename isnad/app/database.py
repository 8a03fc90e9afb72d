"""The catalog database's schema: upgrading it, and where it stands (``isnad db``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, create_engine

from archiver import schema
from isnad.config import Settings


@dataclass
class SchemaStatus:
    """Where a catalog database's schema stands against this Isnad's migrations."""

    url: str  # password hidden
    current: str | None
    head: str
    differences: list[str]  # tables or columns the models have and the database lacks, or more

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def _engine(settings: Settings) -> Engine:
    settings.prepare_folders()  # an SQLite catalog's folder, made (one clear line if it cannot)
    settings.home.mkdir(parents=True, exist_ok=True)
    return create_engine(settings.catalog_url)


def upgrade_catalog(settings: Settings) -> tuple[str | None, str | None]:
    """Bring the catalog database to this Isnad's schema (head); the revisions before, after."""
    engine = _engine(settings)
    try:
        return schema.upgrade(engine)
    finally:
        engine.dispose()


def catalog_status(settings: Settings, *, compare: bool = False) -> SchemaStatus:
    """The catalog's revision and head; with ``compare``, how its tables differ from the
    models (a model changed without a revision shows here)."""
    engine = _engine(settings)
    try:
        return SchemaStatus(engine.url.render_as_string(hide_password=True),
                            schema.current(engine), schema.head(),
                            schema.check(engine) if compare else [])
    finally:
        engine.dispose()


def new_revision(settings: Settings, message: str) -> str:
    """Write a new revision into archiver/migrations/versions/ from what the models have and the
    catalog (brought to head first) lacks; the new file's path."""
    from alembic import command

    engine = _engine(settings)
    try:
        schema.upgrade(engine)
        with engine.connect() as conn:
            script = command.revision(schema.config(conn), message, autogenerate=True)
        scripts = script if isinstance(script, list) else [script]
        return ", ".join(s.path for s in scripts if s is not None)
    finally:
        engine.dispose()
