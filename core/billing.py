"""What a call is billed: the provider's reported usage when it finished and said, an estimate
from what was sent and produced when it did not, nothing when it refused the call."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import GatewayError
from core.events import End, TextDelta, ToolCallDelta, UpstreamEvent, UsageUpdate
from core.money import estimate_tokens
from core.outcomes import CostSource, UsageStatus
from core.usage import Usage

MAX_TOKEN_COUNT = 2**31 - 1  # the usage columns are 32-bit


def bounded(tokens: int) -> int:
    """A token count from an upstream, kept to what can be stored and billed (never negative)."""
    return min(max(int(tokens), 0), MAX_TOKEN_COUNT)


@dataclass(slots=True)
class Transcript:
    """What the provider sent back so far, as far as billing and the answer need it."""

    output_parts: list[str] = field(default_factory=list)  # text and tool-call arguments
    usage: Usage | None = None
    end: End | None = None

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

    @property
    def upstream_model(self) -> str | None:
        return self.end.model if self.end else None


def bill(
    transcript: Transcript,
    status: UsageStatus,
    error: GatewayError | None,
    *,
    input_estimate: int,
    max_tokens: int,
) -> tuple[Usage, CostSource]:
    """The tokens to charge and where they came from."""
    # An estimate never exceeds what was asked for (nor, so, what was reserved).
    produced = min(estimate_tokens(transcript.output_text), max_tokens)
    known = transcript.usage
    if getattr(error, "rejected", False):
        return Usage(), CostSource.NONE
    if known is not None and transcript.end is not None and status is UsageStatus.OK:
        billed, source = known, CostSource.REPORTED
    elif known is not None:  # partial: what the provider said, the rest estimated
        billed = Usage(
            input_tokens=known.input_tokens if known.total_input_tokens else input_estimate,
            cached_input_tokens=known.cached_input_tokens,
            cache_write_tokens=known.cache_write_tokens,
            output_tokens=max(known.output_tokens, produced),
        )
        source = CostSource.ESTIMATED
    else:
        billed = Usage(input_tokens=input_estimate, output_tokens=produced)
        source = CostSource.ESTIMATED
    return (
        Usage(
            bounded(billed.input_tokens),
            bounded(billed.cached_input_tokens),
            bounded(billed.cache_write_tokens),
            bounded(billed.output_tokens),
        ),
        source,
    )
