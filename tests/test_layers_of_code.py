"""The package's layers, read from its import statements: the arena and the frame
recording reach no GL binding, only the demo and examples reach glfw."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "stagebuf"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from . import x`` resolved),
    at any depth of the file: lazy imports inside functions count too, those under
    ``if TYPE_CHECKING:`` (never run) do not."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _run_time_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            module = node.module or ""
            if node.level:
                module = f"{base}.{module}" if module else base
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _run_time_nodes(tree: ast.AST) -> list[ast.AST]:
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


GRAPH = {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _reaches(start: str) -> set[str]:
    """Every module ``start`` imports, directly or through the package's own modules."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        for target in GRAPH.get(module, ()):
            if target not in seen:
                seen.add(target)
                if target in GRAPH:
                    todo.append(target)
    return seen


def _top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


NO_GL = [
    *sorted(m for m in GRAPH if m.startswith(("stagebuf._recording", "stagebuf._arena"))),
    "stagebuf._layout",
    "stagebuf._pack",
]


@pytest.mark.parametrize("module", NO_GL)
def test_the_arena_and_the_recording_import_no_gl(module: str) -> None:
    reached = _top_level(_reaches(module))
    assert "moderngl" not in reached and "glfw" not in reached, sorted(_reaches(module))


def test_the_walk_sees_gl_where_it_is() -> None:
    """The check above can fail: the moderngl backend and the stager reach moderngl."""
    assert "moderngl" in _top_level(_reaches("stagebuf._backends._moderngl"))
    assert "moderngl" in _top_level(_reaches("stagebuf._stager"))
    assert len(NO_GL) > 10


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m != "stagebuf.demo"))
def test_only_the_demo_imports_glfw(module: str) -> None:
    assert "glfw" not in _top_level(GRAPH[module])
