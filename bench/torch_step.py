"""The same training step in PyTorch CPU eager mode, when torch is importable.

nn.Linear layers, relu, inverted dropout (nn.Dropout(p = 1 - keep_prob)) on the hidden
layers, BCEWithLogitsLoss (sigmoid output) or CrossEntropyLoss (softmax), and SGD with
``weight_decay = lambda/m`` on the weights only (the course's L2, biases unregularised).
"""
try:
    import torch
    from torch import nn
except ImportError:
    torch = None


def available():
    """True when torch can be imported."""
    return torch is not None


def version():
    """torch's version string, or None."""
    return torch.__version__ if available() else None


def set_threads(threads):
    """Make torch's intra-op pool use `threads` threads."""
    torch.set_num_threads(threads)


def build_network(layer_sizes, keep_prob):
    """nn.Sequential of Linear, ReLU and (when keep_prob < 1) Dropout; linear output."""
    layers = []
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    for l, (n_prev, n) in enumerate(pairs, start=1):
        layers.append(nn.Linear(n_prev, n))
        if l < len(pairs):
            layers.append(nn.ReLU())
            if keep_prob < 1:
                layers.append(nn.Dropout(p=1.0 - keep_prob))
    return nn.Sequential(*layers)


class TorchStep:
    """A no-argument callable: one forward/backward/SGD step on a fixed float32 batch."""

    def __init__(self, config, X, y, lr, l2, seed=0):
        torch.manual_seed(seed)
        self.net = build_network(config.layer_sizes, config.keep_prob).train()
        self.X = torch.as_tensor(X, dtype=torch.float32).contiguous()
        if config.output == "sigmoid":
            self.y = torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1).contiguous()
            self.loss = nn.BCEWithLogitsLoss()
        else:
            self.y = torch.as_tensor(y, dtype=torch.long).reshape(-1)
            self.loss = nn.CrossEntropyLoss()
        linears = [layer for layer in self.net if isinstance(layer, nn.Linear)]
        groups = [{"params": [layer.weight for layer in linears], "weight_decay": l2 / len(X)},
                  {"params": [layer.bias for layer in linears], "weight_decay": 0.0}]
        self.optimizer = torch.optim.SGD(groups, lr=lr)

    def __call__(self):
        self.optimizer.zero_grad()
        loss = self.loss(self.net(self.X), self.y)
        loss.backward()
        self.optimizer.step()
        return loss


def describe():
    """One line: torch's version, BLAS, CPU capability and intra-op threads (or None)."""
    if not available():
        return None
    import re
    shown = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", shown)
    capability = re.search(r"CPU capability usage: (\w+)", shown)
    return (f"torch {torch.__version__}: BLAS {blas.group(1) if blas else '?'}, CPU capability "
            f"{capability.group(1) if capability else '?'}, {torch.get_num_threads()} intra-op "
            f"threads (its own MKL/OpenMP, not listed by threadpoolctl's BLAS entries)")
