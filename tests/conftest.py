"""Test fixtures: one embedded PostgreSQL per session, a fresh database per test, the real app."""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import psycopg
import pytest
from aiohttp.test_utils import TestClient
from psycopg import sql

from core.settings import Settings
from db.embedded import EmbeddedPostgres, create_database
from db.migrate import migrate
from proxy.app import create_app
from tests.fakes import FakeUpstream

TEMPLATE_DB = "kaixu_template"
ADMIN_PASSWORD = "test-admin-password"
_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    """One real PostgreSQL for the whole session, with a migrated template database."""
    root = Path(tempfile.mkdtemp(prefix="kaixu-test-pg-"))
    server = EmbeddedPostgres(root / "pg", database=TEMPLATE_DB)
    migrate(server.dsn)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(postgres: EmbeddedPostgres) -> Iterator[str]:
    """A database of its own for each test, cloned from the migrated template (fast, isolated)."""
    name = f"kaixu_test_{os.getpid()}_{next(_db_numbers)}"
    create_database(postgres.admin_dsn, name, template=TEMPLATE_DB)
    yield postgres.dsn_for(name)
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        admin_password=ADMIN_PASSWORD,
        secret="test-secret-" + "x" * 40,
        db_pool_min=1,
        db_pool_max=5,
    )


@pytest.fixture
async def client(settings: Settings, aiohttp_client) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(create_app(settings))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ADMIN_HEADERS = {"X-Admin-Password": ADMIN_PASSWORD}


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, FakeUpstream]]:
    """The three providers, faked over real HTTP on 127.0.0.1."""
    started = {name: FakeUpstream(name) for name in ("openai", "anthropic", "gemini")}
    for fake in started.values():
        await fake.start()
    yield started
    for fake in started.values():
        await fake.close()


@pytest.fixture
def gateway_settings(settings: Settings, fakes: dict[str, FakeUpstream]) -> Settings:
    return dataclasses.replace(
        settings,
        openai_api_key="sk-test-openai",
        anthropic_api_key="sk-ant-test",
        gemini_api_key="gemini-test-key",
        openai_base_url=fakes["openai"].base_url,
        anthropic_base_url=fakes["anthropic"].base_url,
        gemini_base_url=fakes["gemini"].base_url,
        demo_provider=True,
        upstream_read_timeout_s=5.0,
    )


@pytest.fixture
async def gateway(gateway_settings: Settings, aiohttp_client) -> TestClient:
    """The real app wired to the fake providers (and the demo provider)."""
    return await aiohttp_client(create_app(gateway_settings))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test's database, for asserting what was stored."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()
