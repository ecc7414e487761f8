"""The multilayer perceptron: its configuration, its parameters and the public API.

The model never computes: it checks what users give it and asks its engine
(:mod:`fastnn.engine`), which owns every buffer native code touches.  Its configuration
is fixed when it is built (read-only attributes); its training state (``step_``,
``epoch_``, ``optimizer_`` and that optimizer's state, ``standardizer``,
``target_standardizer``, ``schema``) is checked on assignment.
"""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastnn.blocks import init as initializers
from fastnn.blocks import defaults, regularization
from fastnn.blocks.losses import example_weights, predict_from_proba, prepare_targets
from fastnn.blocks.names import ActivationName, BackendName, InitName, OutputName
from fastnn.blocks.habits import FIT_ARGUMENTS, check_arguments, parameter_names
from fastnn.blocks.network import Network, build_network
from fastnn.blocks.optim import Optimizer
from fastnn.blocks.schedules import Schedule, ScheduleLike, as_schedule
from fastnn.blocks.threads import blas_threads
from fastnn.blocks.types import FloatArray, FloatDTypeLike
from fastnn.blocks.validation import (check_choice, check_counter, check_int, check_matrix,
                                      check_n_threads, check_real, finite, per_layer)
from fastnn.engine import Engine, make_engine
from fastnn.model.fitting import TrainingDiverged, divergence_advice, fit
from fastnn.model.guard import UseGuard

if TYPE_CHECKING:
    from fastnn.blocks.history import History


def _fixed(name: str, getter: Any, doc: str) -> Any:
    """A configuration attribute: readable, and fixed once the model is built (the engine's
    buffers were sized and its plans built for it)."""
    def refuse(self: Any, value: Any) -> None:
        raise AttributeError(f"{name} is fixed when the model is built; build another model "
                             f"with the value you want: fnn.MLP(**{{**model.get_config(), "
                             f"'{name}': ...}})")
    return property(getter, refuse, doc=doc)


