"""Saving and loading models: exact round trips, rejection of foreign/corrupt/tampered
files without unpickling anything, and atomic writes.

Uses the ``backend`` and ``dtype`` fixtures of conftest.py.
"""
import json
import os
import pathlib

import numpy as np
import pytest

import fastnn as fnn
from fastnn.datasets import make_moons, make_spirals

META = "__fastnn_meta__"


# --------------------------------------------------------------------------- helpers

def _trained(backend, dtype, optimizer, output="sigmoid", standardize=True):
    if output == "softmax":
        X, y = make_spirals(60, n_classes=3, seed=1)
        sizes = [2, 6, 5, 3]
    else:
        X, y = make_moons(60, seed=1)
        sizes = [2, 6, 5, 1]
    X = X * np.array([30.0, 0.2]) + np.array([4.0, -1.0])
    model = fnn.MLP(sizes, activation=["tanh", "relu"], output=output, init="xavier",
                    init_scale=0.5, keep_prob=[0.9, 0.8], input_keep_prob=0.95,
                    l2=[0.1, 0.2, 0.0], l1=[0.0, 0.05, 0.0], dtype=dtype, backend=backend,
                    seed=7)
    if standardize:
        model.standardizer = fnn.Standardizer().fit(X)
    if optimizer is not None:
        model.fit(X, y, epochs=3, batch_size=16, optimizer=optimizer)
    return model, X


OPTIMIZERS = {
    "none": lambda: None,
    "sgd": lambda: fnn.SGD(lr=0.05),
    "momentum": lambda: fnn.Momentum(lr=0.05, beta=0.8),
    "nesterov": lambda: fnn.Nesterov(lr=0.05, beta=0.8),
    "adam": lambda: fnn.Adam(lr=0.01, beta1=0.85, beta2=0.99, epsilon=1e-7),
}


def _arrays_of(path):
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


@pytest.fixture
def saved(tmp_path):
    """A real saved model file and its arrays."""
    model, _ = _trained("cython", np.float32, fnn.Adam(lr=0.01))
    path = tmp_path / "model.npz"
    model.save(path)
    return path, _arrays_of(path)


def _assert_load_rejects(path, *fragments):
    with pytest.raises(fnn.ModelFileError) as info:
        fnn.load(path)
    assert isinstance(info.value, ValueError)
    msg = str(info.value)
    assert str(path) in msg
    for fragment in fragments:
        assert fragment in msg
    return msg


# --------------------------------------------------------------------------- round trip

@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_round_trip_is_exact(backend, dtype, opt_name, tmp_path):
    model, X = _trained(backend, dtype, OPTIMIZERS[opt_name]())
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = fnn.load(path)

    assert isinstance(loaded, fnn.MLP)
    assert loaded.get_config() == model.get_config()
    assert loaded.dtype == model.dtype == np.dtype(dtype)
    assert loaded.backend == backend
    original = model.params
    for name, value in loaded.params.items():
        assert value.dtype == original[name].dtype
        assert np.array_equal(value, original[name]), name
    assert loaded.params.keys() == original.keys()
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert loaded.step_ == model.step_ and loaded.epoch_ == model.epoch_
    if opt_name != "none":
        assert loaded.step_ == 12 and loaded.epoch_ == 3

    assert np.array_equal(loaded.standardizer.mean_, model.standardizer.mean_)
    assert np.array_equal(loaded.standardizer.scale_, model.standardizer.scale_)

    if opt_name == "none":
        assert loaded.optimizer_ is None
        return
    opt, lopt = model.optimizer_, loaded.optimizer_
    assert type(lopt) is type(opt)
    assert lopt.hyperparameters() == opt.hyperparameters()
    (t, state), (lt, lstate) = model.optimizer_state(), loaded.optimizer_state()
    assert lt == t == 12
    assert state.keys() == lstate.keys()
    assert len(state) == 6 * len(opt.slots)
    for key in state:
        assert lstate[key].dtype == state[key].dtype
        assert np.array_equal(lstate[key], state[key]), key


def test_round_trip_softmax_without_standardizer(backend, tmp_path):
    model, X = _trained(backend, np.float64, fnn.Momentum(lr=0.05), output="softmax",
                        standardize=False)
    model.save(str(tmp_path / "s.npz"))  # str paths too
    loaded = fnn.load(str(tmp_path / "s.npz"))
    assert loaded.standardizer is None
    assert loaded.get_config() == model.get_config()
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_loaded_model_is_independent(tmp_path):
    model, X = _trained("cython", np.float32, fnn.SGD(lr=0.05))
    model.save(tmp_path / "m.npz")
    loaded = fnn.load(tmp_path / "m.npz")
    before = model.params
    loaded.fit(X, make_moons(60, seed=1)[1], epochs=2)
    for name, value in model.params.items():
        assert np.array_equal(value, before[name])


