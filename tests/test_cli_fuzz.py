"""Property-based fuzzing of the `fastnn` command line, in-process through fastnn.cli.main.

Command lines are drawn from a grammar of the subcommands: their positionals and options,
each option with a small valid value or a hostile one (empty, negative, NaN, inf, huge,
non-numeric, Unicode digits, NUL characters, line breaks), and paths to hostile files
(binary garbage, invalid UTF-8, ragged or header-only CSVs, NaN cells, CSVs of text:
categories, class labels, identifiers, another delimiter, a column of numbers and text,
a category no model saw; corrupt, pickled, encrypted or lying .npz archives, FIFOs,
directories, missing files, models that are corrupt or not ours, models with a table
schema or a target standardizer). /dev/zero is tested in a child process by test_cli.py: a read loop
in C would not notice the in-process deadline. Whatever the command line, `main` must
  * return 0, 1 or 2 (never raise: an exception would be a traceback),
  * never hang (a deadline fails the example instead),
  * print no traceback, and on an error exactly one line on stderr,
    `fastnn COMMAND: error: ...` (or `fastnn: error: ...` before a subcommand is known).

test_mutated_data_files overwrites, inserts and cuts bytes of good CSV (numbers, or text)
and NPZ files, and runs train, gradcheck, predict and evaluate on them.
Valid values are kept small (a few epochs, a few units) so that the runs that do train are
quick. The number of examples follows the HYPOTHESIS_PROFILE of conftest.py; the
``slow``-marked variant runs many more.
"""
import contextlib
import io
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn as fnn
from fastnn import cli
from fastnn.datasets import make_moons
from test_cli import (deadline, corrupt_deflate, npy_header, npz_bytes, patch_zip_headers,
                      zip_of)

COMMANDS = ("demo", "train", "predict", "evaluate", "gradcheck", "diagnose", "bench")
EXIT_CODES = (0, 1, 2)

# --------------------------------------------------------------------------- hostile values

HOSTILE_TEXT = st.sampled_from([
    "", " ", "-1", "-0", "0", "nan", "-nan", "inf", "-inf", "Infinity", "1e309", "-1e309",
    "1e308", "1e-320", "1.5", "abc", "1e3", "0x10", "1_0", "\u0663", "\uff11", "9" * 5000,
    str(2**31), str(2**32), str(2**63), str(2**64), str(10**100), "%", "150%", "-5%", "nan%",
    "\0", "a\nb", "\udcff", ",", ",,", "64,,32", "1,", "--quick", "-", "none", "full",
])
ANY_TEXT = st.one_of(HOSTILE_TEXT, st.text(max_size=12))


def small_ints(low, high):
    return st.integers(low, high).map(str)


def floats_between(low, high):
    return st.floats(low, high, allow_nan=False).map(repr)


# Values that pass (or nearly pass) the parser; hostile ones are drawn separately, for a
# few options per command line, so that most runs get past the parser to the files.
SEED = st.integers(0, 2**63 - 1).map(str)
THREADS = small_ints(1, 2)
EPOCHS = small_ints(0, 3)
POSITIVE_STEPS = small_ints(1, 3)
BATCH = st.one_of(small_ints(1, 16), st.just("full"))
RATE = st.one_of(floats_between(0, 1), st.sampled_from(["5%", "0%", "100%"]))
LAYERS = st.one_of(
    st.lists(st.integers(1, 8), max_size=3).map(lambda sizes: ",".join(map(str, sizes))),
    st.sampled_from(["none", "100000000,100000000", "2147483648", "0"]))
# --augment specs and image shapes: good ones for the 2 columns of the good data files
# (1x2 images), and ones that a check refuses.
AUGMENT = st.sampled_from(["crop=1", "rotate=10,zoom=0.1", "flip", "flip,flip_prob=0.3",
                           "distort=0.5", "crop=0", "flip_prob=0.3", "crop=-1", "shear=2",
                           "crop=1.5", "rotate=nan", "crop=1,crop=2", "flip=1", "crop=2,"])
IMAGE_SHAPE = st.sampled_from(["1x2", "2x1", "1x1x2", "2x2", "28x28", "0x2", "1x2x1x1", "x",
                               "1X2"])
