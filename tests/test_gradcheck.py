"""gradcheck: the notes' procedure, bands, per-parameter report, planted bugs."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn.diagnostics.gradcheck import gradcheck, relative_difference, verdict


@pytest.fixture
def problem():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((40, 5))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(float)
    return X, y


def three_layer(backend="cython", dtype="float64", **kwargs):
    args = dict(activation="tanh", output="sigmoid", init="xavier", l2=0.7, seed=3,
                backend=backend, dtype=dtype)
    return fnn.MLP([5, 6, 4, 1], **{**args, **kwargs})


class DoubledDW2(fnn.MLP):
    """A planted backprop bug: dW2 twice what it should be."""

    def gradients(self, X, y):
        grads = super().gradients(X, y)
        grads["dW2"] = 2 * grads["dW2"]
        return grads


def test_bands_follow_the_notes():
    assert verdict(1e-7) == "correct"
    assert verdict(1e-5) == "check again"
    assert verdict(1e-3) == "bug"


def test_relative_difference_is_the_notes_formula():
    a, b = np.array([3.0, 4.0]), np.array([0.0, 0.0])
    assert relative_difference(a, b) == pytest.approx(1.0)
    assert relative_difference(a, a) == 0.0
    assert relative_difference(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(
        np.sqrt(2) / 2)


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("output,activation", [("sigmoid", "tanh"), ("softmax", "relu"),
                                               ("linear", "selu")])
def test_correct_gradients_pass(problem, backend, output, activation):
    X, y = problem
    n_out = {"sigmoid": 1, "softmax": 3, "linear": 2}[output]
    targets = {"sigmoid": y, "softmax": (X[:, 2] > 0).astype(int) + (X[:, 3] > 0),
               "linear": X[:, :2] * 0.5}[output]
    model = fnn.MLP([5, 6, 4, n_out], activation=activation, output=output, l2=0.7, l1=0.2,
                    keep_prob=0.5, dtype="float64", backend=backend, seed=1)
    result = gradcheck(model, X, targets)
    assert result.difference < 1e-6, str(result)
    assert result.verdict == "correct"
    assert set(result.per_parameter) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    assert result.n_checked == sum(p.size for p in model.params.values())


@pytest.mark.parametrize("method", ["auto", "loop"])
def test_planted_bug_is_flagged_and_named(problem, method):
    X, y = problem
    model = DoubledDW2([5, 6, 4, 1], activation="tanh", output="sigmoid", l2=0.7,
                       dtype="float64", seed=3)
    result = gradcheck(model, X, y, method=method)
    assert result.difference > 1e-3
    assert result.verdict == "bug"
    assert result.worst["parameter"] == "W2"
    assert max(result.per_parameter, key=result.per_parameter.get) == "W2"
    assert result.per_parameter["W1"] < 1e-6


def test_patched_instance_gradients_are_checked(problem):
    X, y = problem
    model = three_layer()
    honest = model.gradients

    def scaled_db1(X, y):
        grads = honest(X, y)
        grads["db1"] = grads["db1"] * 1.5
        return grads

    model.gradients = scaled_db1
    result = gradcheck(model, X, y)
    assert result.verdict == "bug"
    assert result.worst["parameter"] == "b1" or result.per_parameter["b1"] > 1e-3
    assert all(v < 1e-6 for k, v in result.per_parameter.items() if k != "b1")


def test_overridden_cost_uses_the_loop_and_catches_a_wrong_cost(problem):
    X, y = problem

    class WrongCost(fnn.MLP):
        def cost(self, X, y):
            return 2.0 * super().cost(X, y)

    model = WrongCost([5, 6, 4, 1], activation="tanh", dtype="float64", seed=3)
    result = gradcheck(model, X, y)
    assert result.verdict == "bug"
    with pytest.raises(ValueError, match="batched"):
        gradcheck(model, X, y, method="batched")


def test_batched_equals_loop(problem):
    X, y = problem
    model = three_layer(l1=0.3)
    batched = gradcheck(model, X, y, method="batched")
    loop = gradcheck(model, X, y, method="loop")
    for name in batched.per_parameter:
        assert batched.per_parameter[name] < 1e-6 and loop.per_parameter[name] < 1e-6
    assert batched.difference == pytest.approx(loop.difference, abs=1e-7)


def test_float64_model_is_left_unchanged(problem):
    X, y = problem
    model = three_layer()
    before = model.params
    gradcheck(model, X, y, method="loop")
    gradcheck(model, X, y)
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, before[name])


def test_float32_model_is_checked_in_float64(problem):
    X, y = problem
    model = three_layer(dtype="float32")
    before = model.params
    result = gradcheck(model, X, y)
    # float32 arithmetic could not reach 1e-7 with epsilon 1e-7: the check ran in float64.
    assert result.difference < 1e-6
    assert model.dtype == np.float32
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, before[name])


def test_subset_checks_fewer_components_from_every_parameter(problem):
    X, y = problem
    model = three_layer()
    result = gradcheck(model, X, y, components=10, seed=1)
    assert 6 <= result.n_checked <= 16
    assert set(result.per_parameter) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    assert result.verdict == "correct"


def test_check_after_training_steps(problem):
    X, y = problem
    model = three_layer()
    before = model.params
    result = gradcheck(model, X, y, after_steps=20, lr=0.5)
    assert result.after_training is not None
    assert result.after_training.verdict == "correct"
    assert "after training" in str(result)
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, before[name])


def test_report_names_parameters(problem):
    X, y = problem
    text = str(gradcheck(three_layer(), X, y))
    assert "W1" in text and "b3" in text and "correct" in text


@pytest.mark.parametrize("kwargs,match", [({"epsilon": 0}, "epsilon"),
                                          ({"components": 0}, "components"),
                                          ({"method": "fast"}, "method"),
                                          ({"after_steps": -1}, "after_steps")])
def test_bad_arguments(problem, kwargs, match):
    X, y = problem
    with pytest.raises(ValueError, match=match):
        gradcheck(three_layer(), X, y, **kwargs)


def test_not_a_model(problem):
    X, y = problem
    with pytest.raises(TypeError, match="model"):
        gradcheck(object(), X, y)


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("output,activation", [
    ("sigmoid", "tanh"), ("sigmoid", "relu"), ("softmax", "relu"), ("softmax", "leaky_relu"),
    ("linear", "selu"), ("linear", "sigmoid")])
def test_compiled_pass_matches_the_loop_component_by_component(problem, output, activation,
                                                               backend):
    """The perturbation pass (compiled, and its NumPy twin) follows perturbations as
    differences through a 4-layer network; every component must equal the notes' loop
    (two full costs per component)."""
    from fastnn.diagnostics.gradcheck import (_batched_differences, _loop_differences,
                                              _select_components)
    X, y = problem
    n_out = {"sigmoid": 2, "softmax": 3, "linear": 2}[output]
    targets = {"sigmoid": np.column_stack([y, 1 - y]),
               "softmax": (X[:, 2] > 0).astype(int) + (X[:, 3] > 0),
               "linear": X[:, :2] * 0.5}[output]
    model = fnn.MLP([5, 7, 6, 4, n_out], activation=activation, output=output, l2=0.7, l1=0.2,
                    dtype="float64", seed=2, init="he", backend=backend)
    selection = _select_components(model, None, 0)
    Xc, yc = model.prepare(X, targets)
    batched = _batched_differences(model, Xc, yc, selection, 1e-7)
    loop = _loop_differences(model, X, targets, selection, 1e-7)
    for name in loop:
        np.testing.assert_allclose(batched[name], loop[name], rtol=1e-6, atol=1e-7,
                                   err_msg=name)


def test_compiled_pass_is_free_of_the_loops_cancellation(problem):
    """J(theta + eps e_i) - J(theta) is taken without subtracting two costs of size J, so the
    batched check lands orders of magnitude under the loop's ~1e-8 on a correct network."""
    X, _ = problem
    labels = (X[:, 2] > 0).astype(int) + (X[:, 3] > 0)
    model = fnn.MLP([5, 6, 4, 3], activation="relu", output="softmax", dtype="float64",
                    seed=1, init="he")
    batched = gradcheck(model, X, labels, method="batched")
    loop = gradcheck(model, X, labels, method="loop")
    assert batched.difference < 1e-9 < loop.difference, (batched.difference, loop.difference)


