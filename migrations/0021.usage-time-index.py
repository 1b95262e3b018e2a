"""The usage rows by time: the admin overview's requests per minute and errors per provider read
only the last hour's rows through it (db/overview.py), never a month's partition whole.

Built without blocking writers (settlements insert usage rows all the time): outside a
transaction, CONCURRENTLY on each partition, then attached to an index made ON ONLY the
partitioned parent, which every partition made later inherits (kaixu_usage_partitions_ensure).
A table not partitioned yet gets it CONCURRENTLY too, and db/partitioning.py's swap attaches
it. A build cut short leaves an invalid index, which the next migrate drops and builds again.
"""

from yoyo import step

__depends__ = {"0020.alerts"}
__transactional__ = False

INDEX = "usage_events_created_idx"


def _valid(cur, name: str) -> bool:
    cur.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (name,))
    row = cur.fetchone()
    if row is not None and not row[0]:
        cur.execute(f'DROP INDEX CONCURRENTLY "{name}"')
        return False
    return row is not None


def apply(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT relkind FROM pg_class WHERE oid = 'usage_events'::regclass")
        if cur.fetchone()[0] != "p":
            if not _valid(cur, INDEX):
                cur.execute(f'CREATE INDEX CONCURRENTLY "{INDEX}" ON usage_events (created_at)')
            return
        cur.execute(f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON ONLY usage_events (created_at)')
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'usage_events'::regclass ORDER BY c.relname"
        )
        for (partition,) in cur.fetchall():
            name = f"{partition}_created_idx"
            if not _valid(cur, name):
                cur.execute(f'CREATE INDEX CONCURRENTLY "{name}" ON "{partition}" (created_at)')
            cur.execute(
                "SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(%s)"
                " AND inhparent = to_regclass(%s)",
                (name, INDEX),
            )
            if cur.fetchone() is None:
                cur.execute(f'ALTER INDEX "{INDEX}" ATTACH PARTITION "{name}"')


def rollback(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(f'DROP INDEX IF EXISTS "{INDEX}"')


steps = [step(apply, rollback)]