RATIOS = st.sampled_from(["0.6,0.2,0.2", "0.5,0.5", "0.8,0.1,0.1", "1,0,0", "0.5,0.5,0.5",
                          "0.2,0.2,0.2,0.4"])


def choice(*names):
    return st.sampled_from(names)


# --------------------------------------------------------------------------- hostile files

def write_files(folder):
    """Data files, model files and output paths to fuzz with: {pool name: [paths]}."""
    X, y = make_moons(40, noise=0.2, seed=0)
    good_csv = "a,b,y\n" + "".join(f"{a},{b},{int(c)}\n" for (a, b), c in zip(X, y))
    data = {
        "good.csv": good_csv.encode(),
        "target-first.csv": ("y,a,b\n" + "".join(f"{int(c)},{a},{b}\n"
                                                 for (a, b), c in zip(X, y))).encode(),
        "garbage.csv": bytes(range(256)) * 4,
        "latin1.csv": "a,b,y\n1,\xe9,0\n".encode("latin-1"),
        "empty.csv": b"",
        "header-only.csv": b"a,b,y\n",
        "ragged.csv": b"a,b,y\n1,2,0\n1,2\n",
        "nan.csv": b"a,b,y\n1,nan,0\n2,3,1\n",
        "huge-values.csv": b"a,b,y\n" + b"".join(b"1e308,%d,%d\n" % (i, i % 2) for i in range(20)),
        "one-class.csv": b"a,b,y\n" + b"".join(b"%d,%d,0\n" % (i, i) for i in range(20)),
        "huge-label.csv": b"a,b,y\n" + b"".join(b"%d,%d,%d\n" % (i, i, (i % 2) * 10**15)
                                                for i in range(20)),
        "one-column.csv": b"y\n0\n1\n",
        "huge-field.csv": b"a,b,y\n1," + b"9" * 200_000 + b",0\n",
        "good.npz": npz_bytes(X=X, y=y),
        "three-features.npz": npz_bytes(X=np.ones((20, 3)), y=np.zeros(20)),
        "softmax-labels.npz": npz_bytes(X=X, y=np.arange(40) % 3),
        "pickled.npz": npz_bytes(X=np.array([[object()]] * 2, dtype=object), y=np.zeros(2)),
        "bytes-members.npz": zip_of({"X": b"hello", "y": b"junk"}),
        "lying-header.npz": zip_of({"X.npy": npy_header((10**6, 10**6)) + bytes(64),
                                    "y.npy": npy_header((8,)) + bytes(64)}),
        "corrupt-deflate.npz": corrupt_deflate(npz_bytes(True, X=np.ones((40, 2)),
                                                         y=np.zeros(40))),
        "encrypted.npz": patch_zip_headers(npz_bytes(X=X, y=y), encrypted=True),
        "three-d.npz": npz_bytes(X=np.ones((3, 2, 2)), y=np.ones(3)),
        "strings.npz": npz_bytes(X=np.array([["a", "b"]] * 3), y=np.array(["x"] * 3)),
        "no-y.npz": npz_bytes(X=X),
        "truncated.npz": npz_bytes(X=X, y=y)[:300],
        "not-a-zip.npz": b"not a zip at all",
        "data.txt": good_csv.encode(),
        # Text: categorical columns, class labels, an identifier, another delimiter.
        "shop.csv": ("id;color;x;size;label\n" + "".join(
            f"r{i};{'red green blue'.split()[i % 3]};{a:.3f};{'SML'[i % 3 - 1]};"
            f"{'yes' if c else 'no'}\n" for i, ((a, b), c) in enumerate(zip(X, y)))).encode(),
        "colors.csv": ("color,x,label\n" + "".join(
            f"{'red green blue'.split()[i % 3]},{a:.3f},{'cat dog bird'.split()[int(c) + i % 2]}\n"
            for i, ((a, b), c) in enumerate(zip(X, y)))).encode(),
        "mixed-column.csv": b"a,b,y\n1,2,0\nred,3,1\n4,5,0\n",
        "new-color.csv": b"color,x,label\npurple,0.5,cat\n",
        "no-target.csv": b"a,b\n0.5,1.0\n-1,2\n",
        "regression.csv": ("a,b,price\n" + "".join(
            f"{a:.3f},{b:.3f},{1000 + 300 * a:.1f}\n" for a, b in X)).encode(),
    }
    pools = {"data": [], "model": [], "out": []}
    pools["good data"] = [str(folder / name) for name in ("good.csv", "good.npz")]
    for name, content in data.items():
        (folder / name).write_bytes(content)
        pools["data"].append(str(folder / name))
    model = fnn.MLP([2, 4, 1], seed=0)
    model.standardizer = fnn.Standardizer().fit(X)
    model.save(folder / "model.npz")
    softmax = fnn.MLP([2, 3, 3], output="softmax", seed=0)
    softmax.save(folder / "softmax-model.npz")
    schema = fnn.TableSchema([fnn.TableColumn("color", ("blue", "green", "red")),
                              fnn.TableColumn("x")], target="label",
                             labels=("bird", "cat", "dog"))
    colors = fnn.MLP([4, 3, 3], output="softmax", seed=0)
    colors.schema = schema
    colors.save(folder / "colors-model.npz")
    regression = fnn.MLP([2, 3, 1], output="linear", seed=0)
    regression.target_standardizer = fnn.Standardizer().fit(1000 + 300 * X[:, :1])
    regression.save(folder / "regression-model.npz")
    pools["good model"] = [str(folder / "model.npz")]
    pools["model"] = [str(folder / name) for name in
                      ("model.npz", "softmax-model.npz", "colors-model.npz",
                       "regression-model.npz", "pickled.npz", "good.npz",
                       "corrupt-deflate.npz", "encrypted.npz", "lying-header.npz",
                       "truncated.npz", "not-a-zip.npz", "good.csv")]
    specials = folder / "specials"
    specials.mkdir()
    for name in ("fifo.csv", "fifo.npz"):
        if hasattr(os, "mkfifo"):
            os.mkfifo(specials / name)
            pools["data"].append(str(specials / name))
            pools["model"].append(str(specials / name))
    for name in ("folder.csv", "folder.npz"):
        (specials / name).mkdir()
        pools["data"].append(str(specials / name))
        pools["model"].append(str(specials / name))
    missing = [str(folder / "missing.csv"), str(folder / "missing.npz")]
    pools["data"] += missing
    pools["model"] += missing
    outputs = folder / "outputs"
    outputs.mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(outputs / "fifo.npz")
        (outputs / "fifo-report").mkdir()
        os.mkfifo(outputs / "fifo-report" / "report.txt")
    (outputs / "folder.npz").mkdir()
    (outputs / "file").write_text("taken")
    pools["good out"] = [str(outputs / "m.npz"), str(outputs / "demo")]
    pools["out"] = [str(outputs / name) for name in
                    ("m.npz", "fifo.npz", "folder.npz", "file", "file/m.npz", "missing/m.npz",
                     "demo", "fifo-report")]
    return pools


