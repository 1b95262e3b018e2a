"""Spare reservations (proxy/ledger/spares.py): a busy key's next requests are admitted without
a database round trip, and still billed exactly, within the caps, and refused at once when the
key, its customer or the device changes.

Costs as in test_limits: each request reports 10 + 10 tokens (750 uc) and reserves 6,120 uc.
"""

from __future__ import annotations

import asyncio
import re

from db.gateway import Settlement
from proxy.ledger.outbox import Outbox
from proxy.ledger.spares import LIFETIME_S
from proxy.ledger.writers import Replayer
from proxy.state import GATE
from tests.conftest import ADMIN_HEADERS
from tests.helpers import create_customer, create_sub_key
from tests.processes import poll
from tests.test_limits import COST_UC, RESERVE_UC, call, calls_until_refused

ADMITTED = re.compile(r'^kaixu_admissions_total\{source="(\w+)"\} ([0-9.e+]+)$', re.M)


async def admissions(gateway) -> dict[str, int]:
    text = await (await gateway.get("/metrics")).text()
    return {source: int(float(n)) for source, n in ADMITTED.findall(text)}


async def spares_held(db) -> int:
    return await db.fetchval("SELECT count(*) FROM reservations WHERE spare")


async def no_reservations_left(db) -> None:
    async def none_left() -> bool:
        return await db.fetchval("SELECT count(*) FROM reservations") == 0

    await poll(none_left, 3 * LIFETIME_S + 2, "unclaimed spares given back")


async def test_a_busy_key_is_admitted_from_spares_and_billed_exactly(gateway, db) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=1000)
    months = []
    for _ in range(40):
        status, answer = await call(gateway, key)
        assert status == 200, answer
        months.append(answer["month"]["spent_cents"])
    counts = await admissions(gateway)
    assert counts["spare"] >= 30, counts  # most of them never waited for the database
    assert counts["spare"] + counts["database"] == 40
    # Every answer's month books this call on top of all before it, spare or not.
    assert months == [round((n + 1) * COST_UC / 1e6, 6) for n in range(40)]
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 40
    assert await db.fetchval("SELECT count(DISTINCT reservation_id) FROM usage_events") == 40
    assert await db.fetchval("SELECT sum(spent_uc) FROM customer_months") == 40 * COST_UC
    await no_reservations_left(db)  # spares nobody took are given back within a second or so


async def test_a_burst_waits_for_one_refill_instead_of_each_going_to_the_database(
    gateway, db
) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=1000)
    for _ in range(5):  # warm: the key is busy, and its pool nearly empty
        assert (await call(gateway, key))[0] == 200
    before = await admissions(gateway)
    results = await asyncio.gather(*(call(gateway, key) for _ in range(64)))
    assert [status for status, _ in results] == [200] * 64
    after = await admissions(gateway)
    # The requests that find the pool empty wait for the admission refilling it (sized by
    # them) instead of each making its own: a handful of admissions, not one per request.
    assert after["database"] - before["database"] <= 10, (before, after)
    assert after["spare"] + after["database"] == 69
    assert await db.fetchval("SELECT count(DISTINCT reservation_id) FROM usage_events") == 69
    assert await db.fetchval("SELECT sum(spent_uc) FROM customer_months") == 69 * COST_UC
    await no_reservations_left(db)


async def busy_with_an_empty_pool(gateway, key: str):
    """The gate, once `key` is busy (its next admission asks for spares) and holds none."""
    for _ in range(3):
        assert (await call(gateway, key))[0] == 200
    gate = gateway.app[GATE]
    gate.spares.forget("all", "")
    return gate


def waiting_for_one_refill(gate) -> int:
    """How many requests wait for the one refill on its way (-1: not exactly one)."""
    refills = list(gate.spares._refills.values())
    return refills[0].waiting if len(refills) == 1 else -1


async def test_requests_waiting_for_a_refill_the_database_did_not_answer_get_503_at_once(
    gateway, monkeypatch
) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=1000)
    gate = await busy_with_an_empty_pool(gateway, key)
    submitted, unreachable = [], asyncio.Event()

    async def database_gone(admission):
        submitted.append(admission)
        await unreachable.wait()
        raise ConnectionRefusedError("the database is gone")

    monkeypatch.setattr(gate.admitter, "submit", database_gone)
    calls = [asyncio.create_task(call(gateway, key)) for _ in range(8)]

    async def all_waiting() -> bool:  # one refill on its way, the other seven waiting for it
        return len(submitted) == 1 and waiting_for_one_refill(gate) == 7

    await poll(all_waiting, 10, "the requests waiting for one refill")
    unreachable.set()
    results = await asyncio.gather(*calls)
    assert [(status, answer["error"]["type"]) for status, answer in results] == [
        (503, "unavailable")
    ] * 8
    assert len(submitted) == 1  # the waiters did not each try the database again


