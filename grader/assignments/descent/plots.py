"""Descent plots: 'Epoch VS Loss' for each loop, the student's run against the reference's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from grader.assignments.descent import answers
from grader.assignments.descent.checks import EPOCHS, loop_probe
from grader.assignments.descent.diagnosis import analyse
from grader.assignments.descent.events import LOOPS, METHODS, returned_lists
from grader.assignments.descent.tolerances import number


def _curves(outcome, reference) -> tuple[list, list] | None:
    """(training losses, validation losses) as floats from an outcome, or None if there are none
    (or the answer is rejected)."""
    if outcome is None or not outcome.ok or reference is None or not reference.ok:
        return None
    try:
        train, valid = returned_lists(analyse(outcome.value, reference.value, EPOCHS))
    except answers.Inconsistent:
        return None
    if train is None or valid is None:
        return None
    return [number(v) for v in train], [number(v) for v in valid]


DIVERGED = 1e3  # a loss this many times the reference's largest has diverged (and would flatten the plot)


def _finite(values) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v) and v > 0]


def _diverged_at(values: list, ceiling: float) -> int | None:
    """The index of the first loss that is not a number, infinite or above ``ceiling``."""
    return next((i for i, v in enumerate(values) if v is None or not math.isfinite(v) or v > ceiling), None)


def _draw(ax, curves, per_epoch: int, label: str, style: dict, ceiling: float = math.inf) -> list[str]:
    """Draw the curves up to where they diverge; returns what diverged, in words."""
    train, valid = curves
    stop_train, stop_valid = _diverged_at(train, ceiling), _diverged_at(valid, ceiling)
    train, valid = train[:stop_train], valid[:stop_valid]
    if train:
        ax.plot([k / per_epoch for k in range(len(train))], train, label=f"{label} training", color="tab:blue", **style)
    if valid:
        ax.plot(range(1, len(valid) + 1), valid, label=f"{label} validation", color="tab:orange", marker="o", markersize=3, **style)
    events = []
    if stop_train is not None:
        ax.axvline(stop_train / per_epoch, color="tab:red", linewidth=1)
        events.append(f"training diverged at update {stop_train + 1}")
    if stop_valid is not None:
        ax.axvline(stop_valid + 1, color="tab:red", linewidth=1, linestyle=":")
        events.append(f"validation diverged at epoch {stop_valid + 1}")
    return events


def _plain_log_labels(**options):
    """Log-axis tick labels as plain numbers ("0.6", "0.01"), on the ticks matplotlib would
    label: its "6 x 10^-1" is typeset by mathtext, which cost half of a grade's plotting."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def __call__(self, x, pos=None):
            return f"{x:g}" if super().__call__(x, pos) else ""

    return PlainLogFormatter(**options)


def _panel(ax, loop: str, report) -> None:
    """One loop: the reference dashed, the student's solid, on the reference's scale; a
    student's run that diverges stops where it does, marked in red and named in the title."""
    key = loop_probe(loop).key
    outcomes = getattr(report, "outcomes", {}) or {}
    references = getattr(report, "reference", {}) or {}
    mine, ref = outcomes.get(key), references.get(key)
    per_epoch = answers.expected_setup(loop, EPOCHS).per_epoch
    ref_curves, my_curves = _curves(ref, ref), _curves(mine, ref)
    shown = _finite([*ref_curves[0], *ref_curves[1]]) if ref_curves else []
    ceiling = max(shown) * DIVERGED if shown else math.inf
    if ref_curves:
        _draw(ax, ref_curves, per_epoch, "reference", {"linestyle": "--", "alpha": 0.6, "linewidth": 1})
    title = METHODS[loop]
    if my_curves:
        events = _draw(ax, my_curves, per_epoch, "yours", {"linewidth": 1.2}, ceiling)
        if events:
            title += "\n(" + "; ".join(events) + ")"
        shown += _finite([v for v in (*my_curves[0], *my_curves[1]) if v is not None and v <= ceiling])
    else:
        why = (mine.error.splitlines()[0][:60] if mine is not None and mine.error else "no result")
        title += f"\n(your {loop} failed: {why}; reference only)"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_plain_log_labels())
    ax.yaxis.set_minor_formatter(_plain_log_labels(labelOnlyBase=False))
    if shown:
        ax.set_ylim(min(shown) / 2, max(shown) * 2)
    ax.legend(fontsize=7)


# Fixed margins, in inches: room for "6 x 10^-1" tick labels and the y label on the left,
# the x label below, and above the figure's title plus each line of the panels' titles.
# Constrained layout placed them as well, but it drew every figure twice (once to measure
# it): half of what the plots cost.
LEFT, RIGHT, BOTTOM, TITLE, TITLE_LINE, BETWEEN = 0.95, 0.15, 0.5, 0.42, 0.17, 1.0


def _margins(figure, axes) -> None:
    width, height = figure.get_size_inches()
    lines = max(ax.get_title().count("\n") + 1 for ax in axes)
    panel = (width - LEFT - RIGHT - BETWEEN * (len(axes) - 1)) / len(axes)
    figure.subplots_adjust(
        left=LEFT / width,
        right=1 - RIGHT / width,
        bottom=BOTTOM / height,
        top=1 - (TITLE + TITLE_LINE * lines) / height,
        wspace=BETWEEN / panel,
    )


def figures(report) -> dict[str, Any]:
    """File name -> figure: 'Epoch VS Loss' for each loop (yours against the reference's)
    and the three side by side."""
    from matplotlib.figure import Figure  # no pyplot: no backend, no global state

    made = {}
    for loop in LOOPS:
        figure = Figure(figsize=(6, 4))
        ax = figure.add_subplot()
        _panel(ax, loop, report)
        _margins(figure, [ax])
        figure.suptitle(f"Epoch VS Loss: {loop}")
        made[f"descent-{loop}-epoch-vs-loss.png"] = figure
    figure = Figure(figsize=(15, 4))
    axes = figure.subplots(1, 3)  # each method its own scale: SGD's noise would flatten batch GD
    for ax, loop in zip(axes, LOOPS):
        _panel(ax, loop, report)
    _margins(figure, axes)
    figure.suptitle("Typical Behavior: batch GD, SGD and minibatch SGD (yours solid, reference dashed)")
    made["descent-typical-behavior.png"] = figure
    return made


def artifacts(report, outdir: Path) -> list[Path]:
    """The figures, as PNG files in ``outdir``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in figures(report).items():
        figure.savefig(outdir / name, dpi=100)
        written.append(outdir / name)
    return written
