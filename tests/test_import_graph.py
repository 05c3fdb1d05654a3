"""The slm_lab import graph has no cycles (DESIGN.md §4: dependencies point down).

Every import statement of every module counts, those inside functions too (a lazy import is
still a dependency); only `if TYPE_CHECKING:` blocks are left out, since they never run.
`from pkg import name` is an edge to `pkg.name` when that is a module, else to `pkg`."""

from __future__ import annotations

import ast
from pathlib import Path

import slm_lab

ROOT = Path(slm_lab.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            graph[name].update(t for t in targets if t in files and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_slm_lab_import_graph_has_no_cycles():
    graph = import_graph()
    assert len(graph) > 50 and graph["slm_lab.control.session"], "the walk found the package's modules and imports"
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_env_package_and_its_adapters_do_not_import_each_other():
    """Stricter for env/: `from slm_lab.env import x` also counts as importing the package
    itself (it runs env/__init__), which once imported every adapter back."""
    files = {module_name(p): p for p in (ROOT / "env").rglob("*.py")}
    graph = {name: {t for t in deps if t in files} for name, deps in import_graph().items() if name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in files and node.module != name:
                graph[name].add(node.module)
    assert "slm_lab.env.factory" in graph["slm_lab.env"]
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])
