# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Minibatch SGD
# Paired with descent.ipynb by jupytext.

# %%
import math

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split

try:
    from tqdm.auto import tqdm, trange
except ImportError:  # no progress bars, same results
    def tqdm(iterable, **kwargs):
        return iterable

    def trange(n, **kwargs):
        return range(n)

# %%
# Use the GPU if Colab gives us one
if torch.cuda.is_available():
    device = torch.device("cuda")
    print("Using the GPU")
else:
    device = torch.device("cpu")
print(f"Device: {device}")

# %%
torch.manual_seed(152)
x = torch.rand(100, 1) * 2 * math.pi - math.pi
y = torch.sin(x) + 0.1 * torch.randn(100, 1)
train_dataset, valid_dataset = random_split(TensorDataset(x, y), [80, 20])
len(train_dataset), len(valid_dataset)

# %%
def make_loaders(train_dataset, valid_dataset, batch_size, generator=None):
    train_loader = DataLoader(train_dataset, batch_size=batch_size, shuffle=True, generator=generator)
    valid_loader = DataLoader(valid_dataset, batch_size=len(valid_dataset))  # one batch, in order
    return train_loader, valid_loader

# %%
def train_batch_gd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses, valid_losses = [], []
    for epoch in tqdm(range(num_epochs), desc="Batch GD", leave=False):
        X, y = next(iter(train_loader))
        X, y = X.to(device), y.to(device)
        loss = criterion(model(X), y)
        train_losses.append(loss.item())  # recorded before the update?

        optimizer.zero_grad()  # needed every batch?
        loss.backward()
        optimizer.step()

        model.eval()
        with torch.no_grad():
            X_valid, y_valid = next(iter(valid_loader))
            valid_losses.append(criterion(model(X_valid.to(device)), y_valid.to(device)).item())
        model.train()
    return train_losses, valid_losses


def train_one_epoch(model, criterion, optimizer, loader, losses):
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        loss = criterion(model(X), y)
        losses.append(loss.item())
        optimizer.zero_grad()  # clear the old gradients?
        loss.backward()
        optimizer.step()


def validate(model, criterion, valid_loader):
    model.eval()
    with torch.no_grad():
        X, y = next(iter(valid_loader))
        loss = criterion(model(X.to(device)), y.to(device)).item()
    model.train()
    return loss


def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses, valid_losses = [], []
    for epoch in tqdm(range(num_epochs), desc="SGD", leave=False):
        train_one_epoch(model, criterion, optimizer, train_loader, train_losses)
        valid_losses.append(validate(model, criterion, valid_loader))
    return train_losses, valid_losses


def train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):
    train_losses, valid_losses = [], []
    progress = trange(num_epochs, desc="Minibatch SGD", leave=False)
    for epoch in progress:
        train_one_epoch(model, criterion, optimizer, train_loader, train_losses)
        valid_losses.append(validate(model, criterion, valid_loader))
        progress.set_postfix(valid_loss=valid_losses[-1])
    return train_losses, valid_losses

# %% [markdown]
# ## Experiments (minutes on a laptop)

# %%
model = nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 1)).to(device)
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
train_loader, valid_loader = make_loaders(train_dataset, valid_dataset, 80)
gd_train_losses, gd_valid_losses = train_batch_gd(model, criterion, optimizer, train_loader, valid_loader, 100)
plt.plot(gd_valid_losses, label="validation")
plt.legend()
plt.show()

# %%
results = {}
for batch_size in [1, 16]:
    model = nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 1)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
    train_loader, valid_loader = make_loaders(train_dataset, valid_dataset, batch_size)
    results[batch_size] = train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, 100)
    plt.plot(results[batch_size][1], label=f"batch size {batch_size}")
plt.show()
