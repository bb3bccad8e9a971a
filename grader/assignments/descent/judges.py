"""The judges of one training loop: each reads the student's run and the reference's
(both decoded and diagnosed by ``diagnosis``) and explains a failure by its known mistake.

``judge_run`` wraps them all: an answer that is malformed or contradicts itself fails,
unscored, and a loop that only returns another graded loop's answer keeps a check that
the other loop's own mistake fails (the mistake is charged to that loop).
"""

from __future__ import annotations

from typing import Any, Callable

from grader.assignments.descent import answers
from grader.assignments.descent.diagnosis import analyse, analysed, explained
from grader.assignments.descent.events import LOOPS, Run, returned_lists
from grader.assignments.descent.mistakes import GRADIENTS, RETURNS, TRAJECTORY, UPDATES, VALIDATION, explaining, failing
from grader.assignments.descent.tolerances import all_close, close, first_difference, fmt, number, some
from grader.plugin import Verdict, failed, passed

RunJudge = Callable[[Run, Run], Verdict]  # (the student's run, the reference's run) -> verdict


def judge_run(judge: RunJudge, value: Any, reference: dict, epochs: int, loader_seed: int) -> Verdict:
    """``judge`` on a loop probe's answer and the reference's, runs of ``epochs`` epochs on a
    training loader shuffling with ``loader_seed``."""
    try:
        verdict = judge(analyse(value, reference, epochs, loader_seed), analyse(reference, reference, epochs, loader_seed))
        return charging_the_callee(verdict, value, reference, epochs)
    except answers.Inconsistent as error:
        loop = reference["setup"]["loop"]
        return failing(
            f"{loop}: the sandbox's report is inconsistent ({error}), so it is rejected and this check is "
            f"not scored. Student code must not change the grader's instruments (the model's, optimizer's "
            f"and loaders' trace).",
            "inconsistent_report",
        )


def charging_the_callee(verdict: Verdict, value: Any, reference: dict, epochs: int) -> Verdict:
    """A loop's verdict that leaves a failure to the loop it comes from.

    A loop that only hands its arguments to another graded loop and returns that loop's
    answer (``return train_sgd(model, ...)``) runs the other loop's code. If the other
    loop, run on its own fixtures, shows the very mistake this check found, the mistake
    is that loop's: it loses its own points for it, and this one keeps them.
    """
    if verdict.passed or not isinstance(value, dict):
        return verdict
    callee = value.get("delegated_to")
    loop = reference["setup"]["loop"]
    if callee not in LOOPS or callee == loop:
        return _with_calls_noted(verdict, loop, value.get("calls"))
    try:
        own = analysed(value.get("callee_run"), answers.expected_setup(callee, epochs))
    except answers.Inconsistent:
        return verdict
    if verdict.mistake in own.diagnosis:
        return passed(
            f"{loop} hands all its work to your {callee} (the same arguments, its answer returned as is), "
            f"so the mistake found here is in {callee}, and is charged to {callee}'s checks:\n{verdict.message}"
        )
    note = f"(Your {loop} hands all its work to your {callee}: this run is {callee}'s code on {loop}'s loader.)"
    return Verdict(False, f"{verdict.message}\n{note}", verdict.hint, verdict.mistake)


def _with_calls_noted(verdict: Verdict, loop: str, calls: Any) -> Verdict:
    """A failure that says which of the student's other graded functions the loop called, where the cause may be."""
    called = [name for name in ("make_loaders", *LOOPS) if name != loop and isinstance(calls, list) and name in calls]
    if not called:
        return verdict
    names = " and ".join(f"your {name}" for name in called)
    note = f"(Your {loop} calls {names}: the cause may be there"
    note += ", and a loop should train on the loaders it is given.)" if "make_loaders" in called else ".)"
    return Verdict(False, f"{verdict.message}\n{note}", verdict.hint, verdict.mistake)


