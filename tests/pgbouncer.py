"""A real PgBouncer (Debian's `pgbouncer`, `.ci/run` installs it) in transaction pooling mode in
front of a test's database, for the tests that run the gateway through it."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import free_port

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def needs_pgbouncer() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not os.path.exists(BINARY), reason="pgbouncer is not installed (apt-get install pgbouncer)"
    )


@contextmanager
def pgbouncer(database_url: str) -> Iterator[str]:
    """Yields the DSN of `database_url`'s database through a PgBouncer in transaction mode."""
    parts = urlsplit(database_url)
    socket_dir = parse_qs(parts.query)["host"][0]  # the embedded server listens on a socket
    database, user = parts.path.lstrip("/"), parts.username or "postgres"
    port = free_port()
    # Under /tmp itself: pytest's own directories are closed to the user it runs as.
    directory = Path(tempfile.mkdtemp(prefix="kaixu-pgbouncer-"))
    config = directory / "pgbouncer.ini"
    config.write_text(
        f"[databases]\n{database} = host={socket_dir} port=5432 user={user} dbname={database}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\n"
        "max_client_conn = 1000\ndefault_pool_size = 40\n"
        "ignore_startup_parameters = extra_float_digits\n"
        f"logfile = {directory}/pgbouncer.log\n"
    )
    argv = [BINARY, str(config)]
    if os.geteuid() == 0:  # it refuses to run as root: run it as the database's own user
        owner = pwd.getpwuid(os.stat(socket_dir).st_uid)
        shutil.chown(directory, owner.pw_name)
        argv[1:1] = ["-u", owner.pw_name]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, process)
        yield f"postgresql://{user}@127.0.0.1:{port}/{database}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("pgbouncer did not listen in time")
