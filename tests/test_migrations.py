"""Migrations apply and roll back on a real database, and concurrent starts are safe."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from db.embedded import EmbeddedPostgres, create_database
from db.migrate import MIGRATIONS_DIR, migrate, rollback

EXPECTED_TABLES = {"customers", "api_keys", "prices"}


@pytest.fixture
def empty_database(postgres: EmbeddedPostgres) -> str:
    name = f"kaixu_migrations_{os.getpid()}_{os.urandom(4).hex()}"
    create_database(postgres.admin_dsn, name)
    yield postgres.dsn_for(name)
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename NOT LIKE '%yoyo%'"
        ).fetchall()
    return {row[0] for row in rows}


def test_up_down_up(empty_database: str) -> None:
    applied = migrate(empty_database)
    assert applied == sorted(applied) and len(applied) >= 3
    assert _tables(empty_database) >= EXPECTED_TABLES
    assert migrate(empty_database) == []

    undone = rollback(empty_database)
    assert undone == list(reversed(applied))
    assert _tables(empty_database) == set()

    assert migrate(empty_database) == applied
    assert _tables(empty_database) >= EXPECTED_TABLES


def test_one_step_rollback_undoes_only_the_newest(empty_database: str) -> None:
    applied = migrate(empty_database)
    assert rollback(empty_database, 1) == [applied[-1]]
    assert migrate(empty_database) == [applied[-1]]


def test_list_prices_are_loaded_as_integer_micro_cents(empty_database: str) -> None:
    migrate(empty_database)
    with psycopg.connect(empty_database) as conn:
        row = conn.execute(
            "SELECT input_uc_per_mtok, output_uc_per_mtok, cached_input_uc_per_mtok"
            " FROM prices WHERE provider = 'openai' AND model = 'gpt-4o-mini'"
        ).fetchone()
        sonnet = conn.execute(
            "SELECT long_context_threshold, long_input_uc_per_mtok, cache_write_uc_per_mtok"
            " FROM prices WHERE provider = 'anthropic' AND model = 'claude-sonnet-4-5'"
        ).fetchone()
    # $0.15 / $0.60 / $0.075 per 1M tokens, in micro-cents (1 USD = 1e8).
    assert row == (15_000_000, 60_000_000, 7_500_000)
    assert sonnet == (200_000, 600_000_000, 375_000_000)


def test_concurrent_starts_apply_each_migration_once(empty_database: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(migrate, [empty_database] * 4))
    applied = [ids for ids in results if ids]
    assert len(applied) == 1, results
    with psycopg.connect(empty_database) as conn:
        count = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()[0]
    assert count == len(applied[0])


def test_every_migration_has_a_rollback() -> None:
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name.endswith(".rollback.sql"):
            continue
        assert path.with_name(path.stem + ".rollback.sql").exists(), path.name
    for path in sorted(MIGRATIONS_DIR.glob("*.py")):
        assert "def rollback" in Path(path).read_text(), path.name
