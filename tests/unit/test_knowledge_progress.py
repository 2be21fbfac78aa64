"""What a knowledge job reports as its progress, phase by phase."""

import uuid

from devflow.knowledge.crawl import CrawlStats
from devflow.knowledge.jobs import _Progress


def progress(**stats: int) -> _Progress:
    reporter = _Progress(None, None, uuid.uuid4())  # type: ignore[arg-type]
    reporter.stats = CrawlStats(**stats)
    return reporter


def test_a_crawls_total_never_passes_its_page_limit():
    limited = progress(discovered=294, fetched=12, limit=20)
    assert limited.job_progress() == (
        12,
        20,
        "fetching: 12 of 20 pages (discovered 294, chunked 0, failed 0)",
    )
    assert progress(discovered=7, fetched=3, limit=20).job_progress()[1] == 7


def test_embedding_is_a_phase_of_its_own_counted_in_chunks():
    reporter = progress(discovered=364, fetched=364, limit=500)
    reporter.to_embed = 9143
    reporter.embedded = 120
    assert reporter.job_progress() == (
        120,
        9143,
        "embedding: 120 of 9143 chunks (fetched 364 pages, 0 failed)",
    )


def test_an_embedding_job_counts_chunks_only():
    reporter = _Progress(None, None, uuid.uuid4(), embed_only=True)  # type: ignore[arg-type]
    reporter.to_embed = 40
    reporter.embedded = 10
    assert reporter.job_progress() == (10, 40, "embedding: 10 of 40 chunks")
