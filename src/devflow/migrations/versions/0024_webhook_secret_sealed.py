"""Webhook secrets sealed in the secrets store, and pull mirrors with credentials by reference.

`repos_webhook.secret` (the signing secret in clear) becomes `has_secret`; the value itself is
kept through `devflow.secrets.keep_internal` (owner `repos.webhook:<hook id>`), sealed under
the secrets keys. A migration cannot seal (the keys never enter the database), so a hook that
had a secret keeps it in `legacy_secret` until DevFlow first touches it: the HTTP server seals
every one at start (`repos.serving`), and a delivery seals its hook's before it signs
(`webhooks.service.seal_legacy_secret`); both clear the column. A trigger forgets a hook's
sealed secret when the hook goes with its repository or project (a hook deleted by itself has
it forgotten, audited, by `delete_webhook`).

`repos_mirror.credentials` holds a reference (`secret://NAME`, a secret of the repository's
project), never a credential.

Downgrade puts `legacy_secret` back into `secret`; a sealed secret cannot be opened here, so a
hook whose secret was sealed is made inactive (it would otherwise send unsigned deliveries).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FORGET_FUNCTION = """
CREATE FUNCTION repos_webhook_forget_secret() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM secrets_secret
    WHERE scope = 'internal:repos.webhook:' || OLD.id::text AND environment = 'internal';
    RETURN OLD;
END
$$
"""

FORGET_TRIGGER = """
CREATE TRIGGER repos_webhook_forget_secret AFTER DELETE ON repos_webhook FOR EACH ROW
EXECUTE FUNCTION repos_webhook_forget_secret()
"""


def upgrade() -> None:
    op.add_column(
        "repos_webhook",
        sa.Column("has_secret", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("repos_webhook", sa.Column("legacy_secret", sa.String(255), nullable=True))
    op.execute(
        "UPDATE repos_webhook SET has_secret = (secret <> ''), legacy_secret = NULLIF(secret, '')"
    )
    op.drop_column("repos_webhook", "secret")
    op.execute(FORGET_FUNCTION)
    op.execute(FORGET_TRIGGER)
    op.add_column("repos_mirror", sa.Column("credentials", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("repos_mirror", "credentials")
    op.execute("DROP TRIGGER IF EXISTS repos_webhook_forget_secret ON repos_webhook")
    op.execute("DROP FUNCTION IF EXISTS repos_webhook_forget_secret()")
    op.add_column(
        "repos_webhook",
        sa.Column("secret", sa.String(255), server_default="", nullable=False),
    )
    op.execute(
        "UPDATE repos_webhook SET secret = COALESCE(legacy_secret, ''), "
        "active = active AND NOT (has_secret AND legacy_secret IS NULL)"
    )
    op.alter_column("repos_webhook", "secret", server_default=None)
    op.execute("DELETE FROM secrets_secret WHERE scope LIKE 'internal:repos.webhook:%'")
    op.drop_column("repos_webhook", "legacy_secret")
    op.drop_column("repos_webhook", "has_secret")
