"""Random search: the course's sampling scales, reproducibility, zoom, pruning, results."""
import json
import math

import numpy as np
import pytest
from scipy import stats

import fastnn as fnn
from fastnn.blocks.distributions import distribution_from_dict
from fastnn.datasets import make_moons
from fastnn.workflow.search import SuccessiveHalving

SPACE = {"l2": fnn.loguniform(1e-3, 10), "lr": fnn.loguniform(1e-3, 0.1),
         "keep_prob": fnn.uniform(0.6, 1.0), "hidden": fnn.choice([[8], [16, 8]])}
FIT = {"epochs": 60, "optimizer": fnn.Adam(), "eval_every": 20}


@pytest.fixture(scope="module")
def data():
    X, y = make_moons(200, noise=0.3, seed=1)
    tr, dev, _ = fnn.split(X, y, seed=0)
    return tr, dev


@pytest.fixture(scope="module")
def coarse(data):
    return fnn.search(SPACE, *data, 12, fit_args=FIT, seed=3)


# -- the scales -------------------------------------------------------------------------

def test_loguniform_is_uniform_in_log_space():
    rng = np.random.default_rng(0)
    draws = np.array([fnn.loguniform(1e-4, 10).sample(rng) for _ in range(5000)])
    assert draws.min() >= 1e-4 and draws.max() <= 10
    r = np.log10(draws)
    # Kolmogorov-Smirnov against uniform on [-4, 1]: a generous bound for a fixed seed.
    assert stats.kstest(r, stats.uniform(loc=-4, scale=5).cdf).pvalue > 1e-3
    per_decade = np.histogram(r, bins=5, range=(-4, 1))[0]
    assert np.all(np.abs(per_decade - 1000) < 150), per_decade
    # Uniform draws of the value itself would put ~90% in the top decade.
    assert 0.15 < np.mean(draws < 1e-3) < 0.25


def test_one_minus_loguniform_is_uniform_in_log_of_one_minus_beta():
    rng = np.random.default_rng(1)
    beta = np.array([fnn.one_minus_loguniform(1e-3, 1e-1).sample(rng) for _ in range(4000)])
    assert beta.min() >= 0.9 and beta.max() <= 0.999
    r = np.log10(1 - beta)
    assert stats.kstest(r, stats.uniform(loc=-3, scale=2).cdf).pvalue > 1e-3
    # As many draws in [0.99, 0.999] as in [0.9, 0.99]: the notes' point.
    assert 0.45 < np.mean(beta > 0.99) < 0.55


def test_uniform_and_choice():
    rng = np.random.default_rng(2)
    u = np.array([fnn.uniform(0.5, 1.0).sample(rng) for _ in range(4000)])
    assert stats.kstest(u, stats.uniform(loc=0.5, scale=0.5).cdf).pvalue > 1e-3
    c = fnn.choice([[64], [128, 64], [32]])
    picks = [c.index(c.sample(rng)) for _ in range(3000)]
    assert np.all(np.abs(np.bincount(picks) - 1000) < 120)
    first = c.sample(np.random.default_rng(0))
    first.append(1)  # a draw is a copy: the options never change
    assert c.options == [[64], [128, 64], [32]]


def test_search_draws_each_key_on_its_scale(data):
    space = {"l2": fnn.loguniform(1e-4, 1.0), "beta": fnn.one_minus_loguniform(1e-3, 1e-1)}
    result = fnn.search(space, *data, 400, model_args={"layer_sizes": [2, 2, 1]},
                        fit_args={"epochs": 1}, seed=5)
    l2 = np.log10([t.params["l2"] for t in result.trials])
    beta = np.log10([1 - t.params["beta"] for t in result.trials])
    assert stats.kstest(l2, stats.uniform(loc=-4, scale=4).cdf).pvalue > 1e-3
    assert stats.kstest(beta, stats.uniform(loc=-3, scale=2).cdf).pvalue > 1e-3
    assert abs(stats.pearsonr(l2, beta)[0]) < 0.15  # keys drawn independently
    assert result.trials[0].history is not None and result.best_model.optimizer_.name == "momentum"


