"""What a source's location is, and what a location that is none of them is told."""

import pytest

from devflow.core.errors import Invalid
from devflow.knowledge.locations import (
    file_url_path,
    git_layout,
    not_a_location,
    pick_default_branch,
    suggested_url,
)


class TestWhatIsWrong:
    @pytest.mark.parametrize(
        ("location", "said"),
        [
            ("htp:/bad url", "'htp:/bad url' has an unknown scheme 'htp:'"),
            ("ext::sh -c evil", "has an unknown scheme 'ext:'"),
            ("nope.example", "looks like a host name: did you mean https://nope.example ?"),
            ("docs.python.org/3/", "did you mean https://docs.python.org/3/ ?"),
            ("./nope", "'./nope' is a relative path"),
            ("notes.md", "'notes.md' is a relative path"),
        ],
    )
    def test_each_kind_of_mistake_gets_its_own_words(self, location, said):
        message = not_a_location(location)
        assert said in message
        assert "file:///srv/docs" in message or "did you mean" in message

    def test_a_relative_path_the_cli_looked_for_says_where(self):
        said = not_a_location("./nope", here="in /home/me")
        assert said.startswith("no file or folder './nope' in /home/me.")

    @pytest.mark.parametrize("location", ["notes.md", "setup.py", "./x.org", "/srv/a.com", "a"])
    def test_files_and_paths_are_not_taken_for_hosts(self, location):
        assert suggested_url(location) is None


class TestFileUrls:
    @pytest.mark.parametrize(
        ("url", "path"),
        [
            ("file:///srv/docs", "/srv/docs"),
            ("file://localhost/srv/my%20docs", "/srv/my docs"),
            ("FILE:///srv/x.git", "/srv/x.git"),
            ("/srv/docs", None),
            ("https://example.com/x", None),
        ],
    )
    def test_a_file_url_names_a_path_of_the_server(self, url, path):
        assert file_url_path(url) == path

    @pytest.mark.parametrize("url", ["file://host/srv/docs", "file:relative", "file:///x?y=1"])
    def test_a_file_url_with_a_host_or_no_absolute_path_is_refused(self, url):
        with pytest.raises(Invalid, match=r"file:///absolute/path"):
            file_url_path(url)

    @pytest.mark.parametrize("url", ["file:///srv/x%00y", "file:///srv/%0a", "file:///%7f"])
    def test_a_file_url_with_a_control_character_is_refused(self, url):
        with pytest.raises(Invalid, match=r"control character"):
            file_url_path(url)


class TestGitLayout:
    def test_working_trees_bare_repositories_and_folders(self, tmp_path):
        (tmp_path / "tree" / ".git").mkdir(parents=True)
        bare = tmp_path / "bare.git"
        (bare / "objects").mkdir(parents=True)
        (bare / "refs").mkdir()
        (bare / "HEAD").write_text("ref: refs/heads/main\n")
        (tmp_path / "plain").mkdir()
        (tmp_path / "plain" / "HEAD").write_text("a file called HEAD\n")
        assert git_layout(tmp_path / "tree") == "worktree"
        assert git_layout(bare) == "bare"
        assert git_layout(tmp_path / "plain") is None


class TestDefaultBranch:
    @pytest.mark.parametrize(
        ("head", "branches", "chosen"),
        [
            ("develop", ["develop", "main"], "develop"),  # HEAD's, when it has a commit
            ("trunk", ["only"], "only"),
            ("trunk", ["feature", "master"], "master"),
            ("", ["main", "v2"], "main"),  # a detached HEAD
        ],
    )
    def test_head_then_the_only_or_usual_branch(self, head, branches, chosen):
        assert pick_default_branch(head, branches, "/srv/r.git") == chosen

    def test_several_branches_none_the_default_ask_for_a_ref(self):
        with pytest.raises(Invalid, match=r"choose one of its branches \(a, b\) with --ref"):
            pick_default_branch("trunk", ["a", "b"], "/srv/r.git")
        with pytest.raises(Invalid, match="has no branch with a commit"):
            pick_default_branch("main", [], "/srv/r.git")
