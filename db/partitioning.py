"""The one-time conversion of usage_events into a table partitioned by month, online.

A plain usage_events (every database before this release) becomes the first partition of a new
partitioned usage_events, as it is: no row is copied, so none can be lost or written twice, and
the ids go on from where they were. What takes time is done first, beside the live traffic:

1. `prepare` (autocommit): the unique indexes the partitioned table needs, (id, month) and
   (reservation_id, month), built CONCURRENTLY; a CHECK that every row's month is before the
   bound, added NOT VALID (a lock of milliseconds) and then validated, which reads the table
   without blocking writes.
2. `swap`, at the start of the live-SQL transaction (db/migrate.py): the table renamed to
   usage_events_until_YYYY_MM, attached to a new partitioned usage_events as the partition of
   every month before the bound (the validated CHECK spares the scan), the prepared indexes
   attached as the parent's, the monthly partitions from the bound on created. All of it is
   catalogue work; the live functions are re-created in the same transaction, so no settlement
   ever runs the old ones against the new table.

The swap's ACCESS EXCLUSIVE lock is requested with lock_timeout = 1 s: while it waits (behind a
long export, say), writers queue behind it, so it gives up after a second, lets them through and
tries again (`db.migrate.apply_live_sql`). Held, it lasts as long as the live SQL takes to load.

The bound is the first day of the month after next: rows of the current and the next month keep
going into the old table until the swap, however long the steps before it take.
"""

from __future__ import annotations

import datetime as dt
import re

import psycopg

LOCK_TIMEOUT = "1s"
PARTITIONS_AHEAD = 3  # monthly partitions of usage_events kept ready: this month and 3 more
SWAP_ATTEMPTS = 60  # a second each
BOUND_CHECK = "usage_events_before_partitions"
ID_MONTH_INDEX = "usage_events_id_month_key"
RESERVATION_MONTH_INDEX = "usage_events_reservation_month_key"
# The indexes a partition carries (the parent's, attached or created with each partition); the
# old ones not listed here are dropped at the swap: (month, customer_id) and (customer_id,
# created_at) served reads that the rollups and the (customer_id, month, id) index serve now.
CUSTOMER_MONTH_ID_INDEX = "usage_events_customer_month_id_idx"
CREATED_INDEX = "usage_events_created_idx"  # migration 0021: the overview's last hour


def is_partitioned(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass('usage_events')"
    ).fetchone()
    return row is not None and row[0] == "p"


def needs_conversion(conn: psycopg.Connection) -> bool:
    """A plain usage_events in a schema that has migration 0016 (which can undo the swap)."""
    if is_partitioned(conn):
        return False
    return conn.execute("SELECT to_regclass('usage_retired_months') IS NOT NULL").fetchone()[0]


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _month_after_next(today: dt.date) -> dt.date:
    return _next_month(_next_month(today))


def _bound_in_place(conn: psycopg.Connection) -> dt.date | None:
    row = conn.execute(
        "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint"
        " WHERE conrelid = 'usage_events'::regclass AND conname = %s",
        (BOUND_CHECK,),
    ).fetchone()
    if row is None:
        return None
    found = re.search(r"'(\d{4}-\d{2}-\d{2})'", row[0])
    return dt.date.fromisoformat(found.group(1)) if found and row[1] else None


def _valid_index(conn: psycopg.Connection, name: str) -> bool:
    """Whether `name` exists and is usable; an invalid leftover of an interrupted CONCURRENTLY
    build is dropped so that it is built again."""
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)", (name,)
    ).fetchone()
    if row is None:
        return False
    if not row[0]:
        conn.execute(f'DROP INDEX CONCURRENTLY "{name}"')
        return False
    return True


def _drop_foreign_keys(conn: psycopg.Connection) -> None:
    """The usage rows' foreign keys to customers and api_keys go (neither is ever deleted; the
    settlement writes only ids its admission checked): kept, the swap would have to lock those
    tables, which every request reads, in an order settlements take the other way round.

    Each drop locks its referenced table too (api_keys before usage_events, usage_events before
    customers, the orders a settlement mostly takes them in); a settlement that still meets it
    the other way round is a deadlock's victim at worst, which the settler retries."""
    for referenced, fk in (("api_keys", "usage_events_key_id_fkey"),
                           (None, "usage_events_customer_id_fkey")):  # fmt: skip
        present = conn.execute(
            "SELECT 1 FROM pg_constraint WHERE conrelid = 'usage_events'::regclass"
            " AND conname = %s",
            (fk,),
        ).fetchone()
        for attempt in range(SWAP_ATTEMPTS if present else 0):
            try:
                with conn.transaction():
                    conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                    if referenced:
                        conn.execute(f"LOCK TABLE {referenced} IN ACCESS EXCLUSIVE MODE")
                    conn.execute(f'ALTER TABLE usage_events DROP CONSTRAINT IF EXISTS "{fk}"')
                break
            except psycopg.errors.LockNotAvailable:
                if attempt == SWAP_ATTEMPTS - 1:
                    raise


