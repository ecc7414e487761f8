"""Hostile model files: whatever a file or path holds, ``fastnn.load`` returns a usable
model or raises ModelFileError naming the file (FileNotFoundError for a missing path),
quickly and in memory bounded by the file's size; ``Checkpoint.latest`` skips such
files without blocking.

The files are built structurally, not only by mutating bytes: zip archives written
field by field (so sizes, offsets, methods and flags can lie), npy members with
hand-written headers (huge shapes, object and wrong dtypes, Fortran order, other
versions, huge header lengths), metadata with hostile values (deep nesting, huge,
negative, float, bool, NaN numbers, wrong types, unknown keys, huge strings), members
extra, missing, renamed, duplicated, truncated, compressed or inflating to gigabytes,
and paths that are not regular files (a FIFO, a directory, symlinks to them).

Memory is checked loosely with tracemalloc (NumPy reports its buffers to it); hangs
are caught by a SIGALRM guard of a minute, far above the milliseconds a load takes.
Bugs these tests found have a ``test_regression_*`` test each (they fail on 7677fd3).
The ``slow``-marked variants run more examples and a real multi-gigabyte bomb.
"""
import contextlib
import copy
import io
import json
import math
import os
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn as fnn
import fastnn.workflow.io as model_files
from fastnn.workflow.checkpoint import Checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32",
                                reason="FIFOs, symlinks and SIGALRM are POSIX")

# The folder holding the fastnn under test, for child processes (see test_fuzz.py).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fnn.__file__)))
META = "__fastnn_meta__.npy"
HANG_SECONDS = 60
# tracemalloc peak allowed for loading a file: a fixed allowance plus a multiple of the
# file's size (the arrays, the metadata text and its parse, the model built).
MEMORY_ALLOWANCE = 32 << 20
MEMORY_PER_FILE_BYTE = 8
UNDER_ASAN = "asan" in os.environ.get("LD_PRELOAD", "")


# --------------------------------------------------------------------------- guards


class Hang(Exception):
    pass


@contextlib.contextmanager
def hang_guard(seconds=HANG_SECONDS):
    """Raise Hang if the block runs longer than `seconds` (a hang detector, not a timing
    assertion: a load takes milliseconds)."""
    def alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_bounded(path):
    """("model", MLP) or ("error", ModelFileError) from fnn.load(path), checking that it
    neither hangs nor allocates more than the file's size allows."""
    size = os.path.getsize(path) if os.path.isfile(path) else 0
    tracemalloc.start()
    try:
        with hang_guard():
            try:
                outcome = ("model", fnn.load(path))
            except fnn.ModelFileError as exc:
                outcome = ("error", exc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= MEMORY_ALLOWANCE + MEMORY_PER_FILE_BYTE * size, \
        f"loading a {size}-byte file allocated {peak} bytes"
    if outcome[0] == "error":
        message = str(outcome[1])
        assert isinstance(outcome[1], ValueError) and message.startswith(str(path)), message
    else:
        assert_usable(outcome[1])
    return outcome


def assert_usable(model):
    """A model that loaded must not be poisoned: finite weights, optimizer state and
    predictions on inputs from the standardizer's own region (its mean)."""
    assert all(np.isfinite(p).all() for p in model.params.values())
    if model.optimizer_ is not None:
        assert all(np.isfinite(a).all() for a in model.optimizer_state()[1].values())
    n_x = model.layer_sizes[0]
    probe = np.zeros((2, n_x))
    if model.standardizer is not None:
        probe = np.vstack([model.standardizer.mean_, model.standardizer.mean_ +
                           model.standardizer.scale_])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert np.isfinite(model.predict_proba(probe)).all()


# --------------------------------------------------------------------------- file builders


def raw_zip(entries):
    """A zip archive written field by field, so that every field can lie.

    Each entry is a dict: ``name`` (str or bytes), ``payload`` (the bytes as stored),
    and optionally ``method`` (0 stored, 8 deflate, ...), ``size`` (declared
    uncompressed size), ``csize`` (declared stored size), ``crc``, ``flags`` and
    ``same_as`` (an earlier entry, whose local header and data this one shares:
    overlapping entries).
    """
    body, directory, offsets = bytearray(), bytearray(), {}
    for e in entries:
        name = e["name"].encode("utf-8") if isinstance(e["name"], str) else e["name"]
        payload = e.get("payload", b"")
        method, flags = e.get("method", 0), e.get("flags", 0)
        size, csize = e.get("size", len(payload)), e.get("csize", len(payload))
        crc = e.get("crc", zlib.crc32(payload) if method == 0 else 0)
        if "same_as" in e:
            offset = offsets[id(e["same_as"])]
        else:
            offset = len(body)
            body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, method, 0, 0x21,
                                crc, csize, size, len(name), 0) + name + payload
        offsets[id(e)] = offset
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, method, 0,
                                 0x21, crc, csize, size, len(name), 0, 0, 0, 0, 0,
                                 offset) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                      len(directory), len(body), 0)
    return bytes(body + directory + end)


def npy_bytes(descr, shape, data, fortran=False, version=(1, 0), header=None, length=None):
    """An npy file written by hand: any header text, version and declared length."""
    text = header if header is not None else (
        f"{{'descr': {descr!r}, 'fortran_order': {fortran!r}, 'shape': {tuple(shape)!r}, }}")
    raw = text.encode("latin1")
    prefix = 8 + (2 if version == (1, 0) else 4)
    raw += b" " * (-(prefix + len(raw) + 1) % 64) + b"\n"
    length_format = "<H" if version == (1, 0) else "<I"
    declared = len(raw) if length is None else length
    return (b"\x93NUMPY" + bytes(version) + struct.pack(length_format, declared) + raw + data)


