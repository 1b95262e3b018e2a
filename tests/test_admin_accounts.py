"""Named admin accounts and roles: who may do what (the matrix read off the OpenAPI document),
who the audit log names, sessions that end with the account, the last owner, TOTP."""

from __future__ import annotations

import asyncio
import re
import signal
import time
import urllib.request
from pathlib import Path

import orjson
import pyotp
import pytest

from proxy import admin
from proxy.admin.roles import RANK
from tests.conftest import ADMIN_HEADERS, ADMIN_PASSWORD, free_port
from tests.gateway_process import GatewayProcess
from tests.helpers import bearer

API = "/admin/api"
PASSWORD = "correct horse battery staple"


async def create_account(client, email: str, role: str, password: str = PASSWORD) -> dict:
    response = await client.post(
        f"{API}/admins", json={"email": email, "role": role, "password": password},
        headers=ADMIN_HEADERS,
    )  # fmt: skip
    assert response.status == 201, await response.text()
    return (await response.json())["admin"]


async def sign_in(client, email: str, password: str = PASSWORD, **extra: str):
    return await client.post(f"{API}/login", json={"email": email, "password": password, **extra})


async def token_of(client, email: str, role: str) -> str:
    await create_account(client, email, role)
    response = await sign_in(client, email)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["admin"]["role"] == role and body["admin"]["email"] == email
    return body["token"]


async def error_type(response) -> str:
    return (await response.json())["error"]["type"]


def operations() -> list[tuple[str, str, str]]:
    """(method, path with placeholder ids, least role) of every admin route, from the document
    the gateway serves; sign-in and sign-out are left to their own tests."""
    found = []
    for path, item in admin.document()["paths"].items():
        for method, operation in item.items():
            if method == "parameters" or path.endswith(("/login", "/logout")):
                continue
            concrete = re.sub(r"{(\w+)}", lambda m: "999999" if m[1] in ("iid", "aid", "sid")
                              else "no-such-id", path)  # fmt: skip
            found.append((method.upper(), API + concrete, operation["x-kaixu-role"]))
    return found


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_every_route_refuses_a_role_below_its_own_and_admits_the_rest(client, role):
    token = await token_of(client, f"{role}@example.com", role)
    checked = 0
    for method, path, needed in operations():
        response = await client.request(method, path, headers=bearer(token), json={})
        if RANK[role] < RANK[needed]:
            assert response.status == 403, (method, path, response.status)
            assert await error_type(response) == "forbidden"
            checked += 1
        else:
            assert response.status not in (401, 403), (method, path, await response.text())
    assert checked > 0  # the matrix is not empty for this role
    # A viewer may not write a customer; the refusal changed nothing.
    listing = await (await client.get(f"{API}/customers", headers=ADMIN_HEADERS)).json()
    assert role == "operator" or listing["customers"] == []


async def test_the_document_names_each_routes_role_and_its_403() -> None:
    assert all(needed in RANK for _, _, needed in operations())
    doc = admin.document()
    assert doc["paths"]["/admins"]["post"]["x-kaixu-role"] == "owner"
    assert doc["paths"]["/customers"]["post"]["x-kaixu-role"] == "operator"
    assert doc["paths"]["/customers"]["get"]["x-kaixu-role"] == "viewer"
    assert "403" in doc["paths"]["/customers"]["post"]["responses"]
    assert "403" not in doc["paths"]["/customers"]["get"]["responses"]


async def test_the_audit_log_names_the_account_that_acted(client) -> None:
    token = await token_of(client, "ops@example.com", "operator")
    created = await client.post(f"{API}/customers", json={"id": "acme"}, headers=bearer(token))
    assert created.status == 201
    entries = (await (await client.get(f"{API}/audit", headers=bearer(token))).json())["entries"]
    by_action = {entry["action"]: entry for entry in entries}
    assert by_action["customer.create"]["actor"] == "admin:ops@example.com"
    assert by_action["admin.create"]["actor"] == "admin:password"  # the bootstrap made it


