"""The descent assignment: probes, judges, examples, notebook and plots.

Most tests run the probes in this process (``resolve`` reads a module loaded from a
file) and feed their JSON round-tripped data to the judges, exactly as the grading
process does; the last group grades end to end through ``grader.grade.grade``.
"""

from __future__ import annotations

import atexit
import difflib
import functools
import importlib
import importlib.util
import json
import math
import re
import shutil
import tempfile
import textwrap
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from conftest import ROOT
from examples.materialize import materialize
from grader import assignments
from grader.assignments.descent import checks as C
from grader.assignments.descent import fixtures, plots, probes
from grader.assignments.descent.authoring import build_notebook
from grader.authoring.stubs import stub_source
from grader.plugin import Outcome

DESCENT = assignments.get("descent")
REFERENCE = ROOT / "reference" / "descent" / "descent.py"
EXAMPLES = ROOT / "examples" / "descent"  # one .toml of edits to the reference per example
MISTAKES = sorted(p.stem for p in (EXAMPLES / "mistakes").glob("*.toml"))
VARIANTS = sorted(p.stem for p in (EXAMPLES / "variants").glob("*.toml"))
FUNCTIONS = ["make_loaders", *C.LOOPS]


# ------------------------------------------------------------------------------------
# Helpers: run the probes in this process
# ------------------------------------------------------------------------------------


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"descent_under_test_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def resolver(module):
    def resolve(logical, name):
        assert logical == "descent"
        return getattr(module, name)

    return resolve


def probe_values(resolve, checks=None) -> dict:
    """Every distinct probe's value for one submission, through JSON as in the sandbox: the
    public checks' probes, or those of ``checks``."""
    values = {}
    for check in C.checks() if checks is None else checks:
        probe = check.probe
        if probe.key not in values:
            value = getattr(probes, probe.function)(resolve, **probe.args)
            values[probe.key] = json.loads(json.dumps(value))
    return values


def verdicts(values: dict, reference: dict) -> dict:
    return {check.name: check.judge(values[check.probe.key], reference[check.probe.key]) for check in C.checks()}


_values_cache: dict[Path, dict] = {}


def values_of(path: Path) -> dict:
    if path not in _values_cache:
        _values_cache[path] = probe_values(resolver(load_module(path)))
    return _values_cache[path]


@pytest.fixture(scope="module")
def reference():
    return values_of(REFERENCE)


def meta(kind: str, name: str) -> dict:
    return tomllib.loads((EXAMPLES / kind / f"{name}.toml").read_text())


@functools.cache
def _built_examples() -> dict[tuple[str, str], Path]:
    out = Path(tempfile.mkdtemp(prefix="descent-examples-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    return {(e.kind, e.name): e.path for e in materialize("descent", out)}


def example_dir(kind: str, name: str) -> Path:
    """The example submission folder, built from the reference and the example's edits."""
    return _built_examples()[kind, name]


# ------------------------------------------------------------------------------------
# The plug-in's shape
# ------------------------------------------------------------------------------------


def test_assignment_is_registered_and_cheap():
    assert DESCENT.name == "descent" and DESCENT.modules == {"descent": "descent.py"}
    assert DESCENT.notebook == "descent.ipynb"
    source = (ROOT / "grader" / "assignments" / "descent" / "__init__.py").read_text()
    assert "torch" not in source


def test_checks_names_points_and_probes():
    checks = C.checks()
    names = [c.name for c in checks]
    assert len(set(names)) == len(names), "check names must be unique"
    assert {n.split(":")[0] for n in names} == set(FUNCTIONS)
    assert sum(c.points for c in checks) == 100
    for loop in C.LOOPS:
        assert sum(c.points for c in checks if c.name.startswith(loop + ":")) == 30
    distinct = {c.probe.key: c.probe for c in checks}
    assert len(distinct) == 4, "one probe per loop and one for make_loaders"
    for probe in distinct.values():
        assert probe.needs == ("descent",) and 0 < probe.timeout <= 30
        json.dumps(dict(probe.args))  # the args cross to the child as JSON


def test_reference_passes_every_check(reference):
    for name, verdict in verdicts(reference, reference).items():
        assert verdict.passed, (name, verdict.message)
        assert verdict.message.startswith(name.split(":")[0]), verdict.message


def test_reference_trajectory_is_reproducible_and_sane(reference):
    again = probe_values(resolver(load_module(REFERENCE)))
    assert again == reference, "the reference trajectory must not depend on the run"
    for loop in C.LOOPS:
        value = reference[C.loop_probe(loop).key]
        train = value["returned"]["train"]["values"]
        valid = value["returned"]["valid"]["values"]
        per_epoch = {"train_batch_gd": 1, "train_sgd": 80, "train_minibatch_sgd": 5}[loop]
        assert value["setup"]["updates_per_epoch"] == per_epoch
        assert len(train) == C.EPOCHS * per_epoch and len(valid) == C.EPOCHS
        assert min(valid) < valid[0], f"{loop} should learn something in {C.EPOCHS} epochs"
        assert not value["truncated"] and len(json.dumps(value)) < 200_000


def test_probes_leave_the_global_random_state_alone():
    before = torch.get_rng_state()
    probe_values(resolver(load_module(REFERENCE)))
    assert torch.equal(before, torch.get_rng_state())


def test_probes_cost_little_cpu(reference):
    """The probes' own work, in CPU seconds (load-independent; speed proper is benchmarked)."""
    module = load_module(REFERENCE)
    probe_values(resolver(module))  # warm up
    started = time.process_time()
    probe_values(resolver(module))
    used = time.process_time() - started
    assert used < 3.0, f"all four probes used {used:.2f} s of CPU"


# ------------------------------------------------------------------------------------
# The fixtures are the lecture's
# ------------------------------------------------------------------------------------


def test_fixtures_are_the_lectures_setup():
    x, y = fixtures.make_data()
    assert x.shape == y.shape == (100, 1)
    assert -math.pi <= float(x.min()) and float(x.max()) <= math.pi
    noise = (y - torch.sin(x)).std().item()
    assert 0.05 < noise < 0.15
    train, valid = fixtures.make_datasets()
    assert (len(train), len(valid)) == (80, 20)
    model = fixtures.make_model()
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(10, 1), (10,), (1, 10), (1,)]
    assert isinstance(model[1], torch.nn.ReLU)
    assert fixtures.BATCH_SIZES == {"train_batch_gd": 80, "train_sgd": 1, "train_minibatch_sgd": 16}
    assert fixtures.LEARNING_RATE == 0.02


def test_traced_optimizer_is_the_sgd_students_are_given():
    trace, model, criterion, optimizer, train_loader, valid_loader = fixtures.traced_run("train_sgd")
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["lr"] == 0.02
    assert isinstance(criterion, torch.nn.MSELoss)
    assert isinstance(train_loader, torch.utils.data.DataLoader) and len(train_loader) == 80
    assert len(valid_loader) == 1


OPTIMIZER_SETTINGS = {  # name -> (what is done to both optimizers, how step is called)
    "as given": (lambda opt: None, "plain"),
    "another lr": (lambda opt: opt.param_groups[0].update(lr=0.05), "plain"),
    "momentum": (lambda opt: opt.param_groups[0].update(momentum=0.9), "plain"),
    "weight decay and maximize": (lambda opt: opt.param_groups[0].update(weight_decay=0.1, maximize=True), "plain"),
    "a closure": (lambda opt: None, "closure"),
    "zero_grad to zeros": (lambda opt: None, "zeros"),
}


@pytest.mark.parametrize("setting", [*OPTIMIZER_SETTINGS, "step hooks", "a global step hook"])
def test_the_traced_optimizer_steps_exactly_as_torchs_sgd(setting):
    """Its shortcuts (zero_grad to None, SGD's plain update made directly) give torch's SGD's very
    numbers, anything else goes through torch's own step, and step hooks run once per step."""
    trace, model, criterion, traced, train_loader, _ = fixtures.traced_run("train_minibatch_sgd")
    plain_model = fixtures.make_model()
    plain = torch.optim.SGD(plain_model.parameters(), lr=0.02)
    configure, call = OPTIMIZER_SETTINGS.get(setting, (lambda opt: None, "plain"))
    calls, handles, losses = [], [], []
    for opt in (traced, plain):
        configure(opt)
        if setting == "step hooks":
            handles += [opt.register_step_pre_hook(lambda o, a, k: calls.append((o, "pre"))),
                        opt.register_step_post_hook(lambda o, a, k: calls.append((o, "post")))]
    if setting == "a global step hook":
        handles.append(register_optimizer_step_pre_hook(lambda o, a, k: calls.append((o, "pre"))))
    try:
        for X, y in list(train_loader)[:3]:
            for net, opt in ((model, traced), (plain_model, plain)):
                def closure(net=net, opt=opt, X=X, y=y):
                    opt.zero_grad(set_to_none=call != "zeros")
                    losses.append(criterion(net(X), y))
                    losses[-1].backward()
                    return losses[-1]

                if call == "closure":
                    assert opt.step(closure) is losses[-1]
                else:
                    closure()
                    opt.step()
    finally:
        for handle in handles:
            handle.remove()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), plain_model.parameters()))
    assert trace.counts["S"] == 3
    if setting in ("step hooks", "a global step hook"):
        hooks = ("pre", "post") if setting == "step hooks" else ("pre",)
        assert [when for opt, when in calls if opt is traced] == [when for opt, when in calls if opt is plain] == list(hooks) * 3