class MLP:
    """A fully connected network trained with regularised gradient descent.

    Training state, saved with the model: ``step_`` (training steps taken: the dropout
    masks' counter), ``epoch_`` (epochs trained: where a resumed fit continues),
    ``optimizer_`` (the optimizer of the last fit; the model keeps its state: an
    optimizer object holds only hyperparameters, so it may be shared between models,
    each training from its own state), ``lr_schedule_`` (its learning-rate schedule) and
    ``standardizer`` (an object with a
    ``transform`` method, such as a fitted :class:`fastnn.Standardizer`, or None; when
    set, every method standardizes its raw inputs with it, and checks what it returns
    like user input) and, for a linear output, ``target_standardizer`` (the same for the
    targets, with an ``inverse_transform`` too: see :attr:`target_standardizer`), and
    ``schema`` (the table columns it reads and its class labels: see :attr:`schema`).

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
        Inverted-dropout probability of keeping a hidden unit, in [2**-16, 1]; a scalar
        for every hidden layer, or L-1 values (hidden layers) or L values (the last 1.0).
    input_keep_prob : float, default 1.0
        Keep probability of the input features.
    l2, l1 : float or sequence of float, default 0.0
        The course's lambda: cost ``+ lambda/(2m) sum_l ||W[l]||_F^2`` (and
        ``lambda_1/(2m) ||W[l]||_1``), m the training set's size; one value or one per
        layer (length L).
    dtype : {"float32", "float64"}, default "float32"
    backend : {"cython", "reference"}, default "cython"
        The compiled engine, or its NumPy twin.
    seed : int in [0, 2**63), default 0
        Seeds the initial weights, the dropout masks and the minibatch order.
    n_threads : int or None, default None
        Cap on the BLAS threads while this model computes; None leaves BLAS as
        configured (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS). Results are the same for
        any thread count.
    l1_mode : {"subgradient", "proximal"}, default "subgradient"
        How updates treat the L1 term: its subgradient in the gradient, or a proximal
        step after the update (soft-thresholding by lr lambda_1/(2m)), which makes weights
        exactly 0 as the notes say L1 does.  The cost J is the same either way.
    batch_norm : bool, default False
        Batch normalization of every hidden layer's Z = W A_prev before its activation:
        ``Z~ = gamma (Z - mu) / sqrt(sigma^2 + bn_epsilon) + beta``, mu and sigma^2 the
        minibatch's (biased) mean and variance while training, their running averages
        when predicting.  The layer's bias is then beta (``params["beta<l>"]``) and
        gamma (``params["gamma<l>"]``, from 1) is learned with it, neither regularised;
        the running statistics are :attr:`running_statistics`.  Training batches need at
        least 2 examples.
    bn_momentum : float in [0, 1), default 0.9
        running := bn_momentum running + (1 - bn_momentum) batch's (the batch's variance
        unbiased, m/(m-1) sigma^2): PyTorch's BatchNorm1d with its momentum 0.1.
    bn_epsilon : float > 0, default 1e-5
    """

    def __init__(self, layer_sizes: Sequence[int],
                 activation: Union[ActivationName, Sequence[ActivationName]] = "relu",
                 output: OutputName = "sigmoid", init: InitName = "he", init_scale: float = 1.0,
                 keep_prob: Union[float, Sequence[float]] = 1.0, input_keep_prob: float = 1.0,
                 l2: Union[float, Sequence[float]] = 0.0, l1: Union[float, Sequence[float]] = 0.0,
                 dtype: FloatDTypeLike = defaults.DTYPE, backend: BackendName = "cython",
                 seed: int = defaults.SEED, n_threads: Optional[int] = None,
                 l1_mode: str = "subgradient", batch_norm: bool = False,
                 bn_momentum: float = 0.9, bn_epsilon: float = 1e-5) -> None:
        network = build_network(layer_sizes, activation, output, keep_prob, input_keep_prob,
                                dtype, seed, batch_norm, bn_momentum, bn_epsilon)
        L = network.n_layers
        self._init = check_choice("init", init, initializers.INITIALIZERS)
        self._init_scale = check_real("init_scale", init_scale, 0.0, low_open=True)
        self._l2 = per_layer("l2", l2, L, lambda n, v: check_real(n, v, 0.0))
        self._l1 = per_layer("l1", l1, L, lambda n, v: check_real(n, v, 0.0))
        self._l1_mode = check_choice("l1_mode", l1_mode, regularization.L1_MODES)
        self._engine = make_engine(backend, network)
        self._n_threads = check_n_threads(n_threads)
        self._step = self._epoch = 0
        self._optimizer: Optional[Optimizer] = None
        self._schedule: Optional[Schedule] = None
        self._standardizer: Any = None
        self._target_standardizer: Any = None
        self._schema: Any = None
        self._guard = UseGuard()
        self._last_slopes: tuple[float, tuple[regularization.Slopes, ...]] = (0, ())
        weights, biases = initializers.initialize(network.layer_sizes, self._init,
                                                  self._init_scale, network.seed,
                                                  network.dtype)
        gammas = [np.ones(network.layer_sizes[l + 1], network.dtype)
                  for l in network.normalized]
        self._engine.set_parameters([a for pair in zip(weights, biases) for a in pair] + gammas)

    # -- configuration (read-only: it sizes the engine's buffers) ---------------------

    @property
    def network(self) -> Network:
        """The architecture the engine was built for."""
        return self._engine.network

    @property
    def engine(self) -> Engine:
        """The engine that computes for this model (see :mod:`fastnn.engine`)."""
        return self._engine

    layer_sizes = _fixed("layer_sizes", lambda self: self.network.layer_sizes,
                         "(n_x, n_1, ..., n_L).")
    n_layers = _fixed("n_layers", lambda self: self.network.n_layers,
                      "L, the layers of weights.")
    activation = _fixed("activation", lambda self: self.network.activations[:-1],
                        "The hidden layers' activations (length L-1).")
    output = _fixed("output", lambda self: self.network.output, "The output layer.")
    keep_prob = _fixed("keep_prob", lambda self: self.network.keep_probs,
                       "Keep probabilities per layer (length L, the last 1.0).")
    input_keep_prob = _fixed("input_keep_prob", lambda self: self.network.input_keep_prob,
                             "The inputs' keep probability.")
    dtype = _fixed("dtype", lambda self: self.network.dtype, "float32 or float64.")
    seed = _fixed("seed", lambda self: self.network.seed, "The model's seed.")
    backend = _fixed("backend", lambda self: self._engine.name, '"cython" or "reference".')
    init = _fixed("init", lambda self: self._init, "The initializer the weights came from.")
    init_scale = _fixed("init_scale", lambda self: self._init_scale, "Its scale factor.")
    l2 = _fixed("l2", lambda self: self._l2, "lambda per layer (length L).")
    l1 = _fixed("l1", lambda self: self._l1, "lambda_1 per layer (length L).")
    batch_norm = _fixed("batch_norm", lambda self: self.network.batch_norm,
                        "Batch normalization of the hidden layers.")
    bn_momentum = _fixed("bn_momentum", lambda self: self.network.bn_momentum,
                         "The running statistics' momentum.")
    bn_epsilon = _fixed("bn_epsilon", lambda self: self.network.bn_epsilon,
                        "The epsilon of batch norm's sqrt(sigma^2 + epsilon).")
    l1_mode = _fixed("l1_mode", lambda self: self._l1_mode,
                     '"subgradient" or "proximal" (see fastnn.blocks.regularization).')

    @property
    def n_threads(self) -> Optional[int]:
        """Cap on BLAS threads while this model computes (None: as configured)."""
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value: Optional[int]) -> None:
        self._n_threads = check_n_threads(value)

    # -- training state ---------------------------------------------------------------

    @property
    def step_(self) -> int:
        """Training steps taken: the dropout masks' counter."""
        return self._step

    @step_.setter
    def step_(self, value: int) -> None:
        self._step = check_counter("step_", value)

    @property
    def epoch_(self) -> int:
        """Epochs trained: where a resumed fit continues."""
        return self._epoch

    @epoch_.setter
    def epoch_(self, value: int) -> None:
        self._epoch = check_counter("epoch_", value)

    @property
    def optimizer_(self) -> Optional[Optimizer]:
        """The optimizer the model trains with (its state is the model's)."""
        return self._optimizer

    @optimizer_.setter
    def optimizer_(self, optimizer: Optional[Optimizer]) -> None:
        """Hand the model another optimizer: its state starts afresh (None: no optimizer
        and no state)."""
        if optimizer is None:
            self._engine.restore_optimizer_state(None)
        elif not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer_ must be a fastnn optimizer (SGD, Momentum, Adam), "
                            f"got {optimizer!r}")
        elif optimizer is not self._optimizer:
            self._engine.reset_optimizer(optimizer)
        self._optimizer = optimizer

    @property
    def lr_schedule_(self) -> Optional[Schedule]:
        """The learning-rate schedule of the last fit (a resumed fit continues it)."""
        return self._schedule

    @lr_schedule_.setter
    def lr_schedule_(self, schedule: Optional[ScheduleLike]) -> None:
        self._schedule = as_schedule(schedule)

    def optimizer_state(self) -> Optional[tuple[int, dict[str, FloatArray]]]:
        """(t, {"<slot><i>": array}) of the optimizer's state: the updates taken and
        flat copies of its slots (i counts W1, b1, W2, ... from 0); None without optimizer."""
        state = self._engine.optimizer_state
        if self._optimizer is None or state is None:
            return None
        return state.t, state.named_copies()

    def set_optimizer_state(self, optimizer: Optimizer, t: int,
                            arrays: Mapping[str, ArrayLike]) -> None:
        """Take `optimizer` with the state saved by :meth:`optimizer_state` (a resumed
        fit continues it): t updates taken, and one flat array per slot and parameter,
        cast to the model's dtype (none at all: a fresh, zero state); everything is
        checked before anything changes."""
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a fastnn optimizer, got {optimizer!r}")
        t = check_counter("t", t)
        shapes = [(int(np.prod(shape)),) for shape in self.network.shapes]
        expected = {f"{slot}{i}": shape for slot in optimizer.slots
                    for i, shape in enumerate(shapes)}
        if not arrays:  # an optimizer saved before its first step: a fresh state
            arrays = {name: np.zeros(shape, self.dtype) for name, shape in expected.items()}
        if set(arrays) != set(expected):
            raise ValueError(f"optimizer state arrays must be exactly {sorted(expected)}, "
                             f"got {sorted(arrays)}")
        staged = {name: self._cast(f"optimizer state {name}", arrays[name], shape)
                  for name, shape in expected.items()}
        with self._guard.writing():
            self._engine.load_optimizer_state(optimizer, t, staged)
            self._optimizer = optimizer

    @property
    def standardizer(self) -> Any:
        """The input standardizer (an object with ``transform``), or None."""
        return self._standardizer

    @standardizer.setter
    def standardizer(self, standardizer: Any) -> None:
        if standardizer is not None:
            if not callable(getattr(standardizer, "transform", None)):
                raise TypeError("standardizer must have a transform(X) method (e.g. a "
                                f"fitted fastnn.Standardizer) or be None, got {standardizer!r}")
            n_in = getattr(standardizer, "n_features_in_", self.layer_sizes[0])
            if n_in != self.layer_sizes[0]:
                raise ValueError(f"the standardizer was fitted on {n_in} features but the "
                                 f"model takes {self.layer_sizes[0]}")
        self._standardizer = standardizer

    @property
    def target_standardizer(self) -> Any:
        """The target standardizer of a linear output, or None.

        An object with ``transform(Y)`` and ``inverse_transform(Z)`` on arrays
        (m, n_L), such as ``fnn.Standardizer().fit(y_train.reshape(len(y_train), -1))``.
        When it is set the network learns the standardized targets: every method takes
        targets in their own units and standardizes them, and :meth:`predict` and
        :meth:`predict_proba` undo it, so predictions are in the targets' units too.
        What is measured on the network is in standardized units: :meth:`cost`,
        :meth:`gradients`, :meth:`error` (the mean squared error of the standardized
        targets, i.e. the MSE divided by the training targets' variance, averaged over
        the outputs: 1.0 is what predicting the training mean scores on the training
        set) and the History figures; :meth:`forward` gives the network's own outputs.
        Without it, targets of large values (hundreds) make squared-error gradients
        hundreds of times larger than the learning rates' defaults expect.
        """
        return self._target_standardizer

    @target_standardizer.setter
    def target_standardizer(self, standardizer: Any) -> None:
        if standardizer is not None:
            if self.output != "linear":
                raise ValueError(f"a target_standardizer is for a linear output's values; "
                                 f"this model's {self.output} output takes labels, which are "
                                 "never standardized")
            if not all(callable(getattr(standardizer, name, None))
                       for name in ("transform", "inverse_transform")):
                raise TypeError("target_standardizer must have transform(Y) and "
                                "inverse_transform(Z) methods (e.g. a fitted "
                                f"fastnn.Standardizer) or be None, got {standardizer!r}")
            n_out = getattr(standardizer, "n_features_in_", self.layer_sizes[-1])
            if n_out != self.layer_sizes[-1]:
                raise ValueError(f"the target_standardizer was fitted on {n_out} target "
                                 f"column(s) but the model has {self.layer_sizes[-1]} "
                                 "output(s)")
        self._target_standardizer = standardizer

    @property
    def schema(self) -> Any:
        """The table the model reads (a :class:`fastnn.TableSchema`), or None.

        Its feature columns in order (numeric, or categorical with the categories of
        their one-hot inputs), the target column's name and the class labels of a
        classifier. The model's own methods take the encoded matrix (m, n_x) and give
        class indices; the schema, saved with the model, is how a file of rows is
        encoded for it and its indices are named (``fastnn predict`` and ``evaluate``
        use it).
        """
        return self._schema

    @schema.setter
    def schema(self, schema: Any) -> None:
        if schema is not None:
            if not callable(getattr(schema, "check_model", None)):
                raise TypeError(f"schema must be a fastnn.TableSchema or None, got {schema!r}")
            schema.check_model(self.layer_sizes[0], self.layer_sizes[-1], self.output)
        self._schema = schema

    # -- parameters -------------------------------------------------------------------

    @property
    def params(self) -> dict[str, FloatArray]:
        """Copies of the parameters: {"W1": (n1, n0), "b1": (n1,), ..., "WL", "bL"}; with
        batch norm, a hidden layer's bias is "beta<l>" and its "gamma<l>" (n_l,) follows
        the output layer's."""
        return {name: array.copy() for name, array in zip(self.network.names,
                                                          self._engine.parameters.arrays)}

    def set_params(self, params: Mapping[str, ArrayLike]) -> MLP:
        """Copy `params` (a dict like :attr:`params`) into the model; shapes are checked.

        All arrays are checked before any is copied, so a bad dict changes nothing.

        Parameters
        ----------
        params : dict
            ``{"W1": (n1, n0), "b1": (n1,), ..., "WL": (nL, nL-1), "bL": (nL,)}`` (with
            batch norm as :attr:`params` names them), exactly these keys; values are cast
            to the model's dtype and must be finite in it.

        Returns
        -------
        self : MLP
        """
        staged = self._staged("params", params, self.network.names, self.network.shapes)
        with self._guard.writing():
            self._engine.set_parameters(staged)
        return self

    @property
    def running_statistics(self) -> dict[str, FloatArray]:
        """Copies of batch norm's running statistics, the normalization predictions use:
        {"mean1": (n1,), "var1": (n1,), ...} for each hidden layer (empty without batch
        norm); saved with the model."""
        names = self._statistics_names()
        return {name: array.copy() for name, array in zip(names,
                                                          self._engine.statistics.arrays())}

    def set_running_statistics(self, statistics: Mapping[str, ArrayLike]) -> MLP:
        """Copy `statistics` (a dict like :attr:`running_statistics`: every key, shapes
        checked, finite, variances >= 0) into the model.

        Returns
        -------
        self : MLP
        """
        names = self._statistics_names()
        staged = self._staged("statistics", statistics, names,
                              [a.shape for a in self._engine.statistics.arrays()])
        for name, array in zip(names, staged):
            if name.startswith("var") and (array < 0).any():
                raise ValueError(f"statistics[{name!r}] must be >= 0 (a variance)")
        with self._guard.writing():
            self._engine.set_statistics(staged)
        return self

    def _statistics_names(self) -> list[str]:
        return [f"{kind}{l + 1}" for l in self.network.normalized for kind in ("mean", "var")]

    def _staged(self, argument: str, given: Mapping[str, ArrayLike], names: Sequence[str],
                shapes: Sequence[tuple[int, ...]]) -> list[FloatArray]:
        """The arrays of `given` (a dict with exactly the keys `names`), each checked and
        cast by :meth:`_cast`, in the order of `names`: nothing is copied in until all
        pass."""
        if not isinstance(given, Mapping):
            raise TypeError(f"{argument} must be a dict of arrays, got {type(given).__name__}")
        missing, extra = set(names) - set(given), set(given) - set(names)
        if missing or extra:
            raise ValueError(f"{argument} keys do not match the model: missing "
                             f"{sorted(missing)}, unexpected {sorted(map(str, extra))}")
        return [self._cast(f"{argument}[{name!r}]", given[name], shape)
                for name, shape in zip(names, shapes)]

    def _cast(self, name: str, value: ArrayLike, shape: tuple[int, ...]) -> FloatArray:
        """`value` as a finite array of the model's dtype and `shape`."""
        array = np.asarray(value)
        if array.shape != shape:
            raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) \
                or np.issubdtype(array.dtype, np.complexfloating):
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
        with np.errstate(over="ignore"):
            array = array.astype(self.dtype)
        # Checked after the cast: 1e300 is finite in float64 but inf in float32.
        if not np.isfinite(array).all():
            raise ValueError(f"{name} must be finite in {self.dtype.name}")
        return array

    @property
    def n_params(self) -> int:
        """Number of scalar parameters."""
        return int(self._engine.parameters.flat.size)

    # -- inputs -----------------------------------------------------------------------

    def prepare_inputs(self, X: ArrayLike, name: str = "X",
                       standardize: bool = True) -> FloatArray:
        """X checked and converted as the engine takes it: a finite C-contiguous
        (m, n_x) array of the model's dtype, standardized unless told not to."""
        network = self.network  # once: every public call passes here
        X = check_matrix(name, X, network.layer_sizes[0], network.dtype)
        return self.standardize(X) if standardize else X

    def prepare(self, X: ArrayLike, y: ArrayLike, *, names: tuple[str, str] = ("X", "y"),
                standardize: bool = True) -> tuple[FloatArray, NDArray[Any]]:
        """X as :meth:`prepare_inputs` gives it, and y as the output layer's loss reads it
        (see :func:`fastnn.blocks.losses.prepare_targets`)."""
        X = self.prepare_inputs(X, names[0], standardize)
        network = self.network
        targets = prepare_targets(network.output, y, X.shape[0], network.layer_sizes[-1],
                                  network.dtype, names[1])
        return X, self._through_target_standardizer("transform", targets, names[1])

    def _through_target_standardizer(self, method: str, values: FloatArray,
                                     name: str) -> FloatArray:
        """`values` (m, n_L) through the target standardizer's `method` ("transform" or
        "inverse_transform"), if there is one; what it returns is checked like user
        input (finite in the model's dtype)."""
        if self._target_standardizer is None:
            return values
        out = getattr(self._target_standardizer, method)(values)
        if np.shape(out) != values.shape:
            raise ValueError(f"target_standardizer.{method} returned shape {np.shape(out)} "
                             f"for {name} of shape {values.shape}")
        return check_matrix(f"target_standardizer.{method}({name})", out,
                            self.layer_sizes[-1], self.dtype)

    def standardize(self, X: FloatArray) -> FloatArray:
        """X (checked) through the standardizer, if any; what it returns is checked like
        user input."""
        if self._standardizer is None:
            return X
        out = self._standardizer.transform(X)
        if np.shape(out) != X.shape:
            raise ValueError(f"standardizer.transform returned shape {np.shape(out)} for X of "
                             f"shape {X.shape}")
        return check_matrix("standardizer.transform(X)", out, self.layer_sizes[0], self.dtype)

    # -- predictions (reads: any number of threads at once) ----------------------------

    def forward(self, X: ArrayLike, train: bool = False) -> FloatArray:
        """Output activations (m, n_L): probabilities for sigmoid/softmax, values for linear.

        With ``train=True`` the dropout masks of the current training step (``step_``)
        are applied (inverted dropout) and batch norm normalizes X by its own statistics,
        as a training step does; otherwise dropout is off and batch norm uses its running
        statistics, as at prediction time.  These are the network's own outputs: with a
        :attr:`target_standardizer` they are standardized values (:meth:`predict_proba`
        gives them in the targets' units).

        Parameters
        ----------
        X : array_like (m, n_x)
            Raw inputs (standardized by :attr:`standardizer` when it is set).
        train : bool, default False

        Returns
        -------
        A : ndarray (m, n_L) of the model's dtype
        """
        X = self.prepare_inputs(X)
        if train:
            self._check_batch_statistics(X.shape[0])
            with self._guard.writing(), blas_threads(self._n_threads):
                return self._finite_outputs(self._engine.training_output(X, self._step))
        with self._guard.reading(), blas_threads(self._n_threads):
            return self._finite_outputs(self._engine.predict(X))

    @staticmethod
    def _finite_outputs(A: FloatArray) -> FloatArray:
        """A, unless finite inputs overflowed on the way (inf - inf in a layer's product
        is NaN, and no probability): then an error rather than a silent NaN."""
        if not finite(A):
            raise ValueError("X is too large for the model: its values overflow inside the "
                             "network (non-finite outputs from finite inputs); normalize the "
                             "inputs (fnn.Standardizer)")
        return A

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """Output probabilities (m, n_L), dropout off.

        Parameters
        ----------
        X : array_like (m, n_x)

        Returns
        -------
        proba : ndarray (m, n_L)
            sigmoid: P(y=1) per output unit; softmax: one column per class; linear: the
            predicted values, in the targets' units (the network's outputs through
            ``target_standardizer.inverse_transform`` when it is set).
        """
        X = self.prepare_inputs(X)
        with self._guard.reading(), blas_threads(self._n_threads):
            outputs = self._finite_outputs(self._engine.predict(X))
        return self._through_target_standardizer("inverse_transform", outputs,
                                                  "the network's outputs")

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Class labels (m,) (0/1 for sigmoid, argmax for softmax) or values for linear
        (in the targets' units: see :attr:`target_standardizer`).

        Parameters
        ----------
        X : array_like (m, n_x)

        Returns
        -------
        y_hat : ndarray (m,) of int, or (m, n_L) for several sigmoid or linear outputs
        """
        return predict_from_proba(self.output, self.predict_proba(X))

    def error(self, X: ArrayLike, y: ArrayLike) -> float:
        """Error rate 1 - accuracy (mean squared error for a linear output), dropout off.

        With a :attr:`target_standardizer` the mean squared error is that of the
        standardized targets (the MSE over the training targets' variance).

        Parameters
        ----------
        X : array_like (m, n_x)
        y : array_like (m,) or (m, n_L), as the output layer expects

        Returns
        -------
        float
        """
        X, targets = self.prepare(X, y)
        with self._guard.reading(), blas_threads(self._n_threads):
            return self._engine.evaluate(X, targets)[1]

    def cost(self, X: ArrayLike, y: ArrayLike, dropout_step: Optional[int] = None,
             sample_weight: Optional[ArrayLike] = None) -> float:
        """J = (1/m) sum_i L(y_hat_i, y_i) + lambda/(2m) sum_l ||W[l]||_F^2 (+ L1), m the
        examples given, dropout off: the J that :meth:`gradients` differentiates (of the
        standardized targets when a :attr:`target_standardizer` is set).

        With `sample_weight` w, J = (1/sum(w)) sum_i w_i L_i + the penalty with
        m = sum(w): integer weights give the J of the set with each row repeated w_i
        times.  With batch norm, the examples given are one batch, normalized by their
        own statistics as a training step normalizes it (:meth:`error` and the
        predictions use the running statistics).

        Parameters
        ----------
        X : array_like (m, n_x)
        y : array_like (m,) or (m, n_L), as the output layer expects
        dropout_step : int, optional
            With dropout on, with the masks of this training step (``step_`` is the next
            step's): the J that step descends, deterministic for a given step.
        sample_weight : array_like (m,), optional
            Finite weights >= 0, not all 0 (not with batch norm); see
            :func:`fastnn.blocks.losses.example_weights`.

        Returns
        -------
        float
        """
        X, targets = self.prepare(X, y)
        step = None if dropout_step is None else check_counter("dropout_step", dropout_step)
        weights, m = self._example_weights(sample_weight, X.shape[0])
        if step is not None or self.network.batch_norm:
            self._check_batch_statistics(X.shape[0])
            with self._guard.writing(), blas_threads(self._n_threads):
                data_cost = self._engine.training_cost(X, targets, step, weights)
        else:
            with self._guard.reading(), blas_threads(self._n_threads):
                data_cost, _ = self._engine.evaluate(X, targets, weights)
        cost = data_cost + self.penalty(m)
        if not math.isfinite(cost):
            raise ValueError(f"the cost overflows ({cost}) for these inputs: X is too large "
                             "for the model's outputs; normalize the inputs")
        return cost

    def _example_weights(self, sample_weight: Optional[ArrayLike],
                         m: int) -> tuple[Optional[NDArray[np.float64]], float]:
        """(the engine's per-example loss factors or None, the penalty's m)."""
        if sample_weight is None:
            return None, m
        return example_weights(sample_weight, m, self.network.batch_norm)

    def _check_batch_statistics(self, m: int, argument: str = "X") -> None:
        """Batch norm normalizes a batch by its own mean and variance: one example has
        none (its variance is 0)."""
        if self.network.batch_norm and m < 2:
            raise ValueError(f"{argument} has 1 example: batch norm normalizes a training "
                             "batch by its own statistics and needs at least 2 examples")

    def slopes(self, m: float) -> tuple[regularization.Slopes, ...]:
        """What an update folds in of the penalty for a training set of m examples (the sum
        of the sample weights, with weights; see fastnn.blocks.regularization.slopes;
        kept for the last m)."""
        if self._last_slopes[0] != m:
            self._last_slopes = (m, tuple(regularization.slopes(self._l2, self._l1, m,
                                                                self._l1_mode)))
        return self._last_slopes[1]

    def penalty(self, m: float) -> float:
        """The regularization term lambda/(2m) sum_l ||W[l]||_F^2 + lambda_1/(2m) ||W[l]||_1
        of J for a training set of m examples (with sample weights: their sum, > 0)."""
        m = check_real("m", m, 0.0, low_open=True)
        return regularization.penalty(self._engine.parameters.weights, self._l2, self._l1, m)

    # -- gradients and training (writes: one thread) -----------------------------------

    def gradients(self, X: ArrayLike, y: ArrayLike, dropout_step: Optional[int] = None,
                  sample_weight: Optional[ArrayLike] = None) -> dict[str, FloatArray]:
        """Gradients of :meth:`cost`: {"dW1": (n1, n0), "db1": (n1,), ...}, dropout off (or
        with the masks of `dropout_step`, as cost takes it), of the weighted J with
        `sample_weight`.

        Includes the regularisation terms: dW += (lambda/m) W + (lambda_1/(2m)) sign(W)
        (m = sum(sample_weight) with weights).

        Parameters
        ----------
        X : array_like (m, n_x)
        y : array_like (m,) or (m, n_L)
        dropout_step : int, optional
        sample_weight : array_like (m,), optional
            As :meth:`cost` takes it.

        Returns
        -------
        dict
            ``{"dW1": (n1, n0), "db1": (n1,), ..., "dWL": (nL, nL-1), "dbL": (nL,)}``:
            "d" + each name of :attr:`params`.
        """
        X, targets = self.prepare(X, y)
        step = None if dropout_step is None else check_counter("dropout_step", dropout_step)
        weights, m = self._example_weights(sample_weight, X.shape[0])
        self._check_batch_statistics(X.shape[0])
        with self._guard.writing(), blas_threads(self._n_threads):
            result = self._engine.backprop(X, targets, step, weights)
        W = self._engine.parameters.weights
        grads: dict[str, FloatArray] = {}
        for name, grad in zip(self.network.names, result.grads):
            if name.startswith("W"):
                l = int(name[1:]) - 1
                grad = grad + regularization.gradient(W[l], self._l2[l], self._l1[l],
                                                      m).astype(grad.dtype)
            grads["d" + name] = grad
        return grads

    def backprop(self, X: ArrayLike, y: ArrayLike) -> Any:
        """One forward and backward pass with dropout off, for diagnostics: the data cost,
        every layer's output A[l] and dZ[l] (m, n[l]) and the data term of its gradients
        (a :class:`fastnn.engine.base.Backprop`)."""
        X, targets = self.prepare(X, y)
        self._check_batch_statistics(X.shape[0])
        with self._guard.writing(), blas_threads(self._n_threads):
            return self._engine.backprop(X, targets)

    def train_step(self, X: ArrayLike, y: ArrayLike, optimizer: Optimizer,
                   n_train: Optional[int] = None) -> float:
        """One gradient step on the batch (X, y) with dropout on; returns its data cost.

        Parameters
        ----------
        X : array_like (m, n_x)
        y : array_like (m,) or (m, n_L)
        optimizer : SGD, Momentum or Adam
            The model keeps this optimizer's state; another optimizer than its
            ``optimizer_`` starts from fresh state.
        n_train : int, optional
            The training set's size, the m of the penalty's slopes lambda/m (default:
            this batch's size, as if it were the whole training set).

        Returns
        -------
        float
            The data cost J of the batch before the update (dropout on, no
            regularization term).

        Raises
        ------
        TrainingDiverged
            If the cost or the updated weights are not finite; the model keeps its
            weights, ``step_`` and optimizer state from before the step.
        """
        X, targets = self.prepare(X, y)
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a fastnn optimizer (SGD, Momentum, Adam), "
                            f"got {optimizer!r}")
        m = X.shape[0] if n_train is None else check_int("n_train", n_train, low=1)
        self._check_batch_statistics(X.shape[0])
        with self._guard.writing(training=True), blas_threads(self._n_threads):
            self.optimizer_ = optimizer
            cost = self._engine.train_step(X, targets, optimizer, self.slopes(m), self._step)
            if not math.isfinite(cost):
                raise TrainingDiverged(f"the training step diverged (cost {cost}); the model "
                                       "keeps its weights from before it. "
                                       + divergence_advice(X, targets, self.output))
            self._step += 1
        return cost

    def fit(self, X: ArrayLike, y: ArrayLike, epochs: int = defaults.EPOCHS,
            optimizer: Union[Optimizer, str, None] = None,
            batch_size: Optional[int] = defaults.BATCH_SIZE,
            **kwargs: Any) -> History:
        """Train the model; see :func:`fastnn.model.fitting.fit` for every option.

        Parameters
        ----------
        X : array_like (m, n_x)
        y : array_like (m,) or (m, n_L)
        epochs : int, default 100
        optimizer : Optimizer or str, optional
            An optimizer, or one's name with its defaults ("adam", ...); default: the
            last fit's, else ``Adam()`` (lr 0.001).
        batch_size : int or None, default 64
            None is full-batch gradient descent, the course's iterations.
        **kwargs
            ``dev``, ``lr_schedule``, ``early_stopping``, ``callbacks``, ``augment``,
            ``verbose`` (0 silent, 1 a progress bar, 2 a line per evaluated epoch),
            ``progress``, ``eval_every``, ``train_metrics``, ``sample_weight``,
            ``shuffle``: see :func:`fastnn.model.fitting.fit`.

        Returns
        -------
        History
        """
        check_arguments("fit", kwargs, parameter_names(fit) - {"model", "X", "y"},
                        FIT_ARGUMENTS)
        with self._guard.writing(training=True):
            return fit(self, X, y, epochs=epochs, optimizer=optimizer, batch_size=batch_size,
                       **kwargs)

    # -- copies and files -------------------------------------------------------------

    def save(self, path: Union[str, os.PathLike[str]]) -> None:
        """Write the model to `path` (.npz + JSON metadata), atomically; see :func:`fastnn.load`."""
        # The one lazy import of the package: saving sits above the model (files know
        # models, models do not know files), and save is its front door.
        from fastnn.workflow.io import save
        save(self, path)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-friendly (enough to rebuild the architecture)."""
        return {
            "layer_sizes": list(self.layer_sizes), "activation": list(self.activation),
            "output": self.output, "init": self.init, "init_scale": self.init_scale,
            "keep_prob": list(self.keep_prob), "input_keep_prob": self.input_keep_prob,
            "l2": list(self.l2), "l1": list(self.l1), "dtype": self.dtype.name,
            "backend": self.backend, "seed": self.seed, "n_threads": self.n_threads,
            "l1_mode": self.l1_mode, "batch_norm": self.batch_norm,
            "bn_momentum": self.bn_momentum, "bn_epsilon": self.bn_epsilon,
        }

    def __getstate__(self) -> dict[str, Any]:
        # The engine holds compiled plans (raw pointers): the model pickles as its
        # configuration, parameters and training state, and rebuilds an engine.
        return {"config": self.get_config(), "params": self.params,
                "running_statistics": self.running_statistics, "step": self._step,
                "epoch": self._epoch, "optimizer": self._optimizer,
                "optimizer_state": self.optimizer_state(), "lr_schedule": self._schedule,
                "standardizer": self._standardizer,
                "target_standardizer": self._target_standardizer, "schema": self._schema}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["config"])  # type: ignore[misc]
        self.set_params(state["params"])
        self.set_running_statistics(state.get("running_statistics", {}))
        self.step_, self.epoch_ = state["step"], state["epoch"]
        if state["optimizer"] is not None and state["optimizer_state"] is not None:
            self.set_optimizer_state(state["optimizer"], *state["optimizer_state"])
        self.lr_schedule_ = state.get("lr_schedule")
        self.standardizer = state["standardizer"]
        self.target_standardizer = state.get("target_standardizer")
        self.schema = state.get("schema")

    def copy(self) -> MLP:
        """An independent copy: configuration, weights, training state, standardizers and
        schema (the same objects) and optimizer (the same object, with a copy of its state)."""
        clone = MLP.__new__(MLP)
        clone.__setstate__(self.__getstate__())
        return clone

    def astype(self, dtype: FloatDTypeLike) -> MLP:
        """A copy of the model in another dtype, of the same class: weights cast, counters
        and standardizer kept, no optimizer; methods patched on this instance come along
        (gradient checking's float64 copy checks them)."""
        clone = type(self).__new__(type(self))
        clone.__setstate__({**self.__getstate__(), "optimizer": None,
                            "config": {**self.get_config(), "dtype": dtype}})
        for name, value in vars(self).items():
            if not name.startswith("_"):
                setattr(clone, name, value)
        return clone

    def __repr__(self) -> str:
        c = self.get_config()
        return (f"MLP({c['layer_sizes']}, activation={c['activation']}, output={c['output']!r}, "
                f"keep_prob={c['keep_prob']}, l2={c['l2']}, dtype={c['dtype']!r}, "
                f"backend={c['backend']!r})")
