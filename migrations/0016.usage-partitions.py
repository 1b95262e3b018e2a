"""Usage rows partitioned by month: the record of the months retention archived and dropped.

Applying it lets db/migrate.py convert usage_events into monthly partitions, online, right after
the migrations (db/partitioning.py: the swap must commit with the live functions that fit it).
Rolling it back turns usage_events into one plain table again, rows and ids kept (the rows of
retired months stay in their archives); it holds the table for as long as the copy takes.
"""

from yoyo import step

__depends__ = {"0015.usage-rollups"}

CREATE_RETIRED = """
CREATE TABLE usage_retired_months (
    month       date PRIMARY KEY,
    partition   text NOT NULL,         -- the partition that held it, now dropped
    rows        bigint NOT NULL,       -- usage rows of the month archived (and dropped)
    archive     text NOT NULL,         -- the CSV file they were written to
    sha256      text NOT NULL,         -- of that file
    retired_at  timestamptz NOT NULL DEFAULT now()
)
"""

# One plain table again, as migrations 0004-0015 left it. The live SQL's objects on the table
# go with it (CASCADE) and are re-created by the next migrate.
UNPARTITION = (
    "LOCK TABLE usage_events IN ACCESS EXCLUSIVE MODE",
    "CREATE TABLE usage_events_plain (LIKE usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
    "ALTER TABLE usage_events_plain ALTER COLUMN id DROP DEFAULT",
    "INSERT INTO usage_events_plain SELECT * FROM usage_events ORDER BY id",
    "DROP TABLE usage_events CASCADE",
    "ALTER TABLE usage_events_plain RENAME TO usage_events",
    "ALTER TABLE usage_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY",
    "SELECT setval(pg_get_serial_sequence('usage_events', 'id'),"
    " (SELECT coalesce(max(id), 0) + 1 FROM usage_events), false)",
    "ALTER TABLE usage_events ADD PRIMARY KEY (id)",
    "ALTER TABLE usage_events ADD UNIQUE (reservation_id)",
    "ALTER TABLE usage_events ADD FOREIGN KEY (customer_id) REFERENCES customers (id)",
    "ALTER TABLE usage_events ADD FOREIGN KEY (key_id) REFERENCES api_keys (id)",
    "CREATE INDEX usage_events_customer_idx ON usage_events (customer_id, created_at DESC)",
    "CREATE INDEX usage_events_month_idx ON usage_events (month, customer_id)",
    "CREATE INDEX usage_events_customer_month_id_idx ON usage_events (customer_id, month, id DESC)",
)
# Left by a conversion that stopped half-way (db/partitioning.py's first step).
DROP_PREPARED = (
    "ALTER TABLE usage_events DROP CONSTRAINT IF EXISTS usage_events_before_partitions",
    "DROP INDEX IF EXISTS usage_events_id_month_key",
    "DROP INDEX IF EXISTS usage_events_reservation_month_key",
)


def apply(conn) -> None:
    conn.cursor().execute(CREATE_RETIRED)


def rollback(conn) -> None:
    cursor = conn.cursor()
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass('usage_events')")
    partitioned = cursor.fetchone()[0] == "p"
    for statement in UNPARTITION if partitioned else DROP_PREPARED:
        cursor.execute(statement)
    cursor.execute("DROP TABLE usage_retired_months")


steps = [step(apply, rollback)]
