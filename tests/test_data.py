"""The data assignment: probes, judges, examples, notebook, plots and the commands.

Most tests run the probes in this process (``resolve`` reads a module loaded from a
file) and feed their JSON round-tripped data to the judges, as the grading process
does. Every example's verdicts are compared with a table written here, and that table
with an oracle of this file's own (``oracle``) that calls the example's functions
directly and checks them with PyTorch, without the probes or the judges.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import io
import json
import math
import shutil
import tempfile
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from conftest import ROOT, read_results, run_grader
from examples.materialize import materialize
from grader import assignments
from grader.assignments.data import checks as C
from grader.assignments.data import fixtures, probes
from grader.assignments.data.authoring import build_notebook
from grader.authoring.stubs import generated_files, stale
from grader.plugin import Outcome
from grader.scoring import score_check

DATA = assignments.get("data")
REFERENCE = ROOT / "reference" / "data" / "data.py"
STUB = ROOT / "assignments" / "data" / "data.py"
EXAMPLES = ROOT / "examples" / "data"
MISTAKES = sorted(p.stem for p in (EXAMPLES / "mistakes").glob("*.toml"))
VARIANTS = sorted(p.stem for p in (EXAMPLES / "variants").glob("*.toml"))

SPLIT_PARTS = "split_dataset: three disjoint sets of the given sizes, covering every sample"
SPLIT_RANDOM = "split_dataset: random, drawn from the given generator"
NORMALIZE_STATS = "normalize: the training set's statistics, applied to all three sets"
NORMALIZE_CONSTANT = "normalize: a constant feature comes out as 0"
PROXY_SUBSET = "make_proxy: different training samples, each x with its y"
PROXY_RANDOM = "make_proxy: random, drawn from the given generator"
EVALUATE_AVERAGE = "evaluate: sample-weighted average loss over uneven batches"
EVALUATE_NOTHING = "evaluate: no gradients, parameters and gradients unchanged"
EVALUATE_MODE = "evaluate: evaluation mode, then the previous mode back"

# Each example mistake: the one check it must fail (every other check passes).
EXPECTED_FAILURES = {
    "normalize_whole_dataset": NORMALIZE_STATS,
    "normalize_each_split": NORMALIZE_STATS,
    "normalize_in_place": NORMALIZE_STATS,
    "normalize_zero_std": NORMALIZE_CONSTANT,
    "split_overlap": SPLIT_PARTS,
    "split_global_rng": SPLIT_RANDOM,
    "split_own_seed": SPLIT_RANDOM,
    "proxy_unpaired": PROXY_SUBSET,
    "proxy_with_replacement": PROXY_SUBSET,
    "proxy_first_rows": PROXY_RANDOM,
    "evaluate_tracks_gradients": EVALUATE_NOTHING,
    "evaluate_backward": EVALUATE_NOTHING,
    "evaluate_no_eval_mode": EVALUATE_MODE,
    "evaluate_mode_not_restored": EVALUATE_MODE,
    "evaluate_mean_of_batch_means": EVALUATE_AVERAGE,
}


# ------------------------------------------------------------------------------------
# Helpers: run the probes in this process
# ------------------------------------------------------------------------------------


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"data_under_test_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def probe_values(module, checks=None) -> dict:
    """Every distinct probe's value for one submission, through JSON as in the sandbox."""
    values = {}
    for check in checks or C.checks():
        if check.probe.key not in values:
            value = getattr(probes, check.probe.function)(lambda logical, name: getattr(module, name), **check.probe.args)
            values[check.probe.key] = json.loads(json.dumps(value))
    return values


def verdicts(values: dict, reference: dict) -> dict:
    return {check.name: check.judge(values[check.probe.key], reference[check.probe.key]) for check in C.checks()}


@functools.cache
def values_of(path: Path) -> dict:
    return probe_values(load_module(path))


@pytest.fixture(scope="module")
def reference():
    return values_of(REFERENCE)


