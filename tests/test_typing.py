"""The typed public API: py.typed ships, the Literal aliases match the runtime choices,
and mypy reports no errors on the package (the one imported: installed or in-tree).

mypy runs with the ``[tool.mypy]`` configuration of this checkout's pyproject.toml;
it takes a few seconds (well under a minute) even with a cold cache.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

import fastnn
from fastnn._kernels import _codes
from fastnn.blocks import init, losses, names
from fastnn.blocks.callbacks import MONITORS, Monitor
from fastnn.engine import ENGINES

PACKAGE_DIR = Path(fastnn.__file__).resolve().parent
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
MYPY_TIMEOUT = 300  # seconds; a cold run takes about 5


def test_py_typed_marker_ships_with_the_package():
    assert (PACKAGE_DIR / "py.typed").is_file()


def test_literal_aliases_match_the_runtime_choices():
    assert get_args(names.OutputName) == losses.OUTPUTS
    assert set(get_args(names.InitName)) == set(init.VARIANCES) | {"random", "zeros"}
    assert set(init.INITIALIZERS) == set(init.VARIANCES) | {"random", "zeros"}
    assert get_args(names.BackendName) == tuple(ENGINES)
    assert get_args(Monitor) == MONITORS


def test_names_are_the_kernels_codes():
    """Every activation, output and optimizer name maps to the kernels' own enum member
    (declared once, in _kernels/_codes.pxd), and every member has a name."""
    assert {n.upper() for n in names.ACTIVATION_NAMES} == set(_codes.Activation.__members__)
    assert {names.ACTIVATIONS[n] for n in names.ACTIVATION_NAMES} == set(map(int, _codes.Activation))
    assert set(names.OUTPUT_LOSSES.values()) == set(map(int, _codes.Loss))
    assert set(names.RULES.values()) == set(map(int, _codes.Rule))
    from fastnn.blocks.optim import OPTIMIZERS
    assert set(OPTIMIZERS) == set(names.RULES)


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_mypy_reports_no_errors(tmp_path):
    if not PYPROJECT.is_file():
        pytest.skip(f"no pyproject.toml at {PYPROJECT} (the [tool.mypy] configuration)")
    # mypy checks exactly the package that `import fastnn` gives: an installed one is
    # found through site-packages (PEP 561, py.typed), a source tree through MYPYPATH.
    # It runs from a temporary folder (so nothing else there is taken for a module) and
    # its cache goes there too, never into site-packages or the checkout.
    command = [sys.executable, "-m", "mypy", "--config-file", str(PYPROJECT),
               "--cache-dir", str(tmp_path / "mypy_cache"), "--no-error-summary",
               "-p", "fastnn"]
    env = dict(os.environ)
    if "site-packages" not in PACKAGE_DIR.parts:
        env["MYPYPATH"] = str(PACKAGE_DIR.parent)
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=MYPY_TIMEOUT)
    assert result.returncode == 0, (
        f"mypy found errors in {PACKAGE_DIR}:\n{result.stdout}{result.stderr}")


def test_every_subpackage_ships():
    """pyproject.toml lists every package of fastnn/: a wheel built from it imports."""
    if not PYPROJECT.is_file():
        pytest.skip(f"no pyproject.toml at {PYPROJECT}")
    import tomllib
    listed = set(tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["packages"])
    source = Path(__file__).resolve().parents[1] / "fastnn"
    found = {".".join(p.parent.relative_to(source.parent).parts)
             for p in source.rglob("__init__.py")}
    assert found <= listed, f"not in pyproject.toml: {sorted(found - listed)}"
