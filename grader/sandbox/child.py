"""The sandbox child: imports student code and runs probes, one request at a time.

Runs as ``python -I -m grader.sandbox.child PROBES_MODULE ANSWER_FD``, started by the
runner with limits applied, possibly before the submission is known: it imports the
probes (and torch) first, then reads the submission's layout as the first JSON line on
stdin. Requests follow as JSON lines; each answer is one JSON line on ANSWER_FD.
Only plain data crosses: no pickle.
Student code shares this process, so anything here can be tampered with; that is
why nothing here decides a point.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import traceback
import types
from pathlib import Path


class _StudentPackageAliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Every name a student imports their own modules by gives the sandbox package's one
    module object (grader/submission/layout.py decides the names): ``import matrix``,
    ``from autodiff.list2d import List2D`` and ``from match import Matrix`` all reach
    ``submission.*``, so a class is never defined twice."""

    def __init__(self, package: str, layout: dict):
        self.package = package
        self.bare = set(layout.get("bare", ()))
        self.aliases = set(layout.get("aliases", ()))

    def find_spec(self, fullname, path=None, target=None):
        head, _, rest = fullname.partition(".")
        if head == self.package:  # a folder named like the sandbox package (Gradescope's submission/) is no alias of itself
            return None
        if fullname in self.bare:
            real = f"{self.package}.{fullname}"
        elif head in self.aliases:
            real = f"{self.package}.{rest}" if rest else self.package
            if rest and importlib.util.find_spec(real) is None:
                return None  # the usual "No module named ..." for a module the student does not have
        else:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, loader_state=real)

    def create_module(self, spec):
        module = importlib.import_module(spec.loader_state)
        spec.loader_state = (spec.loader_state, module.__spec__)
        return module

    def exec_module(self, module):
        real_spec = module.__spec__.loader_state[1]
        module.__spec__ = real_spec  # the import system stamped the alias's spec on the real module


def _text_progress_bars() -> None:
    """``tqdm.notebook`` draws with Jupyter widgets, which the grader has no frontend for (and
    fails without ipywidgets); students' notebooks import it, so it gives tqdm's text bars."""
    try:
        from tqdm import std
    except ImportError:
        return
    notebook = types.ModuleType("tqdm.notebook", "tqdm's text progress bars, standing in for the notebook ones")
    notebook.tqdm = notebook.tqdm_notebook = std.tqdm
    notebook.trange = notebook.tnrange = std.trange
    sys.modules["tqdm.notebook"] = notebook


class Student:
    """Resolves ``(logical module, symbol)`` to student objects, importing lazily."""

    def __init__(self, config: dict):
        self.modules: dict[str, str] = config["modules"]
        self.missing: dict[str, str] = config["missing"]
        self.files: dict[str, str] = config["files"]
        self.loaded: dict[str, object] = {}
        self.failed: dict[str, str] = {}

    def load(self, logical: str):
        if logical in self.missing:
            raise LoadError(self.missing[logical])
        if logical in self.failed:
            raise LoadError(self.failed[logical])
        if logical not in self.loaded:
            try:
                self.loaded[logical] = importlib.import_module(self.modules[logical])
            except BaseException as error:  # SystemExit and KeyboardInterrupt from student code too
                where = self.files.get(logical, logical)
                self.failed[logical] = f"could not load {where}: {describe(error)}"
                raise LoadError(self.failed[logical], student_traceback(error)) from None
        return self.loaded[logical]

    def resolve(self, logical: str, name: str):
        module = self.load(logical)
        try:
            return getattr(module, name)
        except AttributeError:
            where = self.files.get(logical, logical)
            raise LoadError(f"{where} does not define {name}{self.explain(NameError(name=name))}") from None

    def explain(self, error: BaseException) -> str:
        """For a NameError, why the name is missing when loading a notebook says so."""
        name = getattr(error, "name", None) if isinstance(error, NameError) else None
        try:  # the notebook's records live in student space, where code may have replaced them
            return self.why_missing(name)[:1000] if isinstance(name, str) else ""
        except Exception:
            return ""

    def why_missing(self, name: str) -> str:
        """A notebook's statement that would set ``name`` failed, or was left out as an experiment."""
        for module in self.loaded.values():
            for label, line, names, failure in getattr(module, "_grader_cell_errors", ()):
                if name in names:
                    package = re.search(r"No module named '([\w.]+)'", str(failure))
                    hint = unavailable(package[1]) if package else ""
                    return f" ({name} is set in {label}, line {line}, which failed when the grader ran it: {failure}{hint})"
            dropped = getattr(module, "_grader_dropped", {})
            if name in dropped:
                return (
                    f" ({name} is only set by {dropped[name]}, which the grader does not run: it runs your "
                    "notebook's definitions and imports, not its experiments)"
                )
        return ""


