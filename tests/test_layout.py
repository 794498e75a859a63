"""The house rules of the package, checked on its source: the one-way flow between subpackages,
no import cycles, and modules and functions short enough to read (see docs/design.md)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lightrnn_asr"

#: What each subpackage may import from the others (the flow: text -> vocabulary/table -> model ->
#: scores -> decisions -> report). ``utils`` is below everything; ``cli`` and the top-level
#: ``__init__`` sit above everything.
ALLOWED = {
    "utils": set(),
    "text": {"utils"},
    "formats": {"utils", "text"},
    "lm": {"utils", "text"},
    "evaluation": {"utils", "text", "formats"},
    "scoring": {"utils", "text", "formats", "lm", "evaluation"},
    "training": {"utils", "text", "lm", "scoring"},
    "decoders": {"utils", "text", "formats", "lm", "scoring", "training"},
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # without the docstring; a longer one says why in a "# long:" comment above it


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports(path: Path, top_level_only: bool):
    """``(line, imported module)`` for every ``lightrnn_asr`` import of a file (module level only, or all)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lightrnn_asr"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield node.lineno, sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists() or \
                    (PACKAGE.parent / sub.replace(".", "/")).is_dir() else node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lightrnn_asr"):
                    yield node.lineno, alias.name


def subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_subpackages_import_only_what_comes_before_them_in_the_flow():
    wrong = []
    for path in modules():
        own = subpackage(module_name(path))
        if own in (None, "cli"):
            continue
        for line, imported in package_imports(path, top_level_only=False):
            other = subpackage(imported)
            if other != own and other not in ALLOWED[own]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {own} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles_between_modules():
    graph = {module_name(p): {m for _, m in package_imports(p, top_level_only=True)} for p in modules()}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for n in graph.get(m, ()):
            if n not in graph:
                continue
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n] if n in stack else [m, n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_modules_and_functions_are_short():
    long_modules, long_functions = [], []
    for path in modules():
        lines = path.read_text().splitlines()
        if len(lines) > MAX_MODULE_LINES:
            long_modules.append(f"{path.relative_to(PACKAGE.parent)}: {len(lines)} lines")
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            n = node.end_lineno - node.lineno + 1
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                n -= first.end_lineno - first.lineno + 1
            above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
            if n > MAX_FUNCTION_LINES and not above.startswith("# long:"):
                long_functions.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.name}, {n} lines")
    assert not long_modules and not long_functions, "\n".join(long_modules + long_functions)
