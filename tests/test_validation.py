"""Bad input gets a clear error naming the argument, raised before any kernel runs and
leaving nothing half-changed (the design's "Errors" section)."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn.engine import ops

NAN, INF = float("nan"), float("inf")


def snapshot(model):
    return {k: v.copy() for k, v in model.params.items()}, model.step_


def assert_unchanged(model, snap):
    params, step = snap
    assert model.step_ == step
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, params[k])


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    return X, (X[:, 0] > 0).astype(float), rng.integers(0, 4, 12)


@pytest.fixture
def sig_model(backend):
    return fnn.MLP([3, 5, 1], l2=0.1, keep_prob=0.8, dtype="float64", backend=backend, seed=0)


@pytest.fixture
def soft_model(backend):
    return fnn.MLP([3, 5, 4], output="softmax", dtype="float64", backend=backend, seed=0)


def call_all(model, X, y):
    """Every public entry that takes (X, y), each expected to raise."""
    return [
        lambda: model.cost(X, y),
        lambda: model.gradients(X, y),
        lambda: model.train_step(X, y, fnn.SGD(0.1)),
        lambda: model.fit(X, y, epochs=2, optimizer=fnn.SGD(0.1)),
        lambda: model.error(X, y),
    ]


# ---------------------------------------------------------------------------
# X


@pytest.mark.parametrize("bad,match", [
    (np.zeros((12, 4)), r"X has 4 features but the model expects 3"),
    (np.zeros((12, 2)), r"X has 2 features"),
    (np.zeros(12), r"X must be 2-D"),
    (np.zeros((3, 12)).T.reshape(12, 3, 1), r"X must be 2-D"),
    (np.zeros((0, 3)), r"X is empty"),
], ids=["too-many-features", "too-few", "1-d", "3-d", "empty"])
def test_bad_X_shape(sig_model, data, bad, match):
    _, y, _ = data
    snap = snapshot(sig_model)
    for call in call_all(sig_model, bad, y[: len(bad)] if len(bad) else y[:0]):
        with pytest.raises(ValueError, match=match):
            call()
    for call in (lambda: sig_model.predict(bad), lambda: sig_model.predict_proba(bad),
                 lambda: sig_model.forward(bad, train=True)):
        with pytest.raises(ValueError, match=match):
            call()
    assert_unchanged(sig_model, snap)


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_nonfinite_X(sig_model, data, value):
    X, y, _ = data
    X = X.copy()
    X[4, 1] = value
    snap = snapshot(sig_model)
    for call in call_all(sig_model, X, y) + [lambda: sig_model.predict(X)]:
        with pytest.raises(ValueError, match=r"X contains NaN or infinity"):
            call()
    assert_unchanged(sig_model, snap)


def test_non_numeric_X(sig_model, data):
    _, y, _ = data
    with pytest.raises(TypeError, match="X must be a numeric array"):
        sig_model.cost(np.array([["a", "b", "c"]] * 12), y)
    with pytest.raises(TypeError, match="X must be a numeric array"):
        sig_model.predict(np.array([[None, 1, 2]], dtype=object))


# ---------------------------------------------------------------------------
# y


@pytest.mark.parametrize("value", [NAN, INF])
def test_nonfinite_y(sig_model, data, value):
    X, y, _ = data
    y = y.copy()
    y[3] = value
    snap = snapshot(sig_model)
    for call in call_all(sig_model, X, y):
        with pytest.raises(ValueError, match=r"y contains NaN or infinity"):
            call()
    assert_unchanged(sig_model, snap)


@pytest.mark.parametrize("rows", [11, 13, 1])
def test_y_wrong_row_count(sig_model, data, rows):
    X, _, _ = data
    y = np.zeros(rows)
    snap = snapshot(sig_model)
    for call in call_all(sig_model, X, y):
        with pytest.raises(ValueError, match=rf"y has {rows} rows but X has 12"):
            call()
    assert_unchanged(sig_model, snap)


def test_y_wrong_columns(sig_model, data):
    X, _, _ = data
    with pytest.raises(ValueError, match=r"y must have shape \(12,\) or \(12, 1\)"):
        sig_model.cost(X, np.zeros((12, 2)))


@pytest.mark.parametrize("bad", [-1.0, 2.0, 1.0001, -1e-9])
def test_sigmoid_labels_outside_unit_interval(sig_model, data, bad):
    X, y, _ = data
    y = y.copy()
    y[0] = bad
    snap = snapshot(sig_model)
    for call in call_all(sig_model, X, y):
        with pytest.raises(ValueError, match=r"y must hold 0/1 labels"):
            call()
    assert_unchanged(sig_model, snap)


@pytest.mark.parametrize("bad,match", [
    (4, r"y labels must be in \[0, 4\)"),
    (7, r"y labels must be in \[0, 4\)"),
    (-1, r"y labels must be in \[0, 4\)"),
    (1.5, r"y must hold integer class labels"),
], ids=["n_out", "above", "negative", "non-integer"])
def test_softmax_bad_labels(soft_model, data, bad, match):
    X, _, labels = data
    y = labels.astype(float)
    y[5] = bad
    snap = snapshot(soft_model)
    for call in call_all(soft_model, X, y):
        with pytest.raises(ValueError, match=match):
            call()
    assert_unchanged(soft_model, snap)


@pytest.mark.parametrize("mutate", [
    lambda Y: Y.__setitem__((0, 2), 1),        # two ones in a row
    lambda Y: Y.__setitem__((1, slice(None)), 0),  # no one
    lambda Y: Y.__setitem__((2, 0), 2),        # a 2
    lambda Y: Y.__setitem__((3, 1), 0.5),      # a fraction
], ids=["two-ones", "all-zero", "two", "fraction"])
def test_softmax_bad_one_hot(soft_model, data, mutate):
    X, _, labels = data
    Y = np.eye(4)[labels]
    Y[0] = [1, 0, 0, 0]
    Y[2] = [0, 1, 0, 0]
    Y[3] = [0, 0, 1, 0]
    mutate(Y)
    snap = snapshot(soft_model)
    for call in call_all(soft_model, X, Y):
        with pytest.raises(ValueError, match=r"y given as a 2-D array must be one-hot"):
            call()
    assert_unchanged(soft_model, snap)


def test_softmax_one_hot_wrong_width(soft_model, data):
    X, _, labels = data
    with pytest.raises(ValueError, match="y"):
        soft_model.cost(X, np.eye(5)[labels])


# ---------------------------------------------------------------------------
# Constructor arguments


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"keep_prob": 0}, ValueError, r"keep_prob must be > 0"),
    ({"keep_prob": 1.5}, ValueError, r"keep_prob must be <= 1"),
    ({"keep_prob": -0.1}, ValueError, r"keep_prob must be > 0"),
    ({"keep_prob": NAN}, ValueError, r"keep_prob must be finite"),
    ({"keep_prob": "0.5"}, TypeError, r"keep_prob must be a real number"),
    ({"keep_prob": [0.8, 0.0]}, ValueError, r"keep_prob\[1\] must be > 0"),
    ({"keep_prob": [0.8, 0.9, 0.5]}, ValueError, r"keep_prob of the output layer must be 1\.0"),
    ({"keep_prob": [0.8]}, ValueError, r"keep_prob must be a scalar or have 2 entries"),
    ({"keep_prob": [0.8, 0.8, 1.0, 1.0]}, ValueError, r"keep_prob must be a scalar or have 2"),
    ({"input_keep_prob": 0}, ValueError, r"input_keep_prob must be > 0"),
    ({"input_keep_prob": 1.2}, ValueError, r"input_keep_prob must be <= 1"),
    ({"input_keep_prob": -0.5}, ValueError, r"input_keep_prob must be > 0"),
    ({"l2": -0.1}, ValueError, r"l2 must be >= 0"),
    ({"l1": -1e-9}, ValueError, r"l1 must be >= 0"),
    ({"l2": [0.1, 0.2]}, ValueError, r"l2 must be a scalar or have 3 entries, got 2"),
    ({"l2": [0.1, -0.2, 0.0]}, ValueError, r"l2\[1\] must be >= 0"),
    ({"l1": [0.1, 0.2, 0.3, 0.4]}, ValueError, r"l1 must be a scalar or have 3 entries"),
    ({"l2": INF}, ValueError, r"l2 must be finite"),
    ({"activation": "softplus"}, ValueError, r"activation must be one of"),
    ({"activation": ["relu"]}, ValueError, r"activation must be a scalar or have 2 entries"),
    ({"activation": ["relu", "swish"]}, ValueError, r"activation\[1\] must be one of"),
    ({"activation": None}, TypeError, r"activation must be a string"),
    ({"output": "tanh"}, ValueError, r"output must be one of"),
    ({"init": "orthogonal"}, ValueError, r"init must be one of"),
    ({"init_scale": 0.0}, ValueError, r"init_scale must be > 0"),
    ({"init_scale": -2.0}, ValueError, r"init_scale must be > 0"),
    ({"backend": "torch"}, ValueError, r"backend must be one of"),
    ({"backend": 1}, TypeError, r"backend must be a string"),
    ({"dtype": "float16"}, ValueError, r"dtype must be 'float32' or 'float64'"),
    ({"dtype": "int32"}, ValueError, r"dtype must be 'float32' or 'float64'"),
    ({"dtype": "banana"}, TypeError, r"dtype must be 'float32' or 'float64'"),
    ({"seed": -1}, ValueError, r"seed must be >= 0"),
    ({"seed": 1.5}, TypeError, r"seed must be an integer"),
])
def test_bad_constructor_arguments(backend, kwargs, exc, match):
    kwargs = {"backend": backend, **kwargs}
    with pytest.raises(exc, match=match):
        fnn.MLP([3, 5, 4, 1], **kwargs)


@pytest.mark.parametrize("sizes,exc,match", [
    ([3, 0, 1], ValueError, r"layer_sizes\[1\] must be >= 1"),
    ([0, 4, 1], ValueError, r"layer_sizes\[0\] must be >= 1"),
    ([3, 4, -1], ValueError, r"layer_sizes\[2\] must be >= 1"),
    ([3, 4.0, 1], TypeError, r"layer_sizes\[1\] must be an integer"),
    ([3, "4", 1], TypeError, r"layer_sizes\[1\] must be an integer"),
    ([3, True, 1], TypeError, r"layer_sizes\[1\] must be an integer"),
    ([3], ValueError, r"layer_sizes needs at least an input and an output size"),
    ("341", TypeError, r"layer_sizes must be a sequence of ints"),
    (5, TypeError, r"layer_sizes must be a sequence of ints"),
])
def test_bad_layer_sizes(sizes, exc, match):
    with pytest.raises(exc, match=match):
        fnn.MLP(sizes)


def test_softmax_needs_two_units():
    with pytest.raises(ValueError, match="softmax output needs at least 2 units"):
        fnn.MLP([3, 4, 1], output="softmax")


def test_good_keep_prob_lists_are_accepted():
    m = fnn.MLP([3, 5, 4, 1], keep_prob=[0.8, 0.5, 1.0])
    assert m.keep_prob == (0.8, 0.5, 1.0)
    m = fnn.MLP([3, 5, 4, 1], keep_prob=[0.8, 0.5])
    assert m.keep_prob == (0.8, 0.5, 1.0)
    m = fnn.MLP([3, 5, 4, 1], keep_prob=0.7)
    assert m.keep_prob == (0.7, 0.7, 1.0)


# ---------------------------------------------------------------------------
# Optimizers and fit


@pytest.mark.parametrize("factory,exc,match", [
    (lambda: fnn.SGD(lr=0), ValueError, r"lr must be > 0"),
    (lambda: fnn.SGD(lr=-0.1), ValueError, r"lr must be > 0"),
    (lambda: fnn.SGD(lr=NAN), ValueError, r"lr must be finite"),
    (lambda: fnn.SGD(lr="0.1"), TypeError, r"lr must be a real number"),
    (lambda: fnn.Momentum(lr=0.0), ValueError, r"lr must be > 0"),
    (lambda: fnn.Momentum(beta=1.0), ValueError, r"beta must be < 1"),
    (lambda: fnn.Momentum(beta=1.5), ValueError, r"beta must be < 1"),
    (lambda: fnn.Momentum(beta=-0.1), ValueError, r"beta must be >= 0"),
    (lambda: fnn.Adam(lr=-1), ValueError, r"lr must be > 0"),
    (lambda: fnn.Adam(beta1=1.0), ValueError, r"beta1 must be < 1"),
    (lambda: fnn.Adam(beta2=1.0), ValueError, r"beta2 must be < 1"),
    (lambda: fnn.Adam(beta2=2.0), ValueError, r"beta2 must be < 1"),
    (lambda: fnn.Adam(epsilon=0.0), ValueError, r"epsilon must be > 0"),
])
def test_bad_optimizer_hyperparameters(factory, exc, match):
    with pytest.raises(exc, match=match):
        factory()


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"optimizer": "nadam"}, ValueError, r"optimizer must be one of"),
    ({"optimizer": object()}, TypeError, r"optimizer must be a fastnn optimizer"),
    ({"epochs": -1}, ValueError, r"epochs must be >= 0"),
    ({"epochs": 2.5}, TypeError, r"epochs must be an integer"),
    ({"batch_size": 0}, ValueError, r"batch_size must be >= 1"),
    ({"batch_size": -4}, ValueError, r"batch_size must be >= 1"),
    ({"batch_size": 2.0}, TypeError, r"batch_size must be an integer"),
])
def test_bad_fit_arguments(sig_model, data, kwargs, exc, match):
    X, y, _ = data
    snap = snapshot(sig_model)
    with pytest.raises(exc, match=match):
        sig_model.fit(X, y, **kwargs)
    assert_unchanged(sig_model, snap)


def test_fit_dev_set_with_other_features(sig_model, data):
    X, y, _ = data
    snap = snapshot(sig_model)
    with pytest.raises(ValueError, match=r"dev\[0\].* has 4 features"):
        sig_model.fit(X, y, epochs=3, optimizer=fnn.SGD(0.1), dev=(np.zeros((5, 4)), y[:5]))
    with pytest.raises(ValueError, match=r"dev\[1\].* has 4 rows"):
        sig_model.fit(X, y, epochs=3, optimizer=fnn.SGD(0.1), dev=(X[:5], y[:4]))
    assert_unchanged(sig_model, snap)


def test_train_step_with_a_non_optimizer_changes_nothing(sig_model, data):
    X, y, _ = data
    snap = snapshot(sig_model)
    with pytest.raises((TypeError, AttributeError)):
        sig_model.train_step(X, y, "sgd")
    assert_unchanged(sig_model, snap)


# ---------------------------------------------------------------------------
# ops.* entries


def _layer(dtype=np.float64, m=4, n_prev=3, n=2):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((m, n_prev)).astype(dtype),
            rng.standard_normal((n, n_prev)).astype(dtype), np.zeros(n, dtype))


@pytest.mark.parametrize("mutate,exc,match", [
    (lambda a: (a[0], a[1].astype(np.float32), a[2]), TypeError, r"W has dtype float32"),
    (lambda a: (a[0], a[1], a[2].astype(np.float32)), TypeError, r"b has dtype float32"),
    (lambda a: (a[0].astype(np.int64), a[1], a[2]), TypeError, r"A_prev must be float32 or float64"),
    (lambda a: (a[0], a[1].T, a[2]), ValueError, r"W must have shape \(n, 3\)"),
    (lambda a: (a[0], a[1], np.zeros(3)), ValueError, r"b must have shape \(2,\)"),
    (lambda a: (a[0][0], a[1], a[2]), ValueError, r"A_prev must be 2-D"),
    (lambda a: (a[0][:0], a[1], a[2]), ValueError, r"A_prev is empty"),
    (lambda a: (np.where(a[0] > 0, np.nan, a[0]), a[1], a[2]), ValueError,
     r"A_prev contains NaN"),
    (lambda a: (a[0], np.full_like(a[1], np.inf), a[2]), ValueError, r"W contains NaN or infin"),
    (lambda a: (a[0], a[1], np.full_like(a[2], np.nan)), ValueError, r"b contains NaN"),
])
def test_ops_dense_forward_bad_arrays(backend, mutate, exc, match):
    A_prev, W, b = mutate(_layer())
    with pytest.raises(exc, match=match):
        ops.dense_forward(A_prev, W, b, "relu", backend=backend)


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"activation": "gelu"}, ValueError, r"activation must be one of"),
    ({"keep_prob": 0.0}, ValueError, r"keep_prob must be > 0"),
    ({"keep_prob": 1.5}, ValueError, r"keep_prob must be <= 1"),
    ({"keep_prob": NAN}, ValueError, r"keep_prob must be finite"),
    ({"backend": "numpy"}, ValueError, r"backend must be one of"),
])
def test_ops_dense_forward_bad_options(kwargs, exc, match):
    A_prev, W, b = _layer()
    with pytest.raises(exc, match=match):
        ops.dense_forward(A_prev, W, b, **kwargs)
    dA = np.ones((4, 2))
    with pytest.raises(exc, match=match):
        ops.dense_backward(dA, dA, A_prev, W, **kwargs)


@pytest.mark.parametrize("which,value,exc,match", [
    ("dA", np.ones((4, 3)), ValueError, r"dA must have shape \(4, 2\)"),
    ("A", np.ones((5, 2)), ValueError, r"A must have shape \(4, 2\)"),
    ("dA", np.ones((4, 2), np.float32), TypeError, r"dA has dtype float32"),
    ("A", np.ones((4, 2), np.float32), TypeError, r"A has dtype float32"),
    ("dA", np.full((4, 2), np.nan), ValueError, r"dA contains NaN"),
    ("A", np.full((4, 2), np.inf), ValueError, r"A contains NaN or infinity"),
    ("W", np.ones((2, 4)), ValueError, r"W must have shape \(n, 3\)"),
])
def test_ops_dense_backward_bad_arrays(backend, which, value, exc, match):
    A_prev, W, _ = _layer()
    args = {"dA": np.ones((4, 2)), "A": np.ones((4, 2)), "A_prev": A_prev, "W": W}
    args[which] = value
    with pytest.raises(exc, match=match):
        ops.dense_backward(backend=backend, **args)


@pytest.mark.parametrize("keep_prob", [0.0, -0.1, 1.5])
def test_ops_dropout_mask_bad_keep_prob(backend, keep_prob):
    with pytest.raises(ValueError, match="keep_prob"):
        ops.dropout_mask(1, (3, 4), keep_prob, backend=backend)


@pytest.mark.parametrize("kind,Z,y,exc,match", [
    ("hinge", np.zeros((3, 2)), np.zeros((3, 2)), ValueError, r"kind must be one of"),
    ("softmax", np.zeros((3, 2)), np.array([0.0, 1.0, 1.0]), ValueError,
     r"y must be integer labels of shape \(3,\)"),
    ("softmax", np.zeros((3, 2)), np.array([0, 1]), ValueError, r"y must be integer labels"),
    ("softmax", np.zeros((3, 2)), np.array([0, 2, 1]), ValueError, r"y labels must be in \[0, 2\)"),
    ("softmax", np.zeros((3, 2)), np.array([0, -1, 1]), ValueError, r"y labels must be in"),
    ("sigmoid", np.zeros((3, 1)), np.zeros((3, 2)), ValueError, r"y must have shape \(3, 1\)"),
    ("sigmoid", np.zeros((3, 1)), np.zeros((3, 1), np.float32), TypeError, r"y has dtype float32"),
    ("linear", np.full((3, 1), np.nan), np.zeros((3, 1)), ValueError, r"Z contains NaN"),
    ("linear", np.zeros((3, 1)), np.full((3, 1), np.inf), ValueError, r"y contains NaN"),
    ("linear", np.zeros(3), np.zeros(3), ValueError, r"Z must be 2-D"),
    ("linear", np.zeros((0, 1)), np.zeros((0, 1)), ValueError, r"Z is empty"),
    ("sigmoid", np.zeros((3, 1), np.int64), np.zeros((3, 1)), TypeError,
     r"Z must be float32 or float64"),
])
def test_ops_loss_bad_input(backend, kind, Z, y, exc, match):
    with pytest.raises(exc, match=match):
        ops.loss(kind, Z, y, backend=backend)


SGD_HYPER = {"lr": 0.1, "l2": 0.0, "l1": 0.0}
MOMENTUM_HYPER = {"lr": 0.1, "beta1": 0.9, "l2": 0.0, "l1": 0.0}


@pytest.mark.parametrize("param,grad,exc,match", [
    (np.ones(5), np.ones(4), ValueError, r"grad must have shape \(5,\)"),
    (np.ones(5), np.ones(5, np.float32), TypeError, r"grad has dtype float32"),
    (np.ones(5), np.array([1, 2, np.nan, 4, 5.0]), ValueError, r"grad contains NaN"),
    (np.ones((5, 2)), np.ones((5, 2)), ValueError, r"param must be a 1-D C-contiguous array"),
    (np.ones(10)[::2], np.ones(5), ValueError, r"param must be a 1-D C-contiguous array"),
])
def test_ops_update_bad_param_or_grad(backend, param, grad, exc, match):
    before = param.copy()
    with pytest.raises(exc, match=match):
        ops.update("sgd", param, grad, backend=backend, **SGD_HYPER)
    np.testing.assert_array_equal(param, before)


def test_ops_update_unknown_rule(backend):
    with pytest.raises(ValueError, match="rule must be one of"):
        ops.update("lion", np.ones(3), np.ones(3), backend=backend, lr=0.1)


def test_ops_update_nonfinite_param(backend):
    """A NaN parameter is as bad an input as a NaN gradient."""
    param = np.array([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="param contains NaN"):
        ops.update("sgd", param, np.ones(3), backend=backend, **SGD_HYPER)


def test_ops_update_state_of_wrong_length(backend):
    """A velocity shorter than the parameter must be rejected, not read/written past its end.

    The velocity is a view into a larger buffer so that an unchecked kernel writes into
    the buffer's tail (visible here) instead of corrupting the heap.
    """
    param = np.arange(5.0)
    before = param.copy()
    buffer = np.zeros(8)
    velocity = buffer[:3]
    with pytest.raises(ValueError, match="velocity|state"):
        ops.update("momentum", param, np.ones(5), (velocity,), backend=backend, **MOMENTUM_HYPER)
    np.testing.assert_array_equal(param, before)
    np.testing.assert_array_equal(buffer, 0)


def test_ops_update_state_of_wrong_dtype(backend):
    """A float32 velocity for a float64 parameter is a wrong type on both backends."""
    param = np.arange(5.0)
    before = param.copy()
    velocity = np.zeros(5, np.float32)
    with pytest.raises((TypeError, ValueError), match="velocity|state|dtype"):
        ops.update("momentum", param, np.ones(5), (velocity,), backend=backend, **MOMENTUM_HYPER)
    np.testing.assert_array_equal(param, before)
    np.testing.assert_array_equal(velocity, 0)


# ---------------------------------------------------------------------------
# Values that are finite in float64 but overflow a float32 model


def test_float32_set_params_rejects_values_that_overflow(backend):
    model = fnn.MLP([3, 4, 1], dtype="float32", backend=backend, seed=0)
    before = snapshot(model)
    params = {k: v.astype(np.float64) for k, v in model.params.items()}
    params["W2"][0, 1] = 1e300  # finite here, inf once stored as float32
    with pytest.raises(ValueError, match=r"params\['W2'\]"):
        model.set_params(params)
    assert_unchanged(model, before)
    assert all(np.isfinite(v).all() for v in model.params.values())


def test_float32_targets_that_overflow_are_rejected(backend):
    model = fnn.MLP([3, 4, 1], output="linear", dtype="float32", backend=backend, seed=0)
    X = np.ones((2, 3))
    y = np.array([1e39, 0.0])  # finite in float64, inf in float32
    snap = snapshot(model)
    for call in call_all(model, X, y):
        with pytest.raises(ValueError, match=r"\by\b"):
            call()
    assert_unchanged(model, snap)


def test_import_without_built_kernels_says_how_to_build(tmp_path):
    """A source tree whose Cython kernels are not compiled fails to import with a clear
    message (not a bare ModuleNotFoundError deep in the package)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    source = Path(fnn.__file__).resolve().parent
    shutil.copytree(source, tmp_path / "fastnn",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__"))
    result = subprocess.run([sys.executable, "-c", "import fastnn"], cwd=tmp_path,
                            env={"PATH": "", "PYTHONPATH": str(tmp_path)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "ImportError: fastnn's compiled kernels are not built" in result.stderr
    assert "pip install" in result.stderr


# ---------------------------------------------------------------------------
# The native scans behind the checks (fastnn/_kernels/_checks.pyx) against NumPy

from hypothesis import given, strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays as np_arrays  # noqa: E402

from fastnn._kernels import _checks  # noqa: E402

_ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)


@given(a=np_arrays(st.sampled_from([np.float32, np.float64]),
                   st.tuples(st.integers(0, 5), st.integers(0, 7)), elements=_ANY_FLOAT),
       to_double=st.booleans())
def test_native_scans_agree_with_numpy(a, to_double):
    assert _checks.all_finite(a) == bool(np.isfinite(a).all())
    assert _checks.all_in_unit_interval(a) == bool(((a >= 0) & (a <= 1)).all())
    out, finite = _checks.cast_finite(a, to_double)
    target = np.float64 if to_double else np.float32
    with np.errstate(over="ignore", invalid="ignore"):
        expected = a.astype(target)
    assert out.dtype == target and out.shape == a.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)
    assert finite == bool(np.isfinite(expected).all())
    if a.dtype == target:
        assert out is a  # no copy when the array already is what the engine takes


@given(data=st.data(), k=st.integers(1, 10))
def test_native_class_indices_agree_with_numpy(data, k):
    dtype = data.draw(st.sampled_from([np.int32, np.int64, np.float32, np.float64]))
    elements = (st.integers(-3, 12) if np.dtype(dtype).kind == "i" else
                st.one_of(st.integers(-3, 12).map(float), st.floats(-3, 12, width=32),
                          st.just(float("nan"))))
    y = data.draw(np_arrays(dtype, st.integers(0, 20), elements=elements))
    got = _checks.class_indices(y, k)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(y) & (np.mod(y, 1) == 0) if y.dtype.kind == "f" else np.ones(y.shape, bool)
        valid = bool((whole & (y >= 0) & (y < k)).all())
    if valid:
        assert got.dtype == np.intp
        np.testing.assert_array_equal(got, y.astype(np.intp))
    else:
        assert got is False


def test_native_scans_leave_other_arrays_to_numpy():
    for a in (np.ones((3, 4))[:, ::2], np.ones(5, np.float16), np.ones(4, np.int64)):
        assert _checks.all_finite(a) is None and _checks.cast_finite(a, True) is None
    assert _checks.class_indices(np.ones((3, 2), np.int64), 3) is None
    assert _checks.class_indices(np.ones(4, bool), 3) is None


# The fast paths of the public calls: an array that already is what the kernels take is
# accepted in one native pass and not copied; anything else is left to the full check.

_DTYPES = st.sampled_from([np.float32, np.float64])


def _in(dtype, a):
    with np.errstate(over="ignore", invalid="ignore"):
        return a.astype(dtype)


@given(a=np_arrays(_DTYPES, st.tuples(st.integers(0, 5), st.integers(0, 4)),
                   elements=_ANY_FLOAT),
       dtype=_DTYPES)
@pytest.mark.parametrize("layout", ["C", "F", "reversed"])
def test_ready_matrix_takes_exactly_the_arrays_the_kernels_take(a, dtype, layout):
    """X itself when C-contiguous and of the model's dtype, else its C-contiguous copy in
    it; None when a value is not finite in the model's dtype or there are no rows."""
    a = {"C": a, "F": np.asfortranarray(a), "reversed": a[::-1, ::-1]}[layout]
    got = _checks.ready_matrix(a, a.shape[1], np.dtype(dtype))
    expected = _in(dtype, a)
    if a.shape[0] >= 1 and bool(np.isfinite(expected).all()):
        assert got.dtype == dtype and got.flags.c_contiguous
        assert (got is a) == (a.dtype == dtype and a.flags.c_contiguous)
        np.testing.assert_array_equal(got, expected)
    else:
        assert got is None


@given(y=np_arrays(_DTYPES, st.one_of(st.tuples(st.integers(0, 6)),
                                      st.tuples(st.integers(0, 6), st.integers(1, 3))),
                   elements=_ANY_FLOAT),
       dtype=_DTYPES, unit_interval=st.booleans())
def test_ready_targets_takes_exactly_the_targets_the_losses_take(y, dtype, unit_interval):
    m, n_out = y.shape[0], (y.shape[1] if y.ndim == 2 else 1)
    got = _checks.ready_targets(y, m, n_out, np.dtype(dtype), unit_interval)
    expected = _in(dtype, y).reshape(m, n_out)
    with np.errstate(invalid="ignore"):
        inside = ((expected >= 0) & (expected <= 1)) if unit_interval else np.isfinite(expected)
    if bool(inside.all()):
        assert got.shape == (m, n_out) and got.dtype == dtype
        if y.dtype == dtype:
            assert got.base is y or got is y  # no copy
        np.testing.assert_array_equal(got, expected)
    else:
        assert got is None


def test_ready_checks_leave_every_other_array_to_the_full_check():
    f64, X = np.dtype(np.float64), np.ones((4, 3))
    misaligned = np.frombuffer(b"\0" + X.tobytes(), np.float64, 12, 1).reshape(4, 3)
    assert not misaligned.flags.aligned
    others = [X[:, :2], np.ma.masked_array(X), X.astype(np.float16), X.astype(np.int64),
              X.astype(">f8"), X.tolist(), misaligned, X.view(np.matrix), X[None],
              np.float64(1.0), np.array(1.0)]
    for other in others:
        assert _checks.ready_matrix(other, 3, f64) is None
    for layout in (X[::2], np.asfortranarray(X), X[::-1, ::-1], np.broadcast_to(X[0], (4, 3))):
        copy = _checks.ready_matrix(layout, 3, f64)  # strided: one C-contiguous copy
        assert copy.flags.c_contiguous and copy.base is None
        np.testing.assert_array_equal(copy, layout)
    assert _checks.cast_finite(np.array(1.0), True) is None  # 0-d: left to NumPy
    assert _checks.cast_finite(np.ones((2, 2, 2)), True) is None
    assert _checks.ready_matrix(X, 3, np.float64) is None  # a type, not a dtype
    assert _checks.ready_matrix(X, 3, np.dtype(np.int64)) is None
    assert _checks.ready_targets(np.ones(4), 4, 2, f64, True) is None  # (m,) for 2 units
    assert _checks.ready_targets(np.ones((4, 1, 1)), 4, 1, f64, True) is None
    assert _checks.ready_targets(np.ma.masked_array(np.ones(4)), 4, 1, f64, True) is None
    big = np.full((2, 3), 1e39)  # finite in float64, inf in float32
    assert _checks.ready_matrix(big, 3, f64) is big
    assert _checks.ready_matrix(big, 3, np.dtype(np.float32)) is None


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_the_fast_path_changes_no_outcome_of_a_public_call(backend):
    """The same step from arrays the fast path takes as they are and from ones the full
    check converts (float64 in, a strided view, a list), and the same errors."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((16, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    costs, weights = [], []
    for Xa, ya in ((X, y), (X.astype(np.float64), y.astype(np.float64)),
                   (np.repeat(X, 2, axis=1)[:, ::2], y.tolist())):
        model = fnn.MLP([3, 5, 1], backend=backend, seed=1)
        costs.append(model.train_step(Xa, ya, fnn.Adam()))
        weights.append(model.params["W1"])
    assert costs[0] == costs[1] == costs[2]
    np.testing.assert_array_equal(weights[0], weights[1])
    np.testing.assert_array_equal(weights[0], weights[2])
    model = fnn.MLP([3, 5, 1], backend=backend)
    masked = np.ma.masked_array(X, mask=np.zeros(X.shape, bool))
    masked.mask[0, 0] = True
    for bad, match in ((masked, "masked array"), (np.where(X > 1, np.nan, X), "NaN")):
        with pytest.raises(ValueError, match=match):
            model.train_step(bad, y, fnn.Adam())
    with pytest.raises(ValueError, match="0/1 labels"):
        model.train_step(X, y + 1, fnn.Adam())


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_arrays_in_the_other_byte_order_are_read_as_their_numbers(backend):
    """A big-endian array ('>f8', '>f4', '>i8') has the type number of its native twin
    but other bytes: it is converted, never read as if native (regression: '>f8' X and y
    into a float32 model trained on garbage, '>f4' into one was refused)."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((20, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    labels = rng.integers(0, 3, 20)
    for dtype in ("float32", "float64"):
        sigmoid = fnn.MLP([2, 5, 1], seed=0, dtype=dtype, backend=backend)
        softmax = fnn.MLP([2, 5, 3], output="softmax", seed=0, dtype=dtype, backend=backend)
        for model, targets in ((sigmoid, y), (softmax, labels)):
            swapped = targets.astype(targets.dtype.newbyteorder(">"))
            for Xs in (X.astype(">f4"), X.astype(">f8")):
                native, other = model.copy(), model.copy()
                assert (other.train_step(Xs, swapped, fnn.SGD(0.1))
                        == native.train_step(X, targets, fnn.SGD(0.1)))
                np.testing.assert_array_equal(other.params["W1"], native.params["W1"])
                np.testing.assert_array_equal(other.predict_proba(Xs), native.predict_proba(X))
                assert other.cost(Xs, swapped) == native.cost(X, targets)
        weights = np.arange(1.0, 21.0)
        a, b = sigmoid.copy(), sigmoid.copy()
        a.fit(X, y, epochs=2, sample_weight=weights.astype(">f8"), batch_size=None)
        b.fit(X, y, epochs=2, sample_weight=weights, batch_size=None)
        np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
