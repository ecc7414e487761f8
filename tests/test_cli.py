"""The `fastnn` command line: every subcommand in-process through fastnn.cli.main, plus
`python -m fastnn` in a subprocess."""
import contextlib
import io
import os
import subprocess
import sys
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

@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["gradcheck"], ["diagnose"],
                                     ["bench"]])
def test_help_for_every_subcommand(command, capsys):
    assert cli.main(command + ["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: fastnn" + (" " + command[0] if command else ""))
    assert "--help" in out


def test_top_level_help_lists_subcommands(capsys):
    cli.main(["--help"])
    out = capsys.readouterr().out
    for name in ("demo", "train", "gradcheck", "diagnose", "bench"):
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
    (["train", "x.csv", "--optimizer", "rmsprop"], "argument --optimizer"),
    (["train", "x.csv", "--l2", "-1"], "argument --l2"),
    (["demo", "--epochs", "0"], "argument --epochs"),
    (["diagnose", "--train-error", "1.5", "--dev-error", "0.1"], "argument --train-error"),
    (["gradcheck", "model.npz"], "required"),
])
def test_bad_usage_exits_2(argv, fragment, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and fragment in err


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


@pytest.mark.parametrize("case", list(BAD_CSVS))
@pytest.mark.parametrize("command", ["train", "gradcheck", "diagnose"])
def test_bad_csv_exits_2_naming_the_file(case, command, tmp_path, trained_csv_model, capsys):
    content, fragment = BAD_CSVS[case]
    path = tmp_path / "bad.csv"
    path.write_text(content)
    model_path = str(trained_csv_model[3])
    argv = {"train": ["train", str(path)],
            "gradcheck": ["gradcheck", model_path, str(path)],
            "diagnose": ["diagnose", "--model", model_path, "--data", str(path)]}[command]
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

def test_bench_missing_script_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "BENCH_SCRIPT", tmp_path / "bench" / "run.py")
    assert cli.main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn bench: error:") and "source checkout" in err


def test_bench_passes_its_options_through(monkeypatch, tmp_path, capfd):
    script = tmp_path / "run.py"
    script.write_text("import sys\nprint('ARGS', sys.argv[1:])\nsys.exit(3)\n")
    monkeypatch.setattr(cli, "BENCH_SCRIPT", script)
    code = cli.main(["bench", "--quick", "--threads", "1", "2", "--configs", "tiny", "small",
                     "--markdown"])
    assert code == 3  # the script's own exit code
    assert ("ARGS ['--quick', '--threads', '1', '2', '--configs', 'tiny', 'small', "
            "'--markdown']") in capfd.readouterr().out


@pytest.mark.skipif(Path(fnn.__file__).resolve().parents[1] != REPO,
                    reason="fastnn is installed, not imported from this source checkout")
def test_bench_script_is_found_in_the_source_checkout():
    assert cli.BENCH_SCRIPT == REPO / "bench" / "run.py"
    assert cli.BENCH_SCRIPT.is_file()


# --------------------------------------------------------------------------- python -m fastnn

def _python_m(args, cwd):
    env = dict(os.environ)
    # The folder holding the fastnn this test imported: the source tree for an in-place
    # build, site-packages for an installed one (a bare source tree has no kernels).
    package_root = str(Path(fnn.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "fastnn", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


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