async def test_a_disabled_account_is_refused_at_once_and_its_password_no_longer_opens(
    client,
) -> None:
    token = await token_of(client, "v@example.com", "viewer")
    aid = (await (await client.get(f"{API}/me", headers=bearer(token))).json())["id"]
    assert (await client.get(f"{API}/customers", headers=bearer(token))).status == 200
    patched = await client.patch(f"{API}/admins/{aid}", json={"disabled": True},
                                 headers=ADMIN_HEADERS)  # fmt: skip
    assert patched.status == 200 and (await patched.json())["admin"]["disabled"] is True
    assert (await client.get(f"{API}/customers", headers=bearer(token))).status == 401
    assert (await sign_in(client, "v@example.com")).status == 401
    enabled = await client.patch(f"{API}/admins/{aid}", json={"disabled": False},
                                 headers=ADMIN_HEADERS)  # fmt: skip
    assert enabled.status == 200
    assert (await client.get(f"{API}/customers", headers=bearer(token))).status == 401  # ended
    assert (await sign_in(client, "V@Example.com")).status == 200  # emails ignore case


async def test_the_last_owner_account_stays(client) -> None:
    first = await create_account(client, "o1@example.com", "owner")
    for change in ({"role": "viewer"}, {"disabled": True}):
        refused = await client.patch(f"{API}/admins/{first['id']}", json=change,
                                     headers=ADMIN_HEADERS)  # fmt: skip
        assert refused.status == 409 and await error_type(refused) == "conflict"
    refused = await client.delete(f"{API}/admins/{first['id']}", headers=ADMIN_HEADERS)
    assert refused.status == 409
    second = await create_account(client, "o2@example.com", "owner")
    assert (await client.delete(f"{API}/admins/{first['id']}", headers=ADMIN_HEADERS)).status == 204
    demoted = await client.patch(f"{API}/admins/{second['id']}", json={"role": "operator"},
                                 headers=ADMIN_HEADERS)  # fmt: skip
    assert demoted.status == 409
    listed = await (await client.get(f"{API}/admins", headers=ADMIN_HEADERS)).json()
    assert [(a["email"], a["role"]) for a in listed["admins"]] == [("o2@example.com", "owner")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "x@example.com", "role": "owner", "password": "short"}, "password"),
        ({"email": "not an email", "role": "owner", "password": PASSWORD}, "email"),
        ({"email": "x@example.com", "role": "god", "password": PASSWORD}, "role"),
        ({"email": "x@example.com", "role": "owner"}, "password"),
        ({"email": "x@example.com", "role": "owner", "password": PASSWORD, "x": 1}, "x"),
    ],
)
async def test_a_bad_account_is_refused_and_nothing_is_created(client, body, field) -> None:
    response = await client.post(f"{API}/admins", json=body, headers=ADMIN_HEADERS)
    assert response.status == 400 and (await response.json())["error"]["param"] == field
    listed = await (await client.get(f"{API}/admins", headers=ADMIN_HEADERS)).json()
    assert listed["admins"] == []


async def test_an_email_has_one_account(client) -> None:
    await create_account(client, "dup@example.com", "viewer")
    again = await client.post(
        f"{API}/admins", json={"email": "DUP@example.com", "role": "owner", "password": PASSWORD},
        headers=ADMIN_HEADERS,
    )  # fmt: skip
    assert again.status == 409


async def test_a_wrong_account_password_is_refused_and_counted(client, db) -> None:
    await create_account(client, "w@example.com", "viewer")
    for email in ("w@example.com", "nobody@example.com"):
        refused = await sign_in(client, email, "wrong password, long enough")
        assert refused.status == 401 and "Wrong email or password" in await refused.text()
    assert await db.fetchval("SELECT count(*) FROM admin_login_failures") == 2


