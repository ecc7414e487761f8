"""How a table's columns become a model's inputs, and its class labels: a
:class:`TableSchema`, saved with the model (``model.schema``) so that the rows given
to it later are encoded as its training rows were.

A numeric column is one input.  A categorical column (text) is one-hot encoded: one
input per category seen in training, in sorted order, 1 for the row's category and 0
for the others.  A category the training rows did not have is an error
(:class:`UnknownCategory`), not an all-zero row: a silent all-zero encoding is an input
the network never saw, and its prediction would look as trustworthy as any other.
Class labels given as text are kept in sorted order: class ``i`` of the model is
``labels[i]``.

The command line builds a schema from a CSV file (:mod:`fastnn.datafiles`); in Python,
build one with the columns' names and categories and attach it to the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: The most categories of one column, and the most class labels: a column with more
#: distinct texts is an identifier (a name, an ID), not a category worth an input each.
MAX_CATEGORIES = 1000
#: The longest column name, category or label kept (characters).
MAX_TEXT = 1000


class UnknownCategory(ValueError):
    """A row holds a category (or a class label) that the training rows did not.

    Attributes
    ----------
    column : str
        The column's name.
    row : int
        The row's index (0-based) in what was encoded.
    value : str
    known : tuple of str
        What the training rows held.
    """

    def __init__(self, column: str, row: int, value: str, known: Sequence[str],
                 what: str = "category") -> None:
        shown = ", ".join(repr(k) for k in known[:10]) + (", ..." if len(known) > 10 else "")
        super().__init__(f"{value[:40]!r} is not a {what} the model was trained on (column "
                         f"{column[:40]!r} had {len(known)}: {shown})")
        self.column, self.row, self.value, self.known = column, row, value, tuple(known)


@dataclass(frozen=True)
class TableColumn:
    """One feature column: its name and, for a categorical column, its categories.

    Parameters
    ----------
    name : str
    categories : tuple of str, optional
        The categories in the order of their inputs (None: a numeric column).
    """

    name: str
    categories: Optional[tuple[str, ...]] = None

    @property
    def width(self) -> int:
        """The inputs the column becomes: 1, or one per category."""
        return 1 if self.categories is None else len(self.categories)


class TableSchema:
    """The columns a model reads, in order, and its class labels.

    Parameters
    ----------
    columns : sequence of TableColumn
        The feature columns, in the order their inputs enter the network.
    target : str, optional
        The target column's name (where a file of rows to evaluate holds the truth).
    labels : sequence of str, optional
        The class labels (class i is ``labels[i]``); None when the targets are numbers.

    Raises
    ------
    ValueError
        For names or categories that are not distinct non-empty texts of at most
        MAX_TEXT characters, more than MAX_CATEGORIES categories or labels, no column,
        or a target that is also a feature.
    """

    def __init__(self, columns: Sequence[TableColumn], target: Optional[str] = None,
                 labels: Optional[Sequence[str]] = None) -> None:
        columns = tuple(columns)
        if not columns:
            raise ValueError("a table schema needs at least one feature column")
        for column in columns:
            if not isinstance(column, TableColumn):
                raise TypeError(f"columns must be TableColumn objects, got {column!r}")
            _check_text("a column name", column.name)
            if column.categories is not None:
                _check_texts(f"the categories of column {column.name[:40]!r}",
                             column.categories, MAX_CATEGORIES)
        _check_distinct("column names", [c.name for c in columns])
        if target is not None:
            _check_text("the target's name", target)
            if target in {c.name for c in columns}:
                raise ValueError(f"the target {target[:40]!r} is also a feature column")
        if labels is not None:
            labels = tuple(labels)
            _check_texts("the class labels", labels, MAX_CATEGORIES)
        self.columns: tuple[TableColumn, ...] = columns
        self.target = target
        self.labels: Optional[tuple[str, ...]] = labels

    def __repr__(self) -> str:
        categorical = sum(c.categories is not None for c in self.columns)
        return (f"TableSchema({len(self.columns)} columns, {categorical} categorical, "
                f"{self.n_inputs} inputs, target={self.target!r}, "
                f"labels={None if self.labels is None else len(self.labels)})")

    @property
    def n_inputs(self) -> int:
        """The inputs the columns become (the model's n_x)."""
        return sum(c.width for c in self.columns)

    @property
    def categorical(self) -> bool:
        """Whether any column is categorical."""
        return any(c.categories is not None for c in self.columns)

    @property
    def input_names(self) -> list[str]:
        """One name per input: the column's, or 'column=category' for a one-hot input."""
        return [c.name if c.categories is None else f"{c.name}={category}"
                for c in self.columns for category in (c.categories or (None,))]

    def check_model(self, n_inputs: int, n_outputs: int, output: str) -> None:
        """Raise ValueError unless a model with these inputs and output layer can use
        this schema: as many inputs, and labels only for a classifier, one per class."""
        if self.n_inputs != n_inputs:
            raise ValueError(f"the schema's columns make {self.n_inputs} inputs but the model "
                             f"takes {n_inputs}")
        if self.labels is None:
            return
        if output == "linear":
            raise ValueError("class labels are for a sigmoid or softmax output, not linear")
        expected = 2 if output == "sigmoid" and n_outputs == 1 else n_outputs
        if output == "sigmoid" and n_outputs > 1:
            raise ValueError(f"class labels need one output per class (softmax) or a single "
                             f"sigmoid unit (2 labels); this sigmoid output has {n_outputs} "
                             "units, each its own 0/1 target")
        if len(self.labels) != expected:
            raise ValueError(f"the schema has {len(self.labels)} class labels but the model's "
                             f"{output} output has {expected} classes")

    def encode(self, values: Sequence[ArrayLike]) -> NDArray[np.float64]:
        """The inputs (m, n_inputs) of rows given column by column.

        Parameters
        ----------
        values : sequence of array_like (m,)
            One per column, in the schema's order: numbers for a numeric column, texts
            for a categorical one.

        Returns
        -------
        ndarray (m, n_inputs) of float64

        Raises
        ------
        UnknownCategory
            Naming the first row whose category the training rows did not hold.
        """
        if len(values) != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} columns of values, got "
                             f"{len(values)}")
        arrays = [np.asarray(given) for given in values]
        m = len(arrays[0])
        if any(a.shape != (m,) for a in arrays):
            raise ValueError(f"each column of values must have shape ({m},)")
        X = np.zeros((m, self.n_inputs))
        at = 0
        for column, given in zip(self.columns, arrays):
            if column.categories is None:
                X[:, at] = given.astype(np.float64)
            else:
                codes = self._codes(column.name, column.categories, given, "category")
                X[np.arange(m), at + codes] = 1.0
            at += column.width
        return X

    def encode_labels(self, values: ArrayLike) -> NDArray[np.intp]:
        """Class indices (m,) of class labels given as text.

        Raises
        ------
        UnknownCategory
            For a label that is not one of :attr:`labels`.
        """
        if self.labels is None:
            raise ValueError("this schema has no class labels: the targets are numbers")
        return self._codes(self.target or "target", self.labels, values, "class label")

    def decode_labels(self, indices: ArrayLike) -> NDArray[np.str_]:
        """The class labels (m,) of class indices; the indices themselves as text when
        there are no labels."""
        indices = np.asarray(indices)
        if self.labels is None:
            return indices.astype(str)
        return np.asarray(self.labels)[indices]

    @staticmethod
    def _codes(name: str, known: tuple[str, ...], values: ArrayLike,
               what: str) -> NDArray[np.intp]:
        texts = np.asarray(values, dtype=str)
        order = np.argsort(np.asarray(known))
        sorted_known = np.asarray(known)[order]
        at = np.clip(np.searchsorted(sorted_known, texts), 0, len(known) - 1)
        found = sorted_known[at] == texts
        if not found.all():
            row = int(np.argmin(found))
            raise UnknownCategory(name, row, str(texts[row]), known, what)
        return order[at].astype(np.intp)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: ``{"columns": [{"name", "categories"}], "target", "labels"}``."""
        return {"columns": [{"name": c.name, "categories": None if c.categories is None
                             else list(c.categories)} for c in self.columns],
                "target": self.target,
                "labels": None if self.labels is None else list(self.labels)}

    @classmethod
    def from_dict(cls, d: Any) -> TableSchema:
        """A schema from :meth:`to_dict`'s output, every value checked (a model file's
        metadata may have been tampered with).

        Raises
        ------
        ValueError
            Naming what is wrong.
        """
        _check_keys("schema", d, {"columns", "target", "labels"})
        columns = d["columns"]
        if not isinstance(columns, list) or not columns:
            raise ValueError(f"schema columns must be a non-empty list, got {_short(columns)}")
        built = []
        for i, column in enumerate(columns):
            _check_keys(f"schema column {i}", column, {"name", "categories"})
            categories = column["categories"]
            if categories is not None and not isinstance(categories, list):
                raise ValueError(f"schema column {i} categories must be a list or null, got "
                                 f"{_short(categories)}")
            _check_text(f"schema column {i} name", column["name"])
            built.append(TableColumn(column["name"], None if categories is None
                                     else tuple(_texts(f"schema column {i} categories",
                                                       categories))))
        labels = d["labels"]
        if labels is not None and not isinstance(labels, list):
            raise ValueError(f"schema labels must be a list or null, got {_short(labels)}")
        return cls(built, d["target"], None if labels is None
                   else _texts("schema labels", labels))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."


def _check_keys(what: str, d: Any, keys: set[str]) -> None:
    if not isinstance(d, dict) or set(d) != keys:
        raise ValueError(f"{what} must be an object with the keys {sorted(keys)}, got "
                         f"{_short(d)}")


def _check_text(what: str, text: Any) -> None:
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
        raise ValueError(f"{what} must be a non-empty text of at most {MAX_TEXT} characters, "
                         f"got {_short(text)}")


def _texts(what: str, values: list[Any]) -> list[str]:
    for value in values:
        _check_text(f"each of {what}", value)
    return values


def _check_texts(what: str, texts: Sequence[Any], limit: int) -> None:
    if not 1 <= len(texts) <= limit:
        raise ValueError(f"{what} must be 1 to {limit} texts, got {len(texts)}")
    for text in texts:
        _check_text(f"each of {what}", text)
    _check_distinct(what, list(texts))


def _check_distinct(what: str, texts: list[str]) -> None:
    seen: set[str] = set()
    for text in texts:
        if text in seen:
            raise ValueError(f"{what} must be distinct; {text[:40]!r} appears twice")
        seen.add(text)
