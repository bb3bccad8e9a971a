"""Packaging the grader for where students work and where grades are recorded:
a GitHub Classroom template repository, a Gradescope autograder zip, the students' copy
of the grader (no solutions), and the local self-check those templates point students to."""

from __future__ import annotations

from pathlib import Path


def write_tree(target: Path, files: dict[str, str | Path]) -> list[Path]:
    """Write ``files`` (relative path -> text, or a file to copy) under ``target``; returns the paths written."""
    written = []
    for relative, content in files.items():
        path = Path(target) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            path.write_bytes(content.read_bytes())
        else:
            path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
