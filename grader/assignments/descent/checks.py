"""Descent checks: run in the grading process, on the plain data the probes sent back.

Each training loop runs once (one probe) on the lecture's seeded fixtures with an
instrumented optimizer, model and loaders; seven checks read that one run:

* ``returns two lists of floats`` - the return value's structure, element types, lengths;
* ``updates per epoch`` - 1, N or ceil(N/B) optimizer steps per epoch, num_epochs epochs;
* ``zero_grad discipline`` - every step uses exactly the gradient of its own batch;
* ``validation`` - once per epoch, on the validation set, after the epoch's updates,
  without changing the parameters;
* ``training losses`` / ``validation losses`` - the returned trajectory against the
  reference's;
* ``final parameters`` - against the reference's.

Known mistakes are diagnosed once per run from the event log (``diagnose``) and each
failing check reports the one that explains it, with a hint and a stable key.

The answer is hostile: ``answers.decode`` checks it field by field and against itself,
and ``bind`` holds a log that shows the reference's updates to the reference's numbers;
an answer that fails either is rejected, its checks failed unscored. What a run must be
(epochs, batch size, updates per epoch) comes from this process (``setup_of``). A loop
that only returns another graded loop's answer keeps a check that the other loop's own
mistake fails (``charging_the_callee``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader.assignments.descent import answers, fixtures
from grader.plugin import Check, Probe, Verdict, failed, passed

# Five epochs instead of the lecture's 100. Every mistake graded here shows within the
# first two epochs: the order of zero_grad/backward/step repeats at every update, and
# epoch-level mistakes (validation timing, one batch per epoch, an extra epoch, a
# reshuffle per epoch) show at the first epoch boundary; five epochs give four such
# boundaries. SGD then makes 400 instrumented updates (about 0.2 s) instead of 8,000
# (about 4 s), and fewer updates also leave less room for rounding to grow.
EPOCHS = 5

LOOPS = ("train_batch_gd", "train_sgd", "train_minibatch_sgd")
METHODS = {
    "train_batch_gd": "batch gradient descent",
    "train_sgd": "SGD",
    "train_minibatch_sgd": "minibatch SGD",
}
# Seconds of wall time per probe. The reference needs 0.02 s (batch GD), 0.2 s (SGD),
# 0.02 s (minibatch SGD) and 0.02 s (make_loaders) here; the limits leave room for a
# slow machine and a student's slower but correct code, and cap an endless loop.
TIMEOUTS = {"train_batch_gd": 10.0, "train_sgd": 20.0, "train_minibatch_sgd": 10.0, "make_loaders": 10.0}

# Tolerances for trajectories (losses) and final parameters: |got - expected| must be
# at most ATOL + RTOL * |expected|.
# The student's loop runs on the very same fixtures as the reference, so a loop that
# does the same arithmetic reproduces it bit for bit (measured: criterion(model(X), y),
# loss.item() or float(loss), zero_grad at the end, no_grad or not, and even a
# hand-written MSE all give identical numbers). What may differ is rounding: summing
# a batch in another order, or float32 kernels choosing another path. As a generous
# stand-in for that we perturbed every initial parameter by 1e-6 relative (about ten
# float32 ulps): over these 5 epochs the training losses moved by at most 1.2e-6
# absolute (1.6e-5 relative, SGD), the validation losses by 7e-7 relative and the final
# parameters by 8.4e-7 absolute. ATOL = 1e-5 is ten times that. The mistakes graded
# here move some loss or parameter by 1e-3 or more (the smallest: loss_after_step on
# batch GD, 2.3e-2 on the first update), a hundred times the tolerance.
RTOL = 1e-4
ATOL = 1e-5

MAKE_LOADERS_BATCH_SIZES = [16, 30, 80, 1, 100]  # divides 80, does not divide, the whole set, one, more than all
MAKE_LOADERS_SEEDS = (3, 4)

# Known mistakes: key -> hint. The keys are stable (class statistics count them).
HINTS = {
    "not_two_lists": "Return a tuple of two lists: `return train_losses, valid_losses`.",
    "tensors_not_floats": "Append Python floats, `loss.item()` or `float(loss)`, not the loss tensor itself.",
    "not_python_floats": "Append Python floats, `loss.item()` or `float(loss)`, not NumPy numbers or other types.",
    "lists_swapped": "Return the training losses first and the validation losses second: `return train_losses, valid_losses`.",
    "own_optimizer": (
        "Use the `optimizer` passed to your function: do not create your own optimizer inside the "
        "function (or update the parameters by hand). The caller chooses the optimizer and its settings."
    ),
    "params_changed_outside_step": (
        "Change the parameters only through `optimizer.step()` of the optimizer you are given."
    ),
    "no_update": "Update the parameters once per batch: `optimizer.zero_grad()`, `loss.backward()`, `optimizer.step()`.",
    "train_on_valid_data": (
        "Train on the batches of `train_loader` and validate on `valid_loader`; your updates used the "
        "validation data (are the two loaders swapped?)."
    ),
    "one_batch_per_epoch": (
        "Loop over every batch of `train_loader` in each epoch (`for X, y in train_loader:`): your loop made one "
        "update per pass over it, as `next(iter(train_loader))` (the first batch only) or a `break` would."
    ),
    "extra_epoch": "Run exactly `num_epochs` epochs: `for _ in range(num_epochs):`.",
    "missing_epoch": "Run exactly `num_epochs` epochs: `for _ in range(num_epochs):` (`range(1, num_epochs)` runs one fewer).",
    "wrong_update_count": "Make exactly one `optimizer.step()` per training batch (one per epoch for batch gradient descent).",
    "no_backward": (
        "Call `loss.backward()`, with its parentheses, before each `optimizer.step()`: no backward pass ran at "
        "all, so no step had a gradient to use (`loss.backward` without `()` only names the method, it does not run it)."
    ),
    "step_before_backward": (
        "Call `loss.backward()` before `optimizer.step()`: a step taken before the backward pass uses the "
        "previous batch's gradients (or none). The order is zero_grad, backward, step."
    ),
    "zero_grad_between_backward_and_step": (
        "`optimizer.zero_grad()` runs between `loss.backward()` and `optimizer.step()`, so it erases the "
        "gradient just computed and the step changes nothing. The order is zero_grad, backward, step."
    ),
    "no_zero_grad": (
        "Call `optimizer.zero_grad()` before every `loss.backward()` (or right after every `optimizer.step()`). "
        "PyTorch adds each backward's gradients to `.grad`, so without it an update also uses the gradients "
        "of earlier batches."
    ),
    "extra_backward": (
        "Call `backward()` only on the training loss of the batch you are about to step on: an extra backward "
        "(for example on the validation loss) adds its gradients to the next update."
    ),
    "other_loss": (
        "Call `backward()` on the loss of the batch exactly as the criterion you are given computes it, "
        "`criterion(model(X), y)`: not a scaled, summed or hand-made loss, nor one on other targets."
    ),
    "optimizer_settings_changed": (
        "Use the optimizer as it is given: do not change its learning rate or other settings (`optimizer.param_groups`)."
    ),
    "step_without_backward": "Call `loss.backward()` on each batch's loss before `optimizer.step()`.",
    "stale_gradient": "Each `optimizer.step()` must use exactly the gradient of its own batch: zero_grad, backward, step.",
    "train_loss_per_epoch": (
        "Append every batch's loss to `train_losses` inside the batch loop: one value per update "
        "(`num_epochs * len(train_loader)` in all), not one value per epoch."
    ),
    "loss_after_step": (
        "Record each batch's loss before its update: append `loss.item()` of the loss you call "
        "`backward()` on, not a loss recomputed after `optimizer.step()`."
    ),
    "valid_every_batch": (
        "Validate once per epoch, after the loop over `train_loader` has finished (move the validation "
        "code out of the batch loop)."
    ),
    "valid_before_training": (
        "Validate after the epoch's updates, not before them: the validation loss of an epoch is measured "
        "with the parameters the epoch ends with."
    ),
    "valid_on_train_data": (
        "Compute the validation loss on the one batch of `valid_loader` (`X, y = next(iter(valid_loader))`), "
        "not on training data."
    ),
    "valid_changes_params": (
        "Validation must leave the parameters alone: no `backward()` or `optimizer.step()` on the validation "
        "loss (compute it under `torch.no_grad()`)."
    ),
    "validation_timing": "Validate exactly once per epoch, after that epoch's last update.",
    "trajectory_mismatch": "",
    "loss_values": "Append the loss of the batch you train on (`criterion(model(X), y)`), before its update.",
    "wrong_lengths": (
        "Your updates are right, but not the lists you return: append each batch's loss once (one per update) "
        "and one validation loss per epoch, and return those two lists."
    ),
    "too_much_work": "Your loop did far more than num_epochs epochs of work; check its loops.",
    # make_loaders
    "make_loaders_error": "",
    "train_not_shuffled": "Shuffle the training loader: `DataLoader(train_dataset, batch_size=batch_size, shuffle=True, generator=generator)`.",
    "not_reshuffled": "Let the DataLoader shuffle (`shuffle=True`): it draws a new order on every pass, not one fixed order.",
    "drop_last": "Keep the last, smaller batch when batch_size does not divide the training set (do not pass drop_last=True).",
    "wrong_batch_size": "Give the training loader `batch_size=batch_size`.",
    "wrong_batches": "Each pass over the training loader must give every training sample exactly once, as (X, y) pairs.",
    "generator_ignored": "Pass the generator to the training DataLoader (`generator=generator`) so that the same seed gives the same order.",
    "fixed_seed": "Draw the order from the generator you are given; do not seed or create a generator of your own.",
    "generator_required": "Give `generator` a default of None: `def make_loaders(train_dataset, valid_dataset, batch_size, generator=None)`.",
    "valid_not_one_batch": "The validation loader gives the whole validation set as one batch: `batch_size=len(valid_dataset)`.",
    "valid_shuffled": "Do not shuffle the validation loader (`shuffle=False`, the default).",
}

# The order in which a diagnosed mistake explains a failure: root causes first.
PRIORITY = [
    "not_two_lists",
    "own_optimizer",
    "no_update",
    "train_on_valid_data",
    "one_batch_per_epoch",
    "extra_epoch",
    "missing_epoch",
    "no_backward",
    "step_before_backward",
    "zero_grad_between_backward_and_step",
    "no_zero_grad",
    "extra_backward",
    "step_without_backward",
    "other_loss",
    "optimizer_settings_changed",
    "params_changed_outside_step",
    "valid_changes_params",
    "lists_swapped",
    "train_loss_per_epoch",
    "loss_after_step",
    "valid_every_batch",
    "valid_before_training",
    "valid_on_train_data",
    "validation_timing",
    "wrong_update_count",
    "tensors_not_floats",
    "not_python_floats",
]
FORMAT_ONLY = {"tensors_not_floats", "not_python_floats"}  # these do not change a trajectory's values


# ----------------------------------------------------------------------------------
# Reading a run
# ----------------------------------------------------------------------------------


@dataclass
class Forward:
    fid: int
    kind: str  # see fixtures.Trace
    n: int
    updates: int  # updates made before it
    mse: float | None
    backwards: list[bool] = field(default_factory=list)  # clean flag of each backward through it
    drives: bool = False  # an update used its gradient
    batch: tuple[int, int] | None = None  # (pass, position in it) of the training batch it ran on, for kind "t"

    @property
    def training(self) -> bool:
        return self.kind in ("t", "A", "T")

    @property
    def validation(self) -> bool:
        return self.kind in ("v", "p")


@dataclass
class Update:
    via_step: bool  # optimizer.step() (False: the parameters changed some other way)
    status: str  # the step's gradient status (see fixtures.Trace); "" for other updates
    driver: Forward | None  # the forward whose backward came last before it
    pending: bool  # the latest training forward had not been backwarded yet
    backwards: int  # backward passes since the previous update
    zeroed: bool  # optimizer.zero_grad() ran after the latest of those backwards
    clean: bool  # the latest backward (the driver's) started from empty gradients
    epoch: int  # index of the training-loader pass it happened in (-1: none)
    criterion: bool = False  # the latest backward sent back the gradient of criterion(model(X), y)
    standard: bool = False  # the optimizer's settings were those it was given


@dataclass
class Run:
    """One training run's trace, read into forwards, updates and loader passes."""

    loop: str
    epochs: int
    per_epoch: int  # expected updates per epoch
    batch_size: int
    forwards: list[Forward]
    updates: list[Update]
    passes: list[int]  # updates made during each pass over the training loader
    truncated: bool
    steps: int
    external: int
    backwards: int  # backward passes in the whole run
    returned: dict
    final_params: list[float | None]
    diagnosis: dict[str, str] = field(default_factory=dict)  # mistake -> evidence
    bound_to: Any = None  # the reference answer this run's log was held to (see bind)

    @property
    def evaluations(self) -> list[Forward]:
        """Forward passes no update used: validation, loss recording, ..."""
        return [f for f in self.forwards if not f.drives]

    @property
    def validations(self) -> list[Forward]:
        return [f for f in self.evaluations if f.validation]

    @property
    def training_passes(self) -> list[int]:
        return [n for n in self.passes if n > 0]

    @property
    def epoch_ends(self) -> list[int]:
        """The number of updates made by the end of each training epoch, as the run itself structured them."""
        if self.training_passes and self.per_epoch > 1:
            ends, total = [], 0
            for n in self.passes:
                total += n
                if n:
                    ends.append(total)
            return ends
        # Batch GD (however often it asks train_loader for its one batch), or no loader
        # passes at all: one update per epoch.
        return list(range(1, len(self.updates) + 1))

    @property
    def expected_updates(self) -> int:
        return self.epochs * self.per_epoch

    def where(self, update: int) -> str:
        """'update 83 (epoch 2, batch 4)' for a 1-based update number, as the reference structures them."""
        epoch, batch = divmod(update - 1, self.per_epoch)
        if self.per_epoch == 1:
            return f"update {update} (epoch {epoch + 1})"
        return f"update {update} (epoch {epoch + 1}, batch {batch + 1})"

    @property
    def context(self) -> str:
        return (
            f"{self.loop} ({METHODS[self.loop]}, batch size {self.batch_size}, {self.epochs} epochs "
            f"on the lecture's sin(x) data, lr 0.02)"
        )


