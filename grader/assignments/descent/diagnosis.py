"""What a run did wrong: each loop answer decoded, read, held to the reference's run and
diagnosed once, and a failing check explained by the known mistake behind it.

``diagnose`` finds every known mistake (see ``mistakes``) a run's event log shows, with
the evidence; ``explained`` turns a check's failure into a verdict naming the first of
them, in priority order, that explains it.
"""

from __future__ import annotations

from typing import Any

from grader.assignments.descent import answers, fixtures
from grader.assignments.descent.events import Run, read_run, returned_lists
from grader.assignments.descent.mistakes import PRIORITY, failing, hint
from grader.assignments.descent.tolerances import all_close, some
from grader.plugin import Verdict, failed

def diagnose(run: Run) -> dict[str, str]:
    """Every known mistake the run shows, with the evidence, in no particular order."""
    found: dict[str, str] = {}
    r = run.returned
    train, valid = returned_lists(run)
    U, E = run.per_epoch, run.epochs
    n_updates = len(run.updates) if not run.truncated else run.steps + run.external

    # The return value.
    if r["length"] != 2 or r["type"] not in ("tuple", "list"):
        found["not_two_lists"] = f"it returned a {r['type']}" + (f" of length {r['length']}" if r["length"] is not None else "")
    else:
        for name, part in (("training", r["train"]), ("validation", r["valid"])):
            if part["type"] != "list":
                found.setdefault("not_two_lists", f"the {name} losses are a {part['type']}, not a list")
            types = [t for t in part["types"] if t != "float"]
            if "Tensor" in types:
                found.setdefault("tensors_not_floats", f"the {name} losses hold {', '.join(types)} values")
            elif types:
                found.setdefault("not_python_floats", f"the {name} losses hold {', '.join(types)} values")

    # How the parameters changed.
    if run.steps == 0 and run.external > 0:
        found["own_optimizer"] = (
            f"the optimizer passed in was never stepped, yet the parameters changed {run.external} times"
        )
    elif run.steps == 0:
        found["no_update"] = "optimizer.step() was never called and the parameters never changed"
    elif run.external > 0:
        found["params_changed_outside_step"] = f"the parameters changed {run.external} times outside optimizer.step()"

    drivers = [u.driver for u in run.updates if u.driver is not None]
    on_valid = [d for d in drivers if d.validation]
    on_train = [d for d in drivers if d.training]
    if on_valid and len(on_valid) >= len(on_train):
        found["train_on_valid_data"] = f"{len(on_valid)} of {len(drivers)} updates used the validation set"
    elif on_valid:
        found["valid_changes_params"] = f"{len(on_valid)} updates used the gradient of a validation loss"

    passes = run.training_passes
    if run.truncated:
        pass
    elif U == 1:  # batch GD: one update is one epoch, whether or not the batch is fetched anew each time
        if n_updates and n_updates != E:
            key = "extra_epoch" if n_updates > E else "missing_epoch"
            found[key] = f"it made {n_updates} updates (one per epoch) instead of {E}"
    elif passes:
        if all(n == 1 for n in passes):
            found["one_batch_per_epoch"] = f"each pass over train_loader made 1 update instead of {U}"
        elif all(n == U for n in passes) and len(passes) != E:
            key = "extra_epoch" if len(passes) > E else "missing_epoch"
            found[key] = f"it ran {len(passes)} epochs of {U} updates instead of {E}"

    # Gradient discipline.
    steps = [u for u in run.updates if u.via_step]
    pending = [i for i, u in enumerate(run.updates) if u.via_step and u.pending]
    erased = [i for i, u in enumerate(run.updates) if u.status in ("none", "zero") and u.backwards and u.zeroed]
    carried = [
        i for i, u in enumerate(run.updates)
        if (u.status == "accumulated" or (not u.clean and not u.via_step)) and u.backwards <= 1
    ]
    extra = [i for i, u in enumerate(run.updates) if (u.status == "accumulated" or not u.clean) and u.backwards > 1]
    stale = [i for i, u in enumerate(run.updates) if u.via_step and (u.status == "stale" or (u.status in ("none", "zero") and not u.backwards)) and not u.pending]
    if steps and not run.backwards:
        found["no_backward"] = f"none of the {len(steps)} steps had a backward pass before it: no backward pass ran at all"
    elif pending:
        found["step_before_backward"] = f"{len(pending)} of {len(steps)} steps came before the backward pass of their batch"
    if erased:
        found["zero_grad_between_backward_and_step"] = (
            f"{len(erased)} steps found no gradient: zero_grad() ran after backward()"
        )
    if carried and "step_before_backward" not in found:
        found["no_zero_grad"] = (
            f"{len(carried)} of {len(run.updates)} updates used gradients carried over from earlier batches"
        )
    if extra and "step_before_backward" not in found:
        found["extra_backward"] = f"{len(extra)} updates followed more than one backward pass"
    other = [
        i for i, u in enumerate(run.updates)
        if u.via_step and u.status == "fresh" and u.clean and u.backwards == 1 and not u.criterion
    ]
    if other:
        found["other_loss"] = (
            f"{len(other)} of {len(steps)} steps used the gradient of a loss other than the criterion's MSE of the "
            f"model's predictions on its batch"
        )
    changed = [i for i, u in enumerate(run.updates) if u.via_step and not u.standard]
    if changed:
        found["optimizer_settings_changed"] = (
            f"{len(changed)} of {len(steps)} steps ran with settings other than those the optimizer was given"
        )
    if stale and not pending and not erased and run.backwards:
        found["step_without_backward"] = f"{len(stale)} steps had no backward pass since the previous step"

    # Validation.
    validations = run.validations
    ends = run.epoch_ends
    starts = [0] + ends[:-1]
    made = [f.updates for f in validations]
    if not validations:
        if valid:
            if any(f.training for f in run.evaluations) or "train_on_valid_data" in found:
                found["valid_on_train_data"] = "no forward pass on the validation set was made"
            else:
                found["validation_timing"] = "no forward pass on the validation set was made"
    elif len(made) == len(ends) and made == ends:
        pass
    elif len(made) == len(ends) and made == starts:
        found["valid_before_training"] = f"it validated after updates {some(made)} instead of after {some(ends)}"
    elif U > 1 and len(made) >= n_updates > len(ends):
        found["valid_every_batch"] = f"it validated {len(made)} times in {len(ends)} epochs"
    else:
        found["validation_timing"] = f"it validated after updates {some(made)}; expected after {some(ends)}"

    # What the returned lists hold, against the run's own numbers.
    pre = [u.driver.mse if u.driver is not None else None for u in run.updates]
    own_valid = [f.mse for f in validations]
    if train is not None and valid is not None:
        if (U > 1 and len(train) == len(ends) and len(valid) == n_updates and n_updates != len(ends)) or (
            own_valid and pre and all_close(train, own_valid) and all_close(valid, pre) and not all_close(train, pre)
        ):
            found["lists_swapped"] = f"it returned {len(train)} training and {len(valid)} validation losses"
        elif U > 1 and len(train) == len(ends) != n_updates:
            found["train_loss_per_epoch"] = f"it returned {len(train)} training losses, one per epoch, " + _per_epoch_kind(train, pre, starts, ends)
        elif pre and not all_close(train, pre) and len(train) == len(pre):
            after = _losses_after_updates(run)
            if after is not None and all_close(train, after):
                found["loss_after_step"] = "its training losses are those of each batch after its update"
    return found


