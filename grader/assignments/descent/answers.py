"""Reading a loop probe's answer in the grading process, as hostile input.

Everything in the answer comes from the sandbox child, where student code ran next to
the instrumentation and could have changed it. So the answer is decoded field by field
(types, lengths, bounded integers, NaN and infinities only as the probe spells them),
and its event log is held to what an honest trace always satisfies: its tallies,
sequence numbers and batch sizes agree with each other and with the fixtures the
grading process knows, and the losses it records agree with the final parameters it
reports (recomputed here). An answer that fails any of this is ``Inconsistent``: its
checks fail with that reason and nothing in it is scored.

What a judge expects (epochs, batch size, updates per epoch, set sizes) comes from
``expected_setup``, the grading process's own knowledge, never from the answer.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from grader.assignments.descent import fixtures

MAX_INT = 10**9  # no honest count or size comes near it
MAX_TEXT = 200
SPECIAL_FLOATS = {"nan", "inf", "-inf"}  # how probes._finite spells what JSON cannot hold
UPDATE_STATUSES = {"fresh", "none", "zero", "stale", "accumulated"}
FORWARD_KINDS = {"t", "A", "T", "v", "p", "o"}
TAGS = set("TtVvFBZSP")
# Recorded losses against losses recomputed here from the reported parameters. An honest
# trace computes the very same float32 MSE, so they agree to rounding; the tolerance is
# loose (2 %) so that no honest run (say, one under autocast) is ever called inconsistent,
# while a made-up number is still caught.
CONSISTENCY_RTOL = 2e-2
CONSISTENCY_ATOL = 1e-5


class Inconsistent(ValueError):
    """The child's answer is malformed or contradicts itself: it is rejected, never scored."""


@dataclass(frozen=True)
class Setup:
    """What the grading process expects of one loop's run."""

    loop: str
    epochs: int
    batch_size: int
    n_train: int
    n_valid: int

    @property
    def per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)

    @property
    def batch_sizes(self) -> list[int]:
        """The sizes of one full pass's batches over the training loader."""
        full, rest = divmod(self.n_train, self.batch_size)
        return [self.batch_size] * full + ([rest] if rest else [])


def expected_setup(loop: str, epochs: int) -> Setup:
    if loop not in fixtures.BATCH_SIZES:
        raise ValueError(f"grader bug: no fixtures for {loop!r}")
    return Setup(loop, epochs, fixtures.BATCH_SIZES[loop], fixtures.N_TRAIN, fixtures.N_VALID)


# ----------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------


def integer(value, what: str, low: int = 0, high: int = MAX_INT) -> int:
    if type(value) is not int or not low <= value <= high:
        raise Inconsistent(f"{what} is not a whole number from {low} to {high}")
    return value


