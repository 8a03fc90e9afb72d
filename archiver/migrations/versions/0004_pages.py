"""A table of the pages each capture lists, instead of a list inside the capture's context.

A crawl of 10,000 pages made a 2 MB context (read whenever the row was), and the row kept
growing with the crawl. Rows catalogued before this revision keep their list in the context
and are read from there (``Catalog.pages``): no data is moved.

Revision ID: 0004_pages
Revises: 0003_accounts
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_pages'
down_revision: str | Sequence[str] | None = '0003_accounts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('capture_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['capture_id'], ['captures.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('capture_id', 'seq'),
    if_not_exists=True)
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pages_capture_id'), ['capture_id'], unique=False,
                              if_not_exists=True)


def downgrade() -> None:
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pages_capture_id'))
    op.drop_table('pages')
