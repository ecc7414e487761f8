"""What a hyperparameter search draws from: the course's sampling scales.

The notes: pick hyperparameters at random rather than on a grid, "on an appropriate
scale": the learning rate and lambda on a log scale (r uniform in [log10 a, log10 b],
the value 10**r), momentum's beta as 1 - 10**r (so that 0.9 to 0.99 gets as many draws
as 0.99 to 0.999), keep_prob uniformly, architectures from a list.

Each distribution draws from a NumPy Generator, names its scale (the x axis of a plot:
log where the draws are uniform in a logarithm) and narrows around given values for the
notes' coarse-to-fine search (:meth:`Distribution.zoom`).  They are plain values, built
from numbers only, so they live here, below everything that uses them: the search
(:mod:`fastnn.workflow.search`), its figure (:mod:`fastnn.plots`) and any face that
reads a space.
"""
from __future__ import annotations

import copy
import math
from typing import Any, ClassVar, Literal, Sequence

import numpy as np

from fastnn.blocks.validation import check_real

__all__ = ["Distribution", "loguniform", "uniform", "one_minus_loguniform", "choice",
           "distribution_from_dict", "plain"]

#: How the values of a distribution are laid out: the x axis of a plot.
Scale = Literal["linear", "log", "one_minus_log", "categorical"]


class Distribution:
    """Base class: one hyperparameter's distribution.

    ``scale`` says how the draws are spread: "linear" (uniform), "log" (uniform in
    log10 of the value), "one_minus_log" (uniform in log10 of 1 - value) or
    "categorical" (one of a list).
    """

    scale: ClassVar[Scale]

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn with `rng`."""
        raise NotImplementedError

    def zoom(self, best: Sequence[Any], factor: float) -> Distribution:
        """A narrower distribution around `best` (the values of the best trials, the best
        first), inside this one."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: ``{"distribution": name, ...its arguments}``."""
        raise NotImplementedError


