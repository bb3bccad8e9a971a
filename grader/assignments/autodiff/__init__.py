"""Assignment 1: mean and abs (with their gradients) in the teaching autodiff library, and the MAE loss."""

from grader.plugin import Assignment

ASSIGNMENT = Assignment(
    name="autodiff",
    title="Autodiff: mean, abs and the MAE loss",
    modules={"list2d": "list2d.py", "matrix": "matrix.py", "nn": "nn.py"},
    probes="grader.assignments.autodiff.probes",
    checks_from="grader.assignments.autodiff.checks:checks",
    hidden=("grader.assignments.autodiff.checks",),
    notebook="autodiff.ipynb",
    hidden_checks_from="reference.autodiff.variants:checks",
)
