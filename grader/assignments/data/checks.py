"""Data checks: run in the grading process, on the plain data the probes sent back.

The expected answers are computed here with PyTorch from the same seeded fixtures (the
split's and the proxy's properties need no expected rows: any random partition drawn from
the generator is right). Each check reads one probe; each known mistake is recognised by
one check only, with its own hint and a stable key.
"""

from __future__ import annotations

import functools
import math
from collections import Counter

import torch
from torch import nn

from grader.assignments.data import fixtures
from grader.plugin import Check, Probe, Verdict, failed, passed

# Normalized values and losses are float32 computations of O(1) numbers. Measured with
# the example variants: the same arithmetic in another order (NumPy in float64, a
# per-batch loop, one criterion call on every batch at once) moves them by at most
# 2.5e-7 (normalized values, absolute) and 2e-7 (losses, relative); an epsilon of 1e-8
# added to the std moves the table's smallest-scale feature by 7.6e-6 (3e-6 relative).
# The mistakes move them far more: statistics of the whole dataset by 0.074 or more,
# each set's own statistics by 0.2, the other std convention by 0.013 (both are
# accepted, each on its own), and a mean of batch means moves a loss by 0.6% to 9%.
RTOL = 1e-4
ATOL = 1e-5

# The inputs of the public checks. reference/data/variants replaces them with private ones
# in a copy of this module (grader/variants.py), so the judges read them at call time.
SEEDS = fixtures.SPLIT_SEEDS
GLOBAL_SEEDS = fixtures.GLOBAL_SEEDS
PROXY_SIZE = fixtures.PROXY_SIZE
FIXED_SEED = fixtures.FIXED_SEED

DATASETS = {"sin": "the lecture's sin(x) data", "table": "the 3-feature table"}
CALLS = ("first", "same_seed", "other_seed")  # the seeded calls of probes._seeded_calls


@functools.cache
def sizes(dataset: str) -> tuple[int, list[int]]:
    """(rows, lengths of the three sets) of a dataset: from the fixtures here, never from the child."""
    X, _, lengths = fixtures.datasets()[dataset]
    return len(X), list(lengths)

# Known mistakes: key -> hint. The keys are stable (class statistics count them).
HINTS = {
    # split_dataset
    "split_sizes": "Give the three sets `lengths[0]`, `lengths[1]` and `lengths[2]` rows, in that order.",
    "split_unpaired": "Index X and y with the same rows (`X[rows], y[rows]`), so each x keeps its own y.",
    "splits_overlap": (
        "Cut one permutation of all the rows into three consecutive pieces: `order[:n_train]`, "
        "`order[n_train:n_train + n_valid]`, `order[n_train + n_valid:]`; then no sample is in two sets "
        "and none is left out."
    ),
    "split_not_shuffled": "Split at random: `order = torch.randperm(len(X), generator=generator)`, not in the dataset's order.",
    "split_generator_ignored": (
        "Pass the generator you are given to `torch.randperm(..., generator=generator)` (or `random_split`): "
        "without it the split comes from PyTorch's global generator and changes from run to run."
    ),
    "split_fixed_seed": "Draw the split from the generator you are given; do not seed or create a generator of your own.",
    # normalize
    "stats_whole_dataset": (
        "Compute the mean and standard deviation from `X_train` alone: statistics of the whole dataset "
        "include the validation and evaluation sets, which leaks the data you evaluate on into training."
    ),
    "stats_per_split": (
        "Normalize all three sets with the training set's statistics: computing a mean and standard "
        "deviation for each set separately shifts and scales each set differently."
    ),
    "changed_inputs": "Return new tensors (`(X - mean) / std`) instead of changing the ones you are given in place (`X -= mean`).",
    "zero_std": (
        "A constant feature has a standard deviation of 0, and 0 / 0 is NaN: replace a zero std by 1 "
        "before dividing (`std[std == 0] = 1`, or `torch.where(std == 0, 1, std)`)."
    ),
    # make_proxy
    "proxy_size": "Return exactly `size` training samples.",
    "proxy_not_subset": (
        "Choose rows of the training set and index X_train and y_train with the same rows "
        "(`rows = torch.randperm(len(X_train), generator=generator)[:size]`), so the proxy is a subset of it."
    ),
    "proxy_duplicates": (
        "Choose `size` different rows: `torch.randperm(len(X_train), generator=generator)[:size]`; "
        "`torch.randint` draws with replacement and may pick a row twice."
    ),
    "proxy_not_random": "Choose the rows at random with the generator: `torch.randperm(len(X_train), generator=generator)[:size]`.",
    "proxy_generator_ignored": "Pass the generator you are given to `torch.randperm(..., generator=generator)`.",
    "proxy_fixed_seed": "Draw the proxy from the generator you are given; do not seed or create a generator of your own.",
    # evaluate
    "mean_of_batch_means": (
        "Weight each batch's loss by its size: add `loss.item() * len(X)` over the batches and divide by the "
        "number of samples. The last batch is smaller, so the mean of the batch losses gives it too much weight."
    ),
    "tracks_gradients": "Compute the losses inside `with torch.no_grad():`, so evaluation builds no graph.",
    "changes_gradients": (
        "Do not call `backward()` (or `zero_grad()`) in evaluate: it changes the gradients a training loop "
        "may be about to use. Evaluation only computes losses."
    ),
    "changes_parameters": "Evaluation must not change the model's parameters: no optimizer steps or updates.",
    "no_eval_mode": "Call `model.eval()` before computing the losses (layers such as dropout and batch norm behave differently in training).",
    "mode_not_restored": (
        "Put the model back in the mode it was in: remember `was_training = model.training` before "
        "`model.eval()`, and call `model.train(was_training)` at the end."
    ),
}


