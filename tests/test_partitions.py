"""Usage rows partitioned by month: the online conversion of a table with rows in it (under
settlements, behind a long reader), partitions made ahead, the events page reading one
partition, and retention (archive, then drop, only once every customer's month is invoiced)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import itertools
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import psycopg

from db import partitioning
from db import rollups as db_rollups
from db.gateway import Settlement, settle_batch
from db.migrate import apply_live_sql, migrate, rollback
from db.usage import SELECT_EVENTS
from proxy.upkeep import retention
from tests.conftest import ADMIN_HEADERS
from tests.processes import poll

_reservation_ids = itertools.count(50_000_000)
THIS_MONTH = dt.datetime.now(dt.UTC).date().replace(day=1)
# The migrations from partitioning on: rolled back to reach the release before it.
BEFORE_ALERTS = Path(__file__).parent / "fixtures" / "book-customer-months-before-alerts.sql"


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


LAST_MADE = next_month(next_month(next_month(THIS_MONTH)))  # the partitions made ahead
# Partitioning is migration 0016; these are it and every migration after it.
SINCE_PARTITIONING = sorted(
    path.name.removesuffix(".py").removesuffix(".sql")
    for path in (Path(__file__).parents[1] / "migrations").glob("00*")
    if not path.name.endswith(".rollback.sql") and path.name[:4] >= "0016"
)


def settlement(cid: str, kid: str, month: dt.date, cost_uc: int = 700) -> Settlement:
    return Settlement(next(_reservation_ids), cid, kid, month, None, "openai", "gpt-4o-mini",
                      None, 10, 0, 0, 5, cost_uc, "ok", "reported", 5, "req", None)  # fmt: skip


async def settle(pool: asyncpg.Pool, batch: list[Settlement]) -> None:
    """As the gateway's settler writes a batch: again after a rollback (a deadlock's victim)."""
    for _ in range(5):
        try:
            await settle_batch(pool, batch)
            return
        except asyncpg.TransactionRollbackError:
            continue
    raise AssertionError("settlement kept rolling back")


async def a_key(client) -> tuple[str, str]:
    made = await client.post("/admin/api/customers", json={}, headers=ADMIN_HEADERS)
    body = await made.json()
    return body["customer"]["id"], body["key"]["id"]


async def insert_rows(db, customer_id: str, key_id: str, month: dt.date, n: int) -> None:
    await db.execute(
        """INSERT INTO usage_events (created_at, month, customer_id, key_id, provider, model,
               input_tokens, output_tokens, cost_uc, status, cost_source)
           SELECT $3::date + make_interval(mins => g), $3, $1, $2, 'openai', 'gpt-4o-mini',
                  g % 50, g % 7, 100 + g, 'ok', 'reported'
           FROM generate_series(1, $4) AS g""",
        customer_id, key_id, month, n,
    )  # fmt: skip


def partitioned(database_url: str) -> bool:
    with psycopg.connect(database_url) as conn:
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'usage_events'")
        return kind.fetchone()[0] == "p"


async def plain_table_with_rows(client, db, database_url: str, rows: int) -> tuple[str, str]:
    """The database as the release before partitioning left it (SINCE_PARTITIONING rolled back,
    the live SQL of that release, the same functions as far as usage_events goes, loaded), with
    `rows` usage rows of a new customer's key in January 2026; that customer and key."""
    customer_id, key_id = await a_key(client)
    await asyncio.to_thread(rollback, database_url, len(SINCE_PARTITIONING))
    with psycopg.connect(database_url) as conn:
        await asyncio.to_thread(apply_live_sql, conn)
        conn.execute(BEFORE_ALERTS.read_text(encoding="utf-8"))  # no alerts tables yet
        conn.commit()
    assert not partitioned(database_url)
    await insert_rows(db, customer_id, key_id, dt.date(2026, 1, 1), rows)
    return customer_id, key_id


