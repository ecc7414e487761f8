"""The multilayer perceptron: parameters, forward and backward passes, cost, prediction."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastnn import init as _init
from fastnn.losses import OUTPUTS, error_rate, predict_from_proba, prepare_targets
from fastnn.ops import get_backend
from fastnn.reference import dropout_key
from fastnn._threads import blas_threads
from fastnn._typing import (ACTIVATION_NAMES, ActivationName, BackendName, FloatArray,
                            FloatDTypeLike, InitName, OutputName)
from fastnn._validation import (check_choice, check_dtype, check_int, check_keep_prob,
                                check_matrix, check_real, check_seed, per_layer)

if TYPE_CHECKING:
    from fastnn.data import Standardizer
    from fastnn.optim import Optimizer
    from fastnn.training import History

HIDDEN_ACTIVATIONS: tuple[ActivationName, ...] = (
    tuple(a for a in ACTIVATION_NAMES if a != "linear") + ("linear",))
# Training keeps at most this many batch sizes' buffers: the batch and the short last one.
MAX_WORKSPACES = 2


class TrainingDiverged(FloatingPointError):
    """The cost became NaN or infinite; the model keeps its last finite weights."""


class _Workspace:
    """Buffers one batch size needs: layer outputs A[l] (m, n[l]) and their gradients.

    A[0] is the input after input dropout (allocated only when that is on); the
    gradient buffer of layer l first receives dA[l], is turned into dZ[l] in place
    by the fused backward pass, and is never needed for l = 0.
    """

    def __init__(self, m: int, layer_sizes: Sequence[int], dtype: np.dtype[Any],
                 input_dropout: bool) -> None:
        self.acts: list[Any] = [np.empty((m, layer_sizes[0]), dtype) if input_dropout else None]
        self.acts += [np.empty((m, n), dtype) for n in layer_sizes[1:]]
        self.deltas: list[Any] = [None] + [np.empty((m, n), dtype) for n in layer_sizes[1:]]
        # The compiled step plan (a _dense.TrainPlan), when fused, and what it was built for.
        self.plan: Any = None
        self.plan_key: Optional[tuple[Any, Any]] = None  # (optimizer, its state object)


class MLP:
    """A fully connected network trained with regularised gradient descent.

    Attributes ``step_`` (training steps taken), ``epoch_`` (epochs trained),
    ``optimizer_`` (the last fit's optimizer and its state) and ``standardizer``
    (a fitted :class:`fastnn.data.Standardizer` or None; when set, every method
    standardizes its raw inputs with it) are saved with the model.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_x, n_1, ..., n_L]``: input features, hidden units, output units.
    activation : str or sequence of str, default "relu"
        Hidden activation(s): "relu", "leaky_relu", "tanh", "sigmoid", "selu", "linear";
        one name for all hidden layers or one per hidden layer (length L-1).
    output : {"sigmoid", "softmax", "linear"}, default "sigmoid"
        Output layer and its loss: binary cross-entropy, categorical cross-entropy or
        squared error (``J = (1/(2 m k)) sum (y_hat - y)^2``).
    init : {"he", "kaiming", "xavier", "glorot", "lecun", "random", "zeros"}, default "he"
    init_scale : float, default 1.0
        Multiplies the initialiser's variance; for "random" it is the standard deviation.
    keep_prob : float or sequence of float, default 1.0
        Inverted-dropout probability of keeping a hidden unit, in (0, 1]; a scalar for
        every hidden layer, or L-1 values (hidden layers) or L values (the last 1.0).
    input_keep_prob : float, default 1.0
        Keep probability of the input features.
    l2, l1 : float or sequence of float, default 0.0
        The course's lambda: cost ``+ lambda/(2m) sum_l ||W[l]||_F^2`` (and
        ``lambda_1/(2m) ||W[l]||_1``); one value or one per layer (length L).
    dtype : {"float32", "float64"}, default "float32"
    backend : {"cython", "reference"}, default "cython"
    seed : int, default 0
        Seeds the initial weights, the dropout masks and the minibatch order.
    n_threads : int or None, default None
        Cap on the BLAS threads while this model computes; None leaves BLAS as
        configured (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS). Results are the same for
        any thread count.
    """

    layer_sizes: tuple[int, ...]
    n_layers: int
    activation: tuple[ActivationName, ...]
    output: OutputName
    init: InitName
    init_scale: float
    keep_prob: tuple[float, ...]
    input_keep_prob: float
    l2: tuple[float, ...]
    l1: tuple[float, ...]
    dtype: np.dtype[Any]
    backend: str
    seed: int
    n_threads: Optional[int]
    step_: int
    epoch_: int
    optimizer_: Optional[Optimizer]
    standardizer: Optional[Standardizer]

    def __init__(self, layer_sizes: Sequence[int],
                 activation: Union[ActivationName, Sequence[ActivationName]] = "relu",
                 output: OutputName = "sigmoid", init: InitName = "he", init_scale: float = 1.0,
                 keep_prob: Union[float, Sequence[float]] = 1.0, input_keep_prob: float = 1.0,
                 l2: Union[float, Sequence[float]] = 0.0, l1: Union[float, Sequence[float]] = 0.0,
                 dtype: FloatDTypeLike = "float32", backend: BackendName = "cython",
                 seed: int = 0, n_threads: Optional[int] = None) -> None:
        self.layer_sizes = _check_layer_sizes(layer_sizes)
        L = self.n_layers = len(self.layer_sizes) - 1
        self.activation = per_layer("activation", activation, L - 1,
                                    lambda n, v: check_choice(n, v, HIDDEN_ACTIVATIONS))
        self.output = check_choice("output", output, OUTPUTS)
        if self.output == "softmax" and self.layer_sizes[-1] < 2:
            raise ValueError("a softmax output needs at least 2 units in layer_sizes[-1]")
        self.init = check_choice("init", init, _init.INITIALIZERS)
        self.init_scale = check_real("init_scale", init_scale, 0.0, low_open=True)
        self.keep_prob = _check_keep_probs(keep_prob, L)
        self.input_keep_prob = check_keep_prob("input_keep_prob", input_keep_prob)
        self.l2 = per_layer("l2", l2, L, lambda n, v: check_real(n, v, 0.0))
        self.l1 = per_layer("l1", l1, L, lambda n, v: check_real(n, v, 0.0))
        self.dtype = np.dtype(check_dtype(dtype))
        self.backend = get_backend(backend).name
        self._ops = get_backend(backend)
        self.seed = check_seed(seed)
        self.n_threads = None if n_threads is None else check_int("n_threads", n_threads, low=1)
        self.step_ = 0  # training steps taken: the dropout masks' counter
        self.epoch_ = 0  # epochs trained: where a resumed fit continues
        self.optimizer_ = None  # the last fit's optimizer, with its state
        self.standardizer = None
        weights, biases = _init.initialize(self.layer_sizes, self.init, self.init_scale,
                                           self.seed, self.dtype)
        self._set_arrays(weights, biases)

    def __getstate__(self) -> dict[str, Any]:
        # Workspaces hold compiled step plans (raw pointers): rebuilt on demand, not pickled.
        state = self.__dict__.copy()
        state["_workspaces"] = {}
        state["_eval_plans"] = {}
        return state

    # -- parameters ---------------------------------------------------------

    def _set_arrays(self, weights: list[FloatArray], biases: list[FloatArray]) -> None:
        self._weights, self._biases = weights, biases
        self._grad_weights = [np.empty_like(W) for W in weights]
        self._grad_biases = [np.empty_like(b) for b in biases]
        # Flat views in the order W1, b1, W2, b2, ...: what the optimizers update.
        self._flat_params = [a.reshape(-1) for pair in zip(weights, biases) for a in pair]
        self._flat_grads = [a.reshape(-1) for pair in zip(self._grad_weights, self._grad_biases)
                            for a in pair]
        self._workspaces: dict[tuple[int, bool], _Workspace] = {}
        # Compiled evaluations of fit's train and dev sets, by batch size (see _evaluate).
        self._eval_plans: dict[int, Any] = {}

    @property
    def params(self) -> dict[str, FloatArray]:
        """Copies of the parameters: {"W1": (n1, n0), "b1": (n1,), ..., "WL", "bL"}."""
        out: dict[str, FloatArray] = {}
        for l, (W, b) in enumerate(zip(self._weights, self._biases), start=1):
            out[f"W{l}"], out[f"b{l}"] = W.copy(), b.copy()
        return out

    def set_params(self, params: Mapping[str, ArrayLike]) -> MLP:
        """Copy `params` (a dict like :attr:`params`) into the model; shapes are checked.

        All arrays are checked before any is copied, so a bad dict changes nothing.

        Parameters
        ----------
        params : dict
            ``{"W1": (n1, n0), "b1": (n1,), ..., "WL": (nL, nL-1), "bL": (nL,)}``, exactly
            these keys; values are cast to the model's dtype and must be finite in it.

        Returns
        -------
        self : MLP
        """
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
        expected = {name: arr.shape for name, arr in self._named_arrays()}
        missing, extra = set(expected) - set(params), set(params) - set(expected)
        if missing or extra:
            raise ValueError(f"params keys do not match the model: missing {sorted(missing)}, "
                             f"unexpected {sorted(extra)}")
        staged: dict[str, NDArray[Any]] = {}
        for name, shape in expected.items():
            arr = np.asarray(params[name])
            if arr.shape != shape:
                raise ValueError(f"params[{name!r}] has shape {arr.shape}, expected {shape}")
            if not np.issubdtype(arr.dtype, np.number):
                raise TypeError(f"params[{name!r}] must be numeric, got dtype {arr.dtype}")
            with np.errstate(over="ignore"):
                arr = arr.astype(self.dtype)
            # Checked after the cast: 1e300 is finite in float64 but inf in float32.
            if not np.isfinite(arr).all():
                raise ValueError(f"params[{name!r}] must be finite in {self.dtype.name}")
            staged[name] = arr
        for name, arr in self._named_arrays():
            arr[...] = staged[name]
        return self

    def _named_arrays(self) -> Iterator[tuple[str, FloatArray]]:
        for l, (W, b) in enumerate(zip(self._weights, self._biases), start=1):
            yield f"W{l}", W
            yield f"b{l}", b

    @property
    def n_params(self) -> int:
        """Number of scalar parameters."""
        return sum(p.size for p in self._flat_params)

    # -- validation ---------------------------------------------------------

    def _check_X(self, X: ArrayLike, name: str = "X", standardize: bool = True) -> FloatArray:
        X = check_matrix(name, X, self.layer_sizes[0], self.dtype)
        return self._standardize(X) if standardize else X

    def _standardize(self, X: FloatArray) -> FloatArray:
        """X through the attached standardizer, if any."""
        if self.standardizer is None:
            return X
        return np.ascontiguousarray(self.standardizer.transform(X), dtype=self.dtype)

    def _check_Xy(self, X: ArrayLike, y: ArrayLike, names: tuple[str, str] = ("X", "y"),
                  standardize: bool = True) -> tuple[FloatArray, NDArray[Any]]:
        X = self._check_X(X, names[0], standardize)
        y = prepare_targets(self.output, y, X.shape[0], self.layer_sizes[-1], self.dtype, names[1])
        return X, y

    # -- passes on validated arrays -------------------------------------------

    def _workspace(self, m: int, train: bool) -> _Workspace:
        """Buffers for batch size m: cached while training, fresh otherwise."""
        input_dropout = train and self.input_keep_prob < 1
        key = (m, input_dropout)
        ws = self._workspaces.get(key)
        if ws is None:
            ws = _Workspace(m, self.layer_sizes, self.dtype, input_dropout)
            if train:
                if len(self._workspaces) >= MAX_WORKSPACES:
                    self._workspaces.pop(next(iter(self._workspaces)))
                self._workspaces[key] = ws
        return ws

    def _dropout(self, layer: int, keep_prob: float) -> tuple[int, float]:
        """(key, keep_prob) of `layer` at the current step (layer 0 is the input)."""
        if keep_prob >= 1.0:
            return 0, 1.0
        return dropout_key(self.seed, self.step_, layer), keep_prob

    def _forward(self, X: FloatArray, ws: _Workspace,
                 train: bool) -> tuple[FloatArray, list[FloatArray]]:
        """Fill ws.acts; returns the output logits (m, n_L) and the layer inputs."""
        ops = self._ops
        A = X
        if train and self.input_keep_prob < 1:
            A = ops.dropout(X, ws.acts[0], *self._dropout(0, self.input_keep_prob))
        inputs = [A]
        for l in range(1, self.n_layers + 1):
            hidden = l < self.n_layers
            activation = self.activation[l - 1] if hidden else "linear"
            key, keep = self._dropout(l, self.keep_prob[l - 1]) if train else (0, 1.0)
            A = ops.dense_forward(A, self._weights[l - 1], self._biases[l - 1], ws.acts[l],
                                  activation, key, keep)
            inputs.append(A)
        return A, inputs

    def _backward(self, inputs: list[FloatArray], y: NDArray[Any], ws: _Workspace,
                  train: bool) -> float:
        """Data cost J of the last forward pass; data gradients into the gradient buffers."""
        ops = self._ops
        L = self.n_layers
        cost = ops.loss(self.output, inputs[L], y, ws.deltas[L])
        for l in range(L, 0, -1):
            hidden = l < L
            activation = self.activation[l - 1] if hidden else "linear"
            key, keep = self._dropout(l, self.keep_prob[l - 1]) if train else (0, 1.0)
            ops.dense_backward(ws.deltas[l], inputs[l], inputs[l - 1], self._weights[l - 1],
                               self._grad_weights[l - 1], self._grad_biases[l - 1],
                               ws.deltas[l - 1], activation, key, keep)
        return cost

    def _regularization_cost(self, m: int) -> float:
        """lambda/(2m) sum_l ||W[l]||_F^2 + lambda_1/(2m) sum_l ||W[l]||_1."""
        total = 0.0
        for W, l2, l1 in zip(self._weights, self.l2, self.l1):
            if l2:
                total += l2 / (2 * m) * float(np.dot(W.ravel(), W.ravel()))
            if l1:
                total += l1 / (2 * m) * float(np.abs(W).sum())
        return total

    def _penalty_slopes(self, m: int) -> list[tuple[float, float]]:
        """Per layer, the derivatives' coefficients of the penalty: (lambda/m, lambda_1/(2m)),
        so that dJ/dW = dW_data + (lambda/m) W + (lambda_1/(2m)) sign(W)."""
        return [(l2 / m, l1 / (2 * m)) for l2, l1 in zip(self.l2, self.l1)]

    def _decay_coefficients(self, m: int) -> tuple[list[float], list[float]]:
        """(l2, l1) per flat parameter (W1, b1, W2, ...): the slopes for W, 0 for b."""
        slopes = self._penalty_slopes(m)
        return ([c for l2, _ in slopes for c in (l2, 0.0)],
                [c for _, l1 in slopes for c in (l1, 0.0)])

    def _train_step(self, X: FloatArray, y: NDArray[Any], optimizer: Optimizer) -> float:
        """One forward/backward/update on a validated batch; returns its data cost."""
        return self._train_steps(X, y, optimizer, 1)[1]

    def _train_steps(self, X: FloatArray, y: NDArray[Any], optimizer: Optimizer,
                     n_steps: int) -> tuple[int, float]:
        """Up to `n_steps` steps on the same validated batch, stopping after a step whose
        cost is not finite; returns (steps taken, data cost of the last one)."""
        ws = self._workspace(X.shape[0], train=True)
        if self._ops.fused_training:
            plan = self._train_plan(ws, optimizer)
            done, cost = plan.run(X, y, self.step_, n_steps, *optimizer.kernel_arguments(),
                                  optimizer.t)
            self.step_ += done
            optimizer.t += done
            return done, cost
        optimizer.ensure_state(self._flat_params)
        for done in range(1, n_steps + 1):
            _, inputs = self._forward(X, ws, train=True)
            cost = self._backward(inputs, y, ws, train=True)
            optimizer.update(self._ops, self._flat_params, self._flat_grads,
                             *self._decay_coefficients(X.shape[0]))
            self.step_ += 1
            if not np.isfinite(cost):
                break
        return done, cost

    def _training_logits(self, m: int) -> FloatArray:
        """Output logits (m, n_L) of the last training step on a batch of m examples."""
        return self._workspace(m, train=True).acts[-1]

    def _train_plan(self, ws: _Workspace, optimizer: Optimizer) -> Any:
        """The compiled step plan of this workspace and optimizer (built once, then reused).

        The plan points at the optimizer's state arrays, so it is rebuilt whenever the
        optimizer or its state object changes (compared by identity, not by id(), which a
        new object may reuse); the state is allocated first.
        """
        key = ws.plan_key
        if key is None or key[0] is not optimizer or key[1] is not optimizer.state:
            optimizer.ensure_state(self._flat_params)
            m = ws.deltas[-1].shape[0]
            slots = [optimizer._state()[slot] for slot in optimizer.slots]
            slopes = self._penalty_slopes(m)
            layers = []
            for l in range(self.n_layers):
                hidden = l < self.n_layers - 1
                # Optimizer slots of W (flat index 2l) and b (2l + 1): [W1st, W2nd, b1st, b2nd].
                state = [slots[k][2 * l + p] if k < len(slots) else None
                         for p in (0, 1) for k in (0, 1)]
                layers.append(dict(
                    W=self._weights[l], b=self._biases[l], dW=self._grad_weights[l],
                    db=self._grad_biases[l], A=ws.acts[l + 1], dA=ws.deltas[l + 1],
                    activation=self.activation[l] if hidden else "linear",
                    keep_prob=self.keep_prob[l], l2=slopes[l][0], l1=slopes[l][1],
                    state=state))
            ws.plan = self._ops.train_plan(m, self.dtype, self.output, self.seed,
                                           self.input_keep_prob, ws.acts[0], layers, optimizer)
            ws.plan_key = (optimizer, optimizer.state)
        return ws.plan

    def _evaluate(self, X: FloatArray, y: NDArray[Any]) -> tuple[float, float]:
        """(data cost, error rate) of validated arrays, dropout off, as fit records them.

        With the cython backend and a classification output this is one compiled call
        (_dense.EvalPlan), its buffers kept for this set size until
        :meth:`_release_eval_plans` (fit's train and dev sets, evaluated every epoch).
        """
        m = X.shape[0]
        if self._ops.fused_training and self.output != "linear":
            plan = self._eval_plans.get(m)
            if plan is None:
                if len(self._eval_plans) >= MAX_WORKSPACES:
                    self._eval_plans.pop(next(iter(self._eval_plans)))
                layers = [dict(W=W, b=b, A=np.empty((m, W.shape[0]), self.dtype),
                               activation=self.activation[l] if l < self.n_layers - 1
                               else "linear")
                          for l, (W, b) in enumerate(zip(self._weights, self._biases))]
                plan = self._eval_plans[m] = self._ops.eval_plan(m, self.dtype, self.output,
                                                                 layers)
            cost, wrong = plan.run(X, y)
            return cost, wrong / y.size
        ws = self._workspace(m, train=False)
        logits, _ = self._forward(X, ws, train=False)
        cost = self._ops.loss(self.output, logits, y)
        self._ops.output_activation(self.output, logits)
        return cost, error_rate(self.output, logits, y)

    def _release_eval_plans(self) -> None:
        """Drop the cached evaluations (and their m x n buffers): the end of a fit."""
        self._eval_plans.clear()

    def _output(self, X: FloatArray) -> FloatArray:
        ws = self._workspace(X.shape[0], train=False)
        logits, _ = self._forward(X, ws, train=False)
        self._ops.output_activation(self.output, logits)
        return logits

    # -- public API ---------------------------------------------------------

    def forward(self, X: ArrayLike, train: bool = False) -> FloatArray:
        """Output activations (m, n_L): probabilities for sigmoid/softmax, values for linear.

        With ``train=True`` the dropout masks of the current training step are applied
        (inverted dropout); otherwise dropout is off, as at prediction time.

        Parameters
        ----------
        X : array_like (m, n_x)
            Raw inputs (standardized by :attr:`standardizer` when it is set).
        train : bool, default False

        Returns
        -------
        A : ndarray (m, n_L) of the model's dtype
        """
        X = self._check_X(X)
        with blas_threads(self.n_threads):
            if not train:
                return self._output(X)
            ws = _Workspace(X.shape[0], self.layer_sizes, self.dtype, self.input_keep_prob < 1)
            logits, _ = self._forward(X, ws, train=True)
            self._ops.output_activation(self.output, logits)
            return logits

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """Output probabilities (m, n_L), dropout off.

        Parameters
        ----------
        X : array_like (m, n_x)

        Returns
        -------
        proba : ndarray (m, n_L)
            sigmoid: P(y=1) per output unit; softmax: one column per class.
        """
        return self.forward(X)

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Class labels (m,) (0/1 for sigmoid, argmax for softmax) or values for linear.

        Parameters
        ----------
        X : array_like (m, n_x)

        Returns
        -------
        y_hat : ndarray (m,) of int, or (m, n_L) for several sigmoid or linear outputs
        """
        return predict_from_proba(self.output, self.forward(X))

    def error(self, X: ArrayLike, y: ArrayLike) -> float:
        """Error rate 1 - accuracy (mean squared error for a linear output), dropout off.

        Parameters
        ----------
        X : array_like (m, n_x)
        y : array_like (m,) or (m, n_L), as the output layer expects

        Returns
        -------
        float
        """
        X, y = self._check_Xy(X, y)
        with blas_threads(self.n_threads):
            return error_rate(self.output, self._output(X), y)

    def cost(self, X: ArrayLike, y: ArrayLike) -> float:
        """J = (1/m) sum_i L(y_hat_i, y_i) + lambda/(2m) sum_l ||W[l]||_F^2 (+ L1), dropout off.

        Parameters
        ----------
        X : array_like (m, n_x)
        y : array_like (m,) or (m, n_L), as the output layer expects

        Returns
        -------
        float
        """
        X, y = self._check_Xy(X, y)
        with blas_threads(self.n_threads):
            cost = self._cost(X, y)
        if not np.isfinite(cost):
            raise ValueError(f"the cost overflows ({cost}) for these inputs: X is too large "
                             "for the model's outputs; normalize the inputs")
        return cost

    def _cost(self, X: FloatArray, y: NDArray[Any]) -> float:
        ws = self._workspace(X.shape[0], train=False)
        logits, _ = self._forward(X, ws, train=False)
        return self._ops.loss(self.output, logits, y) + self._regularization_cost(X.shape[0])

    def gradients(self, X: ArrayLike, y: ArrayLike) -> dict[str, FloatArray]:
        """Gradients of :meth:`cost`: {"dW1": (n1, n0), "db1": (n1,), ...}, dropout off.

        Includes the regularisation terms: dW += (lambda/m) W + (lambda_1/(2m)) sign(W).

        Parameters
        ----------
        X : array_like (m, n_x)
        y : array_like (m,) or (m, n_L)

        Returns
        -------
        dict
            ``{"dW1": (n1, n0), "db1": (n1,), ..., "dWL": (nL, nL-1), "dbL": (nL,)}``.
        """
        X, y = self._check_Xy(X, y)
        m = X.shape[0]
        ws = self._workspace(m, train=False)
        with blas_threads(self.n_threads):
            _, inputs = self._forward(X, ws, train=False)
            self._backward(inputs, y, ws, train=False)
        grads: dict[str, FloatArray] = {}
        layers = zip(self._weights, self._grad_weights, self._grad_biases, self._penalty_slopes(m))
        for l, (W, dW, db, (l2, l1)) in enumerate(layers, 1):
            grads[f"dW{l}"] = dW + l2 * W + l1 * np.sign(W)
            grads[f"db{l}"] = db.copy()
        return grads

    def train_step(self, X: ArrayLike, y: ArrayLike, optimizer: Optimizer) -> float:
        """One gradient step on the batch (X, y) with dropout on; returns the batch's data cost.

        Parameters
        ----------
        X : array_like (m, n_x)
        y : array_like (m,) or (m, n_L)
        optimizer : SGD, Momentum or Adam

        Returns
        -------
        float
            The data cost J of the batch before the update (dropout on, no
            regularization term).
        """
        X, y = self._check_Xy(X, y)
        # Kept to undo a step that overflows: fit guards epochs, this guards one step.
        before = self.params, self.step_, optimizer.t, optimizer.state_arrays(copy=True)
        with blas_threads(self.n_threads):
            cost = self._train_step(X, y, optimizer)
        if not (np.isfinite(cost) and all(np.isfinite(p).all() for p in self._flat_params)):
            params, self.step_, t, state = before
            self.set_params(params)
            optimizer.load_state(t, state, self._flat_params)
            raise TrainingDiverged(f"the training step diverged (cost {cost}); the model "
                                   "keeps its weights from before it. Lower the learning "
                                   "rate or normalize the inputs.")
        return cost

    def fit(self, X: ArrayLike, y: ArrayLike, epochs: int = 100,
            optimizer: Optional[Optimizer] = None, batch_size: Optional[int] = None,
            **kwargs: Any) -> History:
        """Train the model; see :func:`fastnn.training.fit` for every option.

        Parameters
        ----------
        X : array_like (m, n_x)
        y : array_like (m,) or (m, n_L)
        epochs : int, default 100
        optimizer : Optimizer, optional
        batch_size : int or None, default None (full batch)
        **kwargs
            ``dev``, ``early_stopping``, ``callbacks``, ``augment``, ``progress``,
            ``eval_every``, ``train_metrics``: see :func:`fastnn.training.fit`.

        Returns
        -------
        History
        """
        # The training loop sits above the model (one-way imports); fit is its front door.
        from fastnn.training import fit
        return fit(self, X, y, epochs=epochs, optimizer=optimizer, batch_size=batch_size, **kwargs)

    def save(self, path: Union[str, os.PathLike[str]]) -> None:
        """Write the model to `path` (.npz + JSON metadata), atomically; see :func:`fastnn.load`."""
        # Serialisation sits above the model (one-way imports); save is its front door.
        from fastnn.io import save
        save(self, path)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-friendly (enough to rebuild the architecture)."""
        return {
            "layer_sizes": list(self.layer_sizes), "activation": list(self.activation),
            "output": self.output, "init": self.init, "init_scale": self.init_scale,
            "keep_prob": list(self.keep_prob), "input_keep_prob": self.input_keep_prob,
            "l2": list(self.l2), "l1": list(self.l1), "dtype": self.dtype.name,
            "backend": self.backend, "seed": self.seed, "n_threads": self.n_threads,
        }

    def __repr__(self) -> str:
        c = self.get_config()
        return (f"MLP({c['layer_sizes']}, activation={c['activation']}, output={c['output']!r}, "
                f"keep_prob={c['keep_prob']}, l2={c['l2']}, dtype={c['dtype']!r}, "
                f"backend={c['backend']!r})")


def _check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
        raise TypeError(f"layer_sizes must be a sequence of ints, got {layer_sizes!r}")
    if len(layer_sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got {layer_sizes!r}")
    sizes = tuple(check_int(f"layer_sizes[{i}]", n, low=1) for i, n in enumerate(layer_sizes))
    if max(sizes) >= 2**31:
        raise ValueError("layer_sizes entries must be below 2**31 (BLAS's int)")
    return sizes


def _check_keep_probs(keep_prob: Union[float, Sequence[float]], L: int) -> tuple[float, ...]:
    """Per-layer keep probabilities (length L, the output's always 1.0)."""
    if isinstance(keep_prob, (list, tuple, np.ndarray)) and len(keep_prob) == L:
        probs = per_layer("keep_prob", keep_prob, L, check_keep_prob)
        if probs[-1] != 1.0:
            raise ValueError(f"keep_prob of the output layer must be 1.0 (no dropout on the "
                             f"output), got {probs[-1]}")
        return probs
    return per_layer("keep_prob", keep_prob, L - 1, check_keep_prob) + (1.0,)
