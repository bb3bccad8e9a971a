"""Hidden variants of the descent checks: the loops on runs the public answers do not give,
make_loaders on other batch sizes and seeds.

Private: under reference/, never in the students' copy, and a folder, so `assign` never
makes a stub of it. The official grade passes a check only if these inputs pass too, so a
loop that returns the public run's stored losses (or a prefix of them), a loop written for
num_epochs == 5 only, or a make_loaders written for the public batch sizes, loses the points.

The cheapest run that does it differs by loop:

* SGD and minibatch SGD shuffle their training loader with another seed, so every epoch
  trains on another order and the public losses are wrong from the first update on. Two
  epochs are enough: every mistake graded shows at the first epoch boundary, and it is
  160 SGD updates where seven epochs made 560.
* Batch gradient descent sees the whole training set in every epoch, whatever the order:
  another seed gives it the public trajectory again. It runs more epochs than the public
  run instead, whose stored losses are then too few (one update per epoch: cheap).
"""

from grader.variants import private_copy

CHECKS = "grader.assignments.descent.checks"
RESHUFFLED = ("train_sgd", "train_minibatch_sgd")
RESHUFFLED_EPOCHS = 2
RESHUFFLED_LOADER_SEED = 23
BATCH_GD_EPOCHS = 6
MAKE_LOADERS_BATCH_SIZES = [20, 23, 80, 1, 95]  # divides 80, does not divide, the whole set, one, more than all
MAKE_LOADERS_SEEDS = (17, 29)


def checks():
    reshuffled = private_copy(CHECKS, EPOCHS=RESHUFFLED_EPOCHS, LOADER_SEED=RESHUFFLED_LOADER_SEED)
    longer = private_copy(
        CHECKS,
        EPOCHS=BATCH_GD_EPOCHS,
        MAKE_LOADERS_BATCH_SIZES=MAKE_LOADERS_BATCH_SIZES,
        MAKE_LOADERS_SEEDS=MAKE_LOADERS_SEEDS,
    )
    return [c for c in reshuffled.checks() if c.function in RESHUFFLED] + [
        c for c in longer.checks() if c.function not in RESHUFFLED
    ]
