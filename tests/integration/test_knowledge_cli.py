"""`devflow knowledge`, `devflow search` and `devflow ask` as a user runs them, against a server."""

import json
import os
import shutil
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
from tests.cli_inprocess import run_cli
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
def knowledge_overrides() -> dict:
    """Knowledge settings of the server a test changes (parametrize it to set limits)."""
    return {}


@pytest.fixture
def server(db_url, fake_llm, llm_overrides, knowledge_overrides, monkeypatch):
    monkeypatch.setenv(
        "DEVFLOW_KNOWLEDGE__EMBEDDER", "python:tests.knowledge_site.embedder:shared_local"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = load_settings(
        database_url=db_url,
        llm=fake_llm.llm_settings(**llm_overrides),
        knowledge=knowledge_overrides,
    )
    app = create_app(settings)
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

    def run(*args, check=True, process=False):
        """Run `devflow *args` in this process (tests/cli_inprocess.py), or with `process` as
        `python -m devflow` in its own: each command family keeps one such call."""
        if process:
            result = subprocess.run(
                [sys.executable, "-m", "devflow", *args],
                env=env,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,  # not a terminal: nothing can be asked
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        else:  # its stdin is no terminal either
            result = run_cli(*args, env=env, cwd=tmp_path)
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
    added = cli("knowledge", "add", str(folder), "--no-wait", "--json", process=True)
    added = json.loads(added.stdout)
    assert added["kind"] == "files"
    assert added["name"] == "wiki"
    assert {u["filename"] for u in added["uploaded"]} == {"ops/backups.md", "readme.txt"}
    await run_jobs(db_url)

    listed = json.loads(cli("knowledge", "list", "--json").stdout)
    assert [s["name"] for s in listed] == ["wiki"]
    assert listed[0]["chunk_count"] == 2

    found = json.loads(cli("search", "when are backups made", "--json", process=True).stdout)
    top = found["hits"][0]
    assert top["uri"] == "ops/backups.md"
    assert top["heading_path"] == ["Backups", "Schedule"]
    human = cli("search", "vault bucket", "--mode", "keyword", "--source", "wiki").stdout
    assert "ops/backups.md" in human
    assert "Backups > Schedule" in human

    answer = cli("ask", "When is the database backed up?", process=True).stdout
    assert "fake-chat says:" in answer
    assert "[1] Backups" in answer

    shown = cli("knowledge", "show", "wiki").stdout
    assert "ready" in shown


async def test_an_add_or_refresh_prints_the_source_as_its_upload_left_it(cli, tmp_path):
    # Printed before, it read "status empty  documents 0" right above "uploaded 2 files".
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nThe first note.\n")
    (folder / "b.md").write_text("# B\n\nThe second note.\n")
    added = cli("knowledge", "add", str(folder), "--no-wait").stdout
    assert "status embedding  documents 2  chunks 2" in added
    assert "uploaded 2 files" in added
    assert "embedded 0 of 2 chunks" in added  # where `knowledge show` tells the progress
    as_json = json.loads(cli("knowledge", "refresh", "notes", "--no-wait", "--json").stdout)
    assert (as_json["status"], as_json["document_count"]) == ("embedding", 2)
    (folder / "c.md").write_text("# C\n\nThe third note.\n")
    refreshed = cli("knowledge", "refresh", "notes", "--no-wait").stdout
    assert "documents 3  chunks 3" in refreshed


async def test_bad_input_is_one_clear_line_and_an_exit_code(cli):
    empty = cli("search", "   ", check=False)
    assert empty.returncode == 2
    assert "the query is empty: say what to look for" in empty.stderr
    no_question = cli("ask", "", check=False)
    assert no_question.returncode == 2
    assert "the question is empty" in no_question.stderr
    for said in (empty.stderr, no_question.stderr):  # plain words, not the validator's
        assert "Value error" not in said
        assert "request is invalid" not in said
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


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


class TestFolders:
    async def test_a_folder_of_more_than_a_thousand_files_is_added(self, cli, tmp_path):
        folder = tmp_path / "many"
        folder.mkdir()
        for i in range(1001):  # the server parses at most 1,000 files from one request
            (folder / f"note-{i:04}.txt").write_text(f"Note {i} of the many.\n")
        added = json.loads(cli("knowledge", "add", str(folder), "--no-wait", "--json").stdout)
        assert len(added["uploaded"]) == 1001
        assert {u["status"] for u in added["uploaded"]} == {"new"}
        (listed,) = json.loads(cli("knowledge", "list", "--json").stdout)
        assert (listed["name"], listed["document_count"]) == ("many", 1001)

    @pytest.mark.parametrize("knowledge_overrides", [{"max_upload_bytes": 2048}])
    async def test_an_add_whose_upload_fails_leaves_no_source_behind(self, cli, tmp_path):
        folder = tmp_path / "wiki"
        folder.mkdir()
        (folder / "small.md").write_text("# Small\n\nFits.\n")
        (folder / "large.md").write_text("# Large\n\n" + "words " * 1000)
        failed = cli("knowledge", "add", str(folder), "--no-wait", check=False)
        assert failed.returncode != 0
        assert "Traceback" not in failed.stderr
        assert "wiki was removed again, nothing was added" in failed.stderr
        assert json.loads(cli("knowledge", "list", "--json").stdout) == []

    async def test_an_empty_folder_is_refused_before_any_source_is_made(self, cli, tmp_path):
        (tmp_path / "empty" / ".hidden").mkdir(parents=True)
        (tmp_path / "empty" / ".hidden" / "x.md").write_text("# hidden\n")
        refused = cli("knowledge", "add", str(tmp_path / "empty"), check=False)
        assert refused.returncode == 2
        assert "no files to upload" in refused.stderr
        assert json.loads(cli("knowledge", "list", "--json").stdout) == []

    async def test_a_folder_source_is_brought_up_to_date_by_refresh_or_adding_it_again(
        self, cli, tmp_path, db_url
    ):
        folder = tmp_path / "wiki"
        folder.mkdir()
        (folder / "keep.md").write_text("# Keep\n\nThe pangolin stays.\n")
        (folder / "change.md").write_text("# Change\n\nThe tide is low.\n")
        (folder / "gone.md").write_text("# Gone\n\nThe quokka leaves.\n")
        cli("knowledge", "add", str(folder), "--no-wait")
        await run_jobs(db_url)
        (folder / "change.md").write_text("# Change\n\nThe tide is high.\n")
        (folder / "gone.md").unlink()
        (folder / "new.md").write_text("# New\n\nThe wombat arrives.\n")

        synced = json.loads(cli("knowledge", "refresh", "wiki", "--no-wait", "--json").stdout)
        assert {u["filename"]: u["status"] for u in synced["uploaded"]} == {
            "keep.md": "unchanged",
            "change.md": "changed",
            "new.md": "new",
        }
        assert synced["removed"] == ["gone.md"]
        await run_jobs(db_url)
        shown = json.loads(cli("knowledge", "show", "wiki", "--json").stdout)
        assert (shown["status"], shown["document_count"]) == ("ready", 3)
        assert shown["chunked"] == 3
        assert shown["last_refresh_at"] is not None
        assert "last refresh -" not in cli("knowledge", "show", "wiki").stdout
        assert (
            json.loads(cli("search", "quokka", "--mode", "keyword", "--json").stdout)["hits"] == []
        )

        (folder / "new.md").unlink()
        again = cli("knowledge", "add", str(folder), "--no-wait", "--json")
        assert "bringing it up to date" in again.stderr
        assert json.loads(again.stdout)["removed"] == ["new.md"]

    async def test_a_name_taken_by_another_folder_is_refused_with_what_to_do(self, cli, tmp_path):
        for parent in ("a", "b"):
            (tmp_path / parent / "docs").mkdir(parents=True)
            (tmp_path / parent / "docs" / "readme.md").write_text(f"# {parent}\n\nText.\n")
        cli("knowledge", "add", str(tmp_path / "a" / "docs"), "--no-wait")
        refused = cli("knowledge", "add", str(tmp_path / "b" / "docs"), "--no-wait", check=False)
        assert refused.returncode == 5
        assert f"a source named 'docs' already exists ({tmp_path / 'a' / 'docs'})" in (
            refused.stderr.replace("\n", "")
        )
        assert "--from" in refused.stderr
        moved = cli(
            "knowledge", "refresh", "docs", "--from", str(tmp_path / "b" / "docs"), "--no-wait"
        )
        assert "uploaded 1 file (0 new, 1 changed, 0 unchanged, 0 failed); removed 0" in (
            moved.stdout
        )
        shutil.rmtree(tmp_path / "a")  # the source now comes from b/docs, and remembers it
        shown = json.loads(cli("knowledge", "show", "docs", "--json").stdout)
        assert shown["settings"]["origin"] == str(tmp_path / "b" / "docs")
        assert "unchanged" in cli("knowledge", "refresh", "docs", "--no-wait").stdout

    @pytest.mark.parametrize("head", ["refs/heads/main", "refs/heads/trunk"])
    async def test_a_bare_repository_of_the_user_is_uploaded_from_its_default_branch(
        self, cli, tmp_path, head
    ):
        work = tmp_path / "work"
        work.mkdir()
        _git(work, "init", "-q", "-b", "main")
        (work / "README.md").write_text("# Gizmo\n\nReticulates splines.\n")
        _git(work, "add", "README.md")
        _git(work, "-c", "user.name=t", "-c", "user.email=t@e.st", "commit", "-qm", "one")
        _git(work, "checkout", "-q", "-b", "other")
        (work / "OTHER.md").write_text("# Other\n\nNot on the default branch.\n")
        _git(work, "add", "OTHER.md")
        _git(work, "-c", "user.name=t", "-c", "user.email=t@e.st", "commit", "-qm", "two")
        _git(tmp_path, "clone", "-q", "--bare", str(work), str(tmp_path / "gizmo.git"))
        # `trunk` has no commit: a server made with another default than what was pushed.
        _git(tmp_path / "gizmo.git", "symbolic-ref", "HEAD", head)
        added = cli("knowledge", "add", str(tmp_path / "gizmo.git"), "--no-wait", "--json")
        body = json.loads(added.stdout)
        assert body["name"] == "gizmo.git"
        assert [u["filename"] for u in body["uploaded"]] == ["README.md"]  # no git internals


class TestManners:
    @pytest.mark.parametrize(
        ("location", "said"),
        [
            ("htp:/bad url", "has an unknown scheme 'htp:'"),
            ("./nope", "no file or folder './nope' in "),
            ("nope.example", "did you mean https://nope.example ?"),
            ("docs.example.com/guide/", "did you mean https://docs.example.com/guide/ ?"),
            ("notes.md", "no file or folder 'notes.md' in "),
        ],
    )
    async def test_a_location_that_is_nothing_says_what_is_wrong(self, cli, location, said):
        refused = cli("knowledge", "add", location, "--no-wait", check=False)
        assert refused.returncode == 2
        assert said in refused.stderr.replace("\n", "")
        assert "absolute path" not in refused.stderr.split("Give")[0]

    async def test_remove_in_a_shell_that_cannot_ask_says_to_pass_yes(self, cli, tmp_path):
        (tmp_path / "notes.md").write_text("# Notes\n\nKeep me.\n")
        cli("knowledge", "add", str(tmp_path / "notes.md"), "--no-wait")
        refused = cli("knowledge", "remove", "notes.md", check=False)
        assert refused.returncode == 2
        assert "pass -y (--yes)" in refused.stderr
        assert len(json.loads(cli("knowledge", "list", "--json").stdout)) == 1
        assert "removed notes.md" in cli("knowledge", "remove", "notes.md", "-y").stdout
