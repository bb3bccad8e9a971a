"""Correct variant: criterion(model(X), y) inline, model.zero_grad(), validation without
no_grad looping over the one-batch loader, batch GD looping over its one-batch loader."""

from torch.utils.data import DataLoader


def make_loaders(train_dataset, valid_dataset, batch_size, generator=None):
    return (
        DataLoader(train_dataset, batch_size, True, generator=generator),
        DataLoader(valid_dataset, batch_size=len(valid_dataset)),
    )


def _validate(model, criterion, valid_loader):
    for X, y in valid_loader:
        return criterion(model(X), y).item()


def train_batch_gd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses = []
    valid_losses = []
    for _ in range(num_epochs):
        for X, y in train_loader:
            model.zero_grad()
            loss = criterion(model(X), y)
            loss.backward()
            train_losses.append(loss.item())
            optimizer.step()
        valid_losses.append(_validate(model, criterion, valid_loader))
    return train_losses, valid_losses


def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses = []
    valid_losses = []
    for _ in range(num_epochs):
        for X, y in train_loader:
            model.zero_grad()
            loss = criterion(model(X), y)
            loss.backward()
            train_losses.append(loss.item())
            optimizer.step()
        valid_losses.append(_validate(model, criterion, valid_loader))
    return train_losses, valid_losses


def train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses = []
    valid_losses = []
    for _ in range(num_epochs):
        for X, y in train_loader:
            model.zero_grad()
            loss = criterion(model(X), y)
            loss.backward()
            train_losses.append(loss.item())
            optimizer.step()
        valid_losses.append(_validate(model, criterion, valid_loader))
    return train_losses, valid_losses