def prepare(conn: psycopg.Connection, today: dt.date) -> dt.date:
    """Step 1 on an autocommit connection, idempotent; returns the bound."""
    assert conn.autocommit
    _drop_foreign_keys(conn)
    for name, columns in ((ID_MONTH_INDEX, "id, month"),
                          (RESERVATION_MONTH_INDEX, "reservation_id, month")):  # fmt: skip
        if not _valid_index(conn, name):
            conn.execute(f'CREATE UNIQUE INDEX CONCURRENTLY "{name}" ON usage_events ({columns})')
    # Built here, without blocking writers, so the swap attaches it instead of building it
    # under the table's lock (seconds at 10M rows: every settlement would wait for it).
    if not _valid_index(conn, CREATED_INDEX):
        conn.execute(f'CREATE INDEX CONCURRENTLY "{CREATED_INDEX}" ON usage_events (created_at)')
    # Past next month, and past any row already written for a later month.
    latest = conn.execute("SELECT max(month) FROM usage_events").fetchone()[0]
    wanted = max(_month_after_next(today), _next_month(latest) if latest else today)
    bound = _bound_in_place(conn)
    # A bound left by an earlier attempt is kept only while it is still the one wanted.
    if bound != wanted:
        bound = wanted
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            conn.execute(f'ALTER TABLE usage_events DROP CONSTRAINT IF EXISTS "{BOUND_CHECK}"')
            conn.execute(
                f'ALTER TABLE usage_events ADD CONSTRAINT "{BOUND_CHECK}"'
                f" CHECK (month < '{bound.isoformat()}'::date) NOT VALID"
            )
        conn.execute(f'ALTER TABLE usage_events VALIDATE CONSTRAINT "{BOUND_CHECK}"')
    return bound


def _legacy_name(bound: dt.date) -> str:
    last = bound - dt.timedelta(days=1)
    return f"usage_events_until_{last:%Y_%m}"


def swap(conn: psycopg.Connection, bound: dt.date) -> str:
    """Step 2, inside the caller's transaction (which then loads the live SQL); returns the
    name the old table has as a partition. Raises psycopg.errors.LockNotAvailable when the
    table's lock is not had within LOCK_TIMEOUT."""
    legacy = _legacy_name(bound)
    conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    conn.execute("LOCK TABLE usage_events IN ACCESS EXCLUSIVE MODE")
    # What refers to the table itself (not by name) is re-created by the live SQL on the new one.
    conn.execute("DROP VIEW IF EXISTS kaixu_rollups_from_rows")
    conn.execute("DROP TRIGGER IF EXISTS usage_rollup_rows ON usage_events")
    conn.execute("DROP TRIGGER IF EXISTS usage_rollup_truncate ON usage_events")
    conn.execute("DROP FUNCTION IF EXISTS kaixu_rollup_change(usage_events, integer)")
    next_id = conn.execute(
        "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END"
        " FROM usage_events_id_seq"
    ).fetchone()[0]
    conn.execute(f'ALTER TABLE usage_events RENAME TO "{legacy}"')
    # An identity column cannot be a partition's own: the ids go on from a plain sequence.
    conn.execute(f'ALTER TABLE "{legacy}" ALTER COLUMN id DROP IDENTITY')
    conn.execute(f'ALTER TABLE "{legacy}" DROP CONSTRAINT usage_events_pkey')
    conn.execute(f'ALTER TABLE "{legacy}" DROP CONSTRAINT usage_events_reservation_id_key')
    conn.execute("DROP INDEX IF EXISTS usage_events_customer_idx, usage_events_month_idx")
    for name in (ID_MONTH_INDEX, RESERVATION_MONTH_INDEX):
        conn.execute(f'ALTER TABLE "{legacy}" ADD CONSTRAINT "{legacy}_{name[13:]}"'
                     f' UNIQUE USING INDEX "{name}"')  # fmt: skip
    conn.execute(f'ALTER INDEX "{CUSTOMER_MONTH_ID_INDEX}" RENAME TO "{legacy}_customer_month_id"')
    conn.execute(f'ALTER INDEX IF EXISTS "{CREATED_INDEX}" RENAME TO "{legacy}_created"')

    conn.execute(
        f'CREATE TABLE usage_events (LIKE "{legacy}" INCLUDING DEFAULTS) PARTITION BY RANGE (month)'
    )
    conn.execute("CREATE SEQUENCE usage_events_id_seq AS bigint OWNED BY usage_events.id")
    conn.execute("SELECT setval('usage_events_id_seq', %s, false)", (next_id,))
    conn.execute(
        "ALTER TABLE usage_events ALTER COLUMN id SET DEFAULT nextval('usage_events_id_seq')"
    )
    # The CHECKs the old table has (by their names there): a partition must have its parent's.
    checks = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'c' AND conname <> %s",
        (legacy, BOUND_CHECK),
    ).fetchall()
    for name, definition in checks:
        conn.execute(f'ALTER TABLE usage_events ADD CONSTRAINT "{name}" {definition}')
    conn.execute(
        f'ALTER TABLE usage_events ATTACH PARTITION "{legacy}"'
        f" FOR VALUES FROM (MINVALUE) TO ('{bound.isoformat()}')"
    )
    conn.execute(f'ALTER TABLE "{legacy}" DROP CONSTRAINT "{BOUND_CHECK}"')
    # Each finds its match on the partition and attaches it: nothing is built or validated.
    conn.execute("ALTER TABLE usage_events ADD PRIMARY KEY (id, month)")
    conn.execute(
        f'ALTER TABLE usage_events ADD CONSTRAINT "{RESERVATION_MONTH_INDEX}"'
        " UNIQUE (reservation_id, month)"
    )
    conn.execute(
        f'CREATE INDEX "{CUSTOMER_MONTH_ID_INDEX}" ON usage_events (customer_id, month, id DESC)'
    )
    conn.execute(f'CREATE INDEX "{CREATED_INDEX}" ON usage_events (created_at)')
    return legacy