def close(got, want: float) -> bool:
    return isinstance(got, (int, float)) and not isinstance(got, bool) and math.isfinite(got) and abs(got - want) <= ATOL + RTOL * abs(want)


def fmt(value) -> str:
    """A number as the student reads it; NaN and infinity arrive as the strings 'nan' and 'inf'."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def fail(message: str, key: str = "") -> Verdict:
    """A failed verdict; the message is capped, since parts of it (errors, type names) come from the child."""
    return failed(message[:2000], HINTS.get(key, ""), key)


def _some(items: list, limit: int = 6) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}]"


# ----------------------------------------------------------------------------------
# split_dataset and make_proxy: partitions and subsets, drawn from the generator
# ----------------------------------------------------------------------------------


def _split_call(dataset: str, entry: dict, lengths: list[int]) -> str:
    return (
        f"split_dataset(X, y, lengths={lengths}, generator=torch.Generator().manual_seed({entry['seed']})) "
        f"on {DATASETS[dataset]}"
    )


def _parts_problem(call: str, entry: dict) -> Verdict | None:
    if entry["error"]:
        return fail(f"{call} raised {entry['error']}.")
    parts = entry["parts"]
    if parts is None:
        return fail(f"{call} must return three (X, y) pairs; it returned a {entry['returned']}.")
    for name, part in zip(fixtures.SPLIT_NAMES, parts):
        if part["rows"] is None:
            return fail(
                f"{call}: the {fixtures.SET_NAMES[name]} set should be a pair (X, y) of tensors with X of shape (n, features); "
                f"got a {part['type']} with shapes {part['x_shape']} and {part['y_shape']}."
            )
    return None


def judge_split_parts(value: dict, reference: dict) -> Verdict:
    for dataset in DATASETS:
        n, lengths = sizes(dataset)
        for entry in (value[dataset]["calls"][name] for name in CALLS):
            call = _split_call(dataset, entry, lengths)
            problem = _parts_problem(call, entry)
            if problem:
                return problem
            rows = [part["rows"] for part in entry["parts"]]
            got = [len(r) for r in rows]
            if got != lengths:
                return fail(f"{call}: expected sets of {lengths} rows (training, validation, evaluation); got {got}.", "split_sizes")
            for name, part in zip(fixtures.SPLIT_NAMES, entry["parts"]):
                if not part["paired"]:
                    return fail(f"{call}: the {fixtures.SET_NAMES[name]} set holds rows that are not samples of the dataset (an x without its own y).", "split_unpaired")
            seen: dict[int, list[str]] = {}
            for name, part_rows in zip(fixtures.SPLIT_NAMES, rows):
                for i in part_rows:
                    seen.setdefault(i, []).append(name)
            shared = {i: names for i, names in seen.items() if len(names) > 1}
            missing = sorted(set(range(n)) - set(seen))
            if shared or missing:
                example = next(iter(sorted(shared.items())), None)
                where = f" (row {example[0]} is in the {' and '.join(fixtures.SET_NAMES[s] for s in example[1])} sets)" if example else ""
                return fail(
                    f"{call}: {len(shared)} samples are in more than one set{where} and {len(missing)} are in none "
                    f"{_some(missing)}; each of the {n} samples must be in exactly one set.",
                    "splits_overlap",
                )
    return passed("split_dataset: three sets of the requested sizes, every sample in exactly one, each x with its y.")


def _order(entry: dict, key: str) -> list | None:
    if entry["error"]:
        return None
    if key == "parts":
        parts = entry["parts"]
        if parts is None or any(part["rows"] is None for part in parts):
            return None
        return [part["rows"] for part in parts]
    return entry["proxy"]["rows"]


def _judge_seeded(value: dict, key: str, describe, first_rows, mistakes: tuple[str, str, str]) -> Verdict | None:
    """Same seed, same answer (whatever the global generator); another seed, another; not the dataset's order."""
    not_random, ignored, fixed = mistakes
    for dataset in DATASETS:
        calls = {name: value[dataset]["calls"][name] for name in CALLS}
        orders = {name: _order(entry, key) for name, entry in calls.items()}
        for name, entry in calls.items():
            if orders[name] is None:
                problem = entry["error"] or "a result of the wrong shape"
                return fail(f"{describe(dataset, entry)} could not be checked: {problem}.")
        first, same, other = orders["first"], orders["same_seed"], orders["other_seed"]
        call = describe(dataset, calls["first"])
        if first == first_rows(dataset):
            return fail(f"{call} gives the rows in the dataset's order; it must choose them at random.", not_random)
        if first != same:
            g1, g2 = calls["first"]["global_seed"], calls["same_seed"]["global_seed"]
            return fail(
                f"{call} gave different results when called twice with the same seed (PyTorch's global generator "
                f"seeded {g1}, then {g2}): the randomness must come from the generator passed in.",
                ignored,
            )
        if first == other:
            return fail(
                f"{call} gave the same result with generators seeded {calls['first']['seed']} and "
                f"{calls['other_seed']['seed']}: the randomness must come from the generator passed in.",
                fixed,
            )
    return None


