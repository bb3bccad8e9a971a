"""Progress of a batch: a live bar on a terminal, one plain line per submission in CI logs.

Both show the rate (submissions per second), the time left and the failures so far:
submissions that could not be graded, whether the submission or the grader was at fault.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from grader.batch.gradebook import FAILED
from grader.outputs.text import plain


def is_failure(record: dict) -> bool:
    return record["state"] == FAILED or bool(record.get("problem"))


def describe(record: dict) -> str:
    """One line about a finished submission."""
    if record["state"] == FAILED:
        return f"NOT GRADED: {record['problem']}"
    score = f"{record['score']:g}/{record['max_score']:g}"
    return f"{score} (could not grade: {record['problem']})" if record.get("problem") else score


class BatchProgress:
    """``progress.advance(record)`` after each submission; ``close()`` at the end."""

    def __init__(self, total: int, stream: TextIO | None = None, live: bool | None = None):
        self.stream = stream or sys.stdout
        self.total = total
        self.done = 0
        self.failures = 0
        self.started = time.monotonic()
        self.live = self.stream.isatty() if live is None else live
        self.bar: Progress | None = None
        if self.live and total:
            self.bar = Progress(
                TextColumn("[bold]grading"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[failures]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task("grading", total=total, rate="", failures="")

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        rate = self.rate()
        return (self.total - self.done) / rate if rate > 0 else None

    def advance(self, record: dict) -> None:
        self.done += 1
        self.failures += is_failure(record)
        if self.bar is not None:
            failures = f"[red]{self.failures} failed[/]" if self.failures else "0 failed"
            self.bar.update(self.task, advance=1, rate=f"{self.rate():.2f}/s", failures=failures)
            if is_failure(record):
                self.bar.console.print(f"[red]{escape(plain(record['student']))}[/]: {escape(plain(describe(record)))}", highlight=False)
            return
        if self.stream is None:
            return
        eta = self.eta()
        eta_text = f"ETA {eta:.0f} s" if eta is not None else "ETA ?"
        width = len(str(self.total))
        try:
            print(
                f"[{self.done:>{width}}/{self.total}] {plain(record['student'])}: {plain(describe(record))} "
                f"({record['seconds']:.1f} s) | {self.rate():.2f}/s, {eta_text}, {self.failures} failed",
                file=self.stream,
                flush=True,
            )
        except OSError:  # the log reader went away (a closed pipe): keep grading, stop printing
            self.stream = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
