"""The assignment plug-ins: each sub-package here declares one ``ASSIGNMENT``.

A sub-package without a valid declaration is an error, not a silent omission: adding
an assignment is adding a folder, and a broken folder says so.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from grader.plugin import Assignment, PluginError


def names() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if info.ispkg)


@cache
def get(name: str) -> Assignment:
    """The assignment called ``name``, validated; ValueError naming the known ones otherwise."""
    if name not in names():
        raise ValueError(f"unknown assignment {name!r}; known assignments: {', '.join(names())}")
    declared = getattr(importlib.import_module(f"{__name__}.{name}"), "ASSIGNMENT", None)
    if not isinstance(declared, Assignment):
        raise PluginError(f"grader/assignments/{name}/__init__.py must define ASSIGNMENT = Assignment(...)")
    if declared.name != name:
        raise PluginError(f"grader/assignments/{name}/ declares an assignment named {declared.name!r}")
    declared.validate()
    return declared
