"""Property-based fuzzing of every public entry point and every ``fastnn.ops`` kernel.

Each call gets arbitrary shapes (including 0-size), dtypes (bool, int8, int64,
float16/32/64, complex, object, strings), layouts (C, Fortran, strided ``[:, ::2]``,
negative strides, read-only) and values (tiny, huge, float32 max, NaN/Inf), and must
either
  * return what the reference backend returns for the same call (within a
    dtype-dependent tolerance), finite when the inputs were finite and moderate
    (|x| <= 1e5; with extreme finite values the NumPy reference overflows in
    intermediates such as g**2 in float32, so then the kernel's result must only be
    finite wherever the reference's is; model probabilities must always be finite), or
  * raise ValueError/TypeError whose message names an argument (the same type on
    both backends),
and never crash, hang, warn that it dropped data (ComplexWarning) or modify its inputs.
Non-C layouts must give exactly the results of their C-contiguous copies.

Bugs these fuzzers found have a regression test each at the end of this file.
The number of examples follows the HYPOTHESIS_PROFILE of conftest.py ("ci" 30,
"slow" 500); the ``slow``-marked variants draw larger shapes and more examples.
"""
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn as fnn
from fastnn.engine import ops

# The folder holding the fastnn under test, for child processes: the source tree for an
# in-place build, site-packages for an installed one (a bare source tree has no kernels).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fnn.__file__)))
F32MAX = float(np.finfo(np.float32).max)

INPUT_DTYPES = ["bool", "int8", "int64", "float16", "float32", "float64", "complex128",
                "object", "str"]
LAYOUTS = ["C", "F", "strided", "negative", "readonly"]
MODERATE = st.floats(-4, 4, allow_nan=False, width=64)
SPECIAL = st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 1e-40, 5e-324, 1e300, -1e300,
                           F32MAX, -F32MAX, 1e5, np.nan, np.inf, -np.inf])
VALUES = st.one_of(MODERATE, MODERATE, MODERATE, SPECIAL)


# --------------------------------------------------------------------------- helpers


def convert(values, dtype):
    """float64 `values` as an array of `dtype` (lossy where the dtype is)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        if dtype == "bool":
            return values != 0
        if dtype in ("int8", "int64"):
            info = np.iinfo(dtype)
            return np.clip(np.nan_to_num(values), info.min, info.max).astype(dtype)
        if dtype == "str":
            return values.astype(str)
        if dtype == "object":
            return values.astype(object)
        if dtype == "complex128":
            return values + 0.5j
        return values.astype(dtype)


def relayout(a, layout):
    """The same values as `a` in another memory layout (a view, or a read-only copy)."""
    a = np.asarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided" and a.ndim >= 1:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if layout == "negative" and a.ndim >= 1:
        flipped = np.ascontiguousarray(a[(slice(None, None, -1),) * a.ndim])
        return flipped[(slice(None, None, -1),) * a.ndim]
    if layout == "readonly":
        a = a.copy()
        a.setflags(write=False)
        return a
    return np.ascontiguousarray(a)


@st.composite
def arrays(draw, shape, dtypes=INPUT_DTYPES, values=VALUES):
    dtype = draw(st.sampled_from(dtypes))
    n = int(np.prod(shape))
    vals = draw(st.lists(values, min_size=n, max_size=n))
    arr = convert(np.array(vals, dtype=np.float64).reshape(shape), dtype)
    return relayout(arr, draw(st.sampled_from(LAYOUTS)))


def finite_input(a):
    a = np.asarray(a)
    if a.dtype.kind in "fc":
        return bool(np.isfinite(a).all())
    return a.dtype.kind in "biu"


def snapshot(*arrays_):
    return [(a, np.array(a, copy=True)) for a in arrays_ if isinstance(a, np.ndarray)]


def assert_unmodified(snap):
    for a, copy in snap:
        assert a.dtype == copy.dtype and a.shape == copy.shape
        if a.dtype.kind in "fc":
            assert np.array_equal(a, copy, equal_nan=True), "fastnn modified an input"
        elif a.dtype.kind == "O":
            assert list(map(repr, a.ravel().tolist())) == list(map(repr, copy.ravel().tolist()))
        else:
            assert np.array_equal(a, copy), "fastnn modified an input"


ARG_NAME = re.compile(r"\b(X|y|dev\[\d\]|X_dev|y_dev|A_prev|W|b|dA|A|Z|param|grad|state(\[\d\])?"
                      r"|keep_prob|input_keep_prob|key|shape|kind|rule|activation|output|init"
                      r"|init_scale|l1|l2|dtype|backend|seed|n_threads|layer_sizes"
                      r"|epochs|batch_size|optimizer|eval_every|epsilon|components"
                      r"|after_steps|method|model|ratios|stratify|m|lr|path)\b")


def call(fn):
    """("ok", result) or ("raise", exception); fails on warnings that mean lost data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the NumPy reference's overflow notes
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            return "ok", fn()
        except (ValueError, TypeError, FloatingPointError) as exc:
            return "raise", exc


def assert_clear_error(exc):
    assert isinstance(exc, (ValueError, TypeError)) or isinstance(exc, fnn.TrainingDiverged), \
        f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, fnn.TrainingDiverged):
        assert ARG_NAME.search(str(exc)), f"message names no argument: {exc}"


def tolerance(dtype):
    return 2e-3 if np.dtype(dtype) == np.float32 else 1e-8


def assert_close(got, want, dtype, what, lenient=False):
    """got == want within tolerance, non-finite in the same places; `lenient` (for
    extreme inputs): where the reference overflowed an intermediate, got may be finite."""
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for k in want:
            assert_close(got[k], want[k], dtype, f"{what}[{k}]", lenient)
        return
    if isinstance(want, tuple):
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, dtype, f"{what}[{i}]", lenient)
        return
    if want is None:
        assert got is None
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    if want.dtype == bool or want.dtype.kind in "iu":
        assert np.array_equal(got, want), what
        return
    rtol = tolerance(dtype)
    if lenient:  # the NumPy reference overflows intermediates (g**2 in float32 Adam...):
        # it is no oracle for extreme values; the kernel must just not be less finite.
        assert not (~np.isfinite(got) & np.isfinite(want)).any(), f"{what}: non-finite {got}"
        return
    else:
        assert np.array_equal(np.isfinite(got), np.isfinite(want)), f"{what}: non-finite differ"
        fin = np.isfinite(want)
    scale = max(1.0, float(np.max(np.abs(want[fin]))) if fin.any() else 1.0)
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=rtol * scale, err_msg=what)


