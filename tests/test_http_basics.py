"""Error shapes, request ids, the request log line, metrics and the admin UI's static serving."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web

from core import errors
from core.settings import Settings
from proxy.app import create_app


@pytest.fixture
async def app_with_test_routes(settings: Settings, aiohttp_client):
    """The real app plus routes that fail in known ways (registered before it starts)."""
    app = create_app(settings)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("db password is hunter2")

    async def limited(request: web.Request) -> web.Response:
        raise errors.RateLimited("Slow down.", retry_after_s=7)

    async def forbidden(request: web.Request) -> web.Response:
        raise errors.Forbidden("That model is not on this key's list.", type="model_not_allowed")

    async def echo_size(request: web.Request) -> web.Response:
        return web.json_response({"bytes": len(await request.read())})

    app.router.add_get("/test/boom", boom)
    app.router.add_get("/test/limited", limited)
    app.router.add_get("/test/forbidden", forbidden)
    app.router.add_post("/test/echo-size", echo_size)
    return await aiohttp_client(app)


def assert_error_shape(body: dict, error_type: str) -> None:
    assert set(body) == {"error"}
    assert body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def test_healthz_is_alive(client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {"status": "ok"}


async def test_unknown_path_is_a_json_404(client) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status == 404
    assert response.content_type == "application/json"
    assert_error_shape(await response.json(), "not_found")


async def test_wrong_method_is_a_json_405(client) -> None:
    response = await client.post("/healthz")
    assert response.status == 405
    assert_error_shape(await response.json(), "method_not_allowed")


async def test_unhandled_exception_is_500_without_internals(app_with_test_routes, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="kaixu.http"):
        response = await app_with_test_routes.get("/test/boom")
    assert response.status == 500
    body = await response.json()
    assert_error_shape(body, "internal_error")
    request_id = response.headers["X-Request-Id"]
    assert "hunter2" not in await response.text()
    assert request_id in body["error"]["message"]
    logged = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert logged and logged[0].request_id == request_id
    assert "hunter2" in logged[0].exc_text  # the operator sees the cause in the log, the client not


async def test_gateway_errors_carry_status_type_and_headers(app_with_test_routes) -> None:
    response = await app_with_test_routes.get("/test/limited")
    assert response.status == 429
    assert response.headers["Retry-After"] == "7"
    body = await response.json()
    assert_error_shape(body, "rate_limited")
    assert body["error"]["retry_after_s"] == 7

    response = await app_with_test_routes.get("/test/forbidden")
    assert response.status == 403
    assert_error_shape(await response.json(), "model_not_allowed")


async def test_body_over_the_limit_is_413(app_with_test_routes, settings: Settings) -> None:
    ok = await app_with_test_routes.post("/test/echo-size", data=b"x" * 100)
    assert (await ok.json()) == {"bytes": 100}
    response = await app_with_test_routes.post(
        "/test/echo-size", data=b"x" * (settings.max_body_bytes + 1)
    )
    assert response.status == 413
    assert_error_shape(await response.json(), "payload_too_large")


async def test_every_response_has_a_request_id(client) -> None:
    ids = set()
    for path in ("/healthz", "/readyz", "/nope", "/admin/"):
        response = await client.get(path)
        ids.add(response.headers["X-Request-Id"])
    assert len(ids) == 4


async def test_a_sane_incoming_request_id_is_kept_and_a_bad_one_replaced(client) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "trace-abc.123"})
    assert response.headers["X-Request-Id"] == "trace-abc.123"
    response = await client.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert response.headers["X-Request-Id"] not in ("bad id\twith spaces", "")


async def test_one_structured_log_line_per_request(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="kaixu.http"):
        response = await client.get("/healthz", headers={"X-Request-Id": "log-me-1"})
    lines = [r for r in caplog.records if r.name == "kaixu.http" and r.getMessage() == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert response.status == 200
    assert (line.request_id, line.route, line.status, line.method) == (
        "log-me-1",
        "/healthz",
        200,
        "GET",
    )
    assert line.duration_ms >= 0


async def test_metrics_count_requests_by_route_and_status(client) -> None:
    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/no/such/thing")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert 'kaixu_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert 'kaixu_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert "kaixu_http_request_duration_seconds_bucket" in text


async def test_admin_ui_is_served_with_a_strict_csp(client) -> None:
    response = await client.get("/admin/")
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    assert 'id="app"' in html and '<script type="module"' in html
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    script = await client.get("/admin/app.js")
    assert script.status == 200
    assert "javascript" in script.content_type


async def test_admin_without_slash_redirects(client) -> None:
    response = await client.get("/admin", allow_redirects=False)
    assert response.status == 308
    assert response.headers["Location"] == "/admin/"


async def test_admin_static_files_cannot_escape_their_folder(client) -> None:
    for path in ("/admin/../proxy/app.py", "/admin/%2e%2e/proxy/app.py", "/admin/missing.js"):
        response = await client.get(path)
        assert response.status in (403, 404), path
        assert "create_app" not in await response.text()


@pytest.mark.parametrize("path", ["/admin/nope.js", "/admin/panels/", "/admin/vendor/missing.js"])
async def test_a_missing_admin_file_is_a_json_404(client, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert response.content_type == "application/json"
    assert_error_shape(await response.json(), "not_found")


async def test_admin_files_in_subfolders_are_served(client) -> None:
    response = await client.get("/admin/panels/login.js")
    assert response.status == 200
    assert "javascript" in response.content_type
    assert response.headers["Content-Security-Policy"]
