"""Bias/variance diagnosis with the basic recipe, and the health of gradients across layers.

:func:`diagnose` turns train, dev (and optionally train-dev) error into avoidable bias,
variance and data mismatch against a Bayes (or human-level) error, a verdict and the
notes' basic recipe as next steps. :func:`gradient_health` measures how activations and
back-propagated gradients grow or shrink from layer to layer (vanishing/exploding
gradients); :class:`GradientHealthMonitor` records it during training.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike

from fastnn.callbacks import Callback
from fastnn._typing import ActivationName, InitName
from fastnn._validation import check_int, check_real

if TYPE_CHECKING:
    from fastnn.model import MLP
    from fastnn.training import History

#: An (X (m, n_x), y (m,) or (m, n_L)) data set.
DataPair = Sequence[ArrayLike]

__all__ = [
    "Diagnosis", "diagnose", "LayerHealth", "GradientHealth", "gradient_health",
    "GradientHealthMonitor", "vanishing_exploding_demo",
]

DEFAULT_THRESHOLD = 0.02
DEFAULT_Z = 2.0
# Gaps are compared with this slack, so 0.10 - 0.08 (= 0.020000000000000004) is not
# "above 2 percentage points".
ROUNDING = 1e-12
VERDICTS = ("high bias", "high variance", "high bias and high variance", "fine")

RECIPE_BIAS = (
    "bigger network: more hidden units or more layers",
    "train longer: more epochs, or a better optimizer (Adam, a tuned learning rate)",
    "lower the regularization if any (smaller l2/l1, keep_prob closer to 1)",
    "try a better-suited architecture",
)
RECIPE_VARIANCE = (
    "get more training data (the best fix when possible)",
    "regularize: stronger l2 (lambda) or lower keep_prob (more dropout)",
    "data augmentation (flips, crops, rotations, small distortions)",
    "early stopping at the lowest dev error",
    "try a better-suited architecture",
)
RECIPE_MISMATCH = (
    "make the training data more like the dev/test data (collect or synthesize "
    "examples from the dev/test distribution)",
)
RECIPE_FINE = ("nothing to fix: confirm once on the test set",)


# --------------------------------------------------------------------------- bias/variance

@dataclass(frozen=True)
class Diagnosis:
    """The bias/variance analysis of one model; see :func:`diagnose`.

    Errors and gaps are fractions (0.11 is 11 %). ``*_margin`` are the sizes a gap had
    to exceed to count as high; ``focus`` names the largest of the gaps.
    """

    train_error: float
    dev_error: float
    bayes_error: float
    train_dev_error: float | None
    avoidable_bias: float
    variance: float
    data_mismatch: float | None
    high_bias: bool
    high_variance: bool
    data_mismatch_high: bool
    verdict: str
    recipe: list[str] = field(default_factory=list)
    bias_margin: float = DEFAULT_THRESHOLD
    variance_margin: float = DEFAULT_THRESHOLD
    mismatch_margin: float | None = None

    @property
    def focus(self) -> str:
        """"avoidable bias", "variance" or "data mismatch": the largest gap."""
        gaps = {"avoidable bias": self.avoidable_bias, "variance": self.variance}
        if self.data_mismatch is not None:
            gaps["data mismatch"] = self.data_mismatch
        return max(gaps, key=lambda name: gaps[name])

    def to_dict(self) -> dict[str, Any]:
        """The fields (and ``focus``) as a JSON-friendly dict."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["recipe"] = list(self.recipe)
        out["focus"] = self.focus
        return out

    def __str__(self) -> str:
        mismatch = " (and data mismatch)" if self.data_mismatch_high else ""
        lines = [f"Bias/variance: {self.verdict}{mismatch}"]
        errors = f"  Bayes {_pct(self.bayes_error)} | train {_pct(self.train_error)}"
        if self.train_dev_error is not None:
            errors += f" | train-dev {_pct(self.train_dev_error)}"
        lines.append(errors + f" | dev {_pct(self.dev_error)}")
        gaps = (f"  avoidable bias {_pct(self.avoidable_bias)}{_flag(self.high_bias)}"
                f" | variance {_pct(self.variance)}{_flag(self.high_variance)}")
        if self.data_mismatch is not None:
            gaps += f" | data mismatch {_pct(self.data_mismatch)}{_flag(self.data_mismatch_high)}"
        lines.append(gaps)
        lines.append(f"  largest gap: {self.focus}")
        lines += [f"  - {step}" for step in self.recipe]
        return "\n".join(lines)


