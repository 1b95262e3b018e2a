"""Claude Code, headless (`claude -p`), through the gateway's Messages route: on Anthropic's
models (passed through) and on OpenAI's and Gemini's (translated both ways), a whole tool
loop — its tools declared, a streamed tool call, its tool's result, the final answer — billed
like any call. CI installs Claude Code from npm (.ci/run)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil

import pytest

from tests.helpers import create_customer

CLAUDE = shutil.which("claude")
MODELS = {"anthropic": "claude-haiku-4-5", "openai": "openai/gpt-4o-mini",
          "gemini": "gemini/gemini-2.5-flash"}  # fmt: skip

pytestmark = pytest.mark.skipif(CLAUDE is None, reason="Claude Code is not installed (npm)")


async def claude_code(gateway, key: str, model: str | None, prompt: str, home) -> dict:
    """`model` None: Claude Code as installed, choosing its own default model."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")},
        "HOME": str(home),  # no settings or login of this machine's user
        "ANTHROPIC_BASE_URL": str(gateway.make_url("/anthropic")),
        "ANTHROPIC_AUTH_TOKEN": key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    if model is not None:
        env["ANTHROPIC_MODEL"] = env["ANTHROPIC_SMALL_FAST_MODEL"] = model
    assert CLAUDE is not None
    process = await asyncio.create_subprocess_exec(
        CLAUDE, "-p", prompt, "--output-format", "json", env=env, cwd=str(home),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, (out.decode()[-2000:], err.decode()[-2000:])
    return json.loads(out)


@pytest.mark.parametrize("provider", MODELS)
async def test_claude_code_runs_a_tool_loop_through_the_gateway(
    gateway, fakes, db, tmp_path, provider
) -> None:
    _, key = await create_customer(gateway)
    result = await claude_code(gateway, key, MODELS[provider], "Go fake:tools=1", tmp_path)
    # The fake called Claude Code's first tool with made-up arguments; Claude Code ran it (and
    # it refused them), sent the result back, and the fake's final answer quotes it.
    assert result["is_error"] is False and result["num_turns"] == 2
    assert result["result"].startswith("Tool results:")
    rows = await db.fetch("SELECT provider, status FROM usage_events ORDER BY id")
    assert [(r["provider"], r["status"]) for r in rows] == [(provider, "ok")] * 2
    first = fakes[provider].requests[0]
    if provider == "anthropic":  # passed through as Claude Code sent it
        assert "claude-code-20250219" in first.headers["anthropic-beta"]
        assert first.json["stream"] is True and first.json["tools"]
    elif provider == "openai":
        assert first.json["stream"] is True and first.json["tools"][0]["type"] == "function"
    else:
        assert first.json["tools"][0]["functionDeclarations"]


async def test_an_unchanged_claude_code_is_priced_and_billed(gateway, fakes, db, tmp_path) -> None:
    """No model named anywhere: Claude Code sends its default (claude-opus-4-8 in 2.1.197),
    which the shipped price table must know, or every call would be 400 model_not_priced."""
    _, key = await create_customer(gateway, monthly_cap_cents=10_000)
    result = await claude_code(gateway, key, None, "Say hi", tmp_path)
    assert result["is_error"] is False, result
    models = {request.json["model"] for request in fakes["anthropic"].requests}
    rows = await db.fetch("SELECT model, status, cost_uc, error FROM usage_events ORDER BY id")
    # Every call reached the provider (none was refused as unpriced) and left its usage row;
    # the answered ones are billed at a price. (The fake refuses a `system` role inside
    # messages, as Claude Code tries on its newest models, and Claude Code then sends it again.)
    assert len(rows) == len(fakes["anthropic"].requests)
    assert {r["model"] for r in rows} == models
    answered = [r for r in rows if r["status"] == "ok"]
    assert answered and all(r["cost_uc"] > 0 for r in answered), rows
