"""Fixtures most API tests share: the app on the test's own database, an admin token, and a
client calling the app in process with it. A module that needs another app defines its own."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from devflow.settings import load_settings
from tests.factories import api_client, bootstrap_admin, running_app


@pytest.fixture
async def app(db_url) -> AsyncIterator[FastAPI]:
    async with running_app(load_settings(database_url=db_url)) as application:
        yield application


@pytest.fixture
async def admin_token(sessions) -> str:
    return await bootstrap_admin(sessions)


@pytest.fixture
async def api(app, admin_token) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app, admin_token) as client:
        yield client
