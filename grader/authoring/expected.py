"""The reference's answers to the public probes, stored as data for the students' copy.

The students' copy of the grader has no reference solutions, so its checks judge against
PyTorch and against these stored answers (``grader/assignments/<name>/expected.json``).
`assign` writes the file next to the stubs and `assign --check` fails when it is stale.
Only the public probes are stored: the hidden variants' inputs never leave the
instructor's grader.
"""

from __future__ import annotations

import json
import math

from grader.plugin import Assignment, Probe, resolve_entry


def public_probes(assignment: Assignment) -> list[Probe]:
    """The probes of the public checks (never their hidden variants), once each."""
    return list({check.probe.key: check.probe for check in resolve_entry(assignment.checks_from)()}.values())


def record(probe: Probe, value) -> dict:
    """What is stored for one probe: the call (so a changed probe cannot meet a stale answer) and the answer."""
    return {"function": probe.function, "args": json.loads(json.dumps(probe.args)), "value": value}


def expected_text(assignment: Assignment) -> str:
    """expected.json's content: one probe per line, so a change shows as a small diff."""
    from grader.grade import reference_outcomes  # the very function the official grade uses

    probes = public_probes(assignment)
    outcomes = reference_outcomes(assignment, probes)
    lines = [f"{json.dumps(p.key)}: {json.dumps(record(p, outcomes[p.key].value), sort_keys=True)}" for p in probes]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def same_answers(stored, computed, rel_tol: float = 1e-4) -> bool:
    """The same answers, numbers equal to ``rel_tol``: float32 results differ in their last
    digits between CPUs (vector instructions sum in another order), and a few hundred SGD
    steps carry that to about 2e-5 of a small loss, within every check's tolerance; a
    changed probe (another seed, epoch count or input) moves them far more. Anything else
    (a key, a length, a type, a string) must be equal."""
    if isinstance(stored, float) or isinstance(computed, float):
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (stored, computed))
        return numbers and math.isclose(stored, computed, rel_tol=rel_tol, abs_tol=1e-9)
    if isinstance(stored, dict) and isinstance(computed, dict):
        return stored.keys() == computed.keys() and all(same_answers(stored[k], computed[k], rel_tol) for k in stored)
    if isinstance(stored, list) and isinstance(computed, list):
        return len(stored) == len(computed) and all(same_answers(a, b, rel_tol) for a, b in zip(stored, computed))
    return type(stored) is type(computed) and stored == computed
