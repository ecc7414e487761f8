"""pytest-benchmark suite of the public calls (``bench/public.py``), each in a group with
what it is compared with: ``fit`` on the course net beside the course's NumPy Adam
epoch and a PyTorch minibatch epoch (EPOCHS epochs per call each), ``model.train_step``
beside its bare step and its ``n_threads=1`` twin, ``predict_proba`` of one row beside
NumPy's and PyTorch's forward passes.  Nothing here asserts a time; the plain tests at
the end check that each baseline computes what fastnn computes.
"""
import numpy as np
import pytest

import fastnn as fnn
from bench import public, torch_step
from bench.course_numpy import CourseAdamEpoch
from bench.targets import public_goal

EPOCHS = 100  # per timed call, for every implementation of the course net's epoch


@pytest.fixture(scope="module")
def course():
    X, y, _ = public.course_data()
    return X, y


def repeated(fn, n):
    """A callable calling `fn` n times."""
    def calls():
        for _ in range(n):
            fn()
    return calls


def course_epoch_callables(X, y):
    """{label: callable}, each EPOCHS epochs of the course net."""
    fns = {"fit": public.CourseFit(X, y, EPOCHS),
           "numpy": repeated(CourseAdamEpoch(public.COURSE_SIZES, X, y, public.DEFAULT_LR,
                                             public.DEFAULT_BATCH), EPOCHS)}
    if torch_step.available():
        fns["torch"] = repeated(torch_step.TorchAdamEpoch(
            public.COURSE_SIZES, "sigmoid", X, y, public.DEFAULT_BATCH, public.DEFAULT_LR),
            EPOCHS)
    return fns


@pytest.mark.parametrize("label", ["fit", "numpy", "torch"])
def test_course_epochs(benchmark, course, label):
    """EPOCHS epochs of the course net with fit's defaults: fastnn, NumPy, PyTorch."""
    fns = course_epoch_callables(*course)
    if label not in fns:
        pytest.skip("torch is not installed")
    benchmark.group = f"course-{EPOCHS}-epochs"
    benchmark(fns[label])


@pytest.mark.parametrize("label", ["train_step", "train_step float64", "bare",
                                   "train_step n_threads=1"])
def test_course_step(benchmark, course, label):
    """``model.train_step`` on the course net, its bare step, and with n_threads=1."""
    benchmark.group = "course-step"
    benchmark(public.step_callables(*course)[label])


@pytest.mark.parametrize("label", ["fnn 1", "fnn 1 n_threads=1", "numpy 1", "torch 1"])
def test_predict_one_row(benchmark, label):
    """``predict_proba`` of one row of the [784, 256, 256, 10] net, and the others'."""
    fastnn_calls, others = public.predict_callables()
    fns = {**fastnn_calls, **others}
    if label not in fns:
        pytest.skip("torch is not installed")
    benchmark.group = "predict-1-row"
    benchmark(fns[label])


def test_course_adam_epoch_is_fastnn_fit(course):
    """From the same weights, full-batch epochs of the course's NumPy Adam loop update
    as fit's default optimizer does, and its first cost is fastnn's."""
    X, y = course
    epoch = CourseAdamEpoch(public.COURSE_SIZES, X, y, public.DEFAULT_LR, len(X))
    model = fnn.MLP(list(public.COURSE_SIZES))
    model.set_params({name: value.reshape(-1) if name.startswith("b") else value
                      for name, value in epoch.parameters.items()})
    first_cost = model.train_step(X, y, fnn.Adam(lr=public.DEFAULT_LR))
    assert np.isclose(epoch(), first_cost, rtol=1e-5)
    model.fit(X, y, epochs=4, batch_size=None)  # resumes the same Adam
    for _ in range(4):
        epoch()
    for name, value in model.params.items():
        np.testing.assert_allclose(epoch.parameters[name].reshape(value.shape), value,
                                   rtol=1e-4, atol=1e-5)


def test_forward_passes_compute_predict_proba():
    """NumPy's and PyTorch's forward passes give the model's probabilities."""
    fastnn_calls, others = public.predict_callables()
    for n in (1, 64):
        expected = fastnn_calls[f"fnn {n}"]()
        for name in ("numpy", "torch"):
            if f"{name} {n}" in others:
                np.testing.assert_allclose(others[f"{name} {n}"](), expected, rtol=1e-4,
                                           atol=1e-6)


def test_ratios_read_as_their_goals_say():
    """A speed-up goal reads other / fastnn, an "at most" goal fastnn / other."""
    faster = public.Comparison(public_goal("fit_vs_numpy"), fastnn=1.0, other=12.0)
    within = public.Comparison(public_goal("train_step"), fastnn=3.0, other=2.0)
    assert faster.measured == 12.0 and faster.outcome(1).met
    assert within.measured == 1.5 and within.outcome(1).met
    assert public.Comparison(within.goal, 1.0, None).outcome(1).met is None
