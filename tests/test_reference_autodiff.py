"""The reference autodiff library (reference/autodiff) checked against PyTorch float64 autograd.

Every Matrix operation is run forward and backward on the same numbers in both
libraries. The inputs mix negative values and exact zeros; the backward pass
starts from a non-ones upstream gradient (the output times a constant matrix,
then summed), so a closure that forgets to multiply by result.grad fails.
"""

from __future__ import annotations

import ast
import importlib
import logging
import math
import random
import re
import shutil
import sys
from logging import info  # the lecture snippets below call info(...)
from pathlib import Path

import pytest
import torch

from reference.autodiff import (
    Linear,
    List2D,
    MAELoss,
    Matrix,
    Module,
    MSELoss,
    ReLU,
    Sigmoid,
    full,
    mat,
    ones,
    randn,
    zeros,
)

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "reference" / "autodiff"
RTOL, ATOL = 1e-9, 1e-12

SHAPES = [(1, 1), (1, 4), (4, 1), (3, 4)]
BROADCAST_PAIRS = [
    ((3, 4), (1, 4)),
    ((3, 4), (3, 1)),
    ((3, 4), (1, 1)),
    ((1, 4), (3, 4)),
    ((3, 1), (3, 4)),
    ((1, 1), (3, 4)),
    ((3, 1), (1, 4)),
    ((1, 4), (3, 1)),
    ((1, 1), (1, 1)),
]


# --------------------------------------------------------------------------
# Helpers


def sample(nrow: int, ncol: int, seed: int, nonzero: bool = False) -> list[list[float]]:
    """Values in a repeating pattern of negative, zero and positive (no zeros if nonzero)."""
    rng = random.Random(seed)
    rows = []
    for i in range(nrow):
        row = []
        for j in range(ncol):
            kind = (i * ncol + j + seed) % 3
            size = round(rng.uniform(0.25, 3.0), 4)
            if kind == 0:
                row.append(-size)
            elif kind == 1 and not nonzero:
                row.append(0.0)
            else:
                row.append(size)
        rows.append(row)
    return rows


def tensor(values, requires_grad: bool = True) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad)


def assert_close(got: List2D | float, expected: torch.Tensor, what: str = "") -> None:
    got_tensor = torch.tensor(got.vals if isinstance(got, List2D) else got, dtype=torch.float64)
    expected = expected.detach()
    if expected.dim() == 0 and got_tensor.dim() == 2:
        expected = expected.reshape(1, 1)  # our reductions are 1x1, torch's are 0-d
    assert got_tensor.shape == expected.shape, f"{what}: shape {tuple(got_tensor.shape)} != {tuple(expected.shape)}"
    assert torch.allclose(got_tensor, expected, rtol=RTOL, atol=ATOL, equal_nan=True), (
        f"{what}:\n got      {got_tensor.tolist()}\n expected {expected.tolist()}"
    )


def check_against_torch(op, inputs: list[list[list[float]]], seed: int = 0) -> None:
    """Run op on Matrices and on tensors made of `inputs`; compare outputs and gradients."""
    ours = [mat(values) for values in inputs]
    theirs = [tensor(values) for values in inputs]
    out, expected = op(*ours), op(*theirs)
    assert isinstance(out, Matrix)
    assert_close(out.data, expected, "forward")

    # A non-ones upstream gradient: d(sum(out * weights))/d(out) = weights.
    weights = sample(*out.shape, seed=seed + 100, nonzero=True)
    (out * mat(weights)).sum().backward()
    (expected * tensor(weights, requires_grad=False)).sum().backward()
    for index, (matrix, reference) in enumerate(zip(ours, theirs)):
        assert_close(matrix.grad, reference.grad, f"gradient of input {index}")


# --------------------------------------------------------------------------
# Matrix operations against torch


UNARY_OPS = {
    "sum": lambda a: a.sum(),
    "mean": lambda a: a.mean(),
    "abs": lambda a: a.abs(),
    "builtin_abs": lambda a: abs(a),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "neg": lambda a: -a,
    "transpose": lambda a: a.T,
    "square": lambda a: a**2,
    "cube": lambda a: a**3,
    "pow_float": lambda a: a**2.0,
    "add_scalar": lambda a: a + 2.5,
    "radd_scalar": lambda a: 2.5 + a,
    "sub_scalar": lambda a: a - 2.5,
    "rsub_scalar": lambda a: 2.5 - a,
    "mul_scalar": lambda a: a * -1.5,
    "rmul_scalar": lambda a: -1.5 * a,
    "div_scalar": lambda a: a / 4.0,
    "transpose_then_mean": lambda a: a.T.mean(),
}

