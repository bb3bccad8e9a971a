"""Correct variant: one helper for all three loops, a while loop, enumerate, per-epoch
lists extended at the end of each epoch, the validation batch fetched once up front."""

import torch
from torch.utils.data import DataLoader


def make_loaders(train_dataset, valid_dataset, batch_size, generator=None):
    train_loader = DataLoader(dataset=train_dataset, shuffle=True, batch_size=batch_size, generator=generator, drop_last=False)
    valid_loader = DataLoader(dataset=valid_dataset, shuffle=False, batch_size=len(valid_dataset))
    return train_loader, valid_loader


def _train(model, criterion, optimizer, train_loader, valid_loader, num_epochs, whole_batch=False):
    X_valid, y_valid = next(iter(valid_loader))
    train_losses, valid_losses = [], []
    epoch = 0
    while epoch < num_epochs:
        epoch_losses = []
        batches = [next(iter(train_loader))] if whole_batch else train_loader
        for i, (X, y) in enumerate(batches):
            optimizer.zero_grad(set_to_none=True)
            predictions = model(X)
            loss = criterion(predictions, y)
            loss.backward()
            optimizer.step()
            epoch_losses.append(loss.detach().cpu().item())
        train_losses.extend(epoch_losses)
        model.eval()
        with torch.inference_mode():
            valid_losses.append(criterion(model(X_valid), y_valid).item())
        model.train()
        epoch += 1
    return list(train_losses), list(valid_losses)


def train_batch_gd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    return _train(model, criterion, optimizer, train_loader, valid_loader, num_epochs, whole_batch=True)


def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    return _train(model, criterion, optimizer, train_loader, valid_loader, num_epochs)


def train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    return _train(model, criterion, optimizer, train_loader, valid_loader, num_epochs)