def test_distributions_round_trip_and_reject_bad_bounds():
    for dist in (fnn.loguniform(1e-4, 10), fnn.uniform(0.5, 1), fnn.choice([[64], "a", 3]),
                 fnn.one_minus_loguniform(1e-3, 0.1)):
        assert distribution_from_dict(json.loads(json.dumps(dist.to_dict()))) == dist
    with pytest.raises(ValueError, match="low"):
        fnn.loguniform(0, 1)
    with pytest.raises(ValueError, match="high"):
        fnn.loguniform(1, 1)
    with pytest.raises(ValueError, match="high"):
        fnn.one_minus_loguniform(1e-3, 2)
    with pytest.raises(ValueError, match="empty"):
        fnn.choice([])
    with pytest.raises(TypeError, match="options"):
        fnn.choice("abc")


# -- reproducibility ----------------------------------------------------------------------

def test_same_seed_same_trials_and_results(coarse, data):
    again = fnn.search(SPACE, *data, 12, fit_args=FIT, seed=3)
    assert again.to_dict(histories=True) == coarse.to_dict(histories=True)
    other = fnn.search(SPACE, *data, 12, fit_args=FIT, seed=4)
    assert [t.params for t in other.trials] != [t.params for t in coarse.trials]


def test_trial_i_does_not_depend_on_n_trials_or_workers(coarse, data):
    few = fnn.search(SPACE, *data, 5, fit_args=FIT, seed=3, n_jobs=2, backend="threading")
    by_index = {t.index: t.to_dict() for t in coarse.trials}
    for trial in few.trials:
        assert trial.to_dict() == by_index[trial.index]


def test_parallel_processes_agree_exactly(coarse, data):
    loky = fnn.search(SPACE, *data, 12, fit_args=FIT, seed=3, n_jobs=2, backend="loky")
    assert loky.to_dict(histories=True) == coarse.to_dict(histories=True)


# -- results ------------------------------------------------------------------------------

def test_trials_are_sorted_and_the_best_model_is_the_best_trial(coarse, data):
    keys = [(t.dev_error, t.dev_cost) for t in coarse.trials]
    assert keys == sorted(keys)
    best = coarse.best
    assert coarse.best_params == best.params
    assert coarse.best_model.error(*data[1]) == best.dev_error
    assert coarse.best_model.error(*data[0]) == best.train_error
    assert coarse.best_model.seed == best.seed
    # The same trial by hand: its values, its seed, the same fit.
    model = fnn.MLP([2, *best.params["hidden"], 1], l2=best.params["l2"],
                    keep_prob=best.params["keep_prob"], seed=best.seed)
    model.fit(*data[0], dev=data[1], epochs=60, optimizer=fnn.Adam(lr=best.params["lr"]),
              eval_every=20)
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, coarse.best_model.params[name])
    assert len(coarse.histories) == 12 and coarse.histories[0]["epoch"] == [20, 40, 60]


def test_to_dict_is_json(coarse):
    record = json.loads(json.dumps(coarse.to_dict(histories=True)))
    assert record["best_params"]["hidden"] == coarse.best_params["hidden"]
    assert len(record["trials"]) == 12 and "history" in record["trials"][0]
    assert record["epochs_trained"] == record["epochs_budget"] == 12 * 60
    assert {k: distribution_from_dict(v) for k, v in record["space"].items()} == SPACE
    assert "history" not in coarse.to_dict()["trials"][0]


def test_report(coarse):
    text = str(coarse)
    assert text.splitlines()[1].startswith("*") and "best (lowest dev error)" in text
    assert "keep_prob" in text and "epochs trained: 720 of 720" in text


# -- coarse to fine -----------------------------------------------------------------------

def test_zoom_narrows_around_the_best(coarse, data):
    fine = coarse.zoom(factor=4)
    best = coarse.best.params
    for key in ("l2", "lr"):
        old, new = SPACE[key], fine[key]
        assert old.low <= new.low < best[key] < new.high <= old.high or \
            new.low <= best[key] <= new.high
        width = math.log10(new.high / new.low)
        assert width == pytest.approx(math.log10(old.high / old.low) / 4)
    assert fine["keep_prob"].high - fine["keep_prob"].low == pytest.approx(0.1)
    assert fine["keep_prob"].low <= best["keep_prob"] <= fine["keep_prob"].high
    assert best["hidden"] in fine["hidden"].options
    # The second call samples inside the narrower space.
    again = fnn.search(fine, *data, 6, fit_args=FIT, seed=4)
    for trial in again.trials:
        for key in ("l2", "lr", "keep_prob"):
            assert fine[key].low <= trial.params[key] <= fine[key].high


