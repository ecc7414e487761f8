"""The names users write (activations, outputs, optimizer rules, backends) and the codes
the kernels switch on, in one table each.

The codes are declared once, in ``fastnn/_kernels/_codes.pxd``; each table here maps a
user-facing name to its code (the enum member whose name is the user's name upper-cased).
The ``Literal`` aliases give type checkers the same names; ``tests/test_kernels.py``
checks that they agree with the kernels' enums.
"""
from __future__ import annotations

from typing import Literal, get_args

from fastnn._kernels._codes import Activation, Loss, Rule, Status

ActivationName = Literal["linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu"]
OutputName = Literal["sigmoid", "softmax", "linear"]
InitName = Literal["he", "kaiming", "xavier", "glorot", "lecun", "random", "zeros"]
BackendName = Literal["cython", "reference"]

#: Activation name -> kernel code.
ACTIVATIONS: dict[str, int] = {name: int(Activation[name.upper()])
                               for name in get_args(ActivationName)}
#: Output layer name -> the kernel code of its loss (computed from the logits).
OUTPUT_LOSSES: dict[str, int] = {"sigmoid": int(Loss.BINARY_CROSS_ENTROPY),
                                 "softmax": int(Loss.CATEGORICAL_CROSS_ENTROPY),
                                 "linear": int(Loss.SQUARED_ERROR)}
#: Optimizer rule name (an optimizer class's ``name``) -> kernel code.
RULES: dict[str, int] = {member.name.lower(): int(member) for member in Rule}

#: How a run of epochs ended: Status.COMPLETED, .DIVERGED (rolled back), .STOPPED_EARLY.
RUN_STATUS = Status

ACTIVATION_NAMES: tuple[ActivationName, ...] = get_args(ActivationName)
OUTPUT_NAMES: tuple[OutputName, ...] = get_args(OutputName)
INIT_NAMES: tuple[InitName, ...] = get_args(InitName)
BACKEND_NAMES: tuple[BackendName, ...] = get_args(BackendName)
