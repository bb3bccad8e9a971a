"""Descent probes: run inside the sandbox child, next to student code.

Each probe builds the seeded fixtures, calls one student function and reports plain
data: returned losses and their types, the instrumented event log, the final
parameters, the batches a loader gives, the other graded functions a loop called. It
never decides whether they are right.
"""

from __future__ import annotations

import contextlib
import functools
import math

import torch

from grader.assignments.descent import fixtures
from grader.variants import guarded  # noqa: F401 (the official grade's public-plus-hidden probe; grader/variants.py)

# The first torch.optim optimizer a process makes imports torch._dynamo (about 1.3 s here).
# Making one now moves that cost into the child's start-up, out of the first loop probe's
# time limit, so the limits measure the student's loop.
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=fixtures.LEARNING_RATE)

# Notebook submissions import matplotlib.pyplot; in the sandbox's fresh home matplotlib
# first builds its font cache (1.2-1.8 s here). Building it now keeps that out of the
# first probe's time limit too.
try:
    import matplotlib.font_manager  # noqa: F401
except ImportError:  # matplotlib is optional for grading .py files
    pass


def _type(obj) -> str:
    return type(obj).__name__


def _number(value) -> float | None:
    """A returned loss as a float (whatever its type), or None if it is not one number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        if isinstance(value, torch.Tensor):
            return float(value.detach().reshape(-1)[0]) if value.numel() == 1 else None
        import numpy

        if isinstance(value, (numpy.generic, numpy.ndarray)) and numpy.size(value) == 1:
            return float(numpy.asarray(value).reshape(-1)[0])
    except (TypeError, ValueError, RuntimeError):
        return None
    return None


def _finite(value: float | None) -> float | str | None:
    """JSON has no NaN or infinity: send those as strings."""
    if value is None or math.isfinite(value):
        return value
    return repr(value)


def _losses(obj) -> dict:
    """What a returned list of losses holds: type, length, element types, values."""
    report = {"type": _type(obj), "length": None, "types": [], "values": None}
    try:
        items = list(obj)
    except TypeError:
        return report
    report["length"] = len(items)
    report["types"] = sorted({_type(item) for item in items})
    report["values"] = [_finite(_number(item)) for item in items[: fixtures.MAX_VALUES]]
    return report


def _returned(result) -> dict:
    report = {"type": _type(result), "length": None, "train": None, "valid": None}
    if isinstance(result, (tuple, list)):
        report["length"] = len(result)
        if len(result) == 2:
            report["train"], report["valid"] = _losses(result[0]), _losses(result[1])
    return report


def _private_rng(probe):
    """Run ``probe`` with PyTorch's global generator forked and seeded.

    The reference runs in the grading process: its global random state must not change
    (a DataLoader without a generator draws its base seed from it). Seeding it also
    makes student code that uses the global generator behave the same in every run.
    """

    @functools.wraps(probe)
    def run(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            fixtures.seed_cpu(fixtures.GLOBAL_SEED)
            return probe(*args, **kwargs)

    return run


GRADED = ("make_loaders", "train_batch_gd", "train_sgd", "train_minibatch_sgd")


@contextlib.contextmanager
def _calls_to_graded(function, loop: str, args: tuple, trace):
    """Record the calls ``function`` makes to the submission's other graded functions.

    Each record says which function was called, whether with exactly the arguments
    ``function`` was given, what it returned and how many events the trace logged
    during the call. The names are rebound in the function's own globals while it
    runs, and restored after.
    """
    calls: list[dict] = []
    namespace = getattr(function, "__globals__", None)
    originals = {}
    if isinstance(namespace, dict):
        for name in GRADED:
            callee = namespace.get(name)
            if name != loop and callable(callee):
                originals[name] = callee
                namespace[name] = _recording(name, callee, args, trace, calls)
    try:
        yield calls
    finally:
        for name, callee in originals.items():
            namespace[name] = callee


def _recording(name: str, callee, args: tuple, trace, calls: list[dict]):
    names = ("model", "criterion", "optimizer", "train_loader", "valid_loader", "num_epochs")

    @functools.wraps(callee)
    def call(*given, **named):
        record = {"name": name, "same_args": False, "result": None, "events": 0}
        calls.append(record)
        try:
            bound = list(given) + [named.pop(n) for n in names[len(given):] if n in named]
            record["same_args"] = not named and len(bound) == 6 and all(
                a is b for a, b in zip(bound[:5], args[:5])
            ) and bound[5] == args[5]
        except TypeError:
            pass
        before = sum(trace.counts.values())
        result = callee(*given, **named)
        record["result"], record["events"] = result, sum(trace.counts.values()) - before
        return result

    return call


def _run_loop(function, loop: str, epochs: int, loader_seed: int, watch: bool) -> dict:
    trace, model, criterion, optimizer, train_loader, valid_loader = fixtures.traced_run(loop, loader_seed)
    args = (model, criterion, optimizer, train_loader, valid_loader, epochs)
    with _calls_to_graded(function, loop, args, trace) if watch else contextlib.nullcontext([]) as calls:
        result = function(*args)
    trace.check_parameters()  # a last update made without optimizer.step()
    batch_size = fixtures.BATCH_SIZES[loop]
    answer = {
        "setup": {
            "loop": loop,
            "epochs": epochs,
            "batch_size": batch_size,
            "n_train": fixtures.N_TRAIN,
            "n_valid": fixtures.N_VALID,
            "updates_per_epoch": math.ceil(fixtures.N_TRAIN / batch_size),
        },
        "returned": _returned(result),
        "events": trace.events,
        "truncated": trace.truncated,
        "counts": trace.counts,
        "final_params": fixtures.parameters_list(model),
        "calls": sorted({c["name"] for c in calls}),
    }
    whole = [
        c for c in calls
        if c["name"] != "make_loaders" and c["same_args"] and c["result"] is result
        and c["events"] == sum(trace.counts.values())
    ]
    if len(calls) == 1 and whole:
        # The loop only hands its arguments to another loop and returns its answer: run that
        # loop on its own fixtures too, so the grading process can tell whose mistake it is.
        callee = whole[0]["name"]
        answer["delegated_to"] = callee
        answer["callee_run"] = _private_rng(_run_loop)(function.__globals__[callee], callee, epochs, loader_seed, watch=False)
    return answer


@_private_rng
def train_loop(resolve, loop: str, epochs: int, loader_seed: int = fixtures.LOADER_SEED) -> dict:
    """Run the student's ``loop`` on the instrumented fixtures for ``epochs`` epochs, the training
    loader shuffling with ``loader_seed``."""
    return _run_loop(resolve("descent", loop), loop, epochs, loader_seed, watch=True)


def _describe_pass(loader, index: dict[float, int], targets: list[float], limit: int = fixtures.MAX_BATCHES) -> dict:
    """The batches of one pass over ``loader``: sizes, row indices, shapes, pairing (y holds the
    targets of X's rows: ``targets`` are the dataset's, as floats, which compare as torch.equal would)."""
    batches = []
    count = 0
    for batch in loader:
        count += 1
        if len(batches) >= limit:
            continue
        entry = {"type": _type(batch), "n": None, "rows": None, "x_shape": None, "y_shape": None, "paired": False}
        if isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch):
            X, y = batch
            entry["x_shape"], entry["y_shape"] = list(X.shape), list(y.shape)
            entry["n"] = int(X.shape[0]) if X.dim() else None
            if X.numel() > fixtures.MAX_ROWS:  # no dataset here has that many: not worth listing
                batches.append(entry)
                continue
            values = X.reshape(-1).tolist()
            entry["rows"] = [index.get(v, -1) for v in values]
            if all(i >= 0 for i in entry["rows"]) and y.numel() == len(values):
                entry["paired"] = y.reshape(-1).tolist() == [targets[i] for i in entry["rows"]]
        batches.append(entry)
    return {"batches": batches, "count": count}


@_private_rng
def make_loaders(resolve, batch_sizes: list[int], seed: int, other_seed: int) -> dict:
    """Call the student's ``make_loaders`` on several batch sizes and seeds; two passes over each loader.

    Each case is run on its own, and an exception in one is reported as data, so one
    broken case does not hide what the others show.
    """
    function = resolve("descent", "make_loaders")
    train, valid = fixtures.make_datasets()
    train_x, train_y = fixtures.rows(train)
    valid_x, valid_y = fixtures.rows(valid)
    train_targets, valid_targets = train_y.reshape(-1).tolist(), valid_y.reshape(-1).tolist()
    train_index = {v: i for i, v in enumerate(train_x)}
    valid_index = {v: i for i, v in enumerate(valid_x)}

    def case(batch_size, seed=None, passes=2):
        entry = {"batch_size": batch_size, "seed": seed, "error": None}
        try:
            if seed is None:
                loaders = function(train, valid, batch_size)
            else:
                loaders = function(train, valid, batch_size, generator=torch.Generator().manual_seed(seed))
            entry["returned"] = _type(loaders)
            train_loader, valid_loader = loaders
            entry["train"] = [_describe_pass(train_loader, train_index, train_targets) for _ in range(passes)]
            entry["valid"] = [_describe_pass(valid_loader, valid_index, valid_targets) for _ in range(passes)]
        except Exception as error:  # reported as data; the parent decides what it costs
            message = str(error).strip().splitlines()
            entry["error"] = f"{type(error).__name__}: {message[0] if message else ''}"[:300]
        return entry

    return {
        "n_train": len(train),
        "n_valid": len(valid),
        "cases": [case(b, seed) for b in batch_sizes],
        "same_seed": case(batch_sizes[0], seed, passes=1),
        "other_seed": case(batch_sizes[0], other_seed, passes=1),
        "no_generator": case(batch_sizes[0], None, passes=1),
    }
