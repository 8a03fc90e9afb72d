"""Alembic's entry point for the catalog's migrations (run through archiver.schema, which hands
over an open, locked connection; see docs/migrations.md)."""

from __future__ import annotations

from alembic import context

from archiver.schema import include_name, metadata, render_item

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the catalog's migrations through `isnad db` (archiver.schema), "
                       "which opens and locks the database first")

context.configure(
    connection=connection,
    target_metadata=metadata(),
    # SQLite alters a table by copying it: autogenerate writes batch operations for that.
    render_as_batch=connection.dialect.name == "sqlite",
    # Only the catalog's own tables: APScheduler's job store and the scheduler's tables live
    # in the same database and are not ours to migrate (nor to drop).
    include_name=include_name,
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
