"""The package the sandbox imports a submission as, and the names it answers to.

Students import their own modules the way their repository is laid out: bare
(``from list2d import List2D``), relative (``from .list2d import List2D``), through their
package's folder name (``from autodiff.list2d import List2D``) or through the course
library's package name (``from match import Matrix``, ``import match.list2d``). The
sandbox child (``grader/sandbox/child.py``) makes every such name give the one module
object of the sandbox package, so a class is never defined twice.

Which names count is decided here, from the files alone: the assignment's name, the
folders holding the files, and any name the files import that is not an installed
package and that they use as a package of their own modules.
"""

from __future__ import annotations

import ast
import importlib.machinery
import json
import sys
import sysconfig

INIT = '''"""The student's modules as one package, made by the grader: no student code is here.
A missing attribute is looked up in the module that defines it, as the student's own
``__init__.py`` (``from .matrix import *``) would give it."""
import importlib as _importlib

_GRADER_LAYOUT = {layout}


def __getattr__(name):
    if name in _GRADER_LAYOUT["modules"]:
        return _importlib.import_module(__name__ + "." + name)
    if name in _GRADER_LAYOUT["exports"]:
        return getattr(_importlib.import_module(__name__ + "." + _GRADER_LAYOUT["exports"][name]), name)
    raise AttributeError(f"module {{__name__!r}} has no attribute {{name!r}}")
'''


def package_init(sources: dict[str, str], folders: set[str], assignment: str) -> str:
    """The ``__init__.py`` of the sandbox package for modules ``sources`` (stem -> code)."""
    trees = {stem: _parse(code) for stem, code in sources.items()}
    exports: dict[str, str] = {}
    for stem, tree in trees.items():
        for name in _top_level_names(tree):
            exports.setdefault(name, stem)
    stems = set(sources)
    candidates = {name for name in folders | {assignment} if name.isidentifier()}
    for tree in trees.values():
        candidates |= _package_like_imports(tree, stems, set(exports))
    layout = {
        "modules": sorted(stems),
        "bare": sorted(stem for stem in stems if not _installed(stem)),
        "aliases": sorted(name for name in candidates - stems if not _installed(name)),
        "exports": exports,
    }
    return INIT.format(layout=json.dumps(layout))


def _parse(code: str) -> ast.Module:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ast.Module([], [])  # the child reports the error when it imports the file


def _top_level_names(tree: ast.Module) -> list[str]:
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return [name for name in names if not name.startswith("_")]


def _package_like_imports(tree: ast.Module, stems: set[str], defined: set[str]) -> set[str]:
    """Top-level names the file imports as the package of its own modules:
    ``from P.matrix import ...``, ``import P.list2d``, ``from P import Matrix``, ``P.Matrix``."""
    found = set()
    plain_imports = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            head, _, rest = node.module.partition(".")
            if rest.split(".")[0] in stems or (not rest and {a.name for a in node.names} & (stems | defined)):
                found.add(head)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                head, _, rest = alias.name.partition(".")
                if rest.split(".")[0] in stems:
                    found.add(head)
                elif not rest and alias.asname is None:
                    plain_imports.add(head)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in plain_imports and node.attr in stems | defined:
                found.add(node.value.id)
    return found


GRADER_PACKAGES = {"grader", "reference"}  # the grader's own, installed (editable) outside site-packages


def _installed(name: str) -> bool:
    """Whether ``name`` is a real module for the sandbox child (standard library, or installed
    where its isolated interpreter looks); those names are never taken over by a submission.
    Decided from the installation, not from this process's sys.path or sys.modules, which
    ``check``'s working folder or an earlier grade may have changed. Finding it imports nothing."""
    if name in GRADER_PACKAGES or name in sys.builtin_module_names or name in sys.stdlib_module_names:
        return True
    try:
        return importlib.machinery.PathFinder.find_spec(name, _child_path()) is not None
    except (ImportError, ValueError, OSError):
        return False


def _child_path() -> list[str]:
    """Where ``python -I`` looks for modules: the standard library and site-packages."""
    paths = sysconfig.get_paths()
    return sorted({paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(key)})
