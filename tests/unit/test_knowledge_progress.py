"""What a knowledge job reports as its progress, phase by phase."""

import uuid
from datetime import UTC, datetime, timedelta

from devflow.core.jobs import Phase, _pace
from devflow.knowledge.crawl import CrawlStats
from devflow.knowledge.jobs import _Progress


def progress(unit: str = "pages", **stats: int) -> _Progress:
    reporter = _Progress(None, None, uuid.uuid4(), unit=unit)  # type: ignore[arg-type]
    reporter.stats = CrawlStats(**stats)
    return reporter


FETCHED_12 = {
    "discovered": 294,
    "fetched": 12,
    "extracted": 11,
    "unchanged": 0,
    "failed": 1,
    "embedded": 0,
}


def test_a_crawls_total_never_passes_its_page_limit():
    limited = progress(discovered=294, fetched=12, chunked=11, failed=1, limit=20)
    assert limited.job_progress() == (
        Phase("fetch", "pages", 12, 20, FETCHED_12),
        "fetching: 12 of 20 pages (discovered 294, extracted 11, failed 1)",
    )
    assert progress(discovered=7, fetched=3, limit=20).job_progress()[0].total == 7


def test_a_folder_counts_files():
    phase, message = progress("files", discovered=5, fetched=2).job_progress()
    assert (phase.name, phase.unit, phase.done, phase.total) == ("fetch", "files", 2, 5)
    assert message.startswith("fetching: 2 of 5 files")


def test_embedding_is_a_phase_of_its_own_counted_in_chunks():
    reporter = progress(discovered=364, fetched=364, chunked=364, limit=500)
    reporter.to_embed = 9143
    reporter.embedded = 120
    phase, message = reporter.job_progress()
    assert (phase.name, phase.unit, phase.done, phase.total) == ("embed", "chunks", 120, 9143)
    assert phase.counts == {
        "discovered": 364,
        "fetched": 364,
        "extracted": 364,
        "unchanged": 0,
        "failed": 0,
        "embedded": 120,
    }
    assert message == "embedding: 120 of 9143 chunks (fetched 364 pages, 0 failed)"


def test_chunks_embedded_while_fetching_are_counted_in_the_fetch_then_not_left_to_embed():
    reporter = progress(discovered=364, fetched=200, chunked=200, limit=500)
    reporter.embedded = 3200
    phase, message = reporter.job_progress()
    assert (phase.name, phase.done, phase.total, phase.counts["embedded"]) == (
        "fetch",
        200,
        364,
        3200,
    )
    assert message.endswith("extracted 200, failed 0, chunks embedded 3200)")
    # The fetch is over: 3,500 chunks had their vectors by then, 5,643 are left.
    reporter.stats = CrawlStats(discovered=364, fetched=364, chunked=364, limit=500)
    reporter.embedded = reporter.embedded_while_fetching = 3500
    reporter.to_embed = 5643
    reporter.embedded = 3600
    phase, message = reporter.job_progress()
    assert (phase.name, phase.done, phase.total, phase.counts["embedded"]) == (
        "embed",
        100,
        5643,
        3600,
    )
    assert message == (
        "embedding: 100 of 5643 chunks (fetched 364 pages, 0 failed; 3500 embedded while fetching)"
    )


def test_an_embedding_job_counts_chunks_only():
    reporter = _Progress(None, None, uuid.uuid4(), embed_only=True)  # type: ignore[arg-type]
    reporter.to_embed = 40
    reporter.embedded = 10
    assert reporter.job_progress() == (
        Phase("embed", "chunks", 10, 40, {"embedded": 10}),
        "embedding: 10 of 40 chunks",
    )


class TestPace:
    start = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

    def test_rate_is_the_phases_units_over_its_time_and_eta_what_is_left_at_that_rate(self):
        rate, eta = _pace(30, 120, self.start, self.start + timedelta(seconds=10))
        assert (rate, eta) == (3.0, 30.0)

    def test_nothing_done_or_no_time_passed_gives_no_pace(self):
        assert _pace(0, 10, self.start, self.start + timedelta(seconds=5)) == (None, None)
        assert _pace(3, 10, self.start, self.start) == (None, None)
        assert _pace(3, 10, None, self.start) == (None, None)

    def test_an_unknown_total_has_a_rate_but_no_eta(self):
        assert _pace(8, None, self.start, self.start + timedelta(seconds=4)) == (2.0, None)

    def test_a_finished_phase_needs_no_more_time(self):
        assert _pace(9, 9, self.start, self.start + timedelta(seconds=3)) == (3.0, 0.0)
