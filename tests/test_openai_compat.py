"""The OpenAI-compatible API, driven by the official `openai` SDK (no hand-written HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from tests.conftest import ADMIN_HEADERS
from tests.helpers import bearer, chat_body, create_customer, create_sub_key

MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "anthropic/claude-haiku-4-5",
    "gemini": "gemini/gemini-2.5-flash",
}
TEXT = "Hello brave new world, this is streamed"
PROMPT = "Hi fake:usage=1000,200 fake:cached=300 fake:text=" + TEXT.replace(" ", "_")


@pytest.fixture
async def customer(gateway) -> tuple[dict, str]:
    return await create_customer(gateway, monthly_cap_cents=1000)


def sdk(gateway, key: str) -> openai.AsyncOpenAI:
    """The SDK as an app would use it: only the base URL and the key are changed."""
    base_url = str(gateway.make_url("/v1"))
    return openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)


@pytest.fixture
async def client(gateway, customer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with sdk(gateway, customer[1]) as c:
        yield c


async def rows(db) -> list:
    return await db.fetch("SELECT * FROM usage_events ORDER BY id")


@pytest.mark.parametrize("provider", MODELS)
async def test_non_stream_matches_the_native_route(gateway, db, customer, client, provider):
    completion = await client.chat.completions.create(
        model=MODELS[provider], messages=[{"role": "user", "content": PROMPT}], max_tokens=256
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 200
    [compat_row] = await rows(db)
    assert compat_row["provider"] == provider and compat_row["status"] == "ok"

    native = chat_body(provider, MODELS[provider].split("/")[-1], PROMPT, max_tokens=256)
    response = await gateway.post("/v1/gateway/chat", json=native, headers=bearer(customer[1]))
    assert response.status == 200
    native_row = (await rows(db))[1]
    for column in ("provider", "model", "input_tokens", "cached_input_tokens", "output_tokens",
                   "cost_uc", "cost_source"):  # fmt: skip
        assert compat_row[column] == native_row[column], column
    assert completion.usage.prompt_tokens == compat_row["input_tokens"]
    assert completion.model_extra["kaixu"]["usage"]["cost_cents"] == compat_row["cost_uc"] / 1e6


@pytest.mark.parametrize("provider", MODELS)
async def test_stream_with_usage_chunk(db, client, provider) -> None:
    stream = await client.chat.completions.create(
        model=MODELS[provider],
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == TEXT
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == 200
    assert all(c.usage is None for c in chunks[:-1])
    [row] = await rows(db)
    assert (row["status"], row["cost_source"], row["output_tokens"]) == ("ok", "reported", 200)
    assert last.usage.prompt_tokens == row["input_tokens"]


async def test_stream_without_usage_option_has_no_usage(client) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)


@pytest.mark.parametrize("provider", MODELS)
async def test_the_sdk_stream_helper(client, provider) -> None:
    async with client.chat.completions.stream(
        model=MODELS[provider], messages=[{"role": "user", "content": PROMPT}],
        stream_options={"include_usage": True},
    ) as stream:  # fmt: skip
        deltas = [event.delta async for event in stream if event.type == "content.delta"]
        final = await stream.get_final_completion()
    assert "".join(deltas) == TEXT
    assert final.choices[0].message.content == TEXT
    assert final.usage.completion_tokens == 200


async def test_sdk_request_options_are_applied(client, fakes, db) -> None:
    await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}],
            },
        ],
        max_completion_tokens=33,
        temperature=0.3,
        stop=["END"],
        user="end-user-42",
    )
    sent = fakes["openai"].requests[-1].json
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there"},
    ]
    assert (sent["max_completion_tokens"], sent["temperature"], sent["stop"]) == (33, 0.3, ["END"])
    await client.chat.completions.create(
        model="anthropic/claude-haiku-4-5", messages=[{"role": "user", "content": "x"}],
        max_tokens=21, stop="STOP",
    )  # fmt: skip
    sent = fakes["anthropic"].requests[-1].json
    assert (sent["max_tokens"], sent["stop_sequences"]) == (21, ["STOP"])


async def test_unprefixed_names_the_price_table_knows(client, fakes) -> None:
    await client.chat.completions.create(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "x"}]
    )
    await client.chat.completions.create(
        model="gemini-2.0-flash", messages=[{"role": "user", "content": "x"}]
    )
    assert len(fakes["anthropic"].requests) == 1 and len(fakes["gemini"].requests) == 1


@pytest.mark.parametrize(
    "extra",
    [{"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, {"n": 2},
     {"response_format": {"type": "xml"}}, {"temperature": 3}, {"logprobs": True},
     {"tool_choice": "required"}, {"reasoning_effort": "extreme"}, {"top_p": 1.5}],
    ids=["tool name", "n", "response_format", "temperature", "logprobs", "tool_choice alone",
         "reasoning_effort", "top_p"],
)  # fmt: skip
async def test_unsupported_or_invalid_fields_are_bad_requests(client, db, fakes, extra) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], **extra
        )
    assert caught.value.status_code == 400
    assert caught.value.body["type"] == "invalid_request"
    assert not fakes["openai"].requests and not await rows(db)


async def test_unknown_model_is_a_bad_request(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gpt-imaginary", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.body["type"] == "model_not_priced"


async def test_wrong_key_raises_authentication_error(gateway) -> None:
    async with sdk(gateway, "kx_0123456789abcdef_" + "A" * 43) as bad:
        with pytest.raises(openai.AuthenticationError):
            await bad.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
        with pytest.raises(openai.AuthenticationError):
            await bad.models.list()


async def test_cap_exceeded_is_402(gateway) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=0)
    async with sdk(gateway, key) as broke:
        with pytest.raises(openai.APIStatusError) as caught:
            await broke.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.status_code == 402
    assert caught.value.body["type"] == "cap_exceeded" and "month" in caught.value.body


async def test_allowlist_and_device_errors_are_permission_denied(gateway, customer) -> None:
    sub = await create_sub_key(gateway, customer[0]["id"], allowed_models=["gpt-4o*"],
                               require_install=True)  # fmt: skip
    async with sdk(gateway, sub["key"]) as limited:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await limited.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
        assert caught.value.body["type"] == "install_id_required"
        headers = {"X-Kaixu-Install-Id": "laptop-1"}
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await limited.chat.completions.create(
                model="gpt-4.1-mini", messages=[{"role": "user", "content": "x"}],
                extra_headers=headers,
            )  # fmt: skip
        assert caught.value.body["type"] == "model_not_allowed"
        ok = await limited.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], extra_headers=headers
        )
        assert ok.choices[0].message.content


async def test_rate_limit_raises_rate_limit_error_with_retry_after(gateway) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=100, rpm_limit=1)
    async with sdk(gateway, key) as limited:
        await limited.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
        with pytest.raises(openai.RateLimitError) as caught:
            await limited.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
    assert 1 <= int(caught.value.response.headers["Retry-After"]) <= 60


@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_failure_raises_an_api_error(client, db, stream) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "fake:error=500"}],
            stream=stream,
        )  # fmt: skip
    assert caught.value.status_code == 502
    [row] = await rows(db)
    assert row["status"] == "error"


async def test_mid_stream_failure_raises_in_the_sdk_and_is_billed(client, db) -> None:
    stream = await client.chat.completions.create(
        model="anthropic/claude-haiku-4-5",
        messages=[{"role": "user", "content": "fake:mid-stream-error fake:text=a_b_c_d_e"}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass
    [row] = await rows(db)
    assert (row["status"], row["cost_source"]) == ("error", "estimated") and row["cost_uc"] > 0


async def test_models_lists_what_the_key_may_use(gateway, customer) -> None:
    async with sdk(gateway, customer[1]) as full:
        everything = {m.id async for m in full.models.list()}
    assert {
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "gemini/gemini-2.5-flash",
    } <= everything
    sub = await create_sub_key(gateway, customer[0]["id"], allowed_providers=["anthropic"],
                               allowed_models=["claude-haiku*"])  # fmt: skip
    async with sdk(gateway, sub["key"]) as narrow:
        models = [m async for m in narrow.models.list()]
    assert [m.id for m in models] == ["anthropic/claude-haiku-4-5"]
    assert models[0].owned_by == "anthropic" and models[0].object == "model"
    patch = await gateway.patch(f"/admin/api/keys/{sub['id']}", json={"allowed_models": ["none"]},
                                headers=ADMIN_HEADERS)  # fmt: skip
    assert patch.status == 200
    async with sdk(gateway, sub["key"]) as narrower:
        assert [m async for m in narrower.models.list()] == []
