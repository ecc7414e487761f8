"""Train/dev/test splits with the course's era defaults, input standardization and minibatches."""
from __future__ import annotations

from fractions import Fraction
from numbers import Integral, Real
from typing import Any, Literal, Optional, Sequence, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "NotFittedError",
    "Standardizer",
    "default_ratios",
    "minibatches",
    "split",
    "split_counts",
]

_SUM_TOLERANCE = 1e-9
# A feature whose spread is below this many float64 ulps of its mean is constant
# up to rounding in the mean itself; scaling it by 1/sigma would amplify noise.
_CONSTANT_RELATIVE_SPREAD = 1e3 * np.finfo(np.float64).eps


# --------------------------------------------------------------------------- #
# argument checks
# --------------------------------------------------------------------------- #
def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _check_count(value: Any, name: str, minimum: int) -> int:
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_seed(seed: Any) -> Optional[int]:
    if seed is None:
        return None
    if not _is_int(seed):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return int(seed)


def _parse_ratios(ratios: Any) -> tuple[Literal["counts", "fractions"], tuple[Any, ...]]:
    """Validate `ratios`; return ("counts", ints) or ("fractions", exact Fractions).

    Float ratios are read through their shortest decimal repr, so 0.35 means
    exactly 7/20 and ties in the rounding are broken by set order, as documented,
    rather than by binary representation error.
    """
    if isinstance(ratios, (str, bytes)) or not hasattr(ratios, "__len__"):
        raise TypeError(
            f"ratios must be a tuple of 2 or 3 numbers, got {type(ratios).__name__}"
        )
    items = ratios.tolist() if isinstance(ratios, np.ndarray) else list(ratios)
    if len(items) not in (2, 3):
        raise ValueError(f"ratios must have 2 or 3 entries, got {len(items)}")
    if not all(isinstance(r, Real) and not isinstance(r, (bool, np.bool_)) for r in items):
        raise TypeError(f"ratios entries must be real numbers, got {items!r}")
    if any(not np.isfinite(r) or r < 0 for r in items):
        raise ValueError(f"ratios entries must be finite and non-negative, got {items!r}")
    if all(_is_int(r) for r in items):
        return "counts", tuple(int(r) for r in items)
    total = float(sum(float(r) for r in items))
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise ValueError(
            f"ratios must sum to 1 (within {_SUM_TOLERANCE:g}), got sum {total!r} "
            f"for {items!r}; int entries are read as counts"
        )
    exact = [Fraction(repr(float(r))) for r in items]
    exact_total = sum(exact)
    return "fractions", tuple(r / exact_total for r in exact)


