"""Which files of a submission are read: the one rule that grading (``load``), the batch's
hash and packed copy (``batch/contents.py``) and the self-check's guess of the assignment
(``platforms/local.py``) all follow, so that none of them can drift from the others.

From a folder, found by the bounded walk of ``files.py``: the shallowest file with each of
the assignment's module names, its notebook, and the other ``.py`` files beside the module
files (the student's imports may use them). A lone file is the submission itself. Nothing
is read here; every read goes through ``read_bytes`` with the cap ``Selection.files`` gives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from grader.plugin import Assignment
from grader.submission.files import MAX_FILE_BYTES, walk

MAX_ZIP_BYTES = 50 << 20
MAX_NOTEBOOK_BYTES = 50 << 20  # saved outputs make notebooks large; only their code is limited
MAX_HELPERS = 30  # other .py files beside the assignment's, copied so the student's imports of them work


@dataclass(frozen=True)
class Selection:
    base: Path  # every read is confined to it
    modules: dict[str, Path]  # an assignment file's name -> the shallowest file so named
    notebook: Path | None = None
    helpers: tuple[Path, ...] = ()  # other .py files beside the module files, one per name
    archive: Path | None = None  # a .zip: unpacked, then selected from again

    def files(self) -> list[tuple[Path, int]]:
        """Every file that may be read, with the size above which it is refused, in a stable order."""
        capped = [(path, MAX_FILE_BYTES) for path in (*self.modules.values(), *self.helpers)]
        capped += [(path, cap) for path, cap in ((self.notebook, MAX_NOTEBOOK_BYTES), (self.archive, MAX_ZIP_BYTES)) if path]
        return sorted(capped, key=lambda item: self.name(item[0]))

    def name(self, path: Path) -> str:
        """``path`` as the submission knows it: relative to its base, with forward slashes."""
        return path.relative_to(self.base).as_posix()


def select(assignment: Assignment, path: Path) -> Selection:
    """What of ``path`` (a folder or one file) is read to grade it for ``assignment``;
    UnsafeFile if the folder is too large to walk."""
    path = Path(path)
    wanted = set(assignment.modules.values())
    if not path.is_dir():
        if path.suffix == ".zip":
            return Selection(path.parent, {}, archive=path)
        if path.suffix == ".ipynb":
            return Selection(path.parent, {}, notebook=path)
        if path.suffix == ".py" and path.name in wanted:
            return Selection(path.parent, {path.name: path}, helpers=_helpers([path.parent], wanted))
        return Selection(path.parent, {})  # not the assignment's: load says so
    files = walk(path)
    modules = _shallowest(files, wanted)
    folders = sorted({file.parent for file in modules.values()})
    return Selection(path, modules, _notebook(assignment, files), _helpers(folders, wanted))


def _shallowest(files: list[Path], names: set[str]) -> dict[str, Path]:
    """The shallowest file with each name (``walk`` lists shallower files first)."""
    found: dict[str, Path] = {}
    for candidate in files:
        if candidate.name in names and candidate.name not in found:
            found[candidate.name] = candidate
    return found


def _notebook(assignment: Assignment, files: list[Path]) -> Path | None:
    """The notebook named as the assignment's, else the only one."""
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    named = [p for p in notebooks if p.name == assignment.notebook]
    if named:
        return named[0]
    return notebooks[0] if len(notebooks) == 1 else None


def _helpers(folders: list[Path], assignment_files: set[str]) -> tuple[Path, ...]:
    """Other importable .py files in ``folders`` (the first of each name), at most MAX_HELPERS
    looked at. Links and devices are listed too: reading them says why not."""
    candidates = []
    for folder in folders:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        candidates += [
            Path(entry.path)
            for entry in entries
            if entry.name.endswith(".py")
            and entry.name not in assignment_files
            and entry.name != "__init__.py"
            and entry.name[:-3].isidentifier()
            and not entry.is_dir(follow_symlinks=False)
        ]
    chosen: dict[str, Path] = {}
    for path in candidates[:MAX_HELPERS]:
        chosen.setdefault(path.name, path)
    return tuple(chosen.values())