def judge_split_generator(value: dict, reference: dict) -> Verdict:
    def in_order(dataset):
        n, (a, b, _) = sizes(dataset)
        return [list(range(0, a)), list(range(a, a + b)), list(range(a + b, n))]

    verdict = _judge_seeded(
        value,
        "parts",
        lambda dataset, entry: _split_call(dataset, entry, sizes(dataset)[1]),
        in_order,
        ("split_not_shuffled", "split_generator_ignored", "split_fixed_seed"),
    )
    return verdict or passed("split_dataset: random, the same split for the same seed and another for another seed.")


def _proxy_call(dataset: str, entry: dict) -> str:
    return (
        f"make_proxy(X_train, y_train, size={PROXY_SIZE}, generator=torch.Generator().manual_seed({entry['seed']})) "
        f"on the training set of {DATASETS[dataset]}"
    )


def judge_proxy_subset(value: dict, reference: dict) -> Verdict:
    size = PROXY_SIZE
    for dataset in DATASETS:
        for entry in (value[dataset]["calls"][name] for name in CALLS):
            call = _proxy_call(dataset, entry)
            if entry["error"]:
                return fail(f"{call} raised {entry['error']}.")
            proxy = entry["proxy"]
            if proxy["rows"] is None:
                return fail(
                    f"{call} must return a pair (X_proxy, y_proxy) of tensors with X of shape (size, features); "
                    f"got a {proxy['type']} with shapes {proxy['x_shape']} and {proxy['y_shape']}."
                )
            rows = proxy["rows"]
            if len(rows) != size:
                return fail(f"{call}: expected {size} samples, got {len(rows)}.", "proxy_size")
            if not proxy["paired"]:
                return fail(f"{call}: the proxy holds rows that are not samples of the training set (an x without its own y).", "proxy_not_subset")
            if len(set(rows)) != len(rows):
                twice = sorted(i for i, count in Counter(rows).items() if count > 1)
                return fail(f"{call}: training samples {_some(twice)} are in the proxy more than once.", "proxy_duplicates")
    return passed(f"make_proxy: {PROXY_SIZE} different training samples, each x with its y.")


