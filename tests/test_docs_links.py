"""Every relative link of README.md and docs/ points at a file that exists, and every command of the
README's cheat sheet is one the CLI has, so that moving a document or renaming a command cannot
leave a reader at a dead end."""

import re
from pathlib import Path

import pytest
from helpers import load_script

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    dead = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not (doc.parent / path).exists():
            dead.append(target)
    assert not dead, f"{doc.relative_to(ROOT)}: dead links {dead}"


def test_the_cheat_sheets_commands_exist():
    from lightrnn_asr.cli import main

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    used = set(re.findall(r"^lightrnn-asr ([a-z0-9-]+)", text, re.M))
    assert used and not used - set(main.commands), f"unknown commands: {sorted(used - set(main.commands))}"


def defined_names(module: str) -> set[str]:
    """The top-level names a module of the package defines or imports, read from its source (so that the
    k2 modules are checked without k2)."""
    import ast

    rel = Path(*module.split("."))
    path = ROOT / rel.with_suffix(".py") if (ROOT / rel.with_suffix(".py")).exists() else ROOT / rel / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_import_of_the_package_in_the_docs_exists(doc):
    missing = []
    for module, names in re.findall(r"^\s*from (lightrnn_asr[\w.]*) import ([\w, ]+)$", doc.read_text(encoding="utf-8"),
                                    re.M):
        have = defined_names(module)
        missing += [f"{module}.{n.strip()}" for n in names.split(",") if n.strip() and n.strip() not in have]
    assert not missing, f"{doc.relative_to(ROOT)}: imports that do not exist: {missing}"


def test_the_cli_reference_is_generated_from_the_commands():
    from lightrnn_asr.cli.reference import reference

    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == reference(), "docs/cli.md is out of date: make docs"


def load_benchmark_runner():
    return load_script(ROOT / "benchmarks" / "run.py", "benchmarks_run")


def test_every_benchmark_is_registered_with_the_runner_and_the_index_is_current():
    runner = load_benchmark_runner()
    files = {str(p.relative_to(ROOT / "benchmarks")) for p in (ROOT / "benchmarks").rglob("*")
             if p.suffix in (".py", ".sh") and "__pycache__" not in p.parts}
    registered = {str(runner.script(name).relative_to(ROOT / "benchmarks")) for name in runner.BENCHMARKS}
    unknown = files - registered - set(runner.SHARED) - {"run.py"}
    assert not unknown, f"benchmarks not registered in benchmarks/run.py: {sorted(unknown)}"
    assert set(runner.SHARED) <= files, "benchmarks/run.py names shared modules that do not exist"
    readme = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    assert readme.endswith(runner.index()), "benchmarks/README.md's index is out of date: python benchmarks/run.py --index"
    for name, (kind, _) in runner.BENCHMARKS.items():
        assert kind in runner.KINDS and runner.script(name).parent.name == kind
