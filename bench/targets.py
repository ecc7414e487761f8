"""The targets of issues 5, 13 and 14 as one table: what was measured, the goal, met or not.

Every measurement module returns :class:`Outcome` rows; ``run.py`` gathers them and
prints them last.  A target that could not be measured (PyTorch or scikit-learn missing,
a configuration left out) is listed as "not measured", never as met.

Issue 5's per-step goals sit with their configurations (``bench/configs.py``); issue
13's public-path goals are the rows of :data:`PUBLIC_GOALS` below, each naming the call a
user makes and what it is compared with (measured by ``bench/public.py``).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """One target checked at one place.

    `measured` is the ratio (None when it could not be measured); the goal is
    ``measured >= bound`` when `higher_is_better`, else ``measured <= bound``.
    """

    target: str
    where: str
    threads: str
    measured: float
    bound: float
    higher_is_better: bool = True
    note: str = ""
    informative: bool = False  # a variant shown for context, not one of the checks
    # How far past the bound a measurement may land and still count as meeting it: the
    # timing noise, for a goal ("never slower") that noise alone could miss.
    tolerance: float = 0.0

    @property
    def met(self):
        if self.measured is None:
            return None
        if self.higher_is_better:
            return self.measured >= self.bound - self.tolerance
        return self.measured <= self.bound + self.tolerance

    @property
    def goal(self):
        goal = (">= " if self.higher_is_better else "<= ") + f"{self.bound:g}x"
        return goal + (f" (noise {self.tolerance:.0%})" if self.tolerance else "")

    @property
    def status(self):
        status = {True: "met", False: "NOT MET", None: "not measured"}[self.met]
        return f"({status})" if self.informative else status


def step_outcomes(rows, threads):
    """The per-step targets (speed-ups and floor ratios) of a thread table's rows: all of
    fastnn's bare step (``TrainPlan.run``)."""
    names = {"reference": "bare step vs reference", "torch": "bare step vs PyTorch",
             "floor": "bare step / its GEMMs alone"}
    out = []
    for row in rows:
        for target in row.config.targets:
            ratio = row.ratio(target.metric)
            note = ""
            if target.metric == "floor":
                note = (f"over NumPy's GEMMs: fastnn {_x(row.ratio('numpy_floor'))}, "
                        f"reference {_x(row.ratio('reference_floor'))}, "
                        f"PyTorch {_x(row.ratio('torch_floor'))}")
            out.append(Outcome(names[target.metric], _where(row.config), str(threads), ratio,
                               target.bound, target.higher_is_better, note))
    return out


def _where(config):
    return f"{config.name} b{config.batch} keep {config.keep_prob:g}"


def _x(ratio):
    return "-" if ratio is None else f"{ratio:.2f}x"


HEADERS = ("target", "where", "threads", "measured", "goal", "status", "note")


def target_cells(outcome):
    return (outcome.target, outcome.where, outcome.threads, _x(outcome.measured),
            outcome.goal, outcome.status, outcome.note)


def summary(outcomes):
    """"N of M targets met (K not measured)"."""
    outcomes = [o for o in outcomes if not o.informative]
    met = sum(o.met is True for o in outcomes)
    missing = sum(o.met is None for o in outcomes)
    text = f"{met} of {len(outcomes)} target checks met"
    return text + (f" ({missing} not measured)" if missing else "")


@dataclass(frozen=True)
class Goal:
    """One public-path target of issue 13: the call a user makes, what it is compared
    with, and the bound on their ratio.

    `ratio` names the ratio, e.g. "NumPy / fit" (the other's time over fastnn's, at
    least `bound` when `higher_is_better`: fastnn must be that much faster) or
    "train_step / bare" (fastnn's time over the other's, at most `bound`: fastnn may be
    that much slower).  An `informative` goal is shown for context, not counted.
    """

    key: str
    call: str
    versus: str
    where: str
    ratio: str
    bound: float
    higher_is_better: bool = True
    informative: bool = False

    def outcome(self, threads, measured, note="", informative=False):
        """The :class:`Outcome` of this goal for a measured ratio (None: not measured)."""
        return Outcome(f"{self.call} vs {self.versus}", self.where, str(threads), measured,
                       self.bound, self.higher_is_better, note,
                       informative or self.informative)


