"""Bias/variance diagnosis with the basic recipe.

:func:`diagnose` turns train, dev (and optionally train-dev) error into avoidable bias,
variance and data mismatch against a Bayes (or human-level) error, a verdict and the
notes' basic recipe as next steps. Its report states what it assumed (the Bayes error,
how large a gap must be to count) and how to read each gap, negative ones included.
"""
from __future__ import annotations

import dataclasses
import math
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike

from fastnn.blocks.validation import check_int, check_real

if TYPE_CHECKING:
    from fastnn.model import MLP

#: An (X (m, n_x), y (m,) or (m, n_L)) data set.
DataPair = Sequence[ArrayLike]

__all__ = ["Diagnosis", "Gap", "diagnose"]

DEFAULT_THRESHOLD = 0.02
DEFAULT_Z = 2.0
# Gaps are compared with this slack, so 0.10 - 0.08 (= 0.020000000000000004) is not
# "above 2 percentage points".
ROUNDING = 1e-12
VERDICTS = ("high bias", "high variance", "high bias and high variance", "fine")
# Where a gap's margin comes from.
FROM_THRESHOLD, FROM_NOISE = "threshold", "sampling noise"
# The report's line width.
WIDTH = 88

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

#: What the report says when the Bayes error was not given. The moons figure is
#: fastnn.datasets.moons_bayes_error(0.3), rounded (a test keeps them equal).
ASSUMED_BAYES = (
    "Bayes error 0%, not given (the notes assume about 0 for tasks people do almost "
    "perfectly); noisy data have more, e.g. two moons with noise 0.3 about 8.5% "
    "(fastnn.datasets.moons_bayes_error): pass bayes_error=")

# What a positive gap above its margin means, per gap.
HIGH_READINGS = {
    "avoidable bias": "high: the network underfits its training set",
    "variance": "high: the network fits its training set much better than held-out "
                "data (overfitting)",
    "data mismatch": "high: the dev data differ from the training data",
}
# What a negative gap beyond its margin means, per gap.
NEGATIVE_READINGS = {
    "avoidable bias": "the train error is below the Bayes error: either the Bayes error "
                      "is overestimated (a human-level proxy above the best achievable), "
                      "or the network memorized its training set, which no classifier "
                      "can do on new data (likelier the smaller the set)",
    "variance": "the error on held-out data is below the train error: a held-out set "
                "easier than the training set (another distribution, or copies of "
                "training examples), or a train error measured with dropout or "
                "augmentation on",
    "data mismatch": "the dev error is below the train-dev error: dev data easier than "
                     "the training distribution",
}