# --------------------------------------------------------------------------- #
# counting
# --------------------------------------------------------------------------- #
def _largest_remainder(m: int, fractions: Sequence[Fraction]) -> tuple[list[int], list[Fraction]]:
    """Round the quotas m*r to ints summing to m; leftovers go to the largest
    remainders, ties to the earlier set (train first)."""
    quotas = [m * r for r in fractions]
    counts = [q.numerator // q.denominator for q in quotas]
    leftover = m - sum(counts)
    by_remainder = sorted(range(len(quotas)), key=lambda s: (-(quotas[s] - counts[s]), s))
    for s in by_remainder[:leftover]:
        counts[s] += 1
    return counts, quotas


def _ensure_nonempty(counts: list[int], quotas: Sequence[Fraction],
                     fractions: Sequence[Fraction]) -> list[int]:
    """Give every set with a positive ratio at least one example, train first.

    An example is taken from the set furthest above its quota among those that
    keep at least one; when every set holds at most one (m smaller than the
    number of sets), a later set gives its example up to an earlier one.
    """
    positive = [s for s, r in enumerate(fractions) if r > 0]
    for i, s in enumerate(positive):
        if counts[s] > 0:
            continue
        donors = [d for d in range(len(counts)) if counts[d] > 1]
        donors = donors or [d for d in positive[i + 1:] if counts[d] > 0]
        if not donors:
            break
        donor = max(donors, key=lambda d: counts[d] - quotas[d])
        counts[donor] -= 1
        counts[s] += 1
    return counts


def split_counts(m: int, ratios: Sequence[float]) -> tuple[int, ...]:
    """Number of examples in each set when `m` examples are split by `ratios`.

    Parameters
    ----------
    m : int
        Number of examples, ``m >= 0``.
    ratios : sequence of 2 or 3 numbers
        Either fractions (floats, non-negative, summing to 1 within 1e-9) or,
        when every entry is an int, the counts themselves (summing to `m`).

    Returns
    -------
    counts : tuple of int, length ``len(ratios)``
        Non-negative, summing exactly to `m`. Fractions are rounded by largest
        remainder (ties to the earlier set), so each count is within one of
        ``m * ratio``; then every set with a positive ratio gets at least one
        example while examples remain, train first, then dev, then test.
        A set with ratio 0 always gets 0. Counts given as ints are returned as is.

    Raises
    ------
    ValueError
        If `m` is negative, or `ratios` has the wrong length, a negative entry,
        fractions not summing to 1, or counts not summing to `m`.
    """
    m = _check_count(m, "m", 0)
    kind, values = _parse_ratios(ratios)
    if kind == "counts":
        if sum(values) != m:
            raise ValueError(
                f"ratios given as int counts must sum to m={m}, got sum {sum(values)}"
            )
        return values
    counts, quotas = _largest_remainder(m, values)
    return tuple(_ensure_nonempty(counts, quotas, values))


def default_ratios(m: int, test: bool = True) -> tuple[float, ...]:
    """The course's split fractions for a data set of `m` examples.

    Parameters
    ----------
    m : int
        Number of examples.
    test : bool, default True
        False for a train/dev split with no test set (acceptable when no
        unbiased final estimate is needed); dev keeps its share, train gets the rest.

    Returns
    -------
    ratios : tuple of float
        ======================  ======================  ==================
        m                       test=True               test=False
        ======================  ======================  ==================
        m <= 10_000             (0.6, 0.2, 0.2)         (0.8, 0.2)
        10_000 < m <= 10**6     (0.98, 0.01, 0.01)      (0.99, 0.01)
        m > 10**6               (0.995, 0.0025, 0.0025) (0.9975, 0.0025)
        ======================  ======================  ==================

        The notes print the first era's split as "60/20/10", which does not sum
        to 100; the usual 60/20/20 is used.
    """
    m = _check_count(m, "m", 0)
    if m <= 10_000:
        return (0.6, 0.2, 0.2) if test else (0.8, 0.2)
    if m <= 1_000_000:
        return (0.98, 0.01, 0.01) if test else (0.99, 0.01)
    return (0.995, 0.0025, 0.0025) if test else (0.9975, 0.0025)


# --------------------------------------------------------------------------- #
# splitting
# --------------------------------------------------------------------------- #
def _class_labels(y: NDArray[Any]) -> NDArray[Any]:
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    return y.reshape(len(y))


def _stratified_table(class_sizes: NDArray[np.int64], set_sizes: NDArray[np.int64],
                      rng: np.random.Generator) -> NDArray[np.int64]:
    """Examples of each class in each set: a (n_classes, n_sets) int table whose
    rows sum to the class sizes and columns to the (unstratified) set sizes.

    Each entry is the floor of its quota n_c * T_s / m, or one more. The quotas'
    margins are integers, so such a rounding exists; filling each set's
    round-ups into the classes with the most round-ups still owed (Ryser's
    greedy construction) always finds one. Ties go to the largest remainder,
    then to a random class, so no class is favoured by its label.
    """
    m = int(class_sizes.sum())
    products = np.outer(class_sizes, set_sizes)
    table, remainders = np.divmod(products, m)
    owed = class_sizes - table.sum(axis=1)
    tie_break = rng.permutation(len(class_sizes))
    for s, size in enumerate(set_sizes):
        needed = int(size - table[:, s].sum())
        order = np.lexsort((tie_break, -remainders[:, s], -owed))[:needed]
        table[order, s] += 1
        owed[order] -= 1
    return table


def _split_indices(m: int, counts: Sequence[int], labels: Optional[NDArray[Any]],
                   rng: np.random.Generator) -> list[NDArray[np.intp]]:
    """Index arrays of the sets (sizes `counts`), stratified by `labels` if given."""
    order = rng.permutation(m)
    if labels is None:
        bounds = np.cumsum(counts)[:-1]
        return np.split(order, bounds)
    _, codes, class_sizes = np.unique(labels, return_inverse=True, return_counts=True)
    codes = codes.reshape(m)
    # A stable sort of a random permutation groups classes, random within each.
    grouped = order[np.argsort(codes[order], kind="stable")]
    table = _stratified_table(class_sizes, np.asarray(counts, dtype=np.int64), rng)
    n_sets = len(counts)
    set_of = np.repeat(np.tile(np.arange(n_sets), len(class_sizes)), table.ravel())
    return [rng.permutation(grouped[set_of == s]) for s in range(n_sets)]


@overload
def split(X: ArrayLike, y: None = None, ratios: Optional[Sequence[float]] = None, *,
          test: bool = True, stratify: bool = False,
          seed: Optional[int] = 0) -> tuple[tuple[NDArray[Any], None], ...]: ...


@overload
def split(X: ArrayLike, y: ArrayLike, ratios: Optional[Sequence[float]] = None, *,
          test: bool = True, stratify: bool = False,
          seed: Optional[int] = 0) -> tuple[tuple[NDArray[Any], NDArray[Any]], ...]: ...


def split(X: ArrayLike, y: Optional[ArrayLike] = None, ratios: Optional[Sequence[float]] = None, *,
          test: bool = True, stratify: bool = False,
          seed: Optional[int] = 0) -> tuple[tuple[NDArray[Any], Optional[NDArray[Any]]], ...]:
    """Shuffle and split examples into train/dev(/test) sets.

    Parameters
    ----------
    X : array_like, shape (m, ...)
        Examples as rows.
    y : array_like, shape (m,) or (m, k), optional
        Targets, split along with `X`.
    ratios : sequence of 2 or 3 numbers, optional
        Fractions summing to 1, or int counts summing to m (see `split_counts`).
        Two entries give a train/dev split whatever `test` says. Default:
        ``default_ratios(m, test)``, the course's era defaults.
    test : bool, default True
        Whether the default split has a test set.
    stratify : bool, default False
        Split each class by the same ratios, so every set keeps the class
        proportions: within one example per class and set of
        ``n_class * set_size / m``. Set sizes are those of the plain split.
        Class labels are the values of `y`, or the argmax of each row of a
        one-hot `y` with more than one column.
    seed : int or None, default 0
        Seed of ``np.random.default_rng``; the same seed gives the same split.

    Returns
    -------
    parts : tuple of (X_part, y_part) pairs
        ``(train, dev, test)`` or ``(train, dev)``. Every example is in exactly
        one part; each part is a shuffled, newly allocated copy
        (``X_part`` of shape (m_part, ...), ``y_part`` of shape (m_part,) or
        (m_part, k), or None when `y` is None).

    Raises
    ------
    ValueError
        If `X` is empty, `y` has another length, `ratios` is invalid or gives an
        empty set for a positive ratio, or `stratify` is set without `y`.
    TypeError
        If `seed` is not an int or None.
    """
    X = np.asarray(X)
    if X.ndim == 0:
        raise ValueError("X must have one row per example, got a scalar")
    m = X.shape[0]
    if m == 0:
        raise ValueError("X has no examples (m == 0)")
    Y = None if y is None else np.asarray(y)
    if Y is not None:
        if Y.ndim not in (1, 2):
            raise ValueError(f"y must have shape (m,) or (m, k), got {Y.shape}")
        if Y.shape[0] != m:
            raise ValueError(f"y has {Y.shape[0]} examples but X has {m}")
    if stratify and Y is None:
        raise ValueError("stratify=True needs the labels y")
    seed = _check_seed(seed)
    if ratios is None:
        ratios = default_ratios(m, test=test)
    elif not test and hasattr(ratios, "__len__") and len(ratios) == 3:
        raise ValueError("ratios has 3 entries but test=False; give 2 for a train/dev split")
    counts = split_counts(m, ratios)
    _, values = _parse_ratios(ratios)
    empty = [s for s, (c, r) in enumerate(zip(counts, values)) if c == 0 and r > 0]
    if empty:
        raise ValueError(
            f"X has {m} examples, too few for ratios {tuple(ratios)!r}: "
            f"set {empty[0]} would be empty"
        )
    rng = np.random.default_rng(seed)
    labels = _class_labels(Y) if stratify and Y is not None else None
    parts = _split_indices(m, counts, labels, rng)
    return tuple((X[idx], None if Y is None else Y[idx]) for idx in parts)


# --------------------------------------------------------------------------- #
# normalizing inputs
# --------------------------------------------------------------------------- #
class NotFittedError(RuntimeError, ValueError, AttributeError):
    """Raised when a transformer is used before `fit`.

    A RuntimeError (wrong call order), and like scikit-learn's also a ValueError
    and an AttributeError, so code catching either keeps working.
    """


def _check_features(X: ArrayLike, name: str = "X") -> NDArray[Any]:
    """Return `X` as a finite 2-D numeric array of shape (m, n_features)."""
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
    if np.issubdtype(X.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (m, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no examples (m == 0)")
    if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return X


def _float_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """float32/float64 are kept; anything else computes in float64."""
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _moments(X: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-column float64 mean and standard deviation of the finite `X`, finite too."""
    with np.errstate(over="ignore", invalid="ignore"):
        # asarray: typed as arrays (NumPy's stubs allow a scalar for an axis reduction).
        mean = np.asarray(np.mean(X, axis=0, dtype=np.float64))
        scale = np.asarray(np.std(X, axis=0, dtype=np.float64))
    if np.isfinite(mean).all() and np.isfinite(scale).all():
        return mean, scale
    # Values near float64's limits overflowed the sum or the squares: again on each
    # column scaled below 1 by a power of two, which is exact.
    exponent = np.frexp(np.abs(X).max(axis=0).astype(np.float64))[1]
    scaled = np.ldexp(np.asarray(X, dtype=np.float64), -exponent)
    return (np.ldexp(np.mean(scaled, axis=0), exponent),
            np.ldexp(np.std(scaled, axis=0), exponent))


def _unusable_scale(mean: NDArray[np.float64], scale: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Columns whose spread cannot be divided by: within rounding of the mean (the
    feature is constant up to the mean's own ulps), or too small to invert."""
    with np.errstate(divide="ignore", over="ignore"):
        return (scale <= _CONSTANT_RELATIVE_SPREAD * np.abs(mean)) | ~np.isfinite(1.0 / scale)


class Standardizer:
    """Normalize inputs to zero mean and unit variance per feature.

    ``x := (x - mu) / sigma`` with ``mu = (1/m) sum x`` and
    ``sigma**2 = (1/m) sum (x - mu)**2`` over the rows of the training set;
    dev and test sets are transformed with the same ``mu`` and ``sigma``.

    Attributes
    ----------
    mean_ : ndarray of float64, shape (n_features,)
    scale_ : ndarray of float64, shape (n_features,)
        sigma, or 1 for a constant feature (which then maps to 0), and for one whose
        sigma is within rounding of its mean or too small to invert.
    n_features_in_ : int
    """

    mean_: NDArray[np.float64]
    scale_: NDArray[np.float64]
    n_features_in_: int

    def __repr__(self) -> str:
        if hasattr(self, "n_features_in_"):
            return f"Standardizer(n_features_in_={self.n_features_in_})"
        return "Standardizer()"

    def fit(self, X: ArrayLike) -> Standardizer:
        """Compute ``mean_`` and ``scale_`` from the training set.

        Parameters
        ----------
        X : array_like, shape (m, n_features)

        Returns
        -------
        self : Standardizer
        """
        X = _check_features(X)
        mean, scale = _moments(X)
        # Exactly constant columns take their value as mean so they map to 0
        # exactly; the float64 mean of m equal values can be an ulp off.
        low, high = X.min(axis=0), X.max(axis=0)
        exact = low == high
        mean[exact] = low[exact]
        scale[exact | _unusable_scale(mean, scale)] = 1.0
        self._set(mean, scale)
        return self

    def _set(self, mean: NDArray[np.float64], scale: NDArray[np.float64]) -> None:
        self.mean_ = mean
        self.scale_ = scale
        self.n_features_in_ = mean.shape[0]

    def _check_fitted_input(self, X: ArrayLike) -> NDArray[Any]:
        if not hasattr(self, "mean_"):
            raise NotFittedError(
                "this Standardizer is not fitted yet; call fit(X_train) first"
            )
        X = _check_features(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features but the Standardizer was fitted "
                f"with {self.n_features_in_}"
            )
        return X

    def transform(self, X: ArrayLike) -> NDArray[np.floating[Any]]:
        """Standardize `X` with the fitted ``mean_`` and ``scale_``.

        Parameters
        ----------
        X : array_like, shape (m, n_features)

        Returns
        -------
        Z : ndarray, shape (m, n_features)
            float32 if `X` is float32, else float64.
        """
        X = self._check_fitted_input(X)
        dtype = _float_dtype(X.dtype)
        Z = np.subtract(X, self.mean_.astype(dtype), dtype=dtype)
        Z /= self.scale_.astype(dtype)
        return Z

    def fit_transform(self, X: ArrayLike) -> NDArray[np.floating[Any]]:
        """``fit(X)`` then ``transform(X)``; shapes as in `transform`."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: ArrayLike) -> NDArray[np.floating[Any]]:
        """Map standardized values back: ``Z * scale_ + mean_``.

        Parameters
        ----------
        Z : array_like, shape (m, n_features)

        Returns
        -------
        X : ndarray, shape (m, n_features)
            float32 if `Z` is float32, else float64.
        """
        Z = self._check_fitted_input(Z)
        dtype = _float_dtype(Z.dtype)
        X = np.multiply(Z, self.scale_.astype(dtype), dtype=dtype)
        X += self.mean_.astype(dtype)
        return X

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-friendly state: ``{"mean": [...], "scale": [...]}``."""
        if not hasattr(self, "mean_"):
            raise NotFittedError("this Standardizer is not fitted yet; nothing to save")
        return {"mean": self.mean_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Standardizer:
        """Rebuild a fitted Standardizer from `to_dict` output.

        Parameters
        ----------
        d : dict
            ``{"mean": list of n floats, "scale": list of n positive floats}``, as
            :meth:`fit` could have computed them: finite, and each scale either 1 or
            above ``2.2e-13 * |mean|`` with a finite reciprocal.

        Raises
        ------
        ValueError
            For other values, which would make the transform of inputs off the mean
            infinite or noise.

        Returns
        -------
        Standardizer
        """
        if not isinstance(d, dict) or set(d) != {"mean", "scale"}:
            raise ValueError("d must be a dict with exactly the keys 'mean' and 'scale'")
        mean = np.asarray(d["mean"], dtype=np.float64)
        scale = np.asarray(d["scale"], dtype=np.float64)
        if mean.ndim != 1 or mean.shape != scale.shape or mean.size == 0:
            raise ValueError(
                f"d['mean'] and d['scale'] must be non-empty lists of equal length, "
                f"got shapes {mean.shape} and {scale.shape}"
            )
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError("d['mean'] must be finite and d['scale'] finite and positive")
        # What fit cannot give: fit sets such scales to 1 (the feature is constant up to
        # rounding); kept, they turn every input off the mean into inf or noise.
        unusable = _unusable_scale(mean, scale) & (scale != 1.0)
        if unusable.any():
            i = int(np.argmax(unusable))
            raise ValueError(
                f"d['scale'][{i}] = {float(scale[i])!r} cannot standardize a feature of mean "
                f"{float(mean[i])!r}: a scale other than 1 must exceed "
                f"{_CONSTANT_RELATIVE_SPREAD:.3g} * |mean| and have a finite reciprocal"
            )
        standardizer = cls()
        standardizer._set(mean, scale)
        return standardizer


# --------------------------------------------------------------------------- #
# minibatches
# --------------------------------------------------------------------------- #
def minibatches(m: int, batch_size: Optional[int],
                rng: np.random.Generator) -> list[NDArray[np.intp]]:
    """Index arrays of one epoch's minibatches.

    Parameters
    ----------
    m : int
        Number of examples, ``m >= 1``.
    batch_size : int or None
        Examples per batch. None, or ``batch_size >= m``, is full-batch gradient
        descent: one batch ``np.arange(m)``, unshuffled, and `rng` is not drawn from.
    rng : numpy.random.Generator
        Source of the shuffle.

    Returns
    -------
    batches : list of ndarray of int, shapes (batch_size,) ... (m % batch_size,)
        A fresh permutation of ``range(m)`` cut into consecutive batches; the
        last one is shorter when `m` is not a multiple of `batch_size`.
    """
    m = _check_count(m, "m", 1)
    if batch_size is not None:
        batch_size = _check_count(batch_size, "batch_size", 1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if batch_size is None or batch_size >= m:
        return [np.arange(m)]
    order = rng.permutation(m)
    return [order[start:start + batch_size] for start in range(0, m, batch_size)]