def read_run(value: dict, setup: answers.Setup) -> Run:
    """A decoded answer (see answers.decode) read against what the grading process expects."""
    forwards: dict[int, Forward] = {}
    order: list[Forward] = []
    updates: list[Update] = []
    passes: list[int] = []
    latest_training: Forward | None = None
    since: list[tuple[Forward | None, bool, bool]] = []  # backwards since the last update: (forward, clean, criterion)
    batch: tuple[int, int] | None = None  # the latest training batch: (pass, position)
    zeroed = False
    steps = external = 0

    def update(via_step: bool, status: str, standard: bool) -> None:
        nonlocal since, zeroed
        driver = since[-1][0] if since else None
        pending = (
            latest_training is not None
            and not latest_training.backwards
            and (driver is None or driver.fid < latest_training.fid)
        )
        if driver is not None:
            driver.drives = True
        updates.append(
            Update(
                via_step, status, driver, pending, len(since), zeroed, since[-1][1] if since else True, len(passes) - 1,
                since[-1][2] if since else False, standard,
            )
        )
        if passes:
            passes[-1] += 1
        since, zeroed = [], False

    for event in value["events"]:
        tag = event[0]
        if tag == "T":
            passes.append(0)
            batch = (len(passes) - 1, -1)
        elif tag == "t" and batch is not None:
            batch = (batch[0], batch[1] + 1)
        elif tag == "F":
            _, fid, kind, n, made, mse = event
            forward = Forward(fid, kind, n, made, mse, batch=batch if kind == "t" else None)
            forwards[fid] = forward
            order.append(forward)
            if forward.training:
                latest_training = forward
        elif tag == "B":
            _, fid, clean, criterion = event
            forward = forwards.get(fid)
            if forward is not None:
                forward.backwards.append(clean)
            since.append((forward, clean, criterion))
            zeroed = False
        elif tag == "Z":
            zeroed = bool(since)
        elif tag == "S":
            steps += 1
            update(True, event[1], event[2])
        elif tag == "P":
            external += 1
            update(False, "", False)
    counts = value["counts"]
    return Run(
        loop=setup.loop,
        epochs=setup.epochs,
        per_epoch=setup.per_epoch,
        batch_size=setup.batch_size,
        forwards=order,
        updates=updates,
        passes=passes,
        truncated=value["truncated"],
        steps=counts.get("S", steps),
        external=counts.get("P", external),
        backwards=counts.get("B", 0),
        returned=value["returned"],
        final_params=value["final_params"],
    )


