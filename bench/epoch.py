"""One training epoch of the mnist network: fastnn's ``fit`` vs PyTorch vs scikit-learn.

8,192 training examples in minibatches of 128 (reshuffled), then an evaluation of a
1,024-example dev set, all float32, L2 lambda = 0.7, plain SGD (lr 0.01):

- fastnn: ``model.fit(X, y, epochs=1, batch_size=128, dev=(X_dev, y_dev), optimizer=SGD,
  train_metrics="running")``, which also validates the arrays and records the History
  (dev cost and error, and the training figures averaged over the minibatch steps, as
  PyTorch loops and scikit-learn's ``loss_curve_`` do);
- fastnn-full-history (informative): the same ``fit`` with its default
  ``train_metrics="full"``, which also evaluates the whole training set, dropout off,
  every epoch: the exact train cost and error the notes' bias/variance reading uses,
  work the other two do not do;
- PyTorch: a plain loop, ``torch.randperm`` batching (no DataLoader), SGD with
  ``weight_decay = lambda/128`` on the weights, then the dev set under ``no_grad``;
- scikit-learn: ``MLPClassifier(solver="sgd", momentum=0, alpha=lambda)`` (its alpha is
  the course's lambda: ``alpha/(2 m) ||W||^2``), one epoch by ``partial_fit``
  (``max_iter=1``, shuffle on), then ``predict_proba`` of the dev set.  It has no
  dropout, so it is compared at keep_prob 1.0 only.

``bench/public.py`` times the epoch with ``fit``'s defaults (Adam, minibatches of 64,
no regularization) against PyTorch and scikit-learn epochs with the same optimizer and
batches: see :func:`defaults_callables`.
"""
import inspect
import warnings

import numpy as np

import fastnn as fnn
from bench import configs, torch_step

LAYERS = (784, 256, 256, 10)
M_TRAIN, M_DEV, BATCH = 8192, 1024, 128

try:
    from sklearn.neural_network import MLPClassifier
except ImportError:
    MLPClassifier = None


def sklearn_available():
    return MLPClassifier is not None


def sklearn_version():
    if MLPClassifier is None:
        return None
    import sklearn
    return sklearn.__version__


def epoch_data(seed=0):
    """((X, y), (X_dev, y_dev)): float32 standard normal inputs, integer labels."""
    X, y = configs.synthetic_data(LAYERS, "softmax", M_TRAIN + M_DEV, seed)
    X = X.astype(np.float32)
    return (X[:M_TRAIN], y[:M_TRAIN]), (X[M_TRAIN:], y[M_TRAIN:])


class FastnnEpoch:
    """A callable: ``model.fit(X, y, epochs=1, dev=(X_dev, y_dev), **options)`` (batches
    of 128 unless `options` say otherwise), one epoch with its dev evaluation (training
    continues each call)."""

    def __init__(self, model, train, dev, **options):
        self.model, self.train, self.dev = model, train, dev
        self.options = {"batch_size": BATCH, **options}

    def __call__(self):
        history = self.model.fit(*self.train, epochs=1, dev=self.dev, **self.options)
        return history["dev_error"][-1]


def regularized_epoch(train, dev, keep_prob, seed=0, train_metrics="running"):
    """The fastnn epoch of this module's table: L2 0.7, `keep_prob`, SGD(lr=0.01) given
    explicitly, and `train_metrics`."""
    model = fnn.MLP(list(LAYERS), activation="relu", output="softmax", keep_prob=keep_prob,
                    l2=configs.L2, dtype=configs.DTYPE, seed=seed)
    return FastnnEpoch(model, train, dev, optimizer=fnn.SGD(lr=configs.LEARNING_RATE),
                       train_metrics=train_metrics)


class TorchEpoch:
    """A callable: one epoch of a plain PyTorch loop, then the dev pass under no_grad.
    `l2` is the course's lambda (SGD's weight decay lambda/128 on the weights)."""

    def __init__(self, train, dev, keep_prob, seed=0, l2=configs.L2):
        torch, nn = torch_step.torch, torch_step.nn
        torch.manual_seed(seed)
        self.torch = torch
        self.net = torch_step.build_network(LAYERS, keep_prob)
        self.X, self.y = torch.from_numpy(train[0]), torch.from_numpy(train[1]).long()
        self.X_dev, self.y_dev = torch.from_numpy(dev[0]), torch.from_numpy(dev[1]).long()
        self.loss = nn.CrossEntropyLoss()
        linears = [layer for layer in self.net if isinstance(layer, nn.Linear)]
        self.optimizer = torch.optim.SGD(
            [{"params": [layer.weight for layer in linears], "weight_decay": l2 / BATCH},
             {"params": [layer.bias for layer in linears], "weight_decay": 0.0}],
            lr=configs.LEARNING_RATE)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self):
        torch, net, optimizer = self.torch, self.net, self.optimizer
        net.train()
        order = torch.randperm(len(self.X), generator=self.generator)
        for start in range(0, len(self.X), BATCH):
            index = order[start:start + BATCH]
            optimizer.zero_grad()
            self.loss(net(self.X[index]), self.y[index]).backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            logits = net(self.X_dev)
            self.loss(logits, self.y_dev).item()
            return (logits.argmax(dim=1) != self.y_dev).float().mean().item()


