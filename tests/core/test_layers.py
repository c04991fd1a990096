"""The layer rules, checked on the source: arrows point down only.

* front ends (``cli/``, ``gui/``) never import the ORM (``sqlalchemy``) or the library / job
  queue internals (``core.library``, ``core.jobs``): they go through ``core.app``;
* ``core`` never imports Qt;
* no import cycle between modules (imports at module level; a lazy import inside a function
  is how a command keeps ``--help`` fast and does not make a cycle at import time).

A failing test names the file, the line and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "trailertagger"
FRONT_ENDS = ("cli", "gui")
FORBIDDEN_IN_FRONT_ENDS = ("sqlalchemy", "trailertagger.core.library", "trailertagger.core.jobs")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, top_level_only: bool = False,
             package: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    if package is None:
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: list[tuple[int, str]] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            # "from . import heads": the names may be modules themselves
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
    return out


def _sources(*parts: str) -> list[Path]:
    return sorted((ROOT.joinpath(*parts)).rglob("*.py"))


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_front_ends_use_the_application_layer(front_end: str) -> None:
    bad = [f"{p.relative_to(ROOT.parent)}:{line}: imports {mod}"
           for p in _sources(front_end) for line, mod in _imports(p)
           if any(mod == f or mod.startswith(f + ".") for f in FORBIDDEN_IN_FRONT_ENDS)]
    assert not bad, "front ends must call trailertagger.core.app:\n" + "\n".join(bad)


def test_core_never_imports_qt() -> None:
    bad = [f"{p.relative_to(ROOT.parent)}:{line}: imports {mod}"
           for p in _sources("core") for line, mod in _imports(p)
           if mod.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "shiboken6")]
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    files = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps = set()
        for _, mod in _imports(path, top_level_only=True):
            if mod in files and mod != name:
                deps.add(mod)
        graph[name] = deps
    # a package's __init__ importing its own submodules is not a cycle with them
    for name in graph:
        graph[name] = {d for d in graph[name] if not name.startswith(d + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_layer_check_can_fail(tmp_path: Path) -> None:
    """The parser sees relative, absolute and function-level imports."""
    probe = tmp_path / "probe.py"
    probe.write_text("import sqlalchemy\ndef f():\n    from ..core.library import queries\n",
                     encoding="utf-8")
    found = _imports(probe, package="trailertagger.cli")
    assert (1, "sqlalchemy") in found and (3, "trailertagger.core.library") in found
    assert (3, "trailertagger.core.library.queries") in found
    assert _imports(probe, top_level_only=True, package="trailertagger.cli") == [(1, "sqlalchemy")]


def test_no_two_modules_import_each_other() -> None:
    """Not even lazily: two modules that need each other are one module, or a rule in the
    wrong place (``train --from-library`` once lived in the library commands and imported
    the training commands, which imported it back)."""
    files = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
    deps = {name: {m for _, m in _imports(path) if m in files and m != name}
            for name, path in files.items()}
    pairs = sorted({tuple(sorted((a, b))) for a, ds in deps.items() for b in ds
                    if a in deps.get(b, set()) and not a.startswith(b + ".")
                    and not b.startswith(a + ".")})
    assert not pairs, "\n".join(f"{a} <-> {b}" for a, b in pairs)