# ----------------------------------------------------------------------------------
# Numbers
# ----------------------------------------------------------------------------------


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):  # probes send NaN and infinities as strings
        try:
            return float(value)
        except ValueError:
            return None
    return None


def close(got: Any, expected: Any) -> bool:
    got, expected = _float(got), _float(expected)
    if got is None or expected is None or not math.isfinite(got) or not math.isfinite(expected):
        return False
    return abs(got - expected) <= ATOL + RTOL * abs(expected)


def first_difference(got: list, expected: list) -> int | None:
    """Index of the first element that is not close, or None if all are (lengths aside)."""
    for i, (a, b) in enumerate(zip(got, expected)):
        if not close(a, b):
            return i
    return None


def all_close(got: list | None, expected: list | None) -> bool:
    return got is not None and expected is not None and len(got) == len(expected) and first_difference(got, expected) is None


def fmt(value: Any) -> str:
    number = _float(value)
    return "not a number" if number is None else f"{number:.6g}"


def returned_lists(run: Run) -> tuple[list | None, list | None]:
    r = run.returned
    train = r["train"]["values"] if r.get("train") else None
    valid = r["valid"]["values"] if r.get("valid") else None
    return train, valid


# ----------------------------------------------------------------------------------
# Diagnosis
# ----------------------------------------------------------------------------------


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
        found["valid_before_training"] = f"it validated after updates {_some(made)} instead of after {_some(ends)}"
    elif U > 1 and len(made) >= n_updates > len(ends):
        found["valid_every_batch"] = f"it validated {len(made)} times in {len(ends)} epochs"
    else:
        found["validation_timing"] = f"it validated after updates {_some(made)}; expected after {_some(ends)}"

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


