"""The fused step's two layouts and the two builds of the dense kernels.

A compiled step plan keeps its activations rows-as-examples (m, n) or, for narrow layers
and a long batch, examples-as-columns (n, m).  Both must train exactly as the NumPy
reference does (same dropout masks, same updates up to rounding) for every activation,
loss, optimizer and dropout setting, over batch sizes that are not multiples of the
SIMD chunks.  The AVX2 + FMA build must agree with the baseline build the same way.
"""
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

import fastnn as fnn
import fastnn._kernels._dense as dense_baseline
import fastnn._kernels._plans as plans_baseline
from fastnn._kernels._codes import Layout
from fastnn.engine import compiled
from fastnn.engine.compiled import CompiledEngine, Kernels

CASES = {
    # name: (layer sizes, output, activation, m)
    "sigmoid-2-outputs": ([3, 7, 5, 2], "sigmoid", ["tanh", "relu"], 37),
    "softmax": ([4, 9, 6, 3], "softmax", ["leaky_relu", "selu"], 50),
    "linear": ([3, 6, 2], "linear", ["sigmoid"], 29),
    "course-net": ([2, 20, 3, 1], "sigmoid", ["relu", "relu"], 211),
}
OPTIMIZERS = {
    "sgd": lambda: fnn.SGD(lr=0.1),
    "momentum": lambda: fnn.Momentum(lr=0.05, beta=0.9),
    "nesterov": lambda: fnn.Nesterov(lr=0.05, beta=0.9),
    "adam": lambda: fnn.Adam(lr=0.01),
}


def _data(sizes, output, m, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, sizes[0]))
    if output == "softmax":
        y = rng.integers(0, sizes[-1], size=m)
    elif output == "sigmoid":
        y = (rng.random((m, sizes[-1])) < 0.5).astype(float)
    else:
        y = rng.normal(size=(m, sizes[-1]))
    return X, y


def _model(case, backend, dtype, **kw):
    sizes, output, activation, _ = CASES[case]
    return fnn.MLP(sizes, output=output, activation=activation, backend=backend, dtype=dtype,
                   seed=5, init="xavier", **kw)


def _assert_close(got, want, dtype, what):
    for name in want:
        if dtype == "float64":
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-10,
                                       err_msg=f"{what}: {name}")
        else:
            scale = np.abs(want[name]).max() + 1e-3
            np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4 * scale,
                                       err_msg=f"{what}: {name}")


def _train(model, X, y, optimizer, steps, chained):
    """`steps` full-batch steps: one fit (the runner's chained epochs) or step by step."""
    if chained:
        model.fit(X, y, epochs=steps, optimizer=optimizer, batch_size=None)
    else:
        for _ in range(steps):
            model.train_step(X, y, optimizer)
    return model


def _force(monkeypatch, layout):
    monkeypatch.setattr(CompiledEngine, "layout", int(Layout[layout.upper()]))


@pytest.mark.parametrize("layout", ["rows", "columns"])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("regularisation", [
    dict(keep_prob=0.7, input_keep_prob=0.9, l2=0.5),
    dict(keep_prob=1.0, l2=0.0, l1=0.05),
], ids=["dropout-l2", "l1"])
def test_plan_layouts_train_as_the_reference(monkeypatch, case, optimizer, layout, dtype,
                                             regularisation):
    dtype = np.dtype(dtype).name
    sizes, output, _, m = CASES[case]
    X, y = _data(sizes, output, m)
    reference = _train(_model(case, "reference", dtype, **regularisation), X, y,
                       OPTIMIZERS[optimizer](), 12, chained=False)
    _force(monkeypatch, layout)
    for chained in (False, True):
        model = _train(_model(case, "cython", dtype, **regularisation), X, y,
                       OPTIMIZERS[optimizer](), 12, chained)
        assert model.engine.training_plan(m).columns == (layout == "columns")
        _assert_close(model.params, reference.params, dtype, f"{layout}, chained={chained}")
        # The next step's forward pass, with its dropout masks, is handed back in rows.
        np.testing.assert_allclose(model.forward(X, train=True),
                                   reference.forward(X, train=True),
                                   rtol=1e-4 if dtype == "float32" else 1e-9, atol=1e-5)