def judge_returns(run: Run, ref: Run) -> Verdict:
    r = run.returned
    if "not_two_lists" in run.diagnosis:
        return explained(run, f"{run.context} must return (train_losses, valid_losses), two lists.", {"not_two_lists"}, "not_two_lists")
    for key in ("tensors_not_floats", "not_python_floats"):
        if key in run.diagnosis:
            return explained(run, f"{run.context} must return lists of Python floats.", {key}, key)
    ref_train, ref_valid = returned_lists(ref)
    got = (r["train"]["length"], r["valid"]["length"])
    want = (len(ref_train), len(ref_valid))
    if got != want:
        return explained(
            run,
            f"{run.context}: expected {want[0]} training losses (one per update) and {want[1]} validation "
            f"losses (one per epoch); got {got[0]} and {got[1]}.",
            explaining(RETURNS),
            "wrong_update_count" if run.steps != run.expected_updates else "wrong_lengths",
        )
    if "lists_swapped" in run.diagnosis:
        return explained(run, f"{run.context}: the two returned lists are in the wrong order.", {"lists_swapped"}, "lists_swapped")
    return passed(f"{run.context} returns {want[0]} training and {want[1]} validation losses as Python floats.")


def judge_updates(run: Run, ref: Run) -> Verdict:
    U, E = run.per_epoch, run.epochs
    if run.truncated:
        return explained(run, f"{run.context}: the loop did far more work than {E} epochs need.", explaining(UPDATES), "too_much_work")
    passes = run.training_passes
    # An update with no driver (no backward since the previous one) is the gradient check's business.
    drivers = [u.driver for u in run.updates if u.driver is not None]
    drivers_ok = all(d.training for d in drivers)
    if U == 1:  # batch GD: its one batch may be fetched once or every epoch, or be the whole dataset
        structure_ok = all(d.kind in ("t", "A") for d in drivers)
    else:
        structure_ok = len(passes) == E and all(n == U for n in passes) and all(d.kind == "t" for d in drivers)
    if run.steps == E * U and run.external == 0 and drivers_ok and structure_ok:
        return passed(f"{run.context} made {U} update(s) per epoch for {E} epochs with the optimizer passed in.")
    message = (
        f"{run.context}: expected {U} optimizer step(s) per epoch (one per batch of {run.batch_size}), "
        f"{E * U} in {E} epochs; got {run.steps} optimizer step(s)"
        + (f" and {run.external} other parameter change(s)" if run.external else "")
        + (f", in {len(passes)} pass(es) over train_loader making {some(passes)} updates" if passes else "")
        + "."
    )
    return explained(run, message, explaining(UPDATES), "wrong_update_count")


def judge_gradients(run: Run, ref: Run) -> Verdict:
    if not run.updates:
        return explained(run, f"{run.context}: no update was made, so no gradient was used.", explaining(GRADIENTS) | {"own_optimizer"}, "no_update")
    bad = [
        i for i, u in enumerate(run.updates)
        if u.pending or not u.clean or u.driver is None or (u.via_step and (u.status != "fresh" or not u.criterion))
    ]
    if not bad:
        return passed(f"{run.context}: each of the {len(run.updates)} updates used exactly the gradient of its own batch.")
    u = run.updates[bad[0]]
    what = {
        "none": "no gradient at all (.grad was None)",
        "zero": "an all-zero gradient",
        "stale": "the gradient of an earlier batch (no backward since the previous step)",
        "accumulated": "its batch's gradient plus gradients left over from before",
        "fresh": "its batch's gradient, but the backward started from leftover gradients",
        "": "gradients left over from before" if not u.clean else "no gradient of its batch",
    }[u.status]
    if u.via_step and u.status == "fresh" and u.clean and u.driver is not None and not u.criterion:
        what = "the gradient of a loss other than `criterion(model(X), y)` on its batch"
    if not run.backwards:
        what = "no gradient at all: no backward pass ran in the whole run"
    elif u.pending:
        what = {
            "none": "no gradient at all: optimizer.step() ran before its batch's loss.backward()",
            "zero": "an all-zero gradient: optimizer.step() ran before its batch's loss.backward()",
        }.get(u.status, "the previous batch's gradient: optimizer.step() ran before its batch's loss.backward()")
    message = (
        f"{run.context}: {len(bad)} of {len(run.updates)} updates did not use exactly the gradient of "
        f"their own batch. The first, {run.where(bad[0] + 1)}, used {what}."
    )
    return explained(run, message, explaining(GRADIENTS), "stale_gradient")


