"""Generated local secrets are created once, kept private, and identical for racing processes."""

from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path

from core.settings import Settings
from proxy.local_secrets import read_or_create, with_local_secrets


def test_created_once_and_reused(tmp_path: Path) -> None:
    calls = count()
    value, created = read_or_create(tmp_path / "s", lambda: f"v{next(calls)}")
    again, created_again = read_or_create(tmp_path / "s", lambda: f"v{next(calls)}")
    assert (value, created) == ("v0", True)
    assert (again, created_again) == ("v0", False)
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o600


def test_racing_creators_agree(tmp_path: Path) -> None:
    calls = count()
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda _: read_or_create(tmp_path / "s", lambda: f"v{next(calls)}"), range(32))
        )
    assert len({value for value, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temporary files left behind


def test_only_missing_secrets_are_filled(tmp_path: Path) -> None:
    generated, from_file = with_local_secrets(Settings(data_dir=tmp_path))
    assert from_file and len(generated.admin_password) >= 20 and len(generated.secret) >= 40
    given, from_file = with_local_secrets(Settings(data_dir=tmp_path, admin_password="mine"))
    assert not from_file
    assert given.admin_password == "mine"
    assert given.secret == generated.secret
