"""One set of training defaults (fastnn/blocks/defaults.py) behind every face that trains:
MLP, MLP.fit, fnn.search and `fastnn train` agree, and the course's gradient descent
stays one argument away."""
import inspect

import numpy as np
import pytest

import fastnn as fnn
from fastnn.blocks import defaults
from fastnn.cli import build_parser


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(float)


def test_fit_trains_with_adam_on_minibatches_of_64_by_default(data):
    X, y = data
    model = fnn.MLP([2, 8, 1])
    history = model.fit(X, y, epochs=2)
    assert model.optimizer_.name == "adam" and model.optimizer_.lr == 0.001
    assert model.step_ == 2 * 4  # 200 examples: batches of 64, 64, 64 and 8 per epoch
    assert len(history["train_cost"]) == 2
    assert model.dtype == np.float32 and model.seed == 0


def test_the_courses_gradient_descent_is_one_argument_away(data):
    X, y = data
    model = fnn.MLP([2, 8, 1])
    model.fit(X, y, epochs=3, optimizer=fnn.SGD(lr=0.3), batch_size=None)
    assert model.optimizer_.name == "sgd" and model.step_ == 3


def test_a_small_training_set_is_one_full_batch(data):
    X, y = data
    model = fnn.MLP([2, 8, 1])
    model.fit(X[:defaults.BATCH_SIZE], y[:defaults.BATCH_SIZE], epochs=5)
    assert model.step_ == 5


def test_every_face_reads_the_same_defaults():
    fit = inspect.signature(fnn.MLP.fit).parameters
    assert fit["batch_size"].default == defaults.BATCH_SIZE == 64
    assert fit["epochs"].default == defaults.EPOCHS == 100
    init = inspect.signature(fnn.MLP).parameters
    assert init["dtype"].default == defaults.DTYPE and init["seed"].default == defaults.SEED
    _, commands = build_parser()
    train = commands["train"].parse_args(["data.csv"])
    assert (train.optimizer, train.batch_size, train.epochs, train.dtype, train.seed) == (
        defaults.OPTIMIZER, defaults.BATCH_SIZE, defaults.EPOCHS, defaults.DTYPE,
        defaults.SEED)
    assert train.lr is None  # the optimizer class's own default rate, as in the library


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "rmsprop", "adamw"])
def test_the_cli_and_the_library_share_each_optimizers_rate(name):
    from fastnn.blocks.optim import OPTIMIZERS
    from fastnn.cli import _optimizer
    assert _optimizer(name, None).lr == OPTIMIZERS[name]().lr
