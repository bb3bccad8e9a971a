"""The descent assignment's fixtures: the lecture's seeded data, model and loaders, and
the instrumentation that records what a training loop does with them.

Used by the probes inside the sandbox child (next to student code) and, through the
same probes, for the reference run in the grading process. Nothing here judges: the
trace is plain data that ``checks.py`` reads.

Everything is seeded with private generators (``torch.random.fork_rng`` for the
model's initialisation), so building the fixtures never changes PyTorch's global
random state and the reference's trajectory is the same in every process.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy
import torch
from torch import nn
from torch.nn import functional
from torch.optim import optimizer as torch_optimizer  # its registries of global step hooks
from torch.utils.data import DataLoader, TensorDataset, random_split

# The lecture's setup (see COURSE.md, "The descent lecture's demo notebook").
N_POINTS = 100
N_TRAIN = 80
N_VALID = N_POINTS - N_TRAIN
NOISE = 0.1
HIDDEN = 10
LEARNING_RATE = 0.02
BATCH_SIZES = {"train_batch_gd": N_TRAIN, "train_sgd": 1, "train_minibatch_sgd": 16}

# Seeds: the notebook built by authoring.py uses the same ones, so its plots show the
# same data and the same starting model as the grader's.
DATA_SEED = 152
SPLIT_SEED = 2025
MODEL_SEED = 6
LOADER_SEED = 11
GLOBAL_SEED = 0  # PyTorch's global generator during a probe (see probes._private_rng)

MAX_EVENTS = 12_000  # cap on a trace's event log (5 epochs of SGD need about 2,000)
MAX_VALUES = 20_000  # cap on the number of returned losses reported back
MAX_ROWS = 4 * N_POINTS  # cap on the rows of one loader batch reported back (a batch holds at most N_POINTS)
MAX_BATCHES = 200  # cap on the batches of one loader pass reported back


def make_data() -> tuple[torch.Tensor, torch.Tensor]:
    """100 points: x uniform on [-pi, pi], y = sin(x) + 0.1 standard normal noise; shapes (100, 1)."""
    generator = torch.Generator().manual_seed(DATA_SEED)
    x = torch.rand(N_POINTS, 1, generator=generator) * 2 * math.pi - math.pi
    y = torch.sin(x) + NOISE * torch.randn(N_POINTS, 1, generator=generator)
    return x, y


def make_datasets():
    """The 80/20 training/validation split (two ``Subset``s of one ``TensorDataset``)."""
    x, y = make_data()
    split = torch.Generator().manual_seed(SPLIT_SEED)
    train, valid = random_split(TensorDataset(x, y), [N_TRAIN, N_VALID], generator=split)
    return train, valid


def seed_cpu(seed: int) -> None:
    """Seed PyTorch's global CPU generator, all that a CPU run draws from. (``torch.manual_seed``
    also queues seeds for the accelerators, formatting a stack trace each time: 0.1-0.3 ms.)"""
    torch.default_generator.manual_seed(seed)


def make_model(cls: type[nn.Sequential] = nn.Sequential) -> nn.Sequential:
    """The lecture's 1-10-1 network with a ReLU, initialised from MODEL_SEED."""
    with torch.random.fork_rng(devices=[]):
        seed_cpu(MODEL_SEED)
        return cls(nn.Linear(1, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))


def make_loaders(train, valid, batch_size: int, generator: torch.Generator | None = None, cls=DataLoader):
    """The reference loaders (the same as the reference ``make_loaders``), of class ``cls``."""
    train_loader = cls(train, batch_size=batch_size, shuffle=True, generator=generator)
    valid_loader = cls(valid, batch_size=len(valid), shuffle=False)
    return train_loader, valid_loader


