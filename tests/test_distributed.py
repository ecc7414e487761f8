"""Search and sweep on a Dask cluster of worker processes, and on Ray: the results of loky.

Skipped when dask.distributed (``pip install "fastnn[distributed]"``) or Ray is missing.
"""
import dataclasses
import os
import warnings

import pytest

import fastnn as fnn
from fastnn.datasets import make_moons
from fastnn.workflow.trials import Job, TrialData, Workers

SPACE = {"l2": fnn.loguniform(1e-3, 10), "lr": fnn.loguniform(1e-3, 0.1),
         "keep_prob": fnn.uniform(0.6, 1.0), "hidden": fnn.choice([[8], [16, 8]])}
ARGS = {"fit_args": {"epochs": 90, "optimizer": fnn.Adam(), "eval_every": 30}}
SWEEP = {"model_args": {"layer_sizes": [2, 16, 1]}, "fit_args": {"epochs": 50}}


@pytest.fixture(scope="module")
def data():
    X, y = make_moons(200, noise=0.3, seed=1)
    tr, dev, _ = fnn.split(X, y, seed=0)
    return tr, dev


@pytest.fixture(scope="module")
def on_loky(data):
    return (fnn.search(SPACE, *data, 8, n_jobs=2, backend="loky", **ARGS),
            fnn.search(SPACE, *data, 9, n_jobs=2, backend="loky", prune=True, **ARGS),
            fnn.sweep("l2", [0.0, 1.0, 3.0], *data, n_jobs=2, backend="loky", **SWEEP))


def _same(results, reference):
    search, pruned, sweep = results
    assert search.to_dict(histories=True) == reference[0].to_dict(histories=True)
    assert pruned.to_dict(histories=True) == reference[1].to_dict(histories=True)
    assert sweep.to_dict() == reference[2].to_dict()
    for a, b in ((search, reference[0]), (pruned, reference[1])):
        for name, value in a.best_model.params.items():
            assert (value == b.best_model.params[name]).all()


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            yield client


def test_dask_by_name_gives_the_results_of_loky(dask_client, data, on_loky):
    results = (fnn.search(SPACE, *data, 8, backend="dask", **ARGS),
               fnn.search(SPACE, *data, 9, backend="dask", prune=True, **ARGS),
               fnn.sweep("l2", [0.0, 1.0, 3.0], *data, backend="dask", **SWEEP))
    _same(results, on_loky)
    assert results[0].kernels == (fnn.KERNEL_ISA,)  # LocalCluster: this machine's build


def test_dask_receives_the_data_once_per_worker(dask_client, data):
    """The data is broadcast when the backend opens; the tasks carry a reference."""
    with Workers(TrialData(*data), None, "dask") as workers:
        holders = [key for key, who in dask_client.who_has().items() if len(who) == 2]
        outcomes = list(workers.map([Job(i, {"layer_sizes": [2, 4, 1]}, {"epochs": 1})
                                     for i in range(6)]))
        after = [key for key, who in dask_client.who_has().items() if len(who) == 2]
    assert len(holders) == 1 and after == holders
    assert sorted(o.index for o in outcomes) == list(range(6))


def test_dask_workers_on_another_build(data):
    """A cluster whose workers run the baseline build: recorded, and refused on request."""
    distributed = pytest.importorskip("dask.distributed")
    if fnn.KERNEL_ISA == "baseline":
        pytest.skip("this machine runs the baseline build already")
    # Two workers: on one single-threaded worker joblib would run the jobs in this process.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0",
                                  env={"FASTNN_KERNELS": "baseline"}) as cluster:
        with distributed.Client(cluster):
            args = dict(model_args={"layer_sizes": [2, 4, 1]}, fit_args={"epochs": 5})
            result = fnn.search({"l2": fnn.uniform(0, 1)}, *data, 2, backend="dask", **args)
            assert result.kernels == ("baseline",)
            with pytest.raises(RuntimeError,
                               match="runs the baseline kernels.*FASTNN_KERNELS=avx2"):
                fnn.search({"l2": fnn.uniform(0, 1)}, *data, 2, backend="dask",
                           kernels="same", **args)
            fnn.search({"l2": fnn.uniform(0, 1)}, *data, 2, backend="dask",
                       kernels="baseline", **args)


def test_mixed_builds_warn(data, monkeypatch):
    import fastnn.workflow.trials as trials
    args = dict(model_args={"layer_sizes": [2, 4, 1]}, fit_args={"epochs": 1})
    honest = trials.train

    def one_on_another_build(job, handle):
        outcome = honest(job, handle)
        return outcome if job.index else dataclasses.replace(outcome, kernels="other")

    monkeypatch.setattr(trials, "train", one_on_another_build)
    with pytest.warns(RuntimeWarning, match="different builds"):
        result = fnn.search({"l2": fnn.uniform(0, 1)}, *data, 2, n_jobs=1, **args)
    assert len(result.kernels) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fnn.search({"l2": fnn.uniform(0, 1)}, *data, 2, n_jobs=1, kernels="same", **args)


@pytest.fixture(scope="module")
def ray_started(tmp_path_factory):
    ray = pytest.importorskip("ray")
    # A local instance for this test: no authentication token written to ~/.ray.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Ray's workers put the driver's working directory first on their sys.path: started
    # from a source checkout whose kernels are built elsewhere (CI installs the package,
    # it does not build in place), they would import that tree's unbuilt fastnn.
    started_in = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("ray"))
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield ray
        ray.shutdown()
    finally:
        os.chdir(started_in)


def test_ray_by_name_gives_the_results_of_loky(ray_started, data, on_loky):
    results = (fnn.search(SPACE, *data, 8, backend="ray", n_jobs=2, **ARGS),
               fnn.search(SPACE, *data, 9, backend="ray", n_jobs=2, prune=True, **ARGS),
               fnn.sweep("l2", [0.0, 1.0, 3.0], *data, backend="ray", n_jobs=2, **SWEEP))
    _same(results, on_loky)
