"""The frontier of a crawl spread over several processes (issue 17): one row per URL of a
capture, keyed by capture and URL hash, with its state (queued, claimed, done) and the part
that took it. Like the revisions before it, it creates the table only if it is missing.

Revision ID: 0007_frontier
Revises: 0006_case_notes
Create Date: 2026-12-01 18:10:32
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_frontier'
down_revision: str | Sequence[str] | None = '0006_case_notes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('frontier',
    sa.Column('capture_id', sa.String(length=36), nullable=False),
    sa.Column('url_key', sa.String(length=64), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('part', sa.Integer(), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('capture_id', 'url_key'),
    if_not_exists=True)
    # A catalog made by create_all (tests, old tools) with this module loaded has it already.
    op.create_index(op.f('ix_frontier_state'), 'frontier', ['state'], unique=False,
                    if_not_exists=True)


def downgrade() -> None:
    with op.batch_alter_table('frontier', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_frontier_state'))

    op.drop_table('frontier')
