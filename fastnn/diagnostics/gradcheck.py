"""Gradient checking: the notes' two-sided difference test, per parameter, fast.

theta = all parameters as one vector; for each component i,
    dtheta_approx[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)
and the check is  ||dtheta_approx - dtheta||_2 / (||dtheta_approx||_2 + ||dtheta||_2):
about 1e-7 is correct, about 1e-5 deserves a second look, about 1e-3 is a bug.

``model.gradients`` gives dtheta and the cost J is ``model.cost`` (dropout off, the
regularisation terms included), both in float64.  The notes' advice is to turn dropout
off to check, and that stays the default.  fastnn's dropout masks are drawn from (seed,
step) counters, so the J of one training step, masks included, is a deterministic
function of theta: ``dropout=True`` checks against it (``model.cost`` and
``model.gradients`` with ``dropout_step=model.step_``), and so covers the dropout
backward path (the masks, the 1/keep_prob scaling) as well.  For a plain MLP the perturbed costs
are computed by a compiled pass: perturbing W[l][j, k] changes only column j of Z[l],
which enters Z[l+1] as a rank-1 update, so the layers before l are never recomputed;
only the examples whose row changes are followed, as differences from the unperturbed
pass, so J(theta +- eps e_i) - J(theta) keeps its precision.  A model whose ``cost`` is overridden
(a subclass, or patched on the instance) is checked by calling ``model.cost`` itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastnn.blocks import regularization
from fastnn.blocks.optim import SGD
from fastnn.blocks.types import FloatArray
from fastnn.blocks.validation import check_int, check_real, check_seed
from fastnn.engine import twins
from fastnn.model import MLP

# The notes' bands sit at 1e-7 / 1e-5 / 1e-3; the boundaries are their geometric midpoints.
CORRECT_BELOW = 1e-6
SUSPECT_BELOW = 1e-4


@dataclass(frozen=True)
class GradcheckResult:
    """Outcome of :func:`gradcheck`.

    Attributes
    ----------
    difference : float
        ``||approx - grad|| / (||approx|| + ||grad||)`` over the checked components.
    verdict : {"correct", "check again", "bug"}
        The notes' reading of `difference`.
    per_parameter : dict
        ``{"W1": difference, "b1": ..., ...}`` the same formula per parameter.
    worst : dict
        The component with the largest absolute disagreement: ``parameter``,
        ``index`` (tuple), ``approx``, ``analytic``.
    n_checked : int
        Components compared (all of theta unless a subset was asked for).
    epsilon : float
    after_training : GradcheckResult or None
        The same check after `after_steps` training steps, when asked for.
    dropout_step : int or None
        The training step whose dropout masks J was computed with (None: dropout off).
    """

    difference: float
    verdict: str
    per_parameter: dict[str, float]
    worst: dict[str, Any]
    n_checked: int
    epsilon: float
    after_training: Optional[GradcheckResult] = field(default=None, repr=False)
    dropout_step: Optional[int] = None

    def __str__(self) -> str:
        masks = ("" if self.dropout_step is None
                 else f", dropout masks of step {self.dropout_step}")
        lines = [f"gradient check: difference {self.difference:.3e} -> {self.verdict} "
                 f"({self.n_checked} components, epsilon {self.epsilon:g}{masks})"]
        width = max(4, *map(len, self.per_parameter))
        for name, diff in self.per_parameter.items():
            lines.append(f"  {name:>{width}}: {diff:.3e}  {verdict(diff)}")
        w = self.worst
        lines.append(f"  worst: {w['parameter']}{list(w['index'])} numerical {w['approx']:.6e} "
                     f"vs backprop {w['analytic']:.6e}")
        if self.after_training is not None:
            lines.append("after training:")
            lines.append("  " + str(self.after_training).replace("\n", "\n  "))
        return "\n".join(lines)


def verdict(difference: float) -> str:
    """The notes' reading of a relative difference."""
    if difference < CORRECT_BELOW:
        return "correct"
    if difference < SUSPECT_BELOW:
        return "check again"
    return "bug"