def test_an_optimizer_made_again_with_other_settings_steps_as_torchs_sgd():
    """A loop may make itself another optimizer of the class it is given: it is torch's SGD, made
    with its own settings, and steps as such (the grader then sees its updates as changes
    outside optimizer.step())."""
    _, model, criterion, given, train_loader, _ = fixtures.traced_run("train_minibatch_sgd")
    assert given._plain()
    settings = {"lr": 0.03, "momentum": 0.9, "weight_decay": 0.01}
    again = type(given)(model.parameters(), **settings)
    assert not again._plain()
    plain_model = fixtures.make_model()
    plain = torch.optim.SGD(plain_model.parameters(), **settings)
    for X, y in list(train_loader)[:3]:
        for net, opt in ((model, again), (plain_model, plain)):
            opt.zero_grad()
            criterion(net(X), y).backward()
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), plain_model.parameters()))


def test_one_row_losses_are_torchs_mse_to_the_bit():
    """SGD's one-row forwards take their MSE from float32 NumPy scalars: the bits of
    functional.mse_loss, or no shortcut where that might differ."""
    generator = torch.Generator().manual_seed(0)
    outputs = torch.randn(2000, generator=generator) * 10.0 ** torch.randint(-6, 7, (2000,), generator=generator)
    targets = torch.randn(2000, generator=generator)
    for o, t in zip(outputs.tolist(), targets.tolist()):
        output = torch.tensor([[o]], requires_grad=True)
        mse, value = fixtures._one_row_mse(output, t)
        assert mse == torch.nn.functional.mse_loss(output.detach(), torch.tensor([[t]])).item() and value == o
    for unsuited in (torch.tensor([[1e20]]), torch.tensor([[float("nan")]]), torch.tensor([[1.0]], dtype=torch.float64), torch.ones(1, 2)):
        assert fixtures._one_row_mse(unsuited, 0.5) is None


def test_a_backward_is_clean_when_the_gradients_then_hold_only_its_own():
    trace, model, criterion, optimizer, train_loader, _ = fixtures.traced_run("train_sgd")
    X, y = next(iter(train_loader))

    def backward(zero=None):
        if zero is not None:
            optimizer.zero_grad(set_to_none=zero == "none")
        criterion(model(X), y).backward()
        return [e for e in trace.events if e[0] == "B"][-1][2]

    assert backward("none")  # gradients were None
    assert not backward()  # the first backward's gradients are still there
    assert backward("zeros")  # all zero: adding to them changes nothing
    for p in model.parameters():
        p.grad = torch.full_like(p, float("nan"))
    assert not backward()


# ------------------------------------------------------------------------------------
# Known mistakes and correct variants (in process)
# ------------------------------------------------------------------------------------

