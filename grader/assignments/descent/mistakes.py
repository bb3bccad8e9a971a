"""The known mistakes of the descent assignment: one table, one row per mistake.

A row says everything the grader knows of a mistake: its key (stable: class statistics
count it), its hint, whether ``diagnosis.diagnose`` finds it in a run's log, and which
loop checks a diagnosis of it explains. The diagnosed rows come first, in priority
order: a failing check is explained by the first row its run shows among those the check
is affected by (root causes before their symptoms). The other rows are named by a judge
directly, as the fallback of a failure no diagnosis explains or as a make_loaders mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.plugin import Verdict, failed

# What a loop's diagnosed mistake can explain: the failure of ...
RETURNS = "returns"  # ... the returned lists' lengths ("returns two lists of floats")
UPDATES = "updates"  # ... "updates per epoch"
GRADIENTS = "gradients"  # ... "zero_grad discipline"
VALIDATION = "validation"  # ... "validation once per epoch, parameters untouched"
TRAJECTORY = "trajectory"  # ... the training and validation losses and the final parameters
ASPECTS = {RETURNS, UPDATES, GRADIENTS, VALIDATION, TRAJECTORY}


@dataclass(frozen=True)
class Mistake:
    key: str
    hint: str
    diagnosed: bool  # diagnose() finds it in a run's log; otherwise only a judge names it
    affects: frozenset[str]  # the ASPECTS whose failure a diagnosis of it explains


def found(key: str, hint: str, *affects: str) -> Mistake:
    """A mistake diagnosed from a run's log; a format-only one (values right, types wrong) affects no aspect."""
    return Mistake(key, hint, True, frozenset(affects))


def named(key: str, hint: str = "") -> Mistake:
    return Mistake(key, hint, False, frozenset())


