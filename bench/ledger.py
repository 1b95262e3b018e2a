"""The ledger benchmark: a usage table of millions of rows (COPY), then the admin's heavy reads
beside it, and the hot path beside it (against an empty table, in the same run).

    python -m bench.ledger [--rows 10000000] [--big 3000000] [--output docs/benchmarks.md]

100 customers over 3 months; the customer `big` holds `--big` rows in the current month. The
figures replace the block between the `ledger:` markers of the output file.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg

from bench import admin, measure, procs, wrk
from bench.bodies import gateway_body
from bench.report import replace_block
from db.embedded import EmbeddedPostgres, create_database
from db.migrate import apply_live_sql, migrate, rollback

CUSTOMERS = 100
PASSWORD = "ledger-bench-password"
COLUMNS = (
    "created_at, month, customer_id, key_id, provider, model, upstream_model, input_tokens,"
    " output_tokens, cost_uc, status, cost_source, latency_ms, request_id"
)
MODELS = ("gpt-4o-mini", "gpt-4.1-nano", "gpt-4o")


def months(today: dt.date) -> list[dt.date]:
    first = today.replace(day=1)
    earlier = (first - dt.timedelta(days=1)).replace(day=1)
    return [(earlier - dt.timedelta(days=1)).replace(day=1), earlier, first]


def row_plan(
    today: dt.datetime, rows: int, big: int
) -> Iterator[tuple[dt.datetime, dt.date, bool]]:
    """(time, month, is the big customer's) of each row, oldest first, as a live gateway writes
    them (ids follow time): the two earlier months' rows, then this month's with the big
    customer's spread evenly among the others'."""
    others = (rows - big) // 3
    for index, month in enumerate(months(today.date())):
        start = dt.datetime.combine(month, dt.time(), dt.UTC)
        current = index == 2
        count = others + big if current else others
        end = today if current else start + dt.timedelta(days=28)
        step = (end - start) / max(count, 1)
        for j in range(count):
            mine = current and (j * big) // count != ((j + 1) * big) // count
            yield start + step * j, month, mine


def load_rows(dsn: str, keys: dict[str, str], rows: int, big: int) -> float:
    """COPY `rows` usage rows (the rollup trigger off, the rollups derived after); seconds."""
    today = dt.datetime.now(dt.UTC)
    spread = [c for c in keys if c != "big"]
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE usage_events DISABLE TRIGGER USER")
        with conn.cursor().copy(f"COPY usage_events ({COLUMNS}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for g, (at, month, mine) in enumerate(row_plan(today, rows, big)):
                customer = "big" if mine else spread[g % len(spread)]
                model = MODELS[g % 3]
                buffer.write(
                    f"{at.isoformat()}\t{month}\t{customer}\t{keys[customer]}\topenai\t{model}"
                    f"\t{model}\t{10 + g % 90}\t{4 + g % 60}\t{2400 + g % 1000}\tok\treported"
                    f"\t{1 + g % 40}\tledger-{g}\n"
                )
                if g % 50_000 == 49_999:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        conn.execute("ALTER TABLE usage_events ENABLE TRIGGER USER")
        conn.execute("TRUNCATE usage_rollups")
        conn.execute("INSERT INTO usage_rollups SELECT * FROM kaixu_rollups_from_rows")
        conn.execute("VACUUM ANALYZE usage_events")
        conn.execute("VACUUM ANALYZE usage_rollups")
    return time.perf_counter() - started


def since_partitioning() -> int:
    """How many migrations there are from 0016 (the partitioning) on."""
    folder = Path(__file__).parents[1] / "migrations"
    names = {p.name.split(".")[0] for p in folder.glob("00*") if ".rollback." not in p.name}
    return len([name for name in names if name >= "0016"])


def as_before_partitioning(dsn: str) -> None:
    """The schema as the release before partitioning left it: one plain usage_events (every
    migration from 0016 on rolled back; the next migrate applies them again, then partitions)."""
    rollback(dsn, since_partitioning())
    with psycopg.connect(dsn, autocommit=True) as conn:
        apply_live_sql(conn)


def convert_under_writes(dsn: str, customer: str, key: str) -> dict[str, float]:
    """Migrate (the online conversion into monthly partitions) while another connection
    writes one usage row after another; the longest a single write waited is how long the
    conversion held the table."""
    stop = threading.Event()
    waits: list[float] = []

    def write() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not stop.is_set():
                started = time.perf_counter()
                conn.execute(
                    "INSERT INTO usage_events (month, customer_id, key_id, provider, model,"
                    " status, cost_source) VALUES (date_trunc('month', now())::date, %s, %s,"
                    " 'openai', 'gpt-4o-mini', 'ok', 'reported')",
                    (customer, key),
                )
                waits.append((time.perf_counter() - started) * 1000)

    writer = threading.Thread(target=write)
    writer.start()
    started = time.perf_counter()
    try:
        migrate(dsn)
    finally:
        stop.set()
        writer.join()
    return {"seconds": time.perf_counter() - started, "writes": len(waits),
            "max_wait_ms": max(waits), "p99_wait_ms": p(waits, 99)}  # fmt: skip


def bytes_per_row(dsn: str) -> float:
    """The usage table's size on disk, indexes included, per row."""
    with psycopg.connect(dsn) as conn:
        size, rows = conn.execute(
            "SELECT sum(pg_total_relation_size(relid)), (SELECT count(*) FROM usage_events)"
            " FROM pg_partition_tree('usage_events') WHERE isleaf"
        ).fetchone()
    return int(size) / max(int(rows), 1)


def timed(call, times: int) -> list[float]:
    """Milliseconds of each of `times` calls."""
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def get(url: str) -> None:
    request = urllib.request.Request(url, headers={"X-Admin-Password": PASSWORD})
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def row(name: str, ms: list[float], goal: str) -> str:
    return f"| {name} | {len(ms)} | {p(ms, 50):,.1f} ms | {p(ms, 99):,.1f} ms | {goal} |"


def admin_reads(base: str, workers: list[int]) -> dict[str, object]:
    """The heavy reads of the big customer's month, timed (after 3 calls to warm up)."""
    month = months(dt.date.today())[-1].strftime("%Y-%m")
    usage = f"{base}/admin/api/customers/big/usage?month={month}"
    timed(lambda: get(usage), 3)
    invoice = urllib.request.Request(
        f"{base}/admin/api/customers/big/invoices", method="POST",
        data=f'{{"month": "{month}"}}'.encode(),
        headers={"X-Admin-Password": PASSWORD, "Content-Type": "application/json"},
    )  # fmt: skip
    return {
        "usage": timed(lambda: get(usage), 50),
        "customers": timed(lambda: get(f"{base}/admin/api/customers"), 50),
        "overview": timed(lambda: get(f"{base}/admin/api/overview"), 50),
        "invoice": timed(lambda: urllib.request.urlopen(invoice).read(), 10),
        "export": measure.export_usage_csv(base, PASSWORD, "big", workers),
    }


def hot_path_rps(base: str, authorization: str, seconds: int = 5) -> tuple[float, float]:
    """Non-stream req/s at c=16 and c=1 through the gateway."""
    url, body = base + "/v1/gateway/chat", gateway_body("chat")
    return (
        wrk.run(url, body, 16, seconds, authorization).rps,
        wrk.run(url, body, 1, seconds, authorization).rps,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--big", type=int, default=3_000_000)
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_dir, contextlib.ExitStack() as stack:
        tmp = Path(tmp_dir)
        postgres = EmbeddedPostgres(tmp / "pg")
        stack.callback(postgres.stop)
        fake = procs.start_fake(tmp)
        stack.callback(fake.stop)
        fake_url = procs.fake_base_url(fake.wait_ready())
        results: dict[str, object] = {}
        for name in ("empty", "loaded"):
            create_database(postgres.admin_dsn, f"ledger_{name}")
            dsn = postgres.dsn_for(f"ledger_{name}")
            migrate(dsn)
            port = procs.free_port()
            environment = {
                "DATABASE_URL": dsn, "PORT": str(port), "OPENAI_API_KEY": "sk-bench",
                "OPENAI_BASE_URL": fake_url, "DEMO_PROVIDER": "false", "ADMIN_PASSWORD": PASSWORD,
                "KAIXU_SECRET": "l" * 64, "LOG_LEVEL": "WARNING", "DATA_DIR": str(tmp / name),
            }  # fmt: skip
            child = procs.start_gateway(environment, tmp / f"{name}.log")
            try:
                child.wait_ready()
                workers = procs.wait_for_workers(child, port, 1)
                base = f"http://127.0.0.1:{port}"
                keys = {}
                for i in range(CUSTOMERS):
                    customer = admin.create_customer(
                        base, PASSWORD, "big" if i == 0 else f"c{i:03d}"
                    )
                    keys[customer.id] = customer.key_id
                bench_customer = admin.create_customer(base, PASSWORD, "bench")
                if name == "loaded":
                    # The rows go into the plain table of an earlier release, which the next
                    # migrate partitions online, as an upgrade would.
                    child.stop()
                    as_before_partitioning(dsn)
                    print(f"loading {args.rows:,} rows…", flush=True)
                    results["load_s"] = load_rows(dsn, keys, args.rows, args.big)
                    print("partitioning them…", flush=True)
                    results["convert"] = convert_under_writes(dsn, "c001", keys["c001"])
                    results["bytes_per_row"] = bytes_per_row(dsn)
                    child = procs.start_gateway(environment, tmp / f"{name}-2.log")
                    child.wait_ready()
                    workers = procs.wait_for_workers(child, port, 1)
                    results.update(admin_reads(base, workers))
                hot_path_rps(base, bench_customer.authorization, 2)  # warm up
                results[f"{name}_rps"] = hot_path_rps(base, bench_customer.authorization)
            finally:
                child.stop()
        lines = report(args, results)
    replace_block(args.output, "ledger", lines)
    print("\n".join(lines))
    return 0


def report(args: argparse.Namespace, r: dict) -> list[str]:
    export = r["export"]
    empty, loaded = r["empty_rps"], r["loaded_rps"]
    return [
        f"### Ledger benchmark ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC,"
        " `python -m bench.ledger`)",
        "",
        f"{args.rows:,} usage rows loaded by COPY in {r['load_s']:.0f} s (rollups derived"
        f" after) across 3 months and {CUSTOMERS} customers; `big` holds {args.big:,} of them"
        " in the current month.",
        "",
        f"Partitioned online by the next migrate (the table as an earlier release left it):"
        f" {r['convert']['seconds']:.0f} s in all, while one connection wrote"
        f" {r['convert']['writes']:,} usage rows one after another; the longest any of them"
        f" waited was {r['convert']['max_wait_ms']:,.0f} ms (p99"
        f" {r['convert']['p99_wait_ms']:.1f} ms): the swap's lock. On disk, indexes included:"
        f" {r['bytes_per_row']:.0f} bytes per usage row.",
        "",
        "| what | calls | p50 | p99 | goal |",
        "|---|---|---|---|---|",
        row("usage endpoint, `big`, this month", r["usage"], "≤ 50 ms"),
        row("invoice snapshot, `big`, this month", r["invoice"], "≤ 500 ms"),
        row("customers list", r["customers"], "≤ 100 ms"),
        row(
            f"overview (all {CUSTOMERS} customers, the dashboard's landing page)",
            r["overview"],
            "≤ 100 ms",
        ),
        "",
        f"Usage CSV of `big` (every month): {export.rows:,} rows in {export.seconds:.1f} s"
        f" ({export.rows / max(export.seconds, 1e-9):,.0f} rows/s), RSS"
        f" {export.rss_before_kb / 1024:.1f} → {export.rss_peak_kb / 1024:.1f} MiB.",
        "",
        "| hot path, non-stream | c=16 req/s | c=1 req/s |",
        "|---|---|---|",
        f"| empty usage table | {empty[0]:,.0f} | {empty[1]:,.0f} |",
        f"| beside {args.rows:,} rows | {loaded[0]:,.0f} | {loaded[1]:,.0f} |",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
