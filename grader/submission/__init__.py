"""Loading a submission: find the assignment's files (folder, notebook, .py or .zip)
and lay them out as a package in a private scratch folder for the sandbox.

Nothing here imports or runs student code; it only reads the files ``selection.py``
chooses, refusing links, devices and anything too large or too deep (``files.py``, ``archive.py``).
Anything that goes wrong while loading is a SubmissionError: a zero with a reason.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from grader.plugin import Assignment
from grader.submission import work
from grader.submission.archive import unzip
from grader.submission.files import SKIPPED_DIRS, UnsafeFile, plain, read_bytes
from grader.submission.layout import package_init
from grader.submission.notebook import (
    NotebookError,
    is_percent_script,
    module_from_parsed,
    notebook_cells,
    parse_cells,
    percent_cells,
)
from grader.submission.selection import MAX_NOTEBOOK_BYTES, MAX_ZIP_BYTES, select

# Student files are imported as modules of this package in the sandbox. It is not the
# assignment's name: descent/descent.py would make the package shadow its own module.
SANDBOX_PACKAGE = "submission"
NOTEBOOK_MODULE = "_notebook"
__all__ = ["SKIPPED_DIRS", "Submission", "SubmissionError", "load"]  # the rest is internal


class SubmissionError(Exception):
    """The submission cannot be graded; the message tells the student what to fix."""


@dataclass
class Submission:
    """A submission laid out for the sandbox: ``root/<package>/<module>.py``."""

    source: Path
    root: Path  # put on the child's sys.path
    package: str
    modules: dict[str, str]  # logical module -> importable name (e.g. "submission.matrix")
    files: dict[str, str] = field(default_factory=dict)  # logical module -> the file a student knows it by
    missing: dict[str, str] = field(default_factory=dict)  # logical module -> why it is missing
    notes: list[str] = field(default_factory=list)  # what the student should know about loading


def load(assignment: Assignment, path: Path, scratch: Path) -> Submission:
    """Copy what ``assignment`` needs from ``path`` into ``scratch``; raise SubmissionError if unreadable."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(f"no such submission: {path}")
    try:
        return _load(assignment, path, scratch)
    except SubmissionError:
        raise
    except (UnsafeFile, NotebookError) as error:
        raise SubmissionError(str(error)) from None
    except Exception as error:  # whatever a crafted submission trips: a zero with a reason, never a crash
        raise SubmissionError(f"the submission could not be read: {type(error).__name__}: {plain(error)}") from None


def _load(assignment: Assignment, path: Path, scratch: Path) -> Submission:
    zip_notes: list[str] = []
    chosen = select(assignment, path)
    if chosen.archive is not None:
        path, zip_notes = unzip(path, read_bytes(path, chosen.base, MAX_ZIP_BYTES), scratch / "unzipped")
        chosen = select(assignment, path)
    package_dir = scratch / "src" / SANDBOX_PACKAGE
    package_dir.mkdir(parents=True)
    submission = Submission(source=path, root=scratch / "src", package=SANDBOX_PACKAGE, modules={}, notes=zip_notes)
    found, notebook_path, base = chosen.modules, chosen.notebook, chosen.base
    if not path.is_dir() and not found and notebook_path is None:
        expected = ", ".join([*assignment.modules.values(), *([assignment.notebook] if assignment.notebook else [])])
        raise SubmissionError(f"{plain(path.name)} is not a file of the {assignment.name} assignment; hand in {expected}")
    if notebook_path is not None and not found:
        return _from_notebook(assignment, notebook_path, _read_notebook(notebook_path, base), package_dir, submission)
    if notebook_path is not None:  # both: grade the one with the work
        try:
            parsed = _read_notebook(notebook_path, base)
        except (SubmissionError, UnsafeFile):
            parsed = ([], [])  # the files are graded; an unreadable notebook beside them costs nothing
        if work.prefer_notebook([_tree(file, base) for file in found.values()], [tree for _, _, tree in parsed[0]]):
            submission.notes.append(
                f"graded {plain(notebook_path.name)}: it implements the functions that "
                f"{', '.join(sorted(found))} still leave{'s' if len(found) == 1 else ''} unimplemented"
            )
            return _from_notebook(assignment, notebook_path, parsed, package_dir, submission)
    return _from_files(assignment, found, chosen.helpers, base, package_dir, submission)


