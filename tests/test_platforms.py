"""Shipping: the GitHub Classroom template (its workflow run locally, end to end), the
student's self-check (`check` and pytest) and the Gradescope autograder zip.

The workflow is run the way GitHub would run it, minus the network: the install step is
skipped (this environment already has the pinned grader), the Grade step runs in bash,
each command-grader step runs its command with the scrubbed environment the action gives
it and turns the exit code into the action's result, and the reporter's input is decoded
exactly as the reporter decodes it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from grader import __version__, assignments
from grader.cli import main
from grader.outputs import classroom
from grader.outputs.gradescope import SCHEMA_PATH, graded_tests
from grader.platforms import classroom as template
from grader.platforms import gradescope, install
from grader.plugin import repo_path

ASSIGNMENT = assignments.get("autodiff")
PYTHON_BIN = str(Path(sys.executable).parent)
SOURCE = install.GraderSource("course-org", "nn-grader", "v9.9.9")
BROKEN_MEAN = ("return self.sum() / (self.nrow * self.ncol)", "return self.sum()")  # List2D.mean returns the sum
PARTIAL_POINTS = 94  # ... which fails 3 List2D.mean checks of 2 points (the 1x1 case still passes)


# ---- fixtures: a template and three students --------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("template") / "autodiff-template"
    assert main(["export", "autodiff", str(target), "--org", SOURCE.org, "--repo", SOURCE.repo, "--ref", SOURCE.ref]) == 0
    return target


def student_copy(exported: Path, where: Path, solution: Path | None = None, broken: bool = False) -> Path:
    """The template as a student's repository, optionally with their solution files in it."""
    repo = where / "repo"
    shutil.copytree(exported, repo)
    if solution is not None:
        for path in solution.glob("*.py"):
            shutil.copy(path, repo / ASSIGNMENT.package / path.name)
    if broken:
        path = repo / ASSIGNMENT.package / "list2d.py"
        source = path.read_text()
        assert BROKEN_MEAN[0] in source
        path.write_text(source.replace(*BROKEN_MEAN))
    return repo


@pytest.fixture(scope="module")
def reference_student(exported, tmp_path_factory) -> Path:
    return student_copy(exported, tmp_path_factory.mktemp("reference"), repo_path("reference", "autodiff"))


@pytest.fixture(scope="module")
def untouched_student(exported, tmp_path_factory) -> Path:
    return student_copy(exported, tmp_path_factory.mktemp("untouched"))


@pytest.fixture(scope="module")
def partial_student(exported, tmp_path_factory) -> Path:
    return student_copy(exported, tmp_path_factory.mktemp("partial"), repo_path("reference", "autodiff"), broken=True)


def load_workflow(repo: Path) -> dict:
    return yaml.safe_load((repo / template.WORKFLOW_PATH).read_text())


def steps_of(workflow: dict) -> list[dict]:
    return workflow["jobs"]["run-autograding-tests"]["steps"]


# ---- running the workflow locally -------------------------------------------------------


def expand(text: str, runner_temp: Path) -> str:
    """GitHub's expression expansion, for the one expression the grading steps use."""
    text = text.replace("${{ runner.temp }}", str(runner_temp))
    assert "${{" not in text, f"unexpected expression in {text!r}"
    return text


def run_command_grader(step: dict, repo: Path, runner_temp: Path) -> str:
    """One autograding-command-grader step: its command through sh, with the action's
    scrubbed environment, in the checkout; returns its base64 `result` output."""
    inputs = step["with"]
    command = expand(inputs["command"], runner_temp)
    environment = {"PATH": f"{PYTHON_BIN}:/usr/bin:/bin", "HOME": str(runner_temp), "FORCE_COLOR": "true"}
    done = subprocess.run(["sh", "-c", command], cwd=repo, env=environment, capture_output=True, text=True, timeout=60 * inputs["timeout"])
    result = classroom.command_grader_result(inputs["test-name"], command, done.returncode, int(inputs["max-score"]))
    return classroom.encode(result)


def run_workflow(repo: Path, runner_temp: Path) -> list[tuple[str, dict]]:
    """Run the grading steps of the repository's own workflow; returns what the reporter decodes."""
    outputs: dict[str, str] = {}
    command_steps = []
    reporter = None
    for step in steps_of(load_workflow(repo)):
        if step.get("id") == "grade":
            environment = {
                "PATH": f"{PYTHON_BIN}:/usr/bin:/bin",
                "HOME": str(runner_temp),
                "GITHUB_STEP_SUMMARY": str(runner_temp / "step-summary.md"),
                **{name: expand(value, runner_temp) for name, value in step.get("env", {}).items()},
            }
            done = subprocess.run(["bash", "-e", "-c", expand(step["run"], runner_temp)], cwd=repo, env=environment, capture_output=True, text=True)
            assert done.returncode == 0, f"the Grade step failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        elif step.get("uses") == template.COMMAND_GRADER:
            command_steps.append(step)
        elif step.get("uses") == template.REPORTER:
            reporter = step
    with ThreadPoolExecutor(8) as pool:
        results = pool.map(lambda step: run_command_grader(step, repo, runner_temp), command_steps)
        outputs = dict(zip((step["id"] for step in command_steps), results))
    environment = {}
    for name, value in reporter["env"].items():
        (step_id,) = re.fullmatch(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.result\s*\}\}", value).groups()
        environment[name] = outputs[step_id]
    return classroom.reporter_input(environment, reporter["with"]["runners"])


