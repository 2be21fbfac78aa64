"""Following a job from the CLI: a bar per phase, each counting its own unit."""

from io import StringIO
from typing import Any

import pytest
from rich.console import Console

from devflow.core.cli import progress


class ScriptedApi:
    """Answers GET /api/v1/jobs/{id} with the next of a list of job states."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states
        self.calls = 0

    def get(self, path: str) -> dict[str, Any]:
        assert path == "/api/v1/jobs/7"
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        return state


def job(status: str, phase: str, unit: str, done: int, total: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": 7,
        "task": "knowledge:ingest_source",
        "status": status,
        "phase": phase,
        "unit": unit,
        "done": done,
        "total": total,
        "message": "",
        "rate": extra.get("rate"),
        "eta_seconds": extra.get("eta"),
        "phase_started_at": extra.get("started"),
        "updated_at": extra.get("updated"),
    }


@pytest.fixture
def screen(monkeypatch) -> StringIO:
    out = StringIO()
    monkeypatch.setattr(progress, "console", Console(file=out, width=160))
    monkeypatch.setattr(progress.time, "sleep", lambda _: None)
    return out


def test_each_phase_gets_a_bar_of_its_own_and_a_finished_one_stays_full(screen):
    api = ScriptedApi(
        [
            job("doing", "fetch", "pages", 3, 20, rate=1.5, eta=11.3),
            job("doing", "fetch", "pages", 12, 20, rate=2.0, eta=4.0),
            job("doing", "embed", "chunks", 120, 9143, rate=4.1, eta=2200.7),
            job("succeeded", "embed", "chunks", 9143, 9143, rate=5.0, eta=0.0),
        ]
    )
    ended = progress.follow_job(api, 7, label="docs")  # type: ignore[arg-type]
    assert ended["status"] == "succeeded"
    shown = screen.getvalue()
    assert "docs fetch" in shown
    assert "done, 20 pages" in shown  # the phase ended: its bar stands full
    assert "docs embed" in shown
    assert "9,143/9,143 chunks, 5.0/s" in shown
    assert "ETA" not in shown.split("docs embed")[-1]  # a finished job has no ETA


def test_the_wait_in_the_queue_leaves_no_bar_behind(screen):
    queued = {**job("todo", "", "", 0, 0), "phase": None, "unit": None, "message": "queued"}
    api = ScriptedApi(
        [
            queued,
            job("doing", "fetch", "pages", 3, 20, rate=1.5, eta=11.3),
            job("doing", "embed", "chunks", 10, 90, rate=5.0, eta=16.0),
            job("succeeded", "embed", "chunks", 90, 90, rate=5.0, eta=0.0),
        ]
    )
    progress.follow_job(api, 7, label="docs")  # type: ignore[arg-type]
    shown = screen.getvalue()
    assert "done, 20 pages" in shown  # the bars after the removed one are still found
    assert "90/90 chunks" in shown
    assert "queued" not in shown  # it read "docs: queued ━━━ done, 0" above the phases
    assert "done, 0" not in shown


def test_quiet_only_waits(screen):
    api = ScriptedApi(
        [job("doing", "embed", "chunks", 1, 2), job("succeeded", "embed", "chunks", 2, 2)]
    )
    assert progress.follow_job(api, 7, quiet=True)["done"] == 2  # type: ignore[arg-type]
    assert screen.getvalue() == ""


def test_pace_reads_as_people_read_it():
    running = job("doing", "embed", "chunks", 3020, 9143, rate=5.4, eta=1134.0)
    assert progress.pace(running) == "3,020/9,143 chunks, 5.4/s, ETA 18:54"
    assert progress.pace(job("doing", "fetch", "pages", 5, 0)) == "5 pages"
    long = job("doing", "embed", "chunks", 1, 10, rate=0.001, eta=9000.0)
    assert progress.pace(long).endswith("ETA 2:30:00")


def test_the_elapsed_time_is_the_phases_on_the_server_however_late_the_watch_began(screen):
    api = ScriptedApi(
        [
            job(
                "succeeded",
                "embed",
                "chunks",
                90,
                90,
                rate=5.0,
                started="2026-12-04T10:00:00+00:00",
                updated="2026-12-04T10:36:50.400000+00:00",
            )
        ]
    )
    api.states.insert(0, {**api.states[0], "status": "doing"})
    progress.follow_job(api, 7, label="docs")  # type: ignore[arg-type]
    assert "36:50" in screen.getvalue()  # the watch itself took no time at all
    assert progress.elapsed(job("todo", "", "", 0, 0)) == ""  # queued: no phase yet


def test_a_job_that_ended_before_the_watch_shows_its_last_phase_as_it_ended(screen):
    api = ScriptedApi([job("succeeded", "embed", "chunks", 4, 4, rate=8.0, eta=0.0)])
    ended = progress.follow_job(api, 7, label="docs")  # type: ignore[arg-type]
    assert ended["status"] == "succeeded"
    assert api.calls == 1
    shown = screen.getvalue()
    assert "docs embed" in shown
    assert "4/4 chunks, 8.0/s" in shown