def judge_validation(run: Run, ref: Run) -> Verdict:
    relevant = [k for k in explaining(VALIDATION) if k in run.diagnosis]
    made = [f.updates for f in run.validations]
    ends = run.epoch_ends
    if not relevant and run.validations and not run.truncated:
        return passed(
            f"{run.context} validated once per epoch on the whole validation set, after the epoch's updates "
            f"(after updates {some(made)}), without changing the parameters."
        )
    message = (
        f"{run.context}: expected one validation per epoch on the whole validation set, right after the "
        f"epoch's last update (after updates {some(ends)}); got {len(made)} forward pass(es) on the "
        f"validation set, after updates {some(made)}."
    )
    return explained(run, message, explaining(VALIDATION), "validation_timing")


def _trajectory(which: str) -> RunJudge:
    index = 0 if which == "training" else 1

    def judge(run: Run, ref: Run) -> Verdict:
        got, want = returned_lists(run)[index], returned_lists(ref)[index]
        unit = "update" if which == "training" else "epoch"
        if got is None:
            return explained(run, f"{run.context}: no {which} losses were returned.", explaining(TRAJECTORY), "not_two_lists")
        if len(got) != len(want):
            return explained(
                run,
                f"{run.context}: expected {len(want)} {which} losses (one per {unit}), got {len(got)}.",
                explaining(TRAJECTORY),
                "trajectory_mismatch",
            )
        i = first_difference(got, want)
        if i is None:
            return passed(f"{run.context}: all {len(want)} {which} losses match the reference.")
        where = run.where(i + 1) if which == "training" else f"epoch {i + 1}"
        wrong = sum(1 for a, b in zip(got, want) if not close(a, b))
        message = (
            f"{run.context}: {which} losses differ from the reference's at {wrong} of {len(want)} {unit}s. "
            f"The first is {where}: expected {fmt(want[i])}, got {fmt(got[i])}."
        )
        # "Append the loss before the update" only when the training itself went as the reference's.
        recorded_wrong = which == "training" and all_close(run.final_params, ref.final_params)
        return explained(run, message, explaining(TRAJECTORY), "loss_values" if recorded_wrong else "trajectory_mismatch")

    return judge


judge_training_losses = _trajectory("training")
judge_validation_losses = _trajectory("validation")

PARAMETER_NAMES = [f"0.weight[{i}]" for i in range(10)] + [f"0.bias[{i}]" for i in range(10)] + [
    f"2.weight[0][{i}]" for i in range(10)
] + ["2.bias[0]"]


def judge_parameters(run: Run, ref: Run) -> Verdict:
    got, want = run.final_params, ref.final_params
    if len(got) != len(want):
        return failed(f"{run.context}: the model has {len(got)} parameters after training; expected {len(want)}.")
    wrong = [i for i, (a, b) in enumerate(zip(got, want)) if not close(a, b)]
    if not wrong:
        return passed(f"{run.context}: the final parameters match the reference's.")
    worst = max(wrong, key=lambda i: abs((number(got[i]) or 0.0) - (number(want[i]) or 0.0)))
    name = PARAMETER_NAMES[worst] if len(want) == len(PARAMETER_NAMES) else f"#{worst}"
    message = (
        f"{run.context}: {len(wrong)} of {len(want)} final parameters differ from the reference's; "
        f"the largest difference is {name}: expected {fmt(want[worst])}, got {fmt(got[worst])}."
    )
    return explained(run, message, explaining(TRAJECTORY), "trajectory_mismatch")

