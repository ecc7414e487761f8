"""Saving and loading models: one .npz holding the arrays and a JSON metadata record.

Saving writes atomically (a temporary file in the same folder, flushed to disk, then
renamed over the target), so a crash while saving leaves any previous file intact; a
file that is replaced keeps its permission bits.

Loading treats the file as hostile until it is checked, and bounds every read by what
has been checked before it, so a tampered file costs about its own size in memory and
fails at once:

1. Only a regular file is opened, without blocking: a FIFO, a device or a directory
   (or a symlink to one) is refused before anything is read from it.
2. The zip directory must list each member once, stored uncompressed (as np.savez
   writes it), with sizes that add up to no more than the file: no member can inflate
   or overlap another.
3. The metadata member is read (at most ``METADATA_LIMIT`` bytes), parsed as JSON
   nested at most ``MAX_DEPTH`` deep with every number bounded, and its values are
   checked (counters and seeds in [0, 2**63), ``n_threads`` in [1, 1024], layer sizes
   in [1, 2**31), the standardizers finite in the model's dtype and as long as its
   inputs and outputs, a target standardizer only on a linear output, the table
   schema's names and categories distinct texts adding up to the model's inputs, and
   its class labels one per class of the output layer).
4. The other members must be exactly the arrays the metadata declares, and each npy
   header must give the dtype and shape the metadata implies (and the size the zip
   directory declares) before any array data is read; then each array is read, never
   more bytes than its header implies, and zipfile checks its CRC.

Nothing is ever unpickled.  :func:`read_model_file` does all of this and returns the
checked metadata and arrays; :func:`load` then builds the model from them.
"""
from __future__ import annotations

import contextlib
import io as _io
import json
import math
import os
import re
import reprlib
import stat
import struct
import tempfile
import zipfile
from typing import IO, Any, Optional, Union

import numpy as np
from numpy.lib import format as npy_format
from numpy.typing import NDArray

from fastnn.model import MLP
from fastnn.workflow.data import Standardizer
from fastnn.workflow.tables import TableSchema
from fastnn.blocks.optim import OPTIMIZERS, optimizer_from_config
from fastnn.blocks.schedules import SCHEDULES, schedule_from_config
from fastnn.blocks.validation import COUNTER_LIMIT, MAX_LAYER_SIZE, MAX_THREADS

FORMAT = "fastnn-model"
VERSION = 1
META_KEY = "__fastnn_meta__"
META_MEMBER = META_KEY + ".npy"
# The prefixes of the members that are not parameters: batch norm's running statistics
# (running/mean<l>, running/var<l>) and the optimizer's state (optimizer/<slot><i>).
RUNNING = "running/"
OPTIMIZER = "optimizer/"

# The metadata holds the standardizer's mean and scale as JSON text, about 45
# characters per input feature, stored 4 bytes a character (NumPy's UTF-32 strings):
# 16 MiB admit some 90,000 standardized input features (a 64x64x3 image model's
# metadata is 1.9 MB).  With every member stored uncompressed, the file has to be that
# big too.
METADATA_LIMIT = 16 << 20
# Ours nests 5 deep (the record, its schema, its columns list, a column, its categories).
MAX_DEPTH = 8
# An npy header of ours is 128 bytes; NumPy refuses more than 10000, but only after
# reading as many bytes as a 2.0 header's 4-byte length declares.
_NPY_HEADER_LIMIT = 4096
# Arrays are read in pieces this big, into their final buffers.
_READ_CHUNK = 1 << 20

# (low, high exclusive, as the message says it) of the integers in the metadata: the
# model's own bounds (fastnn.blocks.validation), checked here before anything is built.
_COUNTER_RANGE = (0, COUNTER_LIMIT, "[0, 2**63)")
_LAYER_SIZE_RANGE = (1, MAX_LAYER_SIZE, "[1, 2**31)")
_THREADS_RANGE = (1, MAX_THREADS + 1, f"[1, {MAX_THREADS}]")

