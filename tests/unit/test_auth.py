import uuid

import pytest

from devflow.core.auth import (
    Principal,
    Role,
    Scope,
    ScopeCatalog,
    ScopeDef,
    generate_token,
    hash_token,
    looks_like_token,
)
from devflow.core.errors import Invalid, PermissionDenied


def principal(*scopes: ScopeDef, is_admin: bool = False) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        username="u",
        is_admin=is_admin,
        scopes=frozenset(s.value for s in scopes),
    )


PUBLISH = ScopeDef("things:publish", "publish things")
FETCH = ScopeDef("things:fetch", "fetch things", implied_by=("things:publish",), default=True)
CATALOG = ScopeCatalog((Scope.READ, Scope.WRITE, Scope.ADMIN, FETCH, PUBLISH))


class TestTokens:
    def test_generated_tokens_have_the_prefix_and_are_unique(self):
        tokens = {generate_token() for _ in range(100)}
        assert len(tokens) == 100
        assert all(t.startswith("dfl_") and looks_like_token(t) for t in tokens)

    def test_only_a_sha256_hex_digest_is_kept(self):
        token = generate_token()
        digest = hash_token(token)
        assert len(digest) == 64
        assert token not in digest

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "dfl_",
            "Bearer dfl_x",
            "ghp_" + "a" * 40,
            "dfl_" + "a" * 200,
            "dfl_abc def ghi jkl mno pq",
        ],
    )
    def test_malformed_tokens_are_recognised(self, value):
        assert not looks_like_token(value)


class TestScopes:
    def test_write_implies_read_and_admin_implies_everything(self):
        assert principal(Scope.WRITE).has_scope(Scope.READ)
        assert not principal(Scope.READ).has_scope(Scope.WRITE)
        assert all(principal(Scope.ADMIN).has_scope(s) for s in CATALOG)

    def test_a_domain_scope_is_carried_by_those_it_names(self):
        assert principal(PUBLISH).has_scope(FETCH)
        assert not principal(FETCH).has_scope(PUBLISH)
        assert not principal(Scope.WRITE).has_scope(FETCH)

    def test_a_missing_scope_is_named_in_the_error(self):
        with pytest.raises(PermissionDenied, match="'write' scope"):
            principal(Scope.READ).require_scope(Scope.WRITE)

    def test_unknown_scopes_are_refused_with_the_known_list(self):
        with pytest.raises(Invalid, match=r"unknown scope 'root'.*read, write, admin, things"):
            CATALOG.parse(["root"])
        with pytest.raises(Invalid, match="at least one scope"):
            CATALOG.parse([])

    def test_the_catalog_parses_defaults_and_refuses_a_scope_defined_twice(self):
        assert CATALOG.parse(["write", "things:fetch", "write"]) == [FETCH, Scope.WRITE]
        assert CATALOG.defaults == (Scope.READ, Scope.WRITE, FETCH)
        with pytest.raises(ValueError, match="defined twice"):
            ScopeCatalog((FETCH, FETCH))

    def test_instance_admin_needs_an_admin_token_too(self):
        with pytest.raises(PermissionDenied):
            principal(Scope.READ, Scope.WRITE, is_admin=True).require_instance_admin()
        principal(Scope.ADMIN, is_admin=True).require_instance_admin()


class TestRoles:
    def test_roles_are_ordered(self):
        assert Role.OWNER.allows(Role.ADMIN)
        assert Role.WRITE.allows(Role.READ)
        assert not Role.READ.allows(Role.WRITE)