# Ops that divide by the input, so it must not hold zeros.
UNARY_OPS_NONZERO = {
    "rdiv_scalar": lambda a: 4.0 / a,
    "pow_negative": lambda a: a**-1,
    "self_div": lambda a: a / a,
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY_OPS))
def test_unary_op_matches_torch(name, shape):
    for seed in range(3):  # the pattern starts at negative, zero and positive
        check_against_torch(UNARY_OPS[name], [sample(*shape, seed)], seed)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY_OPS_NONZERO))
def test_unary_op_on_nonzero_values_matches_torch(name, shape):
    for seed in range(3):
        check_against_torch(UNARY_OPS_NONZERO[name], [sample(*shape, seed, nonzero=True)], seed)


BINARY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("name", sorted(BINARY_OPS))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_binary_op_same_shape_matches_torch(name, shape):
    inputs = [sample(*shape, 1), sample(*shape, 2, nonzero=True)]
    check_against_torch(BINARY_OPS[name], inputs, 3)


@pytest.mark.parametrize("name", sorted(BINARY_OPS))
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_binary_op_broadcasting_matches_torch(name, shapes):
    left, right = shapes
    inputs = [sample(*left, 4), sample(*right, 5, nonzero=True)]
    check_against_torch(BINARY_OPS[name], inputs, 6)


@pytest.mark.parametrize(
    "shapes", [((1, 1), (1, 1)), ((1, 3), (3, 1)), ((3, 1), (1, 4)), ((3, 4), (4, 2)), ((2, 4), (4, 4))], ids=str
)
def test_matmul_matches_torch(shapes):
    left, right = shapes
    check_against_torch(lambda a, b: a @ b, [sample(*left, 7), sample(*right, 8)], 9)


def test_reductions_give_1x1_matrices():
    x = mat(sample(3, 4, 0))
    assert x.sum().shape == (1, 1)
    assert x.mean().shape == (1, 1)


COMPOSITE_OPS = {
    # A node used twice must receive both contributions.
    "x_times_x": lambda x: x * x,
    "x_plus_x": lambda x: x + x,
    "x_minus_x": lambda x: x - x,
    "abs_plus_x_mean": lambda x: (x.abs() + x).mean(),
    "x_matmul_xT": lambda x: x @ x.T,
    "xT_matmul_x": lambda x: x.T @ x,
    "relu_times_sigmoid": lambda x: (x * 2).relu() * x.sigmoid(),
    "mse_like": lambda x: ((x - 0.5) ** 2).mean() + x.abs().sum(),
    "row_broadcast_chain": lambda x: (x - x.mean()) / (x.abs().sum() + 1),
    "neg_abs_of_neg": lambda x: abs(-x) * x,
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(COMPOSITE_OPS))
def test_composite_graph_matches_torch(name, shape):
    for seed in range(3):
        check_against_torch(COMPOSITE_OPS[name], [sample(*shape, seed)], seed)


def test_two_inputs_sharing_a_broadcast_bias_match_torch():
    def network(x, w, b):
        hidden = (x @ w.T + b.T).relu()
        return (hidden * hidden.sigmoid() - b.T).mean()

    check_against_torch(network, [sample(5, 3, 0), sample(4, 3, 1), sample(4, 1, 2)], 3)


def test_abs_and_relu_have_zero_gradient_at_zero_like_torch():
    for op in (lambda a: a.abs(), lambda a: a.relu(), lambda a: abs(a)):
        x = mat([[0.0, -0.0, 2.0, -3.0]])
        op(x).sum().backward()
        reference = tensor([[0.0, -0.0, 2.0, -3.0]])
        op(reference).sum().backward()
        assert_close(x.grad, reference.grad)
        assert x.grad.vals[0][:2] == [0.0, 0.0]


def test_backward_seeds_the_output_with_ones():
    x = mat(sample(3, 4, 0))
    y = x * 3
    y.backward()  # not summed: the seed is a grid of ones
    assert y.grad.vals == [[1.0] * 4] * 3
    assert x.grad.vals == [[3.0] * 4] * 3


def test_backward_twice_accumulates_like_torch():
    values = sample(3, 4, 1)
    x, reference = mat(values), tensor(values)
    out = (x.abs() * x).mean()
    out.backward()
    out.backward()
    reference_out = (reference.abs() * reference).mean()
    reference_out.backward(retain_graph=True)
    reference_out.backward()
    assert_close(x.grad, reference.grad)


