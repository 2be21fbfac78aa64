"""npm names, versions and dist-tags: the cases below were checked against npm's own
validate-npm-package-name 5 and node-semver 7.7 (`validRange`, `valid`, `clean`)."""

from __future__ import annotations

import pytest

from devflow.core.errors import Invalid
from devflow.registry.formats.npm.names import (
    check_dist_tags,
    check_name,
    check_new_name,
    check_tag,
    check_version,
    clean_version,
    is_range,
)


class TestPackageNames:
    @pytest.mark.parametrize(
        "name",
        [
            "a",
            "left-pad",
            "lodash.merge",
            "under_score",
            "9to5",
            "@acme/base",
            "@acme/_internal",  # npm refuses a leading '_' only at the start of the whole name
            "@my-org/a.b-c_d",
            "events",  # a Node core module name: npm only warns, and forks of it are common
            "a" * 214,
        ],
    )
    def test_names_npm_accepts_for_new_packages_are_accepted(self, name):
        assert check_new_name(name) == name
        assert check_name(name) == name

    @pytest.mark.parametrize(
        ("name", "says"),
        [
            ("", "empty"),
            ("a" * 215, "longer than 214"),
            ("Upper", "lower-case"),
            ("@Acme/base", "lower-case"),
            (".hidden", "cannot start with"),
            ("_private", "cannot start with"),
            ("-dash", "cannot start with"),
            ("@acme/.hidden", "cannot start with '.'"),
            ("@.acme/base", "scope cannot start with '.'"),
            ("node_modules", "reserved"),
            ("favicon.ico", "reserved"),
            ("a b", "URL"),
            (" a", "URL"),
            ("a$b", "URL"),
            ("café", "URL"),
            ("a/b", "scoped name"),
            ("@acme/a/b", "scoped name"),
            ("@acme", "URL"),
            ("@/base", "URL"),
            ("@acme/", "URL"),
            ("..", "cannot start with"),
        ],
    )
    def test_names_npm_refuses_are_refused_with_the_rule_they_break(self, name, says):
        with pytest.raises(Invalid, match="not a valid npm package name") as caught:
            check_name(name)
        assert says in caught.value.message

    @pytest.mark.parametrize("name", ["a~b", "it's", "wow!", "(a)", "star*", "@acme/a~b"])
    def test_special_characters_are_served_for_old_packages_but_refused_for_new_ones(self, name):
        assert check_name(name) == name
        with pytest.raises(Invalid, match="special characters"):
            check_new_name(name)

    def test_special_characters_in_a_scope_are_allowed_as_npm_allows_them(self):
        assert check_new_name("@a~b/c") == "@a~b/c"