class LoadError(Exception):
    def __init__(self, message: str, trace: str = ""):
        super().__init__(message)
        self.trace = trace


AVAILABLE_PACKAGES = "torch, numpy, matplotlib, tqdm, IPython and Python's standard library"


def describe(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
    if isinstance(error, SyntaxError) and error.lineno and f"line {error.lineno}" not in text:
        text += f" (line {error.lineno})"
    if isinstance(error, ModuleNotFoundError) and isinstance(error.name, str):
        text += unavailable(error.name)
    return text[:500]


def unavailable(module: str) -> str:
    """What to say about an import of ``module`` that failed, if its package is not here."""
    top = module.split(".")[0]
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return ""
    return f" ({top} is neither in your submission nor one of the packages the grader has: {AVAILABLE_PACKAGES})"


STUDENT_ROOT = ""


def student_traceback(error: BaseException) -> str:
    """The frames of the traceback that are in student files, newest last."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(STUDENT_ROOT)]
    lines = [f"  {Path(f.filename).name}, line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames[-6:]]
    return "\n".join(lines)


GRADER_PACKAGES = ("grader", "reference")  # known-good helpers and solutions live there: not the student's to import


def _refuse_grader_imports(package: str) -> None:
    """An import statement in a student module may not reach the grader's own packages: its
    probes hold known-good versions of the graded functions. (A determined student can still
    reach them through sys.modules; the threat model says so.)"""
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__", "") if isinstance(globals, dict) else ""
        if level == 0 and name.partition(".")[0] in GRADER_PACKAGES and str(importer).startswith(package + "."):
            raise ImportError(f"{name} is the grader's own code; a submission may not import it")
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded_import


def _answer_stream(name: str):
    """The answer pipe the runner passed: a descriptor, or on Windows an inherited handle."""
    if sys.platform == "win32":
        import msvcrt

        return os.fdopen(msvcrt.open_osfhandle(int(name), os.O_WRONLY), "w", encoding="utf-8")
    return os.fdopen(int(name), "w", encoding="utf-8")


def main() -> None:
    global STUDENT_ROOT
    probes = importlib.import_module(sys.argv[1])  # warm start: the heavy imports happen here
    answers = _answer_stream(sys.argv[2])
    requests = sys.stdin
    config = json.loads(requests.readline())
    STUDENT_ROOT = config["root"]
    sys.path.insert(0, config["root"])
    package = config["package"]
    layout = getattr(importlib.import_module(package), "_GRADER_LAYOUT", {})  # the grader's own __init__
    sys.meta_path.insert(0, _StudentPackageAliases(package, layout))
    _refuse_grader_imports(package)
    _text_progress_bars()
    sys.setrecursionlimit(5000)  # deep enough for real code, shallow enough to fail fast on runaway recursion
    student = Student(config)
    dumps, write, flush = json.dumps, answers.write, answers.flush  # bound before student code can patch them

    def send(message: dict) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        write(dumps(message) + "\n")
        flush()

    send({"event": "ready"})
    for line in requests:
        request = json.loads(line)
        try:
            pending = [logical for logical in request["needs"] if logical not in student.loaded]
            for logical in pending:
                send({"event": "loading", "module": logical})  # the runner blames a hang or crash on it
                student.load(logical)
            if pending:
                send({"event": "loaded"})
            value = getattr(probes, request["function"])(student.resolve, **request["args"])
            answer = {"status": "ok", "value": value}
        except LoadError as error:
            answer = {"status": "load_error", "error": str(error), "traceback": error.trace}
        except BaseException as error:  # the probe reports every student failure, SystemExit included
            answer = {"status": "error", "error": describe(error) + student.explain(error), "traceback": student_traceback(error)}
        try:
            send(answer)
        except (TypeError, ValueError) as error:
            send({"status": "error", "error": f"the result could not be sent back as plain data: {error}"})


if __name__ == "__main__":
    main()
