"""The `fastnn` command line: every subcommand in-process through fastnn.cli.main, plus
`python -m fastnn` in a subprocess.

Every user mistake must give exactly one line on stderr (`fastnn COMMAND: error: ...`) and
exit code 2, a failed check exit code 1, Ctrl-C exit code 130, and never a traceback or a
hang; the `test_regression_*` tests cover the cases that failed on 7677fd3, and
test_cli_fuzz.py generates command lines from the subcommands' grammar.
"""
import contextlib
import io
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastnn as fnn
from fastnn import cli
from fastnn.datasets import make_moons, make_spirals

REPO = Path(__file__).resolve().parents[1]
PNGS = ("learning_curves_baseline.png", "learning_curves_regularized.png",
        "bias_variance_baseline.png", "bias_variance_regularized.png",
        "validation_curve_l2.png")


def has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def run(argv):
    """(exit code, stdout, stderr) of cli.main(argv), captured without capsys."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code, err, fragment="", expected_code=2):
    """Exit code `expected_code` and exactly one line on stderr naming the error."""
    assert code == expected_code, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fastnn") and ": error: " in lines[0], err
    assert fragment in lines[0], err


class Hung(BaseException):
    """Raised when a call outlives its deadline: a BaseException, so main lets it through."""


@contextlib.contextmanager
def deadline(seconds=60):
    """Fail with Hung instead of blocking forever (a FIFO opened for reading, a read of
    /dev/zero): SIGALRM interrupts the blocking call (POSIX main thread only)."""
    def expire(signum, frame):
        raise Hung(f"the call did not return within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def npy_header(shape, descr="<f8"):
    """The bytes of an .npy header declaring `shape` of `descr`."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def npz_bytes(compress=False, **arrays):
    buffer = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def patch_zip_headers(data, method=None, encrypted=False):
    """`data` (a zip archive) with every member's compression method and/or encryption
    flag changed in both its local and its central header."""
    data = bytearray(data)
    for signature, flags_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        start = data.find(signature)
        while start >= 0:
            if encrypted:
                data[start + flags_at] |= 1
            if method is not None:
                data[start + method_at:start + method_at + 2] = method.to_bytes(2, "little")
            start = data.find(signature, start + 4)
    return bytes(data)


def corrupt_deflate(data):
    """A compressed archive whose first member's deflate stream starts with a block of the
    reserved type 3 (zlib: "invalid block type")."""
    data = bytearray(data)
    header = data.find(b"PK\x03\x04")
    name_length = int.from_bytes(data[header + 26:header + 28], "little")
    extra_length = int.from_bytes(data[header + 28:header + 30], "little")
    data[header + 30 + name_length + extra_length] = 0b111  # final block, type 3
    return bytes(data)


def zip_of(members):
    """A zip archive of raw `members` {name: bytes}."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(str(v) for v in row) + "\n")
    return path


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def moons_csv(tmp_path_factory):
    """A moons CSV whose target column ('label') sits between the two features."""
    X, y = make_moons(300, noise=0.15, seed=3)
    path = tmp_path_factory.mktemp("data") / "moons.csv"
    write_csv(path, ["x1", "label", "x2"], [(a, int(c), b) for (a, b), c in zip(X, y)])
    return path, X, y


@pytest.fixture(scope="module")
def trained_csv_model(moons_csv, tmp_path_factory):
    path, _, _ = moons_csv
    model_path = tmp_path_factory.mktemp("models") / "moons_model.npz"
    code, out, err = run(["train", str(path), "--target", "label", "--layers", "16,8",
                          "--batch-size", "full", "--lr", "0.05", "--epochs", "300",
                          "--eval-every", "10", "--patience", "10", "--seed", "1",
                          "--save", str(model_path)])
    return code, out, err, model_path


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("demo") / "out"
    code, out, err = run(["demo", "--quick", "--out", str(out_dir)])
    return code, out, err, out_dir


# --------------------------------------------------------------------------- help and usage

@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["predict"], ["evaluate"],
                                     ["gradcheck"], ["diagnose"], ["bench"]])
def test_help_for_every_subcommand(command, capsys):
    assert cli.main(command + ["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: fastnn" + (" " + command[0] if command else ""))
    assert "--help" in out


def _description(command, capsys):
    """The description paragraph(s) of `fastnn COMMAND --help`: between the usage lines
    and the first options heading."""
    assert cli.main([command, "--help"]) == 0
    text = capsys.readouterr().out
    body = text.split("\n\n", 1)[1]
    return body.split("\npositional arguments:")[0].split("\noptions:")[0].strip()


def test_each_subcommand_has_its_own_description(capsys):
    """diagnose --help repeated train's text; every subcommand describes itself."""
    descriptions = {name: _description(name, capsys) for name in cli.build_parser()[1]}
    assert len(set(descriptions.values())) == len(descriptions), descriptions
    for name, text in descriptions.items():
        others = [other for o, other in descriptions.items() if o != name]
        assert not any(sentence in other for sentence in text.split(". ")
                       if len(sentence) > 40 for other in others), name


def option_help(command, option, capsys):
    """The help text of `option` in `fastnn COMMAND --help`, on one line."""
    assert cli.main([command, "--help"]) == 0
    options = capsys.readouterr().out.split("\noptions:\n", 1)[1]
    entry = options.split(f"\n  {option} ", 1)[1].split("\n  -", 1)[0]
    return " ".join(entry.split())


def test_shared_options_say_what_they_do_in_each_subcommand(capsys):
    """--seed seeds the weights in train; in diagnose it only reproduces train's split."""
    assert "weights" in option_help("train", "--seed", capsys)
    assert "weights" not in option_help("diagnose", "--seed", capsys)
    assert "split" in option_help("diagnose", "--seed", capsys)


def test_top_level_help_lists_subcommands(capsys):
    cli.main(["--help"])
    out = capsys.readouterr().out
    for name in ("demo", "train", "predict", "evaluate", "gradcheck", "diagnose", "bench"):
        assert name in out


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert fnn.__version__ in capsys.readouterr().out


@pytest.mark.parametrize("argv, fragment", [
    ([], "required"),
    (["frobnicate"], "invalid choice"),
    (["demo", "--bogus"], "fastnn demo: error: unrecognized arguments: --bogus"),
    (["train"], "fastnn train: error: the following arguments are required: DATA"),
    (["train", "x.csv", "--keep-prob", "1.5"], "argument --keep-prob"),
    (["train", "x.csv", "--layers", "64,x"], "argument --layers"),
    (["train", "x.csv", "--optimizer", "lbfgs"], "argument --optimizer"),
    (["train", "x.csv", "--l2", "-1"], "argument --l2"),
    (["train", "x.csv", "--batch-size", "0"], "argument --batch-size"),
    (["train", "x.csv", "--batch-size", "none"], "argument --batch-size"),
    (["demo", "--batch-size", "0"], "argument --batch-size"),
    (["demo", "--epochs", "0"], "argument --epochs"),
    (["diagnose", "--train-error", "1.5", "--dev-error", "0.1"], "argument --train-error"),
    (["gradcheck", "model.npz"], "required"),
])
def test_bad_usage_exits_2(argv, fragment, capsys):
    assert_one_line_error(cli.main(argv), capsys.readouterr().err, fragment)


# --------------------------------------------------------------------------- demo

