"""fastnn's training step and forward pass in PyTorch CPU eager mode, when torch is
importable.

The step: nn.Linear layers, relu, inverted dropout (nn.Dropout(p = 1 - keep_prob)) on
the hidden layers, BCEWithLogitsLoss (sigmoid output) or CrossEntropyLoss (softmax), and
SGD with ``weight_decay = lambda/m`` on the weights only (the course's L2, biases
unregularised).  The forward pass: the same layers under ``torch.inference_mode``, with
the output's softmax, as ``predict_proba`` returns it.
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

    def cost(self):
        """The batch's loss under ``torch.no_grad``, with the net as it is now: the train
        cost ``fit``'s History records after each epoch."""
        with torch.no_grad():
            return self.loss(self.net(self.X), self.y).item()


class TorchAdamEpoch:
    """A no-argument callable: one epoch of a plain PyTorch loop with ``fit``'s defaults
    (``torch.randperm`` batching, no DataLoader; minibatches of `batch_size`; Adam at
    `lr`, no weight decay), averaging the batches' losses as fit's running History does,
    then, when `dev` is given, the dev loss and error under ``no_grad``.  Returns the dev
    error, or without `dev` the average training loss."""

    def __init__(self, layer_sizes, output, X, y, batch_size, lr, dev=None, seed=0):
        torch.manual_seed(seed)
        self.net = build_network(layer_sizes, 1.0)
        self.X, self.y, self.loss = _tensors(X, y, output)
        self.dev = None if dev is None else _tensors(*dev, output)[:2]
        self.output = output
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self):
        net, optimizer, m = self.net, self.optimizer, len(self.X)
        net.train()
        order = torch.randperm(m, generator=self.generator)
        total = 0.0
        for start in range(0, m, self.batch_size):
            index = order[start:start + self.batch_size]
            optimizer.zero_grad()
            loss = self.loss(net(self.X[index]), self.y[index])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        if self.dev is not None:
            net.eval()
            with torch.no_grad():
                logits = net(self.dev[0])
                self.loss(logits, self.dev[1]).item()
                predicted = (logits > 0 if self.output == "sigmoid"
                             else logits.argmax(dim=1))
                return (predicted != self.dev[1]).float().mean().item()
        return total / m


def _tensors(X, y, output):
    """(X, y, loss): float32 inputs, and the targets and loss of a sigmoid output
    (a float column, BCE with logits) or a softmax one (class indices, cross-entropy)."""
    X = torch.as_tensor(X, dtype=torch.float32).contiguous()
    if output == "sigmoid":
        return (X, torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1).contiguous(),
                nn.BCEWithLogitsLoss())
    return X, torch.as_tensor(y, dtype=torch.long).reshape(-1), nn.CrossEntropyLoss()


class TorchForward:
    """A callable ``X (ndarray) -> probabilities (ndarray)``: the relu network with the
    given weights (W (n, n_prev) and b (n,) per layer, as fastnn's ``params``) under
    ``torch.inference_mode``, then a softmax over the outputs; the arrays go in and out
    through ``torch.from_numpy`` and ``.numpy()`` (no copies)."""

    def __init__(self, weights, biases):
        sizes = [weights[0].shape[1]] + [W.shape[0] for W in weights]
        self.net = build_network(sizes, 1.0).eval()
        linears = [layer for layer in self.net if isinstance(layer, nn.Linear)]
        with torch.no_grad():
            for layer, W, b in zip(linears, weights, biases):
                layer.weight.copy_(torch.from_numpy(W))
                layer.bias.copy_(torch.from_numpy(b))

    def __call__(self, X):
        with torch.inference_mode():
            return torch.softmax(self.net(torch.from_numpy(X)), dim=1).numpy()


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
