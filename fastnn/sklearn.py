"""scikit-learn estimators backed by fastnn: :class:`MLPClassifier` and :class:`MLPRegressor`.

They take scikit-learn's ``sklearn.neural_network`` constructor arguments with
scikit-learn's meanings and defaults, give its fitted attributes and methods
(``partial_fit``, ``warm_start``, ``sample_weight``, the ``tol`` / ``n_iter_no_change``
convergence stop, ``ConvergenceWarning``), so that a script runs unchanged with::

    from fastnn.sklearn import MLPClassifier      # instead of sklearn.neural_network

and add fastnn's own options (dropout, L1, initializers, batch norm, augmentation,
float32, threads, the NumPy backend) and ``class_weight``.  The README's "scikit-learn"
section maps every argument and states each difference.

scikit-learn is an optional dependency (``pip install fastnn[sklearn]``); it is imported
here and only here, so ``import fastnn`` never loads it.  The estimators follow
scikit-learn's conventions: every constructor argument is stored as given and checked in
``fit``; fitted attributes end in ``_``; ``clone``, ``get_params``/``set_params``,
``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and pickling work; both pass
``sklearn.utils.estimator_checks.check_estimator``.

Inputs are not standardized inside the estimators (the course's "normalize your inputs"
is a separate step): put a ``StandardScaler`` in front of them in a ``Pipeline``.
"""
from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None

from fastnn.blocks.callbacks import Callback
from fastnn.blocks.losses import example_weights
from fastnn.blocks.names import BackendName, InitName, OutputName
from fastnn.blocks.optim import SGD, Adam, AdamW, Momentum, Nesterov, Optimizer, RMSprop
from fastnn.blocks.schedules import InverseTimeDecay
from fastnn.blocks.types import FloatDTypeLike
from fastnn.blocks.validation import check_dtype, check_int, check_real
from fastnn.model import MLP

if TYPE_CHECKING:
    from fastnn.blocks.history import History

__all__ = ["MLPClassifier", "MLPRegressor"]

# scikit-learn's names for activations, accepted as aliases of fastnn's.
_ACTIVATION_ALIASES = {"logistic": "sigmoid", "identity": "linear"}
#: The solvers: scikit-learn's stochastic ones, then fastnn's extras.
SOLVERS = ("adam", "sgd", "momentum", "rmsprop", "adamw")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
#: The solvers a learning_rate schedule applies to (scikit-learn: only "sgd").
_SCHEDULED = ("sgd", "momentum")
#: "adaptive" stops once a plateau finds the rate at or below this (scikit-learn's).
_SMALLEST_ADAPTIVE_RATE = 1e-6
#: batch_size="auto": min(AUTO_BATCH, n_samples), scikit-learn's.
AUTO_BATCH = 200

