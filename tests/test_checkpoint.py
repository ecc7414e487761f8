"""Checkpoints and crash safety: every/keep_last, latest() skipping broken files, resumed
training equal to an uninterrupted run, and processes killed (SIGKILL) while training
or while saving losing nothing that had been saved before."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastnn as fnn
from fastnn.workflow.checkpoint import Checkpoint
from fastnn.datasets import make_moons

# The folder holding the fastnn under test, for child processes: the source tree for an
# in-place build, site-packages for an installed one (a bare source tree has no kernels).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fnn.__file__)))
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fsync semantics")


def _data(m=120, seed=3):
    X, y = make_moons(m, seed=seed)
    return np.ascontiguousarray(X), np.ascontiguousarray(y)


MODEL_KW = dict(layer_sizes=[2, 16, 8, 1], activation="relu", keep_prob=[0.8, 0.9],
                input_keep_prob=0.95, l2=0.05, seed=11)
FIT_KW = dict(batch_size=16)


def _model(backend="cython", dtype="float32"):
    return fnn.MLP(backend=backend, dtype=dtype, **MODEL_KW)


def _names(folder):
    return sorted(p for p in os.listdir(folder))


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


# --------------------------------------------------------------------------- naming


def test_directory_and_stem_paths(tmp_path):
    X, y = _data(40)
    model = _model()
    cb = Checkpoint(tmp_path, every=1, keep_last=None)
    model.fit(X, y, epochs=2, callbacks=cb, optimizer=fnn.SGD(0.1))
    assert _names(tmp_path) == ["checkpoint-epoch000001.npz", "checkpoint-epoch000002.npz"]

    stem = Checkpoint(tmp_path / "sub" / "moons.npz", every=2, keep_last=None)
    assert stem.stem == "moons" and stem.folder == str(tmp_path / "sub")
    model.fit(X, y, epochs=4, callbacks=stem)  # cumulative numbering: epochs 3..6
    assert _names(tmp_path / "sub") == ["moons-epoch000004.npz", "moons-epoch000006.npz"]
    fresh = Checkpoint(f"{tmp_path}/new-dir/", every=1)  # trailing "/": a directory
    assert fresh.stem == "checkpoint"
    model.fit(X, y, epochs=1, callbacks=fresh)
    assert _names(tmp_path / "new-dir") == ["checkpoint-epoch000007.npz"]


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"every": 0}, ValueError, "every must be >= 1"),
    ({"every": 1.5}, TypeError, "every must be an integer"),
    ({"keep_last": 0}, ValueError, "keep_last must be >= 1"),
    ({"keep_last": "3"}, TypeError, "keep_last must be an integer"),
    ({"path": ""}, ValueError, "path must not be empty"),
    ({"path": 3}, TypeError, "path"),
])
def test_bad_arguments(tmp_path, kwargs, exc, match):
    kwargs = {"path": tmp_path, **kwargs}
    with pytest.raises(exc, match=match):
        Checkpoint(**kwargs)


@pytest.mark.parametrize("every,keep_last,epochs,expected", [
    (1, 3, 7, [5, 6, 7]),
    (2, 3, 9, [4, 6, 8]),
    (3, 1, 10, [9]),
    (4, None, 12, [4, 8, 12]),
    (5, 2, 4, []),
])
def test_every_and_keep_last(tmp_path, every, keep_last, epochs, expected):
    X, y = _data(40)
    model = _model()
    cb = Checkpoint(tmp_path / "run", every=every, keep_last=keep_last)
    model.fit(X, y, epochs=epochs, optimizer=fnn.Adam(0.01), callbacks=cb, **FIT_KW)
    assert _names(tmp_path) == [f"run-epoch{e:06d}.npz" for e in expected]
    assert len(cb.saved) == epochs // every
    for e in expected:  # each file is the model as it was at the end of its epoch
        assert fnn.load(cb.path_for(e)).epoch_ == e


def test_keep_last_leaves_other_stems_and_files_alone(tmp_path):
    X, y = _data(40)
    (tmp_path / "other-epoch000001.npz").write_bytes(b"not ours")
    (tmp_path / "notes.txt").write_text("hello")
    _model().fit(X, y, epochs=4, callbacks=Checkpoint(tmp_path / "a", keep_last=1))
    assert _names(tmp_path) == ["a-epoch000004.npz", "notes.txt", "other-epoch000001.npz"]


def test_regression_checkpoint_into_a_folder_of_an_older_run(tmp_path):
    """An older run left checkpoints 8-10 of the same stem.  A new run's Checkpoint
    (keep_last=3) pruned the folder's newest three, the old ones, so it deleted each new
    file right after writing it, and latest() returned the old model.  Now the new run
    is refused before its first epoch, and no file is touched."""
    X, y = _data(40)
    _model().fit(X, y, epochs=10, optimizer=fnn.SGD(0.1),
                 callbacks=Checkpoint(tmp_path, keep_last=3))
    before = {name: (tmp_path / name).read_bytes() for name in _names(tmp_path)}
    new = fnn.MLP([2, 4, 1], seed=99)
    initial = new.params
    with pytest.raises(ValueError, match=(
            rf"checkpoint folder {tmp_path} already holds 3 checkpoint\(s\) of stem "
            r"'checkpoint' beyond this model's epoch 0, up to .*checkpoint-epoch000010\.npz"
            r".*another folder or stem")):
        new.fit(X, y, epochs=2, optimizer=fnn.SGD(0.1),
                callbacks=Checkpoint(tmp_path, keep_last=3))
    assert {name: (tmp_path / name).read_bytes() for name in _names(tmp_path)} == before
    assert new.epoch_ == 0
    _assert_same(new.params, initial)
    assert fnn.load(Checkpoint.latest(tmp_path)).epoch_ == 10
    # Another stem in the same folder is another run: fine.
    new.fit(X, y, epochs=2, callbacks=Checkpoint(tmp_path / "new", keep_last=1))
    assert _names(tmp_path) == sorted(before) + ["new-epoch000002.npz"]


def test_keep_last_deletes_only_its_own_files(tmp_path):
    """A resumed run (files up to the model's epoch) is accepted; its keep_last prunes
    what it writes, never the files it found, of any stem."""
    X, y = _data(40)
    model = _model()
    model.fit(X, y, epochs=3, optimizer=fnn.SGD(0.1),
              callbacks=Checkpoint(tmp_path / "run", keep_last=None))
    (tmp_path / "run-epoch000000.npz").write_bytes(b"not a checkpoint, not ours")
    cb = Checkpoint(tmp_path / "run", keep_last=1)
    model.fit(X, y, epochs=3, callbacks=cb)
    assert _names(tmp_path) == [f"run-epoch{e:06d}.npz" for e in (0, 1, 2, 3, 6)]
    assert cb.saved == [cb.path_for(e) for e in (4, 5, 6)]
    # The same epoch saved twice is one file, and the newest: it is kept.
    cb.save(model)
    cb.save(model)
    assert (tmp_path / "run-epoch000006.npz").exists()


def test_newer_files_of_any_kind_refuse_the_folder(tmp_path):
    """Whatever holds a newer checkpoint's name (a broken file, a FIFO, a directory) is
    not this run's, and is named."""
    X, y = _data(40)
    os.mkfifo(tmp_path / "checkpoint-epoch000005.npz")
    (tmp_path / "checkpoint-epoch000002.npz").mkdir()
    model = _model()
    model.epoch_ = 1
    with pytest.raises(ValueError, match=r"2 checkpoint\(s\).*epoch 1, up to .*000005\.npz"):
        model.fit(X, y, epochs=1, callbacks=Checkpoint(tmp_path))
    model.epoch_ = 5
    model.fit(X, y, epochs=1, callbacks=Checkpoint(tmp_path, keep_last=1))
    assert _names(tmp_path) == [f"checkpoint-epoch{e:06d}.npz" for e in (2, 5, 6)]


# --------------------------------------------------------------------------- latest()


def test_latest_none_when_empty(tmp_path):
    assert Checkpoint.latest(tmp_path) is None
    assert Checkpoint.latest(tmp_path / "missing-stem") is None


def test_latest_skips_truncated_corrupt_and_temp_files(tmp_path):
    X, y = _data(40)
    model = _model()
    model.fit(X, y, epochs=3, callbacks=Checkpoint(tmp_path / "run", keep_last=None))
    good = tmp_path / "run-epoch000003.npz"
    data = good.read_bytes()
    # A newer checkpoint truncated (as a non-atomic writer killed mid-write would leave it),
    # a corrupt one, a foreign .npz, and the temp file a killed atomic save leaves behind.
    (tmp_path / "run-epoch000004.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "run-epoch000005.npz").write_bytes(b"\0" * 100)
    np.savez(tmp_path / "run-epoch000006.npz", W1=np.ones(3))
    (tmp_path / ".fastnn-abc123.tmp").write_bytes(data)
    (tmp_path / ".run-epoch000009.npz").write_bytes(data)  # hidden: never a checkpoint
    assert Checkpoint.latest(tmp_path) == str(good)
    assert Checkpoint.latest(tmp_path / "run") == str(good)
    assert Checkpoint.latest(tmp_path / "other") is None
    assert fnn.load(Checkpoint.latest(tmp_path)).epoch_ == 3
    # find() lists the broken files too (whether they load is not checked).
    assert [os.path.basename(p) for p in Checkpoint.find(tmp_path)] == [
        f"run-epoch{e:06d}.npz" for e in (1, 2, 3, 4, 5, 6)]


def test_latest_orders_by_epoch_not_name_length(tmp_path):
    X, y = _data(40)
    model = _model()
    model.epoch_ = 999_998
    model.fit(X, y, epochs=3, callbacks=Checkpoint(tmp_path, keep_last=2))
    assert _names(tmp_path) == ["checkpoint-epoch1000000.npz", "checkpoint-epoch1000001.npz"]
    assert Checkpoint.latest(tmp_path).endswith("checkpoint-epoch1000001.npz")


# --------------------------------------------------------------------------- resume


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resume_from_latest_equals_uninterrupted(tmp_path, backend, dtype):
    X, y = _data()
    total = 12
    straight = _model(backend, dtype)
    straight.fit(X, y, epochs=total, optimizer=fnn.Adam(0.01), **FIT_KW)

    interrupted = _model(backend, dtype)
    # "Crash" after epoch 8: the newest checkpoint is epoch 6.
    interrupted.fit(X, y, epochs=8, optimizer=fnn.Adam(0.01),
                    callbacks=Checkpoint(tmp_path / "run", every=3, keep_last=2), **FIT_KW)
    latest = Checkpoint.latest(tmp_path)
    assert latest.endswith("run-epoch000006.npz")
    model = fnn.load(latest)
    assert model.epoch_ == 6 and model.optimizer_state()[0] == model.step_ > 0
    history = model.fit(X, y, epochs=total - model.epoch_,
                        callbacks=Checkpoint(tmp_path / "run", every=3, keep_last=2), **FIT_KW)
    assert history["epoch"] == list(range(7, total + 1))
    assert model.step_ == straight.step_
    _assert_same(model.params, straight.params)
    # keep_last prunes a Checkpoint's own files: the first run's 3 and 6 stay.
    assert _names(tmp_path) == [f"run-epoch{e:06d}.npz" for e in (3, 6, 9, 12)]
    _assert_same(fnn.load(tmp_path / "run-epoch000012.npz").params, straight.params)


def test_resume_full_batch_with_standardizer(tmp_path):
    X, y = _data()
    X = X * 50 + 3

    def build():
        m = fnn.MLP([2, 8, 1], keep_prob=0.7, seed=4)
        m.standardizer = fnn.Standardizer().fit(X)
        return m

    straight = build()
    straight.fit(X, y, epochs=10, optimizer=fnn.Momentum(0.1))
    first = build()
    first.fit(X, y, epochs=5, optimizer=fnn.Momentum(0.1), callbacks=Checkpoint(tmp_path))
    model = fnn.load(Checkpoint.latest(tmp_path))
    model.fit(X, y, epochs=10 - model.epoch_)
    _assert_same(model.params, straight.params)


# --------------------------------------------------------------------------- SIGKILL


TRAIN_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    import numpy as np
    import fastnn as fnn
    from fastnn.workflow.checkpoint import Checkpoint
    with np.load({data!r}) as d:
        X, y = d["X"], d["y"]
    model = fnn.MLP(**{model_kw!r})
    model.fit(X, y, epochs={total}, optimizer=fnn.Adam(0.01), batch_size={batch},
              callbacks=Checkpoint({stem!r}, every=1, keep_last=3))
    print("finished", flush=True)
""")


def _wait_for(predicate, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"child exited early ({proc.returncode}): {err.decode()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.005)


def test_training_killed_at_random_resumes_to_same_weights(tmp_path):
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    X, y = _data(160)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    total = 1500
    ckdir = tmp_path / "ck"
    ckdir.mkdir()
    kw = dict(MODEL_KW, backend="cython", dtype="float32")
    script = TRAIN_SCRIPT.format(root=ROOT, data=str(tmp_path / "data.npz"), model_kw=kw,
                                 total=total, batch=FIT_KW["batch_size"],
                                 stem=str(ckdir / "run"))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        _wait_for(lambda: Checkpoint.find(ckdir), timeout=60, proc=proc)
        delay = float(rng.uniform(0.0, 0.6))
        time.sleep(delay)
        still_running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    print(f"killed after {delay:.3f}s (still running: {still_running}); "
          f"files: {_names(ckdir)}")
    files = Checkpoint.find(ckdir)
    assert 1 <= len(files) <= 4  # keep_last=3, plus possibly one saved before pruning
    for path in files:  # every checkpoint that exists is complete
        assert fnn.load(path).epoch_ == int(path[-10:-4])
    leftovers = [n for n in os.listdir(ckdir) if not n.startswith("run-epoch")]
    assert all(n.startswith(".fastnn-") and n.endswith(".tmp") for n in leftovers), leftovers

    model = fnn.load(Checkpoint.latest(ckdir))
    assert model.epoch_ == int(files[-1][-10:-4])
    model.fit(X, y, epochs=total - model.epoch_, **FIT_KW)

    straight = fnn.MLP(**kw)
    straight.fit(X, y, epochs=total, optimizer=fnn.Adam(0.01), **FIT_KW)
    assert model.epoch_ == straight.epoch_ == total
    _assert_same(model.params, straight.params)


SAVE_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    import fastnn as fnn
    models = [fnn.MLP({sizes!r}, seed=s) for s in (1, 2)]
    i = 0
    while True:
        models[i % 2].save({path!r})
        print(i, flush=True)
        i += 1
""")


def test_save_killed_at_random_leaves_a_complete_file(tmp_path):
    """SIGKILL during a loop of saves of a 4M-parameter model to one path: the file at the
    path always loads, as the old or the new version.  A kill can leave the writer's
    temporary file (.fastnn-*.tmp); nothing else."""
    sizes = [2000, 2000, 10]
    path = tmp_path / "big.npz"
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    versions = {s: fnn.MLP(sizes, seed=s).params for s in (1, 2)}
    script = SAVE_SCRIPT.format(root=ROOT, sizes=sizes, path=str(path))
    kills = []
    for round_ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=tmp_path)
        try:
            first = proc.stdout.readline()  # one complete save done
            assert first.strip() == b"0", proc.stderr.read().decode()[-2000:]
            time.sleep(float(rng.uniform(0.0, 0.25)))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            saves = first + proc.stdout.read()
        finally:
            proc.kill()
            proc.communicate()
        kills.append(len(saves.split()))
        loaded = fnn.load(path)
        params = loaded.params
        matches = [s for s, v in versions.items()
                   if all(np.array_equal(params[k], v[k]) for k in v)]
        assert len(matches) == 1, "the file is neither version"
        others = [n for n in os.listdir(tmp_path) if n != "big.npz"]
        assert all(n.startswith(".fastnn-") and n.endswith(".tmp") for n in others), others
    temps = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    print(f"saves completed per round: {kills}; temp files left: {len(temps)}")

    # Those leftovers (or, if no kill hit a write, a stand-in) never count as checkpoints.
    ck = tmp_path / "ck"
    ck.mkdir()
    os.replace(path, ck / "checkpoint-epoch000001.npz")
    for n in temps:
        os.replace(tmp_path / n, ck / n)
    (ck / ".fastnn-deadbeef.tmp").write_bytes(b"PK\x03\x04partial")
    assert Checkpoint.latest(ck) == str(ck / "checkpoint-epoch000001.npz")
