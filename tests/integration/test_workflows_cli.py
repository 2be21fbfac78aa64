"""`devflow task` and `devflow board` as a user runs them, against a server."""

import json

from tests.integration import test_knowledge_cli as cli_tests

# The server and the CLI runner of the knowledge CLI's tests, as fixtures of this module too.
cli, server, fake_llm, llm_overrides, knowledge_overrides = (
    cli_tests.cli,
    cli_tests.server,
    cli_tests.fake_llm,
    cli_tests.llm_overrides,
    cli_tests.knowledge_overrides,
)


def test_a_task_from_creation_to_close(cli):
    made = json.loads(cli("task", "create", "Set up CI", "--priority", "high", "--json").stdout)
    assert made["number"] == 1
    cli("task", "create", "Deploy", "--blocked-by", "1", "--label", "ops")
    listed = cli("task", "list", process=True).stdout  # `devflow task` in its own process
    assert "#1" in listed
    assert "Deploy" in listed
    board = cli("board", process=True).stdout
    assert "Backlog 2" in board
    assert "In progress 0" in board
    claimed = json.loads(cli("task", "next", "--json").stdout)
    assert (claimed["number"], claimed["assignee"]) == (1, "admin")
    assert json.loads(cli("task", "next", "--json").stdout) is None  # #2 waits for #1
    cli("task", "comment", "1", "pipeline green")
    cli("task", "move", "1", "in review")
    closed = json.loads(cli("task", "close", "1", "--json").stdout)
    assert closed["column"] == "Done"
    assert json.loads(cli("task", "next", "--json").stdout)["number"] == 2
    edited = json.loads(
        cli("task", "edit", "2", "--blocked-by", "0", "--label", "infra", "--json").stdout
    )
    assert (edited["blocked_by"], edited["labels"]) == ([], ["infra"])
    shown = cli("task", "show", "1", "--comments", "--history").stdout
    assert "pipeline green" in shown
    assert "In review" in shown


def test_wip_limits_and_refusals_are_one_line_with_an_exit_code(cli):
    cli("board", "column-set", "In progress", "--wip", "1")
    assert "In progress 0/1" in cli("board").stdout
    cli("task", "create", "one")
    cli("task", "create", "two")
    cli("task", "next")
    refused = cli("task", "next", check=False)
    assert refused.returncode == 5
    assert "WIP limit of 1" in refused.stderr
    missing = cli("task", "show", "9", check=False)
    assert missing.returncode == 4
    assert "no task #9" in missing.stderr
    bad = cli("task", "create", "x", "--priority", "asap", check=False)
    assert bad.returncode == 2
    assert "low, medium, high, urgent" in bad.stderr


def test_search_finds_a_task_by_a_comment_and_by_meaning(cli):
    cli("task", "create", "Login page crashes on submit", "--body", "Stack trace attached.")
    cli("task", "create", "Write the release notes for 2.0")
    cli("task", "comment", "2", "waiting on the changelog from the API team")
    by_comment = json.loads(cli("task", "search", "changelog", "--json").stdout)
    assert by_comment[0]["number"] == 2
    assert "changelog" in by_comment[0]["comment"]
    by_meaning = json.loads(cli("task", "search", "sign-in form error", "--json").stdout)
    assert by_meaning[0]["number"] == 1
    shown = cli("task", "search", "release").stdout
    assert "#2" in shown
