"""Knowledge sources: a large one is deleted in bulk, whichever way its row goes.

Deleting a source through its cascades deletes chunks document by document, and the postings
trigger probes the index for every posting of every statement's chunks: 131 s for a source of
91,410 chunks (118 s even as one statement). A row trigger on `knowledge_source` now removes a
source that holds more than a twentieth of all chunks table by table: its vectors, its postings in
one pass over the postings table, then its chunks, with the transaction-local setting
`devflow.postings_deleted` telling the postings trigger there is nothing left to probe. 15-23 s for
the same source. A smaller source keeps the cascades: probing its few postings costs less than
reading every posting once.

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
        RETURN NULL;  -- a source's delete removed these chunks' postings itself, in bulk
    END IF;
"""
# Probing costs about 18 us per posting, one pass over the postings about 1 us per posting of
# the whole table (91,410 of 100,000 chunks: 118 s against 9 s), hence a twentieth. The chunk
# total is BM25's N from the last statistics rebuild; none yet counts as 0 (bulk).
_SOURCE_DELETE = """
CREATE FUNCTION knowledge_source_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mine bigint;
    total bigint;
BEGIN
    SELECT count(*) INTO mine FROM knowledge_chunk WHERE source_id = OLD.id;
    SELECT df INTO total FROM knowledge_lexeme WHERE lexeme = '';
    IF mine > 0 AND mine * 20 > coalesce(total, 0) THEN
        PERFORM set_config('devflow.postings_deleted', 'on', true);
        DELETE FROM knowledge_embedding WHERE source_id = OLD.id;
        DELETE FROM knowledge_posting WHERE source_id = OLD.id;
        DELETE FROM knowledge_chunk WHERE source_id = OLD.id;
        PERFORM set_config('devflow.postings_deleted', 'off', true);
    END IF;
    RETURN OLD;
END $$;

CREATE TRIGGER knowledge_source_delete BEFORE DELETE ON knowledge_source
    FOR EACH ROW EXECUTE FUNCTION knowledge_source_delete();
"""


def _postings_delete(body: str) -> str:
    return (
        "CREATE OR REPLACE FUNCTION knowledge_postings_delete() RETURNS trigger LANGUAGE plpgsql "
        "SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$\n"
        f"BEGIN\n{body}\n    RETURN NULL;\nEND $$;"
    )


def upgrade() -> None:
    op.execute(_postings_delete(_SKIP + _DELETE))
    op.execute(_SOURCE_DELETE)


def downgrade() -> None:
    op.execute("DROP TRIGGER knowledge_source_delete ON knowledge_source")
    op.execute("DROP FUNCTION knowledge_source_delete()")
    op.execute(_postings_delete(_DELETE))
