"""The keyword index: postings kept in step with chunks by triggers, and BM25 ranking over them."""

import uuid

import pytest
from sqlalchemy import text

from devflow.core.auth import Principal, Role, Scope
from devflow.identity.models import Project
from devflow.knowledge.ingest import refresh_lexeme_stats
from devflow.knowledge.models import Chunk, Document, Source
from devflow.knowledge.retrieval import search
from devflow.knowledge.schemas import SearchRequest
from devflow.knowledge.service import LEXEME_STATS_TASK, remove_source
from devflow.knowledge.settings import KnowledgeSettings
from tests.factories import make_user

# Postings that differ from what the chunks' tsvectors say, either way; 0 when in step.
MISMATCHES = text(
    "WITH truth AS (SELECT t.lexeme, c.id AS chunk_id, "
    "coalesce(array_length(t.positions, 1), 1) AS tf FROM knowledge_chunk c, unnest(c.tsv) t "
    "WHERE c.source_id = :source), "
    "kept AS (SELECT lexeme, chunk_id, tf FROM knowledge_posting WHERE source_id = :source) "
    "SELECT (SELECT count(*) FROM (SELECT * FROM truth EXCEPT SELECT * FROM kept) a) "
    "+ (SELECT count(*) FROM (SELECT * FROM kept EXCEPT SELECT * FROM truth) b)"
)
POSTINGS = text("SELECT count(*) FROM knowledge_posting WHERE source_id = :source")


async def corpus(session, texts: dict[str, list[str]]) -> tuple[Project, Source, dict]:
    """A project with one source; `texts` maps document titles to their chunks' texts."""
    project = Project(name=f"kb-{uuid.uuid4().hex[:8]}")
    session.add(project)
    await session.flush()
    source = Source(project_id=project.id, name="notes", kind="files", location="upload")
    session.add(source)
    await session.flush()
    chunks = {}
    for title, bodies in texts.items():
        doc = Document(source_id=source.id, project_id=project.id, uri=f"{title}.md", title=title)
        session.add(doc)
        await session.flush()
        for position, body in enumerate(bodies):
            chunk = Chunk(
                document_id=doc.id,
                source_id=source.id,
                project_id=project.id,
                position=position,
                title=title,
                text=body,
                content_hash=f"{title}-{position}",
            )
            session.add(chunk)
            chunks[body] = chunk
    await session.flush()
    return project, source, chunks


async def scalar(session, statement, **params) -> int:
    return int((await session.execute(statement, params)).scalar_one())


async def test_postings_follow_inserts_title_changes_and_deletes(session):
    project, source, chunks = await corpus(
        session,
        {
            "Retina": ["Zebrafish regenerate their retina.", "Müller glia divide after injury."],
            "Kidney": ["Podocytes line the glomerulus."],
        },
    )
    params = {"source": source.id}
    assert await scalar(session, POSTINGS, **params) > 10
    assert await scalar(session, MISMATCHES, **params) == 0

    first = chunks["Zebrafish regenerate their retina."]
    await session.execute(
        text("UPDATE knowledge_chunk SET title = 'Axolotl' WHERE id = :id"), {"id": first.id}
    )
    assert await scalar(session, MISMATCHES, **params) == 0
    found = text("SELECT count(*) FROM knowledge_posting WHERE lexeme = :l AND chunk_id = :id")
    assert await scalar(session, found, l="axolotl", id=first.id) == 1

    # A document's deletion cascades to its chunks, and the trigger drops their postings.
    await session.execute(
        text("DELETE FROM knowledge_document WHERE project_id = :p AND title = 'Kidney'"),
        {"p": project.id},
    )
    assert (
        await scalar(session, found, l="podocyt", id=chunks["Podocytes line the glomerulus."].id)
        == 0
    )
    assert await scalar(session, MISMATCHES, **params) == 0

    await session.execute(text("DELETE FROM knowledge_source WHERE id = :s"), {"s": source.id})
    assert await scalar(session, POSTINGS, **params) == 0


def reader_of(*projects: Project) -> Principal:
    """A signed-in member with read access to `projects` and nothing else."""
    return Principal(
        user_id=uuid.uuid4(),
        username="reader",
        is_admin=False,
        scopes=frozenset({Scope.READ.value}),
        memberships={p.id: Role.READ for p in projects},
    )


async def keyword(session, project, query, settings=None, **options):
    """(text, score) of each keyword passage a reader of `project` gets, best first."""
    request = SearchRequest(
        query=query, mode="keyword", project=project.name, group="passages", **options
    )
    results = await search(
        session,
        principal=reader_of(project),
        request=request,
        settings=settings or KnowledgeSettings(),
    )
    return [(hit.text, hit.score) for hit in results.hits]


