"""The dashboard in a real browser: Playwright (ui/e2e/) drives Debian's chromium against a real
`devflow up` on a temporary home, so `make test` runs the browser tests with the rest.

The server side prepares what the pages show (a published npm package, a pushed image, a branch
ahead of main) and hands the specs its address, an admin token and a one-time sign-in link; the
specs sign in, click, and check.
Screenshots of every test stay in ui/test-results/ (gitignored) as the run's artifacts.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from devflow.testing import FakeOpenAI
from tests.e2e.conftest import REPO, make_home, start_up
from tests.e2e.test_repos_git import git
from tests.registry_fixtures import npm_document

UI = REPO / "ui"
CHROMIUM = os.environ.get("DEVFLOW_E2E_CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT = UI / "node_modules" / ".bin" / "playwright"
BUILD = REPO / "src" / "devflow" / "web" / "ui_dist" / "index.html"
# The LLM provider key the server gets through its environment: the Settings page's spec checks
# that it never reaches the browser.
LLM_KEY = "sk-e2e-0123456789-never-in-the-browser"


def missing() -> str | None:
    """What this machine lacks to run the browser tests, if anything."""
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (make install-test installs it)"
    if not PLAYWRIGHT.exists():
        return "ui/node_modules lacks Playwright (make ui-test installs it)"
    if not BUILD.exists():
        return "the dashboard is not built (make ui)"
    return None


def publish_npm(url: str, token: str, repo: str, name: str, version: str) -> None:
    """Publish as `npm publish` does: one PUT of the package document with its tarball."""
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{url}/api/v1/registry/repositories",
        json={"name": repo, "format": "npm", "visibility": "private"},
        headers=headers,
        timeout=60,
    )
    assert created.status_code == 201, created.text
    body = npm_document(name, version)
    answer = httpx.put(f"{url}/npm/{repo}/{name}", json=body, headers=headers, timeout=60)
    assert answer.status_code in {200, 201}, answer.text


def queue_jobs(home: Path) -> None:
    """Queue real jobs for the Jobs page's spec (tasks of tests/jobs_plugin.py, instance-wide):
    one that fails at once, to retry, and one held in the queue for a day, to cancel."""
    state = json.loads((home / "pg.json").read_text())
    url = f"postgresql://devflow:{state['password']}@127.0.0.1:{state['port']}/devflow"
    jobs = [
        ("tests:fail_for_good", {"reason": "the e2e job fails on purpose"}, None),
        ("tests:count_to", {"n": 1}, datetime.now(UTC) + timedelta(days=1)),
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        for task, args, scheduled_at in jobs:
            conn.execute(
                "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('default', %s, 0, NULL, NULL, "
                "%s::jsonb, %s)::procrastinate_job_to_defer_v1])",
                (task, json.dumps(args), scheduled_at),
            )


def push_oci(url: str, token: str, name: str, tags: list[str]) -> None:
    """Push a one-layer image as `docker push` does: its blobs, then its manifest per tag."""
    auth = httpx.BasicAuth("me", token)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = gzip.compress(b"hello from the dashboard's browser tests\n", mtime=0)
    descriptors = []
    for data, media_type in (
        (config, "application/vnd.oci.image.config.v1+json"),
        (layer, "application/vnd.oci.image.layer.v1.tar+gzip"),
    ):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        answer = httpx.post(
            f"{url}/v2/{name}/blobs/uploads/",
            params={"digest": digest},
            content=data,
            auth=auth,
            timeout=60,
        )
        assert answer.status_code == 201, answer.text
        descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
    media_type = "application/vnd.oci.image.manifest.v1+json"
    manifest = {"schemaVersion": 2, "mediaType": media_type, "config": descriptors[0]}
    body = json.dumps({**manifest, "layers": descriptors[1:]}).encode()
    for tag in tags:
        answer = httpx.put(
            f"{url}/v2/{name}/manifests/{tag}",
            content=body,
            headers={"Content-Type": media_type},
            auth=auth,
            timeout=60,
        )
        assert answer.status_code == 201, answer.text


def push_branch(url: str, token: str, name: str, branch: str) -> None:
    """Create a repository (a README on main) and push `branch` one commit ahead of main with
    the real git client, for the pull requests' spec to open, review and merge."""
    made = httpx.post(
        f"{url}/api/v1/projects/default/repos",
        json={"name": name, "readme": True},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert made.status_code == 201, made.text
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / name
        git("clone", "-q", made.json()["clone_url"], str(work), cwd=Path(tmp), token=token)
        git("checkout", "-q", "-b", branch, cwd=work)
        (work / "NOTES.md").write_text("Notes from the feature branch.\n")
        git("add", "NOTES.md", cwd=work)
        git("commit", "-q", "-m", "Add notes", cwd=work)
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=work, token=token)


