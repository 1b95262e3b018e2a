"""Pure functions of the benchmark harness: wrk output, /proc text, statistics, the report."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench import floor_report, machine, procfs, report
from bench.__main__ import parse
from bench.floor import FloorRun, Statements
from bench.model import BenchRun, Cell, Export, Soak, Ttfb, WorkersRun, percentile
from bench.wrk import WrkError, WrkResult, parse_output, parse_time_us

# Captured from Debian's wrk 4.1 against the fake OpenAI upstream.
WRK_OK = """\
Running 1s test @ http://127.0.0.1:18555/v1/chat/completions
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   125.37us  219.14us   3.24ms   95.86%
    Req/Sec    11.04k     4.76k   16.62k    54.55%
  Latency Distribution
     50%   58.00us
     75%  144.00us
     90%  162.00us
     99%    1.33ms
  12094 requests in 1.10s, 9.67MB read
Requests/sec:  10994.98
Transfer/sec:      8.79MB
"""
WRK_NON_2XX = """\
Running 1s test @ http://127.0.0.1:18555/v1/chat/completions
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   727.08us  628.25us   8.55ms   91.03%
    Req/Sec    12.60k     4.29k   22.03k    61.90%
  Latency Distribution
     50%  576.00us
     75%  721.00us
     90%    1.25ms
     99%    3.46ms
  26342 requests in 1.10s, 15.02MB read
  Non-2xx or 3xx responses: 26342
Requests/sec:  23961.13
Transfer/sec:     13.66MB
"""
WRK_SOCKET_ERRORS = """\
Running 3s test @ http://127.0.0.1:18555/v1/chat/completions
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   592.30us  173.85us   4.20ms   83.01%
    Req/Sec     6.21k     2.05k    8.03k    90.91%
  Latency Distribution
     50%  522.00us
     75%  645.00us
     90%  824.00us
     99%    0.95ms
  13601 requests in 3.10s, 10.87MB read
  Socket errors: connect 0, read 8, write 504390, timeout 0
Requests/sec:   4383.39
Transfer/sec:      3.50MB
"""
WRK_SECONDS = """\
Running 3s test @ http://127.0.0.1:18555/v1/chat/completions
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10s   305.38us   1.10s    50.00%
    Req/Sec     1.00      0.00     1.00    100.00%
  Latency Distribution
     50%    1.10s 
     75%    1.10s 
     90%    1.10s 
     99%    1.10s 
  8 requests in 3.01s, 6.55KB read
Requests/sec:      2.66
Transfer/sec:      2.18KB
"""  # noqa: W291 (wrk pads seconds with a trailing space)
WRK_TIMEOUTS = """\
Running 4s test @ http://127.0.0.1:18555/v1/chat/completions
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     1.00      0.00     1.00    100.00%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  4 requests in 4.01s, 3.27KB read
  Socket errors: connect 0, read 0, write 0, timeout 4
