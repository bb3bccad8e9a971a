"""The descent assignment: data loaders and three training loops (batch gradient
descent, SGD and minibatch SGD) graded against the reference's trajectory."""

from grader.plugin import Assignment

ASSIGNMENT = Assignment(
    name="descent",
    title="Minibatch stochastic gradient descent: three training loops",
    modules={"descent": "descent.py"},
    probes="grader.assignments.descent.probes",
    checks_from="grader.assignments.descent.checks:checks",
    hidden=("grader.assignments.descent.checks",),
    artifacts_from="grader.assignments.descent.checks:artifacts",
    notebook="descent.ipynb",
    notebook_from="grader.assignments.descent.authoring:build_notebook",
    hidden_checks_from="reference.descent.variants:checks",
)
