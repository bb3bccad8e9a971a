"""Training loops for (batch) gradient descent, SGD and minibatch SGD.

The four functions below are the whole assignment. Each one says exactly what it
must do in its docstring. The grader calls them with its own dataset, model,
criterion (loss function) and optimizer, so use the objects you are given: do not
make your own optimizer, loaders or loss function inside these functions.
"""

import torch
from torch.utils.data import DataLoader, Dataset


def make_loaders(
    train_dataset: Dataset,
    valid_dataset: Dataset,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> tuple[DataLoader, DataLoader]:
    """Return ``(train_loader, valid_loader)`` for the two datasets.

    - ``train_loader`` gives batches of ``batch_size`` samples of ``train_dataset``
      and shuffles them, drawing its random order from ``generator`` (pass it to
      the ``DataLoader``; it may be None, then PyTorch's global generator is used).
      It keeps the last, smaller batch when ``batch_size`` does not divide the
      number of samples (do not drop it).
    - ``valid_loader`` gives the whole of ``valid_dataset`` as one single batch, in
      the dataset's order (not shuffled).
    """
    raise NotImplementedError("make_loaders is not implemented yet")


def train_batch_gd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    """Train ``model`` with (batch) gradient descent; return ``(train_losses, valid_losses)``.

    ``train_loader`` gives the whole training set as one batch. For each of the
    ``num_epochs`` epochs:

    1. Take the training batch ``X, y`` from ``train_loader`` (``next(iter(...))``).
    2. Compute the predictions ``model(X)`` and the loss ``criterion(predictions, y)``.
    3. Append the loss to ``train_losses`` as a Python float (``loss.item()``): the
       loss *before* this epoch's update.
    4. Update the parameters with ``optimizer``: ``optimizer.zero_grad()``, then
       ``loss.backward()``, then ``optimizer.step()``, in that order. That is the
       epoch's one and only update.
    5. Validate: take the one batch of ``valid_loader``, compute the model's loss on
       it and append it to ``valid_losses`` as a Python float. Validation must not
       change the parameters (no backward or step; ``torch.no_grad()`` is a good idea).

    Use the ``model``, ``criterion`` and ``optimizer`` you are given. Return two lists
    of Python floats: ``train_losses`` with ``num_epochs`` losses (one per update)
    and ``valid_losses`` with ``num_epochs`` losses (one per epoch), in that order.
    """
    raise NotImplementedError("train_batch_gd is not implemented yet")


def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    """Train ``model`` with stochastic gradient descent; return ``(train_losses, valid_losses)``.

    ``train_loader`` gives one sample per batch (batch size 1), in a new random order
    each epoch. For each of the ``num_epochs`` epochs:

    1. Loop over every batch ``X, y`` of ``train_loader`` (``for X, y in train_loader``).
       For each batch: compute ``model(X)`` and the loss ``criterion(predictions, y)``;
       append the loss to ``train_losses`` as a Python float (``loss.item()``), the
       loss *before* this batch's update; then ``optimizer.zero_grad()``,
       ``loss.backward()`` and ``optimizer.step()``, in that order. That is one
       update per batch.
    2. After the epoch's last update, validate once: take the one batch of
       ``valid_loader``, compute the model's loss on it and append it to
       ``valid_losses`` as a Python float. Validation must not change the
       parameters (no backward or step; ``torch.no_grad()`` is a good idea).

    Use the ``model``, ``criterion`` and ``optimizer`` you are given. Return two lists
    of Python floats: ``train_losses`` with one loss per update (``num_epochs *
    len(train_loader)`` of them) and ``valid_losses`` with one loss per epoch, in
    that order.
    """
    raise NotImplementedError("train_sgd is not implemented yet")


def train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    """Train ``model`` with minibatch SGD; return ``(train_losses, valid_losses)``.

    ``train_loader`` gives shuffled batches of several samples (the last batch may be
    smaller). For each of the ``num_epochs`` epochs:

    1. Loop over every batch ``X, y`` of ``train_loader`` (``for X, y in train_loader``).
       For each batch: compute ``model(X)`` and the loss ``criterion(predictions, y)``;
       append the loss to ``train_losses`` as a Python float (``loss.item()``), the
       loss *before* this batch's update; then ``optimizer.zero_grad()``,
       ``loss.backward()`` and ``optimizer.step()``, in that order. That is one
       update per batch.
    2. After the epoch's last update, validate once: take the one batch of
       ``valid_loader``, compute the model's loss on it and append it to
       ``valid_losses`` as a Python float. Validation must not change the
       parameters (no backward or step; ``torch.no_grad()`` is a good idea).

    Use the ``model``, ``criterion`` and ``optimizer`` you are given. Return two lists
    of Python floats: ``train_losses`` with one loss per update (``num_epochs *
    len(train_loader)`` of them) and ``valid_losses`` with one loss per epoch, in
    that order.
    """
    raise NotImplementedError("train_minibatch_sgd is not implemented yet")