def diagnose(train_error: Optional[float] = None, dev_error: Optional[float] = None,
             bayes_error: float = 0.0, train_dev_error: Optional[float] = None, *,
             model: Optional[MLP] = None, train: Optional[DataPair] = None,
             dev: Optional[DataPair] = None, train_dev: Optional[DataPair] = None,
             threshold: float = DEFAULT_THRESHOLD, z: float = DEFAULT_Z,
             n_train: Optional[int] = None, n_dev: Optional[int] = None,
             n_train_dev: Optional[int] = None) -> Diagnosis:
    """Avoidable bias, variance and data mismatch, a verdict and the basic recipe.

    Give the errors, or a model and the data sets to measure them on. The gaps are
    ``avoidable_bias = train - bayes``; ``variance = dev - train``, or
    ``train_dev - train`` when a train-dev error (held-out data from the training
    distribution) is given, and then ``data_mismatch = dev - train_dev``.

    The rule: a gap is high when it exceeds (strictly, up to rounding) its margin,
    ``max(threshold, z * standard_error)``. `threshold` is an absolute number of
    percentage points (default 2, so the notes' table comes out as written with Bayes
    error 0: 1 %/11 % high variance, 15 %/16 % high bias, 15 %/30 % both, 0.5 %/1 %
    fine). The standard error of the gap between two error rates measured on ``n1``
    and ``n2`` examples is ``sqrt(p1(1-p1)/n1 + p2(1-p2)/n2)`` (the Bayes error counts
    as exact); it is used only when the set sizes are known — given with ``n_*`` or
    taken from the data sets — so a gap that a small dev set cannot tell from noise is
    not called high.

    Parameters
    ----------
    train_error, dev_error : float in [0, 1], optional
        Error rates (1 - accuracy) on the training and dev sets; required unless
        `model` is given.
    bayes_error : float in [0, 1], default 0.0
        Optimal (Bayes) error or its proxy, e.g. human-level error.
    train_dev_error : float in [0, 1], optional
        Error on a train-dev set.
    model : MLP, optional
        Measure the errors with ``model.error`` (dropout off, no regularization term).
    train, dev : (X (m, n_x), y (m,) or (m, n_L)) pairs
        Required with `model`.
    train_dev : (X, y) pair, optional
        With `model`: the train-dev set.
    threshold : float in [0, 1], default 0.02
        Smallest gap (as a fraction) that counts as high.
    z : float >= 0, default 2.0
        Standard errors a gap must exceed when set sizes are known (0 turns it off).
    n_train, n_dev, n_train_dev : int, optional
        Set sizes, for the sampling-noise margin; taken from the data sets with `model`.

    Returns
    -------
    Diagnosis

    Raises
    ------
    ValueError
        An error outside [0, 1], a missing error or data set, or both errors and a
        model given.

    Examples
    --------
    >>> print(diagnose(train_error=0.01, dev_error=0.11).verdict)
    high variance
    """
    if model is not None:
        measured = _measure(model, train_error, dev_error, train_dev_error,
                            train, dev, train_dev)
        train_error, dev_error, train_dev_error, n_train, n_dev, n_train_dev = measured
    elif train is not None or dev is not None or train_dev is not None:
        raise ValueError("train, dev and train_dev data sets need model=...; "
                         "without a model give train_error and dev_error")
    train_rate = _check_rate("train_error", train_error)
    dev_rate = _check_rate("dev_error", dev_error)
    bayes_rate = _check_rate("bayes_error", bayes_error)
    train_dev_rate = None
    if train_dev_error is not None:
        train_dev_rate = _check_rate("train_dev_error", train_dev_error)
    threshold = check_real("threshold", threshold, 0.0, 1.0)
    z = check_real("z", z, 0.0)
    sizes = {name: _check_size(name, n) for name, n in
             (("n_train", n_train), ("n_dev", n_dev), ("n_train_dev", n_train_dev))}
    return _analyse(train_rate, dev_rate, bayes_rate, train_dev_rate, threshold, z, sizes)