# ---- the template -----------------------------------------------------------------------


def test_template_holds_the_stubs_readme_config_and_workflow(exported):
    files = sorted(p.relative_to(exported).as_posix() for p in exported.rglob("*") if p.is_file())
    assert files == sorted(
        [".github/workflows/classroom.yml", ".gitignore", ".grader.toml", "README.md", "conftest.py"]
        + [f"autodiff/{p.name}" for p in ASSIGNMENT.stub_dir.glob("*.py")]
    )
    for stub in ASSIGNMENT.stub_dir.glob("*.py"):
        assert (exported / "autodiff" / stub.name).read_bytes() == stub.read_bytes()
    config = tomllib.loads((exported / ".grader.toml").read_text())
    assert config == {"assignment": "autodiff", "grader": SOURCE.requirement, "version": __version__}
    readme = (exported / "README.md").read_text()
    for needed in ("python -I -m grader check", "pytest", SOURCE.requirement, "torch==2.13.0", "Autograding Tests", "| **Total** | **32** | **100** |"):
        assert needed in readme
    assert "`List2D.mean`, `List2D.abs`, `List2D.__abs__`" in readme
    assert 'pytest_plugins = ["grader.pytest_plugin"]' in (exported / "conftest.py").read_text()


def test_workflow_has_the_shape_classroom_expects(exported):
    workflow = load_workflow(exported)
    assert workflow["name"] == "Autograding Tests"
    assert "push" in workflow["on"]
    assert workflow["permissions"]["checks"] == "write"
    steps = steps_of(workflow)
    checks = ASSIGNMENT.checks()
    graders = [s for s in steps if s.get("uses") == "classroom-resources/autograding-command-grader@v1"]
    assert [s["with"]["test-name"] for s in graders] == [c.name for c in checks]
    assert [s["with"]["max-score"] for s in graders] == [c.points for c in checks]
    assert sum(s["with"]["max-score"] for s in graders) == 100
    assert steps[-1]["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    ids = [s["id"] for s in graders]
    assert steps[-1]["with"]["runners"].split(",") == ids
    assert steps[-1]["env"] == {f"{i.upper()}_RESULTS": f"${{{{steps.{i}.outputs.result}}}}" for i in ids}


def test_workflow_installs_the_pinned_grader_and_runs_nothing_from_the_repository(exported):
    steps = steps_of(load_workflow(exported))
    (install_step,) = [s for s in steps if "pip install" in s.get("run", "")]
    lines = install_step["run"].splitlines()
    assert (
        "python -I -m pip install --timeout 15 --retries 1 --index-url https://download.pytorch.org/whl/cpu torch==2.13.0"
        " || python -I -m pip install torch==2.13.0"
    ) in lines
    assert lines[-1] == 'python -I -m pip install "nn-grader @ git+https://github.com/course-org/nn-grader@v9.9.9"'
    assert not any("-r " in line or "install ." in line or "-e " in line for line in lines)
    # Every command is the installed grader in isolated mode: the checkout is data, never code.
    # (but the system tools the sandbox needs, installed first: the checkout is not run)
    commands = [s["run"] for s in steps if "run" in s] + [s["with"]["command"] for s in steps if "command" in s.get("with", {})]
    assert commands.index(template.SANDBOX_SETUP) < commands.index(next(c for c in commands if "-m grader grade" in c))
    assert "bubblewrap" in template.SANDBOX_SETUP and "apparmor_restrict_unprivileged_userns=0" in template.SANDBOX_SETUP
    commands.remove(template.SANDBOX_SETUP)
    for command in commands:
        for line in filter(None, command.splitlines()):
            assert line.startswith("python -I -m "), line
    assert {s["uses"].split("@")[0] for s in steps if "uses" in s} == {
        "actions/checkout", "actions/setup-python", "actions/upload-artifact",
        "classroom-resources/autograding-command-grader", "classroom-resources/autograding-grading-reporter",
    }


def test_torch_pin_matches_pyproject():
    dependencies = tomllib.loads(repo_path("pyproject.toml").read_text())["project"]["dependencies"]
    assert install.TORCH in dependencies


def test_export_refuses_a_folder_with_files(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["export", "autodiff", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_export_without_the_notebook_says_how_to_make_it(tmp_path, capsys):
    assert main(["export", "autodiff", str(tmp_path / "t"), "--hand-in", "notebook"]) == 2
    assert "python -m grader assign autodiff" in capsys.readouterr().err


def test_export_refuses_fractional_points():
    half = ASSIGNMENT.checks()[0]
    with pytest.raises(ValueError, match="whole points"):
        template.whole_points([type(half)(half.name, 2.5, half.probe, half.judge)])


# ---- end to end: the workflow's grading, decoded as the reporter decodes it ---------------


def test_reference_gets_full_points_through_the_reporter(reference_student, tmp_path):
    decoded = run_workflow(reference_student, tmp_path)
    assert classroom.recorded_points(decoded) == (100, 100)
    assert all(result["status"] == "pass" for _, result in decoded)
    assert "### autodiff: 100 / 100 points" in (tmp_path / "step-summary.md").read_text()
    assert (tmp_path / "nn-grader" / "report.html").is_file()


def test_untouched_template_gets_zero(untouched_student, tmp_path):
    decoded = run_workflow(untouched_student, tmp_path)
    assert classroom.recorded_points(decoded) == (0, 100)
    assert len(decoded) == 32 and all(result["tests"][0]["score"] == 0 for _, result in decoded)


def test_partial_submission_gets_exactly_its_points_in_the_reporter(partial_student, tmp_path):
    decoded = run_workflow(partial_student, tmp_path)
    assert classroom.recorded_points(decoded) == (PARTIAL_POINTS, 100)
    failed = [result["tests"][0]["name"] for _, result in decoded if result["status"] == "fail"]
    assert failed == ["List2D.mean: value, 1x5 input", "List2D.mean: value, 4x1 input", "List2D.mean: value, 3x4 input"]
    # The reporter's own table shows each runner's real points too...
    assert sum(score for _, score, _ in classroom.table_rows(decoded)) == PARTIAL_POINTS
    # ...where one runner holding every check would have shown the share passed: 29 of 32.
    everything = {"version": 1, "status": "fail", "max_score": 100, "tests": [t for _, r in decoded for t in r["tests"]]}
    assert classroom.table_rows([("all", everything)])[0][1] == pytest.approx(29 / 32 * 100)


def test_files_in_the_repository_cannot_raise_the_score(untouched_student, tmp_path):
    """A fake `grader` package and a forged results file in the checkout change nothing:
    the commands run the installed grader in isolated mode and read results from runner.temp."""
    repo = tmp_path / "repo"
    shutil.copytree(untouched_student, repo)
    fake = repo / "grader"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text("raise SystemExit(0)  # every step passes\n")
    forged = {"score": 100, "max_score": 100, "tests": [{"name": c.name, "score": c.points, "max_score": c.points, "output": ""} for c in ASSIGNMENT.checks()]}
    (repo / "results.json").write_text(json.dumps(forged))
    decoded = run_workflow(repo, tmp_path / "runner")
    assert classroom.recorded_points(decoded) == (0, 100)


def test_a_step_whose_points_were_raised_in_the_workflow_fails(reference_student, tmp_path, capsys):
    run_workflow(reference_student, tmp_path)  # writes runner.temp/nn-grader/results.json
    results = tmp_path / "nn-grader" / "results.json"
    name = ASSIGNMENT.checks()[0].name
    assert main(["verdict", str(results), name, "--points", "2"]) == 0
    assert main(["verdict", str(results), name, "--points", "50"]) == 1
    assert "the workflow was changed" in capsys.readouterr().out
    assert main(["verdict", str(tmp_path / "missing.json"), name]) == 1


# ---- the student's self-check: the same verdicts and points -----------------------------


def official_grade(repo: Path, out: Path) -> dict[str, float]:
    assert main(["grade", "autodiff", str(repo), "--results", str(out / "results.json"), "--quiet"]) == 0
    return {t["name"]: t["score"] for t in graded_tests(json.loads((out / "results.json").read_text()))}


def test_check_gives_the_official_verdicts_and_points(partial_student, tmp_path, capsys):
    official = official_grade(partial_student, tmp_path / "official")
    assert main(["check", str(partial_student / "autodiff"), "--out", str(tmp_path / "check")]) == 0  # from a subfolder
    printed = capsys.readouterr().out
    checked = {t["name"]: t["score"] for t in graded_tests(json.loads((tmp_path / "check" / "results.json").read_text()))}
    assert checked == official and sum(checked.values()) == PARTIAL_POINTS
    assert f"GitHub Classroom will record {PARTIAL_POINTS} / 100" in printed
    assert (tmp_path / "check" / "report.html").is_file()


def test_check_without_a_config_detects_the_assignment(tmp_path, capsys):
    shutil.copytree(repo_path("reference", "autodiff"), tmp_path / "work")
    assert main(["check", str(tmp_path / "work")]) == 0
    printed = capsys.readouterr().out
    assert "Score: 100 / 100" in printed and "GitHub Classroom" not in printed  # not a Classroom template
    assert json.loads((tmp_path / "work" / ".grading" / "results.json").read_text())["score"] == 100


def test_check_in_an_unrelated_folder_says_what_to_do(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 2
    assert "--assignment" in capsys.readouterr().err


def test_pytest_shows_each_check_with_the_official_points(partial_student, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(partial_student, repo)
    official = official_grade(repo, tmp_path / "official")
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", f"--junitxml={tmp_path / 'junit.xml'}"],
        cwd=repo, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # some checks fail
    assert "FAILED (0/2 points)" in done.stdout and "PASSED (4/4 points)" in done.stdout
    assert f"autodiff: {PARTIAL_POINTS} / 100 points" in done.stdout
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    seen = {}
    for case in cases:
        properties = {p.get("name"): float(p.get("value")) for p in case.iter("property")}
        passed = case.find("failure") is None
        assert passed == (properties["points"] == properties["max_points"])
        seen[case.get("name")] = properties["points"]
    assert seen == official


# ---- Gradescope -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    assert main(["gradescope", "autodiff", str(out)]) == 0
    return out


def autograder_root(autograder_zip: Path, where: Path, submission: Path) -> Path:
    """A folder laid out as Gradescope lays out /autograder."""
    root = where / "autograder"
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    shutil.copytree(submission, root / "submission")
    return root


def test_zip_has_the_scripts_at_its_root_and_the_grader_inside(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        assert {"setup.sh", "run_autograder"} <= names
        assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
        for name, path in gradescope.bundled_files().items():
            assert archive.read(name) == path.read_bytes(), name
        assert "nn-grader/grader/assignments/autodiff/checks.py" in names
        assert "nn-grader/reference/autodiff/list2d.py" in names
        assert not any("__pycache__" in n for n in names)
        setup = archive.read("setup.sh").decode()
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0 || /opt/nn-grader/venv/bin/python -I -m pip install torch==2.13.0" in setup
    assert 'pip install "$SOURCE/nn-grader"' in setup
    assert re.search(r"apt-get install .*\bbubblewrap\b", setup)  # the strongest sandbox, where the container allows it
    for script in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", "-c", zipfile.ZipFile(autograder_zip).read(script).decode()], check=True)


@pytest.mark.parametrize("solution, points", [("reference", 100), ("stubs", 0)])
def test_run_autograder_writes_a_valid_results_json(autograder_zip, tmp_path, solution, points):
    jsonschema = pytest.importorskip("jsonschema")
    submission = repo_path("reference", "autodiff") if solution == "reference" else ASSIGNMENT.stub_dir
    root = autograder_root(autograder_zip, tmp_path, submission)
    environment = {"PATH": os.environ["PATH"], "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    done = subprocess.run([str(root / "run_autograder")], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, json.loads(SCHEMA_PATH.read_text()))
    assert (results["score"], results["max_score"], len(graded_tests(results))) == (points, 100, 32)


def test_make_installs_cpu_torch_and_falls_back_without_hanging():
    """`make` asks PyTorch's CPU index first (PyPI's torch pulls GBs of CUDA), with a short
    timeout, then the plain pinned wheel: dry-run the recipe and read the commands."""
    done = subprocess.run(["make", "-n", "-B", ".venv/installed"], cwd=repo_path(), capture_output=True, text=True, check=True)
    (torch_line,) = [line for line in done.stdout.replace("\\\n", "").splitlines() if "torch==2.13.0" in line]
    first, fallback = torch_line.split(" || ")
    assert "--index-url https://download.pytorch.org/whl/cpu" in first and "--retries 0" in first and "--timeout" in first
    assert fallback.endswith('pip install --quiet -c constraints.txt "torch==2.13.0"') and "index" not in fallback


def test_gradescope_keeps_the_sandbox_notes_for_the_instructor(autograder_zip, tmp_path):
    """Students see checks and hints; what isolation held goes to a hidden test (Gradescope
    shows tests with visibility "hidden" to instructors only)."""
    root = autograder_root(autograder_zip, tmp_path, ASSIGNMENT.stub_dir)
    environment = {"PATH": os.environ["PATH"], "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    subprocess.run([str(root / "run_autograder")], cwd=tmp_path, env=environment, capture_output=True, timeout=300, check=True)
    results = json.loads((root / "results" / "results.json").read_text())
    visible = json.dumps({**results, "tests": graded_tests(results)})
    assert "sandbox" not in visible.lower()
    (hidden,) = [t for t in results["tests"] if t.get("visibility") == "hidden"]
    assert hidden["max_score"] == 0 and "sandbox:" in hidden["output"]
