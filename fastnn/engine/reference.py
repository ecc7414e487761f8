"""The reference engine: the compiled engine's honest twin in NumPy.

The same operations in the same order, written plainly as the course writes them, from
the kernels' twins (:mod:`fastnn.engine.twins`): a step is the layers' forward passes
with dropout, the loss, then from the last layer its backward pass and at once its
update; a run of epochs is those steps, then at each evaluated epoch the History row,
the divergence check, the snapshot and the stopping rule, exactly as
``fastnn/_kernels/_plans.pyx``'s EpochRunner does them.  It is the oracle of the tests
and the baseline of ``bench/``.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
from numpy.typing import NDArray

from fastnn.blocks.callbacks import MONITORS, EarlyStopping
from fastnn.blocks.dropout import dropout_key
from fastnn.blocks.history import COLUMNS
from fastnn.blocks.network import Network
from fastnn.blocks.names import RUN_STATUS
from fastnn.blocks.optim import Hyper, Optimizer
from fastnn.blocks.regularization import Slopes
from fastnn.blocks.types import FloatArray
from fastnn.engine import twins
from fastnn.engine.base import Backprop, Engine, FitSpec, OptimizerState, Runner

COMPLETED, DIVERGED, STOPPED_EARLY = (int(RUN_STATUS.COMPLETED), int(RUN_STATUS.DIVERGED),
                                      int(RUN_STATUS.STOPPED_EARLY))
#: A layer update: (the optimizer state, its (lr, beta1, beta2, epsilon, weight_decay),
#: the update's number t, per layer the penalty slopes (fastnn.blocks.regularization)).
Update = tuple[OptimizerState, Hyper, int, Sequence[Slopes]]


class ReferenceEngine(Engine):
    """NumPy, layer by layer (``backend="reference"``)."""

    name = "reference"

    def __init__(self, network: Network) -> None:
        super().__init__(network)
        #: Per layer, what batch norm's last training pass kept for the backward pass.
        self._caches: list[Optional[twins.BatchNormCache]] = [None] * network.n_layers

    # -- passes ---------------------------------------------------------------------

    def forward(self, X: FloatArray, step: int, dropout: bool,
                training: bool = False) -> list[FloatArray]:
        """[A[0], A[1], ..., A[L]]: the inputs (after input dropout) and every layer's
        output, the last the logits; dropout masks of training `step` when `dropout`.
        Batch norm normalizes by the batch's statistics in a `training` pass (kept for
        the backward pass), by the running ones otherwise."""
        net = self.network
        inputs = [X]
        if dropout and net.input_keep_prob < 1:
            inputs[0] = twins.dropout(X, np.empty_like(X), dropout_key(net.seed, step, 0),
                                      net.input_keep_prob)
        self._caches = [None] * net.n_layers
        gammas, running = self.parameters.gammas, self.statistics.per_layer
        for l, (W, b) in enumerate(zip(self.parameters.weights, self.parameters.biases)):
            keep_prob = net.keep_probs[l] if dropout else 1.0
            out = np.empty((X.shape[0], W.shape[0]), net.dtype)
            key = dropout_key(net.seed, step, l + 1)
            gamma, stats = gammas[l], running[l]
            if gamma is None or stats is None:
                twins.dense_forward(inputs[-1], W, b, out, net.activations[l], key, keep_prob)
            else:
                Z = inputs[-1] @ W.T
                if training:
                    Z, self._caches[l] = twins.batch_norm_forward(Z, gamma, b, net.bn_epsilon)
                else:
                    Z = twins.batch_norm_inference(Z, gamma, b, *stats, net.bn_epsilon)
                twins.activate(Z, out, net.activations[l], key, keep_prob)
            inputs.append(out)
        return inputs

    def update_running_statistics(self, m: int) -> None:
        """Move batch norm's running statistics toward those of the last training pass
        (of m examples)."""
        for stats, cache in zip(self.statistics.per_layer, self._caches):
            if stats is not None and cache is not None:
                twins.running_average(*stats, cache, m, self.network.bn_momentum)

    def backward(self, inputs: list[FloatArray], dZ: FloatArray, step: int, dropout: bool,
                 update: Optional[Update] = None) -> list[FloatArray]:
        """From dJ/dZ[L], each layer's backward pass (dZ[l] into the gradient buffers'
        dW, db and, with batch norm, dgamma) from the last; with `update` each layer is
        updated as soon as its backward is done.  Returns [dZ[1], ..., dZ[L]]."""
        net = self.network
        deltas: list[FloatArray] = [dZ]
        dA = dZ
        grads = self.gradients
        for l in range(net.n_layers - 1, -1, -1):
            W, b = self.parameters.weights[l], self.parameters.biases[l]
            dW, db = grads.weights[l], grads.biases[l]
            dA_prev = np.empty_like(inputs[l]) if l > 0 else None
            key = dropout_key(net.seed, step, l + 1)
            keep_prob = net.keep_probs[l] if dropout else 1.0
            cache, gamma, dgamma = self._caches[l], self.parameters.gammas[l], grads.gammas[l]
            if cache is None or gamma is None or dgamma is None:
                twins.dense_backward(dA, inputs[l + 1], inputs[l], W, dW, db, dA_prev,
                                     net.activations[l], key, keep_prob)
            else:
                dZt = twins.delta(dA, inputs[l + 1], net.activations[l], key, keep_prob)
                dA[...] = twins.batch_norm_backward(dZt, cache, gamma, dgamma, db)
                twins.products_backward(dA, inputs[l], W, dW, dA_prev)
            if update is not None:
                self.update_layer(l, update)
            if dA_prev is not None:
                deltas.insert(0, dA_prev)
                dA = dA_prev
        return deltas

    def update_layer(self, l: int, update: Update) -> None:
        """The optimizer's regularised update of W[l] (its slopes l2, l1; then the proximal
        L1 step) and of b[l] (and gamma[l] with batch norm; neither regularised)."""
        state, hyper, t, slopes = update
        rule = twins.UPDATES[state.rule]
        l2, l1, prox = slopes[l]
        net = self.network
        unregularised = [2 * l + 1]
        if l in net.normalized:
            unregularised.append(2 * net.n_layers + net.normalized.index(l))
        for p in [2 * l] + unregularised:
            s2, s1 = (l2, l1) if p == 2 * l else (0.0, 0.0)
            slots = [slot.arrays[p].reshape(-1) for slot in state.slots]
            rule(self.parameters.arrays[p].reshape(-1), self.gradients.arrays[p].reshape(-1),
                 slots, hyper, t, s2, s1, p == 2 * l)
        if prox > 0:
            twins.proximal_step(state.rule, self.parameters.arrays[2 * l].reshape(-1),
                                [slot.arrays[2 * l].reshape(-1) for slot in state.slots],
                                hyper, t, prox)

    def step(self, X: FloatArray, y: NDArray[Any], step: int, update: Update,
             weights: Optional[NDArray[np.float64]] = None) -> tuple[float, FloatArray]:
        """One training step, each example's loss weighted by `weights` if given: (data
        cost, logits before the update)."""
        inputs = self.forward(X, step, dropout=True, training=True)
        dZ = np.empty_like(inputs[-1])
        cost = twins.LOSSES[self.network.output](inputs[-1], y, dZ, weights)
        self.update_running_statistics(X.shape[0])
        self.backward(inputs, dZ, step, True, update)
        return cost, inputs[-1]

    # -- the interface --------------------------------------------------------------

    def predict(self, X: FloatArray) -> FloatArray:
        P = self.forward(X, 0, dropout=False)[-1]
        twins.output_activation(self.network.output, P)
        return P

    def training_output(self, X: FloatArray, step: int) -> FloatArray:
        P = self.forward(X, step, dropout=True, training=True)[-1]
        twins.output_activation(self.network.output, P)
        return P

    def evaluate(self, X: FloatArray, y: NDArray[Any],
                 weights: Optional[NDArray[np.float64]] = None) -> tuple[float, float]:
        logits = self.forward(X, 0, dropout=False)[-1]
        output = self.network.output
        cost = twins.LOSSES[output](logits, y, None, weights)
        if output == "linear":
            return cost, 2.0 * cost
        twins.output_activation(output, logits)
        return cost, twins.output_errors(output, logits, y, weights) / y.size

    def backprop(self, X: FloatArray, y: NDArray[Any], step: Optional[int] = None,
                 weights: Optional[NDArray[np.float64]] = None) -> Backprop:
        dropout = step is not None
        inputs = self.forward(X, step or 0, dropout, training=True)
        logits = inputs[-1].copy()
        dZ = np.empty_like(logits)
        cost = twins.LOSSES[self.network.output](logits, y, dZ, weights)
        deltas = self.backward(inputs, dZ, step or 0, dropout)
        return Backprop(cost, inputs[1:-1] + [logits], deltas,
                        [g.copy() for g in self.gradients.arrays])

    def training_cost(self, X: FloatArray, y: NDArray[Any], step: Optional[int] = None,
                      weights: Optional[NDArray[np.float64]] = None) -> float:
        inputs = self.forward(X, step or 0, step is not None, training=True)
        return twins.LOSSES[self.network.output](inputs[-1], y, None, weights)

    def train_step(self, X: FloatArray, y: NDArray[Any], optimizer: Optimizer,
                   slopes: Sequence[Slopes], step: int) -> float:
        state = self._state_for(optimizer)
        saved = self.snapshot(state)
        cost, _ = self.step(X, y, step, (state, optimizer.kernel_arguments(), state.t + 1,
                                         slopes))
        if not (math.isfinite(cost) and np.isfinite(self.parameters.flat).all()
                and np.isfinite(self.statistics.flat).all()):
            self.restore(state, saved)
            return cost if not math.isfinite(cost) else math.inf
        state.t += 1
        return cost

    def runner(self, spec: FitSpec) -> Runner:
        return ReferenceRunner(self, spec, self._state_for(spec.optimizer))

    def perturbation_slopes(self, Zs: Sequence[FloatArray], As: Sequence[FloatArray],
                            base: NDArray[np.float64], y: Optional[NDArray[Any]],
                            weights: Sequence[FloatArray]) -> Any:
        return _Perturbation(weights, Zs, As, self.network.activations, self.network.output,
                             base, y)

    def _state_for(self, optimizer: Optimizer) -> OptimizerState:
        state = self.optimizer_state
        if state is None or state.rule != optimizer.name:
            raise RuntimeError("the engine's optimizer state was not made for this optimizer")
        return state

    def snapshot(self, state: Optional[OptimizerState] = None) -> list[FloatArray]:
        """Copies of the parameters, the running statistics and the optimizer slots (of
        `state`, if given), to restore."""
        slots = [] if state is None else [slot.flat.copy() for slot in state.slots]
        return [self.parameters.flat.copy(), self.statistics.flat.copy()] + slots

    def restore(self, state: Optional[OptimizerState], saved: list[FloatArray]) -> None:
        """Put back a snapshot's parameters, running statistics and slots."""
        self.parameters.flat[...] = saved[0]
        self.statistics.flat[...] = saved[1]
        for slot, values in zip([] if state is None else state.slots, saved[2:]):
            slot.flat[...] = values