def rows(dataset) -> tuple[list[float], torch.Tensor]:
    """A dataset's x values (as Python floats, in dataset order) and its targets, shape (n, 1)."""
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(xs).reshape(-1).tolist(), torch.stack(ys).reshape(-1, 1)


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, NaN equal to NaN (a diverged run must not look like a changed one)."""
    if torch.equal(a, b):
        return True
    return a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all())


def parameters_list(model: nn.Module) -> list[float]:
    return [value for p in model.parameters() for value in p.detach().reshape(-1).tolist()]


def _mse_gradient(output: torch.Tensor, target: torch.Tensor | None) -> list[float] | None:
    """The gradient MSELoss (mean) sends back to ``output`` for these targets, as floats.

    Plain floats, not tensors: for the few rows of a batch that is several times cheaper
    than tensor arithmetic, and this runs at every training forward."""
    if target is None or output.numel() != target.numel():
        return None
    n = target.numel()
    return [2 * (o - t) / n for o, t in zip(output.detach().reshape(-1).tolist(), target.reshape(-1).tolist())]


def _one_row_mse(output: torch.Tensor, target: float) -> tuple[float, float] | None:
    """(MSE, output) of a single float32 output against its row's target, as floats, if cheaply exact.

    The float32 arithmetic MSELoss does on one element, (o - t) * (o - t), done on NumPy
    scalars: the same bits as ``functional.mse_loss`` at a tenth of its cost, and SGD
    makes a forward of one row at every update. None where that might overflow (or is
    not finite), which the general path handles."""
    if output.dtype != torch.float32 or output.numel() != 1:
        return None
    o = output.detach().item()
    if not abs(o - target) < 1e19:
        return None
    d = numpy.float32(o) - numpy.float32(target)
    return float(d * d), o


def _equal_gradients(grad: torch.Tensor | None, expected: list[float] | None) -> bool:
    if grad is None or expected is None or grad.numel() != len(expected):
        return False
    return all(math.isclose(g, e, rel_tol=1e-3, abs_tol=1e-7) for g, e in zip(grad.detach().reshape(-1).tolist(), expected))


class Targets(NamedTuple):
    """A dataset's targets: a tensor of shape (n, 1), and the same as floats."""

    tensor: torch.Tensor
    floats: list[float]


