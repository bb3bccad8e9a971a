"""Preparing a dataset and evaluating a trained model: steps 1 and 5 of the lecture's
general neural network process.

1. Prepare your dataset: split it into **training**, **validation** and **evaluation**
   sets, normalize the inputs, and create a proxy (smaller) dataset for debugging.
5. Evaluate the trained model.

The four functions below are the whole assignment; each docstring says exactly what it
must do. Inputs ``X`` are float tensors of shape ``(n, features)`` and targets ``y``
float tensors of shape ``(n, 1)``; row ``i`` of ``X`` goes with row ``i`` of ``y``.
Only the inputs are normalized, never the targets.
"""

import torch


def split_dataset(X, y, lengths, generator):
    """Split ``(X, y)`` at random into training, validation and evaluation sets.

    ``lengths`` is ``(n_train, n_valid, n_eval)``, three whole numbers that add up to
    ``len(X)``. Return ``[(X_train, y_train), (X_valid, y_valid), (X_eval, y_eval)]``
    with those numbers of rows: every sample lands in exactly one of the three sets,
    each ``x`` still with its own ``y``.

    The random order must come from ``generator`` (a ``torch.Generator``), so that the
    same seed gives the same split and another seed another split: pass it to
    ``torch.randperm`` (or to ``torch.utils.data.random_split``). Do not use PyTorch's
    global generator and do not seed anything yourself.
    """
    # BEGIN SOLUTION
    n_train, n_valid, n_eval = lengths
    order = torch.randperm(len(X), generator=generator)
    parts = order[:n_train], order[n_train : n_train + n_valid], order[n_train + n_valid :]
    return [(X[rows], y[rows]) for rows in parts]
    # END SOLUTION


def normalize(X_train, X_valid, X_eval):
    """Normalize the inputs of the three sets with the statistics of the training set.

    Compute each feature's (column's) mean and standard deviation over ``X_train``
    alone, and apply those same statistics to all three sets: ``(X - mean) / std``.
    The validation and evaluation sets stand for data the model has never seen, so they
    must not contribute to the statistics. Either standard deviation is fine
    (``torch.std``, which divides by n - 1, or NumPy's ``std``, which divides by n).

    A constant feature has a standard deviation of 0: divide it by 1 instead, so it
    comes out as 0 (not NaN or infinity).

    Return ``(X_train, X_valid, X_eval)`` normalized, as new float tensors of the same
    shapes; leave the tensors you are given unchanged.
    """
    # BEGIN SOLUTION
    mean = X_train.mean(dim=0)
    std = X_train.std(dim=0)
    std = torch.where(std == 0, torch.ones_like(std), std)
    return tuple((X - mean) / std for X in (X_train, X_valid, X_eval))
    # END SOLUTION


def make_proxy(X_train, y_train, size, generator):
    """A proxy (smaller) dataset for debugging: ``size`` training samples at random.

    Choose ``size`` different rows of the training set, drawing them with
    ``generator`` (as in ``split_dataset``: same seed, same proxy), and return
    ``(X_proxy, y_proxy)``: a subset of the training set, each ``x`` with its own ``y``,
    no row twice.
    """
    # BEGIN SOLUTION
    rows = torch.randperm(len(X_train), generator=generator)[:size]
    return X_train[rows], y_train[rows]
    # END SOLUTION


def evaluate(model, criterion, loader):
    """The average loss of ``model`` over every sample ``loader`` gives, as a Python float.

    ``criterion`` returns the mean loss of a batch. Batches may differ in size (the
    last one may be smaller), so weight each batch's loss by its number of samples:
    the total of ``loss * batch size`` divided by the total number of samples, not the
    mean of the batch losses.

    Evaluation changes nothing: compute the losses under ``torch.no_grad()`` (no
    gradients tracked, no ``backward``), in evaluation mode (``model.eval()``), and
    leave the model as you found it: the same parameters and gradients, and back in
    the mode it was in before (training or evaluation: ``model.training`` says which).
    """
    # BEGIN SOLUTION
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for X, y in loader:
            total += criterion(model(X), y).item() * len(X)
            count += len(X)
    model.train(was_training)
    return total / count
    # END SOLUTION
