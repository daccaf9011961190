"""The layering rule: core <- training <- gafet_studio. core and training never import Qt or the
Studio; core never imports training. Checked statically (every import statement) and at run time
(importing every core/training module pulls in no Qt).

Seams that keep it so:

* the command line (``gafet_studio/cli``) runs without Qt: it imports no Qt module, directly or
  through the Studio modules it uses, and importing it at run time loads none;
* no module imports another module's private name (``from x import _y``, or ``x._y`` on an
  imported project module), in the packages and in ``benchmarks/`` and ``tools/``;
* tests share helpers through ``tests/helpers/`` or a conftest, never by importing a sibling
  ``test_*`` module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "OpenGL")
FORBIDDEN = {"core": (*QT, "gafet_studio", "training"), "training": (*QT, "gafet_studio")}
FIRST_PARTY = ("core", "training", "gafet_studio", "resources", "tests")
# Folders whose modules may not reach into other modules' private names.
PRIVATE_RULE_DIRS = ("core", "training", "gafet_studio", "benchmarks", "tools")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value)))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_forbidden_imports(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, mod in _imports(path):
            if mod.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, "layering violated:\n" + "\n".join(bad)


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("import os\nfrom PySide6.QtCore import Qt\nimportlib.import_module('gafet_studio.app')\n")
    mods = [m for _, m in _imports(f)]
    assert "PySide6.QtCore" in mods and "gafet_studio.app" in mods


def test_core_and_training_import_without_qt() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "for pkg in ('core', 'training'):\n"
        "    m = importlib.import_module(pkg)\n"
        "    for info in pkgutil.walk_packages(m.__path__, pkg + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "qt = ('PySide6', 'shiboken6', 'pyqtgraph', 'gafet_studio')\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in qt]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr



# ---------------------------------------------------------------------------------------------
# Shared AST helpers for the seam rules


def _is_private(name: str) -> bool:
    """A leading underscore that is not a dunder: ``_y`` yes, ``__version__`` no."""
    return name.startswith("_") and not name.startswith("__")


def _module_name(path: Path, root: Path = ROOT) -> str:
    """Dotted module name of a file under ``root`` (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _from_module(node: ast.ImportFrom, path: Path, root: Path = ROOT) -> str:
    """The absolute module a ``from ... import`` reads from (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of a first-party module (``a.b`` -> a/b.py or a/b/__init__.py), else None."""
    if not name:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every module an import statement in ``path`` loads, at any depth (function-level imports
    too): ``import a.b`` gives a.b; ``from a import b`` gives a, and a.b where that is a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _from_module(node, path, root)
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names
                      if _module_file(f"{module}.{a.name}", root) is not None]
    return found


def _files_loaded_by(module: str, root: Path = ROOT) -> list[Path]:
    """The files importing ``module`` runs: its own and each enclosing package's ``__init__``."""
    parts = module.split(".")
    files = (_module_file(".".join(parts[:i]), root) for i in range(1, len(parts) + 1))
    return [f for f in files if f is not None]


# ---------------------------------------------------------------------------------------------
# The command line runs without Qt


def _cli_qt_imports(root: Path = ROOT) -> list[str]:
    """Qt imports reachable from ``gafet_studio/cli``: directly, or through the first-party
    modules it imports (followed transitively; core/training are covered by the rules above)."""
    todo = sorted((root / "gafet_studio" / "cli").rglob("*.py"))
    via: dict[Path, str] = {f: str(f.relative_to(root)) for f in todo}
    bad = []
    while todo:
        path = todo.pop()
        for line, mod in _imported_modules(path, root):
            where = f"{via[path]}:{line}"
            if mod.split(".")[0] in QT:
                bad.append(f"{where} imports {mod}")
            elif mod.split(".")[0] == "gafet_studio":
                for f in _files_loaded_by(mod, root):
                    if f not in via:
                        via[f] = f"{where} -> {f.relative_to(root)}"
                        todo.append(f)
    return sorted(set(bad))


def test_cli_imports_no_qt() -> None:
    bad = _cli_qt_imports()
    assert not bad, "the command line must run without Qt:\n" + "\n".join(bad)


