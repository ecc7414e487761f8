"""Threads: results do not depend on the BLAS thread count or on concurrent training."""
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import fastnn as fnn


def data(m=256, n=96, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    return X, rng.integers(0, classes, m)


def trained(n_threads, backend="cython", dtype="float32", epochs=3):
    X, y = data()
    # Layers big enough that BLAS (not the small-product loops) does the products.
    model = fnn.MLP([96, 256, 128, 5], output="softmax", keep_prob=0.8, l2=0.5,
                    dtype=dtype, backend=backend, seed=4, n_threads=n_threads)
    model.fit(X, y, epochs=epochs, batch_size=64, optimizer=fnn.Momentum(lr=0.05))
    return model.params


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_and_two_threads_agree(backend, dtype):
    one, two = trained(1, backend, dtype), trained(2, backend, dtype)
    for name in one:
        np.testing.assert_allclose(one[name], two[name], rtol=1e-5 if dtype == "float32" else 1e-12,
                                   atol=1e-6 if dtype == "float32" else 1e-13, err_msg=name)


def test_models_of_small_products_train_bit_identically_at_any_thread_count():
    """Every product of a [64, 128, 64, 10] step on 64 examples has at most 524288
    multiply-adds: OpenBLAS runs those below it on the calling thread and fastnn issues
    the ones at it in one-thread blocks, so the thread count cannot change a bit."""
    X, y = data(m=64, n=64, classes=10)

    def train(n_threads):
        model = fnn.MLP([64, 128, 64, 10], output="softmax", keep_prob=0.8, l2=0.7, seed=1,
                        n_threads=n_threads)
        model.fit(X, y, epochs=20, optimizer=fnn.Adam(lr=0.01))
        return model.params

    one, two = train(1), train(2)
    for name in one:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)


def test_n_threads_caps_blas_inside_fit():
    seen = []

    def record(model, epoch, history):
        seen.append({lib["filepath"]: lib["num_threads"] for lib in threadpool_info()
                     if lib["user_api"] == "blas"})

    X, y = data(m=64)
    model = fnn.MLP([96, 16, 5], output="softmax", n_threads=1)
    model.fit(X, y, epochs=2, callbacks=record)
    assert seen and all(n == 1 for snapshot in seen for n in snapshot.values())


def in_threads(calls):
    """Run each no-argument callable in its own Python thread; their results, in order."""
    results = [None] * len(calls)

    def work(i):
        results[i] = calls[i]()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def assert_same_params(got, expected):
    for one, other in zip(got, expected):
        for name in other:
            np.testing.assert_array_equal(one[name], other[name], err_msg=name)


def test_two_models_in_two_python_threads_match_sequential():
    sequential = [trained(None, epochs=2) for _ in range(2)]
    assert_same_params(in_threads([lambda: trained(None, epochs=2)] * 2), sequential)


@pytest.mark.parametrize("bad,error", [(0, ValueError), (-2, ValueError), (1.5, TypeError)])
def test_bad_n_threads(bad, error):
    with pytest.raises(error, match="n_threads"):
        fnn.MLP([2, 3, 1], n_threads=bad)


def test_n_threads_is_saved(tmp_path):
    model = fnn.MLP([2, 3, 1], n_threads=2)
    model.save(tmp_path / "m.npz")
    assert fnn.load(tmp_path / "m.npz").n_threads == 2


def test_small_and_large_models_trained_in_threads_match_training_alone():
    """Small-product models (whose steps could be tempted to change the process-wide BLAS
    thread count) trained beside a large one in Python threads: every model ends
    bit-identical to training it alone (a global thread switch would change the large
    model's rounding mid-training; this caught one)."""
    X, y = data(m=64, n=64, classes=10)
    Xb, yb = data(m=256, n=96, classes=5, seed=1)

    def train(kind):
        if kind == "small":
            model = fnn.MLP([64, 128, 64, 10], output="softmax", keep_prob=0.8, seed=1)
            model.fit(X, y, epochs=60, batch_size=32, optimizer=fnn.SGD(lr=0.05),
                      train_metrics="running")
        else:
            model = fnn.MLP([96, 512, 256, 5], output="softmax", seed=2)
            model.fit(Xb, yb, epochs=6, batch_size=128, optimizer=fnn.SGD(lr=0.05),
                      train_metrics="running")
        return model.params

    kinds = ["small", "small", "big"]
    alone = [train(kind) for kind in kinds]
    assert_same_params(in_threads([lambda kind=kind: train(kind) for kind in kinds]), alone)


# --------------------------------------------------------------------------- the contract
# Reads (predict, error, cost) may run in any number of threads at once; anything that
# changes the model needs it alone, and is refused with a RuntimeError otherwise.

