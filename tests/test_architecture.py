"""The structure ARCHITECTURE.md describes, checked: each failure says what to change.

- no import cycle among the modules of src/labelflow (imports under TYPE_CHECKING aside);
- no import of the package inside a function (the CLI aside: it keeps `--help` fast);
- no database query in the web edge (the services run them);
- no FastAPI or Starlette in a domain module;
- no workflow state key written in Python where a state is meant (the demo aside).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import yaml

from labelflow.settings import PROJECT_ROOT

SRC = PROJECT_ROOT / "src"
PACKAGE = SRC / "labelflow"
FUNCTION_IMPORTS_ALLOWED = {"labelflow.cli"}
# The demo's stories name the steps they reach.
STATE_KEYS_ALLOWED: tuple[str, ...] = ("labelflow.demo",)
# A state key that is also a key of another vocabulary, and the modules where that one is meant:
# "refusee" is an assignment's status too (the consultant declared a link), and an expected
# document's (refused by staff); "expertise" a messages' audience. OpenAPI tags ("expertise") are
# skipped wherever they are.
OTHER_VOCABULARIES = {
    "refusee": (
        "labelflow.assignments",
        "labelflow.schemas",
        "labelflow.web.assignments",
        "labelflow.criteria",
    ),
    # A job's status (DESIGN §9), not the project state of the same name.
    "abandonnee": ("labelflow.jobs", "labelflow.schemas", "labelflow.web.jobs"),
    # "expertise" is also an audience of the project's messages (staff and the consultant).
    "expertise": (
        "labelflow.permissions",
        "labelflow.messages",
        "labelflow.notifications",
        "labelflow.schemas",
        "labelflow.web.messages",
    ),
}
QUERY_CALLS = {"select", "exec", "execute"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _in_web(name: str) -> bool:
    """Whether module `name` is the web edge (`labelflow.webhooks` is a domain module)."""
    return name == "labelflow.web" or name.startswith("labelflow.web.")


def _tree(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text(encoding="utf-8"), filename=str(MODULES[name]))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(name: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The labelflow modules an import statement of module `name` loads."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == "labelflow":
                yield alias.name
        return
    if node.level:  # relative import: resolve against the importing module's package
        package = name.split(".")
        if MODULES[name].name != "__init__.py":
            package = package[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module or ""]))
        base = base.rstrip(".")
    else:
        base = node.module or ""
    if base.split(".")[0] != "labelflow":
        return
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in MODULES else base


def _module_level_imports(name: str) -> Iterator[tuple[str, int]]:
    """(imported module, line) for the imports that run when the module is loaded."""

    def walk(statements: list[ast.stmt]) -> Iterator[tuple[str, int]]:
        for node in statements:
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _imported(name, node):
                    yield target, node.lineno
            elif isinstance(node, ast.If) and not _is_type_checking(node):
                yield from walk(node.body)
                yield from walk(node.orelse)
            elif isinstance(node, ast.Try):
                yield from walk(node.body)
                for handler in node.handlers:
                    yield from walk(handler.body)
                yield from walk(node.orelse)
                yield from walk(node.finalbody)

    yield from walk(_tree(name).body)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _line in _module_level_imports(name):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(_path_through(graph, sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _path_through(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A cycle inside the component, from its first module back to it (breadth first)."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                frontier.append(nxt)
    return component  # pragma: no cover - a component always holds a cycle


def test_no_import_cycle() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "Import cycles (a cycle is a design problem: move the shared piece "
    "down a layer, or invert the dependency with a subscriber):\n" + "\n".join(
        "  " + " -> ".join(cycle) for cycle in cycles
    )


def test_no_package_import_inside_a_function() -> None:
    found = []
    for name in MODULES:
        if name in FUNCTION_IMPORTS_ALLOWED:
            continue
        for function in ast.walk(_tree(name)):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom) and any(
                    True for _ in _imported(name, node)
                ):
                    found.append(f"  {MODULES[name].relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert not found, "labelflow imported inside a function (import at the top of the "
    "module; if that makes a cycle, fix the cycle):\n" + "\n".join(found)


def test_the_web_edge_runs_no_query() -> None:
    found = []
    for name in MODULES:
        if not _in_web(name):
            continue
        for node in ast.walk(_tree(name)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in QUERY_CALLS:
                where = f"{MODULES[name].relative_to(PROJECT_ROOT)}:{node.lineno}"
                found.append(f"  {where}: {called}()")
    assert not found, "Queries in the web edge (write a service function and call it):\n" + (
        "\n".join(found)
    )


def test_domain_modules_do_not_import_the_web_framework() -> None:
    found = []
    for name in MODULES:
        if _in_web(name) or name in FUNCTION_IMPORTS_ALLOWED:
            continue
        for node in ast.walk(_tree(name)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for imported in names:
                if imported.split(".")[0] in ("fastapi", "starlette") or _in_web(imported):
                    path = MODULES[name].relative_to(PROJECT_ROOT)
                    found.append(f"  {path}:{node.lineno}: {imported}")
    assert not found, "Domain modules import the web (raise a domain error instead):\n" + (
        "\n".join(found)
    )


def _shipped_state_keys() -> set[str]:
    keys: set[str] = set()
    for path in sorted((PROJECT_ROOT / "workflows").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        keys |= {state["key"] for state in data["states"]}
    return keys


def test_no_state_key_in_python() -> None:
    states = _shipped_state_keys()
    assert "decision_bureau" in states  # the definitions were read
    found = []
    for name in MODULES:
        if name.startswith(STATE_KEYS_ALLOWED):
            continue
        tree = _tree(name)
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        tags = {
            id(constant)
            for keyword in ast.walk(tree)
            if isinstance(keyword, ast.keyword) and keyword.arg == "tags"
            for constant in ast.walk(keyword.value)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in states
                and id(node) not in docstrings
                and id(node) not in tags
                and not name.startswith(OTHER_VOCABULARIES.get(node.value, ("-",)))
            ):
                path = MODULES[name].relative_to(PROJECT_ROOT)
                found.append(f"  {path}:{node.lineno}: {node.value!r}")
    assert not found, "State keys written in Python (ask the definition which state plays "
    "which part: WorkflowDefinition.roles):\n" + "\n".join(found)


def test_the_checks_see_the_whole_package() -> None:
    # Guards the checks above against passing on an empty or misread tree.
    assert {"labelflow.projects", "labelflow.events", "labelflow.web.app"} <= set(MODULES)
    graph = _graph()
    assert "labelflow.events" in graph["labelflow.projects"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
