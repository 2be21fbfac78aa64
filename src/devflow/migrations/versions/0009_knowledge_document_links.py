"""Knowledge documents keep the links of their page, so a refresh follows real links.

A page that answers 304 Not Modified to a refresh is not downloaded again, yet the crawl must go
on through its links. They were read back from the stored Markdown, where text that reads like a
Markdown link (a regular expression in a code block: `[.]([^b]..|.[^a].|..[^t])`) was taken for
one and the page's navigation, which is not stored, was missed. The links the page's HTML holds
(`<a href>`, in the crawl's scope) are now kept with the document. NULL for documents stored
before: a refresh fetches those pages whole once, without a conditional request, and keeps their
links from then on.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable without a default: adding it rewrites nothing, whatever the table's size.
    op.add_column("knowledge_document", sa.Column("links", postgresql.ARRAY(sa.Text())))


def downgrade() -> None:
    op.drop_column("knowledge_document", "links")
