"""The built-in benchmark (fastnn bench) compares like with like: its plain-NumPy side
computes what fastnn's calls compute, from the same weights. (No timing is asserted.)"""
import io

import numpy as np
import pytest

import fastnn as fnn
from fastnn.benchmark import Comparison, NumpyNetwork, format_seconds, run


@pytest.mark.parametrize("sizes, output, l2", [([2, 20, 3, 1], "sigmoid", 0.0),
                                               ([6, 16, 8, 4], "softmax", 0.7)])
def test_the_numpy_step_is_fastnns_step(sizes, output, l2):
    """Without dropout the masks play no part: one SGD step from the same weights gives
    the same cost and the same new weights."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, sizes[0])).astype(np.float32)
    y = (rng.integers(0, sizes[-1], 50) if output == "softmax"
         else rng.integers(0, 2, 50)).astype(np.float32)
    model = fnn.MLP(sizes, output=output, l2=l2, seed=1)
    numpy = NumpyNetwork(model, lr=0.1)
    for _ in range(3):
        cost = model.train_step(X, y, fnn.SGD(lr=0.1))
        assert numpy.step(X, y) == pytest.approx(cost, rel=1e-5)
    for l, (W, b) in enumerate(zip(numpy.W, numpy.b), start=1):
        np.testing.assert_allclose(W, model.params[f"W{l}"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b, model.params[f"b{l}"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(numpy.predict_proba(X), model.predict_proba(X), rtol=1e-5,
                               atol=1e-7)


def test_the_numpy_adam_epoch_is_fits_default_epoch():
    """fit's defaults (Adam, minibatches of 64): the NumPy side's epoch from the same
    weights over the same batches (one full batch here: m <= 64, so the order is moot
    up to rounding) gives fit's weights and costs.  A full-batch History records J
    after each epoch's update; the NumPy epoch returns the cost before it."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 2)).astype(np.float32)
    y = rng.integers(0, 2, 60).astype(np.float32)
    model = fnn.MLP([2, 20, 3, 1], seed=1)
    numpy = NumpyNetwork(model, lr=fnn.Adam().lr, adam=True)
    history = model.fit(X, y, epochs=3, shuffle=False)
    costs = [numpy.epoch(X, y, 64) for _ in range(3)]
    assert history["train_cost"][:-1] == pytest.approx(costs[1:], rel=1e-5)
    for l, (W, b) in enumerate(zip(numpy.W, numpy.b), start=1):
        np.testing.assert_allclose(W, model.params[f"W{l}"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(b, model.params[f"b{l}"], rtol=1e-4, atol=1e-5)


def test_the_numpy_step_drops_units_as_inverted_dropout():
    """With keep_prob 0.5 about half the hidden units are zeroed and the kept ones scaled
    by 2: the dropped units' weights get no gradient from the data."""
    rng = np.random.default_rng(1)
    model = fnn.MLP([4, 2000, 1], keep_prob=0.5, seed=0)
    numpy = NumpyNetwork(model, lr=1.0)
    A, masks = numpy.forward(rng.normal(size=(1, 4)).astype(np.float32), train=True)
    kept = masks[0] > 0
    assert 0.45 < kept.mean() < 0.55 and set(np.unique(masks[0])) == {0.0, 2.0}
    assert np.all(A[1][~kept] == 0)


def test_run_prints_one_table_per_thread_count(monkeypatch):
    import fastnn.benchmark as benchmark
    monkeypatch.setattr(benchmark, "comparisons", lambda quick: [
        ("a", lambda: Comparison("fit, tiny", 2e-6, 5e-5)),
        ("b", lambda: Comparison("predict_proba, tiny", 1.5e-3, 1.2e-3))])
    out = io.StringIO()
    results = run(threads=(1, 2), markdown=True, file=out)
    text = out.getvalue()
    assert [c.call for c in results] == ["fit, tiny", "predict_proba, tiny"] * 2
    assert "| fit, tiny | 2 us | 50 us | 25.0x |" in text
    assert "| predict_proba, tiny | 1.5 ms | 1.2 ms | 0.8x |" in text
    assert text.count("|---|---:|---:|---:|") == 2
    assert "BLAS threads capped at 1" in text and "BLAS threads capped at 2" in text


def test_format_seconds():
    assert [format_seconds(s) for s in (4.1e-6, 8.12e-4, 1.25e-3, 2.31, 150e-6)] == [
        "4.1 us", "812 us", "1.25 ms", "2.31 s", "150 us"]
