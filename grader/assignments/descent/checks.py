"""Descent checks: what is graded, on which probe, for how many points.

They run in the grading process, on the plain data the probes sent back. Each training
loop runs once (one probe) on the lecture's seeded fixtures with an instrumented
optimizer, model and loaders; seven checks read that one run:

* ``returns two lists of floats`` - the return value's structure, element types, lengths;
* ``updates per epoch`` - 1, N or ceil(N/B) optimizer steps per epoch, num_epochs epochs;
* ``zero_grad discipline`` - every step uses exactly the gradient of its own batch;
* ``validation`` - once per epoch, on the validation set, after the epoch's updates,
  without changing the parameters;
* ``training losses`` / ``validation losses`` - the returned trajectory against the
  reference's;
* ``final parameters`` - against the reference's.

make_loaders runs once (one probe) on several batch sizes and seeds; three checks read it.

The answer is hostile: ``answers`` decodes it and holds it to itself, ``events`` reads it
into a run, ``diagnosis`` holds the run to the reference's and finds its known mistakes
(``mistakes``), and the judges (``judges``, ``loader_judges``) decide each check, within
``tolerances``. What a run must be (epochs, batch size, updates per epoch) comes from this
process. The hidden variants (reference/descent/variants) are private copies of this module
with EPOCHS, LOADER_SEED and the make_loaders inputs replaced: the judges below read them
when they judge.
"""

from __future__ import annotations

from typing import Any, Callable

from grader.assignments.descent import fixtures, judges, loader_judges
from grader.assignments.descent.events import LOOPS
from grader.plugin import Check, Judge, Probe, Verdict

# Five epochs instead of the lecture's 100. Every mistake graded here shows within the
# first two epochs: the order of zero_grad/backward/step repeats at every update, and
# epoch-level mistakes (validation timing, one batch per epoch, an extra epoch, a
# reshuffle per epoch) show at the first epoch boundary; five epochs give four such
# boundaries. SGD then makes 400 instrumented updates (about 0.1 s) instead of 8,000
# (about 2 s), and fewer updates also leave less room for rounding to grow.
EPOCHS = 5

# The training loader's shuffling seed: the lecture's (the notebook's plots show that run).
LOADER_SEED = fixtures.LOADER_SEED

# Seconds of wall time per probe. The reference needs 0.01 s (batch GD), 0.1 s (SGD),
# 0.01 s (minibatch SGD) and 0.01 s (make_loaders) here; the limits leave room for a
# slow machine and a student's slower but correct code, and cap an endless loop.
TIMEOUTS = {"train_batch_gd": 10.0, "train_sgd": 20.0, "train_minibatch_sgd": 10.0, "make_loaders": 10.0}

MAKE_LOADERS_BATCH_SIZES = [16, 30, 80, 1, 100]  # divides 80, does not divide, the whole set, one, more than all
MAKE_LOADERS_SEEDS = (3, 4)


def on_runs(judge: judges.RunJudge) -> Judge:
    """A loop judge on a loop probe's answer, for the EPOCHS and LOADER_SEED of this module (read when it judges)."""

    def judge_answer(value: Any, reference: dict) -> Verdict:
        return judges.judge_run(judge, value, reference, EPOCHS, LOADER_SEED)

    return judge_answer


def on_loaders(judge: Callable[[dict], Verdict]) -> Judge:
    """A make_loaders judge on the loaders probe's answer, for the inputs of this module (read when it judges)."""

    def judge_answer(value: Any, reference: dict) -> Verdict:
        return loader_judges.judge_loaders(judge, value, MAKE_LOADERS_BATCH_SIZES, MAKE_LOADERS_SEEDS)

    return judge_answer


def loop_probe(loop: str) -> Probe:
    return Probe(
        key=f"descent:{loop}:{EPOCHS}",
        function="train_loop",
        args={"loop": loop, "epochs": EPOCHS, "loader_seed": LOADER_SEED},
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
    ("returns two lists of floats", 2, on_runs(judges.judge_returns)),
    ("updates per epoch", 5, on_runs(judges.judge_updates)),
    ("zero_grad discipline", 5, on_runs(judges.judge_gradients)),
    ("validation once per epoch, parameters untouched", 5, on_runs(judges.judge_validation)),
    ("training losses match the reference", 5, on_runs(judges.judge_training_losses)),
    ("validation losses match the reference", 4, on_runs(judges.judge_validation_losses)),
    ("final parameters match the reference", 4, on_runs(judges.judge_parameters)),
]


def checks() -> list[Check]:
    probe = loaders_probe()
    result = [
        Check("make_loaders: training batches", 5, probe, on_loaders(loader_judges.judge_training_batches)),
        Check("make_loaders: shuffles with the given generator", 3, probe, on_loaders(loader_judges.judge_generator)),
        Check("make_loaders: one unshuffled validation batch", 2, probe, on_loaders(loader_judges.judge_valid_loader)),
    ]
    for loop in LOOPS:
        probe = loop_probe(loop)
        result += [Check(f"{loop}: {name}", points, probe, judge) for name, points, judge in LOOP_CHECKS]
    return result

