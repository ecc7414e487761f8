"""Threads: results do not depend on the BLAS thread count or on concurrent training."""
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fastnn as fnn


def data(m=256, n=96, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    return X, rng.integers(0, classes, m)


def trained(n_threads, backend="cython", dtype="float32", epochs=3):
    X, y = data()
    # Products big enough that BLAS runs them (not the small-product loops) and that the
    # step plan keeps BLAS's threads (batch 128: up to 4 M multiply-adds per product).
    model = fnn.MLP([96, 256, 128, 5], output="softmax", keep_prob=0.8, l2=0.5,
                    dtype=dtype, backend=backend, seed=4, n_threads=n_threads)
    model.fit(X, y, epochs=epochs, batch_size=128, optimizer=fnn.Momentum(lr=0.05))
    if backend == "cython":
        assert not model._workspaces[(128, False)].plan.one_thread
    return model.params


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_and_two_threads_agree(backend, dtype):
    one, two = trained(1, backend, dtype), trained(2, backend, dtype)
    for name in one:
        np.testing.assert_allclose(one[name], two[name], rtol=1e-5 if dtype == "float32" else 1e-12,
                                   atol=1e-6 if dtype == "float32" else 1e-13, err_msg=name)


def test_n_threads_caps_blas_inside_fit():
    seen = []

    def record(model, epoch, history):
        seen.append({lib["filepath"]: lib["num_threads"] for lib in threadpool_info()
                     if lib["user_api"] == "blas"})

    X, y = data(m=64)
    model = fnn.MLP([96, 16, 5], output="softmax", n_threads=1)
    model.fit(X, y, epochs=2, callbacks=record)
    assert seen and all(n == 1 for snapshot in seen for n in snapshot.values())


def test_two_models_in_two_python_threads_match_sequential():
    sequential = [trained(None, epochs=2) for _ in range(2)]
    results = [None, None]

    def work(i):
        results[i] = trained(None, epochs=2)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, expected in zip(results, sequential):
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


@pytest.mark.parametrize("bad,error", [(0, ValueError), (-2, ValueError), (1.5, TypeError)])
def test_bad_n_threads(bad, error):
    with pytest.raises(error, match="n_threads"):
        fnn.MLP([2, 3, 1], n_threads=bad)


def test_n_threads_is_saved(tmp_path):
    model = fnn.MLP([2, 3, 1], n_threads=2)
    model.save(tmp_path / "m.npz")
    assert fnn.load(tmp_path / "m.npz").n_threads == 2


def _kernel_blas_threads():
    """Thread count of the OpenBLAS that fastnn's kernels call (SciPy's bundled one)."""
    import os

    import scipy
    bundled = os.path.realpath(os.path.join(os.path.dirname(scipy.__file__), "..", "scipy.libs"))
    counts = [info["num_threads"] for info in threadpool_info()
              if os.path.dirname(os.path.realpath(info.get("filepath") or "")) == bundled]
    return counts[0] if counts else None


def test_small_products_run_on_one_thread_and_the_count_is_put_back():
    """A plan made only of small products (<= 2 M multiply-adds) sets BLAS to one thread
    for its steps, where a second thread's hand-off costs more than it saves, and restores
    the count; larger plans and the columns layout leave BLAS alone."""
    from fastnn._threads import kernel_blas_thread_functions
    if kernel_blas_thread_functions() == (0, 0):
        pytest.skip("SciPy's BLAS is not its bundled OpenBLAS: the plans leave it alone")
    X, y = data(m=64, n=64, classes=10)
    small = fnn.MLP([64, 128, 64, 10], output="softmax", seed=0)
    big = fnn.MLP([64, 1024, 10], output="softmax", seed=0)  # 64 x 64 x 1024 = 4 M
    course = fnn.MLP([4, 8, 1], seed=0)                        # columns layout: no BLAS
    before = _kernel_blas_threads()
    for model, inputs, labels in ((small, X, y), (big, X, y),
                                  (course, X[:, :4], (y > 4).astype(float))):
        model.train_step(inputs, labels, fnn.SGD(lr=0.1))
        assert _kernel_blas_threads() == before
    assert small._workspaces[(64, False)].plan.one_thread
    assert not big._workspaces[(64, False)].plan.one_thread
    assert course._workspaces[(64, False)].plan.columns
    assert not course._workspaces[(64, False)].plan.one_thread
    with threadpool_limits(limits=1, user_api="blas"):
        small.train_step(X, y, fnn.SGD(lr=0.1))
        assert _kernel_blas_threads() == 1


def test_plans_leave_an_unidentified_blas_alone(monkeypatch):
    from fastnn import ops
    monkeypatch.setattr(ops, "kernel_blas_thread_functions", lambda: (0, 0))
    X, y = data(m=64, n=64, classes=10)
    model = fnn.MLP([64, 128, 64, 10], output="softmax", seed=0)
    model.train_step(X, y, fnn.SGD(lr=0.1))
    assert not model._workspaces[(64, False)].plan.one_thread
