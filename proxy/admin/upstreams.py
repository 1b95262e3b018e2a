"""Admin routes for upstreams: the provider credentials calls are sent with, their pools and
health. Keys and headers are sealed before they reach the database and never leave it again:
an answer shows `key_last4` and the header names, the audit log the same."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web

from core.chat import ChatRequest, text_message
from core.errors import Conflict, GatewayError, InvalidRequest, NotFound, UpstreamError
from core.events import TextDelta
from core.upstreams import DEMO_PROVIDER, UpstreamSpec, default_api, env_upstream_id
from db import upstreams as db_upstreams
from proxy.admin import audit
from proxy.admin.fields import STR, array, strict_object
from proxy.admin.resources import UPSTREAM, UPSTREAM_TEST
from proxy.admin.routing import Api
from proxy.admin.validation import invalid, path_id, read_object, text
from proxy.http.responses import json_response
from proxy.infra.secretbox import SecretBox
from proxy.state import DB_POOL, PRICE_BOOK, PROCESS_ID, UPSTREAMS
from proxy.upstreams.health import TIMEOUT, merge
from proxy.upstreams.pool import failure_kind
from proxy.upstreams.registry import Upstreams, seal_headers, seal_key

routes = Api()

CREATE_FIELDS = (
    "provider", "api", "label", "base_url", "api_key", "headers", "models", "priority", "weight",
    "enabled",
)  # fmt: skip
PATCH_FIELDS = CREATE_FIELDS
TEST_TIMEOUT_S = 30.0
READ_ONLY = "This upstream comes from the environment; change it there (it is read-only here)."


def _upstream_id() -> str:
    return "up_" + secrets.token_hex(8)


def _time(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


def _health(uid: str, views: list[dict[str, Any]]) -> dict[str, Any]:
    """The upstream's health merged over the live processes, timestamps as ISO text."""
    merged = merge(view[uid] for view in views if uid in view)
    for name in ("cooling_until", "last_error_at"):
        at = _time(merged[name])
        merged[name] = at.isoformat().replace("+00:00", "Z") if at else None
    return merged


def _env_row(spec: UpstreamSpec) -> dict[str, Any]:
    return {
        "id": spec.id, "provider": spec.provider, "api": spec.api, "label": "environment",
        "base_url": spec.base_url, "key_last4": spec.key_last4, "header_names": [],
        "models": None, "priority": spec.priority, "weight": spec.weight,
        "enabled": spec.enabled, "read_only": True, "created_at": None, "updated_at": None,
    }  # fmt: skip


def _render(row: asyncpg.Record | dict[str, Any], views: list[dict[str, Any]]) -> dict[str, Any]:
    values = {**dict(row), "read_only": bool(dict(row).get("read_only"))}
    values["health"] = _health(values["id"], views)
    return UPSTREAM.render(values)


def _env_spec(request: web.Request, uid: str) -> UpstreamSpec | None:
    return next((s for s in request.config_dict[UPSTREAMS].env if s.id == uid), None)


async def _views(conn: asyncpg.Connection, request: web.Request) -> list[dict[str, Any]]:
    """Each live process's view of the upstreams: this one's as it is now, the others' as
    their last heartbeat (at most a second old) wrote it."""
    own = request.config_dict[UPSTREAMS].health_snapshot()
    return [own, *await db_upstreams.others_health(conn, request.config_dict[PROCESS_ID])]


def _box(request: web.Request) -> SecretBox:
    box = request.config_dict[UPSTREAMS].box
    if box is None:  # settings resolution always sets KAIXU_SECRET
        raise Conflict("The gateway has no KAIXU_SECRET; upstream keys cannot be stored.")
    return box


async def _check_api(conn: asyncpg.Connection, request: web.Request, values: dict[str, Any],
                     uid: str) -> None:  # fmt: skip
    """One wire format per provider name: its upstreams are interchangeable."""
    provider, api = values["provider"], values["api"]
    if provider == DEMO_PROVIDER:
        raise invalid("provider", f"{DEMO_PROVIDER!r} is the built-in demo; choose another name")
    env = _env_spec(request, env_upstream_id(provider))
    other = env.api if env is not None and env.api != api else None
    other = other or await db_upstreams.other_api(conn, provider, api, uid)
    if other is not None:
        raise Conflict(
            f"Provider {provider!r} already speaks the {other!r} wire format; every upstream of"
            " a provider speaks the same one (give this one another provider name)."
        )


