"""How close a student's number must be to the reference's, and how numbers are shown."""

from __future__ import annotations

import math
from typing import Any

# Tolerances for trajectories (losses) and final parameters: |got - expected| must be
# at most ATOL + RTOL * |expected|.
# The student's loop runs on the very same fixtures as the reference, so a loop that
# does the same arithmetic reproduces it bit for bit (measured: criterion(model(X), y),
# loss.item() or float(loss), zero_grad at the end, no_grad or not, and even a
# hand-written MSE all give identical numbers). What may differ is rounding: summing
# a batch in another order, or float32 kernels choosing another path. As a generous
# stand-in for that we perturbed every initial parameter by 1e-6 relative (about ten
# float32 ulps): over these 5 epochs the training losses moved by at most 1.2e-6
# absolute (1.6e-5 relative, SGD), the validation losses by 7e-7 relative and the final
# parameters by 8.4e-7 absolute. ATOL = 1e-5 is ten times that. The mistakes graded
# here move some loss or parameter by 1e-3 or more (the smallest: loss_after_step on
# batch GD, 2.3e-2 on the first update), a hundred times the tolerance.
RTOL = 1e-4
ATOL = 1e-5


def number(value: Any) -> float | None:
    """A decoded number as a float; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):  # probes send NaN and infinities as strings
        try:
            return float(value)
        except ValueError:
            return None
    return None


def close(got: Any, expected: Any) -> bool:
    got, expected = number(got), number(expected)
    if got is None or expected is None or not math.isfinite(got) or not math.isfinite(expected):
        return False
    return abs(got - expected) <= ATOL + RTOL * abs(expected)


def first_difference(got: list, expected: list) -> int | None:
    """Index of the first element that is not close, or None if all are (lengths aside)."""
    for i, (a, b) in enumerate(zip(got, expected)):
        if not close(a, b):
            return i
    return None


def all_close(got: list | None, expected: list | None) -> bool:
    return got is not None and expected is not None and len(got) == len(expected) and first_difference(got, expected) is None


def fmt(value: Any) -> str:
    value = number(value)
    return "not a number" if value is None else f"{value:.6g}"


def some(numbers: list[int], limit: int = 6) -> str:
    """The first ``limit`` numbers of a list, for a message."""
    shown = ", ".join(str(n) for n in numbers[:limit])
    return f"[{shown}{', ...' if len(numbers) > limit else ''}]" if numbers else "[] (never)"
