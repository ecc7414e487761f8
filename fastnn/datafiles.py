"""Reading data files for the command line: CSV (a header row, then one example per
row) and NPZ (arrays X and y).

A training CSV gets a :class:`fastnn.TableSchema`: its numeric columns are inputs as
they are, its columns of text are categorical (one-hot encoded over their sorted
categories), and a target of text is class labels. The schema is saved with the model,
and files given to that model later are read through it: their columns found by name,
their categories encoded as in training (one it never saw is an error naming the cell).

Errors are DataFileError naming the file, and for a CSV the line and column of the bad
cell. Files are opened without blocking and must be regular files, so a FIFO or a device
at the path is refused instead of hanging the command or reading forever.
"""
from __future__ import annotations

import contextlib
import csv
import functools
import io
import math
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Optional, Sequence, Union

import numpy as np
from numpy.typing import NDArray

from fastnn.workflow.tables import (MAX_CATEGORIES, MAX_TEXT, TableColumn, TableSchema,
                                    UnknownCategory)

# What reading a damaged zip member raises besides OSError and ValueError: zipfile raises
# NotImplementedError for an unknown compression method, RuntimeError for an encrypted
# member and BadZipFile for a bad CRC; zlib raises zlib.error for a corrupt deflate stream.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
                   OSError, ValueError, EOFError, KeyError)
NPY_MAGIC = b"\x93NUMPY"
# A text column with a different value in each of more rows than this is taken for an
# identifier (a name, an ID) rather than categories: a new row would always be unknown.
MIN_IDENTIFIER_ROWS = 10
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


@dataclass(frozen=True)
class CsvOptions:
    """How to read a CSV file.

    Parameters
    ----------
    delimiter : str, optional
        The one character between fields (default ",").
    drop : tuple of str
        Columns to leave out (identifiers, ...): each a column's name, or its number
        counted from 1 when no column has that name.
    categorical : tuple of str
        Training only: columns to one-hot encode even though their cells are numbers
        (codes such as zip codes). A column of text is categorical anyway.
    """

    delimiter: Optional[str] = None
    drop: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()


@dataclass
class DataSet:
    """A data file read for a model.

    Attributes
    ----------
    X : ndarray (m, n_inputs) of float64
        The inputs as the network takes them (categorical columns one-hot encoded).
    y : ndarray (m,) or (m, k) of float64, or None
        The targets: numbers, or the class indices of text labels; None when the file
        holds no target.
    schema : TableSchema or None
        How the file's columns became X (None for an .npz file).
    description : str
        One line about the file, for the output.
    """

    X: NDArray[np.float64]
    y: Optional[NDArray[np.float64]]
    schema: Optional[TableSchema]
    description: str


def load_data(path: Union[str, os.PathLike[str]], target: Optional[str] = None,
              options: CsvOptions = CsvOptions()) -> DataSet:
    """Training data from a .csv or .npz file, with the schema that encodes it.

    In a CSV the target is the column named `target` (default: the last column); every
    other column not dropped is a feature: numeric, or categorical when its cells are
    text (or when `options` lists it), then one-hot encoded over its sorted categories.
    A target of text is class labels (class i is the i-th label in sorted order).

    Parameters
    ----------
    path : str or path-like
        A .csv file (header row) or an .npz file holding X (m, n) and y (m,) or (m, k).
    target : str, optional
        The CSV column holding the target (default: the last column).
    options : CsvOptions, optional

    Returns
    -------
    DataSet
        With X (m, n_inputs), y (m,) or (m, k), and for a CSV its TableSchema.

    Raises
    ------
    DataFileError
        Naming the file (and the line and column of a bad CSV cell).
    """
    path = os.fspath(path)
    with _opened(path, target, options, training=True) as (f, csv_file):
        if not csv_file:
            X, y = read_npz(f, path)
            assert y is not None
            return DataSet(X, y, None, f"{path}: {X.shape[0]} examples, {X.shape[1]} features, "
                                       f"y of shape {y.shape}")
        return _training_table(_read_table(f, path, options.delimiter), target, options)


