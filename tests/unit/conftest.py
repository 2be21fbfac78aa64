"""Fixtures of the unit tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common umask 022, under which Python's defaults make files any local user can read."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)
