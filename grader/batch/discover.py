"""Find a class's submissions and name their students.

SUBMISSIONS is a folder with one entry per student: a folder, a notebook or a .zip.
The student is the entry's name without its suffix: ``alice/``, ``alice.ipynb`` and
``alice.zip`` are all ``alice``. Two export layouts are recognised:

* GitHub Classroom (``gh classroom clone student-repos``) clones each student's
  repository as ``<slug>-<username>`` into ``<slug>-submissions/``. The slug is
  dropped, so the student is the GitHub username; a ``classroom_roster.csv`` next to
  the repositories (or one folder up) maps usernames to the roster's identifiers.
* Gradescope's "Export Submissions" has ``submission_<id>/`` folders and a
  ``submission_metadata.yml`` naming each one's submitters. The student is the
  submitter's email (else SID, else name): what Gradescope's and Canvas's score
  imports match on. A group submission gives one entry per member.

Nothing here imports or runs student code; it only lists names.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from grader.submission import SKIPPED_DIRS

SUBMISSION_SUFFIXES = (".zip", ".ipynb")
CLASSROOM_FOLDER_SUFFIX = "-submissions"
CLASSROOM_ROSTER = "classroom_roster.csv"
GRADESCOPE_METADATA = "submission_metadata.yml"


class DiscoveryError(Exception):
    """The folder cannot be read as a class; the message says what to fix."""


@dataclass(frozen=True)
class Entry:
    student: str
    path: Path
    source: str  # the entry's name inside the class folder, as the instructor sees it


def discover(folder: Path, assignment_name: str, strip_prefix: str | None = None) -> list[Entry]:
    """Every submission in ``folder``, sorted by student; DiscoveryError if two share a student."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DiscoveryError(f"{folder} is not a folder of submissions")
    candidates = [p for p in sorted(folder.iterdir()) if _is_submission(p)]
    metadata = folder / GRADESCOPE_METADATA
    if metadata.is_file():
        entries = _gradescope_entries(candidates, metadata)
    else:
        prefix = strip_prefix if strip_prefix is not None else _classroom_prefix(folder, candidates, assignment_name)
        roster = _classroom_roster(folder)
        entries = []
        for path in candidates:
            name = _stem(path)
            username = name[len(prefix) :] if prefix and name.startswith(prefix) and len(name) > len(prefix) else name
            entries.append(Entry(roster.get(username, username), path, path.name))
    _refuse_duplicates(entries)
    return sorted(entries, key=lambda e: e.student)


def _is_submission(path: Path) -> bool:
    if path.name.startswith(".") or path.name in SKIPPED_DIRS:
        return False
    if path.is_dir():
        return True
    return path.is_file() and path.suffix.lower() in SUBMISSION_SUFFIXES


def _stem(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def _classroom_prefix(folder: Path, candidates: list[Path], assignment_name: str) -> str:
    """The ``<slug>-`` Classroom put in front of every username, or "" if there is none."""
    names = [_stem(p) for p in candidates]
    if folder.name.endswith(CLASSROOM_FOLDER_SUFFIX):  # gh classroom clone's own folder name
        return folder.name[: -len(CLASSROOM_FOLDER_SUFFIX)] + "-"
    if names and all(n.startswith(f"{assignment_name}-") for n in names):
        return f"{assignment_name}-"
    # Cloned repositories that all share a dash-ended prefix: the slug, whatever it is.
    # Only for git clones, so that a folder of "ann-lee", "ann-ng" keeps its names.
    if len(names) >= 2 and all((p / ".git").exists() for p in candidates):
        common = os.path.commonprefix(names)
        return common[: common.rfind("-") + 1]
    return ""


def _classroom_roster(folder: Path) -> dict[str, str]:
    """github_username -> roster identifier, from Classroom's roster download if present."""
    for path in (folder / CLASSROOM_ROSTER, folder.parent / CLASSROOM_ROSTER):
        if path.is_file():
            with path.open(newline="", encoding="utf-8-sig") as handle:
                return {
                    row["github_username"].strip(): row["identifier"].strip()
                    for row in csv.DictReader(handle)
                    if (row.get("github_username") or "").strip() and (row.get("identifier") or "").strip()
                }
    return {}


def _gradescope_entries(candidates: list[Path], metadata_path: Path) -> list[Entry]:
    import yaml  # comes with dask; only Gradescope exports need it

    try:
        metadata = yaml.safe_load(metadata_path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise DiscoveryError(f"{metadata_path} is not readable YAML: {error}") from None
    entries = []
    for path in candidates:
        submitters = (metadata.get(path.name) or metadata.get(_stem(path)) or {}).get(":submitters") or []
        names = [_submitter_id(s) for s in submitters if isinstance(s, dict)]
        entries += [Entry(name, path, path.name) for name in names if name] or [Entry(_stem(path), path, path.name)]
    return entries


def _submitter_id(submitter: dict) -> str:
    for key in (":email", ":sid", ":name"):
        value = str(submitter.get(key) or "").strip()
        if value:
            return value
    return ""


def _refuse_duplicates(entries: list[Entry]) -> None:
    seen: dict[str, Entry] = {}
    clashes = []
    for entry in entries:
        if entry.student in seen:
            clashes.append(f"{entry.student}: {seen[entry.student].source} and {entry.source}")
        seen.setdefault(entry.student, entry)
    if clashes:
        raise DiscoveryError("more than one submission for the same student; keep one of each:\n  " + "\n  ".join(clashes))
