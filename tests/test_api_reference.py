"""The public API is short and documented, and the API reference builds from the docstrings (pdoc)
with every public name on its page and every dotted reference in a docstring pointing at something
that exists: a renamed function cannot leave the reference, or a docstring, pointing at nothing."""

import importlib
import importlib.util
import inspect
import re
import warnings
from pathlib import Path

import pytest

import lightrnn_asr

ROOT = Path(__file__).resolve().parent.parent
#: The modules the reference documents (``make api``): the package and its subpackages, each page
#: listing its ``__all__``. The CLI is documented by docs/cli.md; ``utils`` is internal.
MODULES = ["lightrnn_asr", *(f"lightrnn_asr.{p}" for p in
                             ("text", "lm", "training", "formats", "scoring", "evaluation", "decoders"))]
#: Modules that import an optional package at import time, and that package.
OPTIONAL = {"lightrnn_asr.formats.k2_adapter": "k2", "lightrnn_asr.scoring.k2_rescore": "k2",
            "lightrnn_asr.decoders.pyctcdecode_lm": "pyctcdecode",
            "lightrnn_asr.decoders.flashlight_lm": "flashlight"}
DOTTED = re.compile(r"`~?(lightrnn_asr(?:\.\w+)+)`")


def test_the_public_api_is_short_and_importable():
    assert len(lightrnn_asr.__all__) <= 32, "the top-level API is what users call; internals live in subpackages"
    assert len(set(lightrnn_asr.__all__)) == len(lightrnn_asr.__all__)
    for name in lightrnn_asr.__all__:
        obj = getattr(lightrnn_asr, name)
        assert inspect.getdoc(obj), f"lightrnn_asr.{name} has no docstring"


def test_the_makefile_builds_the_same_modules():
    line = next(ln for ln in (ROOT / "Makefile").read_text().splitlines() if "pdoc" in ln and " -o " in ln)
    assert [m for m in line.split() if m.startswith("lightrnn_asr")] == MODULES


def public_objects():
    """``(dotted name, object)`` for every name in each documented module's ``__all__``, and for the
    public methods and properties of the classes among them."""
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        yield module_name, module
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            yield f"{module_name}.{name}", obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                        yield f"{module_name}.{name}.{attr}", member


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        if module in OPTIONAL and importlib.util.find_spec(module) is not None:
            return True  # it exists; importing it needs its optional package
        try:
            obj = importlib.import_module(module)
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_dotted_references_in_docstrings_resolve():
    broken = []
    for name, obj in public_objects():
        for target in DOTTED.findall(inspect.getdoc(obj) or ""):
            if not resolves(target):
                broken.append(f"{name}: {target}")
    assert not broken, f"docstrings point at names that do not exist: {broken}"


def test_dotted_references_anywhere_in_the_package_resolve():
    """Every ``lightrnn_asr.x.y`` named in backticks in the package's source (docstrings, comments,
    messages) exists: modules by their file, names by importing them, or, in a module that needs an
    optional package, by a top-level definition in its source."""
    import ast

    package = ROOT / "lightrnn_asr"
    broken = []
    for path in sorted(package.rglob("*.py")):
        for target in set(DOTTED.findall(path.read_text(encoding="utf-8"))):
            parts = target.split(".")
            i = max(k for k in range(1, len(parts) + 1)
                    if ROOT.joinpath(*parts[:k]).with_suffix(".py").exists() or ROOT.joinpath(*parts[:k]).is_dir())
            module = ".".join(parts[:i])
            if module in OPTIONAL and importlib.util.find_spec(OPTIONAL[module]) is None:
                tree = ast.parse(ROOT.joinpath(*parts[:i]).with_suffix(".py").read_text(encoding="utf-8"))
                names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
                names |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                          if isinstance(t, ast.Name)}
                ok = i == len(parts) or parts[i] in names
            else:
                ok = resolves(target)
            if not ok:
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, f"references to names that do not exist: {broken}"


def test_every_public_class_and_function_has_a_docstring():
    missing = [name for name, obj in public_objects() if not inspect.getdoc(obj)]
    assert not missing, f"undocumented: {missing}"


def test_the_reference_builds_with_every_public_name(tmp_path):
    pdoc = pytest.importorskip("pdoc", reason="pdoc is in the test extra: `make test` installs it")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.render.configure(docformat="restructuredtext", show_source=False)
        absent = [f"!{m}" for m, p in OPTIONAL.items() if importlib.util.find_spec(p) is None]
        pdoc.pdoc(*MODULES, *absent, output_directory=tmp_path)
    unexpected = [str(w.message) for w in caught
                  if not any(m in str(w.message) and importlib.util.find_spec(p) is None for m, p in OPTIONAL.items())]
    assert not unexpected, unexpected
    for module_name in MODULES:
        page = tmp_path / (module_name.replace(".", "/") + ".html")
        assert page.exists(), page
        text = page.read_text(encoding="utf-8")
        missing = [n for n in getattr(importlib.import_module(module_name), "__all__", []) if f'id="{n}"' not in text]
        assert not missing, f"{module_name}: not in the reference: {missing}"