def all_finite(result):
    if isinstance(result, dict):
        return all(all_finite(v) for v in result.values())
    if isinstance(result, (tuple, list)):
        return all(all_finite(v) for v in result)
    if result is None:
        return True
    r = np.asarray(result)
    return r.dtype.kind not in "fc" or bool(np.isfinite(r).all())


def compare_backends(fn, inputs, dtype, what, expect_finite):
    """Run fn(backend) on both backends; check the contract described in the module doc."""
    snap = snapshot(*inputs)
    out_c = call(lambda: fn("cython"))
    assert_unmodified(snap)
    out_r = call(lambda: fn("reference"))
    assert_unmodified(snap)
    if not expect_finite and out_c[0] != out_r[0]:
        # Extreme inputs: NumPy's float32 intermediates may overflow (and a training run
        # diverge) where the kernels, accumulating in double, stay finite. Each backend
        # must still either raise a clear error or return finite numbers.
        for out in (out_c, out_r):
            if out[0] == "raise":
                assert_clear_error(out[1])
            else:
                assert all_finite(out[1]), f"{what}: non-finite output {out}"
        return None
    assert out_c[0] == out_r[0], f"{what}: cython {out_c} but reference {out_r}"
    if out_c[0] == "raise":
        assert type(out_c[1]) is type(out_r[1]), f"{what}: {out_c[1]!r} vs {out_r[1]!r}"
        assert_clear_error(out_c[1])
        return None
    assert_close(out_c[1], out_r[1], dtype, what, lenient=not expect_finite)
    if expect_finite:
        assert all_finite(out_c[1]), f"{what}: non-finite output from finite inputs"
    return out_c[1]


# --------------------------------------------------------------------------- models


OUTPUT_UNITS = {"sigmoid": st.integers(1, 3), "softmax": st.integers(2, 4),
                "linear": st.integers(1, 3)}


@st.composite
def model_configs(draw, max_units=6):
    output = draw(st.sampled_from(["sigmoid", "softmax", "linear"]))
    n_x = draw(st.integers(1, max_units))
    hidden = draw(st.lists(st.integers(1, max_units), min_size=0, max_size=2))
    n_out = draw(OUTPUT_UNITS[output])
    L = len(hidden) + 1
    return dict(layer_sizes=[n_x] + hidden + [n_out], output=output,
                activation=draw(st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid",
                                                 "selu", "linear"])),
                keep_prob=draw(st.sampled_from([1.0, 0.8, 0.5])),
                input_keep_prob=draw(st.sampled_from([1.0, 0.9])),
                l2=draw(st.sampled_from([0.0, 0.3])), l1=draw(st.sampled_from([0.0, 0.1])),
                init=draw(st.sampled_from(["he", "xavier", "lecun", "random", "zeros"])),
                dtype=draw(st.sampled_from(["float32", "float64"])),
                seed=draw(st.integers(0, 2**32)), n_layers=L)


def good_targets(output, m, n_out, rng):
    if output == "softmax":
        return rng.integers(0, n_out, m)
    if output == "sigmoid":
        return rng.integers(0, 2, (m, n_out)).astype(float) if n_out > 1 else \
            rng.integers(0, 2, m).astype(float)
    return rng.standard_normal((m, n_out)) if n_out > 1 else rng.standard_normal(m)


@st.composite
def model_inputs(draw, config, max_m=6, values=VALUES):
    n_x, n_out = config["layer_sizes"][0], config["layer_sizes"][-1]
    m = draw(st.integers(0, max_m))
    n_cols = draw(st.sampled_from([n_x, n_x, n_x, n_x + 1, max(n_x - 1, 0)]))
    X = draw(arrays((m, n_cols), values=values))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    if draw(st.booleans()):
        y = relayout(good_targets(config["output"], m, n_out, rng),
                     draw(st.sampled_from(LAYOUTS)))
        if draw(st.booleans()):
            y = convert(y, draw(st.sampled_from(["int8", "int64", "float32", "float16", "bool"])))
    else:
        y_rows = draw(st.sampled_from([m, m, m + 1, max(m - 1, 0)]))
        y = draw(arrays(draw(st.sampled_from([(y_rows,), (y_rows, n_out), (y_rows, 1)])),
                        values=values))
    return X, y


def build(config, backend):
    kw = {k: v for k, v in config.items() if k != "n_layers"}
    return fnn.MLP(backend=backend, **kw)


MODEL_CALLS = {
    "forward": lambda mdl, X, y: mdl.forward(X),
    "forward_train": lambda mdl, X, y: mdl.forward(X, train=True),
    "predict": lambda mdl, X, y: mdl.predict(X),
    "predict_proba": lambda mdl, X, y: mdl.predict_proba(X),
    "error": lambda mdl, X, y: mdl.error(X, y),
    "cost": lambda mdl, X, y: mdl.cost(X, y),
    "gradients": lambda mdl, X, y: mdl.gradients(X, y),
    "train_step": lambda mdl, X, y: (mdl.train_step(X, y, fnn.SGD(0.01)), mdl.params),
    # Momentum, not Adam, across backends: Adam scales a gradient of 1e-12 (a saturated
    # sigmoid, where the kernel keeps the exact tiny dZ that NumPy rounds to 0) up to a
    # full lr-sized step, so the backends' rounding differences would not stay small.
    "fit": lambda mdl, X, y: (mdl.fit(X, y, epochs=2, optimizer=fnn.Momentum(0.01),
                                      batch_size=2), mdl.params)[1],
    "fit_dev": lambda mdl, X, y: (mdl.fit(X[:1] if len(X) else X, y[:1] if len(y) else y,
                                          epochs=1, dev=(X, y)), mdl.params)[1],
}


def moderate(*arrays_):
    """Finite inputs small enough that no float32 computation can overflow."""
    for a in arrays_:
        a = np.asarray(a)
        if not finite_input(a):
            return False
        # Cast before abs: in int64, abs(-2**63) wraps to -2**63 and looked moderate.
        if a.dtype.kind in "fciu" and a.size and float(np.abs(a.astype(np.float64)).max()) > 1e5:
            return False
    return True


def test_moderate_sees_the_most_negative_integer_as_extreme():
    """A linear model's float32 gradients on y = -2**63 differ between the backends by
    more than the moderate tolerance (cancellation in 1 - tanh^2 at saturation): such
    input must be judged extreme (regression: np.abs wrapped it to a negative number)."""
    assert not moderate(np.zeros((2, 3), np.int8), np.array([[0, np.iinfo(np.int64).min]]))
    assert not moderate(np.array([np.iinfo(np.int32).min]))
    assert moderate(np.array([[-3, 4]], np.int64))


