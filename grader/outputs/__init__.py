"""Output formats of a grade: Gradescope's results.json, a terminal summary, and more."""