@given(sizes=st.lists(st.integers(1, 9), min_size=2, max_size=4),
       m=st.integers(1, 70), output=st.sampled_from(["sigmoid", "softmax", "linear"]),
       activation=st.sampled_from(["relu", "tanh", "leaky_relu", "selu", "sigmoid"]),
       keep_prob=st.sampled_from([1.0, 0.6]), input_keep_prob=st.sampled_from([1.0, 0.7]),
       l1=st.sampled_from([0.0, 0.1]), layout=st.sampled_from(["rows", "columns"]),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2**16))
def test_plan_layouts_match_the_reference_for_any_shape(sizes, m, output, activation,
                                                        keep_prob, input_keep_prob, l1,
                                                        layout, dtype, seed):
    """Any widths and batch length, either layout forced (columns even where the plan
    would not pick it): three chained SGD steps equal the reference's."""
    if output == "softmax" and sizes[-1] < 2:
        sizes = sizes[:-1] + [2]
    X, y = _data(sizes, output, m, seed)
    kw = dict(output=output, activation=activation, keep_prob=keep_prob,
              input_keep_prob=input_keep_prob, l2=0.3, l1=l1, dtype=dtype, seed=seed)
    reference = fnn.MLP(sizes, backend="reference", **kw)
    _train(reference, X, y, fnn.SGD(lr=0.05), 3, chained=False)
    previous = CompiledEngine.layout
    CompiledEngine.layout = int(Layout[layout.upper()])  # hypothesis reruns the body per example
    try:
        model = _train(fnn.MLP(sizes, backend="cython", **kw), X, y, fnn.SGD(lr=0.05), 3,
                       chained=True)
    finally:
        CompiledEngine.layout = previous
    _assert_close(model.params, reference.params, dtype, layout)


def test_plan_picks_columns_for_narrow_layers_and_a_long_batch(football):
    """Columns when the batch is at least the widest layer and the products are small or
    the layers narrow (<= 24 units); rows otherwise."""
    X, y, _, _ = football
    engine = fnn.MLP([2, 20, 3, 1], seed=0).engine
    assert engine.training_plan(211).columns            # 211 examples, widths <= 20
    assert not engine.training_plan(16).columns         # shorter than the widest layer
    assert engine.training_plan(1055).columns           # big products, but every layer narrow
    wide = fnn.MLP([64, 128, 10], output="softmax", seed=0)
    assert not wide.engine.training_plan(256).columns   # products too big


def test_columns_plan_stops_after_a_non_finite_cost():
    X, y = _data([2, 20, 3, 1], "sigmoid", 211)
    model = fnn.MLP([2, 20, 3, 1], seed=0)
    Xv, yv = model.prepare(X, y)
    model.optimizer_ = fnn.SGD(lr=1e30)
    plan = model.engine.training_plan(211)
    assert plan.columns
    done, cost = plan.run(Xv, yv, 0, 50, (1e30, 0.0, 0.0, 0.0, 0.0), 0)
    assert not np.isfinite(cost)
    assert done < 50


# ---------------------------------------------------------------------------
# The two builds of the dense kernels


def test_kernel_build_is_the_avx2_one_when_the_cpu_has_it():
    baseline = dense_baseline
    try:
        import fastnn._kernels._dense_avx2 as avx2
    except ImportError:
        avx2 = None
    if platform.machine() == "x86_64" and sys.platform == "linux":
        assert avx2 is not None, "setup.py builds the AVX2 copy on x86-64 Linux"
    expected = "avx2+fma" if avx2 is not None and baseline.cpu_has_avx2_fma() else "baseline"
    if os.environ.get("FASTNN_KERNELS") == "baseline":
        expected = "baseline"
    assert fnn.KERNEL_ISA == expected
    assert baseline.ISA == "baseline"


