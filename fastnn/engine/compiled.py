"""The compiled engine: the plans of ``fastnn/_kernels`` (``_plans.pyx``) behind the engine
interface.

Per batch length it keeps a training plan (the step, gradients) pointing at the
engine's parameters, gradient buffers and optimizer slots; per thread and set length an
evaluation plan (prediction, cost, error), so concurrent predictions never share a
buffer; per fit an ``EpochRunner``.  Plans check every array they point at when built,
and the batch at each call.
"""
from __future__ import annotations

import math
import os
import threading
from types import ModuleType
from typing import Any, Callable, Optional, Sequence

import numpy as np
from numpy.typing import NDArray

from fastnn.blocks.dropout import keep_threshold
from fastnn.blocks.history import COLUMNS
from fastnn.blocks.names import ACTIVATIONS, OUTPUT_LOSSES, RULES
from fastnn.blocks.network import Network
from fastnn.blocks.optim import Optimizer
from fastnn.blocks.regularization import Slopes
from fastnn.blocks.types import FloatArray
from fastnn.engine.base import Backprop, Engine, FitSpec, OptimizerState, Runner

# Compiled extension modules (fastnn._kernels says how to build them when they are
# missing): mypy sees them as Any (ignore_missing_imports in pyproject.toml).
import fastnn._kernels._codes as _codes
import fastnn._kernels._dense as _dense_baseline
import fastnn._kernels._gradcheck as _gradcheck
import fastnn._kernels._loss as _loss
import fastnn._kernels._optim as _optim
import fastnn._kernels._plans as _plans_baseline

#: Cached plans per engine: the batch and the short last one of a fit (training), or two
#: set lengths per thread (evaluation).
PLANS_KEPT = 2


class Kernels:
    """The compiled modules this process runs: the AVX2 + FMA builds of the layer kernels
    and plans when they were built and the CPU has both features, else the baseline ones.

    ``FASTNN_KERNELS=baseline`` forces the baseline builds (to compare the two, or to rule
    the wide code out); ``FASTNN_KERNELS=avx2`` insists on the AVX2 builds and fails when
    they cannot run.  The two give the same results up to rounding (FMA rounds once).
    """

    def __init__(self) -> None:
        choice = os.environ.get("FASTNN_KERNELS", "auto")
        if choice not in ("auto", "baseline", "avx2"):
            raise ValueError(f"FASTNN_KERNELS must be 'auto', 'baseline' or 'avx2', got {choice!r}")
        wide = None if choice == "baseline" else self._wide_builds()
        usable = wide is not None and _dense_baseline.cpu_has_avx2_fma()
        if choice == "avx2" and not usable:
            raise ImportError("FASTNN_KERNELS=avx2, but the AVX2 + FMA kernels are "
                              + ("not built" if wide is None else "not supported by this CPU"))
        chosen = wide if (usable and wide) else (_dense_baseline, _plans_baseline)
        self.dense: ModuleType = chosen[0]
        self.plans: ModuleType = chosen[1]
        self.optim: ModuleType = _optim
        self.gradcheck: ModuleType = _gradcheck
        #: Which build runs: "avx2+fma" or "baseline".
        self.isa: str = self.dense.ISA
        if tuple(self.plans.RECORD_COLUMNS) != COLUMNS:
            raise ImportError("the compiled plans write other History columns than "
                              "fastnn.blocks.history.COLUMNS: rebuild the package")

    @staticmethod
    def _wide_builds() -> Optional[tuple[ModuleType, ModuleType]]:
        try:
            import fastnn._kernels._dense_avx2 as dense
            import fastnn._kernels._plans_avx2 as plans
        except ImportError:
            return None
        return dense, plans

    @staticmethod
    def output_activation(output: str, Z: FloatArray) -> None:
        """Z := the output layer's activation of the logits Z (sigmoid, softmax or none)."""
        if output == "sigmoid":
            _loss.sigmoid_inplace(Z)
        elif output == "softmax":
            _loss.softmax_inplace(Z)

    @staticmethod
    def loss(output: str) -> Callable[..., float]:
        """The loss kernel of an output layer: (Z, y, dZ=None, weights=None) -> mean data
        cost."""
        return {"sigmoid": _loss.sigmoid_cross_entropy,
                "softmax": _loss.softmax_cross_entropy,
                "linear": _loss.squared_error}[output]