def judge_proxy_generator(value: dict, reference: dict) -> Verdict:
    verdict = _judge_seeded(
        value,
        "proxy",
        _proxy_call,
        lambda dataset: list(range(PROXY_SIZE)),
        ("proxy_not_random", "proxy_generator_ignored", "proxy_fixed_seed"),
    )
    return verdict or passed("make_proxy: random, the same proxy for the same seed and another for another seed.")


# ----------------------------------------------------------------------------------
# normalize: against PyTorch, with the training set's statistics
# ----------------------------------------------------------------------------------


def _standardize(parts: list[torch.Tensor], source: torch.Tensor, correction: int) -> list[torch.Tensor]:
    mean, std = source.mean(0), source.std(0, correction=correction)
    return [(part - mean) / std.masked_fill(std == 0, 1.0) for part in parts]


@functools.cache
def expected_normalized(dataset: str, seed: int) -> dict[str, list[list[torch.Tensor]]]:
    """What each way of normalizing gives on a dataset's fixed split, in float64:
    "training" (right, either std), "whole" (statistics of all rows), "own" (each set its own)."""
    X, _, lengths = fixtures.datasets()[dataset]
    parts = [X[rows].double() for rows in fixtures.fixed_split(len(X), lengths, seed)]
    everything = torch.cat(parts)
    return {
        "training": [_standardize(parts, parts[0], c) for c in (1, 0)],
        "whole": [_standardize(parts, everything, c) for c in (1, 0)],
        "own": [[_standardize([part], part, c)[0] for part in parts] for c in (1, 0)],
    }


def _columns(dataset: str) -> list[int]:
    width = fixtures.datasets()[dataset][0].shape[1]
    return [c for c in range(width) if not (dataset == "table" and c == fixtures.CONSTANT_COLUMN)]


def _matches(got: list, want: list[torch.Tensor], columns: list[int]) -> tuple[bool, tuple | None]:
    """Whether ``got`` (three nested lists) matches ``want`` on ``columns``; else the first (set, row, column) that does not."""
    for k, (rows, expected) in enumerate(zip(got, want)):
        for i, row in enumerate(rows):
            for j in columns:
                if not close(row[j], float(expected[i, j])):
                    return False, (k, i, j)
    return True, None


def _normalized_problem(dataset: str, entry: dict) -> Verdict | None:
    call = f"normalize(X_train, X_valid, X_eval) on {DATASETS[dataset]}"
    if entry["error"]:
        return fail(f"{call} raised {entry['error']}.")
    values = entry["values"]
    if values is None:
        return fail(f"{call} must return three tensors (X_train, X_valid, X_eval); it returned a {entry['returned']}.")
    want = expected_normalized(dataset, FIXED_SEED)["training"][0]
    for name, got, expected in zip(fixtures.SPLIT_NAMES, values, want):
        shape = [len(got), len(got[0]) if got else 0] if got is not None else None
        if got is None or shape != list(expected.shape) or any(len(row) != expected.shape[1] for row in got):
            return fail(f"{call}: X_{name} should come back with shape {list(expected.shape)}; got {shape or 'no 2-D tensor'}.")
    return None