async def test_a_deactivation_while_a_refill_is_on_its_way_refuses_its_waiters(
    gateway, monkeypatch
) -> None:
    """The refill's spares were made before the change: given back, not taken by its waiters."""
    customer, key = await create_customer(gateway, monthly_cap_cents=1000)
    gate = await busy_with_an_empty_pool(gateway, key)
    admit, answered, release = gate.admitter.submit, asyncio.Event(), asyncio.Event()

    async def answered_before_the_change(admission):
        row = await admit(admission)  # the database admitted it (and made its spares) ...
        answered.set()
        await release.wait()  # ... but its answer comes back only after the change
        return row

    monkeypatch.setattr(gate.admitter, "submit", answered_before_the_change)
    calls = [asyncio.create_task(call(gateway, key)) for _ in range(8)]

    async def all_waiting() -> bool:
        return answered.is_set() and waiting_for_one_refill(gate) == 7

    await poll(all_waiting, 10, "the requests waiting for one refill")
    monkeypatch.setattr(gate.admitter, "submit", admit)
    path = f"/admin/api/customers/{customer['id']}"
    changed = await gateway.patch(path, json={"active": False}, headers=ADMIN_HEADERS)
    assert changed.status == 200
    release.set()
    statuses = [status for status, _ in await asyncio.gather(*calls)]
    # The refill itself was admitted before the change, like any call already on its way.
    assert statuses.count(401) >= 7 and set(statuses) <= {200, 401}, statuses


async def test_spares_never_take_the_customer_past_the_allowance(gateway, db) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=0.2)  # 200,000 uc
    warm = 0
    while warm < 2 or not await spares_held(db):  # warm: this key now holds spares
        assert (await call(gateway, key))[0] == 200
        warm += 1
        assert warm < 10, "no spares granted"
    results = await asyncio.gather(*(call(gateway, key) for _ in range(150)))
    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 402}
    assert statuses.count(200) >= 25  # as many as fit at once beside the reservations held
    done, refused = await calls_until_refused(gateway, key, limit=300)
    assert refused["status"] == 402
    # Then one by one to the end, exactly as without spares: admitted while a full
    # reservation fits, 200,000 - 750 n >= 6,120, so n = 0..258.
    admitted = warm + statuses.count(200) + done
    assert admitted == 259
    assert await db.fetchval("SELECT count(*) FROM usage_events") == admitted
    assert await db.fetchval("SELECT sum(spent_uc) FROM customer_months") == admitted * COST_UC
    await no_reservations_left(db)


async def test_spares_shrink_to_none_near_the_cap(gateway, db) -> None:
    # Room for 30 reservations at first. Spares take at most a quarter of the room beyond the
    # request and the 16 after it: none once fewer than 21 reservations fit.
    _, key = await create_customer(gateway, monthly_cap_cents=30 * RESERVE_UC / 1e6)
    done, most_held = 0, 0
    while (await call(gateway, key))[0] == 200:
        held = await db.fetchval("SELECT coalesce(sum(amount_uc), 0) FROM reservations WHERE spare")
        room = 30 * RESERVE_UC - done * COST_UC  # as this call's admission saw it
        assert held <= max(room - 17 * RESERVE_UC, 0) / 4
        done += 1
        most_held = max(most_held, held)
    assert most_held > 0
    # Exactly as many as without spares: admitted while 183,600 - 750 n >= 6,120 (n = 0..236).
    assert done == 237


async def test_a_device_revoke_refuses_its_next_request_although_spares_were_held(
    gateway, db
) -> None:
    customer, _ = await create_customer(gateway, monthly_cap_cents=1000)
    sub = await create_sub_key(gateway, customer["id"], max_devices=2)
    phone = {"X-Kaixu-Install-Id": "phone"}
    for _ in range(6):
        assert (await call(gateway, sub["key"], phone))[0] == 200
    assert await spares_held(db) > 0
    device = await db.fetchval("SELECT id FROM devices WHERE install_id = 'phone'")
    revoked = await gateway.post(f"/admin/api/devices/{device}/revoke", headers=ADMIN_HEADERS)
    assert revoked.status == 200
    status, refused = await call(gateway, sub["key"], phone)
    assert (status, refused["error"]["type"]) == (403, "device_revoked")