def npy_of(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
    return buffer.getvalue()


def meta_npy(text):
    return npy_of(np.array(text))


def deflate_bomb(prefix, inflated_size):
    """A raw deflate stream of `prefix` then zeros, `inflated_size` bytes in all, built
    from one compressed MiB of zeros repeated (a full flush makes the pieces identical):
    about a thousandth of its inflated size."""
    mib = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    piece = compressor.compress(bytes(mib)) + compressor.flush(zlib.Z_FULL_FLUSH)
    rest = (inflated_size - len(prefix)) - mib * ((inflated_size - len(prefix)) // mib)
    tail = compressor.compress(bytes(rest)) + compressor.flush()
    return head + piece * ((inflated_size - len(prefix)) // mib) + tail


class Parts:
    """A real saved model taken apart: its metadata (dict) and npy members in order."""

    def __init__(self, model):
        with tempfile.TemporaryDirectory() as folder:
            model.save(os.path.join(folder, "m.npz"))
            with zipfile.ZipFile(os.path.join(folder, "m.npz")) as zf:
                self.members = [(info.filename, zf.read(info)) for info in zf.infolist()]
        self.meta = json.loads(str(np.load(io.BytesIO(dict(self.members)[META]))))

    def archive(self, meta_text=None, members=None):
        """The archive of these parts, with other metadata text or other members."""
        members = [m for m in self.members if m[0] != META] if members is None else members
        text = json.dumps(self.meta) if meta_text is None else meta_text
        return raw_zip([{"name": META, "payload": meta_npy(text)}] +
                       [{"name": n, "payload": p} for n, p in members])


def _base_models():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3)) * [5.0, 0.1, 30.0] + [1.0, -2.0, 100.0]
    a = fnn.MLP([3, 4, 2], output="softmax", keep_prob=0.9, seed=3)
    a.standardizer = fnn.Standardizer().fit(X)
    a.fit(X, rng.integers(0, 2, 12), epochs=2, optimizer=fnn.Adam(0.01))
    b = fnn.MLP([3, 5, 4, 1], dtype="float64", seed=5)
    b.fit(X, rng.integers(0, 2, 12), epochs=1, optimizer=fnn.Momentum(0.1))
    c = fnn.MLP([2, 1], seed=1)  # no optimizer, no standardizer
    d = fnn.MLP([3, 4, 2], output="linear", seed=2)  # targets standardized
    Y = X[:, :2] * 50.0 + 400.0
    d.target_standardizer = fnn.Standardizer().fit(Y)
    d.fit(X, Y, epochs=1, optimizer=fnn.SGD(0.01))
    e = fnn.MLP([4, 3, 3], output="softmax", seed=4)  # a table schema: text in and out
    e.schema = fnn.TableSchema([fnn.TableColumn("color", ("blue", "red")), fnn.TableColumn("x"),
                                fnn.TableColumn("size", ("S",))], target="kind",
                               labels=("bird", "cat", "dog"))
    return [Parts(a), Parts(b), Parts(c), Parts(d), Parts(e)]


@pytest.fixture(scope="module")
def bases():
    return _base_models()


def write(tmp_path, data, name="hostile.npz"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- strategies


HUGE_INTS = st.sampled_from([-1, -2**63 - 1, 0, 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63,
                             2**64, 10**30, 10**6])
SPECIAL_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324,
                                  1e-308, -0.0, 0.5, 1.5, 1e-300, 1e300])
LEAVES = st.one_of(st.none(), st.booleans(), HUGE_INTS, SPECIAL_FLOATS,
                   st.integers(-3, 5), st.text(max_size=6),
                   st.sampled_from(["float16", "float64", "relu", "adam", "fastnn-model"]))
JSON_VALUES = st.recursive(
    LEAVES, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                   st.dictionaries(st.text(max_size=4), kids, max_size=3)),
    max_leaves=10)
# JSON text json.dumps cannot make, or that is too big to draw value by value.
RAW_JSON = st.one_of(
    st.integers(1, 14).map(lambda d: "[" * d + "1" + "]" * d),
    st.sampled_from([
        "[" * 100_000 + "]" * 100_000,                 # RecursionError in json.loads
        '{"a":' * 20_000 + "1" + "}" * 20_000,
        "1" * 5000, "-" + "9" * 30, "1." + "0" * 20_000 + "1", "1e999", "-1e999",
        "Infinity", "-Infinity", "NaN",
        '"' + "x" * 200_000 + '"',                     # a huge string
        "[" + ",".join(["1.5"] * 50_000) + "]",        # a huge list
        '"\\ud800"', '"\\u0000"', "[1,]", "{", "",
    ]))
TOP_KEYS = ["format", "version", "config", "step", "epoch", "standardizer", "optimizer",
            "target_standardizer", "schema", "bogus"]
CONFIG_KEYS = ["layer_sizes", "activation", "output", "init", "init_scale", "keep_prob",
               "input_keep_prob", "l2", "l1", "dtype", "backend", "seed", "n_threads",
               "bogus"]


