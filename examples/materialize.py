"""Build example submissions: a mistake or a correct variant is either a folder of
files, or a ``.toml`` of small edits to the reference (so examples never drift from it).

A ``.toml`` holds ``description``, ``failing`` (the student functions whose checks
must fail: every other check must pass), optionally ``mistake`` (a known-mistake key
the feedback must name), and ``[[edit]]`` tables with ``file``, ``old`` and ``new``.
``folder`` puts the reference's files in that subfolder (a repository whose homework is
a package, ``autodiff/matrix.py``); ``[[file]]`` tables (``path``, ``text``) add files.
A folder may hold the same keys in ``example.toml``, and ``stubs``: files copied from the
generated stubs in ``assignments/<name>/``.
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.authoring.stubs import BEGIN, END

EXAMPLES = Path(__file__).resolve().parent
REFERENCE = EXAMPLES.parent / "reference"
STUBS = EXAMPLES.parent / "assignments"


@dataclass
class Example:
    assignment: str
    kind: str  # "mistakes" or "variants"
    name: str
    path: Path  # the submission folder, ready to grade
    description: str = ""
    failing: list[str] = field(default_factory=list)
    mistake: str = ""


def materialize(assignment: str, out: Path) -> list[Example]:
    """Write every example of ``assignment`` under ``out/<kind>/<name>``; return them."""
    examples = []
    for kind in ("mistakes", "variants"):
        for spec in sorted((EXAMPLES / assignment / kind).glob("*")):
            target = out / kind / spec.stem
            if target.exists():
                shutil.rmtree(target)
            if spec.suffix == ".toml":
                meta = tomllib.loads(spec.read_text())
                package = target / meta.get("folder", "")
                shutil.copytree(REFERENCE / assignment, package, ignore=shutil.ignore_patterns("__pycache__", "*.ipynb", "variants"))
                for source in package.glob("*.py"):  # a submission carries no solution markers
                    lines = source.read_text().splitlines(keepends=True)
                    source.write_text("".join(line for line in lines if line.strip() not in (BEGIN, END)))
                for edit in meta.get("edit", []):
                    _apply(package / edit["file"], edit["old"], edit["new"], spec)
                for extra in meta.get("file", []):
                    (target / extra["path"]).parent.mkdir(parents=True, exist_ok=True)
                    (target / extra["path"]).write_text(extra["text"])
            elif spec.is_dir():
                shutil.copytree(spec, target, ignore=shutil.ignore_patterns("__pycache__", "example.toml"))
                meta = tomllib.loads((spec / "example.toml").read_text()) if (spec / "example.toml").exists() else {}
                for name in meta.get("stubs", []):  # the generated stub itself, so it never goes stale here
                    shutil.copy(STUBS / assignment / name, target / name)
            else:
                continue
            examples.append(
                Example(
                    assignment,
                    kind,
                    spec.stem,
                    target,
                    meta.get("description", ""),
                    list(meta.get("failing", [])),
                    meta.get("mistake", ""),
                )
            )
    return examples


def _apply(path: Path, old: str, new: str, spec: Path) -> None:
    text = path.read_text()
    if text.count(old) != 1:
        raise ValueError(f"{spec.name}: the text to replace occurs {text.count(old)} times in {path.name}, not once")
    path.write_text(text.replace(old, new))