def load_model_data(path: Union[str, os.PathLike[str]], schema: Optional[TableSchema],
                    n_inputs: int, target: Optional[str] = None,
                    options: CsvOptions = CsvOptions(), need_target: bool = True) -> DataSet:
    """Data for a trained model, from a .csv or .npz file, encoded as its training data
    was.

    With a `schema` (a model trained on a CSV) the feature columns are found by name,
    in any order among other columns, which are ignored; the target is the column named
    `target`, else the schema's target column when the file has it. Without one, every
    column not dropped is a numeric feature in order, and the target is the column named
    `target`, else the last one when there is one column more than the model's inputs.
    An .npz file holds X and, optionally, y.

    Parameters
    ----------
    path : str or path-like
    schema : TableSchema or None
        The model's (``model.schema``).
    n_inputs : int
        The model's inputs (n_x).
    target : str, optional
        The CSV column holding the target.
    options : CsvOptions, optional
        ``categorical`` is refused: a trained model's columns are its schema's.
    need_target : bool, default True
        Refuse a file without a target.

    Returns
    -------
    DataSet
        ``y`` None when the file has no target (and `need_target` is False).

    Raises
    ------
    DataFileError
        Naming the file (and the line and column of a bad CSV cell).
    """
    path = os.fspath(path)
    if options.categorical:
        raise DataFileError("--categorical applies to training: a trained model reads its "
                            "columns as its schema says")
    with _opened(path, target, options, training=False) as (f, csv_file):
        if csv_file:
            table = _read_table(f, path, options.delimiter)
            data = _model_table(table, schema, n_inputs, target, options, need_target)
        else:
            data = _model_npz(f, path, schema, need_target)
    if need_target and data.y is None:
        raise DataFileError(f"{path}: {_no_target(schema, n_inputs)}")
    return data


@contextlib.contextmanager
def _opened(path: str, target: Optional[str], options: CsvOptions,
            training: bool) -> Iterator[tuple[BinaryIO, bool]]:
    """(the open file, whether it is a CSV), the options checked against its kind, and
    the errors of reading it named by the file."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise DataFileError(f"{path}: unsupported file type {suffix or '(no extension)'!r}; "
                            "expected a .csv (header row, one example per row) or an .npz "
                            "(arrays X and y)")
    if suffix == ".npz":
        given = [name for name, value in (("--target", target), ("--drop", options.drop),
                                          ("--categorical", options.categorical),
                                          ("--delimiter", options.delimiter)) if value]
        if given:
            held = "X and y" if training else "X (and y)"
            raise DataFileError(f"{path}: {given[0]} applies to CSV files; an .npz file "
                                f"holds {held}")
    with open_regular_file(path) as f:
        try:
            yield f, suffix == ".csv"
        except MemoryError:
            raise DataFileError(f"{path}: the data is too large for this machine's "
                                "memory") from None
        except OSError as exc:  # a read error of the file system (EIO)
            raise DataFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None


def _no_target(schema: Optional[TableSchema], n_inputs: int) -> str:
    """Why a file has no target, and how to give one."""
    if schema is not None and schema.target is not None:
        return (f"no target column: the model's is {shorten(schema.target)!r} (or name "
                "another with --target)")
    return (f"no target column: name it with --target, or give one column more than the "
            f"model's {n_inputs} inputs (the last is the target), or an .npz with y")


# --------------------------------------------------------------------------- CSV


@dataclass
class _Table:
    """A CSV file's header and rows of text, with what the messages need."""

    path: str
    header: list[str]
    header_line: int
    rows: list[list[str]]
    lines: list[int]

    @property
    def names(self) -> list[str]:
        """The header's names, an empty one as 'column N'."""
        return [name or f"column {j + 1}" for j, name in enumerate(self.header)]

    def where(self, i: int, j: int) -> str:
        """'data.csv, line 3, column 2 ('b')': row i's cell in column j."""
        return (f"{self.path}, line {self.lines[i]}, column {j + 1} "
                f"({shorten(self.names[j])!r})")

    def cells(self, j: int) -> list[str]:
        return [row[j] for row in self.rows]

    @functools.cached_property
    def numbers(self) -> Optional[NDArray[np.float64]]:
        """Every cell as float64, parsed in one pass, or None if one is not a number
        (a table of numbers only, the common case, is never parsed column by column)."""
        return _parsed(self.rows)

    def columns_text(self) -> str:
        """The columns' names for a message (the first 20)."""
        names = self.names
        more = f" and {len(names) - 20} more" if len(names) > 20 else ""
        return ", ".join(repr(shorten(n)) for n in names[:20]) + more