def _analyse(train_error: float, dev_error: float, bayes_error: float,
             train_dev_error: Optional[float], threshold: float, z: float,
             sizes: dict[str, Optional[int]]) -> Diagnosis:
    def margin(*pairs: tuple[float, Optional[int]]) -> float:
        if any(n is None for _, n in pairs):
            return threshold
        se = math.sqrt(sum(p * (1 - p) / n for p, n in pairs if n is not None))
        return max(threshold, z * se)

    train = (train_error, sizes["n_train"])
    avoidable_bias = train_error - bayes_error
    bias_margin = margin(train)
    if train_dev_error is None:
        variance = dev_error - train_error
        variance_margin = margin(train, (dev_error, sizes["n_dev"]))
        mismatch: Optional[float] = None
        mismatch_margin: Optional[float] = None
    else:
        train_dev = (train_dev_error, sizes["n_train_dev"])
        variance = train_dev_error - train_error
        variance_margin = margin(train, train_dev)
        mismatch = dev_error - train_dev_error
        mismatch_margin = margin(train_dev, (dev_error, sizes["n_dev"]))
    high_bias = avoidable_bias > bias_margin + ROUNDING
    high_variance = variance > variance_margin + ROUNDING
    mismatch_high = (mismatch is not None and mismatch_margin is not None
                     and mismatch > mismatch_margin + ROUNDING)
    return Diagnosis(
        train_error=train_error, dev_error=dev_error, bayes_error=bayes_error,
        train_dev_error=train_dev_error, avoidable_bias=avoidable_bias, variance=variance,
        data_mismatch=mismatch, high_bias=high_bias, high_variance=high_variance,
        data_mismatch_high=mismatch_high, verdict=_verdict(high_bias, high_variance),
        recipe=_recipe(high_bias, high_variance, mismatch_high), bias_margin=bias_margin,
        variance_margin=variance_margin, mismatch_margin=mismatch_margin)


def _verdict(high_bias: bool, high_variance: bool) -> str:
    if high_bias and high_variance:
        return "high bias and high variance"
    if high_bias:
        return "high bias"
    if high_variance:
        return "high variance"
    return "fine"


def _recipe(high_bias: bool, high_variance: bool, mismatch_high: bool) -> list[str]:
    """The notes' loop: fix bias first, then variance; data mismatch on its own."""
    steps: list[str] = []
    if high_bias:
        steps += RECIPE_BIAS
    if high_variance:
        steps += [s for s in RECIPE_VARIANCE if s not in steps]
    if mismatch_high:
        steps += RECIPE_MISMATCH
    return steps or list(RECIPE_FINE)


def _measure(model: MLP, train_error: Optional[float], dev_error: Optional[float],
             train_dev_error: Optional[float], train: Optional[DataPair], dev: Optional[DataPair],
             train_dev: Optional[DataPair]) -> tuple[Any, ...]:
    """(train, dev, train-dev errors, and the three set sizes) measured with `model`."""
    given = [name for name, v in (("train_error", train_error), ("dev_error", dev_error),
                                  ("train_dev_error", train_dev_error)) if v is not None]
    if given:
        raise ValueError(f"give either errors or model=...; got model and {', '.join(given)}")
    if getattr(model, "output", None) == "linear":
        raise ValueError("model has a linear output: its error is a mean squared error, "
                         "not an error rate; pass train_error and dev_error yourself")
    errors: list[Optional[float]] = []
    sizes: list[Optional[int]] = []
    for name, data in (("train", train), ("dev", dev), ("train_dev", train_dev)):
        if data is None and name != "train_dev":
            raise ValueError(f"{name} must be an (X, y) pair when model is given")
        error, size = (None, None) if data is None else _pair_error(name, model, data)
        errors.append(error)
        sizes.append(size)
    return (*errors, *sizes)