def _per_epoch_kind(train: list, pre: list, starts: list[int], ends: list[int]) -> str:
    """What one-per-epoch training losses are, in words: averages, last batches, or something else."""
    epochs = [[v for v in pre[a:b] if v is not None] for a, b in zip(starts, ends)]
    if all(epochs):
        if all_close(train, [sum(e) / len(e) for e in epochs]):
            return "the average of each epoch's batch losses"
        if all_close(train, [sum(e) for e in epochs]):
            return "the sum of each epoch's batch losses"
        if all_close(train, [e[-1] for e in epochs]):
            return "the loss of each epoch's last batch"
    return "not one per batch"


def _losses_after_updates(run: Run) -> list | None:
    """For each update, the loss of the first forward on the same training rows made right after it."""
    result = []
    forwards = run.forwards
    position = {f.fid: i for i, f in enumerate(forwards)}
    for k, u in enumerate(run.updates):
        if u.driver is None:
            return None
        for f in forwards[position[u.driver.fid] + 1:]:
            if f.updates > k + 1:
                return None
            if f.updates == k + 1 and not f.drives and f.training and f.n == u.driver.n:
                result.append(f.mse)
                break
        else:
            return None
    return result



_cache: dict[tuple[int, answers.Setup, int], tuple[Any, Run | answers.Inconsistent]] = {}


