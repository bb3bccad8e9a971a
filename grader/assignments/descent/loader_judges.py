"""The judges of make_loaders: each reads the decoded answer of the loaders probe (batch
sizes, rows and orders of a few passes over each loader, for several batch sizes and seeds)."""

from __future__ import annotations

from typing import Any, Callable

from grader.assignments.descent import answers, fixtures
from grader.assignments.descent.mistakes import failing
from grader.assignments.descent.tolerances import some
from grader.plugin import Verdict, passed


def judge_loaders(judge: Callable[[dict], Verdict], value: Any, batch_sizes: list[int], seeds: tuple[int, int]) -> Verdict:
    """``judge`` on the decoded answer of make_loaders called with ``batch_sizes`` and ``seeds``;
    a malformed answer fails, unscored."""
    try:
        decoded = answers.decode_loaders(value, batch_sizes, seeds)
    except answers.Inconsistent as error:
        return failing(
            f"make_loaders: the sandbox's report is inconsistent ({error}), so it is rejected and this check is not scored.",
            "inconsistent_report",
        )
    return judge(decoded)


def _expected_sizes(n: int, batch_size: int) -> list[int]:
    sizes = [batch_size] * (n // batch_size)
    return sizes + [n % batch_size] if n % batch_size else sizes


def _pass_rows(one_pass: dict) -> list[int]:
    return [i for b in one_pass["batches"] for i in (b["rows"] or [-1])]


def _loader_error(case: dict) -> Verdict | None:
    if case.get("error"):
        return failing(
            f"make_loaders(train_dataset, valid_dataset, batch_size={case['batch_size']}"
            + (f", generator=torch.Generator().manual_seed({case['seed']})" if case["seed"] is not None else "")
            + f") raised {case['error']}.",
            "make_loaders_error",
        )
    if case.get("returned") not in ("tuple", "list"):
        return failing(f"make_loaders must return (train_loader, valid_loader); it returned a {case.get('returned')}.", "make_loaders_error")
    return None


def judge_training_batches(value: dict) -> Verdict:
    n = fixtures.N_TRAIN
    for case in value["cases"]:
        if error := _loader_error(case):
            return error
        b = case["batch_size"]
        call = f"make_loaders(..., batch_size={b}, generator=...) on {n} training samples"
        expected = _expected_sizes(n, b)
        passes = case["train"]
        for p, one in enumerate(passes, start=1):
            sizes = [batch["n"] for batch in one["batches"]]
            if one["count"] != len(one["batches"]) or sizes != expected:
                got = some(sizes, 8) if one["count"] == len(one["batches"]) else f"{one['count']} batches"
                key = "wrong_batch_size"
                if sizes == expected[:-1] and n % b:
                    key = "drop_last"
                return failing(f"{call}: pass {p} over the training loader should give batches of sizes {some(expected, 8)}; got {got}.", key)
            rows = _pass_rows(one)
            if sorted(rows) != list(range(n)) or not all(batch["paired"] for batch in one["batches"]):
                return failing(f"{call}: pass {p} does not give every training sample (x with its y) exactly once.", "wrong_batches")
            shapes = {(tuple(batch["x_shape"]), tuple(batch["y_shape"])) for batch in one["batches"]}
            if any(x[1:] != (1,) or y[1:] != (1,) for x, y in shapes):
                return failing(f"{call}: batches should hold X and y of shape (batch, 1) as the dataset does; got {sorted(shapes)[:2]}.", "wrong_batches")
            if rows == list(range(n)):
                return failing(f"{call}: pass {p} gives the training samples in the dataset's order; the training loader must shuffle.", "train_not_shuffled")
        if len(passes) > 1 and _pass_rows(passes[0]) == _pass_rows(passes[1]):
            return failing(f"{call}: two passes over the training loader gave the same order; each pass must draw a new one.", "not_reshuffled")
    sizes = ", ".join(str(c["batch_size"]) for c in value["cases"])
    return passed(f"make_loaders: batch sizes {sizes} give full passes over all {n} training samples, shuffled anew each pass, the last batch kept.")


def judge_generator(value: dict) -> Verdict:
    first, same, other, none = value["cases"][0], value["same_seed"], value["other_seed"], value["no_generator"]
    for case in (first, same, other):
        if error := _loader_error(case):
            return error
    b = first["batch_size"]
    seed, other_seed = same["seed"], other["seed"]
    a, a2, c = (_pass_rows(x["train"][0]) for x in (first, same, other))
    if a != a2:
        return failing(
            f"make_loaders(..., batch_size={b}, generator=torch.Generator().manual_seed({seed})) called twice "
            f"gave two different orders; the same seed must give the same order.",
            "generator_ignored",
        )
    if a == c == list(range(fixtures.N_TRAIN)):
        return failing(
            f"make_loaders(..., batch_size={b}) gives the training samples in the dataset's order whatever the seed; "
            f"the training loader must shuffle with the generator passed in.",
            "train_not_shuffled",
        )
    if a == c:
        return failing(
            f"make_loaders(..., batch_size={b}) gave the same order with generators seeded {seed} and {other_seed}; "
            f"the order must come from the generator passed in.",
            "fixed_seed",
        )
    if none.get("error"):
        return failing(f"make_loaders(train_dataset, valid_dataset, {b}) without a generator raised {none['error']}.", "generator_required")
    if _pass_rows(none["train"][0]) == list(range(fixtures.N_TRAIN)):
        return failing(f"make_loaders(train_dataset, valid_dataset, {b}) without a generator does not shuffle.", "train_not_shuffled")
    return passed("make_loaders: the same seed gives the same order, another seed another order, and generator=None works.")


def judge_valid_loader(value: dict) -> Verdict:
    n = fixtures.N_VALID
    for case in value["cases"]:
        if error := _loader_error(case):
            return error
        call = f"make_loaders(..., batch_size={case['batch_size']}, generator=...)"
        for p, one in enumerate(case["valid"], start=1):
            sizes = [batch["n"] for batch in one["batches"]]
            if one["count"] != 1 or sizes != [n]:
                return failing(
                    f"{call}: the validation loader should give one batch of all {n} validation samples; "
                    f"pass {p} gave {one['count']} batch(es) of sizes {some(sizes, 8)}.",
                    "valid_not_one_batch",
                )
            batch = one["batches"][0]
            if sorted(batch["rows"] or []) != list(range(n)) or not batch["paired"]:
                return failing(f"{call}: the validation batch does not hold the validation samples (x with its y).", "valid_not_one_batch")
            if batch["rows"] != list(range(n)):
                return failing(f"{call}: the validation batch is shuffled (pass {p}); it must keep the dataset's order.", "valid_shuffled")
            if list(batch["x_shape"]) != [n, 1] or list(batch["y_shape"]) != [n, 1]:
                return failing(f"{call}: the validation batch should hold X and y of shape ({n}, 1); got {batch['x_shape']} and {batch['y_shape']}.", "valid_not_one_batch")
    return passed(f"make_loaders: the validation loader gives all {n} validation samples as one batch, in order, whatever the batch size.")

