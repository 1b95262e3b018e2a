"""The check of admin answers against the OpenAPI document catches what it is there to catch."""

from __future__ import annotations

import orjson
import pytest
from aiohttp import web

from tests.conftest import ADMIN_HEADERS, AdminAnswers, fail_on_mismatches

CUSTOMER = {
    "id": "acme", "name": "", "plan": "default", "monthly_cap_cents": 0, "rpm_limit": None,
    "allowed_providers": None, "allowed_models": None, "active": True,
    "alert_thresholds": [50, 80, 100], "credit_low_cents": None, "active_keys": 1,
    "extra_cents": 0, "created_at": "2026-01-02T03:04:05.123456Z",
    "updated_at": "2026-01-02T03:04:05Z",
}  # fmt: skip
NOT_FOUND = {"error": {"type": "not_found", "message": "No.", "code": "not_found", "param": None}}


def problems(answers: AdminAnswers, status: int, body: object, path: str = "/customers/{cid}"):
    return answers.problems("GET", path, status, "application/json", orjson.dumps(body))


def test_a_right_answer_passes(admin_answers: AdminAnswers) -> None:
    assert problems(admin_answers, 200, {"customer": CUSTOMER}) == []
    assert problems(admin_answers, 404, NOT_FOUND) == []


@pytest.mark.parametrize(
    ("status", "body", "what"),
    [
        (200, {"customer": {**CUSTOMER, "active_keys": "1"}}, "'1' is not of type 'integer'"),
        (200, {"customer": {k: v for k, v in CUSTOMER.items() if k != "plan"}}, "'plan'"),
        (200, {"customer": {**CUSTOMER, "secret": 1}}, "'secret' was unexpected"),
        (200, {"customer": {**CUSTOMER, "created_at": "2026-01-02 03:04"}}, "created_at"),
        (200, {"customers": [CUSTOMER]}, "'customer' is a required property"),
        (404, {"detail": "No."}, "'error' is a required property"),
        (404, {"error": {**NOT_FOUND["error"], "param": 3}}, "param"),
        (418, NOT_FOUND, "status 418 is not documented"),
    ],
)
def test_a_wrong_answer_is_named(
    admin_answers: AdminAnswers, status: int, body: object, what: str
) -> None:
    found = problems(admin_answers, status, body)
    assert found and what in " ".join(found), found


def test_unknown_routes_may_only_answer_errors(admin_answers: AdminAnswers) -> None:
    assert problems(admin_answers, 404, NOT_FOUND, path=None) == []
    assert problems(admin_answers, 200, {}, path=None)  # an undocumented route that answers
    assert problems(admin_answers, 404, {"oops": 1}, path=None)
    text = admin_answers.problems("GET", None, 404, "text/plain", b"404: Not Found")
    assert text == ["GET None 404: text/plain, not application/json"]


def test_media_types_are_the_documented_ones(admin_answers: AdminAnswers) -> None:
    csv = "/exports/customers.csv"
    assert admin_answers.problems("GET", csv, 200, "text/csv", b"id\n") == []
    assert admin_answers.problems("GET", csv, 200, "application/json", b"{}")
    assert admin_answers.problems("GET", "/customers", 200, "application/json", b"{no")


def test_mismatches_fail_the_test() -> None:
    fail_on_mismatches([])
    with pytest.raises(pytest.fail.Exception, match="GET /x 200: bad"):
        fail_on_mismatches(["GET /x 200: bad"])


async def test_a_served_wrong_answer_is_recorded(
    aiohttp_client, admin_answer_mismatches: list[str]
) -> None:
    """An app served by the fixture, whose admin route answers a wrong body, is caught: the
    mismatch lands in the list the fixture's teardown fails the test on."""

    async def wrong(request: web.Request) -> web.Response:
        return web.json_response({"customer": {**CUSTOMER, "monthly_cap_cents": None}})

    api = web.Application()
    api.router.add_get("/customers/{cid}", wrong)
    app = web.Application()
    app.add_subapp("/admin/api/", api)
    client = await aiohttp_client(app)
    assert (await client.get("/admin/api/customers/acme")).status == 200
    assert len(admin_answer_mismatches) == 1
    assert "monthly_cap_cents: None is not of type 'number'" in admin_answer_mismatches[0]
    admin_answer_mismatches.clear()  # this test's own mismatch was the point


async def test_the_real_app_is_watched(
    client, admin_answers: AdminAnswers, admin_answer_mismatches: list[str]
) -> None:
    before = admin_answers.checked
    assert (await client.get("/admin/api/customers", headers=ADMIN_HEADERS)).status == 200
    assert (await client.get("/admin/api/customers/nope", headers=ADMIN_HEADERS)).status == 404
    assert admin_answers.checked == before + 2
    assert admin_answer_mismatches == []
