"""One benchmark run: start the processes, measure every cell, write the report, exit code."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bench import admin, floor, machine, measure, procfs, procs, report, wrk
from bench.admin import Customer, SetupError
from bench.bodies import MAX_TOKENS, MODEL, direct_body, gateway_body
from bench.model import MODES, QUICK_MODES, BenchRun, Cell, Export, Soak, WorkersRun
from bench.probe import check, print_ttfb
from bench.procs import Child, StartError
from bench.wrk import WrkError
from db.embedded import EmbeddedPostgres, create_database

GATEWAY_PATHS = {
    "chat": "/v1/gateway/chat",
    "stream": "/v1/gateway/stream",
    "tools": "/v1/gateway/chat",
    "messages": "/anthropic/v1/messages",
}
UPSTREAM_KEY = "sk-bench"
EXPORT_ROWS = 100_000
SOAK_WARMUP = 20_000
SOAK_CHUNK_S = 60  # one wrk run of the soak at most: progress shows, and a stall shows early


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    quick: bool
    workers: list[int]
    concurrencies: list[int]
    duration_s: int
    output: Path
    soak: int = 0
    ttfb_requests: int = 200
    info_log: bool = True
    upstreams: int = 1  # OpenAI upstreams behind the gateway (all to the one fake)
    floor_only: bool = False  # only the floor (bench/floor.py), for quick comparisons


class BenchError(RuntimeError):
    """Something other than a request failed (a process, the setup): no numbers to report."""


@dataclasses.dataclass(slots=True)
class Gateway:
    child: Child
    base_url: str
    workers: list[int]  # the pids that serve (the process itself when WORKERS=1)

    def url(self, mode: str) -> str:
        return self.base_url + GATEWAY_PATHS[mode]


class Bench:
    """The processes and state of one run; each method measures one part of it."""

    def __init__(self, options: Options, tmp: Path, stack: contextlib.ExitStack) -> None:
        self.modes = QUICK_MODES if options.quick else MODES
        self.options = options
        self.tmp = tmp
        self.stack = stack
        self.password = secrets.token_urlsafe(18)
        self.secret = secrets.token_hex(32)
        self.fake_url = ""
        self.anthropic_url = ""
        self.postgres_pid = 0
        self.fake_pid = 0
        self.anthropic_pid = 0
        self.postgres: EmbeddedPostgres | None = None
        self.bare_pid = 0

    # -- processes ---------------------------------------------------------------------------

    def start_backends(self) -> str:
        """The fake upstream and PostgreSQL, started side by side; returns the server version."""
        fake = procs.start_fake(self.tmp)
        self.stack.callback(fake.stop)
        claude = procs.start_fake(self.tmp, "anthropic")
        self.stack.callback(claude.stop)
        self.postgres = EmbeddedPostgres(self.tmp / "pg")
        self.stack.callback(self.postgres.stop)
        floor.enable_statement_counts(self.postgres.admin_dsn)
        self.postgres.halt()  # started again with pg_stat_statements loaded
        self.postgres.ensure_running()
        floor.create_extension(self.postgres.admin_dsn)
        pid_file = (self.tmp / "pg" / "postmaster.pid").read_text()
        self.postgres_pid = int(pid_file.split()[0])
        self.fake_url = procs.fake_base_url(fake.wait_ready())
        self.fake_pid = fake.pid
        self.anthropic_url = procs.fake_base_url(claude.wait_ready())
        self.anthropic_pid = claude.pid
        return admin.server_version(self.postgres.dsn)

    def database(self, name: str) -> str:
        """A fresh database for each gateway: no run inherits the rows of another."""
        assert self.postgres is not None
        create_database(self.postgres.admin_dsn, name)
        return self.postgres.dsn_for(name)

    @contextlib.contextmanager
    def gateway(self, dsn: str, workers: int, log_level: str) -> Iterator[Gateway]:
        port = procs.free_port()
        name = f"gateway-w{workers}-{log_level.lower()}"
        settings = {
            "DATABASE_URL": dsn,
            "PORT": str(port),
            "WORKERS": str(workers),
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_BASE_URL": self.fake_url,
            "ANTHROPIC_API_KEY": UPSTREAM_KEY,
            "ANTHROPIC_BASE_URL": self.anthropic_url,
            "DEMO_PROVIDER": "false",
            "ADMIN_PASSWORD": self.password,
            "KAIXU_SECRET": self.secret,
            "LOG_LEVEL": log_level,
            "DATA_DIR": str(self.tmp / name),
        }
        # The log goes to a file, as an operator's would; it also explains a failed start.
        child = procs.start_gateway(settings, self.tmp / f"{name}.log")
        try:
            child.wait_ready()
            pids = procs.wait_for_workers(child, port, workers)
            yield Gateway(child, f"http://127.0.0.1:{port}", sorted(pids))
        except (WrkError, SetupError, OSError) as exc:
            # The gateway's log (its errors are logged at WARNING too) usually says why.
            code = child.proc.poll() if child.proc is not None else None
            state = "is running" if code is None else f"exited ({code})"
            raise BenchError(f"{exc}\nthe gateway {state}; its log ends:\n{child.tail()}") from exc
        finally:
            child.stop()

    # -- measurements ------------------------------------------------------------------------

    def cell(
        self,
        target: str,
        mode: str,
        c: int,
        url: str,
        body: bytes,
        auth: str,
        gateway: Gateway | None = None,
        log_level: str = "WARNING",
    ) -> Cell:
        # Every process of the benchmark is watched, so whatever else kept the CPUs busy
        # during the run can be told apart: the machine's busy time minus ours.
        trees = {"postgres": self.postgres_pid, "fake": self.fake_pid,
                 "fake_anthropic": self.anthropic_pid}  # fmt: skip
        if gateway is not None:
            trees["gateway"] = gateway.child.pid
        if self.bare_pid:
            trees["bare"] = self.bare_pid
        busy, own = procfs.machine_busy_seconds(), procfs.own_cpu_seconds()
        before = {name: procfs.tree_cpu_seconds(pid) for name, pid in trees.items()}
        result = wrk.run(url, body, c, self.options.duration_s, auth)
        after = {name: procfs.tree_cpu_seconds(pid) for name, pid in trees.items()}
        spent = {name: after[name] - before[name] for name in trees}
        busy, own = procfs.machine_busy_seconds() - busy, procfs.own_cpu_seconds() - own
        other = max(0.0, busy - own - sum(spent.values()))
        cell = Cell(target, mode, c, result, log_level, spent, other)
        gateway_cpu = cell.cpu_ms_per_request("gateway")
        cpu = f"  gateway CPU {gateway_cpu:.3f} ms/req" if gateway_cpu is not None else ""
        failed = ""
        if result.failed:
            failed = f"  FAILED: {result.non_2xx} non-2xx, socket errors {result.socket_errors}"
            if gateway is not None:  # its log says why, at WARNING too
                print(f"gateway log (last lines):\n{gateway.child.tail(10)}", file=sys.stderr)
        if cell.other_cpus >= report.BUSY_CPUS:
            failed += f"  (outside load: {cell.other_cpus:.2f} CPUs)"
        print(
            f"  {target:<8} {report.MODE_NAMES[mode]:<10} c={c:<3} {log_level:<7}"
            f" {result.rps:>9,.0f} req/s  p50 {result.p50_us / 1000:7.2f} ms"
            f"  p99 {result.p99_us / 1000:7.2f} ms{cpu}{failed}",
            flush=True,
        )
        return cell

    def direct_url(self, mode: str) -> str:
        if mode == "messages":
            return self.anthropic_url + "/v1/messages"
        return self.fake_url + "/chat/completions"

    def measure_direct(self, run: BenchRun) -> None:
        auth = f"Bearer {UPSTREAM_KEY}"
        for mode in self.modes:
            check(self.direct_url(mode), direct_body(mode), auth, mode, "direct")
        print("direct, against the fake upstream:", flush=True)
        for mode in self.modes:
            for c in self.options.concurrencies:
                url, body = self.direct_url(mode), direct_body(mode)
                run.direct.append(self.cell("direct", mode, c, url, body, auth))
        url = self.fake_url + "/chat/completions"
        run.direct_ttfb = measure.ttfb(
            "direct", url, direct_body("stream"), auth, self.options.ttfb_requests
        )
        print_ttfb(run.direct_ttfb)

    def setup_customer(self, gateway: Gateway, customer_id: str) -> Customer:
        for n in range(1, self.options.upstreams):  # the environment's key is the first
            admin.add_upstream(gateway.base_url, self.password, self.fake_url, f"bench-{n}")
        customer = admin.create_customer(gateway.base_url, self.password, customer_id)
        for mode in self.modes:
            check(gateway.url(mode), gateway_body(mode), customer.authorization, mode, "gateway")
        return customer

    def warm_up(self, gateway: Gateway, customer: Customer) -> None:
        # Fills the pools (database, upstream connections) and the per-process caches, so the
        # first cell does not pay for them; not recorded.
        top = max(self.options.concurrencies)
        for mode in self.modes:
            wrk.run(gateway.url(mode), gateway_body(mode), top, 1, customer.authorization)

    def measure_gateway(self, workers: int) -> WorkersRun:
        result = WorkersRun(workers)
        print(f"gateway, WORKERS={workers}:", flush=True)
        dsn = self.database(f"bench_w{workers}")
        with self.gateway(dsn, workers, "WARNING") as gateway:
            time.sleep(0.2)  # let the workers finish what they do right after listening
            result.idle_rss_kb = measure.rss_kb(gateway.workers)
            if workers > 1:
                result.supervisor_rss_kb = measure.rss_kb([gateway.child.pid])[gateway.child.pid]
            customer = self.setup_customer(gateway, "bench")
            self.warm_up(gateway, customer)
            auth = customer.authorization
            for mode in self.modes:
                for c in self.options.concurrencies:
                    url, body = gateway.url(mode), gateway_body(mode)
                    result.cells.append(self.cell("gateway", mode, c, url, body, auth, gateway))
            result.ttfb = measure.ttfb(
                f"gateway WORKERS={workers}",
                gateway.url("stream"),
                gateway_body("stream"),
                customer.authorization,
                self.options.ttfb_requests,
            )
            print_ttfb(result.ttfb)
            result.peak_rss_kb = measure.hwm_kb(gateway.workers)
            if self.options.soak:
                result.soak = self.soak(gateway, customer)
            result.export = self.export(gateway, dsn)
        return result

    def measure_info_log(self, result: WorkersRun) -> None:
        """The top concurrency again with LOG_LEVEL=INFO: what the request log costs."""
        top = max(self.options.concurrencies)
        dsn = self.database(f"bench_w{result.workers}_info")
        with self.gateway(dsn, result.workers, "INFO") as gateway:
            customer = self.setup_customer(gateway, "bench")
            self.warm_up(gateway, customer)
            auth = customer.authorization
            for mode in self.modes:
                url, body = gateway.url(mode), gateway_body(mode)
                cell = self.cell("gateway", mode, top, url, body, auth, gateway, "INFO")
                result.cells.append(cell)

    def export(self, gateway: Gateway, dsn: str) -> Export:
        # A customer of its own, so the export holds exactly EXPORT_ROWS rows whatever the
        # throughput of the cells before was.
        customer = admin.create_customer(gateway.base_url, self.password, "bench-export")
        admin.insert_usage_rows(dsn, customer, EXPORT_ROWS)
        result = measure.export_usage_csv(
            gateway.base_url, self.password, customer.id, gateway.workers
        )
        print(
            f"  usage CSV export: status {result.status}, {result.rows:,} rows,"
            f" {result.bytes / 1e6:.1f} MB in {result.seconds:.2f} s,"
            f" RSS +{result.rss_increase_kb / 1024:.1f} MiB",
            flush=True,
        )
        return result

    def soak(self, gateway: Gateway, customer: Customer) -> Soak:
        """Non-stream at the top concurrency until `options.soak` requests were served."""
        total, top = self.options.soak, max(self.options.concurrencies)
        url, body = gateway.url("chat"), gateway_body("chat")
        served = failed = 0
        rate = 1000.0  # requests/s, replaced by the measured rate after the first chunk
        warm: dict[int, int] = {}
        start = time.monotonic()
        while served < total:
            goal = SOAK_WARMUP if not warm else total
            seconds = max(1, min(SOAK_CHUNK_S, round((goal - served) / rate) + 1))
            result = wrk.run(url, body, top, seconds, customer.authorization)
            served, failed = served + result.requests, failed + result.failed
            rate = max(result.rps, 1.0)
            if not warm and served >= SOAK_WARMUP:
                warm = measure.rss_kb(gateway.workers)
            rss = ", ".join(f"{kb / 1024:.1f}" for kb in measure.rss_kb(gateway.workers).values())
            print(f"  soak: {served:,} requests, RSS {rss} MiB, failed {failed}", flush=True)
        end = measure.rss_kb(gateway.workers)
        return Soak(served, SOAK_WARMUP, time.monotonic() - start, failed, warm, end)


def describe(options: Options) -> dict[str, str]:
    return {
        "mode": "quick" if options.quick else "full",
        "duration per cell": f"{options.duration_s} s",
        "concurrency": ", ".join(map(str, options.concurrencies)),
        "WORKERS": ", ".join(map(str, options.workers)),
        "LOG_LEVEL": "WARNING"
        + (f" (and INFO at c={max(options.concurrencies)})" if options.info_log else ""),
        "wrk": "-t1 at c=1, -t2 above, --timeout 10s, bench/post.lua",
        "request": f"{MODEL}, max_tokens {MAX_TOKENS}, the fake's fixed 5-word reply",
        "TTFB requests": str(options.ttfb_requests),
        "OpenAI upstreams": str(options.upstreams),
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM too runs every `finally`: no process is left behind


def main(options: Options) -> int:
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed: apt-get install -y wrk (`make bench` does it)", file=sys.stderr
        )
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="kaixu-bench-"))
    run = BenchRun(
        settings=describe(options),
        machine=machine.machine(),
        versions={},
        started=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        concurrencies=options.concurrencies,
    )
    try:
        with contextlib.ExitStack() as stack:
            bench = Bench(options, tmp, stack)
            run.versions = machine.versions(bench.start_backends(), wrk.version())
            if not options.floor_only:
                bench.measure_direct(run)
            floor.measure(bench, run)
            for i, workers in enumerate([] if options.floor_only else options.workers):
                run.runs.append(bench.measure_gateway(workers))
                if i == 0 and options.info_log:
                    bench.measure_info_log(run.runs[-1])
    except (BenchError, StartError, SetupError, WrkError, OSError) as exc:
        print(f"\nbenchmark failed before it could finish: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: every process was stopped", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    run.elapsed_s = time.monotonic() - started
    failed = report.failures(run)
    print("\n" + report.render_tables(run, failed))
    existing = options.output.read_text() if options.output.exists() else None
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(report.render(run, failed, existing))
    print(f"report written to {options.output}")
    if failed:
        print("FAILED: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0