def relative_difference(approx: NDArray[Any], analytic: NDArray[Any]) -> float:
    """||approx - analytic||_2 / (||approx||_2 + ||analytic||_2), 0 when both are 0."""
    # The ratio does not change with scale: dividing by the largest magnitude first keeps
    # the norms of huge (finite) gradients from overflowing to inf / inf.
    largest = max(float(np.max(np.abs(approx), initial=0.0)),
                  float(np.max(np.abs(analytic), initial=0.0)))
    if largest == 0.0:
        return 0.0
    a, g = np.asarray(approx) / largest, np.asarray(analytic) / largest
    return float(np.linalg.norm(a - g) / (np.linalg.norm(a) + np.linalg.norm(g)))


def gradcheck(model: MLP, X: ArrayLike, y: ArrayLike, epsilon: float = 1e-7, *,
              components: Optional[int] = None, seed: int = 0, after_steps: int = 0,
              lr: float = 0.1, method: Literal["auto", "batched", "loop"] = "auto",
              dropout: bool = False,
              sample_weight: Optional[ArrayLike] = None) -> GradcheckResult:
    """Check ``model.gradients`` against central differences of ``model.cost``.

    Parameters
    ----------
    model : MLP (or a subclass)
        A float32 model is checked through a float64 copy; a float64 model as it is,
        its parameters untouched afterwards.
    X : array (m, n_x)
    y : array (m,) or (m, n_L)
    epsilon : float, default 1e-7
    components : int, optional
        Check a random subset of about this many components (every parameter gets at
        least one) instead of all of theta, for large models.
    seed : int, default 0
        Seeds the subset.
    after_steps : int, default 0
        Also check after this many full-batch SGD steps (learning rate `lr`) on a copy
        of the model: backprop can be right near initialisation only (the notes).
    method : {"auto", "batched", "loop"}, default "auto"
        "loop" calls ``model.cost`` twice per component (the notes' procedure
        verbatim); "batched" is the compiled pass for a plain MLP, which follows each
        perturbation through the examples it changes, as differences, so no two costs of
        size J are subtracted: on a correct network it reads about 1e-12 to 1e-10 where
        the loop reads about 1e-8 (the same bands apply); "auto" picks "batched" unless
        ``cost`` is overridden, the model uses batch norm (whose batch statistics couple
        the examples), `dropout` is on (the compiled pass follows no masks) or
        `sample_weight` is given (nor weights).
    dropout : bool, default False
        False: dropout off, the notes' advice.  True: J and its gradients with the
        dropout masks of the model's current training step (``model.step_``, frozen
        for the whole check), so that the dropout backward path is checked too; the
        loop runs.  A model that overrides ``cost`` or ``gradients`` must take their
        ``dropout_step`` argument.
    sample_weight : array_like (m,), optional
        Check the weighted J (and its gradients) that ``model.cost`` and
        ``model.gradients`` compute with these weights; the loop runs.

    Returns
    -------
    GradcheckResult
    """
    epsilon = check_real("epsilon", epsilon, 0.0, low_open=True)
    if components is not None:
        components = check_int("components", components, low=1)
    after_steps = check_int("after_steps", after_steps, low=0)
    if method not in ("auto", "batched", "loop"):
        raise ValueError(f"method must be 'auto', 'batched' or 'loop', got {method!r}")
    if not isinstance(model, MLP):
        raise TypeError(f"model must be a fastnn MLP, got {type(model).__name__}")
    if not isinstance(dropout, bool):
        raise TypeError(f"dropout must be True or False, got {dropout!r}")
    checked = _float64_model(model)
    selection = _select_components(checked, components, check_seed(seed))
    step = checked.step_ if dropout else None
    weighted = sample_weight is not None
    if method == "auto":
        method = "batched" if _batchable(checked) and step is None and not weighted else "loop"
    if method == "batched" and weighted:
        raise ValueError("method='batched' weighs no examples: use method='loop' (or "
                         "'auto') with sample_weight")
    if method == "batched" and not _has_plain_cost(checked):
        raise ValueError("method='batched' needs MLP's own cost; this model overrides it")
    if method == "batched" and checked.batch_norm:
        raise ValueError("method='batched' follows a perturbation through the examples it "
                         "changes; batch norm couples every example of the batch: use "
                         "method='loop'")
    if method == "batched" and step is not None:
        raise ValueError("method='batched' follows no dropout masks: use method='loop' (or "
                         "'auto') with dropout=True")
    # Only the options in use are passed: a model overriding cost or gradients need not
    # take the others.
    options = _options(step, sample_weight)
    analytic = checked.gradients(X, y, **options)
    if method == "batched":
        X_checked, y_checked = checked.prepare(X, y)
        approx = _batched_differences(checked, X_checked, y_checked, selection, epsilon)
    else:
        approx = _loop_differences(checked, X, y, selection, epsilon, step, sample_weight)
    _check_finite(approx, analytic)
    result = _summarize(selection, approx, analytic, epsilon, step)
    if after_steps:
        trained = checked.copy()
        trained.fit(X, y, epochs=after_steps, optimizer=SGD(lr=lr), sample_weight=sample_weight)
        again = gradcheck(trained, X, y, epsilon, components=components, seed=seed,
                          method=method, dropout=dropout, sample_weight=sample_weight)
        result = GradcheckResult(**{**result.__dict__, "after_training": again})
    return result