def _pair_error(name: str, model: MLP, data: Any) -> tuple[float, int]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (X, y)")
    X, y = data
    return model.error(X, y), int(np.shape(X)[0])


def _check_rate(name: str, value: Any) -> float:
    if value is None:
        raise ValueError(f"{name} is required (a fraction in [0, 1]), or pass model=... "
                         "with the data sets")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    return check_real(name, value, 0.0, 1.0)


def _check_size(name: str, n: Optional[int]) -> Optional[int]:
    return None if n is None else check_int(name, n, low=1)


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.1f}%"


def _flag(high: bool) -> str:
    return " (high)" if high else ""


# --------------------------------------------------------------------------- gradient health

@dataclass(frozen=True)
class LayerHealth:
    """Statistics of layer ``l`` (1-based) in one forward/backward pass, dropout off.

    ``act_*``: the layer's output A[l] (m, n[l]) (the output layer's logits Z[L]);
    ``grad_*``: its weight gradient dW[l] (n[l], n[l-1]), data term only;
    ``delta_rms``: root mean square of the back-propagated dZ[l] (m, n[l]);
    ``act_ratio``: std(A[l]) / std(A[l-1]) (A[0] is the input);
    ``grad_ratio``: delta_rms[l] / delta_rms[l+1] (None for the output layer) — both
    ratios in the direction their signal travels.
    """

    layer: int
    act_mean: float
    act_std: float
    act_norm: float
    grad_mean: float
    grad_std: float
    grad_norm: float
    delta_rms: float
    act_ratio: float
    grad_ratio: float | None


@dataclass(frozen=True)
class GradientHealth:
    """Per-layer statistics and the vanishing/exploding verdict; see :func:`gradient_health`.

    ``activation_growth`` and ``gradient_growth`` are the geometric means of the
    per-layer ratios over the hidden layers (forward for activation std, backward for
    the RMS of dZ); ``warning`` is "exploding", "vanishing" or None.
    """

    layers: tuple[LayerHealth, ...]
    activation_growth: float
    gradient_growth: float
    warning: str | None
    low: float = 0.5
    high: float = 2.0

    def __str__(self) -> str:
        head = (f"{'layer':>5} {'A mean':>10} {'A std':>10} {'A ratio':>8} {'dW mean':>10} "
                f"{'dW std':>10} {'|dW|':>10} {'dZ rms':>10} {'dZ ratio':>8}")
        rows = [head]
        for s in self.layers:
            grad_ratio = "" if s.grad_ratio is None else f"{s.grad_ratio:.3g}"
            rows.append(f"{s.layer:>5} {s.act_mean:>10.3g} {s.act_std:>10.3g} {s.act_ratio:>8.3g} "
                        f"{s.grad_mean:>10.3g} {s.grad_std:>10.3g} {s.grad_norm:>10.3g} "
                        f"{s.delta_rms:>10.3g} {grad_ratio:>8}")
        verdict = self.warning or "healthy"
        rows.append(f"growth per layer: activations x{self.activation_growth:.3g} (forward), "
                    f"gradients x{self.gradient_growth:.3g} (backward) -> {verdict}")
        return "\n".join(rows)