Requests/sec:      1.00
Transfer/sec:     836.04B
"""


# -- wrk --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "us"),
    [
        ("58.00us", 58.0),
        ("1.33ms", 1330.0),
        ("0.95ms", 950.0),
        ("1.10s", 1_100_000.0),
        ("2.00m", 120_000_000.0),
        ("1.00h", 3_600_000_000.0),
        (" 3.46ms ", 3460.0),
    ],
)
def test_wrk_time_units(text: str, us: float) -> None:
    assert parse_time_us(text) == pytest.approx(us)


@pytest.mark.parametrize("text", ["", "12", "1.2 ms", "3.4ns", "fast"])
def test_wrk_time_rejects_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time_us(text)


def test_wrk_clean_run() -> None:
    result = parse_output(WRK_OK)
    assert result.requests == 12094
    assert result.duration_s == pytest.approx(1.10)
    assert result.rps == pytest.approx(10994.98)
    assert result.latency_us == pytest.approx({50: 58.0, 75: 144.0, 90: 162.0, 99: 1330.0})
    assert (result.p50_us, result.p99_us) == (58.0, 1330.0)
    assert result.non_2xx == 0
    assert result.socket_errors == {}
    assert result.failed == 0


def test_wrk_non_2xx_responses_are_failures() -> None:
    result = parse_output(WRK_NON_2XX)
    assert result.non_2xx == 26342
    assert result.failed == 26342
    assert result.latency_us[90] == pytest.approx(1250.0)


def test_wrk_socket_errors_are_failures() -> None:
    result = parse_output(WRK_SOCKET_ERRORS)
    assert result.socket_errors == {"connect": 0, "read": 8, "write": 504390, "timeout": 0}
    assert result.socket_error_count == 504398
    assert result.non_2xx == 0
    assert result.failed == 504398
    assert result.p99_us == pytest.approx(950.0)


def test_wrk_latency_in_seconds_with_trailing_spaces() -> None:
    result = parse_output(WRK_SECONDS)
    assert result.latency_us == pytest.approx({p: 1_100_000.0 for p in (50, 75, 90, 99)})
    assert result.requests == 8
    assert result.duration_s == pytest.approx(3.01)


def test_wrk_timeouts_count_as_socket_errors() -> None:
    result = parse_output(WRK_TIMEOUTS)
    assert result.socket_errors["timeout"] == 4
    assert result.failed == 4


@pytest.mark.parametrize(
    "text",
    [
        "unable to connect to 127.0.0.1:1 Connection refused\n",
        "Usage: wrk <options> <url>\n  Options:\n",
        WRK_OK.replace("Requests/sec:  10994.98\n", ""),
        WRK_OK.replace("     99%    1.33ms\n", ""),
    ],
)
def test_wrk_output_without_a_result_is_an_error(text: str) -> None:
    with pytest.raises(WrkError):
        parse_output(text)


# -- /proc ------------------------------------------------------------------------------------


def test_proc_stat_with_spaces_and_parentheses_in_the_name() -> None:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    text = "4242 (python -m (x) y) S 4200 4242 4242 0 -1 4194560 900 0 0 0 150 37 0 0 20 0 1\n"
    assert procfs.parse_stat(text) == (4200, 187)


def test_proc_status_fields_in_kb() -> None:
    text = "Name:\tpython\nVmHWM:\t   81234 kB\nVmRSS:\t   65432 kB\nThreads:\t3\n"
    assert procfs.parse_status_kb(text, "VmRSS") == 65432
    assert procfs.parse_status_kb(text, "VmHWM") == 81234
    assert procfs.parse_status_kb(text, "VmSwap") is None


def test_proc_net_tcp_listening_sockets_of_a_port() -> None:
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
    header += "  timeout inode\n"
    listen = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
    listen += "     0        0 51234 1 0000000000000000 100 0 0 10 0\n"
    other_port = listen.replace(":1F90", ":1F91").replace("51234", "51235")
    established = listen.replace(" 0A ", " 01 ").replace("51234", "51236")
    text = header + listen + listen.replace("51234", "51237") + other_port + established
    assert procfs.parse_listen_inodes(text, 8080) == {51234, 51237}
    assert procfs.parse_listen_inodes(text, 9999) == set()


def test_proc_stat_busy_ticks_count_only_process_time() -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice
    text = "cpu  100 5 50 9000 70 3 2 1 40 0\ncpu0 50 2 25 4500 35 1 1 0 20 0\n"
    assert procfs.parse_busy_ticks(text) == 100 + 5 + 50


def test_machine_description_from_proc_text() -> None:
    cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)\n"
    assert machine.cpu_model(cpuinfo) == "Intel(R) Xeon(R)"
    assert machine.cpu_model("processor\t: 0\n") == "unknown"
    assert machine.mem_total_gib("MemTotal:       24684032 kB\nMemFree: 1 kB\n") == (
        pytest.approx(23.54, abs=0.01)
    )


# -- statistics -------------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks() -> None:
    samples = [float(x) for x in range(1, 101)]  # 1..100
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 100) == 100.0
    assert percentile([3.0], 99) == 3.0
    assert math.isnan(percentile([], 50))


# -- the report -------------------------------------------------------------------------------


def wrk_result(rps: float, p50_us: float, p99_us: float, **failures: int) -> WrkResult:
    non_2xx = failures.pop("non_2xx", 0)
    requests = int(rps * 10)
    latency = {50: p50_us, 75: p50_us, 90: p99_us, 99: p99_us}
    return WrkResult(requests, 10.0, rps, latency, non_2xx, dict(failures))


def sample_run(**gateway_failures: int) -> BenchRun:
    run = BenchRun(
        settings={"duration per cell": "10 s"},
        machine={"CPUs (nproc)": "2"},
        versions={"Python": "3.11.7"},
        started="2026-11-25 01:00 UTC",
        concurrencies=[1, 64],
    )
    run.direct = [
        Cell("direct", "chat", 1, wrk_result(6000, 160, 560)),
        Cell("direct", "chat", 64, wrk_result(14000, 4400, 10800)),
        Cell("direct", "stream", 1, wrk_result(5600, 170, 660)),
        Cell("direct", "stream", 64, wrk_result(7000, 8500, 48000)),
    ]
    run.direct_ttfb = Ttfb("direct", [0.0003] * 100)
    gateway = WorkersRun(1, idle_rss_kb={101: 60 * 1024}, peak_rss_kb={101: 70 * 1024})
    cpu = {"gateway": 5.0, "postgres": 2.5}
    gateway.cells = [
        Cell("gateway", "chat", 1, wrk_result(1000, 900, 2000), cpu_s=cpu),
        Cell("gateway", "chat", 64, wrk_result(4000, 15000, 30000, **gateway_failures), cpu_s=cpu),
        Cell("gateway", "stream", 1, wrk_result(800, 1200, 2500), cpu_s=cpu),
        Cell("gateway", "stream", 64, wrk_result(1200, 50000, 90000), cpu_s=cpu),
        Cell("gateway", "chat", 64, wrk_result(3600, 17000, 35000), "INFO", cpu),
    ]
    gateway.ttfb = Ttfb("gateway WORKERS=1", [0.0011] * 100)
    gateway.export = Export(200, 100_000, 15_800_000, 0.8, 70 * 1024, 71 * 1024, 40)
    gateway.soak = Soak(1_000_000, 20_000, 300.0, 0, {101: 70 * 1024}, {101: 72 * 1024})
    run.runs = [gateway]
    run.elapsed_s = 240
    return run


def test_throughput_row_has_ratio_added_latency_and_cpu_per_request() -> None:
    run = sample_run()
    rows = report.throughput_table(run, run.runs[0]).splitlines()
    assert rows[0].startswith("| mode | c | direct req/s | gateway req/s | gateway/direct |")
    # 40,000 requests in the c=64 cell: 5 s of gateway CPU is 0.125 ms each.
    assert rows[3] == (
        "| non-stream | 64 | 14,000 | 4,000 | 0.29 | 4.40 ms | 15.00 ms | +10.60 ms"
        " | 10.80 ms | 30.00 ms | +19.20 ms | 0.125 ms | 0.062 ms | 0 / 0 | 0 / 0 | 0.00 / 0.00 |"
    )
    assert len(rows) == 2 + 4  # header, rule, 2 modes x 2 concurrencies; INFO rows elsewhere


def test_targets_are_judged_from_the_same_run() -> None:
    judged = {what: (value, met) for what, value, _, met in report.targets(sample_run())}
    assert judged["WORKERS=1: non-stream gateway/direct req/s at c=64"] == ("0.29", True)
    assert judged["WORKERS=1: streams/s at c=64"] == ("1,200", True)
    assert judged["WORKERS=1: added p50 at c=1 (non-stream)"] == ("0.74 ms", True)
    assert judged["WORKERS=1: stream TTFB overhead p50 (c=1)"] == ("0.80 ms", True)
    assert judged["WORKERS=1: idle RSS per worker (largest)"] == ("60.0 MiB", True)
    assert judged["WORKERS=1: RSS change over 1,000,000 requests (largest)"] == ("2.9 %", True)


def test_outside_load_is_reported_and_warned_about() -> None:
    run = sample_run()
    assert "other processes kept 0.00 CPUs busy" in report.outside_load(run)
    assert "not idle" not in report.outside_load(run)
    run.runs[0].cells[3].other_cpu_s = 5.0  # 0.5 CPUs over its 10 s
    text = report.outside_load(run)
    assert "most: 0.50 in gateway stream c=64 WARNING" in text
    assert "not idle" in text


def test_no_failures_in_a_clean_run() -> None:
    assert report.failures(sample_run()) == []


def test_failures_name_the_cell_and_the_kind() -> None:
    run = sample_run(non_2xx=3, read=2, timeout=1)
    run.direct_ttfb = Ttfb("direct", [0.0003], errors=2)
    assert report.failures(run) == [
        "gateway WORKERS=1 chat c=64: 3 non-2xx responses",
        "gateway WORKERS=1 chat c=64: socket errors (read 2, timeout 1)",
        "TTFB direct: 2 failed requests",
    ]


def test_report_keeps_the_hand_written_intro_and_replaces_the_tables() -> None:
    run = sample_run()
    first = report.render(run, [], existing=None)
    assert first.startswith(report.DEFAULT_INTRO)
    edited = first.replace("# Benchmarks\n", "# Benchmarks\n\nProfile notes by hand.\n", 1)
    second = report.render(run, ["x: 1 non-2xx responses"], existing=edited)
    intro, _, tables = second.partition(report.MARKER)
    assert "Profile notes by hand." in intro
    assert second.count(report.MARKER) == 1
    assert "### Throughput and latency, WORKERS=1" in tables
    assert "### The request log's cost" in tables
    assert "| 1 | non-stream | 64 | 4,000 | 3,600 | -10.0 % |" in tables
    assert "| gateway, WORKERS=1 | 100 | 1.10 ms | 1.10 ms | +0.80 ms | +0.80 ms | 0 |" in tables
    export_row = "| 1 | 200 | 100,000 | 15.8 MB | 0.80 s | 125,000 | 70.0 MiB | 71.0 MiB |"
    assert export_row in tables
    assert "- x: 1 non-2xx responses" in tables


def test_command_line_presets(tmp_path: Path) -> None:
    quick = parse(["--quick", "--output", str(tmp_path / "q.md")])
    assert (quick.workers, quick.concurrencies, quick.duration_s) == ([1], [1, 64], 3)
    full = parse(["--workers", "1,2,4", "--duration", "5"])
    assert (full.workers, full.concurrencies, full.duration_s) == ([1, 2, 4], [1, 16, 64], 5)
    assert full.output == Path("docs/benchmarks.md")
    with pytest.raises(SystemExit):
        parse(["--workers", "two"])


def floor_cell(target: str, mode: str, c: int, rps: float, p50_us: float) -> Cell:
    result = WrkResult(int(rps * 10), 10.0, rps, {50: p50_us, 75: p50_us, 90: p50_us, 99: p50_us})
    return Cell(target, mode, c, result)


def floor_run(gateway_rps_64: float, gateway_p50_1_us: float, gateway_ttfb_s: float) -> FloorRun:
    """Two rounds of each cell: direct and bare fixed, the gateway as given."""
    run = FloorRun()
    for _ in range(2):
        for mode in ("openai", "openai-stream"):
            run.cells += [
                floor_cell("direct", mode, 1, 5000, 200), floor_cell("bare", mode, 1, 2000, 500),
                floor_cell("gateway", mode, 1, 900, gateway_p50_1_us),
                floor_cell("direct", mode, 64, 12000, 5000),
                floor_cell("bare", mode, 64, 6000, 9000),
                floor_cell("gateway", mode, 64, gateway_rps_64, 20000),
            ]  # fmt: skip
            run.statements.setdefault((mode, 64), []).append(
                Statements(statements=80, transactions=120, requests=1000, top=[(40, "SELECT 1")])
            )
        for target, seconds in (("direct", 0.0003), ("bare", 0.0007), ("gateway", gateway_ttfb_s)):
            run.ttfb.setdefault(target, []).append(Ttfb(target, [seconds] * 5))
    return run


def test_the_floor_goals_are_judged_against_the_bare_proxy_of_the_same_run() -> None:
    # bare adds 0.3 ms at c=1; 0.8 ms added by the gateway is 2.67 x: not met; 0.5 ms is met.
    slow = {g: ok for g, _, _, ok in floor_report.goals(floor_run(3000, 1000, 0.0015))}
    fast = {g: ok for g, _, _, ok in floor_report.goals(floor_run(5000, 700, 0.0011))}
    assert not any(slow.values())
    assert fast == {
        "non-stream c=64, Kaixu ÷ bare": True,  # 5000 / 6000 = 0.83 ≥ 0.8
        "stream c=64, Kaixu ÷ bare": True,
        "non-stream c=1, added p50": True,  # 0.5 ms = 1.7 x bare's 0.3 ms
        "stream c=1, added p50": True,
        "stream TTFB c=1, Kaixu − bare": True,  # 1.1 - 0.7 = 0.4 ms
    }
    text = "\n".join(floor_report.render(floor_run(3000, 1000, 0.0015)))
    assert "| non-stream | 64 | 12,000 | 6,000, p50 9.00 ms | 3,000, p50 20.00 ms | 0.50 |" in text
    assert "0.08 / 0.12" in text  # statements and transactions per request
