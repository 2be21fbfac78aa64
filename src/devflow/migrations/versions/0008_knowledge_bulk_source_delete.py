"""Knowledge postings: a whole source's postings can be removed in one pass.

Deleting a source through its cascades deletes chunks document by document, and the postings
trigger probes the index for every posting of every statement's chunks: 131 s for a source of
91,410 chunks. `devflow.knowledge.ingest.delete_source` removes the source's postings with one
statement instead and sets `devflow.postings_deleted` for its transaction, which this version of
the delete trigger honours: 15 s for the same source.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DELETE = """
    DELETE FROM knowledge_posting p
    USING (SELECT o.source_id, o.id, t.lexeme FROM old_chunks o
           CROSS JOIN LATERAL unnest(tsvector_to_array(o.tsv)) t(lexeme)) d
    WHERE p.lexeme = d.lexeme AND p.source_id = d.source_id AND p.chunk_id = d.id;
"""
_SKIP = """
    IF current_setting('devflow.postings_deleted', true) = 'on' THEN
        RETURN NULL;  -- the caller removed these chunks' postings itself, in bulk
    END IF;
"""


def _function(body: str) -> str:
    return (
        "CREATE OR REPLACE FUNCTION knowledge_postings_delete() RETURNS trigger LANGUAGE plpgsql "
        "SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$\n"
        f"BEGIN\n{body}\n    RETURN NULL;\nEND $$;"
    )


def upgrade() -> None:
    op.execute(_function(_SKIP + _DELETE))


def downgrade() -> None:
    op.execute(_function(_DELETE))