def _read_table(f: BinaryIO, path: str, delimiter: Optional[str]) -> _Table:
    """The header and rows of the CSV file `f`, checked for a header and data rows."""
    header, header_line, rows, lines = _csv_rows(f, path, delimiter or ",")
    if all(_is_number(name) for name in header):
        raise DataFileError(f"{path}, line {header_line}: the first row holds numbers, not "
                            "column names; the CSV needs a header row")
    if not rows:
        raise DataFileError(f"{path}: a header row but no data rows")
    return _Table(path, header, header_line, rows, lines)


def _training_table(table: _Table, target: Optional[str], options: CsvOptions) -> DataSet:
    """The DataSet of a training CSV, and the schema that encodes it."""
    path, names = table.path, table.names
    if len(table.header) < 2:
        _one_column(table, options.delimiter, "need feature columns and a target column")
    t = _target_column(table, target)
    dropped = _resolve_columns(table, options.drop, "--drop")
    forced = _resolve_columns(table, options.categorical, "--categorical")
    if t in dropped or t in forced:
        option = "--drop" if t in dropped else "--categorical"
        raise DataFileError(f"{path}: {option} names the target column "
                            f"{shorten(names[t])!r}; it is not a feature (text labels are "
                            "classes already)")
    if dropped & forced:
        raise DataFileError(f"{path}: column {shorten(names[min(dropped & forced)])!r} is given "
                            "to both --drop and --categorical")
    features = [j for j in range(len(table.header)) if j != t and j not in dropped]
    if not features:
        raise DataFileError(f"{path}: no feature column is left once the target and --drop "
                            "are set apart")
    _check_distinct_names(table, features)
    columns, values = [], []
    for j in features:
        text = _text_column(table, j) if j in forced else _numbers_or_text(table, j)
        if text.dtype.kind == "f":
            columns.append(TableColumn(names[j]))
        else:
            categories = _distinct(table, j, text, "categories")
            if (j not in forced and len(categories) == len(table.rows)
                    and len(categories) > MIN_IDENTIFIER_ROWS):
                raise DataFileError(
                    f"{path}: column {shorten(names[j])!r} holds a different text in every "
                    f"row ({len(categories)}): an identifier, not a category; --drop it (or "
                    "--categorical to one-hot encode it all the same)")
            columns.append(TableColumn(names[j], tuple(categories)))
        values.append(text)
    y_values = _numbers_or_text(table, t, target=True)
    labels = None
    if y_values.dtype.kind != "f":
        labels = _distinct(table, t, y_values, "class labels")
        if len(labels) < 2:
            raise DataFileError(f"{path}: the target column {shorten(names[t])!r} holds one "
                                f"class label ({shorten(labels[0])!r}); a classifier needs "
                                "examples of 2 classes or more")
    schema = TableSchema(columns, names[t], labels)
    X = schema.encode(values)
    y = y_values if labels is None else schema.encode_labels(y_values).astype(np.float64)
    encoded = [c for c in columns if c.categories is not None]
    description = (f"{path}: {len(table.rows)} rows, {len(features)} features, target "
                   f"{shorten(names[t])!r}")
    if encoded:
        description += (f"; one-hot encoded: " + ", ".join(
            f"{shorten(c.name)} ({c.width})" for c in encoded[:5])
            + (f" and {len(encoded) - 5} more" if len(encoded) > 5 else "")
            + f" ({X.shape[1]} inputs in all)")
    if labels is not None:
        shown = ", ".join(shorten(label) for label in labels[:5])
        description += f"; {len(labels)} classes: {shown}" + (", ..." if len(labels) > 5 else "")
    return DataSet(X, y, schema, description)


