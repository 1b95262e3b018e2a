"""The functions of db/sql/ behave exactly as those they replaced: one scenario of admissions and
settlements, run through db/gateway.py against the deployed schema's own functions (the
fixture, not migrated) and against db/sql/, answers and books the same."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator

import asyncpg
import psycopg
import pytest
from psycopg import sql

from db.embedded import EmbeddedPostgres, create_database
from db.gateway import Admission, Settlement, admit_batch, settle_batch
from tests.fixtures import restore

TTL_S = 300

SETUP = """
INSERT INTO customers (id, monthly_cap_uc, extra_uc, rpm_limit, active) VALUES
    ('credit', 1000, 500, NULL, true), ('limited', 100000, 0, 2, true),
    ('off', 1000, 0, NULL, false), ('seats', 100000, 0, NULL, true);
INSERT INTO api_keys (id, customer_id, kind, secret_hash, last4, cap_uc, rpm_limit, max_devices,
                      revoked_at) VALUES
    ('k-credit', 'credit', 'master', '\\x01', '0001', NULL, NULL, NULL, NULL),
    ('k-capped', 'credit', 'sub', '\\x02', '0002', 300, NULL, NULL, NULL),
    ('k-revoked', 'credit', 'sub', '\\x03', '0003', NULL, NULL, NULL, now()),
    ('k-limited', 'limited', 'master', '\\x04', '0004', NULL, NULL, NULL, NULL),
    ('k-slow', 'limited', 'sub', '\\x05', '0005', NULL, 1, NULL, NULL),
    ('k-off', 'off', 'master', '\\x06', '0006', NULL, NULL, NULL, NULL),
    ('k-seats', 'seats', 'master', '\\x07', '0007', NULL, NULL, 2, NULL);
INSERT INTO devices (key_id, customer_id, install_id, revoked_at)
VALUES ('k-seats', 'seats', 'banned', now());
"""

# Every outcome and limit scope, seats filling up, a key cap and a customer allowance each met
# exactly and then exceeded.
FIRST_ADMISSIONS = [
    Admission("k-credit", 400, "laptop", "ua/1"),
    Admission("k-capped", 200, None, None),
    Admission("k-capped", 200, None, None),
    Admission("k-capped", 100, None, None),  # what is left of the key's cap, exactly
    Admission("k-revoked", 1, None, None),
    Admission("k-off", 1, None, None),
    Admission("no-such-key", 1, None, None),
    Admission("k-seats", 10, "d1", "ua/2"),
    Admission("k-seats", 10, "d2", None),
    Admission("k-seats", 10, "d3", None),
    Admission("k-seats", 10, "banned", None),
    Admission("k-slow", 10, None, None),
    Admission("k-slow", 10, None, None),  # the key's limit (1 rpm) is the one reached
    Admission("k-limited", 10, None, None),
    Admission("k-limited", 10, None, None),  # the customer's (2 rpm)
    Admission("k-credit", 800, None, None),  # what is left of the allowance, exactly
    Admission("k-credit", 1, None, None),
]
LATER_ADMISSIONS = [
    Admission("k-credit", 1, "laptop", "ua/3"),
    Admission("k-seats", 10, "d1", None),
    Admission("k-slow", 10, None, None),
]
GATEWAY_USED = """
SELECT (SELECT sum(spent_uc) FROM gateway_months WHERE month = $1)
     + (SELECT coalesce(sum(amount_uc), 0) FROM reservations WHERE expires_at > now())
