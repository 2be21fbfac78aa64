"""Settings of the git-hosting domain (`DEVFLOW_REPOS__…`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from devflow.repos.browse.settings import BrowseSettings
from devflow.repos.mirrors.settings import MirrorSettings
from devflow.repos.webhooks.settings import WebhookSettings


class ReposSettings(BaseModel):
    """Git repositories: where the `git` program is and how large a push may be."""

    git: str = Field(
        "git",
        description="The git program that serves the wire protocol (`git http-backend`) and "
        "creates repositories; a name looked up on PATH, or a full path.",
    )
    max_push_bytes: int = Field(
        4 * 1024 * 1024 * 1024,
        ge=1024 * 1024,
        description="Largest request body one push (or fetch negotiation) may send over Smart "
        "HTTP; a push over it is refused with 413 and leaves the repository unchanged.",
    )
    ssh_port: int = Field(
        2222,
        ge=0,
        le=65535,
        description="Port of DevFlow's SSH server for git (`git clone "
        "ssh://git@HOST:PORT/<project>/<repo>.git`), on the HTTP server's address and started "
        "with it; 0 turns SSH off. Its host key is generated into $DEVFLOW_HOME on first start.",
    )
    browse: BrowseSettings = Field(
        default_factory=BrowseSettings, description="Limits of browsing files, diffs, blame."
    )
    webhooks: WebhookSettings = Field(
        default_factory=WebhookSettings, description="Webhook delivery: timeouts, retries, targets."
    )
    mirrors: MirrorSettings = Field(
        default_factory=MirrorSettings, description="Imports and pull mirrors: reachable sources."
    )