KERNELS = Kernels()
#: Which build of the kernels runs: "avx2+fma" or "baseline".
KERNEL_ISA: str = KERNELS.isa


class CompiledEngine(Engine):
    """The compiled kernels behind the engine interface (``backend="cython"``)."""

    name = "cython"
    #: Where plans keep their activations: Layout.AUTO (the plan's choice), or ROWS /
    #: COLUMNS to force one (tests of the two layouts).
    layout: int = int(_codes.Layout.AUTO)

    def __init__(self, network: Network) -> None:
        super().__init__(network)
        self._activations = [ACTIVATIONS[a] for a in network.activations]
        self._loss = OUTPUT_LOSSES[network.output]
        self._thresholds = [keep_threshold(p) for p in network.keep_probs]
        self._train_plans: dict[int, Any] = {}
        self._local = threading.local()

    def state_changed(self) -> None:
        # Training plans point at the optimizer slots: build them anew.
        self._train_plans.clear()

    # -- plans ----------------------------------------------------------------------

    def _eval_plan(self, m: int) -> Any:
        """This thread's evaluation plan for sets of m examples."""
        plans: dict[int, Any] = self._local.__dict__.setdefault("plans", {})
        plan = plans.get(m)
        if plan is None:
            if len(plans) >= PLANS_KEPT:
                plans.pop(next(iter(plans)))
            plan = plans[m] = self._new_eval_plan(m)
        return plan

    def _batch_norm(self) -> Optional[tuple[Any, ...]]:
        """What the plans take of batch norm: (gammas, running statistics, epsilon,
        momentum), per layer (None where a layer has none), or None."""
        net = self.network
        if not net.batch_norm:
            return None
        return (self.parameters.gammas, self.statistics.per_layer, net.bn_epsilon,
                net.bn_momentum)

    def _new_eval_plan(self, m: int) -> Any:
        return KERNELS.plans.EvalPlan(m, self.network.dtype, self._loss,
                                      self.parameters.weights, self.parameters.biases,
                                      self._activations, self.layout, self._batch_norm())

    def training_plan(self, m: int) -> Any:
        """The training plan (_plans.TrainPlan) for batches of m examples: its ``columns``
        says which layout it keeps; ``run_products`` is the benchmarks' floor."""
        return self._train_plan(m)

    def _train_plan(self, m: int) -> Any:
        """The training plan for batches of m examples, over the current optimizer state."""
        plan = self._train_plans.get(m)
        if plan is None:
            if len(self._train_plans) >= PLANS_KEPT:
                self._train_plans.pop(next(iter(self._train_plans)))
            state = self.optimizer_state
            slots = [slot.arrays for slot in state.slots] if state is not None else []
            net = self.network
            plan = self._train_plans[m] = KERNELS.plans.TrainPlan(
                m, net.dtype, self._loss, self.parameters.weights, self.parameters.biases,
                self.gradients.weights, self.gradients.biases, self._activations,
                self._thresholds, list(net.keep_probs), net.seed,
                keep_threshold(net.input_keep_prob), net.input_keep_prob,
                RULES[state.rule] if state is not None else RULES["sgd"], slots, self.layout,
                self._batch_norm(), self.gradients.gammas)
        return plan

    # -- the interface --------------------------------------------------------------

    def predict(self, X: FloatArray) -> FloatArray:
        plan = self._eval_plan(X.shape[0])
        plan.run(X)
        return plan.output().copy()

    def training_output(self, X: FloatArray, step: int) -> FloatArray:
        return self._train_plan(X.shape[0]).training_output(X, step)

    def evaluate(self, X: FloatArray, y: NDArray[Any],
                 weights: Optional[NDArray[np.float64]] = None) -> tuple[float, float]:
        cost, wrong = self._eval_plan(X.shape[0]).run(X, y, weights)
        if wrong < 0:  # a linear output: the error is the mean squared error
            return cost, 2.0 * cost
        return cost, wrong / y.size

    def backprop(self, X: FloatArray, y: NDArray[Any], step: Optional[int] = None,
                 weights: Optional[NDArray[np.float64]] = None) -> Backprop:
        plan = self._train_plan(X.shape[0])
        cost = plan.gradients(X, y, step, weights)
        return Backprop(cost, plan.layer_blocks(False), plan.layer_blocks(True),
                        [g.copy() for g in self.gradients.arrays])

    def training_cost(self, X: FloatArray, y: NDArray[Any], step: Optional[int] = None,
                      weights: Optional[NDArray[np.float64]] = None) -> float:
        return self._train_plan(X.shape[0]).training_cost(X, y, step, weights)

    def train_step(self, X: FloatArray, y: NDArray[Any], optimizer: Optimizer,
                   slopes: Sequence[Slopes], step: int) -> float:
        state = self._state_for(optimizer)
        plan = self._train_plan(X.shape[0])
        plan.set_penalties(slopes)
        cost = plan.guarded_step(X, y, step, optimizer.kernel_arguments(), state.t)
        if math.isfinite(cost):
            state.t += 1
        return cost

    def runner(self, spec: FitSpec) -> Runner:
        state = self._state_for(spec.optimizer)
        m = spec.X.shape[0]
        batch = min(spec.batch_size, m)
        plans = [self._train_plan(batch)] + ([self._train_plan(m % batch)] if m % batch else [])
        for plan in plans:
            plan.set_penalties(spec.slopes)
        train_eval = None if spec.running_metrics else self._new_eval_plan(m)
        dev_eval = None if spec.dev is None else self._new_eval_plan(spec.dev[0].shape[0])
        X_dev, y_dev = spec.dev if spec.dev is not None else (None, None)
        return KERNELS.plans.EpochRunner(
            plans[0], plans[1] if len(plans) > 1 else None, train_eval, dev_eval, spec.X,
            spec.y, X_dev, y_dev, self.parameters.arrays, state.arrays(),
            list(spec.penalties), spec.optimizer.kernel_arguments(), spec.epoch, spec.step,
            state.t,
            spec.eval_every, spec.final_epoch, spec.monitor, spec.min_delta, spec.patience,
            spec.restore_best, self.statistics.arrays(), spec.weights)

    def perturbation_slopes(self, Zs: Sequence[FloatArray], As: Sequence[FloatArray],
                            base: NDArray[np.float64], y: Optional[NDArray[Any]],
                            weights: Sequence[FloatArray]) -> Any:
        return PerturbationPass(weights, Zs, As, self._activations, self._loss, base, y)

    def _state_for(self, optimizer: Optimizer) -> OptimizerState:
        """The optimizer state, which the model made for `optimizer`'s rule."""
        state = self.optimizer_state
        if state is None or state.rule != optimizer.name:
            raise RuntimeError("the engine's optimizer state was not made for this optimizer")
        return state