class ReferenceRunner:
    """The twin of ``_plans.EpochRunner``: one fit's epochs, in Python and NumPy (see
    EpochRunner for what each member does)."""

    def __init__(self, engine: ReferenceEngine, spec: FitSpec, state: OptimizerState) -> None:
        self.engine, self.spec, self.state = engine, spec, state
        self.m = spec.X.shape[0]
        self.batch = min(spec.batch_size, self.m)
        self.labels = engine.network.output == "softmax"
        self.epoch, self.step, self.t = spec.epoch, spec.step, state.t
        self.good_epoch, self.good_step, self.good_t = self.epoch, self.step, self.t
        self.last_good = engine.snapshot(state)
        self.best = engine.snapshot()
        self.rule = (EarlyStopping(MONITORS[MONITORS.index(COLUMNS[spec.monitor])],
                                   spec.patience, spec.min_delta)
                     if spec.monitor >= 0 else None)
        self.diverged_epoch, self.diverged_cost = -1, math.nan
        self.lr = 0.0
        self._reset_running()

    def _reset_running(self) -> None:
        self.run_cost = self.run_errors = 0.0
        self.run_examples = self.run_outputs = 0

    def run(self, n_epochs: int, orders: Optional[NDArray[np.intp]],
            lrs: NDArray[np.float64], records: NDArray[np.float64]) -> tuple[int, int, int]:
        done = rows = 0
        status = COMPLETED
        while done < n_epochs and status == COMPLETED:
            self.lr = float(lrs[done])
            status = self.epoch_steps(None if orders is None else orders[done])
            if status == COMPLETED:
                written, status = self.finish_epoch(records[rows])
                rows += written
            done += 1
        return done, rows, status

    def epoch_steps(self, order: Optional[NDArray[np.intp]]) -> int:
        """One pass over the training set: the full batch, or its minibatches in `order`."""
        X, y, weights = self.spec.X, self.spec.y, self.spec.weights
        if order is None:
            return self.take_step(X, y, weights)
        for start in range(0, self.m, self.batch):
            index = order[start:start + self.batch]
            status = self.take_step(X[index], y[index],
                                    None if weights is None else weights[index])
            if status != COMPLETED:
                return status
        return COMPLETED

    def step_batch(self, X: FloatArray, y: NDArray[Any], lr: float,
                   weights: Optional[NDArray[np.float64]] = None) -> int:
        if (weights is None) != (self.spec.weights is None):
            raise ValueError("a batch needs weights exactly when the fit has weights")
        self.lr = lr
        return self.take_step(X, y, weights)

    def take_step(self, X: FloatArray, y: NDArray[Any],
                  weights: Optional[NDArray[np.float64]]) -> int:
        hyper = (self.lr,) + self.spec.optimizer.kernel_arguments()[1:]
        cost, logits = self.engine.step(X, y, self.step,
                                        (self.state, hyper, self.t + 1, self.spec.slopes),
                                        weights)
        self.step += 1
        self.t += 1
        if not math.isfinite(cost):
            return self.diverge(cost)
        if self.spec.running_metrics:
            m = X.shape[0]
            self.run_cost += cost * m
            self.run_examples += m
            self.run_outputs += m * (1 if self.labels else y.shape[1])
            self.run_errors += twins.logit_errors(self.engine.network.output, logits, y,
                                                  weights)
        return COMPLETED

    def diverge(self, cost: float) -> int:
        self.diverged_epoch, self.diverged_cost = self.epoch + 1, cost
        self.rollback()
        return DIVERGED

    def finish_epoch(self, row: NDArray[np.float64]) -> tuple[int, int]:
        spec, engine = self.spec, self.engine
        self.epoch += 1
        if self.epoch % spec.eval_every != 0 and self.epoch != spec.final_epoch:
            return 0, COMPLETED
        if spec.running_metrics:
            data_cost = self.run_cost / self.run_examples
            error = self.run_errors / self.run_outputs
            self._reset_running()
        else:
            data_cost, error = engine.evaluate(spec.X, spec.y, spec.weights)
        if engine.network.output == "linear":
            error = 2.0 * data_cost
        row[0] = self.epoch
        row[1] = data_cost + self.penalty_cost()
        row[2] = data_cost
        row[3] = error
        row[4:6] = engine.evaluate(*spec.dev) if spec.dev is not None else (math.nan, math.nan)
        row[6] = self.lr
        if not (math.isfinite(row[1]) and np.isfinite(engine.parameters.flat).all()
                and np.isfinite(engine.statistics.flat).all()):
            self.epoch -= 1
            return 0, self.diverge(row[1])
        self.last_good = engine.snapshot(self.state)
        self.good_epoch, self.good_step, self.good_t = self.epoch, self.step, self.t
        if self.rule is None:
            return 1, COMPLETED
        improved, stop = self.rule.update(self.epoch, float(row[spec.monitor]))
        if improved and spec.restore_best:
            self.best = engine.snapshot()
        return 1, STOPPED_EARLY if stop else COMPLETED

    @property
    def best_epoch(self) -> int:
        return -1 if self.rule is None or self.rule.best_epoch is None else self.rule.best_epoch

    @property
    def best_value(self) -> float:
        return math.inf if self.rule is None else self.rule.best_value

    @property
    def stopped_epoch(self) -> int:
        return (-1 if self.rule is None or self.rule.stopped_epoch is None
                else self.rule.stopped_epoch)

    def penalty_cost(self) -> float:
        """sum_l lambda_l/(2m) ||W_l||_F^2 + lambda1_l/(2m) ||W_l||_1, in float64."""
        total = 0.0
        for W, (c2, c1) in zip(self.engine.parameters.weights, self.spec.penalties):
            if c2 or c1:
                w = W.astype(np.float64)
                total += c2 * float(np.sum(w * w)) + c1 * float(np.sum(np.abs(w)))
        return total

    def rollback(self) -> None:
        self.engine.restore(self.state, self.last_good)
        self.epoch, self.step, self.t = self.good_epoch, self.good_step, self.good_t

    def restore_best_parameters(self) -> None:
        if self.best_epoch >= 0:
            self.engine.restore(None, self.best)


class _Perturbation:
    """Gradient checking's pass in NumPy (the twin of compiled.PerturbationPass)."""

    def __init__(self, weights: Sequence[FloatArray], Zs: Sequence[FloatArray],
                 As: Sequence[FloatArray], activations: Sequence[str], output: str,
                 base: NDArray[np.float64], y: Optional[NDArray[Any]]) -> None:
        self._arguments = (list(weights), list(Zs), list(As), list(activations), output,
                           base, y)

    def slopes(self, layer: int, units: NDArray[np.intp], directions: NDArray[np.float64],
               epsilon: float) -> NDArray[np.float64]:
        return twins.perturbation_slopes(*self._arguments, layer, units, directions, epsilon)