def _model_table(table: _Table, schema: Optional[TableSchema], n_inputs: int,
                 target: Optional[str], options: CsvOptions, read_target: bool) -> DataSet:
    """The DataSet of a CSV for a trained model (see load_model_data); its target
    column is set apart, and read if `read_target`."""
    path, names = table.path, table.names
    if len(table.header) == 1 and n_inputs > 1:
        _one_column(table, options.delimiter, f"the model takes {n_inputs} inputs")
    dropped = _resolve_columns(table, options.drop, "--drop")
    kept = [j for j in range(len(table.header)) if j not in dropped]
    t: Optional[int] = None
    if target is not None:
        t = _target_column(table, target)
    elif schema is not None and schema.target is not None and schema.target in names:
        t = _target_column(table, schema.target)
    if t in dropped:
        raise DataFileError(f"{path}: --drop names the target column {shorten(names[t])!r}")
    if schema is None:
        if t is None and len(kept) == n_inputs + 1:
            t = kept[-1]
        features = [j for j in kept if j != t]
        if len(features) != n_inputs:
            target_note = "" if t is None else f" besides the target {shorten(names[t])!r}"
            raise DataFileError(
                f"{path}: {len(features)} feature column(s){target_note} but the model takes "
                f"{n_inputs} inputs (it was trained without column names: its columns are "
                "read in order; leave out others with --drop)")
        X = np.column_stack([_numbers(table, j, "the model reads it as a number")
                             for j in features])
        y = None if t is None or not read_target else _numbers(table, t,
                                                                "the target is a number")
        return DataSet(X, y, None, _model_description(table, t))
    features = _find_columns(table, schema, [j for j in kept if j != t])
    values = [(_numbers(table, j, "the model reads this column as a number")
               if column.categories is None else _text_column(table, j))
              for column, j in zip(schema.columns, features)]
    try:
        X = schema.encode(values)
    except UnknownCategory as exc:
        j = features[[c.name for c in schema.columns].index(exc.column)]
        raise DataFileError(f"{table.where(exc.row, j)}: {exc}") from None
    y = None if t is None or not read_target else _schema_targets(table, schema, t)
    return DataSet(X, y, schema, _model_description(table, t))


def _schema_targets(table: _Table, schema: TableSchema, t: int) -> NDArray[np.float64]:
    """Column t as the targets of the schema's model: class indices of its labels, or
    numbers."""
    if schema.labels is None:
        return _numbers(table, t, "the model's target is a number")
    try:
        return schema.encode_labels(_text_column(table, t)).astype(np.float64)
    except UnknownCategory as exc:
        raise DataFileError(f"{table.where(exc.row, t)}: {exc}") from None


def _one_column(table: _Table, delimiter: Optional[str], need: str) -> None:
    """Refuse a CSV read as one column where `need` says more are needed, with a hint
    when its header holds another likely delimiter."""
    others = [c for c in ";\t|" if c in table.header[0] and c != delimiter]
    hint = (f"; it holds {others[0]!r}: is that the delimiter? (--delimiter "
            f"{'tab' if others[0] == chr(9) else others[0]!r})" if others else "")
    raise DataFileError(f"{table.path}: only one column ({shorten(table.names[0])!r}); {need}, "
                        f"separated by {_delimiter_name(delimiter)}{hint}")


def _model_description(table: _Table, t: Optional[int]) -> str:
    target = "no target column" if t is None else f"target {shorten(table.names[t])!r}"
    return f"{table.path}: {len(table.rows)} rows, {target}"


def _find_columns(table: _Table, schema: TableSchema, candidates: list[int]) -> list[int]:
    """The index of each schema column among the `candidates`, found by name."""
    names = table.names
    found = []
    for column in schema.columns:
        matches = [j for j in candidates if names[j] == column.name]
        if not matches:
            wanted = ", ".join(repr(shorten(c.name)) for c in schema.columns[:10])
            more = ", ..." if len(schema.columns) > 10 else ""
            raise DataFileError(f"{table.path}: no column named {shorten(column.name)!r}; the "
                                f"model reads the columns {wanted}{more} by name (the file "
                                f"has {table.columns_text()})")
        if len(matches) > 1:
            raise DataFileError(f"{table.path}: {len(matches)} columns are named "
                                f"{shorten(column.name)!r} (columns "
                                f"{', '.join(str(j + 1) for j in matches)}); rename them")
        found.append(matches[0])
    return found


def _delimiter_name(delimiter: Optional[str]) -> str:
    return {None: "commas", ",": "commas", "\t": "tabs"}.get(delimiter, repr(delimiter))


def _csv_rows(f: BinaryIO, path: str,
              delimiter: str) -> tuple[list[str], int, list[list[str]], list[int]]:
    """(header, its line number, data rows, their line numbers); blank lines skipped."""
    header: Optional[list[str]] = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter=delimiter)
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


def _target_column(table: _Table, target: Optional[str]) -> int:
    """The index of the target column: `target` by name, else the last column."""
    if target is None:
        return len(table.header) - 1
    matches = [j for j, name in enumerate(table.names) if name == target]
    if not matches:
        raise DataFileError(f"{table.path}: no column named {shorten(target)!r} for --target; "
                            f"the columns are {table.columns_text()}")
    if len(matches) > 1:
        raise DataFileError(f"{table.path}: {len(matches)} columns are named "
                            f"{shorten(target)!r} (columns "
                            f"{', '.join(str(j + 1) for j in matches)}); rename them")
    return matches[0]