def _sealed(box: SecretBox, uid: str, body: dict[str, Any], values: dict[str, Any]) -> None:
    """The key and headers given in `body`, sealed into `values` (in place)."""
    if "api_key" in body:
        values["key_enc"] = seal_key(box, uid, body["api_key"])
        values["key_last4"] = body["api_key"][-4:]
    if "headers" in body:
        values["headers_enc"] = seal_headers(box, uid, body["headers"])
        values["header_names"] = sorted(body["headers"])


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _audited(rendered: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of an upstream: everything shown, but not its health."""
    return {k: v for k, v in rendered.items() if k != "health"}


async def _reload(request: web.Request) -> None:
    """After a commit: this process routes by the change at once (the NOTIFY tells the others,
    and this one again a moment later)."""
    await request.config_dict[UPSTREAMS].load(request.config_dict[DB_POOL])


@routes.get(
    "/upstreams",
    summary="Every upstream (the environment's first), with its health",
    ok={"upstreams": array(UPSTREAM)},
    role="viewer",
)
async def list_upstreams(request: web.Request) -> web.Response:
    async with request.config_dict[DB_POOL].acquire() as conn:
        rows = await db_upstreams.list_upstreams(conn)
        views = await _views(conn, request)
    env = [_env_row(spec) for spec in request.config_dict[UPSTREAMS].env]
    return json_response({"upstreams": [_render(row, views) for row in [*env, *rows]]})


@routes.post(
    "/upstreams",
    summary="Add an upstream (its key is never shown again)",
    body=UPSTREAM.input_schema(CREATE_FIELDS, required=("provider", "base_url", "api_key")),
    ok={"upstream": UPSTREAM},
    status=201,
    errors=(409,),
)
async def create_upstream(request: web.Request) -> web.Response:
    body = await read_object(request)
    parsed = UPSTREAM.parse(body, fields=CREATE_FIELDS, required=("provider", "base_url",
                                                                  "api_key"))  # fmt: skip
    uid = _upstream_id()
    values: dict[str, Any] = {
        "label": "", "headers_enc": None, "header_names": [], "models": None, "priority": 0,
        "weight": 1, "enabled": True, "api": default_api(parsed["provider"]),
        **{k: v for k, v in parsed.items() if k not in ("api_key", "headers")},
    }  # fmt: skip
    _sealed(_box(request), uid, parsed, values)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        await _check_api(conn, request, values, uid)
        row = await db_upstreams.insert_upstream(conn, uid, values)
        rendered = _render(row, [])
        await db_upstreams.notify_upstreams(conn)
        await audit.record(conn, request, "upstream.create", customer_id=None, target=uid,
                           after=_audited(rendered))  # fmt: skip
    await _reload(request)
    return json_response({"upstream": rendered}, status=201)


def _stored_id(request: web.Request) -> str:
    uid = path_id(request, "uid", "upstream")
    if _env_spec(request, uid) is not None:
        raise Conflict(READ_ONLY)
    return uid


def _missing(uid: str) -> NotFound:
    return NotFound(f"No upstream with id {uid!r}.")


@routes.get("/upstreams/{uid}", summary="Read an upstream", ok={"upstream": UPSTREAM},
            role="viewer")  # fmt: skip
async def get_upstream(request: web.Request) -> web.Response:
    uid = path_id(request, "uid", "upstream")
    async with request.config_dict[DB_POOL].acquire() as conn:
        views = await _views(conn, request)
        env = _env_spec(request, uid)
        row: Any = (
            _env_row(env) if env is not None else await db_upstreams.fetch_upstream(conn, uid)
        )
    if row is None:
        raise _missing(uid)
    return json_response({"upstream": _render(row, views)})


@routes.patch(
    "/upstreams/{uid}",
    summary="Change an upstream (a new api_key or headers replace the old ones)",
    body=UPSTREAM.input_schema(PATCH_FIELDS),
    ok={"upstream": UPSTREAM},
    errors=(409,),
)
async def patch_upstream(request: web.Request) -> web.Response:
    uid = _stored_id(request)
    body = await read_object(request)
    parsed = UPSTREAM.parse(body, fields=PATCH_FIELDS)
    box = _box(request)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        current = await db_upstreams.lock_upstream(conn, uid)
        if current is None:
            raise _missing(uid)
        before = _audited(_render(current, []))
        values = {c: current[c] for c in db_upstreams.EDITABLE_COLUMNS}
        if (
            "provider" in parsed
            and "api" not in parsed
            and parsed["provider"] != values["provider"]
        ):
            values["api"] = default_api(parsed["provider"])
        moved = _origin(parsed.get("base_url", values["base_url"])) != _origin(values["base_url"])
        # Or the stored key (and header values) would be sent to the new host unseen.
        if moved and "api_key" not in parsed:
            raise invalid("api_key", "is required when base_url moves to another host")
        if moved and values["header_names"] and "headers" not in parsed:
            raise invalid("headers", "are required when base_url moves to another host")
        values.update({k: v for k, v in parsed.items() if k not in ("api_key", "headers")})
        _sealed(box, uid, parsed, values)
        await _check_api(conn, request, values, uid)
        row = await db_upstreams.update_upstream(conn, uid, values)
        rendered = _render(row, await _views(conn, request))
        await db_upstreams.notify_upstreams(conn)
        await audit.record(conn, request, "upstream.update", customer_id=None, target=uid,
                           before=before, after=_audited(rendered))  # fmt: skip
    await _reload(request)
    return json_response({"upstream": rendered})


@routes.delete("/upstreams/{uid}", summary="Remove an upstream", status=204, errors=(409,))
async def delete_upstream(request: web.Request) -> web.Response:
    uid = _stored_id(request)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        current = await db_upstreams.lock_upstream(conn, uid)
        if current is None:
            raise _missing(uid)
        await db_upstreams.delete_upstream(conn, uid)
        await db_upstreams.notify_upstreams(conn)
        await audit.record(conn, request, "upstream.delete", customer_id=None, target=uid,
                           before=_audited(_render(current, [])))  # fmt: skip
    await _reload(request)
    return web.Response(status=204)


def _test_model(request: web.Request, registry: Upstreams, uid: str, given: str | None) -> str:
    """The model to test with: the one given, else one the upstream names, else a priced one
    of its provider that it serves."""
    spec = registry.live[uid].spec
    if given is not None:
        if not spec.serves(given):
            raise invalid("model", "is not one this upstream serves (its models patterns)")
        return given
    exact = [m for m in spec.models or () if not m.endswith("*")]
    priced = [p.model for p in request.config_dict[PRICE_BOOK].table.models(spec.provider)]
    for model in [*exact, *priced]:
        if spec.serves(model):
            return model
    raise invalid("model", "is needed: this upstream names no model and none of its is priced")


@routes.post(
    "/upstreams/{uid}/test",
    summary="Send a 1-token request through this upstream alone (not billed to any customer)",
    body=strict_object({"model": STR}, optional=("model",)),
    ok={"result": UPSTREAM_TEST},
    errors=(409,),
)
async def test_upstream(request: web.Request) -> web.Response:
    uid = path_id(request, "uid", "upstream")
    body = await read_object(request, allowed=("model",), empty_ok=True)
    registry = request.config_dict[UPSTREAMS]
    if uid not in registry.live:
        if uid in registry.unreadable:
            raise Conflict(f"Upstream {uid!r} cannot be used: {registry.unreadable[uid]}.")
        raise _missing(uid)
    given = text(128, min_chars=1)("model", body["model"]) if "model" in body else None
    model = _test_model(request, registry, uid, given)
    upstream = registry.live[uid]
    chat = ChatRequest(upstream.spec.provider, model, (text_message("user", "Say OK."),), 1)
    started = time.perf_counter()
    result: dict[str, Any] = {"ok": False, "upstream_id": uid, "model": model, "status": None,
                              "text": None, "error": None}  # fmt: skip
    try:
        prepared = upstream.transport.prepare(chat, False)
        async with asyncio.timeout(TEST_TIMEOUT_S):
            events = [event async for event in upstream.transport.events(prepared)]
        text_out = "".join(e.text for e in events if isinstance(e, TextDelta))
        result.update(ok=True, status=200, text=text_out)
        # A real attempt: it counts in the health, and a success ends a cool-down (an
        # operator who fixed a key sees it in use again at once).
        upstream.health.succeeded(time.perf_counter() - started)
    except InvalidRequest:
        raise
    except GatewayError as exc:
        result.update(error=exc.message, status=getattr(exc, "upstream_status", None))
        retry_after = exc.retry_after_s if isinstance(exc, UpstreamError) else None
        upstream.health.failed(failure_kind(exc)[0], exc.message, retry_after)
    except TimeoutError:
        result.update(error=f"no answer within {TEST_TIMEOUT_S:g} s")
        upstream.health.failed(TIMEOUT, result["error"])
    result["latency_ms"] = round((time.perf_counter() - started) * 1000)
    async with request.config_dict[DB_POOL].acquire() as conn:
        await audit.record(conn, request, "upstream.test", customer_id=None, target=uid,
                           after={k: v for k, v in result.items() if k != "text"})  # fmt: skip
    return json_response({"result": result})
