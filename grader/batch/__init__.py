"""Batch grading for instructors: a whole class into one SQLite gradebook.

discover    find the class's submissions and name their students
gradebook   the SQLite gradebook: the one place results land
worker      grade one submission in a trusted process with a warm sandbox
pool        parallel worker processes on this machine
cluster     the same grading on a Dask distributed cluster
progress    a progress bar on a terminal, plain lines in CI
export      the CSV for gradebook imports and per-student feedback
report      the class report (HTML with plots)
run         the batch itself: decide what to grade, grade it, record it, export
"""