@pytest.fixture(scope="module")
def pools(tmp_path_factory):
    return write_files(tmp_path_factory.mktemp("cli-fuzz"))


@pytest.fixture
def sandbox(pools, bench_stub, monkeypatch, tmp_path):
    """Run in a scratch folder (relative paths land there) with the stand-in benches: the
    built-in one's timing (seconds each) is test_cli.py's, not the grammar's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "BENCH_SCRIPT", bench_stub)
    monkeypatch.setattr(cli, "run_benchmark", lambda **options: [])
    return pools


@pytest.fixture(scope="module")
def bench_stub(tmp_path_factory):
    """A stand-in bench/run.py (exit 0 at once) and its configs.py."""
    folder = tmp_path_factory.mktemp("bench")
    (folder / "run.py").write_text("import sys\nsys.exit(0)\n")
    (folder / "configs.py").write_text("NAMES = ('tiny', 'small')\n")
    return folder / "run.py"


# --------------------------------------------------------------------------- the grammar

def files(pool, good):
    """A path from `pool`, half of the time one of the `good` ones."""
    return st.one_of(st.sampled_from(good), st.sampled_from(pool))


def grammar(pools):
    """{command: (positionals, options, flags, always-given options)}: value strategies."""
    data = files(pools["data"], pools["good data"])
    model = files(pools["model"], pools["good model"])
    out = files(pools["out"], pools["good out"])
    target = st.sampled_from(["y", "a", "nope", "label", "price"])
    columns = st.sampled_from(["id", "1", "a", "b,y", "color", "x", "0", "99", "nope", ",",
                               "a,,b"])
    csv_options = {"--target": target, "--drop": columns,
                   "--delimiter": st.sampled_from([",", ";", "tab", "|", '"', "ab", "\\t"])}
    split = {"--seed": SEED, "--ratios": RATIOS, **csv_options}
    engine = {"--backend": choice("cython", "reference"), "--threads": THREADS}
    learning_rate = floats_between(1e-4, 1)
    return {
        "demo": ([], {"--seed": SEED, "--examples": small_ints(20, 40),
                      "--noise": floats_between(0, 1),
                      "--optimizer": choice("adam", "sgd", "momentum"),
                      "--lr": learning_rate, "--batch-size": BATCH, **engine},
                 # Always --out: the default folder would land in the working directory.
                 ["--quick", "--no-plots"], {"--epochs": small_ints(1, 3), "--out": out}),
        "train": ([data], {**split, **engine, "--layers": LAYERS,
                           "--activation": choice("relu", "tanh", "sigmoid", "linear"),
                           "--output": choice("sigmoid", "softmax", "linear"),
                           "--init": choice("he", "xavier", "random", "zeros"),
                           "--l2": floats_between(0, 10), "--l1": floats_between(0, 10),
                           "--keep-prob": floats_between(0.1, 1),
                           "--optimizer": choice("adam", "sgd", "momentum"),
                           "--lr": learning_rate, "--batch-size": BATCH,
                           "--patience": EPOCHS, "--eval-every": POSITIVE_STEPS,
                           "--dtype": choice("float32", "float64"), "--save": out,
                           "--bayes-error": RATE, "--verbose": choice("0", "1", "2"),
                           "--categorical": columns, "--augment": AUGMENT,
                           "--image-shape": IMAGE_SHAPE},
                  ["--stratify", "--progress"], {"--epochs": EPOCHS}),
        "predict": ([model, data], {**csv_options, "--out": out}, ["--proba"], {}),
        "evaluate": ([model, data], csv_options, [], {}),
        "gradcheck": ([model, data], {**csv_options, "--examples": POSITIVE_STEPS,
                                      "--epsilon": st.sampled_from(["1e-7", "1e-5"]),
                                      "--components": POSITIVE_STEPS, "--after-steps": EPOCHS,
                                      "--lr": learning_rate, "--seed": SEED},
                      [], {}),
        "diagnose": ([], {"--train-dev-error": RATE, "--bayes-error": RATE, "--threshold": RATE,
                          "--n-train": st.integers(1, 2**53).map(str),
                          "--n-dev": st.integers(1, 2**53).map(str),
                          "--n-train-dev": st.integers(1, 2**53).map(str),
                          "--z": floats_between(0, 5), **split},
                     ["--stratify"], {"--train-error": RATE, "--dev-error": RATE}),
        "diagnose --model": ([], {"--bayes-error": RATE, "--threshold": RATE,
                                  "--z": floats_between(0, 5), **split},
                             ["--stratify"], {"--model": model, "--data": data}),
        "bench": ([], {"--threads": THREADS, "--configs": choice("tiny", "small")},
                  ["--quick", "--markdown", "--full"], {}),
    }


@st.composite
def command_lines(draw, pools, commands=COMMANDS):
    """An argv for one of `commands` from its grammar, with up to two values (positional or
    option) replaced by hostile text and now and then a stray word inserted."""
    command = draw(st.sampled_from(commands))
    if command == "diagnose":
        command = draw(st.sampled_from(["diagnose", "diagnose --model"]))
    positionals, options, flags, always = grammar(pools)[command]
    chosen = draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=5))
    named = {**always, **{option: options[option] for option in chosen}}
    slots = len(positionals) + len(named)
    n_hostile = min(slots, draw(st.sampled_from([0, 0, 1, 2])))
    hostile = set(draw(st.lists(st.integers(0, slots - 1), min_size=n_hostile,
                                max_size=n_hostile))) if n_hostile else set()
    values = [draw(ANY_TEXT if i in hostile else strategy)
              for i, strategy in enumerate([*positionals, *named.values()])]
    argv = command.split()[:1] + values[:len(positionals)]
    for option, value in zip(named, values[len(positionals):]):
        argv += [option, value]
    argv += draw(st.lists(st.sampled_from(flags), unique=True)) if flags else []
    if draw(st.integers(0, 9)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(ANY_TEXT))
    return argv


# --------------------------------------------------------------------------- the property

def run_main(argv):
    """(exit code, stderr) of cli.main(argv), with a deadline against hangs."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), deadline(120):
        code = cli.main(argv)
    return code, err.getvalue()


