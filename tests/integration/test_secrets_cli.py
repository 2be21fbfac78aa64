"""`devflow secrets` as a user runs it, against a server: values in from stdin, never printed
unless asked, .env import and export, a command run with the secrets and its output masked, the
audit log and its verification."""

import json
import os
import subprocess
import sys

import pytest

from tests.cli_inprocess import run_cli
from tests.integration import test_knowledge_cli as cli_tests
from tests.secret_values import secret_value

# The server of the knowledge CLI's tests, as fixtures of this module too.
server, fake_llm, llm_overrides, knowledge_overrides = (
    cli_tests.server,
    cli_tests.fake_llm,
    cli_tests.llm_overrides,
    cli_tests.knowledge_overrides,
)
VALUE = secret_value("cli-value-")


@pytest.fixture
async def secrets_cli(server, sessions, tmp_path):
    from tests.factories import bootstrap_admin

    token = await bootstrap_admin(sessions)
    env = {
        **os.environ,
        "DEVFLOW_URL": server,
        "DEVFLOW_TOKEN": token,
        "DEVFLOW_HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
    }

    def run(*args, stdin=None, check=True, process=False):
        if process:
            result = subprocess.run(
                [sys.executable, "-m", "devflow", *args], env=env, cwd=tmp_path, input=stdin,
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
        else:
            result = run_cli(*args, env=env, cwd=tmp_path, input=stdin)
        if check:
            assert result.returncode == 0, result.stderr + result.stdout
        return result

    return run


def test_set_get_list_history_rollback_delete(secrets_cli):
    made = secrets_cli("secrets", "set", "DB_PASSWORD", "--from-stdin", "--json", stdin=VALUE)
    assert json.loads(made.stdout)["version"] == 1
    assert VALUE not in made.stdout + made.stderr
    secrets_cli("secrets", "set", "DB_PASSWORD", "--from-stdin", stdin=VALUE + "-2")
    shown = secrets_cli("secrets", "get", "DB_PASSWORD")
    assert "version 2" in shown.stdout
    assert VALUE not in shown.stdout
    assert secrets_cli("secrets", "get", "DB_PASSWORD", "--reveal").stdout == VALUE + "-2"
    listed = secrets_cli("secrets", "list", process=True).stdout  # its own process once
    assert "DB_PASSWORD" in listed
    assert VALUE not in listed
    history = json.loads(secrets_cli("secrets", "history", "DB_PASSWORD", "--json").stdout)
    assert [v["version"] for v in history] == [2, 1]
    secrets_cli("secrets", "rollback", "DB_PASSWORD", "1")
    assert secrets_cli("secrets", "get", "DB_PASSWORD", "--reveal").stdout == VALUE
    secrets_cli("secrets", "delete", "DB_PASSWORD")
    gone = secrets_cli("secrets", "get", "DB_PASSWORD", check=False)
    assert gone.returncode != 0
    assert "no secret 'DB_PASSWORD'" in gone.stderr


def test_refusals_are_one_line_and_name_the_fix(secrets_cli):
    bad = secrets_cli("secrets", "set", "../x", "--from-stdin", stdin=VALUE, check=False)
    assert bad.returncode != 0
    assert "invalid secret name" in bad.stderr
    both = secrets_cli("secrets", "set", "X", "--project", "p", "--user", stdin=VALUE, check=False)
    assert "choose one of --project, --user and --system" in both.stderr
    assert VALUE not in bad.stderr + both.stderr


def test_import_export_and_run_with_masking(secrets_cli, tmp_path):
    dotenv = tmp_path / "app.env"
    dotenv.write_text(f'API_TOKEN="{VALUE}"\nREGION=eu-west-1\n# a comment\nEMPTY=\n')
    imported = json.loads(secrets_cli("secrets", "import", str(dotenv), "--json").stdout)
    assert sorted(i["name"] for i in imported["imported"]) == ["API_TOKEN", "REGION"]
    exported = secrets_cli("secrets", "export").stdout
    assert f'API_TOKEN="{VALUE}"' in exported
    assert 'REGION="eu-west-1"' in exported
    script = "import os; print('token is', os.environ['API_TOKEN'], 'in', os.environ['REGION'])"
    ran = secrets_cli("secrets", "run", "--", sys.executable, "-c", script, process=True)
    assert ran.stdout.splitlines() == ["token is *** in ***"]  # every value is a secret
    raw = secrets_cli(
        "secrets", "run", "--no-masking", "--", sys.executable, "-c", script, process=True
    )
    assert f"token is {VALUE}" in raw.stdout
    failing = secrets_cli(
        "secrets", "run", "--", sys.executable, "-c", "raise SystemExit(3)", check=False,
        process=True,
    )  # fmt: skip
    assert failing.returncode == 3


def test_audit_lists_and_verifies(secrets_cli):
    secrets_cli("secrets", "set", "AUDITED", "--from-stdin", stdin=VALUE)
    secrets_cli("secrets", "get", "AUDITED", "--reveal", "--reason", "incident 42")
    rows = json.loads(secrets_cli("secrets", "audit", "--name", "AUDITED", "--json").stdout)
    assert [(r["action"], r["reason"]) for r in rows][:2] == [
        ("read", "incident 42"), ("write", "created"),
    ]  # fmt: skip
    assert all(VALUE not in json.dumps(r) for r in rows)
    verified = secrets_cli("secrets", "audit", "--verify")
    assert "audit chain intact" in verified.stdout
    keys = json.loads(secrets_cli("secrets", "keys", "--json").stdout)
    assert [k["state"] for k in keys] == ["active"]
    new_key = secrets_cli("secrets", "new-key").stdout.strip()
    assert new_key.count(":") == 1
