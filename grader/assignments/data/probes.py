"""Data probes: run inside the sandbox child, next to student code.

Each probe calls one student function on the seeded fixtures, each case on its own (an
exception in one is reported as data, so it does not hide what the others show), and
reports plain data: which rows of the input landed where, the normalized values, the
returned losses, what the model saw and how it was left. It never judges.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from grader.assignments.data import fixtures
from grader.variants import guarded  # noqa: F401 (the official grade's public-plus-hidden probe; grader/variants.py)


def _error(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0] if message else ''}"[:300]


def _number(value) -> float | str | None:
    """A number as a float; NaN and infinity as strings (JSON has neither); None if not a number."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, torch.Tensor):
            value = value.detach().reshape(-1)[0].item() if value.numel() == 1 else None
        number = float(value)
    except (TypeError, ValueError, RuntimeError, IndexError):
        return None
    return number if math.isfinite(number) else repr(number)


def _values(tensor) -> list | None:
    """A 2-D tensor (or array) as nested lists of numbers, or None if it is not one."""
    try:
        tensor = torch.as_tensor(tensor).detach()
    except (TypeError, ValueError, RuntimeError):
        return None
    if tensor.dim() != 2 or tensor.numel() > 10_000:
        return None
    return [[_number(v) for v in row] for row in tensor.double().tolist()]


def _with_global_seed(seed: int, call):
    """Run ``call()`` with PyTorch's global generator seeded, restoring it afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return call()


def _locate(X: torch.Tensor, y: torch.Tensor):
    """A function from a returned (X, y) pair to its rows' indices in ``X`` (-1: not a row of X)
    and whether each x came with its own y."""
    index = {tuple(row): i for i, row in enumerate(X.tolist())}

    def locate(part) -> dict:
        entry = {"type": type(part).__name__, "rows": None, "paired": False, "x_shape": None, "y_shape": None}
        if not (isinstance(part, (tuple, list)) and len(part) == 2):
            return entry
        try:  # tensors, or anything PyTorch reads as one (a NumPy array)
            px, py = (torch.as_tensor(t).detach() for t in part)
        except (TypeError, ValueError, RuntimeError):
            return entry
        entry["x_shape"], entry["y_shape"] = list(px.shape), list(py.shape)
        if px.dim() != 2 or px.shape[1:] != X.shape[1:] or py.numel() != px.shape[0]:
            return entry
        rows = [index.get(tuple(row), -1) for row in px.to(X.dtype).tolist()]
        entry["rows"] = rows
        if rows and all(i >= 0 for i in rows):
            entry["paired"] = bool(torch.equal(py.reshape(-1, 1).to(y.dtype), y[rows]))
        return entry

    return locate


def _seeded_calls(function, locate, shape, seeds: list[int], global_seeds: list[int]) -> dict:
    """``function(generator)`` three times: seed A under two global seeds, seed B."""
    (seed, other), (g1, g2) = seeds, global_seeds
    calls = {}
    for name, generator_seed, global_seed in (("first", seed, g1), ("same_seed", seed, g2), ("other_seed", other, g1)):
        entry = {"seed": generator_seed, "global_seed": global_seed, "error": None}
        try:
            result = _with_global_seed(global_seed, lambda: function(torch.Generator().manual_seed(generator_seed)))
            entry.update(shape(result, locate))
        except Exception as error:  # reported as data; the grading process decides what it costs
            entry["error"] = _error(error)
        calls[name] = entry
    return calls


def _three_parts(result, locate) -> dict:
    entry = {"returned": type(result).__name__, "parts": None}
    if isinstance(result, (tuple, list)) and len(result) == 3:
        entry["parts"] = [locate(part) for part in result]
    return entry


@fixtures.private_rng
def split_dataset(resolve, seeds: list[int], global_seeds: list[int]) -> dict:
    """The student's split of each dataset, three times (see ``_seeded_calls``)."""
    function = resolve("data", "split_dataset")
    report = {}
    for name, (X, y, lengths) in fixtures.datasets().items():
        calls = _seeded_calls(lambda g: function(X.clone(), y.clone(), list(lengths), g), _locate(X, y), _three_parts, seeds, global_seeds)
        report[name] = {"calls": calls}
    return report


