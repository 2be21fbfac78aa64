"""Who may read, publish to and administer a repository, decided by `identity.require_access`
(the one check of roles and scopes) and the repository's visibility, without a database."""

from __future__ import annotations

import uuid

import pytest

from devflow.core.auth import Principal, Role, Scope, ScopeDef
from devflow.core.errors import NotFound, PermissionDenied, Unauthenticated
from devflow.domains import scope_catalog
from devflow.identity import Project, require_access
from devflow.registry import Visibility, can_read, require_publish, require_read
from devflow.registry.access import require_admin
from devflow.registry.models import Repository
from devflow.registry.scopes import REGISTRY_READ

PROJECT = uuid.uuid4()
OTHER = uuid.uuid4()


def caller(
    role: Role | None = None,
    *,
    scopes: tuple[ScopeDef, ...] = scope_catalog().defaults,
    admin: bool = False,
    project_id: uuid.UUID | None = None,
) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        username="someone",
        is_admin=admin,
        scopes=frozenset(s.value for s in scopes),
        project_id=project_id,
        memberships={PROJECT: role} if role is not None else {},
    )


def repo(visibility: Visibility) -> Repository:
    return Repository(
        id=uuid.uuid4(), name="py", project_id=PROJECT, format="pypi", visibility=visibility
    )


PRIVATE, INTERNAL, PUBLIC = (
    repo(Visibility.PRIVATE),
    repo(Visibility.INTERNAL),
    repo(Visibility.PUBLIC),
)


class TestReading:
    def test_anyone_reads_a_public_repository(self):
        assert require_read(None, PUBLIC, "py") is PUBLIC

    @pytest.mark.parametrize("found", [PRIVATE, INTERNAL, None])
    def test_an_anonymous_caller_is_asked_to_authenticate_whether_or_not_it_exists(self, found):
        with pytest.raises(Unauthenticated):
            require_read(None, found, "py")

    def test_a_stranger_is_told_a_private_repository_does_not_exist(self):
        with pytest.raises(NotFound) as hidden:
            require_read(caller(), PRIVATE, "py")
        with pytest.raises(NotFound) as missing:
            require_read(caller(), None, "py")
        assert hidden.value.message == missing.value.message == "no repository 'py'"

    def test_a_stranger_without_the_scope_is_not_told_either(self):
        with pytest.raises(NotFound):
            require_read(caller(scopes=(Scope.READ,)), PRIVATE, "py")

    def test_a_member_without_the_registry_scope_is_refused(self):
        with pytest.raises(PermissionDenied, match="registry:read"):
            require_read(caller(Role.READ, scopes=(Scope.READ,)), PRIVATE, "py")

    def test_any_signed_in_user_reads_an_internal_repository(self):
        assert require_read(caller(), INTERNAL, "py") is INTERNAL
        with pytest.raises(PermissionDenied, match="registry:read"):
            require_read(caller(scopes=(Scope.READ,)), INTERNAL, "py")

    def test_a_token_of_another_project_sees_neither_private_nor_internal_ones(self):
        elsewhere = caller(Role.ADMIN, project_id=OTHER)
        for found in (PRIVATE, INTERNAL):
            with pytest.raises(NotFound):
                require_read(elsewhere, found, "py")
            assert not can_read(elsewhere, found)

    def test_members_and_instance_admins_read_a_private_repository(self):
        assert can_read(caller(Role.READ), PRIVATE)
        assert can_read(caller(admin=True, scopes=(Scope.ADMIN,)), PRIVATE)


class TestPublishingAndDeleting:
    def test_publishing_needs_the_write_role(self):
        with pytest.raises(PermissionDenied, match="write role"):
            require_publish(caller(Role.READ), PRIVATE, "py")
        assert require_publish(caller(Role.WRITE), PRIVATE, "py") is PRIVATE

    def test_publishing_needs_the_publish_scope(self):
        reader_token = caller(Role.WRITE, scopes=(REGISTRY_READ,))
        with pytest.raises(PermissionDenied, match="registry:publish"):
            require_publish(reader_token, PRIVATE, "py")

    def test_a_visible_repository_refuses_a_non_member_rather_than_hiding(self):
        with pytest.raises(PermissionDenied, match="write role"):
            require_publish(caller(), INTERNAL, "py")
        with pytest.raises(PermissionDenied, match="write role"):
            require_publish(caller(), PUBLIC, "py")

    def test_an_anonymous_publisher_is_asked_to_authenticate(self):
        with pytest.raises(Unauthenticated, match="registry:publish"):
            require_publish(None, PUBLIC, "py")

    def test_deleting_needs_the_admin_role(self):
        with pytest.raises(PermissionDenied, match="yank or deprecate"):
            require_admin(caller(Role.WRITE), PRIVATE, "py")
        assert require_admin(caller(Role.ADMIN), PRIVATE, "py") is PRIVATE
        assert require_admin(caller(admin=True, scopes=(Scope.ADMIN,)), PRIVATE, "py")


class TestRequireAccess:
    def test_it_returns_the_role_held(self):
        assert require_access(caller(Role.ADMIN), PROJECT, Role.WRITE) is Role.ADMIN

    def test_a_non_member_is_told_the_project_does_not_exist(self):
        project = Project(id=PROJECT, name="web")
        with pytest.raises(NotFound, match="no project 'web'"):
            require_access(caller(), project, Role.READ)
        with pytest.raises(NotFound, match="no source 7"):
            require_access(caller(), project, Role.READ, missing="no source 7")

    def test_a_low_role_names_the_role_held_and_needed(self):
        project = Project(id=PROJECT, name="web")
        with pytest.raises(PermissionDenied, match="your role in 'web' is read; this needs write"):
            require_access(caller(Role.READ), project, Role.WRITE)

    def test_the_scope_follows_the_role_unless_named(self):
        read_only = caller(Role.ADMIN, scopes=(Scope.READ,))
        assert require_access(read_only, PROJECT, Role.READ) is Role.ADMIN
        with pytest.raises(PermissionDenied, match="'write' scope"):
            require_access(read_only, PROJECT, Role.WRITE)
        with pytest.raises(PermissionDenied, match="'registry:read' scope"):
            require_access(read_only, PROJECT, Role.READ, scope=REGISTRY_READ)
