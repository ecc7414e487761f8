"""pytest-benchmark suite: one bare training step per (config, keep_prob, backend)
(``TrainPlan.run``; the reference engine's ``step``), ``model.train_step`` per
configuration, and the bare-GEMM floors of each network and batch (NumPy's, and
fastnn's own products alone).  Run with ``pytest bench/``; nothing here asserts a time
(benchmarks are not tests).  Ratios: ``pytest bench/ --benchmark-group-by=group``.
"""
import pytest

from bench import configs
from bench.steps import GemmFloor, PlanFloor, bare_step, current_threads, public_step

# The configurations cheap enough for a pytest run: tiny, small and mnist at batch 128.
SMALL_CONFIGS = tuple(c for c in configs.select(["tiny", "small", "mnist"]) if c.batch <= 211)
NETWORKS = tuple(c for c in SMALL_CONFIGS if c.keep_prob == 1.0)
BACKENDS = ("cython", "reference")


def group(config):
    """Benchmarks of one network and batch size share a group (and its ratio column)."""
    return f"{config.name}-b{config.batch}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("config", SMALL_CONFIGS, ids=lambda c: c.id)
def test_bare_step(benchmark, config, backend):
    """One bare step on a checked batch (the floor-like reference of the public call)."""
    benchmark.group = group(config)
    benchmark.extra_info["blas_threads"] = current_threads()
    benchmark(bare_step(configs.build(config, backend)))


@pytest.mark.parametrize("config", SMALL_CONFIGS, ids=lambda c: c.id)
def test_public_train_step(benchmark, config):
    """``model.train_step(X, y, optimizer)`` on the same batch (checked, not converted)."""
    benchmark.group = group(config)
    benchmark.extra_info["blas_threads"] = current_threads()
    benchmark(public_step(configs.build(config, "cython")))


@pytest.mark.parametrize("config", NETWORKS, ids=group)
def test_gemm_floor(benchmark, config):
    """The matrix products of one step alone (numpy ``@`` into preallocated arrays)."""
    benchmark.group = group(config)
    benchmark.extra_info["blas_threads"] = current_threads()
    benchmark(GemmFloor(config.layer_sizes, config.batch, configs.DTYPE))


@pytest.mark.parametrize("config", NETWORKS, ids=group)
def test_plan_floor(benchmark, config):
    """fastnn's own products of one step alone (``TrainPlan.run_products``)."""
    benchmark.group = group(config)
    benchmark.extra_info["blas_threads"] = current_threads()
    benchmark(PlanFloor(configs.build(config, "cython")))
