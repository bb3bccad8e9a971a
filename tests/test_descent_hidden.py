"""The descent assignment's hidden variants (reference/descent/variants): loops written to fit
the public run pass the self-check and lose points in the official grade, and the hidden runs
catch every mistake the public runs catch.

In this process, as tests/test_descent.py does: the official checks are the public checks
guarded by their hidden variants (grader/variants.py), their probes run the public inputs and
then the hidden ones. The numbers the messages must show come from plain PyTorch runs
(test_descent.plain_run), not from the grader.
"""

from __future__ import annotations

import functools
import json
import math

import pytest

import reference.descent.variants as V
from conftest import ROOT
from grader.assignments.descent import checks as C
from grader.variants import ONLY_OFFICIAL
from test_descent import (
    DESCENT, EXPECTED_FAILURES, MISTAKES, REFERENCE, _module, example_dir, expected_got, load_module, meta, plain_run,
    probe_values, resolver,
)

RETURNS, UPDATES, TRAIN, VALID, PARAMS = (
    "returns two lists of floats",
    "updates per epoch",
    "training losses match the reference",
    "validation losses match the reference",
    "final parameters match the reference",
)
PER_EPOCH = {"train_batch_gd": 1, "train_sgd": 80, "train_minibatch_sgd": 5}  # ceil(80 / batch size)


def stored_losses() -> dict:
    """The public run's losses of each loop, as a students' copy stores them (expected.json)."""
    stored = json.loads((ROOT / "grader" / "assignments" / "descent" / "expected.json").read_text())
    return {
        entry["args"]["loop"]: (entry["value"]["returned"]["train"]["values"], entry["value"]["returned"]["valid"]["values"])
        for entry in stored.values() if entry["function"] == "train_loop"
    }


def fitted(body: str):
    """The reference's loops, each wrapped as ``train`` with ``body`` (it may call ``loop``, the
    reference's, and read STORED, the public run's losses)."""
    source = REFERENCE.read_text() + (
        f"\n\nSTORED = {stored_losses()!r}\n\n\n"
        "def _fitted(loop):\n"
        "    def train(model, criterion, optimizer, train_loader, valid_loader, num_epochs):\n"
        + "".join(f"        {line}\n" for line in body.strip().splitlines())
        + "    return train\n\n\n"
        "train_batch_gd, train_sgd, train_minibatch_sgd = map(_fitted, (train_batch_gd, train_sgd, train_minibatch_sgd))\n"
    )
    return _module(source)


FITTED = {
    # Trains as it should, then returns the public run's losses.
    "stored": "loop(model, criterion, optimizer, train_loader, valid_loader, num_epochs)\n"
    "return list(STORED[loop.__name__][0]), list(STORED[loop.__name__][1])",
    # The same, cut to the lengths asked for: right wherever the run asked for is a prefix of the public one.
    "prefix": "loop(model, criterion, optimizer, train_loader, valid_loader, num_epochs)\n"
    "train, valid = STORED[loop.__name__]\n"
    "return train[:num_epochs * len(train_loader)], valid[:num_epochs]",
    # Right for num_epochs == 5 only.
    "five epochs": "return loop(model, criterion, optimizer, train_loader, valid_loader, 5)",
}
# What each loses, loop -> checks: only what the public answers cannot give. A stored answer has
# the public run's lengths and numbers; a prefix has the right lengths (batch GD's hidden run is
# longer than the public one) but the public order's numbers; five epochs are the wrong number.
TRAJECTORY = {TRAIN, VALID}
LOST = {
    "stored": {loop: {RETURNS} | TRAJECTORY for loop in C.LOOPS},
    "prefix": {"train_batch_gd": {RETURNS} | TRAJECTORY, "train_sgd": TRAJECTORY, "train_minibatch_sgd": TRAJECTORY},
    "five epochs": {loop: {RETURNS, UPDATES, TRAIN, VALID, PARAMS} for loop in C.LOOPS},
}


@functools.cache
def official_reference() -> dict:
    return probe_values(resolver(load_module(REFERENCE)), DESCENT.checks())


def official_verdicts(module) -> dict:
    checks = DESCENT.checks()
    values, reference = probe_values(resolver(module), checks), official_reference()
    return {check.name: check.judge(values[check.probe.key], reference[check.probe.key]) for check in checks}


def public_verdicts(module) -> dict:
    reference = probe_values(resolver(load_module(REFERENCE)))
    values = probe_values(resolver(module))
    return {check.name: check.judge(values[check.probe.key], reference[check.probe.key]) for check in C.checks()}


@functools.cache
def fitted_verdicts(name: str) -> tuple[dict, dict]:
    module = fitted(FITTED[name])
    return public_verdicts(module), official_verdicts(module)


