"""Reliability: resident memory stays flat over long training, results do not depend on
how the input arrays are typed or laid out, and a failing call leaves the model and its
optimizer exactly as they were.  Run with ``-s`` to see the memory figures."""
import gc
import os
import sys

import numpy as np
import pytest

import fastnn as fnn
from fastnn.datasets import make_moons

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="reads resident memory from /proc/self/statm")


# AddressSanitizer (.ci/sanitize) quarantines freed memory, so resident size grows by design.
UNDER_ASAN = "asan" in os.environ.get("LD_PRELOAD", "")
rss_test = pytest.mark.skipif(UNDER_ASAN, reason="ASan's quarantine holds freed memory")


def rss_mb():
    """Resident set size of this process in MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _data(m=64, n=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n)).astype(np.float32)
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float64)


def _train_steps(backend, n_steps, model=None, opt=None):
    """n_steps of train_step (dropout, L2, Adam), with predict/cost/gradients/error calls
    every 10 steps: every per-call allocation path runs."""
    X, y = _data()
    if model is None:
        model = fnn.MLP([20, 64, 32, 1], keep_prob=[0.8, 0.9], input_keep_prob=0.95, l2=0.1,
                        l1=0.01, backend=backend, seed=0)
        opt = fnn.Adam(1e-3)
    for i in range(n_steps):
        model.train_step(X, y, opt)
        if i % 10 == 0:
            model.predict(X[:17])
            model.cost(X, y)
            model.gradients(X[:5], y[:5])
            model.error(X, y)
    return model, opt


def _measure(run, warmup, steps, label):
    state = run(warmup, None)
    gc.collect()
    before = rss_mb()
    state = run(steps, state)
    gc.collect()
    after = rss_mb()
    print(f"\n[rss] {label}: {before:.1f} MiB after {warmup} warm-up steps, "
          f"{after:.1f} MiB after {steps} more ({after - before:+.2f} MiB)")
    sys.stdout.flush()
    return after - before


@rss_test
@pytest.mark.parametrize("steps", [2_000, 10_000], ids=["2k", "10k"])
def test_rss_flat_over_training_steps(steps):
    def run(n, state):
        model, opt = state if state else (None, None)
        return _train_steps("cython", n, model, opt)

    growth = _measure(run, 2_000, steps, f"train_step x{steps} (cython)")
    assert growth < 3.0


@rss_test
def test_rss_flat_over_minibatch_fit():
    """10,000 minibatch steps through fit (320 examples, batch 32, 1000 epochs)."""
    X, y = _data(320)
    model = fnn.MLP([20, 64, 32, 1], keep_prob=0.8, l2=0.1, seed=0)
    dev = (X[:50], y[:50])

    def run(n_steps, state):
        model.fit(X, y, epochs=n_steps // 10, batch_size=32, optimizer=None if state else
                  fnn.Adam(1e-3), dev=dev, eval_every=100)
        return True

    growth = _measure(run, 2_000, 10_000, "fit, 10 minibatches per epoch (cython)")
    assert model.step_ == 12_000
    assert growth < 3.0


@rss_test
def test_rss_flat_reference_backend():
    def run(n, state):
        model, opt = state if state else (None, None)
        return _train_steps("reference", n, model, opt)

    assert _measure(run, 500, 2_000, "train_step x2000 (reference)") < 3.0


@rss_test
def test_rss_flat_over_save_and_load(tmp_path):
    model = fnn.MLP([20, 64, 32, 1], seed=0)
    model.fit(*_data(), epochs=2, optimizer=fnn.Adam(1e-3))
    path = tmp_path / "m.npz"

    def run(n, state):
        for _ in range(n):
            model.save(path)
            fnn.load(path).predict(np.zeros((2, 20)))
        return True

    assert _measure(run, 50, 300, "save+load x300") < 3.0
    assert len(os.listdir(tmp_path)) == 1
    assert len(os.listdir("/proc/self/fd")) < 200  # no file handles leaked


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("model_dtype", ["float32", "float64"])
@pytest.mark.parametrize("input_dtype", ["int8", "int64", "float16", "float32", "float64", "bool"])
def test_forward_and_gradients_unaffected_by_input_dtype(backend, model_dtype, input_dtype):
    rng = np.random.default_rng(0)
    X = rng.integers(-3, 4, (9, 4)).astype(input_dtype)
    y = rng.integers(0, 3, 9)
    model = fnn.MLP([4, 6, 3], output="softmax", keep_prob=0.7, l2=0.2, dtype=model_dtype,
                    backend=backend, seed=2)
    Xm = X.astype(model_dtype)
    assert np.array_equal(model.forward(X), model.forward(Xm))
    assert np.array_equal(model.forward(X, train=True), model.forward(Xm, train=True))
    for k, v in model.gradients(X, y.astype(np.int8)).items():
        assert np.array_equal(v, model.gradients(Xm, y)[k]), k
    assert model.cost(X, y.astype(float)) == model.cost(Xm, y)
    # and the inputs are left as they were
    assert X.dtype == np.dtype(input_dtype)


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_fit_and_predict_never_modify_inputs(backend):
    X, y = make_moons(50, seed=1)
    X = np.asfortranarray(X * 10 + 2)
    Xd, yd = X[::3], y[::3]
    copies = [a.copy() for a in (X, y, Xd, yd)]
    model = fnn.MLP([2, 8, 1], keep_prob=0.8, input_keep_prob=0.9, backend=backend)
    model.standardizer = fnn.Standardizer().fit(X)
    model.fit(X, y, dev=(Xd, yd), epochs=3, batch_size=8, optimizer=fnn.Adam(0.01),
              augment=lambda Xb, rng: Xb + rng.normal(0, 0.1, Xb.shape))
    model.predict(X)
    model.gradients(X, y)
    fnn.gradcheck(model, X[:5], y[:5])
    for a, c in zip((X, y, Xd, yd), copies):
        assert np.array_equal(a, c)


# --------------------------------------------------------------------------- failing calls


def _state(model):
    return (model.params, model.step_, model.epoch_, model.optimizer_,
            model.optimizer_state())


def _assert_state(model, state):
    params, step, epoch, opt, (t, arrays) = state
    assert model.step_ == step and model.epoch_ == epoch
    assert model.optimizer_ is opt
    for k, v in model.params.items():
        assert np.array_equal(v, params[k]), k
    now_t, now = model.optimizer_state()
    assert now_t == t
    assert now.keys() == arrays.keys()
    for k in arrays:
        assert np.array_equal(now[k], arrays[k]), k


class _Boom(Exception):
    pass


def _raise_on_begin():
    class Cb(fnn.Callback):
        def on_train_begin(self, model, history):
            raise _Boom("on_train_begin")
    return Cb()


FAILING_FITS = {
    "dev-features": (lambda X, y: dict(dev=(np.zeros((4, 3)), y[:4])), ValueError),
    "dev-rows": (lambda X, y: dict(dev=(X[:4], y[:5])), ValueError),
    "dev-nan": (lambda X, y: dict(dev=(np.full((4, 2), np.nan), y[:4])), ValueError),
    "dev-not-pair": (lambda X, y: dict(dev=X), TypeError),
    "early-stopping-type": (lambda X, y: dict(early_stopping="yes"), TypeError),
    "early-stopping-no-dev": (lambda X, y: dict(early_stopping=fnn.EarlyStopping()), ValueError),
    "augment-not-callable": (lambda X, y: dict(augment=3), TypeError),
    "callback-not-callable": (lambda X, y: dict(callbacks=[3]), TypeError),
    "callback-raises-on-begin": (lambda X, y: dict(callbacks=_raise_on_begin()), _Boom),
    "eval-every": (lambda X, y: dict(eval_every=0), ValueError),
}


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("case", sorted(FAILING_FITS))
def test_failing_fit_leaves_model_and_optimizer_untouched(backend, case):
    X, y = make_moons(40, seed=1)
    model = fnn.MLP([2, 6, 1], keep_prob=0.8, backend=backend, seed=3)
    model.fit(X, y, epochs=3, batch_size=8, optimizer=fnn.Adam(0.01))
    before = _state(model)
    kwargs, exc = FAILING_FITS[case]
    new_opt = fnn.Momentum(0.1)
    with pytest.raises(exc):
        model.fit(X, y, epochs=2, batch_size=8, optimizer=new_opt, **kwargs(X, y))
    _assert_state(model, before)
    # and the model still resumes exactly as if the failed call had never happened
    twin = fnn.MLP([2, 6, 1], keep_prob=0.8, backend=backend, seed=3)
    twin.fit(X, y, epochs=5, batch_size=8, optimizer=fnn.Adam(0.01))
    model.fit(X, y, epochs=2, batch_size=8)
    for k, v in twin.params.items():
        assert np.array_equal(model.params[k], v), k


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_failing_train_step_and_gradients_change_nothing(backend):
    X, y = make_moons(40, seed=1)
    model = fnn.MLP([2, 6, 1], backend=backend)
    model.fit(X, y, epochs=2, optimizer=fnn.Adam(0.01))
    before = _state(model)
    opt = model.optimizer_
    for call in (lambda: model.train_step(X, y[:-1], opt),
                 lambda: model.train_step(X[:, :1], y, opt),
                 lambda: model.train_step(np.where(X > 1, np.inf, X), y, opt),
                 lambda: model.gradients(X, y + 2),
                 lambda: model.set_params({"W1": np.zeros((6, 2))}),
                 lambda: model.set_params(dict(model.params, b2=np.full(1, np.nan)))):
        with pytest.raises(ValueError):
            call()
        _assert_state(model, before)


# --------------------------------------------------------------------------- regressions
# A failed fit used to replace model.optimizer_ before any step ran, and an exception
# inside an epoch was not rolled back to the last good snapshot.


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_fit_failing_at_first_batch_replaces_optimizer(backend):
    """augment returning the wrong shape raises ValueError at the first minibatch, before
    any update; the model's optimizer_ (with Adam's moments) is nevertheless replaced by
    the failed call's optimizer, so a later fit(optimizer=None) resumes with the wrong one."""
    X, y = make_moons(40, seed=1)
    model = fnn.MLP([2, 6, 1], keep_prob=0.8, backend=backend, seed=3)
    model.fit(X, y, epochs=3, batch_size=8, optimizer=fnn.Adam(0.01))
    before = _state(model)
    with pytest.raises(ValueError, match="augment returned shape"):
        model.fit(X, y, epochs=2, batch_size=8, optimizer=fnn.Momentum(0.1),
                  augment=lambda Xb, rng: Xb[:, :1])
    _assert_state(model, before)


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_regression_exception_mid_epoch_leaves_a_partial_epoch(backend):
    """An augment that fails at the 3rd minibatch of epoch 2 (or a Ctrl-C there): the
    model must not be left between epochs (weights and step_ of 2 more steps, epoch_ of
    the last full epoch), or resuming it no longer reproduces an uninterrupted run."""
    X, y = make_moons(40, seed=1)
    calls = []

    def flaky(Xb, rng):
        calls.append(1)
        if len(calls) == 8:  # 5 batches per epoch: epoch 2, batch 3
            raise _Boom("augment failed")
        return Xb

    model = fnn.MLP([2, 6, 1], keep_prob=0.8, backend=backend, seed=3)
    model.fit(X, y, epochs=1, batch_size=8, optimizer=fnn.Adam(0.01), augment=flaky)
    before = _state(model)
    with pytest.raises(_Boom):
        model.fit(X, y, epochs=2, batch_size=8, augment=flaky)
    _assert_state(model, before)
