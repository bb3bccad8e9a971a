"""Student stubs are generated from the reference: one source of truth."""

from __future__ import annotations

import pytest

from conftest import run_grader
from grader import assignments
from grader.authoring.expected import same_answers
from grader.authoring.stubs import MarkerError, stale, stub_source

SOURCE = '''class Grid:
    def mean(self):
        """Explain the mean."""
        # BEGIN SOLUTION
        return 1.0
        # END SOLUTION

    def keep(self):
        return 2.0
'''


def test_marked_body_becomes_not_implemented_and_the_rest_stays():
    stub = stub_source(SOURCE)
    assert 'raise NotImplementedError("Grid.mean is not implemented yet")' in stub
    assert '"""Explain the mean."""' in stub and "return 2.0" in stub
    assert "return 1.0" not in stub and "SOLUTION" not in stub
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError, match="Grid.mean"):
        namespace["Grid"]().mean()


@pytest.mark.parametrize(
    "broken, problem",
    [
        (SOURCE.replace("        # END SOLUTION\n", ""), "never closed"),
        (SOURCE.replace("        # BEGIN SOLUTION\n", ""), "without"),
        ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "outside a function"),
    ],
)
def test_unbalanced_or_misplaced_markers_are_errors(broken, problem):
    with pytest.raises(MarkerError, match=problem):
        stub_source(broken)


@pytest.mark.parametrize("name", assignments.names())
def test_committed_stubs_match_what_assign_generates(name):
    assert stale(assignments.get(name)) == [], "run `python -m grader assign` and commit the result"


def test_assign_check_exits_zero_when_up_to_date():
    done = run_grader("assign", "--check")
    assert done.returncode == 0, done.stdout + done.stderr


STORED = {"probe": {"args": {"seed": 3}, "value": {"losses": [0.42185503244400024, 0.00014879486116115004], "n": 80, "kind": "t"}}}


@pytest.mark.parametrize(
    "computed, current",
    [
        # float32 on another CPU: the two numbers as this machine and another computed them
        ({"probe": {"args": {"seed": 3}, "value": {"losses": [0.42185503244400024, 0.0001487977715441957], "n": 80, "kind": "t"}}}, True),
        ({"probe": {"args": {"seed": 3}, "value": {"losses": [0.4222, 0.00014879486116115004], "n": 80, "kind": "t"}}}, False),  # 1e-3 off
        ({"probe": {"args": {"seed": 4}, "value": {"losses": [0.42185503244400024, 0.00014879486116115004], "n": 80, "kind": "t"}}}, False),
        ({"probe": {"args": {"seed": 3}, "value": {"losses": [0.42185503244400024], "n": 80, "kind": "t"}}}, False),
        ({"probe": {"args": {"seed": 3}, "value": {"losses": [0.42185503244400024, 0.00014879486116115004], "n": 81, "kind": "t"}}}, False),
        ({"probe": {"args": {"seed": 3}, "value": {"losses": [0.42185503244400024, 0.00014879486116115004], "n": 80, "kind": "v"}}}, False),
        ({"probe": {"args": {"seed": 3}, "value": {"losses": [0.42185503244400024, None], "n": 80, "kind": "t"}}}, False),
        ({"probe": {"args": {"seed": 3}, "value": {"losses": [0.42185503244400024, 0.00014879486116115004], "n": True, "kind": "t"}}}, False),
        ({"probe": {"args": {"seed": 3}, "value": {"losses": [0.42185503244400024, 0.00014879486116115004], "n": 80}}}, False),
    ],
)
def test_stored_answers_are_current_up_to_float32_digits_and_no_further(computed, current):
    assert same_answers(STORED, computed) is current