_META_KEYS = frozenset({"format", "version", "config", "step", "epoch", "standardizer",
                        "optimizer", "lr_schedule", "target_standardizer", "schema"})
_OPTIMIZER_KEYS = frozenset({"name", "hyperparameters", "t"})
_STANDARDIZER_KEYS = frozenset({"mean", "scale"})
_DTYPES = ("float32", "float64")


class ModelFileError(ValueError):
    """The file is not a readable fastnn model (not a regular file, or corrupt, truncated,
    foreign or tampered with)."""


class _Invalid(ValueError):
    """A check of the file's contents failed; read_model_file adds the file's name."""


# An npy member's (shape, fortran_order, dtype, header length in bytes).
_NpyHeader = tuple[tuple[int, ...], bool, np.dtype[Any], int]


# --------------------------------------------------------------------------- saving


def save(model: MLP, path: Union[str, os.PathLike[str]]) -> None:
    """Write `model` (architecture, hyperparameters, weights, standardizers, optimizer state).

    Parameters
    ----------
    model : MLP
    path : str or path-like
        The .npz file to write.  An existing file is replaced atomically and keeps its
        permission bits; a new one gets those ``open`` would give it (0666 less the umask).
    """
    path = os.fspath(path)
    # Any: np.savez's stub would read a key named like its keyword arguments as one.
    arrays: dict[str, Any] = model.params
    arrays.update({f"{RUNNING}{k}": v for k, v in model.running_statistics.items()})
    meta: dict[str, Any] = {"format": FORMAT, "version": VERSION, "config": model.get_config(),
            "step": model.step_, "epoch": model.epoch_, "optimizer": None,
            "lr_schedule": _schedule_record(model.lr_schedule_),
            "standardizer": _standardizer_record("standardizer", model.standardizer),
            "target_standardizer": _standardizer_record("target_standardizer",
                                                        model.target_standardizer),
            "schema": _schema_record(model.schema)}
    opt, state = model.optimizer_, model.optimizer_state()
    if opt is not None and state is not None:
        t, slots = state
        meta["optimizer"] = {"name": opt.name, "hyperparameters": opt.hyperparameters(), "t": t}
        arrays.update({f"{OPTIMIZER}{k}": v for k, v in slots.items()})
    arrays[META_KEY] = np.array(json.dumps(meta))
    buffer = _io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(path, buffer.getvalue())


def _standardizer_record(attribute: str, standardizer: Any) -> Optional[dict[str, Any]]:
    """The saved form of the model's `attribute` (a fastnn.Standardizer, or None)."""
    if standardizer is None:
        return None
    if not isinstance(standardizer, Standardizer):
        raise TypeError(f"model.{attribute} ({type(standardizer).__name__}) cannot be saved: "
                        "a model file holds a fastnn.Standardizer only")
    return standardizer.to_dict()


def _schema_record(schema: Any) -> Optional[dict[str, Any]]:
    """The saved form of the model's table schema (a fastnn.TableSchema, or None)."""
    if schema is None:
        return None
    if not isinstance(schema, TableSchema):
        raise TypeError(f"model.schema ({type(schema).__name__}) cannot be saved: a model "
                        "file holds a fastnn.TableSchema only")
    return schema.to_dict()


def _schedule_record(schedule: Any) -> Optional[dict[str, Any]]:
    """The saved form of the model's learning-rate schedule: a built-in one's name and
    configuration (with its state); None for none, or for a function (code, not data)."""
    if schedule is None or type(schedule).__name__ not in SCHEDULES:
        return None
    return {"name": type(schedule).__name__, "config": schedule.config()}


