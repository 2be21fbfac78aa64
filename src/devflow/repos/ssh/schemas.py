"""The shapes of the SSH key API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from devflow.repos.ssh.keys import MAX_KEY_CHARS


class SshKeyCreate(BaseModel):
    """A public key to add: the contents of a `.pub` file."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(
        max_length=MAX_KEY_CHARS,
        description="One public key in OpenSSH's form: `ssh-ed25519 AAAA… comment`.",
    )
    title: str | None = Field(
        None,
        max_length=100,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="A name for it; default: the key's comment, or its type.",
    )


class SshKeyRead(BaseModel):
    """A user's SSH key (its public part)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    key_type: str
    fingerprint: str = Field(description="`SHA256:…`, as `ssh-keygen -lf` shows it.")
    public_key: str
    created_at: datetime
    last_used_at: datetime | None
