# ruff: noqa: S608 - trigger SQL assembled from constants
"""Knowledge postings: an inverted index of chunk lexemes kept by triggers, for BM25 ranking.

Ranking with `ts_rank` reads the whole tsvector of every chunk that holds a query term, which
grows with the corpus (seconds at 100,000 chunks). A posting row per (lexeme, chunk) with its
term frequency and the chunk's length lets a query read just its terms' postings, index-only.
Statement-level triggers with transition tables keep the postings in step with the chunks
(inserts, updates of the searchable text, deletes including cascades from documents and sources).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A chunk's postings: one row per lexeme of its tsvector; tf counts the lexeme's positions
# (title, heading and body alike) and length is the chunk's total count, both capped to smallint.
_POSTINGS_OF = """
    SELECT t.lexeme, c.source_id, c.id,
           least(coalesce(array_length(t.positions, 1), 1), 32767),
           least(l.length, 32767)
    FROM {rows} c
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(coalesce(array_length(u.positions, 1), 1)), 0) AS length
        FROM unnest(c.tsv) u
    ) l
    CROSS JOIN LATERAL unnest(c.tsv) t
"""
_INSERT = "INSERT INTO knowledge_posting (lexeme, source_id, chunk_id, tf, length) "
_DELETE = """
    DELETE FROM knowledge_posting p
    USING (SELECT o.source_id, o.id, t.lexeme FROM {rows} o
           CROSS JOIN LATERAL unnest(tsvector_to_array(o.tsv)) t(lexeme)) d
    WHERE p.lexeme = d.lexeme AND p.source_id = d.source_id AND p.chunk_id = d.id
"""


def _changed(side: str) -> str:
    """The `side` rows of an UPDATE whose searchable text (or source) changed."""
    return (
        f"(SELECT x.* FROM {side} x JOIN new_chunks n USING (id) JOIN old_chunks o USING (id) "
        "WHERE n.tsv IS DISTINCT FROM o.tsv OR n.source_id IS DISTINCT FROM o.source_id)"
    )


# Transition tables have no statistics, so the planner may scan every posting to delete a few;
# a cascade from a source deletes chunks document by document, one statement each, and a scan per
# statement made deleting a 90,000-chunk source take hours. The delete and update functions
# therefore run with index probes only (one (lexeme, source, chunk) key per old posting).
_TRIGGERS = f"""
CREATE FUNCTION knowledge_postings_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_INSERT} {_POSTINGS_OF.format(rows="new_chunks")};
    RETURN NULL;
END $$;

CREATE FUNCTION knowledge_postings_delete() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    {_DELETE.format(rows="old_chunks")};
    RETURN NULL;
END $$;

CREATE FUNCTION knowledge_postings_update() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    {_DELETE.format(rows=_changed("old_chunks"))};
    {_INSERT} {_POSTINGS_OF.format(rows=_changed("new_chunks"))};
    RETURN NULL;
END $$;

CREATE TRIGGER knowledge_postings_insert AFTER INSERT ON knowledge_chunk
    REFERENCING NEW TABLE AS new_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_postings_insert();
CREATE TRIGGER knowledge_postings_delete AFTER DELETE ON knowledge_chunk
    REFERENCING OLD TABLE AS old_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_postings_delete();
CREATE TRIGGER knowledge_postings_update AFTER UPDATE ON knowledge_chunk
    REFERENCING OLD TABLE AS old_chunks NEW TABLE AS new_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_postings_update();
"""


def upgrade() -> None:
    op.add_column(
        "knowledge_lexeme",
        sa.Column("occurrences", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_table(
        "knowledge_posting",
        sa.Column("lexeme", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_id", sa.Uuid(), nullable=False),
        sa.Column("tf", sa.SmallInteger(), nullable=False),
        sa.Column("length", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "lexeme",
            "source_id",
            "chunk_id",
            name=op.f("pk_knowledge_posting"),
            postgresql_include=["tf", "length"],
        ),
    )
    op.execute(_INSERT + _POSTINGS_OF.format(rows="knowledge_chunk"))
    op.execute(_TRIGGERS)
    op.execute("DELETE FROM knowledge_lexeme")
    op.execute(
        "INSERT INTO knowledge_lexeme (lexeme, df, occurrences) "
        "SELECT lexeme, count(*), sum(tf) FROM knowledge_posting GROUP BY lexeme "
        "UNION ALL SELECT '', (SELECT count(*) FROM knowledge_chunk), "
        "(SELECT coalesce(sum(tf), 0) FROM knowledge_posting)"
    )


def downgrade() -> None:
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER knowledge_postings_{event} ON knowledge_chunk")
        op.execute(f"DROP FUNCTION knowledge_postings_{event}()")
    op.drop_table("knowledge_posting")
    op.drop_column("knowledge_lexeme", "occurrences")
