"""Loading a submission: find the assignment's files (folder, notebook, .py or .zip)
and lay them out as a package in a private scratch folder for the sandbox.

Nothing here imports or runs student code; it only copies bytes.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.plugin import Assignment
from grader.submission.notebook import NotebookError, notebook_to_module

MAX_FILE_BYTES = 5 << 20  # a hand-written source file is far smaller; bigger is a mistake or an attack
MAX_ZIP_BYTES = 200 << 20
# Student files are imported as modules of this package in the sandbox. It is not the
# assignment's name: descent/descent.py would make the package shadow its own module.
SANDBOX_PACKAGE = "submission"
SKIPPED_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".ipynb_checkpoints", "__MACOSX"}


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
    if not path.exists():
        raise FileNotFoundError(f"no such submission: {path}")
    if path.is_file() and path.suffix == ".zip":
        path = _unzip(path, scratch / "unzipped")
    package_dir = scratch / "src" / SANDBOX_PACKAGE
    package_dir.mkdir(parents=True)
    (package_dir / "__init__.py").write_text("")
    submission = Submission(source=path, root=scratch / "src", package=SANDBOX_PACKAGE, modules={})

    if path.is_file():
        if path.suffix == ".ipynb":
            return _load_notebook(assignment, path, package_dir, submission)
        if path.suffix == ".py" and path.name in assignment.modules.values():
            return _load_files(assignment, {path.name: path}, path.parent, package_dir, submission)
        expected = ", ".join([*assignment.modules.values(), *([assignment.notebook] if assignment.notebook else [])])
        raise SubmissionError(f"{path.name} is not a file of the {assignment.name} assignment; hand in {expected}")

    found = _find_files(path, set(assignment.modules.values()))
    if not found:
        notebook = _find_notebook(assignment, path)
        if notebook is not None:
            return _load_notebook(assignment, notebook, package_dir, submission)
    return _load_files(assignment, found, path, package_dir, submission)


def _load_files(assignment, found: dict[str, Path], base: Path, package_dir: Path, submission: Submission):
    for logical, filename in assignment.modules.items():
        source = found.get(filename)
        if source is None:
            submission.missing[logical] = f"{filename} was not found in the submission"
            continue
        try:
            _copy_checked(source, base, package_dir / filename)
        except SubmissionError as error:
            submission.missing[logical] = str(error)
            continue
        submission.modules[logical] = f"{SANDBOX_PACKAGE}.{Path(filename).stem}"
        submission.files[logical] = filename
    folders = {path.parent for path in found.values()}
    if len(folders) > 1:  # files from different folders: say which were used, in case one is stale
        submission.notes += [f"used {path.relative_to(base)}" for path in found.values()]
    if not submission.modules:
        wanted = ", ".join(assignment.modules.values())
        alternative = f" (or {assignment.notebook})" if assignment.notebook else ""
        raise SubmissionError(f"none of the assignment's files ({wanted}){alternative} were found in {base.name}/")
    return submission


def _load_notebook(assignment, notebook: Path, package_dir: Path, submission: Submission):
    if notebook.stat().st_size > MAX_FILE_BYTES:
        raise SubmissionError(f"{notebook.name} is larger than {MAX_FILE_BYTES >> 20} MB; clear its outputs and resubmit")
    try:
        source, notes = notebook_to_module(notebook)
    except NotebookError as error:
        raise SubmissionError(f"{notebook.name} is not a readable Jupyter notebook: {error}") from None
    (package_dir / "_notebook.py").write_text(source, encoding="utf-8")
    submission.modules = {logical: f"{SANDBOX_PACKAGE}._notebook" for logical in assignment.modules}
    submission.files = {logical: notebook.name for logical in assignment.modules}
    submission.notes.extend(notes)
    return submission


def _find_files(base: Path, names: set[str]) -> dict[str, Path]:
    """The shallowest file with each name under ``base``, skipping environments and VCS folders."""
    found: dict[str, Path] = {}
    for candidate in sorted(_walk(base), key=lambda p: (len(p.parts), str(p))):
        if candidate.name in names and candidate.name not in found:
            found[candidate.name] = candidate
    return found


def _find_notebook(assignment: Assignment, base: Path) -> Path | None:
    notebooks = [p for p in _walk(base) if p.suffix == ".ipynb"]
    named = [p for p in notebooks if p.name == assignment.notebook]
    if named:
        return min(named, key=lambda p: len(p.parts))
    return notebooks[0] if len(notebooks) == 1 else None


def _walk(base: Path):
    for entry in base.iterdir():
        if entry.name in SKIPPED_DIRS or entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk(entry)
        elif entry.is_file() or entry.is_symlink():
            yield entry


def _copy_checked(source: Path, base: Path, target: Path) -> None:
    resolved = source.resolve()
    if not resolved.is_relative_to(base.resolve()):
        raise SubmissionError(f"{source.name} is a link to a file outside the submission; hand in the file itself")
    if not resolved.is_file():
        raise SubmissionError(f"{source.name} is not a regular file")
    if resolved.stat().st_size > MAX_FILE_BYTES:
        raise SubmissionError(f"{source.name} is larger than {MAX_FILE_BYTES >> 20} MB")
    shutil.copyfile(resolved, target)


def _unzip(archive: Path, target: Path) -> Path:
    """Extract a zip safely: no absolute paths, no '..', no links, bounded size."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise SubmissionError(f"{archive.name} unpacks to more than {MAX_ZIP_BYTES >> 20} MB")
            for member in members:
                name = Path(member.filename)
                if name.is_absolute() or ".." in name.parts or (member.external_attr >> 28) == 0o12:
                    continue
                zipped.extract(member, target)
    except zipfile.BadZipFile as error:
        raise SubmissionError(f"{archive.name} is not a readable zip file: {error}") from None
    entries = [e for e in target.iterdir() if e.name not in SKIPPED_DIRS] if target.exists() else []
    # Classroom and Gradescope downloads often wrap everything in one folder.
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else target