def test_read_only_inputs_are_checked_like_writable_ones():
    """The compiled pass only reads X: a read-only float64 X (a memory-mapped file, a
    broadcast view) gives the same result as a writable copy."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3))
    y = (X[:, 0] > 0).astype(float)
    frozen = X.copy()
    frozen.flags.writeable = False
    model = fnn.MLP([3, 4, 1], dtype="float64", seed=1)
    assert fnn.gradcheck(model, frozen, y).difference == fnn.gradcheck(model, X, y).difference


# -- through dropout ----------------------------------------------------------------------

class MissingInverseKeepProb(fnn.MLP):
    """A planted bug in the dropout backward: layer 1's mask is applied without its
    1/keep_prob, so dZ1 (hence dW1 and db1) comes out keep_prob times too small; with
    dropout off there is no mask and nothing to miss."""

    def gradients(self, X, y, dropout_step=None):
        grads = super().gradients(X, y, dropout_step=dropout_step)
        if dropout_step is not None:
            grads["dW1"] = grads["dW1"] * self.keep_prob[0]
            grads["db1"] = grads["db1"] * self.keep_prob[0]
        return grads


def dropout_net(cls=fnn.MLP, **kwargs):
    args = dict(activation="tanh", output="sigmoid", l2=0.3, keep_prob=[0.6, 0.8],
                input_keep_prob=0.9, dtype="float64", seed=4)
    return cls([5, 6, 4, 1], **{**args, **kwargs})


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_dropout_gradients_pass_with_the_masks_of_the_current_step(problem, backend):
    X, y = problem
    model = dropout_net(backend=backend)
    model.fit(X, y, epochs=7, optimizer=fnn.SGD(lr=0.1))
    result = gradcheck(model, X, y, dropout=True)
    assert result.dropout_step == model.step_ == 7
    assert result.verdict == "correct", str(result)
    assert result.n_checked == model.n_params
    assert "dropout masks of step 7" in str(result)
    # The masks were on: J and dJ are not those of dropout off.
    assert model.cost(X, y, dropout_step=7) != model.cost(X, y)
    assert not np.allclose(model.gradients(X, y, dropout_step=7)["dW1"],
                           model.gradients(X, y)["dW1"])
    assert gradcheck(model, X, y).dropout_step is None


def test_dropout_check_catches_a_missing_inverse_keep_prob(problem):
    X, y = problem
    model = dropout_net(MissingInverseKeepProb)
    off = gradcheck(model, X, y)  # the notes' way: dropout off, the bug never runs
    assert off.verdict == "correct"
    on = gradcheck(model, X, y, dropout=True)
    assert on.verdict == "bug", str(on)
    assert on.worst["parameter"] in ("W1", "b1")
    assert max(on.per_parameter, key=on.per_parameter.get) in ("W1", "b1")
    assert on.per_parameter["W1"] > 1e-3 and on.per_parameter["b1"] > 1e-3
    assert all(on.per_parameter[name] < 1e-6 for name in ("W2", "b2", "W3", "b3"))


def test_dropout_check_of_a_float32_model_and_after_training(problem):
    X, y = problem
    model = dropout_net(dtype="float32")
    model.step_ = 11
    before = model.params
    result = gradcheck(model, X, y, dropout=True, after_steps=5, lr=0.2)
    assert result.verdict == "correct" and result.dropout_step == 11
    assert result.after_training.verdict == "correct"
    assert result.after_training.dropout_step == 16
    assert model.step_ == 11
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, before[name])


def test_dropout_check_arguments(problem):
    X, y = problem
    with pytest.raises(ValueError, match="batched"):
        gradcheck(dropout_net(), X, y, dropout=True, method="batched")
    with pytest.raises(TypeError, match="dropout"):
        gradcheck(dropout_net(), X, y, dropout="yes")
