"""Learning-rate decay: the course's formulas, History["lr"], runs of epochs that stay in
native code, saving and resuming, and PyTorch's schedulers as the oracle."""
import math

import numpy as np
import pytest

import fastnn as fnn
from fastnn.blocks.schedules import as_schedule, rates
from fastnn.datasets import make_moons


def _data(m=120, seed=0):
    X, y = make_moons(m=m, noise=0.2, seed=seed)
    Xd, yd = make_moons(m=60, noise=0.2, seed=seed + 1)
    return X, y, Xd, yd


def test_the_course_formulas():
    """alpha = alpha_0 / (1 + decay_rate * epoch_num), its fixed-interval variant, and
    alpha = 0.95**epoch_num * alpha_0; the first epoch (index 0) runs at alpha_0."""
    np.testing.assert_allclose(rates(fnn.InverseTimeDecay(1.0), 0, 4, 0.2),
                               [0.2, 0.1, 0.2 / 3, 0.05])
    np.testing.assert_allclose(rates(fnn.InverseTimeDecay(0.5, every=3), 0, 7, 1.0),
                               [1, 1, 1, 1 / 1.5, 1 / 1.5, 1 / 1.5, 0.5])
    np.testing.assert_allclose(rates(fnn.ExponentialDecay(0.95), 0, 3, 0.2),
                               [0.2, 0.19, 0.2 * 0.95**2])
    # Inverse scaling, scikit-learn's invscaling with 100 examples an epoch and power_t 0.5.
    np.testing.assert_allclose(rates(fnn.InverseTimeDecay(100, power=0.5), 0, 3, 0.1),
                               [0.1, 0.1 / 101**0.5, 0.1 / 201**0.5])
    np.testing.assert_allclose(rates(as_schedule(lambda e: 0.1 / (e + 1)), 2, 2, 9.0),
                               [0.1 / 3, 0.1 / 4])
    np.testing.assert_array_equal(rates(None, 5, 3, 0.3), [0.3, 0.3, 0.3])


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("batch_size", [None, 32])
def test_history_records_each_epochs_rate_and_the_steps_use_it(backend, batch_size):
    """History["lr"] is the rate each epoch ran at, and the steps ran at it: the same
    epochs taken one fit per epoch with SGD at that rate reach the same weights."""
    X, y, _, _ = _data()
    schedule = fnn.InverseTimeDecay(0.5)
    model = fnn.MLP([2, 8, 1], backend=backend, seed=3, dtype="float64")
    history = model.fit(X, y, epochs=6, batch_size=batch_size, optimizer=fnn.SGD(0.4),
                        lr_schedule=schedule)
    expected = [0.4 / (1 + 0.5 * e) for e in range(6)]
    np.testing.assert_allclose(history["lr"], expected)
    by_hand = fnn.MLP([2, 8, 1], backend=backend, seed=3, dtype="float64")
    for lr in expected:
        by_hand.fit(X, y, epochs=1, batch_size=batch_size, optimizer=fnn.SGD(lr))
    for name, value in by_hand.params.items():
        np.testing.assert_allclose(model.params[name], value, rtol=1e-13, err_msg=name)


def test_a_schedule_of_the_epoch_keeps_the_epochs_in_one_native_run():
    """With a schedule of the epoch index alone, fit asks the runner once for all the
    epochs (at most its time-slicing splits them); ReduceLROnPlateau needs one run per
    evaluated epoch."""
    X, y, Xd, yd = _data()
    for schedule, most in ((fnn.ExponentialDecay(0.99), 3), (fnn.ReduceLROnPlateau(), 40)):
        model = fnn.MLP([2, 8, 1], seed=0)
        calls = []
        make_runner = model.engine.runner

        def counting(spec, make_runner=make_runner):
            runner = make_runner(spec)
            run = runner.run

            class Counted:
                def __getattr__(self, name):
                    return getattr(runner, name)

                def run(self, n, orders, lrs, records):
                    calls.append(n)
                    return run(n, orders, lrs, records)
            return Counted()

        model.engine.runner = counting
        model.fit(X, y, dev=(Xd, yd), epochs=40, optimizer=fnn.SGD(0.1), lr_schedule=schedule)
        assert sum(calls) == 40 and len(calls) <= most, (schedule, calls)


def test_reduce_on_plateau_reduces_after_patience_and_stops_at_min_lr():
    X, y, Xd, yd = _data()
    plateau = fnn.ReduceLROnPlateau(monitor="dev_cost", factor=0.5, patience=2, min_lr=0.05)
    model = fnn.MLP([2, 8, 1], seed=0)
    history = model.fit(X, y, dev=(Xd, yd), epochs=60, optimizer=fnn.SGD(3.0),
                        lr_schedule=plateau)  # a rate this high makes dev_cost bounce
    lrs, costs = history["lr"], history["dev_cost"]
    best, wait, lr = math.inf, 0, 3.0
    for epoch, (ran_at, cost) in enumerate(zip(lrs, costs)):
        assert ran_at == pytest.approx(lr), epoch
        if cost < best:
            best, wait = cost, 0
        else:
            wait += 1
            if wait > 2:
                lr, wait = max(lr * 0.5, 0.05), 0
    assert min(lrs) < 3.0


