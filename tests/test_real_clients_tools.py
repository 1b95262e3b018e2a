"""Agent frameworks people run, driving tools through the gateway on each provider:
openai-agents (a function tool, the runner's loop) and langchain-openai (bind_tools, a
structured-output call)."""

from __future__ import annotations

import openai
import pytest
from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.helpers import create_customer

MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "anthropic/claude-haiku-4-5",
    "gemini": "gemini/gemini-2.5-flash",
}


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture
async def base_and_key(gateway) -> tuple[str, str]:
    _, key = await create_customer(gateway)
    return str(gateway.make_url("/v1")), key


@pytest.mark.parametrize("provider", MODELS)
async def test_an_openai_agents_run_calls_the_tool_and_answers(base_and_key, db, provider):
    set_tracing_disabled(True)
    base, key = base_and_key
    client = openai.AsyncOpenAI(base_url=base, api_key=key, max_retries=0)
    model = OpenAIChatCompletionsModel(model=MODELS[provider], openai_client=client)
    agent = Agent(name="weather", instructions="Use the tool.", model=model,
                  tools=[get_weather])  # fmt: skip
    result = await Runner.run(agent, "Weather in Paris? fake:tools=1")
    assert result.final_output == "Tool results: sunny in city-value"
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 2  # call, then answer
    await client.close()


class Weather(BaseModel):
    city: str
    celsius: int


@pytest.mark.parametrize("provider", MODELS)
async def test_langchain_binds_tools_and_parses_structured_output(base_and_key, provider):
    base, key = base_and_key
    llm = ChatOpenAI(model=MODELS[provider], base_url=base, api_key=key, max_retries=0)
    bound = llm.bind_tools([Weather])
    ask = HumanMessage("Weather in Paris? fake:tools=1")
    message = await bound.ainvoke([ask])
    [call] = message.tool_calls
    assert call["name"] == "Weather" and call["args"] == {"city": "city-value", "celsius": 2}
    answer = await bound.ainvoke([ask, message, ToolMessage("21", tool_call_id=call["id"])])
    assert answer.content == "Tool results: 21"

    structured = llm.with_structured_output(Weather, method="json_schema")
    parsed = await structured.ainvoke("The weather in Paris, as JSON.")
    assert isinstance(parsed, Weather) and parsed.city == "city-value"
