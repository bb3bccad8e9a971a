"""The event-log decoder: a loop probe's decoded answer read into forwards, updates and
loader passes (a ``Run``), against what the grading process expects of the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.assignments.descent import answers, fixtures

# The graded loops, and the method each implements.
LOOPS = ("train_batch_gd", "train_sgd", "train_minibatch_sgd")
METHODS = {
    "train_batch_gd": "batch gradient descent",
    "train_sgd": "SGD",
    "train_minibatch_sgd": "minibatch SGD",
}


@dataclass
class Forward:
    fid: int
    kind: str  # see fixtures.Trace
    n: int
    updates: int  # updates made before it
    mse: float | None
    backwards: list[bool] = field(default_factory=list)  # clean flag of each backward through it
    drives: bool = False  # an update used its gradient
    batch: tuple[int, int] | None = None  # (pass, position in it) of the training batch it ran on, for kind "t"

    @property
    def training(self) -> bool:
        return self.kind in ("t", "A", "T")

    @property
    def validation(self) -> bool:
        return self.kind in ("v", "p")


@dataclass
class Update:
    via_step: bool  # optimizer.step() (False: the parameters changed some other way)
    status: str  # the step's gradient status (see fixtures.Trace); "" for other updates
    driver: Forward | None  # the forward whose backward came last before it
    pending: bool  # the latest training forward had not been backwarded yet
    backwards: int  # backward passes since the previous update
    zeroed: bool  # optimizer.zero_grad() ran after the latest of those backwards
    clean: bool  # the latest backward (the driver's) started from empty gradients
    epoch: int  # index of the training-loader pass it happened in (-1: none)
    criterion: bool = False  # the latest backward sent back the gradient of criterion(model(X), y)
    standard: bool = False  # the optimizer's settings were those it was given


@dataclass
class Run:
    """One training run's trace, read into forwards, updates and loader passes."""

    loop: str
    epochs: int
    per_epoch: int  # expected updates per epoch
    batch_size: int
    forwards: list[Forward]
    updates: list[Update]
    passes: list[int]  # updates made during each pass over the training loader
    truncated: bool
    steps: int
    external: int
    backwards: int  # backward passes in the whole run
    returned: dict
    final_params: list[float | None]
    loader_seed: int = fixtures.LOADER_SEED  # the training loader's shuffling seed
    diagnosis: dict[str, str] = field(default_factory=dict)  # mistake -> evidence
    bound_to: Any = None  # the reference answer this run's log was held to (see diagnosis.bind)

    @property
    def evaluations(self) -> list[Forward]:
        """Forward passes no update used: validation, loss recording, ..."""
        return [f for f in self.forwards if not f.drives]

    @property
    def validations(self) -> list[Forward]:
        return [f for f in self.evaluations if f.validation]

    @property
    def training_passes(self) -> list[int]:
        return [n for n in self.passes if n > 0]

    @property
    def epoch_ends(self) -> list[int]:
        """The number of updates made by the end of each training epoch, as the run itself structured them."""
        if self.training_passes and self.per_epoch > 1:
            ends, total = [], 0
            for n in self.passes:
                total += n
                if n:
                    ends.append(total)
            return ends
        # Batch GD (however often it asks train_loader for its one batch), or no loader
        # passes at all: one update per epoch.
        return list(range(1, len(self.updates) + 1))

    @property
    def expected_updates(self) -> int:
        return self.epochs * self.per_epoch

    def where(self, update: int) -> str:
        """'update 83 (epoch 2, batch 4)' for a 1-based update number, as the reference structures them."""
        epoch, batch = divmod(update - 1, self.per_epoch)
        if self.per_epoch == 1:
            return f"update {update} (epoch {epoch + 1})"
        return f"update {update} (epoch {epoch + 1}, batch {batch + 1})"

    @property
    def context(self) -> str:
        shuffled = "" if self.loader_seed == fixtures.LOADER_SEED else (
            f", train_loader shuffling with torch.Generator().manual_seed({self.loader_seed})"
        )
        return (
            f"{self.loop} ({METHODS[self.loop]}, batch size {self.batch_size}, {self.epochs} epochs "
            f"on the lecture's sin(x) data, lr 0.02{shuffled})"
        )


def read_run(value: dict, setup: answers.Setup, loader_seed: int = fixtures.LOADER_SEED) -> Run:
    """A decoded answer (see answers.decode) read against what the grading process expects
    (``setup``, and the training loader's seed it asked for)."""
    forwards: dict[int, Forward] = {}
    order: list[Forward] = []
    updates: list[Update] = []
    passes: list[int] = []
    latest_training: Forward | None = None
    since: list[tuple[Forward | None, bool, bool]] = []  # backwards since the last update: (forward, clean, criterion)
    batch: tuple[int, int] | None = None  # the latest training batch: (pass, position)
    zeroed = False
    steps = external = 0

    def update(via_step: bool, status: str, standard: bool) -> None:
        nonlocal since, zeroed
        driver = since[-1][0] if since else None
        pending = (
            latest_training is not None
            and not latest_training.backwards
            and (driver is None or driver.fid < latest_training.fid)
        )
        if driver is not None:
            driver.drives = True
        updates.append(
            Update(
                via_step, status, driver, pending, len(since), zeroed, since[-1][1] if since else True, len(passes) - 1,
                since[-1][2] if since else False, standard,
            )
        )
        if passes:
            passes[-1] += 1
        since, zeroed = [], False

    for event in value["events"]:
        tag = event[0]
        if tag == "T":
            passes.append(0)
            batch = (len(passes) - 1, -1)
        elif tag == "t" and batch is not None:
            batch = (batch[0], batch[1] + 1)
        elif tag == "F":
            _, fid, kind, n, made, mse = event
            forward = Forward(fid, kind, n, made, mse, batch=batch if kind == "t" else None)
            forwards[fid] = forward
            order.append(forward)
            if forward.training:
                latest_training = forward
        elif tag == "B":
            _, fid, clean, criterion = event
            forward = forwards.get(fid)
            if forward is not None:
                forward.backwards.append(clean)
            since.append((forward, clean, criterion))
            zeroed = False
        elif tag == "Z":
            zeroed = bool(since)
        elif tag == "S":
            steps += 1
            update(True, event[1], event[2])
        elif tag == "P":
            external += 1
            update(False, "", False)
    counts = value["counts"]
    return Run(
        loop=setup.loop,
        epochs=setup.epochs,
        per_epoch=setup.per_epoch,
        batch_size=setup.batch_size,
        forwards=order,
        updates=updates,
        passes=passes,
        truncated=value["truncated"],
        steps=counts.get("S", steps),
        external=counts.get("P", external),
        backwards=counts.get("B", 0),
        returned=value["returned"],
        final_params=value["final_params"],
        loader_seed=loader_seed,
    )


def returned_lists(run: Run) -> tuple[list | None, list | None]:
    """(training losses, validation losses) as the run returned them; None for a list it did not return."""
    r = run.returned
    train = r["train"]["values"] if r.get("train") else None
    valid = r["valid"]["values"] if r.get("valid") else None
    return train, valid