@pytest.mark.parametrize("make", [lambda: fnn.ExponentialDecay(0.9),
                                  lambda: fnn.InverseTimeDecay(0.3, every=2),
                                  lambda: fnn.ReduceLROnPlateau(patience=1, factor=0.5)])
def test_schedules_are_saved_and_resume_exactly(tmp_path, make):
    X, y, Xd, yd = _data()
    straight = fnn.MLP([2, 8, 1], seed=1)
    straight.fit(X, y, dev=(Xd, yd), epochs=16, optimizer=fnn.Adam(0.05), lr_schedule=make())
    first = fnn.MLP([2, 8, 1], seed=1)
    first.fit(X, y, dev=(Xd, yd), epochs=9, optimizer=fnn.Adam(0.05), lr_schedule=make())
    first.save(tmp_path / "m.npz")
    resumed = fnn.load(tmp_path / "m.npz")
    assert type(resumed.lr_schedule_) is type(first.lr_schedule_)
    history = resumed.fit(X, y, dev=(Xd, yd), epochs=7)  # optimizer and schedule go on
    assert history["epoch"][0] == 10
    for name, value in straight.params.items():
        np.testing.assert_array_equal(resumed.params[name], value, err_msg=name)


@pytest.mark.parametrize("bad, error", [(lambda e: -0.1, ValueError),
                                        (lambda e: float("nan"), ValueError),
                                        (lambda e: "fast", ValueError),
                                        (3, TypeError)])
def test_bad_schedules_are_refused_before_training(bad, error):
    X, y, _, _ = _data()
    model = fnn.MLP([2, 8, 1], seed=0)
    before = model.params
    with pytest.raises(error, match="lr_schedule"):
        model.fit(X, y, epochs=3, lr_schedule=bad)
    for name, value in before.items():
        np.testing.assert_array_equal(model.params[name], value)
    assert model.epoch_ == 0


@pytest.mark.parametrize("bad", [dict(decay_rate=-1), dict(decay_rate=1, every=0),
                                 dict(decay_rate=1, power=-0.5)])
def test_bad_schedule_arguments(bad):
    with pytest.raises(ValueError):
        fnn.InverseTimeDecay(**bad)
    with pytest.raises(ValueError, match="rate"):
        fnn.ExponentialDecay(1.5)
    with pytest.raises(ValueError, match="factor"):
        fnn.ReduceLROnPlateau(factor=1.0)


# --------------------------------------------------------------------------- PyTorch



@pytest.fixture
def pytorch():
    return pytest.importorskip("torch")


def _torch_twin(model, torch):
    params = model.params
    first, second = torch.nn.Linear(2, 8).double(), torch.nn.Linear(8, 1).double()
    with torch.no_grad():
        for linear, l in ((first, 1), (second, 2)):
            linear.weight.copy_(torch.from_numpy(params[f"W{l}"]))
            linear.bias.copy_(torch.from_numpy(params[f"b{l}"]))
    return torch.nn.Sequential(first, torch.nn.ReLU(), second)


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["inverse_time", "exponential", "plateau"])
def test_schedules_match_pytorchs_schedulers(pytorch, kind, backend, dtype):
    torch = pytorch
    X, y, Xd, yd = _data()
    model = fnn.MLP([2, 8, 1], backend=backend, dtype=dtype, seed=4)
    net = _torch_twin(model.astype("float64"), torch)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    ours = {"inverse_time": fnn.InverseTimeDecay(0.4, every=2),
            "exponential": fnn.ExponentialDecay(0.9),
            "plateau": fnn.ReduceLROnPlateau(monitor="dev_cost", factor=0.5, patience=1)}[kind]
    if kind == "inverse_time":
        theirs = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1 / (1 + 0.4 * (e // 2)))
    elif kind == "exponential":
        theirs = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    else:
        theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.5, patience=1, threshold=0.0, threshold_mode="abs")
    model.fit(X, y, dev=(Xd, yd), epochs=12, optimizer=fnn.SGD(0.5), lr_schedule=ours,
              batch_size=None)
    loss = torch.nn.BCEWithLogitsLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(float)).reshape(-1, 1)
    Xdt, ydt = torch.from_numpy(Xd), torch.from_numpy(yd.astype(float)).reshape(-1, 1)
    for _ in range(12):
        optimizer.zero_grad()
        loss(net(Xt), yt).backward()
        optimizer.step()
        if kind == "plateau":
            with torch.no_grad():
                theirs.step(loss(net(Xdt), ydt).item())
        else:
            theirs.step()
    tolerance = dict(rtol=1e-9, atol=1e-11) if dtype == "float64" else dict(rtol=2e-4, atol=2e-5)
    for l, linear in ((1, net[0]), (2, net[2])):
        np.testing.assert_allclose(model.params[f"W{l}"], linear.weight.detach().numpy(),
                                   **tolerance)
        np.testing.assert_allclose(model.params[f"b{l}"], linear.bias.detach().numpy(),
                                   **tolerance)