_COURSE = "[2, 20, 3, 1] (defaults), football 211"
_MNIST = "[784, 256, 256, 10] softmax, float32"
_EPOCH = "mnist-sized epoch, 8192 + dev 1024, fit's defaults (Adam, b64)"
_MNIST_STEP = "[784, 256, 256, 10] softmax, float32, b128"
_SMALL_BN = "[64, 128, 64, 10] softmax, float32, b64, batch_norm, keep_prob 0.8"

#: Issue 13's targets: the public calls, as a user makes them, in one process.
PUBLIC_GOALS = (
    Goal("fit_vs_numpy", "model.fit(X, y, epochs=E) per epoch",
         "the course's NumPy Adam epoch", _COURSE, "NumPy / fit", 10.0),
    Goal("fit_vs_torch", "model.fit(X, y, epochs=E) per epoch",
         "a PyTorch Adam minibatch epoch", _COURSE, "torch / fit", 30.0),
    Goal("train_step", "model.train_step(X, y, opt)", "the bare step (TrainPlan.run)",
         _COURSE, "train_step / bare", 1.5, higher_is_better=False),
    Goal("predict1_vs_numpy", "model.predict_proba(X[:1])", "NumPy's forward pass", _MNIST,
         "fnn / NumPy", 1.5, higher_is_better=False),
    Goal("predict1_vs_torch", "model.predict_proba(X[:1])", "PyTorch inference_mode", _MNIST,
         "torch / fnn", 1.0),
    Goal("predict64_vs_numpy", "model.predict_proba(X[:64])", "NumPy's forward pass", _MNIST,
         "fnn / NumPy", 1.2, higher_is_better=False),
    Goal("predict64_vs_torch", "model.predict_proba(X[:64])", "PyTorch inference_mode", _MNIST,
         "torch / fnn", 1.0, informative=True),
    Goal("threads_predict1", "MLP(..., n_threads=1).predict_proba(X[:1])", "n_threads=None",
         _MNIST, "1 / None", 1.1, higher_is_better=False),
    Goal("threads_train_step", "MLP(..., n_threads=1).train_step(X, y, opt)",
         "n_threads=None", _COURSE, "1 / None", 1.1, higher_is_better=False),
    Goal("epoch_vs_torch", "model.fit(X, y, epochs=1, dev=dev)",
         "a PyTorch epoch loop", _EPOCH, "torch / fit", 1.3),
    Goal("epoch_vs_sklearn", "model.fit(X, y, epochs=1, dev=dev)",
         "MLPClassifier.partial_fit", _EPOCH, "sklearn / fit", 1.3),
    # Issue 14's (bench/optimization.py).
    Goal("rmsprop_step", "model.train_step(X, y, RMSprop())", "the same with SGD()",
         _MNIST_STEP, "RMSprop / SGD", 1.10, higher_is_better=False),
    Goal("adamw_step", "model.train_step(X, y, AdamW())", "the same with SGD()",
         _MNIST_STEP, "AdamW / SGD", 1.10, higher_is_better=False),
    Goal("adam_step", "model.train_step(X, y, Adam())", "the same with SGD()",
         _MNIST_STEP, "Adam / SGD", 1.10, higher_is_better=False, informative=True),
    Goal("batch_norm_step", "MLP(..., batch_norm=True).train_step(X, y, SGD())",
         "the plain model's", _MNIST_STEP, "batch norm / plain", 1.10,
         higher_is_better=False),
    Goal("batch_norm_vs_torch", "MLP(..., batch_norm=True, keep_prob=0.8).train_step",
         "PyTorch BatchNorm1d + Dropout step", _SMALL_BN, "torch / fnn", 5.0),
    Goal("schedule_epoch", "model.fit(..., lr_schedule=ExponentialDecay(0.999))",
         "the same fit without", _COURSE, "schedule / none", 1.05, higher_is_better=False),
)


def public_goal(key):
    """The goal of :data:`PUBLIC_GOALS` with this key."""
    for goal in PUBLIC_GOALS:
        if goal.key == key:
            return goal
    raise KeyError(f"no public goal {key!r}")