@st.composite
def hostile_metadata(draw, parts):
    """Metadata text: the base's, with 1-3 places set to hostile values (or deleted),
    or replaced as a whole."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(RAW_JSON, JSON_VALUES.map(lambda v: json.dumps(v))))
    meta = copy.deepcopy(parts.meta)
    raws = {}
    for i in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(["top", "config", "optimizer", "standardizer",
                                        "target_standardizer", "schema", "schema column",
                                        "layer_sizes"]))
        if section == "top":
            target, key = meta, draw(st.sampled_from(TOP_KEYS))
        elif section == "config" and isinstance(meta.get("config"), dict):
            target, key = meta["config"], draw(st.sampled_from(CONFIG_KEYS))
        elif section == "optimizer" and isinstance(meta.get("optimizer"), dict):
            target, key = meta["optimizer"], draw(st.sampled_from(
                ["name", "hyperparameters", "t", "bogus"]))
        elif section in ("standardizer", "target_standardizer") and isinstance(
                meta.get(section), dict):
            target, key = meta[section], draw(st.sampled_from(["mean", "scale", "bogus"]))
        elif section == "schema" and isinstance(meta.get("schema"), dict):
            target, key = meta["schema"], draw(st.sampled_from(
                ["columns", "target", "labels", "bogus"]))
        elif (section == "schema column" and isinstance(meta.get("schema"), dict)
              and isinstance(meta["schema"].get("columns"), list) and meta["schema"]["columns"]
              and isinstance(meta["schema"]["columns"][0], dict)):
            target = meta["schema"]["columns"][0]
            key = draw(st.sampled_from(["name", "categories", "bogus"]))
        elif (section == "layer_sizes" and isinstance(meta.get("config"), dict)
              and isinstance(meta["config"].get("layer_sizes"), list)
              and meta["config"]["layer_sizes"]):
            target = meta["config"]["layer_sizes"]
            key = draw(st.integers(0, len(target) - 1))
        else:
            continue
        how = draw(st.sampled_from(["value", "value", "raw", "delete"]))
        if how == "delete" and isinstance(target, dict):
            target.pop(key, None)
        elif how == "raw":
            placeholder = f"@@raw{i}@@"
            raws[json.dumps(placeholder)] = draw(RAW_JSON)
            target[key] = placeholder
        else:
            target[key] = draw(JSON_VALUES)
    text = json.dumps(meta)
    for placeholder, raw in raws.items():
        text = text.replace(placeholder, raw)
    return text


HEADER_VARIANTS = ["huge-shape", "huge-1d", "scalar", "extra-dim", "negative", "object",
                   "float16", "int32", "complex", "text", "bool", "structured",
                   "other-float", "byteswapped", "fortran", "version2", "version3",
                   "version9", "bad-magic", "huge-length", "garbage-header", "code-header"]


def hostile_npy(variant, name, payload, rng_bytes):
    """The npy member `payload` (a real one) rewritten as `variant` says."""
    array = np.load(io.BytesIO(payload))
    shape, data = array.shape, array.tobytes()
    descr = np.lib.format.dtype_to_descr(array.dtype)
    other = "<f8" if array.dtype == np.float32 else "<f4"
    if variant == "huge-shape":
        return npy_bytes(descr, (2**31 - 1, 2**31 - 1), data[:64])
    if variant == "huge-1d":
        return npy_bytes(descr, (10**9,), data)
    if variant == "scalar":
        return npy_bytes(descr, (), data[:array.dtype.itemsize])
    if variant == "extra-dim":
        return npy_bytes(descr, shape + (1,), data)
    if variant == "negative":
        return npy_bytes(descr, (-1,) + shape[1:], data)
    if variant == "object":
        return npy_of(np.array([ValueError("unpickled!")], dtype=object))
    if variant in ("float16", "int32", "complex", "bool"):
        dtype = {"float16": "<f2", "int32": "<i4", "complex": "<c8", "bool": "|b1"}[variant]
        return npy_of(array.astype(dtype))
    if variant == "text":
        return npy_of(array.astype("<U8"))
    if variant == "structured":
        return npy_bytes([("a", descr)], shape, data)
    if variant == "other-float":
        return npy_of(array.astype(other))
    if variant == "byteswapped":
        return npy_of(array.astype(array.dtype.newbyteorder(">")))
    if variant == "fortran":
        return npy_of(np.asfortranarray(array))
    if variant == "version2":
        return npy_bytes(descr, shape, data, version=(2, 0))
    if variant == "version3":
        return npy_bytes(descr, shape, data, version=(3, 0))
    if variant == "version9":
        return npy_bytes(descr, shape, data, version=(9, 0))
    if variant == "bad-magic":
        return b"\x93NUMPZ" + payload[6:]
    if variant == "huge-length":
        return npy_bytes(descr, shape, data, version=(2, 0), length=2**32 - 1)
    if variant == "garbage-header":
        return npy_bytes(descr, shape, data, header="{'descr': " + "[" * 500 + rng_bytes.hex())
    return npy_bytes(descr, shape, data, header="{'descr': __import__('os').getcwd(), "
                                                "'fortran_order': False, 'shape': ()}")


MEMBER_OPS = ["drop", "extra", "rename", "duplicate", "header", "truncate", "garbage",
              "compress", "bomb", "overlap", "size-lie", "crc", "encrypt", "swap"]


@st.composite
def hostile_archive(draw, parts):
    """An archive of the base's members (and metadata) with 1-3 structural attacks."""
    entries = [{"name": META, "payload": meta_npy(json.dumps(parts.meta))}] + [
        {"name": n, "payload": p} for n, p in parts.members if n != META]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(MEMBER_OPS))
        i = draw(st.integers(0, len(entries) - 1))
        e = entries[i]
        if op == "drop" and len(entries) > 1:
            entries.pop(i)
        elif op == "extra":
            name = draw(st.sampled_from(["W9.npy", "evil.npy", "../x.npy", "", "W1.npy/",
                                         "optimizer/m199.npy", "W1", "b1.npy\0x"]))
            payload = draw(st.sampled_from([npy_of(np.zeros(3, np.float32)), b"", b"junk"]))
            entries.append({"name": name, "payload": payload})
        elif op == "rename":
            e["name"] = draw(st.sampled_from(["w1.npy", "W1", "W1.npy.npy", "x/W1.npy",
                                              "W01.npy", "optimizer/m1.npy", META]))
        elif op == "duplicate":
            entries.append({k: v for k, v in e.items() if k != "same_as"})
        elif op == "header":
            original = dict(parts.members).get(e["name"])
            if original is not None and e["name"] != META:
                e["payload"] = hostile_npy(draw(st.sampled_from(HEADER_VARIANTS)), e["name"],
                                           original, draw(st.binary(max_size=16)))
            else:
                e["payload"] = draw(st.sampled_from([
                    npy_bytes("<U536870911", (), b"{}"),
                    npy_bytes("|O", (), b"\x80\x04K\x01."),
                    npy_bytes("<U1", (), b"\xff\xff\xff\xff"),       # not a code point
                    npy_bytes("<U2", (3,), b"\0" * 24),
                    npy_bytes("|S2", (), b"{}"),
                ]))
        elif op == "truncate":
            e["payload"] = e["payload"][:draw(st.integers(0, max(0, len(e["payload"]) - 1)))]
        elif op == "garbage":
            e["payload"] = draw(st.binary(max_size=256))
        elif op == "compress":
            method = draw(st.sampled_from([8, 12, 14, 99]))
            e["payload"], e["method"] = zlib.compress(e["payload"])[2:-4], method
            e["size"] = len(entries[i].get("payload", b"")) * 4
        elif op == "bomb":
            e["size"] = 2**32 - 1
            e["payload"], e["method"] = deflate_bomb(e["payload"][:128], 64 << 20), 8
        elif op == "overlap":
            entries.append({"name": e["name"] + ".twin", "payload": e["payload"],
                            "same_as": e})
        elif op == "size-lie":
            delta = draw(st.sampled_from([-1, 1, 2**20, 2**31]))
            key = draw(st.sampled_from(["size", "csize"]))
            e[key] = max(0, min(2**32 - 1, len(e["payload"]) + delta))
        elif op == "crc":
            e["crc"] = zlib.crc32(e["payload"]) ^ 1
        elif op == "encrypt":
            e["flags"] = 1
        elif op == "swap" and len(entries) > 1:
            j = draw(st.integers(0, len(entries) - 1))
            e["payload"], entries[j]["payload"] = entries[j]["payload"], e["payload"]
    # An overlapping entry needs the entry it shares to come first, and to be there.
    kept = []
    for e in entries:
        if "same_as" not in e or any(e["same_as"] is k for k in kept):
            kept.append(e)
    return raw_zip(kept)


