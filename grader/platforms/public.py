"""The students' copy of the grader: what they and GitHub Classroom install, without the solutions.

``python -m grader publish DIR`` writes it. The instructor pushes DIR as the public repository
that exported Classroom templates install from (``export --org --repo --ref``), and keeps this
repository, with ``reference/``, private. The copy holds the ``grader`` package, each
assignment's stored reference answers to the public probes (``expected.json``, which its
checks judge against besides PyTorch), a ``pyproject.toml`` that packages only ``grader`` and a
README. It never holds ``reference/`` (the solutions and the hidden variants), ``tests/``,
``examples/`` (edits of the solutions) or ``assignments/`` (the stubs ship in the templates).
The official grade (Gradescope, or the instructor's own ``grade``/``batch``) runs the private
grader, which also runs the hidden variants.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader import __version__, assignments
from grader.authoring import stubs
from grader.platforms import write_tree
from grader.plugin import repo_path

PACKAGE = "grader"
PRIVATE_PACKAGES = '["grader*", "reference*"]'  # what pyproject.toml packages in the private repository

README = f"""\
# nn-grader {__version__} (students' copy)

The grader of the course's assignments, as students and GitHub Classroom install it. In your
assignment's repository, after `pip install` of this repository at the tag your course gives:

```bash
python -m grader check             # the grade, what to fix, and .grading/report.html
pytest                             # the same checks as tests, each with its points
```

This copy has no reference solutions. Its checks compare your code with PyTorch and with the
reference's answers to the same inputs, stored in `grader/assignments/<assignment>/expected.json`.
The official grade runs these checks and, for each one, the same check on inputs that are not
published here: code that is right gets the same points in both, code written to fit the
published inputs does not.
"""


class PublishError(ValueError):
    """The copy cannot be written as asked; the message says what to do."""


def public_pyproject() -> str:
    """This repository's pyproject.toml, packaging only ``grader`` and its stored answers."""
    text = repo_path("pyproject.toml").read_text(encoding="utf-8")
    include = f"include = {PRIVATE_PACKAGES}"
    if text.count(include) != 1 or text.count("[tool.setuptools.package-data]\n") != 1:
        raise PublishError(f"pyproject.toml no longer has `{include}` and one [tool.setuptools.package-data]: update {__name__}")
    data = "".join(f'"grader.assignments.{name}" = ["expected.json"]\n' for name in assignments.names())
    text = text.replace(include, 'include = ["grader*"]  # the students\' copy: no reference solutions')
    return text.replace("[tool.setuptools.package-data]\n", "[tool.setuptools.package-data]\n" + data)


def public_files() -> dict[str, Path | str]:
    """Copy path -> a file to copy, or text."""
    stale = [path for name in assignments.names() for path in stubs.stale(assignments.get(name))]
    if stale:  # the stored answers must be the reference's answers to today's probes
        raise PublishError("stale generated files (run `python -m grader assign` and commit): " + ", ".join(map(str, stale)))
    root = repo_path()
    files: dict[str, Path | str] = {}
    for path in sorted((root / PACKAGE).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and not re.search(r"\.py[co]$", path.name):
            files[path.relative_to(root).as_posix()] = path
    files["pyproject.toml"] = public_pyproject()
    files["README.md"] = README
    return files


def publish(target: Path) -> list[Path]:
    """Write the students' copy into ``target`` (new or empty); returns the files written."""
    target = Path(target)
    if target.exists() and any(path.name != ".git" for path in target.iterdir()):
        raise PublishError(f"{target} is not empty; publish into a new folder, or a clone of the public repository with its files removed")
    return write_tree(target, public_files())