def test_backward_from_two_outputs_sharing_a_node_matches_torch():
    values = sample(2, 3, 2)
    x, reference = mat(values), tensor(values)
    hidden = x * x
    hidden.sum().backward()
    (hidden * 2).mean().backward()
    reference_hidden = reference * reference
    reference_hidden.sum().backward(retain_graph=True)
    (reference_hidden * 2).mean().backward()
    assert_close(x.grad, reference.grad)


def test_backward_handles_a_deep_graph():
    x = mat([[0.5]])
    y = x
    for _ in range(3000):  # deeper than Python's default recursion limit
        y = y + x
    y.backward()
    assert x.grad.vals == [[3001.0]]


def test_operations_do_not_change_their_inputs():
    values = sample(3, 4, 0)
    x = mat(values)
    for op in list(UNARY_OPS.values()) + list(COMPOSITE_OPS.values()):
        op(x)
    assert x.data.vals == values
    assert x.grad.vals == [[0.0] * 4] * 3


def test_every_gradient_closure_logs_its_op_and_shape(caplog):
    x = mat(sample(2, 3, 0))
    b = mat(sample(1, 3, 1, nonzero=True))
    out = ((-x + b) * b / b - 1) ** 2
    out = (out @ x.T).T.relu().sigmoid().abs().mean() + abs(x).sum()
    with caplog.at_level(logging.INFO):
        out.backward()
    logged = {record.getMessage() for record in caplog.records if record.name == "root"}
    for op in ["neg", "add", "mul", "div", "sub", "pow", "matmul", "transpose", "relu", "sigmoid", "abs", "mean", "sum"]:
        assert any(message.startswith(f"Gradient of {op}. Shape: (") for message in logged), op
    assert "Gradient of mean. Shape: (2, 2)" in logged
    assert "Gradient of sum. Shape: (2, 3)" in logged


# --------------------------------------------------------------------------
# The Matrix class itself


def test_matrix_fields():
    x = Matrix(List2D(2, 3, 1.5))
    assert (x.nrow, x.ncol, x.shape) == (2, 3, (2, 3))
    assert isinstance(x.grad, List2D) and x.grad.vals == [[0.0] * 3] * 2
    assert x.grad is not x.data
    assert len(x._children) == 0
    assert x._gradient() is None  # a leaf's closure does nothing
    y = x + x
    assert len(y._children) >= 1 and all(child is x for child in y._children)


def test_matrix_refuses_the_wrong_operand_types():
    x = mat([[1.0, 2.0]])
    with pytest.raises(TypeError):
        Matrix([[1.0, 2.0]])
    with pytest.raises(TypeError):
        x + "1"
    with pytest.raises(TypeError):
        x @ 2.0
    with pytest.raises(TypeError):
        x ** mat([[2.0]])
    with pytest.raises(ValueError):
        x @ x
    with pytest.raises(ValueError):
        x + mat([[1.0, 2.0, 3.0]])


def test_factories():
    assert full(2, 3, 7).data.vals == [[7.0] * 3] * 2
    assert zeros(3, 1).data.vals == [[0.0]] * 3
    assert ones(1, 2).data.vals == [[1.0, 1.0]]
    assert mat([[1, 2], [3, 4]]).data.vals == [[1.0, 2.0], [3.0, 4.0]]
    for factory in (full(2, 3, 7), zeros(2, 3), ones(2, 3), randn(2, 3), mat([[1, 2, 3], [4, 5, 6]])):
        assert isinstance(factory, Matrix) and factory.shape == (2, 3)
        assert factory.grad.vals == [[0.0] * 3] * 2

    random.seed(152)
    first = randn(40, 50).data.vals
    random.seed(152)
    assert randn(40, 50).data.vals == first  # drawn with the random module
    flat = [v for row in first for v in row]
    mean = sum(flat) / len(flat)
    std = math.sqrt(sum((v - mean) ** 2 for v in flat) / len(flat))
    assert abs(mean) < 0.1 and abs(std - 1) < 0.1
    with pytest.raises(ValueError):
        mat([[1, 2], [3]])


def test_matrix_repr_shows_data_and_grad():
    text = repr(mat([[1.5, -2.0], [0.0, 4.0]]))
    assert text.startswith("Matrix(") and "1.5" in text and "-2.0" in text and "grad" in text


# --------------------------------------------------------------------------
# List2D


