"""The instructor's solutions stay private.

Students and Classroom install the public copy that `publish` writes: no reference solutions,
the reference's answers to the public probes stored as data. The instructor's grader also runs
hidden variants of the checks. These tests build the public copy and the Classroom templates
and look for solution lines in them, grade with the public copy in a Python that has nothing
else of this project, and show that hard-coding the public expected values passes the
self-check but not the official grade.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import ROOT, read_results
from examples.materialize import materialize
from grader import assignments
from grader.authoring.stubs import BEGIN, END
from grader.cli import main
from grader.grade import grade
from grader.platforms import classroom, gradescope, public
from grader.plugin import Assignment, PluginError, resolve_entry
from grader.variants import ONLY_OFFICIAL, guard_all

# ---- solution lines -----------------------------------------------------------------


def solution_lines(assignment: str) -> list[str]:
    """The non-trivial lines of every solution body in reference/<assignment>/*.py.

    Trivial: shorter than 20 characters, written in the reference outside a body too (given
    code, docstrings), or made only of names, calls without arguments, commas and colons
    (``optimizer.zero_grad()``, ``return train_loader, valid_loader``): the lecture's idioms."""
    lines, given = [], []
    for path in sorted((ROOT / "reference" / assignment).glob("*.py")):
        inside = False
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped in (BEGIN, END):
                inside = stripped == BEGIN
            elif inside and stripped and not stripped.startswith("#"):
                lines.append(stripped)
            elif not inside:
                given.append(line)
    outside = "\n".join(given)
    return [s for s in lines if len(s) >= 20 and s not in outside and not re.fullmatch(r"[\w.,:() ]*", s)]


def leaks(folder: Path, lines: list[str]) -> list[str]:
    """'line in file' for each solution line found in a file under ``folder``. Text in backticks is
    left out: a hint may quote the one line a known mistake gets wrong."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as wheel:
                texts = {f"{path.name}!{name}": wheel.read(name).decode("utf-8", "replace") for name in wheel.namelist()}
        else:
            texts = {path.relative_to(folder).as_posix(): path.read_bytes().decode("utf-8", "replace")}
        for name, text in texts.items():
            unquoted = re.sub(r"`[^`\n]*`", "", text)
            found += [f"{line!r} in {name}" for line in lines if line in unquoted]
    return found


def test_solution_lines_are_found_where_they_are():
    lines = solution_lines("autodiff")
    assert "return self.sum() / (self.nrow * self.ncol)" in lines
    assert leaks(ROOT / "reference" / "autodiff", lines)
    assert "optimizer.zero_grad()" not in solution_lines("descent")  # an idiom, also in the stubs' docstrings


# ---- the packages -------------------------------------------------------------------


@pytest.fixture(scope="module")
def public_copy(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("public") / "nn-grader"
    public.publish(folder)
    return folder


@pytest.fixture(scope="module")
def public_wheel(public_copy, tmp_path_factory) -> Path:
    out, source = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("build") / "nn-grader"
    shutil.copytree(public_copy, source)  # setuptools builds in the source folder
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("*.whl"))


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("templates")
    for name in assignments.names():
        assignment = assignments.get(name)
        for hand_in in classroom.HAND_IN:
            if hand_in == "notebook" and not (assignment.stub_dir / (assignment.notebook or "-")).is_file():
                continue
            classroom.export(assignment, folder / f"{name}-{hand_in}", classroom.Options(hand_in=hand_in))
    return folder


def test_the_public_copy_holds_the_grader_and_stored_answers_only(public_copy, public_wheel):
    tops = {path.name for path in public_copy.iterdir()}
    assert tops == {"grader", "pyproject.toml", "README.md"}
    assert not list(public_copy.rglob("variants/__init__.py"))  # the hidden inputs are under reference/ only
    with zipfile.ZipFile(public_wheel) as wheel:
        names = wheel.namelist()
    assert {f"grader/assignments/{name}/expected.json" for name in assignments.names()} <= set(names)
    assert not [name for name in names if name.startswith(("reference/", "tests/", "examples/"))]


@pytest.mark.parametrize("name", assignments.names())
def test_no_solution_line_reaches_the_public_copy_its_wheel_or_a_template(name, public_copy, public_wheel, templates):
    lines = solution_lines(name)
    assert lines, f"no solution lines found in reference/{name}"
    assert leaks(public_copy, lines) + leaks(public_wheel.parent, lines) + leaks(templates, lines) == []


def test_the_gradescope_zip_is_the_instructors_grader_with_the_hidden_variants(tmp_path):
    with zipfile.ZipFile(gradescope.build(assignments.get("autodiff"), tmp_path / "autograder.zip")) as archive:
        names = set(archive.namelist())
    assert "nn-grader/reference/autodiff/variants/__init__.py" in names
    assert "nn-grader/reference/autodiff/list2d.py" in names


def test_publish_writes_into_a_clone_and_refuses_a_folder_with_files(tmp_path, capsys):
    (tmp_path / "clone" / ".git").mkdir(parents=True)
    assert main(["publish", str(tmp_path / "clone")]) == 0
    assert (tmp_path / "clone" / "grader" / "assignments" / "autodiff" / "expected.json").is_file()
    assert main(["publish", str(tmp_path / "clone")]) == 2
    assert "not empty" in capsys.readouterr().err


# ---- the plug-in contract ------------------------------------------------------------------


def test_hidden_checks_must_live_under_the_reference():
    declared = replace(assignments.get("autodiff"), hidden_checks_from="grader.assignments.autodiff.checks:checks")
    with pytest.raises(PluginError, match="must live under reference.autodiff."):
        declared.validate()


def test_a_variant_must_name_a_public_check():
    public_checks = assignments.get("autodiff").checks()[:2]
    stray = replace(public_checks[0], name="List2D.mean: a check nobody declared")
    with pytest.raises(PluginError, match="name no public check"):
        guard_all(public_checks, [stray], "grader.assignments.autodiff.probes")


def test_each_public_check_is_guarded_with_its_name_and_points_kept():
    autodiff = assignments.get("autodiff")
    guarded_checks, public_checks = autodiff.checks(), resolve_entry(autodiff.checks_from)()
    assert [(c.name, c.points) for c in guarded_checks] == [(c.name, c.points) for c in public_checks]
    assert {c.probe.function for c in guarded_checks} == {"guarded"}
    assert [c.probe.key for c in guarded_checks] == [c.probe.key for c in public_checks]  # plots find them by key


# ---- grading with the public copy -----------------------------------------------------


@pytest.fixture(scope="module")
def public_python(public_wheel):
    """A Python whose grader is the public wheel, installed; its other packages come from this
    environment (a .pth line, so this project's editable install stays out). Not under pytest's
    private temporary folder: the sandbox's own uid must be able to run it."""
    where = Path(tempfile.mkdtemp(prefix="nn-grader-public-"))
    where.chmod(0o755)
    venv.EnvBuilder(with_pip=False).create(where)
    python = where / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    with zipfile.ZipFile(public_wheel) as wheel:
        wheel.extractall(site)
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    found = subprocess.run([python, "-I", "-c", "import grader, importlib.util; print(grader.__file__, importlib.util.find_spec('reference'))"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert found == [str(site / "grader" / "__init__.py"), "None"]
    yield python
    shutil.rmtree(where)


def public_grade(python: Path, name: str, submission: Path, out: Path, **settings: str) -> dict:
    """The self-check's grade: the public copy's `grade`, run in a folder with nothing of this project."""
    done = subprocess.run([python, "-I", "-m", "grader", "grade", name, str(submission), "--results", str(out), "--quiet"],
                          cwd=out.parent, capture_output=True, text=True, timeout=600, env={**os.environ, **settings})
    assert done.returncode == 0, done.stderr
    return read_results(out)


def official_points(name: str, submission: Path) -> tuple[float, dict[str, str]]:
    report = grade(assignments.get(name), submission)
    return report.score, {r.name: r.output for r in report.results if r.score < r.max_score}


@pytest.fixture(scope="module")
def autodiff_cases(tmp_path_factory) -> dict[str, Path]:
    examples = {e.name: e.path for e in materialize("autodiff", tmp_path_factory.mktemp("examples"))}
    return {"reference": ROOT / "reference" / "autodiff", "mistake": examples["mean_grad_not_divided"]}


@pytest.mark.parametrize("case, points", [("reference", 100), ("mistake", 76)])
def test_the_public_copy_grades_as_the_instructors_grader(case, points, autodiff_cases, public_python, tmp_path):
    results = public_grade(public_python, "autodiff", autodiff_cases[case], tmp_path / "results.json")
    official, failures = official_points("autodiff", autodiff_cases[case])
    assert results["score"] == official == points, failures
    assert not any(ONLY_OFFICIAL in text for text in failures.values())


def test_the_public_copy_grades_under_unshare_with_its_dependencies_in_another_folder(autodiff_cases, public_python, tmp_path):
    """The copy's venv reaches its dependencies through a .pth file, outside the child's view.
    A child forked from a zygote that listed that folder must still import as a fresh one:
    not find what it may not read (it once found tqdm there, was refused and crashed)."""
    if "unshare" not in subprocess.run([sys.executable, "-c", "from grader.sandbox import isolation; print(isolation.probe().layers.namespaces)"],
                                       env={**os.environ, "GRADER_ISOLATION": "unshare"}, capture_output=True, text=True, check=True).stdout:
        pytest.skip("unshare does not start here")
    results = public_grade(public_python, "autodiff", autodiff_cases["reference"], tmp_path / "results.json", GRADER_ISOLATION="unshare")
    assert results["score"] == 100


# ---- hard-coded expected values ------------------------------------------------------


def stored(name: str) -> dict:
    """The public copy's stored answers (the committed file is what `publish` ships)."""
    return json.loads(assignments.get(name).expected_path.read_text(encoding="utf-8"))


def hard_coded_mean(where: Path) -> Path:
    """The reference with List2D.mean replaced by a table of the public inputs' stored answers:
    right on every public input, wrong (0.0) on any other."""
    shutil.copytree(ROOT / "reference" / "autodiff", where, ignore=shutil.ignore_patterns("__pycache__", "variants"))
    table = {json.dumps(entry["args"]["vals"]): entry["value"]["value"] for entry in stored("autodiff").values() if entry["function"] == "list2d_mean"}
    assert len(table) >= 3
    source = (where / "list2d.py").read_text(encoding="utf-8")
    cheat = f"import json\n        return {table!r}.get(json.dumps(self.vals), 0.0)"
    (where / "list2d.py").write_text(source.replace("return self.sum() / (self.nrow * self.ncol)", cheat, 1), encoding="utf-8")
    return where


def test_hard_coded_public_answers_pass_the_self_check_and_fail_the_official_grade(public_python, tmp_path):
    submission = hard_coded_mean(tmp_path / "cheat")
    assert public_grade(public_python, "autodiff", submission, tmp_path / "results.json")["score"] == 100
    official, failures = official_points("autodiff", submission)
    assert official < 100
    assert failures and all(name.startswith("List2D.mean") and ONLY_OFFICIAL in text for name, text in failures.items())


def self_check(name: str, submission: Path, monkeypatch) -> float:
    """The public copy's grade, run here: no reference (so no hidden variants), the stored answers."""
    with monkeypatch.context() as patch:
        patch.setattr(Assignment, "has_reference", lambda self: False)
        return grade(assignments.get(name), submission).score


def hard_coded_losses(where: Path) -> Path:
    """Loops that train as they should, then return the public run's stored losses."""
    shutil.copytree(ROOT / "reference" / "descent", where, ignore=shutil.ignore_patterns("__pycache__", "variants", "*.ipynb"))
    losses = {}
    for entry in stored("descent").values():
        if entry["function"] == "train_loop":
            returned = entry["value"]["returned"]
            losses[entry["args"]["loop"]] = (returned["train"]["values"], returned["valid"]["values"])
    assert set(losses) == {"train_batch_gd", "train_sgd", "train_minibatch_sgd"}
    cheat = (
        f"\n\nSTORED = {losses!r}\n\n\n"
        "def _stored(loop):\n"
        "    def train(*args, **kwargs):\n"
        "        loop(*args, **kwargs)\n"
        "        return list(STORED[loop.__name__][0]), list(STORED[loop.__name__][1])\n"
        "    return train\n\n\n"
        "train_batch_gd, train_sgd, train_minibatch_sgd = map(_stored, (train_batch_gd, train_sgd, train_minibatch_sgd))\n"
    )
    with open(where / "descent.py", "a", encoding="utf-8") as source:
        source.write(cheat)
    return where


def test_loops_returning_the_stored_losses_pass_the_self_check_and_fail_the_official_grade(tmp_path, monkeypatch):
    submission = hard_coded_losses(tmp_path / "cheat")
    assert self_check("descent", submission, monkeypatch) == 100
    official, failures = official_points("descent", submission)
    assert official < 100
    assert {name.split(":")[0] for name in failures} == {"train_batch_gd", "train_sgd", "train_minibatch_sgd"}
    assert all(ONLY_OFFICIAL in text for text in failures.values())


@pytest.mark.parametrize("example", ["reference", "no_zero_grad"])
def test_descent_self_check_and_official_grade_agree_on_honest_code(example, tmp_path, monkeypatch):
    examples = {e.name: e.path for e in materialize("descent", tmp_path)} if example != "reference" else {}
    submission = examples.get(example, ROOT / "reference" / "descent")
    assert self_check("descent", submission, monkeypatch) == official_points("descent", submission)[0]
