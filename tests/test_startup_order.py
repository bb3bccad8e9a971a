"""A single grade starts its sandbox before this process imports the checks: the child's
Python and torch start on one core while the grading process imports its own on the other."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import sys
    from grader import grade
    from grader.sandbox import runner

    seen = []
    started = runner.Child.__init__

    def recording(self, *args, **kwargs):
        seen.append(("torch" in sys.modules, sorted(m for m in sys.modules if m.endswith(".checks"))))
        started(self, *args, **kwargs)
        seen.append(("torch" in sys.modules, sorted(m for m in sys.modules if m.endswith(".checks"))))

    runner.Child.__init__ = recording
    grade.Child = runner.Child
    assignment, child = grade.start("descent")
    child.close()
    print(seen, "torch" in sys.modules, assignment.name)
    """
)


def test_the_sandbox_starts_before_the_checks_and_torch_are_imported_here():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = eval(done.stdout.split(" True descent")[0])  # noqa: S307 (our own script's repr)
    assert before == (False, []) and after == (False, [])  # nor does building the child's view import them
    assert done.stdout.rstrip().endswith("True descent")  # validated after: the checks (and torch) are loaded now
