"""The admin API's OpenAPI document is valid and matches the routes exactly.

(tests/conftest.py checks every admin answer of the suite against this same document.)"""

from __future__ import annotations

from openapi_spec_validator import validate

from core.settings import Settings
from proxy import admin
from proxy.admin import create_admin_app
from tests.conftest import ADMIN_HEADERS

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def registered_routes() -> set[tuple[str, str]]:
    app = create_admin_app(Settings())
    found = set()
    for route in app.router.routes():
        method = route.method.lower()
        if method in HTTP_METHODS:
            found.add((method, route.resource.canonical))
    return found


async def test_document_is_served_and_valid(client) -> None:
    response = await client.get("/admin/api/openapi.json", headers=ADMIN_HEADERS)
    assert response.status == 200
    document = await response.json()
    validate(document)
    assert document["servers"] == [{"url": "/admin/api"}]


async def test_every_route_is_documented_and_nothing_else(client) -> None:
    response = await client.get("/admin/api/openapi.json", headers=ADMIN_HEADERS)
    document = await response.json()
    documented = {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }
    routes = {(method, path.replace("{iid:\\d+}", "{iid}")) for method, path in registered_routes()}
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented routes that do not exist"


async def test_the_served_document_is_the_one_answers_are_checked_against(client) -> None:
    response = await client.get("/admin/api/openapi.json", headers=ADMIN_HEADERS)
    assert await response.json() == admin.document()


def test_every_operation_declares_a_role() -> None:
    operations = [op for api in admin.route_tables() for op in api.operations]
    assert len(operations) == len(registered_routes())
    assert {op.role for op in operations} <= {"owner", "operator", "viewer"}