# --------------------------------------------------------------------------- properties


@given(data=st.data())
def test_hostile_metadata_loads_or_fails_cleanly(data, bases, tmp_path):
    parts = data.draw(st.sampled_from(bases))
    path = write(tmp_path, parts.archive(meta_text=data.draw(hostile_metadata(parts))))
    load_bounded(path)


@given(data=st.data())
def test_hostile_archives_load_or_fail_cleanly(data, bases, tmp_path):
    parts = data.draw(st.sampled_from(bases))
    path = write(tmp_path, data.draw(hostile_archive(parts)))
    load_bounded(path)


@given(data=st.data())
def test_mutated_bytes_of_hostile_archives_load_or_fail_cleanly(data, bases, tmp_path):
    """Byte-level damage on top of structural attacks (headers, directory, data)."""
    parts = data.draw(st.sampled_from(bases))
    raw = bytearray(data.draw(hostile_archive(parts)))
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    load_bounded(write(tmp_path, bytes(raw)))


@pytest.mark.slow
@settings(max_examples=500)
@given(data=st.data())
def test_hostile_files_load_or_fail_cleanly_many(data, bases, tmp_path):
    parts = data.draw(st.sampled_from(bases))
    if data.draw(st.booleans()):
        content = parts.archive(meta_text=data.draw(hostile_metadata(parts)))
    else:
        content = data.draw(hostile_archive(parts))
    load_bounded(write(tmp_path, content))


# --------------------------------------------------------------------------- exact cases


def _reject(path, *fragments):
    kind, exc = load_bounded(path)
    assert kind == "error", "the hostile file loaded"
    for fragment in fragments:
        assert fragment in str(exc), str(exc)
    return str(exc)


def test_valid_variants_of_the_npy_members_load_the_same_model(bases, tmp_path):
    """Fortran order, big-endian floats and npy versions 2.0 and 3.0 are valid npy files
    of the same arrays: they load, to the same weights and optimizer state."""
    parts = bases[0]
    original = fnn.load(write(tmp_path, parts.archive(), "original.npz"))
    for variant in ("fortran", "byteswapped", "version2", "version3"):
        members = [(n, hostile_npy(variant, n, p, b"") if n != META else p)
                   for n, p in parts.members if n != META]
        kind, model = load_bounded(write(tmp_path, parts.archive(members=members), variant))
        assert kind == "model", model
        for name, value in original.params.items():
            assert np.array_equal(model.params[name], value), (variant, name)
            assert model.params[name].flags.c_contiguous
        for name, value in original.optimizer_state()[1].items():
            state = model.optimizer_state()[1][name]
            assert np.array_equal(state, value) and state.flags.writeable, (variant, name)


@pytest.mark.parametrize("variant,fragment", [
    ("huge-shape", "has shape"), ("huge-1d", "has shape"), ("scalar", "has shape"),
    ("extra-dim", "has shape"), ("negative", "has shape"), ("object", "Python objects"),
    ("float16", "dtype float16"), ("int32", "dtype int32"), ("complex", "dtype complex64"),
    ("text", "dtype <U8"), ("bool", "dtype bool"), ("structured", "dtype"),
    ("other-float", "the config says float32"), ("version9", "version (9, 0)"),
    ("bad-magic", "not an npy array"), ("huge-length", "npy header of 4294967295 bytes"),
    ("garbage-header", "invalid npy header"), ("code-header", "invalid npy header"),
])
def test_hostile_npy_headers_are_named(bases, tmp_path, variant, fragment):
    parts = bases[0]
    members = [(n, hostile_npy(variant, n, p, b"\x01") if n == "W1.npy" else p)
               for n, p in parts.members if n != META]
    msg = _reject(write(tmp_path, parts.archive(members=members)), fragment)
    assert "W1" in msg


@pytest.mark.parametrize("change,fragment", [
    ("extra", "unexpected ['evil.npy']"),
    ("missing", "missing ['b2.npy']"),
    ("renamed", "missing ['W1.npy'], unexpected ['w1.npy']"),
    ("duplicated", "'W1.npy' is listed twice"),
    ("no-metadata", "no __fastnn_meta__.npy member"),
    ("state-partly", "missing ['optimizer/m10.npy']"),
])
def test_members_must_be_exactly_the_declared_arrays(bases, tmp_path, change, fragment):
    parts = bases[0]
    members = [(n, p) for n, p in parts.members if n != META]
    if change == "extra":
        members.append(("evil.npy", npy_of(np.zeros(2, np.float32))))
    elif change == "missing":
        members = [(n, p) for n, p in members if n != "b2.npy"]
    elif change == "renamed":
        members = [("w1.npy" if n == "W1.npy" else n, p) for n, p in members]
    elif change == "duplicated":
        members.append(members[0])
    elif change == "state-partly":
        members = [(n, p) for n, p in members if n != "optimizer/m10.npy"]
    if change == "no-metadata":
        content = raw_zip([{"name": n, "payload": p} for n, p in members])
    else:
        content = parts.archive(members=members)
    _reject(write(tmp_path, content), fragment)


