"""Tests of fastnn.augment: image transforms and the Augmentation object."""

import json

import numpy as np
import pytest

from fastnn.workflow.augment import (
    Augmentation,
    distort,
    flip_horizontal,
    random_crop,
    rotate,
    zoom,
)

SHAPES = [(4, 7, 9), (3, 7, 9, 3)]
DTYPES = [np.float32, np.float64, np.uint8]
RANDOM_TRANSFORMS = {
    "crop": lambda x, rng: random_crop(x, rng, padding=2),
    "rotate": lambda x, rng: rotate(x, rng, 25.0),
    "zoom": lambda x, rng: zoom(x, rng, 0.4),
    "distort": lambda x, rng: distort(x, rng, 1.5),
}


def images_of(shape, dtype, seed=0):
    values = np.random.default_rng(seed).uniform(0, 255, size=shape)
    return values.astype(dtype)


def shifted(image, dy, dx):
    """`image` moved down by dy and right by dx, zeros shifted in."""
    out = np.zeros_like(image)
    H, W = image.shape[:2]
    out[max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        image[max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return out


# --------------------------------------------------------------------------- #
# flips
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("shape", SHAPES)
def test_flip_mirrors_the_width_axis(shape):
    images = images_of(shape, np.float64)
    flipped = flip_horizontal(images)
    for image, out in zip(images, flipped):
        assert np.array_equal(out, image[:, ::-1])
    assert np.array_equal(flip_horizontal(flipped), images)
    assert not np.shares_memory(flipped, images)


def test_flip_is_never_vertical():
    image = np.zeros((1, 4, 5))
    image[0, 0, 0] = 1.0  # top-left corner
    flipped = flip_horizontal(image)
    assert flipped[0, 0, 4] == 1.0  # top-right: same row, mirrored column
    assert flipped[0, 3].sum() == 0.0  # the bottom row is untouched
    assert not np.array_equal(flipped[0], image[0, ::-1])


def test_flip_keeps_channels_in_place():
    image = np.arange(2 * 3 * 3).reshape(1, 2, 3, 3)
    assert np.array_equal(flip_horizontal(image)[0, :, :, 0], image[0, :, ::-1, 0])


# --------------------------------------------------------------------------- #
# shape, dtype, reproducibility, identities
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", sorted(RANDOM_TRANSFORMS))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_transforms_keep_shape_and_dtype(name, shape, dtype):
    images = images_of(shape, dtype)
    out = RANDOM_TRANSFORMS[name](images, np.random.default_rng(0))
    assert out.shape == images.shape
    assert out.dtype == images.dtype
    assert not np.array_equal(out, images)


@pytest.mark.parametrize("name", sorted(RANDOM_TRANSFORMS))
def test_same_seed_same_output_other_seed_other_output(name):
    images = images_of((5, 8, 8), np.float32)
    transform = RANDOM_TRANSFORMS[name]
    first = transform(images, np.random.default_rng(11))
    again = transform(images, np.random.default_rng(11))
    other = transform(images, np.random.default_rng(12))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", sorted(RANDOM_TRANSFORMS))
def test_each_image_gets_its_own_draw(name):
    image = images_of((1, 10, 10), np.float64)
    batch = np.repeat(image, 4, axis=0)
    out = RANDOM_TRANSFORMS[name](batch, np.random.default_rng(3))
    assert len({out[k].tobytes() for k in range(4)}) > 1


@pytest.mark.parametrize("shape", SHAPES)
def test_zero_amounts_are_identity(shape):
    images = images_of(shape, np.float32)
    rng = np.random.default_rng(0)
    for out in (random_crop(images, rng, padding=0), rotate(images, rng, 0.0),
                zoom(images, rng, 0.0), distort(images, rng, 0.0)):
        assert np.array_equal(out, images)
        assert out.dtype == images.dtype
        assert not np.shares_memory(out, images)


def test_integer_images_are_rounded_and_stay_in_range():
    images = np.full((3, 6, 6), 255, dtype=np.uint8)
    out = rotate(images, np.random.default_rng(0), 45.0)
    assert out.dtype == np.uint8
    assert out.max() == 255  # the centre stays fully bright, no wrap-around
    assert out.min() == 0  # corners are filled with zeros


# --------------------------------------------------------------------------- #
# what each transform does
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("shape", SHAPES)
def test_random_crop_is_a_translated_copy(shape):
    padding = 2
    images = images_of(shape, np.float64) + 1.0  # no zeros, so shifts are unambiguous
    out = random_crop(images, np.random.default_rng(5), padding=padding)
    offsets = set()
    for image, crop in zip(images, out):
        matches = [(dy, dx)
                   for dy in range(-padding, padding + 1)
                   for dx in range(-padding, padding + 1)
                   if np.array_equal(crop, shifted(image, dy, dx))]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 1 or len(images) == 1


def test_random_crop_known_shift():
    image = np.arange(1, 10, dtype=float).reshape(1, 3, 3)
    assert np.array_equal(shifted(image[0], 1, -1),
                          [[0, 0, 0], [2, 3, 0], [5, 6, 0]])
    seen = {random_crop(image, np.random.default_rng(s), padding=1)[0].tobytes()
            for s in range(60)}
    # Every one of the 3 x 3 offsets turns up, and nothing else.
    assert seen == {shifted(image[0], dy, dx).tobytes()
                    for dy in (-1, 0, 1) for dx in (-1, 0, 1)}


def test_rotate_leaves_a_round_blob_alone():
    yy, xx = np.mgrid[0:21, 0:21]
    blob = np.exp(-((yy - 10) ** 2 + (xx - 10) ** 2) / (2 * 3.0**2))[None]
    out = rotate(np.repeat(blob, 5, axis=0), np.random.default_rng(0), 180.0)
    assert np.abs(out - blob).max() < 0.05


def test_rotate_turns_points_about_the_centre():
    image = np.zeros((30, 21, 21))
    image[:, 10, 18] = 1.0  # 8 pixels right of the centre
    out = rotate(image, np.random.default_rng(1), 90.0)
    rows, cols = np.unravel_index(np.argmax(out.reshape(30, -1), axis=1), (21, 21))
    radii = np.hypot(rows - 10, cols - 10)
    assert np.all(np.abs(radii - 8.0) <= 1.5)  # stays on its circle
    assert np.all(cols >= 10)  # within +-90 degrees it stays on the right half
    assert (rows < 9).any() and (rows > 11).any()  # turned both ways


def test_zoom_keeps_the_centre_and_scales_within_range():
    max_zoom = 0.5
    image = np.zeros((20, 31, 31))
    image[:, 11:20, 11:20] = 1.0  # a centred square
    out = zoom(image, np.random.default_rng(0), max_zoom)
    masses = out.sum(axis=(1, 2)) / image[0].sum()
    # Area grows with the square of the scale factor, s in [1/1.5, 1.5].
    assert np.all(masses >= (1 / (1 + max_zoom)) ** 2 - 0.05)
    assert np.all(masses <= (1 + max_zoom) ** 2 + 0.05)
    assert masses.min() < 0.9 and masses.max() > 1.1  # both in and out happen
    # Symmetric about the centre: the centre did not move.
    assert np.allclose(out, out[:, ::-1, :]) and np.allclose(out, out[:, :, ::-1])


def test_distort_is_small_and_smooth():
    strength = 1.5
    ramp = np.tile(np.arange(40, dtype=np.float64), (40, 1))[None]  # value = column
    out = distort(ramp, np.random.default_rng(0), strength, mode="nearest")
    inner = (slice(None), slice(3, -3), slice(3, -3))
    # Bilinear sampling of a linear ramp gives the horizontal displacement back.
    shift = out[inner] - ramp[inner]
    assert np.abs(shift).max() <= strength + 1e-9
    assert np.abs(shift).max() > 0.1
    assert np.abs(np.diff(shift, axis=2)).max() < 0.5 * strength


# --------------------------------------------------------------------------- #
# Augmentation
# --------------------------------------------------------------------------- #
def test_augmentation_flattened_rows_flip_all():
    images = images_of((6, 5, 4, 3), np.float32)
    rows = images.reshape(6, -1)
    augment = Augmentation((5, 4, 3), flip_prob=1.0)
    out = augment(rows, np.random.default_rng(0))
    assert out.shape == rows.shape and out.dtype == rows.dtype
    assert np.array_equal(out, flip_horizontal(images).reshape(6, -1))
    assert not np.shares_memory(out, rows)


def test_augmentation_flip_prob_zero_and_no_flip_are_identity():
    rows = images_of((5, 12), np.float64)
    rng = np.random.default_rng(0)
    assert np.array_equal(Augmentation((3, 4), flip_prob=0.0)(rows, rng), rows)
    assert np.array_equal(Augmentation((3, 4), flip=False)(rows, rng), rows)


def test_augmentation_flips_a_random_subset():
    images = images_of((200, 3, 4), np.float64)
    out = Augmentation(flip_prob=0.5)(images, np.random.default_rng(0))
    flipped = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)])
    unchanged = np.array([np.array_equal(o, i) for o, i in zip(out, images)])
    assert np.all(flipped ^ unchanged)
    assert 60 < flipped.sum() < 140


