"""scikit-learn estimators backed by fastnn: :class:`MLPClassifier` and :class:`MLPRegressor`.

scikit-learn is an optional dependency (``pip install fastnn[sklearn]`` or
``pip install scikit-learn``); it is imported here and only here, so ``import fastnn``
never loads it. Import this module explicitly::

    from fastnn.sklearn import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    clf = Pipeline([("scale", StandardScaler()),
                    ("mlp", MLPClassifier(hidden_layer_sizes=(20, 3), l2=0.7, seed=0))])
    clf.fit(X_train, y_train).score(X_test, y_test)

The estimators follow scikit-learn's conventions: every constructor argument is stored
as given and checked in ``fit``; fitted attributes end in ``_``; ``clone``,
``get_params``/``set_params``, ``Pipeline``, ``GridSearchCV``, ``cross_val_score``
and pickling work; both pass ``sklearn.utils.estimator_checks.check_estimator``.

Inputs are not standardized inside the estimators (the course's "normalize your
inputs" is a separate step): put a ``StandardScaler`` in front of them in a
``Pipeline``, so the mean and variance are learned from each training fold only.

How the parameters map to scikit-learn's own ``sklearn.neural_network`` MLPs:
``l2`` is the course's lambda and equals scikit-learn's ``alpha`` (both add
``lambda/(2m) sum ||W||^2`` to the mean loss; Keras' ``l2`` is ``lambda/(2m)`` and
PyTorch's ``weight_decay`` is ``lambda/m``); ``epochs`` is ``max_iter``;
``learning_rate`` is ``learning_rate_init``; ``optimizer`` is ``solver``; ``seed`` plays
the part of ``random_state``.
"""
from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None

from fastnn.blocks.callbacks import EarlyStopping
from fastnn.model import MLP
from fastnn.blocks.optim import OPTIMIZERS
from fastnn.blocks.names import BackendName, InitName, OutputName
from fastnn.blocks.types import FloatDTypeLike
from fastnn.blocks.validation import check_dtype, check_int, check_real

if TYPE_CHECKING:
    from fastnn.blocks.history import History

__all__ = ["MLPClassifier", "MLPRegressor"]

# scikit-learn's names for activations, accepted as aliases of fastnn's.
_ACTIVATION_ALIASES = {"logistic": "sigmoid", "identity": "linear"}