def llm_env(fake: FakeOpenAI) -> dict[str, str]:
    """Point the server's provider at a fake gateway that prices its answers, so that the LLM
    page's spec has calls with a cost to chart (it makes them with `POST /api/v1/llm/ping`)."""
    return {
        "DEVFLOW_LLM__PROVIDERS__AOSENTRY__BASE_URL": fake.base_url,
        "DEVFLOW_LLM__PROVIDERS__AOSENTRY__API_KEY": LLM_KEY,
        "DEVFLOW_LLM__ALIASES": json.dumps(
            {"chat": ["aosentry/fake-chat"], "embed": ["aosentry/fake-embed"]}
        ),
    }


def signin_url(printed: str) -> str:
    match = re.search(r"https?://\S+/auth/signin\?code=\S+", printed)
    assert match, printed
    return match.group(0)


def test_the_dashboard_works_in_a_real_browser() -> None:
    reason = missing()
    if reason:
        # CI has everything `make test` installs: a missing piece there is a failure.
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    llm = FakeOpenAI(
        api_key=LLM_KEY, prices={"fake-chat": (0.002, 0.004), "fake-embed": (0.0001, 0.0)}
    ).start()
    running = start_up(
        make_home(),
        extra_env={
            # Small and deterministic embeddings: uploads become ready in moments.
            "DEVFLOW_KNOWLEDGE__EMBEDDER": "python:tests.knowledge_site.embedder:make_small",
            **llm_env(llm),
            # Jobs the Jobs page's spec retries and cancels.
            "DEVFLOW_JOBS__EXTRA_MODULES": '["tests.jobs_plugin"]',
            # A project secret the environment shadows: the Secrets page's spec sees it win.
            "DEVFLOW_SECRET_DEFAULT__E2E_SHADOWED": "from-the-environment",
        },
    )
    # JSON logs of every request: read them as they come, or a full pipe stalls the server.
    log: list[str] = []
    assert running.proc.stdout is not None
    reader = threading.Thread(target=lambda: log.extend(running.proc.stdout or ()), daemon=True)
    reader.start()
    try:
        publish_npm(running.url, running.token, "js", "left-pad-e2e", "1.0.0")
        push_oci(running.url, running.token, "default/web-e2e", ["v1", "old"])
        queue_jobs(running.home)
        push_branch(running.url, running.token, "pulls-e2e", "feature-e2e")
        link = running.cli("signin-link")
        assert link.returncode == 0, link.stderr
        shutil.rmtree(UI / "test-results", ignore_errors=True)
        run = subprocess.run(
            # DEVFLOW_E2E_SPECS="llm.spec.ts ..." runs only those specs (work on one page).
            [
                str(PLAYWRIGHT),
                "test",
                "--config",
                "e2e/playwright.config.ts",
                *os.environ.get("DEVFLOW_E2E_SPECS", "").split(),
            ],
            cwd=UI,
            env={
                **os.environ,
                "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
                "DEVFLOW_E2E_URL": running.url,
                "DEVFLOW_E2E_TOKEN": running.token,
                "DEVFLOW_E2E_SIGNIN_LINK": signin_url(link.stdout),
                "DEVFLOW_E2E_CHROMIUM": CHROMIUM,
                "DEVFLOW_E2E_LLM_KEY": LLM_KEY,
            },
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        running.proc.send_signal(signal.SIGINT)
        running.proc.wait(timeout=60)
        reader.join(timeout=10)
        running.proc.stdout.close()
        llm.stop()
    assert run.returncode == 0, (
        f"playwright failed (screenshots in ui/test-results/):\n{run.stdout}\n{run.stderr}"
        f"\n--- devflow up ---\n{''.join(log[-40:])}"
    )
