"""The architecture of a network, checked once: what its engine is built from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np

from fastnn.blocks.dropout import check_keep_prob
from fastnn.blocks.names import ACTIVATION_NAMES, OUTPUT_NAMES, ActivationName, OutputName
from fastnn.blocks.types import FloatDTypeLike
from fastnn.blocks.validation import (MAX_LAYER_SIZE, check_choice, check_dtype, check_int,
                                      check_real, check_seed, per_layer)

#: The most parameters a network may have (8 GiB of float32): beyond it a model could not
#: be allocated, let alone trained, on the machines fastnn targets.
MAX_PARAMETERS = 2**31
#: Hidden activations, "linear" last (an unusual choice for a hidden layer).
HIDDEN_ACTIVATIONS: tuple[ActivationName, ...] = (
    tuple(a for a in ACTIVATION_NAMES if a != "linear") + ("linear",))


@dataclass(frozen=True)
class Network:
    """A dense network's shape and its dropout, fixed when the model is built.

    Attributes
    ----------
    layer_sizes : tuple of int
        ``(n_0, n_1, ..., n_L)``.
    activations : tuple of str
        Every layer's activation, the output layer's "linear" (its output activation
        and loss are `output`'s).
    output : {"sigmoid", "softmax", "linear"}
    keep_probs : tuple of float
        Every layer's keep probability, the output layer's 1.0.
    input_keep_prob : float
    dtype : numpy.dtype (float32 or float64)
    seed : int
        Seeds the dropout masks (and, in the model, the weights and batch order).
    batch_norm : bool
        Batch normalization on every hidden layer, between its product and its
        activation (its bias is then beta, and gamma scales).
    bn_momentum, bn_epsilon : float
        Running statistics := bn_momentum running + (1 - bn_momentum) batch's; the
        epsilon in sqrt(sigma^2 + epsilon).
    """

    layer_sizes: tuple[int, ...]
    activations: tuple[ActivationName, ...]
    output: OutputName
    keep_probs: tuple[float, ...]
    input_keep_prob: float
    dtype: np.dtype[Any]
    seed: int
    batch_norm: bool = False
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5

    @property
    def n_layers(self) -> int:
        """L, the number of weight layers."""
        return len(self.layer_sizes) - 1

    @property
    def normalized(self) -> list[int]:
        """The 0-based indices of the batch-normalized layers (the hidden ones)."""
        return list(range(self.n_layers - 1)) if self.batch_norm else []

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the parameters in their one order: W1, b1, W2, b2, ..., WL, bL,
        (n[l], n[l-1]) and (n[l],), then gamma (n[l],) of each batch-normalized layer."""
        pairs: list[tuple[int, ...]] = [
            shape for n_prev, n in zip(self.layer_sizes[:-1], self.layer_sizes[1:])
            for shape in ((n, n_prev), (n,))]
        return pairs + [(self.layer_sizes[l + 1],) for l in self.normalized]

    @property
    def names(self) -> list[str]:
        """The parameters' names in that order: W1, b1, ... (beta<l> for the bias of a
        batch-normalized layer), then gamma<l>."""
        normalized = set(self.normalized)
        pairs = [name for l in range(1, self.n_layers + 1)
                 for name in (f"W{l}", f"beta{l}" if l - 1 in normalized else f"b{l}")]
        return pairs + [f"gamma{l + 1}" for l in self.normalized]

    @property
    def uses_dropout(self) -> bool:
        """True when any layer (or the input) drops units in training."""
        return self.input_keep_prob < 1 or any(p < 1 for p in self.keep_probs)


def build_network(layer_sizes: Sequence[int],
                  activation: Union[ActivationName, Sequence[ActivationName]],
                  output: OutputName, keep_prob: Union[float, Sequence[float]],
                  input_keep_prob: float, dtype: FloatDTypeLike, seed: int,
                  batch_norm: bool = False, bn_momentum: float = 0.9,
                  bn_epsilon: float = 1e-5) -> Network:
    """A checked :class:`Network` from the model's constructor arguments (see MLP)."""
    sizes = check_layer_sizes(layer_sizes)
    L = len(sizes) - 1
    hidden = per_layer("activation", activation, L - 1,
                       lambda n, v: check_choice(n, v, HIDDEN_ACTIVATIONS))
    output = check_choice("output", output, OUTPUT_NAMES)
    if output == "softmax" and sizes[-1] < 2:
        raise ValueError("a softmax output needs at least 2 units in layer_sizes[-1]")
    if not isinstance(batch_norm, (bool, np.bool_)):
        raise TypeError(f"batch_norm must be True or False, got {batch_norm!r}")
    return Network(sizes, hidden + ("linear",), output, check_keep_probs(keep_prob, L),
                   check_keep_prob("input_keep_prob", input_keep_prob),
                   np.dtype(check_dtype(dtype)), check_seed(seed), bool(batch_norm),
                   check_real("bn_momentum", bn_momentum, 0.0, 1.0, high_open=True),
                   check_real("bn_epsilon", bn_epsilon, 0.0, low_open=True))


def check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    """Positive ints, at least an input and an output size, each below 2**31 (BLAS's int)
    and at most MAX_PARAMETERS parameters in all."""
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
        raise TypeError(f"layer_sizes must be a sequence of ints, got {layer_sizes!r}")
    if len(layer_sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got "
                         f"{layer_sizes!r}")
    sizes = tuple(check_int(f"layer_sizes[{i}]", n, low=1, high=MAX_LAYER_SIZE)
                  for i, n in enumerate(layer_sizes))
    count = sum(n * (n_prev + 1) for n_prev, n in zip(sizes[:-1], sizes[1:]))
    if count > MAX_PARAMETERS:
        raise ValueError(f"layer_sizes {list(sizes)} make {count:,} parameters; at most "
                         f"{MAX_PARAMETERS:,} (2**31) are supported")
    return sizes


def check_keep_probs(keep_prob: Union[float, Sequence[float]], L: int) -> tuple[float, ...]:
    """Per-layer keep probabilities (length L, the output's always 1.0)."""
    if isinstance(keep_prob, (list, tuple, np.ndarray)) and len(keep_prob) == L:
        probs = per_layer("keep_prob", keep_prob, L, check_keep_prob)
        if probs[-1] != 1.0:
            raise ValueError(f"keep_prob of the output layer must be 1.0 (no dropout on the "
                             f"output), got {probs[-1]}")
        return probs
    return per_layer("keep_prob", keep_prob, L - 1, check_keep_prob) + (1.0,)
