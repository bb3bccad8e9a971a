"""Hidden variants of the autodiff checks: the same checks on other values of the same shapes.

Private: under reference/, never in the students' copy, and a folder, so `assign` never
makes a stub of it. The official grade passes a check only if these inputs pass too, so
code that fits the public inputs alone loses the points. Zeros stay where the public
inputs have them (the gradient of |x| at 0); the losses keep one exact tie.
"""

from grader.variants import private_copy

SHAPES = {
    "1x1": [[3.25]],
    "1x1 zero": [[0.0]],
    "1x5": [[1.75, 0.0, -0.5, 4.0, -2.25]],
    "4x1": [[-3.0], [2.5], [0.0], [-0.75]],
    "3x4": [[2.0, -0.5, 0.0, 3.75], [-1.25, 0.0, 4.5, -2.0], [1.5, -3.25, 0.25, 0.0]],
}
PREDICTION = [[1.5], [-0.5], [0.25], [2.0], [-3.0], [0.75]]
TARGET = [[-0.5], [-0.5], [1.25], [0.5], [-1.0], [2.0]]  # the second row is a tie


def checks():
    copy = private_copy("grader.assignments.autodiff.checks", SHAPES=SHAPES, PREDICTION=PREDICTION, TARGET=TARGET)
    return copy.checks()