"""


def settlement(reservation_id: int, customer_id: str, key_id: str, month, cost_uc: int):
    return Settlement(reservation_id, customer_id, key_id, month, None, "openai", "gpt-4o-mini",
                      None, 10, 2, 1, 5, cost_uc, "ok", "reported", 7, f"req-{reservation_id}",
                      None)  # fmt: skip


def comparable(rows: list[asyncpg.Record]) -> list[dict]:
    """Rows as dicts; a wait as whether there is one (its length depends on the clock)."""
    out = [dict(row) for row in rows]
    for row in out:
        if "retry_after_s" in row:
            row["retry_after_s"] = row["retry_after_s"] > 0
    return out


BOOKS = {
    "customers": "SELECT id, extra_uc FROM customers ORDER BY id",
    "customer_months": "SELECT * FROM customer_months ORDER BY 1, 2",
    "key_months": "SELECT * FROM key_months ORDER BY 1, 2",
    "gateway_months": "SELECT * FROM gateway_months ORDER BY 1, 2",
    "reservations": "SELECT id, customer_id, key_id, month, amount_uc FROM reservations ORDER BY 1",
    "usage_events": "SELECT to_jsonb(u) - 'created_at' FROM usage_events u ORDER BY id",
    "devices": """SELECT key_id, install_id, user_agent, revoked_at IS NULL, last_seen >= first_seen
                  FROM devices ORDER BY 1, 2""",
    "rate_limits": "SELECT scope, tat > now() FROM rate_limits ORDER BY 1",
}


async def scenario(conn: asyncpg.Connection) -> list:
    """Everything the functions answer, call by call, then the books they leave."""
    await conn.execute(SETUP)
    first = await admit_batch(conn, FIRST_ADMISSIONS, TTL_S, None)
    month = first[0]["month"]
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    ids = [row["reservation_id"] for row in first]
    settlements = [
        settlement(ids[0], "credit", "k-credit", month, 1100),  # beyond the cap: draws credit
        settlement(ids[1], "credit", "k-capped", month, 150),
        settlement(ids[3], "credit", "k-capped", month, 0),
        settlement(ids[15], "credit", "k-credit", month, 0),
        settlement(ids[7], "seats", "k-seats", previous, 5),  # admitted last month
        settlement(ids[8], "seats", "k-seats", month, 6),
        settlement(ids[11], "limited", "k-slow", month, 0),
        settlement(987654, "seats", "k-seats", month, 7),  # its reservation already swept
    ]
    settled = await settle_batch(conn, settlements)
    retried = await settle_batch(conn, settlements[1:5])  # a retry after a lost reply
    later = await admit_batch(conn, LATER_ADMISSIONS, TTL_S, None)
    ceiling = await conn.fetchval(GATEWAY_USED, month) + 10  # room for one more, exactly
    at_ceiling = await admit_batch(conn, [LATER_ADMISSIONS[1]] * 2, TTL_S, ceiling)
    answers = [comparable(first), sorted(comparable(settled), key=lambda r: r["reservation_id"])]
    answers += [sorted(comparable(retried), key=lambda r: r["reservation_id"])]
    answers += [comparable(later), comparable(at_ceiling)]
    books = {name: [tuple(r) for r in await conn.fetch(q)] for name, q in BOOKS.items()}
    return [answers, books]


@pytest.fixture
async def deployed_database(postgres: EmbeddedPostgres) -> AsyncIterator[str]:
    """The deployed schema with its own functions: restored, not migrated."""
    name = f"kaixu_deployed_{os.getpid()}_{os.urandom(4).hex()}"
    create_database(postgres.admin_dsn, name)
    restore(postgres.dsn_for(name))
    yield postgres.dsn_for(name)
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


async def run(dsn: str) -> list:
    conn = await asyncpg.connect(dsn)
    try:
        return await scenario(conn)
    finally:
        await conn.close()


async def test_db_sql_answers_and_books_as_the_deployed_functions(
    deployed_database: str, database_url: str
) -> None:
    before, now = await run(deployed_database), await run(database_url)
    outcomes = [row["outcome"] for row in now[0][0]]
    assert set(outcomes) == {"ok", "unauthorized", "device_revoked", "device_limit",
                             "rate_limited", "cap_exceeded"}  # fmt: skip
    limited = [row["limit_scope"] for row in now[0][0] if row["outcome"] == "rate_limited"]
    assert sorted(limited) == ["customer", "key"]
    assert [row["outcome"] for row in now[0][4]] == ["ok", "cap_exceeded"]
    assert now[0][4][1]["limit_scope"] == "gateway"
    assert now[0][3][0]["outcome"] == "ok" and now[1]["customers"][0] == ("credit", 250)
    assert now[1]["customer_months"] and now[1]["key_months"] and now[1]["usage_events"]
    assert now[0] == before[0]
    assert now[1] == before[1]
