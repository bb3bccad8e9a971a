"""The official grade's checks as pytest tests, one per check, each with its points.

Enabled by an exported template's conftest.py (``pytest_plugins = ["grader.pytest_plugin"]``),
never through an entry point: that would load it into every pytest session on the machine.
pytest collects the template's ``.grader.toml`` into one test per check; the first test
to run grades the folder (once per session, exactly as ``python -m grader check`` does)
and every test then reports its check's verdict and points from that one grade.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.outputs.notes import for_students
from grader.outputs.text import plain
from grader.platforms import local
from grader.scoring import CheckResult, GradeReport

_GRADE = pytest.StashKey[tuple[GradeReport, Path]]()


class CheckFailed(Exception):
    def __init__(self, result: CheckResult):
        super().__init__(result.name)
        self.result = result


def pytest_collect_file(file_path: Path, parent):
    if file_path.name == local.CONFIG_NAME:
        return GradingFile.from_parent(parent, path=file_path)
    return None


class GradingFile(pytest.File):
    """The .grader.toml of a template: its assignment's checks become the tests."""

    def collect(self):
        config = local.read_config(self.path)
        for check in local.load_assignment(config).checks():
            yield CheckItem.from_parent(self, name=check.name, points=check.points)


class CheckItem(pytest.Item):
    def __init__(self, *, points: float, **kwargs):
        super().__init__(**kwargs)
        self.points = points

    def runtest(self) -> None:
        report, _ = graded(self.config, self.path)
        result = next((r for r in report.results if r.name == self.name), None)
        if result is None:
            raise LookupError(f"the grade has no check named {self.name!r}")
        self.user_properties += [("points", result.score), ("max_points", result.max_score)]
        if result.status == "failed":
            raise CheckFailed(result)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CheckFailed):
            result = excinfo.value.result
            return f"{result.score:g} / {result.max_score:g} points\n{result.output}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.name} [{self.points:g} points]"


def graded(config: pytest.Config, config_path: Path) -> tuple[GradeReport, Path]:
    """The session's one grade of the folder holding ``config_path``."""
    if _GRADE not in config.stash:
        config.stash[_GRADE] = local.grade_locally(local.read_config(config_path))
    return config.stash[_GRADE]


def pytest_report_teststatus(report, config):
    """Show each check's points next to its verdict (`pytest -v`)."""
    points = dict(report.user_properties)
    if report.when != "call" or "max_points" not in points:
        return None
    earned = f"{points['points']:g}/{points['max_points']:g} points"
    if report.passed:
        return "passed", ".", (f"PASSED ({earned})", {"green": True})
    return "failed", "F", (f"FAILED ({earned})", {"red": True})


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _GRADE not in config.stash:
        return
    report, output_dir = config.stash[_GRADE]
    terminalreporter.section("grade")
    terminalreporter.write_line(f"{report.assignment}: {report.score:g} / {report.max_score:g} points")
    for note in for_students(report.notes):  # the sandbox's notes are for the instructor
        terminalreporter.write_line(f"Note: {plain(note)}")
    terminalreporter.write_line(f"Report: {output_dir / 'report.html'}")
    path = local.find_config(output_dir.parent)
    warning = local.version_warning(local.read_config(path)) if path else ""
    if warning:
        terminalreporter.write_line(f"Warning: {warning}", yellow=True)