def gradient_health(model: MLP, X: ArrayLike, y: ArrayLike, *, low: float = 0.5,
                    high: float = 2.0) -> GradientHealth:
    """Activation and gradient statistics per layer, and a vanishing/exploding warning.

    One forward and one backward pass over (X, y) with dropout off, on the model's
    weights as they are (nothing is changed but its scratch gradient buffers).

    The rule: over the hidden layers 1..L-1 (at least 3 of them), take the geometric
    mean of the successive ratios std(A[l]) / std(A[l-1]) (forward) and
    rms(dZ[l]) / rms(dZ[l+1]) (backward); it telescopes to
    ``(last / first) ** (1 / (k - 1))`` over the k hidden layers. A mean above `high`
    (default 2: the signal at least doubles per layer) is "exploding", below `low`
    (default 0.5) "vanishing"; when one is above and the other below, the more extreme
    (in log scale) wins. Non-finite statistics count as exploding, all-zero ones as
    vanishing. Shallower networks get no warning.

    Parameters
    ----------
    model : MLP
    X : array (m, n_x)
    y : array (m,) or (m, n_L)
    low, high : float, default 0.5 and 2.0
        Per-layer growth factors below/above which the warning is raised.

    Returns
    -------
    GradientHealth
    """
    low = check_real("low", low, 0.0, 1.0, low_open=True)
    high = check_real("high", high, 1.0)
    X, y = model._check_Xy(X, y)
    ws = model._workspace(X.shape[0], train=False)
    with np.errstate(all="ignore"):
        _, inputs = model._forward(X, ws, train=False)
        acts = [_moments(A) for A in inputs]  # before backward, which may reuse buffers
        model._backward(inputs, y, ws, train=False)
        grads = [_moments(dW) for dW in model._grad_weights]
        deltas = [_rms(D) for D in ws.deltas[1:]]
        layers = _layer_rows(acts, grads, deltas)
        hidden = slice(0, model.n_layers - 1)
        act_growth = _growth([a[1] for a in acts[1:]][hidden])
        grad_growth = _growth(deltas[hidden][::-1])
    warning = _health_warning(act_growth, grad_growth, low, high, model.n_layers - 1)
    return GradientHealth(tuple(layers), act_growth, grad_growth, warning, low, high)


def _moments(a: ArrayLike) -> tuple[float, float, float]:
    """(mean, std, Frobenius norm) in float64."""
    a = np.asarray(a, dtype=np.float64)
    return float(a.mean()), float(a.std()), float(np.linalg.norm(a.ravel()))


def _rms(a: ArrayLike) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float(np.sqrt(np.mean(a * a)))


def _ratio(num: float, den: float) -> float:
    if den == 0:
        return math.inf if num > 0 else math.nan
    return num / den


def _layer_rows(acts: Sequence[tuple[float, float, float]],
                grads: Sequence[tuple[float, float, float]],
                deltas: Sequence[float]) -> list[LayerHealth]:
    rows = []
    L = len(grads)
    for l in range(1, L + 1):
        grad_ratio = _ratio(deltas[l - 1], deltas[l]) if l < L else None
        act_mean, act_std, act_norm = acts[l]
        grad_mean, grad_std, grad_norm = grads[l - 1]
        rows.append(LayerHealth(l, act_mean, act_std, act_norm, grad_mean, grad_std, grad_norm,
                                deltas[l - 1], _ratio(acts[l][1], acts[l - 1][1]), grad_ratio))
    return rows


def _growth(series: Sequence[float]) -> float:
    """Geometric mean of successive ratios of a positive series: (last/first)^(1/(k-1))."""
    s = np.asarray(series, dtype=np.float64)
    if s.size < 2:
        return math.nan
    if not np.isfinite(s).all():
        return math.inf
    if s[0] == 0:
        return 0.0 if s[-1] == 0 else math.inf
    return float((s[-1] / s[0]) ** (1.0 / (s.size - 1)))


def _health_warning(act_growth: float, grad_growth: float, low: float, high: float,
                    n_hidden: int) -> Optional[str]:
    if n_hidden < 3:
        return None
    candidates = []
    for g in (act_growth, grad_growth):
        if math.isnan(g):
            continue
        if g > high:
            candidates.append((math.inf if g == math.inf else math.log(g), "exploding"))
        elif g < low:
            candidates.append((math.inf if g == 0 else -math.log(g), "vanishing"))
    if not candidates:
        return None
    return max(candidates)[1]