def test_list2d_construction():
    grid = List2D(2, 3)
    assert grid.vals == [[0.0] * 3] * 2 and (grid.nrow, grid.ncol, grid.shape) == (2, 3, (2, 3))
    grid.vals[0][0] = 5.0
    assert grid.vals[1][0] == 0.0  # rows are separate lists
    assert List2D(1, 2, 3).vals == [[3.0, 3.0]]
    assert all(type(v) is float for v in List2D(1, 2, 3).vals[0])

    source = [[1, 2], [3, 4]]
    copied = List2D(2, 2, source)
    source[0][0] = 99
    assert copied.vals == [[1.0, 2.0], [3.0, 4.0]]
    assert all(type(v) is float for row in copied.vals for v in row)
    assert copied.data is copied.vals  # the lecture's name for vals
    with pytest.raises(ValueError):
        List2D(2, 2, [[1.0, 2.0]])
    with pytest.raises(ValueError):
        List2D(2, 2, [[1.0, 2.0], [3.0]])


def test_list2d_reductions_return_floats():
    grid = List2D(2, 2, [[1, 2], [3, 6]])
    assert grid.sum() == 12.0 and type(grid.sum()) is float
    assert grid.mean() == 3.0 and type(grid.mean()) is float
    for shape in SHAPES:
        values = sample(*shape, 1)
        assert_close(List2D(*shape, values).sum(), tensor(values).sum())
        assert_close(List2D(*shape, values).mean(), tensor(values).mean())


def test_list2d_abs_returns_a_new_grid():
    values = [[-1.5, 0.0, 2.0], [-0.0, 3.0, -4.25]]
    grid = List2D(2, 3, values)
    for result in (grid.abs(), abs(grid)):
        assert isinstance(result, List2D) and result is not grid
        assert result.vals == [[1.5, 0.0, 2.0], [0.0, 3.0, 4.25]]
    assert grid.vals == values


ELEMENTWISE = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "gt": lambda a, b: as_float(a > b),
    "lt": lambda a, b: as_float(a < b),
    "ge": lambda a, b: as_float(a >= b),
    "le": lambda a, b: as_float(a <= b),
}


def as_float(mask):
    """Our masks are already 1.0/0.0; torch's are booleans."""
    return mask.to(torch.float64) if isinstance(mask, torch.Tensor) else mask


@pytest.mark.parametrize("shapes", BROADCAST_PAIRS + [((3, 4), (3, 4))], ids=str)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_list2d_elementwise_matches_torch(name, shapes):
    left, right = shapes
    a, b = sample(*left, 1), sample(*right, 2, nonzero=True)
    if name == "pow":
        a = [[abs(v) + 0.5 for v in row] for row in a]  # a real power of any exponent needs a base > 0
    op = ELEMENTWISE[name]
    assert_close(op(List2D(*left, a), List2D(*right, b)), op(tensor(a, False), tensor(b, False)), name)
    for scalar in (2.0, -1.5, 3) if name == "div" else (2.0, 0.0, -1.5, 3):
        assert_close(op(List2D(*left, a), scalar), op(tensor(a, False), scalar), f"{name} with {scalar}")


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "gt", "lt", "ge", "le"])
def test_list2d_reflected_scalar_forms_match_torch(name):
    values = sample(3, 4, 0, nonzero=True)
    op = ELEMENTWISE[name]
    for scalar in (2.0, -1.5, 1):
        assert_close(op(scalar, List2D(3, 4, values)), op(scalar, tensor(values, False)), f"{scalar} {name} grid")


def test_list2d_unary_functions_match_torch():
    values = sample(3, 4, 0) + [[1000.0, -1000.0, 40.0, -40.0]]  # the sigmoid must not overflow
    grid, reference = List2D(4, 4, values), tensor(values, False)
    assert_close(-grid, -reference)
    assert_close(grid.relu(), reference.relu())
    assert_close(grid.sigmoid(), reference.sigmoid())
    assert_close(grid.T, reference.T)
    assert_close(grid @ grid.T, reference @ reference.T)
    assert_close(grid ** 2, reference**2)
    half = List2D(1, 2, [[-4.0, 4.0]]) ** 0.5
    assert math.isnan(half.vals[0][0]) and half.vals[0][1] == 2.0  # nan, as torch, not a complex number


