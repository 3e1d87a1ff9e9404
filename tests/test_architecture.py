"""The layout shows the data path: imports run down the floors, never up, never in a cycle.

Read from the source (every import, type-only ones included), not from a running
interpreter, so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("assistant", "ingest")


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    modules = {_module(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    deps.add(target)
        graph[name] = deps
    return graph


def test_retrieval_and_answering_never_import_ingest() -> None:
    graph = _graph()
    for name, deps in graph.items():
        if name.startswith(("assistant.retrieval", "assistant.answering", "assistant.store")):
            assert not any(d == "ingest" or d.startswith("ingest.") for d in deps), (name, deps)


@pytest.mark.parametrize(
    ("floor", "above"),
    [
        ("assistant.store", ("assistant.retrieval", "assistant.answering", "assistant.server")),
        ("assistant.text", ("assistant.store", "assistant.retrieval", "assistant.models")),
        ("assistant.models", ("assistant.retrieval", "assistant.answering", "assistant.server")),
        ("assistant.retrieval", ("assistant.answering", "assistant.server", "assistant.audit")),
    ],
)
def test_no_import_runs_back_up_a_floor(floor: str, above: tuple[str, ...]) -> None:
    for name, deps in _graph().items():
        if name == floor or name.startswith(floor + "."):
            bad = sorted(d for d in deps if d.startswith(above))
            assert not bad, f"{name} imports {bad}, a floor above it"


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_no_module_over_300_lines_without_a_reason_at_its_top() -> None:
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            lines = path.read_text(encoding="utf-8").splitlines()
            if len(lines) > 300:
                assert lines[0].startswith("# Over 300 lines: "), f"{path}: {len(lines)} lines"
