"""The optimizers against PyTorch's, step for step, on both engines and both dtypes.

A [5, 7, 3] softmax network (and a [5, 7, 1] sigmoid one) takes full-batch steps from the
same weights in fastnn and in PyTorch (float64, dropout off, no L2): the parameters must
agree after every run of steps.  PyTorch is an extra (``pip install torch==2.13.0``):
without it these tests are skipped.
"""
import numpy as np
import pytest

import fastnn as fnn

torch = pytest.importorskip("torch")

STEPS = 6


def _problem(output, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 5))
    if output == "softmax":
        return X, rng.integers(0, 3, 40)
    return X, (X[:, 0] + X[:, 1] > 0).astype(float)


def _torch_net(model):
    """PyTorch's twin of `model` (float64, the same weights), and its loss."""
    params = model.params
    layers = []
    for l in range(1, model.n_layers + 1):
        W = params[f"W{l}"]
        linear = torch.nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.astype(np.float64)))
            linear.bias.copy_(torch.from_numpy(params[f"b{l}"].astype(np.float64)))
        layers += [linear] + ([torch.nn.ReLU()] if l < model.n_layers else [])
    net = torch.nn.Sequential(*layers)
    loss = (torch.nn.CrossEntropyLoss() if model.output == "softmax"
            else torch.nn.BCEWithLogitsLoss())
    return net, loss


def _torch_optimizer(name, net):
    weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in net.named_parameters() if n.endswith("bias")]
    if name == "sgd":
        return torch.optim.SGD(net.parameters(), lr=0.3)
    if name == "adam":
        return torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.9, 0.99), eps=1e-7)
    if name == "rmsprop":
        return torch.optim.RMSprop(net.parameters(), lr=0.01, alpha=0.8, eps=1e-7)
    return torch.optim.AdamW([{"params": weights, "weight_decay": 0.3},
                              {"params": biases, "weight_decay": 0.0}],
                             lr=0.01, betas=(0.9, 0.99), eps=1e-7)


OURS = {"sgd": lambda: fnn.SGD(lr=0.3),
        "adam": lambda: fnn.Adam(lr=0.01, beta1=0.9, beta2=0.99, epsilon=1e-7),
        "rmsprop": lambda: fnn.RMSprop(lr=0.01, beta=0.8, epsilon=1e-7),
        "adamw": lambda: fnn.AdamW(lr=0.01, beta1=0.9, beta2=0.99, epsilon=1e-7,
                                   weight_decay=0.3)}


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("name", sorted(OURS))
@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_optimizer_steps_match_pytorch(name, output, backend, dtype):
    X, y = _problem(output)
    model = fnn.MLP([5, 7, 3 if output == "softmax" else 1], output=output, dtype=dtype,
                    backend=backend, seed=2)
    net, loss_fn = _torch_net(model)
    optimizer = _torch_optimizer(name, net)
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y) if output == "softmax" else torch.from_numpy(y).reshape(-1, 1)
    ours = OURS[name]()
    for chunk in (1, 2, STEPS - 3):  # fit runs chunks of epochs: the state carries over
        model.fit(X, y, epochs=chunk, optimizer=ours)
        for _ in range(chunk):
            optimizer.zero_grad()
            loss_fn(net(Xt), yt).backward()
            optimizer.step()
    tolerance = dict(rtol=1e-9, atol=1e-11) if dtype == "float64" else dict(rtol=2e-4, atol=2e-5)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    for l, linear in enumerate(linears, start=1):
        np.testing.assert_allclose(model.params[f"W{l}"], linear.weight.detach().numpy(),
                                   err_msg=f"W{l}", **tolerance)
        np.testing.assert_allclose(model.params[f"b{l}"], linear.bias.detach().numpy(),
                                   err_msg=f"b{l}", **tolerance)


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_adamw_decays_weights_only_and_is_not_l2(backend):
    """AdamW's decay shrinks the weights by (1 - lr wd) per step and leaves the biases
    alone; with a zero gradient (a model at rest) it is exactly that factor."""
    X = np.zeros((4, 3))
    y = np.full(4, 0.5)  # sigmoid(0) = 0.5 with zero biases: no data gradient at all
    model = fnn.MLP([3, 4, 1], dtype="float64", backend=backend, seed=1)
    model.set_params({**model.params, "b1": np.zeros(4), "b2": np.zeros(1), "W2": np.zeros((1, 4))})
    before = model.params
    model.fit(X, y, epochs=3, optimizer=fnn.AdamW(lr=0.1, weight_decay=0.5))
    np.testing.assert_allclose(model.params["W1"], before["W1"] * (1 - 0.1 * 0.5) ** 3,
                               rtol=1e-12)
    np.testing.assert_array_equal(model.params["b1"], before["b1"])


def test_hyperparameters_read_as_plain_attributes_and_stay_validated():
    """An optimizer's hyperparameters are validated when assigned and read back as plain
    attributes: a change takes effect at the next update."""
    opt = fnn.Adam(lr=0.01)
    assert isinstance(opt.lr, float) and opt.kernel_arguments()[0] == 0.01
    opt.lr = 0.5
    assert opt.kernel_arguments() == (0.5, 0.9, 0.999, 1e-8, 0.0)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0
    with pytest.raises(ValueError, match="beta1"):
        opt.beta1 = 1.0
    assert opt.lr == 0.5 and opt.beta1 == 0.9
    assert type(fnn.Adam.lr).__name__ == "_Hyperparameter"  # the class keeps the validator
