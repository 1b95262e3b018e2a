"""Schema migrations with yoyo, serialised across processes by a PostgreSQL advisory lock."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from yoyo import get_backend, read_migrations

log = logging.getLogger("kaixu.db")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# An advisory lock (unlike yoyo's lock table) is released by the server if the holder dies.
_MIGRATION_LOCK_ID = 0x4B41495855  # "KAIXU"


def yoyo_url(dsn: str) -> str:
    """yoyo wants the driver in the scheme: postgresql+psycopg:// (psycopg 3)."""
    parts = urlsplit(dsn)
    return urlunsplit(("postgresql+psycopg", *parts[1:]))


def _backend(dsn: str):
    return get_backend(yoyo_url(dsn), migration_table="_yoyo_migration")


def migrate(dsn: str) -> list[str]:
    """Apply every pending migration; return the ids applied (empty when up to date)."""
    backend = _backend(dsn)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    try:
        backend.execute("SELECT pg_advisory_lock(:lock)", {"lock": _MIGRATION_LOCK_ID})
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
        applied = [m.id for m in pending]
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
        backend.execute("SELECT pg_advisory_lock(:lock)", {"lock": _MIGRATION_LOCK_ID})
        applied = backend.to_rollback(migrations)
        chosen = applied[:steps] if steps is not None else applied
        backend.rollback_migrations(chosen)
        ids = [m.id for m in chosen]
    finally:
        backend.execute("SELECT pg_advisory_unlock(:lock)", {"lock": _MIGRATION_LOCK_ID})
        backend.connection.close()
    return ids
