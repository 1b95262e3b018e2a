"""Schema migrations with yoyo, then the live SQL of db/sql/, serialised by an advisory lock.

Versioned migrations (migrations/) change tables; the functions live in db/sql/, one file per
area, and are re-created on every migrate, so a checkout's database always runs its code's
functions (docs/sql.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from yoyo import get_backend, read_migrations

from db import partitioning

log = logging.getLogger("kaixu.db")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQL_DIR = Path(__file__).resolve().parent / "sql"
# A fixed order: a file may use what the files before it define (SQL-language functions and
# views are checked when created; PL/pgSQL bodies only when first run).
SQL_FILES = ("keys.sql", "ledger.sql", "limits.sql", "rollups.sql", "partitions.sql")

# An advisory lock (unlike yoyo's lock table) is released by the server if the holder dies.
_MIGRATION_LOCK_ID = 0x4B41495855  # "KAIXU"


def yoyo_url(dsn: str) -> str:
    """yoyo wants the driver in the scheme: postgresql+psycopg:// (psycopg 3)."""
    parts = urlsplit(dsn)
    return urlunsplit(("postgresql+psycopg", *parts[1:]))


def _backend(dsn: str):
    return get_backend(yoyo_url(dsn), migration_table="_yoyo_migration")


def apply_live_sql(conn: psycopg.Connection) -> None:
    """(Re-)create everything in db/sql/, in SQL_FILES order, in one transaction; first, once,
    the conversion of usage_events into monthly partitions, whose swap must commit with the
    functions that fit it."""
    convert = partitioning.needs_conversion(conn)
    if convert:
        bound = partitioning.prepare(conn, dt.datetime.now(dt.UTC).date())
    for attempt in range(1, partitioning.SWAP_ATTEMPTS + 1):
        try:
            with conn.transaction():
                if convert:
                    legacy = partitioning.swap(conn, bound)
                for name in SQL_FILES:
                    conn.execute((SQL_DIR / name).read_text(encoding="utf-8"))
                # Under the lock rollups.sql's triggers took: the rows that predate them, once.
                conn.execute("SELECT kaixu_rollups_backfill()")
                ahead = partitioning.PARTITIONS_AHEAD
                conn.execute("SELECT kaixu_usage_partitions_ensure(%s)", (ahead,))
            break
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            if attempt == partitioning.SWAP_ATTEMPTS:
                raise
            log.warning("usage_events is busy; partitioning it again in a moment")
            time.sleep(0.2)
    if convert:
        log.info("usage_events partitioned by month", extra={"first_partition": legacy})


def _take_migration_lock(backend) -> None:
    """Polled, not waited for in one statement: a waiting statement holds a snapshot, which the
    holder's CREATE INDEX CONCURRENTLY (db/partitioning.py) would wait for in turn."""
    while not backend.execute(
        "SELECT pg_try_advisory_lock(:lock)", {"lock": _MIGRATION_LOCK_ID}
    ).fetchone()[0]:
        time.sleep(0.05)


def wait_for_database(dsn: str, timeout_s: float = 300.0) -> None:
    """Return once the database accepts connections; raise after `timeout_s`. A gateway that
    starts during an outage waits for it to end (its journal is replayed once it serves)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            psycopg.connect(dsn, connect_timeout=5).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() >= deadline:
                raise
            log.warning("database not reachable yet; waiting")
            time.sleep(1)


def migrate(dsn: str) -> list[str]:
    """Apply every pending migration, then the live SQL (always); return the ids applied."""
    backend = _backend(dsn)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    try:
        _take_migration_lock(backend)
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
        applied = [m.id for m in pending]
        # Also when nothing was pending: a checkout with changed functions but no new migration
        # must still get them.
        apply_live_sql(backend.connection)
    finally:
        backend.execute("SELECT pg_advisory_unlock(:lock)", {"lock": _MIGRATION_LOCK_ID})
        backend.connection.close()
    if applied:
        log.info("migrations applied", extra={"migrations": applied})
    return applied


def rollback(dsn: str, steps: int | None = None) -> list[str]:
    """Roll back the newest `steps` applied migrations (all of them when None)."""
    backend = _backend(dsn)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    try:
        _take_migration_lock(backend)
        applied = backend.to_rollback(migrations)
        chosen = applied[:steps] if steps is not None else applied
        backend.rollback_migrations(chosen)
        ids = [m.id for m in chosen]
    finally:
        backend.execute("SELECT pg_advisory_unlock(:lock)", {"lock": _MIGRATION_LOCK_ID})
        backend.connection.close()
    return ids