def check_model_calls(config, X, y):
    for name, fn in MODEL_CALLS.items():
        models = {}

        def run(backend, fn=fn):
            models[backend] = build(config, backend)
            return fn(models[backend], X, y)

        # Finite results are required whenever the inputs are finite and moderate. With
        # huge finite inputs a classifier's probabilities and labels are finite or a
        # clear error: inf - inf inside a layer is NaN or not as the product's rounding
        # goes (a fused multiply-add keeps it finite where separate ones overflow), so
        # the backends may differ, but neither may return a NaN.
        result = compare_backends(run, [X, y], config["dtype"], name, moderate(X, y))
        if (result is not None and finite_input(X) and name in ("predict", "predict_proba")
                and config["output"] != "linear"):
            assert all_finite(result), f"{name}: non-finite output from finite inputs"
        if result is not None and name in ("train_step", "fit"):
            assert all(np.isfinite(p).all() for p in models["cython"].params.values()), \
                f"{name} left non-finite weights"


@given(data=st.data())
def test_model_entry_points(data):
    config = data.draw(model_configs())
    X, y = data.draw(model_inputs(config))
    check_model_calls(config, X, y)


@pytest.mark.slow
@settings(max_examples=1000)
@given(data=st.data())
def test_model_entry_points_large(data):
    config = data.draw(model_configs(max_units=16))
    X, y = data.draw(model_inputs(config, max_m=24))
    check_model_calls(config, X, y)


@given(data=st.data())
def test_layouts_and_dtypes_give_the_results_of_c_copies(data):
    """Fortran, strided, negative-stride and read-only X/y: exactly the C-copy results."""
    config = data.draw(model_configs())
    n_x, n_out = config["layer_sizes"][0], config["layer_sizes"][-1]
    m = data.draw(st.integers(1, 6))
    X = np.array(data.draw(st.lists(MODERATE, min_size=m * n_x, max_size=m * n_x))).reshape(m, n_x)
    X = convert(X, data.draw(st.sampled_from(["float32", "float64", "int64", "float16"])))
    y = good_targets(config["output"], m, n_out, np.random.default_rng(m))
    backend = data.draw(st.sampled_from(["cython", "reference"]))
    Xl, yl = relayout(X, data.draw(st.sampled_from(LAYOUTS))), relayout(y, data.draw(
        st.sampled_from(LAYOUTS)))
    for name, fn in MODEL_CALLS.items():
        want = fn(build(config, backend), np.ascontiguousarray(X), np.ascontiguousarray(y))
        snap = snapshot(Xl, yl)
        got = fn(build(config, backend), Xl, yl)
        assert_unmodified(snap)
        assert_close(got, want, np.float64, name)  # exact up to 1e-8: in practice equal
        if isinstance(want, np.ndarray):
            assert np.array_equal(got, want), name


@given(data=st.data())
def test_input_dtype_conversion_is_the_models_own(data):
    """An int/bool/float16/float64 X gives what the model gives X.astype(model.dtype)."""
    config = data.draw(model_configs())
    n_x, n_out = config["layer_sizes"][0], config["layer_sizes"][-1]
    m = data.draw(st.integers(1, 5))
    X = data.draw(arrays((m, n_x), dtypes=["bool", "int8", "int64", "float16", "float32",
                                           "float64"], values=MODERATE))
    y = good_targets(config["output"], m, n_out, np.random.default_rng(1))
    model = build(config, data.draw(st.sampled_from(["cython", "reference"])))
    Xc = np.ascontiguousarray(X, dtype=model.dtype)
    assert np.array_equal(model.forward(X), model.forward(Xc))
    g, gc = model.gradients(X, y), model.gradients(Xc, y)
    assert all(np.array_equal(g[k], gc[k]) for k in g)


# --------------------------------------------------------------------------- constructor


ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-3, 10), st.floats(allow_nan=True),
                      st.text(max_size=4), st.sampled_from(["relu", "softmax", "he", "float64",
                                                           "cython", "reference", "tanh"]),
                      st.lists(st.one_of(st.integers(-1, 5), st.floats(0, 1)), max_size=4),
                      st.just(np.float32(0.5)), st.just(np.int64(3)))
CTOR_ARGS = ["activation", "output", "init", "init_scale", "keep_prob", "input_keep_prob",
             "l2", "l1", "dtype", "backend", "seed", "n_threads"]


@given(sizes=st.one_of(st.lists(st.one_of(st.integers(-2, 6), st.floats(0, 5), st.text(max_size=2),
                                          st.booleans(), st.none()), max_size=4), ANY_VALUE),
       kwargs=st.dictionaries(st.sampled_from(CTOR_ARGS), ANY_VALUE, max_size=3))
def test_constructor(sizes, kwargs):
    outcome = call(lambda: fnn.MLP(sizes, **kwargs))
    if outcome[0] == "raise":
        exc = outcome[1]
        assert isinstance(exc, (ValueError, TypeError)), repr(exc)
        names = ["layer_sizes"] + list(kwargs)
        assert any(re.search(rf"\b{re.escape(n)}\b", str(exc)) for n in names), \
            f"{exc} names none of {names}"
    else:
        model = outcome[1]
        assert all(np.isfinite(p).all() for p in model.params.values())


# --------------------------------------------------------------------------- ops kernels


@st.composite
def dims(draw):
    return draw(st.integers(0, 5)), draw(st.integers(0, 5)), draw(st.integers(0, 4))


FLOATS = ["float32", "float64"]


def float_or_any(draw):
    """Mostly float32/float64 arrays (to reach the kernels), sometimes anything."""
    return FLOATS if draw(st.integers(0, 3)) else INPUT_DTYPES


def shape_or_other(draw, shape):
    if draw(st.integers(0, 5)):
        return shape
    return draw(st.sampled_from([shape[:-1] + (shape[-1] + 1,), shape[::-1], shape + (1,),
                                 shape[:1]]))


ACTS = ["linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu"]


def ops_tolerance_dtype(*arrays_):
    kinds = {np.asarray(a).dtype for a in arrays_}
    return np.float32 if np.dtype(np.float32) in kinds else np.float64