def write_atomically(path: Union[str, os.PathLike[str]], data: bytes) -> None:
    """Write `data` to `path` atomically: a temporary file in the same folder, flushed
    to disk, then renamed over `path` (a crash leaves any previous file whole; a file
    that is replaced keeps its permission bits).

    Parameters
    ----------
    path : str or path-like
    data : bytes
    """
    path = os.fspath(path)
    mode = _mode_for(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            # mkstemp makes the file owner-only; set the mode before the data is synced.
            os.chmod(tmp, mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _mode_for(path: str) -> int:
    """Permission bits for the file about to be written at `path`: those of the regular
    file it replaces, else what ``open`` would give a new file (0666 less the umask)."""
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        return stat.S_IMODE(st.st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# --------------------------------------------------------------------------- loading


# What a damaged archive can make zipfile, NumPy's npy reader or the JSON parser raise,
# whatever the damage: zipfile raises NotImplementedError for an unknown zip version
# or compression method, RuntimeError for encryption, EOFError for a short member,
# struct.error for short records; anything may raise MemoryError.
_UNREADABLE = (zipfile.BadZipFile, ValueError, TypeError, LookupError, ArithmeticError,
               OSError, EOFError, RuntimeError, MemoryError, SyntaxError, struct.error)
# What building the model from checked metadata can raise: the constructors' argument
# errors, and MemoryError for an architecture the machine cannot hold.
_UNBUILDABLE = (ValueError, TypeError, LookupError, ArithmeticError, MemoryError)


def load(path: Union[str, os.PathLike[str]]) -> MLP:
    """Read a model written by :meth:`MLP.save`.

    The file is checked before anything is built, and read within bounds set by what
    was checked before (see the module docstring): a tampered file fails quickly, and
    costs no more memory than its own size.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    MLP
        With its weights, standardizers, table schema, step/epoch counters and optimizer
        state.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist (or is a dangling symlink).
    ModelFileError (a ValueError)
        For anything else that keeps the file from loading: not a regular file (a
        directory, FIFO or device), unreadable, corrupt, truncated, not a fastnn model,
        tampered with, or holding pickled objects.  The message names the file.
    """
    path = os.fspath(path)
    meta, arrays = read_model_file(path)
    try:
        return _rebuild(meta, arrays)
    except _UNBUILDABLE as exc:
        raise ModelFileError(f"{path} is not a valid fastnn model file: "
                             f"{_describe(exc)}") from None


def read_model_file(path: Union[str, os.PathLike[str]]
                    ) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """Read and check a model file, without building the model.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    meta : dict
        The metadata record ("format", "version", "config", "step", "epoch",
        "standardizer", "target_standardizer", "optimizer", "lr_schedule", "schema"),
        its values checked as the module docstring says ("schema" as a TableSchema).
    arrays : dict of str to ndarray
        The parameters as MLP.params names them, "running/mean<l>" and "running/var<l>"
        with batch norm, and "optimizer/<slot><i>" when the file holds optimizer state:
        C-contiguous, writeable, of the config's dtype and the shapes it implies.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ModelFileError (a ValueError)
        If the file is not a regular file or not a valid fastnn model file.
    """
    path = os.fspath(path)
    with _open_regular_file(path) as f:
        try:
            return _read_archive(f, os.fstat(f.fileno()).st_size)
        except _Invalid as exc:
            raise ModelFileError(f"{path} is not a valid fastnn model file: {exc}") from None
        except _UNREADABLE as exc:
            raise ModelFileError(f"{path} is not a readable fastnn model file (corrupt, "
                                 f"truncated or not ours): {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    """An error for a message: ValueErrors by their text, others with their type."""
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _show(value: Any) -> str:
    """`value` for a message, abbreviated (a tampered file's strings can be megabytes)."""
    return reprlib.repr(value)


def _open_regular_file(path: str) -> IO[bytes]:
    """`path` opened for reading if it is a regular file (after symlinks).

    The file is opened without blocking and then checked through its descriptor, so a
    FIFO cannot block us and no other file can be swapped in between check and open.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ModelFileError(f"{path} cannot be opened as a fastnn model file: "
                             f"{exc.strerror or exc}") from None
    try:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind != stat.S_IFREG:
            raise ModelFileError(f"{path} is not a fastnn model file: it is "
                                 f"{_FILE_KINDS.get(kind, 'not a regular file')}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_FILE_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO (named pipe)",
               stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFSOCK: "a socket"}


def _read_archive(f: IO[bytes], file_size: int
                  ) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """The checked (meta, arrays) of the open model file `f` of `file_size` bytes."""
    with _open_zip(f) as zf:
        members = _member_infos(zf, file_size)
        meta = _read_metadata(zf, members.pop(META_MEMBER, None))
        declared = _match_members(members, _declared_arrays(meta, len(members)))
        dtype = np.dtype(meta["config"]["dtype"])
        # Every header first: a wrong member fails the file before any data is read.
        headers = {name: _array_header(zf, members[name + ".npy"], name, shape, dtype)
                   for name, shape in declared.items()}
        arrays = {name: _read_array(zf, members[name + ".npy"], header, dtype)
                  for name, header in headers.items()}
    return meta, arrays


def _open_zip(f: IO[bytes]) -> zipfile.ZipFile:
    """`f` as a zip archive, or why it is not one."""
    if f.read(len(npy_format.MAGIC_PREFIX)) == npy_format.MAGIC_PREFIX:
        raise _Invalid("it is a single NumPy array (.npy), not an .npz archive")
    f.seek(0)
    try:
        return zipfile.ZipFile(f)
    except zipfile.BadZipFile as exc:
        raise _Invalid(f"not an .npz archive ({exc})") from None


def _member_infos(zf: zipfile.ZipFile, file_size: int) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name: each listed once, unencrypted, stored uncompressed,
    their sizes adding up to no more than the file, so no member can inflate (a zip
    bomb) or be counted twice (overlapping entries) and no read can exceed the file."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        name = info.filename
        if name in members:
            raise _Invalid(f"the member {_show(name)} is listed twice")
        if info.flag_bits & 0x1:
            raise _Invalid(f"the member {_show(name)} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise _Invalid(f"the member {_show(name)} is compressed (method "
                           f"{info.compress_type}); fastnn model files are stored "
                           "uncompressed, as np.savez writes them")
        if info.compress_size != info.file_size:
            raise _Invalid(f"the member {_show(name)} is stored with {info.compress_size} "
                           f"bytes but declares {info.file_size}")
        members[name] = info
    total = sum(info.file_size for info in members.values())
    if total > file_size:
        raise _Invalid(f"its members declare {total} bytes in all, more than the file's "
                       f"{file_size}")
    return members


# --------------------------------------------------------------------------- npy members


def _read_exactly(member: IO[bytes], n: int, name: str) -> bytes:
    data = member.read(n)
    if len(data) != n:
        raise _Invalid(f"{name} is truncated")
    return data


def _npy_header(member: IO[bytes], name: str) -> _NpyHeader:
    """(shape, fortran_order, dtype, header length in bytes) of the npy member `name`,
    read by NumPy's own header parser after we have bounded the header's length."""
    try:
        version = npy_format.read_magic(member)
    except ValueError as exc:
        raise _Invalid(f"{name} is not an npy array: {exc}") from None
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise _Invalid(f"{name} is an npy array of format version {version}; "
                       "fastnn reads versions 1.0 to 3.0")
    length_format = "<H" if version == (1, 0) else "<I"
    length_bytes = _read_exactly(member, struct.calcsize(length_format), name)
    (length,) = struct.unpack(length_format, length_bytes)
    if length > _NPY_HEADER_LIMIT:
        raise _Invalid(f"{name} declares an npy header of {length} bytes (at most "
                       f"{_NPY_HEADER_LIMIT})")
    header = _io.BytesIO(length_bytes + _read_exactly(member, length, name))
    # 3.0 is 2.0 with UTF-8 allowed in the header, which the dtypes we accept never need:
    # read as latin-1, a non-ASCII header gives a descr we refuse.
    parse = (npy_format.read_array_header_1_0 if version == (1, 0)
             else npy_format.read_array_header_2_0)
    try:
        shape, fortran_order, dtype = parse(header)
    except Exception as exc:
        # Whatever the parser of this short text raises, from ast.literal_eval's
        # SyntaxError to tokenize's TokenError, the header is not one NumPy wrote.
        raise _Invalid(f"{name} has an invalid npy header: {_describe(exc)}") from None
    return shape, fortran_order, dtype, npy_format.MAGIC_LEN + len(length_bytes) + length


def _check_npy_size(info: zipfile.ZipInfo, name: str, header_size: int, data_size: int) -> None:
    """The zip directory's size of member `name` must be its header's plus the data's."""
    if info.file_size != header_size + data_size:
        raise _Invalid(f"{name} is {info.file_size} bytes in the zip directory, but its "
                       f"npy header and shape make {header_size + data_size}")


def _reject_objects(name: str, dtype: np.dtype[Any]) -> None:
    if dtype.hasobject:
        raise _Invalid(f"{name} holds Python objects (dtype {dtype}, a pickle); fastnn files "
                       "never do, and nothing is unpickled")


def _array_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str,
                  shape: tuple[int, ...], dtype: np.dtype[Any]) -> _NpyHeader:
    """The npy header of array `name`, which must declare the config's float `dtype`
    (either byte order) and the `shape` the metadata implies, in the size the zip
    directory declares."""
    with zf.open(info) as member:
        header = _npy_header(member, name)
    found_shape, _, found_dtype, header_size = header
    _reject_objects(name, found_dtype)
    if found_dtype.kind != "f" or found_dtype.itemsize != dtype.itemsize:
        raise _Invalid(f"{name} has dtype {found_dtype}, but the config says {dtype}")
    if found_shape != shape:
        raise _Invalid(f"{name} has shape {_show(found_shape)}, but the metadata implies "
                       f"{shape}")
    _check_npy_size(info, name, header_size, math.prod(shape) * dtype.itemsize)
    return header


def _read_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, header: _NpyHeader,
                dtype: np.dtype[Any]) -> NDArray[Any]:
    """The data of the member whose checked `header` is given, as a C-contiguous
    `dtype` array, read in pieces into its own buffer (no more bytes than the header
    implies)."""
    shape, fortran_order, stored, header_size = header
    # A Fortran-order array is its transpose's C-order data.
    buffer = np.empty(shape[::-1] if fortran_order else shape, dtype=stored)
    raw = buffer.reshape(-1).view(np.uint8)
    with zf.open(info) as member:
        member.read(header_size)
        done = 0
        while done < raw.size:
            piece = member.read(min(_READ_CHUNK, raw.size - done))
            if not piece:
                raise _Invalid(f"{info.filename} is truncated")
            raw[done:done + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
            done += len(piece)
    return np.ascontiguousarray(buffer.T if fortran_order else buffer, dtype=dtype)


# --------------------------------------------------------------------------- metadata


def _read_metadata(zf: zipfile.ZipFile, info: zipfile.ZipInfo | None) -> dict[str, Any]:
    """The checked metadata record of the archive (its member `info`)."""
    if info is None:
        raise _Invalid(f"it has no {META_MEMBER} member: not a fastnn model file")
    if info.file_size > METADATA_LIMIT:
        raise _Invalid(f"its metadata is {info.file_size} bytes, more than the "
                       f"{METADATA_LIMIT} a fastnn model's may be")
    with zf.open(info) as member:
        shape, _, dtype, header_size = _npy_header(member, META_MEMBER)
        _reject_objects(META_MEMBER, dtype)
        if dtype.kind != "U" or shape != ():
            raise _Invalid(f"its metadata must be one text string, found an array of dtype "
                           f"{dtype} and shape {_show(shape)}")
        _check_npy_size(info, META_MEMBER, header_size, dtype.itemsize)
        raw = _read_exactly(member, dtype.itemsize, META_MEMBER)
    # NumPy's text is UTF-32, padded with NULs (which JSON text cannot hold unescaped).
    try:
        text = raw.decode("utf-32-le" if dtype.str[0] == "<" else "utf-32-be").rstrip("\0")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"its metadata is not text: {exc}") from None
    return _check_metadata(_parse_json(text))


# One JSON string, its closing quote optional so that an unterminated string is
# consumed in one linear pass (no backtracking).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_OPENERS = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSERS = np.frombuffer(b"]}", dtype=np.uint8)


def _json_depth(text: str) -> int:
    """How deep `text`'s lists and objects nest, found without parsing (no recursion)."""
    skeleton = np.frombuffer(_JSON_STRING.sub("", text).encode("utf-8"), dtype=np.uint8)
    steps = np.isin(skeleton, _OPENERS).astype(np.int32) - np.isin(skeleton, _CLOSERS)
    return int(np.cumsum(steps).max(initial=0))


def _parse_json(text: str) -> Any:
    """`text` parsed as JSON whose lists and objects nest at most MAX_DEPTH deep, whose
    numbers are finite and whose integers are in [-2**63, 2**63)."""
    depth = _json_depth(text)
    if depth > MAX_DEPTH:
        raise _Invalid(f"its metadata nests {depth} deep (at most {MAX_DEPTH})")
    try:
        return json.loads(text, parse_int=_json_int, parse_float=_json_float,
                          parse_constant=_json_constant, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        raise _Invalid(f"its metadata is not JSON: {exc}") from None


def _json_int(literal: str) -> int:
    # int() of a long digit string is slow; the ranges of the values that may be
    # integers are checked by name later.
    if len(literal) > 21:
        raise _Invalid(f"its metadata holds an integer of {len(literal)} digits")
    return int(literal)


def _json_float(literal: str) -> float:
    # Ours are repr()s of floats (at most 24 characters); float() of a long one is slow.
    if len(literal) > 64:
        raise _Invalid(f"its metadata holds a number of {len(literal)} digits")
    value = float(literal)
    if not math.isfinite(value):
        raise _Invalid(f"its metadata holds the number {_show(literal)}, not a finite float")
    return value


def _json_constant(literal: str) -> float:
    raise _Invalid(f"its metadata holds {literal}, not a finite number")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Invalid("its metadata repeats a key in an object")
    return obj


def _check_keys(what: str, record: Any, keys: frozenset[str]) -> None:
    """`record` must be a dict with exactly `keys`."""
    if not isinstance(record, dict):
        raise _Invalid(f"{what} must be an object, got {_show(record)}")
    missing, unknown = keys - record.keys(), record.keys() - keys
    if missing or unknown:
        raise _Invalid(f"{what} must have the keys {sorted(keys)}: missing {sorted(missing)}, "
                       f"unknown {_show(sorted(unknown))}")


def _check_int(name: str, value: Any, bounds: tuple[int, int, str]) -> None:
    """`value` must be an int (not a bool) in ``bounds`` (low, high exclusive, text)."""
    low, high, text = bounds
    if type(value) is not int or not low <= value < high:
        raise _Invalid(f"{name} must be an integer in {text}, got {_show(value)}")


def _check_metadata(meta: Any) -> dict[str, Any]:
    """`meta` if it is a fastnn model's metadata record with values in bounds."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _Invalid("the metadata is not a fastnn model's")
    version = meta.get("version")
    if type(version) is not int or version != VERSION:
        raise _Invalid(f"format version {_show(version)} is not supported")
    # Files of before schedules, target standardizers and schemas were saved.
    meta.setdefault("lr_schedule", None)
    meta.setdefault("target_standardizer", None)
    meta.setdefault("schema", None)
    _check_keys("the metadata", meta, _META_KEYS)
    _check_int("step", meta["step"], _COUNTER_RANGE)
    _check_int("epoch", meta["epoch"], _COUNTER_RANGE)
    _check_config(meta["config"])
    if meta["optimizer"] is not None:
        _check_optimizer(meta["optimizer"])
    config = meta["config"]
    if meta["standardizer"] is not None:
        _check_standardizer("standardizer", meta["standardizer"], config["layer_sizes"][0],
                            "feature", config["dtype"])
    if meta["target_standardizer"] is not None:
        if config.get("output") != "linear":
            raise _Invalid(f"a target_standardizer is for a linear output, but the config's "
                           f"output is {_show(config.get('output'))}")
        _check_standardizer("target_standardizer", meta["target_standardizer"],
                            config["layer_sizes"][-1], "output", config["dtype"])
    if meta["lr_schedule"] is not None:
        _check_keys("lr_schedule", meta["lr_schedule"], frozenset({"name", "config"}))
    if meta["schema"] is not None:
        meta["schema"] = _check_schema(meta["schema"], config)
    return meta


def _check_config(config: Any) -> None:
    """What the reader relies on (layer_sizes, dtype) and the bounds the model does not
    check itself; the other entries are the constructor's to check."""
    if not isinstance(config, dict):
        raise _Invalid(f"config must be an object, got {_show(config)}")
    sizes = config.get("layer_sizes")
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise _Invalid(f"layer_sizes must be a list of at least 2 sizes, got {_show(sizes)}")
    for i, size in enumerate(sizes):
        _check_int(f"layer_sizes[{i}]", size, _LAYER_SIZE_RANGE)
    if config.get("dtype") not in _DTYPES:
        raise _Invalid(f"config dtype must be one of {list(_DTYPES)}, got "
                       f"{_show(config.get('dtype'))}")
    if "seed" in config:
        _check_int("seed", config["seed"], _COUNTER_RANGE)
    if config.get("n_threads") is not None:
        _check_int("n_threads", config["n_threads"], _THREADS_RANGE)
    if type(config.get("batch_norm", False)) is not bool:
        raise _Invalid(f"config batch_norm must be true or false, got "
                       f"{_show(config.get('batch_norm'))}")


def _check_optimizer(spec: Any) -> None:
    _check_keys("optimizer", spec, _OPTIMIZER_KEYS)
    if not isinstance(spec["name"], str) or spec["name"] not in OPTIMIZERS:
        raise _Invalid(f"unknown optimizer {_show(spec['name'])}; expected one of "
                       f"{sorted(OPTIMIZERS)}")
    if not isinstance(spec["hyperparameters"], dict):
        raise _Invalid(f"optimizer hyperparameters must be an object, got "
                       f"{_show(spec['hyperparameters'])}")
    _check_int("optimizer t", spec["t"], _COUNTER_RANGE)


def _check_standardizer(what: str, spec: Any, n: int, unit: str, dtype_name: str) -> None:
    """One finite mean and scale per `unit` (an input "feature" or an "output"), n of them,
    usable in the model's dtype: the model standardizes in its own dtype, where
    float64's 1e300 is inf and 1e-40's reciprocal overflows.  (Standardizer.from_dict
    checks the float64 rules.)"""
    _check_keys(what, spec, _STANDARDIZER_KEYS)
    dtype = np.dtype(dtype_name)
    for key in sorted(_STANDARDIZER_KEYS):
        values = spec[key]
        if (not isinstance(values, list) or len(values) != n
                or not all(type(v) in (int, float) for v in values)):
            raise _Invalid(f"{what} {key} must be a list of {n} numbers (one per {unit}), "
                           f"got {_show(values)}")
    with np.errstate(over="ignore", divide="ignore"):
        mean = np.array(spec["mean"], dtype=dtype)
        scale = np.array(spec["scale"], dtype=dtype)
        usable = np.isfinite(mean) & (scale > 0) & np.isfinite(scale) & np.isfinite(1 / scale)
    if not usable.all():
        i = int(np.argmin(usable))
        raise _Invalid(f"{what} {unit} {i} (mean {spec['mean'][i]!r}, scale "
                       f"{spec['scale'][i]!r}) is not finite, or has no finite reciprocal "
                       f"scale, in the model's {dtype}")


def _check_schema(record: Any, config: dict[str, Any]) -> TableSchema:
    """The table schema of the record, its texts checked, its inputs as many as the
    model's and its labels one per class of the config's output layer (the config's
    output must then be one of the outputs the model accepts)."""
    try:
        schema = TableSchema.from_dict(record)
        if config.get("output") not in ("sigmoid", "softmax", "linear"):
            raise ValueError(f"config output {_show(config.get('output'))} is unknown")
        schema.check_model(config["layer_sizes"][0], config["layer_sizes"][-1],
                           config["output"])
    except (ValueError, TypeError) as exc:
        raise _Invalid(f"schema: {exc}") from None
    return schema


# --------------------------------------------------------------------------- members


def _declared_arrays(meta: dict[str, Any], n_members: int) -> dict[str, tuple[int, ...]]:
    """{name: shape} of the arrays the metadata declares: the parameters as MLP.params
    names them, batch norm's running statistics and, for an optimizer with state slots,
    optimizer/<slot><i> shaped like the flat parameters."""
    config = meta["config"]
    sizes = config["layer_sizes"]
    # Checked before the names are made: a short file must not make us list millions.
    if 2 * (len(sizes) - 1) > n_members:
        raise _Invalid(f"layer_sizes {_show(sizes)} declares {2 * (len(sizes) - 1)} weight "
                       f"and bias arrays, but the archive holds {n_members}")
    normalized = range(1, len(sizes) - 1) if config.get("batch_norm", False) else range(0)
    shapes: dict[str, tuple[int, ...]] = {}
    for l in range(1, len(sizes)):
        bias = f"beta{l}" if l in normalized else f"b{l}"
        shapes[f"W{l}"], shapes[bias] = (sizes[l], sizes[l - 1]), (sizes[l],)
    for l in normalized:
        shapes[f"gamma{l}"] = (sizes[l],)
    params = list(shapes.values())
    for l in normalized:
        shapes[f"{RUNNING}mean{l}"] = shapes[f"{RUNNING}var{l}"] = (sizes[l],)
    optimizer = meta["optimizer"]
    slots = OPTIMIZERS[optimizer["name"]].slots if optimizer is not None else ()
    for slot in slots:
        for i, shape in enumerate(params):
            shapes[f"{OPTIMIZER}{slot}{i}"] = (math.prod(shape),)
    return shapes


def _match_members(members: dict[str, zipfile.ZipInfo],
                   declared: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The `declared` arrays that the archive holds, which must be all of them, except
    that an optimizer's state may be absent as a whole (an optimizer that has not
    stepped has none), and nothing else."""
    present = {name[:-len(".npy")] for name in members if name.endswith(".npy")}
    state = {name for name in declared if name.startswith(OPTIMIZER)}
    if not state & present:
        declared = {name: shape for name, shape in declared.items() if name not in state}
    expected = {name + ".npy" for name in declared}
    missing, unexpected = expected - members.keys(), members.keys() - expected
    if missing or unexpected:
        raise _Invalid(f"its arrays are not the ones the metadata declares: missing "
                       f"{_show(sorted(missing))}, unexpected {_show(sorted(unexpected))}")
    return declared


def _rebuild(meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> MLP:
    """The model that the checked `meta` and `arrays` describe."""
    model = MLP(**meta["config"])
    model.set_params({k: v for k, v in arrays.items()
                      if not k.startswith((OPTIMIZER, RUNNING))})
    model.set_running_statistics({k[len(RUNNING):]: v for k, v in arrays.items()
                                  if k.startswith(RUNNING)})
    model.step_, model.epoch_ = meta["step"], meta["epoch"]
    if meta["standardizer"] is not None:
        model.standardizer = Standardizer.from_dict(meta["standardizer"])
    if meta["target_standardizer"] is not None:
        model.target_standardizer = Standardizer.from_dict(meta["target_standardizer"])
    model.schema = meta["schema"]
    if meta["optimizer"] is not None:
        spec = meta["optimizer"]
        opt = optimizer_from_config(spec["name"], spec["hyperparameters"])
        state = {k[len(OPTIMIZER):]: v for k, v in arrays.items() if k.startswith(OPTIMIZER)}
        model.set_optimizer_state(opt, spec["t"], state)
    if meta["lr_schedule"] is not None:
        spec = meta["lr_schedule"]
        if not isinstance(spec["config"], dict):
            raise _Invalid(f"lr_schedule config must be an object, got {_show(spec['config'])}")
        model.lr_schedule_ = schedule_from_config(spec["name"], spec["config"])
    return model
