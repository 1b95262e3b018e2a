"""/readyz follows the database: 503 while it is down, 200 again when it is back, no restart."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from pathlib import Path

import pytest

from core.settings import Settings
from db.embedded import EmbeddedPostgres
from db.migrate import migrate
from proxy.app import create_app


@pytest.fixture
def own_postgres():
    """A server of this test's own, so stopping it disturbs no other test."""
    root = Path(tempfile.mkdtemp(prefix="kaixu-ready-"))
    server = EmbeddedPostgres(root / "pg")
    migrate(server.dsn)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


async def test_readyz_turns_503_when_the_database_stops_and_back(
    own_postgres: EmbeddedPostgres, settings: Settings, aiohttp_client
) -> None:
    app_settings = dataclasses.replace(settings, database_url=own_postgres.dsn)
    client = await aiohttp_client(create_app(app_settings))
    assert (await client.get("/readyz")).status == 200

    await asyncio.to_thread(own_postgres.halt)
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["error"]["type"] == "unavailable"
    assert (await client.get("/healthz")).status == 200  # alive, just not ready

    await asyncio.to_thread(own_postgres.ensure_running)
    assert (await client.get("/readyz")).status == 200