def test_cli_checker_follows_studio_imports(tmp_path: Path) -> None:
    (tmp_path / "gafet_studio" / "cli").mkdir(parents=True)
    (tmp_path / "gafet_studio" / "__init__.py").write_text("")
    (tmp_path / "gafet_studio" / "cli" / "__init__.py").write_text("")
    (tmp_path / "gafet_studio" / "cli" / "x_cmd.py").write_text(
        "def run():\n    from gafet_studio import widgety\n")
    (tmp_path / "gafet_studio" / "widgety.py").write_text("from PySide6.QtWidgets import QWidget\n")
    (bad,) = _cli_qt_imports(tmp_path)
    assert "x_cmd.py:2 -> gafet_studio/widgety.py:1 imports PySide6.QtWidgets" in bad


def test_cli_loads_no_qt_at_run_time() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import gafet_studio.cli as cli\n"
        "from gafet_studio.cli.main import build_parser\n"
        "build_parser()\n"
        "for info in pkgutil.walk_packages(cli.__path__, 'gafet_studio.cli.'):\n"
        "    importlib.import_module(info.name)\n"
        f"qt = {QT!r}\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in qt)\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------------
# No module imports another module's private names


def _private_imports(path: Path, root: Path = ROOT) -> list[str]:
    """``from x import _y`` (any x), and ``m._y`` where ``m`` names an imported project module.
    Private names of the standard library or third parties reached as attributes
    (``argparse._SubParsersAction``) are outside this rule."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    bad, modules = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = _from_module(node, path, root)
            bad += [f"{node.lineno}: from {module} import {a.name}"
                    for a in node.names if _is_private(a.name)]
            modules.update({a.asname or a.name: f"{module}.{a.name}" for a in node.names
                            if _module_file(f"{module}.{a.name}", root) is not None})
        elif isinstance(node, ast.Import):
            modules.update({a.asname: a.name for a in node.names if a.asname})
            modules.update({a.name.split(".")[0]: a.name.split(".")[0] for a in node.names if not a.asname})
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _is_private(node.attr)
                and modules.get(node.value.id, "").split(".")[0] in FIRST_PARTY):
            bad.append(f"{node.lineno}: {modules[node.value.id]}.{node.attr}")
    return bad


def test_no_private_names_cross_modules() -> None:
    bad = [f"{path.relative_to(ROOT)}:{hit}"
           for folder in PRIVATE_RULE_DIRS for path in sorted((ROOT / folder).rglob("*.py"))
           for hit in _private_imports(path)]
    assert not bad, "a module uses another module's private name:\n" + "\n".join(bad)


def test_private_name_checker_catches_violations(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "jobs.py").write_text("_PIPELINES = {}\n")
    f = tmp_path / "core" / "engine.py"
    f.write_text("import argparse\nfrom core import jobs\nfrom core.jobs import _PIPELINES\n"
                 "from . import _hidden\nfrom x import __version__\n"
                 "a = jobs._PIPELINES\nb = argparse._SubParsersAction\nc = jobs.__name__\n")
    assert _private_imports(f, tmp_path) == [
        "3: from core.jobs import _PIPELINES", "4: from core import _hidden", "6: core.jobs._PIPELINES"]


# ---------------------------------------------------------------------------------------------
# Tests share helpers through tests/helpers/ or conftest


def _sibling_test_imports(path: Path, root: Path = ROOT) -> list[str]:
    """Imports in a test file of a ``tests.**.test_*`` module (or a name that is one)."""
    bad = []
    for line, mod in _imported_modules(path, root):
        if mod.split(".")[0] == "tests" and mod.split(".")[-1].startswith("test_"):
            bad.append(f"{line}: imports {mod}")
    return bad


def test_tests_import_no_sibling_test_modules() -> None:
    bad = [f"{path.relative_to(ROOT)}:{hit}" for path in sorted((ROOT / "tests").rglob("*.py"))
           for hit in _sibling_test_imports(path)]
    assert not bad, "share helpers through tests/helpers/ or conftest, not test modules:\n" + "\n".join(bad)


def test_sibling_import_checker_catches_violations(tmp_path: Path) -> None:
    (tmp_path / "tests" / "studio").mkdir(parents=True)
    for name in ("__init__.py", "studio/__init__.py", "studio/conftest.py", "studio/test_editing.py"):
        (tmp_path / "tests" / name).write_text("")
    f = tmp_path / "tests" / "studio" / "test_batch.py"
    f.write_text("from tests.studio.test_editing import load_pair\nfrom .test_editing import x\n"
                 "from tests.studio import test_editing\nfrom tests.studio.conftest import drop\n"
                 "from tests.helpers.studio import wait_idle\n")
    assert _sibling_test_imports(f, tmp_path) == [
        "1: imports tests.studio.test_editing", "2: imports tests.studio.test_editing",
        "3: imports tests.studio.test_editing"]
