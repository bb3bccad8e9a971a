"""Hidden variants of the data checks: other generator seeds, another proxy size and
another fixed split (so other normalization statistics and other checkpoints to evaluate).

Private: under reference/, never in the students' copy, and a folder, so `assign` never
makes a stub of it. The official grade passes a check only if these inputs pass too, so a
function written for the public seeds alone loses the points.
"""

from grader.variants import private_copy

SEEDS = (21, 8)
GLOBAL_SEEDS = (5, 9)
PROXY_SIZE = 13
FIXED_SEED = 11


def checks():
    copy = private_copy(
        "grader.assignments.data.checks",
        SEEDS=SEEDS,
        GLOBAL_SEEDS=GLOBAL_SEEDS,
        PROXY_SIZE=PROXY_SIZE,
        FIXED_SEED=FIXED_SEED,
    )
    return copy.checks()
