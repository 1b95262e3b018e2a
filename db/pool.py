"""The asyncpg connection pool and the errors that mean 'the database is unreachable'."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson

# Raised when the server is down, restarting, or a connection broke mid-query. The error
# middleware answers them with 503 `unavailable`: the gateway fails closed.
DB_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for json_type in ("json", "jsonb"):
        await conn.set_type_codec(
            json_type,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection outside any pool (the command line's), with the pool's JSON codecs."""
    conn = await asyncpg.connect(dsn, server_settings={"application_name": "kaixu-cli"})
    await _init_connection(conn)
    return conn


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Connections go back to the pool as they are: the default reset (RESET ALL, UNLISTEN *,
    unlock all advisory locks) would cost a round trip per query. Our code leaves no session
    state behind: no SET without LOCAL, no LISTEN on pool connections, advisory locks released
    in `finally` (a broken connection is dropped, and its locks with it)."""


async def create_pool(
    dsn: str, *, min_size: int, max_size: int, command_timeout: float, pooled: bool = False
) -> asyncpg.Pool:
    """`pooled`: `dsn` is a transaction-pooling PgBouncer, which keeps no prepared statement
    from one transaction to the next (1.18 does not track them): asyncpg then caches none.
    Its unnamed statements still work there: it sends Parse/Describe with a Flush, not a Sync,
    so the Bind/Execute that follow reach the same server connection."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        init=_init_connection,
        reset=_keep_session,
        # Connections broken by a database restart are dropped and re-made on the next acquire.
        max_inactive_connection_lifetime=60.0,
        server_settings={"application_name": "kaixu-gateway"},
        statement_cache_size=0 if pooled else 100,
    )


@asynccontextmanager
async def session_connection(
    pool: asyncpg.Pool, direct_dsn: str | None
) -> AsyncIterator[asyncpg.Connection]:
    """A connection whose server session is the caller's for as long as it is held (a session
    advisory lock): one of the pool's, or, when the pool is a transaction pooler
    (`direct_dsn` given), a direct connection of its own, closed after."""
    if direct_dsn is None:
        async with pool.acquire() as conn:
            yield conn
        return
    conn = await asyncpg.connect(direct_dsn, server_settings={"application_name": "kaixu-gateway"})
    try:
        await _init_connection(conn)
        yield conn
    finally:
        await conn.close()