async def test_non_owners_see_and_end_only_their_own_sessions(client) -> None:
    viewer = await token_of(client, "see@example.com", "viewer")
    owner_token = (await (await client.post(f"{API}/login", json={"password": ADMIN_PASSWORD}))
                   .json())["token"]  # fmt: skip
    own = (await (await client.get(f"{API}/sessions", headers=bearer(viewer))).json())["sessions"]
    assert [s["email"] for s in own] == ["see@example.com"]
    everyone = await (await client.get(f"{API}/sessions", headers=bearer(owner_token))).json()
    assert {s["email"] for s in everyone["sessions"]} == {"see@example.com", None}
    bootstrap_session = next(s["id"] for s in everyone["sessions"] if s["email"] is None)
    refused = await client.delete(f"{API}/sessions/{bootstrap_session}", headers=bearer(viewer))
    assert refused.status == 404
    assert (await client.get(f"{API}/me", headers=bearer(owner_token))).status == 200
    ended = await client.delete(f"{API}/sessions/{own[0]['id']}", headers=bearer(viewer))
    assert ended.status == 204
    assert (await client.get(f"{API}/me", headers=bearer(viewer))).status == 401


async def test_changing_ones_password_ends_the_other_sessions(client, db) -> None:
    first = await token_of(client, "pw@example.com", "operator")
    second = (await (await sign_in(client, "pw@example.com")).json())["token"]
    change = f"{API}/me/password"
    bad = {"current_password": "not it at all", "password": "x" * 12}
    wrong = await client.post(change, headers=bearer(first), json=bad)
    assert wrong.status == 400 and (await wrong.json())["error"]["param"] == "current_password"
    # A wrong current password counts like a wrong sign-in: a stolen session cannot guess it.
    assert await db.fetchval("SELECT count(*) FROM admin_login_failures") == 1
    new = {"current_password": PASSWORD, "password": "a new one, long"}
    changed = await client.post(change, headers=bearer(first), json=new)
    assert changed.status == 204
    assert (await client.get(f"{API}/me", headers=bearer(first))).status == 200
    assert (await client.get(f"{API}/me", headers=bearer(second))).status == 401
    assert (await sign_in(client, "pw@example.com")).status == 401
    assert (await sign_in(client, "pw@example.com", "a new one, long")).status == 200