# For each example mistake: check (without the function name) -> functions it must fail.
# Every other check must pass: a mistake costs its own checks only.
ALL = set(C.LOOPS)
BATCHED = {"train_sgd", "train_minibatch_sgd"}
RETURNS, UPDATES, GRADS, VALIDATION = (
    "returns two lists of floats",
    "updates per epoch",
    "zero_grad discipline",
    "validation once per epoch, parameters untouched",
)
TRAIN, VALID, PARAMS = (
    "training losses match the reference",
    "validation losses match the reference",
    "final parameters match the reference",
)
EXPECTED_FAILURES = {
    "no_zero_grad": {GRADS: ALL, TRAIN: ALL, VALID: ALL, PARAMS: ALL},
    "zero_grad_between_backward_and_step": {GRADS: ALL, TRAIN: ALL, VALID: ALL, PARAMS: ALL},
    "step_before_backward": {GRADS: ALL, TRAIN: ALL, VALID: ALL, PARAMS: ALL},
    "loss_after_step": {TRAIN: ALL},
    "valid_before_training": {VALIDATION: ALL, VALID: ALL},
    "valid_every_batch": {RETURNS: BATCHED, VALIDATION: BATCHED, VALID: BATCHED},
    # Validating on a batch of train_loader is one more pass over it, which draws a new
    # shuffle: SGD and minibatch SGD then train on another order (batch GD does not care).
    "valid_on_train_data": {VALIDATION: ALL, VALID: ALL, TRAIN: BATCHED, PARAMS: BATCHED},
    "valid_on_last_batch": {VALIDATION: ALL, VALID: ALL},
    "one_batch_per_epoch": {RETURNS: BATCHED, UPDATES: BATCHED, TRAIN: BATCHED, VALID: BATCHED, PARAMS: BATCHED},
    "extra_epoch": {RETURNS: ALL, UPDATES: ALL, TRAIN: ALL, VALID: ALL, PARAMS: ALL},
    "missing_epoch": {RETURNS: ALL, UPDATES: ALL, TRAIN: ALL, VALID: ALL, PARAMS: ALL},
    "train_on_valid_data": {RETURNS: BATCHED, UPDATES: ALL, VALIDATION: ALL, TRAIN: ALL, VALID: ALL, PARAMS: ALL},
    "own_optimizer": {UPDATES: ALL},
    "tensors_not_floats": {RETURNS: ALL},
    "lists_swapped": {RETURNS: ALL, TRAIN: ALL, VALID: ALL},
    "backward_without_parens": {GRADS: ALL, TRAIN: ALL, VALID: ALL, PARAMS: ALL},
    "train_loss_epoch_average": {RETURNS: BATCHED, TRAIN: BATCHED},
    "zero_grad_once_before_loop": {GRADS: {"train_batch_gd"}, TRAIN: {"train_batch_gd"}, VALID: {"train_batch_gd"}, PARAMS: {"train_batch_gd"}},
    # train_minibatch_sgd only returns train_sgd(...): train_sgd's mistake is charged to train_sgd alone.
    "minibatch_calls_broken_sgd": {GRADS: {"train_sgd"}, TRAIN: {"train_sgd"}, VALID: {"train_sgd"}, PARAMS: {"train_sgd"}},
    "loaders_no_shuffle": {"training batches": {"make_loaders"}, "shuffles with the given generator": {"make_loaders"}},
    "loaders_generator_ignored": {"shuffles with the given generator": {"make_loaders"}},
    "loaders_drop_last": {"training batches": {"make_loaders"}},
    "loaders_valid_batched": {"one unshuffled validation batch": {"make_loaders"}},
    "loaders_valid_shuffled": {"one unshuffled validation batch": {"make_loaders"}},
}


def test_every_example_mistake_has_expectations():
    assert set(MISTAKES) == set(EXPECTED_FAILURES)
    assert len(MISTAKES) >= 5 and len(VARIANTS) >= 3


@pytest.mark.parametrize("name", MISTAKES)
def test_a_mistake_fails_exactly_its_checks_with_its_key_and_hint(name, reference):
    info = meta("mistakes", name)
    results = verdicts(values_of(example_dir("mistakes", name) / "descent.py"), reference)
    expected = {f"{function}: {check}" for check, functions in EXPECTED_FAILURES[name].items() for function in functions}
    lost = {check for check, verdict in results.items() if not verdict.passed}
    assert lost == expected, f"unexpected: {sorted(lost - expected)}; missing: {sorted(expected - lost)}"
    assert {n.split(":")[0] for n in lost} == set(info["failing"]), "example.toml's `failing` is out of date"
    for check in lost:
        verdict = results[check]
        assert verdict.mistake == info["mistake"], (check, verdict.mistake, verdict.message)
        assert verdict.hint, check
        assert verdict.message.startswith(check.split(":")[0]), "the message names the function"


