"""The capacity benchmark: N gateway processes (separate servers, as on N hosts) on one
PostgreSQL, driven together; what each request costs the gateway and the database, and how
many database transactions it takes.

    python -m bench.capacity [--processes 1,2] [--concurrency 64] [--duration 10]
                             [--output docs/benchmarks.md]

Every process gets an equal share of the concurrency (one wrk each, at the same time). The
figures replace the block between the `capacity:` markers of the output file; docs/scaling.md
turns them into the capacity model.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import tempfile
from pathlib import Path

import psycopg

from bench import admin, procfs, procs, wrk
from bench.bodies import gateway_body
from bench.report import replace_block
from db.embedded import EmbeddedPostgres, create_database
from db.migrate import migrate

PASSWORD = "capacity-bench-password"
# Transactions the database committed or rolled back, all sessions of the database.
TRANSACTIONS = (
    "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    processes: int
    concurrency: int
    requests: int
    seconds: float
    gateway_cpu_s: float
    postgres_cpu_s: float
    transactions: int
    other_cpus: float
    failed: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def per_request_ms(self, cpu_s: float) -> float:
        return cpu_s * 1000 / max(self.requests, 1)


def transactions(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(conn.execute(TRANSACTIONS).fetchone()[0])


def measure(dsn: str, gateways: list[tuple[procs.Child, str, str]], postgres_pid: int,
            concurrency: int, duration_s: int) -> Row:  # fmt: skip
    """One wrk per gateway at once, `concurrency` shared among them."""
    share = max(1, concurrency // len(gateways))
    body = gateway_body("chat")
    pids = [child.pid for child, _url, _auth in gateways]
    busy, own = procfs.machine_busy_seconds(), procfs.own_cpu_seconds()
    gateway_before = sum(procfs.tree_cpu_seconds(pid) for pid in pids)
    postgres_before = procfs.tree_cpu_seconds(postgres_pid)
    xacts_before = transactions(dsn)
    with concurrent.futures.ThreadPoolExecutor(len(gateways)) as pool:
        runs = list(pool.map(lambda g: wrk.run(g[1] + "/v1/gateway/chat", body, share,
                                               duration_s, g[2]), gateways))  # fmt: skip
    xacts = transactions(dsn) - xacts_before
    gateway_cpu = sum(procfs.tree_cpu_seconds(pid) for pid in pids) - gateway_before
    postgres_cpu = procfs.tree_cpu_seconds(postgres_pid) - postgres_before
    busy, own = procfs.machine_busy_seconds() - busy, procfs.own_cpu_seconds() - own
    spent = gateway_cpu + postgres_cpu
    seconds = max(r.duration_s for r in runs)
    other = max(0.0, busy - own - spent) / seconds  # wrk and the fake included
    return Row(len(gateways), share * len(gateways), sum(r.requests for r in runs), seconds,
               gateway_cpu, postgres_cpu, xacts, other, sum(r.failed for r in runs))  # fmt: skip


def run(processes: list[int], concurrency: int, duration_s: int) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp_dir, contextlib.ExitStack() as stack:
        tmp = Path(tmp_dir)
        postgres = EmbeddedPostgres(tmp / "pg")
        stack.callback(postgres.stop)
        postgres_pid = int((tmp / "pg" / "postmaster.pid").read_text().split()[0])
        fake = procs.start_fake(tmp)
        stack.callback(fake.stop)
        fake_url = procs.fake_base_url(fake.wait_ready())
        for n in processes:
            name = f"capacity_{n}"
            create_database(postgres.admin_dsn, name)
            dsn = postgres.dsn_for(name)
            migrate(dsn)
            with contextlib.ExitStack() as servers:
                gateways = []
                for i in range(n):
                    port = procs.free_port()
                    child = procs.start_gateway(
                        {"DATABASE_URL": dsn, "PORT": str(port), "WORKERS": "1",
                         "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake_url,
                         "DEMO_PROVIDER": "false", "ADMIN_PASSWORD": PASSWORD,
                         "KAIXU_SECRET": "c" * 64, "LOG_LEVEL": "WARNING",
                         "DATA_DIR": str(tmp / f"{name}-{i}")},
                        tmp / f"{name}-{i}.log",
                    )  # fmt: skip
                    servers.callback(child.stop)
                    child.wait_ready()
                    procs.wait_for_workers(child, port, 1)
                    base = f"http://127.0.0.1:{port}"
                    customer = admin.create_customer(base, PASSWORD, f"cap{i}")
                    gateways.append((child, base, customer.authorization))
                measure(dsn, gateways, postgres_pid, concurrency, 2)  # warm up
                row = measure(dsn, gateways, postgres_pid, concurrency, duration_s)
                rows.append(row)
                print(f"  {n} process(es), c={row.concurrency}: {row.rps:,.0f} req/s,"
                      f" gateway {row.per_request_ms(row.gateway_cpu_s):.3f} ms CPU/req,"
                      f" PostgreSQL {row.per_request_ms(row.postgres_cpu_s):.3f} ms CPU/req,"
                      f" {row.transactions / max(row.requests, 1):.2f} transactions/req",
                      flush=True)  # fmt: skip
    return rows


def report(rows: list[Row], duration_s: int) -> list[str]:
    lines = [
        f"### Capacity benchmark ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC,"
        " `python -m bench.capacity`)",
        "",
        "N gateway processes (WORKERS=1 each, separate servers) on one PostgreSQL, non-stream"
        " `/v1/gateway/chat` against the fake upstream, one wrk per process at once,"
        f" {duration_s} s."
        " *Transactions/req*: the database's committed and rolled-back transactions (every"
        " session: admissions, settlements, heartbeats) per request; each is one round trip.",
        "",
        "| processes | c (total) | req/s | gateway CPU/req | PostgreSQL CPU/req |"
        " transactions/req | failed | other CPU (wrk, fake), CPUs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gateway, postgres = r.per_request_ms(r.gateway_cpu_s), r.per_request_ms(r.postgres_cpu_s)
        lines.append(
            f"| {r.processes} | {r.concurrency} | {r.rps:,.0f} | {gateway:.3f} ms |"
            f" {postgres:.3f} ms | {r.transactions / max(r.requests, 1):.2f} | {r.failed} |"
            f" {r.other_cpus:.2f} |"
        )
    return lines


def main() -> int:
    def numbers(text: str) -> list[int]:
        return [int(part) for part in text.split(",") if part.strip()]

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=numbers, default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args()
    lines = report(run(args.processes, args.concurrency, args.duration), args.duration)
    replace_block(args.output, "capacity", lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
