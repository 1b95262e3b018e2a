"""Readers of /proc: process trees, CPU time, resident memory and listening sockets."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TCP_LISTEN = "0A"  # the `st` column of /proc/net/tcp for a listening socket


def parse_stat(text: str) -> tuple[int, int]:
    """(parent pid, utime + stime in clock ticks) from the text of /proc/<pid>/stat."""
    # The command name (field 2) is in parentheses and may itself hold spaces and ')':
    # everything after the last ')' is fixed-position.
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14 and stime 15.
    return int(fields[1]), int(fields[11]) + int(fields[12])


def parse_status_kb(text: str, name: str) -> int | None:
    """A `Name:   1234 kB` value of /proc/<pid>/status, in kB (None when absent)."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return int(value.split()[0])
    return None


def parse_listen_inodes(text: str, port: int) -> set[int]:
    """Socket inodes listening on `port` in the text of /proc/net/tcp or /proc/net/tcp6."""
    inodes: set[int] = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local_port = int(fields[1].rpartition(":")[2], 16)
        if local_port == port and fields[3] == TCP_LISTEN:
            inodes.add(int(fields[9]))
    return inodes


def parse_busy_ticks(text: str) -> int:
    """Clock ticks all CPUs spent running processes, from the 'cpu' line of /proc/stat.

    Interrupt and softirq time are left out: loopback networking of the benchmark's own
    traffic is accounted there, not to any process, and is not someone else's load.
    """
    user, nice, system = (int(x) for x in text.splitlines()[0].split()[1:4])
    return user + nice + system  # guest time is inside user already


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None  # the process ended between listing and reading: it no longer counts


def descendants(pid: int) -> list[int]:
    """`pid` and every live process below it (the gateway's workers are its children)."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (text := _read(entry / "stat")) is not None:
            parents[int(entry.name)] = parse_stat(text)[0]
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree.extend(frontier)
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (live ones), in seconds."""
    ticks = 0
    for pid in pids:
        if (text := _read(PROC / str(pid) / "stat")) is not None:
            ticks += parse_stat(text)[1]
    return ticks / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    return cpu_seconds(descendants(pid))


def status_kb(pid: int, name: str) -> int | None:
    """VmRSS (resident now) or VmHWM (resident peak) of a process, in kB."""
    text = _read(PROC / str(pid) / "status")
    return None if text is None else parse_status_kb(text, name)


def listening_pids(pids: list[int], port: int) -> list[int]:
    """Those of `pids` holding a socket that listens on `port` (the serving workers)."""
    inodes: set[int] = set()
    for table in ("tcp", "tcp6"):
        inodes |= parse_listen_inodes(_read(PROC / "net" / table) or "", port)
    wanted = {f"socket:[{inode}]" for inode in inodes}
    found = []
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in (PROC / str(pid) / "fd").iterdir()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if wanted.intersection(links):
            found.append(pid)
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (every process, every CPU)."""
    return parse_busy_ticks(_read(PROC / "stat") or "cpu 0 0 0") / CLOCK_TICKS


def own_cpu_seconds() -> float:
    """This process's CPU time plus that of its children that have exited (wrk runs)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