@given(data=st.data())
def test_ops_dense_forward(data):
    m, n_prev, n = data.draw(dims())
    dt = data.draw(st.sampled_from(FLOATS))
    A_prev = data.draw(arrays(shape_or_other(data.draw, (m, n_prev)), [dt] if data.draw(
        st.booleans()) else float_or_any(data.draw)))
    W = data.draw(arrays(shape_or_other(data.draw, (n, n_prev)), [dt]))
    b = data.draw(arrays(shape_or_other(data.draw, (n,)), [dt]))
    act = data.draw(st.sampled_from(ACTS))
    keep = data.draw(st.sampled_from([1.0, 0.5, 0.9]))
    key = data.draw(st.integers(0, 2**64 - 1))
    compare_backends(lambda be: ops.dense_forward(A_prev, W, b, act, keep, key, backend=be),
                     [A_prev, W, b], ops_tolerance_dtype(A_prev), "dense_forward",
                     moderate(A_prev, W, b))


@given(data=st.data())
def test_ops_dense_backward(data):
    m, n_prev, n = data.draw(dims())
    dt = data.draw(st.sampled_from(FLOATS))
    A_prev = data.draw(arrays(shape_or_other(data.draw, (m, n_prev)), [dt]))
    W = data.draw(arrays(shape_or_other(data.draw, (n, n_prev)), [dt]))
    act = data.draw(st.sampled_from(ACTS))
    keep = data.draw(st.sampled_from([1.0, 0.5]))
    key = data.draw(st.integers(0, 2**64 - 1))
    # A realistic A (the layer's output) when the shapes fit, else arbitrary.
    try:
        A = ops.dense_forward(A_prev, W, np.zeros(W.shape[0], dt), act, keep, key)
    except (ValueError, TypeError):
        A = data.draw(arrays((m, n), float_or_any(data.draw)))
    A = relayout(A, data.draw(st.sampled_from(LAYOUTS)))
    dA = data.draw(arrays(shape_or_other(data.draw, (m, n)), float_or_any(data.draw)))
    need = data.draw(st.booleans())
    compare_backends(lambda be: ops.dense_backward(dA, A, A_prev, W, act, keep, key, backend=be,
                                                   need_dA_prev=need),
                     [dA, A, A_prev, W], ops_tolerance_dtype(A_prev), "dense_backward",
                     moderate(dA, A, A_prev, W))


@given(key=st.integers(0, 2**64 - 1), m=st.integers(0, 40), n=st.integers(0, 40),
       keep=st.one_of(st.floats(0, 1.5), st.sampled_from([1e-12, 1.0, 0.5])))
def test_ops_dropout_mask(key, m, n, keep):
    out = compare_backends(lambda be: ops.dropout_mask(key, (m, n), keep, backend=be), [],
                           np.float64, "dropout_mask", True)
    if out is not None:
        assert out.shape == (m, n) and out.dtype == bool


@given(data=st.data())
def test_ops_loss(data):
    kind = data.draw(st.sampled_from(["sigmoid", "softmax", "linear", "hinge"]))
    m, k = data.draw(st.integers(0, 5)), data.draw(st.integers(1, 4))
    dt = data.draw(st.sampled_from(FLOATS))
    Z = data.draw(arrays(shape_or_other(data.draw, (m, k)), [dt] if data.draw(st.booleans())
                         else float_or_any(data.draw)))
    if kind == "softmax" and data.draw(st.booleans()):
        y = relayout(np.random.default_rng(m).integers(0, k, m), data.draw(st.sampled_from(LAYOUTS)))
    elif kind == "sigmoid" and data.draw(st.booleans()):
        y = relayout(np.random.default_rng(m).integers(0, 2, (m, k)).astype(dt),
                     data.draw(st.sampled_from(LAYOUTS)))
    else:
        y = data.draw(arrays(shape_or_other(data.draw, (m, k) if kind != "softmax" else (m,)),
                             [dt] if data.draw(st.booleans()) else INPUT_DTYPES))
    grad = data.draw(st.booleans())
    compare_backends(lambda be: ops.loss(kind, Z, y, backend=be, gradient=grad), [Z, y],
                     ops_tolerance_dtype(Z), "loss", moderate(Z, y))


@given(data=st.data())
def test_ops_update(data):
    rule = data.draw(st.sampled_from(["sgd", "momentum", "adam"]))
    p = data.draw(st.integers(0, 6))
    dt = data.draw(st.sampled_from(FLOATS))
    param0 = data.draw(arrays((p,), [dt]))
    grad = data.draw(arrays(shape_or_other(data.draw, (p,)), [dt] if data.draw(st.booleans())
                            else float_or_any(data.draw)))
    n_state = {"sgd": 0, "momentum": 1, "adam": 2}[rule] + data.draw(st.sampled_from([0, 0, 0, 1]))
    state0 = [np.abs(data.draw(arrays((p,), [dt], values=MODERATE))) for _ in range(n_state)]
    hyper = {"sgd": dict(lr=0.1, l2=0.01, l1=0.0),
             "momentum": dict(lr=0.1, beta1=0.9, l2=0.0, l1=0.01),
             "adam": dict(lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8, t=1, l2=0.0,
                          l1=0.0)}[rule]

    def run(be):
        param = param0.copy() if param0.flags.writeable else param0
        state = [s.copy() for s in state0]
        out = ops.update(rule, param, grad, state, backend=be, **hyper)
        return (out,) + tuple(state)

    compare_backends(run, [param0, grad] + state0, dt, "update", moderate(param0, grad))


# --------------------------------------------------------------------------- data, gradcheck


@given(data=st.data())
def test_split(data):
    m = data.draw(st.integers(0, 12))
    X = data.draw(arrays((m, data.draw(st.integers(1, 3)))))
    y = data.draw(st.one_of(st.none(), arrays((data.draw(st.sampled_from([m, m, m + 1])),))))
    ratios = data.draw(st.sampled_from([None, (0.6, 0.2, 0.2), (0.5, 0.5), (1, 1), (0.7, 0.7),
                                        (-0.1, 1.1), "abc"]))
    stratify = data.draw(st.booleans()) and y is not None
    snap = snapshot(X, y)
    out = call(lambda: fnn.split(X, y, ratios=ratios, stratify=stratify, seed=1))
    assert_unmodified(snap)
    if out[0] == "raise":
        assert_clear_error(out[1])
        return
    rows = np.concatenate([np.asarray(s[0]) for s in out[1]])
    assert rows.shape == X.shape
    key = lambda a: sorted(map(repr, np.asarray(a).tolist()))  # noqa: E731
    assert key(rows) == key(X)  # a partition of the rows