async def test_bm25_weighs_rare_terms_and_short_chunks_higher(session):
    filler = " ".join(["The cells were counted in every sample of the study."] * 6)
    project, _, _ = await corpus(
        session,
        {
            "a": ["Cells of the zebrafish retina regenerate."],
            "b": ["Cells divide."],
            "c": ["Cells migrate in the zebrafish embryo. " + filler],
            "d": ["Cells respond to insulin.", "Cells die."],
            "e": ["Nothing here matches."],
        },
    )
    await refresh_lexeme_stats(session)
    ranked = await keyword(session, project, "zebrafish cells")
    texts = [t for t, _ in ranked]
    # Both zebrafish chunks come first (a rare term outweighs a common one), the short one ahead
    # of the long one; the chunk without either term is not found at all.
    assert texts[:2] == ["Cells of the zebrafish retina regenerate.", texts[1]]
    assert texts[1].startswith("Cells migrate in the zebrafish embryo.")
    assert "Nothing here matches." not in texts
    assert len(texts) == 5
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[2] > 0


async def test_keyword_search_stays_in_its_scope(session):
    mine, _, _ = await corpus(session, {"mine": ["Glomerulus filtration in the kidney."]})
    other, _, _ = await corpus(session, {"other": ["Glomerulus damage in diabetes."]})
    await refresh_lexeme_stats(session)
    assert [t for t, _ in await keyword(session, mine, "glomerulus")] == [
        "Glomerulus filtration in the kidney."
    ]
    assert await keyword(session, other, "glomerulus", content_types=["pdf"]) == []


async def test_the_commonest_terms_are_left_out_past_the_posting_budget(session):
    project, source, _ = await corpus(session, {"rare": ["Zebrafish axolotl planarian."]})
    # 1,100 chunks hold "glia" (a quarter of 4,400: common, yet within the share kept).
    await session.execute(
        text(
            "INSERT INTO knowledge_chunk (id, document_id, source_id, project_id, position, "
            "title, heading_path, heading, text, content_hash, start_offset, end_offset, "
            "content_type) SELECT gen_random_uuid(), d.id, d.source_id, d.project_id, n, '', "
            "'{}', '', CASE WHEN n % 4 = 0 THEN 'Glia divide.' ELSE 'Cells divide.' END, "
            "n::text, 0, 0, 'text' FROM knowledge_document d, generate_series(1, 4399) n "
            "WHERE d.source_id = :source"
        ),
        {"source": source.id},
    )
    await refresh_lexeme_stats(session)
    query = "zebrafish axolotl planarian glia"

    async def found(budget: int) -> list[str]:
        settings = KnowledgeSettings(search_posting_budget=budget)
        return [t for t, _ in await keyword(session, project, query, settings, limit=100)]

    assert (await found(30_000))[:2] == ["Zebrafish axolotl planarian.", "Glia divide."]
    assert await found(1_000) == ["Zebrafish axolotl planarian."]


@pytest.mark.parametrize(
    "chunks_in_all",
    [0, 10**9],  # BM25's N as last rebuilt: the source is a large share (bulk) or a tiny one
    ids=["bulk", "cascade"],
)
async def test_removing_a_source_takes_its_postings_and_leaves_others_alone(session, chunks_in_all):
    await session.execute(text("DELETE FROM knowledge_lexeme WHERE lexeme = ''"))
    await session.execute(
        text("INSERT INTO knowledge_lexeme (lexeme, df, occurrences) VALUES ('', :n, 0)"),
        {"n": chunks_in_all},
    )
    _, kept, kept_chunks = await corpus(session, {"Kidney": ["Podocytes line the glomerulus."]})
    _, gone, _ = await corpus(
        session, {"Retina": ["Zebrafish regenerate their retina.", "Müller glia divide."]}
    )
    before = await scalar(session, POSTINGS, source=kept.id)
    admin, _ = await make_user(
        session, f"admin-{uuid.uuid4().hex[:6]}", scopes=(Scope.ADMIN,), is_admin=True
    )
    await remove_source(session, principal=admin, source_id=gone.id)
    for table in ("knowledge_posting", "knowledge_chunk", "knowledge_document"):
        left = text(f"SELECT count(*) FROM {table} WHERE source_id = :s")  # noqa: S608
        assert await scalar(session, left, s=gone.id) == 0
    assert await scalar(session, POSTINGS, source=kept.id) == before
    assert await scalar(session, MISMATCHES, source=kept.id) == 0
    queued = text(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t AND status = 'todo'"
    )
    assert await scalar(session, queued, t=LEXEME_STATS_TASK) == 1
    # The bulk path's switch ends with it: later deletes in the transaction keep postings exact.
    await session.execute(
        text("DELETE FROM knowledge_chunk WHERE id = :id"),
        {"id": kept_chunks["Podocytes line the glomerulus."].id},
    )
    assert await scalar(session, POSTINGS, source=kept.id) == 0
