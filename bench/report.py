"""Turns a BenchRun into markdown: the tables, the issue's targets, the list of failures."""

from __future__ import annotations

import math
from pathlib import Path

from bench import floor_report
from bench.model import MODES, BenchRun, Cell, WorkersRun

MARKER = "<!-- bench:generated: everything below this line is rewritten by `python -m bench` -->"

DEFAULT_INTRO = """\
# Benchmarks

How to read this: `make bench` (`python -m bench`, about 4 minutes) starts a fake OpenAI
upstream, an embedded PostgreSQL and the gateway as separate processes and drives them with
`wrk`. Each row puts the same load (same body, concurrency `c`, duration) once straight at the
fake (*direct*) and once through the gateway, which does all its real work on every request:
key auth, allowlists, device seat, rate limit, cap reservation, upstream call, settle, usage
row. The fake answers in well under a millisecond, so *added* latency (gateway minus direct,
same percentile, same `c`) and *gateway/direct* (ratio of requests per second) are the
gateway's own cost. *CPU/req* is the user + system CPU a process tree used during the row,
divided by the requests completed. Every process, wrk included, shares the machine's CPUs, and
*Outside load* says how busy other work kept them: compare runs on the same, idle machine.
`make bench-quick` (under a minute: c=1 and c=64, WORKERS=1) writes `bench-results/quick.md`
and leaves this file alone; `python -m bench --soak 1000000` adds the memory soak. Text above
the marker line is kept when the benchmark rewrites this file: put notes and profiles there.
"""

MODE_NAMES = {"chat": "non-stream", "stream": "stream", "tools": "tool calls",
              "messages": "Messages stream", "openai": "OpenAI route",
              "openai-stream": "OpenAI route stream"}  # fmt: skip
TARGET_RATIO = 0.25
TARGET_STREAMS_PER_S = 1000
TARGET_ADDED_MS = 1.0
TARGET_IDLE_MIB = 80
TARGET_SOAK_PERCENT = 10
BUSY_CPUS = 0.1  # outside load (in CPUs) above which a run's numbers get a warning


