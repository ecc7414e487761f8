"""Reading data files for the command line: numeric CSV (header row) and NPZ (X, y).

Errors are DataFileError naming the file, and for a CSV the line and column of the bad
cell. Files are opened without blocking and must be regular files, so a FIFO or a device
at the path is refused instead of hanging the command or reading forever.
"""
from __future__ import annotations

import csv
import io
import math
import os
import stat
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Optional, Union

import numpy as np
from numpy.typing import NDArray

# What reading a damaged zip member raises besides OSError and ValueError: zipfile raises
# NotImplementedError for an unknown compression method, RuntimeError for an encrypted
# member and BadZipFile for a bad CRC; zlib raises zlib.error for a corrupt deflate stream.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
                   OSError, ValueError, EOFError, KeyError)
NPY_MAGIC = b"\x93NUMPY"
# Longest text shown from a bad cell: a megabyte of garbage must still be one short line.
MAX_SHOWN_CHARS = 40


class DataFileError(ValueError):
    """A data file that cannot be used; the message names the file (line, column)."""


def shorten(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """`text` cut to `limit` characters (with '...') for an error message."""
    return text if len(text) <= limit else text[:limit] + "..."


def file_kind(mode: int) -> str:
    """What a file of `st_mode` `mode` is, for messages: 'a FIFO (named pipe)', 'a directory'."""
    kinds = ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
             (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "an unknown kind of file")


def open_regular_file(path: str, what: str = "data file") -> BinaryIO:
    """`path` opened for binary reading; it must be an existing regular file.

    The file is opened with O_NONBLOCK so that a FIFO does not block the open, and its
    kind is read from the open descriptor (fstat), so a symlink to /dev/zero or a FIFO
    swapped in after a check is refused too. O_NONBLOCK changes nothing for reading a
    regular file.

    Parameters
    ----------
    path : str
    what : str, default "data file"
        What the file should be, for the messages ("model file").

    Returns
    -------
    file object
        Opened in binary mode; the caller closes it.

    Raises
    ------
    DataFileError
        Naming `path`: missing, unreadable, a directory, FIFO, device or socket.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file") from None
    except PermissionError:
        raise DataFileError(f"{path}: permission denied: cannot read the {what}") from None
    except IsADirectoryError:
        raise DataFileError(f"{path}: is a directory, not a {what}") from None
    except OSError as exc:
        raise DataFileError(f"{path}: cannot open the {what} ({exc.strerror})") from None
    except ValueError as exc:  # a NUL character or an unencodable name
        raise DataFileError(f"{shorten(repr(path))}: not a valid file name ({exc})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise DataFileError(f"{path}: is {file_kind(mode)}, not a {what}")
    return os.fdopen(fd, "rb")


def load_data(path: Union[str, os.PathLike[str]],
              target: Optional[str] = None) -> tuple[NDArray[Any], NDArray[Any], str]:
    """(X (m, n) float64, y (m,) or (m, k), description) from a .csv or .npz file.

    Parameters
    ----------
    path : str or path-like
        A .csv file (header row, numeric cells) or an .npz file holding X and y.
    target : str, optional
        The CSV column holding the target (default: the last column).

    Returns
    -------
    X, y, description

    Raises
    ------
    DataFileError
        Naming the file (and the line and column of a bad CSV cell).
    """
    path = os.fspath(path)
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise DataFileError(f"{path}: unsupported file type {suffix or '(no extension)'!r}; "
                            "expected a .csv (header row, numeric columns) or an .npz "
                            "(arrays X and y)")
    if suffix == ".npz" and target is not None:
        raise DataFileError(f"{path}: --target applies to CSV files; an .npz file holds X and y")
    with open_regular_file(path) as f:
        try:
            return read_csv(f, path, target) if suffix == ".csv" else read_npz(f, path)
        except MemoryError:
            raise DataFileError(f"{path}: the data is too large for this machine's "
                                "memory") from None
        except OSError as exc:  # a read error of the file system (EIO)
            raise DataFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------- CSV

def read_csv(f: BinaryIO, path: str,
             target: Optional[str] = None) -> tuple[NDArray[Any], NDArray[Any], str]:
    """Parse a numeric CSV with a header row; the target is the named (or last) column.

    Parameters
    ----------
    f : binary file object
        The open file (see :func:`open_regular_file`).
    path : str
        Its name, for the messages.
    target : str, optional
        The target column's name (default: the last column).

    Returns
    -------
    X (m, n) float64, y (m,) float64, description

    Raises
    ------
    DataFileError
        Naming the file, and the line and column of a bad cell.
    """
    header, header_line, rows, lines = _csv_rows(f, path)
    names = [name or f"column {j + 1}" for j, name in enumerate(header)]
    if all(_is_number(name) for name in header):
        raise DataFileError(f"{path}, line {header_line}: the first row holds numbers, not "
                            "column names; the CSV needs a header row")
    if not rows:
        raise DataFileError(f"{path}: a header row but no data rows")
    if len(header) < 2:
        raise DataFileError(f"{path}: only one column ({shorten(names[0])!r}); need feature "
                            "columns and a target column, separated by commas")
    t = _target_column(path, header, names, target)
    data = _csv_numbers(path, rows, lines, names)
    features = [j for j in range(len(header)) if j != t]
    description = (f"{path}: {len(rows)} rows, {len(features)} features, target "
                   f"{shorten(names[t])!r}")
    return data[:, features], data[:, t], description


def _csv_rows(f: BinaryIO, path: str) -> tuple[list[str], int, list[list[str]], list[int]]:
    """(header, its line number, data rows, their line numbers); blank lines skipped."""
    header: Optional[list[str]] = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if header is None:
                header, header_line = [name.strip() for name in row], reader.line_num
                continue
            if len(row) != len(header):
                raise DataFileError(
                    f"{path}, line {reader.line_num}: {len(row)} fields, expected "
                    f"{len(header)} (the header on line {header_line} has {len(header)} "
                    "columns)")
            rows.append(row)
            lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start}"
                            "); is it really a CSV?") from None
    except csv.Error as exc:
        raise DataFileError(f"{path}, line {reader.line_num}: malformed CSV: {exc}") from None
    finally:
        text.detach()  # the caller closes f
    if header is None:
        raise DataFileError(f"{path}: the file is empty; expected a header row and data rows")
    return header, header_line, rows, lines


def _target_column(path: str, header: list[str], names: list[str],
                   target: Optional[str]) -> int:
    """The index of the target column: `target` by name, else the last column."""
    if target is None:
        return len(header) - 1
    matches = [j for j, name in enumerate(header) if name == target]
    if not matches:
        columns = ", ".join(repr(shorten(n)) for n in names[:20])
        more = f" and {len(names) - 20} more" if len(names) > 20 else ""
        raise DataFileError(f"{path}: no column named {shorten(target)!r} for --target; the "
                            f"columns are {columns}{more}")
    if len(matches) > 1:
        raise DataFileError(f"{path}: {len(matches)} columns are named {shorten(target)!r} "
                            f"(columns {', '.join(str(j + 1) for j in matches)}); rename them")
    return matches[0]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_numbers(path: str, rows: list[list[str]], lines: list[int],
                 names: list[str]) -> NDArray[np.float64]:
    """The cells as a float64 array; the first bad cell is reported by line and column."""
    try:
        data = np.array(rows, dtype=np.float64)
    except ValueError:
        data = None
    if data is not None and np.isfinite(data).all():
        return data
    data = np.empty((len(rows), len(names)))
    for i, (row, line) in enumerate(zip(rows, lines)):
        for j, cell in enumerate(row):
            where = f"{path}, line {line}, column {j + 1} ({shorten(names[j])!r})"
            text = cell.strip()
            if not text:
                raise DataFileError(f"{where}: missing value; every cell must hold a number")
            try:
                value = float(text)
            except ValueError:
                raise DataFileError(f"{where}: {shorten(text)!r} is not a number (numeric "
                                    "columns only; encode categories as numbers)") from None
            if not math.isfinite(value):
                raise DataFileError(f"{where}: {shorten(text)!r} is not a finite number "
                                    "(missing values are not supported)")
            data[i, j] = value
    return data


# --------------------------------------------------------------------------- NPZ

def read_npz(f: BinaryIO, path: str) -> tuple[NDArray[Any], NDArray[Any], str]:
    """X (m, n) and y (m,) or (m, k) from an .npz archive.

    The arrays are read member by member with ``allow_pickle=False``; a member whose
    header claims more bytes than the member holds is refused before anything is
    allocated (a few hundred bytes must not ask for terabytes).

    Parameters
    ----------
    f : binary file object
        The open file (see :func:`open_regular_file`).
    path : str
        Its name, for the messages.

    Returns
    -------
    X (m, n) float64, y (m,) or (m, k) float64, description

    Raises
    ------
    DataFileError
        Naming the file and the array.
    """
    if f.read(len(NPY_MAGIC)) == NPY_MAGIC:
        raise DataFileError(f"{path}: holds a single array (an .npy file); expected an .npz "
                            "archive with arrays 'X' and 'y' (np.savez(path, X=X, y=y))")
    f.seek(0)
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise DataFileError(f"{path}: not an .npz archive (not a zip file, or a truncated one); "
                            "expected arrays X and y saved with np.savez") from None
    with archive:
        X, y = (_read_member(archive, name, path) for name in ("X", "y"))
    return _check_arrays(X, y, path)


def _read_member(archive: zipfile.ZipFile, name: str, path: str) -> NDArray[Any]:
    """The array `name` ('X' or 'y') of an .npz archive, checked before it is read."""
    members = archive.namelist()
    member = f"{name}.npy"
    if member not in members:
        missing = [n for n in ("X", "y") if f"{n}.npy" not in members]
        held = sorted(m[:-4] if m.endswith(".npy") else m for m in members)
        raise DataFileError(f"{path}: no array named {' or '.join(repr(n) for n in missing)}; "
                            f"it holds {shorten(str(held), 200)}; expected X (m, n_features) "
                            "and y (m,)")
    try:
        _check_member_header(archive, member, name, path)
        with archive.open(member) as fp:
            return np.lib.format.read_array(fp, allow_pickle=False)
    except DataFileError:
        raise
    except _ARCHIVE_ERRORS as exc:
        raise DataFileError(f"{path}: cannot read X and y: array {name} is unreadable "
                            f"({shorten(str(exc), 200)})") from None


def _check_member_header(archive: zipfile.ZipFile, member: str, name: str, path: str) -> None:
    """The .npy header of `member` declares plain numbers that the member really holds."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    with archive.open(member) as fp:
        version = np.lib.format.read_magic(fp)
        if version not in readers:
            raise DataFileError(f"{path}: array {name} has .npy format version {version}, "
                                "which fastnn does not read; save it with np.savez")
        shape, _, dtype = readers[version](fp)
    if dtype.hasobject:
        raise DataFileError(f"{path}: cannot read X and y: array {name} holds Python objects "
                            "(pickled data), which fastnn never loads; save numeric arrays")
    declared = math.prod(shape) * dtype.itemsize
    stored = archive.getinfo(member).file_size
    if declared > stored:
        raise DataFileError(f"{path}: array {name} claims shape {shape} of {dtype} "
                            f"({declared} bytes) but its member holds {stored} bytes; the "
                            "archive is corrupt")


def _check_arrays(X: NDArray[Any], y: NDArray[Any],
                  path: str) -> tuple[NDArray[Any], NDArray[Any], str]:
    """X (m, n) and y (m,) or (m, k) as finite float64 arrays, with a description."""
    for name, a in (("X", X), ("y", y)):
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or \
                np.issubdtype(a.dtype, np.complexfloating):
            raise DataFileError(f"{path}: {name} must be a real numeric array, got dtype "
                                f"{a.dtype}")
    if X.ndim != 2:
        raise DataFileError(f"{path}: X must be 2-D (m, n_features), got shape {X.shape}")
    if y.ndim not in (1, 2):
        raise DataFileError(f"{path}: y must have shape (m,) or (m, k), got {y.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataFileError(f"{path}: X is empty (shape {X.shape})")
    if y.ndim == 2 and y.shape[1] == 0:
        raise DataFileError(f"{path}: y has no columns (shape {y.shape}); expected (m,) or "
                            "(m, k) with k >= 1")
    if y.shape[0] != X.shape[0]:
        raise DataFileError(f"{path}: X has {X.shape[0]} rows but y has {y.shape[0]}")
    X, y = X.astype(np.float64), y.astype(np.float64)
    for name, a in (("X", X), ("y", y)):
        bad = np.argwhere(~np.isfinite(a))
        if bad.size:
            raise DataFileError(f"{path}: {name} has NaN or infinite values (first at index "
                                f"{tuple(int(i) for i in bad[0])}); missing values are not "
                                "supported")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    description = (f"{path}: {X.shape[0]} examples, {X.shape[1]} features, y of shape "
                   f"{y.shape}")
    return X, y, description
