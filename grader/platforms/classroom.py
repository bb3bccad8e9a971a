"""A GitHub Classroom template repository for one assignment: the student's starting
files, a README, the local self-check config, and ``.github/workflows/classroom.yml``.

The workflow installs this grader pinned from the course's repository, grades the
student's repository once (its files are read as data and run only inside the
sandbox), then has one ``autograding-command-grader`` step per check, worth that
check's points, and the grading reporter. Why one step per check: see
grader/outputs/classroom.py.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from string import Template

import yaml

from grader.outputs.classroom import results_variable, step_id
from grader.plugin import Assignment, Check
from grader.platforms import write_tree
from grader.platforms.install import GraderSource, pip_commands
from grader.platforms.local import CONFIG_NAME, OUTPUT_DIR, render_config

WORKFLOW_PATH = ".github/workflows/classroom.yml"
RESULTS_DIR = "${{ runner.temp }}/nn-grader"  # outside the checkout: nothing the student commits can sit there
PYTHON = "python -I"  # -I: the checkout (cwd) is never on sys.path, so no file in it can pose as a module
COMMAND_GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
HAND_IN = ("files", "notebook")
# The strongest sandbox needs bubblewrap and unprivileged user namespaces; without them the
# grade still runs, with weaker isolation named in the job log.
SANDBOX_SETUP = (
    "sudo apt-get update -q && sudo apt-get install -y -q bubblewrap || echo 'bubblewrap not installed: the sandbox falls back'\n"
    "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true\n"
)


@dataclass(frozen=True)
class Options:
    source: GraderSource = GraderSource()
    hand_in: str = "files"  # what students hand in: the .py files, or the notebook instead
    python_version: str = "3.11"  # the version the grader is tested on (and the course environment's)


# ---- the workflow ---------------------------------------------------------------------


def whole_points(checks: list[Check]) -> None:
    """The command grader reads max-score with parseInt: fractional points would be cut."""
    fractional = [c for c in checks if float(c.points) != int(c.points)]
    if fractional:
        names = ", ".join(f"{c.name} ({c.points:g})" for c in fractional)
        raise ValueError(f"GitHub Classroom awards whole points per step; these checks are fractional: {names}")


def shell_quote(text: str) -> str:
    """One shell word; double quotes when nothing in ``text`` is special inside them (easier to read)."""
    return f'"{text}"' if not re.search(r'["$`\\]', text) else shlex.quote(text)


def verdict_command(check: Check) -> str:
    results = f'"{RESULTS_DIR}/results.json"'  # Actions expands ${{ }} before the shell runs: a plain path
    return f"{PYTHON} -m grader verdict {results} {shell_quote(check.name)} --points {int(check.points)}"


def workflow(assignment: Assignment, checks: list[Check], options: Options) -> dict:
    whole_points(checks)
    install = "\n".join(pip_commands(options.source.requirement, PYTHON)) + "\n"
    grade = (
        f'{PYTHON} -m grader grade {assignment.name} . --results "$GRADING/results.json" '
        f'--html "$GRADING/report.html" --markdown "$GITHUB_STEP_SUMMARY" --attempts 3\n'
    )
    check_steps = []
    for number, check in enumerate(checks, start=1):
        check_steps.append(
            {
                "name": check.name,
                "id": step_id(number),
                "uses": COMMAND_GRADER,
                "with": {
                    "test-name": check.name,
                    "command": verdict_command(check),
                    "timeout": 1,
                    "max-score": int(check.points),
                },
            }
        )
    ids = [step["id"] for step in check_steps]
    return {
        "name": "Autograding Tests",
        "on": ["push", "repository_dispatch", "workflow_dispatch"],
        "permissions": {"checks": "write", "actions": "read", "contents": "read"},
        "jobs": {
            "run-autograding-tests": {
                "runs-on": "ubuntu-latest",
                "if": "github.actor != 'github-classroom[bot]'",
                "timeout-minutes": 30,
                "steps": [
                    {"name": "Checkout code", "uses": "actions/checkout@v4"},
                    {"name": "Set up Python", "uses": "actions/setup-python@v5", "with": {"python-version": options.python_version}},
                    {"name": "Install the course grader (pinned; nothing from this repository)", "run": install},
                    {"name": "Sandbox: bubblewrap, and user namespaces AppArmor restricts on Ubuntu 24.04", "run": SANDBOX_SETUP},
                    {"name": "Grade", "id": "grade", "env": {"GRADING": RESULTS_DIR}, "run": grade},
                    {
                        "name": "Upload the grading report",
                        "if": "always()",
                        "uses": "actions/upload-artifact@v4",
                        "with": {"name": "grading-report", "path": RESULTS_DIR, "if-no-files-found": "ignore"},
                    },
                    *check_steps,
                    {
                        "name": "Autograding Reporter",
                        "uses": REPORTER,
                        "env": {results_variable(i): f"${{{{steps.{i}.outputs.result}}}}" for i in ids},
                        "with": {"runners": ",".join(ids)},
                    },
                ],
            }
        },
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the run: scripts) as literal blocks, as a person would write them."""


_Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)

WORKFLOW_HEADER = """\
# GitHub Classroom autograding, written by `python -m grader export`; edit the grader, not this file.
# The grader is installed pinned from the course's repository and grades this repository once;
# each check below is one step worth its points, passing only if the grade gave it all of them.
"""