def _some(numbers: list[int], limit: int = 6) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return f"[{shown}{', ...' if len(numbers) > limit else ''}]" if numbers else "[] (never)"


_cache: dict[int, tuple[Any, Run | answers.Inconsistent]] = {}


def setup_of(reference: dict) -> answers.Setup:
    """What this loop's run must be, from the reference's answer: computed in this process, never the child's."""
    return answers.expected_setup(reference["setup"]["loop"], EPOCHS)


def analyse(value: Any, reference: dict) -> Run:
    """The run decoded, cross-checked (against itself and the reference's run), read and
    diagnosed; raises answers.Inconsistent."""
    setup = setup_of(reference)
    run = analysed(value, setup)
    if value is not reference and run.bound_to is not reference:
        bind(run, analysed(reference, setup))
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


def analysed(value: Any, setup: answers.Setup) -> Run:
    """``analyse`` against a given setup; cached, since seven checks read the same probe value."""
    hit = _cache.get(id(value))
    if hit is None or hit[0] is not value:
        try:
            run = read_run(answers.decode(value, setup), setup)
            run.diagnosis = diagnose(run)
            hit = (value, run)
        except answers.Inconsistent as error:
            hit = (value, error)
        if len(_cache) > 64:
            _cache.clear()
        _cache[id(value)] = hit
    if isinstance(hit[1], answers.Inconsistent):
        raise hit[1]
    return hit[1]


def rejecting_inconsistent(judge: Callable[[Any, dict], Verdict]) -> Callable[[Any, dict], Verdict]:
    """A loop judge that fails, unscored, when the child's answer is malformed or contradicts itself."""

    def judge_or_reject(value: Any, reference: dict) -> Verdict:
        try:
            return judge(value, reference)
        except answers.Inconsistent as error:
            loop = reference["setup"]["loop"]
            return failed(
                f"{loop}: the sandbox's report is inconsistent ({error}), so it is rejected and this check is "
                f"not scored. Student code must not change the grader's instruments (the model's, optimizer's "
                f"and loaders' trace).",
                "",
                "inconsistent_report",
            )

    return judge_or_reject


def charging_the_callee(judge: Callable[[Any, dict], Verdict]) -> Callable[[Any, dict], Verdict]:
    """A loop judge that leaves a failure to the loop it comes from.

    A loop that only hands its arguments to another graded loop and returns that loop's
    answer (``return train_sgd(model, ...)``) runs the other loop's code. If the other
    loop, run on its own fixtures, shows the very mistake this check found, the mistake
    is that loop's: it loses its own points for it, and this one keeps them.
    """

    def judge_delegating(value: Any, reference: dict) -> Verdict:
        verdict = judge(value, reference)
        if verdict.passed or not isinstance(value, dict):
            return verdict
        callee = value.get("delegated_to")
        loop = reference["setup"]["loop"]
        if callee not in LOOPS or callee == loop:
            return _with_calls_noted(verdict, loop, value.get("calls"))
        try:
            own = analysed(value.get("callee_run"), answers.expected_setup(callee, EPOCHS))
        except answers.Inconsistent:
            return verdict
        if verdict.mistake in own.diagnosis:
            return passed(
                f"{loop} hands all its work to your {callee} (the same arguments, its answer returned as is), "
                f"so the mistake found here is in {callee}, and is charged to {callee}'s checks:\n{verdict.message}"
            )
        note = f"(Your {loop} hands all its work to your {callee}: this run is {callee}'s code on {loop}'s loader.)"
        return Verdict(False, f"{verdict.message}\n{note}", verdict.hint, verdict.mistake)

    return judge_delegating