def meta(kind: str, name: str) -> dict:
    return tomllib.loads((EXAMPLES / kind / f"{name}.toml").read_text())


@functools.cache
def _built_examples() -> dict[tuple[str, str], Path]:
    out = Path(tempfile.mkdtemp(prefix="data-examples-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    return {(e.kind, e.name): e.path for e in materialize("data", out)}


def example_file(kind: str, name: str) -> Path:
    return _built_examples()[kind, name] / "data.py"


# ------------------------------------------------------------------------------------
# An oracle of this file's own: the example's functions called directly, checked with
# PyTorch. It shares no code with the probes or the judges.
# ------------------------------------------------------------------------------------


def _sin():
    generator = torch.Generator().manual_seed(152)
    x = torch.rand(100, 1, generator=generator) * 2 * math.pi - math.pi
    return x, torch.sin(x) + 0.1 * torch.randn(100, 1, generator=generator)


def _table():
    X = torch.stack([torch.linspace(100, 2000, 30), torch.linspace(0.02, 0.001, 30) ** 2, torch.full((30,), 2.0)], 1)
    X = X[torch.randperm(30, generator=torch.Generator().manual_seed(1))]
    return X, X[:, :1] * 0.01 + 1


def _rows(X, y):
    return [tuple(a) + tuple(b) for a, b in zip(X.tolist(), y.tolist())]


def _split_faults(module) -> set[str]:
    faults = set()
    for X, y, lengths in ((*_sin(), (70, 15, 15)), (*_table(), (20, 5, 5))):
        everything = sorted(_rows(X, y))

        def split(seed, global_seed=0):
            torch.manual_seed(global_seed)
            return [_rows(a, b) for a, b in module.split_dataset(X.clone(), y.clone(), list(lengths), torch.Generator().manual_seed(seed))]

        sets = split(5)
        if [len(s) for s in sets] != list(lengths) or sorted(sum(sets, [])) != everything:
            faults.add(SPLIT_PARTS)
        if split(5, 1) != sets or split(6) == sets or sum(sets, []) == _rows(X, y):
            faults.add(SPLIT_RANDOM)
    return faults


def _normalize_faults(module) -> set[str]:
    faults = set()
    for X, _ in (_sin(), _table()):
        parts = [X[:20], X[20:25], X[25:30]]
        given = [p.clone() for p in parts]
        got = module.normalize(*given)
        if any(not torch.equal(a, b) for a, b in zip(parts, given)):
            faults.add(NORMALIZE_STATS)
        mean = parts[0].mean(0)
        varying = parts[0].std(0) > 0
        right = [
            all(torch.allclose(g[:, varying], ((p - mean) / parts[0].std(0, correction=c))[:, varying], rtol=1e-4, atol=1e-5) for g, p in zip(got, parts))
            for c in (0, 1)
        ]
        if not any(right):
            faults.add(NORMALIZE_STATS)
        if not all(torch.allclose(g[:, ~varying], torch.zeros(1), atol=1e-5) for g in got):
            faults.add(NORMALIZE_CONSTANT)
    return faults


def _proxy_faults(module) -> set[str]:
    faults = set()
    X, y = _sin()
    X, y = X[:40], y[:40]
    pairs = _rows(X, y)

    def proxy(seed, global_seed=0):
        torch.manual_seed(global_seed)
        return _rows(*module.make_proxy(X.clone(), y.clone(), 12, torch.Generator().manual_seed(seed)))

    for seed in range(5):
        chosen = proxy(seed)
        if len(chosen) != 12 or len(set(chosen)) != 12 or not set(chosen) <= set(pairs):
            faults.add(PROXY_SUBSET)
    if proxy(1, 1) != proxy(1) or proxy(2) == proxy(1) or proxy(1) == pairs[:12]:
        faults.add(PROXY_RANDOM)
    return faults


class _Watched(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
        self.saw: list[tuple[bool, bool]] = []

    def forward(self, X):
        self.saw.append((torch.is_grad_enabled(), self.training))
        return self.layers(X)


def _evaluate_faults(module) -> set[str]:
    faults = set()
    X, y = _sin()
    model = _Watched()
    for batch_size in (7, 30, 100):  # 100 = 14 * 7 + 2; 30, 30, 30, 10; one batch
        with torch.no_grad():
            want = nn.functional.mse_loss(model.layers(X), y).item()
        got = module.evaluate(model, nn.MSELoss(), DataLoader(TensorDataset(X, y), batch_size=batch_size))
        if not math.isclose(got, want, rel_tol=1e-5):
            faults.add(EVALUATE_AVERAGE)
    for training in (True, False):
        model = _Watched().train(training)
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        before = [p.detach().clone() for p in model.parameters()]
        model.saw.clear()
        module.evaluate(model, nn.MSELoss(), DataLoader(TensorDataset(X, y), batch_size=30))
        if any(grad for grad, _ in model.saw) or any(
            not torch.equal(p.grad, torch.ones_like(p)) or not torch.equal(p, b) for p, b in zip(model.parameters(), before)
        ):
            faults.add(EVALUATE_NOTHING)
        if any(mode for _, mode in model.saw) or model.training != training:
            faults.add(EVALUATE_MODE)
    return faults


def oracle(path: Path) -> set[str]:
    """The checks a data.py should fail, found by calling its functions directly."""
    module = load_module(path)
    with torch.random.fork_rng(devices=[]):
        return _split_faults(module) | _normalize_faults(module) | _proxy_faults(module) | _evaluate_faults(module)


# ------------------------------------------------------------------------------------
# The plug-in's shape and the fixtures
# ------------------------------------------------------------------------------------


def test_assignment_is_one_cheap_declaration():
    assert DATA.name == "data" and DATA.modules == {"data": "data.py"} and DATA.notebook == "data.ipynb"
    assert "torch" not in (ROOT / "grader" / "assignments" / "data" / "__init__.py").read_text()
    assert "data" in assignments.names()


def test_checks_grade_the_four_functions_in_whole_points():
    names = [check.name for check in C.checks()]
    assert names == [SPLIT_PARTS, SPLIT_RANDOM, NORMALIZE_STATS, NORMALIZE_CONSTANT, PROXY_SUBSET, PROXY_RANDOM,
                     EVALUATE_AVERAGE, EVALUATE_NOTHING, EVALUATE_MODE]
    assert sum(check.points for check in C.checks()) == 100
    assert all(float(check.points).is_integer() for check in C.checks())


def test_fixtures_are_the_lectures_data_and_a_table_on_three_scales():
    X, y = fixtures.sin_data()
    assert X.shape == y.shape == (100, 1) and X.abs().max() <= math.pi
    assert torch.equal((X, y)[0], _sin()[0]) and torch.equal(y, _sin()[1])
    T, t = fixtures.table()
    assert T.shape == (60, 3) and t.shape == (60, 1)
    assert (T[:, 2] == 2.0).all() and T[:40, 2].std() == 0
    assert T[:, 0].std() > 100 and T[:, 1].std() < 0.01  # scales 1e4 apart: normalizing matters
    for data in (X, T):  # the probes recognise rows by their values
        assert len({tuple(row) for row in data.tolist()}) == len(data)
    sizes = {s: [len(b[0]) for b in fixtures.loader(s, fixtures.FIXED_SEED)] for s in fixtures.SPLIT_NAMES}
    assert sizes == {"train": [32, 32, 6], "valid": [6, 6, 3], "eval": [6, 6, 3]}


def test_probes_leave_the_global_random_state_alone(reference):
    state = torch.random.get_rng_state()
    probe_values(load_module(REFERENCE))
    assert torch.equal(state, torch.random.get_rng_state())


# ------------------------------------------------------------------------------------
# The reference, checked independently
# ------------------------------------------------------------------------------------


def test_reference_passes_every_check_and_the_oracle(reference):
    failures = {name: v.message for name, v in verdicts(reference, reference).items() if not v.passed}
    assert not failures, failures
    assert oracle(REFERENCE) == set()


def test_expected_losses_are_the_whole_split_mse_at_each_checkpoint(reference):
    """The judge's expectation against a computation of this test's own: one batch, float64."""
    X, y = fixtures.sin_data()
    order = torch.randperm(100, generator=torch.Generator().manual_seed(fixtures.FIXED_SEED))
    rows = {"train": order[:70], "valid": order[70:85], "eval": order[85:]}
    for k, state in enumerate(fixtures.checkpoints(fixtures.FIXED_SEED)):
        model = fixtures.model_at(state).double()
        for split, r in rows.items():
            with torch.no_grad():
                want = ((model(X[r].double()) - y[r].double()) ** 2).mean().item()
            assert C.expected_losses(fixtures.FIXED_SEED)["weighted"][split][k] == pytest.approx(want, rel=1e-6)
            assert reference["data:evaluate_losses"]["losses"][split][k] == pytest.approx(want, rel=1e-6)
    first, last = (C.expected_losses(fixtures.FIXED_SEED)["weighted"]["train"][i] for i in (0, -1))
    assert last < 0.5 * first  # the checkpoints show a model that learns


def test_expected_normalization_is_the_formula_with_either_std():
    X, _ = fixtures.table()
    rows = fixtures.fixed_split(60, fixtures.TABLE_LENGTHS, fixtures.FIXED_SEED)
    train = X[rows[0]].double()
    for correction, expected in zip((1, 0), C.expected_normalized("table", fixtures.FIXED_SEED)["training"]):
        n = len(train)
        std = ((train - train.sum(0) / n) ** 2).sum(0).div(n - correction).sqrt()
        std[2] = 1.0
        assert torch.allclose(expected[2], (X[rows[2]].double() - train.sum(0) / n) / std)


# ------------------------------------------------------------------------------------
# The examples
# ------------------------------------------------------------------------------------


def test_there_are_enough_examples_and_each_mistake_has_its_expectation():
    assert set(MISTAKES) == set(EXPECTED_FAILURES)
    assert len(MISTAKES) >= 8 and len(VARIANTS) >= 4


@pytest.mark.parametrize("name", MISTAKES)
def test_a_mistake_fails_exactly_its_check_with_its_key_and_hint(name, reference):
    info = meta("mistakes", name)
    path = example_file("mistakes", name)
    assert oracle(path) == {EXPECTED_FAILURES[name]}, "the expectation disagrees with the oracle"
    results = verdicts(values_of(path), reference)
    lost = {check for check, verdict in results.items() if not verdict.passed}
    assert lost == {EXPECTED_FAILURES[name]}
    assert {n.split(":")[0] for n in lost} == set(info["failing"]), "the example's `failing` is out of date"
    verdict = results[EXPECTED_FAILURES[name]]
    assert verdict.mistake == info["mistake"], verdict.message
    assert verdict.hint == C.HINTS[info["mistake"]] and verdict.hint
    assert verdict.message.startswith(info["failing"][0]), "the message names the function"


@pytest.mark.parametrize("name", VARIANTS)
def test_a_correct_variant_gets_full_marks(name, reference):
    path = example_file("variants", name)
    assert oracle(path) == set()
    failures = {check: v.message for check, v in verdicts(values_of(path), reference).items() if not v.passed}
    assert not failures, failures


@pytest.mark.parametrize("kind,name", [("variants", n) for n in VARIANTS] + [("mistakes", n) for n in MISTAKES])
def test_the_official_grade_with_hidden_inputs_agrees_on_every_example(kind, name, reference):
    """The instructor's checks (each public check guarded by its hidden variant) give the same verdicts."""
    official = DATA.checks()
    assert [c.name for c in official] == [c.name for c in C.checks()] and official[0].probe.function == "guarded"
    ref = probe_values(load_module(REFERENCE), official)
    assert all(c.judge(ref[c.probe.key], ref[c.probe.key]).passed for c in official)
    values = probe_values(load_module(example_file(kind, name)), official)
    lost = {c.name for c in official if not c.judge(values[c.probe.key], ref[c.probe.key]).passed}
    assert lost == ({EXPECTED_FAILURES[name]} if kind == "mistakes" else set())


def test_a_proxy_written_for_the_public_size_fails_only_the_official_grade(tmp_path, reference):
    path = tmp_path / "data.py"
    path.write_text(REFERENCE.read_text().replace("generator=generator)[:size]", "generator=generator)[:10]"))
    public = verdicts(probe_values(load_module(path)), reference)
    assert all(v.passed for v in public.values())
    official = DATA.checks()
    values, ref = probe_values(load_module(path), official), probe_values(load_module(REFERENCE), official)
    verdict = next(c for c in official if c.name == PROXY_SUBSET).judge(values["data:make_proxy"], ref["data:make_proxy"])
    assert not verdict.passed and "expected 13 samples, got 10" in verdict.message and verdict.mistake == "proxy_size"


def test_every_hint_belongs_to_a_mistake_a_judge_can_name():
    source = (ROOT / "grader" / "assignments" / "data" / "checks.py").read_text()
    unused = [key for key in C.HINTS if f'"{key}"' not in source.split("HINTS = {")[1].split("\n}\n", 1)[1]]
    assert not unused, unused


# ------------------------------------------------------------------------------------
# Feedback and robustness
# ------------------------------------------------------------------------------------


def test_feedback_says_where_what_was_expected_and_what_came(reference):
    batch = verdicts(values_of(example_file("mistakes", "evaluate_mean_of_batch_means")), reference)[EVALUATE_AVERAGE]
    weighted, means = C.expected_losses(fixtures.FIXED_SEED)["weighted"]["train"][0], C.expected_losses(fixtures.FIXED_SEED)["batch_means"]["train"][0]
    assert "training set of the lecture's sin(x) data (70 samples in batches of [32, 32, 6])" in batch.message
    assert f"expected the average loss {weighted:.6g}, got {means:.6g}" in batch.message
    zero = verdicts(values_of(example_file("mistakes", "normalize_zero_std")), reference)[NORMALIZE_CONSTANT]
    assert "feature 2 is 2.0 in every row" in zero.message and "got nan" in zero.message
    overlap = verdicts(values_of(example_file("mistakes", "split_overlap")), reference)[SPLIT_PARTS]
    assert "15 samples are in more than one set" in overlap.message and "15 are in none" in overlap.message


def _with(reference: dict, key: str, edit) -> dict:
    value = json.loads(json.dumps(reference))
    edit(value[key])
    return value


ODD_VALUES = {
    "split returns one tensor": ("data:split_dataset", lambda v: v["sin"]["calls"]["first"].update(parts=None, returned="Tensor")),
    "split returns a row twice": ("data:split_dataset", lambda v: v["sin"]["calls"]["first"]["parts"][1]["rows"].__setitem__(0, 0)),
    "normalize returns None": ("data:normalize", lambda v: v["table"].update(values=None, returned="NoneType")),
    "normalize returns 1-D": ("data:normalize", lambda v: v["sin"]["values"].__setitem__(0, None)),
    "normalize returns infinities": ("data:normalize", lambda v: v["sin"]["values"][1][0].__setitem__(0, "inf")),
    "proxy raises": ("data:make_proxy", lambda v: v["table"]["calls"]["same_seed"].update(error="ValueError: no")),
    "evaluate returns a string": ("data:evaluate_losses", lambda v: v["losses"]["eval"].__setitem__(2, "nan")),
    "evaluate returns None": ("data:evaluate_losses", lambda v: v["losses"]["valid"].__setitem__(0, None)),
    "evaluate never calls the model": ("data:evaluate_effects", lambda v: v["cases"][1].update(seen=[])),
}


@pytest.mark.parametrize("case", sorted(ODD_VALUES))
def test_odd_values_fail_the_checks_that_read_them_cleanly(case, reference):
    key, edit = ODD_VALUES[case]
    results = verdicts(_with(reference, key, edit), reference)
    lost = {name for name, v in results.items() if not v.passed}
    readers = {check.name for check in C.checks() if check.probe.key == key}
    assert lost and lost <= readers, lost
    assert all(results[name].message for name in lost)


INCOMPLETE = {  # what a child that sends back less than the probe reports would send
    "no datasets": lambda v: v.clear() if "cases" not in v and "losses" not in v else None,
    "one call only": lambda v: [d["calls"].pop("same_seed") for d in v.values()] if "sin" in v and "calls" in v["sin"] else None,
    "no losses": lambda v: v["losses"].update({s: [] for s in v["losses"]}) if "losses" in v else None,
    "one mode only": lambda v: v["cases"].pop() if "cases" in v else None,
}


@pytest.mark.parametrize("case", sorted(INCOMPLETE))
def test_an_incomplete_answer_never_passes_the_checks_that_read_it(case, reference):
    values = json.loads(json.dumps(reference))
    touched = set()
    for key, value in values.items():
        before = json.dumps(value)
        INCOMPLETE[case](value)
        if json.dumps(value) != before:
            touched.add(key)
    assert touched
    for check in C.checks():  # scored as the grading process scores: a judge that raises fails its check
        if check.probe.key in touched:
            result = score_check(check, Outcome("ok", value=values[check.probe.key]), Outcome("ok", value=reference[check.probe.key]))
            assert result.score == 0, check.name


def test_the_tolerance_passes_rounding_and_fails_a_small_error(reference):
    def nudge(factor):
        return _with(reference, "data:evaluate_losses", lambda v: v["losses"].update(
            eval=[x * factor for x in v["losses"]["eval"]]))

    assert verdicts(nudge(1 + 1e-6), reference)[EVALUATE_AVERAGE].passed
    assert not verdicts(nudge(1 + 1e-3), reference)[EVALUATE_AVERAGE].passed


# ------------------------------------------------------------------------------------
# Notebook, stubs and plots
# ------------------------------------------------------------------------------------


def test_assign_output_is_current_and_the_stub_raises_in_every_function():
    files = generated_files(DATA)
    assert {str(p.relative_to(ROOT)) for p in files} >= {
        "assignments/data/data.py", "assignments/data/data.ipynb", "reference/data/data.ipynb"}
    assert stale(DATA) == [], "run `python -m grader assign data`"  # stored answers up to float32's last digits (test_stubs)
    stub = STUB.read_text()
    for function in ("split_dataset", "normalize", "make_proxy", "evaluate"):
        assert f'raise NotImplementedError("{function} is not implemented yet")' in stub
    assert "# BEGIN SOLUTION" not in stub and "torch.no_grad()" in stub  # the docstrings keep their instructions


def test_notebook_follows_the_lecture_and_loads_as_definitions_only(tmp_path):
    from grader.submission.notebook import notebook_to_module

    notebook = build_notebook(REFERENCE.read_text())
    headings = [c.source.splitlines()[0] for c in notebook.cells if c.cell_type == "markdown"]
    assert headings[-3:] == ["## 1. Prepare The Dataset", "## 2-4. Design, Set Hyperparameters, Train",
                             "## 5. Evaluate The Trained Model"]
    nbformat.write(notebook, str(tmp_path / "data.ipynb"))
    source, _ = notebook_to_module(tmp_path / "data.ipynb")
    namespace: dict = {}
    exec(compile(source, "data_notebook", "exec"), namespace)  # the definitions only: no training, no plots
    assert not namespace["_grader_cell_errors"]
    for function in ("split_dataset", "normalize", "make_proxy", "evaluate", "prepare", "train_and_evaluate"):
        assert callable(namespace[function])
    for result in ("sets", "history", "proxy_model"):
        assert result not in namespace


def test_plots_draw_the_reference_and_cope_with_a_failed_student(tmp_path, reference):
    from grader.assignments.data.plots import artifacts
    from grader.scoring import GradeReport

    ok = {key: Outcome("ok", value=value) for key, value in reference.items()}
    broken = {key: Outcome("error", error="NotImplementedError: not yet") for key in reference}
    for name, outcomes in (("ok", ok), ("broken", broken)):
        report = GradeReport("data", "x", [], outcomes=outcomes, reference=ok)
        (path,) = artifacts(report, tmp_path / name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


# ------------------------------------------------------------------------------------
# End to end: grade (a folder, a notebook), batch, export, gradescope
# ------------------------------------------------------------------------------------


def _failed(report) -> dict:
    return {r.name: r.output for r in report.results if r.status == "failed"}


def test_grade_command_gives_the_reference_full_marks_and_the_stubs_zero(tmp_path):
    for folder, score in (("reference", 100), ("assignments", 0)):
        out = tmp_path / f"{folder}.json"
        done = run_grader("grade", "data", ROOT / folder / "data", "--results", out)
        assert done.returncode == 0, done.stderr
        results = read_results(out)
        assert results["score"] == score, [t["output"] for t in results["tests"] if t["score"] < t["max_score"]]
    stub_outputs = [t["output"] for t in read_results(tmp_path / "assignments.json")["tests"] if t["max_score"]]
    assert len(stub_outputs) == len(C.checks()) and all("is not implemented yet" in o for o in stub_outputs)


@pytest.mark.parametrize("name", ["normalize_whole_dataset", "evaluate_no_eval_mode"])
def test_a_mistake_graded_end_to_end_as_a_notebook(name, tmp_path):
    from grader.grade import grade

    path = tmp_path / "data.ipynb"
    nbformat.write(build_notebook(example_file("mistakes", name).read_text()), str(path))
    report = grade(DATA, path, artifacts_dir=tmp_path / "plots")
    assert set(_failed(report)) == {EXPECTED_FAILURES[name]}
    assert report.score == 100 - sum(r.max_score for r in report.results if r.status == "failed")
    assert [p.name for p in report.artifacts] == ["data-splits-and-losses.png"]


def test_batch_export_and_gradescope_work_for_data(tmp_path):
    from grader.batch.gradebook import Gradebook
    from grader.cli import main

    def run(*args):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            return main([*map(str, args)]), out.getvalue()

    folder = tmp_path / "class"
    shutil.copytree(ROOT / "reference" / "data", folder / "alice", ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    shutil.copytree(ROOT / "assignments" / "data", folder / "bob", ignore=shutil.ignore_patterns("*.ipynb"))
    code, printed = run("batch", "data", folder, "--gradebook", tmp_path / "grades.db", "--jobs", 1, "--no-plots")
    assert code == 0, printed
    with Gradebook(tmp_path / "grades.db") as book:
        scores = {r["student"]: r["score"] for r in book.submissions("data")}
    assert scores == {"alice": 100, "bob": 0}

    code, printed = run("export", "data", tmp_path / "template")
    assert code == 0, printed
    readme = (tmp_path / "template" / "README.md").read_text()
    assert "split_dataset" in readme and "evaluate" in readme and (tmp_path / "template" / "data" / "data.py").is_file()

    code, printed = run("gradescope", "data", tmp_path / "autograder.zip")
    assert code == 0, printed
    with zipfile.ZipFile(tmp_path / "autograder.zip") as archive:
        assert "data" in archive.read("run_autograder").decode()
