"""The entry point as an operator runs it: banner, password, embedded database, workers, Ctrl-C."""

from __future__ import annotations

import re
import signal
import urllib.request
from pathlib import Path

import psycopg

from tests.conftest import free_port
from tests.gateway_process import GatewayProcess


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_external_database_serves_and_stops_on_ctrl_c(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    gateway = GatewayProcess(
        {"DATABASE_URL": database_url, "PORT": str(port), "DATA_DIR": str(tmp_path)}
    ).start()
    try:
        assert f"http://127.0.0.1:{port}/admin/" in gateway.output
        password = re.search(r"Admin password: (\S+)", gateway.output).group(1)
        assert (tmp_path / "admin-password").read_text().strip() == password
        assert (tmp_path / "admin-password").stat().st_mode & 0o077 == 0  # owner-only
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        status, html = get(f"http://127.0.0.1:{port}/admin/")
        assert status == 200 and '<script type="module"' in html
    finally:
        assert gateway.stop(signal.SIGINT) == 0


def test_embedded_database_survives_restarts(tmp_path: Path) -> None:
    env = {"PORT": str(free_port()), "DATA_DIR": str(tmp_path / "data")}
    first = GatewayProcess(env).start()
    try:
        password = re.search(r"Admin password: (\S+)", first.output).group(1)
        assert "embedded PostgreSQL" in first.output
        assert get(f"http://127.0.0.1:{env['PORT']}/readyz")[0] == 200
        with psycopg.connect(_embedded_dsn(tmp_path / "data")) as conn:
            conn.execute("INSERT INTO customers (id, name) VALUES ('kept', 'Survivor')")
    finally:
        assert first.stop(signal.SIGINT) == 0
    assert not (tmp_path / "data" / "pg" / "postmaster.pid").exists(), "database left running"

    second = GatewayProcess(env).start()
    try:
        assert f"Admin password: {password}" in second.output
        with psycopg.connect(_embedded_dsn(tmp_path / "data")) as conn:
            name = conn.execute("SELECT name FROM customers WHERE id = 'kept'").fetchone()
        assert name == ("Survivor",)
    finally:
        assert second.stop(signal.SIGTERM) == 0


def test_two_workers_share_one_port(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    gateway = GatewayProcess(
        {
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "WORKERS": "2",
            "ADMIN_PASSWORD": "set-by-operator",
            "DATA_DIR": str(tmp_path),
        }
    ).start()
    try:
        assert "the ADMIN_PASSWORD you set" in gateway.output
        assert "set-by-operator" not in gateway.output
        statuses = {get(f"http://127.0.0.1:{port}/readyz")[0] for _ in range(20)}
        assert statuses == {200}
    finally:
        assert gateway.stop(signal.SIGTERM) == 0


def test_bad_settings_exit_with_a_clear_message(tmp_path: Path) -> None:
    gateway = GatewayProcess({"PORT": "not-a-port", "DATA_DIR": str(tmp_path)})
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "proxy"],
        env=gateway.env,
        cwd=gateway.env["PYTHONPATH"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PORT must be a whole number" in result.stderr


def _embedded_dsn(data_dir: Path) -> str:
    return f"postgresql://postgres@/kaixu?host={data_dir / 'pg'}"