class SklearnEpoch:
    """A callable: one ``partial_fit`` epoch of MLPClassifier, then dev predict_proba.
    `l2` is the course's lambda (scikit-learn's alpha); by default plain SGD at this
    module's rate on batches of 128, else the `solver`, `batch_size` and
    `learning_rate_init` given."""

    def __init__(self, train, dev, seed=0, l2=configs.L2, solver="sgd", batch_size=BATCH,
                 learning_rate_init=configs.LEARNING_RATE):
        self.clf = MLPClassifier(hidden_layer_sizes=LAYERS[1:-1], activation="relu",
                                 solver=solver, alpha=l2, batch_size=batch_size,
                                 learning_rate="constant",
                                 learning_rate_init=learning_rate_init, momentum=0.0,
                                 max_iter=1, shuffle=True, early_stopping=False,
                                 random_state=seed)
        self.train, self.dev = train, dev
        self.classes = np.arange(LAYERS[-1])
        self.started = False

    def __call__(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.started:
                self.clf.partial_fit(*self.train)
            else:
                self.clf.partial_fit(*self.train, classes=self.classes)
                self.started = True
            proba = self.clf.predict_proba(self.dev[0])
        return float(np.mean(proba.argmax(axis=1) != self.dev[1]))


def epoch_callables(seed=0):
    """{label: callable} of every epoch implementation available here.

    Labels: "fastnn kp1", "fastnn kp0.8", "torch kp1", "torch kp0.8", "sklearn kp1", and
    the informative "fastnn-full-history kp1", "fastnn-full-history kp0.8" (fit's default
    History: the whole training set evaluated as well).
    """
    train, dev = epoch_data(seed)
    fns = {}
    for keep in configs.KEEP_PROBS:
        fns[f"fastnn kp{keep:g}"] = regularized_epoch(train, dev, keep, seed)
        fns[f"fastnn-full-history kp{keep:g}"] = regularized_epoch(train, dev, keep, seed,
                                                                   "full")
        if torch_step.available():
            fns[f"torch kp{keep:g}"] = TorchEpoch(train, dev, keep, seed)
    if sklearn_available():
        fns["sklearn kp1"] = SklearnEpoch(train, dev, seed)
    return fns


def defaults_callables(seed=0):
    """{"fastnn": ..., "torch": ..., "sklearn": ...}: the epoch with ``fit``'s defaults,
    ``fnn.MLP([784, 256, 256, 10], output="softmax").fit(X, y, epochs=1,
    dev=(X_dev, y_dev))`` (relu, float32, no regularization or dropout, Adam(lr=0.001),
    minibatches of 64, the History's train figures averaged over the steps), and the
    PyTorch and scikit-learn epochs of the same net, optimizer and batches (those
    available here)."""
    train, dev = epoch_data(seed)
    fit = inspect.signature(fnn.MLP.fit).parameters
    batch, lr = fit["batch_size"].default, fnn.Adam().lr
    fns = {"fastnn": FastnnEpoch(fnn.MLP(list(LAYERS), output="softmax", seed=seed), train,
                                 dev, batch_size=batch)}
    if torch_step.available():
        fns["torch"] = torch_step.TorchAdamEpoch(LAYERS, "softmax", *train, batch, lr, dev,
                                                 seed)
    if sklearn_available():
        fns["sklearn"] = SklearnEpoch(train, dev, seed, l2=0.0, solver="adam",
                                      batch_size=batch, learning_rate_init=lr)
    return fns


EPOCH_GOAL = 1.3  # fastnn at least 1.3x faster than PyTorch and than scikit-learn


def section(threads, repeat, markdown, warmup=0.2, seed=0):
    """(lines, outcomes): the epoch times at `threads` threads and their targets."""
    from bench.report import format_ratio, format_table, format_time, ratio, title
    from bench.steps import median_times
    from bench.targets import Outcome

    # Each call lasts a tenth of a second or more: one call as warm-up is enough.
    times = median_times(epoch_callables(seed), repeat=repeat, min_time=0.0,
                         warmup=min(warmup, 0.05))
    rows, outcomes = [], []
    for label, seconds in times.items():
        impl, keep = label.split(" kp")
        rows.append((impl, keep, format_time(seconds),
                     format_ratio(ratio(seconds, times[f"fastnn kp{keep}"]))))
    where = f"mnist epoch, {M_TRAIN} + dev {M_DEV}, b{BATCH}"
    for keep in configs.KEEP_PROBS:
        fast = times[f"fastnn kp{keep:g}"]
        outcomes.append(Outcome("epoch vs PyTorch", f"{where}, keep {keep:g}", str(threads),
                                ratio(times.get(f"torch kp{keep:g}"), fast), EPOCH_GOAL))
        outcomes.append(Outcome("epoch vs PyTorch, fit with the full-training-set History",
                                f"{where}, keep {keep:g}", str(threads),
                                ratio(times.get(f"torch kp{keep:g}"),
                                      times[f"fastnn-full-history kp{keep:g}"]), EPOCH_GOAL,
                                note="informative: also evaluates all 8192 training "
                                     "examples, which PyTorch does not", informative=True))
    outcomes.append(Outcome("epoch vs scikit-learn", f"{where}, keep 1 (no dropout in sklearn)",
                            str(threads), ratio(times.get("sklearn kp1"), times["fastnn kp1"]),
                            EPOCH_GOAL))
    outcomes.append(Outcome("epoch vs scikit-learn, fit with the full-training-set History",
                            f"{where}, keep 1", str(threads),
                            ratio(times.get("sklearn kp1"), times["fastnn-full-history kp1"]),
                            EPOCH_GOAL, note="informative: also evaluates all 8192 training "
                            "examples, which scikit-learn does not", informative=True))
    lines = [title(f"one mnist epoch ({M_TRAIN} examples, batch {BATCH}, shuffled, + dev "
                   f"evaluation of {M_DEV}), {threads} thread(s), medians of {repeat}", markdown),
             ""] + format_table(("implementation", "keep", "epoch", "time / fastnn fit's"), rows,
                                markdown, left=2) + [""]
    return lines, outcomes
