"""Full-text search: one row per capture and per import (docs/search.md).

``search_documents`` keeps each document's original text (for snippets) and its filters;
the words are indexed, normalised by ``archiver.search.normalise``, in an FTS5 table
``search_fts`` on SQLite (its rowid is the document's id) and in a ``tsvector`` column with a
GIN index on PostgreSQL ('simple' configuration: no stemming, no stop words; normalisation is
ours). The index is derived from the packages: ``isnad search --rebuild`` fills it again.

Revision ID: 0005_search
Revises: 0004_pages
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0005_search'
down_revision: str | Sequence[str] | None = '0004_pages'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The small columns that filters read first, the long texts last: SQLite reads a row's
# columns in order, and a filter on case_id must not wade through a page of text to reach it.
_COLUMNS = """
    kind VARCHAR(16) NOT NULL,
    ref_id VARCHAR(36) NOT NULL,
    state VARCHAR(16),
    case_id VARCHAR(200),
    tags TEXT NOT NULL DEFAULT '',
    platform VARCHAR(40),
    source VARCHAR(16),
    captured_at VARCHAR(32),
    url TEXT,
    title TEXT,
    titles TEXT NOT NULL DEFAULT '',
    page_text TEXT NOT NULL DEFAULT '',
    post_text TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT ''"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE TABLE IF NOT EXISTS search_documents (id BIGSERIAL PRIMARY KEY,"
                   f"{_COLUMNS}, tsv TSVECTOR NOT NULL)")
        op.execute("CREATE INDEX IF NOT EXISTS ix_search_documents_tsv ON search_documents "
                   "USING GIN (tsv)")
    else:
        op.execute(f"CREATE TABLE IF NOT EXISTS search_documents (id INTEGER PRIMARY KEY "
                   f"AUTOINCREMENT,{_COLUMNS})")
        # The normalised words, one column per field (bm25 weighs them); tokenised by
        # unicode61 on the spaces archiver.search puts between words.
        op.execute("CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(titles, "
                   "page_text, post_text, notes, url, meta, tokenize='unicode61')")
    op.execute("CREATE UNIQUE INDEX IF NOT EXISTS ix_search_documents_ref ON search_documents "
               "(kind, ref_id)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_search_documents_captured_at ON "
               "search_documents (captured_at)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.execute("DROP TABLE IF EXISTS search_documents")
