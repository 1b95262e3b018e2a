"""The shape of the code: layers that point one way, small modules, no module-level state."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "db", "proxy")
MAX_MODULE_LINES = 400
# Lower layers never import higher ones; a layer may import its own and everything below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("db",),
    ("proxy.infra", "proxy.providers", "proxy.upstreams"),
    ("proxy.ledger",),
    ("proxy.state",),
    ("proxy.http",),
    ("proxy.routes", "proxy.admin", "proxy.upkeep"),
    (
        "proxy.app",
        "proxy.server",
        "proxy.local_secrets",
        "proxy.commands",
        "proxy.price_commands",
        "proxy.__main__",
    ),
)
MUTABLE_CALLS = {"list", "dict", "set", "defaultdict", "deque", "OrderedDict", "Counter"}


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


def layer_of(module: str) -> int | None:
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return None


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in PACKAGES}


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: str(v))
def test_imports_point_down(module: str, path: Path) -> None:
    # A top package's own __init__ holds only its docstring.
    own = len(LAYERS) if module in PACKAGES else layer_of(module)
    assert own is not None, f"{module} is in no layer: add it to LAYERS"
    tree = ast.parse(path.read_text())
    upward = [name for name in imported(tree) if (layer_of(name) or 0) > own]
    assert not upward, f"{module} (layer {own}) imports from higher layers: {sorted(upward)}"


def test_every_module_is_small() -> None:
    paths = [p for package in (*PACKAGES, "bench", "tests") for p in (REPO / package).rglob("*.py")]
    too_long = {
        str(p.relative_to(REPO)): n
        for p in paths
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def _mutable(value: ast.expr) -> bool:
    if isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp):
        return True
    return isinstance(value, ast.Call) and getattr(value.func, "id", None) in MUTABLE_CALLS


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: str(v))
def test_no_module_level_mutable_state(module: str, path: Path) -> None:
    """Module-level names are constants (UPPER_CASE, never reassigned) or definitions; state
    lives on the application (proxy.state) or the request."""
    tree = ast.parse(path.read_text())
    assert not any(isinstance(n, ast.Global) for n in ast.walk(tree)), module
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = getattr(target, "id", "")
                assert not (_mutable(node.value) and not name.isupper()), (
                    f"{module}: module-level mutable {name!r}"
                )
