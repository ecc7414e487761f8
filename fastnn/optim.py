"""Optimizers: hyperparameters and per-parameter state; the update itself is one kernel pass.

Each ``update`` receives flat views of the parameters and their data gradients plus
the regularisation coefficients ``l2 = lambda/m`` and ``l1 = lambda_1/(2m)`` per
parameter, which the kernels fold into the same pass (weight decay).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from fastnn._typing import FloatArray
from fastnn._validation import check_real

if TYPE_CHECKING:
    from fastnn.ops import Backend


class Optimizer:
    """Base class: `lr` and the state arrays (one list per slot, one entry per parameter).

    Attributes
    ----------
    lr : float
        Learning rate.
    t : int
        Update steps taken (Adam's bias-correction counter).
    state : dict of str to list of ndarray, or None
        Per slot, one array per parameter (shapes of the flat parameters); None before
        the first update.
    """

    name: ClassVar[str] = "optimizer"
    slots: ClassVar[tuple[str, ...]] = ()
    lr: float
    t: int
    state: dict[str, list[FloatArray]] | None

    def __init__(self, lr: float) -> None:
        self.lr = check_real("lr", lr, 0.0, low_open=True)
        self.reset()

    def hyperparameters(self) -> dict[str, float]:
        """The constructor arguments, JSON-friendly."""
        return {"lr": self.lr}

    def reset(self) -> None:
        """Forget the state (velocities, moments, step count)."""
        self.t = 0
        self.state = None
        self._state_shapes: list[tuple[int, ...]] | None = None

    def ensure_state(self, params: Sequence[FloatArray]) -> None:
        """Allocate zero state for `params` unless it already matches their shapes."""
        # Fresh zeros on first use, and again if the optimizer is handed other shapes.
        shapes = [p.shape for p in params]
        if self.state is None or self._state_shapes != shapes:
            self.state = {slot: [np.zeros_like(p) for p in params] for slot in self.slots}
            self._state_shapes = shapes

    def kernel_arguments(self) -> tuple[float, float, float, float]:
        """(lr, beta1, beta2, epsilon) as the fused training step takes them."""
        return (self.lr, 0.0, 0.0, 0.0)

    def update(self, backend: Backend, params: Sequence[FloatArray], grads: Sequence[FloatArray],
               l2: Sequence[float], l1: Sequence[float]) -> None:
        """One step on every parameter: params[i] -= ... (in place).

        Parameters
        ----------
        backend : the backend whose update kernels run
        params, grads : sequences of 1-D arrays (n_i,), flat views, updated in place
        l2, l1 : sequences of float, one per parameter
            ``lambda/m`` and ``lambda_1/(2m)`` (0 for biases).
        """
        self.ensure_state(params)
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            self._update_one(backend, i, p, g, l2[i], l1[i])

    def _update_one(self, backend: Backend, i: int, p: FloatArray, g: FloatArray, l2: float,
                    l1: float) -> None:
        """Update parameter `i` (flat `p`, gradient `g`) in place; defined by subclasses."""
        raise NotImplementedError

    def _state(self) -> dict[str, list[FloatArray]]:
        """The state arrays, allocated by :meth:`ensure_state` before any update."""
        if self.state is None:
            raise RuntimeError("the optimizer state is not allocated: call ensure_state first")
        return self.state

    def state_arrays(self, copy: bool = False) -> dict[str, FloatArray]:
        """State as a dict of named arrays (for saving): {"velocity0": ..., ...}.

        With ``copy=True`` the arrays are copies (a snapshot to roll back to).
        """
        if not self.state:
            return {}
        return {f"{slot}{i}": a.copy() if copy else a
                for slot, arrays in self.state.items() for i, a in enumerate(arrays)}

    def load_state(self, t: int, arrays: Mapping[str, ArrayLike] | None,
                   params: Sequence[FloatArray]) -> None:
        """Restore the step count and state arrays saved by :meth:`state_arrays`
        (no arrays: a fresh state)."""
        self.t = int(t)
        if not arrays:
            self.state, self._state_shapes = None, None
            return
        self._state_shapes = [p.shape for p in params]
        state: dict[str, list[FloatArray]] = {}
        self.state = state
        for slot in self.slots:
            state[slot] = []
            for i, p in enumerate(params):
                a = np.asarray(arrays[f"{slot}{i}"])
                if a.shape != p.shape:
                    raise ValueError(f"optimizer state {slot}{i} has shape {a.shape}, "
                                     f"expected {p.shape}")
                if not np.isfinite(a).all():
                    raise ValueError(f"optimizer state {slot}{i} is not finite")
                state[slot].append(np.ascontiguousarray(a, dtype=p.dtype))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Plain gradient descent with weight decay: W := (1 - lr*lambda/m) W - lr dW."""

    name = "sgd"

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def _update_one(self, backend: Backend, i: int, p: FloatArray, g: FloatArray, l2: float,
                    l1: float) -> None:
        backend.sgd_update(p, g, self.lr, l2, l1)


class Momentum(Optimizer):
    """Gradient descent with momentum: v := beta v + (1 - beta) dW, W := W - lr v."""

    name = "momentum"
    slots = ("velocity",)

    def __init__(self, lr: float = 0.01, beta: float = 0.9) -> None:
        super().__init__(lr)
        self.beta = check_real("beta", beta, 0.0, 1.0, high_open=True)

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr, "beta": self.beta}

    def kernel_arguments(self) -> tuple[float, float, float, float]:
        return (self.lr, self.beta, 0.0, 0.0)

    def _update_one(self, backend: Backend, i: int, p: FloatArray, g: FloatArray, l2: float,
                    l1: float) -> None:
        state = self._state()
        backend.momentum_update(p, g, state["velocity"][i], self.lr, self.beta, l2, l1)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; L2 enters the gradient (the course's lambda)."""

    name = "adam"
    slots = ("m1", "m2")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8) -> None:
        super().__init__(lr)
        self.beta1 = check_real("beta1", beta1, 0.0, 1.0, high_open=True)
        self.beta2 = check_real("beta2", beta2, 0.0, 1.0, high_open=True)
        self.epsilon = check_real("epsilon", epsilon, 0.0, low_open=True)

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon}

    def kernel_arguments(self) -> tuple[float, float, float, float]:
        return (self.lr, self.beta1, self.beta2, self.epsilon)

    def _update_one(self, backend: Backend, i: int, p: FloatArray, g: FloatArray, l2: float,
                    l1: float) -> None:
        state = self._state()
        backend.adam_update(p, g, state["m1"][i], state["m2"][i], self.lr,
                            self.beta1, self.beta2, self.epsilon,
                            1.0 - self.beta1 ** self.t, 1.0 - self.beta2 ** self.t, l2, l1)


OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (SGD, Momentum, Adam)}


def optimizer_from_config(name: str, hyperparameters: Mapping[str, Any]) -> Optimizer:
    """Rebuild an optimizer from its name and :meth:`Optimizer.hyperparameters`."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](**hyperparameters)
