"""The same grading on a Dask distributed cluster (``--cluster tcp://scheduler:8786``).

Each Dask worker process runs ``worker.grade_task``: the very function a local pool
worker runs, with its own warm sandbox. Submissions travel as bytes (a folder is
packed into a zip of the files that count), so workers need the grader installed
but no view of the class folder. Records come back as plain dicts and the caller
writes them to its local gradebook: the cluster never touches it.

Start workers with one thread each (``dask worker ADDRESS --nthreads 1``): a worker
process grades one submission at a time anyway (see ``worker._one_at_a_time``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable, Iterator

from grader import assignments
from grader.batch.contents import pack
from grader.batch.worker import Task, close_warm_graders, failure_record, grade_task
from grader.sandbox.runner import Limits

IN_FLIGHT_PER_WORKER = 2  # enough to keep every worker busy; few enough that a kill wastes little


class DaskCluster:
    """``with DaskCluster(address, "autodiff") as cluster: for record in cluster.grade(tasks): ...``"""

    def __init__(self, address: str, assignment: str, limits: Limits | None = None, connect_timeout: float = 30):
        self.address = address
        self.assignment = assignments.get(assignment)
        self.limits = limits
        self.connect_timeout = connect_timeout
        self.client = None

    def __enter__(self) -> DaskCluster:
        from distributed import Client  # imported here: only cluster runs need Dask

        self.client = Client(self.address, timeout=self.connect_timeout)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.client.run(close_warm_graders)  # do not leave sandboxes waiting on the workers
        except Exception:
            pass  # a worker that is gone has no sandbox left either
        self.client.close()

    def grade(self, tasks: Iterable[Task]) -> Iterator[dict]:
        from distributed import as_completed

        pending = list(tasks)
        pending.reverse()  # pop() from the end hands them out in the given order
        window = max(2, IN_FLIGHT_PER_WORKER * max(1, sum(self.client.nthreads().values())))
        running = as_completed()
        submitted: dict = {}
        while pending and len(submitted) < window:
            self._submit(pending.pop(), running, submitted)
        for future in running:
            task = submitted.pop(future)
            try:
                record = future.result()
            except Exception as error:  # the worker died (repeatedly) or could not run the task
                record = failure_record(task, f"the cluster could not grade this submission ({type(error).__name__}: {error}); it will be graded again on the next run", None)
            finally:
                future.release()
            yield record
            if pending:
                self._submit(pending.pop(), running, submitted)

    def _submit(self, task: Task, running, submitted: dict) -> None:
        name, data = pack(Path(task.path), self.assignment)
        shipped = dataclasses.replace(task, path="", packed_name=name, packed=data)
        future = self.client.submit(grade_task, shipped, self.limits, pure=False)
        submitted[future] = task
        running.add(future)
