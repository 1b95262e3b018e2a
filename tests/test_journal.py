"""The settlement journal: appended durably, claimed by one process at a time, read back
exactly, a line cut short by a crash skipped."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from db.gateway import Settlement
from proxy.ledger.batching import BatchCancelled
from proxy.ledger.journal import Journal, decode
from proxy.ledger.outbox import Outbox
from proxy.ledger.writers import Settler


def settlement(reservation_id: int) -> Settlement:
    return Settlement(
        reservation_id=reservation_id, customer_id="acme", key_id="key_1",
        month=date(2026, 12, 1), install_id="laptop", provider="openai", model="gpt-4o-mini",
        upstream_model=None, input_tokens=10, cached_input_tokens=0, cache_write_tokens=0,
        output_tokens=5, cost_uc=450, status="ok", cost_source="reported", latency_ms=12,
        request_id=f"req-{reservation_id}", error=None, clamped=True,
    )  # fmt: skip


def test_kept_settlements_read_back_exactly_in_order(tmp_path) -> None:
    journal = Journal(tmp_path, "p1")
    journal.keep([settlement(1), settlement(2)])
    journal.keep([settlement(3)])
    journal.close_segment()
    [segment] = journal.pending()
    with journal.claim(segment) as items:
        assert items == [settlement(1), settlement(2), settlement(3)]
    assert journal.pending() == []  # claimed cleanly: removed


def test_an_open_segment_is_not_claimed_by_another_process(tmp_path) -> None:
    writer, sibling = Journal(tmp_path, "writer"), Journal(tmp_path, "sibling")
    writer.keep([settlement(1)])
    [segment] = sibling.pending()
    with sibling.claim(segment) as items:
        assert items is None  # the writer holds it
    writer.close_segment()  # as a process that stops (or dies) releases it
    with sibling.claim(segment) as items:
        assert items == [settlement(1)]
    assert sibling.pending() == []


def test_a_failed_replay_leaves_the_segment_for_the_next_try(tmp_path) -> None:
    journal = Journal(tmp_path, "p1")
    journal.keep([settlement(1)])
    journal.close_segment()
    [segment] = journal.pending()
    try:
        with journal.claim(segment) as items:
            assert items
            raise ConnectionRefusedError
    except ConnectionRefusedError:
        pass
    assert journal.pending() == [segment]


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path) -> None:
    journal = Journal(tmp_path, "p1")
    journal.keep([settlement(1)])
    journal.close_segment()
    [segment] = journal.pending()
    with segment.open("ab") as raw:
        raw.write(b'{"reservation_id": 2, "customer')
    with journal.claim(segment) as items:
        assert items == [settlement(1)]


async def test_a_settlement_still_queued_when_its_writer_is_cancelled_stays_in_the_outbox(
    tmp_path,
) -> None:
    """A process stopping while its settler lingers (the writer task cancelled) must leave the
    answered call's line on disk for the next replay, not drop it as if it were written."""
    outbox = Outbox(tmp_path, "p1")
    settler = Settler(None, Journal(tmp_path, "p1"), outbox)  # type: ignore[arg-type]
    written = settler.settle_later(settlement(7))
    await asyncio.sleep(0)  # the writer started and lingers
    assert settler._worker is not None
    settler._worker.cancel()
    with pytest.raises(BatchCancelled):
        await written
    outbox.close()  # a clean stop removes a settled segment; this one is not
    [line] = [p for p in tmp_path.glob("*outbox.jsonl") if p.stat().st_size]
    assert decode(line.read_bytes()) == settlement(7)