def judge_normalize_statistics(value: dict, reference: dict) -> Verdict:
    for dataset in DATASETS:
        entry = value[dataset]
        problem = _normalized_problem(dataset, entry)
        if problem:
            return problem
        call = f"normalize(X_train, X_valid, X_eval) on {DATASETS[dataset]}"
        columns, expected = _columns(dataset), expected_normalized(dataset, FIXED_SEED)
        got = entry["values"]
        fits = [_matches(got, want, columns) for want in expected["training"]]
        if not any(ok for ok, _ in fits):
            k, i, j = fits[0][1]
            message = (
                f"{call}: X_{fixtures.SPLIT_NAMES[k]}[{i}][{j}] should be {fmt(float(expected['training'][0][k][i, j]))} "
                f"(normalized with the training set's mean and std), got {fmt(got[k][i][j])}."
            )
            for key in ("whole", "own"):
                if any(_matches(got, want, columns)[0] for want in expected[key]):
                    return fail(message, "stats_whole_dataset" if key == "whole" else "stats_per_split")
            return fail(message)
        if entry.get("inputs_changed"):
            return fail(f"{call} changed the tensors it was given.", "changed_inputs")
    return passed("normalize: every set normalized with the mean and std of the training set alone.")


def judge_normalize_constant(value: dict, reference: dict) -> Verdict:
    entry = value["table"]
    problem = _normalized_problem("table", entry)
    if problem:
        return problem
    c = fixtures.CONSTANT_COLUMN
    column = [row[c] for part in entry["values"] for row in part]
    bad = next((v for v in column if not close(v, 0.0)), None)
    if column and bad is None:
        return passed(f"normalize: the table's constant feature (all {fixtures.CONSTANT}) comes out as 0.")
    finite = isinstance(bad, (int, float)) and math.isfinite(bad)
    return fail(
        f"normalize(X_train, X_valid, X_eval) on {DATASETS['table']}: feature {c} is {fixtures.CONSTANT} in every row "
        f"(its std is 0), so it should come out as 0; got {fmt(bad)}.",
        "" if finite else "zero_std",
    )


# ----------------------------------------------------------------------------------
# evaluate: against PyTorch on the whole split at once
# ----------------------------------------------------------------------------------


@functools.cache
@fixtures.private_rng
def expected_losses(seed: int) -> dict[str, dict[str, list[float]]]:
    """For each split, at each checkpoint: the mean loss over the whole split in one batch
    ("weighted": what evaluate returns) and the mean of the loader's batch means."""
    result = {"weighted": {s: [] for s in fixtures.SPLIT_NAMES}, "batch_means": {s: [] for s in fixtures.SPLIT_NAMES}}
    splits = fixtures.sin_splits(seed)
    for state in fixtures.checkpoints(seed):
        model = fixtures.model_at(state).eval()
        with torch.no_grad():
            for split in fixtures.SPLIT_NAMES:
                X, y = splits[split]
                result["weighted"][split].append(nn.functional.mse_loss(model(X), y).item())
                means = [nn.functional.mse_loss(model(bx), by).item() for bx, by in fixtures.loader(split, seed)]
                result["batch_means"][split].append(sum(means) / len(means))
    return result


