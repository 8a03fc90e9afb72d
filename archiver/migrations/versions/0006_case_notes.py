"""Case notes: the investigator's note on each case (not evidence: never in a package, the
custody log or the search index).

Like the revisions before it, it creates the table only if it is missing.

Revision ID: 0006_case_notes
Revises: 0005_search
Create Date: 2026-12-01 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_case_notes'
down_revision: str | Sequence[str] | None = '0005_search'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cases',
    sa.Column('case_id', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('case_id'),
    if_not_exists=True)


def downgrade() -> None:
    op.drop_table('cases')
