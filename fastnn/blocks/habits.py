"""The names users bring from other libraries (Keras, PyTorch, scikit-learn), and
fastnn's for them: an argument or a monitored figure under another library's name gets
an error that names fastnn's, not a bare TypeError."""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Collection, Mapping

#: fit's arguments under other libraries' names -> what fastnn takes instead.
FIT_ARGUMENTS: dict[str, str] = {
    "validation_data": "dev=(X_dev, y_dev)",
    "validation_split": "dev=(X_dev, y_dev), made with fnn.split(X, y)",
    "nb_epoch": "epochs=",
    "max_iter": "epochs=",
    "initial_epoch": "the model's epoch_ (a fit continues from it)",
    "shuffle": "nothing: minibatches are shuffled every epoch, seeded by the model's seed",
    "learning_rate": "optimizer=fnn.Adam(lr=...) (or fnn.SGD(lr=...))",
    "lr": "optimizer=fnn.Adam(lr=...) (or fnn.SGD(lr=...))",
    "steps_per_epoch": "batch_size= (an epoch is one pass over X)",
}

#: Optimizer arguments under other libraries' names -> fastnn's.
OPTIMIZER_ARGUMENTS: dict[str, str] = {
    "learning_rate": "lr=",
    "beta_1": "beta1=",
    "beta_2": "beta2=",
    "betas": "beta1= and beta2=",
    "eps": "epsilon=",
    "rho": "beta= (RMSprop's decay of the squared gradients)",
    "alpha": "beta= (RMSprop's decay of the squared gradients)",
    "momentum": "fnn.Momentum(lr, beta=...) (momentum as its own optimizer)",
    "nesterov": "nothing: fastnn's momentum is the course's (no Nesterov)",
    "decay": "fit(..., lr_schedule=fnn.InverseTimeDecay(decay_rate))",
    "amsgrad": "nothing: fastnn's Adam is the course's (no AMSGrad)",
}

#: Monitored figures under Keras' names -> fastnn's History columns.
MONITOR_NAMES: dict[str, str] = {
    "val_loss": "dev_cost",
    "val_accuracy": "dev_error (1 - accuracy: lower is better)",
    "val_acc": "dev_error (1 - accuracy: lower is better)",
    "loss": "train_cost",
    "accuracy": "train_error (1 - accuracy: lower is better)",
    "acc": "train_error (1 - accuracy: lower is better)",
}


@functools.lru_cache(maxsize=None)
def parameter_names(function: Callable[..., Any]) -> frozenset[str]:
    """The keyword arguments `function` takes (a method's self aside)."""
    return frozenset(name for name, p in inspect.signature(function).parameters.items()
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                     and name != "self")


def check_arguments(call: str, given: Mapping[str, Any], accepted: Collection[str],
                    foreign: Mapping[str, str]) -> None:
    """Raise a TypeError for the first of `given`'s names that `call` does not take,
    naming fastnn's argument when it is another library's."""
    for name in given:
        if name in accepted:
            continue
        if name in foreign:
            raise TypeError(f"{call}() got an unexpected keyword argument {name!r}: that is "
                            f"another library's name; fastnn's is {foreign[name]}")
        raise TypeError(f"{call}() got an unexpected keyword argument {name!r}; it takes "
                        f"{', '.join(sorted(accepted))}")


def check_monitor(value: Any, choices: Collection[str]) -> str:
    """`value` if it is one of `choices` (History columns); a Keras name gets fastnn's."""
    if isinstance(value, str) and value in MONITOR_NAMES and value not in choices:
        raise ValueError(f"monitor {value!r} is Keras' name; fastnn's History calls it "
                         f"{MONITOR_NAMES[value]} (one of {sorted(choices)})")
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"monitor must be one of {sorted(choices)}; got {value!r}")
    return value
