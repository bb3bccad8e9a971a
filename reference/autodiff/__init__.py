"""A small teaching autodiff library: List2D numbers, Matrix gradients, nn layers."""

from .list2d import List2D
from .matrix import Matrix, full, mat, ones, randn, zeros
from .nn import Linear, MAELoss, Module, MSELoss, ReLU, Sigmoid

__all__ = [
    "List2D",
    "Matrix",
    "full",
    "zeros",
    "ones",
    "randn",
    "mat",
    "Module",
    "Linear",
    "ReLU",
    "Sigmoid",
    "MSELoss",
    "MAELoss",
]