class TestVersions:
    @pytest.mark.parametrize(
        "version",
        [
            "0.0.0",
            "1.2.3",
            "10.20.30",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-0.3.7",
            "1.0.0-x.7.z.92",
            "1.0.0-x-y-z.--",
            "1.0.0-0a",  # an identifier with a letter may start with zeros
            "1.0.0+20130313144700",
            "1.0.0-beta+exp.sha.5114f85",
            "1.0.0+001",  # build identifiers may start with zeros
            "9007199254740991.0.0",
        ],
    )
    def test_strict_semver_versions_are_accepted(self, version):
        assert check_version(version) == version

    @pytest.mark.parametrize(
        "version",
        [
            "../../x",
            "",
            "1",
            "1.0",
            "1.0.0.0",
            "01.0.0",
            "1.0.0-01",  # a numeric prerelease identifier cannot have leading zeros
            "1.0.0-",
            "1.0.0+",
            "1.0.0-a..b",
            "1.0.0+a_b",
            "latest",
            "\u0661.0.0",  # an Arabic-Indic digit: Python's \d would match it, JavaScript's not
            "9007199254740992.0.0",  # beyond JavaScript's safe integers
            "1.x",
            "^1.0.0",
        ],
    )
    def test_anything_else_is_refused_showing_what_a_version_looks_like(self, version):
        with pytest.raises(Invalid, match=r"MAJOR\.MINOR\.PATCH"):
            check_version(version)

    @pytest.mark.parametrize(
        ("version", "cleaned"),
        [
            ("v1.0.0", "1.0.0"),
            ("=1.0.0", "1.0.0"),
            (" 1.2.3 ", "1.2.3"),
            ("v1.0.0-rc.1", "1.0.0-rc.1"),
            ("1.0.0\n", "1.0.0"),
        ],
    )
    def test_a_version_npm_would_clean_is_refused_naming_the_clean_form(self, version, cleaned):
        with pytest.raises(Invalid, match=f"write it as '{cleaned}'"):
            check_version(version)

    def test_a_version_longer_than_the_registry_stores_is_refused(self):
        with pytest.raises(Invalid, match="longer than 128"):
            check_version("1.0.0-" + "a" * 123)
        assert check_version("1.0.0-" + "a" * 122)

    @pytest.mark.parametrize(
        ("text", "cleaned"),
        [
            ("1.0.0", "1.0.0"),
            ("1.0.0+build.7", "1.0.0"),
            ("v1.0.0-beta.1+sha", "1.0.0-beta.1"),
            ("=v1.2.3", "1.2.3"),
            ("  1.2.3  ", "1.2.3"),
            ("1.2", None),
            ("../../x", None),
        ],
    )
    def test_cleaning_follows_semver_clean(self, text, cleaned):
        assert clean_version(text) == cleaned


class TestDistTags:
    @pytest.mark.parametrize(
        "tag",
        [
            "latest",
            "next",
            "beta",
            "rc",
            "canary",
            "release-1.x",
            "1-beta",
            "legacy",
            "v1beta",
            "a*b",
        ],
    )
    def test_tags_that_are_not_versions_or_ranges_are_accepted(self, tag):
        assert check_tag(tag) == tag

    @pytest.mark.parametrize(
        "tag",
        [
            "1",
            "1.2",
            "1.2.3",
            "1.2.3-beta.1",
            "v1",
            "vv1",  # node-semver allows any number of v's before an x-range
            "v1.x",
            "1.x",
            "1.X.x",
            "x",
            "X",
            "*",
            "~*",
            "~1.2",
            "~1.2.3-rc.1",
            "~x.1",  # node-semver's tilde does not check the order of x's
            "*1.2.3",  # the first '*' is dropped: what is left is a version
            "1.2.3*",
        ],
    )
    def test_tags_that_npm_install_would_read_as_a_range_are_refused(self, tag):
        assert is_range(tag)
        with pytest.raises(Invalid, match="valid SemVer version or range"):
            check_tag(tag)

    @pytest.mark.parametrize(
        "tag", ["~", "vv1.2.3", "x.1", "1.x.3", "~1.2.3*", "**", "1.0.0-01", "9007199254740992"]
    )
    def test_texts_node_semver_does_not_parse_as_ranges_are_not_ranges(self, tag):
        assert not is_range(tag)

    @pytest.mark.parametrize(
        ("tag", "says"),
        [
            ("", "cannot be empty"),
            ("a b", "URL"),
            ("next/1", "URL"),
            ("a%20b", "URL"),
            ("tag?", "URL"),
            ("x" * 129, "longer than 128"),
        ],
    )
    def test_empty_long_and_url_unsafe_tags_are_refused(self, tag, says):
        with pytest.raises(Invalid, match="dist-tag") as caught:
            check_tag(tag)
        assert says in caught.value.message

    def test_a_publish_documents_tags_must_map_names_to_versions(self):
        assert check_dist_tags({"latest": "1.0.0", "next": "2.0.0-rc.1"})
        for bad in (["latest"], {"latest": 1}, "latest"):
            with pytest.raises(Invalid, match="dist-tags"):
                check_dist_tags(bad)
        with pytest.raises(Invalid, match="range"):
            check_dist_tags({"latest": "1.0.0", "1.x": "1.0.0"})
