"""pytest-benchmark suite for bench/augment.py: both augmentation paths on the usual
menu, and checks that they draw the same transforms.  Nothing here asserts a time."""
import numpy as np
import pytest

import fastnn as fnn
from bench import augment


@pytest.fixture(scope="module")
def batch():
    return augment.batch_data()


@pytest.mark.parametrize("path", ["per-image", "batch"])
def test_usual_menu(benchmark, batch, path):
    """crop 2 + rotation 10 + zoom 0.1 + flip on 128 flattened 28x28 images."""
    settings = augment.CASES[0][1]
    fn = (augment.PerImageAugmentation(augment.SHAPE, **settings) if path == "per-image"
          else fnn.Augmentation(augment.SHAPE, **settings))
    benchmark.group = "augment-usual-menu"
    out = benchmark(lambda: fn(batch, np.random.default_rng(0)))
    assert out.shape == batch.shape and out.dtype == batch.dtype


@pytest.mark.parametrize("label, settings", augment.CASES)
def test_paths_draw_the_same_transforms(batch, label, settings):
    """Same generator state, same transforms: the outputs differ by interpolation only,
    far less than two different draws do."""
    old = augment.PerImageAugmentation(augment.SHAPE, **settings)
    new = fnn.Augmentation(augment.SHAPE, **settings)
    a, b = old(batch, np.random.default_rng(3)), new(batch, np.random.default_rng(3))
    other = new(batch, np.random.default_rng(4))
    scale = np.abs(a).mean()
    assert np.abs(a - b).mean() < 0.05 * scale
    assert np.abs(other - b).mean() > 5 * np.abs(a - b).mean()


def test_section_prints_both_tables():
    lines, _ = augment.section(quick=True)
    text = "\n".join(lines)
    assert "speed-up" in text and "one fit epoch" in text and "target:" in text
