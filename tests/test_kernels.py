"""Kernel tests: every kernel of both backends against formulas written here, and the
Cython backend against the NumPy reference, in float32 and float64.

Expected values are computed in float64 from the notes' formulas (not from fastnn),
and tolerances are relative to the magnitude of the computation: an entry may be off
by ``rtol * (|expected| + S)`` with ``S`` the same sum taken over absolute values
(what rounding can reach), rtol 1e-12 in float64 and 1e-5 in float32.
"""
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy import special

import fastnn as fnn
from fastnn.engine import ops

ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu")
KEEP_PROBS = (1.0, 0.8, 0.5)
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
LEAKY_SLOPE = 0.01

sizes = st.integers(1, 40)
seeds = st.integers(0, 2**32 - 1)
keys = st.integers(0, 2**64 - 1)


# ---------------------------------------------------------------------------
# Oracles (float64, written from the notes / the documented conventions).


def g(name, Z):
    """A = g(Z), float64."""
    Z = np.asarray(Z, dtype=np.float64)
    if name == "relu":
        return np.maximum(Z, 0.0)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, LEAKY_SLOPE * Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "sigmoid":
        return special.expit(Z)
    if name == "selu":
        return SELU_LAMBDA * np.where(Z > 0, Z, SELU_ALPHA * np.expm1(np.minimum(Z, 0.0)))
    return Z