def test_augmentation_on_images_with_all_transforms():
    images = images_of((4, 10, 10), np.uint8)
    augment = Augmentation(crop_padding=2, max_rotation=10.0, max_zoom=0.2, distortion=1.0)
    out = augment(images, np.random.default_rng(4))
    assert out.shape == images.shape and out.dtype == np.uint8
    assert np.array_equal(out, augment(images, np.random.default_rng(4)))
    assert not np.array_equal(out, images)


def test_augmentation_rejects_mismatched_rows():
    augment = Augmentation((5, 5))
    with pytest.raises(ValueError, match=r"X.*image_shape"):
        augment(np.zeros((3, 24)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="X"):
        Augmentation()(np.zeros((3, 25)), np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        augment(np.zeros((3, 25)), 0)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"flip_prob": 1.5}, "flip_prob"),
        ({"flip_prob": -0.1}, "flip_prob"),
        ({"crop_padding": -1}, "crop_padding"),
        ({"max_rotation": -5.0}, "max_rotation"),
        ({"max_zoom": -0.1}, "max_zoom"),
        ({"distortion": float("nan")}, "distortion"),
        ({"image_shape": (0, 5)}, "image_shape"),
        ({"image_shape": (5,)}, "image_shape"),
        ({"image_shape": (2, 3, 4, 5)}, "image_shape"),
    ],
)
def test_augmentation_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Augmentation(**kwargs)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda x, rng: random_crop(x, rng, padding=-1), "padding"),
        (lambda x, rng: rotate(x, rng, -1.0), "max_degrees"),
        (lambda x, rng: zoom(x, rng, float("inf")), "max_zoom"),
        (lambda x, rng: distort(x, rng, -0.5), "strength"),
        (lambda x, rng: rotate(x, rng, 5.0, mode="bogus"), "mode"),
        (lambda x, rng: flip_horizontal(x[0]), "images"),
    ],
)
def test_transform_bad_parameters(call, name):
    with pytest.raises(ValueError, match=name):
        call(np.zeros((2, 4, 4)), np.random.default_rng(0))


def test_augmentation_repr_and_dict_round_trip():
    augment = Augmentation((28, 28), flip_prob=0.3, crop_padding=2, max_rotation=15.0,
                           max_zoom=0.1, distortion=2.0)
    text = repr(augment)
    assert text.startswith("Augmentation(") and "image_shape=(28, 28)" in text
    assert "max_rotation=15.0" in text
    state = json.loads(json.dumps(augment.to_dict()))
    restored = Augmentation.from_dict(state)
    assert repr(restored) == text
    assert restored.image_shape == (28, 28)
    assert Augmentation.from_dict(Augmentation().to_dict()).image_shape is None
    with pytest.raises(ValueError, match="d"):
        Augmentation.from_dict({"rotation": 3})
