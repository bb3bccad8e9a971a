"""The descent assignment's notebook, in the shape of the lecture's demo notebook.

``build_notebook(descent_source)`` is called by ``python -m grader assign`` with the
reference's ``descent.py`` (for reference/descent/descent.ipynb) and with its stub
(for assignments/descent/descent.ipynb). The notebook prepares the lecture's data,
designs its network, holds the four functions of ``descent.py`` in one code cell, and
trains with each method, plotting "Model Fit" and "Epoch VS Loss" side by side.

The seeds and sizes are those of ``fixtures.py`` (written out here, since students do
not have the grader), so the notebook's data and starting model are the grader's.

Every top-level statement of the generated code cells is either a definition the
grader's notebook loader keeps and can run in a moment (imports, constants, the data,
functions) or a call of the notebook's own functions, which the loader drops (the
training runs and plots). Cell ids are fixed so the output is reproducible.
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from grader.assignments.descent import fixtures
from grader.authoring.notebooks import course_notebook

INTRO = """\
# Minibatch Stochastic Gradient Descent

In this assignment you write the training loops of the lecture: (batch) gradient descent,
stochastic gradient descent (SGD) and minibatch SGD, and the function that makes their data
loaders. The notebook follows the general process of the lecture:

1. Prepare the dataset.
2. Design a neural network.
3. Set the hyperparameters.
4. Train, with validation, using each of the three methods.

**What to do.** Fill in the four functions in the cell under "Training Loops" (replace each
`raise NotImplementedError(...)` with your code). Each docstring says exactly what the function
must do. Then run the whole notebook and look at the plots.

**How it is graded.** The grader calls your four functions with its own copy of this data and
model and compares what happens with the reference solution: the number of updates per epoch,
the order of `zero_grad`, `backward` and `step`, when and on what you validate, the losses you
record, and the final parameters. Hand in this notebook (`descent.ipynb`) or the functions in a
file named `descent.py`. Only the definitions in the notebook are graded; the training cells
below are for you.
"""

IMPORTS = """\
import math

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split
"""

DATA_TEXT = """\
## Prepare The Dataset

A small regression problem: {n} points with $x$ drawn uniformly from $[-\\pi, \\pi]$ and
$y = \\sin(x) + {noise} \\cdot \\epsilon$, where $\\epsilon$ is standard normal noise. We keep
{n_train} points for training and {n_valid} for validation. Every random draw has its own seed,
so each run of the notebook (and the grader) sees the same data.
"""

DATA_CODE = """\
N_POINTS = {n}
N_TRAIN = {n_train}
N_VALID = N_POINTS - N_TRAIN
DATA_SEED = {data_seed}
SPLIT_SEED = {split_seed}

data_generator = torch.Generator().manual_seed(DATA_SEED)
x = torch.rand(N_POINTS, 1, generator=data_generator) * 2 * math.pi - math.pi
y = torch.sin(x) + {noise} * torch.randn(N_POINTS, 1, generator=data_generator)

dataset = TensorDataset(x, y)
train_dataset, valid_dataset = random_split(
    dataset, [N_TRAIN, N_VALID], generator=torch.Generator().manual_seed(SPLIT_SEED)
)
"""

MODEL_TEXT = """\
## Design A Neural Network

A two-layer network: `Linear(1, {hidden})`, ReLU, `Linear({hidden}, 1)`, trained with the mean
squared error (`MSELoss`) and `torch.optim.SGD` with learning rate {lr}. `make_model` seeds its
initialisation, so all three methods start from the same parameters. `setup` makes a fresh
model, criterion and optimizer and the loaders for one batch size, using your `make_loaders`.
"""

MODEL_CODE = """\
HIDDEN = {hidden}
MODEL_SEED = {model_seed}
LOADER_SEED = {loader_seed}
learning_rate = {lr}
num_epochs = 100


def make_model():
    torch.manual_seed(MODEL_SEED)
    return nn.Sequential(nn.Linear(1, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))


def setup(batch_size):
    model = make_model()
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(LOADER_SEED)
    train_loader, valid_loader = make_loaders(train_dataset, valid_dataset, batch_size, generator=generator)
    return model, criterion, optimizer, train_loader, valid_loader


def plot_fit_and_losses(model, train_losses, valid_losses, title):
    \"\"\"Two plots side by side: "Model Fit" (data and model) and "Epoch VS Loss".\"\"\"
    fig, (fit, curves) = plt.subplots(1, 2, figsize=(12, 4))
    fig.suptitle(title)

    x_train = torch.stack([train_dataset[i][0] for i in range(len(train_dataset))])
    y_train = torch.stack([train_dataset[i][1] for i in range(len(train_dataset))])
    x_valid = torch.stack([valid_dataset[i][0] for i in range(len(valid_dataset))])
    y_valid = torch.stack([valid_dataset[i][1] for i in range(len(valid_dataset))])
    grid = torch.linspace(-math.pi, math.pi, 200).reshape(-1, 1)
    with torch.no_grad():
        prediction = model(grid)
    fit.plot(x_train, y_train, "o", markersize=3, label="Training data")
    fit.plot(x_valid, y_valid, "s", markersize=3, label="Validation data")
    fit.plot(grid, torch.sin(grid), "--", color="gray", label="sin(x)")
    fit.plot(grid, prediction, color="black", label="Model")
    fit.set_title("Model Fit")
    fit.set_xlabel("x")
    fit.set_ylabel("y")
    fit.legend()

    updates_per_epoch = len(train_losses) / max(len(valid_losses), 1)
    curves.plot([k / updates_per_epoch for k in range(len(train_losses))], train_losses, label="Training loss")
    curves.plot(range(1, len(valid_losses) + 1), valid_losses, label="Validation loss")
    curves.set_title("Epoch VS Loss")
    curves.set_xlabel("Epoch")
    curves.set_ylabel("Loss (MSE)")
    curves.set_yscale("log")
    curves.legend()
    plt.show()
