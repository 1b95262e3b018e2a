"""What a call is billed: the provider's reported usage when it finished and said, an estimate
from what was sent and produced when it did not, nothing when it refused the call. Reported
usage is never trusted beyond what the request could have produced: output is clamped to the
`max_tokens` sent, input to a bound from the request's size, and a count that makes no sense
(negative) is replaced by the estimate."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from core.chat import ToolCall
from core.errors import GatewayError
from core.events import End, TextDelta, ToolCallDelta, UpstreamEvent, UsageUpdate
from core.money import estimate_tokens
from core.outcomes import CostSource, UsageStatus
from core.usage import Usage

MAX_TOKEN_COUNT = 2**31 - 1  # the usage columns are 32-bit


PER_MESSAGE_BOUND = 16  # role markers and separators, generously
INPUT_BOUND_SLACK = 2048  # system prompts and tool scaffolding a provider may add


def bounded(tokens: int) -> int:
    """A token count from an upstream, kept to what can be stored and billed (never negative)."""
    return min(max(int(tokens), 0), MAX_TOKEN_COUNT)


def input_bound(texts: list[str]) -> int:
    """The most input tokens a request of these texts can cost: no tokenizer makes more tokens
    than bytes, plus a per-message overhead and a fixed slack."""
    return (
        sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)
        + PER_MESSAGE_BOUND * len(texts)
        + INPUT_BOUND_SLACK
    )


@dataclass(frozen=True, slots=True)
class Bounds:
    """What the request could have cost at most, and the estimate for what was not reported."""

    input_estimate: int
    input_bound: int
    max_tokens: int


def clamp(reported: Usage, bounds: Bounds, produced: int) -> tuple[Usage, bool]:
    """Reported usage within the request's bounds; True when anything had to change."""
    counts = (reported.input_tokens, reported.cached_input_tokens, reported.cache_write_tokens)
    if min(counts) < 0:  # nonsense: the whole input side is estimated
        inputs = (bounds.input_estimate, 0, 0)
    else:
        inputs = counts
        excess = sum(inputs) - bounds.input_bound
        if excess > 0:  # cut the priciest-looking part (plain input) first, then the others
            cut = []
            for count in inputs:
                taken = min(count, excess)
                cut.append(count - taken)
                excess -= taken
            inputs = tuple(cut)
    output = reported.output_tokens
    output = produced if output < 0 else min(output, bounds.max_tokens)
    clamped = with_parts(Usage(*inputs, output_tokens=output), reported)
    return clamped, clamped != reported


def with_parts(usage: Usage, parts: Usage) -> Usage:
    """`usage` with the priced-apart parts of `parts` (1-hour cache writes, reasoning), each
    within the total it is a part of."""
    usage.cache_write_1h_tokens = min(max(parts.cache_write_1h_tokens, 0), usage.cache_write_tokens)
    usage.reasoning_tokens = min(max(parts.reasoning_tokens, 0), usage.output_tokens)
    return usage


@dataclass(slots=True)
class ToolCallDraft:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Transcript:
    """What the provider sent back so far, as far as billing and the answer need it."""

    output_parts: list[str] = field(default_factory=list)  # text and tool-call arguments
    usage: Usage | None = None
    end: End | None = None
    drafts: dict[int, ToolCallDraft] = field(default_factory=dict)  # by the call's index

    @property
    def output_text(self) -> str:
        return "".join(self.output_parts)

    def observe(self, event: UpstreamEvent) -> None:
        if isinstance(event, TextDelta):
            self.output_parts.append(event.text)
        elif isinstance(event, UsageUpdate):
            self.usage = event.usage
        elif isinstance(event, End):
            self.end = event
        elif isinstance(event, ToolCallDelta):
            self.output_parts.append(event.arguments)  # arguments are output tokens too
            draft = self.drafts.get(event.index)
            if draft is None:
                draft = self.drafts[event.index] = ToolCallDraft()
            draft.id = draft.id or event.id
            draft.name = draft.name or event.name
            draft.arguments.append(event.arguments)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The complete calls, in index order (arguments "" read as no arguments: "{}")."""
        if not self.drafts:
            return ()
        return tuple(
            ToolCall(d.id or "", d.name or "", "".join(d.arguments) or "{}")
            for _, d in sorted(self.drafts.items())
        )

    def malformed_tool_call(self) -> str | None:
        """Why a finished answer's tool calls cannot be used, or None: each needs an id, a
        name, and arguments that are the JSON text of an object."""
        if not self.drafts:
            return None
        for call in self.tool_calls:
            if not call.id or not call.name:
                return "a tool call without its id or name"
            try:
                arguments = orjson.loads(call.arguments)
            except orjson.JSONDecodeError:
                return f"tool call {call.name!r} has arguments that are not valid JSON"
            if not isinstance(arguments, dict):
                return f"tool call {call.name!r} has arguments that are not a JSON object"
        return None

    @property
    def upstream_model(self) -> str | None:
        return self.end.model if self.end else None


@dataclass(frozen=True, slots=True)
class Bill:
    usage: Usage
    source: CostSource
    clamped: bool = False


def bill(
    transcript: Transcript, status: UsageStatus, error: GatewayError | None, bounds: Bounds
) -> Bill:
    """The tokens to charge, where they came from, and whether the report was clamped."""
    # An estimate never exceeds what was asked for (nor, so, what was reserved).
    produced = min(estimate_tokens(transcript.output_text), bounds.max_tokens)
    if getattr(error, "rejected", False):
        return Bill(Usage(), CostSource.NONE)
    known, clamped = transcript.usage, False
    if known is not None:
        known, clamped = clamp(known, bounds, produced)
    input_estimate = bounds.input_estimate
    if known is not None and transcript.end is not None and status is UsageStatus.OK:
        billed, source = known, CostSource.REPORTED
    elif known is not None:  # partial: what the provider said, the rest estimated
        billed = Usage(
            input_tokens=known.input_tokens if known.total_input_tokens else input_estimate,
            cached_input_tokens=known.cached_input_tokens,
            cache_write_tokens=known.cache_write_tokens,
            output_tokens=max(known.output_tokens, produced),
            cache_write_1h_tokens=known.cache_write_1h_tokens,
            reasoning_tokens=known.reasoning_tokens,
        )
        source = CostSource.ESTIMATED
    else:
        billed = Usage(input_tokens=input_estimate, output_tokens=produced)
        source = CostSource.ESTIMATED
    usage = Usage(
        bounded(billed.input_tokens),
        bounded(billed.cached_input_tokens),
        bounded(billed.cache_write_tokens),
        bounded(billed.output_tokens),
    )
    return Bill(with_parts(usage, billed), source, clamped)