def test_optimizer_state_may_be_absent_as_a_whole(bases, tmp_path):
    """An optimizer that never stepped was saved without state arrays; that loads, with
    a fresh (zero) state."""
    parts = bases[0]
    members = [(n, p) for n, p in parts.members
               if n != META and not n.startswith("optimizer/")]
    kind, model = load_bounded(write(tmp_path, parts.archive(members=members)))
    assert kind == "model" and model.optimizer_ is not None
    assert all(not a.any() for a in model.optimizer_state()[1].values())


@pytest.mark.parametrize("attack,fragment", [
    ("deflate", "is compressed (method 8)"),
    ("bzip2", "is compressed (method 12)"),
    ("overlap", "more than the file's"),
    ("size-lie", "stored with"),
    ("declared-too-big", "more than the file's"),
    ("encrypted", "is encrypted"),
    ("crc", "Bad CRC-32"),
    ("metadata-too-big", "more than the 1024 a fastnn model's may be"),
])
def test_hostile_zip_directories_are_named(bases, tmp_path, monkeypatch, attack, fragment):
    parts = bases[0]
    entries = [{"name": META, "payload": meta_npy(json.dumps(parts.meta))}] + [
        {"name": n, "payload": p} for n, p in parts.members if n != META]
    w1 = next(e for e in entries if e["name"] == "W1.npy")
    if attack in ("deflate", "bzip2"):
        w1["size"], w1["method"] = len(w1["payload"]), 8 if attack == "deflate" else 12
        w1["payload"] = zlib.compress(w1["payload"])[2:-4]
    elif attack == "overlap":  # every name's entry points at W1's data
        entries += [{"name": f"x{k}.npy", "payload": w1["payload"], "same_as": w1}
                    for k in range(50)]
    elif attack == "size-lie":
        w1["csize"] = len(w1["payload"]) + 7
    elif attack == "declared-too-big":
        w1["size"] = w1["csize"] = 2**31
    elif attack == "encrypted":
        w1["flags"] = 1
    elif attack == "crc":
        w1["crc"] = zlib.crc32(w1["payload"]) ^ 1
    elif attack == "metadata-too-big":  # a real one would be a 16 MB file
        monkeypatch.setattr(model_files, "METADATA_LIMIT", 1024)
    _reject(write(tmp_path, raw_zip(entries)), fragment)


@pytest.mark.parametrize("text,fragment", [
    ("[" * 9 + "]" * 9, "nests 9 deep"),
    ('{"a":' * 3000 + "1" + "}" * 3000, "nests 3000 deep"),
    ('"[[[[[[[[[[[[[["', "the metadata is not a fastnn model's"),   # brackets in a string
    ("{" + '"format": "fastnn-model",' * 2 + "}", "not JSON"),
    ('{"format": "fastnn-model", "format": "fastnn-model"}', "repeats a key"),
    ("[" + "1" * 30 + "]", "an integer of 30 digits"),
    ("[1e999]", "not a finite float"),
    ("[NaN]", "NaN, not a finite number"),
    ("[1." + "0" * 100 + "]", "a number of 102 digits"),
    ('"\\ud800', "not JSON"),
    ("", "not JSON"),
])
def test_hostile_metadata_text_is_named(bases, tmp_path, text, fragment):
    _reject(write(tmp_path, bases[0].archive(meta_text=text)), fragment)


def _with(meta, path, value):
    meta = copy.deepcopy(meta)
    target = meta
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(meta)


@pytest.mark.parametrize("path,value,fragment", [
    (("step",), -1, "step must be an integer in [0, 2**63), got -1"),
    (("step",), 2**63, "step must be an integer in [0, 2**63)"),
    (("step",), 1.0, "step must be an integer"),
    (("step",), True, "step must be an integer"),
    (("epoch",), "3", "epoch must be an integer"),
    (("optimizer", "t"), 2**64 - 1, "optimizer t must be an integer in [0, 2**63)"),
    (("config", "seed"), 2**63, "seed must be an integer in [0, 2**63)"),
    (("config", "n_threads"), 0, "n_threads must be an integer in [1, 1024]"),
    (("config", "n_threads"), 1025, "n_threads must be an integer in [1, 1024]"),
    (("config", "layer_sizes"), [3, 0, 2], "layer_sizes[1] must be an integer in [1, 2**31)"),
    (("config", "layer_sizes"), [3, 2**31, 2], "layer_sizes[1] must be an integer"),
    (("config", "layer_sizes"), [3, True, 2], "layer_sizes[1] must be an integer"),
    (("config", "layer_sizes"), [3], "layer_sizes must be a list of at least 2 sizes"),
    (("config", "layer_sizes"), [3] * 1000, "declares 1998 weight and bias arrays"),
    (("config", "layer_sizes"), [3, 10**9, 2], "W1 has shape (4, 3), but the metadata"),
    (("config", "dtype"), "float16", "config dtype must be one of"),
    (("config", "dtype"), "float64", "but the config says float64"),
    (("config",), [], "config must be an object"),
    (("config", "bogus"), 1, "unexpected keyword argument 'bogus'"),
    (("config", "init_scale"), -1.0, "init_scale must be > 0"),
    (("bogus",), 1, "unknown ['bogus']"),
    (("standardizer",), KeyError, "missing ['standardizer']"),
    (("version",), True, "format version True is not supported"),
    (("optimizer", "name"), "lion", "unknown optimizer 'lion'"),
    (("optimizer", "name"), ["adam"], "unknown optimizer ['adam']"),
    (("optimizer", "name"), "momentum", "unexpected ['optimizer/m10.npy'"),
    (("config", "seed"), 10**30, "an integer of 31 digits"),
    (("optimizer", "hyperparameters"), {"lr": 0.1, "evil": 1}, "unexpected keyword"),
    (("optimizer", "hyperparameters"), {"lr": -1}, "lr must be > 0"),
    (("standardizer", "mean"), [0.0, 1.0], "standardizer mean must be a list of 3 numbers"),
    (("standardizer", "scale"), [1.0, "2", 1.0], "standardizer scale must be a list of 3"),
    (("standardizer", "scale"), [1.0, 0.0, 1.0], "standardizer feature 1"),
    (("standardizer", "mean"), [1e300, 0.0, 0.0], "not finite, or has no finite reciprocal "
                                                  "scale, in the model's float32"),
    (("standardizer", "scale"), [1.0, 1e-40, 1.0], "in the model's float32"),
    (("standardizer", "scale"), [1.0, 1e-20, 1.0], "d['scale'][1] = 1e-20 cannot standardize"),
    (("format",), "x" * 100_000, "the metadata is not a fastnn model's"),
])
def test_hostile_metadata_values_are_named(bases, tmp_path, path, value, fragment):
    parts = bases[0]
    msg = _reject(write(tmp_path, parts.archive(meta_text=_with(parts.meta, path, value))),
                  fragment)
    assert len(msg) < 2000, "a hostile value was echoed whole"


