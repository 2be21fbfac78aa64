"""Branch rules' globs and which rule governs a branch; the shapes statuses and rules accept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from devflow.repos.protection.globs import matches
from devflow.repos.protection.hook import CLIENT, PRE_RECEIVE
from devflow.repos.protection.models import BranchRule
from devflow.repos.protection.rules import matching_rule
from devflow.repos.protection.schemas import RuleSet, StatusCreate, check_pattern


class TestGlobs:
    @pytest.mark.parametrize(
        ("pattern", "name", "expected"),
        [
            ("main", "main", True),
            ("main", "main2", False),
            ("release/*", "release/1.0", True),
            ("release/*", "release/1.0/hotfix", False),  # `*` stays within one part
            ("release/**", "release/1.0/hotfix", True),
            ("**/*.lock", "poetry.lock", True),  # `**/` matches no folder too
            ("**/*.lock", "a/b/poetry.lock", True),
            ("*.lock", "a/poetry.lock", False),
            ("v?", "v1", True),
            ("v?", "v10", False),
            ("a.b", "axb", False),  # everything but the wildcards is literal
            ("ci/**", "ci/deep/build.yml", True),
        ],
    )
    def test_a_glob_matches_as_documented(self, pattern, name, expected):
        assert matches(pattern, name) is expected


def _rule(pattern: str, age: int = 0) -> BranchRule:
    made = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=age)
    return BranchRule(id=uuid.uuid4(), pattern=pattern, created_at=made)


class TestMatchingRule:
    def test_the_exact_name_wins_over_any_glob(self):
        rules = [_rule("**"), _rule("main"), _rule("ma*")]
        assert matching_rule(rules, "main").pattern == "main"

    def test_the_longest_matching_glob_wins_then_the_oldest(self):
        rules = [_rule("release/**", 2), _rule("release/v*", 1), _rule("release/x*", 0)]
        assert matching_rule(rules, "release/v1").pattern == "release/v*"
        rules = [_rule("a*", 5), _rule("*b", 1)]
        assert matching_rule(rules, "ab").pattern == "*b"

    def test_a_branch_no_rule_matches_has_none(self):
        assert matching_rule([_rule("main"), _rule("release/*")], "feature/x") is None


class TestShapes:
    @pytest.mark.parametrize(
        "pattern", ["", "/main", "main/", "a//b", "a..b", "a b", "a\x00b", "x" * 256, "ü"]
    )
    def test_a_bad_branch_pattern_is_refused(self, pattern):
        with pytest.raises(ValueError, match="branch pattern"):
            check_pattern(pattern)

    @pytest.mark.parametrize(
        "body",
        [
            {"required_approvals": -1},
            {"required_approvals": 101},
            {"required_checks": [""]},
            {"required_checks": ["x"] * 51},
            {"protected_files": ["/etc/passwd"]},
            {"no_delete": "yes"},
            {"push_allow": ["a\nb"]},
        ],
    )
    def test_a_bad_rule_is_refused(self, body):
        with pytest.raises(ValidationError):
            RuleSet.model_validate(body)

    def test_a_status_defaults_to_githubs_context(self):
        assert StatusCreate.model_validate({"state": "success"}).context == "default"


class TestHookFile:
    def test_the_hook_holds_no_path_or_single_quote_in_its_program(self):
        assert "'" not in CLIENT
        assert CLIENT in PRE_RECEIVE
        assert "/home" not in PRE_RECEIVE
        assert "/usr" not in PRE_RECEIVE
        compile(CLIENT, "pre-receive", "exec")
