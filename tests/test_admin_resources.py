"""The resource declarations agree with the db modules, and parse bodies as the routes promise."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import InvalidRequest
from db import customers as db_customers
from db import devices as db_devices
from db import invoices as db_invoices
from db import keys as db_keys
from db import prices as db_prices
from db import topups as db_topups
from proxy.admin import resources
from proxy.admin.fields import Resource


def column_list(sql: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in sql.split(","))


def test_writable_columns_are_the_db_modules_editable_columns() -> None:
    key = resources.KEY
    assert key.columns(key.writable()) == db_keys.EDITABLE_COLUMNS
    assert set(db_keys.DEFAULTS) == set(db_keys.EDITABLE_COLUMNS)
    customer = resources.CUSTOMER
    assert customer.columns(resources.CUSTOMER_PATCH) == db_customers.EDITABLE_COLUMNS
    assert set(db_customers.DEFAULTS) == set(db_customers.EDITABLE_COLUMNS)
    assert set(customer.columns(resources.CUSTOMER_CREATE)) == {
        "id",
        *db_customers.EDITABLE_COLUMNS,
    } - {"active"}


@pytest.mark.parametrize(
    ("resource", "selected"),
    [
        (resources.KEY, column_list(db_keys.KEY_COLUMNS)),
        (resources.DEVICE, column_list(db_devices.DEVICE_COLUMNS)),
        (resources.TOPUP, column_list(db_topups.TOPUP_COLUMNS)),
        (resources.INVOICE_SUMMARY, column_list(db_invoices.SUMMARY_COLUMNS)),
        (resources.PRICE, (*column_list(db_prices.PRICE_COLUMNS), "updated_at")),
    ],
    ids=lambda value: value.name if isinstance(value, Resource) else "",
)
def test_rendered_columns_are_the_ones_selected(
    resource: Resource, selected: tuple[str, ...]
) -> None:
    assert set(resource.columns()) == set(selected)


def test_every_resource_is_a_component_once() -> None:
    names = [resource.name for resource in resources.RESOURCES]
    assert len(names) == len(set(names))
    for resource in resources.RESOURCES:
        schema = resource.schema()
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == {f.name for f in resource.fields if not f.optional}


def test_parse_refuses_unknown_fields_like_read_object() -> None:
    with pytest.raises(InvalidRequest) as refused:
        resources.KEY.parse({"label": "ci", "zeta": 1, "kind": "master"})
    assert refused.value.message == "Unknown field(s): kind, zeta."
    assert refused.value.extra == {"param": "kind"}


def test_parse_keys_values_by_column_and_checks_in_declared_order() -> None:
    parsed = resources.KEY.parse({"cap_cents": "1.5", "label": "ci", "rpm_limit": None})
    assert parsed == {"label": "ci", "cap_uc": 1_500_000, "rpm_limit": None}
    with pytest.raises(InvalidRequest) as refused:
        resources.KEY.parse({"allowed_models": 5, "label": 7})
    assert refused.value.extra == {"param": "label"}  # declared before allowed_models


def test_parse_of_chosen_fields_and_required_ones() -> None:
    create = resources.CUSTOMER_CREATE
    with pytest.raises(InvalidRequest) as refused:
        resources.CUSTOMER.parse({"active": False}, fields=create)
    assert refused.value.message == "Unknown field(s): active."
    with pytest.raises(InvalidRequest) as missing:
        resources.TOPUP.parse({"note": "x"}, required=("amount_cents",))
    assert missing.value.message == "amount_cents is required."
    assert missing.value.extra == {"param": "amount_cents"}


def test_render_leaves_optional_fields_to_the_route() -> None:
    row = {
        "id": "key_1", "customer_id": "c", "kind": "sub", "last4": "abcd", "label": "",
        "cap_uc": 2_500_000, "rpm_limit": None, "max_devices": None, "require_install": False,
        "allowed_providers": None, "allowed_models": None, "revoked_at": None,
        "created_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        "rotated_from": None,
    }  # fmt: skip
    rendered = resources.KEY.render(row)
    assert "key" not in rendered
    assert rendered["cap_cents"] == 2.5 and rendered["created_at"] == "2026-01-02T00:00:00Z"