def _with_calls_noted(verdict: Verdict, loop: str, calls: Any) -> Verdict:
    """A failure that says which of the student's other graded functions the loop called, where the cause may be."""
    called = [name for name in ("make_loaders", *LOOPS) if name != loop and isinstance(calls, list) and name in calls]
    if not called:
        return verdict
    names = " and ".join(f"your {name}" for name in called)
    note = f"(Your {loop} calls {names}: the cause may be there"
    note += ", and a loop should train on the loaders it is given.)" if "make_loaders" in called else ".)"
    return Verdict(False, f"{verdict.message}\n{note}", verdict.hint, verdict.mistake)


def explained(run: Run, message: str, relevant: set[str] | None = None, fallback: str = "") -> Verdict:
    """A failure explained by the highest-priority diagnosed mistake among ``relevant`` (all if None)."""
    for key in PRIORITY:
        if key in run.diagnosis and (relevant is None or key in relevant):
            return failed(f"{message}\nDiagnosis: {run.diagnosis[key]}.", HINTS[key], key)
    return failed(message, HINTS.get(fallback, ""), fallback)


# ----------------------------------------------------------------------------------
# Judges of one loop
# ----------------------------------------------------------------------------------

LENGTH_MISTAKES = {
    "not_two_lists", "lists_swapped", "train_loss_per_epoch", "valid_every_batch", "extra_epoch", "missing_epoch",
    "one_batch_per_epoch", "train_on_valid_data", "own_optimizer", "no_update", "wrong_update_count",
}
UPDATE_MISTAKES = {
    "own_optimizer", "no_update", "train_on_valid_data", "one_batch_per_epoch", "extra_epoch",
    "missing_epoch", "params_changed_outside_step", "valid_changes_params",
}
GRADIENT_MISTAKES = {
    "no_backward", "step_before_backward", "zero_grad_between_backward_and_step", "no_zero_grad", "extra_backward",
    "step_without_backward", "no_update", "other_loss",
}
VALIDATION_MISTAKES = {
    "valid_every_batch", "valid_before_training", "valid_on_train_data", "valid_changes_params",
    "train_on_valid_data", "validation_timing",
}
TRAJECTORY_MISTAKES = set(PRIORITY) - FORMAT_ONLY


def judge_returns(value: dict, reference: dict) -> Verdict:
    run = analyse(value, reference)
    r = run.returned
    if "not_two_lists" in run.diagnosis:
        return explained(run, f"{run.context} must return (train_losses, valid_losses), two lists.", {"not_two_lists"})
    for key in ("tensors_not_floats", "not_python_floats"):
        if key in run.diagnosis:
            return explained(run, f"{run.context} must return lists of Python floats.", {key})
    ref_train, ref_valid = returned_lists(analyse(reference, reference))
    got = (r["train"]["length"], r["valid"]["length"])
    want = (len(ref_train), len(ref_valid))
    if got != want:
        return explained(
            run,
            f"{run.context}: expected {want[0]} training losses (one per update) and {want[1]} validation "
            f"losses (one per epoch); got {got[0]} and {got[1]}.",
            LENGTH_MISTAKES,
            "wrong_update_count" if run.steps != run.expected_updates else "wrong_lengths",
        )
    if "lists_swapped" in run.diagnosis:
        return explained(run, f"{run.context}: the two returned lists are in the wrong order.", {"lists_swapped"})
    return passed(f"{run.context} returns {want[0]} training and {want[1]} validation losses as Python floats.")


def judge_updates(value: dict, reference: dict) -> Verdict:
    run = analyse(value, reference)
    U, E = run.per_epoch, run.epochs
    if run.truncated:
        return explained(run, f"{run.context}: the loop did far more work than {E} epochs need.", UPDATE_MISTAKES, "too_much_work")
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
        + (f", in {len(passes)} pass(es) over train_loader making {_some(passes)} updates" if passes else "")
        + "."
    )
    return explained(run, message, UPDATE_MISTAKES, "wrong_update_count")


def judge_gradients(value: dict, reference: dict) -> Verdict:
    run = analyse(value, reference)
    if not run.updates:
        return explained(run, f"{run.context}: no update was made, so no gradient was used.", GRADIENT_MISTAKES | {"own_optimizer"}, "no_update")
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
    return explained(run, message, GRADIENT_MISTAKES, "stale_gradient")


def judge_validation(value: dict, reference: dict) -> Verdict:
    run = analyse(value, reference)
    relevant = [k for k in VALIDATION_MISTAKES if k in run.diagnosis]
    made = [f.updates for f in run.validations]
    ends = run.epoch_ends
    if not relevant and run.validations and not run.truncated:
        return passed(
            f"{run.context} validated once per epoch on the whole validation set, after the epoch's updates "
            f"(after updates {_some(made)}), without changing the parameters."
        )
    message = (
        f"{run.context}: expected one validation per epoch on the whole validation set, right after the "
        f"epoch's last update (after updates {_some(ends)}); got {len(made)} forward pass(es) on the "
        f"validation set, after updates {_some(made)}."
    )
    return explained(run, message, VALIDATION_MISTAKES, "validation_timing")


