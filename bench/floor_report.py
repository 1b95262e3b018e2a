"""The floor's tables: the gateway against the bare proxy, the goals of issue 17, and the
database statements per request."""

from __future__ import annotations

from bench.floor import CONCURRENCIES, MODES, FloorRun

RATIO_GOALS = {"openai": 0.8, "openai-stream": 0.7}  # Kaixu ÷ bare at c=64
ADDED_FACTOR_GOAL = 2.0  # c=1: Kaixu's added p50 at most this × the bare proxy's
TTFB_GOAL_MS = 0.5  # c=1 stream: Kaixu's TTFB within this of the bare proxy's


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def comparison(floor: FloorRun) -> str:
    rows = []
    for mode, name in MODES.items():
        for c in CONCURRENCIES:
            direct, bare, kaixu = (floor.rps(t, mode, c) for t in ("direct", "bare", "gateway"))
            p50 = {t: floor.p50_us(t, mode, c) / 1000 for t in ("direct", "bare", "gateway")}
            added_bare, added_kaixu = p50["bare"] - p50["direct"], p50["gateway"] - p50["direct"]
            counted = floor.statements.get((mode, c), [])
            statements = sum(s.statements for s in counted)
            transactions = sum(s.transactions for s in counted)
            requests = sum(s.requests for s in counted) or 1
            rows.append([
                name, str(c), f"{direct:,.0f}", f"{bare:,.0f}, p50 {p50['bare']:.2f} ms",
                f"{kaixu:,.0f}, p50 {p50['gateway']:.2f} ms", f"{kaixu / bare:.2f}",
                f"{added_bare:.2f} / {added_kaixu:.2f} ms",
                f"{statements / requests:.2f} / {transactions / requests:.2f}",
            ])  # fmt: skip
    headers = ["mode", "c", "direct req/s", "bare proxy", "Kaixu", "Kaixu ÷ bare",
               "added p50 over direct: bare / Kaixu",
               "Kaixu statements / transactions per request"]  # fmt: skip
    return _table(headers, rows)


def goals(floor: FloorRun) -> list[tuple[str, str, str, bool]]:
    """(goal, measured, target, met) for each of issue 17's goals."""
    out = []
    for mode, goal in RATIO_GOALS.items():
        ratio = floor.rps("gateway", mode, 64) / floor.rps("bare", mode, 64)
        out.append(
            (f"{MODES[mode]} c=64, Kaixu ÷ bare", f"{ratio:.2f}", f"≥ {goal}", ratio >= goal)
        )
    for mode, name in MODES.items():
        direct = floor.p50_us("direct", mode, 1)
        bare = floor.p50_us("bare", mode, 1) - direct
        kaixu = floor.p50_us("gateway", mode, 1) - direct
        factor = kaixu / bare if bare > 0 else float("inf")
        measured = f"{kaixu / 1000:.2f} ms = {factor:.1f} × bare's {bare / 1000:.2f} ms"
        out.append((f"{name} c=1, added p50", measured, f"≤ {ADDED_FACTOR_GOAL:.0f} × bare's",
                    factor <= ADDED_FACTOR_GOAL))  # fmt: skip
    gap = floor.ttfb_ms("gateway") - floor.ttfb_ms("bare")
    out.append(("stream TTFB c=1, Kaixu − bare", f"{gap:.2f} ms", f"≤ {TTFB_GOAL_MS} ms",
                gap <= TTFB_GOAL_MS))  # fmt: skip
    return out


def ttfb_line(floor: FloorRun) -> str:
    parts = [f"{t} {floor.ttfb_ms(t):.2f} ms" for t in ("direct", "bare", "gateway")]
    return "Stream time to first byte at c=1 (p50, median of the rounds): " + ", ".join(parts) + "."


def top_statements(floor: FloorRun) -> str:
    """The statements the gateway sent most in the last round's non-stream c=64 cell."""
    counted = floor.statements.get(("openai", 64), [])
    if not counted:
        return ""
    last = counted[-1]
    rows = [[f"{n / last.requests:.3f}", f"`{query}`"] for n, query in last.top]
    return _table(["per request", "statement (non-stream, c=64)"], rows)


def render(floor: FloorRun) -> list[str]:
    goal_rows = [[g, m, t, "yes" if ok else "**no**"] for g, m, t, ok in goals(floor)]
    return [
        "### The floor: Kaixu against a bare aiohttp proxy (issue 17)",
        "The same OpenAI route (`POST /v1/chat/completions`), the same fake upstream, WORKERS=1;"
        " each figure the median of the interleaved rounds (direct, bare, Kaixu in turn).",
        comparison(floor),
        ttfb_line(floor),
        _table(["goal", "measured", "target", "met"], goal_rows),
        top_statements(floor),
    ]
