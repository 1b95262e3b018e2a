"""Settlements kept on disk while the database cannot take them, replayed once it can.

A settlement the database refused for being unreachable is appended to this process's open
segment in DATA_DIR/journal/ (one JSON line each, fsynced), and the replayer writes the
segments, oldest first, when the database is back. The outbox (outbox.py) keeps its segments
in the same directory and format, so a dead process's outbox is replayed the same way. Replaying is
idempotent (kaixu_settle_batch settles a reservation once), so a segment replayed twice, by
this process or by another after a crash, books nothing twice.

Segments are claimed with an exclusive flock: the writing process holds its open segment's,
so a sibling process sharing DATA_DIR replays only segments nobody holds: the closed ones, and
those of processes that died (the kernel released their lock). Only a few segments' lines are
ever in memory; everything else waits on disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO

import orjson

from db.gateway import SETTLEMENT_FIELDS, Settlement

log = logging.getLogger("kaixu.journal")

SEGMENT_ITEMS = 1000  # lines per segment before a new one is opened


def encode(item: Settlement) -> bytes:
    """One line, every field in order; orjson writes the dataclass itself (no dict, no copy:
    this runs twice per request, for the outbox) and the month (a date) as YYYY-MM-DD."""
    return orjson.dumps(item) + b"\n"


def decode(line: bytes) -> Settlement:
    values = orjson.loads(line)
    values["month"] = date.fromisoformat(values["month"])
    return Settlement(**{name: values[name] for name in SETTLEMENT_FIELDS if name in values})


def _readable(lines: IO[bytes], path: Path) -> Iterator[Settlement]:
    """A line cut short by a crash is skipped (logged): that settlement was never committed,
    and its reservation is left to the reaper."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield decode(line)
        except (ValueError, TypeError, KeyError):
            log.error(
                "unreadable journal line skipped", extra={"segment": path.name, "line": number}
            )


class Journal:
    """This process's open segment, and the claiming of segments to replay."""

    def __init__(self, directory: Path, owner: str) -> None:
        self.directory = directory
        self.owner = owner
        self._lock = threading.Lock()  # appends run in worker threads
        self._segment: IO[bytes] | None = None
        self._segment_items = 0
        directory.mkdir(parents=True, exist_ok=True)

    def keep(self, items: list[Settlement]) -> None:
        """Append durably (fsync). Blocking: call it in a thread."""
        with self._lock:
            if self._segment is None or self._segment_items >= SEGMENT_ITEMS:
                self._open_segment()
            assert self._segment is not None
            self._segment.write(b"".join(encode(item) for item in items))
            self._segment.flush()
            os.fsync(self._segment.fileno())
            self._segment_items += len(items)
        log.warning("settlements kept in the journal", extra={"count": len(items)})

    def _open_segment(self) -> None:
        self._close_segment()
        # Names sort by creation time: replaying in name order is replaying in order.
        path = self.directory / f"{time.time_ns():020d}-{self.owner}.jsonl"
        segment = open(path, "ab")  # noqa: SIM115 - held open across calls, closed in close()
        fcntl.flock(segment.fileno(), fcntl.LOCK_EX)
        self._segment, self._segment_items = segment, 0
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name is durable too
        finally:
            os.close(dir_fd)

    def _close_segment(self) -> None:
        if self._segment is not None:
            self._segment.close()  # releases its flock: it can be replayed now
            self._segment = None

    def close_segment(self) -> None:
        """Stop appending to the open segment, so that it can be replayed."""
        with self._lock:
            self._close_segment()

    def pending(self) -> list[Path]:
        return sorted(self.directory.glob("*.jsonl"))

    @contextlib.contextmanager
    def claim(self, path: Path) -> Iterator[list[Settlement] | None]:
        """The segment's settlements while holding its lock, None if another process holds
        it (or it is gone). Removed on a clean exit from the block."""
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed in finally
        except FileNotFoundError:
            yield None
            return
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            if not path.exists():  # replayed and removed while we waited to open it
                yield None
                return
            yield list(_readable(handle, path))
            path.unlink()
        finally:
            handle.close()