def _training_in_another_thread(model, X, y):
    """Start model.fit in a thread that pauses inside an epoch (in a callback) until
    released; returns (thread, release, errors)."""
    inside, release, errors = threading.Event(), threading.Event(), []

    def pause(m, epoch, history):
        inside.set()
        release.wait(30)

    def train():
        try:
            model.fit(X, y, epochs=3, callbacks=pause)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    thread = threading.Thread(target=train)
    thread.start()
    assert inside.wait(30)
    return thread, release, errors


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_using_a_model_while_another_thread_trains_it_is_refused(backend):
    X, y = data(m=64)
    model = fnn.MLP([96, 16, 5], output="softmax", backend=backend)
    thread, release, errors = _training_in_another_thread(model, X, y)
    try:
        for call in (lambda: model.predict(X), lambda: model.cost(X, y),
                     lambda: model.fit(X, y, epochs=1), lambda: model.train_step(X, y, fnn.SGD()),
                     lambda: model.gradients(X, y), lambda: model.set_params(model.params)):
            with pytest.raises(RuntimeError, match="being trained or changed by another thread"):
                call()
    finally:
        release.set()
        thread.join(30)
    assert not errors and model.epoch_ == 3
    model.predict(X)  # and the model is free again


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_predictions_run_in_parallel_and_agree(backend):
    X, y = data(m=300)
    model = fnn.MLP([96, 64, 5], output="softmax", backend=backend, seed=2)
    model.fit(X, y, epochs=2, batch_size=64)
    expected = {m: model.predict_proba(X[:m]) for m in (1, 7, 300)}
    results, errors = [], []

    def predict(m):
        try:
            for _ in range(50):
                results.append((m, model.predict_proba(X[:m])))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=predict, args=(m,)) for m in (1, 7, 300, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(results) == 200
    for m, proba in results:
        np.testing.assert_array_equal(proba, expected[m])


def test_fit_inside_fit_is_refused_and_reads_are_allowed():
    X, y = data(m=64)
    model = fnn.MLP([96, 16, 5], output="softmax")
    seen = []

    def callback(m, epoch, history):
        seen.append(m.predict(X[:2]).shape)  # reading from inside the fit: fine
        with pytest.raises(RuntimeError, match="cannot run inside a fit"):
            m.fit(X, y, epochs=1)
        with pytest.raises(RuntimeError, match="cannot run inside a fit"):
            m.train_step(X, y, fnn.SGD())

    model.fit(X, y, epochs=2, callbacks=callback)
    assert seen == [(2,), (2,)]


def test_the_use_guard_unwinds_every_nesting_and_refusal():
    """The guard's contexts keep no state of their own: what an exit undoes follows from
    the guard's state, through nested reads and writes, a refused nested training write,
    and exceptions raised inside."""
    from fastnn.model.guard import UseGuard
    guard = UseGuard()

    def state():
        return guard.state()

    idle = state()
    with guard.reading(), guard.reading():
        assert state()[0] == 2
        with pytest.raises(RuntimeError, match="being read"):
            with guard.writing():
                pass  # a write cannot start inside this thread's own read
    assert state() == idle
    with guard.writing(training=True):
        with guard.writing(), guard.reading():
            assert state()[0:2] == (0, 2) and state()[3]
        with pytest.raises(RuntimeError, match="cannot run inside a fit"):
            with guard.writing(training=True):
                pass
        assert state()[1] == 1 and state()[3]
    assert state() == idle
    with pytest.raises(KeyError):
        with guard.writing(training=True), guard.writing(), guard.reading():
            raise KeyError("inside")
    assert state() == idle
    errors = []

    def other_thread():
        for context in (guard.reading(), guard.writing(), guard.writing(training=True)):
            try:
                with context:
                    pass
            except RuntimeError as exc:
                errors.append(str(exc))

    with guard.writing():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(30)
    assert len(errors) == 3 and all("another thread" in e for e in errors)
    assert state() == idle
    for context in (guard.reading(), guard.writing(), guard.writing(training=True)):
        context.__exit__(None, None, None)  # exits without entries leave it usable
    assert state() == idle
    with guard.writing(training=True):
        pass


def test_openblas_libraries_are_capped_through_the_native_binding():
    """Every OpenBLAS library threadpoolctl reports is bound natively (no ctypes on the
    path of a capped call), and the cap sets and puts back each library's count."""
    from fastnn.blocks import threads
    if threads.native is None:
        pytest.skip("the native binding is not built on this platform")
    threads._find_libraries()
    openblas = [i for i in threadpool_info()
                if i["user_api"] == "blas" and i["internal_api"] == "openblas"]
    assert threads.native.bound() == len(openblas)
    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    with threads.blas_threads(1):
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
        assert set(threads.current_threads()) == {1}
        with threads.blas_threads(2):  # nested caps unwind in order
            assert set(threads.current_threads()) == {2}
        assert set(threads.current_threads()) == {1}
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before


def test_the_native_binding_takes_no_bad_argument():
    """It binds only libraries already loaded that export OpenBLAS's pair, and refuses
    thread counts out of range before it changes anything."""
    from fastnn.blocks import threads
    if threads.native is None:
        pytest.skip("the native binding is not built on this platform")
    native = threads.native
    threads._find_libraries()
    n = native.bound()
    if n == 0:
        pytest.skip("no OpenBLAS library in this process")
    assert native.bind("/nonexistent/libopenblas.so") is False
    assert native.bind("libm.so.6") is False  # loaded, but no OpenBLAS functions
    assert native.bind("lib\0openblas") is False
    assert native.bound() == n
    counts = native.counts()
    for bad in (0, -1, 5000, 2**31 - 1):
        with pytest.raises(ValueError, match="n must be in"):
            native.Cap(bad)
    with pytest.raises(OverflowError):
        native.Cap(2**40)
    cap = native.Cap(1)
    cap.__exit__(None, None, None)  # an exit without an entry changes nothing
    assert native.counts() == counts
    with cap:
        assert set(native.counts()) == {1}
    assert native.counts() == counts
