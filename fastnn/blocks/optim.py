"""Optimizers: a rule's name, its hyperparameters and the state slots it needs.

An optimizer object holds no state: the moments and the update count belong to the
model that trains with it (its engine allocates them, with the model's shapes and
dtype), so one optimizer object may be handed to any number of models.  The update
itself is a kernel (``apply_rule`` in ``fastnn/_kernels/_optim_impl.pxd``) with its NumPy
twin (``fastnn.engine.twins.UPDATES``).  Adding an optimizer: its kernel, its twin and
its class here; its ``name`` is the key of all three.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from fastnn.blocks.habits import OPTIMIZER_ARGUMENTS, check_arguments, parameter_names
from fastnn.blocks.validation import check_real

#: (lr, beta1, beta2, epsilon, weight_decay): what every update rule reads.
Hyper = tuple[float, float, float, float, float]


class _Hyperparameter:
    """A validated float attribute: assigning a bad value raises at once, naming it.

    It has no ``__get__``: the value lives in the instance's ``__dict__`` under the
    attribute's own name, where Python reads it as a plain attribute (the update
    reads every hyperparameter on every ``train_step``)."""

    def __init__(self, low: float, high: float | None = None, low_open: bool = False,
                 high_open: bool = False) -> None:
        self.bounds = (low, high, low_open, high_open)
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    if TYPE_CHECKING:  # what the type checker reads through; Python reads the __dict__
        def __get__(self, instance: Any, owner: type) -> float: ...

    def __set__(self, instance: Any, value: Any) -> None:
        low, high, low_open, high_open = self.bounds
        instance.__dict__[self.name] = check_real(self.name, value, low, high,
                                                  low_open=low_open, high_open=high_open)


class Optimizer:
    """Base class: the learning rate, and what every rule declares.

    Class attributes: ``name`` (the rule, as the kernels know it), ``slots`` (the names
    of the per-parameter state arrays the rule keeps, each shaped like the parameters).
    """

    name: ClassVar[str] = ""
    slots: ClassVar[tuple[str, ...]] = ()
    lr = _Hyperparameter(0.0, low_open=True)

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # Other libraries' names (learning_rate=, beta_1=, eps=, ...) get fastnn's, not a
        # bare "unexpected keyword argument".
        check_arguments(f"{cls.__name__}", kwargs, parameter_names(cls.__init__),
                        OPTIMIZER_ARGUMENTS)
        return super().__new__(cls)

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def hyperparameters(self) -> dict[str, float]:
        """The constructor arguments, JSON-friendly."""
        return {"lr": self.lr}

    def kernel_arguments(self) -> Hyper:
        """(lr, beta1, beta2, epsilon, weight_decay) as the update kernels read them (0
        where unused)."""
        return (self.lr, 0.0, 0.0, 0.0, 0.0)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Plain gradient descent with weight decay: W := (1 - lr*lambda/m) W - lr dW."""

    name = "sgd"

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)


class Momentum(Optimizer):
    """Gradient descent with momentum: v := beta v + (1 - beta) dW, W := W - lr v."""

    name = "momentum"
    slots = ("velocity",)
    beta = _Hyperparameter(0.0, 1.0, high_open=True)

    def __init__(self, lr: float = 0.01, beta: float = 0.9) -> None:
        super().__init__(lr)
        self.beta = beta

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr, "beta": self.beta}

    def kernel_arguments(self) -> Hyper:
        return (self.lr, self.beta, 0.0, 0.0, 0.0)


class Nesterov(Momentum):
    """Gradient descent with Nesterov's momentum: v := beta v + (1 - beta) dW,
    W := W - lr (beta v + (1 - beta) dW), the step taken from the look-ahead velocity.

    With ``lr = eta / (1 - beta)`` it is scikit-learn's ``solver="sgd"`` with
    ``momentum=beta, nesterovs_momentum=True`` and ``learning_rate_init=eta`` (and
    PyTorch's ``SGD(lr=eta, momentum=beta, nesterov=True)``, whose velocity is not
    averaged), step for step at a constant rate.
    """

    name = "nesterov"


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; L2 enters the gradient (the course's lambda).

    m := b1 m + (1 - b1) g, v := b2 v + (1 - b2) g^2,
    W := W - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + epsilon).
    """

    name = "adam"
    slots = ("m1", "m2")
    beta1 = _Hyperparameter(0.0, 1.0, high_open=True)
    beta2 = _Hyperparameter(0.0, 1.0, high_open=True)
    epsilon = _Hyperparameter(0.0, low_open=True)

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8) -> None:
        super().__init__(lr)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon}

    def kernel_arguments(self) -> Hyper:
        return (self.lr, self.beta1, self.beta2, self.epsilon, 0.0)


class RMSprop(Optimizer):
    """RMSprop: S := beta S + (1 - beta) g^2, W := W - lr g / (sqrt(S) + epsilon).

    PyTorch's ``torch.optim.RMSprop(lr, alpha=beta, eps=epsilon)``.
    """

    name = "rmsprop"
    slots = ("square",)
    beta = _Hyperparameter(0.0, 1.0, high_open=True)
    epsilon = _Hyperparameter(0.0, low_open=True)

    def __init__(self, lr: float = 0.001, beta: float = 0.9, epsilon: float = 1e-8) -> None:
        super().__init__(lr)
        self.beta, self.epsilon = beta, epsilon

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr, "beta": self.beta, "epsilon": self.epsilon}

    def kernel_arguments(self) -> Hyper:
        return (self.lr, self.beta, 0.0, self.epsilon, 0.0)


class AdamW(Adam):
    """Adam with decoupled weight decay: W := W (1 - lr weight_decay) on the weights (never
    the biases, as in the notes), then Adam's step with bias correction.

    PyTorch's ``torch.optim.AdamW`` with the biases in a group of weight_decay 0.  The
    decay is not the notes' lambda: L2 (``l2=``) adds (lambda/m) W to the gradient, which
    Adam then rescales per weight; AdamW shrinks every weight by the same factor
    (1 - lr weight_decay) per step, whatever its gradient's scale.  For plain SGD the two
    coincide with weight_decay = lambda/m.
    """

    name = "adamw"
    weight_decay = _Hyperparameter(0.0)

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(lr, beta1, beta2, epsilon)
        self.weight_decay = weight_decay

    def hyperparameters(self) -> dict[str, float]:
        return {**super().hyperparameters(), "weight_decay": self.weight_decay}

    def kernel_arguments(self) -> Hyper:
        return (self.lr, self.beta1, self.beta2, self.epsilon, self.weight_decay)


OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (SGD, Momentum, Adam,
                                                                     RMSprop, AdamW, Nesterov)}


def optimizer_from_config(name: str, hyperparameters: Mapping[str, Any]) -> Optimizer:
    """Rebuild an optimizer from its name and :meth:`Optimizer.hyperparameters`."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    if not isinstance(hyperparameters, Mapping):
        raise TypeError("the optimizer's hyperparameters must be a mapping")
    return OPTIMIZERS[name](**hyperparameters)
