"""Reverse-mode automatic differentiation on matrices, in the style of micrograd.

Every operation makes a new Matrix that remembers its inputs (`_children`)
and a `_gradient` closure. Given the result's gradient, the closure adds
(+=) the gradient of each input into that input's `.grad`. `backward()`
calls the closures from the output back to the inputs.

Turn on `logging.basicConfig(level=logging.INFO)` to watch the closures run.
"""

from __future__ import annotations

import random
from logging import info
from typing import Iterable

from .list2d import List2D, Number


class Matrix:
    """A node of the computation graph: values in `data`, gradients in `grad`."""

    def __init__(self, data: List2D, children: Iterable[Matrix] = ()) -> None:
        if not isinstance(data, List2D):
            raise TypeError(f"Matrix wants a List2D, not {type(data).__name__} (use mat([[...]]) for a list of lists)")
        self.data = data
        self.grad = List2D(*data.shape)  # zeros: nothing has flowed back yet
        self._children = tuple(children)
        self._gradient = lambda: None  # a leaf has no inputs to pass a gradient to

    @property
    def nrow(self) -> int:
        return self.data.nrow

    @property
    def ncol(self) -> int:
        return self.data.ncol

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape

    def __repr__(self) -> str:
        # Continuation rows line up under the first row.
        newline = "\n" + " " * len("Matrix(data=")
        data, grad = (str(grid).replace("\n", newline) for grid in (self.data, self.grad))
        return f"Matrix(data={data},\n       grad={grad})"

    # ----------------------------------------------------------------------
    # Backpropagation

    def backward(self) -> None:
        """Fill in `.grad` of every Matrix this one was computed from."""
        # Topological order: every node comes after all of its children.
        # (A loop with a stack rather than recursion, so deep graphs do not
        # hit Python's recursion limit.)
        order: list[Matrix] = []
        visited: set[int] = set()
        stack: list[tuple[Matrix, bool]] = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
            elif id(node) not in visited:
                visited.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._children)

        # Gradients of intermediate results start again from zero on every
        # pass, so a second backward() adds to the leaves once more, not twice.
        for node in order:
            if node._children:
                node.grad.zeros_()
        self.grad += List2D(*self.shape, 1.0)

        for node in reversed(order):
            node._gradient()

    # ----------------------------------------------------------------------
    # Reductions

    def sum(self) -> Matrix:
        """Return the sum of all values, as a 1x1 Matrix."""
        result = Matrix(List2D(1, 1, self.data.sum()), children=(self,))

        def _gradient() -> None:
            info(f"Gradient of sum. Shape: {self.shape}")
            # Every value adds to the sum with weight 1.
            self.grad += result.grad.broadcast(*self.shape)

        result._gradient = _gradient
        return result

    def mean(self) -> Matrix:
        """Return the mean of all values, as a new 1x1 Matrix.

        Forward: the result is Matrix(List2D(1, 1, m), children=(self,)) where
        m = self.data.mean(), the mean of all n = nrow * ncol values.

        Gradient: each value counts 1/n toward the mean, so the closure adds
        result.grad.vals[0][0] / n to every entry of self.grad (with +=, an
        nrow x ncol List2D). It logs
        info(f"Gradient of mean. Shape: {self.shape}").

        Do not change self.data. Set result._gradient to the closure and
        return result.
        """
        raise NotImplementedError("Matrix.mean is not implemented yet")

    # ----------------------------------------------------------------------
    # Element-wise functions of one matrix

    def abs(self) -> Matrix:
        """Return the absolute value of every value, as a new Matrix.

        Forward: the result is Matrix(self.data.abs(), children=(self,)), with
        the same shape as self.

        Gradient: d|x|/dx is +1 where x > 0, -1 where x < 0 and 0 where
        x == 0 (the same choice as PyTorch). The closure adds that times
        result.grad, entry by entry, into self.grad (with +=). Hint: the
        comparison (self.data > 0) is a List2D of 1.0s and 0.0s. It logs
        info(f"Gradient of abs. Shape: {self.shape}").

        Do not change self.data. Set result._gradient to the closure and
        return result.
        """
        raise NotImplementedError("Matrix.abs is not implemented yet")

    def __abs__(self) -> Matrix:
        """Make Python's built-in abs(matrix) work: return the same as self.abs()."""
        raise NotImplementedError("Matrix.__abs__ is not implemented yet")

    def relu(self) -> Matrix:
        """Return max(0, x) for every value x."""
        result = Matrix(self.data.relu(), children=(self,))

        def _gradient() -> None:
            info(f"Gradient of relu. Shape: {self.shape}")
            # Slope 1 where x > 0, else 0 (0 at x == 0 too, as in PyTorch).
            self.grad += (self.data > 0) * result.grad

        result._gradient = _gradient
        return result

    def sigmoid(self) -> Matrix:
        """Return 1 / (1 + e^-x) for every value x."""
        result = Matrix(self.data.sigmoid(), children=(self,))

        def _gradient() -> None:
            info(f"Gradient of sigmoid. Shape: {self.shape}")
            s = result.data
            self.grad += s * (1 - s) * result.grad

        result._gradient = _gradient
        return result

    def __neg__(self) -> Matrix:
        result = Matrix(-self.data, children=(self,))

        def _gradient() -> None:
            info(f"Gradient of neg. Shape: {self.shape}")
            self.grad += -result.grad

        result._gradient = _gradient
        return result

    def __pow__(self, exponent: Number) -> Matrix:
        """Raise every value to a number: x ** exponent."""
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"a Matrix can only be raised to a number, not {type(exponent).__name__}")
        result = Matrix(self.data**exponent, children=(self,))

        def _gradient() -> None:
            info(f"Gradient of pow. Shape: {self.shape}")
            self.grad += exponent * self.data ** (exponent - 1) * result.grad

        result._gradient = _gradient
        return result

    # ----------------------------------------------------------------------
    # Element-wise functions of two matrices. A 1-row, 1-column or 1x1
    # operand is broadcast in the forward pass, so its gradient is summed
    # back to its own shape with unbroadcast.

    def __add__(self, other: Matrix | Number) -> Matrix:
        other = _as_matrix(other)
        result = Matrix(self.data + other.data, children=(self, other))

        def _gradient() -> None:
            info(f"Gradient of add. Shape: {self.shape}")
            self.grad += result.grad.unbroadcast(*self.shape)
            other.grad += result.grad.unbroadcast(*other.shape)

        result._gradient = _gradient
        return result

    def __sub__(self, other: Matrix | Number) -> Matrix:
        other = _as_matrix(other)
        result = Matrix(self.data - other.data, children=(self, other))

        def _gradient() -> None:
            info(f"Gradient of sub. Shape: {self.shape}")
            self.grad += result.grad.unbroadcast(*self.shape)
            other.grad += (-result.grad).unbroadcast(*other.shape)

        result._gradient = _gradient
        return result

    def __mul__(self, other: Matrix | Number) -> Matrix:
        other = _as_matrix(other)
        result = Matrix(self.data * other.data, children=(self, other))

        def _gradient() -> None:
            info(f"Gradient of mul. Shape: {self.shape}")
            self.grad += (other.data * result.grad).unbroadcast(*self.shape)
            other.grad += (self.data * result.grad).unbroadcast(*other.shape)

        result._gradient = _gradient
        return result

    def __truediv__(self, other: Matrix | Number) -> Matrix:
        other = _as_matrix(other)
        result = Matrix(self.data / other.data, children=(self, other))

        def _gradient() -> None:
            info(f"Gradient of div. Shape: {self.shape}")
            # d(a/b)/da = 1/b and d(a/b)/db = -a/b^2
            self.grad += (result.grad / other.data).unbroadcast(*self.shape)
            other.grad += (-result.grad * self.data / other.data**2).unbroadcast(*other.shape)

        result._gradient = _gradient
        return result

    # Reflected forms: Python calls these for `number + matrix` and friends.
    def __radd__(self, other: Number) -> Matrix:
        return _as_matrix(other) + self

    def __rsub__(self, other: Number) -> Matrix:
        return _as_matrix(other) - self

    def __rmul__(self, other: Number) -> Matrix:
        return _as_matrix(other) * self

    def __rtruediv__(self, other: Number) -> Matrix:
        return _as_matrix(other) / self

    # ----------------------------------------------------------------------
    # Matrix multiplication and transpose

    def __matmul__(self, other: Matrix) -> Matrix:
        if not isinstance(other, Matrix):
            raise TypeError(f"@ needs two Matrices, not Matrix and {type(other).__name__}")
        result = Matrix(self.data @ other.data, children=(self, other))

        def _gradient() -> None:
            info(f"Gradient of matmul. Shape: {self.shape}")
            # For C = A @ B: dA = dC @ B^T and dB = A^T @ dC.
            self.grad += result.grad @ other.data.T
            other.grad += self.data.T @ result.grad

        result._gradient = _gradient
        return result

    @property
    def T(self) -> Matrix:
        """The transpose: rows become columns."""
        result = Matrix(self.data.T, children=(self,))

        def _gradient() -> None:
            info(f"Gradient of transpose. Shape: {self.shape}")
            self.grad += result.grad.T

        result._gradient = _gradient
        return result


