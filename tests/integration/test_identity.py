import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from devflow.core import clock
from devflow.core.auth import Role, Scope
from devflow.core.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from devflow.core.events import Event
from devflow.core.reads import SessionReader
from devflow.domains import scope_catalog
from devflow.identity import service
from devflow.identity.models import ApiToken
from devflow.identity.schemas import ProjectCreate, TokenCreate
from tests.factories import make_user


class TestAuthenticate:
    async def test_a_valid_token_gives_the_user_and_scopes(self, session):
        alice, token = await make_user(session, "alice")
        again = await service.authenticate(session, token=token)
        assert again.user_id == alice.user_id
        assert again.scopes == frozenset({"read", "write"})

    async def test_malformed_unknown_expired_and_revoked_tokens_say_why(self, session):
        alice, token = await make_user(session, "alice")
        with pytest.raises(Unauthenticated, match=r"not a DevFlow token: .* with 'hunt'"):
            await service.authenticate(session, token="hunter2")
        with pytest.raises(Unauthenticated, match="not a DevFlow token: it is 9 characters long"):
            await service.authenticate(session, token="dfl_wrong")
        with pytest.raises(Unauthenticated, match=r"unknown token: .*devflow token create"):
            await service.authenticate(session, token="dfl_" + "x" * 43)
        row = await session.scalar(select(ApiToken).where(ApiToken.user_id == alice.user_id))
        row.expires_at = clock.now() - timedelta(seconds=1)
        await session.flush()
        with pytest.raises(Unauthenticated, match="expired"):
            await service.authenticate(session, token=token)
        row.expires_at = None
        await service.revoke_token(session, principal=alice, token_ref=str(row.id))
        with pytest.raises(Unauthenticated, match="revoked"):
            await service.authenticate(session, token=token)

    async def test_use_is_recorded(self, session):
        alice, token = await make_user(session, "alice")
        await service.authenticate(session, token=token)
        row = await session.scalar(select(ApiToken).where(ApiToken.user_id == alice.user_id))
        assert row.last_used_at is not None


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestPrincipalCache:
    """`PrincipalCache`: tokens reused for `ttl` seconds, changes made here applied at once."""

    @pytest.fixture
    async def alice(self, sessions):
        async with sessions.begin() as session:
            principal, token = await make_user(session, "alice")
        return principal, token

    async def auth(self, sessions, cache, token):
        async with sessions.begin() as session:
            return await cache.authenticate(session, token)

    async def test_a_change_made_elsewhere_applies_within_the_ttl(self, sessions, alice):
        principal, token = alice
        clock_ = FakeMonotonic()
        cache = service.PrincipalCache(5.0, monotonic=clock_)
        assert (await self.auth(sessions, cache, token)).user_id == principal.user_id
        # As another server process would: straight to the database, no hook in this process.
        async with sessions.begin() as session:
            await session.execute(update(ApiToken).values(revoked_at=clock.now()))
        assert (await self.auth(sessions, cache, token)).user_id == principal.user_id
        clock_.now += 5.0
        with pytest.raises(Unauthenticated, match="revoked"):
            await self.auth(sessions, cache, token)
        uncached = service.PrincipalCache(0)
        with pytest.raises(Unauthenticated, match="revoked"):
            await self.auth(sessions, uncached, token)

    async def test_a_revocation_through_this_process_applies_at_once(self, sessions, alice):
        principal, token = alice
        cache = service.PrincipalCache(60.0, monotonic=FakeMonotonic())
        await self.auth(sessions, cache, token)
        async with sessions.begin() as session:
            await service.revoke_token(session, principal=principal, token_ref="test")
        with pytest.raises(Unauthenticated, match="revoked"):
            await self.auth(sessions, cache, token)

    async def test_a_new_project_and_membership_are_seen_at_once(self, sessions, alice):
        _, token = alice
        cache = service.PrincipalCache(60.0, monotonic=FakeMonotonic())
        before = await self.auth(sessions, cache, token)
        assert before.memberships == {}
        async with sessions.begin() as session:
            project = await service.create_project(
                session, principal=before, data=ProjectCreate(name="web")
            )
            bob, bob_token = await make_user(session, "bob")
        assert (await self.auth(sessions, cache, token)).memberships == {project.id: Role.OWNER}
        assert (await self.auth(sessions, cache, bob_token)).memberships == {}
        async with sessions.begin() as session:
            await service.set_membership(
                session, principal=before, project_name="web", username="bob", role=Role.READ
            )
        assert (await self.auth(sessions, cache, bob_token)).memberships == {project.id: Role.READ}
        assert bob.username == "bob"

    async def test_changing_a_returned_principal_does_not_change_the_cache(self, sessions, alice):
        _, token = alice
        cache = service.PrincipalCache(60.0, monotonic=FakeMonotonic())
        first = await self.auth(sessions, cache, token)
        first.memberships[first.user_id] = Role.OWNER
        assert (await self.auth(sessions, cache, token)).memberships == {}

    async def test_an_expired_token_is_refused_even_when_cached(self, sessions, alice):
        principal, _ = alice
        async with sessions.begin() as session:
            user = await service.require_user(session, username="alice")
            _, token = await service.issue_token(
                session,
                user=user,
                name="short",
                scopes=[Scope.READ],
                expires_in=timedelta(seconds=1),
            )
        cache = service.PrincipalCache(60.0, monotonic=FakeMonotonic())
        assert (await self.auth(sessions, cache, token)).user_id == principal.user_id
        await asyncio.sleep(1.1)  # real time: the token's expiry is a wall-clock instant
        with pytest.raises(Unauthenticated, match="expired"):
            await self.auth(sessions, cache, token)

    async def test_bad_tokens_are_never_cached(self, sessions):
        cache = service.PrincipalCache(60.0, monotonic=FakeMonotonic())
        for _ in range(2):
            with pytest.raises(Unauthenticated, match="unknown"):
                await self.auth(sessions, cache, "dfl_" + "x" * 43)


