"""Hidden variants of the descent checks: the loops trained for another number of epochs,
make_loaders on other batch sizes and seeds.

Private: under reference/, never in the students' copy, and a folder, so `assign` never
makes a stub of it. The official grade passes a check only if these inputs pass too, so a
loop that returns the public run's stored losses, or a make_loaders written for the public
batch sizes, loses the points.
"""

from grader.variants import private_copy

EPOCHS = 7
MAKE_LOADERS_BATCH_SIZES = [20, 23, 80, 1, 95]  # divides 80, does not divide, the whole set, one, more than all
MAKE_LOADERS_SEEDS = (17, 29)


def checks():
    copy = private_copy(
        "grader.assignments.descent.checks",
        EPOCHS=EPOCHS,
        MAKE_LOADERS_BATCH_SIZES=MAKE_LOADERS_BATCH_SIZES,
        MAKE_LOADERS_SEEDS=MAKE_LOADERS_SEEDS,
    )
    return copy.checks()
