"""Tests of fastnn.data: splits and their era defaults, Standardizer, minibatches."""

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.workflow.data import (
    NotFittedError,
    Standardizer,
    default_ratios,
    minibatches,
    split,
    split_counts,
)

LISTED_SIZES = [1, 2, 3, 4, 5, 7, 10, 10_000, 10_001, 1_000_000, 1_000_001, 10**7]


def ratio_triples():
    """Fraction triples summing to 1 (up to float rounding), some with zeros."""
    weights = st.tuples(*[st.integers(0, 1000)] * 3).filter(lambda w: sum(w) > 0)
    return weights.map(lambda w: tuple(x / sum(w) for x in w))


def assert_valid_counts(m, ratios, counts):
    assert len(counts) == len(ratios)
    assert all(isinstance(c, int) and c >= 0 for c in counts)
    assert sum(counts) == m
    positive = [s for s, r in enumerate(ratios) if r > 0]
    for s, r in enumerate(ratios):
        if r == 0:
            assert counts[s] == 0
    if m >= len(positive):
        assert all(counts[s] >= 1 for s in positive)
    else:
        # Too few examples for every set: the earliest sets (train first) get one.
        assert [counts[s] for s in positive] == [1] * m + [0] * (len(positive) - m)
    if all(m * r >= 1 for r in ratios if r > 0):
        # No set needed topping up, so this is plain largest-remainder rounding.
        assert all(abs(c - m * r) < 1 for c, r in zip(counts, ratios))


# --------------------------------------------------------------------------- #
# split_counts and default_ratios
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("m", LISTED_SIZES)
@pytest.mark.parametrize("test", [True, False])
def test_split_counts_listed_sizes_with_defaults(m, test):
    ratios = default_ratios(m, test=test)
    assert_valid_counts(m, ratios, split_counts(m, ratios))


@given(m=st.integers(1, 10**7), ratios=ratio_triples())
@settings(max_examples=400, deadline=None)
def test_split_counts_any_size_any_triple(m, ratios):
    assert_valid_counts(m, ratios, split_counts(m, ratios))


@given(m=st.integers(1, 10**7), train=st.floats(0.0, 1.0))
@settings(max_examples=200, deadline=None)
def test_split_counts_any_size_pairs(m, train):
    ratios = (train, 1.0 - train)
    assert_valid_counts(m, ratios, split_counts(m, ratios))


@given(m=st.integers(1, 10**7), ratios=ratio_triples())
@settings(max_examples=100, deadline=None)
def test_split_counts_matches_exact_largest_remainder(m, ratios):
    # Independent oracle: exact rationals, leftovers to the largest remainders.
    exact = [Fraction(repr(r)) for r in ratios]
    quotas = [m * r / sum(exact) for r in exact]
    expected = [int(q) for q in quotas]
    ranked = sorted(range(3), key=lambda s: (-(quotas[s] - expected[s]), s))
    for s in ranked[: m - sum(expected)]:
        expected[s] += 1
    if min(c for c, r in zip(expected, ratios) if r > 0) >= 1:
        assert split_counts(m, ratios) == tuple(expected)


def test_split_counts_known_values():
    assert split_counts(10, (0.6, 0.2, 0.2)) == (6, 2, 2)
    assert split_counts(1, (0.6, 0.2, 0.2)) == (1, 0, 0)
    assert split_counts(2, (0.6, 0.2, 0.2)) == (1, 1, 0)
    assert split_counts(3, (0.98, 0.01, 0.01)) == (1, 1, 1)
    # Decimal ties go to the earlier set, whatever the binary rounding of 0.35.
    assert split_counts(10, (0.35, 0.45, 0.2)) == (4, 4, 2)
    assert split_counts(10_001, (0.98, 0.01, 0.01)) == (9801, 100, 100)
    assert split_counts(7, (0.5, 0.5, 0.0)) == (4, 3, 0)