def test_list2d_comparisons_are_masks_that_multiply_gradients():
    data = List2D(1, 4, [[-2.0, 0.0, 3.0, -0.0]])
    grad = List2D(1, 4, [[10.0, 20.0, 30.0, 40.0]])
    assert (data > 0).vals == [[0.0, 0.0, 1.0, 0.0]]
    assert (data < 0).vals == [[1.0, 0.0, 0.0, 0.0]]
    assert (data >= 0).vals == [[0.0, 1.0, 1.0, 1.0]]
    assert (data <= 0).vals == [[1.0, 1.0, 0.0, 1.0]]
    assert (0 < data).vals == (data > 0).vals
    assert ((data > 0) * grad).vals == [[0.0, 0.0, 30.0, 0.0]]
    assert (-(data < 0) * grad).vals == [[-10.0, -0.0, -0.0, -0.0]]
    assert (data > List2D(1, 1, -1.0)).vals == [[0.0, 1.0, 1.0, 1.0]]


def test_list2d_broadcast_and_unbroadcast():
    row, column, single = List2D(1, 3, [[1, 2, 3]]), List2D(2, 1, [[4], [5]]), List2D(1, 1, 7.0)
    assert row.broadcast(2, 3).vals == [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
    assert column.broadcast(2, 3).vals == [[4.0, 4.0, 4.0], [5.0, 5.0, 5.0]]
    assert single.broadcast(2, 2).vals == [[7.0, 7.0], [7.0, 7.0]]
    assert row.broadcast(1, 3).vals == row.vals and row.broadcast(1, 3) is not row

    grid = List2D(2, 3, [[1, 2, 3], [4, 5, 6]])
    assert grid.unbroadcast(1, 3).vals == [[5.0, 7.0, 9.0]]
    assert grid.unbroadcast(2, 1).vals == [[6.0], [15.0]]
    assert grid.unbroadcast(1, 1).vals == [[21.0]]
    same = grid.unbroadcast(2, 3)
    assert same.vals == grid.vals and same is not grid and same.vals[0] is not grid.vals[0]

    broadcast = row.broadcast(2, 3)
    broadcast.vals[0][0] = 99.0
    assert broadcast.vals[1][0] == 1.0 and row.vals[0][0] == 1.0  # no shared rows
    with pytest.raises(ValueError):
        grid.broadcast(3, 3)
    with pytest.raises(ValueError):
        grid.unbroadcast(3, 1)
    with pytest.raises(ValueError):
        grid + List2D(3, 1)


def test_list2d_in_place_methods():
    grid = List2D(2, 2, [[1, 2], [3, 4]])
    rows = grid.vals
    assert grid.ones_() is grid and grid.vals is rows and grid.vals == [[1.0, 1.0], [1.0, 1.0]]
    assert grid.zeros_() is grid and grid.vals is rows and grid.vals == [[0.0, 0.0], [0.0, 0.0]]

    before = grid
    grid += List2D(2, 2, [[1, 2], [3, 4]])
    grid += List2D(1, 2, [[10, 20]])  # a row broadcast into the grid
    grid += 0.5
    assert grid is before and grid.vals is rows
    assert grid.vals == [[11.5, 22.5], [13.5, 24.5]]
    with pytest.raises(ValueError):
        row = List2D(1, 2)
        row += List2D(2, 2)  # the result would not fit in place


def test_list2d_arithmetic_does_not_change_operands():
    a, b = List2D(2, 2, [[1, -2], [0, 4]]), List2D(1, 2, [[3, 5]])
    for result in (a + b, a - b, a * b, a / b, a**b, a @ a, a.T, -a, a.relu(), a.sigmoid(), a > b, 2 - a, 2 / b):
        assert result is not a and result is not b
    assert a.vals == [[1.0, -2.0], [0.0, 4.0]] and b.vals == [[3.0, 5.0]]


def test_list2d_repr_round_trips():
    grid = List2D(2, 3, [[1.5, -2.0, 0.0], [3.0, 0.1, -4.0]])
    text = repr(grid)
    assert text.startswith("List2D(2, 3, ")
    assert eval(text, {"List2D": List2D}).vals == grid.vals


# --------------------------------------------------------------------------
# The lecture's code, as written on the slides, runs against the library


class LectureList2D(List2D):
    def abs(self) -> List2D:
        data = [
            [abs(self.data[i][j]) for j in range(self.ncol)]
            for i in range(self.nrow)
        ]
        return List2D(*self.shape, data)

    def __abs__(self) -> List2D:
        return self.abs()

    def mean(self) -> float:
        """Compute the mean of all values in the matrix."""
        return self.sum() / (self.nrow * self.ncol)


class LectureMatrix(Matrix):
    def mean(self) -> Matrix:
        """Return the mean of all values across both dimensions."""
        result = Matrix(List2D(1, 1, self.data.mean()), children=(self,))

        def _gradient() -> None:
            info(f"Gradient of mean. Shape: {self.shape}")
            n = self.nrow * self.ncol
            self.grad += List2D(self.nrow, self.ncol, result.grad.vals[0][0] / n)

        result._gradient = _gradient
        return result

    def abs(self) -> Matrix:
        """Return the element-wise absolute matrix values."""
        result = Matrix(self.data.abs(), children=(self,))

        def _gradient() -> None:
            self.grad += (self.data > 0) * result.grad
            self.grad += -(self.data < 0) * result.grad

        result._gradient = _gradient
        return result

    def __abs__(self) -> Matrix:
        """Return the element-wise absolute matrix values."""
        return self.abs()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_lecture_snippets_work_and_agree_with_torch(shape):
    values = sample(*shape, 0)
    grid = LectureList2D(*shape, values)
    assert_close(grid.abs(), tensor(values, False).abs())
    assert_close(abs(grid), tensor(values, False).abs())
    assert_close(grid.mean(), tensor(values, False).mean())

    for op in (lambda a: a.mean(), lambda a: a.abs(), lambda a: abs(a), lambda a: (a.abs() * a).mean()):
        x, reference = LectureMatrix(List2D(*shape, values)), tensor(values)
        out, expected = op(x), op(reference)
        assert_close(out.data, expected)
        weights = sample(*out.shape, 5, nonzero=True)
        (out * mat(weights)).sum().backward()
        (expected * tensor(weights, False)).sum().backward()
        assert_close(x.grad, reference.grad)

        # The library's own versions agree with the slides.
        ours = op(Matrix(List2D(*shape, values)))
        assert ours.data.vals == out.data.vals


# --------------------------------------------------------------------------
# nn: layers and losses against torch.nn


class TwoLayerNetwork(Module):
    """The lecture demo's model: Linear(1, 10), ReLU, Linear(10, 1)."""

    def __init__(self) -> None:
        self.layer1 = Linear(1, 10)
        self.activation = ReLU()
        self.layer2 = Linear(10, 1)

    def forward(self, x: Matrix) -> Matrix:
        return self.layer2(self.activation(self.layer1(x)))


def torch_copy(model: TwoLayerNetwork) -> torch.nn.Sequential:
    reference = torch.nn.Sequential(torch.nn.Linear(1, 10), torch.nn.ReLU(), torch.nn.Linear(10, 1)).double()
    with torch.no_grad():
        for ours, theirs in ((model.layer1, reference[0]), (model.layer2, reference[2])):
            theirs.weight.copy_(torch.tensor(ours.W.data.vals, dtype=torch.float64))
            theirs.bias.copy_(torch.tensor(ours.b.data.vals, dtype=torch.float64).reshape(-1))
    return reference


def demo_data(count: int, seed: int) -> tuple[list[list[float]], list[list[float]]]:
    rng = random.Random(seed)
    xs = [rng.uniform(-math.pi, math.pi) for _ in range(count)]
    return [[x] for x in xs], [[math.sin(x) + 0.1 * rng.gauss(0.0, 1.0)] for x in xs]


def assert_same_parameters(model: TwoLayerNetwork, reference: torch.nn.Sequential, gradients: bool) -> None:
    for ours, theirs in ((model.layer1, reference[0]), (model.layer2, reference[2])):
        if gradients:
            assert_close(ours.W.grad, theirs.weight.grad, "W.grad")
            assert_close(ours.b.grad, theirs.bias.grad.reshape(-1, 1), "b.grad")
        else:
            assert_close(ours.W.data, theirs.weight, "W")
            assert_close(ours.b.data, theirs.bias.reshape(-1, 1), "b")


def test_linear_layer():
    random.seed(0)
    layer = Linear(3, 5)
    assert layer.W.shape == (5, 3) and layer.b.shape == (5, 1)
    assert all(abs(v) <= 1 / math.sqrt(3) for row in layer.W.data.vals + layer.b.data.vals for v in row)
    assert layer.parameters() == [layer.W, layer.b]
    assert all(not p._children for p in layer.parameters())  # parameters are leaves

    x = sample(4, 3, 1)
    out = layer(mat(x))
    expected = torch.nn.functional.linear(
        tensor(x, False), tensor(layer.W.data.vals, False), tensor(layer.b.data.vals, False).reshape(-1)
    )
    assert_close(out.data, expected)


@pytest.mark.parametrize("loss_name", ["mse", "mae"])
@pytest.mark.parametrize("batch_size", [1, 16, 80])
def test_network_loss_and_gradients_match_torch(loss_name, batch_size):
    random.seed(batch_size)
    model = TwoLayerNetwork()
    reference = torch_copy(model)
    criterion, reference_criterion = {
        "mse": (MSELoss(), torch.nn.MSELoss()),
        "mae": (MAELoss(), torch.nn.L1Loss()),
    }[loss_name]
    X, y = demo_data(batch_size, seed=batch_size)

    loss = criterion(model(mat(X)), mat(y))
    reference_loss = reference_criterion(reference(tensor(X, False)), tensor(y, False))
    assert loss.shape == (1, 1)
    assert_close(loss.data, reference_loss, "loss")

    loss.backward()
    reference_loss.backward()
    assert_same_parameters(model, reference, gradients=True)


@pytest.mark.parametrize("loss_name", ["mse", "mae"])
def test_minibatch_sgd_training_matches_torch(loss_name):
    random.seed(152)
    model = TwoLayerNetwork()
    reference = torch_copy(model)
    criterion, reference_criterion = {
        "mse": (MSELoss(), torch.nn.MSELoss()),
        "mae": (MAELoss(), torch.nn.L1Loss()),
    }[loss_name]
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.02)
    X, y = demo_data(40, seed=1)

    for _ in range(3):  # epochs
        for start in range(0, len(X), 16):  # the last batch holds the leftovers
            X_batch, y_batch = X[start : start + 16], y[start : start + 16]

            loss = criterion(model(mat(X_batch)), mat(y_batch))
            model.zero_grad()
            loss.backward()
            for parameter in model.parameters():
                parameter.data = parameter.data - 0.02 * parameter.grad

            reference_loss = reference_criterion(reference(tensor(X_batch, False)), tensor(y_batch, False))
            optimizer.zero_grad()
            reference_loss.backward()
            optimizer.step()

            assert_close(loss.data, reference_loss, "batch loss")
    assert_same_parameters(model, reference, gradients=False)


