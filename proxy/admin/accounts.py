"""Admin accounts: owners manage them (/admins); every account manages its own password and
second factor (/me). The bootstrap owner (ADMIN_PASSWORD) has no account and changes nothing
here but others'.

Disabling an account, removing it or changing its password ends its sessions at once, on every
process (each admin request reads its session joined to the account: db/admin_sessions.py).
The last enabled owner account cannot be removed, demoted or disabled, so a team that stops
sharing ADMIN_PASSWORD is never left without someone who can manage accounts.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import asyncpg
from aiohttp import web

from core.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from db import admin_sessions, admins
from proxy.admin import audit, passwords, totp
from proxy.admin.account_resources import ADMIN, ADMIN_ROLES, ME_FIELDS
from proxy.admin.auth import check_credentials, me
from proxy.admin.fields import STR, array, strict_object
from proxy.admin.roles import Caller, caller
from proxy.admin.routing import Api
from proxy.admin.validation import invalid, path_number, read_object
from proxy.http.responses import json_response
from proxy.state import ADMIN_SESSION, DB_POOL, UPSTREAMS

routes = Api()

MAX_EMAIL_CHARS = 254
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")
ADMIN_CREATE = strict_object({"email": STR, "role": {"enum": list(ADMIN_ROLES)}, "password": STR})
ADMIN_PATCH = strict_object(
    {"role": {"enum": list(ADMIN_ROLES)}, "password": STR, "disabled": {"type": "boolean"},
     "totp_enabled": {"enum": [False], "description": "false: remove the second factor"}},
    optional=("role", "password", "disabled", "totp_enabled"),
)  # fmt: skip
PASSWORD_CHANGE = strict_object({"current_password": STR, "password": STR})
CODE = strict_object({"code": STR})
CURRENT_PASSWORD = strict_object({"current_password": STR})


def _email(value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL.fullmatch(value.strip()):
        raise invalid("email", "must be an email address")
    if len(value.strip()) > MAX_EMAIL_CHARS:
        raise invalid("email", f"must have at most {MAX_EMAIL_CHARS} characters")
    return value.strip()


def _password(value: Any, field: str = "password") -> str:
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    problem = passwords.problem(value)
    if problem:
        raise invalid(field, problem)
    return value


async def _confirm_password(request: web.Request, who: Caller, current: Any) -> None:
    """The account's own password, asked again before a change that locks others out; checked
    and throttled like a sign-in, so a stolen session cannot guess it at leisure."""
    if not isinstance(current, str) or not current:
        raise invalid("current_password", "is required")
    try:
        await check_credentials(request, current, who.email, reauth=True)
    except Unauthorized:  # a 400: the session itself is fine (a 401 would sign the UI out)
        raise invalid("current_password", "is not this account's password") from None


def _account(request: web.Request) -> Caller:
    who = caller(request)
    if who.admin_id is None:
        raise InvalidRequest(
            "The bootstrap owner (ADMIN_PASSWORD) has no account: sign in with an account's"
            " email to change its password or second factor."
        )
    return who


async def _keep_an_owner(conn: asyncpg.Connection, row: asyncpg.Record, change: str) -> None:
    """409 when `row` is the last enabled owner account and `change` would end that."""
    if row["role"] != "owner" or row["disabled_at"] is not None:
        return
    owners = await admins.lock_owners(conn)
    if owners == {row["id"]}:
        raise Conflict(f"This is the last owner account; it cannot be {change}.")


@routes.get("/admins", summary="The admin accounts", ok={"admins": array(ADMIN)}, role="owner")
async def list_admins(request: web.Request) -> web.Response:
    async with request.config_dict[DB_POOL].acquire() as conn:
        rows = await admins.admins(conn)
    return json_response({"admins": ADMIN.render_all(rows)})


@routes.post(
    "/admins",
    summary="Create an admin account",
    body=ADMIN_CREATE,
    ok={"admin": ADMIN},
    status=201,
    errors=(409,),
    role="owner",
)
async def create_admin(request: web.Request) -> web.Response:
    body = await read_object(request, allowed={"email", "role", "password"})
    for name in ("email", "role", "password"):
        if name not in body:
            raise invalid(name, "is required")
    email = _email(body["email"])
    role = ADMIN.parse({"role": body["role"]}, fields=("role",))["role"]
    password_hash = await passwords.hash_password(_password(body["password"]))
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        row = await admins.insert_admin(conn, email, role, password_hash)
        if row is None:
            raise Conflict("An admin account with this email exists already.")
        rendered = ADMIN.render(row)
        await audit.record(
            conn, request, "admin.create", customer_id=None, target=str(row["id"]),
            after=rendered,
        )  # fmt: skip
    return json_response({"admin": rendered}, status=201)


@routes.patch(
    "/admins/{aid}",
    summary="Change an account's role or password, disable or enable it, remove its TOTP",
    body=ADMIN_PATCH,
    ok={"admin": ADMIN},
    errors=(409,),
    role="owner",
)
async def patch_admin(request: web.Request) -> web.Response:
    aid = path_number(request, "aid", "admin account")
    body = await read_object(request, allowed={"role", "password", "disabled", "totp_enabled"})
    if not body:
        raise InvalidRequest("Send at least one of role, password, disabled, totp_enabled.")
    values = ADMIN.parse({k: v for k, v in body.items() if k in ("role", "disabled")})
    if "totp_enabled" in body:
        if body["totp_enabled"] is not False:
            raise invalid("totp_enabled", "can only be set to false (the account enrols itself)")
        values.update(totp_enabled=False, totp_sealed=None, totp_last_step=None)
    if "password" in body:
        values["password_hash"] = await passwords.hash_password(_password(body["password"]))
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        await admins.lock_owners(conn)  # first, in one order: two owners' changes never deadlock
        before = await admins.locked_with_secrets(conn, aid)
        if before is None:
            raise NotFound("No such admin account.")
        if "disabled_at" in values:
            disable = values.pop("disabled_at")
            if disable and before["disabled_at"] is None:
                await _keep_an_owner(conn, before, "disabled")
                values["disabled_at"] = dt.datetime.now(dt.UTC)
            elif not disable:
                values["disabled_at"] = None
        if values.get("role", "owner") != "owner":
            await _keep_an_owner(conn, before, "demoted")
        row = await admins.update_admin(conn, before, values) if values else before
        if values.get("disabled_at") or "password_hash" in values:
            await admin_sessions.end_account_sessions(conn, aid)
        rendered = ADMIN.render(row)
        after = {**rendered, "password_changed": "password_hash" in values}
        await audit.record(
            conn, request, "admin.update", customer_id=None, target=str(aid),
            before=ADMIN.render(before), after=after,
        )  # fmt: skip
    return json_response({"admin": rendered})


@routes.delete(
    "/admins/{aid}", summary="Remove an admin account", status=204, errors=(409,), role="owner"
)
async def delete_admin(request: web.Request) -> web.Response:
    aid = path_number(request, "aid", "admin account")
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        await admins.lock_owners(conn)  # first, in one order: two owners' changes never deadlock
        before = await admins.locked_with_secrets(conn, aid)
        if before is None:
            raise NotFound("No such admin account.")
        await _keep_an_owner(conn, before, "removed")
        await admins.delete_admin(conn, aid)  # its sessions go with it (ON DELETE CASCADE)
        await audit.record(
            conn, request, "admin.delete", customer_id=None, target=str(aid),
            before=ADMIN.render(before),
        )  # fmt: skip
    return web.Response(status=204)


async def _me(request: web.Request) -> dict[str, Any]:
    who = caller(request)
    if who.admin_id is None:
        return me(who)
    async with request.config_dict[DB_POOL].acquire() as conn:
        row = await admins.admin(conn, who.admin_id)
    return me(who, bool(row and row["totp_enabled"]))


@routes.get("/me", summary="Who is signed in, and their role", ok=ME_FIELDS, role="viewer")
async def get_me(request: web.Request) -> web.Response:
    return json_response(await _me(request))


@routes.post(
    "/me/password",
    summary="Change your own password (your other sessions end)",
    body=PASSWORD_CHANGE,
    status=204,
    role="viewer",
)
async def change_own_password(request: web.Request) -> web.Response:
    who = _account(request)
    body = await read_object(request, allowed={"current_password", "password"})
    new_hash = await passwords.hash_password(_password(body.get("password")))
    await _confirm_password(request, who, body.get("current_password"))
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        row = await admins.locked_with_secrets(conn, who.admin_id or 0)
        if row is None:
            raise NotFound("No such admin account.")
        await admins.update_admin(conn, row, {"password_hash": new_hash})
        await admin_sessions.end_account_sessions(conn, row["id"], request.get(ADMIN_SESSION))
        await audit.record(conn, request, "admin.password", customer_id=None, target=str(row["id"]))
    return web.Response(status=204)


@routes.post(
    "/me/totp",
    summary="Start enrolling an authenticator (with the account's password): a new secret,"
    " active once confirmed",
    body=CURRENT_PASSWORD,
    ok={"secret": STR, "otpauth_uri": STR},
    errors=(409,),
    role="viewer",
)
async def start_totp(request: web.Request) -> web.Response:
    who = _account(request)
    body = await read_object(request, allowed={"current_password"})
    await _confirm_password(request, who, body.get("current_password"))
    secret = totp.new_secret()
    sealed = totp.seal(request.config_dict[UPSTREAMS].box, who.admin_id or 0, secret)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        row = await admins.locked_with_secrets(conn, who.admin_id or 0)
        if row is None:
            raise NotFound("No such admin account.")
        if row["totp_enabled"]:
            raise Conflict("A second factor is active; an owner removes it before a new one.")
        await admins.update_admin(conn, row, {"totp_sealed": sealed})
    uri = totp.provisioning_uri(secret, who.email or "")
    return json_response({"secret": secret, "otpauth_uri": uri})


@routes.post(
    "/me/totp/confirm",
    summary="Confirm the authenticator with a current code: sign-in asks for codes from now on",
    body=CODE,
    ok=ME_FIELDS,
    errors=(409,),
    role="viewer",
)
async def confirm_totp(request: web.Request) -> web.Response:
    who = _account(request)
    body = await read_object(request, allowed={"code"})
    code = body.get("code")
    if not isinstance(code, str):
        raise invalid("code", "is required (the 6 digits, as a string)")
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        row = await admins.locked_with_secrets(conn, who.admin_id or 0)
        if row is None or row["totp_sealed"] is None:
            raise Conflict("Start with POST /me/totp to get a secret first.")
        if row["totp_enabled"]:
            raise Conflict("The second factor is active already.")
        secret = totp.unseal(request.config_dict[UPSTREAMS].box, row["id"], row["totp_sealed"])
        step = totp.matching_step(secret, code)
        if step is None:
            raise invalid("code", "is not the authenticator's current code")
        await admins.update_admin(conn, row, {"totp_enabled": True, "totp_last_step": step})
        await audit.record(conn, request, "admin.totp", customer_id=None, target=str(row["id"]))
    return json_response(me(who, True))