def test_split_counts_int_counts_are_taken_as_is():
    assert split_counts(10, (7, 2, 1)) == (7, 2, 1)
    assert split_counts(10, (10, 0)) == (10, 0)
    with pytest.raises(ValueError, match="ratios"):
        split_counts(10, (7, 2, 2))


@pytest.mark.parametrize(
    "ratios",
    [(0.5, 0.6), (0.7, 0.2), (1.2, -0.1, -0.1), (0.5,), (0.25, 0.25, 0.25, 0.25),
     (float("nan"), 0.5, 0.5)],
)
def test_split_counts_bad_ratios(ratios):
    with pytest.raises(ValueError, match="ratios"):
        split_counts(100, ratios)


def test_split_counts_message_gives_the_sum():
    with pytest.raises(ValueError, match=r"ratios.*sum 0\.9"):
        split_counts(100, (0.6, 0.2, 0.1))


def test_split_counts_bad_m():
    with pytest.raises(ValueError, match="m"):
        split_counts(-1, (0.5, 0.5))
    with pytest.raises(TypeError, match="m"):
        split_counts(10.0, (0.5, 0.5))


@pytest.mark.parametrize(
    "m, test, expected",
    [
        (1, True, (0.6, 0.2, 0.2)),
        (10_000, True, (0.6, 0.2, 0.2)),
        (10_001, True, (0.98, 0.01, 0.01)),
        (1_000_000, True, (0.98, 0.01, 0.01)),
        (1_000_001, True, (0.995, 0.0025, 0.0025)),
        (10_000, False, (0.8, 0.2)),
        (10_001, False, (0.99, 0.01)),
        (1_000_000, False, (0.99, 0.01)),
        (1_000_001, False, (0.9975, 0.0025)),
    ],
)
def test_default_ratios_era_cutoffs(m, test, expected):
    assert default_ratios(m, test=test) == expected


def test_default_ratios_sum_to_one():
    for m in LISTED_SIZES:
        for test in (True, False):
            assert sum(default_ratios(m, test)) == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------- #
# split
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("m", [3, 4, 10, 97, 10_000, 10_001])
def test_split_is_disjoint_and_complete(m):
    X = np.arange(m)
    parts = split(X)
    indices = np.concatenate([part for part, _ in parts])
    assert np.array_equal(np.sort(indices), np.arange(m))
    assert [len(part) for part, _ in parts] == list(split_counts(m, default_ratios(m)))


@pytest.mark.parametrize("m, ratios, sizes", [(1, (1.0, 0.0), [1, 0]), (2, (0.5, 0.5), [1, 1])])
def test_split_tiny_data(m, ratios, sizes):
    parts = split(np.arange(m), ratios=ratios)
    assert [len(part) for part, _ in parts] == sizes
    assert sorted(np.concatenate([part for part, _ in parts]).tolist()) == list(range(m))


def test_split_shuffles_and_keeps_pairs_together():
    X = np.arange(200).reshape(100, 2)
    y = X[:, 0] * 10
    parts = split(X, y)
    assert len(parts) == 3
    for X_part, y_part in parts:
        assert np.array_equal(y_part, X_part[:, 0] * 10)
    train = parts[0][0][:, 0]
    assert not np.array_equal(train, np.sort(train))


def test_split_returns_copies_not_views():
    X = np.arange(30.0).reshape(10, 3)
    y = np.arange(10)
    for X_part, y_part in split(X, y):
        assert not np.shares_memory(X_part, X)
        assert not np.shares_memory(y_part, y)


def test_split_without_y_gives_none():
    parts = split(np.arange(10))
    assert all(y_part is None for _, y_part in parts)


def test_split_same_seed_same_split_other_seed_other_split():
    X = np.arange(1000)
    first = split(X, seed=3)
    again = split(X, seed=3)
    other = split(X, seed=4)
    for a, b in zip(first, again):
        assert np.array_equal(a[0], b[0])
    assert not np.array_equal(first[0][0], other[0][0])


