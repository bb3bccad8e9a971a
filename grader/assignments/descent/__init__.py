"""The descent assignment: data loaders and three training loops (batch gradient
descent, SGD and minibatch SGD) graded against the reference's trajectory."""

from grader.plugin import Assignment

ASSIGNMENT = Assignment(
    name="descent",
    title="Minibatch stochastic gradient descent: three training loops",
    modules={"descent": "descent.py"},
    probes="grader.assignments.descent.probes",
    checks_from="grader.assignments.descent.checks:checks",
    # Everything that decides a point, or knows what a run must be: never readable by the child.
    hidden=tuple(
        f"grader.assignments.descent.{module}"
        for module in ("checks", "judges", "loader_judges", "diagnosis", "events", "answers", "mistakes", "tolerances", "plots")
    ),
    artifacts_from="grader.assignments.descent.plots:artifacts",
    notebook="descent.ipynb",
    notebook_from="grader.assignments.descent.authoring:build_notebook",
    hidden_checks_from="reference.descent.variants:checks",
)
