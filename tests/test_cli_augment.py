"""`fastnn train --augment SPEC [--image-shape HxW[xC]]`: data augmentation from the
command line.

A run with --augment trains on transformed batches (other weights than the same run
without it) and is reproducible from its seed; every bad spec, shape or mismatch with
the data is one line on stderr naming the option, exit code 2, before any training.
"""
import numpy as np
import pytest

import fastnn as fnn
from fastnn import cli
from test_cli import assert_one_line_error, run

# Small enough that a run takes a fraction of a second.
TRAIN = ["--layers", "8", "--epochs", "3", "--batch-size", "32", "--seed", "0",
         "--verbose", "0"]


def bars(m, shape, seed=0):
    """(X (m, prod(shape)), y): images of one bright row (label 0) or column (label 1)
    at a random place, with a little noise, flattened row by row."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 0.1, size=(m, *shape))
    y = np.arange(m) % 2
    for image, label in zip(images, y):
        at = rng.integers(1, shape[0] - 1)
        if label:
            image[:, at] += 1
        else:
            image[at] += 1
    return images.reshape(m, -1), y


@pytest.fixture(scope="module")
def images_npz(tmp_path_factory):
    """An .npz of 120 8x8 grey images (64 columns, a square number)."""
    path = tmp_path_factory.mktemp("images") / "bars.npz"
    X, y = bars(120, (8, 8))
    np.savez(path, X=X, y=y)
    return path


@pytest.fixture(scope="module")
def colour_npz(tmp_path_factory):
    """An .npz of 120 4x4 RGB images (48 columns: not a square number)."""
    path = tmp_path_factory.mktemp("images") / "colour.npz"
    X, y = bars(120, (4, 4, 3))
    np.savez(path, X=X, y=y)
    return path


def train(data, folder, name, *options):
    """(stdout, the saved model's parameters) of a successful `fastnn train`."""
    path = folder / f"{name}.npz"
    code, out, err = run(["train", str(data), *TRAIN, *options, "--save", str(path)])
    assert code == 0, err
    return out, fnn.load(path).params


def same(params, other):
    return params.keys() == other.keys() and all(
        np.array_equal(params[name], other[name]) for name in params)


def test_augment_changes_the_training_and_its_seed_reproduces_it(images_npz, tmp_path):
    spec = ["--augment", "crop=1,rotate=10,zoom=0.1"]
    _, plain = train(images_npz, tmp_path, "plain")
    out, augmented = train(images_npz, tmp_path, "augmented", *spec)
    _, again = train(images_npz, tmp_path, "again", *spec)
    _, given = train(images_npz, tmp_path, "given", *spec, "--image-shape", "8x8")
    assert not same(plain, augmented)
    assert same(augmented, again)
    assert same(augmented, given)  # the inferred shape is the one given
    summary = [line for line in out.splitlines() if line.startswith("augmentation ")]
    assert len(summary) == 1, out
    assert "crop=1,rotate=10,zoom=0.1 " in summary[0]
    assert "8x8 images" in summary[0] and "inferred" in summary[0]


def test_another_seed_draws_other_transforms(images_npz, tmp_path):
    spec = ["--augment", "crop=1,flip"]
    _, first = train(images_npz, tmp_path, "first", *spec)
    out, second = train(images_npz, tmp_path, "second", *spec, "--seed", "1")
    assert not same(first, second)
    assert "crop=1,flip,flip_prob=0.5 " in out


def test_images_with_channels_need_their_shape(colour_npz, tmp_path):
    out, _ = train(colour_npz, tmp_path, "colour", "--augment", "distort=0.5,flip,flip_prob=0.3",
                   "--image-shape", "4x4x3")
    assert "distort=0.5,flip,flip_prob=0.3 " in out
    assert "4x4x3 images (given)" in out


def test_predict_takes_no_augmentation(images_npz, tmp_path):
    """Augmentation is a training option: the saved model predicts the rows as they are."""
    train(images_npz, tmp_path, "m", "--augment", "rotate=20")
    code, _, err = run(["predict", str(tmp_path / "m.npz"), str(images_npz),
                        "--augment", "rotate=20"])
    assert_one_line_error(code, err, "unrecognized arguments: --augment")


@pytest.mark.parametrize("options, fragment", [
    (["--augment", "shear=3"], "argument --augment: unknown transform 'shear'; choose from"),
    (["--augment", ""], "argument --augment: unknown transform ''"),
    (["--augment", "crop=2,"], "argument --augment: unknown transform ''"),
    (["--augment", "rotate=ten"], "argument --augment: rotate takes a number, got 'rotate=ten'"),
    (["--augment", "zoom"], "argument --augment: zoom takes a number"),
    (["--augment", "crop=1.5"], "argument --augment: crop takes a whole number of pixels"),
    (["--augment", "crop=-1"], "argument --augment: crop_padding must be >= 0, got -1"),
    (["--augment", "rotate=-10"], "argument --augment: max_rotation must be finite and >= 0"),
    (["--augment", "zoom=nan"], "argument --augment: max_zoom must be finite and >= 0"),
    (["--augment", "distort=inf"], "argument --augment: distortion must be finite and >= 0"),
    (["--augment", "flip,flip_prob=1.5"], "argument --augment: flip_prob must be in [0, 1]"),
    (["--augment", "flip_prob=0.3"], "argument --augment: flip_prob=0.3 flips nothing"),
    (["--augment", "flip=1"], "argument --augment: flip takes no value"),
    (["--augment", "crop=1,crop=2"], "argument --augment: crop is given twice"),
    (["--augment", "crop=1", "--image-shape", "8"], "argument --image-shape: expected HxW"),
    (["--augment", "crop=1", "--image-shape", "8x8x1x1"], "argument --image-shape: expected HxW"),
    (["--augment", "crop=1", "--image-shape", "8x0"],
     "argument --image-shape: image_shape must be 2 or 3 positive ints"),
    (["--augment", "crop=1", "--image-shape", "8x-8"], "argument --image-shape: image_shape"),
    (["--augment", "crop=1", "--image-shape", "axb"], "argument --image-shape: expected HxW"),
    (["--augment", "crop=1", "--image-shape", "9" * 40 + "x1"],
     "argument --image-shape: expected HxW"),
])
def test_bad_specs_are_one_line_usage_errors(images_npz, options, fragment):
    code, out, err = run(["train", str(images_npz), *TRAIN, *options])
    assert_one_line_error(code, err, fragment)
    assert "(see fastnn train --help)" in err
    assert out == ""


@pytest.mark.parametrize("data, options, fragment", [
    ("images", ["--image-shape", "8x8"],
     "--image-shape is the shape of the images --augment transforms: give --augment too"),
    ("images", ["--augment", "crop=1", "--image-shape", "4x4"],
     "--image-shape 4x4: an image of 16 values, but "),
    ("images", ["--augment", "crop=1", "--image-shape", "8x8x3"],
     "--image-shape 8x8x3: an image of 192 values, but "),
    ("images", ["--augment", "crop=8"],
     "--augment crop=8: shifts of 8 pixels or more move 8x8 images out of the frame"),
    ("colour", ["--augment", "crop=4", "--image-shape", "4x4x3"],
     "--augment crop=4: shifts of 4 pixels or more move 4x4x3 images out of the frame"),
    ("colour", ["--augment", "crop=1"],
     "--augment: {path} has 48 inputs per row, not a square image's: give its shape with "
     "--image-shape"),
])
def test_shapes_that_do_not_fit_the_data_stop_before_training(data, options, fragment,
                                                              images_npz, colour_npz, tmp_path):
    path = images_npz if data == "images" else colour_npz
    model = tmp_path / "m.npz"
    code, out, err = run(["train", str(path), *TRAIN, *options, "--save", str(model)])
    assert_one_line_error(code, err, "fastnn train: error: " + fragment.format(path=path))
    assert out == "" and not model.exists()


def test_train_help_documents_augmentation(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--augment SPEC" in text and "--image-shape HxW[xC]" in text
    assert "crop=2,rotate=10,zoom=0.1" in " ".join(text.split())
    assert max(map(len, text.splitlines())) <= 79
