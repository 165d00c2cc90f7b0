"""The package layout holds: no import cycles inside ``alerts/``, dependencies point one way.

The graph is read from the source with ``ast``, so it sees every import: at
module level, inside functions (the usual way to hide a cycle) and under
``TYPE_CHECKING``. Importing ``alerts.a.b`` also runs ``alerts/a/__init__.py``;
that implicit edge to a parent package is not counted, only what a module names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "alerts"

# Packages whose code is the domain and its use cases: they are driven by the
# adapters (web, cli, worker, dev) and never reach for them or for the SMTP socket.
DOMAIN = (
    "core",
    "staff",
    "items",
    "audience",
    "delivery",
    "mail",
    "digests",
    "feeds",
    "bounces",
    "newsroom",
    "engagement",
)
ADAPTERS = ("alerts.web", "alerts.cli", "alerts.worker", "alerts.dev")
SMTP = "alerts.mail.smtp"
# The one domain module that may name the SMTP adapter: it builds it from settings.
COMPOSITION_ROOT = "alerts.core.runtime"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports_of(path: Path, known: set[str], root_name: str = "alerts") -> Iterator[str]:
    """Every module of the package that ``path`` names, wherever the import statement is."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == root_name or alias.name.startswith(root_name + "."):
                    yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != root_name and not node.module.startswith(root_name + "."):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield sub if sub in known else node.module


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    found = modules(root)
    known = set(found)
    return {
        name: {target for target in imports_of(path, known, root.name) if target != name}
        for name, path in found.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    found = cycles(graph())
    assert not found, "import cycles inside alerts/: " + "; ".join(" <-> ".join(c) for c in found)


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_domain_never_imports_the_adapters() -> None:
    wrong = sorted(
        f"{source} -> {target}"
        for source, targets in graph().items()
        if any(_in(source, f"alerts.{p}") for p in DOMAIN)
        for target in targets
        if any(_in(target, adapter) for adapter in ADAPTERS)
    )
    assert not wrong, "domain code reaches for an adapter: " + ", ".join(wrong)


def test_only_the_composition_root_names_the_smtp_transport() -> None:
    wrong = sorted(
        source
        for source, targets in graph().items()
        if SMTP in targets
        and source != COMPOSITION_ROOT
        and any(_in(source, f"alerts.{p}") for p in DOMAIN)
    )
    assert not wrong, f"use-case code imports {SMTP}: " + ", ".join(wrong)


def test_the_check_sees_function_level_cycles(tmp_path: Path) -> None:
    """The check itself can fail: a cycle hidden in a function body is found."""
    package = tmp_path / "alerts"
    (package / "loop").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "loop" / "__init__.py").write_text("")
    (package / "loop" / "a.py").write_text("def main() -> None:\n    from alerts.loop import b\n")
    (package / "loop" / "b.py").write_text("from alerts.loop.a import main\n")
    (package / "leaf.py").write_text("import alerts.loop.b\n")
    assert cycles(graph(package)) == [["alerts.loop.a", "alerts.loop.b"]]


@pytest.mark.parametrize("package", DOMAIN)
def test_every_domain_package_exists(package: str) -> None:
    assert (ROOT / package / "__init__.py").is_file()