class _Interval(Distribution):
    """A distribution uniform in t(value) between t(low) and t(high), for a monotone t:
    the scale's transform (the identity, log10, log10(1 - value))."""

    name: ClassVar[str]

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high
        self._t = (self._forward(low), self._forward(high))

    @staticmethod
    def _forward(value: float) -> float:
        raise NotImplementedError

    @staticmethod
    def _inverse(r: float) -> float:
        raise NotImplementedError

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high) of the values."""
        return (self.low, self.high)

    def sample(self, rng: np.random.Generator) -> float:
        r = rng.uniform(*self._t)
        low, high = self.bounds
        # 10**r can round one ulp past the bound r came from.
        return float(min(max(self._inverse(r), low), high))

    def zoom(self, best: Sequence[Any], factor: float) -> _Interval:
        """The interval 1/factor as wide in this scale, centred on best[0] (moved inside
        this interval when it would stick out)."""
        factor = check_real("factor", factor, 1.0)
        lo, hi = self._t
        width = (hi - lo) / factor
        centre = min(max(self._forward(float(best[0])), lo), hi)
        start = min(max(centre - width / 2, lo), hi - width)
        # A side that stays on the old bound keeps the exact number the user gave.
        new_lo = self.low if start == lo else self._inverse(start)
        new_hi = self.high if start + width == hi else self._inverse(start + width)
        return type(self)(new_lo, new_hi)

    def to_dict(self) -> dict[str, Any]:
        return {"distribution": self.name, "low": self.low, "high": self.high}

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and isinstance(other, _Interval)
                and (self.low, self.high) == (other.low, other.high))

    def __hash__(self) -> int:
        return hash((self.name, self.low, self.high))

    def __repr__(self) -> str:
        return f"{self.name}({self.low:g}, {self.high:g})"


class loguniform(_Interval):
    """10**r with r uniform in [log10 low, log10 high]: the notes' scale for the learning
    rate and lambda (as many draws in [1e-4, 1e-3] as in [0.1, 1]).

    Parameters
    ----------
    low, high : float, 0 < low < high
    """

    name = "loguniform"
    scale = "log"

    def __init__(self, low: float, high: float) -> None:
        low = check_real("low", low, 0.0, low_open=True)
        high = check_real("high", high, low, low_open=True)
        super().__init__(low, high)

    @staticmethod
    def _forward(value: float) -> float:
        return math.log10(value)

    @staticmethod
    def _inverse(r: float) -> float:
        return float(10.0 ** r)


class uniform(_Interval):
    """Uniform in [low, high] (keep_prob, an init scale).

    Parameters
    ----------
    low, high : float, low < high
    """

    name = "uniform"
    scale = "linear"

    def __init__(self, low: float, high: float) -> None:
        low = check_real("low", low)
        high = check_real("high", high, low, low_open=True)
        super().__init__(low, high)

    @staticmethod
    def _forward(value: float) -> float:
        return value

    @staticmethod
    def _inverse(r: float) -> float:
        return r


class one_minus_loguniform(_Interval):
    """beta = 1 - 10**r with r uniform in [log10 low, log10 high]: the notes' scale for
    momentum-like averages, where 1/(1 - beta) is the window averaged over (0.9 -> 10
    values, 0.999 -> 1000), so beta near 1 is sampled as densely as beta near 0.9.

    Parameters
    ----------
    low, high : float, 0 < low < high <= 1
        The bounds of 1 - beta: ``one_minus_loguniform(1e-3, 1e-1)`` draws beta in
        [0.9, 0.999].
    """

    name = "one_minus_loguniform"
    scale = "one_minus_log"

    def __init__(self, low: float, high: float) -> None:
        low = check_real("low", low, 0.0, low_open=True)
        high = check_real("high", high, low, 1.0, low_open=True)
        super().__init__(1.0 - low, 1.0 - high)
        # low/high stay the bounds of 1 - beta, as given (1 - (1 - a) need not be a).
        self.low, self.high = low, high

    @property
    def bounds(self) -> tuple[float, float]:
        return (1.0 - self.high, 1.0 - self.low)

    @staticmethod
    def _forward(value: float) -> float:
        return math.log10(1.0 - value)

    @staticmethod
    def _inverse(r: float) -> float:
        return float(1.0 - 10.0 ** r)

    def zoom(self, best: Sequence[Any], factor: float) -> _Interval:
        factor = check_real("factor", factor, 1.0)
        # Zoomed in r = log10(1 - beta), in which this distribution is uniform.
        narrowed = loguniform(self.low, self.high).zoom([1.0 - float(best[0])], factor)
        return one_minus_loguniform(narrowed.low, narrowed.high)


class choice(Distribution):
    """One of `options`, each as likely (layer sizes, activations, a batch size).

    Parameters
    ----------
    options : sequence
        At least one value; each draw is a copy, so lists can be options
        (``choice([[64], [128, 64]])`` for hidden layers).
    """

    name: ClassVar[str] = "choice"
    scale = "categorical"

    def __init__(self, options: Sequence[Any]) -> None:
        if isinstance(options, (str, bytes)) or not hasattr(options, "__len__"):
            raise TypeError(f"options must be a list of values, got {options!r}")
        self.options = list(options)
        if not self.options:
            raise ValueError("options is empty: give at least one value")

    def sample(self, rng: np.random.Generator) -> Any:
        return copy.deepcopy(self.options[int(rng.integers(len(self.options)))])

    def zoom(self, best: Sequence[Any], factor: float) -> choice:
        """The options among `best` (all of them found there), in their order here."""
        check_real("factor", factor, 1.0)
        kept = [option for option in self.options if any(_same(option, v) for v in best)]
        return choice(kept or self.options)

    def index(self, value: Any) -> int:
        """Where `value` is among the options."""
        for i, option in enumerate(self.options):
            if _same(option, value):
                return i
        raise ValueError(f"{value!r} is not one of the options {self.options}")

    def to_dict(self) -> dict[str, Any]:
        return {"distribution": self.name, "options": plain(self.options)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, choice) and plain(self.options) == plain(other.options)

    def __hash__(self) -> int:
        return hash(repr(plain(self.options)))

    def __repr__(self) -> str:
        return f"choice({plain(self.options)!r})"


DISTRIBUTIONS: dict[str, type[Distribution]] = {
    cls.name: cls for cls in (loguniform, uniform, one_minus_loguniform, choice)}


def distribution_from_dict(record: dict[str, Any]) -> Distribution:
    """Rebuild a distribution from :meth:`Distribution.to_dict`."""
    if not isinstance(record, dict) or record.get("distribution") not in DISTRIBUTIONS:
        raise ValueError(f"not a distribution record: {record!r}; 'distribution' must be one "
                         f"of {sorted(DISTRIBUTIONS)}")
    args = {k: v for k, v in record.items() if k != "distribution"}
    return DISTRIBUTIONS[record["distribution"]](**args)


def plain(value: Any) -> Any:
    """A JSON-friendly copy: NumPy scalars and arrays to Python, tuples to lists (what a
    space's values and a search's results are written as)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal as plain values (a list option and the tuple a result holds are the same)."""
    return bool(plain(a) == plain(b))