class GradientHealthMonitor(Callback):
    """Record :func:`gradient_health` on (X, y) during training.

    Measures at the start of training and every `every` epochs; ``records`` is a list
    of ``(epoch, GradientHealth)``. When a warning appears (or changes), issues a
    ``RuntimeWarning``.

    Parameters
    ----------
    X : array (m, n_x)
        Raw inputs, standardized by the model's standardizer like every model input.
    y : array (m,) or (m, n_L)
    every : int, default 10
    """

    def __init__(self, X: ArrayLike, y: ArrayLike, every: int = 10) -> None:
        self.X, self.y = X, y
        self.every = check_int("every", every, low=1)
        self.records: list[tuple[int, GradientHealth]] = []

    def on_train_begin(self, model: MLP, history: History) -> None:
        self._last_warning: Optional[str] = None
        self._record(model, model.epoch_)

    def on_epoch_end(self, model: MLP, epoch: int, history: History) -> bool:
        if epoch % self.every == 0:
            self._record(model, epoch)
        return False

    def _record(self, model: MLP, epoch: int) -> None:
        result = gradient_health(model, self.X, self.y)
        self.records.append((epoch, result))
        if result.warning is not None and result.warning != self._last_warning:
            warnings.warn(f"{result.warning} gradients at epoch {epoch}: activations grow "
                          f"x{result.activation_growth:.3g} and gradients "
                          f"x{result.gradient_growth:.3g} per layer; use he/xavier/lecun "
                          "initialization or a smaller init_scale", RuntimeWarning, stacklevel=2)
        self._last_warning = result.warning


# --------------------------------------------------------------------------- demo

def vanishing_exploding_demo(depth: int = 20, width: int = 64, m: int = 256,
                             seed: int = 0) -> dict[str, GradientHealth]:
    """Gradient health of deep random-data networks under different initializations.

    Each network is ``[width] * depth + [1]`` (depth layers of weights, sigmoid output,
    float64) on the same standard-normal inputs (m, width) and random 0/1 labels.
    With ``init="random"`` and standard deviation 1, ReLU activations and gradients grow
    about ``sqrt(width/2)`` times per layer (exploding; tanh saturates, yet its
    gradients still explode); with 0.01 both shrink (vanishing); He on ReLU and Xavier
    on tanh keep them roughly constant.

    Parameters
    ----------
    depth : int >= 4, default 20
    width : int >= 1, default 64
    m : int >= 1, default 256
    seed : int, default 0

    Returns
    -------
    dict
        ``{"relu, random x1": GradientHealth, "relu, random x0.01": ...,
        "relu, he": ..., "tanh, random x1": ..., "tanh, random x0.01": ...,
        "tanh, xavier": ...}``.
    """
    from fastnn.model import MLP

    depth = check_int("depth", depth, low=4)
    width = check_int("width", width, low=1)
    m = check_int("m", m, low=1)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    X = rng.standard_normal((m, width))
    y = rng.integers(0, 2, m)
    setups: dict[str, tuple[ActivationName, InitName, float]] = {}
    pairs: tuple[tuple[ActivationName, InitName], ...] = (("relu", "he"), ("tanh", "xavier"))
    for activation, good in pairs:
        setups[f"{activation}, random x1"] = (activation, "random", 1.0)
        setups[f"{activation}, random x0.01"] = (activation, "random", 0.01)
        setups[f"{activation}, {good}"] = (activation, good, 1.0)
    out: dict[str, GradientHealth] = {}
    for name, (activation, init, scale) in setups.items():
        model = MLP([width] * depth + [1], activation=activation, init=init,
                    init_scale=scale, dtype="float64", seed=seed)
        out[name] = gradient_health(model, X, y)
    return out