def _resolve_columns(table: _Table, specs: Sequence[str], option: str) -> set[int]:
    """The indices of the columns `specs` names: each a column's name, or its number
    counted from 1 (when no column has that name)."""
    found = set()
    for spec in specs:
        matches = [j for j, name in enumerate(table.names) if name == spec]
        if len(matches) > 1:
            raise DataFileError(f"{table.path}: {option} {shorten(spec)!r}: {len(matches)} "
                                f"columns have that name (columns "
                                f"{', '.join(str(j + 1) for j in matches)}); give their "
                                "numbers")
        if matches:
            found.add(matches[0])
        elif spec.isdecimal() and spec.isascii() and 1 <= int(spec) <= len(table.header):
            found.add(int(spec) - 1)
        else:
            raise DataFileError(f"{table.path}: {option} {shorten(spec)!r}: no column has that "
                                f"name or number (1 to {len(table.header)}); the columns are "
                                f"{table.columns_text()}")
    return found


def _check_distinct_names(table: _Table, columns: list[int]) -> None:
    """A model finds its columns by name: two features of one name are refused."""
    names = table.names
    for j in columns:
        same = [k for k in columns if names[k] == names[j]]
        if len(same) > 1:
            raise DataFileError(f"{table.path}: {len(same)} columns are named "
                                f"{shorten(names[j])!r} (columns "
                                f"{', '.join(str(k + 1) for k in same)}); a model finds its "
                                "columns by name: rename them, or --drop all but one")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parsed(cells: Sequence[Any]) -> Optional[NDArray[np.float64]]:
    """The cells (a list, or a list of rows) as float64 in one pass (NumPy's), or None
    if one is not a number."""
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        return None


def _numbers(table: _Table, j: int, why: str,
             column: Optional[NDArray[np.float64]] = None) -> NDArray[np.float64]:
    """Column j as finite float64 numbers (`column`, when it was parsed already); the
    first bad cell is reported by line and column, `why` saying why it must be a number."""
    if column is None and table.numbers is not None:
        column = table.numbers[:, j]
    if column is None:
        column = _parsed(table.cells(j))
    if column is not None and np.isfinite(column).all():
        return column
    cells = table.cells(j)
    column = np.empty(len(cells))
    for i, cell in enumerate(cells):
        text = cell.strip()
        if not text:
            raise DataFileError(f"{table.where(i, j)}: missing value; every cell must hold "
                                "a value")
        try:
            value = float(text)
        except ValueError:
            raise DataFileError(f"{table.where(i, j)}: {shorten(text)!r} is not a number "
                                f"({why})") from None
        if not math.isfinite(value):
            raise DataFileError(f"{table.where(i, j)}: {shorten(text)!r} is not a finite "
                                "number (missing values are not supported)")
        column[i] = value
    return column


def _text_column(table: _Table, j: int) -> NDArray[np.str_]:
    """Column j as texts (spaces around a cell stripped); an empty cell is missing."""
    texts = np.array([cell.strip() for cell in table.cells(j)], dtype=str)
    empty = np.flatnonzero(texts == "")
    if empty.size:
        raise DataFileError(f"{table.where(int(empty[0]), j)}: missing value; every cell "
                            "must hold a value")
    return texts


def _numbers_or_text(table: _Table, j: int, target: bool = False) -> NDArray[Any]:
    """Column j as numbers when every cell is one (then finite), as texts when none is:
    a categorical column, or class labels for the target. A column of both is refused
    at its first text cell (a typo in a numeric column must not become categories)."""
    if table.numbers is not None:
        return _numbers(table, j, "numbers only", table.numbers[:, j])
    cells = table.cells(j)
    parsed = _parsed(cells)
    if parsed is not None:  # without a Python call per cell
        return _numbers(table, j, "numbers only", parsed)
    texts = [i for i, cell in enumerate(cells) if cell.strip() and not _is_number(cell)]
    if not texts:
        return _numbers(table, j, "numbers only")
    if len(texts) == len(cells) or not any(_is_number(cell) for cell in cells):
        return _text_column(table, j)
    i = texts[0]
    fix = ("class labels are all text or all numbers" if target else
           "fix the cell, or give the column to --categorical to encode every cell as a "
           "category")
    raise DataFileError(f"{table.where(i, j)}: {shorten(cells[i].strip())!r} is not a number, "
                        f"but other cells of the column are: {fix}")