def test_demo_writes_report_plots_and_model(demo_run):
    code, out, err, out_dir = demo_run
    assert code == 0, err
    report = (out_dir / "report.txt").read_text()
    assert report.strip() == out.strip()
    for text in ("baseline (no regularization)", "regularized", "Bias/variance: high variance",
                 "gradient check: difference", "-> correct", "Validation curve: l2",
                 "best l2 ="):
        assert text in out
    if has_matplotlib():
        for name in PNGS:
            assert (out_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_demo_model_takes_raw_inputs(demo_run):
    _, _, _, out_dir = demo_run
    model = fnn.load(out_dir / "model.npz")
    assert model.standardizer is not None
    assert model.keep_prob[0] < 1 and model.l2[0] > 0  # the regularized model
    X, y = make_moons(m=400, noise=0.3, seed=11)  # raw, never standardized here
    assert model.predict(X).shape == (400,)
    assert model.error(X, y) < 0.2


def test_demo_no_plots(tmp_path):
    code, out, _ = run(["demo", "--quick", "--epochs", "30", "--no-plots",
                        "--out", str(tmp_path)])
    assert code == 0
    assert "plots skipped (--no-plots)" in out
    assert not list(tmp_path.glob("*.png"))
    assert (tmp_path / "report.txt").exists() and (tmp_path / "model.npz").exists()


def test_demo_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, out, _ = run(["demo", "--quick", "--epochs", "30", "--out", str(tmp_path)])
    assert code == 0
    assert "plots skipped: matplotlib is not installed" in out
    assert not list(tmp_path.glob("*.png"))


def test_demo_reports_a_gradient_bug_with_exit_1(tmp_path, monkeypatch):
    correct = fnn.MLP.gradients

    def doubled_dW2(self, X, y):
        grads = correct(self, X, y)
        grads["dW2"] = 2 * grads["dW2"]
        return grads

    monkeypatch.setattr(fnn.MLP, "gradients", doubled_dW2)
    code, out, err = run(["demo", "--quick", "--epochs", "20", "--no-plots",
                          "--out", str(tmp_path)])
    assert code == 1
    assert "-> bug" in out and "gradient check failed" in err


def test_bayes_error_of_the_moons():
    assert cli.moons_bayes_error(0.0) == 0.0
    low, high = cli.moons_bayes_error(0.1), cli.moons_bayes_error(0.3)
    assert 0 <= low < 0.01 and 0.06 < high < 0.12


# --------------------------------------------------------------------------- train

def test_train_csv_saves_a_model_taking_raw_inputs(trained_csv_model, moons_csv):
    code, out, err, model_path = trained_csv_model
    assert code == 0, err
    assert "target 'label'" in out and "output sigmoid" in out
    assert "Bias/variance:" in out and "saved the model" in out
    _, X, y = moons_csv
    model = fnn.load(model_path)
    assert model.layer_sizes == (2, 16, 8, 1) and model.standardizer is not None
    assert np.isin(model.predict(X), (0, 1)).all()
    assert model.error(X, y) < 0.15


def test_train_npz_softmax_inferred(tmp_path):
    X, y = make_spirals(240, n_classes=3, seed=2)
    data, model_path = tmp_path / "spirals.npz", tmp_path / "spirals_model.npz"
    np.savez(data, X=X * 100 + 5, y=y)  # raw scale far from standardized
    code, out, err = run(["train", str(data), "--epochs", "40", "--layers", "32",
                          "--lr", "0.01", "--dtype", "float64", "--backend", "reference",
                          "--save", str(model_path)])
    assert code == 0, err
    assert "output softmax (inferred: integer labels 0..2)" in out
    model = fnn.load(model_path)
    assert model.output == "softmax" and model.layer_sizes == (2, 32, 3)
    assert model.dtype == np.float64 and model.backend == "reference"
    proba = model.predict_proba(X * 100 + 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)


def test_train_linear_target_has_no_verdict(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    np.savez(tmp_path / "reg.npz", X=X, y=X @ [1.0, -2.0, 0.5])
    code, out, _ = run(["train", str(tmp_path / "reg.npz"), "--epochs", "5"])
    assert code == 0
    assert "output linear" in out and "train MSE" in out
    assert "no bias/variance verdict" in out


def test_train_two_way_split_and_stratify(moons_csv):
    path, _, _ = moons_csv
    code, out, err = run(["train", str(path), "--target", "label", "--epochs", "2",
                          "--ratios", "0.8,0.2", "--stratify"])
    assert code == 0, err
    assert "split 240/60 train/dev" in out


def test_train_verbose_levels(moons_csv):
    """--verbose 2 prints a line per evaluated epoch; the bar of the default level 1 is
    drawn on a terminal only; --progress, the older option, still runs."""
    path, _, _ = moons_csv
    base = ["train", str(path), "--target", "label", "--epochs", "6", "--eval-every", "2"]
    code, out, err = run(base + ["--verbose", "2"])
    assert code == 0, err
    epochs = [line.split(":")[0] for line in out.splitlines() if line.startswith("epoch ")]
    assert epochs == ["epoch 2/6", "epoch 4/6", "epoch 6/6"]
    for argv in (base, base + ["--verbose", "0"], base + ["--progress"]):
        code, out, err = run(argv)
        assert code == 0, err
        assert "\r" not in out and not any(line.startswith("epoch ") for line in out.splitlines())
    assert_one_line_error(*run(base + ["--verbose", "3"])[::2], "argument --verbose")


def test_train_standardizes_a_regression_target(tmp_path):
    """Targets of order a thousand: SGD diverged on them with advice about the inputs,
    which were standardized. The targets are standardized with the training set's
    statistics, saved with the model, and the table's MSE is in their units."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = 1000 + X @ [300.0, -200.0, 100.0] + 10 * rng.normal(size=300)
    np.savez(tmp_path / "reg.npz", X=X, y=y)
    code, out, err = run(["train", str(tmp_path / "reg.npz"), "--optimizer", "sgd",
                          "--epochs", "30", "--save", str(tmp_path / "m.npz")])
    assert code == 0, err
    assert "inputs and targets standardized" in out
    model = fnn.load(tmp_path / "m.npz")
    (X_tr, y_tr), _, (X_te, y_te) = fnn.split(X, y, seed=0)
    assert model.target_standardizer.mean_[0] == pytest.approx(y_tr.mean())
    test_mse = float(np.mean((model.predict(X_te) - y_te) ** 2))
    assert test_mse < 0.05 * np.var(y_te)
    row = next(line for line in out.splitlines()
               if line.startswith("model ") and "MSE" not in line)
    assert float(row.split()[3]) == pytest.approx(test_mse, rel=1e-3)


def test_train_divergence_exits_1_and_saves_nothing(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    np.savez(tmp_path / "big.npz", X=X, y=X @ [100.0, 200.0, -100.0])
    model_path = tmp_path / "never.npz"
    code, _, err = run(["train", str(tmp_path / "big.npz"), "--optimizer", "sgd", "--lr", "10",
                        "--epochs", "50", "--save", str(model_path)])
    assert code == 1
    assert "diverged" in err and not model_path.exists()


@pytest.mark.parametrize("output, rows, fragment", [
    ("sigmoid", [(1, 0), (2, 2), (3, 1), (4, 0), (5, 1)], "does not fit a sigmoid output"),
    ("softmax", [(1, 0.5), (2, 1.5), (3, 1), (4, 0), (5, 1)], "needs integer class labels"),
])
def test_train_output_that_does_not_fit_the_target(output, rows, fragment, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", ["a", "y"], rows)
    assert cli.main(["train", str(path), "--output", output]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fastnn train: error: {path}: ") and fragment in err


def test_train_save_folder_must_exist_before_training(moons_csv, tmp_path):
    path, _, _ = moons_csv
    target = tmp_path / "missing" / "m.npz"
    code, out, err = run(["train", str(path), "--save", str(target)])
    assert code == 2
    assert "does not exist" in err and out == ""


# ------------------------------------------------------------------ text, predict, evaluate

COLORS, SIZES = ("red", "green", "blue"), ("S", "M", "L", "XL")


def shop_rows(n=300, seed=0):
    """Rows of (id, color, x, size, zip, label): text categories, a numeric code column,
    an identifier and text class labels that depend on all of them."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        color, size = COLORS[rng.integers(3)], SIZES[rng.integers(4)]
        x = rng.normal()
        score = (x + {"red": 1.5, "green": -0.5, "blue": -0.5}[color]
                 + {"S": -1, "M": 0, "L": 0.5, "XL": 1}[size])
        rows.append((f"id{i}", color, f"{x:.4f}", size, str(1000 + i % 7),
                     "good" if score > 0.3 else "bad"))
    return rows


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A ;-separated CSV of text columns, trained on once: (csv path, model path, out)."""
    folder = tmp_path_factory.mktemp("shop")
    path = folder / "shop.csv"
    path.write_text("id;color;x;size;zip;label\n"
                    + "".join(";".join(row) + "\n" for row in shop_rows()))
    model_path = folder / "shop.npz"
    code, out, err = run(["train", str(path), "--delimiter", ";", "--drop", "id",
                          "--categorical", "zip", "--epochs", "60", "--save", str(model_path)])
    assert code == 0, err
    return path, model_path, out


def read_csv_text(text, delimiter=","):
    import csv
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def test_train_one_hot_encodes_text_columns_and_keeps_text_labels(shop):
    path, model_path, out = shop
    assert "one-hot encoded: color (3), size (4), zip (7) (15 inputs in all)" in out
    assert "2 classes: bad, good" in out and "output sigmoid (inferred: 2 class labels" in out
    model = fnn.load(model_path)
    schema = model.schema
    assert [c.name for c in schema.columns] == ["color", "x", "size", "zip"]
    assert schema.columns[0].categories == ("blue", "green", "red")  # sorted
    assert schema.columns[3].categories == tuple(str(1000 + i) for i in range(7))
    assert schema.target == "label" and schema.labels == ("bad", "good")
    assert model.layer_sizes[0] == 15


def test_predict_gives_text_labels_and_named_probabilities(shop, tmp_path):
    """Predictions come back as the labels trained with; columns are found by name, so
    a file with its columns reordered, extra columns and no target predicts the same."""
    path, model_path, _ = shop
    code, out, err = run(["predict", str(model_path), str(path), "--delimiter", ";"])
    assert code == 0 and err == ""
    rows = read_csv_text(out)
    assert rows[0] == ["label"] and len(rows) == 301
    truth = [row[5] for row in shop_rows()]
    assert {r[0] for r in rows[1:]} <= {"good", "bad"}
    accuracy = np.mean([p[0] == t for p, t in zip(rows[1:], truth)])
    model = fnn.load(model_path)
    code, out, err = run(["evaluate", str(model_path), str(path), "--delimiter", ";"])
    assert code == 0, err
    assert f"error {100 * (1 - accuracy):.2f}%" in out
    reordered = tmp_path / "reordered.csv"
    reordered.write_text("zip,note,size,x,color\n" + "".join(
        f"{r[4]},hello,{r[3]},{r[2]},{r[1]}\n" for r in shop_rows()))
    code, out2, err = run(["predict", str(model_path), str(reordered), "--proba"])
    assert code == 0, err
    proba = read_csv_text(out2)
    assert proba[0] == ["bad", "good"]
    p = np.array(proba[1:], dtype=float)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert [("good" if q[1] > 0.5 else "bad") for q in p] == [r[0] for r in rows[1:]]
    encoded = model.schema.encode([
        np.array([r[1] for r in shop_rows()]), np.array([float(r[2]) for r in shop_rows()]),
        np.array([r[3] for r in shop_rows()]), np.array([r[4] for r in shop_rows()])])
    np.testing.assert_allclose(p[:, 1], model.predict_proba(encoded)[:, 0], rtol=1e-6)


def test_predict_refuses_a_category_it_never_saw(shop, tmp_path):
    path, model_path, _ = shop
    new = tmp_path / "new.csv"
    new.write_text("color,x,size,zip\nred,0.1,M,1000\npurple,0.2,S,1001\n")
    code, _, err = run(["predict", str(model_path), str(new)])
    assert_one_line_error(code, err, f"{new}, line 3, column 1 ('color'): 'purple' is not a "
                                     "category the model was trained on (column 'color' had "
                                     "3: 'blue', 'green', 'red')")
    new.write_text("color,x,size,zip,label\nred,0.1,M,1000,great\n")
    code, _, err = run(["evaluate", str(model_path), str(new)])
    assert_one_line_error(code, err, "line 2, column 5 ('label'): 'great' is not a class label")


def test_predict_writes_out_and_evaluate_needs_the_target(shop, tmp_path):
    path, model_path, _ = shop
    no_target = tmp_path / "rows.csv"
    no_target.write_text("color,x,size,zip\nred,1.5,XL,1003\nblue,-2,S,1000\n")
    out_path = tmp_path / "preds.csv"
    code, out, err = run(["predict", str(model_path), str(no_target), "--out", str(out_path)])
    assert code == 0, err
    assert out.strip() == f"{out_path}: predictions for the 2 rows of {no_target}"
    assert read_csv_text(out_path.read_text()) == [["label"], ["good"], ["bad"]]
    code, _, err = run(["evaluate", str(model_path), str(no_target)])
    assert_one_line_error(code, err, "no target column: the model's is 'label'")
    code, _, err = run(["predict", str(model_path), str(no_target), "--out",
                        str(tmp_path / "missing" / "p.csv")])
    assert_one_line_error(code, err, "--out")
    code, _, err = run(["predict", str(model_path), str(tmp_path / "gone.csv")])
    assert_one_line_error(code, err, "gone.csv: no such file")


def test_evaluate_prints_the_confusion_matrix_of_its_predictions(tmp_path):
    """Iris-like text labels, 3 classes: the matrix counts (true, predicted) pairs."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(240, 2))
    names = np.array(["setosa", "versicolor", "virginica"])
    y = names[np.digitize(X[:, 0] + 0.3 * rng.normal(size=240), [-0.5, 0.5])]
    path = write_csv(tmp_path / "flowers.csv", ["a", "b", "species"],
                     [(a, b, c) for (a, b), c in zip(X, y)])
    model_path = tmp_path / "m.npz"
    assert run(["train", str(path), "--epochs", "40", "--save", str(model_path)])[0] == 0
    code, out, err = run(["evaluate", str(model_path), str(path)])
    assert code == 0, err
    model = fnn.load(model_path)
    predicted = names[model.predict(X)]
    lines = out.splitlines()
    header = lines.index("confusion matrix (rows: the true class, columns: the predicted one):")
    assert lines[header + 1].split()[-3:] == list(names)
    for i, name in enumerate(names):
        cells = lines[header + 2 + i].split()
        assert cells[0] == name
        assert [int(c) for c in cells[1:]] == [int(np.sum((y == name) & (predicted == other)))
                                               for other in names]
    assert all(len(line) <= 100 for line in lines[header:])


def test_evaluate_many_classes_sums_up_each_class(tmp_path):
    """A confusion matrix wider than 100 columns is given class by class."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 2))
    labels = [f"class number {i}" for i in np.digitize(X[:, 0], np.linspace(-2, 2, 29))]
    path = write_csv(tmp_path / "many.csv", ["a", "b", "y"],
                     [(a, b, c) for (a, b), c in zip(X, labels)])
    model_path = tmp_path / "m.npz"
    assert run(["train", str(path), "--epochs", "2", "--save", str(model_path)])[0] == 0
    code, out, err = run(["evaluate", str(model_path), str(path)])
    assert code == 0, err
    assert "per class (30 classes: a confusion matrix would be wider than 100 columns)" in out
    assert "'class number 0': " in out and all(len(line) <= 100
                                                for line in out.splitlines()[2:])


def test_predict_and_evaluate_a_regression_in_the_targets_units(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 2))
    y = 5000 + 800 * X[:, 0] - 300 * X[:, 1]
    path = write_csv(tmp_path / "prices.csv", ["a", "b", "price"],
                     [(a, b, c) for (a, b), c in zip(X, y)])
    model_path = tmp_path / "m.npz"
    assert run(["train", str(path), "--epochs", "50", "--save", str(model_path)])[0] == 0
    model = fnn.load(model_path)
    code, out, err = run(["predict", str(model_path), str(path)])
    assert code == 0, err
    rows = read_csv_text(out)
    assert rows[0] == ["price"]
    values = np.array(rows[1:], dtype=float)[:, 0]
    np.testing.assert_allclose(values, model.predict(X), rtol=1e-6)
    code, out, err = run(["evaluate", str(model_path), str(path)])
    assert code == 0, err
    mse = float(np.mean((values - y) ** 2))
    assert f"mean squared error {mse:.6g}" in out or f"{mse:.5g}" in out
    r2 = 1 - mse / np.var(y)
    assert f"R^2 {r2:.4f}" in out
    code, _, err = run(["predict", str(model_path), str(path), "--proba"])
    assert_one_line_error(code, err, "--proba: ")


def test_a_model_without_column_names_reads_columns_in_order(unnamed_model, tmp_path):
    """Trained from Python: n_x columns are the inputs, one more is the target (last),
    others must be dropped."""
    X, y = make_moons(20, noise=0.2, seed=4)
    model = fnn.load(unnamed_model)
    inputs = write_csv(tmp_path / "inputs.csv", ["p", "q"], X)
    code, out, err = run(["predict", str(unnamed_model), str(inputs)])
    assert code == 0, err
    assert [int(r[0]) for r in read_csv_text(out)[1:]] == model.predict(X).tolist()
    with_id = write_csv(tmp_path / "with_id.csv", ["id", "p", "q", "y"],
                        [(f"r{i}", a, b, int(c)) for i, ((a, b), c) in enumerate(zip(X, y))])
    code, _, err = run(["evaluate", str(unnamed_model), str(with_id)])
    assert_one_line_error(code, err, "4 feature column(s) but the model takes 2 inputs (it "
                                     "was trained without column names")
    code, out, err = run(["evaluate", str(unnamed_model), str(with_id), "--drop", "1"])
    assert code == 0, err
    assert f"error {100 * model.error(X, y):.2f}%" in out
    code, _, err = run(["evaluate", str(unnamed_model), str(inputs)])
    assert_one_line_error(code, err, "no target column: name it with --target")


@pytest.mark.parametrize("argv, fragment", [
    (["--drop", "nope"], "--drop 'nope': no column has that name or number (1 to 6)"),
    (["--drop", "7"], "--drop '7': no column has that name or number"),
    (["--drop", "label"], "--drop names the target column 'label'"),
    (["--drop", "id,0"], "--drop '0': no column has that name or number (1 to 6)"),
    (["--categorical", "label"], "--categorical names the target column"),
    (["--categorical", "zip", "--drop", "zip,id"], "given to both --drop and --categorical"),
    ([], "column 'id' holds a different text in every row (300): an identifier"),
])
def test_train_column_options_are_checked(shop, argv, fragment):
    path, _, _ = shop
    code, _, err = run(["train", str(path), "--delimiter", ";", "--epochs", "1", *argv])
    assert_one_line_error(code, err, fragment)


@pytest.mark.parametrize("content, argv, fragment", [
    ("a,b,y\n1,2,0\nred,3,1\n4,5,0\n", [], "line 3, column 1 ('a'): 'red' is not a number, but "
                                          "other cells of the column are: fix the cell, or give "
                                          "the column to --categorical"),
    ("a,y\n1,x\n2,x\n", [], "holds one class label ('x'); a classifier needs examples of 2"),
    ("a,y\n1,x\n2,z\n3,w\n", ["--output", "linear"], "--output linear needs numbers in the "
                                                      "target; it holds 3 class labels"),
    ("a,y\n1,x\n2,z\n3,w\n", ["--output", "sigmoid"], "--output sigmoid takes 2 classes"),
    ("a,y\n1,x\n2,3\n3,w\n", [], "line 2, column 2 ('y'): 'x' is not a number, but other "
                                 "cells of the column are: class labels are all text or all "
                                 "numbers"),
    ("a,b,y\n1,,0\n", ["--categorical", "b"], "line 2, column 2 ('b'): missing value"),
    ("x,b,x,y\n1,2,3,0\n4,5,6,1\n", [], "2 columns are named 'x' (columns 1, 3); a model "
                                       "finds its columns by name"),
])
def test_text_columns_that_cannot_be_read(content, argv, fragment, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(content)
    assert_one_line_error(*run(["train", str(path), *argv])[::2], fragment)


def test_too_many_categories(tmp_path):
    rows = [(f"name{i % 1001}", i % 2) for i in range(2002)]
    path = write_csv(tmp_path / "names.csv", ["name", "y"], rows)
    code, _, err = run(["train", str(path)])
    assert_one_line_error(code, err, "column 'name' holds 1001 distinct texts, more categories "
                                     "than 1000: is it an identifier? --drop it")


@pytest.mark.parametrize("delimiter, separator", [("tab", "\t"), ("\\t", "\t"), ("|", "|")])
def test_delimiters(delimiter, separator, tmp_path):
    X, y = make_moons(60, noise=0.2, seed=5)
    path = tmp_path / "d.csv"
    path.write_text(f"a{separator}b{separator}y\n" + "".join(
        f"{a}{separator}{b}{separator}{int(c)}\n" for (a, b), c in zip(X, y)))
    code, out, err = run(["train", str(path), "--delimiter", delimiter, "--epochs", "1"])
    assert code == 0, err
    assert "60 rows, 2 features" in out


@pytest.mark.parametrize("argv, fragment", [
    (["train", "d.csv", "--delimiter", '"'], "argument --delimiter: expected one character"),
    (["train", "d.csv", "--delimiter", "ab"], "argument --delimiter: expected one character"),
    (["train", "d.csv", "--delimiter", ""], "argument --delimiter"),
    (["predict", "m.npz", "d.csv", "--drop", "a,,b"], "argument --drop: expected "
                                                     "comma-separated column names"),
    (["train", "d.csv", "--categorical", ""], "argument --categorical"),
    (["predict", "m.npz"], "the following arguments are required: DATA"),
    (["evaluate", "m.npz", "d.csv", "--proba"], "unrecognized arguments: --proba"),
    (["predict", "m.npz", "d.csv", "--categorical", "a"], "unrecognized arguments"),
])
def test_new_options_usage_errors(argv, fragment, capsys):
    assert_one_line_error(cli.main(argv), capsys.readouterr().err, fragment)


def test_npz_files_refuse_csv_options_and_text_models(shop, tmp_path, unnamed_model):
    X, y = make_moons(20, noise=0.2, seed=6)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    np.savez(tmp_path / "x.npz", X=X)
    code, _, err = run(["train", str(tmp_path / "d.npz"), "--drop", "1"])
    assert_one_line_error(code, err, "--drop applies to CSV files; an .npz file holds X and y")
    code, _, err = run(["predict", str(unnamed_model), str(tmp_path / "x.npz"),
                        "--delimiter", ";"])
    assert_one_line_error(code, err, "--delimiter applies to CSV files; an .npz file holds X "
                                     "(and y)")
    code, out, err = run(["predict", str(unnamed_model), str(tmp_path / "x.npz")])
    assert code == 0 and len(read_csv_text(out)) == 21  # y is optional for predictions
    code, _, err = run(["predict", str(shop[1]), str(tmp_path / "x.npz")])
    assert_one_line_error(code, err, "the model one-hot encodes text columns ('color', 'size', "
                                     "'zip'), which an .npz file of numbers cannot hold")


def test_gradcheck_and_diagnose_read_text_columns_through_the_schema(shop):
    path, model_path, _ = shop
    code, out, err = run(["gradcheck", str(model_path), str(path), "--delimiter", ";"])
    assert code == 0, err
    code, out, err = run(["diagnose", "--model", str(model_path), "--data", str(path),
                          "--delimiter", ";"])
    assert code == 0, err
    assert "Bias/variance" in out


# --------------------------------------------------------------------------- bad files

BAD_CSVS = {
    "empty": ("", "is empty"),
    "blank lines only": ("\n\n", "is empty"),
    "header only": ("a,b,y\n", "no data rows"),
    "missing value": ("a,b,y\n1,2,0\n3,,1\n", "line 3, column 2 ('b'): missing value"),
    "missing last value": ("a,b,y\n1,2,0\n3,4,\n", "line 3, column 3 ('y'): missing value"),
    "text in numeric column": ("a,b,y\n1,2,0\n3,abc,1\n", "line 3, column 2 ('b'): 'abc' is "
                                                          "not a number"),
    "NA marker": ("a,b,y\n1,2,0\nNA,4,1\n", "line 3, column 1 ('a'): 'NA' is not a number"),
    "nan": ("a,b,y\n1,nan,0\n3,4,1\n", "line 2, column 2 ('b'): 'nan' is not a finite"),
    "ragged short": ("a,b,y\n1,2,0\n3,4\n", "line 3: 2 fields, expected 3"),
    "ragged long": ("a,b,y\n1,2,0\n3,4,1,9\n", "line 3: 4 fields, expected 3"),
    "no header": ("1,2,0\n3,4,1\n", "needs a header row"),
    "one column": ("y\n0\n1\n", "only one column"),
    "semicolons": ("a;b;y\n1;2;0\n", "only one column"),
}


@pytest.fixture(scope="module")
def unnamed_model(tmp_path_factory):
    """A model saved from Python, without column names: it reads a CSV's columns in
    order (2 inputs, and a third column is the target)."""
    X, y = make_moons(100, noise=0.2, seed=0)
    model = fnn.MLP([2, 8, 1], seed=0)
    model.standardizer = fnn.Standardizer().fit(X)
    model.fit(X, y, epochs=5, optimizer=fnn.Adam(0.01))
    path = tmp_path_factory.mktemp("unnamed") / "unnamed.npz"
    model.save(path)
    return path


@pytest.mark.parametrize("case", list(BAD_CSVS))
@pytest.mark.parametrize("command", ["train", "gradcheck", "diagnose", "evaluate", "predict"])
def test_bad_csv_exits_2_naming_the_file(case, command, tmp_path, unnamed_model, capsys):
    content, fragment = BAD_CSVS[case]
    path = tmp_path / "bad.csv"
    path.write_text(content)
    model_path = str(unnamed_model)
    argv = {"train": ["train", str(path)],
            "gradcheck": ["gradcheck", model_path, str(path)],
            "diagnose": ["diagnose", "--model", model_path, "--data", str(path)],
            "evaluate": ["evaluate", model_path, str(path)],
            "predict": ["predict", model_path, str(path)]}[command]
    if command == "predict" and case == "missing last value":
        assert cli.main(argv) == 0  # predict never reads the target column
        return
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"fastnn {command}: error: {path}")
    assert fragment in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p.write_bytes(b"a,b,y\n1,\xff\xfe,0\n"), "not a UTF-8 text file"),
    (lambda p: p.write_text("a,b,y\n1,2,0\n"), "no column named 'nope'"),
    (lambda p: p.write_text("a,nope,nope\n1,2,0\n"), "2 columns are named 'nope'"),
])
def test_bad_csv_target_and_encoding(make, fragment, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    make(path)
    assert cli.main(["train", str(path), "--target", "nope"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and fragment in err


def test_bad_csv_unknown_target_lists_columns(moons_csv, capsys):
    path, _, _ = moons_csv
    assert cli.main(["train", str(path), "--target", "y"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: no column named 'y'" in err and "'x1', 'label', 'x2'" in err


@pytest.mark.parametrize("make, fragment", [
    (None, "no such file"),
    (lambda p: p.write_bytes(b"not a zip"), "not an .npz archive"),
    (lambda p: np.savez(p, X=np.ones((4, 2))), "no array named 'y'"),
    (lambda p: np.savez(p, X=np.ones((4, 2)), y=np.array([object()] * 4)), "cannot read X and y"),
    (lambda p: np.savez(p, X=np.ones(4), y=np.ones(4)), "X must be 2-D"),
    (lambda p: np.savez(p, X=np.ones((4, 2)), y=np.ones(3)), "X has 4 rows but y has 3"),
    (lambda p: np.savez(p, X=np.array([[1.0, np.nan]]), y=np.ones(1)), "NaN or infinite"),
])
def test_bad_npz_exits_2(make, fragment, tmp_path, capsys):
    path = tmp_path / "data.npz"
    if make is not None:
        make(path)
    assert cli.main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fastnn train: error: {path}") and fragment in err


def test_unsupported_extension_and_directory(tmp_path, capsys):
    (tmp_path / "data.txt").write_text("a,b\n1,2\n")
    assert cli.main(["train", str(tmp_path / "data.txt")]) == 2
    assert "unsupported file type '.txt'" in capsys.readouterr().err
    (tmp_path / "dir.csv").mkdir()
    assert cli.main(["train", str(tmp_path / "dir.csv")]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_too_few_rows_to_split(tmp_path, capsys):
    path = write_csv(tmp_path / "two.csv", ["a", "y"], [(1, 0), (2, 1)])
    assert cli.main(["train", str(path)]) == 2
    assert f"{path}: cannot split 2 examples" in capsys.readouterr().err


# --------------------------------------------------------------------------- gradcheck

def test_gradcheck_on_a_saved_model_is_correct(trained_csv_model, moons_csv, capsys):
    path, _, _ = moons_csv
    assert cli.main(["gradcheck", str(trained_csv_model[3]), str(path), "--target", "label",
                     "--examples", "16", "--after-steps", "3"]) == 0
    out = capsys.readouterr().out
    assert "-> correct" in out and "first 16 examples" in out and "after training:" in out
    for name in ("W1", "b1", "W2", "b2", "W3", "b3"):
        assert f"{name}:" in out


def test_gradcheck_components_subset(trained_csv_model, moons_csv, capsys):
    path, _, _ = moons_csv
    assert cli.main(["gradcheck", str(trained_csv_model[3]), str(path), "--target", "label",
                     "--components", "40", "--epsilon", "1e-6"]) == 0
    out = capsys.readouterr().out
    assert "epsilon 1e-06" in out
    n = int(out.split(" components")[0].rsplit("(", 1)[1])
    assert 40 <= n < 60


def test_gradcheck_bug_exits_1(trained_csv_model, moons_csv, monkeypatch, capsys):
    correct = fnn.MLP.gradients

    def scaled_db1(self, X, y):
        grads = correct(self, X, y)
        grads["db1"] = 1.5 * grads["db1"]
        return grads

    monkeypatch.setattr(fnn.MLP, "gradients", scaled_db1)
    path, _, _ = moons_csv
    assert cli.main(["gradcheck", str(trained_csv_model[3]), str(path), "--target", "label"]) == 1
    captured = capsys.readouterr()
    assert "-> bug" in captured.out and "b1" in captured.err


def test_gradcheck_bad_model_and_mismatched_data(trained_csv_model, tmp_path, capsys):
    data = tmp_path / "three.npz"
    np.savez(data, X=np.ones((5, 3)), y=np.zeros(5))
    assert cli.main(["gradcheck", str(trained_csv_model[3]), str(data)]) == 2
    assert "3 features but the model takes 2" in capsys.readouterr().err
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00" * 64)
    assert cli.main(["gradcheck", str(garbage), str(data)]) == 2
    assert f"{garbage}: not a fastnn model file" in capsys.readouterr().err
    assert cli.main(["gradcheck", str(tmp_path / "none.npz"), str(data)]) == 2
    assert "no such model file" in capsys.readouterr().err
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(trained_csv_model[3].read_bytes()[:500])
    assert cli.main(["gradcheck", str(truncated), str(data)]) == 2
    assert f"{truncated}: not a fastnn model file" in capsys.readouterr().err
    (tmp_path / "folder.npz").mkdir()
    assert cli.main(["gradcheck", str(tmp_path / "folder.npz"), str(data)]) == 2
    assert "folder.npz: is a directory, not a model file" in capsys.readouterr().err
    labels = tmp_path / "labels.npz"
    np.savez(labels, X=np.ones((5, 2)), y=np.array([0, 1, 2, 0, 1]))
    assert cli.main(["gradcheck", str(trained_csv_model[3]), str(labels)]) == 2
    assert "does not fit the model's sigmoid output" in capsys.readouterr().err


# --------------------------------------------------------------------------- diagnose

@pytest.mark.parametrize("train, dev, verdict", [
    ("0.01", "0.11", "high variance"),
    ("15%", "16%", "high bias"),
    ("0.15", "0.30", "high bias and high variance"),
    ("0.005", "0.01", "fine"),
])
def test_diagnose_the_notes_table(train, dev, verdict, capsys):
    assert cli.main(["diagnose", "--train-error", train, "--dev-error", dev,
                     "--bayes-error", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Bias/variance: {verdict}\n")


def test_diagnose_train_dev_error_and_bayes(capsys):
    assert cli.main(["diagnose", "--train-error", "0.01", "--train-dev-error", "0.015",
                     "--dev-error", "0.10"]) == 0
    assert "data mismatch" in capsys.readouterr().out
    assert cli.main(["diagnose", "--train-error", "0.08", "--dev-error", "0.09",
                     "--bayes-error", "7.5%"]) == 0
    assert "Bias/variance: fine" in capsys.readouterr().out


def test_diagnose_model_and_data(trained_csv_model, moons_csv, capsys):
    path, _, _ = moons_csv
    assert cli.main(["diagnose", "--model", str(trained_csv_model[3]), "--data", str(path),
                     "--target", "label", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "train (180) and dev (60)" in out and "Bias/variance:" in out


def test_diagnose_rejects_a_linear_model(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    np.savez(tmp_path / "reg.npz", X=X, y=X.sum(axis=1))
    model_path = tmp_path / "linear.npz"
    assert run(["train", str(tmp_path / "reg.npz"), "--epochs", "1",
                "--save", str(model_path)])[0] == 0
    assert cli.main(["diagnose", "--model", str(model_path),
                     "--data", str(tmp_path / "reg.npz")]) == 2
    assert "linear output" in capsys.readouterr().err


@pytest.mark.parametrize("argv, fragment", [
    (["diagnose"], "missing --train-error and --dev-error"),
    (["diagnose", "--dev-error", "0.1"], "missing --train-error"),
    (["diagnose", "--model", "m.npz"], "--model and --data go together"),
    (["diagnose", "--train-error", "0.1", "--dev-error", "0.1", "--data", "d.csv"],
     "not both"),
])
def test_diagnose_usage_errors(argv, fragment, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn diagnose: error:") and fragment in err


# --------------------------------------------------------------------------- bench

def test_bench_runs_without_the_source_tree(monkeypatch, tmp_path, capsys):
    """`fastnn bench` failed after the README's install, pointing at a bench/run.py inside
    site-packages: the built-in comparisons need nothing outside the package. Their
    output has lines of at most 100 columns and no words of the project's own."""
    monkeypatch.setattr(cli, "BENCH_SCRIPT", tmp_path / "bench" / "run.py")  # not there
    assert cli.main(["bench", "--quick"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert not re.search(r"issue|#\d|TODO|bench/", out, re.IGNORECASE)
    rows = [line for line in lines if re.search(r"\d\.\dx$", line)]
    assert [row.split(",")[0] for row in rows] == ["fit", "train_step", "predict_proba",
                                                    "train_step"]
    assert "BLAS: " in out and "BLAS threads capped at 1" in out
    for row in rows:  # the ratio is NumPy's median over fastnn's, as printed
        fast, slow = re.findall(r"([\d.]+) (us|ms|s)\b", row)[:2]
        scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
        expected = float(slow[0]) * scale[slow[1]] / (float(fast[0]) * scale[fast[1]])
        assert float(row.split()[-1][:-1]) == pytest.approx(expected, rel=0.1, abs=0.06)


def test_bench_full_without_a_source_checkout_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "BENCH_SCRIPT", tmp_path / "bench" / "run.py")
    assert cli.main(["bench", "--full", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn bench: error:") and "source checkout" in err
    assert "without --full" in err
    assert_one_line_error(cli.main(["bench", "--configs", "tiny"]), capsys.readouterr().err,
                          "--configs selects configurations of the full suite")


def test_bench_passes_its_options_through(monkeypatch, tmp_path, capfd):
    script = tmp_path / "run.py"
    script.write_text("import sys\nprint('ARGS', sys.argv[1:])\nsys.exit(3)\n")
    monkeypatch.setattr(cli, "BENCH_SCRIPT", script)
    code = cli.main(["bench", "--full", "--quick", "--threads", "1", "2", "--configs", "tiny",
                     "small", "--markdown"])
    assert code == 3  # the script's own exit code
    assert ("ARGS ['--quick', '--threads', '1', '2', '--configs', 'tiny', 'small', "
            "'--markdown']") in capfd.readouterr().out


@pytest.mark.skipif(Path(fnn.__file__).resolve().parents[1] != REPO,
                    reason="fastnn is installed, not imported from this source checkout")
def test_bench_script_is_found_in_the_source_checkout():
    assert cli.BENCH_SCRIPT == REPO / "bench" / "run.py"
    assert cli.BENCH_SCRIPT.is_file()


# --------------------------------------------------------------------------- python -m fastnn

def _child_env(**environment):
    """os.environ with `environment`, importing the fastnn under test in a child."""
    env = dict(os.environ, **environment)
    # The folder holding the fastnn this test imported: the source tree for an in-place
    # build, site-packages for an installed one (a bare source tree has no kernels).
    package_root = str(Path(fnn.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


def _python_m(args, cwd, prefix=(), stdout=subprocess.PIPE, **environment):
    """`python -m fastnn ARGS` in `cwd` (timeout 120 s: a hang fails the test)."""
    return subprocess.run([*prefix, sys.executable, "-m", "fastnn", *args], cwd=cwd,
                          env=_child_env(**environment), stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=120)


def test_python_m_fastnn(tmp_path):
    result = _python_m(["--help"], tmp_path)
    assert result.returncode == 0 and "usage: fastnn" in result.stdout
    result = _python_m(["demo", "--quick", "--no-plots", "--out", "demo-out"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Bias/variance: high variance" in result.stdout
    assert (tmp_path / "demo-out" / "report.txt").exists()
    assert fnn.load(tmp_path / "demo-out" / "model.npz").standardizer is not None
    result = _python_m(["train", "missing.csv"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "fastnn train: error: missing.csv: no such file"


# --------------------------------------------------------------------------- reliability

TINY_DEMO = ["demo", "--quick", "--no-plots", "--epochs", "2", "--examples", "20"]


@pytest.mark.parametrize("argv, option", [
    (["train", "d.csv", "--seed", str(2**64)], "--seed"),
    (["train", "d.csv", "--seed", "1" + "0" * 50], "--seed"),
    (["demo", "--seed", str(2**64)], "--seed"),
    (["gradcheck", "m.npz", "d.csv", "--seed", str(2**63)], "--seed"),
    (["diagnose", "--model", "m.npz", "--data", "d.csv", "--seed", str(2**63)], "--seed"),
    (["train", "d.csv", "--threads", str(2**64)], "--threads"),
    (["demo", "--threads", "1" + "0" * 50], "--threads"),
    (["bench", "--threads", "100000"], "--threads"),
    (["train", "d.csv", "--epochs", str(2**63)], "--epochs"),
    (["demo", "--epochs", str(2**64)], "--epochs"),
    (["gradcheck", "m.npz", "d.csv", "--after-steps", str(2**63)], "--after-steps"),
    (["gradcheck", "m.npz", "d.csv", "--components", str(2**62)], "--components"),
    (["train", "d.csv", "--batch-size", str(2**63)], "--batch-size"),
    (["train", "d.csv", "--eval-every", "9" * 5000], "--eval-every"),
    (["diagnose", "--train-error", "0.1", "--dev-error", "0.2", "--n-dev", str(2**64)], "--n-dev"),
    (["demo", "--examples", str(10**12)], "--examples"),
    (["demo", "--examples", "3"], "--examples"),
    (["train", "d.csv", "--layers", "2147483648"], "--layers"),
    (["train", "d.csv", "--layers", "64,,32"], "--layers"),
    (["train", "d.csv", "--seed", "1_0"], "--seed"),
    (["train", "d.csv", "--epochs", "\u0663"], "--epochs"),
    (["demo", "--noise", "1e200"], "--noise"),
    (["gradcheck", "m.npz", "d.csv", "--epsilon", "10"], "--epsilon"),
    (["gradcheck", "m.npz", "d.csv", "--epsilon", "1e-320"], "--epsilon"),
    (["gradcheck", "m.npz", "d.csv", "--epsilon", "1e308"], "--epsilon"),
    (["train", "d.csv", "--ratios", "1,0,0"], "--ratios"),
    (["train", "d.csv", "--save", ""], "--save"),
    (["demo", "--out", ""], "--out"),
    (["train", "d.csv\0"], "DATA"),
])
def test_regression_out_of_range_options_are_one_line_usage_errors(argv, option, capsys):
    """Each of these was a traceback (OverflowError, MemoryError, ctypes.ArgumentError), a
    hang (epochs, steps), a false gradient-check "bug" or a run in the wrong place."""
    assert_one_line_error(cli.main(argv), capsys.readouterr().err, f"argument {option}")


@pytest.mark.parametrize("argv, fragment", [
    (["frobnicate"], "fastnn: error: argument COMMAND: invalid choice"),
    (["train"], "fastnn train: error: the following arguments are required: DATA"),
    (["gradcheck", "m.npz"], "fastnn gradcheck: error: the following arguments are required"),
    (["diagnose", "--z", "nan"], "fastnn diagnose: error: argument --z"),
    (["bench", "--configs"], "fastnn bench: error: argument --configs"),
    (["demo", "--lr", "-inf"], "fastnn demo: error: argument --lr"),
])
def test_regression_usage_errors_are_one_line(argv, fragment, capsys):
    """argparse printed its usage lines before the error."""
    assert_one_line_error(cli.main(argv), capsys.readouterr().err, fragment)


def test_largest_seed_trains(moons_csv):
    path, _, _ = moons_csv
    code, _, err = run(["train", str(path), "--target", "label", "--epochs", "1",
                        "--keep-prob", "0.8", "--seed", str(cli.MAX_SEED)])
    assert code == 0, err


def test_regression_impossible_layer_sizes_are_refused_before_allocating(moons_csv):
    path, _, _ = moons_csv
    code, out, err = run(["train", str(path), "--target", "label",
                          "--layers", "100000000,100000000"])
    assert_one_line_error(code, err, "the network [2, 100000000, 100000000, 1] has")
    assert "memory" in err and out == ""


def test_regression_memory_error_building_the_network(moons_csv, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 64.0 GiB")

    monkeypatch.setattr(fnn, "MLP", out_of_memory)
    path, _, _ = moons_csv
    code, _, err = run(["train", str(path), "--target", "label", "--layers", "64"])
    assert_one_line_error(code, err, "too large for this machine's memory")


def test_regression_memory_error_anywhere_is_one_line(moons_csv, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(fnn.MLP, "fit", out_of_memory)
    path, _, _ = moons_csv
    code, _, err = run(["train", str(path), "--target", "label", "--epochs", "1"])
    assert_one_line_error(code, err, "too large for this machine")


def test_regression_softmax_label_too_large_for_an_output_layer(tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", ["a", "y"], [(i, (i % 2) * 10**15) for i in range(9)])
    code = cli.main(["train", str(path), "--output", "softmax"])
    assert_one_line_error(code, capsys.readouterr().err,
                          f"{path}: --output softmax needs one output unit")


BAD_ARCHIVES = {
    "members that are not .npy arrays": (lambda: zip_of({"X": b"hello", "y": b"junk"}),
                                         "no array named 'X' or 'y'"),
    "a header claiming terabytes": (
        lambda: zip_of({"X.npy": npy_header((10**6, 10**6)) + bytes(64),
                        "y.npy": npy_header((8,)) + bytes(64)}),
        "array X claims shape (1000000, 1000000)"),
    "a corrupt deflate stream": (
        lambda: corrupt_deflate(npz_bytes(True, X=np.ones((40, 2)), y=np.zeros(40))),
        "cannot read X and y: array X is unreadable"),
    "an encrypted member": (
        lambda: patch_zip_headers(npz_bytes(X=np.ones((4, 2)), y=np.zeros(4)), encrypted=True),
        "is encrypted"),
    "an unknown compression method": (
        lambda: patch_zip_headers(npz_bytes(X=np.ones((4, 2)), y=np.zeros(4)), method=99),
        "compression method is not supported"),
    "pickled objects in X": (
        lambda: npz_bytes(X=np.array([[object()]] * 2, dtype=object), y=np.zeros(2)),
        "array X holds Python objects"),
    "a bad .npy header": (lambda: zip_of({"X.npy": b"\x93NUMPY\x01\x00\xff\xff{}",
                                          "y.npy": b"junk"}), "array X is unreadable"),
    "y without columns": (lambda: npz_bytes(X=np.ones((4, 2)), y=np.ones((4, 0))),
                          "y has no columns"),
    "a single .npy array": (lambda: npy_header((2,)) + bytes(16), "holds a single array"),
}


@pytest.mark.parametrize("case", list(BAD_ARCHIVES))
def test_regression_unreadable_npz_data(case, tmp_path, capsys):
    """Tracebacks on 7677fd3: AttributeError (bytes members), MemoryError (the header),
    zlib.error, RuntimeError (encryption), NotImplementedError (compression method)."""
    make, fragment = BAD_ARCHIVES[case]
    path = tmp_path / "data.npz"
    path.write_bytes(make())
    code, err = cli.main(["train", str(path)]), capsys.readouterr().err
    assert_one_line_error(code, err, fragment)
    assert err.startswith(f"fastnn train: error: {path}: ")


@pytest.mark.parametrize("case", ["a corrupt deflate stream", "an encrypted member",
                                  "a header claiming terabytes"])
def test_regression_unreadable_model_file(case, tmp_path, moons_csv, capsys):
    """fnn.load lets zlib.error, RuntimeError and MemoryError through: tracebacks before."""
    make, _ = BAD_ARCHIVES[case]
    model = tmp_path / "model.npz"
    model.write_bytes(make())
    data, _, _ = moons_csv
    code = cli.main(["gradcheck", str(model), str(data), "--target", "label"])
    assert_one_line_error(code, capsys.readouterr().err, str(model))


def special_file(kind, path):
    """Make a FIFO or a symlink to /dev/zero at `path`, or skip where there are none."""
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs on this system")
        os.mkfifo(path)
        return "is a FIFO (named pipe)"
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this system")
    os.symlink("/dev/zero", path)
    return "is a character device"


def gradcheck_argv(role, path, data, model):
    """A gradcheck command line with `path` as its model file or as its data file."""
    if role == "model.npz":
        return ["gradcheck", str(path), str(data), "--target", "label"]
    return ["gradcheck", str(model), str(path)]


@pytest.mark.parametrize("role", ["data.csv", "data.npz", "model.npz"])
def test_regression_fifo_never_hangs(role, tmp_path, moons_csv, trained_csv_model, capsys):
    """Opening a FIFO (for the CSV reader, zipfile or fnn.load) blocked forever."""
    path = tmp_path / role
    fragment = special_file("fifo", path)
    with deadline():  # SIGALRM interrupts a blocking open(), so a regression fails here
        code = cli.main(gradcheck_argv(role, path, moons_csv[0], trained_csv_model[3]))
    assert_one_line_error(code, capsys.readouterr().err, f"{path}: {fragment}")


def test_regression_save_onto_a_fifo_is_refused_before_training(moons_csv, tmp_path):
    """The model was renamed over the FIFO (or a device node, as root) and exit 0."""
    path, _, _ = moons_csv
    target = tmp_path / "m.npz"
    special_file("fifo", target)
    code, out, err = run(["train", str(path), "--target", "label", "--save", str(target)])
    assert_one_line_error(code, err, f"--save {target}: cannot save the model: it is a FIFO")
    assert out == "" and stat.S_ISFIFO(os.stat(target).st_mode)


def test_regression_unwritable_save_folder_fails_before_training(moons_csv, tmp_path,
                                                                 monkeypatch):
    """It failed after the training, naming a temporary file."""
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    path, _, _ = moons_csv
    code, out, err = run(["train", str(path), "--target", "label",
                          "--save", str(tmp_path / "m.npz")])
    assert_one_line_error(code, err, "cannot write in folder")
    assert "Permission denied" in err and out == ""


def test_save_failure_after_training_names_the_option(moons_csv, tmp_path, monkeypatch):
    def disk_full(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fnn.MLP, "save", disk_full)
    path, _, _ = moons_csv
    target = tmp_path / "m.npz"
    code, _, err = run(["train", str(path), "--target", "label", "--epochs", "1",
                        "--save", str(target)])
    assert_one_line_error(code, err, f"--save {target}: cannot save the model (No space left")


def test_regression_demo_out_holding_a_fifo_is_refused_before_training(tmp_path):
    """report.txt was opened for writing at the end: a FIFO there blocked forever."""
    special_file("fifo", tmp_path / "report.txt")
    with deadline():
        code, out, err = run(TINY_DEMO + ["--out", str(tmp_path)])
    assert_one_line_error(code, err, "report.txt: cannot save the report.txt: it is a FIFO")
    assert out == ""


def test_demo_out_that_is_a_file(tmp_path):
    (tmp_path / "taken").write_text("x")
    code, _, err = run(TINY_DEMO + ["--out", str(tmp_path / "taken")])
    assert_one_line_error(code, err, "cannot create the folder")


@pytest.mark.parametrize("noise", ["1e-320", "-0"])
def test_regression_demo_noise_at_its_extremes(noise, tmp_path):
    """1e-320: RuntimeWarnings and a NaN Bayes error (exit 2); -0: NumPy's 'scale < 0'."""
    code, out, err = run(TINY_DEMO + ["--noise", noise, "--out", str(tmp_path)])
    assert code == 0, err
    assert "Bayes error about 0.00%" in out


def test_regression_overflowing_features_give_one_line(tmp_path, capsys):
    """RuntimeWarning lines from NumPy preceded the error."""
    path = write_csv(tmp_path / "big.csv", ["a", "b", "y"],
                     [(1e308 * (-1) ** i, i, i % 2) for i in range(30)])
    assert_one_line_error(cli.main(["train", str(path)]), capsys.readouterr().err,
                          f"{path}: the data does not fit a sigmoid output")


def test_diverging_gradcheck_training_is_one_line_exit_1(trained_csv_model, moons_csv, capsys):
    path, _, _ = moons_csv
    code = cli.main(["gradcheck", str(trained_csv_model[3]), str(path), "--target", "label",
                     "--after-steps", "5", "--lr", "1e308"])
    assert_one_line_error(code, capsys.readouterr().err, "diverged", expected_code=1)


def test_train_divergence_is_one_line_naming_the_unsaved_model(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    np.savez(tmp_path / "big.npz", X=X, y=X @ [100.0, 200.0, -100.0])
    target = tmp_path / "never.npz"
    code, _, err = run(["train", str(tmp_path / "big.npz"), "--optimizer", "sgd", "--lr", "10",
                        "--epochs", "50", "--save", str(target)])
    assert_one_line_error(code, err, f"the model was not saved to {target}", expected_code=1)


def test_regression_file_name_with_a_line_break_is_one_line(tmp_path, capsys):
    path = tmp_path / "a\nb.csv"
    assert_one_line_error(cli.main(["train", str(path)]), capsys.readouterr().err,
                          "no such file")


@pytest.mark.parametrize("content, fragment", [
    (bytes(range(256)) * 8, "not a UTF-8 text file"),
    (b"a,b,y\n1," + b"9" * 200_000 + b",0\n", "line 2: malformed CSV: field larger than"),
    (b"a,b,y\n" + b"1," * 100_000 + b"0\n", "line 2: 100001 fields, expected 3"),
    (b"a,b,y\n1,\x002,0\n3,4,1\n", "line 2, column 2 ('b'): '\\x002' is not a number"),
    (b"a,b,y\n1,2,0\n3,4", "line 3: 2 fields, expected 3"),
    (b"a,b,y\n1,inf,0\n", "line 2, column 2 ('b'): 'inf' is not a finite number"),
])
def test_hostile_csv_files(content, fragment, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code, err = cli.main(["train", str(path)]), capsys.readouterr().err
    assert_one_line_error(code, err, fragment)
    assert err.startswith(f"fastnn train: error: {path}")


def test_ratios_that_do_not_sum_to_one(moons_csv, capsys):
    path, _, _ = moons_csv
    code = cli.main(["train", str(path), "--target", "label", "--ratios", "0.5,0.5,0.5"])
    assert_one_line_error(code, capsys.readouterr().err,
                          f"{path}: cannot split 300 examples: ratios must sum to 1")


def test_single_class_csv_trains(tmp_path):
    path = write_csv(tmp_path / "one.csv", ["a", "b", "y"], [(i, 2 * i, 0) for i in range(30)])
    code, out, err = run(["train", str(path), "--epochs", "2", "--stratify"])
    assert code == 0, err
    assert "output sigmoid" in out


def test_regression_bench_unknown_config_is_one_line(capsys):
    """bench/run.py's own argparse printed five lines of usage."""
    if not (cli.BENCH_SCRIPT.parent / "configs.py").is_file():
        pytest.skip("no bench/ beside the package (an installed wheel)")
    assert_one_line_error(cli.main(["bench", "--full", "--quick", "--configs", "bogus"]),
                          capsys.readouterr().err, "argument --configs: unknown configuration")


def test_ctrl_c_is_one_line_and_130(moons_csv, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fnn.MLP, "fit", interrupted)
    path, _, _ = moons_csv
    code, _, err = run(["train", str(path), "--target", "label"])
    assert code == 130 and err == "fastnn train: interrupted\n"


def test_library_errors_reaching_main_are_one_line(moons_csv, monkeypatch):
    def bad_value(*args, **kwargs):
        raise ValueError("first line\nsecond line")

    monkeypatch.setattr(fnn, "gradcheck", bad_value)
    monkeypatch.setattr(fnn, "diagnose", bad_value)
    path, _, _ = moons_csv
    code, _, err = run(["diagnose", "--train-error", "0.1", "--dev-error", "0.2"])
    assert_one_line_error(code, err, "first line second line")


def test_genuine_programming_errors_keep_their_traceback(monkeypatch):
    def bug(*args, **kwargs):
        raise AttributeError("a bug, not a user mistake")

    monkeypatch.setattr(fnn, "diagnose", bug)
    with pytest.raises(AttributeError):
        cli.main(["diagnose", "--train-error", "0.1", "--dev-error", "0.2"])


# --------------------------------------------------------------------------- python -m fastnn

@pytest.mark.parametrize("role", ["data.csv", "data.npz", "model.npz"])
def test_regression_python_m_dev_zero_is_refused(role, tmp_path, moons_csv, trained_csv_model):
    """/dev/zero behind a .csv or .npz name was read forever, its memory growing. In a
    child process: a regression is killed by the timeout (a read loop in C would not
    notice an in-process deadline)."""
    path = tmp_path / role
    fragment = special_file("zero", path)
    result = _python_m(gradcheck_argv(role, path, moons_csv[0], trained_csv_model[3]), tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and f"{path}: {fragment}" in result.stderr


def test_regression_python_m_fifo_does_not_hang(tmp_path, trained_csv_model):
    fragment = special_file("fifo", tmp_path / "pipe.csv")
    result = _python_m(["gradcheck", str(trained_csv_model[3]), "pipe.csv"], tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"fastnn gradcheck: error: pipe.csv: {fragment}, not a data file\n"
    special_file("fifo", tmp_path / "pipe.npz")
    result = _python_m(["gradcheck", "pipe.npz", "pipe.csv"], tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"fastnn gradcheck: error: pipe.npz: {fragment}, not a model file\n"


def test_regression_python_m_usage_error_is_one_line(tmp_path):
    result = _python_m(["train", "x.csv", "--seed", str(2**64)], tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "argument --seed" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names are bytes")
def test_regression_non_utf8_file_name_with_a_strict_stdout(tmp_path, moons_csv):
    """The description line raised UnicodeEncodeError: exit 2 after the file was read."""
    name = os.fsdecode(b"\xff.csv")
    try:
        shutil.copy(moons_csv[0], tmp_path / name)
    except (OSError, UnicodeError):
        pytest.skip("the file system refuses a name that is not UTF-8")
    result = _python_m(["train", name, "--target", "label", "--epochs", "1"], tmp_path,
                       PYTHONIOENCODING="utf-8:strict")
    assert result.returncode == 0, result.stderr
    assert "\\udcff.csv" in result.stdout or "\\xff.csv" in result.stdout


def test_closed_stdout_pipe_is_silent(tmp_path):
    """`fastnn ... | head`: no message, no second BrokenPipeError at exit."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = _python_m(["diagnose", "--train-error", "0.1", "--dev-error", "0.2"], tmp_path,
                           stdout=writer)
    finally:
        os.close(writer)
    assert result.returncode == 1 and result.stderr == ""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_in_python_m_is_one_line_and_130(tmp_path, moons_csv):
    # The child takes SIGINT as a terminal's Ctrl-C would reach it: a test run started in
    # the background (`cmd &` in a script) ignores SIGINT, its children inherit that, and
    # Python leaves an ignored SIGINT ignored (as it should: that is nohup's contract).
    child = subprocess.Popen(
        [sys.executable, "-u", "-m", "fastnn", "train", str(moons_csv[0]), "--target", "label",
         "--epochs", str(cli.MAX_COUNT), "--layers", "4"],
        cwd=tmp_path, env=_child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in child.stdout:  # training starts after the "network" line
            if line.startswith("network"):
                break
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 130
    assert err == "fastnn train: interrupted\n"


def without_permission_override():
    """A command prefix that runs a child without root's permission override, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


@pytest.mark.parametrize("role", ["data.csv", "data.npz", "model.npz", "--save"])
def test_unreadable_or_unwritable_files(role, tmp_path, moons_csv, trained_csv_model):
    """chmod 000 files and a read-only --save folder (as root: without DAC override)."""
    prefix = without_permission_override()
    if prefix is None:
        pytest.skip("running as root without setpriv to drop the permission override")
    data, model = tmp_path / "data.csv", tmp_path / "model.npz"
    shutil.copy(moons_csv[0], data)
    shutil.copy(trained_csv_model[3], model)
    if role == "data.npz":
        X, y = make_moons(40, seed=0)
        np.savez(tmp_path / "data.npz", X=X, y=y)
    folder = tmp_path / "read-only"
    folder.mkdir()
    argv = {"data.csv": ["gradcheck", "model.npz", "data.csv", "--target", "label"],
            "data.npz": ["gradcheck", "model.npz", "data.npz"],
            "model.npz": ["gradcheck", "model.npz", "data.csv", "--target", "label"],
            "--save": ["train", "data.csv", "--target", "label",
                       "--save", "read-only/m.npz"]}[role]
    victim = folder if role == "--save" else tmp_path / role
    victim.chmod(0o555 if role == "--save" else 0)
    try:
        result = _python_m(argv, tmp_path, prefix=prefix)
    finally:
        victim.chmod(0o755)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "ermission denied" in result.stderr