def _float64_model(model: MLP) -> MLP:
    """The model itself if float64, else a float64 copy (of the same class, with the
    methods patched on the instance): the original model is never changed."""
    return model if model.dtype == np.float64 else model.astype("float64")


def _batchable(model: MLP) -> bool:
    """The batched pass computes J for this model: MLP's own cost, no batch norm."""
    return _has_plain_cost(model) and not model.batch_norm


def _has_plain_cost(model: MLP) -> bool:
    """True when J is MLP's own cost (no override on the class or the instance)."""
    return type(model).cost is MLP.cost and "cost" not in vars(model)


def _select_components(model: MLP, components: Optional[int],
                       seed: int) -> dict[str, NDArray[np.integer[Any]]]:
    """Flat indices to check, per parameter name (all of them unless `components`)."""
    sizes = {name: p.size for name, p in model.params.items()}
    total = sum(sizes.values())
    if components is None or components >= total:
        return {name: np.arange(size) for name, size in sizes.items()}
    rng = np.random.default_rng(seed)
    return {name: np.sort(rng.choice(size, size=max(1, math.ceil(components * size / total)),
                                     replace=False))
            for name, size in sizes.items()}


def _loop_differences(model: MLP, X: ArrayLike, y: ArrayLike,
                      selection: dict[str, NDArray[np.integer[Any]]], epsilon: float,
                      dropout_step: Optional[int] = None,
                      sample_weight: Optional[ArrayLike] = None
                      ) -> dict[str, NDArray[np.float64]]:
    """The notes' loop: J(theta +- eps e_i) through model.cost (with the masks of
    `dropout_step` and the weights `sample_weight`, if given), one component at a time;
    every parameter is put back exactly as it was afterwards."""
    params = model.params
    options = _options(dropout_step, sample_weight)
    approx = {}
    try:
        for name, original in params.items():
            flat = original.reshape(-1)
            values = np.empty(len(selection[name]))
            for n, i in enumerate(selection[name]):
                costs = []
                for shifted in (flat[i] + epsilon, flat[i] - epsilon):
                    perturbed = flat.copy()
                    perturbed[i] = shifted
                    model.set_params({**params, name: perturbed.reshape(original.shape)})
                    costs.append(model.cost(X, y, **options))
                values[n] = (costs[0] - costs[1]) / (2 * epsilon)
            approx[name] = values
    finally:
        model.set_params(params)
    return approx


def _options(dropout_step: Optional[int], sample_weight: Optional[ArrayLike]) -> dict[str, Any]:
    """The keyword arguments of model.cost and model.gradients for the options in use."""
    options: dict[str, Any] = {}
    if dropout_step is not None:
        options["dropout_step"] = dropout_step
    if sample_weight is not None:
        options["sample_weight"] = sample_weight
    return options


