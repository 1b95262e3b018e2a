"""Helpers for tests that run real gateway processes against a PostgreSQL of their own: the
server to stop and start, the processes' environment, streams read until a point, polling."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import asyncpg

from db.embedded import EmbeddedPostgres
from db.migrate import migrate
from tests.conftest import ADMIN_HEADERS, ADMIN_PASSWORD, free_port
from tests.gateway_process import GatewayProcess
from tests.helpers import bearer, parse_sse


@contextmanager
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A migrated server of the test's own, so stopping it disturbs no other test."""
    root = Path(tempfile.mkdtemp(prefix="kaixu-own-pg-"))
    server = EmbeddedPostgres(root / "pg")
    try:
        migrate(server.dsn)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def gateway_env(database_url: str, openai_url: str, data_dir: Path, **extra: str) -> dict:
    return {
        "DATABASE_URL": database_url,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "KAIXU_SECRET": "shared-secret-of-every-process-" + "x" * 16,
        "OPENAI_API_KEY": "sk-test-openai",
        "OPENAI_BASE_URL": openai_url,
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
        "PORT": str(free_port()),
        **extra,
    }


def url_of(process: GatewayProcess) -> str:
    return f"http://127.0.0.1:{process.env['PORT']}"


@asynccontextmanager
async def two_gateways(
    database_url: str, openai_url: str, tmp_path: Path
) -> AsyncIterator[tuple[aiohttp.ClientSession, list[str]]]:
    """Two gateway processes on one database, started side by side; a session and their URLs."""
    processes = [
        GatewayProcess(gateway_env(database_url, openai_url, tmp_path / name))
        for name in ("a", "b")
    ]
    await asyncio.gather(*(asyncio.to_thread(p.start) for p in processes))
    try:
        async with aiohttp.ClientSession() as http:
            yield http, [url_of(p) for p in processes]
    finally:
        for process in processes:
            process.stop()


async def poll(check: Callable[[], Awaitable[bool]], deadline_s: float, what: str) -> float:
    """Seconds until `check()` holds; fails past the deadline."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < deadline_s, f"{what}: not within {deadline_s} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def settled(db: asyncpg.Connection, deadline_s: float = 10) -> None:
    """Until no reservation is left: requests are answered before their settlement commits
    (proxy/ledger/outbox.py), so a test that reads the books right after waits for this."""

    async def no_reservations() -> bool:
        return await db.fetchval("SELECT count(*) FROM reservations") == 0

    await poll(no_reservations, deadline_s, "every answered call settled")


async def new_key(http: aiohttp.ClientSession, base: str, **fields) -> tuple[str, str]:
    """A new customer's id and master key, made through the admin API of `base`."""
    fields.setdefault("monthly_cap_cents", 1000)
    async with http.post(f"{base}/admin/api/customers", json=fields,
                         headers=ADMIN_HEADERS) as response:  # fmt: skip
        assert response.status == 201, await response.text()
        body = await response.json()
    return body["customer"]["id"], body["key"]["key"]


def chat_json(text: str, max_tokens: int = 50) -> dict:
    return {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}]}  # fmt: skip


class Stream:
    """A native stream read in the background; `started` is set once its first delta came."""

    def __init__(self, http: aiohttp.ClientSession, base: str, key: str, text: str) -> None:
        self.started = asyncio.Event()
        self.task = asyncio.create_task(self._read(http, base, key, text))

    async def _read(self, http, base, key, text) -> list[tuple[str, str]]:
        raw = b""
        async with http.post(f"{base}/v1/gateway/stream", json=chat_json(text),
                             headers=bearer(key)) as response:  # fmt: skip
            assert response.status == 200, await response.text()
            async for chunk in response.content.iter_any():
                raw += chunk
                if b"event: delta" in raw:
                    self.started.set()
        self.started.set()
        return parse_sse(raw)

    async def events(self) -> list[tuple[str, str]]:
        return await self.task

    async def names(self) -> list[str]:
        return [name for name, _ in await self.task]