class PerturbationPass:
    """Gradient checking's compiled pass (fastnn/_kernels/_gradcheck.pyx) over one
    unperturbed float64 forward pass: the weights are transposed once, then
    :meth:`slopes` is called once per parameter.

    `base` and `y` are what the loss changes are taken from: softmax(Z[L]) and the class
    indices, sigmoid(Z[L]) and the targets, or Z[L] - y and None.
    """

    def __init__(self, weights: Sequence[FloatArray], Zs: Sequence[FloatArray],
                 As: Sequence[FloatArray], activations: Sequence[int], loss: int,
                 base: NDArray[np.float64], y: Optional[NDArray[Any]]) -> None:
        self._arguments = ([np.ascontiguousarray(W.T) for W in weights], list(Zs), list(As),
                           list(activations), loss, base, y)

    def slopes(self, layer: int, units: NDArray[np.intp], directions: NDArray[np.float64],
               epsilon: float) -> NDArray[np.float64]:
        """(J(+eps) - J(-eps)) / (2 eps) of the data cost for each perturbation c of column
        units[c] of Z[layer] (0-based) by eps * directions[c] (C, m)."""
        out = np.empty(len(units))
        if len(units):
            KERNELS.gradcheck.perturbation_slopes(*self._arguments, layer, units, directions,
                                                  epsilon, out)
        return out
