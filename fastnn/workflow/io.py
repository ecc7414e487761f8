"""Saving and loading models: one .npz holding the arrays and a JSON metadata record.

Files are loaded with ``allow_pickle=False`` and written atomically (a temporary file
in the same folder, flushed to disk, then renamed over the target), so a crash while
saving leaves any previous file intact.
"""
from __future__ import annotations

import io as _io
import json
import os
import tempfile
import zipfile
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from fastnn.workflow.data import Standardizer
from fastnn.model import MLP
from fastnn.blocks.optim import optimizer_from_config

FORMAT = "fastnn-model"
VERSION = 1
META_KEY = "__fastnn_meta__"


class ModelFileError(ValueError):
    """The file is not a readable fastnn model (corrupt, truncated, foreign or tampered)."""


def save(model: MLP, path: Union[str, os.PathLike[str]]) -> None:
    """Write `model` (architecture, hyperparameters, weights, standardizer, optimizer state).

    Parameters
    ----------
    model : MLP
    path : str or path-like
        The .npz file to write (replaced atomically if it exists).
    """
    path = os.fspath(path)
    # Any: np.savez's stub would read a key named like its keyword arguments as one.
    arrays: dict[str, Any] = model.params
    meta: dict[str, Any] = {"format": FORMAT, "version": VERSION, "config": model.get_config(),
            "step": model.step_, "epoch": model.epoch_, "standardizer": None, "optimizer": None}
    if model.standardizer is not None:
        meta["standardizer"] = model.standardizer.to_dict()
    opt, state = model.optimizer_, model.optimizer_state()
    if opt is not None and state is not None:
        t, slots = state
        meta["optimizer"] = {"name": opt.name, "hyperparameters": opt.hyperparameters(), "t": t}
        arrays.update({f"optimizer/{k}": v for k, v in slots.items()})
    arrays[META_KEY] = np.array(json.dumps(meta))
    buffer = _io.BytesIO()
    np.savez(buffer, **arrays)
    _atomic_write(path, buffer.getvalue())


def _atomic_write(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            # mkstemp makes the file owner-only; give it the mode open() would have.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# What NumPy's npz reader raises on a damaged archive: zipfile raises NotImplementedError
# when a mangled header names a zip version or compression method it does not know.
_UNREADABLE = (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, NotImplementedError)


def load(path: Union[str, os.PathLike[str]]) -> MLP:
    """Read a model written by :meth:`MLP.save`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    MLP
        With its weights, standardizer, step/epoch counters and optimizer state.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ModelFileError (a ValueError)
        If the file is corrupt, truncated, not a fastnn model or holds pickled objects.
    """
    path = os.fspath(path)
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a fastnn model file (not an .npz archive)")
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except _UNREADABLE as exc:
        raise ModelFileError(f"{path} is not a readable fastnn model file "
                             f"(corrupt, truncated or not ours): {exc}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ModelFileError(f"{path} is a single NumPy array, not a fastnn model file")
    try:
        with data:
            arrays = {name: data[name] for name in data.files}
    except _UNREADABLE as exc:
        raise ModelFileError(f"{path} is not a readable fastnn model file "
                             f"(corrupt, truncated or not ours): {exc}") from None
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError("the metadata is not a fastnn model's")
        if meta.get("version") != VERSION:
            raise ValueError(f"format version {meta.get('version')} is not supported")
        return _rebuild(meta, arrays)
    except (KeyError, TypeError, ValueError, OverflowError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is not a valid fastnn model file: {exc}") from None


def _counter(meta: dict[str, Any], name: str) -> int:
    """A non-negative integer counter from the metadata (JSON may hold floats or Infinity)."""
    value = meta[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _check_shapes(config: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> None:
    """The stored arrays must be the claimed architecture's, checked before building it
    (a tampered layer_sizes must not make us allocate a huge model)."""
    sizes = config["layer_sizes"]
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise ValueError(f"layer_sizes must be a list of at least 2 sizes, got {sizes!r}")
    for l in range(1, len(sizes)):
        for name, shape in ((f"W{l}", (sizes[l], sizes[l - 1])), (f"b{l}", (sizes[l],))):
            if name not in arrays or arrays[name].shape != shape:
                found = arrays[name].shape if name in arrays else "nothing"
                raise ValueError(f"{name} should have shape {shape} for layer_sizes {sizes}, "
                                 f"found {found}")


def _rebuild(meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> MLP:
    _check_shapes(meta["config"], arrays)
    step, epoch = _counter(meta, "step"), _counter(meta, "epoch")
    model = MLP(**meta["config"])
    model.set_params({k: v for k, v in arrays.items() if not k.startswith("optimizer/")})
    model.step_, model.epoch_ = step, epoch
    if meta["standardizer"] is not None:
        model.standardizer = Standardizer.from_dict(meta["standardizer"])
    if meta["optimizer"] is not None:
        spec = meta["optimizer"]
        opt = optimizer_from_config(spec["name"], spec["hyperparameters"])
        state = {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}
        model.set_optimizer_state(opt, _counter(spec, "t"), state)
    return model
