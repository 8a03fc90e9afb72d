"""Imports, the alert outbox, and monitors' scope, webhook and post fingerprints.

Like the first revision, it creates only what is missing: a catalog made by the code of the
same day before migrations (its tables made by ``create_all``) may hold some of these already.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 12:53:39.136166
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _add_missing(table: str, column: sa.Column) -> None:
    """Add a nullable column unless the table has it already (no row needs a value)."""
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
    if column.name not in have:
        op.add_column(table, column)


def upgrade() -> None:
    op.create_table('alert_outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.String(length=36), nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('monitor_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('secret_ref', sa.String(length=240), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_try_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', 'target', name='uq_alert_target'),
    if_not_exists=True)
    with op.batch_alter_table('alert_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_outbox_alert_id'), ['alert_id'], unique=False,
                                  if_not_exists=True)
        batch_op.create_index(batch_op.f('ix_alert_outbox_monitor_id'), ['monitor_id'], unique=False,
                                  if_not_exists=True)
        batch_op.create_index(batch_op.f('ix_alert_outbox_state'), ['state'], unique=False,
                                  if_not_exists=True)

    op.create_table('imports',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('provider', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_by', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('case_id', sa.String(length=200), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('paths', sa.JSON(), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True)
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imports_case_id'), ['case_id'], unique=False,
                                  if_not_exists=True)
        batch_op.create_index(batch_op.f('ix_imports_state'), ['state'], unique=False,
                                  if_not_exists=True)

    op.create_table('import_files',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('import_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('source_path', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('hashes', sa.JSON(), nullable=False),
    sa.Column('declared', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('capture_id', sa.String(length=36), nullable=True),
    sa.Column('duplicate_of', sa.String(length=36), nullable=True),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('import_id', 'name'),
    if_not_exists=True)
    with op.batch_alter_table('import_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_files_capture_id'), ['capture_id'], unique=False,
                                  if_not_exists=True)
        batch_op.create_index(batch_op.f('ix_import_files_import_id'), ['import_id'], unique=False,
                                  if_not_exists=True)
        batch_op.create_index(batch_op.f('ix_import_files_sha256'), ['sha256'], unique=False,
                                  if_not_exists=True)

    _add_missing('monitor_posts', sa.Column('fingerprint', sa.String(length=80), nullable=True))

    with op.batch_alter_table('monitor_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitor_runs_state'), ['state'], unique=False,
                                  if_not_exists=True)

    _add_missing('monitors', sa.Column('scope', sa.Text(), nullable=True))
    _add_missing('monitors', sa.Column('webhook', sa.Text(), nullable=True))
    _add_missing('monitors', sa.Column('webhook_secret_env', sa.String(length=200),
                                       nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.drop_column('webhook_secret_env')
        batch_op.drop_column('webhook')
        batch_op.drop_column('scope')

    with op.batch_alter_table('monitor_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitor_runs_state'))

    with op.batch_alter_table('monitor_posts', schema=None) as batch_op:
        batch_op.drop_column('fingerprint')

    with op.batch_alter_table('import_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_files_sha256'))
        batch_op.drop_index(batch_op.f('ix_import_files_import_id'))
        batch_op.drop_index(batch_op.f('ix_import_files_capture_id'))

    op.drop_table('import_files')
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imports_state'))
        batch_op.drop_index(batch_op.f('ix_imports_case_id'))

    op.drop_table('imports')
    with op.batch_alter_table('alert_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_outbox_state'))
        batch_op.drop_index(batch_op.f('ix_alert_outbox_monitor_id'))
        batch_op.drop_index(batch_op.f('ix_alert_outbox_alert_id'))

    op.drop_table('alert_outbox')
