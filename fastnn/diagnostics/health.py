"""The health of gradients across layers: vanishing and exploding gradients.

:func:`gradient_health` measures how activations and back-propagated gradients grow or
shrink from layer to layer; :class:`GradientHealthMonitor` records it during training;
:func:`vanishing_exploding_demo` shows the notes' point on deep random networks.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike

from fastnn.blocks.callbacks import Callback
from fastnn.blocks.history import History
from fastnn.blocks.names import ActivationName, InitName
from fastnn.blocks.validation import check_int, check_real
from fastnn.model import MLP

__all__ = ["LayerHealth", "GradientHealth", "gradient_health", "GradientHealthMonitor",
           "vanishing_exploding_demo"]


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
    X_checked = model.prepare_inputs(X)
    passes = model.backprop(X, y)
    with np.errstate(all="ignore"):
        acts = [_moments(A) for A in [X_checked] + passes.activations]
        grads = [_moments(dW) for dW in passes.weight_grads]
        deltas = [_rms(D) for D in passes.deltas]
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
