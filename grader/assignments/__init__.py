"""The assignment plug-ins: every sub-package here with an ``ASSIGNMENT`` is one."""

from __future__ import annotations

import importlib
import pkgutil

from grader.plugin import Assignment


def names() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if info.ispkg)


def get(name: str) -> Assignment:
    """The assignment called ``name``; ValueError naming the known ones otherwise."""
    if name not in names():
        raise ValueError(f"unknown assignment {name!r}; known assignments: {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}").ASSIGNMENT
