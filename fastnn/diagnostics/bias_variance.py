"""Bias/variance diagnosis with the basic recipe.

:func:`diagnose` turns train, dev (and optionally train-dev) error into avoidable bias,
variance and data mismatch against a Bayes (or human-level) error, a verdict and the
notes' basic recipe as next steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike

from fastnn.blocks.validation import check_int, check_real

if TYPE_CHECKING:
    from fastnn.model import MLP

#: An (X (m, n_x), y (m,) or (m, n_L)) data set.
DataPair = Sequence[ArrayLike]

__all__ = ["Diagnosis", "diagnose"]

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
