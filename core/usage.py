"""Token counts as billed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Usage:
    """Tokens as billed: input_tokens excludes cached reads and cache writes, which are priced
    on their own; output_tokens includes reasoning/thinking tokens."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    # Parts of the counts above, priced apart where a price says so (and otherwise as the
    # whole): cache writes kept for an hour (Anthropic's 2x-input writes) and reasoning output.
    # Not stored on their own: the usage row keeps the totals and the cost they came to.
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cached_input_tokens + self.cache_write_tokens