@pytest.mark.skipif(not dense_baseline.cpu_has_avx2_fma(), reason="no AVX2/FMA here")
def test_avx2_and_baseline_builds_train_alike(monkeypatch, dtype):
    avx2 = pytest.importorskip("fastnn._kernels._plans_avx2")
    dtype = np.dtype(dtype).name
    X, y = _data([4, 9, 6, 3], "softmax", 50)
    trained = {}
    for name, module in (("baseline", plans_baseline), ("avx2", avx2)):
        monkeypatch.setattr(compiled.KERNELS, "plans", module)
        for layout in ("rows", "columns"):
            _force(monkeypatch, layout)
            model = _train(_model("softmax", "cython", dtype, keep_prob=0.8, l2=0.3), X, y,
                           fnn.Adam(lr=0.01), 10, chained=True)
            trained[name, layout] = model.params
    want = trained["baseline", "rows"]
    for key, params in trained.items():
        _assert_close(params, want, dtype, str(key))


def _run_with_kernels(value, tmp_path):
    package_root = Path(fnn.__file__).resolve().parent.parent
    env = dict(os.environ, FASTNN_KERNELS=value,
               PYTHONPATH=os.pathsep.join([str(package_root), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", "import fastnn; print(fastnn.KERNEL_ISA)"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)


def test_fastnn_kernels_baseline_forces_the_baseline_build(tmp_path):
    result = _run_with_kernels("baseline", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "baseline"


def test_fastnn_kernels_rejects_unknown_values(tmp_path):
    result = _run_with_kernels("sse9", tmp_path)
    assert result.returncode != 0
    assert "FASTNN_KERNELS must be 'auto', 'baseline' or 'avx2'" in result.stderr


def test_fastnn_kernels_avx2_fails_clearly_where_the_cpu_lacks_it(monkeypatch):
    monkeypatch.setenv("FASTNN_KERNELS", "avx2")
    monkeypatch.setattr(dense_baseline, "cpu_has_avx2_fma", lambda: False, raising=False)
    with pytest.raises(ImportError, match="FASTNN_KERNELS=avx2, but the AVX2 \\+ FMA kernels"):
        Kernels()
    monkeypatch.setenv("FASTNN_KERNELS", "auto")
    kernels = Kernels()
    assert kernels.dense is dense_baseline and kernels.plans is plans_baseline


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_run_products_computes_the_step_products_and_changes_no_weight(monkeypatch, layout):
    """TrainPlan.run_products (the benchmark's floor) does the step's products alone:
    A[l] = W[l] A[l-1] with no bias or activation, dW = dZ^T A_prev, and no update."""
    _force(monkeypatch, layout)
    X, y = _data([3, 5, 4, 1], "sigmoid", 40)
    model = fnn.MLP([3, 5, 4, 1], keep_prob=0.8, seed=0, dtype="float64")
    Xv, yv = model.prepare(X, y)
    model.train_step(X, y, fnn.SGD(lr=0.1))
    plan = model.engine.training_plan(40)
    assert plan.columns == (layout == "columns")
    weights = [model.params[f"W{l}"] for l in (1, 2, 3)]
    plan.run_products(Xv, 3)
    assert all(np.array_equal(model.params[f"W{l}"], W) for l, W in zip((1, 2, 3), weights))
    outputs, deltas = plan.layer_blocks(False), plan.layer_blocks(True)
    np.testing.assert_allclose(outputs[0], Xv @ weights[0].T, rtol=1e-12)  # no bias, no relu
    np.testing.assert_allclose(outputs[1], outputs[0] @ weights[1].T, rtol=1e-12)
    # dW3 = dZ3^T A2, into the engine's gradient buffer (the data term of the gradients).
    dW3 = model.engine.gradients.weights[2]
    np.testing.assert_allclose(dW3, deltas[2].T @ outputs[1], rtol=1e-12)


def test_run_products_refuses_a_batch_that_is_not_the_plans():
    X, y = _data([3, 5, 1], "sigmoid", 20)
    model = fnn.MLP([3, 5, 1], seed=0)
    Xv, yv = model.prepare(X, y)
    plan = model.engine.training_plan(20)
    for bad in (Xv[:10], Xv.astype(np.float64), np.asfortranarray(Xv), Xv[:, :2]):
        with pytest.raises(ValueError, match="X must be a C-contiguous"):
            plan.run_products(bad)
