"""Correct variant: zero_grad after each step (set_to_none=False), float(loss), a RandomSampler."""

import torch
from torch.utils.data import DataLoader, RandomSampler


def make_loaders(train_dataset, valid_dataset, batch_size, generator=None):
    sampler = RandomSampler(train_dataset, generator=generator)
    train_loader = DataLoader(train_dataset, batch_size=batch_size, sampler=sampler)
    valid_loader = DataLoader(valid_dataset, batch_size=len(valid_dataset))
    return train_loader, valid_loader


def train_batch_gd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses, valid_losses = [], []
    for epoch in range(num_epochs):
        X, y = next(iter(train_loader))
        loss = criterion(model(X), y)
        train_losses.append(float(loss))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)

        X_valid, y_valid = next(iter(valid_loader))
        with torch.no_grad():
            valid_losses.append(float(criterion(model(X_valid), y_valid)))
    return train_losses, valid_losses


def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses, valid_losses = [], []
    for epoch in range(num_epochs):
        for X, y in train_loader:
            loss = criterion(model(X), y)
            train_losses.append(float(loss))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=False)

        X_valid, y_valid = next(iter(valid_loader))
        with torch.no_grad():
            valid_losses.append(float(criterion(model(X_valid), y_valid)))
    return train_losses, valid_losses


def train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    return train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs)
