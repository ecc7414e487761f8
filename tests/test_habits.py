"""Habits users bring from Keras, PyTorch and scikit-learn: another library's name gets
an error naming fastnn's, and a few of their spellings simply work."""
import numpy as np
import pytest

import fastnn as fnn


@pytest.fixture
def digits_like():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 8)), rng.integers(0, 3, 40)


@pytest.mark.parametrize("keyword, value, pointer", [
    ("validation_data", None, "dev=(X_dev, y_dev)"),
    ("validation_split", 0.2, "fnn.split"),
    ("max_iter", 5, "epochs="),
    ("learning_rate", 0.1, "optimizer=fnn.Adam(lr=...)"),
    ("initial_epoch", 3, "epoch_"),
])
def test_fit_names_fastnns_argument_for_another_librarys(digits_like, keyword, value,
                                                         pointer):
    X, y = digits_like
    model = fnn.MLP([8, 5, 3], output="softmax")
    with pytest.raises(TypeError, match=f"'{keyword}': that is another library's name"):
        model.fit(X, y, **{keyword: value})
    with pytest.raises(TypeError) as info:
        model.fit(X, y, **{keyword: value})
    assert pointer in str(info.value)
    assert model.epoch_ == 0


def test_fit_lists_its_arguments_for_an_unknown_one(digits_like):
    X, y = digits_like
    with pytest.raises(TypeError, match="'epoch'; it takes .*epochs"):
        fnn.MLP([8, 5, 3], output="softmax").fit(X, y, epoch=3)


@pytest.mark.parametrize("name, cls", [("adam", fnn.Adam), ("SGD", fnn.SGD),
                                       ("rmsprop", fnn.RMSprop), ("adamw", fnn.AdamW),
                                       ("momentum", fnn.Momentum)])
def test_fit_takes_an_optimizers_name_with_its_defaults(digits_like, name, cls):
    X, y = digits_like
    model = fnn.MLP([8, 5, 3], output="softmax")
    model.fit(X, y, epochs=2, optimizer=name)
    assert type(model.optimizer_) is cls
    assert model.optimizer_.hyperparameters() == cls().hyperparameters()
    with pytest.raises(ValueError, match="optimizer must be one of"):
        model.fit(X, y, epochs=1, optimizer="lbfgs")


@pytest.mark.parametrize("cls, keyword, pointer", [
    (fnn.Adam, "learning_rate", "lr="), (fnn.Adam, "beta_1", "beta1="),
    (fnn.AdamW, "eps", "epsilon="), (fnn.RMSprop, "rho", "beta="),
    (fnn.RMSprop, "alpha", "beta="), (fnn.SGD, "momentum", "fnn.Momentum"),
    (fnn.SGD, "nesterov", "no Nesterov"),
])
def test_optimizers_name_fastnns_argument(cls, keyword, pointer):
    with pytest.raises(TypeError, match=f"{cls.__name__}\\(\\) got an unexpected keyword "
                                        f"argument '{keyword}'") as info:
        cls(**{keyword: 0.5})
    assert pointer in str(info.value)
    with pytest.raises(TypeError, match="it takes"):
        cls(learning_rte=0.1)


@pytest.mark.parametrize("keras, ours", [("val_loss", "dev_cost"), ("val_accuracy", "dev_error"),
                                         ("loss", "train_cost"), ("accuracy", "train_error")])
def test_monitors_under_keras_names_get_fastnns(keras, ours):
    for build in (lambda m: fnn.EarlyStopping(monitor=m),
                  lambda m: fnn.ReduceLROnPlateau(monitor=m)):
        with pytest.raises(ValueError, match=f"'{keras}' is Keras' name; .* {ours}"):
            build(keras)


def test_integer_classes_for_several_sigmoid_units_point_at_softmax(digits_like):
    X, y = digits_like
    with pytest.raises(ValueError) as info:
        fnn.MLP([8, 5, 3]).fit(X, y)
    message = str(info.value)
    assert "must have shape (40, 3) for 3 sigmoid output unit(s)" in message
    assert "output='softmax'" in message
    assert "(40,) or" not in message  # (40,) is not a shape 3 sigmoid units take