def _trajectory(which: str) -> Callable[[dict, dict], Verdict]:
    index = 0 if which == "training" else 1

    def judge(value: dict, reference: dict) -> Verdict:
        run, ref = analyse(value, reference), analyse(reference, reference)
        got, want = returned_lists(run)[index], returned_lists(ref)[index]
        unit = "update" if which == "training" else "epoch"
        if got is None:
            return explained(run, f"{run.context}: no {which} losses were returned.", TRAJECTORY_MISTAKES, "not_two_lists")
        if len(got) != len(want):
            return explained(
                run,
                f"{run.context}: expected {len(want)} {which} losses (one per {unit}), got {len(got)}.",
                TRAJECTORY_MISTAKES,
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
        recorded_wrong = which == "training" and all_close(run.final_params, analyse(reference, reference).final_params)
        return explained(run, message, TRAJECTORY_MISTAKES, "loss_values" if recorded_wrong else "trajectory_mismatch")

    return judge


judge_training_losses = _trajectory("training")
judge_validation_losses = _trajectory("validation")

PARAMETER_NAMES = [f"0.weight[{i}]" for i in range(10)] + [f"0.bias[{i}]" for i in range(10)] + [
    f"2.weight[0][{i}]" for i in range(10)
] + ["2.bias[0]"]


def judge_parameters(value: dict, reference: dict) -> Verdict:
    run = analyse(value, reference)
    got, want = run.final_params, analyse(reference, reference).final_params
    if len(got) != len(want):
        return failed(f"{run.context}: the model has {len(got)} parameters after training; expected {len(want)}.")
    wrong = [i for i, (a, b) in enumerate(zip(got, want)) if not close(a, b)]
    if not wrong:
        return passed(f"{run.context}: the final parameters match the reference's.")
    worst = max(wrong, key=lambda i: abs((_float(got[i]) or 0.0) - (_float(want[i]) or 0.0)))
    name = PARAMETER_NAMES[worst] if len(want) == len(PARAMETER_NAMES) else f"#{worst}"
    message = (
        f"{run.context}: {len(wrong)} of {len(want)} final parameters differ from the reference's; "
        f"the largest difference is {name}: expected {fmt(want[worst])}, got {fmt(got[worst])}."
    )
    return explained(run, message, TRAJECTORY_MISTAKES, "trajectory_mismatch")


# ----------------------------------------------------------------------------------
# Judges of make_loaders
# ----------------------------------------------------------------------------------


def _expected_sizes(n: int, batch_size: int) -> list[int]:
    sizes = [batch_size] * (n // batch_size)
    return sizes + [n % batch_size] if n % batch_size else sizes


def _pass_rows(one_pass: dict) -> list[int]:
    return [i for b in one_pass["batches"] for i in (b["rows"] or [-1])]


def _loader_error(case: dict) -> Verdict | None:
    if case.get("error"):
        return failed(
            f"make_loaders(train_dataset, valid_dataset, batch_size={case['batch_size']}"
            + (f", generator=torch.Generator().manual_seed({case['seed']})" if case["seed"] is not None else "")
            + f") raised {case['error']}.",
            "",
            "make_loaders_error",
        )
    if case.get("returned") not in ("tuple", "list"):
        return failed(f"make_loaders must return (train_loader, valid_loader); it returned a {case.get('returned')}.", "", "make_loaders_error")
    return None


def reading_loaders(judge: Callable[[dict], Verdict]) -> Callable[[Any, dict], Verdict]:
    """A make_loaders judge on the decoded answer; a malformed answer fails, unscored."""

    def judge_decoded(value: Any, reference: dict) -> Verdict:
        try:
            decoded = answers.decode_loaders(value, MAKE_LOADERS_BATCH_SIZES, MAKE_LOADERS_SEEDS)
        except answers.Inconsistent as error:
            return failed(
                f"make_loaders: the sandbox's report is inconsistent ({error}), so it is rejected and this check is not scored.",
                "",
                "inconsistent_report",
            )
        return judge(decoded)

    return judge_decoded


def judge_training_batches(value: dict) -> Verdict:
    n = fixtures.N_TRAIN
    for case in value["cases"]:
        error = _loader_error(case)
        if error:
            return error
        b = case["batch_size"]
        call = f"make_loaders(..., batch_size={b}, generator=...) on {n} training samples"
        expected = _expected_sizes(n, b)
        passes = case["train"]
        for p, one in enumerate(passes, start=1):
            sizes = [batch["n"] for batch in one["batches"]]
            if one["count"] != len(one["batches"]) or sizes != expected:
                got = _some(sizes, 8) if one["count"] == len(one["batches"]) else f"{one['count']} batches"
                key = "wrong_batch_size"
                if sizes == expected[:-1] and n % b:
                    key = "drop_last"
                return failed(f"{call}: pass {p} over the training loader should give batches of sizes {_some(expected, 8)}; got {got}.", HINTS[key], key)
            rows = _pass_rows(one)
            if sorted(rows) != list(range(n)) or not all(batch["paired"] for batch in one["batches"]):
                return failed(f"{call}: pass {p} does not give every training sample (x with its y) exactly once.", HINTS["wrong_batches"], "wrong_batches")
            shapes = {(tuple(batch["x_shape"]), tuple(batch["y_shape"])) for batch in one["batches"]}
            if any(x[1:] != (1,) or y[1:] != (1,) for x, y in shapes):
                return failed(f"{call}: batches should hold X and y of shape (batch, 1) as the dataset does; got {sorted(shapes)[:2]}.", HINTS["wrong_batches"], "wrong_batches")
            if rows == list(range(n)):
                return failed(f"{call}: pass {p} gives the training samples in the dataset's order; the training loader must shuffle.", HINTS["train_not_shuffled"], "train_not_shuffled")
        if len(passes) > 1 and _pass_rows(passes[0]) == _pass_rows(passes[1]):
            return failed(f"{call}: two passes over the training loader gave the same order; each pass must draw a new one.", HINTS["not_reshuffled"], "not_reshuffled")
    sizes = ", ".join(str(c["batch_size"]) for c in value["cases"])
    return passed(f"make_loaders: batch sizes {sizes} give full passes over all {n} training samples, shuffled anew each pass, the last batch kept.")


def judge_generator(value: dict) -> Verdict:
    first, same, other, none = value["cases"][0], value["same_seed"], value["other_seed"], value["no_generator"]
    for case in (first, same, other):
        error = _loader_error(case)
        if error:
            return error
    b = first["batch_size"]
    seed, other_seed = same["seed"], other["seed"]
    a, a2, c = (_pass_rows(x["train"][0]) for x in (first, same, other))
    if a != a2:
        return failed(
            f"make_loaders(..., batch_size={b}, generator=torch.Generator().manual_seed({seed})) called twice "
            f"gave two different orders; the same seed must give the same order.",
            HINTS["generator_ignored"],
            "generator_ignored",
        )
    if a == c == list(range(fixtures.N_TRAIN)):
        return failed(
            f"make_loaders(..., batch_size={b}) gives the training samples in the dataset's order whatever the seed; "
            f"the training loader must shuffle with the generator passed in.",
            HINTS["train_not_shuffled"],
            "train_not_shuffled",
        )
    if a == c:
        return failed(
            f"make_loaders(..., batch_size={b}) gave the same order with generators seeded {seed} and {other_seed}; "
            f"the order must come from the generator passed in.",
            HINTS["fixed_seed"],
            "fixed_seed",
        )
    if none.get("error"):
        return failed(f"make_loaders(train_dataset, valid_dataset, {b}) without a generator raised {none['error']}.", HINTS["generator_required"], "generator_required")
    if _pass_rows(none["train"][0]) == list(range(fixtures.N_TRAIN)):
        return failed(f"make_loaders(train_dataset, valid_dataset, {b}) without a generator does not shuffle.", HINTS["train_not_shuffled"], "train_not_shuffled")
    return passed("make_loaders: the same seed gives the same order, another seed another order, and generator=None works.")


def judge_valid_loader(value: dict) -> Verdict:
    n = fixtures.N_VALID
    for case in value["cases"]:
        error = _loader_error(case)
        if error:
            return error
        call = f"make_loaders(..., batch_size={case['batch_size']}, generator=...)"
        for p, one in enumerate(case["valid"], start=1):
            sizes = [batch["n"] for batch in one["batches"]]
            if one["count"] != 1 or sizes != [n]:
                return failed(
                    f"{call}: the validation loader should give one batch of all {n} validation samples; "
                    f"pass {p} gave {one['count']} batch(es) of sizes {_some(sizes, 8)}.",
                    HINTS["valid_not_one_batch"],
                    "valid_not_one_batch",
                )
            batch = one["batches"][0]
            if sorted(batch["rows"] or []) != list(range(n)) or not batch["paired"]:
                return failed(f"{call}: the validation batch does not hold the validation samples (x with its y).", HINTS["valid_not_one_batch"], "valid_not_one_batch")
            if batch["rows"] != list(range(n)):
                return failed(f"{call}: the validation batch is shuffled (pass {p}); it must keep the dataset's order.", HINTS["valid_shuffled"], "valid_shuffled")
            if list(batch["x_shape"]) != [n, 1] or list(batch["y_shape"]) != [n, 1]:
                return failed(f"{call}: the validation batch should hold X and y of shape ({n}, 1); got {batch['x_shape']} and {batch['y_shape']}.", HINTS["valid_not_one_batch"], "valid_not_one_batch")
    return passed(f"make_loaders: the validation loader gives all {n} validation samples as one batch, in order, whatever the batch size.")


# ----------------------------------------------------------------------------------
# The checks
# ----------------------------------------------------------------------------------


def loop_probe(loop: str) -> Probe:
    return Probe(
        key=f"descent:{loop}:{EPOCHS}",
        function="train_loop",
        args={"loop": loop, "epochs": EPOCHS},
        needs=("descent",),
        timeout=TIMEOUTS[loop],
    )


def loaders_probe() -> Probe:
    seed, other = MAKE_LOADERS_SEEDS
    return Probe(
        key="descent:make_loaders",
        function="make_loaders",
        args={"batch_sizes": MAKE_LOADERS_BATCH_SIZES, "seed": seed, "other_seed": other},
        needs=("descent",),
        timeout=TIMEOUTS["make_loaders"],
    )


LOOP_CHECKS = [  # (name after "<loop>: ", points, judge): 30 points per loop, whole points for Classroom
    ("returns two lists of floats", 2, rejecting_inconsistent(charging_the_callee(judge_returns))),
    ("updates per epoch", 5, rejecting_inconsistent(charging_the_callee(judge_updates))),
    ("zero_grad discipline", 5, rejecting_inconsistent(charging_the_callee(judge_gradients))),
    ("validation once per epoch, parameters untouched", 5, rejecting_inconsistent(charging_the_callee(judge_validation))),
    ("training losses match the reference", 5, rejecting_inconsistent(charging_the_callee(judge_training_losses))),
    ("validation losses match the reference", 4, rejecting_inconsistent(charging_the_callee(judge_validation_losses))),
    ("final parameters match the reference", 4, rejecting_inconsistent(charging_the_callee(judge_parameters))),
]


def checks() -> list[Check]:
    probe = loaders_probe()
    result = [
        Check("make_loaders: training batches", 5, probe, reading_loaders(judge_training_batches)),
        Check("make_loaders: shuffles with the given generator", 3, probe, reading_loaders(judge_generator)),
        Check("make_loaders: one unshuffled validation batch", 2, probe, reading_loaders(judge_valid_loader)),
    ]
    for loop in LOOPS:
        probe = loop_probe(loop)
        result += [Check(f"{loop}: {name}", points, probe, judge) for name, points, judge in LOOP_CHECKS]
    return result


# ----------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------


def _curves(outcome, reference) -> tuple[list, list] | None:
    """(training losses, validation losses) as floats from an outcome, or None if there are none
    (or the answer is rejected)."""
    if outcome is None or not outcome.ok or reference is None or not reference.ok:
        return None
    try:
        train, valid = returned_lists(analyse(outcome.value, reference.value))
    except answers.Inconsistent:
        return None
    if train is None or valid is None:
        return None
    return [_float(v) for v in train], [_float(v) for v in valid]


DIVERGED = 1e3  # a loss this many times the reference's largest has diverged (and would flatten the plot)


def _finite(values) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v) and v > 0]