def either(ours, theirs):
    """One op for check_against_torch: ours on Matrices, theirs on tensors."""
    return lambda *args: theirs(*args) if isinstance(args[0], torch.Tensor) else ours(*args)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_losses_match_torch_where_prediction_equals_target(shape):
    # Where prediction == target exactly, |x|'s gradient at 0 is 0.
    prediction = sample(*shape, 0)
    target = [[v if (i + j) % 2 == 0 else v + 1.25 for j, v in enumerate(row)] for i, row in enumerate(prediction)]
    check_against_torch(either(MSELoss(), torch.nn.MSELoss()), [prediction, target])
    check_against_torch(either(MAELoss(), torch.nn.L1Loss()), [prediction, target])


def test_losses_do_not_change_their_inputs_and_have_no_parameters():
    prediction, target = mat([[1.0, -2.0]]), mat([[0.5, 0.0]])
    for criterion in (MSELoss(), MAELoss()):
        loss = criterion(prediction, target)
        assert isinstance(loss, Matrix) and loss.shape == (1, 1)
        assert criterion.parameters() == []
    assert prediction.data.vals == [[1.0, -2.0]] and target.data.vals == [[0.5, 0.0]]
    assert MAELoss()(prediction, target).data.vals == [[(0.5 + 2.0) / 2]]
    assert MSELoss()(prediction, target).data.vals == [[(0.25 + 4.0) / 2]]


