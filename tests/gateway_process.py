"""Runs `python -m proxy` as a real process for black-box tests, waiting on its banner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BANNER = "Kaixu Gateway is serving on "


class GatewayProcess:
    """A gateway process; `start()` returns once it printed its banner (it is then listening)."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **env}
        for name in ("DATABASE_URL", "ADMIN_PASSWORD", "KAIXU_SECRET"):
            if name not in env:
                self.env.pop(name, None)
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []  # the log: one JSON object per line
        self._banner_seen = threading.Event()

    def start(self, timeout: float = 60) -> GatewayProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "proxy", *self.args],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="backslashreplace",
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()
        if not self._banner_seen.wait(timeout):
            self.stop()
            raise AssertionError(f"gateway did not start; stdout: {self.stdout_lines}")
        return self

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.stdout_lines.append(line.rstrip("\n"))
            if line.startswith(BANNER):
                self._banner_seen.set()
        self._banner_seen.set()  # the process ended: stop waiting either way

    def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        """Everything the process logged; complete once stop() has returned."""
        return "\n".join(self.stderr_lines)

    @property
    def output(self) -> str:
        return "\n".join(self.stdout_lines)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        assert self.proc
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._stderr_reader.join(timeout)  # the pipe closed with the process: the log is whole
        return code
