"""Packaging the grader for where students work and where grades are recorded:
a GitHub Classroom template repository, a Gradescope autograder zip, and the local
self-check those templates point students to."""
