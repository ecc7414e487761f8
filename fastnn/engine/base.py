"""What every engine is: the interface, and the buffers each engine owns.

An engine is built per model from its :class:`~fastnn.blocks.network.Network`.  It owns
the parameters (one flat buffer, W1, b1, W2, ... as views), their gradient buffers, the
optimizer state of the model's optimizer, and whatever its implementation keeps per batch
length; it hands nothing writable to anyone but its own kernels.  Two implementations:
``fastnn.engine.compiled`` (the plans of ``fastnn/_kernels``) and
``fastnn.engine.reference`` (NumPy, the course's way: the oracle and the baseline).
Their methods take arrays the model has already checked (dtype, shape, finite values).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Optional, Protocol, Sequence

import numpy as np
from numpy.typing import NDArray

from fastnn.blocks.network import Network
from fastnn.blocks.optim import Optimizer
from fastnn.blocks.regularization import Slopes
from fastnn.blocks.types import FloatArray


def _views(flat: FloatArray, shapes: Sequence[tuple[int, ...]]) -> list[FloatArray]:
    """C-contiguous views of consecutive pieces of `flat`, one per shape."""
    views, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        views.append(flat[start:start + size].reshape(shape))
        start += size
    return views


class ParameterBuffers:
    """Arrays shaped like a network's parameters, in the order of ``Network.shapes`` (W1,
    b1, ..., WL, bL, then the gammas of batch norm), as C-contiguous views of one flat
    buffer (so a snapshot or a finiteness check is one pass)."""

    def __init__(self, network: Network) -> None:
        self.flat: FloatArray = np.zeros(sum(int(np.prod(s)) for s in network.shapes),
                                         network.dtype)
        self.arrays: list[FloatArray] = _views(self.flat, network.shapes)
        self.network = network

    @property
    def weights(self) -> list[FloatArray]:
        """W1, W2, ...: (n[l], n[l-1])."""
        return self.arrays[0:2 * self.network.n_layers:2]

    @property
    def biases(self) -> list[FloatArray]:
        """b1, b2, ... (beta of a batch-normalized layer): (n[l],)."""
        return self.arrays[1:2 * self.network.n_layers:2]

    @property
    def gammas(self) -> list[Optional[FloatArray]]:
        """Per layer, the batch norm's gamma (n[l],), or None where there is none."""
        out: list[Optional[FloatArray]] = [None] * self.network.n_layers
        for l, gamma in zip(self.network.normalized, self.arrays[2 * self.network.n_layers:]):
            out[l] = gamma
        return out


class RunningStatistics:
    """Batch norm's running mean (from 0) and variance (from 1) of each normalized layer,
    in the model's dtype, as views of one flat buffer (state, not parameters: the
    prediction's normalization, saved with the model)."""

    def __init__(self, network: Network) -> None:
        widths = [network.layer_sizes[l + 1] for l in network.normalized]
        self.flat: FloatArray = np.zeros(2 * sum(widths), network.dtype)
        views = _views(self.flat, [(n,) for n in widths for _ in (0, 1)])
        self.means, self.variances = views[0::2], views[1::2]
        for variance in self.variances:
            variance[...] = 1.0
        self.network = network

    @property
    def per_layer(self) -> list[Optional[tuple[FloatArray, FloatArray]]]:
        """Per layer, its (running mean, running variance), or None where there is none."""
        out: list[Optional[tuple[FloatArray, FloatArray]]] = [None] * self.network.n_layers
        for l, mean, var in zip(self.network.normalized, self.means, self.variances):
            out[l] = (mean, var)
        return out

    def arrays(self) -> list[FloatArray]:
        """Every array: mean and variance of each normalized layer."""
        return [a for pair in zip(self.means, self.variances) for a in pair]


class OptimizerState:
    """A model's state for its optimizer's rule: one ParameterBuffers per slot (velocity;
    Adam's two moments) and ``t``, the updates taken."""

    def __init__(self, network: Network, optimizer: Optimizer) -> None:
        self.rule = optimizer.name
        self.slot_names = optimizer.slots
        self.slots = [ParameterBuffers(network) for _ in optimizer.slots]
        self.t = 0

    def arrays(self) -> list[FloatArray]:
        """Every slot array, slot by slot (W1, b1, W2, ... within each)."""
        return [array for slot in self.slots for array in slot.arrays]

    def named_copies(self) -> dict[str, FloatArray]:
        """{"<slot><i>": flat copy} for saving: i counts W1, b1, W2, ... from 0."""
        return {f"{name}{i}": array.reshape(-1).copy()
                for name, slot in zip(self.slot_names, self.slots)
                for i, array in enumerate(slot.arrays)}


