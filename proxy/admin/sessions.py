"""Admin sessions: signing out, and listing and ending the sessions that are live. An owner sees
and ends everyone's; any other account only its own."""

from __future__ import annotations

from aiohttp import web

from core.errors import InvalidRequest, NotFound
from db import admin_sessions
from proxy.admin import audit
from proxy.admin.fields import array
from proxy.admin.resources import ADMIN_SESSION
from proxy.admin.roles import caller
from proxy.admin.routing import Api
from proxy.admin.validation import path_number
from proxy.http.responses import json_response
from proxy.state import ADMIN_SESSION as CURRENT_SESSION
from proxy.state import DB_POOL

routes = Api()


@routes.post(
    "/logout", summary="Sign out: this token is refused from now on", status=204, role="viewer"
)
async def logout(request: web.Request) -> web.Response:
    session_id = request.get(CURRENT_SESSION)
    if session_id is None:
        raise InvalidRequest("Sign out ends a token's session: send the token as the bearer.")
    async with request.config_dict[DB_POOL].acquire() as conn:
        await admin_sessions.end_session(conn, session_id)
    return web.Response(status=204)


@routes.get(
    "/sessions",
    summary="The live admin sessions, newest first (an owner's: everyone's; others: their own)",
    ok={"sessions": array(ADMIN_SESSION)},
    role="viewer",
)
async def list_sessions(request: web.Request) -> web.Response:
    who = caller(request)
    holder = None if who.may("owner") else who.holder
    async with request.config_dict[DB_POOL].acquire() as conn:
        rows = await admin_sessions.live_sessions(conn, request.get(CURRENT_SESSION), holder)
    return json_response({"sessions": ADMIN_SESSION.render_all(rows)})


@routes.delete(
    "/sessions", summary="End every admin session, the caller's own too", status=204, role="owner"
)
async def end_all_sessions(request: web.Request) -> web.Response:
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        ended = await admin_sessions.end_all_sessions(conn)
        await audit.record(
            conn, request, "sessions.end_all", customer_id=None, target=None,
            after={"ended": ended},
        )  # fmt: skip
    return web.Response(status=204)


@routes.delete(
    "/sessions/{sid}",
    summary="End one admin session (an owner: anyone's; others: their own)",
    status=204,
    role="viewer",
)
async def end_session(request: web.Request) -> web.Response:
    session_id = path_number(request, "sid", "session")
    who = caller(request)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        holder = await admin_sessions.session_holder(conn, session_id)
        if holder is not None and holder != who.holder and not who.may("owner"):
            raise NotFound("No such live session.")  # another account's: not even its existence
        if not await admin_sessions.end_session(conn, session_id):
            raise NotFound("No such live session.")
        await audit.record(conn, request, "session.end", customer_id=None, target=str(session_id))
    return web.Response(status=204)
