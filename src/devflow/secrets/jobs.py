"""Jobs of the secrets domain: re-encryption under the active key after a rotation."""

from __future__ import annotations

import procrastinate
from procrastinate import JobContext

from devflow.core.db import unit_of_work
from devflow.core.jobs import Phase, report_progress, services_of
from devflow.secrets import SECRETS, audit, rotation, service
from devflow.secrets.keys import REENCRYPT, reencrypt_batch, remaining, retire_unused

blueprint = procrastinate.Blueprint()
BATCH = 500


@blueprint.task(name=REENCRYPT, queueing_lock=REENCRYPT, pass_context=True)
async def reencrypt(context: JobContext) -> int:
    """Seal every stored value under the active key, a batch per transaction (reads and writes
    go on meanwhile: a value opens under whichever key sealed it), then retire the keys nothing
    uses. Returns how many values moved."""
    services = services_of(context)
    keys = services.get(SECRETS).keys
    async with services.sessions() as session:
        ring = await keys.sealing_ring(session)
        total = await remaining(session, ring.active)
    moved = 0
    await report_progress(context, phase=Phase("re-encrypting", "values", 0, total))
    while True:
        async with unit_of_work(services.sessions) as session:
            ring = await keys.sealing_ring(session)
            done = await reencrypt_batch(session, ring, limit=BATCH)
        if not done:
            break
        moved += done
        await report_progress(
            context, phase=Phase("re-encrypting", "values", moved, max(total, moved))
        )
    async with unit_of_work(services.sessions) as session:
        retired = await retire_unused(session)
        await audit.append(
            session, **service.actor_fields(None), action="key.reencrypt",
            outcome="ok", scope="system",
            reason=f"{moved} value(s) moved to {ring.active}; "
            f"retired: {', '.join(retired) or 'none'}",
        )  # fmt: skip
    return moved


async def rotate(context: JobContext, timestamp: int) -> dict[str, int]:
    """Carry out due rotations, revocations and reminders (every minute), and the
    key-encryption key's own rotation when `key_rotation_days` says so."""
    del timestamp
    services = services_of(context)
    resolver = services.get(SECRETS)
    async with unit_of_work(services.sessions) as session:
        done = await rotation.tick(session, resolver.context())
        if await rotation.tick_keys(session, resolver.context(), resolver.conf):
            done["keys"] = 1
    return done


_rotate = blueprint.task(name=rotation.ROTATE, queueing_lock=rotation.ROTATE, pass_context=True)(
    rotate
)
blueprint.periodic(cron="* * * * *", periodic_id="secrets-rotate")(_rotate)

__all__ = ["blueprint", "reencrypt", "rotate"]
