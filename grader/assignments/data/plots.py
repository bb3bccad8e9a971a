"""The data assignment's plots, drawn in the grading process from a finished report:
the distributions of the three sets the student's split made, and the training,
validation and evaluation losses their evaluate measured as the model trained."""

from __future__ import annotations

import math
from pathlib import Path

from grader.assignments.data import fixtures

COLORS = {"train": "tab:blue", "valid": "tab:orange", "eval": "tab:green"}


def _value(outcome):
    return outcome.value if outcome is not None and outcome.ok and isinstance(outcome.value, dict) else None


def _split_rows(outcome) -> list[list[int]] | None:
    """The student's sin(x) split (row indices per set) if it is a clean one, else None."""
    value = _value(outcome)
    try:
        entry = value["sin"]["calls"]["first"]
        rows = [part["rows"] for part in entry["parts"]]
        n = len(fixtures.sin_data()[0])
        if all(isinstance(i, int) and 0 <= i < n for part in rows for i in part):
            return rows
    except (KeyError, TypeError, IndexError):
        pass
    return None


def _curves(outcome) -> dict[str, list[float]] | None:
    value = _value(outcome)
    try:
        curves = {s: [v if isinstance(v, (int, float)) and math.isfinite(v) else math.nan for v in value["losses"][s]] for s in fixtures.SPLIT_NAMES}
    except (KeyError, TypeError):
        return None
    return curves if all(len(c) == len(fixtures.CHECKPOINTS) for c in curves.values()) else None


def _splits_panel(ax, report) -> None:
    key = "data:split_dataset"
    rows = _split_rows((report.outcomes or {}).get(key))
    whose = "your split_dataset"
    if rows is None:
        rows, whose = _split_rows((report.reference or {}).get(key)), "the reference (yours gave no clean split)"
    x = fixtures.sin_data()[0].reshape(-1).tolist()
    if rows:
        for name, part in zip(fixtures.SPLIT_NAMES, rows):
            ax.hist([x[i] for i in part], bins=12, range=(-math.pi, math.pi), alpha=0.5, color=COLORS[name],
                    label=f"{fixtures.SET_NAMES[name]} ({len(part)})")
        ax.legend(fontsize=8)
    ax.set_title(f"Splits of the sin(x) data: {whose}", fontsize=9)
    ax.set_xlabel("x")
    ax.set_ylabel("samples")


def _losses_panel(ax, report) -> None:
    key = "data:evaluate_losses"
    mine, ref = _curves((report.outcomes or {}).get(key)), _curves((report.reference or {}).get(key))
    for curves, style, who in ((ref, {"linestyle": "--", "alpha": 0.6}, "reference"), (mine, {"marker": "o"}, "yours")):
        if curves:
            for split in fixtures.SPLIT_NAMES:
                ax.plot(fixtures.CHECKPOINTS, curves[split], color=COLORS[split], label=f"{who}: {fixtures.SET_NAMES[split]}", **style)
    ax.set_title("Evaluate: loss of each set as the model trains" + ("" if mine else "\n(your evaluate gave no losses; reference only)"), fontsize=9)
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss (MSE)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)


def artifacts(report, outdir: Path) -> list[Path]:
    """'Splits' (histograms of the three sets) and 'Train/valid/eval loss', side by side."""
    from matplotlib.figure import Figure  # no pyplot: no backend, no global state

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(12, 4), layout="constrained")
    splits, losses = figure.subplots(1, 2)
    _splits_panel(splits, report)
    _losses_panel(losses, report)
    path = outdir / "data-splits-and-losses.png"
    figure.savefig(path, dpi=100)
    return [path]
