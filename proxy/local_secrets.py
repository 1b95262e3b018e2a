"""Secrets generated on first local start and kept under the data directory across restarts."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from core.settings import Settings

ADMIN_PASSWORD_FILE = "admin-password"
SECRET_FILE = "secret"


def read_or_create(path: Path, make: Callable[[], str]) -> tuple[str, bool]:
    """Return the value stored at `path`, creating it atomically (mode 0600) if absent.

    Several processes may start at once: the value is written to a temporary file and linked
    into place, so each of them either wins or reads the winner's complete value.
    """
    try:
        return path.read_text().strip(), False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(make() + "\n")
    try:
        os.link(temp, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        temp.unlink()
    return path.read_text().strip(), created


def with_local_secrets(settings: Settings) -> tuple[Settings, bool]:
    """Fill in ADMIN_PASSWORD and KAIXU_SECRET from the data directory when they are unset.

    Returns the settings and whether the admin password comes from the data directory (so the
    start-up banner prints it). Production settings never reach here without both.
    """
    changes: dict[str, str] = {}
    password_from_file = False
    if settings.admin_password is None:
        changes["admin_password"], _ = read_or_create(
            settings.data_dir / ADMIN_PASSWORD_FILE, lambda: secrets.token_urlsafe(18)
        )
        password_from_file = True
    if settings.secret is None:
        changes["secret"], _ = read_or_create(
            settings.data_dir / SECRET_FILE, lambda: secrets.token_urlsafe(48)
        )
    return dataclasses.replace(settings, **changes), password_from_file
