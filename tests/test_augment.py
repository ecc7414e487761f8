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
    augment = Augmentation((5, 4, 3), flip=True, flip_prob=1.0)
    out = augment(rows, np.random.default_rng(0))
    assert out.shape == rows.shape and out.dtype == rows.dtype
    assert np.array_equal(out, flip_horizontal(images).reshape(6, -1))
    assert not np.shares_memory(out, rows)


def test_augmentation_flip_prob_zero_and_no_flip_are_identity():
    rows = images_of((5, 12), np.float64)
    rng = np.random.default_rng(0)
    assert np.array_equal(Augmentation((3, 4), flip=True, flip_prob=0.0)(rows, rng), rows)
    assert np.array_equal(Augmentation((3, 4), flip=False)(rows, rng), rows)


def test_augmentation_flips_a_random_subset():
    images = images_of((200, 3, 4), np.float64)
    out = Augmentation(flip=True, flip_prob=0.5)(images, np.random.default_rng(0))
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
    augment = Augmentation((28, 28), flip=True, flip_prob=0.3, crop_padding=2, max_rotation=15.0,
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


# --------------------------------------------------------------------------- #
# the batch path: defaults, exact geometry, agreement with scipy.ndimage
# --------------------------------------------------------------------------- #
class FixedDraws(np.random.Generator):
    """A generator whose uniform draws all return one point of [low, high]: `where` 0
    is low, 0.5 the middle, 1 high. Everything else draws as usual."""

    def __init__(self, where, seed=0):
        super().__init__(np.random.PCG64(seed))
        self.where = where

    def uniform(self, low=0.0, high=1.0, size=None):
        return np.full(size, low + self.where * (high - low))


def smooth_images(m, H, W, seed=0):
    """Blobs that vary slowly, so one or two bilinear passes agree closely, on a zero
    background, so no transform moves content out of the frame and back."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    out = np.zeros((m, H, W))
    for k in range(m):
        cy, cx = rng.uniform(H / 3, 2 * H / 3), rng.uniform(W / 3, 2 * W / 3)
        out[k] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (H / 10) ** 2))
    return out


def test_every_transform_is_off_by_default():
    augment = Augmentation((6, 5))
    assert not augment.flip and augment.flip_prob == 0.0
    assert (augment.crop_padding, augment.max_rotation, augment.max_zoom,
            augment.distortion) == (0, 0.0, 0.0, 0.0)
    for dtype in DTYPES:
        rows = images_of((7, 30), dtype)
        out = augment(rows, np.random.default_rng(0))
        assert np.array_equal(out, rows) and out.dtype == rows.dtype
        assert not np.shares_memory(out, rows)


def test_flip_prob_needs_flip():
    with pytest.raises(ValueError, match="flip=True"):
        Augmentation(flip_prob=0.3)
    assert Augmentation(flip=True).flip_prob == 0.5
    assert Augmentation(flip=False, flip_prob=0.0).flip_prob == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_flip_is_a_flip(dtype):
    images = images_of((5, 6, 7), dtype)
    out = Augmentation(flip=True, flip_prob=1.0)(images, np.random.default_rng(0))
    assert np.array_equal(out, images[:, :, ::-1])


@pytest.mark.parametrize("flip", [False, True])
def test_augmentation_crop_pads_and_shifts_by_at_most_crop_padding(flip):
    padding = 3
    images = images_of((40, 9, 8), np.float32) + 1.0  # no zeros: shifts are unambiguous
    augment = Augmentation(flip=flip, flip_prob=0.5 if flip else None, crop_padding=padding)
    out = augment(images, np.random.default_rng(2))
    shifts = set()
    for image, crop in zip(images, out):
        matches = [(dy, dx, mirrored)
                   for mirrored in ((False, True) if flip else (False,))
                   for dy in range(-padding, padding + 1)
                   for dx in range(-padding, padding + 1)
                   if np.array_equal(crop, shifted(image[:, ::-1] if mirrored else image,
                                                   dy, dx))]
        assert len(matches) == 1  # exact: whole pixels, no interpolation
        shifts.add(matches[0])
    assert len(shifts) > 10  # many offsets (and both orientations) turn up


@pytest.mark.parametrize("size", [9, 10])
def test_rotation_by_90_degrees_turns_pixels_counter_clockwise(size):
    images = images_of((3, size, size), np.float64)
    turned = np.rot90(images, k=1, axes=(1, 2))  # counter-clockwise as displayed
    out = rotate(images, FixedDraws(1.0), 90.0)
    assert np.allclose(out, turned, atol=1e-9)
    out = Augmentation(max_rotation=90.0)(images, FixedDraws(1.0))
    assert np.allclose(out, turned, atol=1e-9)
    assert np.allclose(rotate(images, FixedDraws(0.0), 90.0), np.rot90(images, -1, (1, 2)),
                       atol=1e-9)
    rows = images.reshape(3, -1).astype(np.float32)
    out = Augmentation((size, size), max_rotation=90.0)(rows, FixedDraws(1.0))
    assert np.allclose(out, turned.reshape(3, -1), atol=1e-5)


def test_zoom_by_one_is_the_identity():
    images = images_of((4, 11, 12), np.float32)
    # The middle of the log-uniform range is a scale of exactly 1.
    assert np.allclose(zoom(images, FixedDraws(0.5), 0.3), images, atol=1e-4)
    out = Augmentation(max_zoom=0.3, max_rotation=20.0)(images, FixedDraws(0.5))
    assert np.allclose(out, images, atol=1e-4)


@pytest.mark.parametrize("mode, scipy_mode", [("constant", "grid-constant"),
                                              ("nearest", "nearest"), ("reflect", "reflect"),
                                              ("mirror", "mirror"), ("wrap", "grid-wrap")])
def test_rotate_and_zoom_match_scipy_ndimage_per_image(mode, scipy_mode):
    from scipy import ndimage

    images = images_of((6, 9, 11), np.float64)
    out = rotate(images, np.random.default_rng(7), 40.0, mode=mode)
    angles = np.random.default_rng(7).uniform(-40.0, 40.0, size=6)  # the documented draw
    for image, angle, got in zip(images, angles, out):
        expected = ndimage.rotate(image, angle, axes=(1, 0), reshape=False, order=1,
                                  mode=scipy_mode)
        assert np.allclose(got, expected, atol=1e-9)
    out = zoom(images, np.random.default_rng(8), 0.5, mode=mode)
    limit = np.log1p(0.5)
    scales = np.exp(np.random.default_rng(8).uniform(-limit, limit, size=6))
    centre = (np.array(images.shape[1:]) - 1) / 2
    for image, scale, got in zip(images, scales, out):
        expected = ndimage.affine_transform(image, np.full(2, 1 / scale),
                                            offset=centre * (1 - 1 / scale), order=1,
                                            mode=scipy_mode)
        assert np.allclose(got, expected, atol=1e-9)


def test_distort_matches_the_per_image_field():
    from scipy import ndimage

    images = images_of((3, 12, 10), np.float64)
    strength, sigma = 1.5, 2.0
    out = distort(images, np.random.default_rng(4), strength, sigma=sigma, mode="nearest")
    rng = np.random.default_rng(4)
    fields = rng.uniform(-1.0, 1.0, size=(3, 2, 12, 10))  # the documented draw, in order
    grid = np.mgrid[0:12, 0:10].astype(float)
    for image, field, got in zip(images, fields, out):
        for axis in range(2):
            field[axis] = ndimage.gaussian_filter(field[axis], sigma, mode="reflect")
            field[axis] *= strength / np.abs(field[axis]).max()
        expected = ndimage.map_coordinates(image, grid + field, order=1, mode="nearest")
        assert np.allclose(got, expected, atol=1e-9)


def test_augmentation_draws_what_the_transforms_draw_in_sequence():
    """One composed pass gives the transforms of flip, crop, rotate, zoom and distort
    applied one after another with the same generator (up to their extra rounding)."""
    images = smooth_images(16, 28, 28)
    augment = Augmentation(flip=True, crop_padding=2, max_rotation=15.0, max_zoom=0.2,
                           distortion=1.0)
    out = augment(images, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    chosen = rng.random(16) < 0.5
    sequence = images.copy()
    sequence[chosen] = flip_horizontal(sequence[chosen])
    sequence = random_crop(sequence, rng, padding=2)
    sequence = rotate(sequence, rng, 15.0)
    sequence = zoom(sequence, rng, 0.2)
    sequence = distort(sequence, rng, 1.0)
    # The sequence interpolates three times, the composed pass once: they differ by
    # that blur (a mean of 0.002 on blobs of height 1), other draws by 0.06.
    assert np.abs(out - sequence).mean() < 0.005
    assert np.abs(out - sequence).max() < 0.1
    assert np.abs(out - images).mean() > 0.03  # and the transforms did something


def test_augmentation_same_rng_same_batch_and_channels_move_together():
    images = images_of((5, 10, 9, 3), np.float32)
    augment = Augmentation((10, 9, 3), flip=True, crop_padding=1, max_rotation=10.0,
                           max_zoom=0.1, distortion=0.5)
    rows = images.reshape(5, -1)
    first = augment(rows, np.random.default_rng(1))
    assert np.array_equal(first, augment(rows, np.random.default_rng(1)))
    assert not np.array_equal(first, augment(rows, np.random.default_rng(2)))
    # Every channel goes through the same map as a one-channel image would.
    single = Augmentation((10, 9), flip=True, crop_padding=1, max_rotation=10.0,
                          max_zoom=0.1, distortion=0.5)
    for c in range(3):
        alone = single(np.ascontiguousarray(images[..., c]).reshape(5, -1),
                       np.random.default_rng(1))
        assert np.allclose(first.reshape(images.shape)[..., c].reshape(5, -1), alone,
                           atol=1e-5)


def test_augmentation_pickles_and_is_thread_safe():
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    augment = Augmentation((12, 12), crop_padding=2, max_rotation=10.0, max_zoom=0.1)
    rows = images_of((64, 144), np.float32)
    expected = [augment(rows, np.random.default_rng(s)) for s in range(8)]
    copy = pickle.loads(pickle.dumps(augment))
    assert repr(copy) == repr(augment)
    assert np.array_equal(copy(rows, np.random.default_rng(3)), expected[3])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda s: augment(rows, np.random.default_rng(s)), range(8)))
    for got, want in zip(results, expected):
        assert np.array_equal(got, want)


def test_augmentation_in_fit_on_flattened_images():
    import fastnn as fnn

    rng = np.random.default_rng(0)
    X = rng.random((64, 64)).astype(np.float32)
    y = (X[:, :32].sum(axis=1) > X[:, 32:].sum(axis=1)).astype(np.int64)
    augment = Augmentation((8, 8), crop_padding=1, max_rotation=10.0, max_zoom=0.1)
    model = fnn.MLP([64, 16, 1], seed=0)
    history = model.fit(X, y, epochs=2, batch_size=16, augment=augment)
    assert len(history["train_cost"]) == 2 and np.isfinite(history["train_cost"]).all()