"""

LOOPS_TEXT = """\
## Training Loops

Your code goes here: `make_loaders` and the three training loops. Read each docstring: it says
what to record and when. The grader imports these functions from this cell (or from your
`descent.py`), so keep their names and parameters.
"""

SECTIONS = [
    (
        "train_batch_gd",
        "Train With (Batch) Gradient Descent",
        "The whole training set is one batch (batch size {n_train}): one update per epoch, "
        "{updates_gd} updates in {epochs} epochs.",
        "N_TRAIN",
        "Batch gradient descent",
    ),
    (
        "train_sgd",
        "Train With Stochastic Gradient Descent",
        "One sample per batch (batch size 1): {n_train} updates per epoch, {updates_sgd:,} in {epochs} epochs.",
        "1",
        "Stochastic gradient descent",
    ),
    (
        "train_minibatch_sgd",
        "Train With Minibatch Stochastic Gradient Descent",
        "Batches of {batch} samples: {per_epoch} updates per epoch, {updates_mb} in {epochs} epochs.",
        "{batch}",
        "Minibatch stochastic gradient descent",
    ),
]

TRAIN_CODE = """\
model, criterion, optimizer, train_loader, valid_loader = setup(batch_size={batch_size})
{prefix}_train_losses, {prefix}_valid_losses = {loop}(
    model, criterion, optimizer, train_loader, valid_loader, num_epochs
)
plot_fit_and_losses(model, {prefix}_train_losses, {prefix}_valid_losses, "{title}")
"""

COMPARE_TEXT = """\
## Typical Behavior

The three methods' validation losses on one plot. Which one makes the most progress per epoch?
Which one per update, and which one per second?
"""

COMPARE_CODE = """\
def plot_typical_behavior():
    plt.figure(figsize=(6, 4))
    for name, losses in [
        ("Batch GD", gd_valid_losses),
        ("SGD", sgd_valid_losses),
        ("Minibatch SGD", minibatch_valid_losses),
    ]:
        plt.plot(range(1, len(losses) + 1), losses, label=name)
    plt.title("Validation Loss")
    plt.xlabel("Epoch")
    plt.ylabel("Loss (MSE)")
    plt.yscale("log")
    plt.legend()
    plt.show()


plot_typical_behavior()
"""

PREFIXES = {"train_batch_gd": "gd", "train_sgd": "sgd", "train_minibatch_sgd": "minibatch"}


def build_notebook(descent_source: str) -> nbformat.NotebookNode:
    """The assignment's notebook around ``descent_source`` (the reference or its stub)."""
    n_train, batch = fixtures.N_TRAIN, fixtures.BATCH_SIZES["train_minibatch_sgd"]
    epochs = 100
    per_epoch = -(-n_train // batch)
    values = {
        "n": fixtures.N_POINTS,
        "n_train": n_train,
        "n_valid": fixtures.N_VALID,
        "noise": fixtures.NOISE,
        "data_seed": fixtures.DATA_SEED,
        "split_seed": fixtures.SPLIT_SEED,
        "model_seed": fixtures.MODEL_SEED,
        "loader_seed": fixtures.LOADER_SEED,
        "hidden": fixtures.HIDDEN,
        "lr": fixtures.LEARNING_RATE,
        "batch": batch,
        "per_epoch": per_epoch,
        "epochs": epochs,
        "updates_gd": epochs,
        "updates_sgd": epochs * n_train,
        "updates_mb": epochs * per_epoch,
    }
    cells = [
        new_markdown_cell(INTRO),
        new_code_cell(IMPORTS),
        new_markdown_cell(DATA_TEXT.format(**values)),
        new_code_cell(DATA_CODE.format(**values)),
        new_markdown_cell(MODEL_TEXT.format(**values)),
        new_code_cell(MODEL_CODE.format(**values)),
        new_markdown_cell(LOOPS_TEXT),
        new_code_cell(descent_source.strip() + "\n"),
    ]
    for loop, heading, text, batch_size, title in SECTIONS:
        cells.append(new_markdown_cell(f"## {heading}\n\n{text.format(**values)}\n"))
        code = TRAIN_CODE.format(
            batch_size=batch_size.format(**values), prefix=PREFIXES[loop], loop=loop, title=title
        )
        cells.append(new_code_cell(code))
    cells += [new_markdown_cell(COMPARE_TEXT), new_code_cell(COMPARE_CODE)]
    return course_notebook(cells, "descent")