@dataclass(frozen=True)
class Gap:
    """One gap of a :class:`Diagnosis` and its reading.

    Attributes
    ----------
    name : str
        "avoidable bias", "variance" or "data mismatch".
    value : float
        ``upper - lower`` error (a fraction, may be negative).
    lower, upper : str
        The error levels it runs between, e.g. "train" and "dev".
    margin : float
        How far above 0 (or below, for a negative gap) it had to be to count.
    margin_from : str
        "threshold" (the absolute threshold) or "sampling noise" (``z`` standard
        errors of the two error rates, from the set sizes).
    high : bool
        Positive and above the margin.
    reading : str
        What the gap means, one sentence.
    settle : str or None
        For a gap above the threshold but within sampling noise: how much more data
        would tell it from zero.
    """

    name: str
    value: float
    lower: str
    upper: str
    margin: float
    margin_from: str
    high: bool
    reading: str
    settle: Optional[str] = None

    @property
    def within_noise(self) -> bool:
        """Above the threshold but not the sampling noise: the set sizes cannot tell."""
        return self.settle is not None

    def to_dict(self) -> dict[str, Any]:
        """The attributes as a JSON-friendly dict."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Diagnosis:
    """The bias/variance analysis of one model; see :func:`diagnose`.

    Errors and gaps are fractions (0.11 is 11 %). ``*_margin`` are the sizes a gap had
    to exceed to count as high; `gaps` reads each one; ``focus`` names the largest.
    ``bayes_error_assumed`` is True when no Bayes error was given and the notes' 0 was
    assumed; ``threshold``, ``z`` and ``n_*`` are the rule and set sizes behind the
    margins (``n_*`` None when unknown).
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
    bayes_error_assumed: bool = False
    threshold: float = DEFAULT_THRESHOLD
    z: float = DEFAULT_Z
    n_train: Optional[int] = None
    n_dev: Optional[int] = None
    n_train_dev: Optional[int] = None
    gaps: tuple[Gap, ...] = ()

    @property
    def focus(self) -> str:
        """"avoidable bias", "variance" or "data mismatch": the largest gap."""
        gaps = {"avoidable bias": self.avoidable_bias, "variance": self.variance}
        if self.data_mismatch is not None:
            gaps["data mismatch"] = self.data_mismatch
        return max(gaps, key=lambda name: gaps[name])

    @property
    def settled(self) -> bool:
        """False when a gap is above the threshold but within sampling noise: the
        verdict could change with more data."""
        return not any(gap.within_noise for gap in self.gaps)

    @property
    def assumptions(self) -> list[str]:
        """What the verdict rests on, as sentences: the Bayes error and the margins."""
        if self.bayes_error_assumed:
            bayes = ASSUMED_BAYES
        else:
            bayes = (f"Bayes error {_pct(self.bayes_error)} as given (the best achievable "
                     "error, or a proxy such as human-level error)")
        rule = (f"a gap is high above its margin, the larger of the "
                f"{_threshold(self.threshold)} and {self.z:g} standard errors of its two "
                "error rates")
        missing = [name for name, n in (("n_train", self.n_train), ("n_dev", self.n_dev))
                   if n is None]
        if self.train_dev_error is not None and self.n_train_dev is None:
            missing.append("n_train_dev")
        if self.z == 0:
            rule = (f"a gap is high above the {_threshold(self.threshold)} (z=0: sampling "
                    "noise is not counted)")
        elif missing:
            rule += (f"; {', '.join(missing)} not given: the errors are taken as exact, "
                     "sampling noise is not counted (pass the set sizes, or model= with "
                     "the data sets)")
        return [bayes, rule]

    def to_dict(self) -> dict[str, Any]:
        """The fields, ``focus``, ``settled`` and ``assumptions`` as a JSON-friendly dict;
        ``gaps`` as a list of dicts."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["recipe"] = list(self.recipe)
        out["gaps"] = [gap.to_dict() for gap in self.gaps]
        out["focus"] = self.focus
        out["settled"] = self.settled
        out["assumptions"] = self.assumptions
        return out

    def __str__(self) -> str:
        headline = f"Bias/variance: {self.verdict}"
        if self.data_mismatch_high:
            headline += " (and data mismatch)"
        unsettled = [gap.name for gap in self.gaps if gap.within_noise]
        if unsettled:
            headline += f", not settled ({' and '.join(unsettled)} within sampling noise)"
        lines = [headline, _wrap(f"errors: {self._levels()}")]
        for gap in self.gaps:
            text = (f"{gap.name} {_signed(gap.value)} ({gap.upper} - {gap.lower}); "
                    f"{self._margin_text(gap)}: {gap.reading}")
            if gap.settle:
                text += f"; {gap.settle}"
            lines.append(_wrap(text))
        lines += [_wrap(f"assumed: {text}") for text in self.assumptions]
        lines.append(_wrap(f"largest gap: {self.focus}{self._focus_note()}"))
        lines.append("  next steps:")
        lines += [_wrap(f"- {step}") for step in self.recipe]
        return "\n".join(lines)

    def _levels(self) -> str:
        bayes = f"Bayes {_pct(self.bayes_error)}"
        if self.bayes_error_assumed:
            bayes += " (assumed)"
        levels = [bayes, f"train {_pct(self.train_error)}{_size(self.n_train)}"]
        if self.train_dev_error is not None:
            levels.append(f"train-dev {_pct(self.train_dev_error)}{_size(self.n_train_dev)}")
        levels.append(f"dev {_pct(self.dev_error)}{_size(self.n_dev)}")
        return " | ".join(levels)

    def _margin_text(self, gap: Gap) -> str:
        if gap.margin_from == FROM_NOISE:
            sizes = " and ".join(str(n) for n in self._sizes(gap) if n is not None)
            return (f"margin {_points(gap.margin)} ({self.z:g} standard errors of errors "
                    f"measured on {sizes} examples; above the {_threshold(self.threshold)})")
        if any(n is None for n in self._sizes(gap)) or self.z == 0:
            return f"margin {_points(gap.margin)} (the threshold)"
        return f"margin {_points(gap.margin)} (the threshold; the sampling noise is smaller)"

    def _sizes(self, gap: Gap) -> list[Optional[int]]:
        sizes = {"train": self.n_train, "train-dev": self.n_train_dev, "dev": self.n_dev}
        return [sizes[level] for level in (gap.lower, gap.upper) if level in sizes]

    def _focus_note(self) -> str:
        gap = next(g for g in self.gaps if g.name == self.focus)
        if gap.high:
            return f" ({_signed(gap.value)})"
        if gap.within_noise:
            return f" ({_signed(gap.value)}), but within sampling noise: not shown to be real"
        return f" ({_signed(gap.value)}), but below its margin: nothing to fix there"


def diagnose(train_error: Optional[float] = None, dev_error: Optional[float] = None,
             bayes_error: Optional[float] = None, train_dev_error: Optional[float] = None, *,
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
    not called high. Such a gap is reported as not settled, with the set size that
    would settle it.

    Parameters
    ----------
    train_error, dev_error : float in [0, 1], optional
        Error rates (1 - accuracy) on the training and dev sets; required unless
        `model` is given.
    bayes_error : float in [0, 1], optional
        Optimal (Bayes) error or its proxy, e.g. human-level error. Not given, the
        notes' 0 is assumed and the report says so: pass it for noisy data (see
        ``fastnn.datasets.moons_bayes_error`` for the built-in datasets).
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
    bayes_assumed = bayes_error is None
    bayes_rate = 0.0 if bayes_error is None else _check_rate("bayes_error", bayes_error)
    train_dev_rate = None
    if train_dev_error is not None:
        train_dev_rate = _check_rate("train_dev_error", train_dev_error)
    threshold = check_real("threshold", threshold, 0.0, 1.0)
    z = check_real("z", z, 0.0)
    sizes = {name: _check_size(name, n) for name, n in
             (("n_train", n_train), ("n_dev", n_dev), ("n_train_dev", n_train_dev))}
    return _analyse(train_rate, dev_rate, bayes_rate, bayes_assumed, train_dev_rate,
                    threshold, z, sizes)


def _analyse(train_error: float, dev_error: float, bayes_error: float, bayes_assumed: bool,
             train_dev_error: Optional[float], threshold: float, z: float,
             sizes: dict[str, Optional[int]]) -> Diagnosis:
    train = ("train", train_error, sizes["n_train"])
    dev = ("dev", dev_error, sizes["n_dev"])
    bias = _read_gap("avoidable bias", ("Bayes", bayes_error, None), train, threshold, z)
    if train_dev_error is None:
        variance = _read_gap("variance", train, dev, threshold, z)
        mismatch = None
    else:
        train_dev = ("train-dev", train_dev_error, sizes["n_train_dev"])
        variance = _read_gap("variance", train, train_dev, threshold, z)
        mismatch = _read_gap("data mismatch", train_dev, dev, threshold, z)
    if bias.value < -bias.margin - ROUNDING:
        # The dev error tells the two readings apart: no error on new data can be
        # below a true Bayes error.
        clue = ("; the dev error is below it too, so the Bayes error is overestimated"
                if dev_error < bayes_error else
                "; the dev error is above it, so memorization is the likelier")
        bias = dataclasses.replace(bias, reading=bias.reading + clue)
    gaps = (bias, variance) if mismatch is None else (bias, variance, mismatch)
    mismatch_high = mismatch is not None and mismatch.high
    return Diagnosis(
        train_error=train_error, dev_error=dev_error, bayes_error=bayes_error,
        train_dev_error=train_dev_error, avoidable_bias=bias.value, variance=variance.value,
        data_mismatch=None if mismatch is None else mismatch.value, high_bias=bias.high,
        high_variance=variance.high, data_mismatch_high=mismatch_high,
        verdict=_verdict(bias.high, variance.high),
        recipe=_recipe(bias.high, variance.high, mismatch_high, gaps),
        bias_margin=bias.margin, variance_margin=variance.margin,
        mismatch_margin=None if mismatch is None else mismatch.margin,
        bayes_error_assumed=bayes_assumed, threshold=threshold, z=z,
        n_train=sizes["n_train"], n_dev=sizes["n_dev"], n_train_dev=sizes["n_train_dev"],
        gaps=gaps)


#: (name of the level, error rate, examples it was measured on or None).
_Level = tuple[str, float, Optional[int]]


def _read_gap(name: str, lower: _Level, upper: _Level, threshold: float, z: float) -> Gap:
    """The gap ``upper - lower``, its margin and its reading."""
    value = upper[1] - lower[1]
    measured = [(p, n) for level, p, n in (lower, upper) if level != "Bayes"]
    noise = None
    if z > 0 and all(n is not None for _, n in measured):
        noise = z * math.sqrt(sum(p * (1 - p) / n for p, n in measured if n is not None))
    margin = threshold if noise is None else max(threshold, noise)
    margin_from = FROM_NOISE if noise is not None and noise > threshold else FROM_THRESHOLD
    high = value > margin + ROUNDING
    settle = None
    if high:
        reading = HIGH_READINGS[name]
    elif value < -margin - ROUNDING:
        reading = f"negative beyond the margin: {NEGATIVE_READINGS[name]}"
    elif value < -ROUNDING:
        reading = "negative but within the margin: no sign of a problem"
    elif value > threshold + ROUNDING:  # above the threshold, so the noise margin held it
        reading = "within sampling noise: it may be real or chance"
        settle = _settling_size(value, z, measured, upper[0])
    else:
        reading = f"within the {_threshold(threshold)}: small"
    return Gap(name, value, lower[0], upper[0], margin, margin_from, high, reading, settle)


def _settling_size(gap: float, z: float, measured: list[tuple[float, Optional[int]]],
                   grown: str) -> str:
    """How many examples would make `gap` exceed z standard errors, at these rates.

    `measured` are the (rate, size) of the gap's measured levels, the one named
    `grown` last: that set grows (dev for variance, the training set for avoidable
    bias); when growing it alone cannot do it, all of them grow by one factor.
    """
    terms = [p * (1 - p) / n for p, n in measured if n is not None]
    budget = (gap / z) ** 2  # the variance of the gap that z standard errors allow
    p_grown, n_grown = measured[-1]
    fixed_terms = sum(terms[:-1])
    if budget > fixed_terms and p_grown * (1 - p_grown) > 0 and n_grown is not None:
        needed = math.ceil(p_grown * (1 - p_grown) / (budget - fixed_terms))
        return (f"at these error rates about {needed} {grown} examples (now {n_grown}) "
                "would settle it")
    factor = sum(terms) / budget
    return (f"at these error rates sets about {factor:.1f} times larger "
            f"(now {' and '.join(str(n) for _, n in measured)}) would settle it")


def _verdict(high_bias: bool, high_variance: bool) -> str:
    if high_bias and high_variance:
        return "high bias and high variance"
    if high_bias:
        return "high bias"
    if high_variance:
        return "high variance"
    return "fine"


def _recipe(high_bias: bool, high_variance: bool, mismatch_high: bool,
            gaps: Sequence[Gap] = ()) -> list[str]:
    """The notes' loop: fix bias first, then variance; data mismatch on its own; then
    settle the gaps that the set sizes cannot tell from noise."""
    steps: list[str] = []
    if high_bias:
        steps += RECIPE_BIAS
    if high_variance:
        steps += [s for s in RECIPE_VARIANCE if s not in steps]
    if mismatch_high:
        steps += RECIPE_MISMATCH
    unsettled = [gap for gap in gaps if gap.within_noise]
    for gap in unsettled:
        steps.append(f"settle the {gap.name} gap ({_signed(gap.value)}) before acting on "
                     f"it: {gap.settle}")
    if not steps:
        return list(RECIPE_FINE)
    if not (high_bias or high_variance or mismatch_high):
        steps.append("nothing shown to fix yet; once settled, confirm on the test set")
    return steps


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


def _points(fraction: float) -> str:
    return f"{100 * fraction:.1f} points"


def _threshold(fraction: float) -> str:
    return f"{100 * fraction:.1f}-point threshold"


def _signed(fraction: float) -> str:
    return f"{100 * fraction:+.1f} points"


def _size(n: Optional[int]) -> str:
    return "" if n is None else f" ({n} examples)"


def _wrap(text: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent="  ", subsequent_indent="    ",
                         break_on_hyphens=False)
