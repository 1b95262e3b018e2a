"""The benchmark's child processes (fake upstream, gateway): start, wait until ready, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import procfs

REPO = Path(__file__).resolve().parent.parent
GATEWAY_BANNER = "Kaixu Gateway is serving on "
FAKE_BANNER = "listening on "
# Gateway settings an operator's shell may have exported; the benchmark sets its own.
GATEWAY_VARIABLES = (
    "DATABASE_URL", "DATA_DIR", "ADMIN_PASSWORD", "KAIXU_SECRET", "KAIXU_ENV", "HOST", "PORT",
    "WORKERS", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE", "PUBLIC_URL", "DEMO_PROVIDER", "GATEWAY_MONTHLY_CEILING_CENTS",
    "MAX_BODY_BYTES", "DEFAULT_MAX_TOKENS", "MAX_TOKENS_LIMIT", "UPSTREAM_CONNECT_TIMEOUT_S",
    "UPSTREAM_READ_TIMEOUT_S", "UPSTREAM_TOTAL_TIMEOUT_S", "DB_POOL_MIN", "DB_POOL_MAX",
    "DB_COMMAND_TIMEOUT_S", "LOG_LEVEL",
)  # fmt: skip


class StartError(RuntimeError):
    """A child process exited or stayed silent instead of getting ready."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Child:
    """A Python child process; ready once a stdout line starts with `ready_prefix`.

    Its stderr (the gateway's JSON log) goes to `log_path`, so a full pipe can never block
    it and a failed start can be explained. It runs in a session of its own: a terminal's
    Ctrl-C reaches only the harness, whose `finally` blocks then stop each child once.
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._ready_prefix = ""
        self._ready = threading.Event()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def spawn(self, ready_prefix: str) -> Child:
        """Start the process without waiting for it (`wait_ready` does)."""
        self._ready_prefix = ready_prefix
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *self.argv],
                cwd=REPO,
                env={**self.env, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        return self

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:  # drained to the end: the child never blocks on print
            self.lines.append(line.rstrip("\n"))
            if self._ready_prefix in line:
                self._ready.set()
        self._ready.set()  # it exited: stop waiting either way

    def wait_ready(self, timeout: float = 60) -> str:
        """The ready line; StartError (with the log's tail) if it exits or times out first."""
        assert self.proc is not None
        self._ready.wait(timeout)
        for line in self.lines:
            if self._ready_prefix in line:
                return line
        raise StartError(f"{self.name} did not start (exit code {self.proc.poll()})\n{self.tail()}")

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        return "\n".join([*self.lines[-lines:], *text.splitlines()[-lines:]])

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (a graceful stop), then SIGKILL for whatever of its tree is left."""
        if self.proc is None or self.proc.poll() is not None:
            return
        tree = procfs.descendants(self.proc.pid)  # the workers, known before they can orphan
        self.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        deadline = time.monotonic() + 2
        for pid in tree:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def _alive(pid: int) -> bool:
    status = procfs.PROC / str(pid) / "stat"
    try:
        state = status.read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; it only waits for its parent to reap it


def start_fake(log_dir: Path, provider: str = "openai") -> Child:
    """A fake upstream on a free port (it picks one and prints its base URL)."""
    argv = ["-m", "tests.fakes", "--provider", provider, "--port", "0"]
    log = log_dir / f"fake-{provider}.log"
    return Child(f"fake {provider}", argv, dict(os.environ), log).spawn(FAKE_BANNER)


def fake_base_url(ready_line: str) -> str:
    """'fake openai listening on http://127.0.0.1:PORT/v1' -> 'http://127.0.0.1:PORT/v1'
    (the fake Anthropic's has no /v1)."""
    return ready_line.rpartition(FAKE_BANNER)[2].strip()


def start_gateway(settings: dict[str, str], log_path: Path) -> Child:
    env = {k: v for k, v in os.environ.items() if k not in GATEWAY_VARIABLES}
    return Child("gateway", ["-m", "proxy"], {**env, **settings}, log_path).spawn(GATEWAY_BANNER)


def wait_for_workers(gateway: Child, port: int, workers: int, timeout: float = 30) -> list[int]:
    """The pids of the gateway's serving processes, once all `workers` of them listen."""
    deadline = time.monotonic() + timeout
    while True:
        pids = procfs.listening_pids(procfs.descendants(gateway.pid), port)
        if workers > 1 and gateway.pid in pids:
            pids.remove(gateway.pid)  # a supervisor holding the socket (forked workers) only waits
        if len(pids) >= workers:
            return pids
        if time.monotonic() > deadline or (gateway.proc and gateway.proc.poll() is not None):
            raise StartError(f"{len(pids)} of {workers} gateway workers listen\n{gateway.tail()}")
        time.sleep(0.05)
