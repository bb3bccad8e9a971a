"""The assignment plug-ins: each sub-package here declares one ``ASSIGNMENT``.

A sub-package without a valid declaration is an error, not a silent omission: adding
an assignment is adding a folder, and a broken folder says so.

A course may keep its assignments outside the grader: ``GRADER_ASSIGNMENTS`` names
folders (separated by ``os.pathsep``) of assignment packages, each laid out and declared
exactly as the ones here and imported as ``grader.assignments.<name>``. It is read once,
when this package is imported; the sandbox child gets the same folders in its start-up
environment (``grader/sandbox/isolation.py``) to import their probes.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from functools import cache
from pathlib import Path

from grader.plugin import Assignment, PluginError

FOLDERS_SETTING = "GRADER_ASSIGNMENTS"
BUILT_IN = Path(__file__).resolve().parent


# The folders GRADER_ASSIGNMENTS named when the grader started.
COURSE_FOLDERS = tuple(Path(p).resolve() for p in os.environ.get(FOLDERS_SETTING, "").split(os.pathsep) if p.strip())
__path__ += [str(folder) for folder in COURSE_FOLDERS if folder.is_dir()]  # noqa: F821 (a package's own __path__)


def setting() -> dict[str, str]:
    """GRADER_ASSIGNMENTS as the grader read it: the sandbox child starts with it."""
    return {FOLDERS_SETTING: os.pathsep.join(map(str, COURSE_FOLDERS))} if COURSE_FOLDERS else {}


def names() -> list[str]:
    """Every assignment, built in or in a course folder; PluginError for a folder that is not one."""
    found: dict[str, Path] = {}
    for folder in (BUILT_IN, *COURSE_FOLDERS):
        for name, package in _packages(folder).items():
            if name in found:
                raise PluginError(f"two assignments are named {name!r}: {found[name]} and {package}; rename one (its folder and its ASSIGNMENT's name)")
            found[name] = package
    return sorted(found)


def _packages(folder: Path) -> dict[str, Path]:
    """The assignment packages in ``folder``. In a course folder every sub-folder must be one:
    a folder the grader silently skipped would be an assignment nobody can grade."""
    if not folder.is_dir():
        raise PluginError(f"{FOLDERS_SETTING} names {folder}, which is not a folder; give folders of assignment packages, separated by {os.pathsep!r}")
    packages = {info.name: folder / info.name for info in pkgutil.iter_modules([str(folder)]) if info.ispkg}
    if folder != BUILT_IN:
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() and entry.name not in packages and not entry.name.startswith((".", "_")):
                raise PluginError(f"{entry} (in {FOLDERS_SETTING}) is not an assignment: give it an __init__.py declaring ASSIGNMENT = Assignment(...), or move it out of {folder}")
    return packages


@cache
def get(name: str) -> Assignment:
    """The assignment called ``name``, validated; ValueError naming the known ones otherwise."""
    assignment = declared(name)
    assignment.validate()
    return assignment


@cache
def declared(name: str) -> Assignment:
    """The assignment called ``name`` as its package declares it, before ``validate`` imports
    its parts (the checks import torch): enough to start a sandbox for it meanwhile."""
    if name not in names():
        raise ValueError(f"unknown assignment {name!r}; known assignments: {', '.join(names())}")
    package = importlib.import_module(f"{__name__}.{name}")
    declaration = Path(package.__file__)
    assignment = getattr(package, "ASSIGNMENT", None)
    if not isinstance(assignment, Assignment):
        raise PluginError(f"{declaration} must define ASSIGNMENT = Assignment(...) (from grader.plugin import Assignment)")
    if assignment.name != name:
        raise PluginError(f"{declaration} declares an assignment named {assignment.name!r}; name it {name!r}, as its folder")
    return assignment