@dataclass(frozen=True)
class Backprop:
    """One forward and backward pass, in rows: the data cost, every layer's output A[l]
    (m, n[l]) (the last one the logits) and dZ[l] (m, n[l]), and copies of the gradients'
    data term in the parameters' order (Network.names)."""

    cost: float
    activations: list[FloatArray]
    deltas: list[FloatArray]
    grads: list[FloatArray]

    @property
    def weight_grads(self) -> list[FloatArray]:
        """dW1, dW2, ..., dWL (the data term)."""
        return self.grads[0:2 * len(self.activations):2]


class Runner(Protocol):
    """One fit's runs of epochs (fastnn._kernels._plans.EpochRunner and its twin,
    fastnn.engine.reference.ReferenceRunner): see EpochRunner for each member."""

    @property
    def epoch(self) -> int: ...

    @property
    def step(self) -> int: ...

    @property
    def t(self) -> int: ...

    @property
    def good_epoch(self) -> int: ...

    @property
    def best_epoch(self) -> int: ...

    @property
    def best_value(self) -> float: ...

    @property
    def stopped_epoch(self) -> int: ...

    @property
    def diverged_epoch(self) -> int: ...

    @property
    def diverged_cost(self) -> float: ...

    def run(self, n_epochs: int, orders: Optional[NDArray[np.intp]],
            lrs: NDArray[np.float64], records: NDArray[np.float64]) -> tuple[int, int, int]: ...

    def step_batch(self, X: FloatArray, y: NDArray[Any], lr: float,
                   weights: Optional[NDArray[np.float64]] = None) -> int: ...

    def finish_epoch(self, row: NDArray[np.float64]) -> tuple[int, int]: ...

    def rollback(self) -> None: ...

    def restore_best_parameters(self) -> None: ...


@dataclass(frozen=True)
class FitSpec:
    """What an engine needs to build a fit's runner (arrays checked by the model).

    ``slopes``/``penalties``: per layer, the update's slopes and the cost's coefficients
    (fastnn.blocks.regularization) with m the training set's size (the sum of the sample
    weights); ``monitor``: the stopping rule's History column (-1: none); ``weights``: the
    examples' loss weights, float64 (m,) of mean 1, or None (every example counts once).
    """

    X: FloatArray
    y: NDArray[Any]
    dev: Optional[tuple[FloatArray, NDArray[Any]]]
    batch_size: int
    optimizer: Optimizer
    slopes: Sequence[Slopes]
    penalties: Sequence[tuple[float, float]]
    running_metrics: bool
    eval_every: int
    final_epoch: int
    epoch: int
    step: int
    monitor: int = -1
    min_delta: float = 0.0
    patience: int = 0
    restore_best: bool = False
    weights: Optional[NDArray[np.float64]] = None


