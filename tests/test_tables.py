"""fastnn.TableSchema: a table's columns as a model's inputs (numbers as they are, text
one-hot over the training categories) and its class labels; attached to a model
(``model.schema``), checked against it, and saved with it."""
import pickle

import numpy as np
import pytest

import fastnn as fnn
from fastnn.workflow.tables import MAX_CATEGORIES, UnknownCategory


def schema(labels=("no", "yes")):
    return fnn.TableSchema([fnn.TableColumn("size", ("L", "M", "S")), fnn.TableColumn("x"),
                            fnn.TableColumn("color", ("blue", "red"))], target="y",
                           labels=labels)


def test_encode_one_hot_in_the_schemas_order():
    s = schema()
    X = s.encode([["S", "L", "M"], [0.5, -1.0, 2.0], ["red", "blue", "red"]])
    np.testing.assert_array_equal(X, [[0, 0, 1, 0.5, 0, 1],
                                      [1, 0, 0, -1.0, 1, 0],
                                      [0, 1, 0, 2.0, 0, 1]])
    assert s.n_inputs == 6 and s.categorical
    assert s.input_names == ["size=L", "size=M", "size=S", "x", "color=blue", "color=red"]


def test_unknown_categories_and_labels_are_errors_naming_the_row():
    s = schema()
    with pytest.raises(UnknownCategory) as info:
        s.encode([["S", "XL"], [0.0, 0.0], ["red", "red"]])
    assert (info.value.column, info.value.row, info.value.value) == ("size", 1, "XL")
    assert "'XL' is not a category the model was trained on (column 'size' had 3" in str(
        info.value)
    with pytest.raises(UnknownCategory, match="'maybe' is not a class label"):
        s.encode_labels(["yes", "maybe"])


def test_labels_round_trip():
    s = schema(("bird", "cat", "dog"))
    indices = s.encode_labels(["dog", "bird", "cat", "dog"])
    assert indices.tolist() == [2, 0, 1, 2]
    assert s.decode_labels(indices).tolist() == ["dog", "bird", "cat", "dog"]
    assert fnn.TableSchema([fnn.TableColumn("x")]).decode_labels([1, 0]).tolist() == ["1", "0"]


@pytest.mark.parametrize("build, error, fragment", [
    (lambda: fnn.TableSchema([]), ValueError, "at least one feature column"),
    (lambda: fnn.TableSchema([fnn.TableColumn("x"), fnn.TableColumn("x")]), ValueError,
     "column names must be distinct; 'x' appears twice"),
    (lambda: fnn.TableSchema([fnn.TableColumn("")]), ValueError, "non-empty text"),
    (lambda: fnn.TableSchema([fnn.TableColumn("c", ("a", "a"))]), ValueError,
     "must be distinct"),
    (lambda: fnn.TableSchema([fnn.TableColumn("c", ())]), ValueError, "1 to 1000 texts"),
    (lambda: fnn.TableSchema([fnn.TableColumn("c", tuple(map(str, range(1001))))]), ValueError,
     "1 to 1000 texts, got 1001"),
    (lambda: fnn.TableSchema([fnn.TableColumn("x")], target="x"), ValueError,
     "also a feature column"),
    (lambda: fnn.TableSchema([fnn.TableColumn("x")], labels=["a", 3]), ValueError,
     "non-empty text"),
    (lambda: fnn.TableSchema([fnn.TableColumn("x" * 1001)]), ValueError, "at most 1000"),
    (lambda: fnn.TableSchema(["x"]), TypeError, "TableColumn objects"),
])
def test_bad_schemas_are_refused(build, error, fragment):
    with pytest.raises(error, match=fragment.replace("(", r"\(")):
        build()
    assert MAX_CATEGORIES == 1000


def test_a_model_takes_a_schema_that_fits_it():
    model = fnn.MLP([6, 4, 1])
    model.schema = schema()
    assert model.schema.labels == ("no", "yes")
    with pytest.raises(ValueError, match="make 6 inputs but the model takes 5"):
        fnn.MLP([5, 4, 1]).schema = schema()
    with pytest.raises(ValueError, match="2 class labels but the model's softmax output has 3"):
        fnn.MLP([6, 4, 3], output="softmax").schema = schema()
    with pytest.raises(ValueError, match="not linear"):
        fnn.MLP([6, 4, 1], output="linear").schema = schema()
    with pytest.raises(ValueError, match="this sigmoid output has 2 units"):
        fnn.MLP([6, 4, 2]).schema = schema()
    with pytest.raises(TypeError, match="schema must be a fastnn.TableSchema"):
        fnn.MLP([6, 4, 1]).schema = {"columns": []}
    fnn.MLP([6, 4, 1], output="linear").schema = schema(labels=None)  # no labels: fine
    softmax = fnn.MLP([6, 4, 3], output="softmax")
    softmax.schema = schema(("a", "b", "c"))


def test_the_schema_is_saved_copied_and_pickled(tmp_path):
    model = fnn.MLP([6, 4, 3], output="softmax")
    model.schema = schema(("a", "b", "c"))
    model.save(tmp_path / "m.npz")
    for other in (fnn.load(tmp_path / "m.npz"), model.copy(), pickle.loads(pickle.dumps(model)),
                  model.astype("float64")):
        assert other.schema.to_dict() == model.schema.to_dict()
    assert fnn.load(tmp_path / "m.npz").schema.columns[0].categories == ("L", "M", "S")


def test_from_dict_checks_every_value():
    good = schema().to_dict()
    assert fnn.TableSchema.from_dict(good).to_dict() == good
    for bad, fragment in [
        ({**good, "extra": 1}, "keys"),
        ({**good, "columns": []}, "non-empty list"),
        ({**good, "columns": [{"name": "x"}]}, "schema column 0 must be an object"),
        ({**good, "columns": [{"name": 3, "categories": None}]}, "schema column 0 name"),
        ({**good, "columns": [{"name": "c", "categories": "abc"}]}, "must be a list or null"),
        ({**good, "columns": [{"name": "c", "categories": ["a", None]}]}, "non-empty text"),
        ({**good, "labels": "yes"}, "schema labels must be a list or null"),
        ({**good, "target": 5}, "the target's name"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            fnn.TableSchema.from_dict(bad)


def test_saving_another_kind_of_schema_is_refused(tmp_path):
    class Mine:
        def check_model(self, *args):
            pass

    model = fnn.MLP([2, 1])
    model.schema = Mine()
    with pytest.raises(TypeError, match=r"model.schema \(Mine\) cannot be saved"):
        model.save(tmp_path / "m.npz")