def g_prime_from_a(name, a):
    """g'(z) written through a = g(z) (the kernels' documented convention)."""
    a = np.asarray(a, dtype=np.float64)
    if name == "relu":
        return (a > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(a > 0, 1.0, LEAKY_SLOPE)
    if name == "tanh":
        return 1.0 - a * a
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "selu":
        return np.where(a > 0, SELU_LAMBDA, a + SELU_LAMBDA * SELU_ALPHA)
    return np.ones_like(a)


def g_prime(name, Z):
    """g'(z) from z, for the finite-difference checks."""
    Z = np.asarray(Z, dtype=np.float64)
    if name == "relu":
        return (Z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(Z > 0, 1.0, LEAKY_SLOPE)
    if name == "tanh":
        return 1.0 - np.tanh(Z) ** 2
    if name == "sigmoid":
        s = special.expit(Z)
        return s * (1 - s)
    if name == "selu":
        return np.where(Z > 0, SELU_LAMBDA, SELU_LAMBDA * SELU_ALPHA * np.exp(np.minimum(Z, 0)))
    return np.ones_like(Z)


MASK64 = (1 << 64) - 1


def spec_mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def spec_mix32(x):
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def spec_mask(key, m, n, keep_prob):
    """The documented counter-based mask, in pure Python ints: unit index = i*n+j is kept
    iff mix32((mix32(index ^ key_hi) + key_lo) mod 2^32) < ceil(keep_prob * 2^32)."""
    threshold = math.ceil(keep_prob * 2.0**32)
    key_lo, key_hi = key & 0xFFFFFFFF, key >> 32
    out = np.zeros((m, n), dtype=bool)
    for i in range(m):
        for j in range(n):
            index = i * n + j
            out[i, j] = spec_mix32((spec_mix32(index ^ key_hi) + key_lo) & 0xFFFFFFFF) < threshold
    return out


def assert_close(actual, expected, dtype, scale=0.0, factor=1.0, what=""):
    """|actual - expected| <= rtol * factor * (|expected| + scale), elementwise."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.isfinite(actual).all(), f"{what}: non-finite values"
    bound = RTOL[dtype] * factor * (np.abs(expected) + scale)
    err = np.abs(actual - expected)
    bad = err > bound
    if bad.any():
        idx = np.unravel_index(np.argmax(err - bound), err.shape) if err.ndim else ()
        raise AssertionError(
            f"{what} ({np.dtype(dtype).name}): {bad.sum()} of {bad.size} entries out of tolerance; "
            f"worst at {idx}: got {actual[idx]!r}, expected {expected[idx]!r}, "
            f"bound {bound[idx] if np.ndim(bound) else bound!r}")


def make_layer(seed, m, n_prev, n, dtype, spread=1.5):
    rng = np.random.default_rng(seed)
    A_prev = (rng.standard_normal((m, n_prev)) * spread).astype(dtype)
    W = (rng.standard_normal((n, n_prev)) / np.sqrt(n_prev)).astype(dtype)
    b = (rng.standard_normal(n) * 0.5).astype(dtype)
    return A_prev, W, b


def forward_oracle(A_prev, W, b, activation, keep_prob, mask):
    """(A, S): A = d * g(A_prev W^T + b)/keep_prob in float64, S the rounding scale."""
    A_prev64, W64, b64 = (x.astype(np.float64) for x in (A_prev, W, b))
    Z = A_prev64 @ W64.T + b64
    S = np.abs(A_prev64) @ np.abs(W64).T + np.abs(b64)
    A = g(activation, Z)
    if keep_prob < 1:
        A = A * mask / keep_prob
        S = S * mask / keep_prob
    # |g'| <= 1.06 (selu); a few roundings more in the epilogue.
    return A, 2.0 * S + np.abs(A)


def backward_oracle(dA, A, A_prev, W, activation, keep_prob, mask):
    """dZ, dW, db, dA_prev and their rounding scales, float64."""
    dA64, A64, A_prev64, W64 = (x.astype(np.float64) for x in (dA, A, A_prev, W))
    if keep_prob < 1:
        a = A64 * keep_prob
        factor = mask / keep_prob
    else:
        a = A64
        factor = np.ones_like(A64)
    dZ = dA64 * factor * g_prime_from_a(activation, a)
    SdZ = 4.0 * np.abs(dA64) * factor + np.abs(dZ)
    return {
        "dZ": (dZ, SdZ),
        "dW": (dZ.T @ A_prev64, SdZ.T @ np.abs(A_prev64)),
        "db": (dZ.sum(axis=0), SdZ.sum(axis=0)),
        "dA_prev": (dZ @ W64, SdZ @ np.abs(W64)),
    }


layer_cases = given(m=sizes, n_prev=sizes, n=sizes, activation=st.sampled_from(ACTIVATIONS),
                    keep_prob=st.sampled_from(KEEP_PROBS), seed=seeds, key=keys)


def edge_examples(f):
    """Always try one example (m=1), one unit (n=1), and both at once."""
    f = example(m=1, n_prev=3, n=5, activation="relu", keep_prob=0.5, seed=1, key=7)(f)
    f = example(m=9, n_prev=4, n=1, activation="tanh", keep_prob=0.8, seed=2, key=8)(f)
    f = example(m=1, n_prev=1, n=1, activation="selu", keep_prob=1.0, seed=3, key=9)(f)
    return f


# ---------------------------------------------------------------------------
# dense_forward


@edge_examples
@layer_cases
def test_dense_forward_matches_formula(backend, dtype, m, n_prev, n, activation, keep_prob,
                                       seed, key):
    A_prev, W, b = make_layer(seed, m, n_prev, n, dtype)
    mask = spec_mask(key, m, n, keep_prob) if keep_prob < 1 and m * n <= 400 else \
        ops.dropout_mask(key, (m, n), keep_prob, backend="reference")
    A = ops.dense_forward(A_prev, W, b, activation, keep_prob, key, backend=backend)
    assert A.dtype == dtype and A.shape == (m, n)
    expected, S = forward_oracle(A_prev, W, b, activation, keep_prob, mask)
    assert_close(A, expected, dtype, S, what=f"dense_forward[{backend},{activation}]")
    if keep_prob < 1:
        # Dropped units are exactly zero.
        assert np.all(A[~mask] == 0)


@edge_examples
@layer_cases
def test_dense_forward_cython_equals_reference(dtype, m, n_prev, n, activation, keep_prob,
                                               seed, key):
    A_prev, W, b = make_layer(seed, m, n_prev, n, dtype)
    A_c = ops.dense_forward(A_prev, W, b, activation, keep_prob, key, backend="cython")
    A_r = ops.dense_forward(A_prev, W, b, activation, keep_prob, key, backend="reference")
    mask = ops.dropout_mask(key, (m, n), keep_prob, backend="reference")
    _, S = forward_oracle(A_prev, W, b, activation, keep_prob, mask)
    assert_close(A_c, A_r, dtype, S, what=f"cython vs reference forward [{activation}]")
    # Same dropout mask: exactly the same units are zeroed by dropout.
    if keep_prob < 1:
        assert np.all(A_c[~mask] == 0) and np.all(A_r[~mask] == 0)


def test_dense_forward_keep_prob_one_is_no_dropout_exactly(backend, dtype):
    A_prev, W, b = make_layer(5, 30, 7, 11, dtype)
    ref = ops.dense_forward(A_prev, W, b, "tanh", 1.0, 0, backend=backend)
    for key in (1, 12345, 2**63 + 17):
        A = ops.dense_forward(A_prev, W, b, "tanh", 1.0, key, backend=backend)
        np.testing.assert_array_equal(A, ref)
    assert np.count_nonzero(ref) == ref.size  # tanh of random z is never exactly 0
    expected, S = forward_oracle(A_prev, W, b, "tanh", 1.0, None)
    assert_close(ref, expected, dtype, S)


@pytest.mark.parametrize("z", [-1e-12, -1e-10, -1e-8, -1e-6])
def test_selu_forward_is_accurate_for_small_negative_z(backend, z):
    """selu(z) = lambda*alpha*expm1(z): relative accuracy must hold near 0 (float64)."""
    A = ops.dense_forward(np.array([[z]]), np.eye(1), np.zeros(1), "selu", backend=backend)
    expected = SELU_LAMBDA * SELU_ALPHA * np.expm1(z)
    np.testing.assert_allclose(A[0, 0], expected, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------
# dense_backward


def backward_inputs(seed, m, n_prev, n, activation, keep_prob, key, dtype):
    A_prev, W, b = make_layer(seed, m, n_prev, n, dtype)
    A = ops.dense_forward(A_prev, W, b, activation, keep_prob, key, backend="reference")
    dA = np.random.default_rng(seed + 1).standard_normal((m, n)).astype(dtype)
    return dA, A, A_prev, W


@edge_examples
@layer_cases
def test_dense_backward_matches_formula(backend, dtype, m, n_prev, n, activation, keep_prob,
                                        seed, key):
    dA, A, A_prev, W = backward_inputs(seed, m, n_prev, n, activation, keep_prob, key, dtype)
    mask = ops.dropout_mask(key, (m, n), keep_prob, backend="reference")
    dA_before = dA.copy()
    got = ops.dense_backward(dA, A, A_prev, W, activation, keep_prob, key, backend=backend)
    np.testing.assert_array_equal(dA, dA_before)  # the entry works on a copy
    expected = backward_oracle(dA, A, A_prev, W, activation, keep_prob, mask)
    for name in ("dW", "db", "dA_prev"):
        value, scale = expected[name]
        assert got[name].dtype == dtype
        assert_close(got[name], value, dtype, scale, what=f"{name}[{backend},{activation},"
                                                          f"keep={keep_prob}]")


@edge_examples
@layer_cases
def test_dense_backward_returns_dZ(backend, dtype, m, n_prev, n, activation, keep_prob,
                                   seed, key):
    """ops.dense_backward's "dZ" is dA * d/keep_prob * g'(z), whatever the backend."""
    dA, A, A_prev, W = backward_inputs(seed, m, n_prev, n, activation, keep_prob, key, dtype)
    mask = ops.dropout_mask(key, (m, n), keep_prob, backend="reference")
    got = ops.dense_backward(dA, A, A_prev, W, activation, keep_prob, key, backend=backend)
    value, scale = backward_oracle(dA, A, A_prev, W, activation, keep_prob, mask)["dZ"]
    assert got["dZ"].dtype == dtype
    assert_close(got["dZ"], value, dtype, scale,
                 what=f"dZ[{backend},{activation},keep={keep_prob}]")


@edge_examples
@layer_cases
def test_dense_backward_cython_equals_reference(dtype, m, n_prev, n, activation, keep_prob,
                                                seed, key):
    dA, A, A_prev, W = backward_inputs(seed, m, n_prev, n, activation, keep_prob, key, dtype)
    mask = ops.dropout_mask(key, (m, n), keep_prob, backend="reference")
    c = ops.dense_backward(dA, A, A_prev, W, activation, keep_prob, key, backend="cython")
    r = ops.dense_backward(dA, A, A_prev, W, activation, keep_prob, key, backend="reference")
    scales = backward_oracle(dA, A, A_prev, W, activation, keep_prob, mask)
    for name in ("dW", "db", "dA_prev"):
        assert_close(c[name], r[name], dtype, scales[name][1], what=f"cython vs reference {name}")


@edge_examples
@layer_cases
def test_dense_backward_dZ_cython_equals_reference(dtype, m, n_prev, n, activation, keep_prob,
                                                   seed, key):
    dA, A, A_prev, W = backward_inputs(seed, m, n_prev, n, activation, keep_prob, key, dtype)
    mask = ops.dropout_mask(key, (m, n), keep_prob, backend="reference")
    c = ops.dense_backward(dA, A, A_prev, W, activation, keep_prob, key, backend="cython")
    r = ops.dense_backward(dA, A, A_prev, W, activation, keep_prob, key, backend="reference")
    scale = backward_oracle(dA, A, A_prev, W, activation, keep_prob, mask)["dZ"][1]
    assert_close(c["dZ"], r["dZ"], dtype, scale, what=f"cython vs reference dZ [{activation}]")


@edge_examples
@layer_cases
def test_dense_backward_without_dA_prev(backend, dtype, m, n_prev, n, activation, keep_prob,
                                        seed, key):
    dA, A, A_prev, W = backward_inputs(seed, m, n_prev, n, activation, keep_prob, key, dtype)
    full = ops.dense_backward(dA, A, A_prev, W, activation, keep_prob, key, backend=backend)
    part = ops.dense_backward(dA, A, A_prev, W, activation, keep_prob, key, backend=backend,
                              need_dA_prev=False)
    assert part["dA_prev"] is None
    for name in ("dZ", "dW", "db"):
        np.testing.assert_array_equal(part[name], full[name])


def _no_kinks(A_prev, W, b, activation):
    Z = A_prev @ W.T + b
    return activation not in ("relu", "leaky_relu", "selu") or np.abs(Z).min() > 1e-3


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("keep_prob", KEEP_PROBS)
@pytest.mark.parametrize("shape", [(1, 3, 1), (4, 3, 5), (6, 1, 2)])
def test_dense_backward_matches_finite_differences(backend, activation, keep_prob, shape):
    """dW, db, dA_prev of f = sum(G * dense_forward(...)) against central differences;
    the dropout mask is a pure function of the key, so f is deterministic with dropout."""
    m, n_prev, n = shape
    key = 424242
    for seed in range(100):
        A_prev, W, b = make_layer(seed, m, n_prev, n, np.float64)
        if _no_kinks(A_prev, W, b, activation):
            break
    G = np.random.default_rng(99).standard_normal((m, n))

    def f(A_prev, W, b):
        return float(np.sum(G * ops.dense_forward(A_prev, W, b, activation, keep_prob, key,
                                                  backend=backend)))

    A = ops.dense_forward(A_prev, W, b, activation, keep_prob, key, backend=backend)
    got = ops.dense_backward(G, A, A_prev, W, activation, keep_prob, key, backend=backend)
    eps = 1e-6
    for name, arr, grad in (("dW", W, got["dW"]), ("db", b, got["db"]),
                            ("dA_prev", A_prev, got["dA_prev"])):
        approx = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            plus = f(A_prev, W, b)
            arr[idx] = old - eps
            minus = f(A_prev, W, b)
            arr[idx] = old
            approx[idx] = (plus - minus) / (2 * eps)
        num = np.linalg.norm(approx - grad)
        den = np.linalg.norm(approx) + np.linalg.norm(grad)
        if den == 0:
            continue
        assert num / den < 1e-7, f"{name}: relative difference {num / den:.2e}"


# ---------------------------------------------------------------------------
# dropout masks


@example(m=1, n=1, keep_prob=0.5, key=0)
@example(m=1, n=40, keep_prob=0.8, key=2**64 - 1)
@given(m=sizes, n=sizes, keep_prob=st.sampled_from((0.8, 0.5, 0.1, 0.999)), key=keys)
def test_dropout_mask_identical_on_both_backends_and_follows_spec(m, n, keep_prob, key):
    mc = ops.dropout_mask(key, (m, n), keep_prob, backend="cython")
    mr = ops.dropout_mask(key, (m, n), keep_prob, backend="reference")
    assert mc.dtype == bool and mr.dtype == bool
    assert mc.shape == mr.shape == (m, n)
    np.testing.assert_array_equal(mc, mr)
    np.testing.assert_array_equal(mc, spec_mask(key, m, n, keep_prob))


@given(key=keys, other=keys)
def test_dropout_mask_different_keys_differ(backend, key, other):
    if key == other:
        other = (key + 1) % 2**64
    a = ops.dropout_mask(key, (20, 50), 0.5, backend=backend)
    b = ops.dropout_mask(other, (20, 50), 0.5, backend=backend)
    # 1000 fair coins: two independent masks agreeing everywhere has probability 2**-1000.
    assert not np.array_equal(a, b)
    # ... and they are not merely shifted copies of each other (counter collisions).
    assert not np.array_equal(a.ravel()[1:], b.ravel()[:-1])


def test_dropout_mask_same_key_same_mask(backend):
    a = ops.dropout_mask(77, (13, 17), 0.7, backend=backend)
    b = ops.dropout_mask(77, (13, 17), 0.7, backend=backend)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("keep_prob", (0.9, 0.8, 0.5, 0.1))
def test_dropout_mask_keep_fraction(backend, keep_prob):
    m, n = 1000, 1000
    mask = ops.dropout_mask(2024, (m, n), keep_prob, backend=backend)
    N = m * n
    se = math.sqrt(keep_prob * (1 - keep_prob) / N)
    assert abs(mask.mean() - keep_prob) < 5 * se
    # Rows and columns are not degenerate either (every row keeps about keep_prob).
    row_se = math.sqrt(keep_prob * (1 - keep_prob) / n)
    assert np.abs(mask.mean(axis=1) - keep_prob).max() < 6 * row_se


def test_dropout_mask_keep_prob_one_keeps_everything(backend):
    assert ops.dropout_mask(5, (30, 40), 1.0, backend=backend).all()


@pytest.mark.parametrize("keep_prob", (0.8, 0.5))
def test_inverted_dropout_preserves_the_mean(backend, dtype, keep_prob):
    """E[A * d / keep_prob] = A: the mean over a big array is within 5 standard errors."""
    rng = np.random.default_rng(11)
    m, n = 400, 500
    A = (rng.random((m, n)) + 0.5).astype(dtype)
    out = ops.dropout(A, 31337, keep_prob, backend=backend)
    mask = ops.dropout_mask(31337, (m, n), keep_prob, backend=backend)
    # Each unit is 0 or A / keep_prob.
    assert_close(out, np.where(mask, A.astype(np.float64) / keep_prob, 0.0), dtype,
                 what="input dropout")
    A64 = A.astype(np.float64)
    se = math.sqrt(np.sum(A64**2) * (1 - keep_prob) / keep_prob) / A.size
    assert abs(out.astype(np.float64).mean() - A64.mean()) < 5 * se
    # The same through the dense layer: A_prev = identity-like selection, linear activation.
    X = A[:, :50]
    Y = ops.dense_forward(X, np.eye(50, dtype=dtype), np.zeros(50, dtype), "linear",
                          keep_prob, 99, backend=backend)
    X64 = X.astype(np.float64)
    se = math.sqrt(np.sum(X64**2) * (1 - keep_prob) / keep_prob) / X.size
    assert abs(Y.astype(np.float64).mean() - X64.mean()) < 5 * se


# ---------------------------------------------------------------------------
# losses and output activations


def loss_oracle(kind, Z, y):
    Z = Z.astype(np.float64)
    m, k = Z.shape
    if kind == "sigmoid":
        y = y.astype(np.float64)
        losses = -(y * special.log_expit(Z) + (1 - y) * special.log_expit(-Z))
        return losses.sum() / m, (special.expit(Z) - y) / m, np.abs(losses).sum() / m
    if kind == "softmax":
        lse = special.logsumexp(Z, axis=1)
        losses = lse - Z[np.arange(m), y]
        onehot = np.zeros_like(Z)
        onehot[np.arange(m), y] = 1
        return losses.sum() / m, (special.softmax(Z, axis=1) - onehot) / m, \
            np.sum(np.abs(lse) + np.abs(Z[np.arange(m), y])) / m
    y = y.astype(np.float64)
    r = Z - y
    return np.sum(r**2) / (2 * m * k), r / (m * k), np.sum(r**2) / (2 * m * k)


def make_loss_inputs(kind, seed, m, k, dtype, spread=3.0):
    rng = np.random.default_rng(seed)
    Z = (rng.standard_normal((m, k)) * spread).astype(dtype)
    if kind == "sigmoid":
        y = (rng.random((m, k)) < 0.5).astype(dtype)
        y[rng.random((m, k)) < 0.2] = 0.3  # soft labels are allowed
    elif kind == "softmax":
        y = rng.integers(0, k, size=m)
    else:
        y = rng.standard_normal((m, k)).astype(dtype)
    return Z, y


loss_cases = given(kind=st.sampled_from(("sigmoid", "softmax", "linear")), m=sizes,
                   k=st.integers(1, 12), seed=seeds)


@example(kind="softmax", m=1, k=2, seed=0)
@example(kind="sigmoid", m=1, k=1, seed=0)
@example(kind="linear", m=1, k=1, seed=0)
@loss_cases
def test_loss_matches_formula(backend, dtype, kind, m, k, seed):
    if kind == "softmax" and k < 2:
        k = 2
    Z, y = make_loss_inputs(kind, seed, m, k, dtype)
    cost, dZ = ops.loss(kind, Z, y, backend=backend)
    exp_cost, exp_dZ, cost_scale = loss_oracle(kind, Z, y)
    assert isinstance(cost, float)
    assert abs(cost - exp_cost) <= RTOL[dtype] * (abs(exp_cost) + cost_scale)
    assert dZ.dtype == dtype
    assert_close(dZ, exp_dZ, dtype, 2.0 / m if kind == "softmax" else np.abs(exp_dZ) + 1.0 / m,
                 what=f"dZ[{kind},{backend}]")
    cost2, none = ops.loss(kind, Z, y, backend=backend, gradient=False)
    assert none is None and cost2 == cost


@example(kind="softmax", m=1, k=2, seed=0)
@example(kind="sigmoid", m=1, k=1, seed=0)
@loss_cases
def test_loss_cython_equals_reference(dtype, kind, m, k, seed):
    if kind == "softmax" and k < 2:
        k = 2
    Z, y = make_loss_inputs(kind, seed, m, k, dtype)
    cc, dc = ops.loss(kind, Z, y, backend="cython")
    cr, dr = ops.loss(kind, Z, y, backend="reference")
    _, _, cost_scale = loss_oracle(kind, Z, y)
    assert abs(cc - cr) <= RTOL[dtype] * (abs(cr) + cost_scale)
    assert_close(dc, dr, dtype, 2.0 / m, what=f"cython vs reference dZ [{kind}]")


@pytest.mark.parametrize("kind", ("sigmoid", "softmax"))
def test_loss_finite_for_saturated_logits(backend, dtype, kind):
    big = 80.0 if dtype == np.float32 else 1e4
    if kind == "sigmoid":
        Z = np.array([[big], [-big], [big], [-big]], dtype=dtype)
        y = np.array([[0.0], [1.0], [1.0], [0.0]], dtype=dtype)
        # Wrongly saturated examples cost |z| each, rightly saturated ~ e^-|z|.
        expected = 2 * big / 4
        exp_dZ = np.array([[1.0], [-1.0], [0.0], [0.0]]) / 4
    else:
        Z = np.array([[big, -big, 0.0], [-big, big, 0.0]], dtype=dtype)
        y = np.array([1, 1])
        expected = (2 * big) / 2  # first row: lse = big, z_y = -big; second: ~0
        exp_dZ = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]) / 2
    cost, dZ = ops.loss(kind, Z, y, backend=backend)
    assert np.isfinite(cost) and np.isfinite(dZ).all()
    np.testing.assert_allclose(cost, expected, rtol=1e-12)
    np.testing.assert_allclose(dZ, exp_dZ, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ("sigmoid", "softmax", "linear"))
@given(m=sizes, k=st.integers(1, 12), seed=seeds)
def test_output_activation(backend, dtype, kind, m, k, seed):
    if kind == "softmax" and k < 2:
        k = 2
    rng = np.random.default_rng(seed)
    Z = (rng.standard_normal((m, k)) * 4).astype(dtype)
    Z[0, 0] = 90.0 if dtype == np.float32 else 800.0  # saturated entries stay finite
    if k > 1:
        Z[-1, -1] = -Z[0, 0]
    Zc = Z.copy()
    Zc = ops.output_activation(kind, Zc, backend=backend)
    Z64 = Z.astype(np.float64)
    if kind == "sigmoid":
        expected = special.expit(Z64)
    elif kind == "softmax":
        expected = special.softmax(Z64, axis=1)
    else:
        expected = Z64
    assert Zc.dtype == dtype and np.isfinite(Zc).all()
    # Probabilities below the dtype's smallest normal number may flush to zero.
    tiny = np.finfo(dtype).tiny / RTOL[dtype]
    assert_close(Zc, expected, dtype, 4 * np.abs(Z64) * np.abs(expected) + tiny,
                 what=f"output {kind}")
    if kind == "softmax":
        assert_close(Zc.astype(np.float64).sum(axis=1), np.ones(m), dtype, k)
    if kind == "linear":
        np.testing.assert_array_equal(Zc, Z)


def test_output_activations_cython_equals_reference(dtype):
    rng = np.random.default_rng(8)
    for kind in ("sigmoid", "softmax"):
        Z = (rng.standard_normal((33, 7)) * 5).astype(dtype)
        a, b = Z.copy(), Z.copy()
        a = ops.output_activation(kind, a, backend="cython")
        b = ops.output_activation(kind, b, backend="reference")
        assert_close(a, b, dtype, 4 * np.abs(Z.astype(np.float64)) * np.abs(b), what=kind)


# ---------------------------------------------------------------------------
# optimizer updates


def update_oracle(rule, w, grad, state, hyper):
    w, grad = w.astype(np.float64), grad.astype(np.float64)
    sign = np.sign(w)
    gr = grad + hyper["l2"] * w + hyper["l1"] * sign
    gscale = np.abs(grad) + hyper["l2"] * np.abs(w) + hyper["l1"]
    if rule == "sgd":
        new = w - hyper["lr"] * gr
        return new, np.abs(w) + hyper["lr"] * gscale, ()
    if rule in ("momentum", "nesterov"):
        beta = hyper["beta1"]
        v = beta * state[0].astype(np.float64) + (1 - beta) * gr
        vscale = beta * np.abs(state[0]) + gscale
        step = v if rule == "momentum" else beta * v + (1 - beta) * gr
        return w - hyper["lr"] * step, np.abs(w) + hyper["lr"] * 2 * vscale, ((v, vscale),)
    if rule == "rmsprop":
        beta = hyper["beta1"]
        square = beta * state[0].astype(np.float64) + (1 - beta) * gr**2
        step = gr / (np.sqrt(square) + hyper["epsilon"])
        sscale = beta * state[0] + gscale**2
        return (w - hyper["lr"] * step,
                np.abs(w) + 8 * hyper["lr"] * np.abs(step) * (1 + sscale / np.maximum(square, 1e-300)),
                ((square, sscale),))
    b1, b2 = hyper["beta1"], hyper["beta2"]
    m1 = b1 * state[0].astype(np.float64) + (1 - b1) * gr
    m2 = b2 * state[1].astype(np.float64) + (1 - b2) * gr**2
    correction1, correction2 = 1 - b1 ** hyper["t"], 1 - b2 ** hyper["t"]
    step = (m1 / correction1) / (np.sqrt(m2 / correction2) + hyper["epsilon"])
    m1scale = b1 * np.abs(state[0]) + gscale
    m2scale = b2 * state[1] + gscale**2
    # AdamW shrinks the weights by 1 - lr weight_decay first (biases: weights=False).
    decayed = w * (1 - hyper["lr"] * hyper.get("weight_decay", 0.0) * hyper.get("weights", True))
    # The step is a ratio of ~unit relative accuracy pieces: scale by its size, plus w.
    return decayed - hyper["lr"] * step, np.abs(w) + 8 * hyper["lr"] * np.abs(step) * \
        (1 + m1scale / np.maximum(np.abs(m1), 1e-300)), ((m1, m1scale), (m2, m2scale))


def make_update_case(rule, seed, n, dtype, lr, l2, l1, beta, t):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n).astype(dtype)
    w[rng.random(n) < 0.2] = 0.0  # sign(0) = 0: the L1 subgradient
    grad = rng.standard_normal(n).astype(dtype)
    hyper = {"lr": lr, "l2": l2, "l1": l1}
    if rule == "sgd":
        state = ()
    elif rule in ("momentum", "nesterov"):
        state = (rng.standard_normal(n).astype(dtype),)
        hyper["beta1"] = beta
    elif rule == "rmsprop":
        state = ((rng.random(n) + 0.01).astype(dtype),)
        hyper.update(beta1=beta, epsilon=1e-8)
    else:
        state = (rng.standard_normal(n).astype(dtype), (rng.random(n) + 0.01).astype(dtype))
        hyper.update(beta1=beta, beta2=0.999, epsilon=1e-8, t=t)
        if rule == "adamw":
            hyper.update(weight_decay=0.05, weights=bool(seed % 2))
    return w, grad, state, hyper


update_cases = given(rule=st.sampled_from(("sgd", "momentum", "nesterov", "adam", "rmsprop",
                                           "adamw")),
                     n=st.integers(1, 200),
                     seed=seeds, lr=st.floats(1e-4, 1.0), l2=st.sampled_from((0.0, 1e-3, 0.35)),
                     l1=st.sampled_from((0.0, 1e-3, 0.2)), beta=st.sampled_from((0.0, 0.5, 0.9)),
                     t=st.integers(1, 5))


@example(rule="adam", n=1, seed=0, lr=0.01, l2=0.35, l1=0.2, beta=0.9, t=1)
@update_cases
def test_update_matches_formula(backend, dtype, rule, n, seed, lr, l2, l1, beta, t):
    w, grad, state, hyper = make_update_case(rule, seed, n, dtype, lr, l2, l1, beta, t)
    expected, scale, exp_state = update_oracle(rule, w, grad, state, hyper)
    param = w.copy()
    state_in = tuple(s.copy() for s in state)
    out = ops.update(rule, param, grad, state_in, backend=backend, **hyper)
    assert out is param  # in place
    assert_close(param, expected, dtype, scale, factor=4, what=f"{rule}[{backend}]")
    for got, (value, sc) in zip(state_in, exp_state):
        assert_close(got, value, dtype, sc, factor=4, what=f"{rule} state")


@update_cases
def test_update_cython_equals_reference(dtype, rule, n, seed, lr, l2, l1, beta, t):
    w, grad, state, hyper = make_update_case(rule, seed, n, dtype, lr, l2, l1, beta, t)
    _, scale, exp_state = update_oracle(rule, w, grad, state, hyper)
    pc, pr = w.copy(), w.copy()
    sc, sr = tuple(s.copy() for s in state), tuple(s.copy() for s in state)
    ops.update(rule, pc, grad, sc, backend="cython", **hyper)
    ops.update(rule, pr, grad, sr, backend="reference", **hyper)
    assert_close(pc, pr, dtype, scale, factor=4, what=f"cython vs reference {rule}")
    for a, b_, (_, s) in zip(sc, sr, exp_state):
        assert_close(a, b_, dtype, s, factor=4, what=f"cython vs reference {rule} state")


def test_sgd_update_is_the_weight_decay_rewriting(backend):
    """W := (1 - alpha*lambda/m) W - alpha dW (the notes), with l2 = lambda/m."""
    rng = np.random.default_rng(3)
    W, dW = rng.standard_normal(50), rng.standard_normal(50)
    alpha, lam, m = 0.3, 0.7, 211
    param = W.copy()
    ops.update("sgd", param, dW, backend=backend, lr=alpha, l2=lam / m, l1=0.0)
    np.testing.assert_allclose(param, (1 - alpha * lam / m) * W - alpha * dW, rtol=1e-14,
                               atol=1e-15)


# ---------------------------------------------------------------------------
# the course's x10 initialization on the football data


def test_large_random_init_gives_finite_cost(football, backend, dtype):
    X, y, _, _ = football
    model = fnn.MLP([2, 20, 3, 1], init="random", init_scale=10, dtype=np.dtype(dtype).name,
                    backend=backend, seed=0)
    W1 = model.params["W1"]
    assert 5 < W1.std() < 20  # the initialisation really is x10
    cost = model.cost(X, y)
    assert np.isfinite(cost) and cost > 0
    grads = model.gradients(X, y)
    assert all(np.isfinite(v).all() for v in grads.values())
    # Saturated: a few training steps still give finite numbers.
    model.fit(X, y, epochs=5, optimizer=fnn.SGD(lr=0.3))
    assert np.isfinite(model.cost(X, y))


def test_selu_derivative_is_zero_where_its_exponential_underflows(dtype):
    """Found by the fuzzer: a = lam*alpha*(e^z - 1) rounds to -lam*alpha in the layer's
    precision, and a + lam*alpha must then be 0 in that precision too (not float32's
    rounding error of lam*alpha, which times a huge input made dW = -1.7e10)."""
    X = np.array([[-9223372036854775808.0]])
    for backend in ("cython", "reference"):
        model = fnn.MLP([1, 1, 1], output="sigmoid", activation="selu", init="he",
                        dtype=np.dtype(dtype).name, seed=0, backend=backend)
        assert model.gradients(X, np.array([1.0]))["dW1"][0, 0] == 0.0, backend


def test_sigmoid_cost_log_term_is_accurate_over_the_whole_range():
    """The fused sigmoid loss computes log(1 + e^-|z|) by its own series (no libm call, so
    the loop vectorises); it must match log1p to double precision, tiny e^-|z| included
    (correctly classified examples, where the cost is ~ e^-|z| and relative error shows)."""
    z = np.concatenate([np.linspace(-40, 40, 4001), [-700.0, -35.5, 0.0, 35.5, 700.0]])
    Z = z.reshape(-1, 1)
    y = (z > 0).astype(float).reshape(-1, 1)  # every example right: each term ~ log1p(e^-|z|)
    cost, _ = ops.loss("sigmoid", Z, y, backend="cython", gradient=False)
    expected = np.sum(np.log1p(np.exp(-np.abs(z)))) / len(z)
    assert cost == pytest.approx(expected, rel=1e-14)
    for value in (1e-300, 1e-20, 1e-8, 0.3, 1.0):  # one example alone: its own log term
        one = np.array([[-np.log(value)]])
        cost, _ = ops.loss("sigmoid", one, np.ones((1, 1)), backend="cython", gradient=False)
        assert cost == pytest.approx(np.log1p(value), rel=4e-16), value


def test_call_free_exponential_is_within_two_ulp_of_exp():
    """The losses' e^x for x <= 0 (_exp.h, vectorisable) against NumPy's exp, from 0 down
    to where it returns 0 (below -708) instead of a number under 3.3e-308; NaN stays NaN."""
    from fastnn._kernels._loss import exp_nonpositive_into

    rng = np.random.default_rng(0)
    x = np.concatenate([-np.logspace(-300, np.log10(708.0), 20001),
                        -rng.uniform(0, 708, 20001), [0.0, -0.0, -np.log(2), -708.0]])
    got = np.empty_like(x)
    exp_nonpositive_into(x, got)
    expected = np.exp(x)
    ulps = np.abs(got - expected) / np.spacing(expected)
    assert ulps.max() <= 2, x[np.argmax(ulps)]
    assert got[x == 0].tolist() == [1.0, 1.0]
    edges = np.array([-708.5, -745.0, -np.inf, np.nan])
    out = np.empty_like(edges)
    exp_nonpositive_into(edges, out)
    assert out[:3].tolist() == [0.0, 0.0, 0.0] and np.isnan(out[3])


# Layers whose products (m * n * n_prev multiply-adds each) fall where OpenBLAS would take
# a second thread and fastnn issues them as one-thread blocks (_dense.pyx, gemm): both
# ways of cutting C, odd lengths whose blocks differ in width, and up to the limit.
SPLIT_PRODUCT_SHAPES = [(64, 64, 128), (67, 70, 113), (200, 50, 60), (16, 256, 200),
                        (1023, 31, 33)]


@pytest.mark.parametrize("m, n_prev, n", SPLIT_PRODUCT_SHAPES)
def test_products_issued_in_blocks_equal_the_reference(dtype, m, n_prev, n):
    assert 524288 <= m * n * n_prev < 1048576
    A_prev, W, b = make_layer(0, m, n_prev, n, dtype)
    key = 12345
    A_c = ops.dense_forward(A_prev, W, b, "relu", 0.8, key, backend="cython")
    A_r = ops.dense_forward(A_prev, W, b, "relu", 0.8, key, backend="reference")
    mask = ops.dropout_mask(key, (m, n), 0.8, backend="reference")
    _, S = forward_oracle(A_prev, W, b, "relu", 0.8, mask)
    assert_close(A_c, A_r, dtype, S, what="forward in blocks")
    dA, A, A_prev, W = backward_inputs(0, m, n_prev, n, "relu", 0.8, key, dtype)
    c = ops.dense_backward(dA, A, A_prev, W, "relu", 0.8, key, backend="cython")
    r = ops.dense_backward(dA, A, A_prev, W, "relu", 0.8, key, backend="reference")
    scales = backward_oracle(dA, A, A_prev, W, "relu", 0.8, mask)
    for name in ("dW", "db", "dA_prev"):
        assert_close(c[name], r[name], dtype, scales[name][1], what=f"{name} in blocks")


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("rule", ["momentum", "nesterov"])
def test_averaged_momentum_is_heavy_ball_with_a_scaled_rate(backend, rule):
    # scikit-learn's (and PyTorch's) momentum u := mu u - eta g, W += u (Nesterov:
    # W += mu u - eta g) is fastnn's averaged velocity with lr = eta / (1 - mu).
    rng = np.random.default_rng(0)
    eta, mu = 0.05, 0.9
    w = rng.standard_normal(20)
    ours, velocity = w.copy(), np.zeros(20)
    u = np.zeros(20)
    for t in range(1, 8):
        g = rng.standard_normal(20)
        u = mu * u - eta * g
        w = w + (mu * u - eta * g if rule == "nesterov" else u)
        ops.update(rule, ours, g, (velocity,), backend=backend, lr=eta / (1 - mu), beta1=mu,
                   t=t)
    np.testing.assert_allclose(ours, w, rtol=1e-12, atol=1e-14)
