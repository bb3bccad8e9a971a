"""What GitHub Classroom's grading reporter receives from a grade.

The exported workflow (grader/platforms/classroom.py) grades once, then has one
``autograding-command-grader`` step per check, worth that check's points, whose command
(``python -m grader verdict``) exits 0 only when the check earned all of them. Each step
hands the reporter a base64 JSON ``result``; the reporter reads it from the environment
variable ``<STEP ID>_RESULTS`` for every id in its ``runners`` input.

Why one step per check: the reporter's table shows each runner as
(passed tests / tests) x max_score, while Classroom records the sum of ``tests[].score``
over the sum of ``max_score``. Checks carry different points (2, 3, 4), so the two agree
with the real points only when every runner holds exactly one check. A check is all or
nothing, so a step per check loses nothing.

Everything here is plain data, so ``check`` can say what Classroom will record and the
tests can decode exactly what the reporter would get.
"""

from __future__ import annotations

import base64
import json
import re

from grader.outputs.gradescope import graded_tests

VERSION = 1  # the command grader's result format version
FAILED_MESSAGE = "failed with exit code 1"  # what the command grader says for any non-zero exit


def step_id(number: int) -> str:
    """A workflow step id for check ``number``: unique, a valid Actions id, and short enough
    for the reporter's table, whose 20-wide first column cuts longer ids; the reporter
    prints each check's full name above that table."""
    return f"check-{number:02d}"


def results_variable(runner: str) -> str:
    """The environment variable the reporter reads a runner's result from."""
    return f"{runner.strip().upper()}_RESULTS"


def earned_full_points(test: dict) -> bool:
    """The one rule every channel shares: a check's step passes only with all its points."""
    return test["score"] >= test["max_score"]


def command_grader_result(test_name: str, command: str, exit_code: int, max_score: int, duration_ms: int = 0) -> dict:
    """The ``result`` of one ``autograding-command-grader@v1`` step, before base64:
    all ``max_score`` points when ``command`` exits 0, none otherwise."""
    status = "pass" if exit_code == 0 else "fail"
    return {
        "version": VERSION,
        "status": status,
        "max_score": max_score,
        "tests": [
            {
                "name": test_name,
                "status": status,
                "score": max_score if status == "pass" else 0,
                "message": "" if status == "pass" else FAILED_MESSAGE,
                "test_code": command,
                "filename": "",
                "line_no": 0,
                "duration": duration_ms,
            }
        ],
    }


def step_results(results: dict) -> dict[str, dict]:
    """Step id -> the result each per-check step produces, from a grade's results.json data
    (grader.outputs.gradescope.results)."""
    return {
        step_id(number): command_grader_result(
            test["name"], "", 0 if earned_full_points(test) else 1, int(test["max_score"])
        )
        for number, test in enumerate(graded_tests(results), start=1)
    }


def encode(result: dict) -> str:
    return base64.b64encode(json.dumps(result, separators=(",", ":")).encode("utf-8")).decode("ascii")


def decode(text: str) -> dict:
    return json.loads(base64.b64decode(text).decode("utf-8"))


def reporter_environment(results_by_step: dict[str, dict]) -> dict[str, str]:
    """The environment the reporter step sees: one base64 result per runner."""
    return {results_variable(step): encode(result) for step, result in results_by_step.items()}


def reporter_input(environment: dict[str, str], runners: str) -> list[tuple[str, dict]]:
    """(runner, decoded result) for each id in the reporter's ``runners`` input, read the way the reporter reads them."""
    return [(runner.strip(), decode(environment[results_variable(runner)])) for runner in runners.split(",")]


def recorded_points(runner_results: list[tuple[str, dict]]) -> tuple[float, float]:
    """(points, max points) as the reporter sends them to Classroom: the sum of every
    test's score over the sum of every runner's max_score (runners worth 0 are skipped)."""
    points = sum(t["score"] for _, r in runner_results if r.get("max_score") for t in r["tests"])
    maximum = sum(r["max_score"] for _, r in runner_results if r.get("max_score"))
    return points, maximum


def table_rows(runner_results: list[tuple[str, dict]]) -> list[tuple[str, float, float]]:
    """(runner, shown score, max score): the reporter's console table, which scores a
    runner by its share of passed tests, not by the tests' own scores."""
    rows = []
    for runner, result in runner_results:
        tests = result["tests"]
        passed = sum(1 for t in tests if t["status"] == "pass")
        rows.append((runner, passed / len(tests) * (result.get("max_score") or 1), result.get("max_score") or 0))
    return rows
