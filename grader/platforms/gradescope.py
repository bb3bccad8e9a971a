"""A Gradescope autograder zip for one assignment.

Gradescope unpacks the zip into /autograder/source, runs ``setup.sh`` once to build its
image, then runs ``run_autograder`` (copied to /autograder) for every submission, with
the student's files in /autograder/submission; the grade goes to
/autograder/results/results.json. The zip carries this grader's own source and the
reference solutions, so the image never fetches grading code from anywhere else. It is the
instructor's grader, hidden variants included (reference/<name>/variants/): students never
see an autograder, so this is the authoritative grade.

Student code runs inside the grader's sandbox; when the grader runs as root, as it does
on Gradescope, the sandbox's isolation drops student code to an unprivileged user.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from string import Template

from grader import assignments
from grader.plugin import Assignment, repo_path
from grader.platforms.install import pip_commands

BUNDLE = "nn-grader"  # the folder in the zip holding the grader's source
VENV = "/opt/nn-grader/venv"  # outside /autograder: nothing a submission brings can land in it
EXECUTABLE = 0o100755 << 16  # zip external attributes of a regular executable file

SETUP = Template("""\
#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder image.
set -euo pipefail
SOURCE="$$(cd "$$(dirname "$${BASH_SOURCE[0]}")" && pwd)"   # /autograder/source

export DEBIAN_FRONTEND=noninteractive
apt-get update
# bubblewrap: the strongest sandbox, where the container allows namespaces (else the grader drops
# student code to a uid of its own, and says so to the instructor)
apt-get install -y --no-install-recommends ca-certificates python3 python3-venv python3-pip bubblewrap
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    # The grader needs Python 3.11 or later; older Ubuntu images ship it as a separate package.
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
    PYTHON=python3.11
fi
"$$PYTHON" -m venv $venv
$install
$course
# Fail the build now, not at the first submission: the reference must get full points.
$venv/bin/python -I -m grader grade $assignment "$$SOURCE/$reference" --results /tmp/nn-grader-selftest.json --quiet
$venv/bin/python -I -c 'import json, sys; r = json.load(open("/tmp/nn-grader-selftest.json")); sys.exit(r["score"] != r["max_score"])'
""")

RUN = Template("""\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission into results.json.
# AUTOGRADER_ROOT and AUTOGRADER_PYTHON exist so the grader's tests can run this script locally.
set -uo pipefail
ROOT="$${AUTOGRADER_ROOT:-/autograder}"
PYTHON="$${AUTOGRADER_PYTHON:-$venv/bin/python}"
mkdir -p "$$ROOT/results"
cd "$$ROOT"
SOURCE="$$ROOT/source"
$course
# -I: neither the working folder nor PYTHON* variables can put other code in front of the grader.
"$$PYTHON" -I -m grader grade $assignment "$$ROOT/submission" --results "$$ROOT/results/results.json" --attempts 3
status=$$?
# 3: the machine stayed too busy to grade. No results.json, so Gradescope shows an autograder
# failure the student can resubmit past, never a score the machine made up.
[ $$status -eq 3 ] && rm -f "$$ROOT/results/results.json"
exit $$status
""")


COURSE = "course"  # the folder in the zip holding an assignment kept outside the grader (GRADER_ASSIGNMENTS)


def setup_script(assignment: Assignment) -> str:
    install = "\n".join(pip_commands(f"$SOURCE/{BUNDLE}", f"{VENV}/bin/python -I"))
    reference = f"{BUNDLE}/reference/{assignment.name}" if assignment.built_in else _in_course(assignment, assignment.reference_dir)
    return SETUP.substitute(venv=VENV, install=install, assignment=assignment.name, course=_course_setting(assignment), reference=reference)


def run_script(assignment: Assignment) -> str:
    return RUN.substitute(venv=VENV, assignment=assignment.name, course=_course_setting(assignment))


def _course_setting(assignment: Assignment) -> str:
    """For an assignment from a course folder, the shell line that names its bundled copy."""
    if assignment.built_in:
        return ""
    return f'export {assignments.FOLDERS_SETTING}="$SOURCE/{_in_course(assignment, assignment.folder.parent)}"'


def _course_root(assignment: Assignment) -> Path:
    """The folder holding both the assignment's package and its reference (bundled from there)."""
    return Path(os.path.commonpath([assignment.folder.parent, assignment.reference_dir]))


def _in_course(assignment: Assignment, path: Path) -> str:
    return (Path(COURSE) / path.relative_to(_course_root(assignment))).as_posix()


def course_files(assignment: Assignment) -> dict[str, Path]:
    """Zip path -> file: an assignment from a course folder, its package and its reference
    (the stubs are the students'); nothing for a built-in one, which the grader carries."""
    if assignment.built_in:
        return {}
    files = {}
    for folder in (assignment.folder, assignment.reference_dir):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[_in_course(assignment, path)] = path
    return files


def bundled_files() -> dict[str, Path]:
    """Zip path -> file: the grader package, the reference solutions and the build files."""
    root = repo_path()
    files = {f"{BUNDLE}/{name}": root / name for name in ("pyproject.toml", "README.md") if (root / name).is_file()}
    for package in ("grader", "reference"):
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[f"{BUNDLE}/{path.relative_to(root).as_posix()}"] = path
    return files


def build(assignment: Assignment, out: Path) -> Path:
    """Write the autograder zip to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", setup_script(assignment)), ("run_autograder", run_script(assignment))):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = EXECUTABLE
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
        files = bundled_files() | course_files(assignment)
        if f"{BUNDLE}/README.md" not in files:
            # pyproject.toml names a README; setuptools will not build the bundle without one.
            archive.writestr(f"{BUNDLE}/README.md", "nn-grader, bundled for a Gradescope autograder.\n")
        for name, path in files.items():
            archive.write(path, name)
    return out