def test_zoom_stays_inside_and_keeps_exact_bounds():
    dist = fnn.loguniform(1e-4, 10)
    edge = dist.zoom([9.0], 5)
    assert edge.high == 10 and edge.low == pytest.approx(10 ** (1 - 1))
    assert dist.zoom([1e-4], 1) == dist
    beta = fnn.one_minus_loguniform(1e-3, 1e-1).zoom([0.995], 2)
    assert beta.low < 0.005 < beta.high
    assert math.log10(beta.high / beta.low) == pytest.approx(1.0)
    assert fnn.choice([1, 2, 3]).zoom([3, 1], 2).options == [1, 3]
    with pytest.raises(ValueError, match="factor"):
        dist.zoom([1.0], 0.5)


# -- pruning ------------------------------------------------------------------------------

def test_successive_halving_rungs():
    assert SuccessiveHalving().rungs(64, 2700) == [(300, 64), (900, 22), (2700, 8)]
    assert SuccessiveHalving(min_epochs=100).rungs(64, 2700) == [
        (100, 64), (300, 22), (900, 8), (2700, 3)]
    assert SuccessiveHalving(eta=2, min_epochs=50).rungs(8, 400) == [
        (50, 8), (100, 4), (200, 2), (400, 1)]
    assert SuccessiveHalving().rungs(1, 100) == [(100, 1)]


def test_pruning_trains_fewer_epochs_and_finishes_trials_exactly(data):
    fit = {"epochs": 270, "optimizer": fnn.Adam(), "eval_every": 10}
    full = fnn.search(SPACE, *data, 9, fit_args=fit, seed=2)
    pruned = fnn.search(SPACE, *data, 9, fit_args=fit, seed=2, prune=True)
    assert pruned.epochs_budget == full.epochs_budget == 9 * 270
    assert pruned.epochs_trained < 0.4 * full.epochs_trained
    finalists = [t for t in pruned.trials if t.pruned_at is None]
    assert finalists and all(t.epochs_run == 270 for t in finalists)
    assert pruned.trials[:len(finalists)] == finalists
    by_index = {t.index: t for t in full.trials}
    for trial in finalists:  # continued models end exactly where an unpruned fit does
        same = by_index[trial.index]
        assert (trial.dev_error, trial.train_cost) == (same.dev_error, same.train_cost)
    for trial in pruned.trials[len(finalists):]:
        assert trial.epochs_run == trial.pruned_at < 270
    assert pruned.best_model.epoch_ == 270
    assert pruned.best_model.error(*data[1]) == pruned.best.dev_error
    assert "successive halving" in str(pruned)
    assert pruned.to_dict()["prune"] == {"eta": 3, "min_epochs": None}


# -- the space's keys ---------------------------------------------------------------------

def test_keys_map_onto_model_optimizer_and_fit(data):
    space = {"hidden": fnn.choice([5, [6, 4]]), "beta1": fnn.uniform(0.8, 0.95),
             "batch_size": fnn.loguniform(16, 64), "epochs": fnn.choice([3, 4])}
    result = fnn.search(space, *data, 4, model_args={"output": "softmax", "seed": 9})
    model = result.best_model
    assert model.layer_sizes[0] == 2 and model.layer_sizes[-1] == 2  # softmax on labels 0/1
    assert model.optimizer_.name == "adam" and model.seed == 9
    assert model.optimizer_.beta1 == result.best_params["beta1"]
    assert all(isinstance(t.params["batch_size"], int) for t in result.trials)
    assert all(t.epochs_run == t.params["epochs"] for t in result.trials)
    assert all(t.seed == 9 for t in result.trials)


@pytest.mark.parametrize("key, optimizer", [("lr", "adam"), ("epsilon", "adam"),
                                            ("beta", "momentum"),
                                            ("weight_decay", "adamw")])
def test_the_default_optimizer_is_fits_when_it_takes_the_keys(data, key, optimizer):
    """A search trains with fit's default (Adam) unless the space draws a hyperparameter
    Adam does not have; then with the simplest optimizer that has it."""
    result = fnn.search({key: fnn.uniform(0.001, 0.01)}, *data, 1,
                        model_args={"layer_sizes": [2, 4, 1]}, fit_args={"epochs": 1})
    assert result.best_model.optimizer_.name == optimizer