async def test_a_table_with_rows_is_partitioned_under_settlements_without_losing_one(
    client, db, database_url
) -> None:
    customer_id, key_id = await plain_table_with_rows(client, db, database_url, 20_000)
    before = await db.fetchrow("SELECT count(*) AS n, max(id) AS top, sum(cost_uc) AS cost"
                               " FROM usage_events")  # fmt: skip
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=2)
    converting = asyncio.ensure_future(asyncio.to_thread(migrate, database_url))
    settled: list[Settlement] = []
    try:
        while not converting.done() or len(settled) < 20:
            batch = [settlement(customer_id, key_id, THIS_MONTH) for _ in range(5)]
            await settle(pool, batch)
            settled += batch
        assert await converting == SINCE_PARTITIONING
        await settle(pool, settled[:5])  # retried after a lost reply: nothing again
    finally:
        await pool.close()

    assert partitioned(database_url)
    after = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(cost_uc) AS cost FROM usage_events"
    )
    assert after["n"] == after["ids"] == before["n"] + len(settled)
    assert after["cost"] == before["cost"] + sum(s.cost_uc for s in settled)
    by_reservation = await db.fetch(
        "SELECT reservation_id, id FROM usage_events WHERE reservation_id = ANY($1::bigint[])",
        [s.reservation_id for s in settled],
    )
    assert len(by_reservation) == len(settled)  # each settlement once
    # The rows from before keep their ids; the ids go on from there.
    assert (
        await db.fetchval("SELECT max(id) FROM usage_events WHERE month = '2026-01-01'")
        == (before["top"])
    )
    assert min(r["id"] for r in by_reservation) > before["top"]
    assert await db_rollups.differences(db) == []
    partitions = await db.fetch(
        "SELECT name, from_month, to_month FROM kaixu_usage_partitions ORDER BY to_month"
    )
    assert partitions[0]["from_month"] is None  # the old table, now the first partition
    assert partitions[0]["to_month"] > THIS_MONTH
    assert partitions[-1]["to_month"] > THIS_MONTH + dt.timedelta(days=31 * 3)
    # Every partition, the old table too, has the index by time (migration 0021) under the parent's.
    untimed = await db.fetch(
        """SELECT p.name FROM kaixu_usage_partitions p
           WHERE NOT EXISTS (
               SELECT 1 FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid
               WHERE i.inhparent = 'usage_events_created_idx'::regclass
                 AND x.indrelid = p.name::regclass)"""
    )
    assert untimed == []