async def test_a_lowered_cap_or_a_deactivation_applies_to_the_very_next_request(
    gateway, db
) -> None:
    customer, key = await create_customer(gateway, monthly_cap_cents=1000)
    for _ in range(6):
        assert (await call(gateway, key))[0] == 200
    assert await spares_held(db) > 0
    path = f"/admin/api/customers/{customer['id']}"
    changed = await gateway.patch(path, json={"monthly_cap_cents": 0}, headers=ADMIN_HEADERS)
    assert changed.status == 200
    assert (await call(gateway, key))[0] == 402
    await gateway.patch(path, json={"monthly_cap_cents": 1000}, headers=ADMIN_HEADERS)
    for _ in range(6):
        assert (await call(gateway, key))[0] == 200
    await gateway.patch(path, json={"active": False}, headers=ADMIN_HEADERS)
    assert (await call(gateway, key))[0] == 401


async def test_a_rate_limited_key_gets_no_spares(gateway, db) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=1000, rpm_limit=600)
    for _ in range(8):
        assert (await call(gateway, key))[0] == 200
    assert await spares_held(db) == 0
    assert (await admissions(gateway)).get("spare", 0) == 0


def line(spare, request_id: str, **figures) -> Settlement:
    """An outbox line for a call on `spare`: by default the one written when it was taken."""
    taken = dict(status="aborted", cost_source="estimated", cost_uc=120, output_tokens=0,
                 error="The gateway process serving this call stopped.", reaped=True)  # fmt: skip
    return Settlement(
        reservation_id=spare["id"], customer_id=spare["customer_id"], key_id=spare["key_id"],
        month=spare["month"], install_id=None, provider="openai", model="gpt-4o-mini",
        upstream_model=None, input_tokens=8, cached_input_tokens=0, cache_write_tokens=0,
        latency_ms=0, request_id=request_id, **(taken | figures),
    )  # fmt: skip


async def test_a_call_on_a_spare_is_billed_from_its_outbox_line_if_its_process_dies(
    gateway, db, settings
) -> None:
    """The line written when a spare is taken: alone (the process died mid-call) it bills the
    call as a reaper would; followed by the real settlement, the real one wins; replayed
    again, nothing changes."""
    _, key = await create_customer(gateway, monthly_cap_cents=1000)
    for _ in range(2):  # the second admission made two spares
        assert (await call(gateway, key))[0] == 200
    spares = await db.fetch("SELECT * FROM reservations WHERE spare ORDER BY id")
    assert len(spares) == 2
    gate = gateway.app[GATE]
    gate.spares.forget("all", "")  # the test takes them, as calls of a dead process had
    before = await db.fetchval("SELECT count(*) FROM usage_events")
    real = dict(status="ok", cost_source="reported", cost_uc=COST_UC, output_tokens=10,
                error=None, reaped=False)  # fmt: skip
    lines = [line(spares[0], "req-died"), line(spares[1], "req-finished"),
             line(spares[1], "req-finished", **real)]  # fmt: skip
    for _ in range(2):
        dead = Outbox(settings.data_dir / "journal", "dead-process")
        for item in lines:
            dead.add(item)
        dead.close()  # its lines never settled: the file stays, unlocked, as after a death
        await Replayer(gate.admitter._pool, gate.settler).replay_once()
    rows = {r["request_id"]: r for r in await db.fetch(
        "SELECT * FROM usage_events WHERE request_id LIKE 'req-%'")}  # fmt: skip
    died, finished = rows["req-died"], rows["req-finished"]
    assert (died["status"], died["reaped"], died["cost_uc"]) == ("aborted", True, 120)
    assert (finished["status"], finished["reaped"], finished["cost_uc"]) == ("ok", False, COST_UC)
    assert await db.fetchval("SELECT count(*) FROM usage_events") == before + 2
    spent = await db.fetchval("SELECT sum(spent_uc) FROM customer_months")
    assert spent == await db.fetchval("SELECT sum(cost_uc) FROM usage_events")
