"""Admin sessions held server-side: signing out and ending sessions refuse the token at once,
on every gateway process sharing the database."""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import orjson

from tests.conftest import ADMIN_HEADERS, ADMIN_PASSWORD, free_port
from tests.gateway_process import GatewayProcess
from tests.helpers import bearer

LOGIN = "/admin/api/login"
LOGOUT = "/admin/api/logout"
SESSIONS = "/admin/api/sessions"
CUSTOMERS = "/admin/api/customers"


async def sign_in(client) -> str:
    response = await client.post(LOGIN, json={"password": ADMIN_PASSWORD})
    assert response.status == 200, await response.text()
    return (await response.json())["token"]


async def error_type(response) -> str:
    return (await response.json())["error"]["type"]


async def test_a_signed_out_token_is_refused(client) -> None:
    token = await sign_in(client)
    assert (await client.get(CUSTOMERS, headers=bearer(token))).status == 200
    response = await client.post(LOGOUT, headers=bearer(token))
    assert response.status == 204 and await response.read() == b""
    refused = await client.get(CUSTOMERS, headers=bearer(token))
    assert refused.status == 401 and await error_type(refused) == "unauthorized"
    assert "ended" in (await refused.json())["error"]["message"]
    assert (await client.post(LOGOUT, headers=bearer(token))).status == 401
    # Other sessions and the password are untouched.
    assert (await client.get(CUSTOMERS, headers=bearer(await sign_in(client)))).status == 200
    assert (await client.get(CUSTOMERS, headers=ADMIN_HEADERS)).status == 200


async def test_logout_needs_a_token(client) -> None:
    response = await client.post(LOGOUT, headers=ADMIN_HEADERS)
    assert response.status == 400 and await error_type(response) == "invalid_request"
    assert (await client.post(LOGOUT)).status == 401


async def test_sessions_are_listed_without_their_tokens(client, db) -> None:
    first, second = await sign_in(client), await sign_in(client)
    response = await client.get(SESSIONS, headers=bearer(second))
    assert response.status == 200
    listed = (await response.json())["sessions"]
    assert len(listed) == 2
    assert [s["current"] for s in listed] == [True, False]  # newest first: the caller's
    assert all(s["address"] == "127.0.0.1" for s in listed)
    text = await response.text()
    assert first not in text and second not in text
    stored = await db.fetch("SELECT token_hash FROM admin_sessions")
    for row in stored:  # a keyed hash, not the token nor its plain SHA-256
        assert first.encode() not in row["token_hash"] and len(row["token_hash"]) == 32
    by_password = await (await client.get(SESSIONS, headers=ADMIN_HEADERS)).json()
    assert [s["current"] for s in by_password["sessions"]] == [False, False]


async def test_ending_one_session(client) -> None:
    keep, end = await sign_in(client), await sign_in(client)
    sessions = (await (await client.get(SESSIONS, headers=bearer(keep))).json())["sessions"]
    target = next(s["id"] for s in sessions if not s["current"])
    response = await client.delete(f"{SESSIONS}/{target}", headers=bearer(keep))
    assert response.status == 204
    assert (await client.get(CUSTOMERS, headers=bearer(end))).status == 401
    assert (await client.get(CUSTOMERS, headers=bearer(keep))).status == 200
    for unknown in (str(target), "999999", "abc", "-1"):
        response = await client.delete(f"{SESSIONS}/{unknown}", headers=bearer(keep))
        assert response.status == 404 and await error_type(response) == "not_found"


async def test_ending_all_sessions_ends_the_callers_too(client, db) -> None:
    tokens = [await sign_in(client) for _ in range(3)]
    response = await client.delete(SESSIONS, headers=bearer(tokens[0]))
    assert response.status == 204
    for token in tokens:
        assert (await client.get(CUSTOMERS, headers=bearer(token))).status == 401
    assert (await (await client.get(SESSIONS, headers=ADMIN_HEADERS)).json()) == {"sessions": []}
    action = await db.fetchval("SELECT action FROM audit_log ORDER BY id DESC LIMIT 1")
    assert action == "sessions.end_all"


def call(port: int, method: str, path: str, token: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, headers=bearer(token)
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_signing_out_on_one_process_is_refused_on_another(database_url: str, tmp_path: Path):
    env = {"DATABASE_URL": database_url, "ADMIN_PASSWORD": ADMIN_PASSWORD}
    env["KAIXU_SECRET"] = "shared-secret-" + "z" * 40  # both processes check the same tokens
    ports = free_port(), free_port()
    processes = [
        GatewayProcess({**env, "PORT": str(port), "DATA_DIR": str(tmp_path / str(port))}).start()
        for port in ports
    ]
    try:
        login = urllib.request.Request(
            f"http://127.0.0.1:{ports[0]}{LOGIN}",
            data=orjson.dumps({"password": ADMIN_PASSWORD}),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=10) as response:
            token = orjson.loads(response.read())["token"]
        assert call(ports[1], "GET", CUSTOMERS, token) == 200
        assert call(ports[0], "POST", LOGOUT, token) == 204
        assert call(ports[1], "GET", CUSTOMERS, token) == 401
        assert call(ports[0], "GET", CUSTOMERS, token) == 401
    finally:
        for process in processes:
            assert process.stop(signal.SIGTERM) == 0