class Engine(ABC):
    """The interface both engines implement, and the buffers they share.

    Attributes
    ----------
    network : Network
    parameters : ParameterBuffers
        The model's parameters (read them; write them through :meth:`set_parameters`).
    statistics : RunningStatistics
        Batch norm's running statistics (none without batch norm).
    optimizer_state : OptimizerState or None
        The state of the optimizer the model trains with.
    """

    name: ClassVar[str]

    def __init__(self, network: Network) -> None:
        self.network = network
        self.parameters = ParameterBuffers(network)
        self.gradients = ParameterBuffers(network)
        self.statistics = RunningStatistics(network)
        self.optimizer_state: Optional[OptimizerState] = None

    # -- parameters and optimizer state ------------------------------------------

    def set_parameters(self, arrays: Sequence[FloatArray]) -> None:
        """Copy the parameters, in their order (Network.names; checked by the caller)."""
        for mine, given in zip(self.parameters.arrays, arrays):
            mine[...] = given

    def set_statistics(self, arrays: Sequence[FloatArray]) -> None:
        """Copy batch norm's running (mean, variance) of each normalized layer, in order
        (checked by the caller)."""
        for mine, given in zip(self.statistics.arrays(), arrays):
            mine[...] = given

    def reset_optimizer(self, optimizer: Optimizer) -> None:
        """Fresh zero state for `optimizer`'s rule (the model trains with a new one)."""
        self.optimizer_state = OptimizerState(self.network, optimizer)
        self.state_changed()

    def load_optimizer_state(self, optimizer: Optimizer, t: int,
                             arrays: Mapping[str, NDArray[Any]]) -> None:
        """State for `optimizer` from saved arrays ({"<slot><i>": flat array}, checked by
        the caller: the parameters' sizes, finite) and its update count t."""
        state = OptimizerState(self.network, optimizer)
        for name, slot in zip(state.slot_names, state.slots):
            for i, array in enumerate(slot.arrays):
                array.reshape(-1)[...] = arrays[f"{name}{i}"]
        state.t = t
        self.optimizer_state = state
        self.state_changed()

    def restore_optimizer_state(self, state: Optional[OptimizerState]) -> None:
        """Put back a state object this engine made earlier (a failed fit's undo)."""
        self.optimizer_state = state
        self.state_changed()

    def state_changed(self) -> None:
        """Hook: the optimizer state object was replaced (plans pointing at it go)."""

    # -- what each engine computes ------------------------------------------------

    @abstractmethod
    def predict(self, X: FloatArray) -> FloatArray:
        """Output activations (m, n_L) of X, dropout off: a new array."""

    @abstractmethod
    def training_output(self, X: FloatArray, step: int) -> FloatArray:
        """Output activations (m, n_L) of X under the dropout masks of training `step`
        (the forward pass that step takes; nothing is updated): a new array."""

    # `weights` below: the examples' loss weights w (float64 (m,), checked by the model),
    # or None; the data cost is then (1/m) sum_i w_i L_i and each example's dZ row is
    # scaled by w_i (the model passes weights of mean 1, so J is sum_i w_i L_i / sum_i w_i).

    @abstractmethod
    def evaluate(self, X: FloatArray, y: NDArray[Any],
                 weights: Optional[NDArray[np.float64]] = None) -> tuple[float, float]:
        """(data cost, error) of the set, dropout off: error is 1 - accuracy (the
        fraction of wrong sigmoid units, each example counted w_i times), or the mean
        squared error for a linear output."""

    @abstractmethod
    def backprop(self, X: FloatArray, y: NDArray[Any], step: Optional[int] = None,
                 weights: Optional[NDArray[np.float64]] = None) -> Backprop:
        """Forward and backward with dropout off, or on with the masks of training `step`;
        the gradients' data term (also left in ``gradients``)."""

    @abstractmethod
    def training_cost(self, X: FloatArray, y: NDArray[Any], step: Optional[int] = None,
                      weights: Optional[NDArray[np.float64]] = None) -> float:
        """The data cost as a training step computes it (batch norm by the batch's own
        statistics), with dropout off or the masks of training `step` (that step's J)."""

    @abstractmethod
    def train_step(self, X: FloatArray, y: NDArray[Any], optimizer: Optimizer,
                   slopes: Sequence[Slopes], step: int) -> float:
        """One step on (X, y) with dropout counter `step` and the optimizer state (made
        for `optimizer`); returns the batch's data cost.  A step whose cost or new
        parameters are not finite is undone (parameters and state as before) and its
        cost (NaN or inf) returned."""

    @abstractmethod
    def runner(self, spec: FitSpec) -> Runner:
        """A runner of the fit's epochs (see FitSpec)."""

    @abstractmethod
    def perturbation_slopes(self, Zs: Sequence[FloatArray], As: Sequence[FloatArray],
                            base: NDArray[np.float64], y: Optional[NDArray[Any]],
                            weights: Sequence[FloatArray]) -> Any:
        """Gradient checking's pass over one unperturbed float64 forward pass: an
        object whose ``slopes(layer, units, directions, epsilon)`` gives
        (J(+eps) - J(-eps)) / (2 eps) of the data cost for each perturbation of column
        units[c] of Z[layer] by eps * directions[c]."""
