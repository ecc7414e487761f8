"""pytest-benchmark suite for the measurements besides the step: one mnist epoch per
implementation (fit's defaults too), the two gradient checks, fit around the course
net, and a smoke run of ``bench/run.py``.  Nothing here asserts a time (benchmarks are
not tests).
"""
import pytest

from bench import epoch, grad, memory, run, torch_step

EPOCH_LABELS = ["fastnn kp1", "fastnn kp0.8", "fastnn-full-history kp1",
                "fastnn-full-history kp0.8", "torch kp1", "torch kp0.8", "sklearn kp1"]


@pytest.fixture(scope="module")
def epochs():
    return epoch.epoch_callables()


@pytest.fixture(scope="module")
def default_epochs():
    return epoch.defaults_callables()


@pytest.mark.parametrize("label", ["fastnn", "torch", "sklearn"])
def test_epoch_with_fit_defaults(benchmark, default_epochs, label):
    """The mnist-sized epoch with fit's defaults, and the unregularized others."""
    if label not in default_epochs:
        pytest.skip(f"{label} is not installed")
    benchmark.group = "mnist-epoch-defaults"
    error = benchmark(default_epochs[label])
    assert 0.0 <= error <= 1.0


@pytest.mark.parametrize("label", EPOCH_LABELS)
def test_epoch(benchmark, epochs, label):
    """One mnist epoch (8,192 examples, batch 128, + dev evaluation of 1,024)."""
    if label not in epochs:
        pytest.skip(f"{label.split()[0]} is not installed")
    benchmark.group = f"mnist-epoch-{label.split()[1]}"
    error = benchmark(epochs[label])
    assert 0.0 <= error <= 1.0


@pytest.mark.parametrize("method", ["batched", "loop"])
def test_gradcheck(benchmark, method):
    """Checking every component of a [64, 32, 16, 10] network: batched vs the loop."""
    benchmark.group = "gradcheck"
    result = benchmark(grad.gradcheck_callables()[method])
    assert result.n_checked == 2778 and result.verdict == "correct"


def test_memory_peaks_are_measured():
    peaks = memory.measure()
    assert set(peaks) == {(b, k) for b in ("cython", "reference")
                          for k in ("warm", "first", "bare warm")}
    assert all(v >= 0 for v in peaks.values())


def test_torch_step_matches_the_network():
    """The PyTorch step has fastnn's layers: Linear, ReLU, Dropout(1 - keep) on hidden ones."""
    if not torch_step.available():
        pytest.skip("torch is not installed")
    net = torch_step.build_network((64, 128, 64, 10), 0.8)
    kinds = [type(layer).__name__ for layer in net]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert all(abs(layer.p - 0.2) < 1e-12 for layer in net if hasattr(layer, "p"))


def test_run_script_prints_the_targets_table(capsys):
    run.main(["--quick", "--configs", "tiny", "--threads", "1", "--extras", "memory"])
    out = capsys.readouterr().out
    assert "targets of issues 5 and 13" in out and "bare step vs reference" in out
    assert "model.train_step memory fastnn / reference" in out
    for name in run.OPENBLAS_VARIABLES:
        assert name in out


def test_never_slower_is_judged_row_by_row_against_each_rows_noise():
    """A noisy row slower only within its noise must not hide a quiet row really slower."""
    from bench.scaling import worst_row

    noisy, quiet, fine = (0.63, "noisy", 0.42), (0.64, "quiet", 0.03), (1.10, "fine", 0.02)
    assert worst_row([noisy, quiet, fine]) == quiet
    assert worst_row([noisy, fine]) == noisy          # nothing beyond its noise: the lowest
    assert worst_row([]) is None


@pytest.mark.parametrize("name", ["cython fit, full batch", "cython fit, batch 64",
                                  "cython bare step, full batch"])
def test_fit_overhead(benchmark, name):
    """fit around the course net's steps, and the bare step (bench/fit_overhead.py)."""
    from bench import fit_overhead

    benchmark.group = "course-fit"
    benchmark(fit_overhead.callables()[name][0])
