"""A running call interrupted twice at once (its deadline passing as a cut arrives) still ends
as one error event on its stream, billed, never as the handler's crash (a 500 in the metrics).

The two interrupts race only within one loop step, so the test fires both from its own code:
the call's deadline callback and a cut, back to back.
"""

from __future__ import annotations

import re

from core import errors
from proxy.state import RUNNING
from tests.helpers import bearer, create_customer, parse_sse
from tests.processes import poll, settled

STREAMS_ANSWERED = re.compile(
    r'^kaixu_http_requests_total\{method="POST",route="/v1/chat/completions",status="(\d+)"\} ',
    re.M,
)


async def test_a_deadline_and_a_cut_together_end_the_stream_once(gateway, db) -> None:
    _, key = await create_customer(gateway)
    message = {"role": "user", "content": "fake:stall=30 fake:text=one_two"}
    body = {"model": "gpt-4o-mini", "max_tokens": 16, "stream": True, "messages": [message]}
    response = await gateway.post("/v1/chat/completions", json=body, headers=bearer(key))
    assert response.status == 200
    await response.content.readany()  # the first delta; the provider now stalls
    (call,) = list(gateway.app[RUNNING]._calls)
    call._deadline_passed()
    call.cut(errors.Unauthorized("This key was revoked."))
    events = parse_sse(await response.read())
    assert "revoked" in events[-1][1]  # the cut wins: it is the reason, the deadline a timer

    async def answered() -> bool:
        metrics = await (await gateway.get("/metrics")).text()
        return bool(STREAMS_ANSWERED.findall(metrics))

    await poll(answered, 5, "the stream counted")
    metrics = await (await gateway.get("/metrics")).text()
    assert STREAMS_ANSWERED.findall(metrics) == ["200"]
    await settled(db)
    assert [r["status"] for r in await db.fetch("SELECT status FROM usage_events")] == ["error"]