MISTAKES = (
    # Diagnosed, highest priority first.
    found("not_two_lists", "Return a tuple of two lists: `return train_losses, valid_losses`.", RETURNS, TRAJECTORY),
    found(
        "own_optimizer",
        "Use the `optimizer` passed to your function: do not create your own optimizer inside the "
        "function (or update the parameters by hand). The caller chooses the optimizer and its settings.",
        RETURNS, UPDATES, TRAJECTORY,
    ),
    found(
        "no_update",
        "Update the parameters once per batch: `optimizer.zero_grad()`, `loss.backward()`, `optimizer.step()`.",
        RETURNS, UPDATES, GRADIENTS, TRAJECTORY,
    ),
    found(
        "train_on_valid_data",
        "Train on the batches of `train_loader` and validate on `valid_loader`; your updates used the "
        "validation data (are the two loaders swapped?).",
        RETURNS, UPDATES, VALIDATION, TRAJECTORY,
    ),
    found(
        "one_batch_per_epoch",
        "Loop over every batch of `train_loader` in each epoch (`for X, y in train_loader:`): your loop made one "
        "update per pass over it, as `next(iter(train_loader))` (the first batch only) or a `break` would.",
        RETURNS, UPDATES, TRAJECTORY,
    ),
    found("extra_epoch", "Run exactly `num_epochs` epochs: `for _ in range(num_epochs):`.", RETURNS, UPDATES, TRAJECTORY),
    found(
        "missing_epoch",
        "Run exactly `num_epochs` epochs: `for _ in range(num_epochs):` (`range(1, num_epochs)` runs one fewer).",
        RETURNS, UPDATES, TRAJECTORY,
    ),
    found(
        "no_backward",
        "Call `loss.backward()`, with its parentheses, before each `optimizer.step()`: no backward pass ran at "
        "all, so no step had a gradient to use (`loss.backward` without `()` only names the method, it does not run it).",
        GRADIENTS, TRAJECTORY,
    ),
    found(
        "step_before_backward",
        "Call `loss.backward()` before `optimizer.step()`: a step taken before the backward pass uses the "
        "previous batch's gradients (or none). The order is zero_grad, backward, step.",
        GRADIENTS, TRAJECTORY,
    ),
    found(
        "zero_grad_between_backward_and_step",
        "`optimizer.zero_grad()` runs between `loss.backward()` and `optimizer.step()`, so it erases the "
        "gradient just computed and the step changes nothing. The order is zero_grad, backward, step.",
        GRADIENTS, TRAJECTORY,
    ),
    found(
        "no_zero_grad",
        "Call `optimizer.zero_grad()` before every `loss.backward()` (or right after every `optimizer.step()`). "
        "PyTorch adds each backward's gradients to `.grad`, so without it an update also uses the gradients "
        "of earlier batches.",
        GRADIENTS, TRAJECTORY,
    ),
    found(
        "extra_backward",
        "Call `backward()` only on the training loss of the batch you are about to step on: an extra backward "
        "(for example on the validation loss) adds its gradients to the next update.",
        GRADIENTS, TRAJECTORY,
    ),
    found(
        "step_without_backward",
        "Call `loss.backward()` on each batch's loss before `optimizer.step()`.",
        GRADIENTS, TRAJECTORY,
    ),
    found(
        "other_loss",
        "Call `backward()` on the loss of the batch exactly as the criterion you are given computes it, "
        "`criterion(model(X), y)`: not a scaled, summed or hand-made loss, nor one on other targets.",
        GRADIENTS, TRAJECTORY,
    ),
    found(
        "optimizer_settings_changed",
        "Use the optimizer as it is given: do not change its learning rate or other settings (`optimizer.param_groups`).",
        TRAJECTORY,
    ),
    found(
        "params_changed_outside_step",
        "Change the parameters only through `optimizer.step()` of the optimizer you are given.",
        UPDATES, TRAJECTORY,
    ),
    found(
        "valid_changes_params",
        "Validation must leave the parameters alone: no `backward()` or `optimizer.step()` on the validation "
        "loss (compute it under `torch.no_grad()`).",
        UPDATES, VALIDATION, TRAJECTORY,
    ),
    found(
        "lists_swapped",
        "Return the training losses first and the validation losses second: `return train_losses, valid_losses`.",
        RETURNS, TRAJECTORY,
    ),
    found(
        "train_loss_per_epoch",
        "Append every batch's loss to `train_losses` inside the batch loop: one value per update "
        "(`num_epochs * len(train_loader)` in all), not one value per epoch.",
        RETURNS, TRAJECTORY,
    ),
    found(
        "loss_after_step",
        "Record each batch's loss before its update: append `loss.item()` of the loss you call "
        "`backward()` on, not a loss recomputed after `optimizer.step()`.",
        TRAJECTORY,
    ),
    found(
        "valid_every_batch",
        "Validate once per epoch, after the loop over `train_loader` has finished (move the validation "
        "code out of the batch loop).",
        RETURNS, VALIDATION, TRAJECTORY,
    ),
    found(
        "valid_before_training",
        "Validate after the epoch's updates, not before them: the validation loss of an epoch is measured "
        "with the parameters the epoch ends with.",
        VALIDATION, TRAJECTORY,
    ),
    found(
        "valid_on_train_data",
        "Compute the validation loss on the one batch of `valid_loader` (`X, y = next(iter(valid_loader))`), "
        "not on training data.",
        VALIDATION, TRAJECTORY,
    ),
    found("validation_timing", "Validate exactly once per epoch, after that epoch's last update.", VALIDATION, TRAJECTORY),
    found(
        "wrong_update_count",
        "Make exactly one `optimizer.step()` per training batch (one per epoch for batch gradient descent).",
        RETURNS, TRAJECTORY,
    ),
    found("tensors_not_floats", "Append Python floats, `loss.item()` or `float(loss)`, not the loss tensor itself."),
    found("not_python_floats", "Append Python floats, `loss.item()` or `float(loss)`, not NumPy numbers or other types."),
    # Named by a judge: a loop's failure no diagnosis explains.
    named("stale_gradient", "Each `optimizer.step()` must use exactly the gradient of its own batch: zero_grad, backward, step."),
    named("trajectory_mismatch"),
    named("loss_values", "Append the loss of the batch you train on (`criterion(model(X), y)`), before its update."),
    named(
        "wrong_lengths",
        "Your updates are right, but not the lists you return: append each batch's loss once (one per update) "
        "and one validation loss per epoch, and return those two lists.",
    ),
    named("too_much_work", "Your loop did far more than num_epochs epochs of work; check its loops."),
    named("inconsistent_report"),  # the child's answer is rejected, unscored: there is no mistake to hint at
    # Named by a judge: make_loaders.
    named("make_loaders_error"),
    named(
        "train_not_shuffled",
        "Shuffle the training loader: `DataLoader(train_dataset, batch_size=batch_size, shuffle=True, generator=generator)`.",
    ),
    named("not_reshuffled", "Let the DataLoader shuffle (`shuffle=True`): it draws a new order on every pass, not one fixed order."),
    named("drop_last", "Keep the last, smaller batch when batch_size does not divide the training set (do not pass drop_last=True)."),
    named("wrong_batch_size", "Give the training loader `batch_size=batch_size`."),
    named("wrong_batches", "Each pass over the training loader must give every training sample exactly once, as (X, y) pairs."),
    named(
        "generator_ignored",
        "Pass the generator to the training DataLoader (`generator=generator`) so that the same seed gives the same order.",
    ),
    named("fixed_seed", "Draw the order from the generator you are given; do not seed or create a generator of your own."),
    named(
        "generator_required",
        "Give `generator` a default of None: `def make_loaders(train_dataset, valid_dataset, batch_size, generator=None)`.",
    ),
    named(
        "valid_not_one_batch",
        "The validation loader gives the whole validation set as one batch: `batch_size=len(valid_dataset)`.",
    ),
    named("valid_shuffled", "Do not shuffle the validation loader (`shuffle=False`, the default)."),
)

BY_KEY = {mistake.key: mistake for mistake in MISTAKES}
PRIORITY = [mistake.key for mistake in MISTAKES if mistake.diagnosed]
if len(BY_KEY) != len(MISTAKES) or any(not mistake.affects <= ASPECTS for mistake in MISTAKES):
    raise ValueError("grader bug: a mistake's key is repeated, or it affects an unknown aspect")


def hint(key: str) -> str:
    return BY_KEY[key].hint


def explaining(aspect: str) -> set[str]:
    """The diagnosed mistakes that explain a failure of ``aspect``."""
    return {mistake.key for mistake in MISTAKES if aspect in mistake.affects}


def failing(message: str, key: str) -> Verdict:
    """A failure that names the known mistake ``key``, with its hint."""
    return failed(message, hint(key), key)