_PARAMETERS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default (100,)
        Units of each hidden layer, input to output; ``()`` gives a network with no
        hidden layer (logistic / linear regression).
    activation : str or sequence of str, default "relu"
        Hidden activation: scikit-learn's "relu", "tanh", "logistic", "identity", or
        fastnn's "leaky_relu", "selu", "sigmoid", "linear"; one name for every hidden
        layer or one per hidden layer.
    solver : {"adam", "sgd", "momentum", "rmsprop", "adamw"}, default "adam"
        "adam" (`beta_1`, `beta_2`, `epsilon`) and "sgd" (with `momentum` and
        `nesterovs_momentum`) are scikit-learn's; "momentum" (the course's averaged
        velocity ``v := momentum v + (1 - momentum) g``, ``W -= learning_rate_init v``),
        "rmsprop" (decay `beta_2`, `epsilon`) and "adamw" (`weight_decay`) are fastnn's.
        "lbfgs" is not supported (a ValueError names these).
    alpha : float, default 0.0001
        scikit-learn's L2 strength: each minibatch of b examples adds
        ``alpha / (2 b) sum ||W||^2`` to its mean loss (b the batch's sum of sample
        weights).  The network trains on fastnn's J with ``l2 = alpha * n / b`` (the
        course's lambda over the training set's n examples, README "Conventions"), whose
        minibatch steps shrink the weights by the same ``alpha / b`` per step: alpha
        means what it means in scikit-learn, and ``l2 = alpha`` for full batches.
    batch_size : int, "auto" or None, default "auto"
        Minibatch size; "auto" is ``min(200, n_samples)``; an int above n_samples is
        clipped (with a warning, as scikit-learn does); None is full-batch gradient
        descent (fastnn's).
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        For solver "sgd" and "momentum" (the others run at a constant rate):
        "invscaling" is ``learning_rate_init / (t + 1) ** power_t`` with t the examples
        seen before the epoch (:class:`fastnn.InverseTimeDecay` with decay_rate n and
        power power_t); "adaptive" divides the rate by 5 each time the convergence test
        below fails, instead of stopping, until the rate is at most 1e-6.
    learning_rate_init : float, default 0.001
        The step size.  For solver "sgd" with momentum mu > 0 the fastnn optimizer
        averages its velocity and runs at ``learning_rate_init / (1 - mu)``, which takes
        scikit-learn's steps exactly (:class:`fastnn.Momentum`, :class:`fastnn.Nesterov`).
    power_t : float, default 0.5
        The exponent of "invscaling".
    max_iter : int, default 200
        Epochs (passes over the training data) at most.
    shuffle : bool, default True
        Reshuffle the minibatches every epoch (from `random_state`).
    random_state : int, RandomState instance or None, default None
        Seeds the initial weights, the dropout masks, the minibatch order and the
        validation split: an int is the network's seed itself; a RandomState (or numpy
        Generator) is drawn from; None draws from NumPy's global RandomState (so
        ``np.random.seed`` fixes it), as scikit-learn does.
    tol : float, default 1e-4
        The convergence test: training stops when the training loss has not decreased by
        more than `tol` below its best (with `early_stopping`: the validation score has
        not increased by at least `tol` above its best) for more than
        `n_iter_no_change` consecutive epochs.
    verbose : bool or int, default False
        Print scikit-learn's lines: "Iteration N, loss = ..." each epoch (and the
        validation score), and why training stopped.
    warm_start : bool, default False
        `fit` continues from the fitted network (new optimizer state, as scikit-learn)
        instead of a new one; the classes must be the same.
    momentum : float in [0, 1), default 0.9
        Solver "sgd": classical momentum (0: plain SGD); solver "momentum": the
        velocity's average.
    nesterovs_momentum : bool, default True
        Solver "sgd": Nesterov's look-ahead step (:class:`fastnn.Nesterov`).
    early_stopping : bool, default False
        Hold out `validation_fraction` of the training data (stratified for the
        classifier; or use `dev_set`), stop on the validation score with `tol` and
        `n_iter_no_change`, and end with the weights of the best validation score.
    validation_fraction : float in [0, 1), default 0.1
        Share of the training data held out when `early_stopping` (then > 0).
    beta_1, beta_2 : float in [0, 1), default 0.9, 0.999
        Adam's (and AdamW's) moment decays; RMSprop's square average decays by beta_2.
    epsilon : float > 0, default 1e-8
        Adam's, AdamW's and RMSprop's epsilon.
    n_iter_no_change : int or np.inf, default 10
        The epochs the convergence test waits (np.inf: never stop early).
    max_fun : int, default 15000
        Accepted for scikit-learn's signature; used only by its "lbfgs" solver, which
        fastnn does not have.
    keep_prob : float or sequence of float, default 1.0
        fastnn: inverted-dropout probability of *keeping* a hidden unit, in (0, 1]; one
        value or one per hidden layer.  Dropout is off at prediction time.
    input_keep_prob : float, default 1.0
        fastnn: keep probability of the input features.
    l1 : float or sequence of float, default 0.0
        fastnn: the course's L1 penalty ``l1/(2n) sum_l ||W[l]||_1`` over the training
        set's n examples (one value, or one per layer).
    init : {"he", "kaiming", "xavier", "glorot", "lecun", "random", "zeros"}, default "he"
        fastnn: weight initialization, biases at zero (scikit-learn draws weights and
        biases from a uniform Glorot range; "xavier" has its variance).
    init_scale : float, default 1.0
        fastnn: multiplies the initializer's variance ("random": its standard deviation).
    batch_norm : bool, default False
        fastnn: batch normalization of the hidden layers (see :class:`fastnn.MLP`); every
        minibatch needs 2 examples or more; not with sample weights.
    augment : fastnn.Augmentation or callable ``(X_batch, rng) -> X_batch``, default None
        fastnn: applied to every training minibatch (see :func:`fastnn.MLP.fit`).
    weight_decay : float, default 0.01
        fastnn: solver "adamw"'s decoupled weight decay (unused by the others).
    dev_set : (X_dev, y_dev) or None, default None
        fastnn: a validation set used instead of `validation_fraction`; its scores are
        recorded in ``validation_scores_`` with or without early stopping.  Given to the
        network as is: inside a Pipeline it does *not* pass through the preceding steps.
    dtype : {"float64", "float32"}, default "float64"
        fastnn: the network's precision (predictions are float64 either way).
    n_threads : int or None, default None
        fastnn: cap on the BLAS threads while this network computes; set 1 when a search
        runs fits in parallel (``n_jobs``).
    backend : {"cython", "reference"}, default "cython"
        fastnn's compiled kernels, or the pure-NumPy reference implementation.
"""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
    coefs_ : list of ndarray, length n_layers_ - 1
        ``coefs_[i]`` of shape (n_units[i], n_units[i + 1]): copies of the weights as
        scikit-learn lays them out (fastnn's ``W{{i+1}}`` transposed).  Writing into them
        does not change the network (use ``model_.set_params``).
    intercepts_ : list of ndarray, length n_layers_ - 1
        ``intercepts_[i]`` of shape (n_units[i + 1],): copies of the biases (with batch
        norm, the beta of each hidden layer).
    loss_ : float
        The training loss of the last epoch.
    loss_curve_ : list of float, length: the epochs of every fit since the last cold one
        Training loss (data loss plus the penalties) of each epoch, as fastnn's History
        measures it: the running average of the epoch's minibatch losses (full-batch or
        dropout fits: the loss of the whole training set after the epoch, dropout off);
        weighted by the sample weights.
    best_loss_ : float or None
        The smallest training loss; None with early stopping.
    validation_scores_ : list of float or None
        The validation score ({score}) of each epoch with early stopping (or `dev_set`),
        else None.
    best_validation_score_ : float or None
        The best of ``validation_scores_``, or None.
    t_ : int
        Training examples seen (epochs times training-set size).
    n_iter_ : int
        Epochs run by the last call of fit or partial_fit.
    n_layers_ : int
        Layers, input and output included.
    n_outputs_ : int
        Output units.
    out_activation_ : str
        "logistic", "softmax" or "identity".
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Feature names seen in fit, when X has string column names (a DataFrame).
    model_ : fastnn.MLP
        The fitted network (``model_.l2`` is ``alpha * n / b``).
    history_ : fastnn.History
        The last fit's per-epoch training figures.
    best_epoch_ : int or None
        With early stopping, the epoch (counted over the network's training) whose
        weights the network holds; else None.
"""


def _validate(estimator: Any, X: Any, y: Any = "no_validation", **kwargs: Any) -> Any:
    """scikit-learn's validate_data (>= 1.6), or the method it replaced."""
    if _sk_validate_data is not None:
        return _sk_validate_data(estimator, X, y, **kwargs)
    return estimator._validate_data(X, y, **kwargs)  # pragma: no cover


