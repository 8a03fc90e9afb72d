"""The catalog's schema as it stood before migrations: the first revision.

Every table and index is created only if missing, so that a catalog made before migrations
(by ``create_all``, with no ``alembic_version``) is brought in without touching its data: its
missing tables are made, and it is stamped.

Revision ID: 0001
Revises: (none: the first)
Create Date: 2026-12-01 11:42:44.842375
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _index(table: str, column: str) -> None:
    op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False,
                    if_not_exists=True)


def upgrade() -> None:
    op.create_table('captures',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('final_url', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('case_id', sa.String(length=200), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('operator', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('package_key', sa.Text(), nullable=True),
    sa.Column('package_sha256', sa.String(length=64), nullable=True),
    sa.Column('package_size', sa.BigInteger(), nullable=True),
    sa.Column('worker_host', sa.String(length=255), nullable=True),
    sa.Column('worker_pid', sa.Integer(), nullable=True),
    sa.Column('work_dir', sa.Text(), nullable=True),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('spool_path', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True)
    _index('captures', 'case_id')
    _index('captures', 'state')
    op.create_table('job_captures',
    sa.Column('capture_id', sa.String(length=36), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('capture_id'),
    if_not_exists=True)
    _index('job_captures', 'job_id')
    op.create_table('jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('operator', sa.String(length=200), nullable=False),
    sa.Column('case_id', sa.String(length=200), nullable=True),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('worker', sa.String(length=300), nullable=True),
    sa.Column('worker_host', sa.String(length=255), nullable=True),
    sa.Column('worker_pid', sa.Integer(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('progress', sa.JSON(), nullable=False),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True)
    _index('jobs', 'case_id')
    _index('jobs', 'priority')
    _index('jobs', 'source')
    _index('jobs', 'state')
    op.create_table('monitor_posts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('monitor_id', sa.String(length=36), nullable=False),
    sa.Column('platform', sa.String(length=40), nullable=False),
    sa.Column('post_id', sa.String(length=200), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('published', sa.String(length=40), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_run', sa.String(length=36), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('last_good_capture', sa.String(length=36), nullable=True),
    sa.Column('recheck_job', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('monitor_id', 'platform', 'post_id', name='uq_monitor_post'),
    if_not_exists=True)
    _index('monitor_posts', 'first_run')
    _index('monitor_posts', 'monitor_id')
    op.create_table('monitor_runs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('monitor_id', sa.String(length=36), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=True),
    sa.Column('new_posts', sa.Integer(), nullable=False),
    sa.Column('listed', sa.Integer(), nullable=False),
    sa.Column('listing_capture', sa.String(length=36), nullable=True),
    sa.Column('notes', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True)
    _index('monitor_runs', 'job_id')
    _index('monitor_runs', 'monitor_id')
    op.create_table('monitors',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('platform', sa.String(length=40), nullable=True),
    sa.Column('every', sa.Integer(), nullable=True),
    sa.Column('cron', sa.String(length=200), nullable=True),
    sa.Column('jitter', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(length=200), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('posts', sa.Integer(), nullable=True),
    sa.Column('use_browser', sa.Boolean(), nullable=False),
    sa.Column('recheck', sa.Integer(), nullable=True),
    sa.Column('operator', sa.String(length=200), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True)
    _index('monitors', 'case_id')
    op.create_table('workers',
    sa.Column('id', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('concurrency', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True)
    op.create_table('artifacts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('capture_id', sa.String(length=36), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('media_type', sa.String(length=200), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['capture_id'], ['captures.id'], ),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True)
    _index('artifacts', 'capture_id')
    op.create_table('copies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('capture_id', sa.String(length=36), nullable=False),
    sa.Column('target', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('key', sa.Text(), nullable=True),
    sa.Column('location', sa.Text(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.String(length=255), nullable=True),
    sa.Column('events_stored', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('stored_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['capture_id'], ['captures.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('capture_id', 'target'),
    if_not_exists=True)
    _index('copies', 'capture_id')
    op.create_table('custody_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('capture_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('time', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('object_sha256', sa.String(length=64), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['capture_id'], ['captures.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('capture_id', 'seq'),
    if_not_exists=True)
    _index('custody_events', 'capture_id')
    op.create_table('custody_heads',
    sa.Column('capture_id', sa.String(length=36), nullable=False),
    sa.Column('head', sa.JSON(), nullable=False),
    sa.Column('anchors', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['capture_id'], ['captures.id'], ),
    sa.PrimaryKeyConstraint('capture_id'),
    if_not_exists=True)
    op.create_table('posts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('capture_id', sa.String(length=36), nullable=False),
    sa.Column('platform', sa.String(length=40), nullable=False),
    sa.Column('post_id', sa.String(length=200), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('author_id', sa.String(length=200), nullable=True),
    sa.Column('author_handle', sa.String(length=200), nullable=True),
    sa.Column('author_name', sa.Text(), nullable=True),
    sa.Column('published', sa.String(length=40), nullable=True),
    sa.Column('language', sa.String(length=20), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['capture_id'], ['captures.id'], ),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True)
    _index('posts', 'author_handle')
    _index('posts', 'capture_id')
    _index('posts', 'platform')
    _index('posts', 'post_id')
    _index('posts', 'published')


def downgrade() -> None:
    op.drop_table('posts')
    op.drop_table('custody_heads')
    op.drop_table('custody_events')
    op.drop_table('copies')
    op.drop_table('artifacts')
    op.drop_table('workers')
    op.drop_table('monitors')
    op.drop_table('monitor_runs')
    op.drop_table('monitor_posts')
    op.drop_table('jobs')
    op.drop_table('job_captures')
    op.drop_table('captures')
