"""Limits of repository browsing (`DEVFLOW_REPOS__BROWSE__…`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BrowseSettings(BaseModel):
    """How much of a file, a diff or a blame the API shows before it says "too large"."""

    max_file_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest file shown as text (and blamed); a larger one is flagged "
        "`too_large` and only its raw download is offered.",
    )
    max_diff_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        description="Most bytes of patch one commit or comparison returns; files past it are "
        "listed with their stats, their patch left out (`truncated`).",
    )
    max_file_diff_bytes: int = Field(
        256 * 1024,
        ge=1024,
        description="Largest patch of one file in a diff; a larger one is left out "
        "(`too_large`) with its stats still shown.",
    )
    max_diff_files: int = Field(
        300, ge=1, description="Most files one diff lists; the rest are counted, not listed."
    )
    timeout: float = Field(
        30.0, gt=0, description="Seconds one git command may run before the request gives up."
    )
