"""The layers of the code, read from its import statements: core <- media <- runs <- cli, no import cycle, and the
torch-free modules the command line needs before torch stay torch-free."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The foundation every layer may import: torch-free settings, errors, events and request checks.
FOUNDATION = {"pipeline.config", "pipeline.errors", "pipeline.events"}
MAX_LINES = 450


def modules() -> dict[str, Path]:
    found = {}
    for package in ("pipeline", "cli"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(name: str, path: Path) -> set[str]:
    """The project modules `name` imports, anywhere in it (functions too), resolved to module names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found |= {f"{base}.{alias.name}" for alias in node.names} | {base}
    known = modules()
    return {module for module in found if module in known and module != name}


def layer(name: str) -> int:
    if name in FOUNDATION or name in ("pipeline.core", "pipeline.media"):
        return 0
    if name.startswith("pipeline.core."):
        return 1
    if name.startswith("pipeline.media."):
        return 2
    if name.startswith("pipeline"):
        return 3
    return 4  # cli


def test_imports_point_down_only():
    graph = {name: imports(name, path) for name, path in modules().items()}
    upward = [(name, target) for name, targets in graph.items() for target in targets
              if layer(target) > layer(name) and name != "pipeline"]  # the package assembles its public API lazily
    assert upward == []


def test_no_import_cycle():
    graph = {name: imports(name, path) for name, path in modules().items()}
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, f"import cycle: {' -> '.join(trail[trail.index(name):] + (name,))}"
        if name in done:
            return
        for target in graph[name]:
            if target != "pipeline":  # every module is inside the package; its __init__ is not a dependency
                visit(target, trail + (name,))
        done.add(name)

    for name in graph:
        visit(name, ())


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_small(name):
    assert len(modules()[name].read_text().splitlines()) <= MAX_LINES


def test_the_checks_and_the_events_need_no_torch():
    # The command line checks a request and draws progress from these before `import torch` (seconds).
    code = ("import sys, pipeline.checks, pipeline.events, cli.args, cli.progress, cli.live_args, cli.measure\n"
            "print(sorted(m for m in ('torch', 'cv2', 'torchvision') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"