def test_split_seed_none_is_allowed():
    parts = split(np.arange(10), seed=None)
    assert sum(len(p) for p, _ in parts) == 10


def test_split_two_way_without_test():
    X = np.arange(100)
    parts = split(X, test=False)
    assert [len(p) for p, _ in parts] == [80, 20]


def test_split_two_ratios_mean_two_sets_even_with_test():
    parts = split(np.arange(100), ratios=(0.7, 0.3), test=True)
    assert [len(p) for p, _ in parts] == [70, 30]


def test_split_int_counts():
    parts = split(np.arange(10), ratios=(5, 3, 2))
    assert [len(p) for p, _ in parts] == [5, 3, 2]


def test_split_zero_ratio_gives_empty_set():
    parts = split(np.arange(10.0).reshape(5, 2), np.arange(5), ratios=(0.8, 0.2, 0.0))
    assert parts[2][0].shape == (0, 2)
    assert parts[2][1].shape == (0,)


def test_split_too_few_examples_for_positive_ratio():
    with pytest.raises(ValueError, match="X"):
        split(np.arange(2), ratios=(0.6, 0.2, 0.2))


def test_split_keeps_trailing_dimensions():
    X = np.zeros((20, 4, 5))
    y = np.zeros((20, 3))
    (X_tr, y_tr), _, _ = split(X, y)
    assert X_tr.shape == (12, 4, 5)
    assert y_tr.shape == (12, 3)


@pytest.mark.parametrize(
    "ratios", [(0.6, 0.6, -0.2), (0.5, 0.2, 0.2), (0.9,), (0.4, 0.2, 0.2, 0.2)]
)
def test_split_bad_ratios(ratios):
    with pytest.raises(ValueError, match="ratios"):
        split(np.arange(10), ratios=ratios)


def test_split_three_ratios_with_test_false_is_ambiguous():
    with pytest.raises(ValueError, match="ratios"):
        split(np.arange(10), ratios=(0.6, 0.2, 0.2), test=False)


def test_split_length_mismatch_names_y():
    with pytest.raises(ValueError, match="y"):
        split(np.zeros((10, 2)), np.zeros(9))


def test_split_empty_x():
    with pytest.raises(ValueError, match="X"):
        split(np.zeros((0, 3)))


@pytest.mark.parametrize("seed", [1.5, "0", [1]])
def test_split_bad_seed_type(seed):
    with pytest.raises(TypeError, match="seed"):
        split(np.arange(10), seed=seed)


def test_split_negative_seed():
    with pytest.raises(ValueError, match="seed"):
        split(np.arange(10), seed=-1)


def test_split_stratify_needs_y():
    with pytest.raises(ValueError, match="y"):
        split(np.arange(10), stratify=True)


# --------------------------------------------------------------------------- #
# stratified split
# --------------------------------------------------------------------------- #
def assert_stratified(labels, parts_labels, set_sizes):
    """Each class's count in each set is within one of its proportional share."""
    m = len(labels)
    classes, class_sizes = np.unique(labels, return_counts=True)
    for part, size in zip(parts_labels, set_sizes):
        assert len(part) == size
        for c, n_c in zip(classes, class_sizes):
            share = n_c * size / m
            assert abs(np.sum(part == c) - share) <= 1


def test_stratify_keeps_class_proportions():
    y = np.repeat([0, 1, 2], [700, 200, 100])
    X = np.arange(1000)
    parts = split(X, y, stratify=True, seed=1)
    assert_stratified(y, [p[1] for p in parts], (600, 200, 200))
    # Here every share is whole, so the split is exact.
    assert [np.sum(parts[1][1] == c) for c in range(3)] == [140, 40, 20]
    indices = np.concatenate([p[0] for p in parts])
    assert np.array_equal(np.sort(indices), X)
    for X_part, y_part in parts:
        assert np.array_equal(y[X_part], y_part)