def _as_matrix(value: Matrix | Number) -> Matrix:
    """A number becomes a 1x1 constant Matrix, which broadcasts to any shape."""
    if isinstance(value, Matrix):
        return value
    if isinstance(value, (int, float)):
        return full(1, 1, value)
    raise TypeError(f"a Matrix combines with a number or a Matrix, not {type(value).__name__}")


# --------------------------------------------------------------------------
# Factories


def full(nrow: int, ncol: int, val: Number) -> Matrix:
    """An nrow x ncol Matrix with every value equal to val."""
    return Matrix(List2D(nrow, ncol, val))


def zeros(nrow: int, ncol: int) -> Matrix:
    """An nrow x ncol Matrix of zeros."""
    return full(nrow, ncol, 0.0)


def ones(nrow: int, ncol: int) -> Matrix:
    """An nrow x ncol Matrix of ones."""
    return full(nrow, ncol, 1.0)


def randn(nrow: int, ncol: int) -> Matrix:
    """An nrow x ncol Matrix of samples from the standard normal distribution."""
    return Matrix(List2D(nrow, ncol, [[random.gauss(0.0, 1.0) for _ in range(ncol)] for _ in range(nrow)]))


def mat(values: list[list[Number]]) -> Matrix:
    """A Matrix from a list of rows, e.g. mat([[1, 2], [3, 4]])."""
    if not values or not values[0]:
        raise ValueError("mat needs at least one row with at least one value")
    return Matrix(List2D(len(values), len(values[0]), values))
