"""The fake Gemini: function calls, thought signatures, the strict function-response turn, JSON
output, images and MALFORMED_FUNCTION_CALL, via the google-genai SDK."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel

from tests.fakes import FakeUpstream, images

WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city",
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={
            "city": types.Schema(type=types.Type.STRING),
            "unit": types.Schema(type=types.Type.STRING, enum=["celsius", "fahrenheit"]),
            "days": types.Schema(type=types.Type.INTEGER),
        },
        required=["city"],
    ),
)
TIME = types.FunctionDeclaration(
    name="get_time",
    parameters_json_schema={"type": "object", "properties": {"zone": {"type": "string"}}},
)
TOOLS = [types.Tool(function_declarations=[WEATHER, TIME])]
WEATHER_ARGS = {"city": "city-value", "unit": "celsius", "days": 3}
TIME_ARGS = {"zone": "zone-value"}


def config(**extra: object) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(tools=TOOLS, **extra)  # type: ignore[arg-type]


async def test_parallel_function_calls(
    gemini_fake: FakeUpstream, gem: genai.client.AsyncClient
) -> None:
    response = await gem.models.generate_content(
        model="gemini-2.5-flash", contents="weather and time fake:tools=2", config=config()
    )
    calls = response.function_calls or []
    assert [(c.name, c.args) for c in calls] == [
        ("get_weather", WEATHER_ARGS),
        ("get_time", TIME_ARGS),
    ]
    assert [c.id for c in calls] == [None, None]  # real Gemini usually sends no id
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    sent = gemini_fake.requests[-1].json["tools"][0]["functionDeclarations"]
    assert [f["name"] for f in sent] == ["get_weather", "get_time"]
    with_ids = await gem.models.generate_content(
        model="gemini-2.5-flash", contents="fake:tools=3 fake:call-ids", config=config()
    )
    ids = [c.id for c in with_ids.function_calls or []]
    assert len(ids) == 3 and all(ids) and len(set(ids)) == 3
    assert [c.name for c in with_ids.function_calls or []] == [
        "get_weather",
        "get_time",
        "get_weather",
    ]


async def test_forced_any_with_allowed_names(gem: genai.client.AsyncClient) -> None:
    forced = types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["get_time"]
        )
    )
    response = await gem.models.generate_content(
        model="gemini-2.5-flash", contents="hi", config=config(tool_config=forced)
    )
    assert [(c.name, c.args) for c in response.function_calls or []] == [("get_time", TIME_ARGS)]
    plain = await gem.models.generate_content(model="g", contents="hi", config=config())
    assert plain.text == "Hello from the fake gemini!"


async def test_stream_function_calls(gem: genai.client.AsyncClient) -> None:
    chunks = [
        c
        async for c in await gem.models.generate_content_stream(
            model="gemini-2.5-flash", contents="fake:tools=2 fake:usage=8,6", config=config()
        )
    ]
    assert len(chunks) == 2
    assert [c.name for c in chunks[0].function_calls or []] == ["get_weather", "get_time"]
    assert chunks[0].candidates and chunks[0].candidates[0].finish_reason is None
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None
    assert (last.usage_metadata.prompt_token_count, last.usage_metadata.candidates_token_count) == (
        8,
        6,
    )


def responses(*pairs: tuple[str, str]) -> types.Content:
    return types.Content(
        role="user",
        parts=[types.Part.from_function_response(name=n, response={"result": r}) for n, r in pairs],
    )


async def test_loop_with_thought_signature_round_trip(
    gemini_fake: FakeUpstream, gem: genai.client.AsyncClient
) -> None:
    question = types.Content(
        role="user", parts=[types.Part(text="fake:tools=2 fake:thought-signature")]
    )
    first = await gem.models.generate_content(
        model="gemini-3-pro-preview", contents=[question], config=config()
    )
    assert first.candidates and first.candidates[0].content
    model_turn = first.candidates[0].content
    parts = model_turn.parts or []
    assert parts[0].thought_signature == b"sig-1-get_weather"
    assert parts[1].thought_signature is None  # only the first call carries it
    answers = responses(("get_weather", "sunny"), ("get_time", "9am"))
    second = await gem.models.generate_content(
        model="gemini-3-pro-preview", contents=[question, model_turn, answers], config=config()
    )
    assert second.text == "Tool results: sunny; 9am"
    sent = gemini_fake.requests[-1].json["contents"][1]["parts"][0]
    assert sent["thoughtSignature"]  # the SDK sent the signature back
    stripped = model_turn.model_copy(
        update={"parts": [p.model_copy(update={"thought_signature": None}) for p in parts]}
    )
    with pytest.raises(genai_errors.ClientError) as info:
        await gem.models.generate_content(
            model="gemini-3-pro-preview", contents=[question, stripped, answers], config=config()
        )
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert info.value.message is not None
    assert info.value.message.startswith(
        "Function call is missing a thought_signature in functionCall parts."
    )
    assert "function call `default_api:get_weather` , position 2." in info.value.message


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (responses(("get_weather", "x")), "the number of function response parts is equal"),
        (responses(("get_weather", "x"), ("get_date", "y")), "function response part `get_date`"),
    ],
)
async def test_function_response_errors(
    gem: genai.client.AsyncClient, answers: types.Content, message: str
) -> None:
    question = types.Content(role="user", parts=[types.Part(text="fake:tools=2")])
    first = await gem.models.generate_content(model="g", contents=[question], config=config())
    assert first.candidates and first.candidates[0].content
    with pytest.raises(genai_errors.ClientError) as info:
        await gem.models.generate_content(
            model="g", contents=[question, first.candidates[0].content, answers], config=config()
        )
    assert info.value.code == 400
    assert message in (info.value.message or "")
    with pytest.raises(genai_errors.ClientError) as info:
        await gem.models.generate_content(model="g", contents=[question, answers], config=config())
    assert "comes immediately after a function call turn" in (info.value.message or "")


async def test_call_ids_must_come_back(gem: genai.client.AsyncClient) -> None:
    question = types.Content(role="user", parts=[types.Part(text="fake:tools=1 fake:call-ids")])
    first = await gem.models.generate_content(model="g", contents=[question], config=config())
    assert first.candidates and first.candidates[0].content
    (call,) = first.function_calls or []
    turn = first.candidates[0].content
    answer = types.Part(
        function_response=types.FunctionResponse(id=call.id, name="get_weather", response={"a": 1})
    )
    ok = await gem.models.generate_content(
        model="g", contents=[question, turn, types.Content(role="user", parts=[answer])]
    )
    assert ok.text == 'Tool results: {"a":1}'
    with pytest.raises(genai_errors.ClientError):
        await gem.models.generate_content(
            model="g", contents=[question, turn, responses(("get_weather", "no id"))]
        )


@pytest.mark.parametrize("stream", [False, True])
async def test_malformed_function_call(gem: genai.client.AsyncClient, stream: bool) -> None:
    if stream:
        chunks = [
            c
            async for c in await gem.models.generate_content_stream(
                model="g", contents="fake:malformed-tool", config=config()
            )
        ]
        response = chunks[-1]
    else:
        response = await gem.models.generate_content(
            model="g", contents="fake:malformed-tool", config=config()
        )
    assert response.candidates is not None
    candidate = response.candidates[0]
    assert candidate.finish_reason == types.FinishReason.MALFORMED_FUNCTION_CALL
    assert candidate.content is None
    assert response.function_calls is None


class Recipe(BaseModel):
    name: str
    servings: int
    vegan: bool


async def test_json_output(gemini_fake: FakeUpstream, gem: genai.client.AsyncClient) -> None:
    response = await gem.models.generate_content(
        model="gemini-2.5-flash",
        contents="a recipe",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=Recipe
        ),
    )
    assert response.parsed == Recipe(name="name-value", servings=2, vegan=True)
    assert "responseSchema" in gemini_fake.requests[-1].json["generationConfig"]
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
    }
    by_json_schema = await gem.models.generate_content(
        model="g",
        contents="tags",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=schema
        ),
    )
    assert by_json_schema.text == '{"tags": ["tags-value"]}'
    bare = await gem.models.generate_content(
        model="g",
        contents="fake:text=ok",
        config=types.GenerateContentConfig(response_mime_type="application/json"),
    )
    assert bare.text == '{"answer": "ok"}'


async def test_inline_image(gem: genai.client.AsyncClient) -> None:
    response = await gem.models.generate_content(
        model="gemini-2.5-flash",
        contents=[
            types.Part.from_bytes(data=images.png(16, 8), mime_type="image/png"),
            types.Part.from_bytes(data=images.webp(300, 200), mime_type="image/webp"),
            types.Part.from_uri(file_uri="gs://bucket/cat.jpg", mime_type="image/jpeg"),
            "what is this?",
        ],
    )
    assert response.text == (
        "I see 3 image(s): 16x8 image/png, 300x200 image/webp, url gs://bucket/cat.jpg"
    )