def _batched_differences(model: MLP, X: FloatArray, y: NDArray[Any],
                         selection: dict[str, NDArray[np.integer[Any]]],
                         epsilon: float) -> dict[str, NDArray[Any]]:
    """Central differences of MLP's cost, all components of a parameter in one pass of the
    engine: the unperturbed forward pass is computed once here, in float64; each
    perturbation is followed, as a difference, through the rows it changes only."""
    activations: list[str] = [*model.activation, "linear"]
    params = model.params
    weights = [params[f"W{l}"] for l in range(1, model.n_layers + 1)]
    Zs: list[FloatArray] = []
    As: list[FloatArray] = [np.ascontiguousarray(X, dtype=np.float64)]
    for l, (W, g) in enumerate(zip(weights, activations), start=1):
        Zs.append(As[-1] @ W.T + params[f"b{l}"])
        As.append(twins.activation_forward(g, Zs[-1]))
    passes = model.engine.perturbation_slopes(Zs, As, *_loss_base(model.output, Zs[-1], y),
                                              weights)
    approx: dict[str, NDArray[Any]] = {}
    for l, W in enumerate(weights, start=1):
        for name, is_bias in ((f"W{l}", False), (f"b{l}", True)):
            flat_index = selection[name]
            units, cols = (flat_index, flat_index) if is_bias else np.divmod(flat_index, W.shape[1])
            # dZ[l][:, j] per unit perturbation: A[l-1][:, k] for W[j, k], 1 for b[j].
            directions = (np.ones((len(units), X.shape[0])) if is_bias
                          else np.ascontiguousarray(As[l - 1][:, cols].T))
            values = passes.slopes(l - 1, units.astype(np.intp), directions, epsilon)
            if not is_bias:
                values += _regularization_slope(model, l, W[units, cols], epsilon, X.shape[0])
            approx[name] = values
    return approx


def _loss_base(output: str, Z: FloatArray,
               y: NDArray[Any]) -> tuple[NDArray[np.float64], Optional[NDArray[Any]]]:
    """(per-example quantities the loss changes are taken from, the labels the kernel reads):
    softmax(Z) and the class indices, sigmoid(Z) and the targets, or Z - y and None."""
    if output == "softmax":
        probabilities = Z.copy()
        twins.softmax_inplace(probabilities)
        return probabilities, np.ascontiguousarray(y, np.intp)
    if output == "sigmoid":
        return (np.ascontiguousarray(twins.sigmoid(Z)),
                np.ascontiguousarray(y, dtype=np.float64))
    return np.ascontiguousarray(Z - y), None


def _regularization_slope(model: MLP, l: int, w: NDArray[Any], epsilon: float,
                          m: int) -> NDArray[Any]:
    """Central difference of the penalty lambda/(2m) w^2 + lambda_1/(2m) |w| at the
    weights w (its coefficients from fastnn.blocks.regularization)."""
    (c2, c1), = regularization.cost_coefficients([model.l2[l - 1]], [model.l1[l - 1]], m)
    plus, minus = w + epsilon, w - epsilon
    return (c2 * (plus**2 - minus**2) + c1 * (np.abs(plus) - np.abs(minus))) / (2 * epsilon)


def _check_finite(approx: dict[str, NDArray[Any]], analytic: dict[str, FloatArray]) -> None:
    """A check needs finite numbers: overflowing costs or gradients make it meaningless."""
    for name, values in approx.items():
        if not (np.isfinite(values).all() and np.isfinite(analytic["d" + name]).all()):
            raise ValueError(f"gradient check impossible: the cost or its gradient for {name} "
                             "is not finite at these inputs (X too large? normalize it)")


def _summarize(selection: dict[str, NDArray[np.integer[Any]]], approx: dict[str, NDArray[Any]],
               analytic: dict[str, FloatArray], epsilon: float,
               dropout_step: Optional[int] = None) -> GradcheckResult:
    per_parameter: dict[str, float] = {}
    all_approx: list[NDArray[Any]] = []
    all_analytic: list[NDArray[Any]] = []
    worst: Optional[dict[str, Any]] = None
    for name, idx in selection.items():
        a = approx[name]
        g = analytic["d" + name].reshape(-1)[idx]
        per_parameter[name] = relative_difference(a, g)
        all_approx.append(a)
        all_analytic.append(g)
        if len(idx):
            k = int(np.argmax(np.abs(a - g)))
            gap = abs(a[k] - g[k])
            if worst is None or gap > worst["gap"]:
                shape = analytic["d" + name].shape
                worst = {"parameter": name, "index": tuple(int(i) for i in np.unravel_index(idx[k], shape)),
                         "approx": float(a[k]), "analytic": float(g[k]), "gap": float(gap)}
    difference = relative_difference(np.concatenate(all_approx), np.concatenate(all_analytic))
    # Every parameter has at least one component selected, so a worst one exists.
    assert worst is not None
    worst.pop("gap")
    return GradcheckResult(difference=difference, verdict=verdict(difference),
                           per_parameter=per_parameter, worst=worst,
                           n_checked=sum(len(i) for i in selection.values()), epsilon=epsilon,
                           dropout_step=dropout_step)
