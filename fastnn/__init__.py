"""fastnn: a from-scratch dense neural-network engine with Cython kernels.

Public API (everything else is private)::

    import fastnn as fnn
    model = fnn.MLP([2, 20, 3, 1], activation="relu", output="sigmoid", l2=0.7)
    model.fit(X, y, epochs=30000, optimizer=fnn.SGD(lr=0.3))
"""
from fastnn.model import MLP
from fastnn.optim import SGD, Adam, Momentum

__version__ = "0.1.0"

__all__ = ["MLP", "SGD", "Momentum", "Adam", "__version__"]
