"""Devices, CSV exports and the audit log in the browser."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Page, expect

from tests.browser.conftest import Gateway
from tests.browser.helpers import (
    chat,
    csv_rows,
    error_type,
    open_panel,
    screenshot,
    select_customer,
    sign_in,
)


def test_revoking_a_device_refuses_its_calls(page: Page, gateway: Gateway) -> None:
    customer, _ = gateway.api.create_customer("devices")
    sub = gateway.api.create_key(customer["id"], label="Field tablets", max_devices=2)
    for install_id in ("tablet-001", "tablet-002"):
        headers = {"X-Kaixu-Install-Id": install_id, "User-Agent": "KaixuField/2.1 (Android 15)"}
        assert chat(gateway.url, sub["key"], headers=headers)[0] == 200
    sign_in(page, gateway.password)
    select_customer(page, customer["id"])
    open_panel(page, "Devices")

    row = page.get_by_role("row").filter(has_text="tablet-001")
    expect(row).to_contain_text("Field tablets")
    expect(row).to_contain_text("KaixuField/2.1 (Android 15)")
    expect(row).to_contain_text("Active")
    screenshot(page, "devices")

    row.get_by_role("button", name="Revoke device tablet-001").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("403 device_revoked")
    dialog.get_by_role("button", name="Revoke device").click()
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_role("button")).to_have_count(0)

    status, answer = chat(gateway.url, sub["key"], headers={"X-Kaixu-Install-Id": "tablet-001"})
    assert (status, error_type(answer)) == (403, "device_revoked")
    assert chat(gateway.url, sub["key"], headers={"X-Kaixu-Install-Id": "tablet-002"})[0] == 200
    # The revoked device's seat is free again for a new one.
    assert chat(gateway.url, sub["key"], headers={"X-Kaixu-Install-Id": "tablet-003"})[0] == 200


def test_csv_downloads_carry_the_rows(page: Page, gateway: Gateway) -> None:
    customer, key = gateway.api.create_customer("export", name="Export Co")
    for _ in range(3):
        assert chat(gateway.url, key)[0] == 200
    sign_in(page, gateway.password)
    select_customer(page, customer["id"])
    open_panel(page, "Exports & invoices")
    expect(page.get_by_label("Customer", exact=True)).to_have_value(customer["id"])

    with page.expect_download() as info:
        page.get_by_role("button", name="Download usage CSV").click()
    download = info.value
    assert download.suggested_filename == f"usage-{customer['id']}.csv"
    rows = csv_rows(download)
    assert len(rows) == 3
    assert {row["customer_id"] for row in rows} == {customer["id"]}
    assert {(row["model"], row["input_tokens"], row["cost_cents"]) for row in rows} == {
        ("gpt-4o-mini", "1000", "0.045000")
    }
    expect(page.get_by_role("status").filter(has_text="Saved usage-")).to_be_visible()
    screenshot(page, "exports")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download customers CSV").click()
    customers = csv_rows(info.value)
    assert any(row["id"] == customer["id"] and row["name"] == "Export Co" for row in customers)

    # A month with no usage gives a CSV with the header only.
    page.get_by_label("Month").first.fill("2020-01")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download usage CSV").click()
    assert info.value.suggested_filename == f"usage-{customer['id']}-2020-01.csv"
    assert csv_rows(info.value) == []


def test_audit_log_filters_by_customer_and_pages(page: Page, gateway: Gateway) -> None:
    customer, _ = gateway.api.create_customer("audit")
    with ThreadPoolExecutor(8) as pool:
        labels = [f"audit-key-{i:02d}-{secrets.token_hex(2)}" for i in range(55)]
        list(pool.map(lambda label: gateway.api.create_key(customer["id"], label=label), labels))
    gateway.api.call("POST", f"/customers/{customer['id']}/topups", {"amount_cents": 250})
    other, _ = gateway.api.create_customer("audit-other")
    sign_in(page, gateway.password)
    select_customer(page, customer["id"])
    open_panel(page, "Audit")

    expect(page.get_by_label("Customer", exact=True)).to_have_value(customer["id"])
    rows = page.get_by_role("region", name="Audit log").locator("tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("topup.create")
    expect(page.get_by_role("region", name="Audit log")).not_to_contain_text(other["id"])
    rows.first.get_by_role("button", name="Before / after").click()
    expect(page.locator("tr.detail pre").last).to_contain_text('"amount_cents": 250')
    screenshot(page, "audit", full_page=False)

    rows.first.get_by_role("button", name="Before / after").click()
    expect(page.locator("tr.detail")).to_have_count(0)
    page.get_by_role("button", name="Older →").click()
    expect(rows).to_have_count(7)  # 57 entries: customer.create, 55 key.create, topup.create
    expect(rows.last).to_contain_text("customer.create")
    page.get_by_role("button", name="← Newer").click()
    expect(rows).to_have_count(50)

    page.get_by_label("Customer", exact=True).select_option("")
    expect(rows.first).to_contain_text(other["id"])
