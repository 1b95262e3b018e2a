"""The normalized chat request every route parses into and every provider adapter translates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    provider: str
    model: str
    messages: tuple[Message, ...]
    max_tokens: int
    temperature: float | None = None
    stop: tuple[str, ...] = ()

    def split_system(self) -> tuple[str, list[Message]]:
        """System text joined (for providers that take it apart) and the other messages."""
        system = "\n\n".join(m.content for m in self.messages if m.role == "system")
        return system, [m for m in self.messages if m.role != "system"]
