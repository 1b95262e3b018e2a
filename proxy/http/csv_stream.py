"""CSV downloads: RFC 4180 quoting, formula-injection safety, exact money, streamed writing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from core.money import UC_PER_CENT

log = logging.getLogger("kaixu.csv")

# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPE = "text/csv; charset=utf-8"

Batches = AsyncIterator[Sequence[Sequence[Any]]]


def text_cell(value: str | None) -> str:
    """A cell of text someone typed or sent (names, notes, models, ids): never a formula."""
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def int_cell(value: int | None) -> str:
    return "" if value is None else str(value)


def cents_text(uc: int) -> str:
    """Integer micro-cents as exact cents with 6 decimals ("12.500000"), never via a float."""
    whole, fraction = divmod(abs(uc), UC_PER_CENT)
    return f"{'-' if uc < 0 else ''}{whole}.{fraction:06d}"


def cents_cell(uc: int | None) -> str:
    return "" if uc is None else cents_text(uc)


def time_cell(value: dt.datetime | None) -> str:
    """ISO 8601 in UTC with a Z, as the admin JSON writes it."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def bool_cell(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def month_cell(value: dt.date | None) -> str:
    return "" if value is None else value.strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a download: its header and how a value becomes a cell.

    Only `text_cell` cells are neutralised: numbers we format ourselves stay numbers, even negative.
    """

    name: str
    render: Callable[[Any], str]


def encode(columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, header: bool) -> bytes:
    """Rows (values in column order) as CSV bytes with \\r\\n line ends and minimal quoting."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    if header:
        writer.writerow([column.name for column in columns])
    renders = [column.render for column in columns]
    writer.writerows(
        [render(value) for render, value in zip(renders, row, strict=True)] for row in rows
    )
    return buffer.getvalue().encode()


def download_headers(filename: str) -> dict[str, str]:
    """`filename` must be plain ASCII without quotes: callers build it from validated ids."""
    return {
        "Content-Type": CONTENT_TYPE,
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


def csv_response(
    filename: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]]
) -> web.Response:
    """A small CSV built whole (an invoice); big ones go through `stream_csv`."""
    return web.Response(body=encode(columns, rows, header=True), headers=download_headers(filename))


async def stream_csv(
    request: web.Request, filename: str, columns: Sequence[Column], batches: Batches
) -> web.StreamResponse:
    """Write each batch as it arrives (chunked), so memory holds one batch whatever the size.

    The first batch is fetched before the headers go out, so a query that fails at once is
    still an ordinary JSON error. A failure after that cannot change the status any more: the
    connection is cut, and the client sees an incomplete download rather than a short file.
    """
    try:  # not anext(batches, default): on CPython 3.11 that raises SystemError here
        first = await anext(batches)
    except StopAsyncIteration:
        first = ()
    response = web.StreamResponse(headers=download_headers(filename))
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        await response.write(encode(columns, first, header=True))
        async for batch in batches:
            await response.write(encode(columns, batch, header=False))
        await response.write_eof()
    except ConnectionResetError:  # the client went away: nobody is left to tell
        pass
    except Exception:
        log.exception("CSV download failed mid-stream", extra={"download": filename})
        if request.transport is not None:
            request.transport.close()
    return response
