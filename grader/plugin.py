"""The assignment plug-in interface: what an assignment gives the grader.

An assignment is a package under ``grader/assignments/<name>/`` with three parts:

* ``__init__.py`` defines ``ASSIGNMENT = Assignment(...)``. It must stay cheap to
  import (no torch): the sandbox child imports the package to reach its probes.
* ``probes.py`` runs *inside the sandbox child*, next to student code. Each probe
  is ``def probe_name(resolve, **args) -> plain data`` where ``resolve(module,
  name)`` returns a student symbol (``resolve("matrix", "Matrix")``). It returns
  only JSON-able data (numbers, strings, lists, dicts). It never judges.
* ``checks.py`` runs *in the grading process*: ``checks() -> list[Check]``. Each
  check names one probe and a ``judge`` that compares the student's data with the
  reference's data (the same probe run on ``reference/<name>/``) and with PyTorch.

Everything that decides a point lives in ``checks.py``; nothing there runs
student code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

Status = Literal["ok", "error", "load_error", "timeout", "crashed"]


@dataclass(frozen=True)
class Probe:
    """One call into student code, run in the sandbox: ``function(resolve, **args)``."""

    key: str
    function: str
    args: Mapping[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()  # logical module names (keys of Assignment.modules)
    timeout: float = 10.0  # seconds of wall time for this call alone


@dataclass(frozen=True)
class Outcome:
    """What came back from one probe run: plain data, never live objects."""

    status: Status
    value: Any = None  # the probe's JSON-decoded return value when status == "ok"
    error: str = ""  # one line: exception type and message, signal, or time limit
    traceback: str = ""  # the part of the traceback inside student files
    output: str = ""  # what the probe printed (capped)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Verdict:
    """A judge's decision on one check."""

    passed: bool
    message: str = ""  # what was checked, on what input, expected against got
    hint: str = ""  # advice for a known mistake
    mistake: str = ""  # stable key of that known mistake, for class statistics


def passed(message: str = "") -> Verdict:
    return Verdict(True, message)


def failed(message: str, hint: str = "", mistake: str = "") -> Verdict:
    return Verdict(False, message, hint, mistake)


Judge = Callable[[Any, Any], Verdict]  # (student value, reference value) -> Verdict


@dataclass(frozen=True)
class Check:
    """One graded item: a name that starts with the student function it grades."""

    name: str
    points: float
    probe: Probe
    judge: Judge


@dataclass(frozen=True)
class Assignment:
    """An assignment's static description; checks are built lazily (they need torch)."""

    name: str
    title: str
    modules: Mapping[str, str]  # logical module -> file name, e.g. {"matrix": "matrix.py"}
    notebook: str | None = None  # the notebook file a submission may hand in instead
    probes_module: str = ""  # defaults to grader.assignments.<name>.probes
    checks_module: str = ""  # defaults to grader.assignments.<name>.checks

    @property
    def package(self) -> str:
        """The folder the assignment's files live in, in a student's repository."""
        return self.name

    @property
    def probes(self) -> str:
        return self.probes_module or f"grader.assignments.{self.name}.probes"

    def checks(self) -> list[Check]:
        module = importlib.import_module(self.checks_module or f"grader.assignments.{self.name}.checks")
        return module.checks()

    def artifacts(self, report: Any, outdir: Path) -> list[Path]:
        """Files (plots) made from a finished report; an assignment's checks module may define them."""
        module = importlib.import_module(self.checks_module or f"grader.assignments.{self.name}.checks")
        make = getattr(module, "artifacts", None)
        return list(make(report, outdir)) if make else []

    @property
    def reference_dir(self) -> Path:
        return repo_path("reference", self.name)

    @property
    def stub_dir(self) -> Path:
        return repo_path("assignments", self.name)


def repo_path(*parts: str) -> Path:
    """A path in the project tree (the reference and stubs ship beside the package)."""
    return Path(__file__).resolve().parent.parent.joinpath(*parts)