@pytest.mark.parametrize("path,value,fragment", [
    (("target_standardizer",), [1, 2], "target_standardizer must be an object"),
    (("target_standardizer", "mean"), [0.0], "target_standardizer mean must be a list of 2 "
                                             "numbers (one per output)"),
    (("target_standardizer", "mean"), [0.0] * 3, "must be a list of 2 numbers"),
    (("target_standardizer", "scale"), [1.0, True], "must be a list of 2 numbers"),
    (("target_standardizer", "scale"), [1.0, -2.0], "target_standardizer output 1"),
    (("target_standardizer", "mean"), [1e39, 0.0], "output 0 (mean 1e+39"),
    (("target_standardizer", "scale"), [1.0, 1e-39], "in the model's float32"),
    (("target_standardizer", "bogus"), 1, "unknown ['bogus']"),
    (("target_standardizer", "scale"), KeyError, "missing ['scale']"),
    (("config", "output"), "sigmoid", "a target_standardizer is for a linear output, but "
                                      "the config's output is 'sigmoid'"),
])
def test_hostile_target_standardizers_are_named(bases, tmp_path, path, value, fragment):
    parts = bases[3]
    msg = _reject(write(tmp_path, parts.archive(meta_text=_with(parts.meta, path, value))),
                  fragment)
    assert len(msg) < 2000


@pytest.mark.parametrize("path,value,fragment", [
    (("schema",), "color", "schema: schema must be an object with the keys"),
    (("schema", "bogus"), 1, "schema: schema must be an object with the keys"),
    (("schema", "columns"), [], "schema columns must be a non-empty list"),
    (("schema", "columns"), [{"name": "x", "categories": None}] * 4,
     "column names must be distinct"),
    (("schema", "columns"), [{"name": f"c{i}", "categories": None} for i in range(5)],
     "the schema's columns make 5 inputs but the model takes 4"),
    (("schema", "columns", 0, "categories"), ["blue"], "make 3 inputs but the model takes 4"),
    (("schema", "columns", 0, "categories"), ["blue", "blue"], "must be distinct"),
    (("schema", "columns", 0, "categories"), ["b", 7], "non-empty text"),
    (("schema", "columns", 0, "categories"), ["x" * 2000, "y"], "at most 1000 characters"),
    (("schema", "columns", 0, "categories"), [str(i) for i in range(1002)],
     "1 to 1000 texts, got 1002"),
    (("schema", "columns", 0, "name"), "", "non-empty text"),
    (("schema", "columns", 0, "name"), "kind", "the target 'kind' is also a feature"),
    (("schema", "labels"), ["bird", "cat"], "2 class labels but the model's softmax output "
                                            "has 3 classes"),
    (("schema", "labels"), "bird", "schema labels must be a list or null"),
    (("schema", "labels"), ["bird", "cat", "cat"], "must be distinct"),
    (("schema", "target"), 42, "the target's name must be a non-empty text"),
    (("config", "output"), "linear", "class labels are for a sigmoid or softmax output"),
])
def test_hostile_schemas_are_named(bases, tmp_path, path, value, fragment):
    parts = bases[4]
    msg = _reject(write(tmp_path, parts.archive(meta_text=_with(parts.meta, path, value))),
                  fragment)
    assert len(msg) < 2000


def test_a_models_schema_loads(bases, tmp_path):
    model = fnn.load(write(tmp_path, bases[4].archive()))
    assert model.schema.labels == ("bird", "cat", "dog")
    assert model.schema.encode([["red"], [0.5], ["S"]]).tolist() == [[0, 1, 0.5, 1]]


def test_a_linear_models_target_standardizer_loads(bases, tmp_path):
    """The base with standardized targets loads with them: predictions in their units."""
    model = fnn.load(write(tmp_path, bases[3].archive()))
    assert model.target_standardizer.mean_.tolist() == bases[3].meta[
        "target_standardizer"]["mean"]
    assert np.abs(model.predict(np.zeros((4, 3)))).min() > 100  # about 400, not about 0


# --------------------------------------------------------------------------- paths


def _non_regular(tmp_path, kind):
    path = tmp_path / "model.npz"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink-to-fifo":
        os.mkfifo(tmp_path / "pipe")
        path.symlink_to(tmp_path / "pipe")
    elif kind == "symlink-to-dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "symlink-loop":
        path.symlink_to(path)
    elif kind == "below-a-file":
        (tmp_path / "file").write_bytes(b"x")
        path = tmp_path / "file" / "model.npz"
    return path


