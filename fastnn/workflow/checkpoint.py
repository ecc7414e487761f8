"""Checkpoints during training: save the model every N epochs, keep the newest few.

    from fastnn.workflow.checkpoint import Checkpoint
    model.fit(X, y, epochs=100, batch_size=64, optimizer=fnn.Adam(1e-3),
              callbacks=Checkpoint("runs/moons", every=5, keep_last=3))

    # after a crash (or a kill -9): continue where the newest readable checkpoint is
    model = fnn.load(Checkpoint.latest("runs"))
    model.fit(X, y, epochs=100 - model.epoch_, batch_size=64,
              callbacks=Checkpoint("runs/moons", every=5, keep_last=3))

A checkpoint is a plain model file (:meth:`fastnn.MLP.save`): weights, hyperparameters,
standardizer, the step/epoch counters and the optimizer with its state.  fit draws
the minibatch order and the dropout masks from (seed, epoch) and (seed, step)
counters, so a fit resumed from a checkpoint reaches bit for bit the weights of an
uninterrupted run (same data, batch size and callbacks' effects), with the optimizer
left as ``None`` (the saved one, with its moments, is used).

Crash safety.  Each file is written atomically by ``MLP.save`` (a temporary file in
the same folder, fsync'ed, then renamed over the target), and old checkpoints are
deleted only after the new one is in place, so a process killed at any moment
leaves every checkpoint file either complete or absent.  A process killed *while*
writing can leave its temporary file behind (``.fastnn-XXXXXXXX.tmp`` in the same
folder: nothing runs at SIGKILL to remove it); :meth:`Checkpoint.latest` ignores
such files (and any checkpoint that does not load), and they may be deleted by hand
once no process is saving into the folder.

Other runs' files.  A Checkpoint deletes only files it wrote itself (``keep_last``
prunes its own ``saved`` files), never another run's.  And it refuses, when training
begins, a folder already holding checkpoints of its stem at epochs beyond the model's
``epoch_``: those would shadow this run in :meth:`Checkpoint.latest` (its files have
lower numbers) or be overwritten by it.  Checkpoints at epochs up to ``epoch_`` (the
history of a run being resumed) are fine, and are left alone.
"""
from __future__ import annotations

import contextlib
import os
import re
from typing import TYPE_CHECKING, Optional, Union

from fastnn.blocks.callbacks import Callback
from fastnn.workflow.io import ModelFileError, load
from fastnn.blocks.validation import check_int

if TYPE_CHECKING:
    from fastnn.model import MLP
    from fastnn.blocks.history import History

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_STEM = "checkpoint"
_NAME = re.compile(r"^(?P<stem>.+)-epoch(?P<epoch>\d{6,})\.npz$")


def _split_path(path: PathLike) -> tuple[str, str]:
    """(folder, stem) of a directory or a file stem (a trailing ``.npz`` is dropped)."""
    try:
        path_str = os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}") from None
    if not isinstance(path_str, str):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path_str).__name__}")
    if not path_str:
        raise ValueError("path must not be empty")
    if os.path.isdir(path_str) or path_str.endswith(("/", os.sep)):
        return os.path.abspath(path_str), DEFAULT_STEM
    folder, stem = os.path.split(os.path.abspath(path_str))
    if stem.endswith(".npz"):
        stem = stem[:-len(".npz")]
    if not stem or stem.startswith("."):
        raise ValueError(f"path {path_str!r} must name a directory or a file stem not starting "
                         "with '.'")
    return folder, stem


def _checkpoints(folder: str, stem: Optional[str] = None) -> list[tuple[int, str]]:
    """[(epoch, path)] of the checkpoint files in `folder` (of `stem`, if given), oldest first.

    Hidden files (such as the ``.fastnn-*.tmp`` left by a killed save) never match.
    """
    found: list[tuple[int, str]] = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return found
    for name in names:
        match = _NAME.match(name)
        if match is None or name.startswith("."):
            continue
        if stem is not None and match["stem"] != stem:
            continue
        found.append((int(match["epoch"]), os.path.join(folder, name)))
    found.sort()
    return found


