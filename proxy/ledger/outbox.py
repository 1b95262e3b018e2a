"""Settlements between the client's answer and their commit, on disk.

A request is answered as soon as its settlement is computed; the settlement is committed by
the batched writer moments later. In between it lives in this process's outbox: a segment file
in the journal's directory, one line per settlement in the journal's own format, appended with
a plain write (no fsync: a `kill -9` loses nothing the kernel already holds). A segment is
removed once every settlement in it is committed (or kept in the journal, while the database is
away); the open one is emptied whenever nothing in it is pending. Each segment is held with an
exclusive flock while this process lives, so the replayer (`proxy.ledger.writers.Replayer`, in
any process sharing DATA_DIR) takes it only after this process died: its settlements are then
replayed, and replaying is idempotent (one usage row per reservation; a reaper's estimate is
replaced by the real figures).

If the whole machine loses power before the kernel wrote a segment, its settlements are lost
with it; their reservations then stay in the database, and the reaper bills each one at its
input estimate: every call still leaves exactly one usage row.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from db.gateway import Settlement
from proxy.ledger.journal import SEGMENT_ITEMS, encode


@dataclass(eq=False, slots=True)
class Segment:
    path: Path
    handle: IO[bytes]
    written: int = 0
    pending: int = 0  # written, not yet committed
    full: bool = False  # no more appends: removed as soon as nothing in it is pending

    def remove_if_settled(self) -> None:
        if self.pending or self.handle.closed:
            return
        if self.full:
            self.path.unlink(missing_ok=True)
            self.handle.close()  # releases the flock only after the file is gone
        else:  # still open for appends: emptied, so a crash now leaves nothing to replay
            os.ftruncate(self.handle.fileno(), 0)
            self.written = 0


class Outbox:
    """This process's segments: `add` before answering, `settled` once committed."""

    def __init__(self, directory: Path, owner: str) -> None:
        self.directory = directory
        self.owner = owner
        self._open: Segment | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, item: Settlement) -> Segment:
        """Append one settlement; the segment it went to, for `settled`."""
        segment = self._open
        if segment is None or segment.written >= SEGMENT_ITEMS:
            segment = self._rotate()
        os.write(segment.handle.fileno(), encode(item))
        segment.written += 1
        segment.pending += 1
        return segment

    @staticmethod
    def settled(segment: Segment) -> None:
        segment.pending -= 1
        segment.remove_if_settled()

    def _rotate(self) -> Segment:
        if self._open is not None:
            self._open.full = True
            self._open.remove_if_settled()
        # Named like the journal's segments (creation time first): replayed in order.
        path = self.directory / f"{time.time_ns():020d}-{self.owner}-outbox.jsonl"
        handle = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by remove_if_settled
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        self._open = Segment(path, handle)
        return self._open

    def close(self) -> None:
        """On a clean stop, after the writer drained: the last segment goes if it is settled;
        one that is not (a write still failing) is left for the replayer."""
        segment, self._open = self._open, None
        if segment is None:
            return
        segment.full = True
        segment.remove_if_settled()
        segment.handle.close()  # a no-op if it was removed