class Trace:
    """The event log of one training run.

    Events (short lists, in the order they happened):

    - ``["T"]`` a pass over the training loader starts; ``["t", n]`` it yields a batch of n.
    - ``["V"]`` / ``["v", n]`` the same for the validation loader.
    - ``["F", fid, kind, n, updates, mse]`` a forward pass of the model on n rows, with
      ``kind`` ``"t"`` (exactly the training loader's latest batch), ``"A"`` (the whole
      training set, but not as the latest batch), ``"T"`` (other training rows), ``"v"``
      (the whole validation set), ``"p"`` (part of the validation set) or ``"o"``
      (anything else); ``updates`` is the number of parameter updates made so far and
      ``mse`` the mean squared error of that output against the rows' true targets
      (what ``criterion`` gives; None if the rows are unknown).
    - ``["B", fid, clean, criterion]`` a backward pass through the output of forward
      ``fid`` (-1: not through a traced output); ``clean`` says every parameter's
      gradient was empty (None or zero) before this backward added to it;
      ``criterion`` that the gradient reaching the output was that of the MSE of
      the output against its rows' targets (what ``criterion(model(X), y)`` sends).
    - ``["Z"]`` ``optimizer.zero_grad()``.
    - ``["S", status, standard]`` ``optimizer.step()``; ``standard`` says the
      optimizer's settings are still those it was given (lr 0.02, plain SGD);
      ``status`` describes the gradients it used: ``"fresh"`` (exactly those of the latest backward), ``"none"`` (all None),
      ``"zero"`` (all zero), ``"stale"`` (no backward since the previous step) or
      ``"accumulated"`` (anything else, e.g. the sum of several backwards).
    - ``["P"]`` the parameters changed without ``optimizer.step()`` (another
      optimizer or a hand-written update).
    """

    def __init__(self, train, valid):
        self.events: list[list] = []
        self.truncated = False
        self.counts: dict[str, int] = {}
        train_x, self.train_y = rows(train)
        valid_x, self.valid_y = rows(valid)
        self.train_targets = Targets(self.train_y, self.train_y.reshape(-1).tolist())
        self.valid_targets = Targets(self.valid_y, self.valid_y.reshape(-1).tolist())
        self.train_index = {value: i for i, value in enumerate(train_x)}
        self.valid_index = {value: i for i, value in enumerate(valid_x)}
        if len(self.train_index) != len(train_x) or set(self.train_index) & set(self.valid_index):
            raise RuntimeError("fixture bug: x values must identify the rows")
        self.current_batch: tuple[int, ...] | None = None
        self.updates = 0
        self.forwards = 0
        self.params: list[torch.Tensor] = []
        self.snapshot: list[torch.Tensor] = []
        self.fresh: dict[int, torch.Tensor] = {}
        self.backwards_since_step = 0
        self.open_backward: list | None = None

    def log(self, event: list) -> None:
        self.counts[event[0]] = self.counts.get(event[0], 0) + 1
        if len(self.events) < MAX_EVENTS:
            self.events.append(event)
        else:
            self.truncated = True

    # -- the model -------------------------------------------------------------------
    def watch(self, model: nn.Module) -> None:
        self.params = list(model.parameters())
        self.snapshot = [p.detach().clone() for p in self.params]
        for i, p in enumerate(self.params):
            p.register_hook(lambda grad, i=i: self._incoming(i, grad))

    def _incoming(self, i: int, grad: torch.Tensor) -> None:
        """A backward pass brings ``grad`` to parameter ``i``, about to be added to its ``.grad``.

        The backward is not clean if ``.grad`` will then hold anything but ``grad``. That is
        decided here, on the sum autograd is about to make: after zero_grad ``.grad`` is
        None and there is nothing to compare, where a hook after the addition would compare
        at every backward."""
        if self.open_backward is None:  # a backward that did not pass through a traced output
            self._backward(-1)
        leftover = self.params[i].grad
        if leftover is not None and not same(leftover + grad, grad):
            self.open_backward[2] = False
        self.fresh[i] = grad.detach().clone()

    def _backward(self, fid: int, grad: torch.Tensor | None = None, expected: list[float] | None = None) -> None:
        event = ["B", fid, True, _equal_gradients(grad, expected)]
        self.log(event)
        self.open_backward = event
        self.backwards_since_step += 1

    def check_parameters(self) -> None:
        """Log a ``P`` event if the parameters changed since the last look."""
        if all(map(torch.equal, self.params, self.snapshot)):  # the usual answer, found cheaply
            return
        if any(not same(p.detach(), s) for p, s in zip(self.params, self.snapshot)):
            self.updates += 1
            self.log(["P"])
            self.snapshot = [p.detach().clone() for p in self.params]

    def forward(self, X, output) -> None:
        self.check_parameters()
        self.open_backward = None
        fid = self.forwards
        self.forwards += 1
        kind, n, targets, rows = self._identify(X)
        requires_grad = isinstance(output, torch.Tensor) and output.requires_grad
        mse, expected = self._against_targets(output, targets, rows, requires_grad)
        self.log(["F", fid, kind, n, self.updates, mse])
        if requires_grad:
            output.register_hook(lambda grad, fid=fid, expected=expected: self._backward(fid, grad, expected))

    def _identify(self, X) -> tuple[str, int, Targets | None, list[int] | None]:
        """The forward's kind and row count, the targets of the set its rows are from, and the rows' indices there."""
        if not isinstance(X, torch.Tensor) or X.dim() == 0:
            return "o", 0, None, None
        n = X.shape[0]
        try:
            values = X.detach().reshape(-1).tolist()
        except RuntimeError:
            return "o", n, None, None
        if len(values) != n:
            return "o", n, None, None
        train = [self.train_index.get(v) for v in values]
        if None not in train:
            if tuple(sorted(train)) == self.current_batch:
                kind = "t"
            elif len(set(train)) == len(self.train_index) == n:
                kind = "A"
            else:
                kind = "T"
            return kind, n, self.train_targets, train
        valid = [self.valid_index.get(v) for v in values]
        if None not in valid:
            return "v" if len(set(valid)) == len(self.valid_index) == n else "p", n, self.valid_targets, valid
        return "o", n, None, None

    @staticmethod
    def _against_targets(output, targets: Targets | None, rows: list[int] | None, gradient: bool):
        """The MSE of ``output`` against the rows' targets (what ``criterion`` gives), and if ``gradient``
        the gradient MSELoss sends back to ``output`` for them; None for what the rows do not give."""
        if targets is None:
            return None, None
        if len(rows) == 1 and isinstance(output, torch.Tensor):
            t = targets.floats[rows[0]]
            one = _one_row_mse(output, t)
            if one is not None:
                mse, o = one
                return mse, [2 * (o - t)] if gradient else None
        target = targets.tensor[rows]
        try:
            with torch.no_grad():
                mse = functional.mse_loss(output.detach().reshape(-1, 1).to(target.dtype), target).item()
        except (RuntimeError, AttributeError, TypeError, ValueError):
            return None, None
        return mse, _mse_gradient(output, target) if gradient else None

    # -- the loaders -----------------------------------------------------------------
    def loader_pass(self, role: str) -> None:
        self.log(["T" if role == "train" else "V"])

    def loader_batch(self, role: str, batch) -> None:
        X = batch[0]
        n = int(X.shape[0])
        if role == "train":
            self.current_batch = tuple(sorted(self.train_index.get(v, -1) for v in X.reshape(-1).tolist()))
        self.log(["t" if role == "train" else "v", n])

    # -- the optimizer ---------------------------------------------------------------
    def zero_grad(self) -> None:
        self.log(["Z"])

    def before_step(self) -> str:
        self.check_parameters()
        grads = [p.grad for p in self.params]
        if all(g is None for g in grads):
            status = "none"
        elif all(g is None or not bool(g.any()) for g in grads):
            status = "zero"
        elif self.backwards_since_step == 0:
            status = "stale"
        elif all(
            g is not None and i in self.fresh
            and (torch.equal(g, self.fresh[i]) or torch.allclose(g, self.fresh[i], rtol=1e-6, atol=1e-12))
            for i, g in enumerate(grads)
        ):
            status = "fresh"
        else:
            status = "accumulated"
        return status

    def after_step(self, status: str, standard: bool) -> None:
        self.updates += 1
        self.log(["S", status, standard])
        self.snapshot = [p.detach().clone() for p in self.params]
        self.backwards_since_step = 0
        self.open_backward = None