@given(data=st.data())
def test_standardizer(data):
    m, n = data.draw(st.integers(0, 8)), data.draw(st.integers(0, 3))
    X = data.draw(arrays((m, n)))
    Xt = data.draw(arrays((data.draw(st.integers(0, 4)), data.draw(st.sampled_from([n, n, n + 1])))))
    snap = snapshot(X, Xt)
    fitted = call(lambda: fnn.Standardizer().fit(X))
    out = call(lambda: fitted[1].transform(Xt)) if fitted[0] == "ok" else fitted
    assert_unmodified(snap)
    if out[0] == "raise":
        assert_clear_error(out[1])
        return
    assert out[1].shape == Xt.shape
    if moderate(X, Xt):
        assert np.isfinite(out[1]).all()
        assert np.isfinite(fitted[1].scale_).all() and (fitted[1].scale_ > 0).all()


@given(data=st.data())
def test_gradcheck(data):
    config = data.draw(model_configs(max_units=4))
    X, y = data.draw(model_inputs(config, max_m=4))
    eps = data.draw(st.sampled_from([1e-7, 1e-5, 0.0, -1.0]))
    for backend in ("cython", "reference"):
        model = build(config, backend)
        before = model.params
        snap = snapshot(X, y)
        out = call(lambda: fnn.gradcheck(model, X, y, epsilon=eps))
        assert_unmodified(snap)
        assert all(np.array_equal(before[k], v) for k, v in model.params.items())
        if out[0] == "raise":
            assert_clear_error(out[1])
            continue
        if moderate(X, y):
            assert np.isfinite(out[1].difference), "gradcheck difference is not finite"


# --------------------------------------------------------------------------- load


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    model = fnn.MLP([3, 4, 2], output="softmax", keep_prob=0.9, seed=3)
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((10, 3)), rng.integers(0, 2, 10), epochs=2,
              optimizer=fnn.Adam(0.01))
    model.standardizer = fnn.Standardizer().fit(rng.standard_normal((10, 3)))
    path = tmp_path_factory.mktemp("load") / "m.npz"
    model.save(path)
    return path.read_bytes()


@given(data=st.data())
def test_load_mutated_bytes(data, model_bytes, tmp_path):
    raw = bytearray(model_bytes)
    how = data.draw(st.sampled_from(["flip", "truncate", "splice", "random"]))
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
    elif how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "splice":
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=64))
    else:
        raw = bytearray(data.draw(st.binary(max_size=2048)))
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(bytes(raw))
    try:
        model = fnn.load(path)
    except fnn.ModelFileError:
        return
    # A mutation that loaded (e.g. in zip padding) must give a usable, finite model.
    assert all(np.isfinite(p).all() for p in model.params.values())


META_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5),
                        st.floats(), st.text(max_size=5),
                        st.lists(st.integers(-1, 4), max_size=4), st.just({}),
                        st.sampled_from([[3, 4, 2], [3, 2], "float16", "relu", 1e300, 2**70]))


@given(data=st.data())
def test_load_tampered_metadata(data, model_bytes, tmp_path):
    with np.load(io.BytesIO(model_bytes)) as d:
        arrays_ = {k: d[k] for k in d.files}
    meta = json.loads(str(arrays_["__fastnn_meta__"]))
    section = data.draw(st.sampled_from(["config", "top", "optimizer", "standardizer"]))
    if section == "config":
        meta["config"][data.draw(st.sampled_from(sorted(meta["config"])))] = data.draw(META_VALUES)
    elif section == "top":
        meta[data.draw(st.sampled_from(["step", "epoch", "standardizer", "optimizer"]))] = \
            data.draw(META_VALUES)
    elif section == "optimizer":
        field = data.draw(st.sampled_from(["name", "hyperparameters", "t"]))
        meta["optimizer"][field] = data.draw(META_VALUES)
    else:
        meta["standardizer"][data.draw(st.sampled_from(["mean", "scale"]))] = data.draw(META_VALUES)
    arrays_["__fastnn_meta__"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays_)
    path = tmp_path / "tampered.npz"
    path.write_bytes(buf.getvalue())
    try:
        model = fnn.load(path)
    except fnn.ModelFileError:
        return
    assert all(np.isfinite(p).all() for p in model.params.values())
    model.predict(np.zeros((2, 3)))


