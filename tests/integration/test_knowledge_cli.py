"""`devflow knowledge`, `devflow search` and `devflow ask` as a user runs them, against a server."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import uvicorn

from devflow.settings import load_settings
from devflow.testing import FakeOpenAI
from devflow.web import create_app
from tests.factories import bootstrap_admin
from tests.integration.test_knowledge_pipeline import run_jobs


@pytest.fixture
def fake_llm():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def llm_overrides() -> dict:
    """LLM settings a test changes (parametrize it to set budgets)."""
    return {}


@pytest.fixture
def server(db_url, fake_llm, llm_overrides, monkeypatch):
    monkeypatch.setenv(
        "DEVFLOW_KNOWLEDGE__EMBEDDER", "python:tests.knowledge_site.embedder:shared_local"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(load_settings(database_url=db_url, llm=fake_llm.llm_settings(**llm_overrides)))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    while not running.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


@pytest.fixture
async def cli(server, sessions, tmp_path):
    token = await bootstrap_admin(sessions)
    env = {
        **os.environ,
        "DEVFLOW_URL": server,
        "DEVFLOW_TOKEN": token,
        "DEVFLOW_HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
    }

    def run(*args, check=True):
        result = subprocess.run(
            [sys.executable, "-m", "devflow", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert result.returncode == 0, result.stderr + result.stdout
        return result

    return run


async def test_a_folder_is_uploaded_searched_and_asked_about(cli, tmp_path, db_url):
    folder = tmp_path / "wiki"
    (folder / "ops").mkdir(parents=True)
    (folder / "ops" / "backups.md").write_text(
        "# Backups\n\n## Schedule\n\nThe database is backed up every night at 02:00 to the "
        "vault bucket.\n"
    )
    (folder / "readme.txt").write_text("The wiki of the platform team.\n")
    added = json.loads(cli("knowledge", "add", str(folder), "--no-wait", "--json").stdout)
    assert added["kind"] == "files"
    assert added["name"] == "wiki"
    assert {u["filename"] for u in added["uploaded"]} == {"ops/backups.md", "readme.txt"}
    await run_jobs(db_url)

    listed = json.loads(cli("knowledge", "list", "--json").stdout)
    assert [s["name"] for s in listed] == ["wiki"]
    assert listed[0]["chunk_count"] == 2

    found = json.loads(cli("search", "when are backups made", "--json").stdout)
    top = found["hits"][0]
    assert top["uri"] == "ops/backups.md"
    assert top["heading_path"] == ["Backups", "Schedule"]
    human = cli("search", "vault bucket", "--mode", "keyword", "--source", "wiki").stdout
    assert "ops/backups.md" in human
    assert "Backups > Schedule" in human

    answer = cli("ask", "When is the database backed up?").stdout
    assert "fake-chat says:" in answer
    assert "[1] Backups" in answer

    shown = cli("knowledge", "show", "wiki").stdout
    assert "ready" in shown


async def test_bad_input_is_one_clear_line_and_an_exit_code(cli):
    empty = cli("search", "   ", check=False)
    assert empty.returncode == 2
    assert "the query is empty" in empty.stderr
    missing = cli("knowledge", "show", "nope", check=False)
    assert missing.returncode == 2
    assert "no source 'nope'" in missing.stderr
    private = cli("knowledge", "add", "http://127.0.0.1:9/docs", "--no-wait", check=False)
    assert private.returncode == 2
    assert "--allow-private" in private.stderr
    assert "Traceback" not in private.stderr


async def test_a_repository_the_server_may_not_read_is_uploaded_without_ignored_files(
    cli, tmp_path
):
    repo = tmp_path / "gizmo"
    repo.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "t@e.st"], ["config", "user.name", "T"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    (repo / "README.md").write_text("# Gizmo\n")
    (repo / ".gitignore").write_text("secret.txt\n")
    (repo / "secret.txt").write_text("the launch code\n")
    subprocess.run(["git", "add", "README.md", ".gitignore"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "first"], cwd=repo, check=True)
    # No DEVFLOW_KNOWLEDGE__LOCAL_ROOTS on the server: it may read no folder of its own.
    added = cli("knowledge", "add", str(repo), "--no-wait", "--json")
    body = json.loads(added.stdout)
    assert "uploading its tracked files instead" in added.stderr + added.stdout
    assert body["kind"] == "files"
    assert {u["filename"] for u in body["uploaded"]} == {"README.md", ".gitignore"}


# A thousandth of a cent: less than the shortest answer costs at the fake's prices.
@pytest.mark.parametrize("llm_overrides", [{"budgets": {"projects": {"default": 0.00001}}}])
async def test_an_answer_over_budget_says_so_and_exits_7(cli, tmp_path, db_url, fake_llm):
    (tmp_path / "notes.md").write_text("# Notes\n\nThe release train leaves every Tuesday.\n")
    cli("knowledge", "add", str(tmp_path / "notes.md"), "--no-wait")
    await run_jobs(db_url)

    for extra in ([], ["--json"]):
        refused = cli("ask", "When does the release train leave?", *extra, check=False)
        assert refused.returncode == 7, refused.stderr + refused.stdout
        assert "budget" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert not [r for r in fake_llm.requests if "chat" in r.path], "nothing reached the provider"
