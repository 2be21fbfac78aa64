"""Repository names and branch names, and the push log DevFlow's hook writes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from devflow.repos.schemas import RepoCreate, RepoUpdate, name_problem
from devflow.repos.service import ssh_url
from devflow.repos.storage import POST_RECEIVE, parse_push_log


class TestNames:
    @pytest.mark.parametrize("name", ["api", "a", "web-app", "py3.12", "x_y", "a" * 100])
    def test_a_plain_name_is_accepted(self, name):
        assert name_problem(name) is None

    @pytest.mark.parametrize(
        ("name", "says"),
        [
            ("..", "lower-case"),
            ("a..b", "'..'"),
            ("../etc", "lower-case"),
            ("a/b", "lower-case"),
            ("api.git", "'.git'"),
            ("Api", "lower-case"),
            ("-api", "lower-case"),
            ("api-", "lower-case"),
            ("a\x00b", "lower-case"),
            ("a" * 101, "lower-case"),
            ("", "lower-case"),
        ],
    )
    def test_a_name_that_cannot_be_a_path_or_url_part_is_refused_with_why(self, name, says):
        problem = name_problem(name)
        assert problem is not None
        assert says in problem

    def test_an_api_body_with_a_bad_name_fails_validation(self):
        with pytest.raises(ValidationError):
            RepoCreate(name="../x")
        with pytest.raises(ValidationError):
            RepoUpdate(name="x.git")


class TestBranches:
    @pytest.mark.parametrize("branch", ["main", "trunk", "release/1.0", "feature_x-y"])
    def test_a_usual_branch_name_is_accepted(self, branch):
        assert RepoCreate(name="x", default_branch=branch).default_branch == branch

    @pytest.mark.parametrize(
        "branch", ["", "/main", "main/", "a..b", "a//b", "x.lock", "a b", "a@{1}", "-x~", "ma\x00"]
    )
    def test_a_branch_name_git_would_refuse_is_refused(self, branch):
        with pytest.raises(ValidationError):
            RepoCreate(name="x", default_branch=branch)


class TestPushLog:
    def test_the_hooks_lines_become_refs_moved(self):
        old, new = "0" * 40, "a" * 40
        text = f"{old} {new} refs/heads/main\n{new} {old} refs/tags/v1\n\ngarbage\n"
        assert parse_push_log(text) == [
            {"ref": "refs/heads/main", "old": old, "new": new},
            {"ref": "refs/tags/v1", "old": new, "new": old},
        ]

    def test_the_hook_writes_only_where_the_request_said(self):
        assert 'cat >> "$DEVFLOW_PUSH_LOG"' in POST_RECEIVE
        assert POST_RECEIVE.startswith("#!/bin/sh\n")


@pytest.mark.parametrize(
    ("base_url", "port", "expected"),
    [
        ("https://git.example.com", 2222, "ssh://git@git.example.com:2222/team/app.git"),
        ("http://127.0.0.1:8080/", 22, "ssh://git@127.0.0.1:22/team/app.git"),
        ("http://[::1]:8080", 2222, "ssh://git@[::1]:2222/team/app.git"),
        ("https://git.example.com", 0, None),
    ],
)
def test_the_ssh_url_is_on_the_http_host_and_absent_when_ssh_is_off(base_url, port, expected):
    assert ssh_url(base_url, port, "team", "app") == expected
