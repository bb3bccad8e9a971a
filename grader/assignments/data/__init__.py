"""The data assignment: preparing a dataset (a seeded three-way split, normalization
with the training split's statistics, a proxy dataset) and evaluating a trained model."""

from grader.plugin import Assignment

ASSIGNMENT = Assignment(
    name="data",
    title="Prepare, train, evaluate: splitting, normalizing and evaluating",
    modules={"data": "data.py"},
    probes="grader.assignments.data.probes",
    checks_from="grader.assignments.data.checks:checks",
    hidden=("grader.assignments.data.checks",),
    artifacts_from="grader.assignments.data.plots:artifacts",
    notebook="data.ipynb",
    notebook_from="grader.assignments.data.authoring:build_notebook",
    hidden_checks_from="reference.data.variants:checks",
)