def test_the_official_grade_guards_every_check_with_a_hidden_run():
    official = DESCENT.checks()
    assert [c.name for c in official] == [c.name for c in C.checks()] and {c.name for c in V.checks()} == {c.name for c in official}
    for check in official:
        assert check.probe.function == "guarded" and check.probe.args["public"] != check.probe.args["variant"], check.name


@pytest.mark.parametrize("name", FITTED)
def test_a_loop_fitted_to_the_public_run_passes_the_self_check_and_loses_the_hidden_checks(name):
    public, official = fitted_verdicts(name)
    assert all(v.passed for v in public.values()), {k: v.message for k, v in public.items() if not v.passed}
    lost = {check for check, verdict in official.items() if not verdict.passed}
    assert lost == {f"{loop}: {check}" for loop, checks in LOST[name].items() for check in checks}
    assert all(official[check].message.startswith(ONLY_OFFICIAL) for check in lost)


def test_stored_losses_are_too_many_for_the_shorter_hidden_runs_and_too_few_for_batch_gds_longer_one():
    official = fitted_verdicts("stored")[1]
    for loop in C.LOOPS:
        epochs = V.BATCH_GD_EPOCHS if loop == "train_batch_gd" else V.RESHUFFLED_EPOCHS
        message = official[f"{loop}: {TRAIN}"].message
        assert f"{epochs} epochs" in message
        assert f"expected {epochs * PER_EPOCH[loop]} training losses (one per update), got {5 * PER_EPOCH[loop]}." in message


@pytest.mark.parametrize("loop", ["train_sgd", "train_minibatch_sgd"])
def test_a_prefix_of_the_stored_losses_is_wrong_from_the_first_update_of_the_reshuffled_run(loop):
    """The hidden run trains on another order, so its first loss is another batch's: both numbers
    of the message come from plain PyTorch runs, the public one's and the hidden one's."""
    reference = getattr(load_module(REFERENCE), loop)
    hidden = plain_run(reference, loop, V.RESHUFFLED_EPOCHS, V.RESHUFFLED_LOADER_SEED)[0]
    public = plain_run(reference, loop)[0]
    message = fitted_verdicts("prefix")[1][f"{loop}: {TRAIN}"].message
    assert f"train_loader shuffling with torch.Generator().manual_seed({V.RESHUFFLED_LOADER_SEED})" in message
    assert f"at {len(hidden)} of {len(hidden)} updates" in message
    expected, got = expected_got(message, "update 1 (epoch 1, batch 1)")
    assert math.isclose(expected, hidden[0], rel_tol=3e-6) and math.isclose(got, public[0], rel_tol=3e-6)
    assert not math.isclose(hidden[0], public[0], rel_tol=1e-3)


def test_a_loop_written_for_five_epochs_is_told_the_hidden_number():
    official = fitted_verdicts("five epochs")[1]
    for loop in C.LOOPS:
        epochs = V.BATCH_GD_EPOCHS if loop == "train_batch_gd" else V.RESHUFFLED_EPOCHS
        verdict = official[f"{loop}: {UPDATES}"]
        assert f"{epochs * PER_EPOCH[loop]} in {epochs} epochs; got {5 * PER_EPOCH[loop]} optimizer step(s)" in verdict.message
        assert verdict.mistake == ("extra_epoch" if epochs < 5 else "missing_epoch")


@functools.cache
def hidden_reference() -> dict:
    return probe_values(resolver(load_module(REFERENCE)), V.checks())


@pytest.mark.parametrize("name", MISTAKES)
def test_the_hidden_runs_catch_every_mistake_the_public_runs_catch(name):
    """A loop that is right for the public inputs only is wrong on the hidden ones however it is
    wrong: each example mistake fails exactly the same checks on the hidden inputs alone, and is
    recognised as the same mistake."""
    values = probe_values(resolver(load_module(example_dir("mistakes", name) / "descent.py")), V.checks())
    results = {c.name: c.judge(values[c.probe.key], hidden_reference()[c.probe.key]) for c in V.checks()}
    lost = {check for check, verdict in results.items() if not verdict.passed}
    assert lost == {f"{function}: {check}" for check, functions in EXPECTED_FAILURES[name].items() for function in functions}
    assert all(results[check].mistake == meta("mistakes", name)["mistake"] for check in lost)


def test_the_hidden_runs_pass_the_reference():
    results = {c.name: c.judge(hidden_reference()[c.probe.key], hidden_reference()[c.probe.key]) for c in V.checks()}
    assert all(v.passed for v in results.values()), {k: v.message for k, v in results.items() if not v.passed}