def render_workflow(assignment: Assignment, checks: list[Check], options: Options) -> str:
    body = yaml.dump(workflow(assignment, checks, options), Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return WORKFLOW_HEADER + body


# ---- the student's files --------------------------------------------------------------


def student_files(assignment: Assignment, hand_in: str) -> dict[str, Path]:
    """Template path -> source file: the stub package, or the notebook instead.

    Never both: the grader grades the .py files whenever they are present, so a shipped
    notebook next to them would be a trap for anyone who writes their answers in it."""
    if hand_in == "notebook":
        notebook = assignment.stub_dir / (assignment.notebook or "")
        if not assignment.notebook or not notebook.is_file():
            raise ValueError(f"{assignment.name} has no generated notebook (run `python -m grader assign {assignment.name}`?)")
        return {assignment.notebook: notebook}
    if hand_in != "files":
        raise ValueError(f"hand_in must be one of {HAND_IN}, not {hand_in!r}")
    files = {f"{assignment.package}/{path.name}": path for path in sorted(assignment.stub_dir.glob("*.py"))}
    if not files:
        raise ValueError(f"{assignment.name} has no generated stubs (run `python -m grader assign {assignment.name}`?)")
    return files


def functions_to_write(assignment: Assignment) -> dict[str, list[str]]:
    """Stub file -> the functions in it that raise NotImplementedError, in order."""
    todo = {}
    for path in sorted(assignment.stub_dir.glob("*.py")):
        names = re.findall(r'NotImplementedError\("(.+?) is not implemented yet"\)', path.read_text(encoding="utf-8"))
        if names:
            todo[path.name] = names
    return todo


def points_by_function(checks: list[Check]) -> dict[str, tuple[int, float]]:
    """Function -> (number of checks, points), in the checks' order."""
    table: dict[str, tuple[int, float]] = {}
    for check in checks:
        count, points = table.get(check.function, (0, 0.0))
        table[check.function] = (count + 1, points + check.points)
    return table


README = Template("""\
# $title

## What to do

$todo

Each function's docstring says what it must do. Keep the file names and function
signatures as they are: the grader looks your functions up by name.

## Check your work before you push

Install the course's grader once (a virtual environment keeps it apart from other work):

```bash
python -m venv .venv
source .venv/bin/activate          # Windows: .venv\\Scripts\\activate
$install
```

Then, in this folder, either of:

```bash
python -I -m grader check          # the grade, a list of what to fix, and $output_dir/report.html
pytest                             # the same checks as tests, each with its points
```

Both run the very grader that grades your pushes, at the same version, so they give
the same verdicts and points. Add your own tests in files named `test_*.py` if you like.

## How grading works

Every push runs the **Autograding Tests** workflow (the *Actions* tab). It installs the
course's grader at a fixed version from the course's repository, then grades this
repository once: your files are read and run in a sandbox, and compared against the
reference solution's answers and PyTorch. The grading code and the expected values are not in
this repository, so changing files here cannot change what is expected of your code. The
course's official grade also runs each check on inputs that are not published: code that is
right passes those too, code written to fit the published inputs does not.

Each check is one step of the workflow, worth its points: it passes with all of them
or fails with none. The run's summary page shows the table of checks, and the
*grading-report* artifact holds a report page (open `report.html` in a browser) with the
full feedback for every failed check.

| Function | Checks | Points |
|:--|--:|--:|
$points_table
| **Total** | **$check_count** | **$total** |

Please leave `.github/`, `conftest.py` and `$config_name` as they are: the course may flag
repositories where they were changed.
""")


def render_readme(assignment: Assignment, checks: list[Check], options: Options) -> str:
    todo_lines = []
    where = f"`{assignment.notebook}`" if options.hand_in == "notebook" else None
    for filename, names in functions_to_write(assignment).items():
        place = where or f"`{assignment.package}/{filename}`"
        todo_lines.append(f"- In {place}: " + ", ".join(f"`{name}`" for name in names))
    table = points_by_function(checks)
    return README.substitute(
        title=assignment.title,
        todo="Write the functions that now raise `NotImplementedError`:\n\n" + "\n".join(todo_lines),
        install="\n".join([*pip_commands(options.source.requirement), "python -m pip install pytest"]),
        output_dir=OUTPUT_DIR,
        points_table="\n".join(f"| `{name}` | {count} | {points:g} |" for name, (count, points) in table.items()),
        check_count=len(checks),
        total=f"{sum(c.points for c in checks):g}",
        config_name=CONFIG_NAME,
    )


CONFTEST = """\
# Lets `pytest` show the course grader's checks as tests, each with its points.
# The official grade does not run this file: it runs the course's grader on your code.
import sys
from pathlib import Path

# The installed grader, never a `grader` folder of this repository (pytest put it first on the path)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
pytest_plugins = ["grader.pytest_plugin"]
"""

GITIGNORE = f"""\
{OUTPUT_DIR}/
__pycache__/
*.pyc
.venv/
.ipynb_checkpoints/
.pytest_cache/
"""


def template_files(assignment: Assignment, options: Options) -> dict[str, str | Path]:
    """Template path -> text, or a file to copy."""
    checks = assignment.checks()
    files: dict[str, str | Path] = dict(student_files(assignment, options.hand_in))
    files.update(
        {
            "README.md": render_readme(assignment, checks, options),
            CONFIG_NAME: render_config(assignment.name, options.source.requirement),
            "conftest.py": CONFTEST,
            ".gitignore": GITIGNORE,
            WORKFLOW_PATH: render_workflow(assignment, checks, options),
        }
    )
    return files


def export(assignment: Assignment, target: Path, options: Options = Options()) -> list[Path]:
    """Write the template into ``target`` (new or empty); returns the files written."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} is not empty; export into a new folder")
    return write_tree(target, template_files(assignment, options))