def test_activation_modules():
    values = sample(3, 4, 0)
    assert_close(ReLU()(mat(values)).data, tensor(values, False).relu())
    assert_close(Sigmoid()(mat(values)).data, tensor(values, False).sigmoid())
    assert ReLU().parameters() == [] and Sigmoid().parameters() == []


def test_parameters_and_zero_grad():
    random.seed(3)
    model = TwoLayerNetwork()
    parameters = model.parameters()
    assert parameters == [model.layer1.W, model.layer1.b, model.layer2.W, model.layer2.b]

    X, y = demo_data(8, seed=2)
    MSELoss()(model(mat(X)), mat(y)).backward()
    once = [[row[:] for row in p.grad.vals] for p in parameters]
    MSELoss()(model(mat(X)), mat(y)).backward()  # without zero_grad: gradients add up
    for parameter, first in zip(parameters, once):
        assert_close(parameter.grad, 2 * torch.tensor(first, dtype=torch.float64))

    grads = [p.grad for p in parameters]
    model.zero_grad()
    assert all(p.grad is g for p, g in zip(parameters, grads))  # zeroed in place
    assert all(v == 0.0 for p in parameters for row in p.grad.vals for v in row)


def test_parameters_finds_lists_and_shared_matrices_once():
    class Net(Module):
        def __init__(self) -> None:
            self.layers = [Linear(2, 3), ReLU(), Linear(3, 1)]
            self.scale = ones(1, 1)
            self.same_scale = self.scale
            self.name = "not a parameter"

        def forward(self, x: Matrix) -> Matrix:
            for layer in self.layers:
                x = layer(x)
            return x * self.scale

    net = Net()
    assert len(net.parameters()) == 5
    assert net(mat([[1.0, 2.0]])).shape == (1, 1)
    with pytest.raises(NotImplementedError):
        Module()(mat([[1.0]]))