class Checkpoint(Callback):
    """Save the model every `every` epochs; keep only the newest `keep_last` files.

    Parameters
    ----------
    path : str or os.PathLike
        Either a directory (an existing one, or a path ending in ``/``; created if
        missing), whose files are then named ``checkpoint-epoch000010.npz``, or a file
        stem such as ``"runs/moons"`` (a trailing ``.npz`` is dropped), giving
        ``runs/moons-epoch000010.npz``.  The epoch is the model's cumulative
        ``epoch_``, so a resumed fit continues the numbering.
    every : int, default 1
        Save after each epoch whose number is a multiple of `every`.
    keep_last : int or None, default 3
        After each save delete the checkpoints this object wrote beyond the newest
        `keep_last` (by epoch number).  Files it did not write are never deleted.
        None keeps them all.

    Raises
    ------
    ValueError
        When training begins (``on_train_begin``), if the folder already holds
        checkpoints of this stem at epochs beyond the model's ``epoch_``: they are
        another run's, and would shadow this one in :meth:`latest`.

    Attributes
    ----------
    saved : list of str
        Paths written by this callback, in order (some may since have been pruned).
    """

    folder: str
    stem: str
    every: int
    keep_last: Optional[int]
    saved: list[str]

    def __init__(self, path: PathLike, every: int = 1, keep_last: Optional[int] = 3) -> None:
        self.folder, self.stem = _split_path(path)
        self.every = check_int("every", every, low=1)
        self.keep_last = None if keep_last is None else check_int("keep_last", keep_last, low=1)
        self.saved = []
        # The files written and not yet pruned, by path: their epochs.
        self._kept: dict[str, int] = {}

    def path_for(self, epoch: int) -> str:
        """The file of `epoch`'s checkpoint."""
        return os.path.join(self.folder, f"{self.stem}-epoch{int(epoch):06d}.npz")

    def on_train_begin(self, model: MLP, history: History) -> None:
        os.makedirs(self.folder, exist_ok=True)
        self._refuse_newer_checkpoints(model.epoch_)

    def _refuse_newer_checkpoints(self, epoch: int) -> None:
        """Raise if the folder holds checkpoints of this stem beyond `epoch`, the model's."""
        newer = [path for e, path in _checkpoints(self.folder, self.stem) if e > epoch]
        if newer:
            raise ValueError(
                f"checkpoint folder {self.folder} already holds {len(newer)} checkpoint(s) of "
                f"stem {self.stem!r} beyond this model's epoch {epoch}, up to {newer[-1]}: "
                "another run's, which would shadow this one in Checkpoint.latest(). Give "
                "this run another folder or stem, delete those files, or resume from "
                "Checkpoint.latest()")

    def on_epoch_end(self, model: MLP, epoch: int, history: History) -> bool:
        if epoch % self.every == 0:
            self.save(model, epoch)
        return False

    def save(self, model: MLP, epoch: Optional[int] = None) -> str:
        """Write `model`'s checkpoint for `epoch` (default ``model.epoch_``), then prune."""
        epoch = model.epoch_ if epoch is None else int(epoch)
        path = self.path_for(epoch)
        model.save(path)  # atomic: temp file + fsync + rename
        self.saved.append(path)
        self._kept[path] = epoch
        self._prune()
        return path

    def _prune(self) -> None:
        """Delete this object's own files beyond the newest `keep_last` (by epoch)."""
        if self.keep_last is None:
            return
        by_epoch = sorted(self._kept, key=self._kept.__getitem__)
        for old in by_epoch[:-self.keep_last]:
            del self._kept[old]
            with contextlib.suppress(FileNotFoundError):
                os.remove(old)

    @classmethod
    def find(cls, path: PathLike) -> list[str]:
        """Paths of the checkpoints under `path` (a directory: any stem; or a file stem),
        oldest first by epoch.  Whether they load is not checked."""
        folder, stem = cls._folder_and_stem(path)
        return [p for _, p in _checkpoints(folder, stem)]

    @classmethod
    def latest(cls, path: PathLike) -> Optional[str]:
        """Path of the newest checkpoint under `path` that loads, or None if there is none.

        `path` is a directory (checkpoints of any stem in it) or a file stem as given
        to the constructor (only that stem's).  Files are tried newest epoch first;
        one that does not load is skipped: truncated, corrupt, tampered or not a fastnn
        model (:class:`fastnn.ModelFileError`), not a regular file (a FIFO or a
        directory is refused without blocking), unreadable or vanished meanwhile
        (OSError).  Temporary files of interrupted saves are never considered.  Each
        file is read by :func:`fastnn.load`, whose reads are bounded by the file's size.
        """
        folder, stem = cls._folder_and_stem(path)
        for _, candidate in reversed(_checkpoints(folder, stem)):
            try:
                load(candidate)
            except (ModelFileError, OSError):
                continue
            return candidate
        return None

    @staticmethod
    def _folder_and_stem(path: PathLike) -> tuple[str, Optional[str]]:
        path_str = os.fspath(path)
        if os.path.isdir(path_str):
            return os.path.abspath(path_str), None
        return _split_path(path_str)

    def __repr__(self) -> str:
        return (f"Checkpoint({os.path.join(self.folder, self.stem)!r}, every={self.every}, "
                f"keep_last={self.keep_last})")