def _diverged_at(values: list, ceiling: float) -> int | None:
    """The index of the first loss that is not a number, infinite or above ``ceiling``."""
    return next((i for i, v in enumerate(values) if v is None or not math.isfinite(v) or v > ceiling), None)


def _draw(ax, curves, per_epoch: int, label: str, style: dict, ceiling: float = math.inf) -> list[str]:
    """Draw the curves up to where they diverge; returns what diverged, in words."""
    train, valid = curves
    stop_train, stop_valid = _diverged_at(train, ceiling), _diverged_at(valid, ceiling)
    train, valid = train[:stop_train], valid[:stop_valid]
    if train:
        ax.plot([k / per_epoch for k in range(len(train))], train, label=f"{label} training", color="tab:blue", **style)
    if valid:
        ax.plot(range(1, len(valid) + 1), valid, label=f"{label} validation", color="tab:orange", marker="o", markersize=3, **style)
    events = []
    if stop_train is not None:
        ax.axvline(stop_train / per_epoch, color="tab:red", linewidth=1)
        events.append(f"training diverged at update {stop_train + 1}")
    if stop_valid is not None:
        ax.axvline(stop_valid + 1, color="tab:red", linewidth=1, linestyle=":")
        events.append(f"validation diverged at epoch {stop_valid + 1}")
    return events