async def test_a_second_factor_is_asked_for_checked_and_never_replayed(client) -> None:
    token = await token_of(client, "2fa@example.com", "viewer")
    enrol = f"{API}/me/totp"
    unasked = await client.post(enrol, headers=bearer(token), json={})
    assert unasked.status == 400 and (await unasked.json())["error"]["param"] == "current_password"
    guessed = await client.post(enrol, headers=bearer(token), json={"current_password": "no!"})
    assert guessed.status == 400  # a stolen session alone cannot lock its owner out
    started = await (
        await client.post(enrol, headers=bearer(token), json={"current_password": PASSWORD})
    ).json()
    secret = started["secret"]
    assert started["otpauth_uri"].startswith("otpauth://totp/") and secret in started["otpauth_uri"]
    wrong = await client.post(f"{API}/me/totp/confirm", json={"code": "000000"},
                              headers=bearer(token))  # fmt: skip
    if pyotp.TOTP(secret).verify("000000"):  # one time in a million, 000000 is the code
        pytest.skip("the random secret's current code happens to be 000000")
    assert wrong.status == 400
    totp = pyotp.TOTP(secret)
    confirm_step = int(time.time() // 30)
    confirmed = await client.post(f"{API}/me/totp/confirm", json={"code": totp.now()},
                                  headers=bearer(token))  # fmt: skip
    assert confirmed.status == 200 and (await confirmed.json())["totp_enabled"] is True

    missing = await sign_in(client, "2fa@example.com")
    assert missing.status == 401 and (await missing.json())["error"]["totp_required"] is True
    stale = totp.at(confirm_step * 30 - 3600)  # an hour old
    if not totp.verify(stale, valid_window=2):  # (unless it happens to equal a current one)
        assert (await sign_in(client, "2fa@example.com", totp=stale)).status == 401
    # A code for a later step than the confirmation's opens once; the same code again does not.
    later = totp.at(time.time() + 30)
    opened = await sign_in(client, "2fa@example.com", totp=later)
    assert opened.status == 200, await opened.text()
    assert (await opened.json())["admin"]["totp_enabled"] is True
    replayed = await sign_in(client, "2fa@example.com", totp=later)
    assert replayed.status == 401

    # An owner removes a lost authenticator; the password alone opens again.
    aid = (await (await client.get(f"{API}/me", headers=bearer(token))).json())["id"]
    reset = await client.patch(f"{API}/admins/{aid}", json={"totp_enabled": False},
                               headers=ADMIN_HEADERS)  # fmt: skip
    assert reset.status == 200 and (await reset.json())["admin"]["totp_enabled"] is False
    assert (await sign_in(client, "2fa@example.com")).status == 200


async def test_the_bootstrap_owner_has_no_account_to_change(client) -> None:
    me = await (await client.get(f"{API}/me", headers=ADMIN_HEADERS)).json()
    assert me == {"id": None, "email": None, "role": "owner", "totp_enabled": False}
    refused = await client.post(f"{API}/me/totp", headers=ADMIN_HEADERS)
    assert refused.status == 400


def call(port: int, method: str, path: str, token: str, body: dict | None = None) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method,
        headers={**bearer(token), "Content-Type": "application/json"},
        data=orjson.dumps(body) if body is not None else None,
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def post_json(port: int, path: str, body: dict, headers: dict[str, str]) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=orjson.dumps(body),
        headers={"Content-Type": "application/json", **headers},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return orjson.loads(response.read())


def test_disabling_an_account_on_one_process_refuses_it_on_another(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "ADMIN_PASSWORD": ADMIN_PASSWORD,
           "KAIXU_SECRET": "shared-secret-" + "q" * 40}  # fmt: skip
    ports = free_port(), free_port()
    processes = [
        GatewayProcess({**env, "PORT": str(port), "DATA_DIR": str(tmp_path / str(port))}).start()
        for port in ports
    ]
    try:
        account = post_json(ports[0], f"{API}/admins", {"email": "far@example.com",
                            "role": "operator", "password": PASSWORD}, ADMIN_HEADERS)  # fmt: skip
        credentials = {"email": "far@example.com", "password": PASSWORD}
        token = post_json(ports[1], f"{API}/login", credentials, {})["token"]
        assert call(ports[1], "GET", f"{API}/customers", token) == 200
        owner = post_json(ports[0], f"{API}/login", {"password": ADMIN_PASSWORD}, {})["token"]
        disabled = call(ports[0], "PATCH", f"{API}/admins/{account['admin']['id']}", owner,
                        {"disabled": True})  # fmt: skip
        assert disabled == 200
        assert call(ports[1], "GET", f"{API}/customers", token) == 401  # at once, no wait
    finally:
        for process in processes:
            assert process.stop(signal.SIGTERM) == 0


async def test_two_owners_demoting_each_other_at_once_leave_one(client) -> None:

    first = await create_account(client, "a@example.com", "owner")
    second = await create_account(client, "b@example.com", "owner")
    answers = await asyncio.gather(*(
        client.patch(f"{API}/admins/{who['id']}", json={"role": "viewer"}, headers=ADMIN_HEADERS)
        for who in (first, second)
    ))  # fmt: skip
    assert sorted(a.status for a in answers) == [200, 409]  # never both, never a deadlock's 500
    listed = await (await client.get(f"{API}/admins", headers=ADMIN_HEADERS)).json()
    assert [a["role"] for a in listed["admins"]].count("owner") == 1
