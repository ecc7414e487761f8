"""The one set of training defaults that fastnn's own faces share: ``MLP``, ``MLP.fit``,
``fnn.search`` / ``fnn.sweep`` and ``fastnn train`` all read them from here.

Why these values (the README's "Defaults" table says the same to users):

- **Adam(lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8)**: the course's recommended
  Adam hyperparameters (only alpha needs tuning, and 0.001 is where Adam's paper, Keras,
  PyTorch users and scikit-learn all start). Its per-parameter scaling makes one rate
  work across input scales and depths, which no single SGD rate does: SGD(0.01) for
  100 full-batch epochs leaves most networks far from trained.
- **minibatches of 64**: the smallest of the course's typical sizes (64, 128, 256, 512,
  powers of two): the most updates per epoch at a size where the BLAS calls are still
  efficient. A training set of 64 examples or fewer is one full batch, as the course
  advises for small sets; ``batch_size=None`` asks for full batch at any size.
- **100 epochs**, **float32** (half the memory traffic of float64; gradient checking
  always runs in float64) and **seed 0** (a run repeats unless asked otherwise).

The scikit-learn estimators keep scikit-learn's defaults instead (Adam 0.001,
``batch_size=min(200, m)``, ``max_iter=200`` with its convergence stop, float64,
``random_state=None``): a drop-in must behave as what it replaces.
"""
from __future__ import annotations

#: The optimizer of a fit that names none (and has none to resume): ``Adam()``.
OPTIMIZER = "adam"
#: Examples per minibatch.
BATCH_SIZE = 64
#: Passes over the training set per ``fit`` call.
EPOCHS = 100
#: Floating-point type of the weights and the computation.
DTYPE = "float32"
#: Seed of the weights, the dropout masks and the minibatch order.
SEED = 0
