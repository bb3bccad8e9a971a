"""Correct variant: batch GD takes the whole training set from train_loader.dataset (in
the dataset's order, so its sums round differently) and validation reads the
validation set from valid_loader.dataset; SGD and minibatch SGD unpack batches by index."""

import torch
from torch.utils.data import DataLoader


def make_loaders(train_dataset, valid_dataset, batch_size, generator=None):
    train_loader = DataLoader(train_dataset, batch_size=batch_size, shuffle=True, generator=generator)
    valid_loader = DataLoader(valid_dataset, batch_size=len(valid_dataset), shuffle=False)
    return train_loader, valid_loader


def _all(dataset):
    X = torch.stack([dataset[i][0] for i in range(len(dataset))])
    y = torch.stack([dataset[i][1] for i in range(len(dataset))])
    return X, y


def _valid_loss(model, criterion, valid_loader):
    X, y = _all(valid_loader.dataset)
    with torch.no_grad():
        return criterion(model(X), y).item()


def train_batch_gd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    X, y = _all(train_loader.dataset)
    train_losses, valid_losses = [], []
    for _ in range(num_epochs):
        optimizer.zero_grad()
        loss = criterion(model(X), y)
        train_losses.append(loss.item())
        loss.backward()
        optimizer.step()
        valid_losses.append(_valid_loss(model, criterion, valid_loader))
    return train_losses, valid_losses


def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses, valid_losses = [], []
    for _ in range(num_epochs):
        for batch in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(batch[0]), batch[1])
            train_losses.append(loss.item())
            loss.backward()
            optimizer.step()
        valid_losses.append(_valid_loss(model, criterion, valid_loader))
    return train_losses, valid_losses


train_minibatch_sgd = train_sgd
