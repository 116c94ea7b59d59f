"""Structure figures of a checkout, for the "one home for each meaning" redesign.

    python benchmarks/code_metrics.py [ROOT]

Prints: the five largest modules (lines), the import cycles between modules of ``placement``
and ``solvers`` (strongly connected components of the import graph, networkx), the private
names (``_x``) imported from another module, and the files that switch on an objective name
(a string literal of an objective compared, looked up or matched). Reads source as text
through ``ast``; runs nothing of the project.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import networkx as nx

PACKAGES = ("placement", "solvers")
OBJECTIVES = {"mean_degradation", "added_latency", "max_degradation", "machines", "cost"}


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imports(name: str, tree: ast.AST, known: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import of a project module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found.append((alias.name, []))
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join(name.split(".")[: -node.level] + [node.module])
            if base in known:
                names = []
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in known:
                        found.append((sub, []))
                    else:
                        names.append(alias.name)
                found.append((base, names))
    return found


def switches_on_objective(tree: ast.AST) -> bool:
    """A comparison, a dict lookup key, a match case or a membership test on an objective name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for part in [node.left, *node.comparators]:
                if isinstance(part, ast.Constant) and part.value in OBJECTIVES:
                    return True
                if isinstance(part, ast.Tuple | ast.Set | ast.List) and any(
                    isinstance(e, ast.Constant) and e.value in OBJECTIVES for e in part.elts
                ):
                    return True
        if isinstance(node, ast.Dict) and sum(
            isinstance(k, ast.Constant) and k.value in OBJECTIVES for k in node.keys
        ) >= 2:
            return True
        if isinstance(node, ast.MatchValue) and getattr(node.value, "value", None) in OBJECTIVES:
            return True
    return False


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else ".").resolve()
    known = modules(root)
    graph = nx.DiGraph()
    private: list[str] = []
    switching: list[str] = []
    sizes = []
    for name, path in known.items():
        text = path.read_text()
        sizes.append((text.count("\n"), str(path.relative_to(root))))
        tree = ast.parse(text)
        graph.add_node(name)
        for target, names in imports(name, tree, known):
            if target != name:
                graph.add_edge(name, target)
            private += [f"{name} <- {target}.{n}" for n in names if n.startswith("_")]
        if switches_on_objective(tree):
            switching.append(str(path.relative_to(root)))
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    print("largest modules:")
    for lines, path in sorted(sizes, reverse=True)[:5]:
        print(f"  {lines:5d}  {path}")
    in_cycles = sum(len(c) for c in cycles)
    print(f"import cycles: {len(cycles)} ({in_cycles} modules in them)")
    for cycle in cycles:
        print("  " + ", ".join(cycle))
    print(f"private names imported across modules: {len(private)}")
    for line in private:
        print("  " + line)
    print(f"files that switch on an objective name: {len(switching)}")
    for path in switching:
        print("  " + path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
