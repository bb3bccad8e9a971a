"""A 2D grid of floats in pure Python: the numbers behind a Matrix.

List2D knows nothing about gradients. It does the arithmetic, and Matrix
(in matrix.py) uses it for both the values and the gradients of a node.
"""

from __future__ import annotations

import math
import operator
from typing import Callable

Number = int | float


class List2D:
    """An nrow x ncol grid of floats, stored row by row in `vals`."""

    def __init__(self, nrow: int, ncol: int, val: Number | list[list[Number]] = 0.0) -> None:
        """Make an nrow x ncol grid.

        `val` is either one number, copied into every entry, or a list of
        nrow rows of ncol numbers each, copied into new lists of floats.
        """
        self.nrow = nrow
        self.ncol = ncol
        if isinstance(val, (int, float)):
            # One new list per row: [[v] * ncol] * nrow would share a single row.
            self.vals = [[float(val)] * ncol for _ in range(nrow)]
        else:
            self.vals = [[float(x) for x in row] for row in val]
            if len(self.vals) != nrow or any(len(row) != ncol for row in self.vals):
                lengths = [len(row) for row in self.vals]
                raise ValueError(
                    f"List2D({nrow}, {ncol}, ...) needs {nrow} rows of {ncol} values, "
                    f"got {len(lengths)} rows of lengths {lengths}"
                )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nrow, self.ncol)

    @property
    def data(self) -> list[list[float]]:
        """Another name for `vals` (the lecture slides write `self.data[i][j]`)."""
        return self.vals

    def __repr__(self) -> str:
        prefix = f"List2D({self.nrow}, {self.ncol}, "
        return prefix + str(self).replace("\n", "\n" + " " * len(prefix)) + ")"

    def __str__(self) -> str:
        # One row per line so that a grid reads like a grid.
        return "[" + ",\n ".join(str(row) for row in self.vals) + "]"

    # ----------------------------------------------------------------------
    # Reductions

    def sum(self) -> float:
        """Return the sum of all values."""
        return float(sum(sum(row) for row in self.vals))

    def mean(self) -> float:
        """Return the mean of all values, as a float.

        Add up all nrow * ncol values and divide by how many there are.
        For [[1, 2], [3, 6]] the mean is (1 + 2 + 3 + 6) / 4 = 3.0.
        Do not change self.
        """
        # BEGIN SOLUTION
        return self.sum() / (self.nrow * self.ncol)
        # END SOLUTION

    # ----------------------------------------------------------------------
    # Element-wise functions of one grid

    def _map(self, function: Callable[[float], float]) -> List2D:
        """Return a new grid with `function` applied to every value."""
        return List2D(self.nrow, self.ncol, [[function(x) for x in row] for row in self.vals])

    def abs(self) -> List2D:
        """Return a new List2D holding the absolute value of every value.

        The result has the same shape as self: entry [i][j] is |self.vals[i][j]|.
        For [[-1.5, 0.0, 2.0]] the result is [[1.5, 0.0, 2.0]].
        Do not change self.
        """
        # BEGIN SOLUTION
        data = [[abs(self.vals[i][j]) for j in range(self.ncol)] for i in range(self.nrow)]
        return List2D(*self.shape, data)
        # END SOLUTION

    def __abs__(self) -> List2D:
        """Make Python's built-in abs(grid) work: return the same as self.abs()."""
        # BEGIN SOLUTION
        return self.abs()
        # END SOLUTION

    def relu(self) -> List2D:
        """Return max(0, x) for every value x."""
        return self._map(lambda x: x if x > 0 else 0.0)

    def sigmoid(self) -> List2D:
        """Return 1 / (1 + e^-x) for every value x."""
        return self._map(_sigmoid)

    def __neg__(self) -> List2D:
        return self._map(operator.neg)

    # ----------------------------------------------------------------------
    # Broadcasting: a 1-row, 1-column or 1x1 grid stands in for a bigger one

    def broadcast(self, nrow: int, ncol: int) -> List2D:
        """Return a new nrow x ncol grid, repeating a single row and/or column.

        A 1 x ncol grid repeats its row nrow times, an nrow x 1 grid repeats
        its column ncol times, and a 1x1 grid repeats its only value.
        """
        if self.nrow not in (1, nrow) or self.ncol not in (1, ncol):
            raise ValueError(f"cannot broadcast shape {self.shape} to {(nrow, ncol)}")
        rows = self.vals * nrow if self.nrow == 1 else self.vals
        return List2D(nrow, ncol, [row * ncol if self.ncol == 1 else row for row in rows])

    def unbroadcast(self, nrow: int, ncol: int) -> List2D:
        """Return a new nrow x ncol grid, summing away the broadcast dimensions.

        This undoes broadcast for gradients: a value that was repeated into many
        entries receives the sum of the gradients of all those entries.
        """
        if nrow not in (1, self.nrow) or ncol not in (1, self.ncol):
            raise ValueError(f"cannot unbroadcast shape {self.shape} to {(nrow, ncol)}")
        vals = self.vals
        if nrow == 1:
            vals = [[sum(column) for column in zip(*vals)]]  # add up the rows
        if ncol == 1:
            vals = [[sum(row)] for row in vals]  # add up the columns
        return List2D(nrow, ncol, vals)

    # ----------------------------------------------------------------------
    # Element-wise functions of two grids (or of a grid and a number)

    def _elementwise(self, other: Number | List2D, function: Callable[[float, float], float]) -> List2D:
        """Return function(a, b) for each value a of self and matching value b of other.

        `other` is a number or a List2D; a 1-row, 1-column or 1x1 operand on
        either side is broadcast to the shape of the result.
        """
        if isinstance(other, (int, float)):
            return self._map(lambda a: function(a, other))
        if not isinstance(other, List2D):
            raise TypeError(f"a List2D combines with a number or a List2D, not {type(other).__name__}")
        nrow, ncol = _broadcast_shape(self.shape, other.shape)
        left, right = self.broadcast(nrow, ncol), other.broadcast(nrow, ncol)
        return List2D(
            nrow,
            ncol,
            [[function(a, b) for a, b in zip(row_a, row_b)] for row_a, row_b in zip(left.vals, right.vals)],
        )

    def __add__(self, other: Number | List2D) -> List2D:
        return self._elementwise(other, operator.add)

    def __radd__(self, other: Number) -> List2D:
        return self._elementwise(other, lambda a, b: b + a)

    def __sub__(self, other: Number | List2D) -> List2D:
        return self._elementwise(other, operator.sub)

    def __rsub__(self, other: Number) -> List2D:
        return self._elementwise(other, lambda a, b: b - a)  # other - self

    def __mul__(self, other: Number | List2D) -> List2D:
        return self._elementwise(other, operator.mul)

    def __rmul__(self, other: Number) -> List2D:
        return self._elementwise(other, lambda a, b: b * a)

    def __truediv__(self, other: Number | List2D) -> List2D:
        return self._elementwise(other, operator.truediv)

    def __rtruediv__(self, other: Number) -> List2D:
        return self._elementwise(other, lambda a, b: b / a)  # other / self

    def __pow__(self, other: Number | List2D) -> List2D:
        return self._elementwise(other, _power)

    # Comparisons give 1.0 where true and 0.0 where false, so that a
    # comparison can multiply a gradient: (x > 0) * grad keeps grad where x > 0.
    def __gt__(self, other: Number | List2D) -> List2D:
        return self._elementwise(other, lambda a, b: float(a > b))

    def __lt__(self, other: Number | List2D) -> List2D:
        return self._elementwise(other, lambda a, b: float(a < b))

    def __ge__(self, other: Number | List2D) -> List2D:
        return self._elementwise(other, lambda a, b: float(a >= b))

    def __le__(self, other: Number | List2D) -> List2D:
        return self._elementwise(other, lambda a, b: float(a <= b))

    # ----------------------------------------------------------------------
    # In-place updates (their names end in "_", or they are +=)

    def _fill_(self, value: float) -> List2D:
        for row in self.vals:
            row[:] = [value] * self.ncol
        return self

    def ones_(self) -> List2D:
        """Set every value to 1.0 in place and return self."""
        return self._fill_(1.0)

    def zeros_(self) -> List2D:
        """Set every value to 0.0 in place and return self."""
        return self._fill_(0.0)

    def __iadd__(self, other: Number | List2D) -> List2D:
        """self += other, in place: this is how gradients accumulate."""
        total = self + other
        if total.shape != self.shape:
            raise ValueError(f"cannot add shape {total.shape} into shape {self.shape} in place")
        for row, new_row in zip(self.vals, total.vals):
            row[:] = new_row
        return self

    # ----------------------------------------------------------------------
    # Matrix multiplication and transpose

    def __matmul__(self, other: List2D) -> List2D:
        """Matrix product: entry [i][j] is row i of self dotted with column j of other."""
        if not isinstance(other, List2D):
            raise TypeError(f"@ needs two List2Ds, not List2D and {type(other).__name__}")
        if self.ncol != other.nrow:
            raise ValueError(f"cannot multiply {self.shape} @ {other.shape}: {self.ncol} != {other.nrow}")
        columns = list(zip(*other.vals))
        return List2D(
            self.nrow,
            other.ncol,
            [[sum(a * b for a, b in zip(row, column)) for column in columns] for row in self.vals],
        )

    @property
    def T(self) -> List2D:
        """The transpose: rows become columns."""
        return List2D(self.ncol, self.nrow, [list(column) for column in zip(*self.vals)])


def _broadcast_shape(shape_a: tuple[int, int], shape_b: tuple[int, int]) -> tuple[int, int]:
    """The shape two operands broadcast to: per dimension, equal sizes or a size of 1."""
    if any(a != b and 1 not in (a, b) for a, b in zip(shape_a, shape_b)):
        raise ValueError(f"shapes {shape_a} and {shape_b} do not broadcast")
    return (max(shape_a[0], shape_b[0]), max(shape_a[1], shape_b[1]))


def _sigmoid(x: float) -> float:
    # Two forms, so that math.exp only sees x <= 0 and cannot overflow.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _power(base: float, exponent: float) -> float:
    result = base ** exponent
    # Python answers (-8.0) ** 0.5 with a complex number; a real grid needs nan (as PyTorch).
    return math.nan if isinstance(result, complex) else result