def test_save_overwrites_and_leaves_no_temp_files(tmp_path):
    a, X = _trained("cython", np.float32, fnn.SGD(lr=0.05))
    b, _ = _trained("cython", np.float32, None)
    path = tmp_path / "m.npz"
    a.save(path)
    b.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    assert np.array_equal(fnn.load(path).predict_proba(X), b.predict_proba(X))


def test_file_is_plain_npz_with_json_metadata(saved):
    path, arrays = saved
    meta = json.loads(str(arrays[META]))
    assert meta["format"] == "fastnn-model"
    assert {"W1", "b1", "W2", "b2", "W3", "b3"} <= set(arrays)
    assert all(a.dtype != object for a in arrays.values())


# --------------------------------------------------------------------------- bad files

def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fnn.load(tmp_path / "nope.npz")


def test_truncated_file(saved, tmp_path):
    path, _ = saved
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        _assert_load_rejects(bad)


def test_random_and_empty_bytes(tmp_path):
    rng = np.random.default_rng(0)
    for name, content in [("random.npz", rng.bytes(4096)), ("empty.npz", b""),
                          ("zipish.npz", b"PK\x03\x04" + rng.bytes(500)),
                          ("text.npz", b"hello, not a model\n")]:
        path = tmp_path / name
        path.write_bytes(content)
        _assert_load_rejects(path)


def test_plain_npz_of_unrelated_arrays(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.arange(5), b=np.ones((2, 2)))
    _assert_load_rejects(path)


def test_single_npy_file(tmp_path):
    """np.load of a .npy returns an array (no context manager): must still be a
    ModelFileError, not a TypeError from inside load."""
    path = tmp_path / "array.npy"
    np.save(path, np.arange(6.0))
    _assert_load_rejects(path)


def test_metadata_of_another_format_or_version(saved, tmp_path):
    _, arrays = saved
    meta = json.loads(str(arrays[META]))
    for field, value in [("format", "keras-model"), ("format", None), ("version", 99)]:
        tampered = dict(meta, **{field: value})
        path = tmp_path / f"{field}-{value}.npz"
        np.savez(path, **dict(arrays, **{META: np.array(json.dumps(tampered))}))
        _assert_load_rejects(path)


@pytest.mark.parametrize("text", ["[1, 2]", '"fastnn-model"', "null", "42", "{not json"])
def test_metadata_that_is_not_a_json_object(saved, tmp_path, text):
    _, arrays = saved
    path = tmp_path / "meta.npz"
    np.savez(path, **dict(arrays, **{META: np.array(text)}))
    _assert_load_rejects(path)


@pytest.mark.parametrize("change", ["config_keys", "layer_sizes", "step", "standardizer",
                                    "optimizer_name", "drop_state", "nan_weights", "extra_array"])
def test_tampered_contents(saved, tmp_path, change):
    _, arrays = saved
    arrays = dict(arrays)
    meta = json.loads(str(arrays[META]))
    if change == "config_keys":
        meta["config"]["bogus"] = 1
    elif change == "layer_sizes":
        meta["config"]["layer_sizes"] = [2, 9, 5, 1]
    elif change == "step":
        meta["step"] = "many"
    elif change == "standardizer":
        meta["standardizer"] = {"mean": [0.0], "scale": [-1.0]}
    elif change == "optimizer_name":
        meta["optimizer"]["name"] = "rmsprop"
    elif change == "drop_state":
        del arrays["optimizer/m10"]
    elif change == "nan_weights":
        arrays["W2"] = np.full_like(arrays["W2"], np.nan)
    elif change == "extra_array":
        arrays["W9"] = np.zeros(3)
    arrays[META] = np.array(json.dumps(meta))
    path = tmp_path / "t.npz"
    np.savez(path, **arrays)
    _assert_load_rejects(path)


def test_pickled_object_array_is_rejected_without_unpickling(saved, tmp_path):
    _, arrays = saved
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):  # unpickling would create the marker directory
            return (os.makedirs, (str(marker),))

    # An object array in place of a weight, and as an extra member.
    path = tmp_path / "evil.npz"
    np.savez(path, **dict(arrays, W1=np.array([Evil()], dtype=object)))
    msg = _assert_load_rejects(path, "W1 holds Python objects")
    assert "pickle" in msg[len(str(path)):]
    path = tmp_path / "extra.npz"
    np.savez(path, **arrays, evil=np.array([Evil()], dtype=object))
    _assert_load_rejects(path, "unexpected ['evil.npy']")
    assert not marker.exists()
    # the same with the object array as the only payload, under the metadata key
    path2 = tmp_path / "evil2.npz"
    np.savez(path2, **{META: np.array([Evil()], dtype=object)})
    _assert_load_rejects(path2)
    assert not marker.exists()


