"""Hostile values in every admin path and query parameter and in the auth headers: never a 500,
always the contract's JSON error. Generated from the served OpenAPI document, sent as raw bytes
(pre-encoded URLs, header bytes that are not UTF-8) over a socket to the real app.
"""

from __future__ import annotations

import asyncio
import re

import orjson
import pytest

from tests.conftest import ADMIN_PASSWORD

# As they go on the wire: percent-encoded in URLs.
HOSTILE_URL_VALUES = (
    "%00",
    "a%00b",
    "%ff",
    "%c3%28",  # invalid UTF-8 sequence
    "%0d%0a",
    "%1b%5b2J",
    "x" * 3000,
    "%27%3B%20DROP%20TABLE%20customers%3B--",
    "-1",
    "-99999999999999999999999",
    "99999999999999999999999999999999",
    "1e309",
    "..",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "a%2fb",
    "%e2%80%ae",
)
# Header values as raw bytes (the parser itself refuses NUL, CR and LF: see
# test_malformed_requests).
HOSTILE_AUTH_HEADERS = (
    b"Authorization: Bearer \xff\xfe",
    b"Authorization: Bearer kxa1.\xff.\xc3\x28.x",
    b"Authorization: \xffBearer x",
    b"Authorization: Bearer " + b"k" * 6000,
    b"Authorization: Bearer '; DROP TABLE admin_sessions;--",
    b"X-Admin-Password: \xff\xfe",
    b"X-Admin-Password: " + ADMIN_PASSWORD.encode() + b"\xff",
    b"X-Admin-Password: " + b"p" * 6000,
    b"X-Kaixu-Admin-Device: \xff\xfe",
    b"Cookie: kaixu_admin_device=\xff\xfe",
)
CLIENT_PATHS = (
    ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/gateway/chat"),
)
CLIENT_AUTH_HEADERS = (
    b"Authorization: Bearer \xff\xfe",
    b"Authorization: Bearer kx_\xff\xfe_\xc3\x28",
    b"Authorization: Bearer kx_abc_" + b"s" * 6000,
    b"X-Kaixu-Install-Id: \xff\xfe",
)


async def send(
    port: int, method: str, target: str, headers: list[bytes]
) -> tuple[int, bytes, bytes]:
    """One request of exactly these bytes; (status, content type, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
    lines = [
        f"{method} {target} HTTP/1.1".encode(),
        b"Host: 127.0.0.1",
        b"Connection: close",
        b"Content-Type: application/json",
        f"Content-Length: {len(body)}".encode(),
        *headers,
    ]
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    answer = await reader.read()
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    content_type = re.search(rb"(?im)^content-type:\s*([^;\r\n]+)", head)
    return status, content_type.group(1) if content_type else b"", payload


def problem(status: int, content_type: bytes, body: bytes) -> str | None:
    if status >= 500:
        return f"status {status}"
    if status < 400:
        return None
    if content_type != b"application/json":
        return f"{status} as {content_type!r}"
    error = orjson.loads(body).get("error")
    if not isinstance(error, dict) or not error.get("type") or not error.get("message"):
        return f"{status} without the error shape: {body[:200]!r}"
    return None


Request = tuple[str, str, list[bytes]]


def requests_from(document: dict) -> tuple[list[Request], list[Request]]:
    """Each operation with each hostile value in each of its parameters, as the admin; and each
    operation with each hostile auth header."""
    auth = [b"X-Admin-Password: " + ADMIN_PASSWORD.encode()]
    made, unauthenticated = [], []
    for path, item in document["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        for method, operation in item.items():
            if method == "parameters":
                continue
            query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            plain = "/admin/api" + re.sub(r"{\w+}", "x1", path)
            for value in HOSTILE_URL_VALUES:
                for name in names:
                    target = "/admin/api" + path.replace("{" + name + "}", value)
                    target = re.sub(r"{\w+}", "x1", target)
                    made.append((method.upper(), target, auth))
                for name in query:
                    made.append((method.upper(), f"{plain}?{name}={value}", auth))
            for header in HOSTILE_AUTH_HEADERS:
                unauthenticated.append((method.upper(), plain, [header]))
    return made, unauthenticated


@pytest.fixture
def document(admin_answers) -> dict:
    return {"paths": admin_answers.paths}


async def test_every_admin_parameter_and_auth_header_survives_hostile_values(
    client, document: dict, db
) -> None:
    port = client.server.port
    with_parameters, with_auth_headers = requests_from(document)
    assert len(with_parameters) > 400 and len(with_auth_headers) > 200
    problems = []
    for i, (method, target, headers) in enumerate(with_parameters + with_auth_headers):
        if i >= len(with_parameters):  # wrong passwords count: keep the address unthrottled
            await db.execute("DELETE FROM admin_login_failures")
        status, content_type, body = await send(port, method, target, headers)
        found = problem(status, content_type, body) or (
            "throttled: the sweep tested nothing" if status == 429 else None
        )
        if found:
            problems.append(f"{method} {target[:80]} {headers[0][:60]!r}: {found}")
    assert not problems, "\n".join(problems)


async def test_client_routes_refuse_hostile_keys_with_401(client) -> None:
    port = client.server.port
    for method, path in CLIENT_PATHS:
        for header in CLIENT_AUTH_HEADERS[:3]:
            status, content_type, body = await send(port, method, path, [header])
            assert status == 401, (path, header[:40], body)
            assert problem(status, content_type, body) is None


async def test_non_utf8_admin_credentials_are_401(client) -> None:
    port = client.server.port
    for header in (b"Authorization: Bearer \xff\xfe", b"X-Admin-Password: \xff\xfe"):
        status, _, body = await send(port, "GET", "/admin/api/customers", [header])
        assert status == 401, (header, body)
        assert orjson.loads(body)["error"]["type"] == "unauthorized"


async def test_a_nul_in_a_query_parameter_is_400(client) -> None:
    auth = [b"X-Admin-Password: " + ADMIN_PASSWORD.encode()]
    for target in ("/admin/api/audit?customer_id=%00", "/admin/api/audit?customer_id=%ff"):
        status, _, body = await send(client.server.port, "GET", target, auth)
        assert status == 400, (target, body)
        assert orjson.loads(body)["error"]["type"] == "invalid_request"
