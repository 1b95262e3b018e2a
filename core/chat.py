"""The normalized chat request every route parses into and every provider adapter translates:
messages of text and image parts, tool definitions and calls, structured-output requests."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image the client sent: an `https:` URL, or bytes (a `data:` URI, or a URL the
    gateway fetched for a provider that needs the bytes). Size is known when bytes are."""

    url: str | None = None
    data: bytes | None = None
    media_type: str | None = None
    detail: str | None = None  # OpenAI's low | high | auto
    width: int | None = None
    height: int | None = None

    def with_bytes(self, media_type: str, data: bytes, width: int, height: int) -> ImagePart:
        return replace(self, data=data, media_type=media_type, width=width, height=height)


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model made: `arguments` is JSON text, as OpenAI carries it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    """system | user | assistant | tool. An assistant turn may carry tool calls; a tool turn
    answers the call `tool_call_id` with its text."""

    role: str
    parts: tuple[Part, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    # Derived once, at construction: read several times per request on the hot path.
    content: str = field(init=False, compare=False)  # the text parts joined
    images: tuple[ImagePart, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        texts, images = [], []
        for part in self.parts:
            if isinstance(part, TextPart):
                texts.append(part.text)
            else:
                images.append(part)
        object.__setattr__(self, "content", "".join(texts))
        object.__setattr__(self, "images", tuple(images))


def text_message(role: str, text: str) -> Message:
    return Message(role, (TextPart(text),))


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON Schema of an object; None: no arguments


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "named"] = "auto"
    name: str | None = None  # with "named"


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    type: Literal["json_object", "json_schema"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    provider: str
    model: str
    messages: tuple[Message, ...]
    max_tokens: int
    temperature: float | None = None
    stop: tuple[str, ...] = ()
    top_p: float | None = None
    seed: int | None = None
    reasoning_effort: str | None = None  # low | medium | high
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None

    def split_system(self) -> tuple[str, list[Message]]:
        """System text joined (for providers that take it apart) and the other messages."""
        system = "\n\n".join(m.content for m in self.messages if m.role == "system")
        return system, [m for m in self.messages if m.role != "system"]

    def tool_name(self, call_id: str) -> str | None:
        """The name of the function an earlier assistant turn called with `call_id`."""
        for message in self.messages:
            for call in message.tool_calls:
                if call.id == call_id:
                    return call.name
        return None

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(image for m in self.messages if m.images for image in m.images)
