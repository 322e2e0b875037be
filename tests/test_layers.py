"""The package's structure stays as designed (ARCHITECTURE.md): no import cycles, and no module imports one in a
layer above its own. Imports inside functions count; those under `if TYPE_CHECKING:` do not (they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "minitrain"

# Lowest first. A module may import its own layer and those below; a name ending in "." covers a package.
LAYERS = [
    ("base", ["version", "errors", "overrides", "suggest", "user_code", "atomic", "rundir", "distributed", "device",
              "threads", "allocator", "interrupts", "events"]),
    ("domain", ["metrics", "tasks", "hooks", "data.", "models.", "reports."]),
    ("config", ["config", "search", "checks"]),
    ("run files and steps", ["checkpoint", "forward"]),
    ("callbacks", ["callbacks."]),
    ("learner", ["learner"]),
    ("build", ["build"]),
    ("train and inference", ["train", "inference"]),
    ("job", ["job", "hydra_callbacks", "hydra_adapter", "command_line", "evaluation"]),
    ("commands", ["commands.", "help"]),
    ("entry", ["cli", "__main__", ""]),  # "": the package's own __init__
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(name: str) -> int:
    """The layer of `name` (relative to minitrain; "" is the package itself)."""
    for level, (_, members) in enumerate(LAYERS):
        for member in members:
            if name == member.rstrip(".") or (member.endswith(".") and name.startswith(member)):
                return level
    raise AssertionError(f"minitrain.{name} is in no layer: add it to LAYERS (and to ARCHITECTURE.md)")


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(path: Path) -> set[str]:
    """The minitrain modules `path` imports (relative names), wherever the import statement stands."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from minitrain.x import y` may import the module minitrain.x.y
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            # `minitrain` itself is left out: every submodule import runs the package's __init__ anyway, which is
            # kept to its version and a lazy `load_run`
            if name.startswith("minitrain.") and name[len("minitrain."):] in MODULES:
                found.add(name[len("minitrain."):])
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    for name in MODULES:
        layer_of(name)


def test_no_module_imports_a_layer_above_its_own():
    upward = [f"minitrain.{a} ({LAYERS[layer_of(a)][0]}) imports minitrain.{b} ({LAYERS[layer_of(b)][0]})"
              for a, targets in GRAPH.items() for b in targets
              if layer_of(b) > layer_of(a)]
    assert not upward, "\n".join(sorted(upward))


def test_the_package_has_no_import_cycles():
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    graph = {a: {b for b in targets if not (b.startswith(a + ".") and a)} for a, targets in GRAPH.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from minitrain.learner import Learner\n")
    assert "learner" in imports_of(module)
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from minitrain.learner import Learner\n")
    assert "learner" not in imports_of(module)