async def test_the_swap_steps_aside_for_a_long_reader_and_writers_go_on_meanwhile(
    client, db, database_url
) -> None:
    customer_id, key_id = await plain_table_with_rows(client, db, database_url, 100)
    # The slow first step done already (its CONCURRENTLY builds would wait for the reader).
    with psycopg.connect(database_url, autocommit=True) as conn:
        await asyncio.to_thread(partitioning.prepare, conn, dt.datetime.now(dt.UTC).date())
    reader = await asyncpg.connect(database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        reading = reader.transaction()
        await reading.start()  # an export's cursor, say: a lock the swap must wait for
        await reader.fetchval("SELECT count(*) FROM usage_events")
        converting = asyncio.ensure_future(asyncio.to_thread(migrate, database_url))

        async def swap_waiting() -> bool:
            return await db.fetchval(
                "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'usage_events'::regclass"
                " AND mode = 'AccessExclusiveLock' AND NOT granted"
            )

        await poll(swap_waiting, 60, "the swap waiting for its lock")
        # While the swap keeps asking for its lock, settlements still get through: it gives
        # up after a second each time and lets them pass.
        for _ in range(3):
            await settle(pool, [settlement(customer_id, key_id, THIS_MONTH)])
        assert not converting.done() and not partitioned(database_url)
        await reading.commit()
        assert await converting == SINCE_PARTITIONING
    finally:
        await reader.close()
        await pool.close()
    assert partitioned(database_url)
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 103


def test_rolling_back_makes_one_plain_table_with_every_row(database_url) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO customers (id, name) VALUES ('rb', 'rb')")
        conn.execute("INSERT INTO api_keys (id, customer_id, kind, secret_hash, last4, lineage_id)"
                     " VALUES ('rbk', 'rb', 'master', '\\x01', 'abcd', 'rbk')")  # fmt: skip
        for month in (dt.date(2026, 1, 1), THIS_MONTH, LAST_MADE):
            conn.execute(
                "INSERT INTO usage_events (month, customer_id, key_id, provider, model, status,"
                " cost_source, cost_uc) SELECT %s, 'rb', 'rbk', 'openai', 'm', 'ok', 'reported',"
                " g FROM generate_series(1, 10) g",
                (month,),
            )
        ids = conn.execute("SELECT array_agg(id ORDER BY id) FROM usage_events").fetchone()[0]
    rollback(database_url, len(SINCE_PARTITIONING))
    assert not partitioned(database_url)
    migrate(database_url)  # and partitioned again
    with psycopg.connect(database_url) as conn:
        again = conn.execute("SELECT array_agg(id ORDER BY id) FROM usage_events").fetchone()[0]
        first = conn.execute(
            "SELECT to_month FROM kaixu_usage_partitions WHERE from_month IS NULL"
        ).fetchone()[0]
    assert again == ids
    assert first == next_month(LAST_MADE)  # past the latest row, whatever the date


async def test_partitions_are_made_ahead_and_the_events_page_reads_one(client, db) -> None:
    await db.execute("SELECT kaixu_usage_partitions_ensure(12)")
    months = await db.fetch("SELECT from_month FROM kaixu_usage_partitions"
                            " WHERE from_month IS NOT NULL ORDER BY from_month")  # fmt: skip
    assert len(months) >= 10 and months[-1]["from_month"] >= THIS_MONTH.replace(
        year=THIS_MONTH.year + 1
    )
    assert await db.fetchval("SELECT kaixu_usage_partitions_ensure(12)") == 0  # idempotent
    month = months[3]["from_month"]
    await db.execute(f"PREPARE events_page AS {SELECT_EVENTS}")
    # As asyncpg runs it: planned for these values, and once the plan is generic, pruned when run.
    plans = []
    for mode in ("force_custom_plan", "force_generic_plan"):
        await db.execute(f"SET plan_cache_mode = {mode}")
        rows = await db.fetch(f"EXPLAIN EXECUTE events_page('c', '{month}', NULL, NULL, 50)")
        plans.append("\n".join(row[0] for row in rows))
    await db.execute("RESET plan_cache_mode")
    names = [r["name"] for r in await db.fetch("SELECT name FROM kaixu_usage_partitions")]
    for plan in plans:
        scanned = {name for name in names if name in plan}
        assert scanned == {f"usage_events_{month:%Y_%m}"}, plan


async def invoice(client, customer_id: str, month: str) -> None:
    made = await client.post(f"/admin/api/customers/{customer_id}/invoices",
                             json={"month": month}, headers=ADMIN_HEADERS)  # fmt: skip
    assert made.status == 201, await made.text()


async def usage_of(client, customer_id: str, month: str) -> dict:
    got = await client.get(f"/admin/api/customers/{customer_id}/usage?month={month}",
                           headers=ADMIN_HEADERS)  # fmt: skip
    return await got.json()


async def test_retention_archives_and_drops_a_partition_only_once_its_months_are_invoiced(
    client, db, database_url, tmp_path
) -> None:
    first = await db.fetchrow("SELECT name, to_month FROM kaixu_usage_partitions"
                              " WHERE from_month IS NULL")  # fmt: skip
    # A day when the first partition (the months up to the one after next) is just past one
    # month of retention, and the partitions after it are not.
    future_today = next_month(first["to_month"]).replace(day=15)
    old_month, current = dt.date(2026, 1, 1), THIS_MONTH
    (c1, k1), (c2, k2) = await a_key(client), await a_key(client)
    for cid, kid in ((c1, k1), (c2, k2)):
        await insert_rows(db, cid, kid, old_month, 300)
    await insert_rows(db, c1, k1, current, 40)
    rows_before = await db.fetch("SELECT id, month, cost_uc FROM usage_events ORDER BY id")
    usage_before = await usage_of(client, c1, f"{old_month:%Y-%m}")
    archive = tmp_path / "archive"

    async def run() -> retention.Outcome:
        return await retention.retire(database_url, 1, archive, today=future_today)

    kept = await run()
    assert kept.retired == [] and f"{old_month:%Y-%m} not invoiced" in kept.waiting[first["name"]]
    await invoice(client, c1, f"{old_month:%Y-%m}")
    kept = await run()
    assert c2 in kept.waiting[first["name"]] and c1 not in kept.waiting[first["name"]]
    await invoice(client, c2, f"{old_month:%Y-%m}")
    await invoice(client, c1, f"{current:%Y-%m}")  # made before this month ends: not enough
    kept = await run()
    assert f"{current:%Y-%m} not invoiced after month end for {c1}" == kept.waiting[first["name"]]
    assert await db.fetchval("SELECT count(*) FROM usage_events") == len(rows_before)
    assert not list(archive.glob("*.csv"))  # nothing written for a partition that stays

    await db.execute(  # as if the invoice had been made after the month ended
        "UPDATE invoices SET created_at = $2::date + interval '1 month 1 day'"
        " WHERE customer_id = $1 AND month = $2", c1, current,
    )  # fmt: skip
    done = await run()
    assert done.retired == [first["name"]] and done.waiting == {}
    assert sorted(p.name for p in done.archives) == [f"usage-{old_month:%Y-%m}.csv",
                                                     f"usage-{current:%Y-%m}.csv"]  # fmt: skip

    # The archives hold every row, once; the table none of them.
    archived = {}
    for path in done.archives:
        with path.open(newline="") as f:
            archived.update({int(r["id"]): r for r in csv.DictReader(f)})
    assert sorted(archived) == [r["id"] for r in rows_before]
    cents = {r["id"]: r["cost_uc"] for r in rows_before}
    assert all(cents[i] == round(float(r["cost_cents"]) * 1_000_000) for i, r in archived.items())
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0
    retired = await db.fetch("SELECT month, rows, archive, sha256 FROM usage_retired_months"
                             " ORDER BY month")  # fmt: skip
    assert [(r["month"], r["rows"]) for r in retired] == [(old_month, 600), (current, 40)]
    for r in retired:
        content = await asyncio.to_thread(Path(r["archive"]).read_bytes)
        assert hashlib.sha256(content).hexdigest() == r["sha256"]

    # The books still add up: the usage panel and invoices read the rollups, which stay, and
    # the reconciliation leaves the retired months out.
    after = await usage_of(client, c1, f"{old_month:%Y-%m}")
    assert after["events"] == [] and usage_before["events"]
    assert {k: v for k, v in after.items() if "events" not in k and "next" not in k} == {
        k: v for k, v in usage_before.items() if "events" not in k and "next" not in k
    }
    assert await db_rollups.differences(db) == []
    again = await run()
    assert again.retired == [] and again.waiting == {}


async def test_retention_leaves_partitions_alone_when_another_process_is_at_it(
    database_url, tmp_path
) -> None:
    holder = await asyncpg.connect(database_url)
    try:
        assert await holder.fetchval(
            "SELECT pg_try_advisory_lock($1)", retention._RETENTION_LOCK_ID
        )
        outcome = await retention.retire(database_url, 0, tmp_path)
        assert outcome.busy and outcome.retired == []
    finally:
        await holder.close()


def test_first_kept_month() -> None:
    assert retention.first_kept_month(dt.date(2027, 3, 15), 3) == dt.date(2026, 12, 1)
    assert retention.first_kept_month(dt.date(2027, 1, 1), 0) == dt.date(2027, 1, 1)
    assert retention.first_kept_month(dt.date(2027, 1, 31), 13) == dt.date(2025, 12, 1)


def usage_command(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(tmp_path),
           "ADMIN_PASSWORD": "x" * 16, "KAIXU_SECRET": "s" * 40}  # fmt: skip
    env.pop("USAGE_RETENTION_MONTHS", None)
    return subprocess.run([sys.executable, "-m", "proxy", "usage", *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_usage_commands_list_partitions_and_retire_only_when_told_how_long(
    database_url, tmp_path
) -> None:
    listed = usage_command(database_url, tmp_path, "partitions")
    assert listed.returncode == 0, listed.stderr
    assert f"usage_events_{LAST_MADE:%Y_%m}: {LAST_MADE:%Y-%m} to before" in listed.stdout
    refused = usage_command(database_url, tmp_path, "retire")
    assert refused.returncode != 0 and "--keep-months" in refused.stderr
    done = usage_command(database_url, tmp_path, "retire", "--keep-months", "12")
    assert done.returncode == 0, done.stderr
    assert "0 partitions retired, 0 kept" in done.stdout  # nothing is a year old here