def test_optimizer_of_fit_args_takes_the_drawn_values(data):
    result = fnn.search({"lr": fnn.loguniform(1e-3, 1e-2)}, *data, 2,
                        model_args={"layer_sizes": [2, 4, 1]},
                        fit_args={"epochs": 2, "optimizer": fnn.RMSprop(beta=0.8)})
    assert result.best_model.optimizer_.name == "rmsprop"
    assert result.best_model.optimizer_.beta == 0.8
    assert result.best_model.optimizer_.lr == result.best_params["lr"]


def test_a_diverging_trial_is_ranked_last_not_raised(data):
    (X, y), dev = data
    result = fnn.search({"lr": fnn.choice([1e-2, 1e6])}, (X, y), dev, 6,
                        model_args={"layer_sizes": [2, 8, 1], "output": "linear"},
                        fit_args={"epochs": 20, "optimizer": fnn.SGD()})
    diverged = [t.diverged for t in result.trials]
    assert any(diverged) and not all(diverged)
    assert diverged == sorted(diverged)


def test_kernels_check(data):
    other = "baseline" if fnn.KERNEL_ISA != "baseline" else "avx2+fma"
    args = dict(model_args={"layer_sizes": [2, 4, 1]}, fit_args={"epochs": 1})
    assert fnn.search({"l2": fnn.uniform(0, 1)}, *data, 2, kernels="same", **args).kernels == (
        fnn.KERNEL_ISA,)
    with pytest.raises(RuntimeError, match="FASTNN_KERNELS"):
        fnn.search({"l2": fnn.uniform(0, 1)}, *data, 2, kernels=other, **args)


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    ({"space": {}}, TypeError, "space"),
    ({"space": {"lambd": fnn.uniform(0, 1)}}, ValueError, "lambd"),
    ({"space": {"l2": 0.1}}, TypeError, "fixed values go in model_args"),
    ({"space": {"l2": fnn.uniform(-2, -1)}}, ValueError, "search trial 0"),
    ({"space": {"hidden": fnn.choice([[4]]), "layer_sizes": fnn.choice([[2, 1]])}},
     ValueError, "both 'hidden' and 'layer_sizes'"),
    ({"model_args": {"l2": 0.1, "layer_sizes": [2, 4, 1]}}, ValueError, "give each in one place"),
    ({"model_args": {}}, ValueError, "layer_sizes"),
    ({"model_args": {"layer_sizes": [2, 4, 1], "lam": 1}}, ValueError, "lam"),
    ({"fit_args": {"dev": None}}, ValueError, "dev"),
    ({"fit_args": {"optimizer": "adam"}}, TypeError, "optimizer"),
    ({"space": {"beta": fnn.uniform(0.8, 0.9)}, "fit_args": {"optimizer": fnn.Adam()}},
     ValueError, "not hyperparameters of Adam"),
    ({"n_trials": 0}, ValueError, "n_trials"),
    ({"seed": -1}, ValueError, "seed"),
    ({"prune": "yes"}, TypeError, "prune"),
    ({"prune": True, "space": {"epochs": fnn.choice([1, 2])}}, ValueError, "epochs"),
    ({"prune": True, "fit_args": {"early_stopping": fnn.EarlyStopping()}}, ValueError,
     "early_stopping"),
    ({"kernels": "sse"}, ValueError, "kernels"),
])
def test_bad_input_fails_before_training(data, kwargs, error, match):
    args = {"space": {"l2": fnn.uniform(0, 1)}, "n_trials": 2,
            "model_args": {"layer_sizes": [2, 4, 1]}, "fit_args": {"epochs": 10 ** 9}, **kwargs}
    with pytest.raises(error, match=match):
        fnn.search(args.pop("space"), *data, args.pop("n_trials"), **args)


def test_bad_data_fails_before_training(data):
    tr, dev = data
    args = dict(model_args={"layer_sizes": [2, 4, 1]}, fit_args={"epochs": 10 ** 9})
    with pytest.raises(TypeError, match="dev"):
        fnn.search({"l2": fnn.uniform(0, 1)}, tr, dev[0], 2, **args)
    with pytest.raises(ValueError, match="X_dev"):
        fnn.search({"l2": fnn.uniform(0, 1)}, tr, (dev[0][:, :1], dev[1]), 2, **args)
    with pytest.raises(ValueError, match="train"):
        fnn.search({"l2": fnn.uniform(0, 1)}, (tr[0], tr[1][:-1]), dev, 2, **args)