def text(value, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise Inconsistent(f"{what} is not a short text")
    return value


def number(value, what: str) -> float | None:
    """A reported number: a float, an int, None, or NaN/infinity spelled as the probe does."""
    if value is None:
        return None
    if type(value) is float:
        return value
    if type(value) is int and abs(value) <= MAX_INT:
        return float(value)
    if isinstance(value, str) and value in SPECIAL_FLOATS:
        return float(value)
    raise Inconsistent(f"{what} is not a number as the probe reports one")


def listed(value, what: str, limit: int) -> list:
    if not isinstance(value, list) or len(value) > limit:
        raise Inconsistent(f"{what} is not a list of at most {limit} items")
    return value


def losses(value, what: str) -> dict | None:
    """One returned list's description (see probes._losses), checked."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Inconsistent(f"{what} is not described as the probe describes it")
    length = value.get("length")
    if length is not None:
        integer(length, f"{what}'s length")
    values = value.get("values")
    if values is not None:
        values = [number(v, f"a value of {what}") for v in listed(values, f"{what}'s values", fixtures.MAX_VALUES)]
        if length is None or len(values) != min(length, fixtures.MAX_VALUES):
            raise Inconsistent(f"{what} holds {len(values)} values but its length is {length}")
    types = [text(t, f"a type in {what}") for t in listed(value.get("types", []), f"{what}'s types", 64)]
    return {"type": text(value.get("type"), f"{what}'s type"), "length": length, "types": types, "values": values}


def returned(value) -> dict:
    if not isinstance(value, dict):
        raise Inconsistent("the description of the return value is missing")
    length = value.get("length")
    if length is not None:
        integer(length, "the return value's length")
    decoded = {
        "type": text(value.get("type"), "the return value's type"),
        "length": length,
        "train": losses(value.get("train"), "the training losses"),
        "valid": losses(value.get("valid"), "the validation losses"),
    }
    # The probe describes both parts of any sequence of two (a tuple, a list or a subclass), nothing else.
    parts = [decoded["train"] is not None, decoded["valid"] is not None]
    if (any(parts) and not (all(parts) and length == 2)) or (decoded["type"] in ("tuple", "list") and length == 2 and not all(parts)):
        raise Inconsistent("the return value's parts do not fit its type and length")
    return decoded


def event(raw, where: str) -> list:
    """One event, checked against the shapes fixtures.Trace logs."""
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], str) or raw[0] not in TAGS:
        raise Inconsistent(f"{where} is not an event")
    tag, shape = raw[0], {"T": 1, "V": 1, "Z": 1, "P": 1, "t": 2, "v": 2, "S": 3, "B": 4, "F": 6}[raw[0]]
    if len(raw) != shape:
        raise Inconsistent(f"{where} ({tag}) has {len(raw)} fields, not {shape}")
    if tag in "tv":
        return [tag, integer(raw[1], f"{where}'s batch size", 0, fixtures.N_POINTS)]
    if tag == "S":
        if not isinstance(raw[1], str) or raw[1] not in UPDATE_STATUSES or type(raw[2]) is not bool:
            raise Inconsistent(f"{where} has an unknown gradient status")
        return raw
    if tag == "B":
        if type(raw[2]) is not bool or type(raw[3]) is not bool:
            raise Inconsistent(f"{where}'s flags are not true or false")
        return [tag, integer(raw[1], f"{where}'s forward", -1), raw[2], raw[3]]
    if tag == "F":
        if not isinstance(raw[2], str) or raw[2] not in FORWARD_KINDS:
            raise Inconsistent(f"{where} has an unknown kind of rows")
        fid = integer(raw[1], f"{where}'s number")
        return [tag, fid, raw[2], integer(raw[3], f"{where}'s row count"), integer(raw[4], f"{where}'s update count"),
                number(raw[5], f"{where}'s loss")]
    return [tag]


def decode(value, setup: Setup) -> dict:
    """The loop probe's answer, decoded and cross-checked; raises Inconsistent."""
    if not isinstance(value, dict):
        raise Inconsistent("the answer is not a record")
    reported = value.get("setup")
    if not isinstance(reported, dict) or reported.get("loop") != setup.loop:
        raise Inconsistent(f"the answer is not for {setup.loop}")
    events = [event(e, f"event {i + 1}") for i, e in enumerate(listed(value.get("events"), "the event log", fixtures.MAX_EVENTS))]
    truncated = value.get("truncated")
    if type(truncated) is not bool:
        raise Inconsistent("the truncation flag is not true or false")
    counts = value.get("counts")
    if not isinstance(counts, dict) or not set(counts) <= TAGS:
        raise Inconsistent("the event tallies are not tallies of known events")
    counts = {tag: integer(n, f"the tally of {tag}") for tag, n in counts.items()}
    params = [number(p, "a final parameter") for p in listed(value.get("final_params"), "the final parameters", 10_000)]
    decoded = {
        "returned": returned(value.get("returned")),
        "events": events,
        "truncated": truncated,
        "counts": counts,
        "final_params": params,
    }
    consistent(decoded, setup)
    return decoded


# ----------------------------------------------------------------------------------
# Cross-checks: what every honest trace satisfies
# ----------------------------------------------------------------------------------


def consistent(answer: dict, setup: Setup) -> None:
    events, counts, truncated = answer["events"], answer["counts"], answer["truncated"]
    tally: dict[str, int] = {}
    for e in events:
        tally[e[0]] = tally.get(e[0], 0) + 1
    if truncated:
        if len(events) != fixtures.MAX_EVENTS or any(counts.get(t, 0) < n for t, n in tally.items()) or sum(counts.values()) <= len(events):
            raise Inconsistent("the log says it was cut short, but its length and tallies disagree")
    elif {t: n for t, n in counts.items() if n} != tally:
        raise Inconsistent("the event tallies do not match the events logged")

    forwards = 0
    updates = 0
    passes = {"T": 0, "V": 0}
    latest_train_batch = None
    last_valid: tuple[int, float | None] | None = None
    for i, e in enumerate(events, start=1):
        tag = e[0]
        # Passes may interleave (a loop can start a second pass inside the first), so a
        # batch is only held to its loader's sizes, not to its place in a pass.
        if tag in "TV":
            passes[tag] += 1
        elif tag == "t":
            if not passes["T"] or e[1] not in setup.batch_sizes:
                raise Inconsistent(f"event {i}: a training batch of {e[1]} the training loader cannot give")
            latest_train_batch = e[1]
        elif tag == "v":
            if not passes["V"] or e[1] != setup.n_valid:
                raise Inconsistent(f"event {i}: a validation batch of {e[1]} the validation loader cannot give")
        elif tag == "F":
            _, fid, kind, n, made, mse = e
            if fid != forwards or made != updates:
                raise Inconsistent(f"event {i}: forward pass numbers or update counts out of sequence")
            forwards += 1
            if (kind == "A" and n != setup.n_train) or (kind == "v" and n != setup.n_valid) or (kind == "t" and n != latest_train_batch):
                raise Inconsistent(f"event {i}: a forward pass on {n} rows cannot be of that kind")
            if kind == "v":
                last_valid = (made, mse)
            if made == 0 and kind in ("A", "v"):
                agree(mse, _initial_loss(kind), f"event {i}: the loss of the untrained model")
        elif tag == "B":
            if e[1] >= forwards:
                raise Inconsistent(f"event {i}: a backward pass through a forward pass that has not happened")
        elif tag in "SP":
            updates += 1
    if truncated:
        return
    params = answer["final_params"]
    if updates == 0 and len(params) == len(_initial_parameters()):
        agree_all(params, _initial_parameters(), "no update was logged, yet the final parameters")
    if last_valid is not None and last_valid[0] == updates:
        agree(last_valid[1], _validation_loss(tuple(params)), "the last validation loss logged, against the reported final parameters,")


def _close(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    if math.isnan(got) or math.isnan(want):
        return math.isnan(got) and math.isnan(want)
    if math.isinf(got) or math.isinf(want):
        return got == want
    return abs(got - want) <= CONSISTENCY_ATOL + CONSISTENCY_RTOL * abs(want)


def agree(got: float | None, want: float | None, what: str, source: str = "the fixtures") -> None:
    if want is not None and not _close(got, want):
        raise Inconsistent(f"{what} does not agree with {source} (logged {got}, expected {want})")


def agree_all(got: list, want: list, what: str, source: str = "the fixtures") -> None:
    if len(got) != len(want) or any(not _close(a, b) for a, b in zip(got, want)):
        raise Inconsistent(f"{what} do not agree with {source}")


@functools.cache
def _initial_parameters() -> list[float]:
    return fixtures.parameters_list(fixtures.make_model())


@functools.cache
def _rows(which: str):
    """The training ("A") or validation ("v") set as (X of shape (n, 1), targets)."""
    import torch

    train, valid = fixtures.make_datasets()
    xs, targets = fixtures.rows(train if which == "A" else valid)
    return torch.tensor(xs).reshape(-1, 1), targets


@functools.cache
def _initial_loss(kind: str) -> float:
    import torch

    X, targets = _rows(kind)
    with torch.no_grad():
        return torch.nn.functional.mse_loss(fixtures.make_model()(X), targets).item()


@functools.lru_cache(maxsize=64)
def _validation_loss(params: tuple) -> float | None:
    """The MSE on the validation set of the lecture's network with these parameters (None if they do not fit)."""
    import torch

    model = fixtures.make_model()
    if len(params) != sum(p.numel() for p in model.parameters()) or any(p is None for p in params):
        return None
    X, targets = _rows("v")
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(torch.tensor(params, dtype=torch.float32), model.parameters())
        return torch.nn.functional.mse_loss(model(X), targets).item()


# ----------------------------------------------------------------------------------
# make_loaders
# ----------------------------------------------------------------------------------


def decode_loaders(value, batch_sizes: list[int], seeds: tuple[int, int]) -> dict:
    """The make_loaders probe's answer, checked against the calls the grading process asked for."""
    if not isinstance(value, dict):
        raise Inconsistent("the answer is not a record")
    seed, other = seeds
    cases = listed(value.get("cases"), "the cases", len(batch_sizes))
    if len(cases) != len(batch_sizes):
        raise Inconsistent(f"{len(cases)} cases came back for {len(batch_sizes)} calls")
    return {
        "cases": [loader_case(c, b, seed, 2) for c, b in zip(cases, batch_sizes)],
        "same_seed": loader_case(value.get("same_seed"), batch_sizes[0], seed, 1),
        "other_seed": loader_case(value.get("other_seed"), batch_sizes[0], other, 1),
        "no_generator": loader_case(value.get("no_generator"), batch_sizes[0], None, 1),
    }


def loader_case(case, batch_size: int, seed: int | None, passes: int) -> dict:
    if not isinstance(case, dict) or case.get("batch_size") != batch_size or case.get("seed") != seed:
        raise Inconsistent(f"the call with batch_size={batch_size} and seed {seed} did not come back as asked")
    error = case.get("error")
    decoded = {"batch_size": batch_size, "seed": seed, "error": None if error is None else text(error, "an error message")}
    if error is not None:
        return decoded
    decoded["returned"] = text(case.get("returned"), "the returned type")
    for role in ("train", "valid"):
        decoded[role] = [loader_pass(p, role) for p in listed(case.get(role), f"the {role} passes", passes)]
        if len(decoded[role]) != passes:
            raise Inconsistent(f"{len(decoded[role])} passes over the {role} loader came back, not {passes}")
    return decoded


def loader_pass(one, role: str) -> dict:
    if not isinstance(one, dict):
        raise Inconsistent(f"a pass over the {role} loader is not described as the probe describes it")
    batches = [loader_batch(b, role) for b in listed(one.get("batches"), f"the {role} batches", fixtures.MAX_BATCHES)]
    count = integer(one.get("count"), f"the number of {role} batches")
    if count < len(batches) or (count > len(batches) and len(batches) < fixtures.MAX_BATCHES):
        raise Inconsistent(f"the {role} pass counts {count} batches but describes {len(batches)}")
    return {"batches": batches, "count": count}


def loader_batch(batch, role: str) -> dict:
    if not isinstance(batch, dict) or type(batch.get("paired")) is not bool:
        raise Inconsistent(f"a {role} batch is not described as the probe describes it")

    def optional(value, what, decode):
        return None if value is None else decode(value, what)

    def shape(value, what):
        return [integer(d, f"a dimension of {what}") for d in listed(value, what, 8)]

    def rows(value, what):
        return [integer(i, f"a row of {what}", -1, fixtures.N_POINTS) for i in listed(value, what, fixtures.MAX_ROWS)]

    decoded = {
        "type": text(batch.get("type"), f"a {role} batch's type"),
        "n": optional(batch.get("n"), f"a {role} batch's size", integer),
        "rows": optional(batch.get("rows"), f"a {role} batch's rows", rows),
        "x_shape": optional(batch.get("x_shape"), f"a {role} batch's X shape", shape),
        "y_shape": optional(batch.get("y_shape"), f"a {role} batch's y shape", shape),
        "paired": batch["paired"],
    }
    # The probe describes an (X, y) pair of tensors with both shapes and the size of X's
    # first dimension (rows only when there are few), anything else with none of them.
    x, y, n = decoded["x_shape"], decoded["y_shape"], decoded["n"]
    described = x is not None and y is not None and n == (x[0] if x else None)
    if not (described or (x is None and y is None and n is None and decoded["rows"] is None)) or (
        decoded["paired"] and decoded["rows"] is None
    ):
        raise Inconsistent(f"a {role} batch is described in parts that do not fit together")
    return decoded