class TestProjects:
    async def test_the_creator_owns_the_project_and_an_event_is_written(self, session):
        alice, _ = await make_user(session, "alice")
        project = await service.create_project(
            session, principal=alice, data=ProjectCreate(name="web")
        )
        detail = await service.describe_project(session, principal=alice, name="web")
        assert detail.your_role is Role.OWNER
        event = await session.scalar(select(Event).where(Event.project_id == project.id))
        assert event.type == "project.created"

    async def test_names_are_unique(self, session):
        alice, _ = await make_user(session, "alice")
        await service.create_project(session, principal=alice, data=ProjectCreate(name="web"))
        with pytest.raises(Conflict, match="already exists"):
            await service.create_project(session, principal=alice, data=ProjectCreate(name="web"))

    async def test_outsiders_cannot_tell_a_project_exists(self, session):
        alice, _ = await make_user(session, "alice")
        bob, _ = await make_user(session, "bob")
        await service.create_project(session, principal=alice, data=ProjectCreate(name="secret"))
        with pytest.raises(NotFound):
            await service.describe_project(session, principal=bob, name="secret")
        assert [
            p.name for p in await service.list_projects(SessionReader(session), principal=bob)
        ] == []

    async def test_a_reader_cannot_manage_members(self, session):
        alice, _ = await make_user(session, "alice")
        _, bob_token = await make_user(session, "bob")
        await make_user(session, "carol")
        await service.create_project(session, principal=alice, data=ProjectCreate(name="web"))
        await service.set_membership(
            session, principal=alice, project_name="web", username="bob", role=Role.READ
        )
        bob = await service.authenticate(session, token=bob_token)
        detail = await service.describe_project(session, principal=bob, name="web")
        assert detail.your_role is Role.READ
        with pytest.raises(PermissionDenied, match="your role in 'web' is read"):
            await service.set_membership(
                session, principal=bob, project_name="web", username="carol", role=Role.WRITE
            )

    async def test_a_read_only_token_cannot_create(self, session):
        reader, _ = await make_user(session, "reader", scopes=(Scope.READ,))
        with pytest.raises(PermissionDenied, match="'write' scope"):
            await service.create_project(session, principal=reader, data=ProjectCreate(name="nope"))


class TestTokens:
    async def test_a_token_cannot_grant_more_than_its_creator_has(self, session):
        reader, _ = await make_user(session, "reader", scopes=(Scope.READ,))
        with pytest.raises(PermissionDenied, match="lacks 'write'"):
            await service.create_token(
                session,
                principal=reader,
                data=TokenCreate(name="x", scopes=["write"]),
                catalog=scope_catalog(),
            )

    async def test_only_instance_admins_mint_admin_tokens(self, session):
        alice, _ = await make_user(session, "alice", scopes=(Scope.ADMIN,))
        with pytest.raises(PermissionDenied):
            await service.create_token(
                session,
                principal=alice,
                data=TokenCreate(name="x", scopes=["admin"]),
                catalog=scope_catalog(),
            )

    async def test_a_project_scoped_token_sees_only_its_project(self, session):
        alice, _ = await make_user(session, "alice")
        await service.create_project(session, principal=alice, data=ProjectCreate(name="a"))
        await service.create_project(session, principal=alice, data=ProjectCreate(name="b"))
        _, secret = await service.create_token(
            session,
            principal=alice,
            data=TokenCreate(name="ci", project="a"),
            catalog=scope_catalog(),
        )
        scoped = await service.authenticate(session, token=secret)
        assert [
            p.name for p in await service.list_projects(SessionReader(session), principal=scoped)
        ] == ["a"]
        with pytest.raises(NotFound):
            await service.require_project(session, principal=scoped, name="b")


class TestBootstrap:
    async def test_first_start_creates_admin_token_and_default_project_once(self, session):
        first = await service.bootstrap(
            session, admin_username="admin", code_ttl=timedelta(minutes=5)
        )
        assert first is not None
        admin = await service.authenticate(session, token=first.token)
        assert admin.is_admin
        assert Scope.ADMIN.value in admin.scopes
        default = await service.require_project(session, principal=admin, name=None)
        assert default.name == "default"
        assert (
            await service.bootstrap(session, admin_username="admin", code_ttl=timedelta(minutes=5))
            is None
        )

    async def test_a_sign_in_code_works_once(self, session):
        first = await service.bootstrap(
            session, admin_username="admin", code_ttl=timedelta(minutes=5)
        )
        secret = await service.redeem_sign_in_code(
            session, code=first.sign_in_code, session_ttl=timedelta(hours=1)
        )
        assert (await service.authenticate(session, token=secret)).username == "admin"
        with pytest.raises(Unauthenticated, match="invalid, used or expired"):
            await service.redeem_sign_in_code(
                session, code=first.sign_in_code, session_ttl=timedelta(hours=1)
            )
