"""The cap guarantee holds for image and tool traffic: the reservation counts images at the
provider's rule and tool definitions as text, so concurrent requests never bill past the
allowance by more than the input estimate's error."""

from __future__ import annotations

import asyncio
from collections import Counter

from core.images import openai_image_tokens
from tests.fakes import images
from tests.helpers import bearer, create_customer

# gpt-4o-mini: 15 uc per input token, 60 per output token. A 1024x1024 image at detail high
# is 25,501 tokens there (tiles of 5,667 + 2,833): the provider reports it with the text.
IMAGE_TOKENS = openai_image_tokens("gpt-4o-mini", 1024, 1024, "high")
REPORTED_INPUT = IMAGE_TOKENS + 60
COST_UC = REPORTED_INPUT * 15 + 20 * 60
CAP_CENTS = 2  # 2,000,000 uc: room for five such calls


def body() -> dict:
    uri = "data:image/png;base64," + images.b64(images.png(1024, 1024))
    content = [
        {"type": "text", "text": f"describe fake:usage={REPORTED_INPUT},20"},
        {"type": "image_url", "image_url": {"url": uri, "detail": "high"}},
    ]
    tool = {"name": "lookup", "description": "Find a thing",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}  # fmt: skip
    return {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 50, "tools": [tool],
            "messages": [{"role": "user", "content": content}]}  # fmt: skip


async def test_concurrent_image_and_tool_requests_never_bill_past_the_cap(gateway, db) -> None:
    assert IMAGE_TOKENS == 25_501
    _, key = await create_customer(gateway, monthly_cap_cents=CAP_CENTS)

    async def one() -> int:
        response = await gateway.post("/v1/gateway/chat", json=body(), headers=bearer(key))
        return response.status

    statuses = Counter(await asyncio.gather(*(one() for _ in range(40))))
    assert set(statuses) == {200, 402} and statuses[200] == 5, statuses
    billed = await db.fetchval("SELECT sum(cost_uc) FROM usage_events")
    assert billed == 5 * COST_UC <= CAP_CENTS * 1_000_000
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0