@given(
    class_sizes=st.lists(st.integers(1, 60), min_size=1, max_size=8),
    ratios=ratio_triples(),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=200, deadline=None)
def test_stratify_any_classes(class_sizes, ratios, seed):
    y = np.repeat(np.arange(len(class_sizes)), class_sizes)
    m = len(y)
    counts = split_counts(m, ratios)
    if any(c == 0 and r > 0 for c, r in zip(counts, ratios)):
        return
    parts = split(np.arange(m), y, ratios=ratios, stratify=True, seed=seed)
    indices = np.concatenate([p[0] for p in parts])
    assert np.array_equal(np.sort(indices), np.arange(m))
    assert_stratified(y, [p[1] for p in parts], counts)


def test_stratify_one_hot_uses_argmax():
    labels = np.repeat([0, 1], [80, 20])
    y = np.eye(2)[labels]
    parts = split(np.arange(100), y, stratify=True)
    for X_part, y_part in parts:
        assert np.array_equal(y_part, y[X_part])
    assert [int(p[1][:, 1].sum()) for p in parts] == [12, 4, 4]


def test_stratify_column_labels():
    y = np.repeat([0.0, 1.0], [50, 50]).reshape(100, 1)
    parts = split(np.arange(100), y, stratify=True, test=False)
    assert [int(p[1].sum()) for p in parts] == [40, 10]


def test_stratify_shuffles_within_sets():
    y = np.repeat([0, 1], [500, 500])
    train_labels = split(np.arange(1000), y, stratify=True)[0][1]
    assert not np.array_equal(train_labels, np.sort(train_labels))


# --------------------------------------------------------------------------- #
# Standardizer
# --------------------------------------------------------------------------- #
def test_standardizer_train_set_mean_zero_std_one():
    rng = np.random.default_rng(0)
    X = rng.normal([5.0, -3.0, 1000.0], [2.0, 0.1, 300.0], size=(500, 3))
    Z = Standardizer().fit_transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)


def test_standardizer_uses_population_variance():
    X = np.array([[1.0], [3.0]])
    scaler = Standardizer().fit(X)
    assert scaler.mean_.tolist() == [2.0]
    assert scaler.scale_.tolist() == [1.0]  # sqrt(((1-2)^2 + (3-2)^2) / 2), not / 1
    assert scaler.n_features_in_ == 1


def test_standardizer_dev_uses_train_statistics():
    train = np.array([[0.0, 10.0], [2.0, 10.0], [4.0, 40.0]])
    # mu = (2, 20); sigma = (sqrt(8/3), sqrt(200))
    scaler = Standardizer().fit(train)
    dev = np.array([[5.0, 50.0]])
    expected = [[3.0 / np.sqrt(8 / 3), 30.0 / np.sqrt(200.0)]]
    np.testing.assert_allclose(scaler.transform(dev), expected, rtol=1e-14)


def test_standardizer_constant_column_maps_to_zero():
    X = np.array([[0.1, 1.0], [0.1, 2.0], [0.1, 3.0]])
    scaler = Standardizer().fit(X)
    Z = scaler.transform(X)
    assert scaler.scale_[0] == 1.0
    assert np.all(Z[:, 0] == 0.0)
    assert np.isfinite(Z).all()


def test_standardizer_nearly_constant_column_is_not_blown_up():
    X = np.full((7, 1), 1e8) + np.array([[0.0], [1e-8], [0], [0], [0], [0], [0]])
    Z = Standardizer().fit_transform(X)
    assert np.abs(Z).max() < 1e-6


def test_standardizer_single_example():
    Z = Standardizer().fit_transform(np.array([[3.0, -4.0]]))
    assert Z.tolist() == [[0.0, 0.0]]


