"""A call as one stream of typed events.

Provider adapters yield the *upstream* events (text, tool-call fragments, usage, the end
marker); the call (proxy.ledger.call) meters them and yields the *call* events that every route
formatter renders: `Started` once the provider has accepted, the deltas, then exactly one of
`Finished` or `Failed`, both carrying what was billed. Events are plain slotted dataclasses,
not frozen ones: one is made per token group, and a frozen dataclass pays a call per field.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.chat import ToolCall
from core.errors import GatewayError
from core.month import MonthState
from core.usage import Usage


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of one tool call: `id` and `name` arrive in a call's first fragment, then
    argument text; `index` tells parallel calls apart."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(slots=True)
class UsageUpdate:
    """Usage as known so far: cumulative, the last one wins."""

    usage: Usage


@dataclass(slots=True)
class End:
    """The provider's terminal marker (OpenAI [DONE], Anthropic message_stop, Gemini's
    finishReason). A stream that ends without one failed, however cleanly it closed."""

    finish_reason: str | None = None
    model: str | None = None


@dataclass(slots=True)
class RawEvent:
    """The provider's own bytes, for a route that passes its answer through: one SSE event
    (`event` name or None, `data`), or (non-stream) the whole JSON answer as `data`."""

    event: str | None
    data: str


UpstreamEvent = TextDelta | ToolCallDelta | UsageUpdate | End | RawEvent


@dataclass(frozen=True, slots=True)
class CallResult:
    """What a settled call produced and cost. `finish_reason` is one of the contract's
    (core.finish); `tool_calls` the complete calls the model made."""

    finish_reason: str | None
    upstream_model: str | None
    usage: Usage
    cost_uc: int
    cost_source: str
    month: MonthState
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(slots=True)
class Started:
    """The provider accepted the call: a stream may start. `month` is as admitted."""

    month: MonthState


@dataclass(slots=True)
class Finished:
    result: CallResult


@dataclass(slots=True)
class Failed:
    """The call failed after `Started`; what was consumed is billed in `result`."""

    error: GatewayError
    result: CallResult


CallEvent = Started | TextDelta | ToolCallDelta | RawEvent | Finished | Failed
