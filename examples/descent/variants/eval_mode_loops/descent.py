"""Correct variant: model.train()/model.eval() switching, numpy conversion of the
loss to a Python float, validation losses computed with criterion(y, yhat), a
validation backward-free no_grad block, and zero_grad both before and after."""

import torch
from torch.utils.data import DataLoader


def make_loaders(train_dataset, valid_dataset, batch_size, generator=None):
    train_loader = DataLoader(train_dataset, batch_size=batch_size, shuffle=True, generator=generator)
    valid_loader = DataLoader(valid_dataset, batch_size=len(valid_dataset))
    return train_loader, valid_loader


def _update(model, criterion, optimizer, X, y):
    model.train()
    optimizer.zero_grad()
    yhat = model(X)
    loss = criterion(yhat, y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.detach().numpy().item()


def _validate(model, criterion, valid_loader):
    model.eval()
    with torch.no_grad():
        X, y = next(iter(valid_loader))
        return float(criterion(y, model(X)).numpy())


def train_batch_gd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses, valid_losses = [], []
    for _ in range(num_epochs):
        X, y = next(iter(train_loader))
        train_losses.append(_update(model, criterion, optimizer, X, y))
        valid_losses.append(_validate(model, criterion, valid_loader))
    return train_losses, valid_losses


def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses, valid_losses = [], []
    for _ in range(num_epochs):
        train_losses += [_update(model, criterion, optimizer, X, y) for X, y in train_loader]
        valid_losses.append(_validate(model, criterion, valid_loader))
    return train_losses, valid_losses


def train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses, valid_losses = [], []
    for _ in range(num_epochs):
        for X, y in train_loader:
            train_losses.append(_update(model, criterion, optimizer, X, y))
        valid_losses.append(_validate(model, criterion, valid_loader))
    return train_losses, valid_losses