_PARAMETERS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default (100,)
        Units of each hidden layer, input to output; ``()`` gives a network with no
        hidden layer (logistic / linear regression).
    activation : str or sequence of str, default "relu"
        Hidden activation: "relu", "leaky_relu", "tanh", "sigmoid", "selu" or
        "linear" (scikit-learn's "logistic" and "identity" are accepted too); one name
        for every hidden layer or one per hidden layer.
    init : {"he", "kaiming", "xavier", "glorot", "lecun", "random", "zeros"}, default "he"
        Weight initialization (biases start at zero).
    init_scale : float, default 1.0
        Multiplies the initializer's variance ("random": its standard deviation).
    keep_prob : float or sequence of float, default 1.0
        Inverted-dropout probability of *keeping* a hidden unit, in (0, 1]; one value
        or one per hidden layer. Dropout is off at prediction time.
    input_keep_prob : float, default 1.0
        Keep probability of the input features.
    l2 : float or sequence of float, default 0.0
        The course's lambda: the cost gains ``lambda/(2m) sum_l ||W[l]||_F^2`` (biases
        are not regularized, ``m`` is the minibatch size). It equals scikit-learn's
        ``alpha``; Keras' ``l2`` is ``lambda/(2m)``, PyTorch's ``weight_decay`` is
        ``lambda/m``. One value or one per layer (hidden layers and the output).
    l1 : float or sequence of float, default 0.0
        L1 penalty ``lambda_1/(2m) sum_l ||W[l]||_1``.
    optimizer : {"sgd", "momentum", "adam"}, default "adam"
        Plain minibatch gradient descent, momentum (beta 0.9) or Adam (0.9, 0.999,
        1e-8); scikit-learn's ``solver``.
    learning_rate : float, default 0.001
        Step size (scikit-learn's ``learning_rate_init``); it stays constant.
    batch_size : int or None, default 200
        Minibatch size, clipped to the number of training samples; None is
        full-batch gradient descent (one update per epoch). Minibatches are reshuffled
        every epoch from `seed`.
    epochs : int, default 200
        Passes over the training data (scikit-learn's ``max_iter``); fewer when early
        stopping triggers.
    early_stopping : bool, default False
        Hold out `validation_fraction` of the training data (stratified for the
        classifier), or use `dev_set`, and stop when the dev score has not improved by
        more than `min_delta` for `patience` evaluations; the weights of the best dev
        epoch are restored.
    validation_fraction : float, default 0.1
        Share of the training data held out for early stopping, in (0, 1); unused
        when `dev_set` is given or `early_stopping` is False.
    patience : int, default 10
        Evaluations without improvement before early stopping stops.
    min_delta : float, default 0.0
        Smallest decrease of the dev error (1 - accuracy, or the mean squared error)
        that counts as an improvement.
    dev_set : (X_dev, y_dev) or None, default None
        An explicit dev set used instead of `validation_fraction`: its scores are
        recorded in ``validation_scores_`` (with or without early stopping). It is
        given to the network as is: inside a Pipeline it does *not* pass through the
        preceding steps (use `validation_fraction` there).
    seed : int, numpy RandomState/Generator or None, default None
        Seeds the initial weights, the dropout masks, the minibatch order and the
        validation split. Unlike scikit-learn's ``random_state=None``, None means the
        fixed seed 0 (fastnn's default), so every fit is reproducible: the same seed
        gives the same network. A RandomState or Generator is drawn from for a seed.
    backend : {"cython", "reference"}, default "cython"
        fastnn's compiled kernels, or the pure-NumPy reference implementation.
    dtype : {"float32", "float64"}, default "float64"
        Precision of the network. float64 by default, unlike ``fastnn.MLP``: it is
        what scikit-learn's tools produce and what ``check_estimator``'s tolerances
        assume (results compared to 1e-7, far below float32 rounding); choose
        "float32" for speed on large data. Predictions are float64 either way.
    eval_every : int, default 1
        Record the training cost (and dev score) every this many epochs; early
        stopping counts evaluations.
    n_threads : int or None, default None
        Cap on the BLAS threads while this network computes (None: as configured);
        set 1 when a search runs fits in parallel (``n_jobs``).
    batch_norm : bool, default False
        Batch normalization of the hidden layers (see :class:`fastnn.MLP`); every
        minibatch needs 2 examples or more.
"""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
    model_ : fastnn.MLP
        The fitted network.
    history_ : fastnn.History
        The fit's per-evaluation figures ("epoch", "train_cost", "train_error",
        "dev_cost", "dev_error", ...).
    loss_curve_ : list of float
        Training cost (data loss plus the regularization terms) at each evaluated
        epoch, measured on the whole training set after the epoch, dropout off.
    validation_scores_ : list of float or None
        Dev-set score at each evaluated epoch ({score}) when early stopping or a
        `dev_set` is used, else None.
    best_epoch_ : int or None
        With early stopping, the best dev epoch, whose weights the model holds; with a
        `dev_set` but no early stopping, the epoch of the best validation score (the
        model keeps the last epoch's weights); otherwise None.
    n_iter_ : int
        Epochs trained.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Feature names seen in fit, when X has string column names (a DataFrame).
"""


def _validate(estimator: Any, X: Any, y: Any = "no_validation", **kwargs: Any) -> Any:
    """scikit-learn's validate_data (>= 1.6), or the method it replaced."""
    if _sk_validate_data is not None:
        return _sk_validate_data(estimator, X, y, **kwargs)
    return estimator._validate_data(X, y, **kwargs)  # pragma: no cover


def _resolve_seed(seed: Union[int, np.random.RandomState, np.random.Generator, None]) -> int:
    """A non-negative int from `seed` (None -> 0; RandomState/Generator -> a draw)."""
    if seed is None:
        return 0
    if isinstance(seed, np.random.RandomState):
        return int(seed.randint(np.iinfo(np.int32).max))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(np.iinfo(np.int32).max))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int >= 0, a numpy RandomState/Generator or None, "
                        f"got {seed!r}")
    return check_int("seed", seed, low=0)


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


class _BaseMLP(BaseEstimator):
    """Shared fit/predict machinery; subclasses define the output layer and targets."""

    # fastnn output layer: "sigmoid"/"softmax" (set per fit) or "linear"
    _output: Optional[OutputName] = None
    model_: MLP
    history_: History
    loss_curve_: list[float]
    n_iter_: int
    validation_scores_: Optional[list[float]]
    best_epoch_: Optional[int]

    def __init__(self, hidden_layer_sizes: Union[int, Sequence[int]] = (100,),
                 activation: Union[str, Sequence[str]] = "relu", init: InitName = "he",
                 init_scale: float = 1.0, keep_prob: Union[float, Sequence[float]] = 1.0,
                 input_keep_prob: float = 1.0, l2: Union[float, Sequence[float]] = 0.0,
                 l1: Union[float, Sequence[float]] = 0.0, optimizer: str = "adam",
                 learning_rate: float = 0.001, batch_size: Optional[int] = 200,
                 epochs: int = 200, early_stopping: bool = False,
                 validation_fraction: float = 0.1, patience: int = 10, min_delta: float = 0.0,
                 dev_set: Optional[Sequence[ArrayLike]] = None,
                 seed: Union[int, np.random.RandomState, np.random.Generator, None] = None,
                 backend: BackendName = "cython", dtype: FloatDTypeLike = "float64",
                 eval_every: int = 1, n_threads: Optional[int] = None,
                 batch_norm: bool = False) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.init = init
        self.init_scale = init_scale
        self.keep_prob = keep_prob
        self.input_keep_prob = input_keep_prob
        self.l2 = l2
        self.l1 = l1
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_delta = min_delta
        self.dev_set = dev_set
        self.seed = seed
        self.backend = backend
        self.dtype = dtype
        self.eval_every = eval_every
        self.n_threads = n_threads
        self.batch_norm = batch_norm

    # -- subclass hooks -------------------------------------------------------

    def _validate_targets(self, y: NDArray[Any]) -> NDArray[Any]:
        """Validated training targets in the network's form; sets target attributes."""
        raise NotImplementedError

    def _transform_targets(self, y: Any, name: str) -> NDArray[Any]:
        """Dev-set targets in the network's form (after _validate_targets)."""
        raise NotImplementedError

    def _scores_from_dev_errors(self, dev_errors: Sequence[float],
                                y_dev: NDArray[Any]) -> list[float]:
        raise NotImplementedError

    def _n_output_units(self) -> int:
        raise NotImplementedError

    # -- fit ------------------------------------------------------------------

    def _check_hyperparameters(self) -> np.dtype[Any]:
        """Check the wrapper's own parameters (fastnn.MLP checks the network's)."""
        if not isinstance(self.optimizer, str) or self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, "
                             f"got {self.optimizer!r}")
        check_real("learning_rate", self.learning_rate, 0.0, low_open=True)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, low=1)
        check_int("epochs", self.epochs, low=1)
        if not isinstance(self.early_stopping, (bool, np.bool_)):
            raise TypeError(f"early_stopping must be a bool, got {self.early_stopping!r}")
        check_real("validation_fraction", self.validation_fraction, 0.0, 1.0,
                   low_open=True, high_open=True)
        check_int("patience", self.patience, low=0)
        check_real("min_delta", self.min_delta, 0.0)
        check_int("eval_every", self.eval_every, low=1)
        if self.dev_set is not None and (not isinstance(self.dev_set, (tuple, list))
                                         or len(self.dev_set) != 2):
            raise TypeError("dev_set must be a pair (X_dev, y_dev) or None")
        return np.dtype(check_dtype(self.dtype))

    def fit(self, X: ArrayLike, y: ArrayLike) -> Any:
        """Train a new network on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (standardize them first, e.g. with a StandardScaler).
        y : array-like of shape (n_samples,) (or (n_samples, n_outputs) for the regressor)
            Targets.

        Returns
        -------
        self
        """
        dtype = self._check_hyperparameters()
        seed = _resolve_seed(self.seed)
        hidden = _hidden_sizes(self.hidden_layer_sizes)
        X_train, y_raw = self._validate_Xy(X, y, dtype)
        y_train = self._validate_targets(y_raw)

        dev: Optional[tuple[NDArray[Any], NDArray[Any]]] = None
        if self.dev_set is not None:
            X_dev = _validate(self, self.dev_set[0], reset=False, dtype=dtype,
                              accept_sparse=False)
            y_dev = self._transform_targets(self.dev_set[1], "dev_set[1] (y_dev)")
            if y_dev.shape[0] != X_dev.shape[0]:
                raise ValueError(f"dev_set has {X_dev.shape[0]} samples in X_dev but "
                                 f"{y_dev.shape[0]} in y_dev")
            dev = (X_dev, y_dev)
        elif self.early_stopping:
            X_train, X_dev, y_train, y_dev = train_test_split(
                X_train, y_train, test_size=float(self.validation_fraction), random_state=seed,
                stratify=self._stratify(y_train, float(self.validation_fraction)))
            dev = (X_dev, y_dev)

        n_out = self._n_output_units()
        output = cast(OutputName, self._output)  # set by now (_validate_targets)
        model = MLP([X_train.shape[1], *hidden, n_out], activation=_activation(self.activation),
                    output=output, init=self.init, init_scale=self.init_scale,
                    keep_prob=_per_layer_value(self.keep_prob),
                    input_keep_prob=self.input_keep_prob, l2=_per_layer_value(self.l2),
                    l1=_per_layer_value(self.l1), dtype=dtype, backend=self.backend,
                    seed=seed, n_threads=self.n_threads, batch_norm=self.batch_norm)
        optimizer = OPTIMIZERS[self.optimizer](lr=self.learning_rate)
        batch_size = (None if self.batch_size is None
                      else min(int(self.batch_size), X_train.shape[0]))
        stopper = None
        if self.early_stopping:
            stopper = EarlyStopping(monitor="dev_error", patience=int(self.patience),
                                    min_delta=float(self.min_delta), restore_best=True)
        history = model.fit(X_train, y_train, epochs=int(self.epochs), optimizer=optimizer,
                            batch_size=batch_size, dev=dev, early_stopping=stopper,
                            eval_every=int(self.eval_every), progress=False)

        self.model_ = model
        self.history_ = history
        self.loss_curve_ = [float(c) for c in history["train_cost"]]
        self.n_iter_ = int(model.epoch_)
        if dev is None:
            self.validation_scores_ = None
            self.best_epoch_ = None
        else:
            self.validation_scores_ = self._scores_from_dev_errors(history["dev_error"], dev[1])
            if stopper is not None:
                self.best_epoch_ = history.best_epoch
            elif self.validation_scores_:
                self.best_epoch_ = int(history["epoch"][int(np.argmax(self.validation_scores_))])
            else:
                self.best_epoch_ = None
        return self

    def _stratify(self, y: NDArray[Any], fraction: float) -> Optional[NDArray[Any]]:
        """Labels to stratify the validation split by, or None (regression, or too few
        samples per class for both sets to hold every class)."""
        if self._output == "linear":
            return None
        counts = np.bincount(y)
        n_dev = int(np.ceil(fraction * y.shape[0]))
        if counts.min() < 2 or min(n_dev, y.shape[0] - n_dev) < counts.size:
            return None
        return y

    def _validate_Xy(self, X: Any, y: Any,
                     dtype: np.dtype[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        return _validate(self, X, y, reset=True, dtype=dtype, accept_sparse=False,
                         multi_output=self._output == "linear",
                         y_numeric=self._output == "linear")

    # -- predict ----------------------------------------------------------------

    def _network_output(self, X: ArrayLike) -> NDArray[np.float64]:
        """The fitted network's output activations (n_samples, n_units), float64."""
        check_is_fitted(self, "model_")
        X = _validate(self, X, reset=False, dtype=self.model_.dtype, accept_sparse=False)
        return self.model_.forward(X).astype(np.float64)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = """A fastnn multilayer perceptron classifier with scikit-learn's interface.

    Binary targets get one sigmoid output unit (binary cross-entropy), three or more
    classes a softmax output (categorical cross-entropy). Labels may be any values
    scikit-learn accepts (ints, strings, ...); ``classes_`` holds them sorted and the
    columns of ``predict_proba`` follow it. Multi-output and multilabel targets are
    not supported (a ValueError says so): wrap the estimator in
    ``sklearn.multioutput.MultiOutputClassifier`` for them.

    Inputs are not standardized here: use ``Pipeline([("scale", StandardScaler()),
    ("mlp", MLPClassifier(...))])``.
    """ + _PARAMETERS_DOC + _ATTRIBUTES_DOC.format(score="accuracy") + """    classes_ : ndarray of shape (n_classes,)
        The class labels.

    Examples
    --------
    >>> from fastnn.datasets import make_moons
    >>> from fastnn.sklearn import MLPClassifier
    >>> X, y = make_moons(400, seed=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(20,), learning_rate=0.01, seed=0).fit(X, y)
    >>> clf.predict_proba(X).shape
    (400, 2)
    """

    classes_: NDArray[Any]

    def _validate_Xy(self, X: Any, y: Any,
                     dtype: np.dtype[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        X, y = _validate(self, X, y, reset=True, dtype=dtype, accept_sparse=False,
                         multi_output=True)
        if y.ndim == 2 and y.shape[1] > 1:
            raise ValueError(
                f"MLPClassifier supports single-output (binary or multiclass) targets only; "
                f"got y of shape {y.shape} (multi-output or multilabel). Use "
                f"sklearn.multioutput.MultiOutputClassifier for those.")
        return X, column_or_1d(y, warn=True)

    def _validate_targets(self, y: NDArray[Any]) -> NDArray[Any]:
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(f"MLPClassifier needs samples of at least 2 classes in y; "
                             f"got 1 class: {encoder.classes_[0]!r}")
        self.classes_ = encoder.classes_
        self._output = "sigmoid" if len(self.classes_) == 2 else "softmax"
        return encoder.transform(y)

    def _transform_targets(self, y: Any, name: str) -> NDArray[Any]:
        y = column_or_1d(np.asarray(y), warn=True)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(f"{name} holds labels not in the training data: "
                             f"{unseen.tolist()[:10]}")
        return np.searchsorted(self.classes_, y)

    def _n_output_units(self) -> int:
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _scores_from_dev_errors(self, dev_errors: Sequence[float],
                                y_dev: NDArray[Any]) -> list[float]:
        return [1.0 - float(e) for e in dev_errors]

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
        out = self._network_output(X)
        if out.shape[1] == 1:  # sigmoid: P(classes_[1])
            p = out[:, 0]
            return np.column_stack([1.0 - p, p])
        return out / out.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Natural log of :meth:`predict_proba` (may hold -inf for a probability 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Predicted labels, shape (n_samples,): the class of highest probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,), values from ``classes_``
        """
        proba = self.predict_proba(X)  # checks fitted first
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        tags.target_tags.multi_output = False
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = """A fastnn multilayer perceptron regressor with scikit-learn's interface.

    A linear output layer trained on the squared error
    ``J = (1/(2 m k)) sum (y_hat - y)^2``. Multi-output targets (y of shape
    (n_samples, n_outputs)) are supported; ``predict`` returns the shape of the
    training y ((n_samples,) for 1-D y). Targets are not scaled: standardize y when
    its scale is far from 1 (e.g. ``sklearn.compose.TransformedTargetRegressor``).

    Inputs are not standardized here: use ``Pipeline([("scale", StandardScaler()),
    ("mlp", MLPRegressor(...))])``.
    """ + _PARAMETERS_DOC + _ATTRIBUTES_DOC.format(
        score="R^2 weighted by the variance of each output, i.e. plain R^2 for one "
              "output") + """    n_outputs_ : int
        Number of targets.
    """

    _output = "linear"
    n_outputs_: int

    def _validate_targets(self, y: NDArray[Any]) -> NDArray[Any]:
        y = np.asarray(y)
        self._y_ndim = y.ndim
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return y

    def _transform_targets(self, y: Any, name: str) -> NDArray[Any]:
        y = np.asarray(y, dtype=np.float64)
        if self._y_ndim == 1 and y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != self._y_ndim or (y.ndim == 2 and y.shape[1] != self.n_outputs_):
            raise ValueError(f"{name} must have the shape of the training y (n_samples"
                             f"{', ' + str(self.n_outputs_) if self._y_ndim == 2 else ''}), "
                             f"got {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError(f"{name} contains NaN or infinity")
        return y

    def _n_output_units(self) -> int:
        return self.n_outputs_

    def _scores_from_dev_errors(self, dev_errors: Sequence[float],
                                y_dev: NDArray[Any]) -> list[float]:
        # dev_error is the mean squared error over samples and outputs, so
        # 1 - dev_error / mean_k var(y_dev[:, k]) is R^2 with variance weighting.
        variance = float(np.mean(np.var(np.asarray(y_dev, dtype=np.float64).reshape(
            y_dev.shape[0], -1), axis=0)))
        if variance == 0.0:
            return [1.0 if e == 0 else 0.0 for e in dev_errors]
        return [1.0 - float(e) / variance for e in dev_errors]

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predicted values: (n_samples,) for 1-D training targets, else
        (n_samples, n_outputs); float64.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        out = self._network_output(X)
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _more_tags(self) -> dict[str, bool]:  # pragma: no cover - scikit-learn < 1.6
        return {"multioutput": True}
