"""The assignment plug-in interface: what an assignment gives the grader.

An assignment is a package under ``grader/assignments/<name>/`` whose ``__init__.py``
declares ``ASSIGNMENT = Assignment(...)``: every part by name, validated when loaded.
It must stay cheap to import (no torch): the sandbox child imports the package to
reach its probes. The usual parts:

* ``probes.py`` runs *inside the sandbox child*, next to student code. Each probe
  is ``def probe_name(resolve, **args) -> plain data`` where ``resolve(module,
  name)`` returns a student symbol (``resolve("matrix", "Matrix")``). It returns
  only JSON-able data (numbers, strings, lists, dicts). It never judges.
* ``checks.py`` runs *in the grading process*: ``checks() -> list[Check]``. Each
  check names one probe and a ``judge`` that compares the student's data with the
  reference's data (the same probe run on ``reference/<name>/``) and with PyTorch.

Everything that decides a point lives in the checks (and the modules declared
``hidden``, which the child can never read); nothing there runs student code.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

Status = Literal["ok", "error", "load_error", "timeout", "crashed", "ungraded"]  # ungraded: the machine, not the code, failed


@dataclass(frozen=True)
class Probe:
    """One call into student code, run in the sandbox: ``function(resolve, **args)``."""

    key: str
    function: str
    args: Mapping[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()  # logical module names (keys of Assignment.modules)
    timeout: float = 10.0  # CPU seconds for this call alone (the wall clock is only a far backstop)


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

    name: str  # "<function>: <what is checked>"
    points: float
    probe: Probe
    judge: Judge

    @property
    def function(self) -> str:
        """The student function this check grades."""
        return function_of(self.name)


def function_of(check_name: str) -> str:
    return check_name.split(":", 1)[0].strip()


class PluginError(Exception):
    """An assignment plug-in declares a part that does not exist: a grader bug, said loudly."""


def resolve_entry(entry: str) -> Callable[..., Any]:
    """The function an entry ``"package.module:function"`` names, or PluginError."""
    module_name, _, attribute = entry.partition(":")
    if not module_name or not attribute:
        raise PluginError(f"{entry!r} is not of the form 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):  # the declared module itself is missing
            raise PluginError(f"{entry!r}: there is no module {module_name}") from None
        raise
    function = getattr(module, attribute, None)
    if not callable(function):
        raise PluginError(f"{entry!r}: {module_name} has no function {attribute}")
    return function


def module_paths(module_name: str) -> list[Path]:
    """The files a module is read from (source, package folder, bytecode), found without importing it."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise PluginError(f"there is no module {module_name}")
    origin = Path(spec.origin).resolve()
    if spec.submodule_search_locations:  # a package: hide its whole folder
        return [origin.parent]
    cache = origin.parent / "__pycache__"
    return [origin, *sorted(cache.glob(f"{origin.stem}.*"))]


@dataclass(frozen=True)
class Assignment:
    """An assignment's declared parts. Each entry is ``"package.module:function"``; ``validate``
    resolves every one, so a typo fails loudly instead of silently dropping a part."""

    name: str
    title: str
    modules: Mapping[str, str]  # logical module -> file name, e.g. {"matrix": "matrix.py"}
    probes: str  # the module the sandbox child imports; it runs next to student code
    checks_from: str  # () -> list[Check]; runs only in the grading process
    hidden: tuple[str, ...]  # modules the child must never read: the checks, and what knows the answers
    artifacts_from: str = ""  # (report, outdir) -> list[Path]: plots made from a finished report
    notebook: str | None = None  # the notebook file a submission may hand in instead of the modules
    notebook_from: str = ""  # (reference source) -> nbformat notebook; `assign` writes it for both versions

    def checks(self) -> list[Check]:
        return resolve_entry(self.checks_from)()

    def artifacts(self, report: Any, outdir: Path) -> list[Path]:
        return list(resolve_entry(self.artifacts_from)(report, outdir)) if self.artifacts_from else []

    def build_notebook(self, source: str) -> Any:
        return resolve_entry(self.notebook_from)(source)

    def hidden_paths(self) -> list[Path]:
        return [path for module in self.hidden for path in module_paths(module)]

    def validate(self) -> None:
        """Resolve every declared part; PluginError says which one is wrong."""
        if not self.modules:
            raise PluginError(f"assignment {self.name!r} declares no student modules")
        if self.notebook_from and not self.notebook:
            raise PluginError(f"assignment {self.name!r}: notebook_from builds a notebook, so name it in notebook")
        checks_module = self.checks_from.partition(":")[0]
        if not any(checks_module == m or checks_module.startswith(m + ".") for m in self.hidden):
            raise PluginError(f"assignment {self.name!r}: its checks ({checks_module}) must be in hidden")
        if any(self.probes == m or self.probes.startswith(m + ".") for m in self.hidden):
            raise PluginError(f"assignment {self.name!r}: its probes ({self.probes}) cannot be hidden from the child")
        module_paths(self.probes)
        self.hidden_paths()
        for entry in (self.checks_from, self.artifacts_from, self.notebook_from):
            if entry:
                resolve_entry(entry)
        if not self.reference_dir.is_dir():
            raise PluginError(f"assignment {self.name!r}: no reference solution at {self.reference_dir}")

    @property
    def package(self) -> str:
        """The folder the assignment's files live in, in a student's repository."""
        return self.name

    @property
    def reference_dir(self) -> Path:
        return repo_path("reference", self.name)

    @property
    def stub_dir(self) -> Path:
        return repo_path("assignments", self.name)


def repo_path(*parts: str) -> Path:
    """A path in the project tree (the reference and stubs ship beside the package)."""
    return Path(__file__).resolve().parent.parent.joinpath(*parts)