def _distinct(table: _Table, j: int, texts: NDArray[np.str_], what: str) -> list[str]:
    """The sorted distinct texts of column j: its categories or class labels, at most
    MAX_CATEGORIES (more is an identifier, or free text)."""
    distinct = np.unique(texts).tolist()
    if len(distinct) > MAX_CATEGORIES:
        hint = ("is it an identifier? --drop it" if what == "categories" else
                "more classes than a model takes as text")
        raise DataFileError(f"{table.path}: column {shorten(table.names[j])!r} holds "
                            f"{len(distinct)} distinct texts, more {what} than "
                            f"{MAX_CATEGORIES}: {hint}")
    too_long = [text for text in distinct if len(text) > MAX_TEXT]
    if too_long:
        raise DataFileError(f"{table.path}: column {shorten(table.names[j])!r} holds a text of "
                            f"{len(too_long[0])} characters, more than the {MAX_TEXT} a "
                            "category or class label may have")
    return distinct


# --------------------------------------------------------------------------- NPZ

def read_npz(f: BinaryIO, path: str,
             need_y: bool = True) -> tuple[NDArray[np.float64], Optional[NDArray[np.float64]]]:
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
    need_y : bool, default True
        Refuse an archive without y (else y is None for one).

    Returns
    -------
    X (m, n) float64, y (m,) or (m, k) float64 or None

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
        X = _read_member(archive, "X", path)
        y = (_read_member(archive, "y", path)
             if need_y or "y.npy" in archive.namelist() else None)
    return _check_arrays(X, y, path)


def _model_npz(f: BinaryIO, path: str, schema: Optional[TableSchema],
               need_target: bool) -> DataSet:
    """The DataSet of an .npz file for a trained model: X as the network takes it."""
    if schema is not None and schema.categorical:
        names = ", ".join(repr(shorten(c.name)) for c in schema.columns
                          if c.categories is not None)
        raise DataFileError(f"{path}: the model one-hot encodes text columns ({names}), which "
                            "an .npz file of numbers cannot hold; give a CSV file")
    X, y = read_npz(f, path, need_y=need_target)
    target = "no y" if y is None else f"y of shape {y.shape}"
    return DataSet(X, y, schema, f"{path}: {X.shape[0]} examples, {X.shape[1]} features, "
                                 f"{target}")


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


def _check_arrays(X: NDArray[Any], y: Optional[NDArray[Any]],
                  path: str) -> tuple[NDArray[np.float64], Optional[NDArray[np.float64]]]:
    """X (m, n) and y (m,) or (m, k) (or None) as finite float64 arrays."""
    arrays = [("X", X)] + ([] if y is None else [("y", y)])
    for name, a in arrays:
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or \
                np.issubdtype(a.dtype, np.complexfloating):
            raise DataFileError(f"{path}: {name} must be a real numeric array, got dtype "
                                f"{a.dtype}")
    if X.ndim != 2:
        raise DataFileError(f"{path}: X must be 2-D (m, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataFileError(f"{path}: X is empty (shape {X.shape})")
    X = _finite(X, "X", path)
    if y is None:
        return X, None
    if y.ndim not in (1, 2):
        raise DataFileError(f"{path}: y must have shape (m,) or (m, k), got {y.shape}")
    if y.ndim == 2 and y.shape[1] == 0:
        raise DataFileError(f"{path}: y has no columns (shape {y.shape}); expected (m,) or "
                            "(m, k) with k >= 1")
    if y.shape[0] != X.shape[0]:
        raise DataFileError(f"{path}: X has {X.shape[0]} rows but y has {y.shape[0]}")
    y = _finite(y, "y", path)
    return X, (y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y)


def _finite(a: NDArray[Any], name: str, path: str) -> NDArray[np.float64]:
    """`a` as float64, refused if it holds NaN or infinity."""
    a = a.astype(np.float64)
    bad = np.argwhere(~np.isfinite(a))
    if bad.size:
        raise DataFileError(f"{path}: {name} has NaN or infinite values (first at index "
                            f"{tuple(int(i) for i in bad[0])}); missing values are not "
                            "supported")
    return a
