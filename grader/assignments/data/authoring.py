"""The data assignment's notebook, in the shape of the lecture's general process.

``build_notebook(data_source)`` is called by ``python -m grader assign`` with the
reference's ``data.py`` (for reference/data/data.ipynb) and with its stub (for
assignments/data/data.ipynb). The notebook makes the lecture's sin(x) data, holds the
four functions of ``data.py`` in one code cell, prepares the dataset with them (split,
normalize, proxy), trains on the proxy and then on the training set, and evaluates on
all three sets, plotting the splits and the losses.

Every top-level statement of the generated code cells is either a definition the
grader's notebook loader keeps and can run in a moment (imports, constants, the data,
functions) or a call of the notebook's own functions, which the loader drops. Cell ids
are fixed so the output is reproducible.
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from grader.assignments.data import fixtures
from grader.assignments.descent import fixtures as lecture
from grader.authoring.notebooks import course_notebook

INTRO = """\
# Prepare, Train, Evaluate

The lecture's general neural network process starts and ends with the data:

1. **Prepare your dataset**: normalize the inputs, create a proxy (smaller) dataset for debugging
   and testing workflows, and split the dataset into training, validation and evaluation sets.
2. Design a neural network. 3. Set the hyperparameters. 4. Train (with validation).
5. **Evaluate the trained model.**

**What to do.** Fill in the four functions in the cell under "Your Functions" (replace each
`raise NotImplementedError(...)` with your code); each docstring says exactly what it must do.
Then run the whole notebook and look at the plots.

**How it is graded.** The grader calls your functions on its own copy of this data and on a
table of three features (one of them constant), and checks them against PyTorch: that the split
is a random partition drawn from the generator, that every set is normalized with the training
set's statistics, that the proxy is a random subset of the training set, and that `evaluate`
returns the sample-weighted average loss and leaves the model as it found it. Hand in this
notebook (`data.ipynb`) or the functions in a file named `data.py`. Only the definitions in the
notebook are graded; the cells that prepare, train and plot are for you.
"""

IMPORTS = """\
import math

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
"""

DATA_TEXT = """\
## The Data

The lecture's regression problem: {n} points with $x$ drawn uniformly from $[-\\pi, \\pi]$ and
$y = \\sin(x) + {noise} \\cdot \\epsilon$, where $\\epsilon$ is standard normal noise. Every random
draw has its own seeded generator, so each run of the notebook sees the same data and split.
"""

DATA_CODE = """\
N_POINTS = {n}
LENGTHS = {lengths}  # training, validation, evaluation
PROXY_SIZE = {proxy}
DATA_SEED = {data_seed}
SPLIT_SEED = {split_seed}

data_generator = torch.Generator().manual_seed(DATA_SEED)
X = torch.rand(N_POINTS, 1, generator=data_generator) * 2 * math.pi - math.pi
y = torch.sin(X) + {noise} * torch.randn(N_POINTS, 1, generator=data_generator)
"""

FUNCTIONS_TEXT = """\
## Your Functions

`split_dataset`, `normalize`, `make_proxy` and `evaluate`. The grader imports them from this
cell (or from your `data.py`), so keep their names and parameters.
"""

PREPARE_TEXT = """\
## 1. Prepare The Dataset

Split, then normalize with the training set's statistics, then draw a proxy from the training
set. The histograms show where the three sets' samples lie: each should cover the whole range.
"""

PREPARE_CODE = """\
def prepare(seed=SPLIT_SEED):
    generator = torch.Generator().manual_seed(seed)
    (X_train, y_train), (X_valid, y_valid), (X_eval, y_eval) = split_dataset(X, y, LENGTHS, generator)
    raw = {{"train": X_train, "valid": X_valid, "eval": X_eval}}
    X_train, X_valid, X_eval = normalize(X_train, X_valid, X_eval)
    X_proxy, y_proxy = make_proxy(X_train, y_train, PROXY_SIZE, generator)
    sets = {{
        "train": (X_train, y_train),
        "valid": (X_valid, y_valid),
        "eval": (X_eval, y_eval),
        "proxy": (X_proxy, y_proxy),
    }}
    return raw, sets


def plot_splits(raw, sets):
    fig, (before, after) = plt.subplots(1, 2, figsize=(12, 4))
    for name, label in [("train", "Training"), ("valid", "Validation"), ("eval", "Evaluation")]:
        before.hist(raw[name].reshape(-1), bins=12, alpha=0.5, label=f"{{label}} ({{len(raw[name])}})")
        after.hist(sets[name][0].reshape(-1), bins=12, alpha=0.5, label=label)
    before.set_title("The Splits (raw x)")
    after.set_title("After Normalization")
    for ax in (before, after):
        ax.set_xlabel("x")
        ax.legend()
    plt.show()