@pytest.mark.parametrize("name", MISTAKES)
def test_an_example_mistake_is_the_reference_with_one_small_edit(name):
    """Each example stays one mistake away from the reference."""
    reference = [line for line in REFERENCE.read_text().splitlines() if "SOLUTION" not in line]
    example = (example_dir("mistakes", name) / "descent.py").read_text().splitlines()
    changed = [
        line for line in difflib.unified_diff(reference, example, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert 0 < len(changed) <= 40, changed


@pytest.mark.parametrize("name", VARIANTS)
def test_a_correct_variant_gets_full_marks(name, reference):
    results = verdicts(values_of(example_dir("variants", name) / "descent.py"), reference)
    failures = {check: v.message for check, v in results.items() if not v.passed}
    assert not failures, failures


# ------------------------------------------------------------------------------------
# Feedback and robustness
# ------------------------------------------------------------------------------------


def test_feedback_names_loop_update_expected_got_and_hint(reference):
    results = verdicts(values_of(example_dir("mistakes", "no_zero_grad") / "descent.py"), reference)
    grads = results["train_sgd: zero_grad discipline"]
    assert "train_sgd (SGD, batch size 1, 5 epochs" in grads.message
    assert "update 2 (epoch 1, batch 2)" in grads.message
    assert "zero_grad()" in grads.hint
    losses = results["train_minibatch_sgd: training losses match the reference"]
    expected, got = expected_got(losses.message, "update 3 (epoch 1, batch 3)")
    assert math.isclose(expected, 0.406926, rel_tol=3e-6) and math.isclose(got, 0.397116, rel_tol=3e-6)
    valid = verdicts(values_of(example_dir("mistakes", "valid_before_training") / "descent.py"), reference)
    message = valid["train_sgd: validation once per epoch, parameters untouched"].message
    assert "after updates [80, 160, 240, 320, 400]" in message and "after updates [0, 80, 160, 240, 320]" in message


def expected_got(message: str, where: str) -> tuple[float, float]:
    """The numbers of "<where>: expected X, got Y" in a message (float32's last digit varies with the CPU)."""
    found = re.search(re.escape(where) + r": expected ([-+.\deE]+), got ([-+.\deE]+)\.", message)
    assert found, message
    return float(found[1]), float(found[2])


def _judge_inline(loop: str, function, reference) -> dict:
    """Run one inline student loop through its loop probe and all its checks."""
    value = json.loads(json.dumps(probes.train_loop(lambda m, n: function, loop, C.EPOCHS)))
    ref = reference[C.loop_probe(loop).key]
    return {
        name: judge(value, ref) for name, _, judge in C.LOOP_CHECKS
    }


def test_odd_return_values_fail_cleanly(reference):
    ref_module = load_module(REFERENCE)

    def returns_none(*args):
        ref_module.train_sgd(*args)

    def returns_one_list(*args):
        return ref_module.train_sgd(*args)[0]

    def returns_numpy(*args):
        import numpy

        train, valid = ref_module.train_sgd(*args)
        return [numpy.float32(v) for v in train], valid

    for function, key in ((returns_none, "not_two_lists"), (returns_one_list, "not_two_lists"), (returns_numpy, "not_python_floats")):
        results = _judge_inline("train_sgd", function, reference)
        assert not results["returns two lists of floats"].passed
        assert results["returns two lists of floats"].mistake == key
        assert results["zero_grad discipline"].passed and results["updates per epoch"].passed


def test_a_very_long_loop_is_capped_and_fails(reference):
    ref_module = load_module(REFERENCE)

    def eight_times(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
        return ref_module.train_sgd(model, criterion, optimizer, train_loader, valid_loader, 8 * num_epochs)

    value = json.loads(json.dumps(probes.train_loop(lambda m, n: eight_times, "train_sgd", C.EPOCHS)))
    assert value["truncated"] and len(value["events"]) == fixtures.MAX_EVENTS
    results = {name: judge(value, reference[C.loop_probe("train_sgd").key]) for name, _, judge in C.LOOP_CHECKS}
    assert not results["updates per epoch"].passed
    assert not any(v.passed for k, v in results.items() if k in (RETURNS, TRAIN, VALID, PARAMS))


def test_validation_that_backpropagates_into_the_next_update_is_caught(reference):
    """zero_grad at the end of each step plus a backward on the validation loss: its
    gradient leaks into the next epoch's first update."""

    def leaky(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
        train_losses, valid_losses = [], []
        for _ in range(num_epochs):
            for X, y in train_loader:
                loss = criterion(model(X), y)
                train_losses.append(loss.item())
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
            X, y = next(iter(valid_loader))
            loss = criterion(model(X), y)
            loss.backward()
            valid_losses.append(loss.item())
        return train_losses, valid_losses

    results = _judge_inline("train_minibatch_sgd", leaky, reference)
    assert not results[GRADS].passed and results[GRADS].mistake == "extra_backward"
    assert results[UPDATES].passed and results[VALIDATION].passed
    assert not results[PARAMS].passed


def test_validation_that_steps_is_caught(reference):
    def steps_on_validation(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
        train_losses, valid_losses = [], []
        for _ in range(num_epochs):
            for X, y in train_loader:
                loss = criterion(model(X), y)
                train_losses.append(loss.item())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            X, y = next(iter(valid_loader))
            loss = criterion(model(X), y)
            valid_losses.append(loss.item())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return train_losses, valid_losses

    results = _judge_inline("train_minibatch_sgd", steps_on_validation, reference)
    assert not results[VALIDATION].passed and results[VALIDATION].mistake == "valid_changes_params"
    assert not results[UPDATES].passed


def test_rounding_sized_differences_pass_and_the_tolerance_has_margin(reference, monkeypatch):
    """Perturbing every initial parameter by 1e-6 relative (about ten float32 ulps, more
    than any rewrite's rounding) must pass every check; 1e-3 must fail the trajectory."""
    ref_module = load_module(REFERENCE)
    make_model = fixtures.make_model

    def perturbed_model(scale):
        def make(cls=torch.nn.Sequential):
            model = make_model(cls)
            generator = torch.Generator().manual_seed(7)
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(1 + scale * torch.randn(p.shape, generator=generator))
            return model

        return make

    for loop in C.LOOPS:
        monkeypatch.setattr(fixtures, "make_model", perturbed_model(1e-6))
        small = _judge_inline(loop, getattr(ref_module, loop), reference)
        assert all(v.passed for v in small.values()), {k: v.message for k, v in small.items() if not v.passed}
        monkeypatch.setattr(fixtures, "make_model", perturbed_model(1e-3))
        large = _judge_inline(loop, getattr(ref_module, loop), reference)
        assert not large[PARAMS].passed and not large[TRAIN].passed


def test_make_loaders_that_raises_on_one_batch_size(reference):
    ref_module = load_module(REFERENCE)

    def picky(train_dataset, valid_dataset, batch_size, generator=None):
        if batch_size > len(train_dataset):
            raise ValueError("batch too large")
        return ref_module.make_loaders(train_dataset, valid_dataset, batch_size, generator)

    probe = C.loaders_probe()
    value = json.loads(json.dumps(probes.make_loaders(lambda m, n: picky, **probe.args)))
    ref = reference[probe.key]
    judges = {check.name: check.judge for check in C.checks()}
    batches = judges["make_loaders: training batches"](value, ref)
    assert not batches.passed and "batch_size=100" in batches.message and "ValueError: batch too large" in batches.message
    assert judges["make_loaders: shuffles with the given generator"](value, ref).passed


# ------------------------------------------------------------------------------------
# Examples verified against plain PyTorch, without the grader's instruments
# ------------------------------------------------------------------------------------

TRAJECTORY = {TRAIN, VALID, PARAMS}
# Loops whose own run differs from the reference's although they keep their points: the
# mistake is in the loop they hand their work to.
DIFFERS_BY_ANOTHER_LOOP = {"minibatch_calls_broken_sgd": {"train_minibatch_sgd"}}


def plain_run(function, loop: str, epochs: int = C.EPOCHS, loader_seed: int = fixtures.LOADER_SEED) -> tuple[list, list, list]:
    """``function`` on the lecture's setup built here from plain PyTorch classes (no tracing), for
    ``epochs`` epochs, the training loader shuffling with ``loader_seed``: its training losses,
    validation losses and final parameters, as floats."""
    train, valid = fixtures.make_datasets()
    model = fixtures.make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
    batch_size = {"train_batch_gd": 80, "train_sgd": 1, "train_minibatch_sgd": 16}[loop]
    generator = torch.Generator().manual_seed(loader_seed)
    train_loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator)
    valid_loader = torch.utils.data.DataLoader(valid, batch_size=20)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        result = function(model, torch.nn.MSELoss(), optimizer, train_loader, valid_loader, epochs)
    params = [v for p in model.parameters() for v in p.detach().reshape(-1).tolist()]
    try:
        train_losses, valid_losses = ([float(v) for v in part] for part in result)
    except (TypeError, ValueError):
        return [], [], params
    return train_losses, valid_losses, params


def same_trajectory(a: tuple, b: tuple) -> bool:
    return all(len(x) == len(y) and all(math.isclose(p, q, rel_tol=1e-4, abs_tol=1e-5) for p, q in zip(x, y)) for x, y in zip(a, b))


@functools.cache
def plain_reference(loop: str) -> tuple:
    return plain_run(getattr(load_module(REFERENCE), loop), loop)


@pytest.mark.parametrize("kind,name", [("mistakes", n) for n in MISTAKES] + [("variants", n) for n in VARIANTS])
def test_an_example_trajectory_agrees_with_plain_pytorch(kind, name):
    """Independently of the grader's instruments and judges: a variant's loops give the
    reference's numbers under plain PyTorch, and a mistake's loops differ from them exactly
    where the example says its trajectory checks fail."""
    module = load_module(example_dir(kind, name) / "descent.py")
    expected = EXPECTED_FAILURES.get(name, {})
    for loop in C.LOOPS:
        differs = any(loop in expected.get(check, ()) for check in TRAJECTORY) or loop in DIFFERS_BY_ANOTHER_LOOP.get(name, ())
        assert same_trajectory(plain_run(getattr(module, loop), loop), plain_reference(loop)) != differs, loop


# ------------------------------------------------------------------------------------
# The child's answer is hostile: expectations from the parent, forged logs rejected
# ------------------------------------------------------------------------------------


def _module(source: str):
    """A student module from source, so that its functions see each other as a file's do."""
    namespace = {"__name__": "student_module"}
    exec(compile("import torch\n" + textwrap.dedent(source), "student_module", "exec"), namespace)
    return SimpleNamespace(**namespace)


def _answer(loop: str, module) -> dict:
    return json.loads(json.dumps(probes.train_loop(lambda m, n: getattr(module, n), loop, C.EPOCHS)))


def _judge_all(value, reference, loop: str) -> dict:
    return {name: judge(value, reference[C.loop_probe(loop).key]) for name, _, judge in C.LOOP_CHECKS}


def _rejected(results: dict) -> bool:
    return all(
        not v.passed and v.mistake == "inconsistent_report" and "the sandbox's report is inconsistent" in v.message
        for v in results.values()
    )


def _tamper(value: dict, change) -> dict:
    copy = json.loads(json.dumps(value))
    change(copy)
    return copy


def _first(events: list, tag: str) -> list:
    return next(e for e in events if e[0] == tag)


def _huge_fid(v):
    _first(v["events"], "F")[1] = 10**30


TAMPERINGS = {
    "an extra step in the tallies": lambda v: v["counts"].__setitem__("S", v["counts"]["S"] + 1),
    "forward numbers out of sequence": lambda v: _first(v["events"], "F").__setitem__(1, 7),
    "a huge integer": _huge_fid,
    "a bool for a count": lambda v: _first(v["events"], "t").__setitem__(1, True),
    "a NaN spelled another way": lambda v: v["returned"]["train"]["values"].__setitem__(0, "NaN"),
    "a number as text": lambda v: v["returned"]["train"]["values"].__setitem__(0, "0.5"),
    "a deeply nested event": lambda v: v["events"].__setitem__(3, functools.reduce(lambda a, _: [a], range(500), ["S"])),
    "values longer than the list": lambda v: v["returned"]["train"].__setitem__("length", 3),
    "an unknown event": lambda v: v["events"].append(["X"]),
    "a batch the loader cannot give": lambda v: _first(v["events"], "t").__setitem__(1, 7),
    "another loop's answer": lambda v: v["setup"].__setitem__("loop", "train_batch_gd"),
    "final parameters moved": lambda v: v.__setitem__("final_params", [p + 0.1 for p in v["final_params"]]),
    "a validation loss made up": lambda v: [e for e in v["events"] if e[0] == "F" and e[2] == "v"][-1].__setitem__(5, 0.01),
    "a training loss made up": lambda v: [e for e in v["events"] if e[0] == "F" and e[2] == "t"][3].__setitem__(5, 0.3),
    "not a record": lambda v: v.clear(),
    "a pair without its parts": lambda v: v["returned"].__setitem__("train", None),
}


@pytest.mark.parametrize("what", TAMPERINGS)
def test_a_tampered_answer_is_rejected_never_scored(what, reference):
    value = _tamper(reference[C.loop_probe("train_minibatch_sgd").key], TAMPERINGS[what])
    results = _judge_all(value, reference, "train_minibatch_sgd")
    assert _rejected(results), {k: v.message for k, v in results.items()}


HOSTILE_VALUES = [None, True, -1, 10**30, 1e308, "nan", "x" * 1000, [], {}, [[[[["S"]]]]], {"loop": []}, ["F", 0]]


def _paths(value, prefix=()):
    """Every place in a JSON value: (path, the value there)."""
    yield prefix, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, (*prefix, key))


@pytest.mark.parametrize("probe", ["descent:make_loaders", f"descent:train_minibatch_sgd:{C.EPOCHS}"])
def test_any_hostile_value_anywhere_in_an_answer_is_judged_without_a_crash(probe, reference):
    """Replace one place of a real answer with a hostile value, 300 times at random: every
    judge returns a verdict: a malformed answer fails, it never crashes the grading."""
    import random

    judges = [check.judge for check in C.checks() if check.probe.key == probe]
    original = reference[probe]
    places = [path for path, _ in _paths(original) if path]
    chooser = random.Random(11)
    for _ in range(300):
        path, hostile = chooser.choice(places), chooser.choice(HOSTILE_VALUES)
        value = json.loads(json.dumps(original))
        target = value
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = hostile
        for judge in judges:
            verdict = judge(value, original)
            assert isinstance(verdict.passed, bool) and isinstance(verdict.message, str), (path, hostile)


def test_a_forged_textbook_log_must_reproduce_the_reference(reference):
    """A loop without zero_grad whose log is rewritten to look textbook: every status
    fresh and every backward clean. The log's losses then contradict the reference run
    the same updates would have made, so it is rejected; untouched, it is scored."""
    honest = _answer("train_sgd", load_module(example_dir("mistakes", "no_zero_grad") / "descent.py"))
    results = _judge_all(honest, reference, "train_sgd")
    assert not results[GRADS].passed and results[GRADS].mistake == "no_zero_grad"

    def textbook(v):
        for event in v["events"]:
            if event[0] == "S":
                event[1] = "fresh"
            if event[0] == "B":
                event[2] = True

    assert _rejected(_judge_all(_tamper(honest, textbook), reference, "train_sgd"))


def test_a_loop_that_rewrites_its_own_trace_in_the_sandbox_is_rejected(reference):
    student = _module('''
        def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
            train_losses, valid_losses = [], []
            for _ in range(num_epochs):
                for X, y in train_loader:
                    loss = criterion(model(X), y)
                    train_losses.append(loss.item())
                    loss.backward()  # no zero_grad: gradients pile up
                    optimizer.step()
                with torch.no_grad():
                    X, y = next(iter(valid_loader))
                    valid_losses.append(criterion(model(X), y).item())
            for event in model.trace.events:  # and hide it
                if event[0] == "S":
                    event[1] = "fresh"
                if event[0] == "B":
                    event[2] = True
            return train_losses, valid_losses
    ''')
    results = _judge_all(_answer("train_sgd", student), reference, "train_sgd")
    assert _rejected(results)


def test_expectations_come_from_the_grading_process_not_the_answer(reference):
    """A run of 6 epochs that reports its setup as 6 epochs, 480 training samples and
    96 updates per epoch is still judged against 5 epochs of 80."""
    value = _answer("train_sgd", load_module(example_dir("mistakes", "extra_epoch") / "descent.py"))
    value["setup"].update(epochs=6, n_train=96, updates_per_epoch=80)
    results = _judge_all(value, reference, "train_sgd")
    assert not results[UPDATES].passed and results[UPDATES].mistake == "extra_epoch"
    assert "400 in 5 epochs" in results[UPDATES].message
    probe = C.loaders_probe()
    loaders = json.loads(json.dumps(probes.make_loaders(lambda m, n: load_module(REFERENCE).make_loaders, **probe.args)))
    loaders["n_train"] = 7  # ignored: the grading process knows the training set has 80 samples
    judges = {check.name: check.judge for check in C.checks() if check.probe.key == probe.key}
    assert all(judge(loaders, reference[probe.key]).passed for judge in judges.values())
    loaders["cases"][1]["batch_size"] = 80  # an answer to another call than the one asked for
    assert all(judge(loaders, reference[probe.key]).mistake == "inconsistent_report" for judge in judges.values())


def test_honest_runs_of_unusual_loops_are_never_called_inconsistent(reference):
    """A scaled loss and a changed learning rate are wrong, but honestly logged: they fail
    with their own diagnosis, and nothing is rejected."""
    student = _module('''
        def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
            train_losses, valid_losses = [], []
            for _ in range(num_epochs):
                for X, y in train_loader:
                    loss = criterion(model(X), y)
                    train_losses.append(loss.item())
                    optimizer.zero_grad()
                    (2 * loss).backward()
                    optimizer.step()
                with torch.no_grad():
                    X, y = next(iter(valid_loader))
                    valid_losses.append(criterion(model(X), y).item())
            return train_losses, valid_losses

        def train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
            for group in optimizer.param_groups:
                group["lr"] = 0.05
            train_losses, valid_losses = [], []
            for _ in range(num_epochs):
                for X, y in train_loader:
                    loss = criterion(model(X), y)
                    train_losses.append(loss.item())
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                with torch.no_grad():
                    X, y = next(iter(valid_loader))
                    valid_losses.append(criterion(model(X), y).item())
            return train_losses, valid_losses
    ''')
    scaled = _judge_all(_answer("train_sgd", student), reference, "train_sgd")
    assert not scaled[GRADS].passed and scaled[GRADS].mistake == "other_loss"
    assert "a loss other than `criterion(model(X), y)`" in scaled[GRADS].message
    assert scaled[UPDATES].passed and scaled[VALIDATION].passed and not scaled[PARAMS].passed
    faster = _judge_all(_answer("train_minibatch_sgd", student), reference, "train_minibatch_sgd")
    assert {k for k, v in faster.items() if not v.passed} == {TRAIN, VALID, PARAMS}
    assert all(v.mistake == "optimizer_settings_changed" for v in faster.values() if not v.passed)


def test_right_updates_with_wrong_lists_get_a_hint_about_the_lists(reference):
    """Training as it should but returning other lists: the hint is about the lists, not
    about the number of optimizer steps, which is right."""
    student = _module('''
        def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
            train_losses, valid_losses = [], []
            for _ in range(num_epochs):
                for X, y in train_loader:
                    loss = criterion(model(X), y)
                    train_losses.append(loss.item())
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                with torch.no_grad():
                    X, y = next(iter(valid_loader))
                    valid_losses.append(criterion(model(X), y).item())
            return train_losses[-80:], valid_losses
    ''')
    results = _judge_all(_answer("train_sgd", student), reference, "train_sgd")
    assert {k for k, v in results.items() if not v.passed} == {RETURNS, TRAIN}
    assert results[RETURNS].mistake == "wrong_lengths" and "optimizer.step()" not in results[RETURNS].hint
    assert "expected 400 training losses (one per update), got 80" in results[TRAIN].message


def test_a_broken_make_loaders_costs_no_loop(reference):
    """The loops run on the grader's own loaders, so make_loaders left unimplemented
    costs make_loaders' 10 points and nothing else."""
    module = load_module(REFERENCE)

    def make_loaders(train_dataset, valid_dataset, batch_size, generator=None):
        raise NotImplementedError("make_loaders is not implemented yet")

    student = SimpleNamespace(**{**vars(module), "make_loaders": make_loaders})
    results = verdicts(probe_values(resolver(student)), reference)
    assert {name.split(":")[0] for name, v in results.items() if not v.passed} == {"make_loaders"}


# ------------------------------------------------------------------------------------
# A loop that calls another graded loop
# ------------------------------------------------------------------------------------


def test_a_loop_handing_its_work_to_a_loop_that_only_works_for_itself_keeps_the_blame(reference):
    """train_sgd validates after sample len(dataset) - 1, right for SGD only;
    train_minibatch_sgd returns train_sgd(...). train_sgd passes its own checks, so the
    minibatch run's missing validation is train_minibatch_sgd's, not train_sgd's."""
    student = _module('''
        def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
            train_losses, valid_losses = [], []
            for _ in range(num_epochs):
                for i, (X, y) in enumerate(train_loader):
                    loss = criterion(model(X), y)
                    train_losses.append(loss.item())
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    if i == len(train_loader.dataset) - 1:
                        with torch.no_grad():
                            Xv, yv = next(iter(valid_loader))
                            valid_losses.append(criterion(model(Xv), yv).item())
            return train_losses, valid_losses

        def train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
            return train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs)
    ''')
    assert all(v.passed for v in _judge_all(_answer("train_sgd", student), reference, "train_sgd").values())
    value = _answer("train_minibatch_sgd", student)
    assert value["delegated_to"] == "train_sgd"
    results = _judge_all(value, reference, "train_minibatch_sgd")
    assert not results[VALIDATION].passed and not results[VALID].passed
    assert "hands all its work to your train_sgd" in results[VALIDATION].message


def test_a_loop_that_does_more_than_call_another_is_judged_on_its_own(reference):
    student = _module('''
        def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
            train_losses, valid_losses = [], []
            for _ in range(num_epochs):
                for X, y in train_loader:
                    loss = criterion(model(X), y)
                    train_losses.append(loss.item())
                    loss.backward()
                    optimizer.step()
                with torch.no_grad():
                    Xv, yv = next(iter(valid_loader))
                    valid_losses.append(criterion(model(Xv), yv).item())
            return train_losses, valid_losses

        def train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
            return train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs + 1)
    ''')
    value = _answer("train_minibatch_sgd", student)
    assert "delegated_to" not in value and value["calls"] == ["train_sgd"]
    results = _judge_all(value, reference, "train_minibatch_sgd")
    assert not results[UPDATES].passed and not results[GRADS].passed
    assert "(Your train_minibatch_sgd calls your train_sgd: the cause may be there.)" in results[GRADS].message


# ------------------------------------------------------------------------------------
# The notebook
# ------------------------------------------------------------------------------------

SECTIONS = [
    "Prepare The Dataset",
    "Design A Neural Network",
    "Training Loops",
    "Train With (Batch) Gradient Descent",
    "Train With Stochastic Gradient Descent",
    "Train With Minibatch Stochastic Gradient Descent",
]


def test_notebook_has_the_lectures_shape_and_is_reproducible():
    source = REFERENCE.read_text()
    notebook = build_notebook(source)
    assert nbformat.writes(notebook) == nbformat.writes(build_notebook(source)), "cell ids must be fixed"
    headings = [c.source.splitlines()[0].lstrip("# ") for c in notebook.cells if c.cell_type == "markdown"]
    positions = [next(i for i, h in enumerate(headings) if h == section) for section in SECTIONS]
    assert positions == sorted(positions)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert source.strip() in code
    for loop in C.LOOPS:
        assert any(f"= {loop}(" in cell and "plot_fit_and_losses" in cell for cell in code)
    joined = "\n".join(code)
    assert '"Model Fit"' in joined and '"Epoch VS Loss"' in joined


def _run_cells(notebook) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {}
    for cell in notebook.cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, f"<{cell.id}>", "exec"), namespace)
    return namespace


def test_reference_notebook_runs_on_the_graders_data():
    import matplotlib.pyplot as plt

    namespace = _run_cells(build_notebook(REFERENCE.read_text()))
    plt.close("all")
    x, y = fixtures.make_data()
    assert torch.equal(namespace["x"], x) and torch.equal(namespace["y"], y)
    train, _ = fixtures.make_datasets()
    assert list(namespace["train_dataset"].indices) == list(train.indices)
    notebook_model = namespace["make_model"]()
    for a, b in zip(notebook_model.parameters(), fixtures.make_model().parameters()):
        assert torch.equal(a, b)
    assert len(namespace["sgd_train_losses"]) == 100 * 80 and len(namespace["gd_valid_losses"]) == 100
    assert namespace["sgd_valid_losses"][-1] < namespace["gd_valid_losses"][-1]


def test_notebook_loads_as_a_module_with_only_definitions(tmp_path):
    from grader.submission.notebook import notebook_to_module

    for source in (REFERENCE.read_text(), stub_source(REFERENCE.read_text())):
        path = tmp_path / "descent.ipynb"
        nbformat.write(build_notebook(source), str(path))
        module_source, notes = notebook_to_module(path)
        assert all("left out these top-level experiments" in note for note in notes), notes
        namespace: dict = {}
        exec(compile(module_source, "descent_notebook", "exec"), namespace)
        assert not any(name.endswith("_losses") and isinstance(value, list) for name, value in namespace.items()), "an experiment ran"
        assert namespace["_grader_cell_errors"] == []
        assert all(callable(namespace[f]) for f in FUNCTIONS)


# ------------------------------------------------------------------------------------
# Plots
# ------------------------------------------------------------------------------------


def test_artifacts_draw_each_loop_and_cope_with_a_failed_student(tmp_path, reference):
    student = values_of(example_dir("mistakes", "valid_every_batch") / "descent.py")
    outcomes = {key: Outcome("ok", value=value) for key, value in student.items()}
    outcomes[C.loop_probe("train_sgd").key] = Outcome("error", error="RuntimeError: boom")
    del outcomes[C.loop_probe("train_batch_gd").key]  # never run at all
    report = SimpleNamespace(
        outcomes=outcomes, reference={key: Outcome("ok", value=value) for key, value in reference.items()}
    )
    paths = DESCENT.artifacts(report, tmp_path / "plots")
    assert [p.name for p in paths] == [
        "descent-train_batch_gd-epoch-vs-loss.png",
        "descent-train_sgd-epoch-vs-loss.png",
        "descent-train_minibatch_sgd-epoch-vs-loss.png",
        "descent-typical-behavior.png",
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_plots_keep_every_label_inside_the_picture_and_clear_of_the_title(reference):
    """The margins are fixed (no layout engine): tick labels such as 6x10^-1, the axis
    labels, legends and two-line panel titles (a failed loop) must still fit."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    student = values_of(example_dir("mistakes", "valid_every_batch") / "descent.py")
    outcomes = {key: Outcome("ok", value=value) for key, value in student.items()}
    outcomes[C.loop_probe("train_sgd").key] = Outcome("error", error="RuntimeError: boom")
    expected = {key: Outcome("ok", value=value) for key, value in reference.items()}
    for report in (SimpleNamespace(outcomes=outcomes, reference=expected), SimpleNamespace(outcomes=expected, reference=expected)):
        for name, figure in plots.figures(report).items():
            renderer = FigureCanvasAgg(figure).get_renderer()
            figure.draw(renderer)
            title = figure._suptitle.get_window_extent(renderer)
            assert title.y1 <= figure.bbox.height, name
            for ax in figure.axes:
                inside = ax.get_tightbbox(renderer)  # tick labels, axis labels, title, legend
                assert inside.x0 >= 0 and inside.y0 >= 0 and inside.x1 <= figure.bbox.width, (name, inside)
                assert ax.title.get_window_extent(renderer).y1 <= title.y0, (name, ax.get_title())
                neighbours = [other.get_tightbbox(renderer) for other in figure.axes if other is not ax]
                assert not any(inside.overlaps(other) for other in neighbours), name


# ------------------------------------------------------------------------------------
# End to end through grader.grade.grade
# ------------------------------------------------------------------------------------


def _grade(path):
    from grader.grade import grade

    return grade(DESCENT, Path(path))


def _failed(report) -> dict:
    return {r.name: r for r in report.results if r.status == "failed"}


@pytest.fixture(scope="module")
def folder_grading_works():
    """The reference handed in as a folder, graded once for this module."""
    return _grade(ROOT / "reference" / "descent")


def test_reference_folder_gets_full_marks(folder_grading_works):
    report = folder_grading_works
    assert not _failed(report), {n: r.output for n, r in _failed(report).items()}
    assert report.score == report.max_score == 100


def test_reference_notebook_gets_full_marks_and_the_stub_notebook_zero(tmp_path):
    for source, name in ((REFERENCE.read_text(), "reference"), (stub_source(REFERENCE.read_text()), "stub")):
        folder = tmp_path / name
        folder.mkdir()
        nbformat.write(build_notebook(source), str(folder / "descent.ipynb"))
        report = _grade(folder / "descent.ipynb")
        if name == "reference":
            assert report.score == report.max_score == 100, {n: r.output for n, r in _failed(report).items()}
        else:
            assert report.score == 0
            loops = [r for r in report.results if not r.name.startswith("make_loaders")]
            assert all("is not implemented yet" in r.output for r in loops), loops[0].output


def _submission(kind: str, name: str, form: str, tmp_path: Path, request) -> Path:
    """The example as a folder (as handed in) or as the assignment's notebook around its source."""
    if form == "folder":
        request.getfixturevalue("folder_grading_works")
        return example_dir(kind, name)
    path = tmp_path / "descent.ipynb"
    nbformat.write(build_notebook((example_dir(kind, name) / "descent.py").read_text()), str(path))
    return path


@pytest.mark.parametrize("form", ["notebook", "folder"])
@pytest.mark.parametrize("name", ["no_zero_grad", "valid_every_batch", "own_optimizer", "loaders_drop_last"])
def test_a_mistake_graded_end_to_end(name, form, tmp_path, request):
    report = _grade(_submission("mistakes", name, form, tmp_path, request))
    expected = {f"{function}: {check}" for check, functions in EXPECTED_FAILURES[name].items() for function in functions}
    failed = _failed(report)
    assert set(failed) == expected
    key = meta("mistakes", name)["mistake"]
    assert all(r.mistake == key and f"Hint: {r.hint}" in r.output for r in failed.values())
    assert report.score == report.max_score - sum(r.max_score for r in failed.values())


@pytest.mark.parametrize("form", ["notebook", "folder"])
@pytest.mark.parametrize("name", ["whole_dataset", "zero_grad_at_end"])
def test_a_variant_graded_end_to_end(name, form, tmp_path, request):
    report = _grade(_submission("variants", name, form, tmp_path, request))
    assert report.score == report.max_score == 100, {n: r.output for n, r in _failed(report).items()}


def test_assign_generates_the_stub_and_both_notebooks():
    from grader.authoring.stubs import generated_files

    files = generated_files(DESCENT)
    names = {str(path.relative_to(ROOT)) for path in files}
    assert {
        "assignments/descent/descent.py",
        "assignments/descent/descent.ipynb",
        "reference/descent/descent.ipynb",
    } <= names
    stub = files[ROOT / "assignments" / "descent" / "descent.py"]
    for function in FUNCTIONS:
        assert f'raise NotImplementedError("{function} is not implemented yet")' in stub
    assert "# BEGIN SOLUTION" not in stub and "loss.backward()" in stub  # the docstrings keep their instructions
    notebook = nbformat.reads(files[ROOT / "assignments" / "descent" / "descent.ipynb"], as_version=4)
    assert any(stub.strip() == cell.source for cell in notebook.cells)
