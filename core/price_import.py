"""Price files read into prices, exactly: the project's own CSV (USD per 1M tokens) and the
community price map most gateways use (LiteLLM's `model_prices_and_context_window.json`, USD
per token). No float is ever made: numbers are read as decimals and scaled to integer
micro-cents per 1M tokens, and a price finer than that is refused rather than rounded.

A file that cannot be read (bad JSON or CSV, a price that is not a number) raises ImportProblem
naming its line, and nothing is imported. What the gateway cannot use (other providers, models
that are not chat models, fields it does not bill) is skipped and said in `warnings`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from core.pricing import LONG_PRICES, PRICE_FIELDS, SHORT_PRICES, Price, base_model_name

UC_PER_USD = Decimal(100_000_000)  # 100 cents x 1,000,000 micro-cents
UC_PER_MTOK_PER_USD_PER_TOKEN = UC_PER_USD * 1_000_000
MAX_MODEL_CHARS = 128
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_MODEL = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces

# LiteLLM's per-token fields, as the columns they fill.
LITELLM_PRICES = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cached_input",
    "cache_creation_input_token_cost": "cache_write",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "output_cost_per_reasoning_token": "reasoning_output",
}
# Prices past a prompt size: `…_above_200k_tokens` and the like; the size is the threshold.
_LITELLM_LONG = re.compile(
    r"(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost"
    r"|cache_creation_input_token_cost|cache_creation_input_token_cost_above_1hr)"
    r"_above_(\d+)k_tokens"
)
_LONG_OF = {
    "input_cost_per_token": "long_input",
    "output_cost_per_token": "long_output",
    "cache_read_input_token_cost": "long_cached_input",
    "cache_creation_input_token_cost": "long_cache_write",
    "cache_creation_input_token_cost_above_1hr": "long_cache_write_1h",
}
# Fields that describe a model without pricing it: read past without a warning.
_DESCRIPTIVE = re.compile(
    r"(litellm_provider|mode|source|deprecation_date|metadata|comment|notes?|provider_specific_entry"
    r"|tool_use_system_prompt_tokens|max_\w+|supports_\w+|supported_\w+|\w+_regions?|tpm|rpm)"
)
_SERVICE_TIER = re.compile(r"_(batches|flex|priority|ultrafast|decisions)$")
CHAT_MODES = frozenset({"chat", "responses", "completion"})
# LiteLLM's provider names that are ours under another name (Vertex AI and the like bill
# differently from the providers' own APIs, so they are not mapped).
LITELLM_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini"}


class ImportProblem(ValueError):
    """The file cannot be imported; the message names the line."""


@dataclass(slots=True)
class Parsed:
    prices: list[Price] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0  # entries of other providers or kinds of model


@dataclass(frozen=True, slots=True)
class Change:
    before: Price
    after: Price


@dataclass(slots=True)
class Diff:
    added: list[Price] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    unchanged: list[Price] = field(default_factory=list)

    @property
    def to_apply(self) -> list[Price]:
        return [*self.added, *(change.after for change in self.changed)]


def diff(current: Collection[Price], incoming: Collection[Price]) -> Diff:
    """What importing `incoming` would do to `current` (rows of neither are left as they are)."""
    known = {(p.provider, p.model): p for p in current}
    result = Diff()
    for price in sorted(incoming, key=lambda p: (p.provider, p.model)):
        before = known.get((price.provider, price.model))
        if before is None:
            result.added.append(price)
        elif before == price:
            result.unchanged.append(price)
        else:
            result.changed.append(Change(before, price))
    return result


def detect_format(text: str) -> str:
    return "litellm" if text.lstrip().startswith(("{", "[")) else "csv"


def parse(text: str, providers: Collection[str], fmt: str | None = None) -> Parsed:
    """The prices of a file, in the format given or detected; `providers` are the names the
    gateway serves (a LiteLLM entry of any other provider is skipped)."""
    fmt = fmt or detect_format(text)
    if fmt == "csv":
        return parse_csv(text)
    if fmt == "litellm":
        return parse_litellm(text, providers)
    raise ImportProblem(f"unknown format {fmt!r}: csv or litellm")


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ImportProblem(f"{where} must be a number")
    try:
        number = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ImportProblem(f"{where} must be a number, not {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ImportProblem(f"{where} must be a number of 0 or more, not {value}")
    return number


class TooFine(ValueError):
    """A price finer than one micro-cent per 1M tokens: it cannot be stored exactly."""


MAX_UC_PER_MTOK = 1_000_000 * UC_PER_USD  # $1,000,000 per 1M tokens, as the admin PUT allows


def _uc(number: Decimal, scale: Decimal, where: str) -> int:
    with localcontext() as exact:
        exact.prec = 100  # the default 28 digits would round a long decimal silently
        value = number * scale
    if value != value.to_integral_value():
        raise TooFine(str(number))
    if value > MAX_UC_PER_MTOK:
        raise ImportProblem(f"{where}: {number} is above $1,000,000 per 1M tokens")
    return int(value)


# -- the project's CSV --------------------------------------------------------------------------

CSV_COLUMNS = ("provider", "model", *SHORT_PRICES, "long_context_threshold", *LONG_PRICES)


def parse_csv(text: str) -> Parsed:
    """Header `provider,model,input,output,…` (migrations/prices.csv's); USD per 1M tokens, an
    empty cell for no price of its own."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in ("provider", "model", "input", "output") if c not in header]
    if missing:
        raise ImportProblem(f"line 1: the header lacks {', '.join(missing)}")
    parsed = Parsed()
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        parsed.warnings.append(
            f"columns ignored (not a price the gateway bills): {', '.join(unknown)}"
        )
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                raise ImportProblem(f"line {line}: more cells than the header has columns")
            cells = {name: (row.get(name) or "").strip() for name in CSV_COLUMNS}
            where = f"line {line}"
            provider, model = cells["provider"], cells["model"]
            _check_names(provider, model, where)
            values: dict[str, int | None] = {}
            for name in PRICE_FIELDS:
                text_value = cells[name]
                if not text_value:
                    values[name] = None
                    continue
                try:
                    field = f"{where}: {name}"
                    values[name] = _uc(_decimal(text_value, field), UC_PER_USD, field)
                except TooFine:
                    raise ImportProblem(
                        f"{where}: {name} {text_value} is finer than a micro-cent per 1M tokens"
                    ) from None
            threshold = cells["long_context_threshold"]
            parsed.prices.append(_price(provider, model, values, threshold or None, where))
    except csv.Error as exc:
        raise ImportProblem(f"line {reader.line_num}: {exc}") from None
    _no_repeats(parsed.prices)
    return parsed


def _check_names(provider: str, model: str, where: str) -> None:
    if not _PROVIDER.fullmatch(provider):
        raise ImportProblem(f"{where}: provider {provider!r} is not a provider name")
    if not _MODEL.fullmatch(model):
        raise ImportProblem(f"{where}: model {model!r} is not a model name")


def _price(provider: str, model: str, values: dict[str, int | None], threshold: Any,
           where: str) -> Price:  # fmt: skip
    for name in ("input", "output"):
        if values.get(name) is None:
            raise ImportProblem(f"{where}: {name} is required")
    long_given = [name for name in LONG_PRICES if values.get(name) is not None]
    if threshold is None:
        if long_given:
            raise ImportProblem(f"{where}: {long_given[0]} needs long_context_threshold")
        limit = None
    else:
        try:
            limit = int(threshold)
        except (TypeError, ValueError):
            raise ImportProblem(f"{where}: long_context_threshold must be a whole number") from None
        if limit <= 0 or values.get("long_input") is None or values.get("long_output") is None:
            raise ImportProblem(
                f"{where}: long_context_threshold needs long_input and long_output, and to be"
                " above 0"
            )
    full = {name: values.get(name) for name in PRICE_FIELDS}
    return Price(provider=provider, model=model, long_context_threshold=limit, **full)


def _no_repeats(prices: list[Price]) -> None:
    seen: set[tuple[str, str]] = set()
    for price in prices:
        key = (price.provider, price.model)
        if key in seen:
            raise ImportProblem(f"{price.provider}/{price.model} appears twice")
        seen.add(key)


# -- LiteLLM's price map ------------------------------------------------------------------------


def parse_litellm(text: str, providers: Collection[str]) -> Parsed:
    """Entries of the providers the gateway serves, chat models only; a dated entry priced as
    its base model's is left to the base (the gateway prices dated names as their base)."""
    try:
        document = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as exc:
        raise ImportProblem(f"line {exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(document, dict):
        raise ImportProblem("line 1: the file must be one JSON object of models")
    lines = _key_lines(text)
    parsed = Parsed()
    ignored: dict[str, list[str]] = {}
    finer: list[str] = []
    found: dict[tuple[str, str], tuple[str, Price]] = {}  # (provider, model) -> (key, price)
    clashes: list[str] = []
    for key, entry in document.items():
        where = f"line {lines.get(key, '?')} ({key})"
        if key == "sample_spec":
            continue
        if not isinstance(entry, dict):
            raise ImportProblem(f"{where}: an entry must be an object")
        provider = _our_provider(entry.get("litellm_provider"), providers)
        model = key.split("/", 1)[1] if "/" in key and provider else key
        if (provider is None or entry.get("mode", "chat") not in CHAT_MODES
                or not _MODEL.fullmatch(model) or key.startswith("ft:")):  # fmt: skip
            parsed.skipped += 1
            continue
        try:
            values, threshold = _litellm_prices(entry, where, ignored, model)
        except TooFine:
            finer.append(model)
            continue
        if values.get("input") is None or values.get("output") is None:
            parsed.skipped += 1  # priced per image, second or request: not per token
            continue
        price = _price(provider, model, values, threshold, where)
        seen = found.get((provider, model))
        if seen is not None and seen[1] != price:
            if "/" in seen[0] or "/" not in key:  # the provider-prefixed key names its own API
                clashes.append(f"{provider}/{model} ({seen[0]} kept, {key} left out)")
                continue
            clashes.append(f"{provider}/{model} ({key} kept, {seen[0]} left out)")
        found[(provider, model)] = (key, price)
    parsed.prices = _without_priced_snapshots([price for _, price in found.values()])
    if clashes:
        parsed.warnings.append(f"named twice with different prices: {', '.join(clashes)}")
    for name, models in sorted(ignored.items()):
        parsed.warnings.append(
            f"field {name} ignored (not a price the gateway bills): {len(models)} model(s),"
            f" e.g. {models[0]}"
        )
    if finer:
        parsed.warnings.append(
            f"not imported, a price finer than a micro-cent per 1M tokens: {', '.join(finer)}"
        )
    _no_repeats(parsed.prices)
    return parsed


def _our_provider(litellm_provider: Any, providers: Collection[str]) -> str | None:
    if not isinstance(litellm_provider, str):
        return None
    name = LITELLM_PROVIDERS.get(litellm_provider, litellm_provider)
    return name if name in providers else None


def _litellm_prices(entry: dict[str, Any], where: str, ignored: dict[str, list[str]],
                    model: str) -> tuple[dict[str, int | None], int | None]:  # fmt: skip
    values: dict[str, int | None] = {}
    threshold: int | None = None
    for name, value in entry.items():
        column = LITELLM_PRICES.get(name)
        long = _LITELLM_LONG.fullmatch(name)
        if column is None and long is not None:
            size = int(long.group(2)) * 1000
            if threshold not in (None, size):  # two sizes: only the first is modelled
                ignored.setdefault(name, []).append(model)
                continue
            threshold, column = size, _LONG_OF[long.group(1)]
        if column is None:
            tier = _SERVICE_TIER.search(name)
            if tier is not None:  # batch, flex, priority… prices: another service than ours
                ignored.setdefault(f"*_{tier.group(1)} (a service tier)", []).append(model)
            elif not _DESCRIPTIVE.fullmatch(name):
                ignored.setdefault(name, []).append(model)
            continue
        if value is None:
            continue
        field = f"{where}: {name}"
        values[column] = _uc(_decimal(value, field), UC_PER_MTOK_PER_USD_PER_TOKEN, field)
    if threshold is not None and values.get("long_input") is None:
        threshold = None  # a long price without its input price: not modelled
    if threshold is not None and values.get("long_output") is None:
        values["long_output"] = values.get("output")  # only the input costs more past it
    if threshold is None:
        for name in LONG_PRICES:
            values.pop(name, None)
    return values, threshold


def _without_priced_snapshots(prices: list[Price]) -> list[Price]:
    """Leave out a dated snapshot priced exactly as its base model (also in the file)."""
    by_name = {(p.provider, p.model): p for p in prices}
    kept = []
    for price in prices:
        base = base_model_name(price.model)
        twin = by_name.get((price.provider, base)) if base != price.model else None
        if twin is not None and replace(twin, model=price.model) == price:
            continue
        kept.append(price)
    return kept


def _key_lines(text: str) -> dict[str, int]:
    """The line of each top-level key (its first occurrence), for messages."""
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r'\s*"((?:[^"\\]|\\.)*)"\s*:\s*\{', line)
        if match and match.group(1) not in found:
            found[match.group(1)] = number
    return found


def usd(uc: int | None) -> str:
    """A price back to USD per 1M tokens, exactly (for diffs and CSV)."""
    if uc is None:
        return ""
    text = format(Decimal(uc) / UC_PER_USD, "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{(fraction.rstrip('0') or '').ljust(2, '0')}"


def to_csv(prices: list[Price]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in prices:
        cells = {"provider": p.provider, "model": p.model,
                 "long_context_threshold": p.long_context_threshold or ""}  # fmt: skip
        cells.update({name: usd(value) for name, value in p.prices().items()})
        writer.writerow([cells[c] for c in CSV_COLUMNS])
    return out.getvalue()


def describe(price: Price) -> Iterator[str]:
    """`name usd` for each price of a row that is set."""
    for name, value in price.prices().items():
        if value is not None:
            yield f"{name} {usd(value)}"
    if price.long_context_threshold:
        yield f"long above {price.long_context_threshold:,} input tokens"
