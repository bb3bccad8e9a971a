"""Scoring: turn a check, the student's outcome and the reference's outcome into points.

Runs in the grading process only, on plain data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from grader import judging
from grader.plugin import Check, Outcome, Verdict, function_of

MAX_PRINTED = 1500  # characters of the student's own output shown under a failed check
MAX_JUDGE_ERROR = 300  # characters of a judge's error, which may quote the student's data
MACHINE_BUSY = "the machine was too busy to run it in time (or the code waits for something, such as input() or time.sleep); try again"


@dataclass
class CheckResult:
    name: str
    max_score: float
    score: float
    output: str  # what the student reads: what was checked, expected against got, hint
    hint: str = ""
    mistake: str = ""  # a known mistake's key, for class statistics
    ungraded: bool = False  # the machine, not the student, failed: no verdict, to be tried again
    seconds: float = 0.0  # its share of its probe's CPU time, plus judging it (JUnit's time)

    @property
    def status(self) -> Literal["passed", "failed"]:
        return "passed" if self.score >= self.max_score else "failed"

    @property
    def function(self) -> str:
        """The student function this check grades."""
        return function_of(self.name)


@dataclass
class GradeReport:
    assignment: str
    submission: str
    results: list[CheckResult]
    execution_time: float = 0.0
    problem: str = ""  # why the submission could not be graded at all
    notes: list[str] = field(default_factory=list)
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # the student's probe data, by probe key
    reference: dict[str, Outcome] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(r.score for r in self.results), 6)

    @property
    def ungraded(self) -> bool:
        """Some check could not be graded for the machine's sake: this grade is not final."""
        return any(r.ungraded for r in self.results)

    @property
    def max_score(self) -> float:
        return round(sum(r.max_score for r in self.results), 6)


def score_check(check: Check, student: Outcome, reference: Outcome, sharing: int = 1) -> CheckResult:
    """``sharing``: how many checks judge the same probe run (its time is split among them)."""
    started = time.perf_counter()
    result = _score(check, student, reference)
    result.seconds = round(student.seconds / max(sharing, 1) + time.perf_counter() - started, 4)
    return result


def _score(check: Check, student: Outcome, reference: Outcome) -> CheckResult:
    if not reference.ok:
        # The reference must pass every probe; if it does not, no student loses a point for it.
        raise RuntimeError(f"grader bug: the reference fails probe {check.probe.key}: {reference.error}")
    if student.status == "ungraded":
        return CheckResult(check.name, check.points, 0.0, f"{check.function} {student.error}", ungraded=True)
    if not student.ok:
        verdict = Verdict(False, explain_failure(check, student))
    else:
        try:
            verdict = judging.run_limited(check.judge, student.value, reference.value)
        except judging.Starved as error:
            return CheckResult(check.name, check.points, 0.0, f"Not graded: {error}, so the machine was too busy; try again", ungraded=True)
        except (Exception, judging.Overrun) as error:  # hostile or malformed data: a failure, never a crash
            reason = f"{type(error).__name__}: {error}"[:MAX_JUDGE_ERROR]
            verdict = Verdict(False, f"{check.name}: the answer could not be judged ({reason})")
    output = verdict.message
    if verdict.hint:
        output += f"\nHint: {verdict.hint}"
    if not verdict.passed and student.output.strip():
        printed = student.output.strip()
        output += "\nYour code printed:\n" + (printed[:MAX_PRINTED] + (" ..." if len(printed) > MAX_PRINTED else ""))
    return CheckResult(
        name=check.name,
        max_score=check.points,
        score=check.points if verdict.passed else 0.0,
        output=output.strip(),
        hint=verdict.hint,
        mistake=verdict.mistake,
    )


def explain_failure(check: Check, outcome: Outcome) -> str:
    function = check.function
    if outcome.status == "error" and outcome.error.startswith("NotImplementedError"):
        return f"{function} is not implemented yet (it raises NotImplementedError)."
    if outcome.status == "load_error":
        text = f"{function} could not be checked: {outcome.error}"
    elif outcome.status == "timeout":
        text = f"{function} {outcome.error}"
    elif outcome.status == "crashed":
        text = f"{function} could not be checked: {outcome.error}"
    else:
        text = f"{function} raised {outcome.error}"
    if outcome.traceback:
        text += f"\nWhere (most recent call last):\n{outcome.traceback}"
    return text


def unreadable(check: Check, reason: str) -> CheckResult:
    return CheckResult(check.name, check.points, 0.0, f"Not graded: {reason}")
