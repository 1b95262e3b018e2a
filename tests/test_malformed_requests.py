"""Requests the HTTP parser refuses: a JSON 400 that quotes nothing, and no secret in the log.

Sent over raw sockets to a real gateway process, whose whole log is read after it stops.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import orjson
import pytest

from tests.conftest import free_port
from tests.gateway_process import GatewayProcess

ADMIN_PASSWORD = "pw-that-must-never-be-logged-7Qx"
CLIENT_KEY = "kx_abcdefgh_secretpartthatmustneverbelogged9"


def exchange(port: int, raw: bytes) -> bytes:
    """Send `raw`, read until the server closes the connection (it does after an error)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_answer(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


MALFORMED = {
    "stray CR after a client key": (
        f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\r\n\r\n"
    ),
    "stray CR after the admin password": (
        "GET /admin/api/customers HTTP/1.1\r\nHost: x\r\n"
        f"X-Admin-Password: {ADMIN_PASSWORD}\r\r\n\r\n"
    ),
    "NUL inside the admin password": (
        "GET /admin/api/customers HTTP/1.1\r\nHost: x\r\n"
        f"X-Admin-Password: {ADMIN_PASSWORD}\x00x\r\n\r\n"
    ),
    "a header line without a colon": (
        f"GET /v1/models HTTP/1.1\r\nHost: x\r\nBearer {CLIENT_KEY}\r\n\r\n"
    ),
    "a key in a broken request line": f"GET /v1/models?key={CLIENT_KEY} HTTP/1.1 x\r\n\r\n",
    "a space before the colon": (
        f"POST /admin/api/login HTTP/1.1\r\nHost: x\r\nX-Admin-Password : {ADMIN_PASSWORD}\r\n\r\n"
    ),
    "an over-long header holding the key": (
        f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}"
        + "A" * 9000
        + "\r\n\r\n"
    ),
}


@pytest.fixture
def gateway(database_url: str, tmp_path: Path):
    port = free_port()
    process = GatewayProcess(
        {
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DATA_DIR": str(tmp_path),
            "LOG_LEVEL": "DEBUG",
        }
    ).start()
    process.port = port  # type: ignore[attr-defined]
    yield process
    if process.proc and process.proc.poll() is None:
        process.stop(signal.SIGTERM)


def test_malformed_requests_get_json_400_and_leave_no_secret_in_the_log(gateway) -> None:
    answers = {name: exchange(gateway.port, raw.encode()) for name, raw in MALFORMED.items()}
    assert gateway.stop(signal.SIGTERM) == 0
    for name, answer in answers.items():
        status, headers, body = parse_answer(answer)
        assert status == 400, (name, answer[:200])
        assert headers["content-type"].startswith("application/json"), name
        error = orjson.loads(body)["error"]
        assert error["type"] == "invalid_request" and error["message"], name
        for secret in (ADMIN_PASSWORD, CLIENT_KEY, "secretpart", "Bearer"):
            assert secret.encode() not in answer, (name, secret)
    log = gateway.log
    assert "unparsable request" in log  # the refusals were logged, scrubbed
    for secret in (ADMIN_PASSWORD, CLIENT_KEY, "secretpart", "mustneverbelogged"):
        assert secret not in log, secret