def setup_of(reference: dict, epochs: int) -> answers.Setup:
    """What this loop's run must be, from the reference's answer: computed in this process, never the child's."""
    return answers.expected_setup(reference["setup"]["loop"], epochs)


def analyse(value: Any, reference: dict, epochs: int, loader_seed: int = fixtures.LOADER_SEED) -> Run:
    """The run of ``epochs`` epochs (the training loader shuffling with ``loader_seed``) decoded,
    cross-checked (against itself and the reference's run), read and diagnosed; raises answers.Inconsistent."""
    setup = setup_of(reference, epochs)
    run = analysed(value, setup, loader_seed)
    if value is not reference and run.bound_to is not reference:
        bind(run, analysed(reference, setup, loader_seed))
        run.bound_to = reference
    return run


SAME_RUN = "the reference's run, whose updates the log shows it made exactly"


def bind(run: Run, ref: Run) -> None:
    """Hold the log to the trajectory it implies; raises answers.Inconsistent.

    While a log shows updates exactly like the reference's (the optimizer as given, one
    step per batch on the fresh gradient of ``criterion(model(X), y)`` for the very batch
    the reference used at that update), the parameters are the reference's, so every loss
    the log records on them, and in the end the final parameters, must be the reference's
    too. An honest log always agrees; a made-up one cannot, unless it reports a correct run.
    """
    if run.truncated:
        return
    textbook = 0
    for k, (u, r) in enumerate(zip(run.updates, ref.updates)):
        exact = (
            u.via_step and u.status == "fresh" and u.clean and u.backwards == 1 and u.criterion and u.standard
            and not u.pending and u.driver is not None and r.driver is not None and u.driver.updates == k
        )
        same_batch = exact and (
            u.driver.kind in ("t", "A") if run.per_epoch == 1 else u.driver.kind == "t" and u.driver.batch == r.driver.batch
        )
        if not same_batch:
            break
        answers.agree(u.driver.mse, r.driver.mse, f"the loss logged before update {k + 1}", SAME_RUN)
        textbook = k + 1
    expected = {f.updates: f.mse for f in ref.validations}
    for f in run.forwards:
        if f.kind == "v" and f.updates <= textbook and f.updates in expected:
            answers.agree(f.mse, expected[f.updates], f"the validation loss logged after update {f.updates}", SAME_RUN)
    if textbook == len(run.updates) == len(ref.updates):
        answers.agree_all(run.final_params, ref.final_params, "the final parameters", SAME_RUN)


def analysed(value: Any, setup: answers.Setup, loader_seed: int = fixtures.LOADER_SEED) -> Run:
    """``analyse`` against a given setup; cached, since seven checks read the same probe value."""
    key = (id(value), setup, loader_seed)
    hit = _cache.get(key)
    if hit is None or hit[0] is not value:
        try:
            run = read_run(answers.decode(value, setup), setup, loader_seed)
            run.diagnosis = diagnose(run)
            hit = (value, run)
        except answers.Inconsistent as error:
            hit = (value, error)
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = hit
    if isinstance(hit[1], answers.Inconsistent):
        raise hit[1]
    return hit[1]


def explained(run: Run, message: str, relevant: set[str], fallback: str) -> Verdict:
    """A failure explained by the highest-priority diagnosed mistake among ``relevant``, else named ``fallback``."""
    for key in PRIORITY:
        if key in run.diagnosis and key in relevant:
            return failed(f"{message}\nDiagnosis: {run.diagnosis[key]}.", hint(key), key)
    return failing(message, fallback)


