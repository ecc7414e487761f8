"""Reading data files for the command line: numeric CSV (header row) and NPZ (X, y).

Errors name the file, and for a CSV the line and column of the bad cell.
"""
from __future__ import annotations

import csv
import math
import os
import zipfile
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from numpy.typing import NDArray


class DataFileError(ValueError):
    """A data file that cannot be used; the message names the file (line, column)."""


def load_data(path: Union[str, os.PathLike[str]],
              target: Optional[str] = None) -> tuple[NDArray[Any], NDArray[Any], str]:
    """(X (m, n) float64, y (m,) or (m, k), description) from a .csv or .npz file.

    Raises DataFileError naming the file (and the line and column of a bad CSV cell).
    """
    path = os.fspath(path)
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise DataFileError(f"{path}: unsupported file type {suffix or '(no extension)'!r}; "
                         "expected a .csv (header row, numeric columns) or an .npz "
                         "(arrays X and y)")
    if not os.path.exists(path):
        raise DataFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataFileError(f"{path}: is a directory, not a data file")
    if suffix == ".csv":
        return read_csv(path, target)
    if target is not None:
        raise DataFileError(f"{path}: --target applies to CSV files; an .npz file holds X and y")
    return read_npz(path)


def read_csv(path: str, target: Optional[str] = None) -> tuple[NDArray[Any], NDArray[Any], str]:
    """Parse a numeric CSV with a header row; the target is the named (or last) column."""
    header: Optional[list[str]] = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
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
        raise DataFileError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start}); "
                         "is it really a CSV?") from None
    except csv.Error as exc:
        raise DataFileError(f"{path}, line {reader.line_num}: malformed CSV: {exc}") from None
    if header is None:
        raise DataFileError(f"{path}: the file is empty; expected a header row and data rows")
    names = [name or f"column {j + 1}" for j, name in enumerate(header)]
    if all(_is_number(name) for name in header):
        raise DataFileError(f"{path}, line {header_line}: the first row holds numbers, not column "
                         "names; the CSV needs a header row")
    if not rows:
        raise DataFileError(f"{path}: a header row but no data rows")
    if len(header) < 2:
        raise DataFileError(f"{path}: only one column ({names[0]!r}); need feature columns and a "
                         "target column, separated by commas")
    if target is None:
        t = len(header) - 1
    else:
        matches = [j for j, name in enumerate(header) if name == target]
        if not matches:
            raise DataFileError(f"{path}: no column named {target!r} for --target; the columns "
                             f"are {', '.join(repr(n) for n in names)}")
        if len(matches) > 1:
            raise DataFileError(f"{path}: {len(matches)} columns are named {target!r} "
                             f"(columns {', '.join(str(j + 1) for j in matches)}); rename them")
        t = matches[0]
    data = _csv_numbers(path, rows, lines, names)
    features = [j for j in range(len(header)) if j != t]
    description = (f"{path}: {len(rows)} rows, {len(features)} features, target "
                   f"{names[t]!r}")
    return data[:, features], data[:, t], description


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
            where = f"{path}, line {line}, column {j + 1} ({names[j]!r})"
            text = cell.strip()
            if not text:
                raise DataFileError(f"{where}: missing value; every cell must hold a number")
            try:
                value = float(text)
            except ValueError:
                raise DataFileError(f"{where}: {text!r} is not a number (numeric columns only; "
                                 "encode categories as numbers)") from None
            if not math.isfinite(value):
                raise DataFileError(f"{where}: {text!r} is not a finite number "
                                 "(missing values are not supported)")
            data[i, j] = value
    return data


def read_npz(path: str) -> tuple[NDArray[Any], NDArray[Any], str]:
    """X (m, n) and y (m,) or (m, k) from an .npz file."""
    if not zipfile.is_zipfile(path):
        raise DataFileError(f"{path}: not an .npz archive (not a zip file); expected arrays X and "
                         "y saved with np.savez")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFileError(f"{path}: not a readable .npz file ({exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataFileError(f"{path}: holds a single array; expected an .npz archive with arrays "
                         "'X' and 'y' (np.savez(path, X=X, y=y))")
    with data:
        missing = [name for name in ("X", "y") if name not in data.files]
        if missing:
            raise DataFileError(f"{path}: no array named {' or '.join(repr(n) for n in missing)}; "
                             f"it holds {sorted(data.files)}; expected X (m, n_features) and "
                             "y (m,)")
        try:
            X, y = data["X"], data["y"]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise DataFileError(f"{path}: cannot read X and y ({exc})") from None
    for name, a in (("X", X), ("y", y)):
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or \
                np.issubdtype(a.dtype, np.complexfloating):
            raise DataFileError(f"{path}: {name} must be a real numeric array, got dtype {a.dtype}")
    if X.ndim != 2:
        raise DataFileError(f"{path}: X must be 2-D (m, n_features), got shape {X.shape}")
    if y.ndim not in (1, 2):
        raise DataFileError(f"{path}: y must have shape (m,) or (m, k), got {y.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataFileError(f"{path}: X is empty (shape {X.shape})")
    if y.shape[0] != X.shape[0]:
        raise DataFileError(f"{path}: X has {X.shape[0]} rows but y has {y.shape[0]}")
    X, y = X.astype(np.float64), y.astype(np.float64)
    for name, a in (("X", X), ("y", y)):
        bad = np.argwhere(~np.isfinite(a))
        if bad.size:
            raise DataFileError(f"{path}: {name} has NaN or infinite values (first at index "
                             f"{tuple(int(i) for i in bad[0])}); missing values are not supported")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    description = (f"{path}: {X.shape[0]} examples, {X.shape[1]} features, y of shape "
                   f"{y.shape}")
    return X, y, description
