"""The training loop: epochs of minibatch steps, with a History of the costs and errors."""
import numpy as np

from fastnn.data import minibatches
from fastnn.losses import error_rate
from fastnn.optim import SGD, Optimizer
from fastnn._validation import check_int


class History(dict):
    """Per-epoch figures of a fit: ``history["train_cost"]`` is a list, one value per epoch.

    Keys: "epoch", "train_cost" (data cost + regularisation, averaged over the epoch's
    batches, dropout on as trained), and when a dev set is given "dev_cost", "dev_error".
    """

    def __init__(self):
        super().__init__(epoch=[], train_cost=[])

    def record(self, **values):
        for name, value in values.items():
            self.setdefault(name, []).append(value)


def fit(model, X, y, epochs=100, optimizer=None, batch_size=None, dev=None):
    """Train `model` on (X, y) with minibatch gradient descent.

    Parameters
    ----------
    model : MLP
    X : array (m, n_x)
    y : array (m,) or (m, n_L), as the model's output layer expects
    epochs : int, default 100
        Passes over the data; with ``batch_size=None`` one full-batch update each (the
        course's iterations).
    optimizer : Optimizer, default SGD(lr=0.01)
    batch_size : int or None, default None (full batch)
    dev : (X_dev, y_dev) or None
        Evaluated after each epoch with dropout off.

    Returns
    -------
    History
    """
    X, y = model._check_Xy(X, y)
    epochs = check_int("epochs", epochs, low=0)
    if optimizer is None:
        optimizer = SGD(lr=0.01)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastnn optimizer (SGD, Momentum, Adam), got {optimizer!r}")
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=1)
    if dev is not None:
        dev = model._check_Xy(*dev, names=("dev[0]", "dev[1]"))
    rng = np.random.default_rng([model.seed, 1])
    history = History()
    m = X.shape[0]
    for epoch in range(epochs):
        total = 0.0
        for idx in minibatches(m, batch_size, rng):
            Xb, yb = (X, y) if len(idx) == m else (X[idx], y[idx])
            total += (model._train_step(Xb, yb, optimizer)
                      + model._regularization_cost(len(idx))) * len(idx)
        history.record(epoch=epoch + 1, train_cost=total / m)
        if dev is not None:
            history.record(dev_cost=model._cost(*dev),
                           dev_error=error_rate(model.output, model._output(dev[0]), dev[1]))
    return history
