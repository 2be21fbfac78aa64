"""Migration 0024 on rows made before it: a webhook's clear secret waits in `legacy_secret`
(sealed by DevFlow at first touch), a hook going by cascade takes its sealed secret with it
(trigger), and a downgrade puts clear secrets back and deactivates hooks whose secret was sealed
(it cannot be opened inside a migration, and they would send unsigned deliveries)."""

from __future__ import annotations

import uuid

import psycopg
from alembic import command

from devflow.core.db import libpq_url
from devflow.core.migrate import alembic_config, check_models, upgrade

INSERT_HOOK = (
    "INSERT INTO repos_webhook (id, project_id, url, secret, content_type, events, active, "
    "created_at) VALUES (%s, %s, 'https://example.com/hook', %s, 'json', '[]', true, now())"
)


def test_webhook_secrets_move_out_of_the_hook_row_and_back(db_url):
    config = alembic_config(db_url)
    command.downgrade(config, "0023")
    signed, unsigned = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
        project = uuid.uuid4()
        conn.execute(
            "INSERT INTO project (id, name, description, created_at) "
            "VALUES (%s, 'migrated', '', now())",
            (project,),
        )
        conn.execute(INSERT_HOOK, (signed, project, "s3cret"))
        conn.execute(INSERT_HOOK, (unsigned, project, ""))
    upgrade(db_url)
    check_models(db_url)
    with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
        rows = {
            row[0]: row[1:]
            for row in conn.execute("SELECT id, has_secret, legacy_secret FROM repos_webhook")
        }
        assert rows[signed] == (True, "s3cret")
        assert rows[unsigned] == (False, None)
        # As if DevFlow had sealed one (its secret row) and the hook then went by cascade.
        conn.execute("UPDATE repos_webhook SET legacy_secret = NULL WHERE id = %s", (signed,))
        conn.execute(
            "INSERT INTO secrets_secret (id, tier, scope, environment, name, description, "
            "current_version, created_at, updated_at) "
            "VALUES (%s, 'system', %s, 'internal', 'value', '', 1, now(), now())",
            (uuid.uuid4(), f"internal:repos.webhook:{unsigned}"),
        )
        conn.execute("DELETE FROM repos_webhook WHERE id = %s", (unsigned,))
        left = conn.execute("SELECT count(*) FROM secrets_secret WHERE scope LIKE 'internal:%%'")
        assert left.fetchone() == (0,)
    command.downgrade(config, "0023")
    with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
        back = conn.execute("SELECT secret, active FROM repos_webhook WHERE id = %s", (signed,))
        assert back.fetchone() == ("", False)
    upgrade(db_url)
    check_models(db_url)