raw, sets = prepare()
plot_splits(raw, sets)
"""

TRAIN_TEXT = """\
## 2-4. Design, Set Hyperparameters, Train

The lecture's network (`Linear(1, {hidden})`, ReLU, `Linear({hidden}, 1)`) trained with minibatch
SGD (learning rate {lr}, batches of {batch}). After every epoch, `evaluate` measures the loss on
the training, validation and evaluation sets. First debug on the proxy: a few samples, so it
runs in a moment and should fit them closely. Then train on the whole training set.
"""

TRAIN_CODE = """\
HIDDEN = {hidden}
MODEL_SEED = {model_seed}
learning_rate = {lr}
batch_size = {batch}
num_epochs = 150


def make_model():
    torch.manual_seed(MODEL_SEED)
    return nn.Sequential(nn.Linear(1, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))


def train_and_evaluate(sets, on="train"):
    model = make_model()
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    shuffle = torch.Generator().manual_seed(SPLIT_SEED)
    train_loader = DataLoader(TensorDataset(*sets[on]), batch_size=batch_size, shuffle=True, generator=shuffle)
    loaders = {{name: DataLoader(TensorDataset(*sets[name]), batch_size=batch_size) for name in ("train", "valid", "eval")}}
    history = {{name: [] for name in loaders}}
    for _ in range(num_epochs):
        model.train()
        for X_batch, y_batch in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(X_batch), y_batch)
            loss.backward()
            optimizer.step()
        for name, loader in loaders.items():
            history[name].append(evaluate(model, criterion, loader))
    return model, history


def plot_losses(history, title):
    plt.figure(figsize=(6, 4))
    for name, label in [("train", "Training"), ("valid", "Validation"), ("eval", "Evaluation")]:
        plt.plot(range(1, len(history[name]) + 1), history[name], label=label)
    plt.title(title)
    plt.xlabel("Epoch")
    plt.ylabel("Loss (MSE)")
    plt.yscale("log")
    plt.legend()
    plt.show()


proxy_model, proxy_history = train_and_evaluate(sets, on="proxy")
plot_losses(proxy_history, "Debugging On The Proxy")
model, history = train_and_evaluate(sets)
plot_losses(history, "Epoch VS Loss")
"""

EVALUATE_TEXT = """\
## 5. Evaluate The Trained Model

The evaluation set was used neither to train nor to choose anything: its loss is the honest
estimate of how the model does on new data. How does it compare with the validation loss?
"""

EVALUATE_CODE = """\
def report(model, sets):
    criterion = nn.MSELoss()
    for name in ("train", "valid", "eval"):
        loader = DataLoader(TensorDataset(*sets[name]), batch_size=batch_size)
        print(f"{name:>5} loss: {evaluate(model, criterion, loader):.4f}")


report(model, sets)
"""


def build_notebook(data_source: str) -> nbformat.NotebookNode:
    """The assignment's notebook around ``data_source`` (the reference or its stub)."""
    values = {
        "n": lecture.N_POINTS,
        "noise": lecture.NOISE,
        "data_seed": lecture.DATA_SEED,
        "split_seed": fixtures.FIXED_SEED,
        "lengths": fixtures.SIN_LENGTHS,
        "proxy": fixtures.PROXY_SIZE,
        "hidden": lecture.HIDDEN,
        "model_seed": lecture.MODEL_SEED,
        "lr": lecture.LEARNING_RATE,
        "batch": lecture.BATCH_SIZES["train_minibatch_sgd"],
    }
    cells = [
        new_markdown_cell(INTRO),
        new_code_cell(IMPORTS),
        new_markdown_cell(DATA_TEXT.format(**values)),
        new_code_cell(DATA_CODE.format(**values)),
        new_markdown_cell(FUNCTIONS_TEXT),
        new_code_cell(data_source.strip() + "\n"),
        new_markdown_cell(PREPARE_TEXT),
        new_code_cell(PREPARE_CODE.format(**values)),
        new_markdown_cell(TRAIN_TEXT.format(**values)),
        new_code_cell(TRAIN_CODE.format(**values)),
        new_markdown_cell(EVALUATE_TEXT),
        new_code_cell(EVALUATE_CODE),
    ]
    return course_notebook(cells, "data")
