"""Neural-network building blocks on top of Matrix, shaped like torch.nn."""

from __future__ import annotations

import math
import random

from .list2d import List2D
from .matrix import Matrix


class Module:
    """Base class: a layer or a whole model, with trainable Matrix parameters."""

    def __call__(self, *args: Matrix) -> Matrix:
        return self.forward(*args)

    def forward(self, *args: Matrix) -> Matrix:
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def parameters(self) -> list[Matrix]:
        """Every Matrix attribute, then the parameters of every sub-Module.

        Attributes that are lists or tuples of Matrices or Modules count too.
        A Matrix reached twice is listed once, so an optimizer steps it once.
        """
        found: dict[int, Matrix] = {}
        for value in vars(self).values():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, Matrix):
                    found.setdefault(id(item), item)
                elif isinstance(item, Module):
                    for parameter in item.parameters():
                        found.setdefault(id(parameter), parameter)
        return list(found.values())

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to zero, in place."""
        for parameter in self.parameters():
            parameter.grad.zeros_()


class Linear(Module):
    """y = x @ W.T + b.T for a batch x of shape (batch, in_features)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        # The same start as torch.nn.Linear: uniform on [-1/sqrt(in), 1/sqrt(in)].
        bound = 1 / math.sqrt(in_features)

        def uniform(nrow: int, ncol: int) -> Matrix:
            return Matrix(List2D(nrow, ncol, [[random.uniform(-bound, bound) for _ in range(ncol)] for _ in range(nrow)]))

        self.W = uniform(out_features, in_features)
        self.b = uniform(out_features, 1)

    def forward(self, x: Matrix) -> Matrix:
        # b.T is a single row, broadcast to every row (example) of the batch.
        return x @ self.W.T + self.b.T


class ReLU(Module):
    def forward(self, x: Matrix) -> Matrix:
        return x.relu()


class Sigmoid(Module):
    def forward(self, x: Matrix) -> Matrix:
        return x.sigmoid()


class MSELoss(Module):
    """Mean squared error."""

    def forward(self, prediction: Matrix, target: Matrix) -> Matrix:
        return ((target - prediction) ** 2).mean()


class MAELoss(Module):
    """Mean absolute error."""

    def forward(self, prediction: Matrix, target: Matrix) -> Matrix:
        """Return the mean absolute error between prediction and target, a 1x1 Matrix.

        That is the mean, over all entries, of |target - prediction| (the same
        value as torch.nn.L1Loss). Build it from Matrix operations (subtract,
        abs, mean) so that loss.backward() reaches the parameters. Do not
        change prediction or target.
        """
        # BEGIN SOLUTION
        return (target - prediction).abs().mean()
        # END SOLUTION