# --------------------------------------------------------------------------- atomic saving

def _two_models():
    a, X = _trained("cython", np.float32, fnn.SGD(lr=0.05))
    b, _ = _trained("cython", np.float64, fnn.Adam(lr=0.01))
    return a, b, X


@pytest.mark.parametrize("where", ["os.replace", "np.savez", "os.fsync", "write"])
def test_failed_save_keeps_old_file_and_no_temp(tmp_path, monkeypatch, where):
    old, new, X = _two_models()
    path = tmp_path / "m.npz"
    old.save(path)
    original = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(f"simulated failure in {where}")

    if where == "os.replace":
        monkeypatch.setattr(os, "replace", boom)
    elif where == "np.savez":
        monkeypatch.setattr(np, "savez", boom)
    elif where == "os.fsync":
        monkeypatch.setattr(os, "fsync", boom)
    else:  # the disk fills up after part of the data is written
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(data[: len(data) // 2])
                raise OSError(28, "No space left on device")

            def __getattr__(self, name):
                return getattr(self.f, name)

        monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k)))

    with pytest.raises(OSError, match="simulated|space"):
        new.save(path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    assert path.read_bytes() == original
    loaded = fnn.load(path)
    assert loaded.dtype == np.float32
    assert np.array_equal(loaded.predict_proba(X), old.predict_proba(X))


def test_save_into_missing_directory(tmp_path):
    model, _ = _trained("cython", np.float32, None)
    target = tmp_path / "missing" / "m.npz"
    with pytest.raises(OSError):
        model.save(target)
    assert not (tmp_path / "missing").exists()
    assert list(tmp_path.iterdir()) == []


def test_save_accepts_pathlike(tmp_path):
    model, X = _trained("reference", np.float32, None)
    path = pathlib.PurePath(tmp_path / "p.npz")
    model.save(path)
    assert np.array_equal(fnn.load(path).predict_proba(X), model.predict_proba(X))


def test_fitted_model_pickles_and_deep_copies():
    import copy
    import pickle

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    model = fnn.MLP([3, 5, 1], keep_prob=0.8)
    model.fit(X, y, epochs=3, batch_size=16, optimizer=fnn.Adam(0.01))
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        np.testing.assert_array_equal(clone.predict_proba(X), model.predict_proba(X))
        clone.fit(X, y, epochs=1, batch_size=16)  # its step plans are rebuilt


def test_saved_file_has_the_usual_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = tmp_path / "m.npz"
        fnn.MLP([2, 1]).save(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    finally:
        os.umask(old)


def test_regression_save_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    """Saving over an owner-only (0600) file made it 0644: the temporary file that
    replaces it got the umask's mode.  Now a replaced file keeps its mode; a new one
    still gets the umask's (test_saved_file_has_the_usual_permissions)."""
    import stat

    old = os.umask(0o022)
    try:
        path = tmp_path / "m.npz"
        fnn.MLP([2, 1]).save(path)
        for mode in (0o600, 0o640, 0o444):
            os.chmod(path, mode)
            fnn.MLP([2, 1], seed=mode).save(path)
            assert stat.S_IMODE(os.stat(path).st_mode) == mode
            assert fnn.load(path).seed == mode
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    finally:
        os.umask(old)


def test_non_zip_file_is_named_as_such(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"not a zip archive at all")
    with pytest.raises(fnn.ModelFileError, match="not an .npz archive"):
        fnn.load(path)


def test_archive_naming_an_unknown_zip_version_is_a_model_file_error(tmp_path):
    """Found by the fuzzer: a flipped byte in a member's "version needed to extract" makes
    zipfile raise NotImplementedError; load must report a damaged model file instead."""
    path = tmp_path / "m.npz"
    fnn.MLP([2, 3, 1], seed=0).save(path)
    raw = bytearray(path.read_bytes())
    entry = raw.index(b"PK\x01\x02")              # the first central-directory record
    raw[entry + 6:entry + 8] = (109).to_bytes(2, "little")  # "needs zip version 10.9"
    path.write_bytes(bytes(raw))
    with pytest.raises(fnn.ModelFileError, match="not a readable fastnn model file"):
        fnn.load(path)
