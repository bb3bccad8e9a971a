"""The student's self-check: grade their working copy exactly as the official grade does.

An exported template records its assignment and grader in ``.grader.toml``; ``check`` and
the pytest plugin read it, grade the folder holding it (the same folder the Classroom
workflow grades) and leave results.json and an HTML report in ``.grading/``.
"""

from __future__ import annotations

import contextlib
import json
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from grader import __version__, assignments
from grader.grade import grade, start
from grader.outputs import gradescope, html
from grader.plugin import Assignment
from grader.sandbox import isolation
from grader.scoring import GradeReport
from grader.submission.files import UnsafeFile
from grader.submission.selection import select

CONFIG_NAME = ".grader.toml"
OUTPUT_DIR = ".grading"  # starts with a dot: the submission loader never reads it back


class ConfigError(ValueError):
    """No assignment could be found for a folder; the message says what to do."""


@dataclass(frozen=True)
class LocalConfig:
    root: Path  # the folder that is graded
    assignment: str
    grader: str = ""  # the pinned requirement the official grade installs
    version: str = ""  # that grader's version


def render_config(assignment: str, requirement: str) -> str:
    return (
        "# Written by `python -m grader export`. The official grade ignores this file;\n"
        "# `python -m grader check` and `pytest` read it to grade this folder the same way.\n"
        f"assignment = {json.dumps(assignment)}\n"
        f"grader = {json.dumps(requirement)}\n"
        f"version = {json.dumps(__version__)}\n"
    )


def find_config(start: Path) -> Path | None:
    """The nearest .grader.toml in ``start`` or a folder above it."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME
    return None


def read_config(path: Path) -> LocalConfig:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path} is not readable: {error}") from None
    if not isinstance(data.get("assignment"), str):
        raise ConfigError(f"{path} does not name an assignment (assignment = \"...\")")
    return LocalConfig(Path(path).resolve().parent, data["assignment"], str(data.get("grader", "")), str(data.get("version", "")))


def detect_assignment(folder: Path) -> str:
    """The one assignment all of whose files the loader finds in ``folder`` (for folders without a config)."""
    matches = [name for name in assignments.names() if _has_all_files(assignments.get(name), Path(folder))]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(assignments.names())
    if not matches:
        raise ConfigError(f"no {CONFIG_NAME} here and no assignment's files found in {folder}; pass --assignment ({known})")
    raise ConfigError(f"the files in {folder} fit several assignments ({', '.join(matches)}); pass --assignment")


def _has_all_files(assignment: Assignment, folder: Path) -> bool:
    try:
        return set(select(assignment, folder).modules) == set(assignment.modules.values())
    except UnsafeFile as error:
        raise ConfigError(f"{folder} cannot be graded: {error}") from None


def resolve(folder: Path, assignment: str | None = None) -> LocalConfig:
    """What to grade for ``folder``: its .grader.toml, else the named or detected assignment."""
    path = find_config(folder)
    config = read_config(path) if path else None
    if config is not None:
        return replace(config, assignment=assignment) if assignment else config
    if assignment is not None:
        return LocalConfig(Path(folder).resolve(), assignment)
    return LocalConfig(Path(folder).resolve(), detect_assignment(Path(folder)))


def load_assignment(config: LocalConfig) -> Assignment:
    with _named_in_config(config):
        return assignments.get(config.assignment)


@contextlib.contextmanager
def _named_in_config(config: LocalConfig):
    """An unknown assignment is a ConfigError: the config file names one this grader lacks."""
    try:
        yield
    except ValueError as error:
        raise ConfigError(f"{error} (is the grader that {CONFIG_NAME} names installed?)") from None


def version_warning(config: LocalConfig) -> str:
    """A warning when this grader is not the version the official grade uses, else ''."""
    if not config.version or config.version == __version__:
        return ""
    return (
        f"This is grader {__version__}, but your course grades with {config.version}; points may differ. "
        f'Install the course\'s grader: pip install "{config.grader}"'
    )


def grade_locally(config: LocalConfig, output_dir: Path | None = None) -> tuple[GradeReport, Path]:
    """Grade ``config.root`` and write results.json and report.html; returns (report, output folder)."""
    output_dir = Path(output_dir) if output_dir else config.root / OUTPUT_DIR
    isolation.advisory()  # a self-check: a weaker sandbox is reported, not refused
    with _named_in_config(config):
        assignment, child = start(config.assignment)
    report = grade(assignment, config.root, artifacts_dir=output_dir / "plots", child=child)
    gradescope.write(report, output_dir / "results.json")
    html.write(report, output_dir / "report.html")
    return report, output_dir