# --------------------------------------------------------------------------
# Solution markers: exactly the students' functions, and the rest stands without them


SOLUTION_FUNCTIONS = {
    ("list2d.py", "List2D", "mean"),
    ("list2d.py", "List2D", "abs"),
    ("list2d.py", "List2D", "__abs__"),
    ("matrix.py", "Matrix", "mean"),
    ("matrix.py", "Matrix", "abs"),
    ("matrix.py", "Matrix", "__abs__"),
    ("nn.py", "MAELoss", "forward"),
}
MARKED_BODY = re.compile(r"^([ \t]*)# BEGIN SOLUTION\n.*?^\1# END SOLUTION\n", re.MULTILINE | re.DOTALL)


def test_solution_markers_wrap_exactly_the_students_functions():
    found = set()
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        assert source.count("# BEGIN SOLUTION") == source.count("# END SOLUTION")
        for cls in (node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)):
            for function in (node for node in cls.body if isinstance(node, ast.FunctionDef)):
                # The closing marker is a comment, so it lies just past the function's last statement.
                body = lines[function.body[0].end_lineno : function.end_lineno + 1]
                if not any("# BEGIN SOLUTION" in line for line in body):
                    continue
                found.add((path.name, cls.name, function.name))
                docstring = ast.get_docstring(function)
                assert docstring, f"{cls.name}.{function.name} needs a docstring for students"
                indent = " " * function.body[0].col_offset
                assert body[0] == indent + "# BEGIN SOLUTION", f"{cls.name}.{function.name}: marker right after docstring"
                assert body[-1] == indent + "# END SOLUTION", f"{cls.name}.{function.name}: marker at the end"
    assert found == SOLUTION_FUNCTIONS


@pytest.fixture
def stubbed_package(tmp_path):
    """The library with every solution replaced by raise NotImplementedError, as students get it."""
    package = tmp_path / "autodiff"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    for path in package.glob("*.py"):
        source = path.read_text()
        path.write_text(MARKED_BODY.sub(lambda m: f'{m.group(1)}raise NotImplementedError("your code here")\n', source))
    saved = {name: module for name, module in sys.modules.items() if name == "autodiff" or name.startswith("autodiff.")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("autodiff")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "autodiff" or n.startswith("autodiff.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_student_stubs_raise_and_everything_else_still_works(stubbed_package):
    ad = stubbed_package
    assert "BEGIN SOLUTION" not in (Path(ad.__file__).parent / "matrix.py").read_text()
    grid = ad.List2D(2, 2, [[1, -2], [0, 4]])
    x = ad.mat([[1.0, -2.0], [0.0, 4.0]])
    for call in (grid.mean, grid.abs, lambda: abs(grid), x.mean, x.abs, lambda: abs(x),
                 lambda: ad.MAELoss()(x, x)):
        with pytest.raises(NotImplementedError):
            call()
    assert ad.Matrix.mean.__doc__ and ad.MAELoss.forward.__doc__

    # The rest of the library does not lean on the students' functions.
    random.seed(0)
    model = ad.Linear(2, 3)
    out = (ad.Sigmoid()(model(x)) * 2 - 1).relu() ** 2 / 3 + x.sum()
    out.sum().backward()
    assert model.W.grad.shape == (3, 2) and any(v != 0 for row in model.W.grad.vals for v in row)
    model.zero_grad()
    assert repr(x) and repr(grid) and (grid > 0).vals == [[1.0, 0.0], [0.0, 1.0]]