def replace_block(output: Path, name: str, lines: list[str]) -> None:
    """Write `lines` between the `<!-- name:start -->` and `<!-- name:end -->` markers of
    `output` (appended when they are missing): the blocks of bench.ledger and bench.capacity."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = output.read_text() if output.exists() else ""
    block = "\n".join([start, *lines, end])
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text += "\n" + block + "\n"
    output.write_text(text)


def intro_of(existing: str | None) -> str:
    """The hand-written part of an existing report (above the marker), else the default."""
    if existing and MARKER in existing:
        return existing.split(MARKER, 1)[0].rstrip() + "\n"
    return DEFAULT_INTRO


def ms(us: float) -> str:
    return "n/a" if math.isnan(us) else f"{us / 1000:.2f} ms"


def added_ms(gateway_us: float, direct_us: float) -> str:
    return f"{(gateway_us - direct_us) / 1000:+.2f} ms"


def rps(value: float) -> str:
    return f"{value:,.0f}"


def mib(kb: int) -> str:
    return f"{kb / 1024:.1f} MiB"


def cpu(cell: Cell, name: str) -> str:
    value = cell.cpu_ms_per_request(name)
    return "n/a" if value is None else f"{value:.3f} ms"


def ratio(gateway: Cell, direct: Cell) -> float:
    return gateway.wrk.rps / direct.wrk.rps if direct.wrk.rps else math.nan


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def throughput_table(run: BenchRun, workers: WorkersRun) -> str:
    rows = []
    for mode in MODES:
        for c in run.concurrencies:
            direct, gateway = run.direct_cell(mode, c), workers.cell(mode, c)
            if direct is None or gateway is None:
                continue
            d, g = direct.wrk, gateway.wrk
            rows.append(
                [
                    MODE_NAMES[mode],
                    str(c),
                    rps(d.rps),
                    rps(g.rps),
                    f"{ratio(gateway, direct):.2f}",
                    ms(d.p50_us),
                    ms(g.p50_us),
                    added_ms(g.p50_us, d.p50_us),
                    ms(d.p99_us),
                    ms(g.p99_us),
                    added_ms(g.p99_us, d.p99_us),
                    cpu(gateway, "gateway"),
                    cpu(gateway, "postgres"),
                    f"{d.non_2xx} / {g.non_2xx}",
                    f"{d.socket_error_count} / {g.socket_error_count}",
                    f"{direct.other_cpus:.2f} / {gateway.other_cpus:.2f}",
                ]
            )
    headers = [
        "mode", "c", "direct req/s", "gateway req/s", "gateway/direct", "direct p50",
        "gateway p50", "added p50", "direct p99", "gateway p99", "added p99",
        "gateway CPU/req", "PostgreSQL CPU/req", "non-2xx (d / g)", "socket errors (d / g)",
        "outside load, CPUs (d / g)",
    ]  # fmt: skip
    return table(headers, rows)


def ttfb_table(run: BenchRun) -> str:
    direct = run.direct_ttfb
    rows = []
    if direct is not None:
        n = len(direct.samples_s)
        rows.append(["direct", str(n), f"{direct.p50_ms:.2f} ms", f"{direct.p99_ms:.2f} ms"])
        rows[-1] += ["—", "—", str(direct.errors)]
    for workers in run.runs:
        t = workers.ttfb
        if t is None:
            continue
        row = [f"gateway, WORKERS={workers.workers}", str(len(t.samples_s))]
        row += [f"{t.p50_ms:.2f} ms", f"{t.p99_ms:.2f} ms"]
        if direct is not None:
            row += [f"{t.p50_ms - direct.p50_ms:+.2f} ms", f"{t.p99_ms - direct.p99_ms:+.2f} ms"]
        else:
            row += ["n/a", "n/a"]
        rows.append([*row, str(t.errors)])
    headers = ["target", "requests", "p50", "p99", "overhead p50", "overhead p99", "errors"]
    return table(headers, rows)


def log_level_table(run: BenchRun) -> str:
    rows = []
    for workers in run.runs:
        for cell in workers.cells:
            if cell.log_level == "WARNING":
                continue
            quiet = workers.cell(cell.mode, cell.concurrency)
            change = f"{(cell.wrk.rps / quiet.wrk.rps - 1) * 100:+.1f} %" if quiet else "n/a"
            rows.append(
                [
                    str(workers.workers),
                    MODE_NAMES[cell.mode],
                    str(cell.concurrency),
                    rps(quiet.wrk.rps) if quiet else "n/a",
                    rps(cell.wrk.rps),
                    change,
                    ms(cell.wrk.p50_us),
                    ms(cell.wrk.p99_us),
                    cpu(quiet, "gateway") if quiet else "n/a",
                    cpu(cell, "gateway"),
                    f"{cell.wrk.non_2xx} / {cell.wrk.socket_error_count}",
                    f"{quiet.other_cpus:.2f} / {cell.other_cpus:.2f}" if quiet else "n/a",
                ]
            )
    headers = [
        "WORKERS", "mode", "c", "req/s WARNING", "req/s INFO", "change", "p50 INFO",
        "p99 INFO", "CPU/req WARNING", "CPU/req INFO", "non-2xx / socket errors",
        "outside load, CPUs (WARNING / INFO)",
    ]  # fmt: skip
    return table(headers, rows)


def memory_table(run: BenchRun) -> str:
    rows = []
    for workers in run.runs:
        for i, (pid, idle) in enumerate(sorted(workers.idle_rss_kb.items()), 1):
            peak = workers.peak_rss_kb.get(pid)
            label = f"worker {i} (pid {pid})"
            rows.append([str(workers.workers), label, mib(idle), mib(peak) if peak else "n/a"])
        if workers.supervisor_rss_kb is not None:
            rows.append([str(workers.workers), "supervisor", mib(workers.supervisor_rss_kb), ""])
    return table(["WORKERS", "process", "idle RSS", "peak RSS after the runs (VmHWM)"], rows)


def export_table(run: BenchRun) -> str:
    rows = []
    for workers in run.runs:
        e = workers.export
        if e is None:
            continue
        per_s = e.rows / e.seconds if e.seconds else 0
        rows.append(
            [
                str(workers.workers),
                str(e.status),
                f"{e.rows:,}",
                f"{e.bytes / 1e6:.1f} MB",
                f"{e.seconds:.2f} s",
                rps(per_s),
                mib(e.rss_before_kb),
                mib(e.rss_peak_kb),
                f"{e.rss_increase_kb / 1024:+.1f} MiB",
                str(e.samples),
            ]
        )
    headers = [
        "WORKERS", "status", "rows", "bytes", "seconds", "rows/s", "RSS before", "RSS peak",
        "increase", "RSS samples",
    ]  # fmt: skip
    return table(headers, rows)


def soak_table(run: BenchRun) -> str:
    rows = []
    for workers in run.runs:
        s = workers.soak
        if s is None:
            continue
        for i, pid in enumerate(sorted(s.rss_end_kb), 1):
            rows.append(
                [
                    str(workers.workers),
                    f"{s.requests:,}",
                    f"{s.requests / s.seconds:,.0f}" if s.seconds else "n/a",
                    f"worker {i}",
                    mib(s.rss_warm_kb.get(pid, 0)),
                    mib(s.rss_end_kb[pid]),
                    f"{s.change_percent(pid):+.1f} %" if s.rss_warm_kb.get(pid) else "n/a",
                    str(s.failed),
                ]
            )
    headers = [
        "WORKERS", "requests", "req/s", "process",
        "RSS after warm-up", "RSS at end", "change", "failed",
    ]  # fmt: skip
    return table(headers, rows)


def targets(run: BenchRun) -> list[tuple[str, str, str, bool]]:
    """(what, measured, goal, met) for each of the issue's targets this run can judge."""
    found: list[tuple[str, str, str, bool]] = []
    top = max(run.concurrencies)
    for workers in run.runs:

        def add(what: str, measured: str, goal: str, met: bool, n: int = workers.workers) -> None:
            found.append((f"WORKERS={n}: {what}", measured, goal, met))

        direct, gateway = run.direct_cell("chat", top), workers.cell("chat", top)
        if direct and gateway:
            value = ratio(gateway, direct)
            add(
                f"non-stream gateway/direct req/s at c={top}",
                f"{value:.2f}",
                f"≥ {TARGET_RATIO}",
                value >= TARGET_RATIO,
            )
        if stream := workers.cell("stream", top):
            value = stream.wrk.rps
            goal = f"≥ {TARGET_STREAMS_PER_S:,}"
            add(f"streams/s at c={top}", rps(value), goal, value >= TARGET_STREAMS_PER_S)
        direct, gateway = run.direct_cell("chat", 1), workers.cell("chat", 1)
        if direct and gateway:
            value = (gateway.wrk.p50_us - direct.wrk.p50_us) / 1000
            goal = f"≤ {TARGET_ADDED_MS} ms"
            add("added p50 at c=1 (non-stream)", f"{value:.2f} ms", goal, value <= TARGET_ADDED_MS)
        if workers.ttfb and run.direct_ttfb:
            value = workers.ttfb.p50_ms - run.direct_ttfb.p50_ms
            goal = f"≤ {TARGET_ADDED_MS} ms"
            add("stream TTFB overhead p50 (c=1)", f"{value:.2f} ms", goal, value <= TARGET_ADDED_MS)
        if workers.idle_rss_kb:
            worst = max(workers.idle_rss_kb.values())
            goal = f"≤ {TARGET_IDLE_MIB} MiB"
            add("idle RSS per worker (largest)", mib(worst), goal, worst / 1024 <= TARGET_IDLE_MIB)
        if soak := workers.soak:
            changes = [
                abs(soak.change_percent(p)) for p in soak.rss_end_kb if soak.rss_warm_kb.get(p)
            ]
            value = max(changes, default=math.nan)
            add(
                f"RSS change over {soak.requests:,} requests (largest)",
                f"{value:.1f} %",
                f"± {TARGET_SOAK_PERCENT} %",
                value <= TARGET_SOAK_PERCENT,
            )
    return found


