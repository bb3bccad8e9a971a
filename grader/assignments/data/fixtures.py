"""The data assignment's fixtures: the lecture's sin(x) data, a small table of three
features on different scales (one of them constant), the lecture's model trained for a
while, and an instrumented model that records how ``evaluate`` uses it.

Used by the probes inside the sandbox child and, in the grading process, by the checks
to compute the expected answers with PyTorch. Everything is seeded with private
generators, so building the fixtures never changes PyTorch's global random state.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from grader.assignments.descent.fixtures import make_data as sin_data  # the lecture's 100 sin(x) points
from grader.assignments.descent.fixtures import make_model  # the lecture's 1-10-1 ReLU network

SIN_LENGTHS = (70, 15, 15)  # training, validation, evaluation
TABLE_ROWS = 60
TABLE_LENGTHS = (40, 10, 10)
TABLE_SEED = 7
CONSTANT = 2.0  # the table's constant feature; a power of two keeps its mean exact in float32
CONSTANT_COLUMN = 2

# The public inputs (checks.py passes them to the probes; the official grade adds private ones).
SPLIT_SEEDS = (3, 4)  # two generator seeds for split_dataset and make_proxy
GLOBAL_SEEDS = (0, 1)  # PyTorch's global generator, seeded differently around two calls with one seed
PROXY_SIZE = 10
FIXED_SEED = 3  # the fixtures' own split, which normalize, make_proxy and evaluate get

LEARNING_RATE = 0.02
CHECKPOINTS = (0, 5, 20, 60, 150)  # epochs of full-batch training after which the model is evaluated
# Evaluation loaders' batch sizes: none divides its set, so the last batch is smaller
# (70 -> 32, 32, 6; 15 -> 6, 6, 3) and a mean of batch means is visibly wrong.
EVAL_BATCH_SIZES = {"train": 32, "valid": 6, "eval": 6}
SPLIT_NAMES = ("train", "valid", "eval")
SET_NAMES = {"train": "training", "valid": "validation", "eval": "evaluation"}  # as the messages say them


def private_rng(function):
    """Run ``function`` with PyTorch's global generator forked: a DataLoader draws a seed
    from it at every pass, and the grading process (which runs the reference and the
    expected answers) must keep its own random state."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            return function(*args, **kwargs)

    return run


def table() -> tuple[torch.Tensor, torch.Tensor]:
    """60 rows of three features on very different scales (about 1000 +- 300, about
    0.01 +- 0.003, and the constant 2.0) and a target made from the first two; float32."""
    generator = torch.Generator().manual_seed(TABLE_SEED)
    size = 1000 + 300 * torch.randn(TABLE_ROWS, generator=generator)
    rate = 0.01 + 0.003 * torch.randn(TABLE_ROWS, generator=generator)
    X = torch.stack([size, rate, torch.full((TABLE_ROWS,), CONSTANT)], dim=1)
    y = (0.002 * size - 80 * rate + 0.1 * torch.randn(TABLE_ROWS, generator=generator)).reshape(-1, 1)
    return X, y


def datasets() -> dict[str, tuple[torch.Tensor, torch.Tensor, tuple[int, int, int]]]:
    """The two datasets the probes use, by name: (X, y, lengths)."""
    return {"sin": (*sin_data(), SIN_LENGTHS), "table": (*table(), TABLE_LENGTHS)}


def fixed_split(n: int, lengths: tuple[int, int, int], seed: int) -> list[torch.Tensor]:
    """The fixtures' own three-way split (row indices): what normalize and evaluate get,
    whatever the student's split_dataset does."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    a, b = lengths[0], lengths[0] + lengths[1]
    return [order[:a], order[a:b], order[b:]]


def sin_splits(seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    X, y = sin_data()
    return {name: (X[rows], y[rows]) for name, rows in zip(SPLIT_NAMES, fixed_split(len(X), SIN_LENGTHS, seed))}


def checkpoints(seed: int) -> list[dict[str, torch.Tensor]]:
    """The lecture's model's parameters after each of CHECKPOINTS epochs of full-batch
    gradient descent on the training split (lr 0.02): a model getting better."""
    model = make_model()
    X, y = sin_splits(seed)["train"]
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    states = []
    for epoch in range(CHECKPOINTS[-1] + 1):
        if epoch in CHECKPOINTS:
            states.append({k: v.clone() for k, v in model.state_dict().items()})
        optimizer.zero_grad()
        nn.functional.mse_loss(model(X), y).backward()
        optimizer.step()
    return states


def loader(split: str, seed: int) -> DataLoader:
    X, y = sin_splits(seed)[split]
    return DataLoader(TensorDataset(X, y), batch_size=EVAL_BATCH_SIZES[split], shuffle=False)


def model_at(state: dict[str, torch.Tensor], cls: type[nn.Sequential] = nn.Sequential) -> nn.Sequential:
    model = make_model(cls)
    model.load_state_dict(state)
    return model


class Recorder(nn.Sequential):
    """The lecture's network, recording at each forward pass whether gradients were
    tracked and whether it was in training mode."""

    def __init__(self, *layers):
        super().__init__(*layers)
        self.seen: list[dict] = []

    def forward(self, X):
        if len(self.seen) < 1000:
            self.seen.append({"grad": torch.is_grad_enabled(), "training": self.training, "n": int(X.shape[0])})
        return super().forward(X)
