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

import importlib
import importlib.abc
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path


class _BareNameAliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Make ``import matrix`` give the same module object as ``import submission.matrix``,
    so students may write absolute or relative imports without two copies of a class."""

    def __init__(self, package: str, names: set[str]):
        self.package, self.names = package, names

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.names:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(f"{self.package}.{spec.name}")

    def exec_module(self, module):
        pass


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
            raise LoadError(f"{where} does not define {name}") from None


class LoadError(Exception):
    def __init__(self, message: str, trace: str = ""):
        super().__init__(message)
        self.trace = trace


def describe(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
    if isinstance(error, SyntaxError) and error.lineno and f"line {error.lineno}" not in text:
        text += f" (line {error.lineno})"
    return text[:500]


STUDENT_ROOT = ""


def student_traceback(error: BaseException) -> str:
    """The frames of the traceback that are in student files, newest last."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(STUDENT_ROOT)]
    lines = [f"  {Path(f.filename).name}, line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames[-6:]]
    return "\n".join(lines)


def main() -> None:
    global STUDENT_ROOT
    probes = importlib.import_module(sys.argv[1])  # warm start: the heavy imports happen here
    answers = os.fdopen(int(sys.argv[2]), "w", encoding="utf-8")
    requests = sys.stdin
    config = json.loads(requests.readline())
    STUDENT_ROOT = config["root"]
    sys.path.insert(0, config["root"])
    package = config["package"]
    bare = {name.split(".")[-1] for name in config["modules"].values()}
    sys.meta_path.insert(0, _BareNameAliases(package, bare))
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
            answer = {"status": "error", "error": describe(error), "traceback": student_traceback(error)}
        try:
            send(answer)
        except (TypeError, ValueError) as error:
            send({"status": "error", "error": f"the result could not be sent back as plain data: {error}"})


if __name__ == "__main__":
    main()
