"""Shared fixtures of the engine-core tests: the course's football data, backends, dtypes.

Hypothesis profiles: "ci" (default: 30 examples, no deadline, derandomized, so that a
run tests the same examples wherever it runs and a red CI means a change broke
something), "explore" (200 fresh random examples per test: the fuzzing to run when
red-teaming, which once found a mis-judged extreme input in a CI run) and "slow" (500
random examples); pick one with the environment variable HYPOTHESIS_PROFILE.
"""
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=30, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile(
    "explore", max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile(
    "slow", max_examples=500, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKENDS = ("cython", "reference")
DTYPES = (np.float32, np.float64)

FOOTBALL_RELATIVE = Path("data") / "c2w1" / "football.npz"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long-running test (a full training run on the NumPy reference backend)")


def football_path():
    """Where football.npz is: next to the repo, then $FASTNN_SHARED, then /work/shared."""
    candidates = [Path(__file__).resolve().parents[2] / "shared" / FOOTBALL_RELATIVE]
    if os.environ.get("FASTNN_SHARED"):
        candidates.append(Path(os.environ["FASTNN_SHARED"]) / FOOTBALL_RELATIVE)
    candidates.append(Path("/work/shared") / FOOTBALL_RELATIVE)
    for path in candidates:
        if path.is_file():
            return path
    return None


@pytest.fixture(scope="session")
def football():
    """(train_X (211, 2), train_y (211,), test_X (200, 2), test_y (200,)), rows as examples."""
    path = football_path()
    if path is None:
        pytest.skip("football.npz not found (looked in ../shared/data/c2w1 next to the repo, "
                    "$FASTNN_SHARED/data/c2w1 and /work/shared/data/c2w1)")
    with np.load(path, allow_pickle=False) as data:
        train_X, train_Y = data["train_X"], data["train_Y"]
        test_X, test_Y = data["test_X"], data["test_Y"]
    # The course stores (n_x, m); fastnn takes rows as examples.
    return (np.ascontiguousarray(train_X.T), train_Y.ravel().copy(),
            np.ascontiguousarray(test_X.T), test_Y.ravel().copy())


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return request.param