def failures(run: BenchRun) -> list[str]:
    """Every failed request of the run, per cell: why the benchmark exits non-zero."""
    found = []
    floor_cells = run.floor.cells if run.floor else []
    cells = [*run.direct, *floor_cells, *(cell for w in run.runs for cell in w.cells)]
    for cell in cells:
        where = cell.label + (f" LOG_LEVEL={cell.log_level}" if cell.log_level != "WARNING" else "")
        if any(cell is f for f in floor_cells):
            where = "floor: " + where
        elif cell.target == "gateway":
            where = where.replace("gateway", f"gateway WORKERS={_workers_of(run, cell)}", 1)
        if cell.wrk.non_2xx:
            found.append(f"{where}: {cell.wrk.non_2xx} non-2xx responses")
        if cell.wrk.socket_error_count:
            detail = ", ".join(f"{k} {v}" for k, v in cell.wrk.socket_errors.items() if v)
            found.append(f"{where}: socket errors ({detail})")
        if cell.wrk.requests == 0:
            found.append(f"{where}: no request completed")
    floor_ttfbs = [t for ts in run.floor.ttfb.values() for t in ts] if run.floor else []
    ttfbs = [run.direct_ttfb, *(w.ttfb for w in run.runs), *floor_ttfbs]
    for t in ttfbs:
        if t is not None and t.errors:
            found.append(f"TTFB {t.target}: {t.errors} failed requests")
    for w in run.runs:
        e = w.export
        if e is not None and e.status != 200:
            found.append(f"usage CSV export WORKERS={w.workers}: status {e.status}")
        if w.soak is not None and w.soak.failed:
            found.append(f"soak WORKERS={w.workers}: {w.soak.failed} failed requests")
    return found


