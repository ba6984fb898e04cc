"""docs/architecture.md names every module of the package, and the package's imports are layered."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rtstyle"


def modules() -> list[str]:
    """Every module under rtstyle/ as the page names it: `rtstyle/NAME.py` or `cli/NAME.py`."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        relative = path.relative_to(PACKAGE).as_posix()
        names.append(relative if relative.startswith("cli/") else f"rtstyle/{relative}")
    return names


def test_every_module_is_named_on_the_architecture_page():
    page = (ROOT / "docs" / "architecture.md").read_text()
    missing = [name for name in modules() if f"`{name}`" not in page]
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"


def imports_of(path: Path) -> set[str]:
    """The rtstyle modules a module imports (at any depth of the file, relative or absolute)."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            target = ".".join(base + (node.module.split(".") if node.module else []))
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            found |= {n for n in names if n.startswith("rtstyle.")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rtstyle.")}
    return found


def test_the_library_has_no_import_cycles():
    """Modules of the library (not the command line) import each other without a cycle."""
    library = {p.stem: p for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    graph = {name: {m.split(".")[1] for m in imports_of(p)} & set(library) - {name} for name, p in library.items()}
    done, path = set(), []

    def visit(name: str) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(name):] + [name]))
        if name in done:
            return
        path.append(name)
        for dep in sorted(graph[name]):
            visit(dep)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_the_library_never_imports_the_command_line():
    for path in PACKAGE.glob("*.py"):
        assert not any(m.startswith("rtstyle.cli") for m in imports_of(path)), path.name
