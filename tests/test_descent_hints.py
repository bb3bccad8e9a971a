"""Each known descent mistake's hint says what that mistake is about.

The phrases below are written from what each mistake means, not copied from the table:
a hint moved to the wrong key (two hints swapped, a new row's hint pasted from its
neighbour) fails here, as a hint that contradicts the student's code would be a bug.
"""

import pytest

from grader.assignments.descent import mistakes

# key -> a phrase only that mistake's hint may contain ("": the mistake has no hint to give)
PHRASES = {
    "not_two_lists": "tuple of two lists",
    "own_optimizer": "do not create your own optimizer",
    "no_update": "Update the parameters once per batch",
    "train_on_valid_data": "loaders swapped",
    "one_batch_per_epoch": "(the first batch only)",
    "extra_epoch": "range(num_epochs):`.",
    "missing_epoch": "runs one fewer",
    "no_backward": "with its parentheses",
    "step_before_backward": "a step taken before the backward pass",
    "zero_grad_between_backward_and_step": "erases the gradient just computed",
    "no_zero_grad": "adds each backward's gradients to `.grad`",
    "extra_backward": "an extra backward",
    "step_without_backward": "on each batch's loss before `optimizer.step()`",
    "other_loss": "not a scaled, summed or hand-made loss",
    "optimizer_settings_changed": "do not change its learning rate",
    "params_changed_outside_step": "Change the parameters only through `optimizer.step()`",
    "valid_changes_params": "Validation must leave the parameters alone",
    "lists_swapped": "training losses first",
    "train_loss_per_epoch": "not one value per epoch",
    "loss_after_step": "not a loss recomputed after `optimizer.step()`",
    "valid_every_batch": "out of the batch loop",
    "valid_before_training": "not before them",
    "valid_on_train_data": "not on training data",
    "validation_timing": "after that epoch's last update",
    "wrong_update_count": "one per epoch for batch gradient descent",
    "tensors_not_floats": "not the loss tensor itself",
    "not_python_floats": "not NumPy numbers",
    "stale_gradient": "exactly the gradient of its own batch",
    "trajectory_mismatch": "",
    "loss_values": "Append the loss of the batch you train on",
    "wrong_lengths": "Your updates are right, but not the lists you return",
    "too_much_work": "far more than num_epochs epochs",
    "inconsistent_report": "",
    "make_loaders_error": "",
    "train_not_shuffled": "Shuffle the training loader",
    "not_reshuffled": "a new order on every pass",
    "drop_last": "Keep the last, smaller batch",
    "wrong_batch_size": "Give the training loader `batch_size=batch_size`",
    "wrong_batches": "every training sample exactly once",
    "generator_ignored": "Pass the generator to the training DataLoader",
    "fixed_seed": "do not seed or create a generator of your own",
    "generator_required": "a default of None",
    "valid_not_one_batch": "`batch_size=len(valid_dataset)`",
    "valid_shuffled": "Do not shuffle the validation loader",
}


def test_every_known_mistake_has_a_phrase_here():
    assert set(mistakes.BY_KEY) == set(PHRASES)


@pytest.mark.parametrize("key", sorted(PHRASES))
def test_a_hint_is_about_its_own_mistake(key):
    hint = mistakes.hint(key)
    if not PHRASES[key]:
        assert hint == ""
        return
    assert PHRASES[key] in hint
    others = [other for other, phrase in PHRASES.items() if other != key and phrase and phrase in hint]
    assert not others, f"{key}'s hint reads as {others}'s"


def test_a_failure_carries_the_hint_of_the_mistake_it_names():
    verdict = mistakes.failing("train_sgd: 399 of 400 updates used old gradients.", "no_zero_grad")
    assert not verdict.passed and verdict.mistake == "no_zero_grad" and PHRASES["no_zero_grad"] in verdict.hint