@pytest.mark.parametrize("kind,fragment", [
    ("fifo", "it is a FIFO (named pipe)"),
    ("directory", "it is a directory"),
    ("symlink-to-fifo", "it is a FIFO (named pipe)"),
    ("symlink-to-dev-zero", "it is a character device"),
    ("symlink-loop", "cannot be opened"),
    ("below-a-file", "cannot be opened"),
])
def test_non_regular_paths_fail_at_once(tmp_path, kind, fragment):
    if kind == "symlink-to-dev-zero" and not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    _reject(_non_regular(tmp_path, kind), fragment)


def test_missing_and_dangling_paths_are_file_not_found(tmp_path):
    (tmp_path / "dangling.npz").symlink_to(tmp_path / "nowhere")
    for name in ("missing.npz", "dangling.npz"):
        with pytest.raises(FileNotFoundError):
            fnn.load(tmp_path / name)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads files whatever their mode")
def test_unreadable_file_is_a_model_file_error(bases, tmp_path):
    path = write(tmp_path, bases[0].archive())
    path.chmod(0)
    try:
        _reject(path, "cannot be opened", "Permission denied")
    finally:
        path.chmod(0o600)


def test_latest_skips_hostile_checkpoints_without_blocking(bases, tmp_path):
    good = tmp_path / "run-epoch000001.npz"
    good.write_bytes(bases[0].archive())
    os.mkfifo(tmp_path / "run-epoch000009.npz")
    (tmp_path / "run-epoch000008.npz").mkdir()
    if os.path.exists("/dev/zero"):
        (tmp_path / "run-epoch000007.npz").symlink_to("/dev/zero")
    (tmp_path / "run-epoch000006.npz").write_bytes(
        bases[0].archive(meta_text="[" * 100_000 + "]" * 100_000))
    w1 = [e for e in bases[0].members if e[0] == "W1.npy"][0]
    (tmp_path / "run-epoch000005.npz").write_bytes(raw_zip([
        {"name": "W1.npy", "payload": deflate_bomb(w1[1][:128], 64 << 20), "method": 8,
         "size": 2**32 - 1}]))
    with hang_guard():
        assert Checkpoint.latest(tmp_path) == str(good)
        assert Checkpoint.latest(tmp_path / "run") == str(good)


# --------------------------------------------------------------------------- standardizer


FIT_VALUES = st.one_of(st.floats(-1e6, 1e6), st.sampled_from(
    [0.0, 5e-324, -5e-324, 1e-310, 1e-300, 1e300, -1e300, 1.7e308, -1.7e308, 1.6e308,
     np.finfo(np.float32).max, 1e20, 1e20 + 1e5]))


@given(columns=st.lists(st.lists(FIT_VALUES, min_size=1, max_size=6), min_size=1,
                        max_size=3).filter(lambda cols: len({len(c) for c in cols}) == 1))
def test_what_fit_computes_from_dict_accepts(columns):
    """from_dict refuses exactly what fit cannot give: a fitted standardizer always
    survives a save (to_dict/from_dict), with finite mean and scale."""
    X = np.array(columns).T
    fitted = fnn.Standardizer().fit(X)
    assert np.isfinite(fitted.mean_).all() and np.isfinite(fitted.scale_).all()
    rebuilt = fnn.Standardizer.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert np.array_equal(rebuilt.mean_, fitted.mean_)
    assert np.array_equal(rebuilt.scale_, fitted.scale_)
    with np.errstate(over="ignore"):
        Z = rebuilt.transform(X)
        # The fitted data maps to finite values unless the subtraction itself overflows.
        assert np.isfinite(Z[np.abs(X - fitted.mean_) < 1e308]).all()


# --------------------------------------------------------------------------- regressions
# Each fails on 7677fd3 (the code before issue 12) and passes now.


def _run_child_with_memory_cap(path, cap=1 << 30):
    """Load `path` in a child limited to `cap` bytes of address space; its outcome."""
    script = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
        sys.path.insert(0, {ROOT!r})
        import fastnn
        try:
            fastnn.load({str(path)!r})
        except fastnn.ModelFileError:
            print("ModelFileError")
        except BaseException as exc:
            print(type(exc).__name__)
        else:
            print("loaded")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"),
                         cwd=os.path.dirname(path))
    return out.stdout.strip() + out.stderr[-1000:]


memory_capped = pytest.mark.skipif(
    UNDER_ASAN, reason="an address-space cap and AddressSanitizer's shadow memory clash")


def _bomb_archive(bases, inflated):
    """The base model's file with W1 replaced by a deflated member inflating to
    `inflated` bytes (an npy header declaring that many float32 zeros)."""
    parts = bases[0]
    count = (inflated - 128) // 4
    header = npy_bytes("<f4", (count,), b"")
    entries = [{"name": META, "payload": meta_npy(json.dumps(parts.meta))}]
    for name, payload in parts.members:
        if name == "W1.npy":
            entries.append({"name": name, "payload": deflate_bomb(header, len(header) + 4 * count),
                            "method": 8, "size": len(header) + 4 * count})
        elif name != META:
            entries.append({"name": name, "payload": payload})
    return raw_zip(entries)


@memory_capped
def test_regression_deflate_bomb_is_refused_before_inflating(bases, tmp_path):
    """A 4 MB file whose W1 member inflates to 4 GB of zeros: np.load read every member
    before checking anything (4 GiB and 15 s here, or MemoryError under a cap).  Now a
    compressed member is refused from the zip directory alone."""
    path = write(tmp_path, _bomb_archive(bases, (4 << 30) - (1 << 20)))
    assert os.path.getsize(path) < 5 << 20
    assert _run_child_with_memory_cap(path) == "ModelFileError"
    _reject(path, "W1.npy' is compressed")