def _workers_of(run: BenchRun, cell: Cell) -> int:
    return next((w.workers for w in run.runs if any(c is cell for c in w.cells)), 0)


def outside_load(run: BenchRun) -> str:
    """How busy the machine was with other work during the cells (it lowers every number)."""
    cells = [*run.direct, *(c for w in run.runs for c in w.cells)]
    if not cells:
        return ""
    worst = max(cells, key=lambda c: c.other_cpus)
    total_s = sum(c.wrk.duration_s for c in cells)
    mean = sum(c.other_cpu_s for c in cells) / total_s if total_s else 0.0
    text = (
        f"**Outside load:** other processes kept {mean:.2f} CPUs busy on average during the"
        f" runs (most: {worst.other_cpus:.2f} in {worst.label} {worst.log_level})."
    )
    if worst.other_cpus >= BUSY_CPUS:
        text += " The machine was not idle: these numbers are lower than an idle machine's."
    return text


def render_tables(run: BenchRun, failed: list[str]) -> str:
    """The generated part of the report (also what is printed to stdout)."""
    settings = " · ".join(f"{k}: {v}" for k, v in run.settings.items())
    target_rows = [
        [what, value, goal, "yes" if ok else "**no**"] for what, value, goal, ok in targets(run)
    ]
    parts = [
        f"## Run of {run.started}",
        "**Machine:** " + " · ".join(f"{k} {v}" for k, v in run.machine.items()),
        "**Versions:** " + " · ".join(f"{k} {v}" for k, v in run.versions.items()),
        f"**Settings:** {settings}",
        f"The whole run took {run.elapsed_s:.0f} s.",
        outside_load(run),
    ]
    if run.runs:
        headers = ["target", "measured", "goal", "met"]
        parts += ["### Targets (issue 6)", table(headers, target_rows)]
    if run.floor is not None:
        parts += floor_report.render(run.floor)
    for workers in run.runs:
        parts += [
            f"### Throughput and latency, WORKERS={workers.workers}",
            throughput_table(run, workers),
        ]
    if any(c.log_level != "WARNING" for w in run.runs for c in w.cells):
        title = "### The request log's cost (LOG_LEVEL=INFO: one JSON line per request)"
        parts += [title, log_level_table(run)]
    if run.direct_ttfb or any(w.ttfb for w in run.runs):
        parts += ["### Stream time to first byte (c=1, sequential requests)", ttfb_table(run)]
    if run.runs:
        parts += ["### Memory", memory_table(run)]
    if any(w.export for w in run.runs):
        parts += ["### Streamed usage CSV export", export_table(run)]
    if any(w.soak for w in run.runs):
        parts += ["### Soak (non-stream, c=64)", soak_table(run)]
    parts += ["### Failures", "\n".join(f"- {f}" for f in failed) if failed else "None."]
    return "\n\n".join(parts) + "\n"


def render(run: BenchRun, failed: list[str], existing: str | None) -> str:
    """The whole file: the kept (or default) intro, the marker, then the generated tables."""
    return intro_of(existing) + "\n" + MARKER + "\n\n" + render_tables(run, failed)