# --------------------------------------------------------------------------- known bugs
# Each test below fails on the current code; see the report / tests/BAD_INPUT.md.


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_complex_X_is_a_type_error(backend):
    """_validation.check_matrix accepts complex X and drops the imaginary part (NumPy's
    ComplexWarning); the Standardizer rejects complex with TypeError, the model should too."""
    model = fnn.MLP([2, 3, 1], backend=backend)
    X = np.ones((4, 2)) + 1j
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(TypeError, match="X"):
            model.predict(X)


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_complex_y_is_a_type_error(backend):
    """losses.prepare_targets accepts complex y the same way."""
    model = fnn.MLP([2, 3, 1], backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(TypeError, match="y"):
            model.cost(np.ones((4, 2)), np.array([0, 1, 0, 1]) + 0j)


def test_regression_dropout_mask_negative_shape():
    """ops.dropout_mask does not check `shape`: (-1, 3) gives an empty mask on the
    reference backend and NumPy's 'negative dimensions are not allowed' on cython."""
    for backend in ("cython", "reference"):
        with pytest.raises(ValueError, match="shape"):
            ops.dropout_mask(1, (-1, 3), 0.5, backend=backend)


@pytest.mark.parametrize("key", [-1, 2**64])
def test_regression_ops_key_out_of_range(key):
    """ops.dense_forward/dropout_mask: a key outside [0, 2**64) raises OverflowError
    ("can't convert negative value to uint64_t"), which names no argument."""
    X = np.ones((2, 3))
    with pytest.raises(ValueError, match="key"):
        ops.dense_forward(X, np.ones((2, 3)), np.zeros(2), keep_prob=0.5, key=key)
    with pytest.raises(ValueError, match="key"):
        ops.dropout_mask(key, (2, 3), 0.5)


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_linear_error_overflows_where_cost_does_not(backend):
    """losses.error_rate computes the linear output's MSE in the model dtype: float32
    outputs ~1.5e37 square to inf, while cost (accumulated in float64) is finite."""
    model = fnn.MLP([3, 8, 8, 1], output="linear", backend=backend, seed=1)
    X = np.full((5, 3), F32MAX, np.float32)
    X[:, 1] *= -1
    y = np.ones(5)
    assert np.isfinite(model.cost(X, y))
    out = call(lambda: model.error(X, y))
    assert out[0] == "raise" or np.isfinite(out[1]), f"error() returned {out[1]}"


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_train_step_leaves_nonfinite_weights(backend):
    """MLP.train_step on finite inputs can overflow the gradients and leave inf/NaN
    weights, silently (fit catches this and rolls back; train_step does not)."""
    model = fnn.MLP([3, 8, 8, 1], output="linear", backend=backend, seed=1)
    X = np.full((5, 3), F32MAX, np.float32)
    X[:, 1] *= -1
    before = model.params
    out = call(lambda: model.train_step(X, np.ones(5), fnn.SGD(0.01)))
    if out[0] == "raise":  # an error is fine, if the weights are the old ones
        assert all(np.array_equal(before[k], v) for k, v in model.params.items())
    assert all(np.isfinite(p).all() for p in model.params.values()), "non-finite weights"


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_linear_cost_of_huge_finite_inputs_is_inf(backend):
    """Decision: cost() of finite inputs is finite or a clear error.  The sigmoid and
    softmax costs are (they work in logit space); a linear output's squared error of
    1e300 inputs returns inf silently."""
    model = fnn.MLP([3, 4, 1], output="linear", dtype="float64", backend=backend)
    out = call(lambda: model.cost(np.full((5, 3), 1e300), np.ones(5)))
    assert out[0] == "raise" or np.isfinite(out[1]), f"cost() returned {out[1]}"


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_gradcheck_of_huge_finite_inputs_is_nan(backend):
    """gradcheck returns difference=nan (verdict 'bug') for finite X = 1e300: the
    perturbed costs overflow (gradcheck.py relative_difference of inf - inf)."""
    model = fnn.MLP([3, 4, 1], dtype="float64", backend=backend)
    out = call(lambda: fnn.gradcheck(model, np.full((5, 3), 1e300), np.array([0, 1, 0, 1, 1.])))
    assert out[0] == "raise" or np.isfinite(out[1].difference), f"difference {out[1].difference}"


@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="an address-space cap and AddressSanitizer's shadow memory clash")
def test_regression_tampered_layer_sizes_allocate_before_checking(tmp_path):
    """io._rebuild calls MLP(**meta["config"]) (initializing every weight of the claimed
    architecture) before comparing it with the stored arrays: a 3 KB file claiming
    layer_sizes [2, 10**8, 1] allocated ~2.3 GB and took 15 s here, then raised
    MemoryError instead of ModelFileError.  Run in a child with a 1 GB address-space cap."""
    model = fnn.MLP([2, 3, 1])
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as d:
        arrays_ = {k: d[k] for k in d.files}
    meta = json.loads(str(arrays_["__fastnn_meta__"]))
    meta["config"]["layer_sizes"] = [2, 10**9, 1]
    arrays_["__fastnn_meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "t.npz", **arrays_)
    script = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        sys.path.insert(0, {ROOT!r})
        import fastnn
        try:
            fastnn.load({str(tmp_path / 't.npz')!r})
        except fastnn.ModelFileError:
            print("ModelFileError")
        except BaseException as exc:
            print(type(exc).__name__)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"),
                         cwd=tmp_path)
    assert out.stdout.strip() == "ModelFileError", out.stdout + out.stderr[-1000:]