def check_command_line(argv):
    code, err = run_main(argv)
    assert code in EXIT_CODES, (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code != 0:
        lines = err.splitlines()
        assert len(lines) == 1, (argv, err)
        assert lines[0].startswith("fastnn") and ": error: " in lines[0], (argv, err)


@pytest.mark.parametrize("command", COMMANDS)
@given(data=st.data())
def test_every_command_line_exits_0_1_or_2_with_one_line_errors(command, data, sandbox):
    check_command_line(data.draw(command_lines(sandbox, (command,))))


# Not "demo": with harmless words it would run the full demo (minutes).
@given(first=st.sampled_from(["train", "predict", "evaluate", "gradcheck", "diagnose", "bench",
                              "", "-x"]),
       rest=st.lists(ANY_TEXT, max_size=5))
def test_arbitrary_words_after_a_command(first, rest, sandbox):
    """No grammar at all: hostile words after a subcommand (or none)."""
    check_command_line([first, *rest])


@st.composite
def mutated_files(draw):
    """(suffix, bytes): a good CSV, NPZ or compressed NPZ with bytes overwritten,
    inserted or cut off."""
    X, y = make_moons(20, noise=0.2, seed=1)
    bases = {".csv": ("a,b,y\n" + "".join(f"{a:.3f},{b:.3f},{int(c)}\n"
                                          for (a, b), c in zip(X, y))).encode(),
             ".npz": npz_bytes(X=X, y=y), ".npz ": npz_bytes(True, X=X, y=y),
             # Text cells: categories and class labels.
             ".csv ": ("c,b,y\n" + "".join(f"{'red blue'.split()[i % 2]},{b:.3f},"
                                           f"{'yes' if c else 'no'}\n"
                                           for i, ((a, b), c) in enumerate(zip(X, y)))).encode()}
    suffix = draw(st.sampled_from(sorted(bases)))
    content = bytearray(bases[suffix])
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(content) - 1))
        if draw(st.booleans()):
            content[at] = draw(st.integers(0, 255))
        else:
            content[at:at] = draw(st.binary(min_size=1, max_size=8))
    if draw(st.booleans()):
        content = content[:draw(st.integers(0, len(content)))]
    return suffix.strip(), bytes(content)


def check_data_file(file, model, folder):
    """Train on the (suffix, bytes) `file`, and gradcheck, predict and evaluate `model`
    on it."""
    suffix, content = file
    path = folder / f"data{suffix}"
    path.write_bytes(content)
    check_command_line(["train", str(path), "--epochs", "1", "--layers", "2"])
    check_command_line(["gradcheck", model, str(path), "--examples", "4"])
    check_command_line(["predict", model, str(path), "--out", str(folder / "p.csv")])
    check_command_line(["evaluate", model, str(path)])


@given(file=mutated_files())
def test_mutated_data_files(file, sandbox, tmp_path):
    """Hostile data files from mutations of good ones, through train and gradcheck."""
    check_data_file(file, sandbox["good model"][0], tmp_path)


@pytest.mark.slow
@settings(max_examples=1000)
@given(data=st.data())
def test_command_lines_large(data, sandbox):
    check_command_line(data.draw(command_lines(sandbox)))


@pytest.mark.slow
@settings(max_examples=1000)
@given(file=mutated_files())
def test_mutated_data_files_large(file, sandbox, tmp_path):
    check_data_file(file, sandbox["good model"][0], tmp_path)