def _from_files(assignment, found: dict[str, Path], helpers, base: Path, package_dir: Path, submission: Submission):
    sources: dict[str, str] = {}
    for logical, filename in assignment.modules.items():
        source = found.get(filename)
        if source is None:
            submission.missing[logical] = f"{filename} was not found in the submission"
            continue
        try:
            code = _module_code(source, base, submission)
        except UnsafeFile as error:
            submission.missing[logical] = str(error)
            continue
        except NotebookError as error:
            submission.missing[logical] = f"{filename}: {error}"
            continue
        stem = Path(filename).stem
        (package_dir / filename).write_bytes(code)
        sources[stem] = code.decode("utf-8", "replace")
        submission.modules[logical] = f"{SANDBOX_PACKAGE}.{stem}"
        submission.files[logical] = filename
    folders = {path.parent for path in found.values()}
    if len(folders) > 1:  # files from different folders: say which were used, in case one is stale
        submission.notes += [f"used {plain(path.relative_to(base))}" for path in found.values()]
    refused = [reason for reason in submission.missing.values() if "was not found" not in reason]
    if not submission.modules and refused:
        raise SubmissionError("; ".join(refused))
    if not submission.modules:
        wanted = ", ".join(assignment.modules.values())
        alternative = f" (or {assignment.notebook})" if assignment.notebook else ""
        raise SubmissionError(f"none of the assignment's files ({wanted}){alternative} were found in {plain(base.name)}/")
    sources.update(_copy_helpers(helpers, base, package_dir, submission))
    (package_dir / "__init__.py").write_text(
        package_init(sources, {folder.name for folder in folders}, assignment.package), encoding="utf-8"
    )
    return submission


def _module_code(source: Path, base: Path, submission: Submission) -> bytes:
    """A file's code as the sandbox imports it; a jupytext py:percent script is read like
    the notebook it mirrors (its definitions, not its experiments)."""
    data = read_bytes(source, base)
    text = data.decode("utf-8", "replace")
    if not is_percent_script(text):
        return data
    parsed, notes = parse_cells(percent_cells(text), source.name)
    module, more = module_from_parsed(parsed, source.name)
    submission.notes += [f"{plain(source.name)} is a py:percent script: read cell by cell, like its notebook"]
    submission.notes += notes + more
    return module.encode("utf-8")


def _copy_helpers(helpers, base: Path, package_dir: Path, submission) -> dict[str, str]:
    """Other .py files beside the assignment's, so that the student's imports of them work."""
    sources = {}
    for path in helpers:
        try:
            data = read_bytes(path, base)
        except UnsafeFile as error:
            submission.notes.append(f"not copied: {error}")
            continue
        (package_dir / path.name).write_bytes(data)
        sources[path.stem] = data.decode("utf-8", "replace")
    return sources


def _read_notebook(path: Path, base: Path):
    """(parsed cells, notes) of a notebook file, or SubmissionError with the reason."""
    data = read_bytes(path, base, MAX_NOTEBOOK_BYTES)
    try:
        cells = notebook_cells(data)
    except NotebookError as error:
        raise SubmissionError(f"{plain(path.name)} is not a readable Jupyter notebook: {error}") from None
    try:
        return parse_cells(cells, path.name)
    except NotebookError as error:
        raise SubmissionError(f"{plain(path.name)} cannot be graded: {error}") from None


def _from_notebook(assignment, notebook: Path, parsed, package_dir: Path, submission: Submission):
    cells, notes = parsed
    source, more = module_from_parsed(cells, notebook.name)
    (package_dir / f"{NOTEBOOK_MODULE}.py").write_text(source, encoding="utf-8")
    (package_dir / "__init__.py").write_text(package_init({NOTEBOOK_MODULE: ""}, set(), assignment.package))
    submission.modules = {logical: f"{SANDBOX_PACKAGE}.{NOTEBOOK_MODULE}" for logical in assignment.modules}
    submission.files = {logical: plain(notebook.name) for logical in assignment.modules}
    submission.notes.extend(notes + more)
    return submission


def _tree(path: Path, base: Path) -> ast.Module:
    try:
        return ast.parse(read_bytes(path, base))
    except (UnsafeFile, SyntaxError, ValueError, RecursionError, MemoryError):
        return ast.Module([], [])