def _seed(random_state: Any) -> int:
    """The network's seed from `random_state`: an int as is, a draw from a RandomState
    or Generator, or a draw from NumPy's global RandomState for None."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state,
                                                                     (bool, np.bool_)):
        return check_int("random_state", random_state, low=0, high=2**63)
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    raise TypeError(f"random_state must be an int >= 0, a numpy RandomState (or Generator) "
                    f"or None, got {random_state!r}")


def _hidden_sizes(hidden_layer_sizes: Union[int, Sequence[int]]) -> list[int]:
    sizes: Any = hidden_layer_sizes
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
        sizes = (sizes,)
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"hidden_layer_sizes must be an int or a sequence of ints, "
                        f"got {hidden_layer_sizes!r}")
    return [check_int(f"hidden_layer_sizes[{i}]", n, low=1) for i, n in enumerate(sizes)]


def _activation(activation: Any) -> Any:
    if isinstance(activation, str):
        return _ACTIVATION_ALIASES.get(activation, activation)
    if isinstance(activation, (list, tuple)):
        return [_ACTIVATION_ALIASES.get(a, a) if isinstance(a, str) else a for a in activation]
    return activation  # fastnn.MLP reports the type error


def _per_layer_value(value: Any) -> Any:
    # Lists and tuples pass through (per-layer values); arrays become lists.
    return list(value) if isinstance(value, np.ndarray) else value


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


@dataclass
class _Solver:
    """The optimizer of a fit and what the convergence callback needs of it: the factor
    between the optimizer's lr and scikit-learn's learning rate, and whether the
    learning_rate schedule applies."""

    optimizer: Optimizer
    scale: float
    scheduled: bool


@dataclass
class _Progress:
    """scikit-learn's bookkeeping across the epochs (and calls) of one network: what the
    convergence callback updates, committed to the estimator when a fit ends."""

    loss_curve: list[float] = field(default_factory=list)
    t: int = 0
    best_loss: Optional[float] = math.inf
    validation_scores: Optional[list[float]] = None
    best_validation_score: Optional[float] = None
    no_improvement: int = 0
    best_epoch: Optional[int] = None
    best_state: Optional[tuple[dict[str, Any], dict[str, Any]]] = None
    n_iter: int = 0
    converged: bool = False


class _Convergence(Callback):
    """scikit-learn's end of an epoch, after every epoch of a fit: the loss curve, the
    validation score, the no-improvement count against `tol`, the "adaptive" rate and the
    stop (scikit-learn's ``_update_no_improvement_count`` and ``trigger_stopping``)."""

    every = 1

    def __init__(self, estimator: _BaseMLP, progress: _Progress, solver: _Solver,
                 n_train: int, validation: Optional[tuple[Any, Any, Any]],
                 incremental: bool) -> None:
        self.estimator, self.progress, self.solver = estimator, progress, solver
        self.n_train, self.validation, self.incremental = n_train, validation, incremental

    def on_epoch_end(self, model: Any, epoch: int, history: History) -> bool:
        est, state = self.estimator, self.progress
        loss = float(history["train_cost"][-1])
        state.loss_curve.append(loss)
        state.t += self.n_train
        state.n_iter += 1
        if est.verbose:
            print(f"Iteration {state.n_iter}, loss = {loss:.8f}")
        score = None
        if self.validation is not None:
            score = est._score_network(model, *self.validation)
            assert state.validation_scores is not None
            state.validation_scores.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
        tol = float(est.tol)
        if est.early_stopping:
            assert score is not None and state.best_validation_score is not None
            state.no_improvement = (state.no_improvement + 1
                                    if score < state.best_validation_score + tol else 0)
            if score > state.best_validation_score:
                state.best_validation_score, state.best_epoch = score, epoch
                state.best_state = (model.params, model.running_statistics)
        else:
            assert state.best_loss is not None
            state.no_improvement = (state.no_improvement + 1
                                    if loss > state.best_loss - tol else 0)
            state.best_loss = min(state.best_loss, loss)
            if score is not None and (state.best_validation_score is None
                                      or score > state.best_validation_score):
                state.best_validation_score = score
        if state.no_improvement <= est.n_iter_no_change:
            return False
        what = "Validation score" if est.early_stopping else "Training loss"
        message = (f"{what} did not improve more than tol={tol:f} for "
                   f"{est.n_iter_no_change} consecutive epochs.")
        if est.learning_rate == "adaptive" and self.solver.scheduled:
            optimizer = self.solver.optimizer
            rate = optimizer.lr / self.solver.scale
            if rate > _SMALLEST_ADAPTIVE_RATE:
                # The epochs after this callback run at the optimizer's new lr.
                optimizer.lr = rate / 5.0 * self.solver.scale
                state.no_improvement = 0
                if est.verbose:
                    print(f"{message} Setting learning rate to {rate / 5.0:f}")
                return False
            message += " Learning rate too small."
        if est.verbose:
            print(f"{message} Stopping.")
        state.converged = True
        return not self.incremental


class _BaseMLP(BaseEstimator):
    """Shared fit/predict machinery; subclasses define the output layer and targets."""

    model_: MLP
    _network_key: str
    history_: History
    coefs_: list[NDArray[Any]]
    intercepts_: list[NDArray[Any]]
    loss_: float
    loss_curve_: list[float]
    best_loss_: Optional[float]
    validation_scores_: Optional[list[float]]
    best_validation_score_: Optional[float]
    best_epoch_: Optional[int]
    t_: int
    n_iter_: int
    n_layers_: int
    n_outputs_: int
    out_activation_: str

    def __init__(self, hidden_layer_sizes: Union[int, Sequence[int]] = (100,),
                 activation: Union[str, Sequence[str]] = "relu", *, solver: str = "adam",
                 alpha: float = 0.0001, batch_size: Union[int, str, None] = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001,
                 power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4,
                 verbose: Union[bool, int] = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 n_iter_no_change: Union[int, float] = 10, max_fun: int = 15000,
                 keep_prob: Union[float, Sequence[float]] = 1.0, input_keep_prob: float = 1.0,
                 l1: Union[float, Sequence[float]] = 0.0, init: InitName = "he",
                 init_scale: float = 1.0, batch_norm: bool = False,
                 augment: Optional[Callable[..., Any]] = None, weight_decay: float = 0.01,
                 dev_set: Optional[Sequence[ArrayLike]] = None,
                 dtype: FloatDTypeLike = "float64", n_threads: Optional[int] = None,
                 backend: BackendName = "cython") -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.keep_prob = keep_prob
        self.input_keep_prob = input_keep_prob
        self.l1 = l1
        self.init = init
        self.init_scale = init_scale
        self.batch_norm = batch_norm
        self.augment = augment
        self.weight_decay = weight_decay
        self.dev_set = dev_set
        self.dtype = dtype
        self.n_threads = n_threads
        self.backend = backend

    # -- subclass hooks -------------------------------------------------------

    def _validate_Xy(self, X: Any, y: Any, dtype: np.dtype[Any],
                     reset: bool) -> tuple[NDArray[Any], NDArray[Any]]:
        raise NotImplementedError

    def _encode_targets(self, y: NDArray[Any], first: bool, incremental: bool) -> NDArray[Any]:
        """Targets in the network's form, checked against the fitted network's unless
        `first` (a new network), when a fit (not partial_fit) sets the target attributes
        (classes_, ...)."""
        raise NotImplementedError

    def _transform_targets(self, y: Any, name: str) -> NDArray[Any]:
        """Targets of another set (a dev set) as the estimator's score takes them."""
        raise NotImplementedError

    def _class_weights(self, y: NDArray[Any], incremental: bool) -> Optional[NDArray[Any]]:
        """Per-example weights from class_weight (the classifier), or None."""
        return None

    def _output(self) -> OutputName:
        raise NotImplementedError

    def _predictions(self, out: NDArray[np.float64]) -> NDArray[Any]:
        """What predict returns, from the network's output activations (float64)."""
        raise NotImplementedError

    def _score(self, y: Any, y_pred: NDArray[Any], sample_weight: Any) -> float:
        raise NotImplementedError

    # -- the hyperparameters ----------------------------------------------------

    def _check_hyperparameters(self) -> np.dtype[Any]:
        """Check the wrapper's own parameters (fastnn.MLP checks the network's)."""
        if not isinstance(self.solver, str) or self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {list(SOLVERS)} (fastnn has no "
                             f"'lbfgs'); got {self.solver!r}")
        check_real("alpha", self.alpha, 0.0)
        if not (self.batch_size is None or isinstance(self.batch_size, str)
                and self.batch_size == "auto"):
            check_int("batch_size", self.batch_size, low=1)
        if not isinstance(self.learning_rate, str) or self.learning_rate not in LEARNING_RATES:
            raise ValueError(f"learning_rate must be one of {list(LEARNING_RATES)} (the "
                             f"step size is learning_rate_init); got {self.learning_rate!r}")
        check_real("learning_rate_init", self.learning_rate_init, 0.0, low_open=True)
        check_real("power_t", self.power_t, 0.0)
        check_int("max_iter", self.max_iter, low=1)
        _check_bool("shuffle", self.shuffle)
        check_real("tol", self.tol, 0.0)
        if not isinstance(self.verbose, (bool, np.bool_, numbers.Integral)):
            raise TypeError(f"verbose must be a bool or an int, got {self.verbose!r}")
        _check_bool("warm_start", self.warm_start)
        check_real("momentum", self.momentum, 0.0, 1.0, high_open=True)
        _check_bool("nesterovs_momentum", self.nesterovs_momentum)
        _check_bool("early_stopping", self.early_stopping)
        check_real("validation_fraction", self.validation_fraction, 0.0, 1.0,
                   low_open=bool(self.early_stopping and self.dev_set is None),
                   high_open=True)
        check_real("beta_1", self.beta_1, 0.0, 1.0, high_open=True)
        check_real("beta_2", self.beta_2, 0.0, 1.0, high_open=True)
        check_real("epsilon", self.epsilon, 0.0, low_open=True)
        if not (isinstance(self.n_iter_no_change, float) and self.n_iter_no_change == math.inf):
            check_int("n_iter_no_change", self.n_iter_no_change, low=1)
        check_int("max_fun", self.max_fun, low=1)
        check_real("weight_decay", self.weight_decay, 0.0)
        _check_bool("batch_norm", self.batch_norm)
        if self.augment is not None and not callable(self.augment):
            raise TypeError(f"augment must be a fastnn.Augmentation or a callable "
                            f"(X_batch, rng) -> X_batch, got {self.augment!r}")
        if self.dev_set is not None and (not isinstance(self.dev_set, (tuple, list))
                                         or len(self.dev_set) != 2):
            raise TypeError("dev_set must be a pair (X_dev, y_dev) or None")
        return np.dtype(check_dtype(self.dtype))

    def _make_solver(self) -> _Solver:
        """The fastnn optimizer that takes the solver's steps."""
        rate, mu = float(self.learning_rate_init), float(self.momentum)
        scheduled = self.solver in _SCHEDULED
        if self.solver == "adam":
            return _Solver(Adam(rate, self.beta_1, self.beta_2, self.epsilon), 1.0, False)
        if self.solver == "adamw":
            return _Solver(AdamW(rate, self.beta_1, self.beta_2, self.epsilon,
                                 self.weight_decay), 1.0, False)
        if self.solver == "rmsprop":
            return _Solver(RMSprop(rate, self.beta_2, self.epsilon), 1.0, False)
        if self.solver == "momentum":
            return _Solver(Momentum(rate, mu), 1.0, scheduled)
        if mu == 0:
            return _Solver(SGD(rate), 1.0, scheduled)
        # scikit-learn's u := mu u - rate g is fastnn's averaged velocity at rate/(1 - mu).
        rule = Nesterov if self.nesterovs_momentum else Momentum
        return _Solver(rule(rate / (1.0 - mu), mu), 1.0 / (1.0 - mu), scheduled)

    # -- fit ------------------------------------------------------------------

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: Optional[ArrayLike] = None) -> Any:
        """Train the network on (X, y): a new one, or the fitted one with `warm_start`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (standardize them first, e.g. with a StandardScaler).
        y : array-like of shape (n_samples,) (or (n_samples, n_outputs) for the regressor)
            Targets.
        sample_weight : array-like of shape (n_samples,), default None
            Weights of the examples' losses (finite, >= 0, not all 0): integer weights
            train as repeated rows would (exactly with full batches and no dropout).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool) -> Any:
        dtype = self._check_hyperparameters()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        hidden = _hidden_sizes(self.hidden_layer_sizes)
        warm = hasattr(self, "model_") and (incremental or bool(self.warm_start))
        X, y_raw = self._validate_Xy(X, y, dtype, reset=not warm)
        y_net = self._encode_targets(y_raw, not warm, incremental)
        weights = self._weights(sample_weight, y_raw, X.shape[0], incremental)
        seed = self.model_.seed if warm else _seed(self.random_state)

        X_train, y_train, w_train = X, y_net, weights
        validation = None
        if self.dev_set is not None:
            X_dev = _validate(self, self.dev_set[0], reset=False, dtype=dtype,
                              accept_sparse=False)
            y_dev = self._transform_targets(self.dev_set[1], "dev_set[1] (y_dev)")
            if y_dev.shape[0] != X_dev.shape[0]:
                raise ValueError(f"dev_set has {X_dev.shape[0]} samples in X_dev but "
                                 f"{y_dev.shape[0]} in y_dev")
            validation = (X_dev, y_dev, None)
        elif self.early_stopping:
            (X_train, y_train, w_train), validation = self._split(X, y_net, y_raw, weights,
                                                                  seed)

        n_train = X_train.shape[0]
        batch = self._batch_size(n_train)
        # alpha / b per step (scikit-learn) is fastnn's l2 / n per step: l2 = alpha n / b.
        l2 = float(self.alpha) * n_train / (n_train if batch is None else batch)
        model = self._network(X.shape[1], hidden, l2, dtype, seed, warm)
        solver = self._make_solver()
        if incremental and warm and model.optimizer_ is not None:
            solver.optimizer = model.optimizer_  # partial_fit goes on with its state
        progress = self._progress(warm, validation is not None)
        schedule = None
        if self.learning_rate == "invscaling" and solver.scheduled:
            schedule = InverseTimeDecay(n_train, power=float(self.power_t))
        convergence = _Convergence(self, progress, solver, n_train, validation, incremental)
        history = model.fit(X_train, y_train, epochs=1 if incremental else int(self.max_iter),
                            optimizer=solver.optimizer, batch_size=batch,
                            lr_schedule=schedule, callbacks=[convergence],
                            augment=self.augment, sample_weight=w_train,
                            shuffle=bool(self.shuffle), progress=False)
        if self.early_stopping and progress.best_state is not None:
            params, statistics = progress.best_state
            model.set_params(params)
            model.set_running_statistics(statistics)
        self._commit(model, history, progress)
        if not incremental and not progress.converged and progress.n_iter == int(self.max_iter):
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                          "reached and the optimization hasn't converged yet.",
                          ConvergenceWarning)
        return self

    def _weights(self, sample_weight: Any, y: NDArray[Any], n: int,
                 incremental: bool) -> Optional[NDArray[np.float64]]:
        """The examples' weights: sample_weight times the class weights (checked), or
        None."""
        weights = None
        if sample_weight is not None:
            example_weights(sample_weight, n)  # the errors name sample_weight
            weights = np.array(sample_weight, dtype=np.float64)
        per_class = self._class_weights(y, incremental)
        if per_class is not None:
            weights = per_class if weights is None else weights * per_class
        return weights

    def _split(self, X: NDArray[Any], y_net: NDArray[Any], y_raw: NDArray[Any],
               weights: Optional[NDArray[np.float64]], seed: int
               ) -> tuple[tuple[Any, Any, Any], tuple[Any, Any, Any]]:
        """(training set, validation set) for early stopping, each (X, y, weights), drawn
        from the network's seed; the validation targets as the score takes them."""
        index = np.arange(X.shape[0])
        fraction = float(self.validation_fraction)
        train, val = train_test_split(index, test_size=fraction, random_state=seed % 2**32,
                                      stratify=self._stratify(y_net, fraction))
        if val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase "
                             "'validation_fraction' or the size of your dataset.")
        pick = (lambda w, i: None if w is None else w[i])
        return ((X[train], y_net[train], pick(weights, train)),
                (X[val], y_raw[val], pick(weights, val)))

    def _stratify(self, y: NDArray[Any], fraction: float) -> Optional[NDArray[Any]]:
        """Labels to stratify the validation split by, or None (regression, or too few
        samples per class for both sets to hold every class)."""
        if self._output() == "linear":
            return None
        counts = np.bincount(y)
        n_dev = int(np.ceil(fraction * y.shape[0]))
        if counts.min() < 2 or min(n_dev, y.shape[0] - n_dev) < counts.size:
            return None
        return y

    def _batch_size(self, n: int) -> Optional[int]:
        """The minibatch size for n training examples (None: full batch)."""
        if self.batch_size is None:
            return None
        if isinstance(self.batch_size, str):
            return min(AUTO_BATCH, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped")
        return min(int(self.batch_size), n)

    def _network(self, n_features: int, hidden: list[int], l2: float, dtype: np.dtype[Any],
                 seed: int, warm: bool) -> MLP:
        """A new network, or the fitted one (rebuilt with its weights and training state
        when a parameter of the network changed, e.g. l2 with the training set's size)."""
        n_out = self._n_output_units()
        config = dict(layer_sizes=[n_features, *hidden, n_out],
                      activation=_activation(self.activation), output=self._output(),
                      init=self.init, init_scale=self.init_scale,
                      keep_prob=_per_layer_value(self.keep_prob),
                      input_keep_prob=self.input_keep_prob, l2=l2,
                      l1=_per_layer_value(self.l1), dtype=dtype, backend=self.backend,
                      seed=seed, n_threads=self.n_threads, batch_norm=self.batch_norm)
        self._network_key = repr(sorted(config.items()))
        if not warm:
            return MLP(**config)
        fitted = self.model_
        if getattr(self, "_built_key", None) == self._network_key:
            return fitted  # what built it has not changed (partial_fit's usual case)
        if list(fitted.layer_sizes) != config["layer_sizes"]:
            raise ValueError(f"{'warm_start' if self.warm_start else 'partial_fit'} "
                             f"continues the fitted network of layer sizes "
                             f"{list(fitted.layer_sizes)}, but the parameters now give "
                             f"{config['layer_sizes']}: fit a new one (warm_start=False)")
        candidate = MLP(**config)
        if candidate.get_config() == fitted.get_config():
            return fitted
        candidate.set_params(fitted.params)
        candidate.set_running_statistics(fitted.running_statistics)
        candidate.step_, candidate.epoch_ = fitted.step_, fitted.epoch_
        state = fitted.optimizer_state()
        if fitted.optimizer_ is not None and state is not None:
            candidate.set_optimizer_state(fitted.optimizer_, *state)
        candidate.lr_schedule_ = fitted.lr_schedule_
        return candidate

    def _progress(self, warm: bool, validating: bool) -> _Progress:
        """The bookkeeping to go on from (a copy of the fitted network's) or a new one."""
        if not warm:
            return _Progress(best_loss=None if self.early_stopping else math.inf,
                             validation_scores=[] if validating else None,
                             best_validation_score=-math.inf if self.early_stopping else None)
        best_state = getattr(self, "_best_state", None)
        best_loss = self.best_loss_
        if not self.early_stopping and best_loss is None:
            best_loss = math.inf
        best_score = self.best_validation_score_
        if self.early_stopping and best_score is None:
            best_score = -math.inf
        scores = self.validation_scores_
        if validating and scores is None:
            scores = []
        return _Progress(loss_curve=list(self.loss_curve_), t=self.t_, best_loss=best_loss,
                         validation_scores=None if scores is None else list(scores),
                         best_validation_score=best_score,
                         no_improvement=getattr(self, "_no_improvement_count", 0),
                         best_epoch=self.best_epoch_, best_state=best_state)

    def _commit(self, model: MLP, history: History, progress: _Progress) -> None:
        """The fitted attributes, all at once after a fit that finished."""
        self.model_ = model
        self._built_key = self._network_key
        self.history_ = history
        params = model.params
        self.coefs_ = [params[f"W{l}"].T.copy() for l in range(1, model.n_layers + 1)]
        self.intercepts_ = [params[f"beta{l}" if f"beta{l}" in params else f"b{l}"]
                            for l in range(1, model.n_layers + 1)]
        self.loss_curve_ = progress.loss_curve
        self.loss_ = progress.loss_curve[-1] if progress.loss_curve else math.nan
        self.best_loss_ = progress.best_loss
        self.validation_scores_ = progress.validation_scores
        self.best_validation_score_ = progress.best_validation_score
        self.best_epoch_ = progress.best_epoch if self.early_stopping else None
        self._best_state = progress.best_state
        self._no_improvement_count = progress.no_improvement
        self.t_ = progress.t
        self.n_iter_ = progress.n_iter
        self.n_layers_ = model.n_layers + 1
        self.n_outputs_ = model.layer_sizes[-1]
        self.out_activation_ = {"sigmoid": "logistic", "softmax": "softmax",
                                "linear": "identity"}[model.output]

    def _n_output_units(self) -> int:
        raise NotImplementedError

    # -- predict ----------------------------------------------------------------

    def _network_output(self, X: ArrayLike) -> NDArray[np.float64]:
        """The fitted network's output activations (n_samples, n_units), float64."""
        check_is_fitted(self, "model_")
        X = _validate(self, X, reset=False, dtype=self.model_.dtype, accept_sparse=False)
        return self.model_.forward(X).astype(np.float64)

    def _score_network(self, model: MLP, X: NDArray[Any], y: Any, weights: Any) -> float:
        """The estimator's score of `model` on (X, y) (the validation score)."""
        return self._score(y, self._predictions(model.forward(X).astype(np.float64)), weights)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = """A fastnn multilayer perceptron classifier with scikit-learn's interface.

    A drop-in for ``sklearn.neural_network.MLPClassifier`` (its arguments, meanings,
    defaults, attributes and methods; "lbfgs" excepted), with fastnn's options added.
    Binary targets get one sigmoid output unit (binary cross-entropy), three or more
    classes a softmax output (categorical cross-entropy). Labels may be any values
    scikit-learn accepts (ints, strings, ...); ``classes_`` holds them sorted and the
    columns of ``predict_proba`` follow it. Multi-output and multilabel targets are not
    supported (a ValueError says so): wrap the estimator in
    ``sklearn.multioutput.MultiOutputClassifier`` for them.

    Inputs are not standardized here: use ``Pipeline([("scale", StandardScaler()),
    ("mlp", MLPClassifier(...))])``.
    """ + _PARAMETERS_DOC + """    class_weight : dict, "balanced" or None, default None
        fastnn: weights of the classes, multiplying the sample weights: ``{label:
        weight}`` (missing labels weigh 1) or "balanced", ``n_samples / (n_classes *
        count(label))`` from the fit's y (not in partial_fit: pass the weights computed
        once, ``compute_class_weight``, as a dict).
    """ + _ATTRIBUTES_DOC.format(score="accuracy") + """    classes_ : ndarray of shape (n_classes,)
        The class labels.

    Examples
    --------
    >>> from fastnn.datasets import make_moons
    >>> from fastnn.sklearn import MLPClassifier
    >>> X, y = make_moons(400, seed=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(20,), learning_rate_init=0.01,
    ...                     random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape
    (400, 2)
    """

    classes_: NDArray[Any]

    def __init__(self, hidden_layer_sizes: Union[int, Sequence[int]] = (100,),
                 activation: Union[str, Sequence[str]] = "relu", *, solver: str = "adam",
                 alpha: float = 0.0001, batch_size: Union[int, str, None] = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001,
                 power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4,
                 verbose: Union[bool, int] = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 n_iter_no_change: Union[int, float] = 10, max_fun: int = 15000,
                 class_weight: Union[dict[Any, float], str, None] = None,
                 keep_prob: Union[float, Sequence[float]] = 1.0, input_keep_prob: float = 1.0,
                 l1: Union[float, Sequence[float]] = 0.0, init: InitName = "he",
                 init_scale: float = 1.0, batch_norm: bool = False,
                 augment: Optional[Callable[..., Any]] = None, weight_decay: float = 0.01,
                 dev_set: Optional[Sequence[ArrayLike]] = None,
                 dtype: FloatDTypeLike = "float64", n_threads: Optional[int] = None,
                 backend: BackendName = "cython") -> None:
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            keep_prob=keep_prob, input_keep_prob=input_keep_prob, l1=l1, init=init,
            init_scale=init_scale, batch_norm=batch_norm, augment=augment,
            weight_decay=weight_decay, dev_set=dev_set, dtype=dtype, n_threads=n_threads,
            backend=backend)
        self.class_weight = class_weight

    def partial_fit(self, X: ArrayLike, y: ArrayLike, sample_weight: Optional[ArrayLike] = None,
                    classes: Optional[ArrayLike] = None) -> MLPClassifier:
        """One epoch over (X, y), continuing the fitted network and its optimizer state
        (a new network on the first call).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels, all among `classes` (or ``classes_``).
        sample_weight : array-like of shape (n_samples,), default None
        classes : array-like of shape (n_classes,), default None
            Every class of all the calls: required on the first call (it fixes the
            output layer), optional later (then the same classes).

        Returns
        -------
        self
        """
        first = not hasattr(self, "classes_")
        if classes is not None:
            wanted = unique_labels(np.asarray(classes))
            if not first and not np.array_equal(self.classes_, wanted):
                raise ValueError(f"classes={np.asarray(classes)!r} is not the same as on the "
                                 f"last call to partial_fit, was: {self.classes_!r}")
            if first:
                if len(wanted) < 2:
                    raise ValueError(f"classes must hold at least 2 classes, got {wanted!r}")
                self.classes_ = wanted
        elif first:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return cast(MLPClassifier, self._fit(X, y, sample_weight, incremental=True))

    def _validate_Xy(self, X: Any, y: Any, dtype: np.dtype[Any],
                     reset: bool) -> tuple[NDArray[Any], NDArray[Any]]:
        X, y = _validate(self, X, y, reset=reset, dtype=dtype, accept_sparse=False,
                         multi_output=True)
        if y.ndim == 2 and y.shape[1] > 1:
            raise ValueError(
                f"MLPClassifier supports single-output (binary or multiclass) targets only; "
                f"got y of shape {y.shape} (multi-output or multilabel). Use "
                f"sklearn.multioutput.MultiOutputClassifier for those.")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return X, y

    def _encode_targets(self, y: NDArray[Any], first: bool, incremental: bool) -> NDArray[Any]:
        labels = unique_labels(y)
        if first and not incremental:  # a fit's new network: the classes of y
            if len(labels) < 2:
                raise ValueError(f"MLPClassifier needs samples of at least 2 classes in y; "
                                 f"got 1 class: {labels[0]!r}")
            self.classes_ = labels
        elif not first and not incremental and set(labels) != set(self.classes_):
            raise ValueError(f"warm_start can only be used where `y` has the same classes "
                             f"as in the previous call to fit. Previously got "
                             f"{self.classes_}, `y` has {labels}")
        unseen = np.setdiff1d(labels, self.classes_)
        if unseen.size:  # partial_fit: y may hold some of the classes, no others
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                             f"{self.classes_}. 'y' has {labels}.")
        return np.searchsorted(self.classes_, y)

    def _transform_targets(self, y: Any, name: str) -> NDArray[Any]:
        y = column_or_1d(np.asarray(y), warn=True)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(f"{name} holds labels not in the training data: "
                             f"{unseen.tolist()[:10]}")
        return y

    def _class_weights(self, y: NDArray[Any], incremental: bool) -> Optional[NDArray[Any]]:
        if self.class_weight is None:
            return None
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            if incremental:
                raise ValueError("class_weight='balanced' is not supported for partial_fit: "
                                 "compute the weights once with sklearn.utils.class_weight."
                                 "compute_class_weight('balanced', classes=classes, y=y) "
                                 "and pass them as a dict")
            present = unique_labels(y)
            per_class = dict(zip(present, compute_class_weight("balanced", classes=present,
                                                               y=y)))
        elif isinstance(self.class_weight, dict):
            unknown = [k for k in self.class_weight if k not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(f"class_weight holds labels that are not classes: "
                                 f"{unknown[:10]} (classes_ {self.classes_.tolist()[:10]})")
            per_class = {k: check_real(f"class_weight[{k!r}]", v, 0.0)
                         for k, v in self.class_weight.items()}
        else:
            raise ValueError(f"class_weight must be 'balanced', a dict {{label: weight}} or "
                             f"None, got {self.class_weight!r}")
        table = np.array([per_class.get(c, 1.0) for c in self.classes_.tolist()])
        return table[np.searchsorted(self.classes_, y)]

    def _output(self) -> OutputName:
        return "sigmoid" if len(self.classes_) == 2 else "softmax"

    def _n_output_units(self) -> int:
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _predictions(self, out: NDArray[np.float64]) -> NDArray[Any]:
        return self.classes_[np.argmax(self._probabilities(out), axis=1)]

    def _score(self, y: Any, y_pred: NDArray[Any], sample_weight: Any) -> float:
        return float(accuracy_score(y, y_pred, sample_weight=sample_weight))

    @staticmethod
    def _probabilities(out: NDArray[np.float64]) -> NDArray[np.float64]:
        if out.shape[1] == 1:  # sigmoid: P(classes_[1])
            p = out[:, 0]
            return np.column_stack([1.0 - p, p])
        return out / out.sum(axis=1, keepdims=True)

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float64
            Columns in the order of ``classes_``; each row sums to 1.
        """
        return self._probabilities(self._network_output(X))

    def predict_log_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Natural log of :meth:`predict_proba` (may hold -inf for a probability 0).

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Predicted labels: the class of highest probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,), values from ``classes_``
        """
        return self._predictions(self._network_output(X))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        tags.target_tags.multi_output = False
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = """A fastnn multilayer perceptron regressor with scikit-learn's interface.

    A drop-in for ``sklearn.neural_network.MLPRegressor`` (its arguments, meanings,
    defaults, attributes and methods; "lbfgs" and loss="poisson" excepted), with fastnn's
    options added.  A linear output layer trained on the squared error
    ``J = (1/(2 n k)) sum (y_hat - y)^2``, scikit-learn's.  Multi-output targets (y of
    shape (n_samples, n_outputs)) are supported; ``predict`` returns the shape of the
    training y ((n_samples,) for 1-D y). Targets are not scaled: standardize y when its
    scale is far from 1 (e.g. ``sklearn.compose.TransformedTargetRegressor``).

    Inputs are not standardized here: use ``Pipeline([("scale", StandardScaler()),
    ("mlp", MLPRegressor(...))])``.
    """ + _PARAMETERS_DOC + _ATTRIBUTES_DOC.format(score="R^2, as score computes it")

    _y_ndim: int
    _n_targets: int

    def partial_fit(self, X: ArrayLike, y: ArrayLike,
                    sample_weight: Optional[ArrayLike] = None) -> MLPRegressor:
        """One epoch over (X, y), continuing the fitted network and its optimizer state
        (a new network on the first call).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default None

        Returns
        -------
        self
        """
        return cast(MLPRegressor, self._fit(X, y, sample_weight, incremental=True))

    def _validate_Xy(self, X: Any, y: Any, dtype: np.dtype[Any],
                     reset: bool) -> tuple[NDArray[Any], NDArray[Any]]:
        return _validate(self, X, y, reset=reset, dtype=dtype, accept_sparse=False,
                         multi_output=True, y_numeric=True)

    def _encode_targets(self, y: NDArray[Any], first: bool, incremental: bool) -> NDArray[Any]:
        y = np.asarray(y)
        if first:
            self._y_ndim = y.ndim
            self._n_targets = 1 if y.ndim == 1 else y.shape[1]
        elif (y.ndim, 1 if y.ndim == 1 else y.shape[1]) != (self._y_ndim, self._n_targets):
            raise ValueError(f"y must have the shape of the fitted network's targets "
                             f"(n_samples{', ' + str(self._n_targets) if self._y_ndim == 2 else ''}), "
                             f"got {y.shape}")
        return y

    def _transform_targets(self, y: Any, name: str) -> NDArray[Any]:
        y = np.asarray(y, dtype=np.float64)
        if self._y_ndim == 1 and y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != self._y_ndim or (y.ndim == 2 and y.shape[1] != self._n_targets):
            raise ValueError(f"{name} must have the shape of the training y (n_samples"
                             f"{', ' + str(self._n_targets) if self._y_ndim == 2 else ''}), "
                             f"got {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError(f"{name} contains NaN or infinity")
        return y

    def _output(self) -> OutputName:
        return "linear"

    def _n_output_units(self) -> int:
        return self._n_targets

    def _predictions(self, out: NDArray[np.float64]) -> NDArray[np.float64]:
        return out[:, 0] if self._y_ndim == 1 else out

    def _score(self, y: Any, y_pred: NDArray[Any], sample_weight: Any) -> float:
        return float(r2_score(y, y_pred, sample_weight=sample_weight))

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predicted values, float64.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) for 1-D training targets, else
            (n_samples, n_outputs)
        """
        return self._predictions(self._network_output(X))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _more_tags(self) -> dict[str, bool]:  # pragma: no cover - scikit-learn < 1.6
        return {"multioutput": True}