@fixtures.private_rng
def make_proxy(resolve, seeds: list[int], global_seeds: list[int], size: int, split_seed: int) -> dict:
    """The student's proxy of each dataset's training split, three times."""
    function = resolve("data", "make_proxy")
    report = {}
    for name, (X, y, lengths) in fixtures.datasets().items():
        rows = fixtures.fixed_split(len(X), lengths, split_seed)[0]
        X_train, y_train = X[rows], y[rows]

        def call(generator, X_train=X_train, y_train=y_train):
            return function(X_train.clone(), y_train.clone(), size, generator)

        calls = _seeded_calls(call, _locate(X_train, y_train), lambda result, locate: {"proxy": locate(result)}, seeds, global_seeds)
        report[name] = {"calls": calls}
    return report


@fixtures.private_rng
def normalize(resolve, split_seed: int) -> dict:
    """The student's normalization of each dataset's fixed three-way split."""
    function = resolve("data", "normalize")
    report = {}
    for name, (X, y, lengths) in fixtures.datasets().items():
        parts = [X[rows] for rows in fixtures.fixed_split(len(X), lengths, split_seed)]
        given = [part.clone() for part in parts]
        entry = {"error": None, "returned": None, "values": None}
        try:
            result = function(*given)
            entry["returned"] = type(result).__name__
            if isinstance(result, (tuple, list)) and len(result) == 3:
                entry["values"] = [_values(part) for part in result]
            entry["inputs_changed"] = not all(torch.equal(a, b) for a, b in zip(parts, given))
        except Exception as error:
            entry["error"] = _error(error)
        report[name] = entry
    return report


@fixtures.private_rng
def evaluate_losses(resolve, split_seed: int) -> dict:
    """The student's evaluate of the lecture's model at each checkpoint, on each split."""
    function = resolve("data", "evaluate")
    losses = {split: [] for split in fixtures.SPLIT_NAMES}
    errors = []
    for state in fixtures.checkpoints(split_seed):
        for split in fixtures.SPLIT_NAMES:
            model = fixtures.model_at(state)
            try:
                losses[split].append(_number(function(model, nn.MSELoss(), fixtures.loader(split, split_seed))))
            except Exception as error:
                losses[split].append(None)
                errors.append(_error(error))
    return {"losses": losses, "errors": errors[:3]}


@fixtures.private_rng
def evaluate_effects(resolve, split_seed: int) -> dict:
    """What the student's evaluate does to a model that starts in training mode, and to one
    that starts in evaluation mode: what the forward passes saw, and how the model is left."""
    function = resolve("data", "evaluate")
    state = fixtures.checkpoints(split_seed)[-1]
    cases = []
    for training in (True, False):
        model = fixtures.model_at(state, fixtures.Recorder)
        model.train(training)
        for p in model.parameters():
            p.grad = torch.full_like(p, 0.5)  # as if evaluate ran between a backward and its step
        before = [p.detach().clone() for p in model.parameters()]
        entry = {"started_training": training, "error": None}
        try:
            entry["returned"] = _number(function(model, nn.MSELoss(), fixtures.loader("valid", split_seed)))
        except Exception as error:
            entry["error"] = _error(error)
        entry["seen"] = model.seen[:50]
        entry["training_after"] = bool(model.training)
        entry["params_changed"] = not all(torch.equal(a, p.detach()) for a, p in zip(before, model.parameters()))
        entry["grads_changed"] = not all(
            p.grad is not None and torch.equal(p.grad, torch.full_like(p, 0.5)) for p in model.parameters()
        )
        cases.append(entry)
    return {"cases": cases}