@memory_capped
def test_regression_huge_declared_npy_shape_is_refused_before_allocating(bases, tmp_path):
    """A stored W1 member whose npy header declares 2**30 float32 (4 GiB) but holds a few
    bytes: np.load allocated the declared array first (MemoryError under a cap)."""
    parts = bases[0]
    members = [(n, npy_bytes("<f4", (2**30,), b"\0" * 48) if n == "W1.npy" else p)
               for n, p in parts.members if n != META]
    path = write(tmp_path, parts.archive(members=members))
    assert _run_child_with_memory_cap(path) == "ModelFileError"
    _reject(path, "W1 has shape (1073741824,)")


@memory_capped
def test_regression_metadata_declaring_a_huge_string_is_refused(bases, tmp_path):
    """A metadata member declaring a 2 GiB string (dtype <U536870911) with 2 bytes of
    data: np.load allocated it (MemoryError under a cap)."""
    parts = bases[0]
    content = raw_zip([{"name": META, "payload": npy_bytes("<U536870911", (), b"{}")}] +
                      [{"name": n, "payload": p} for n, p in parts.members if n != META])
    path = write(tmp_path, content)
    assert _run_child_with_memory_cap(path) == "ModelFileError"
    _reject(path, "__fastnn_meta__.npy is", "npy header and shape make")


@pytest.mark.parametrize("kind", ["fifo", "symlink-to-fifo"])
def test_regression_fifo_does_not_block_load(tmp_path, kind):
    """open() of a FIFO with no writer blocks forever; load used to open whatever the
    path named.  (A hang here ends with Hang after a minute.)"""
    _reject(_non_regular(tmp_path, kind), "FIFO")


def test_regression_fifo_checkpoint_does_not_block_latest(bases, tmp_path):
    (tmp_path / "checkpoint-epoch000001.npz").write_bytes(bases[0].archive())
    os.mkfifo(tmp_path / "checkpoint-epoch000002.npz")
    with hang_guard():
        assert Checkpoint.latest(tmp_path).endswith("checkpoint-epoch000001.npz")


def test_regression_deeply_nested_metadata_is_a_model_file_error(bases, tmp_path):
    """json.loads of 100,000 nested lists raised RecursionError, which load let through."""
    _reject(write(tmp_path, bases[0].archive(meta_text="[" * 100_000 + "]" * 100_000)),
            "nests 100000 deep")


def test_regression_metadata_that_is_not_unicode_is_a_model_file_error(bases, tmp_path):
    """A metadata string holding code point 0xFFFFFFFF: NumPy's str() raised SystemError
    ("invalid maximum character passed to PyUnicode_New"), which load let through."""
    parts = bases[0]
    content = raw_zip([{"name": META, "payload": npy_bytes("<U1", (), b"\xff\xff\xff\xff")}] +
                      [{"name": n, "payload": p} for n, p in parts.members if n != META])
    _reject(write(tmp_path, content), "its metadata is not text", "code point")


def test_regression_poisoning_standardizer_is_refused(bases, tmp_path):
    """mean 1e308 and scale 1e-308 passed from_dict's finite-and-positive check: the
    model loaded and every prediction was NaN."""
    parts = bases[1]  # float64, where both values are representable
    meta = copy.deepcopy(parts.meta)
    meta["standardizer"] = {"mean": [1e308] * 3, "scale": [1e-308] * 3}
    _reject(write(tmp_path, parts.archive(meta_text=json.dumps(meta))),
            "d['scale'][0] = 1e-308 cannot standardize a feature of mean 1e+308")


def test_regression_standardizer_overflowing_the_model_dtype_is_refused(bases, tmp_path):
    """A float32 model standardizes in float32, where a mean of 1e300 is inf: it loaded
    and every prediction was NaN."""
    meta = copy.deepcopy(bases[0].meta)
    meta["standardizer"]["mean"][0] = 1e300
    _reject(write(tmp_path, bases[0].archive(meta_text=json.dumps(meta))),
            "standardizer feature 0 (mean 1e+300", "float32")


def test_regression_standardizer_of_another_feature_count_is_refused(bases, tmp_path):
    """A standardizer of 5 features on a 3-input model loaded; every predict failed."""
    meta = copy.deepcopy(bases[0].meta)
    meta["standardizer"] = {"mean": [0.0] * 5, "scale": [1.0] * 5}
    _reject(write(tmp_path, bases[0].archive(meta_text=json.dumps(meta))),
            "standardizer mean must be a list of 3 numbers")


@pytest.mark.parametrize("X", [[[1.7e308], [1.6e308]], [[-1.7e308], [1.7e308]]])
def test_regression_fit_near_float64_limits_gives_usable_standardizer(X):
    """Standardizer.fit gave mean inf ([1.7e308, 1.6e308]: the sum overflowed) or scale
    inf ([-1.7e308, 1.7e308]: the squares did): every transform was NaN or 0, and the
    model saved but did not load."""
    fitted = fnn.Standardizer().fit(np.array(X))
    assert np.isfinite(fitted.mean_).all() and np.isfinite(fitted.scale_).all()
    assert np.isfinite(1 / fitted.scale_).all()
    fnn.Standardizer.from_dict(fitted.to_dict())
    assert np.isfinite(fitted.transform(np.array([[1.0]]))).all()


@pytest.mark.parametrize("path,value", [
    (("step",), 2**63), (("epoch",), 2**63), (("optimizer", "t"), 2**63),
    (("config", "seed"), 2**63), (("config", "seed"), 2**64 + 5),
    (("config", "n_threads"), 10**6),
])
def test_regression_counters_out_of_range_fail_at_load(bases, tmp_path, path, value):
    """Counters and seeds at 2**63 or more loaded and raised OverflowError later (as
    uint64/int64 kernel keys); n_threads 10**6 loaded.  Now a ModelFileError at load."""
    parts = bases[0]
    _reject(write(tmp_path, parts.archive(meta_text=_with(parts.meta, path, value))),
            f"{path[-1]} must be an integer in")


# --------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_real_multi_gigabyte_bomb_in_process(bases, tmp_path):
    """The 4 GiB bomb in this process, with tracemalloc watching: nothing near its
    inflated size is allocated."""
    path = write(tmp_path, _bomb_archive(bases, (4 << 30) - (1 << 20)))
    _reject(path, "is compressed")