class TracedNet(nn.Sequential):
    """The lecture's network, reporting every forward pass to its trace."""

    trace: Trace | None = None

    def forward(self, X):
        output = super().forward(X)
        if self.trace is not None:
            self.trace.forward(X, output)
        return output


STANDARD_SGD = {"lr": LEARNING_RATE, "momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False, "maximize": False}
# torch's defaults for SGD's other settings: with them (and a float lr) its step is p.add_(p.grad, alpha=-lr).
PLAIN_SGD = {k: v for k, v in STANDARD_SGD.items() if k != "lr"} | {"foreach": None, "differentiable": False, "fused": None}


class TracedSGD(torch.optim.SGD):
    """``torch.optim.SGD`` that reports ``zero_grad`` and ``step`` (and the gradients a step uses).

    On this small network torch's machinery around both costs many times their work, so
    where nothing else can happen they take the short way: ``zero_grad()`` sets the
    gradients to None, as torch's does; ``step()`` without a closure or step hooks, on the
    settings torch gives it by default (any float lr), makes SGD's update
    ``p.add_(p.grad, alpha=-lr)`` itself, the very call torch's SGD then makes. Anything
    else goes through torch's own step, hooks and all.
    """

    trace: Trace | None = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        if self.trace is not None:
            self.trace.zero_grad()
        if not set_to_none:
            super().zero_grad(set_to_none=False)
            return
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = None

    def step(self, closure=None):
        status = self.trace.before_step() if self.trace is not None else ""
        if closure is None and self._plain():
            group = self.param_groups[0]
            with torch.no_grad():
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-group["lr"])
            result = None
        else:
            result = _torch_sgd_step(self, closure)
        if self.trace is not None:
            self.trace.after_step(status, self.standard())
        return result

    # torch wraps an optimizer class's step in a call of the step hooks unless it is marked
    # so; this one calls them, through torch's own step, whenever there are any.
    step.hooked = True

    def _plain(self) -> bool:
        """A step is SGD's plain update: one group with PLAIN_SGD's settings and a float lr, no step hooks."""
        groups = self.param_groups
        if len(groups) != 1 or type(groups[0].get("lr")) is not float or len(groups[0]) != len(PLAIN_SGD) + 2:
            return False
        group = groups[0]
        return (
            all(type(group.get(k)) is type(v) and group.get(k) == v for k, v in PLAIN_SGD.items())
            and not self.defaults.get("differentiable")
            and getattr(self, "grad_scale", None) is None
            and getattr(self, "found_inf", None) is None
            and not (self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks)
            and not (torch_optimizer._global_optimizer_pre_hooks or torch_optimizer._global_optimizer_post_hooks)
        )

    def standard(self) -> bool:
        """The optimizer is still the one the loop was given: plain SGD, lr 0.02, all parameters in one group."""
        groups = self.param_groups
        return len(groups) == 1 and all(groups[0].get(k) == v for k, v in STANDARD_SGD.items())


def _torch_sgd_step(optimizer: torch.optim.SGD, closure):
    """torch's SGD step, inside the call of the step hooks torch wraps it in (when it makes its first SGD)."""
    step = torch.optim.SGD.step
    if not getattr(step, "hooked", False):
        step = torch.optim.Optimizer.profile_hook_step(step)
    return step(optimizer, closure)


class TracedLoader(DataLoader):
    """A ``DataLoader`` that reports each pass and each batch to its trace."""

    trace: Trace | None = None
    role = "train"

    def __iter__(self):
        if self.trace is not None:
            self.trace.loader_pass(self.role)
        for batch in super().__iter__():
            if self.trace is not None:
                self.trace.loader_batch(self.role, batch)
            yield batch


def traced_run(loop: str, loader_seed: int = LOADER_SEED):
    """Everything a training loop is called with, instrumented: (trace, model, criterion, optimizer, train, valid).

    ``loader_seed`` seeds the training loader's shuffling."""
    train, valid = make_datasets()
    trace = Trace(train, valid)
    model = make_model(TracedNet)
    model.trace = trace
    trace.watch(model)
    optimizer = TracedSGD(model.parameters(), lr=LEARNING_RATE)
    optimizer.trace = trace
    generator = torch.Generator().manual_seed(loader_seed)
    train_loader, valid_loader = make_loaders(train, valid, BATCH_SIZES[loop], generator, cls=TracedLoader)
    train_loader.trace = valid_loader.trace = trace
    train_loader.role, valid_loader.role = "train", "valid"
    return trace, model, nn.MSELoss(), optimizer, train_loader, valid_loader