def _batch_sizes(split: str) -> list[int]:
    n, b = len(fixtures.sin_splits(FIXED_SEED)[split][0]), fixtures.EVAL_BATCH_SIZES[split]
    return [b] * (n // b) + ([n % b] if n % b else [])


def judge_evaluate_average(value: dict, reference: dict) -> Verdict:
    if value["errors"]:
        return fail(f"evaluate(model, nn.MSELoss(), loader) raised {value['errors'][0]}.")
    expected = expected_losses(FIXED_SEED)
    for split in fixtures.SPLIT_NAMES:
        got = value["losses"][split]
        if len(got) != len(fixtures.CHECKPOINTS):
            return fail(f"evaluate: expected {len(fixtures.CHECKPOINTS)} losses on the {fixtures.SET_NAMES[split]} set, got {len(got)}.")
        for k, (loss, want) in enumerate(zip(got, expected["weighted"][split])):
            if close(loss, want):
                continue
            epoch = fixtures.CHECKPOINTS[k]
            message = (
                f"evaluate(model, nn.MSELoss(), loader) on the {fixtures.SET_NAMES[split]} set of the lecture's sin(x) data "
                f"({len(fixtures.sin_splits(FIXED_SEED)[split][0])} samples in batches of {_batch_sizes(split)}), "
                f"model trained for {epoch} epochs: expected the average loss {fmt(want)}, got {fmt(loss)}."
            )
            if loss is None or isinstance(loss, str):
                return fail(message + " evaluate must return one finite number (a Python float).")
            return fail(message, "mean_of_batch_means" if close(loss, expected["batch_means"][split][k]) else "")
    return passed("evaluate: the sample-weighted average loss on every split at every checkpoint, uneven batches included.")


def _effects_problem(case: dict) -> tuple[str, Verdict | None]:
    start = "training" if case["started_training"] else "evaluation"
    call = f"evaluate(model, nn.MSELoss(), valid_loader) with the model in {start} mode"
    if case["error"]:
        return call, fail(f"{call} raised {case['error']}.")
    if not case["seen"]:
        return call, fail(f"{call} never called the model.")
    return call, None


def _cases(value: dict) -> list[dict]:
    """The two runs of the effects probe: the model starting in training mode, then in evaluation mode."""
    cases = value["cases"]
    if [case["started_training"] for case in cases] != [True, False]:
        raise ValueError("the evaluate probe's report is incomplete")
    return cases


def judge_evaluate_changes_nothing(value: dict, reference: dict) -> Verdict:
    for case in _cases(value):
        call, problem = _effects_problem(case)
        if problem:
            return problem
        if case["params_changed"]:
            return fail(f"{call} changed the model's parameters.", "changes_parameters")
        if case["grads_changed"]:
            return fail(f"{call} changed the parameters' gradients (`.grad`).", "changes_gradients")
        tracked = sum(1 for seen in case["seen"] if seen["grad"])
        if tracked:
            return fail(f"{call}: {tracked} of {len(case['seen'])} forward passes tracked gradients.", "tracks_gradients")
    return passed("evaluate: no gradients tracked; parameters and gradients unchanged.")


def judge_evaluate_mode(value: dict, reference: dict) -> Verdict:
    for case in _cases(value):
        call, problem = _effects_problem(case)
        if problem:
            return problem
        training = sum(1 for seen in case["seen"] if seen["training"])
        if training:
            return fail(f"{call}: {training} of {len(case['seen'])} forward passes ran in training mode.", "no_eval_mode")
        if case["training_after"] != case["started_training"]:
            after = "training" if case["training_after"] else "evaluation"
            return fail(f"{call} left the model in {after} mode.", "mode_not_restored")
    return passed("evaluate: evaluation mode during evaluation, and the model's previous mode back afterwards.")


# ----------------------------------------------------------------------------------
# The checks
# ----------------------------------------------------------------------------------


def _probe(function: str, timeout: float = 10.0, **args) -> Probe:
    return Probe(key=f"data:{function}", function=function, args=args, needs=("data",), timeout=timeout)


def checks() -> list[Check]:
    seeds = {"seeds": list(SEEDS), "global_seeds": list(GLOBAL_SEEDS)}
    split = _probe("split_dataset", **seeds)
    proxy = _probe("make_proxy", **seeds, size=PROXY_SIZE, split_seed=FIXED_SEED)
    normal = _probe("normalize", split_seed=FIXED_SEED)
    losses = _probe("evaluate_losses", 20.0, split_seed=FIXED_SEED)
    effects = _probe("evaluate_effects", split_seed=FIXED_SEED)
    return [  # whole points for Classroom; 100 in all
        Check("split_dataset: three disjoint sets of the given sizes, covering every sample", 14, split, judge_split_parts),
        Check("split_dataset: random, drawn from the given generator", 8, split, judge_split_generator),
        Check("normalize: the training set's statistics, applied to all three sets", 16, normal, judge_normalize_statistics),
        Check("normalize: a constant feature comes out as 0", 8, normal, judge_normalize_constant),
        Check("make_proxy: different training samples, each x with its y", 10, proxy, judge_proxy_subset),
        Check("make_proxy: random, drawn from the given generator", 6, proxy, judge_proxy_generator),
        Check("evaluate: sample-weighted average loss over uneven batches", 16, losses, judge_evaluate_average),
        Check("evaluate: no gradients, parameters and gradients unchanged", 11, effects, judge_evaluate_changes_nothing),
        Check("evaluate: evaluation mode, then the previous mode back", 11, effects, judge_evaluate_mode),
    ]