def test_standardizer_before_fit():
    with pytest.raises(NotFittedError, match="fit"):
        Standardizer().transform(np.zeros((2, 2)))
    assert issubclass(NotFittedError, RuntimeError)
    assert issubclass(NotFittedError, ValueError)
    assert issubclass(NotFittedError, AttributeError)
    with pytest.raises(NotFittedError):
        Standardizer().inverse_transform(np.zeros((2, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standardizer_preserves_float_dtype(dtype):
    X = np.arange(12, dtype=dtype).reshape(4, 3)
    scaler = Standardizer().fit(X)
    assert scaler.transform(X).dtype == dtype
    assert scaler.inverse_transform(scaler.transform(X)).dtype == dtype


def test_standardizer_int_input_gives_float64():
    Z = Standardizer().fit_transform(np.arange(6).reshape(3, 2))
    assert Z.dtype == np.float64


def test_standardizer_wrong_feature_count():
    scaler = Standardizer().fit(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"X has 5 features.*4"):
        scaler.transform(np.zeros((3, 5)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_standardizer_rejects_non_finite(bad):
    X = np.ones((3, 2))
    X[1, 1] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        Standardizer().fit(X)
    scaler = Standardizer().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="X"):
        scaler.transform(X)


def test_standardizer_rejects_bad_shapes():
    with pytest.raises(ValueError, match="X"):
        Standardizer().fit(np.zeros(5))
    with pytest.raises(ValueError, match="X"):
        Standardizer().fit(np.zeros((0, 3)))


def test_standardizer_round_trips():
    rng = np.random.default_rng(1)
    X = rng.normal(3.0, 5.0, size=(50, 4))
    X[:, 2] = 7.0
    scaler = Standardizer().fit(X)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-12)

    state = json.loads(json.dumps(scaler.to_dict()))
    assert set(state) == {"mean", "scale"}
    restored = Standardizer.from_dict(state)
    assert restored.n_features_in_ == 4
    np.testing.assert_array_equal(restored.transform(X), scaler.transform(X))


def test_standardizer_from_dict_validates():
    with pytest.raises(ValueError, match="d"):
        Standardizer.from_dict({"mean": [0.0, 1.0], "scale": [1.0]})
    with pytest.raises(ValueError, match="scale"):
        Standardizer.from_dict({"mean": [0.0], "scale": [0.0]})
    with pytest.raises(ValueError, match="d"):
        Standardizer.from_dict({"mean": [0.0]})


# --------------------------------------------------------------------------- #
# minibatches
# --------------------------------------------------------------------------- #
def test_minibatches_cover_a_permutation():
    batches = minibatches(10, 4, np.random.default_rng(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    everything = np.concatenate(batches)
    assert np.array_equal(np.sort(everything), np.arange(10))
    assert not np.array_equal(everything, np.arange(10))


def test_minibatches_exact_multiple():
    assert [len(b) for b in minibatches(12, 4, np.random.default_rng(0))] == [4, 4, 4]


def test_minibatches_fresh_permutation_each_call():
    rng = np.random.default_rng(0)
    first = np.concatenate(minibatches(100, 10, rng))
    second = np.concatenate(minibatches(100, 10, rng))
    assert not np.array_equal(first, second)


def test_minibatches_reproducible():
    a = minibatches(50, 8, np.random.default_rng(7))
    b = minibatches(50, 8, np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("batch_size", [None, 10, 11])
def test_minibatches_full_batch_is_unshuffled(batch_size):
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    batches = minibatches(10, batch_size, rng)
    assert len(batches) == 1
    assert np.array_equal(batches[0], np.arange(10))
    assert rng.bit_generator.state == state


def test_minibatches_validation():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="batch_size"):
        minibatches(10, 0, rng)
    with pytest.raises(TypeError, match="batch_size"):
        minibatches(10, 2.5, rng)
    with pytest.raises(TypeError, match="rng"):
        minibatches(10, 2, 0)
    with pytest.raises(ValueError, match="m"):
        minibatches(0, 2, rng)