def _panel(ax, loop: str, report) -> None:
    """One loop: the reference dashed, the student's solid, on the reference's scale; a
    student's run that diverges stops where it does, marked in red and named in the title."""
    key = loop_probe(loop).key
    outcomes = getattr(report, "outcomes", {}) or {}
    references = getattr(report, "reference", {}) or {}
    mine, ref = outcomes.get(key), references.get(key)
    per_epoch = answers.expected_setup(loop, EPOCHS).per_epoch
    ref_curves, my_curves = _curves(ref, ref), _curves(mine, ref)
    shown = _finite([*ref_curves[0], *ref_curves[1]]) if ref_curves else []
    ceiling = max(shown) * DIVERGED if shown else math.inf
    if ref_curves:
        _draw(ax, ref_curves, per_epoch, "reference", {"linestyle": "--", "alpha": 0.6, "linewidth": 1})
    title = METHODS[loop]
    if my_curves:
        events = _draw(ax, my_curves, per_epoch, "yours", {"linewidth": 1.2}, ceiling)
        if events:
            title += "\n(" + "; ".join(events) + ")"
        shown += _finite([v for v in (*my_curves[0], *my_curves[1]) if v is not None and v <= ceiling])
    else:
        why = (mine.error.splitlines()[0][:60] if mine is not None and mine.error else "no result")
        title += f"\n(your {loop} failed: {why}; reference only)"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss")
    ax.set_yscale("log")
    if shown:
        ax.set_ylim(min(shown) / 2, max(shown) * 2)
    ax.legend(fontsize=7)


def artifacts(report, outdir: Path) -> list[Path]:
    """'Epoch VS Loss' for each loop (yours against the reference's) and the three side by side."""
    from matplotlib.figure import Figure  # no pyplot: no backend, no global state

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for loop in LOOPS:
        figure = Figure(figsize=(6, 4), layout="constrained")
        _panel(figure.add_subplot(), loop, report)
        figure.suptitle(f"Epoch VS Loss: {loop}")
        path = outdir / f"descent-{loop}-epoch-vs-loss.png"
        figure.savefig(path, dpi=100)
        written.append(path)
    figure = Figure(figsize=(15, 4), layout="constrained")
    axes = figure.subplots(1, 3)  # each method its own scale: SGD's noise would flatten batch GD
    for ax, loop in zip(axes, LOOPS):
        _panel(ax, loop, report)
    figure.suptitle("Typical Behavior: batch GD, SGD and minibatch SGD (yours solid, reference dashed)")
    path = outdir / "descent-typical-behavior.png"
    figure.savefig(path, dpi=100)
    written.append(path)
    return written
