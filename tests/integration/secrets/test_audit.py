"""The audit log of secret access is one hash chain: appends from any number of sessions link up,
the database refuses changes, and a change made behind the trigger's back is found at the row
where it happened.

Tests that commit or tamper run on a fresh database of their own (`sessions`), so the broken
chains they leave behind are dropped with it; the others run in the shared, rolled-back one.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from devflow.core.logging import request_id_var
from devflow.secrets import audit
from devflow.secrets.models import AuditEntry

ALICE = uuid.UUID("00000000-0000-0000-0000-00000000a11c")


async def add(session, **overrides):
    fields = {
        "actor": "alice",
        "actor_id": ALICE,
        "token_id": None,
        "action": "read",
        "outcome": "ok",
        "scope": "project:web",
        "environment": "prod",
        "name": "DATABASE_URL",
        "version": 1,
        "provider": "db",
    }
    return await audit.append(session, **(fields | overrides))


async def add_committed(sessions, count):
    entries = []
    for i in range(count):
        async with sessions() as session, session.begin():
            entries.append(await add(session, name=f"SECRET_{i}"))
    return entries


async def tamper(sessions, statement, **params):
    """Run `statement` as a superuser could: with the append-only trigger turned off."""
    async with sessions() as session, session.begin():
        await session.execute(
            text("ALTER TABLE secrets_audit DISABLE TRIGGER secrets_audit_append_only")
        )
        await session.execute(text(statement), params)
        await session.execute(
            text("ALTER TABLE secrets_audit ENABLE TRIGGER secrets_audit_append_only")
        )


async def verify(sessions, **kwargs):
    async with sessions() as session:
        return await audit.verify(session, **kwargs)


class TestAppend:
    async def test_a_chain_of_appends_verifies(self, session):
        first = await add(session)
        second = await add(session, action="write", outcome="ok", version=2)
        third = await add(session, outcome="denied", reason="not a maintainer")
        assert second.prev_hash == first.hash
        assert third.prev_hash == second.hash
        assert first.seq < second.seq < third.seq
        report = await audit.verify(session)
        assert report.ok
        assert report.broken is None
        assert report.last_seq == third.seq
        assert report.last_hash == third.hash

    async def test_the_first_entry_links_to_the_genesis_hash(self, sessions):
        (entry,) = await add_committed(sessions, 1)
        assert entry.prev_hash == audit.GENESIS == "0" * 64
        assert entry.hash == audit.row_hash(
            {column: getattr(entry, column) for column in AuditEntry.__table__.c.keys()}  # noqa: SIM118
        )

    async def test_an_empty_log_verifies(self, sessions):
        report = await verify(sessions)
        assert report.ok
        assert report.checked == 0
        assert report.last_seq is None
        assert report.last_hash == audit.GENESIS

    async def test_concurrent_appends_from_many_sessions_form_one_chain(self, sessions):
        await asyncio.gather(
            *(
                audit.append_now(
                    sessions,
                    actor=f"user{i}",
                    actor_id=None,
                    token_id=None,
                    action="read",
                    outcome="ok",
                    name=f"SECRET_{i}",
                )
                for i in range(10)
            )
        )
        async with sessions() as session:
            rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.seq))).all()
            report = await audit.verify(session)
        assert len(rows) == 10
        assert len({row.prev_hash for row in rows}) == 10  # no two chained onto the same row
        assert report.ok
        assert report.checked == 10

    async def test_append_now_survives_the_callers_rollback(self, sessions):
        class Refused(Exception):
            pass

        # The caller must not have appended in its own transaction: that holds the lock
        # append_now's transaction waits for.
        async def denied_request():
            async with sessions() as session, session.begin():
                await session.execute(text("SELECT 1"))
                await audit.append_now(
                    sessions,
                    actor="mallory",
                    actor_id=None,
                    token_id=None,
                    action="read",
                    outcome="denied",
                    name="DATABASE_URL",
                )
                raise Refused

        with pytest.raises(Refused):
            await denied_request()
        async with sessions() as session:
            (entry,) = await audit.list_entries(session)
        assert (entry.actor, entry.outcome) == ("mallory", "denied")

    async def test_a_rolled_back_append_leaves_a_gap_that_does_not_break_the_chain(self, sessions):
        await add_committed(sessions, 1)
        async with sessions() as session, session.begin():
            await add(session, name="ROLLED_BACK")
            await session.rollback()
        await add_committed(sessions, 1)
        async with sessions() as session:
            seqs = (await session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq))).all()
        assert seqs[1] - seqs[0] > 1
        assert (await verify(sessions)).ok

    async def test_long_text_is_cut_to_the_column_and_control_characters_removed(self, session):
        entry = await add(
            session,
            reason="x" * 10_000,
            name="evil\x1b[31m\nname\u202e",
            actor="a" * 500,
            request_id="r" * 300,
        )
        assert entry.reason == "x" * 500
        assert entry.name == "evil[31mname"
        assert len(entry.actor) == 200
        assert len(entry.request_id) == 100
        assert (await audit.verify(session)).ok

    async def test_the_request_id_defaults_to_the_current_request(self, session):
        token = request_id_var.set("req-42")
        try:
            entry = await add(session)
            explicit = await add(session, request_id="other")
        finally:
            request_id_var.reset(token)
        outside = await add(session)
        assert (entry.request_id, explicit.request_id, outside.request_id) == (
            "req-42",
            "other",
            "",
        )


class TestAppendOnly:
    async def test_the_database_refuses_to_update_an_entry(self, session):
        entry = await add(session)
        with pytest.raises(DBAPIError, match="secrets_audit is append-only"):
            async with session.begin_nested():
                await session.execute(
                    text("UPDATE secrets_audit SET name = 'other' WHERE seq = :seq"),
                    {"seq": entry.seq},
                )

    async def test_the_database_refuses_to_delete_an_entry(self, session):
        entry = await add(session)
        with pytest.raises(DBAPIError, match="secrets_audit is append-only"):
            async with session.begin_nested():
                await session.execute(
                    text("DELETE FROM secrets_audit WHERE seq = :seq"), {"seq": entry.seq}
                )


class TestTampering:
    async def test_a_changed_entry_is_reported_at_its_seq(self, sessions):
        entries = await add_committed(sessions, 5)
        changed = entries[2]
        await tamper(
            sessions, "UPDATE secrets_audit SET name = 'innocent' WHERE seq = :seq", seq=changed.seq
        )
        report = await verify(sessions)
        assert not report.ok
        assert report.broken is not None
        assert report.broken.seq == changed.seq
        assert report.broken.problem == "hash"
        assert report.broken.found == changed.hash
        assert report.broken.expected != changed.hash
        assert report.checked == 3
        assert report.last_seq == entries[1].seq

    async def test_a_changed_time_is_reported(self, sessions):
        entries = await add_committed(sessions, 3)
        await tamper(
            sessions,
            "UPDATE secrets_audit SET at = at - interval '1 microsecond' WHERE seq = :seq",
            seq=entries[0].seq,
        )
        report = await verify(sessions)
        assert report.broken is not None
        assert (report.broken.seq, report.broken.problem) == (entries[0].seq, "hash")

    async def test_a_removed_entry_breaks_the_link_of_the_next(self, sessions):
        entries = await add_committed(sessions, 5)
        await tamper(sessions, "DELETE FROM secrets_audit WHERE seq = :seq", seq=entries[2].seq)
        report = await verify(sessions)
        assert report.broken is not None
        assert report.broken.seq == entries[3].seq
        assert report.broken.problem == "prev_hash"
        assert report.broken.expected == entries[1].hash
        assert report.broken.found == entries[2].hash

    async def test_removing_the_first_entry_is_found(self, sessions):
        entries = await add_committed(sessions, 3)
        await tamper(sessions, "DELETE FROM secrets_audit WHERE seq = :seq", seq=entries[0].seq)
        report = await verify(sessions)
        assert report.broken is not None
        assert (report.broken.seq, report.broken.problem) == (entries[1].seq, "prev_hash")
        assert report.broken.expected == audit.GENESIS

    async def test_a_rewritten_entry_with_a_recomputed_hash_breaks_the_next_link(self, sessions):
        entries = await add_committed(sessions, 4)
        target = entries[1]
        fields = {column: getattr(target, column) for column in AuditEntry.__table__.c.keys()}  # noqa: SIM118
        fields["reason"] = "nothing happened"
        forged = audit.row_hash(fields)
        await tamper(
            sessions,
            "UPDATE secrets_audit SET reason = 'nothing happened', hash = :hash WHERE seq = :seq",
            hash=forged,
            seq=target.seq,
        )
        report = await verify(sessions)
        assert report.broken is not None
        assert (report.broken.seq, report.broken.problem) == (entries[2].seq, "prev_hash")
        assert (report.broken.expected, report.broken.found) == (forged, target.hash)


class TestVerify:
    async def test_rows_are_read_in_batches_with_progress(self, sessions):
        await add_committed(sessions, 5)
        calls = []
        report = await verify(sessions, progress=lambda *args: calls.append(args), batch_size=2)
        assert report.ok
        assert report.checked == 5
        assert calls == [(2, 5), (4, 5), (5, 5)]

    async def test_a_break_in_a_later_batch_is_found(self, sessions):
        entries = await add_committed(sessions, 7)
        await tamper(
            sessions,
            "UPDATE secrets_audit SET outcome = 'ok2' WHERE seq = :seq",
            seq=entries[5].seq,
        )
        report = await verify(sessions, batch_size=2)
        assert report.broken is not None
        assert report.broken.seq == entries[5].seq


class TestListEntries:
    async def test_newest_first_with_filters_and_paging(self, session):
        for i in range(5):
            await add(session, name=f"N{i % 2}", action="read" if i < 3 else "write")
        everything = await audit.list_entries(session)
        seqs = [entry.seq for entry in everything]
        assert seqs == sorted(seqs, reverse=True)
        assert len(everything) >= 5

        named = await audit.list_entries(session, name="N0")
        assert [entry.name for entry in named][:3] == ["N0", "N0", "N0"]
        writes = await audit.list_entries(session, name="N1", action="write")
        assert [(e.name, e.action) for e in writes] == [("N1", "write")]

        page = await audit.list_entries(session, name="N0", limit=2)
        rest = await audit.list_entries(session, name="N0", before_seq=page[-1].seq)
        assert [e.seq for e in page + rest] == [e.seq for e in named]

    async def test_the_limit_is_held_to_a_sane_range(self, session):
        for _ in range(3):
            await add(session, actor="limit-test")
        assert len(await audit.list_entries(session, actor="limit-test", limit=0)) == 1
        assert len(await audit.list_entries(session, actor="limit-test", limit=-5)) == 1
        assert len(await audit.list_entries(session, actor="limit-test", limit=10**9)) == 3
