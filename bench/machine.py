"""What the numbers were measured on: the machine, and the versions of what was measured."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path


def cpu_model(cpuinfo: str) -> str:
    """The first 'model name' of /proc/cpuinfo (or 'unknown' on CPUs that do not give one)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return "unknown"


def mem_total_gib(meminfo: str) -> float:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / (1024 * 1024)
    return 0.0


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> dict[str, str]:
    usable = len(os.sched_getaffinity(0))
    return {
        "CPUs (nproc)": str(usable),
        "CPU model": cpu_model(_read("/proc/cpuinfo")),
        "memory": f"{mem_total_gib(_read('/proc/meminfo')):.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
    }


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions(postgres: str, wrk: str) -> dict[str, str]:
    return {
        "Python": platform.python_version(),
        "aiohttp": package_version("aiohttp"),
        "asyncpg": package_version("asyncpg"),
        "uvloop": package_version("uvloop"),
        "PostgreSQL": postgres,
        "wrk": wrk,
    }
