"""Browsing a repository through the API and `devflow repo browse|log|show-file`, against a
running DevFlow holding a repository pushed with the real `git` client.

One server and one pushed history for the module; the limits are small (4 KiB files, 2 KiB
patches) so that "too large" needs no large files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.test_repos_git import devflow, git
from tests.registry_fixtures import RegistryServer, running_server

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

API = "/api/v1/projects/default/repos"
BINARY = bytes(range(256)) * 4
BIG = "".join(f"line {i}\n" for i in range(1000))  # 8.9 KB: over the 4 KiB file limit
WEIRD = 'we ird "quoted" ✓.txt'


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory) -> Iterator[RegistryServer]:
    del template_url
    home = tmp_path_factory.mktemp("home")
    limits = {"max_file_bytes": 4096, "max_file_diff_bytes": 2048, "max_diff_files": 50}
    with running_server(pg_server, home, settings={"repos": {"browse": limits}}) as running:
        yield running


class History:
    """The pushed repository `site`: its local clone and the commits made."""

    def __init__(self, work: Path) -> None:
        self.work = work

    def sha(self, rev: str) -> str:
        return git("rev-parse", rev, cwd=self.work).stdout.strip()


def _commit(work: Path, message: str, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)


@pytest.fixture(scope="module")
def site(server, tmp_path_factory) -> History:
    """main: first (README, app, guide, binary, weird name, page.html), second (app changed,
    big.txt), third (guide renamed); feature: one more commit off second; tags v0 (lightweight,
    first) and v1 (annotated, third)."""
    with server.api() as api:
        made = api.post(API, json={"name": "site"})
        assert made.status_code == 201, made.text
    work = tmp_path_factory.mktemp("site")
    git("init", "-q", "-b", "main", cwd=work)
    _commit(
        work,
        "first",
        {
            "README.md": "# Site\n\nHello <script>alert(1)</script>\n",
            "src/app.py": "print('hello')\n",
            "docs/guide.md": "guide\n" * 20,
            "logo.bin": BINARY,
            WEIRD: "weird\n",
            "page.html": "<html><script>alert(1)</script></html>\n",
        },
    )
    git("tag", "v0", cwd=work)
    _commit(
        work, "second\n\nwith a body", {"src/app.py": "print('hello, world')\n", "big.txt": BIG}
    )
    git("checkout", "-q", "-b", "feature", cwd=work)
    _commit(work, "feature work", {"src/feature.py": "x = 1\n"})
    git("checkout", "-q", "main", cwd=work)
    git("mv", "docs/guide.md", "docs/manual.md", cwd=work)
    git("commit", "-q", "-m", "third: rename the guide", cwd=work)
    git("tag", "-a", "v1", "-m", "release one", cwd=work)
    url = f"{server.url}/default/site.git"
    git("push", "-q", url, "main", "feature", "v0", "v1", cwd=work, token=server.token)
    return History(work)


def get(
    server: RegistryServer, route: str, /, token: str | None = None, **params: Any
) -> httpx.Response:
    with server.api(token) as api:
        return api.get(f"{API}/site/{route}", params=params)


def ok(server: RegistryServer, route: str, /, **params: Any) -> Any:
    answer = get(server, route, **params)
    assert answer.status_code == 200, answer.text
    return answer.json()


class TestRefsAndTrees:
    def test_branches_name_their_commits_and_the_default(self, server, site):
        page = ok(server, "branches")
        assert page["total"] == 2
        found = {b["name"]: b for b in page["items"]}
        assert found["main"]["commit"] == site.sha("main")
        assert found["main"]["default"] is True
        assert found["feature"]["default"] is False
        assert found["feature"]["subject"] == "feature work"
        assert found["main"]["date"] is not None

    def test_tags_annotated_and_lightweight(self, server, site):
        found = {t["name"]: t for t in ok(server, "tags")["items"]}
        assert found["v1"]["annotated"] is True
        assert found["v1"]["commit"] == site.sha("main")
        assert found["v1"]["sha"] == site.sha("v1")
        assert found["v1"]["message"] == "release one"
        assert found["v0"]["annotated"] is False
        assert found["v0"]["commit"] == site.sha("v0")

    def test_the_root_tree_lists_folders_first_with_modes_sizes_and_ids(self, server, site):
        tree = ok(server, "tree")
        assert (tree["ref"], tree["commit"], tree["path"]) == ("main", site.sha("main"), "")
        names = [e["name"] for e in tree["entries"]]
        assert names[:2] == ["docs", "src"]
        assert set(names[2:]) == {"README.md", "big.txt", "logo.bin", "page.html", WEIRD}
        logo = next(e for e in tree["entries"] if e["name"] == "logo.bin")
        assert (logo["type"], logo["mode"], logo["size"]) == ("blob", "100644", len(BINARY))
        assert logo["sha"] == site.sha("main:logo.bin")
        docs = tree["entries"][0]
        assert (docs["type"], docs["size"], docs["path"]) == ("tree", None, "docs")

    def test_a_folder_at_a_tag_and_at_a_commit(self, server, site):
        at_tag = ok(server, "tree", ref="v0", path="docs/")
        assert [e["path"] for e in at_tag["entries"]] == ["docs/guide.md"]
        at_commit = ok(server, "tree", ref=site.sha("feature"), path="src")
        assert [e["name"] for e in at_commit["entries"]] == ["app.py", "feature.py"]

    def test_a_file_is_no_folder_and_a_missing_path_is_404(self, server, site):
        del site
        assert get(server, "tree", path="src/app.py").status_code == 422
        missing = get(server, "tree", path="nope/deeper")
        assert missing.status_code == 404
        assert "nope/deeper" in missing.json()["error"]["message"]


class TestFiles:
    def test_a_text_file_with_its_language(self, server, site):
        shown = ok(server, "file", path="src/app.py")
        assert shown["text"] == "print('hello, world')\n"
        assert (shown["language"], shown["binary"], shown["too_large"]) == ("python", False, False)
        assert shown["sha"] == site.sha("main:src/app.py")
        assert shown["raw_url"].startswith(server.url)
        older = ok(server, "file", path="src/app.py", ref="v0")
        assert older["text"] == "print('hello')\n"

    def test_a_binary_file_is_flagged_and_downloads_exactly(self, server, site):
        del site
        shown = ok(server, "file", path="logo.bin")
        assert (shown["binary"], shown["text"], shown["size"]) == (True, None, len(BINARY))
        with httpx.Client(headers={"Authorization": f"Bearer {server.token}"}) as http:
            raw = http.get(shown["raw_url"])
        assert raw.status_code == 200
        assert raw.content == BINARY
        assert raw.headers["content-type"] == "application/octet-stream"
        assert raw.headers["x-content-type-options"] == "nosniff"
        assert raw.headers["content-disposition"].startswith("attachment;")

    def test_a_huge_file_is_flagged_and_still_downloads_whole(self, server, site):
        del site
        shown = ok(server, "file", path="big.txt")
        assert (shown["too_large"], shown["text"], shown["size"]) == (True, None, len(BIG))
        raw = get(server, "raw", path="big.txt")
        assert raw.text == BIG
        assert raw.headers["content-type"] == "text/plain; charset=utf-8"
        assert get(server, "blame", path="big.txt").status_code == 413

    def test_html_is_served_as_plain_text_in_a_sandbox(self, server, site):
        del site
        raw = get(server, "raw", path="page.html")
        assert raw.headers["content-type"] == "text/plain; charset=utf-8"
        assert raw.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in raw.headers["content-security-policy"]
        assert raw.headers["content-disposition"].startswith("inline;")
        saved = get(server, "raw", path="page.html", download="true")
        assert saved.headers["content-disposition"].startswith("attachment;")

    def test_an_odd_file_name_gets_a_safe_content_disposition(self, server, site):
        del site
        raw = get(server, "raw", path=WEIRD)
        assert raw.text == "weird\n"
        disposition = raw.headers["content-disposition"]
        assert disposition.count('"') == 2  # the fallback name's own quotes only
        assert 'filename="we_ird__quoted___.txt"' in disposition
        assert "filename*=UTF-8''we%20ird%20%22quoted%22%20%E2%9C%93.txt" in disposition

    def test_the_readme_is_its_markdown_source(self, server, site):
        del site
        readme = ok(server, "readme")
        assert (readme["path"], readme["format"]) == ("README.md", "markdown")
        assert readme["text"].startswith("# Site")


class TestHistory:
    def test_commits_are_paged_newest_first(self, server, site):
        first = ok(server, "commits", limit=2)
        assert first["total"] == 3
        assert [c["subject"] for c in first["items"]] == ["third: rename the guide", "second"]
        assert first["items"][1]["message"] == "second\n\nwith a body"
        assert first["items"][0]["parents"] == [site.sha("main~1")]
        rest = ok(server, "commits", limit=2, offset=2)
        assert [c["subject"] for c in rest["items"]] == ["first"]
        assert rest["items"][0]["author"]["email"] == "ada@example.com"

    def test_commits_of_a_path_and_of_another_branch(self, server, site):
        del site
        touched = ok(server, "commits", path="src/app.py")
        assert [c["subject"] for c in touched["items"]] == ["second", "first"]
        assert touched["total"] == 2
        feature = ok(server, "commits", ref="feature")
        assert feature["items"][0]["subject"] == "feature work"

    def test_a_commit_with_its_diff(self, server, site):
        second = ok(server, f"commits/{site.sha('main~1')}")
        assert second["subject"] == "second"
        files = {f["path"]: f for f in second["diff"]["files"]}
        assert set(files) == {"src/app.py", "big.txt"}
        app = files["src/app.py"]
        assert (app["status"], app["additions"], app["deletions"]) == ("modified", 1, 1)
        assert "-print('hello')\n+print('hello, world')" in app["patch"]
        big = files["big.txt"]
        assert (big["status"], big["additions"], big["too_large"], big["patch"]) == (
            "added", 1000, True, None,
        )  # fmt: skip
        assert second["diff"]["stats"] == {"files": 2, "additions": 1001, "deletions": 1}

    def test_a_rename_a_root_commit_and_a_binary_file(self, server, site):
        third = ok(server, "commits/main")
        (renamed,) = third["diff"]["files"]
        assert (renamed["status"], renamed["old_path"], renamed["path"]) == (
            "renamed", "docs/guide.md", "docs/manual.md",
        )  # fmt: skip
        root = ok(server, f"commits/{site.sha('v0')}")
        assert root["parents"] == []
        files = {f["path"]: f for f in root["diff"]["files"]}
        assert files["logo.bin"]["binary"] is True
        assert files["logo.bin"]["patch"] is None
        assert files["README.md"]["status"] == "added"

    def test_compare_counts_ahead_and_behind_with_the_diff(self, server, site):
        compared = ok(server, "compare", base="main", head="feature")
        assert (compared["ahead"], compared["behind"]) == (1, 1)
        assert compared["merge_base"] == site.sha("main~1")
        assert [c["subject"] for c in compared["commits"]] == ["feature work"]
        assert [f["path"] for f in compared["diff"]["files"]] == ["src/feature.py"]
        assert ok(server, "compare", base="v0", head="main")["ahead"] == 2

    def test_blame_names_the_commit_of_each_line(self, server, site):
        blame = ok(server, "blame", path="src/app.py")
        assert blame["lines"] == ["print('hello, world')"]
        (only,) = blame["ranges"]
        assert (only["commit"], only["start"], only["count"]) == (site.sha("main~1"), 1, 1)
        assert blame["commits"][only["commit"]]["summary"] == "second"
        renamed = ok(server, "blame", path="docs/manual.md")
        assert renamed["ranges"][0]["original_path"] == "docs/guide.md"
        assert renamed["ranges"][0]["count"] == 20
        assert get(server, "blame", path="logo.bin").status_code == 413


class TestHostile:
    @pytest.mark.parametrize(
        "path",
        ["../etc/passwd", "src/../../x", "src//app.py", "./src", "a\x00b", "a\nb", "x" * 5000],
    )
    def test_a_bad_path_is_refused(self, server, site, path):
        del site
        for route in ("tree", "file", "raw", "blame", "commits"):
            answer = get(server, route, path=path)
            # NUL and control characters are refused by the server's guard before the route
            assert answer.status_code in {400, 422}, (route, answer.text)

    @pytest.mark.parametrize(
        "ref", ["--output=x", "-n", "main..feature", "main:README.md", "a b", "a\x00b", "r" * 300]
    )
    def test_an_option_like_or_odd_ref_is_refused(self, server, site, ref):
        for route in ("tree", "commits", "readme"):
            answer = get(server, route, ref=ref)
            assert answer.status_code in {400, 422}, (route, answer.text)
        assert get(server, f"commits/{quote(ref, safe='')}").status_code in {400, 404, 422}
        assert get(server, "compare", base=ref, head="main").status_code in {400, 422}
        assert not (site.work / "x").exists()
        assert not (server.home / "repos" / "x").exists()

    def test_an_unknown_ref_is_404_naming_it(self, server, site):
        del site
        for route, params in (("tree", {}), ("file", {"path": "README.md"}), ("readme", {})):
            answer = get(server, route, ref="no-such-branch", **params)
            assert answer.status_code == 404
            assert "no-such-branch" in answer.json()["error"]["message"]
        assert get(server, "commits/" + "0" * 40).status_code == 404
        assert get(server, "compare", base="main", head="ghost").status_code == 404

    def test_an_empty_repository_has_no_branches_and_no_tree(self, server):
        with server.api() as api:
            assert api.post(API, json={"name": "blank"}).status_code == 201
            assert api.get(f"{API}/blank/branches").json() == {"items": [], "total": 0}
            empty = api.get(f"{API}/blank/tree")
        assert empty.status_code == 404
        assert "main" in empty.json()["error"]["message"]


class TestAccess:
    def test_a_private_repository_is_401_anonymously_and_404_to_a_stranger(self, server, site):
        del site
        anonymous = httpx.get(f"{server.url}{API}/site/tree")
        assert anonymous.status_code == 401
        stranger = server.make_user("browse-stranger")
        hidden = get(server, "tree", token=stranger)
        assert hidden.status_code == 404
        assert "no repository default/site" in hidden.json()["error"]["message"]
        reader = server.make_user("browse-reader", project_role="read")
        assert get(server, "file", token=reader, path="README.md").status_code == 200

    def test_a_public_repository_is_browsed_anonymously(self, server):
        with server.api() as api:
            made = api.post(API, json={"name": "open", "visibility": "public", "readme": True})
            assert made.status_code == 201
        for tail in ("branches", "tree", "readme", "commits", "raw?path=README.md"):
            answer = httpx.get(f"{server.url}{API}/open/{tail}")
            assert answer.status_code == 200, (tail, answer.text)
        bad = httpx.get(f"{server.url}{API}/open/tree", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401


class TestCli:
    def test_browse_log_and_show_file(self, server, site):
        listed = devflow(server, "browse", "site", "src", "--ref", "feature")
        assert listed.returncode == 0, listed.stderr
        assert "feature.py" in listed.stdout
        tree = json.loads(devflow(server, "browse", "default/site", "--json").stdout)
        assert tree["commit"] == site.sha("main")

        history = devflow(server, "log", "site", "--path", "src/app.py")
        assert "second" in history.stdout
        assert "first" in history.stdout
        assert "third" not in history.stdout
        page = json.loads(devflow(server, "log", "site", "--limit", "1", "--json").stdout)
        assert page["total"] == 3

        shown = devflow(server, "show-file", "site", "src/app.py", "--ref", "v0")
        assert shown.stdout == "print('hello')\n"
        as_json = json.loads(devflow(server, "show-file", "site", "src/app.py", "--json").stdout)
        assert as_json["language"] == "python"
        refused = devflow(server, "show-file", "site", "logo.bin")
        assert refused.returncode == 1
        assert "binary" in refused.stdout
        raw = devflow(server, "show-file", "site", "big.txt", "--raw")
        assert raw.stdout == BIG

    def test_errors_reach_the_terminal(self, server, site):
        del site
        missing = devflow(server, "show-file", "site", "nope.txt", "--raw")
        assert missing.returncode != 0
        assert "no nope.txt" in missing.stderr + missing.stdout
        bad = devflow(server, "log", "site", "--ref", "--output=x")
        assert bad.returncode != 0