@pytest.mark.parametrize("field", ["step", "epoch", "optimizer.t"])
def test_regression_load_infinite_counter(field, model_bytes, tmp_path):
    """Metadata {"step": Infinity} (valid for Python's json): io._rebuild's int(meta["step"])
    and Optimizer.load_state's int(t) raise OverflowError, which load does not turn into
    ModelFileError."""
    with np.load(io.BytesIO(model_bytes)) as d:
        arrays_ = {k: d[k] for k in d.files}
    meta = json.loads(str(arrays_["__fastnn_meta__"]))
    if field == "optimizer.t":
        meta["optimizer"]["t"] = float("inf")
    else:
        meta[field] = float("inf")
    arrays_["__fastnn_meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "t.npz", **arrays_)
    with pytest.raises(fnn.ModelFileError):
        fnn.load(tmp_path / "t.npz")


# --------------------------------------------------------------------------- Python-visible state
# Regressions of the reliability round 2 (commit 7677fd3): Python-visible objects and values
# reached native memory.  Each crashed the process, or silently misbehaved, there.

def _moons(m=50, seed=0):
    from fastnn.datasets import make_moons
    return make_moons(m=m, noise=0.2, seed=seed)


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_one_adam_for_a_float32_then_a_float64_model(backend):
    """7677fd3 aborted ("double free or corruption"): the optimizer's float32 state was
    reused for the float64 model.  Now each model trains from its own fresh state, as with
    an optimizer of its own."""
    X, y = _moons()
    shared = fnn.Adam(lr=0.01)
    for dtype in ("float32", "float64"):
        model = fnn.MLP([2, 8, 1], dtype=dtype, backend=backend, seed=1)
        model.fit(X, y, epochs=5, optimizer=shared)
        alone = fnn.MLP([2, 8, 1], dtype=dtype, backend=backend, seed=1)
        alone.fit(X, y, epochs=5, optimizer=fnn.Adam(lr=0.01))
        for name, value in alone.params.items():
            np.testing.assert_array_equal(model.params[name], value, err_msg=name)


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_loaded_float32_optimizer_continues_a_float64_model(backend, tmp_path):
    """7677fd3: fnn.load(p).optimizer_ from a float32 file, handed to a float64 model, wrote
    doubles into float32 state.  Now the float64 model starts that optimizer afresh."""
    X, y = _moons()
    small = fnn.MLP([2, 8, 1], dtype="float32", backend=backend)
    small.fit(X, y, epochs=3, optimizer=fnn.Adam(lr=0.01))
    small.save(tmp_path / "m.npz")
    optimizer = fnn.load(tmp_path / "m.npz").optimizer_
    big = fnn.MLP([2, 8, 1], dtype="float64", backend=backend)
    big.fit(X, y, epochs=3, optimizer=optimizer)
    twin = fnn.MLP([2, 8, 1], dtype="float64", backend=backend)
    twin.fit(X, y, epochs=3, optimizer=fnn.Adam(lr=0.01))
    for name, value in twin.params.items():
        np.testing.assert_array_equal(big.params[name], value, err_msg=name)


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_one_optimizer_shared_by_two_models_keeps_their_moments_apart(backend):
    """7677fd3 mixed the Adam moments of two same-shaped models trained in turns with one
    optimizer; now each model keeps its own (the state is the model's, the optimizer
    object only its hyperparameters)."""
    X, y = _moons()
    shared = fnn.Adam(lr=0.01)
    a, b = (fnn.MLP([2, 8, 1], backend=backend, seed=s) for s in (1, 2))
    for _ in range(3):
        a.fit(X, y, epochs=2, optimizer=shared)
        b.fit(X, y, epochs=2, optimizer=shared)
    for seed, model in ((1, a), (2, b)):
        alone, own = fnn.MLP([2, 8, 1], backend=backend, seed=seed), fnn.Adam(lr=0.01)
        for _ in range(3):
            alone.fit(X, y, epochs=2, optimizer=own)
        assert model.optimizer_state()[0] == alone.optimizer_state()[0]
        for name, value in alone.params.items():
            np.testing.assert_array_equal(model.params[name], value, err_msg=name)


@pytest.mark.parametrize("attribute, value", [
    ("layer_sizes", (2, 500, 1)), ("dtype", np.dtype("float64")), ("activation", ("tanh",)),
    ("output", "softmax"), ("keep_prob", (0.5, 1.0)), ("input_keep_prob", 0.5),
    ("seed", 3), ("l2", (1.0, 1.0)), ("backend", "reference"), ("n_layers", 5)])
def test_regression_configuration_is_read_only(attribute, value):
    """7677fd3 segfaulted in fit after `model.layer_sizes = ...` or `model.dtype = ...`:
    what sizes the engine's buffers cannot change after the model is built."""
    X, y = _moons()
    model = fnn.MLP([2, 8, 1], seed=0)
    with pytest.raises(AttributeError, match=f"{attribute} is fixed when the model is built"):
        setattr(model, attribute, value)
    model.fit(X, y, epochs=2)
    assert model.layer_sizes == (2, 8, 1) and model.dtype == np.float32


class _Transform:
    def __init__(self, fn):
        self.fn = fn

    def transform(self, X):
        return self.fn(X)


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("fn, match", [
    (lambda X: np.ones((X.shape[0], 1)), "standardizer.transform returned shape"),
    (lambda X: X[:-1], "standardizer.transform returned shape"),
    (lambda X: np.full(X.shape, np.nan), r"standardizer.transform\(X\) contains NaN"),
    (lambda X: np.full(X.shape, 1e300), r"standardizer.transform\(X\) contains NaN or infinity"),
    (lambda X: X.astype(str), r"standardizer.transform\(X\) must be a numeric array"),
    (lambda X: None, "standardizer.transform returned shape"),
])
def test_regression_what_a_standardizer_returns_is_checked(backend, fn, match):
    """7677fd3 fed a standardizer's output to the kernels unchecked: an out-of-bounds
    read in fit, silently wrong numbers from predict."""
    X, y = _moons()
    model = fnn.MLP([2, 8, 1], backend=backend)
    model.standardizer = _Transform(fn)
    before = model.params
    for call in (lambda: model.fit(X, y, epochs=2), lambda: model.predict(X),
                 lambda: model.cost(X, y), lambda: model.gradients(X, y),
                 lambda: model.train_step(X, y, fnn.SGD(0.1))):
        with pytest.raises((ValueError, TypeError), match=match):
            call()
    for name, value in before.items():
        np.testing.assert_array_equal(model.params[name], value)
    with pytest.raises(TypeError, match="transform"):
        model.standardizer = object()
    with pytest.raises(ValueError, match="fitted on 3 features"):
        model.standardizer = fnn.Standardizer().fit(np.ones((4, 3)))


@pytest.mark.parametrize("keep_prob", [5e-324, 1e-300, 1e-6, 2.0**-17])
def test_regression_keep_prob_too_small_for_the_mask(keep_prob):
    """7677fd3 took keep_prob=5e-324: NaN on the reference engine, every unit dropped on
    the compiled one.  The mask draws 32-bit uniforms: keep_prob must be >= 2**-16."""
    for kwargs in (dict(keep_prob=keep_prob), dict(input_keep_prob=keep_prob)):
        with pytest.raises(ValueError, match="2\\*\\*-16"):
            fnn.MLP([2, 8, 1], **kwargs)
    fnn.MLP([2, 8, 1], keep_prob=2.0**-16)  # the smallest accepted


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_masked_arrays_are_not_read_through_their_mask(backend):
    """7677fd3 ignored a masked array's mask (the hidden values were trained on)."""
    X, y = _moons()
    model = fnn.MLP([2, 8, 1], backend=backend)
    masked = np.ma.masked_array(X, mask=np.zeros_like(X, dtype=bool))
    masked.mask[3, 1] = True
    with pytest.raises(ValueError, match="X is a masked array with masked entries"):
        model.fit(masked, y)
    labels = np.ma.masked_array(y, mask=np.arange(len(y)) == 5)
    with pytest.raises(ValueError, match="y is a masked array"):
        model.fit(X, labels)
    unmasked = np.ma.masked_array(X, mask=False)  # nothing hidden: its data is X
    np.testing.assert_array_equal(model.predict_proba(unmasked), model.predict_proba(X))


@pytest.mark.parametrize("make, match", [
    (lambda: fnn.MLP([2, 3, 1], seed=2**63), "seed must be < 2\\*\\*63|seed must be <"),
    (lambda: fnn.MLP([2, 3, 1], seed=-1), "seed must be >= 0"),
    (lambda: fnn.MLP([2, 3, 1], n_threads=0), "n_threads must be >= 1"),
    (lambda: fnn.MLP([2, 3, 1], n_threads=10**6), "n_threads must be <"),
    (lambda: fnn.MLP([2, 3, 1], n_threads=2**64), "n_threads must be <"),
    (lambda: fnn.MLP([2, 2**31, 1]), r"layer_sizes\[1\] must be <"),
    (lambda: fnn.MLP([10**6, 10**6, 10**6]), "parameters; at most"),
])
def test_regression_out_of_range_integers_fail_where_the_model_is_built(make, match):
    """7677fd3 took these and failed later, with OverflowError, ctypes.ArgumentError or
    MemoryError from deep inside; now each is a ValueError naming the argument."""
    with pytest.raises(ValueError, match=match):
        make()


def test_regression_out_of_range_counters_fail_where_they_are_set():
    X, y = _moons()
    model = fnn.MLP([2, 3, 1])
    for name, value in (("step_", 2**63), ("epoch_", -1), ("step_", 2**64)):
        with pytest.raises(ValueError, match=name):
            setattr(model, name, value)
    model.epoch_ = 2**63 - 2
    with pytest.raises(ValueError, match="epochs must be <"):
        model.fit(X, y, epochs=5)
    with pytest.raises(TypeError, match="step_ must be an integer"):
        model.step_ = 1.5
    with pytest.raises(ValueError, match="n_threads"):
        model.n_threads = 0


@pytest.mark.parametrize("name, value, exc", [
    ("lr", "fast", TypeError), ("lr", float("nan"), ValueError), ("lr", -1.0, ValueError),
    ("beta1", 1.0, ValueError), ("epsilon", 0.0, ValueError)])
def test_regression_optimizer_hyperparameters_are_checked_on_assignment(name, value, exc):
    optimizer = fnn.Adam()
    with pytest.raises(exc, match=name):
        setattr(optimizer, name, value)
    assert optimizer.hyperparameters() == fnn.Adam().hyperparameters()


def test_optimizer_of_the_model_is_checked():
    model = fnn.MLP([2, 3, 1])
    with pytest.raises(TypeError, match="optimizer_ must be a fastnn optimizer"):
        model.optimizer_ = "adam"
    with pytest.raises(ValueError, match="optimizer state arrays must be exactly"):
        model.set_optimizer_state(fnn.Adam(), 3, {"m10": np.zeros((3, 2))})
    shapes = {f"{slot}{i}": (p.size,) for slot in ("m1", "m2")
              for i, p in enumerate(model.params.values())}
    bad = {k: np.zeros(s) for k, s in shapes.items()}
    bad["m21"] = np.zeros(7)
    with pytest.raises(ValueError, match="optimizer state m21 has shape"):
        model.set_optimizer_state(fnn.Adam(), 3, bad)
    bad["m21"] = np.full(shapes["m21"], np.inf)
    with pytest.raises(ValueError, match="optimizer state m21 must be finite"):
        model.set_optimizer_state(fnn.Adam(), 3, bad)
    assert model.optimizer_ is None


class _EvilAdam(fnn.Adam):
    """A subclass that claims Adam's rule but keeps no state."""
    slots = ()


def test_a_rule_without_its_slots_is_refused_by_the_plan():
    """The plans check that an update rule gets the state slots it writes: an optimizer
    claiming Adam's rule without Adam's two slots cannot reach the kernel's pointers."""
    X, y = _moons()
    with pytest.raises(ValueError, match="needs 2 slot"):
        fnn.MLP([2, 3, 1]).fit(X, y, epochs=1, optimizer=_EvilAdam())


def test_plans_check_every_array_they_point_at():
    """A training plan built on arrays of the wrong dtype, shape, order or writability is
    refused when built, before any native code runs."""
    from fastnn.engine.compiled import KERNELS
    rng = np.random.default_rng(0)
    good = dict(W=[rng.standard_normal((3, 2))], b=[np.zeros(3)])

    def plan(**change):
        arrays = {**dict(W=good["W"], b=good["b"], dW=[np.zeros((3, 2))], db=[np.zeros(3)],
                         slots=[]), **change}
        return KERNELS.plans.TrainPlan(4, np.float64, 0, arrays["W"], arrays["b"],
                                       arrays["dW"], arrays["db"], [0], [2**32], [1.0], 0,
                                       2**32, 1.0, 0, arrays["slots"])
    plan()
    for change, match in (
            (dict(W=[good["W"][0].astype(np.float32)]), "weights\\[0\\]"),
            (dict(W=[np.asfortranarray(rng.standard_normal((3, 2)))]), "weights\\[0\\]"),
            (dict(dW=[np.zeros((2, 3))]), "weight_grads\\[0\\]"),
            (dict(db=[np.zeros(3)[::-1]]), "bias_grads\\[0\\]"),
            (dict(slots=[[np.zeros((3, 2)), np.zeros(3)]]), "needs 0 slot"),
            (dict(b=[np.zeros(3)]), None)):
        if match is None:
            continue
        with pytest.raises(ValueError, match=match):
            plan(**change)
    frozen = good["W"][0].copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        plan(W=[frozen])


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_overflow_inside_the_network_is_an_error_not_nan(backend):
    """Finite X whose layer products overflow to +inf and -inf in two hidden units, which
    the output layer subtracts: inf - inf is NaN.  predict_proba returned that NaN (in the
    debug build, where no fused multiply-add kept the sum finite); it now says why."""
    model = fnn.MLP([2, 2, 1], backend=backend)
    model.set_params({"W1": [[2.0, 0.0], [0.0, 2.0]], "b1": [0.0, 0.0],
                      "W2": [[1.0, -1.0]], "b2": [0.0]})
    X = np.full((1, 2), np.finfo(np.float32).max, dtype=np.float32)
    for call in (model.predict_proba, model.predict, model.forward):
        with pytest.raises(ValueError, match="X is too large for the model"):
            call(X)
    assert model.predict_proba(np.ones((1, 2))).shape == (1, 1)


def test_set_penalties_rereads_anything_that_could_have_changed():
    """A training plan skips reading the same tuple of float tuples twice (the model's
    cached slopes, every train_step), and re-reads everything else: a list changed in
    place, or a tuple holding a mutable value, takes effect at the next call."""
    X, y = _moons()
    model = fnn.MLP([2, 3, 1], seed=0, dtype="float64")
    Xv, yv = model.prepare(X, y)
    model.train_step(X, y, fnn.SGD(0.1))
    plan = model.engine.training_plan(X.shape[0])
    arguments = fnn.SGD(0.1).kernel_arguments()

    def step_from(W, penalties):
        """W1 after one step from weights W with `penalties` set just before."""
        model.set_params(W)
        plan.set_penalties(penalties)
        plan.run(Xv, yv, 0, 1, arguments, 0)
        return model.params["W1"].copy()

    start = {k: v.copy() for k, v in model.params.items()}
    none, strong = ((0.0, 0.0, 0.0),) * 2, ((5.0, 0.0, 0.0),) * 2
    plain = step_from(start, none)
    decayed = step_from(start, strong)
    assert not np.allclose(plain, decayed)
    np.testing.assert_array_equal(step_from(start, strong), decayed)  # skipped: same tuple
    as_list = [list(triple) for triple in none]
    np.testing.assert_array_equal(step_from(start, as_list), plain)
    as_list[0][0] = as_list[1][0] = 5.0  # changed in place: read again
    np.testing.assert_array_equal(step_from(start, as_list), decayed)
    cell = np.array(0.0)
    holding = ((cell, 0.0, 0.0), (cell, 0.0, 0.0))
    np.testing.assert_array_equal(step_from(start, holding), plain)
    cell[()] = 5.0
    np.testing.assert_array_equal(step_from(start, holding), decayed)
