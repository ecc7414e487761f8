"""Data augmentation for image batches: flips, random crops, rotations, zooms, distortions.

The notes' menu: horizontal flips (for natural images, never vertical), random crops,
rotations and zooms, and subtle distortions (for OCR). Each transform works on a whole
batch at once: it draws one set of parameters per image from the given generator, turns
them into a map from every output pixel to the input position it shows, and reads all
images in one gather (bilinear interpolation between the four nearest pixels, or the
nearest pixel for the integer shifts of a crop). :class:`Augmentation` composes its
enabled transforms into a single map, so an augmented batch is interpolated once.
"""
from __future__ import annotations

import functools
import threading
from numbers import Integral, Real
from typing import Any, Literal, Optional, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

__all__ = [
    "Augmentation",
    "distort",
    "flip_horizontal",
    "random_crop",
    "rotate",
    "zoom",
]

#: How pixels from outside the image are filled, as in ``scipy.ndimage``: "constant"
#: zeros, "nearest" the edge pixel, "reflect" mirrored about the edge (the edge pixel
#: repeated: ``d c b a | a b c d``), "mirror" mirrored about the edge pixel's centre
#: (``d c b | a b c d``), "wrap" periodic (``a b c d | a b c d``).
Mode = Literal["constant", "nearest", "reflect", "mirror", "wrap"]
_MODES: tuple[Mode, ...] = ("constant", "nearest", "reflect", "mirror", "wrap")
# numpy.pad's name for the same extension, used to pad the images before the gather.
_PAD_MODES: dict[str, str] = {"constant": "constant", "nearest": "edge",
                              "reflect": "symmetric", "mirror": "reflect", "wrap": "wrap"}
# Padding around each image before the gather: source positions are folded into
# [-1, n] (see _fold), the bilinear corner above is one more, so 1 before and 2 after.
_PAD_BEFORE, _PAD_AFTER = 1, 2


# --------------------------------------------------------------------------- #
# argument checks
# --------------------------------------------------------------------------- #
def _check_images(images: ArrayLike, name: str = "images") -> NDArray[Any]:
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{name} must have shape (m, H, W) or (m, H, W, C), got {images.shape}"
        )
    if not (np.issubdtype(images.dtype, np.number) or images.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {images.dtype}")
    if np.issubdtype(images.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {images.dtype}")
    return images


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def _check_amount(value: Any, name: str) -> float:
    if not isinstance(value, Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    number: Any = value  # numbers.Real has no NumPy stub overloads; NumPy takes any real
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return float(value)


def _check_int_amount(value: Any, name: str) -> int:
    if not isinstance(value, Integral) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if int(value) < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _check_mode(mode: Any) -> Mode:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    return mode


# --------------------------------------------------------------------------- #
# dtype handling
# --------------------------------------------------------------------------- #
def _work_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """Interpolate float32 in float32, everything else in float64."""
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


def _restore_dtype(out: NDArray[Any], dtype: np.dtype[Any]) -> NDArray[Any]:
    """Cast interpolated values back to the input dtype (ints rounded and clipped)."""
    if dtype == bool:
        return out >= 0.5
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(dtype)
    return out.astype(dtype, copy=False)


# --------------------------------------------------------------------------- #
# scratch memory
# --------------------------------------------------------------------------- #
class _Workspace(threading.local):
    """Scratch arrays kept from one batch to the next, one set per thread.

    A batch's temporaries are large (about 0.4 MB each for 128 28x28 float32 images):
    allocated afresh, each call pays for them in page faults, which cost more than the
    arithmetic. Reused, a batch costs only its output.
    """

    def __init__(self) -> None:
        self.arrays: dict[str, NDArray[Any]] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> NDArray[Any]:
        array = self.arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            # Zeros (lazily, from the OS) so that a padded batch's border starts clean.
            array = self.arrays[name] = np.zeros(shape, dtype)
        return array


def _scratch(workspace: Optional[_Workspace], name: str, shape: tuple[int, ...],
             dtype: Any) -> NDArray[Any]:
    """An array of this shape and dtype: `workspace`'s, or a fresh one of zeros."""
    dtype = np.dtype(dtype)
    return np.zeros(shape, dtype) if workspace is None else workspace.get(name, shape, dtype)


# --------------------------------------------------------------------------- #
# random parameters: one draw per image, in the order the transforms apply
# --------------------------------------------------------------------------- #
def _draw_flips(rng: np.random.Generator, m: int, prob: float) -> NDArray[np.bool_]:
    return rng.random(m) < prob


def _draw_offsets(rng: np.random.Generator, m: int, padding: int) -> NDArray[np.int64]:
    """(m, 2) integer (row, col) shifts, each uniform in [-padding, padding]."""
    return rng.integers(0, 2 * padding + 1, size=(m, 2)) - padding


def _draw_angles(rng: np.random.Generator, m: int, max_degrees: float) -> NDArray[np.float64]:
    return rng.uniform(-max_degrees, max_degrees, size=(m,))


def _draw_scales(rng: np.random.Generator, m: int, max_zoom: float) -> NDArray[np.float64]:
    """(m,) factors log-uniform in [1/(1+max_zoom), 1+max_zoom]: in and out equally likely."""
    limit = np.log1p(max_zoom)
    return np.exp(rng.uniform(-limit, limit, size=(m,)))


def _default_sigma(shape: tuple[int, ...]) -> float:
    return max(1.0, min(shape[0], shape[1]) / 7)


def _draw_displacement(rng: np.random.Generator, m: int, shape: tuple[int, int],
                       sigma: float, strength: float,
                       workspace: Optional[_Workspace] = None) -> NDArray[np.float64]:
    """(m, 2, H, W) smoothed noise fields, each axis of each image scaled to a peak of
    `strength` pixels (Simard et al., 2003)."""
    field = _scratch(workspace, "field", (m, 2) + shape, np.float64)
    # uniform(-1, 1) is -1 + 2 * random(), to the bit; random() can fill a given array.
    rng.random(out=field)
    field *= 2.0
    field -= 1.0
    # The Gaussian filter along each image axis as a matrix product: the same numbers as
    # ndimage.gaussian_filter on each field. Products per image (H x H, W x W) stay
    # below BLAS's threading size: one product of the whole batch would start BLAS
    # threads, which a busy machine makes many times slower.
    smoothed = _scratch(workspace, "smoothed", field.shape, np.float64)
    np.matmul(_smoothing_matrix(shape[0], sigma), field, out=smoothed)
    np.matmul(smoothed, _smoothing_matrix(shape[1], sigma).T, out=field)
    peak = np.abs(field, out=smoothed).max(axis=(2, 3), keepdims=True)
    field *= strength
    np.divide(field, peak, out=field, where=peak > 0)
    return field


@functools.lru_cache(maxsize=16)
def _smoothing_matrix(n: int, sigma: float) -> NDArray[np.float64]:
    """(n, n) K such that K @ x is ``ndimage.gaussian_filter1d(x, sigma, axis=0,
    mode="reflect")`` for any x with n rows: the filter's response to each unit impulse."""
    matrix = ndimage.gaussian_filter1d(np.eye(n), sigma, axis=0, mode="reflect")
    matrix.setflags(write=False)  # shared by every call: the cache hands out this array
    return matrix


def _rotation_matrices(degrees: NDArray[np.float64]) -> NDArray[np.float64]:
    """(m, 2, 2) maps from an output (row, col) offset to the source offset that turns
    the image counter-clockwise on screen by `degrees` (rows grow downwards)."""
    theta = np.deg2rad(degrees)
    matrices = np.empty((len(theta), 2, 2))
    matrices[:, 0, 0] = matrices[:, 1, 1] = np.cos(theta)
    matrices[:, 0, 1] = np.sin(theta)
    matrices[:, 1, 0] = -matrices[:, 0, 1]
    return matrices


# --------------------------------------------------------------------------- #
# the batch gather
# --------------------------------------------------------------------------- #
def _source_positions(matrices: NDArray[np.float64], shifts: NDArray[Any],
                      shape: tuple[int, ...], dtype: np.dtype[Any],
                      displacement: Optional[NDArray[np.float64]] = None,
                      workspace: Optional[_Workspace] = None) -> NDArray[Any]:
    """(2, m, H*W) source rows and columns of every output pixel of every image.

    Output pixel p shows the input at ``centre + matrices[k] @ (p + d - centre) +
    shifts[k]``, d the displacement field (m, 2, H, W) if given.
    """
    m, H, W = len(matrices), shape[0], shape[1]
    centre = np.array([(H - 1) / 2, (W - 1) / 2])
    # One product per image in homogeneous coordinates: [M | centre + shift - M centre]
    # times the (row, col, 1) of every pixel.
    affine = np.empty((m, 2, 3), dtype=dtype)
    affine[:, :, :2] = matrices
    affine[:, :, 2] = centre + shifts - matrices @ centre
    grid = _pixel_grid(H, W, dtype)
    if displacement is not None:
        displaced = _scratch(workspace, "grid", (m, 3, H * W), dtype)
        displaced[...] = grid
        displaced[:, :2] += displacement.reshape(m, 2, H * W)
        grid = displaced
    # Rows and columns each contiguous: the gather's arithmetic runs on them in place.
    positions = _scratch(workspace, "positions", (2, m, H * W), dtype)
    np.matmul(affine, grid, out=positions.transpose(1, 0, 2))
    return positions


@functools.lru_cache(maxsize=16)
def _pixel_grid(H: int, W: int, dtype: np.dtype[Any]) -> NDArray[Any]:
    """(3, H*W) row, column and 1 of every pixel, row-major."""
    rows, cols = np.meshgrid(np.arange(H, dtype=dtype), np.arange(W, dtype=dtype),
                             indexing="ij")
    grid = np.stack([rows.ravel(), cols.ravel(), np.ones(H * W, dtype)])
    grid.setflags(write=False)  # shared by every call: the cache hands out this array
    return grid


def _fold(positions: NDArray[Any], n: int, mode: Mode) -> None:
    """Move positions along an axis of length n into [-1, n], in place, without
    changing what `mode` reads there (its extension is periodic or constant beyond)."""
    if mode == "constant":
        np.clip(positions, -1, n, out=positions)
    elif mode == "nearest":
        np.clip(positions, 0, n - 1, out=positions)
    elif mode == "wrap":
        np.mod(positions, n, out=positions)
    elif mode == "reflect":
        # Period 2n, symmetric about -0.5 (the edge between pixel 0 and its mirror).
        positions += 0.5
        np.mod(positions, 2 * n, out=positions)
        np.subtract(2 * n, positions, out=positions, where=positions > n)
        positions -= 0.5
    elif n == 1:  # "mirror" of one pixel is that pixel everywhere
        positions[...] = 0
    else:  # "mirror": period 2(n - 1), symmetric about 0 and n - 1
        np.mod(positions, 2 * (n - 1), out=positions)
        np.subtract(2 * (n - 1), positions, out=positions, where=positions > n - 1)


def _pad_into(padded: NDArray[Any], images: NDArray[Any], mode: Mode) -> None:
    """`images` with _PAD_BEFORE/_PAD_AFTER pixels of `mode`'s extension on each side.

    For "constant" only the interior is written: `padded` must be a scratch array used
    for "constant" padding alone, whose border is then zeros from its allocation on.
    """
    H, W = images.shape[1:3]
    if mode == "constant":
        padded[:, _PAD_BEFORE:_PAD_BEFORE + H, _PAD_BEFORE:_PAD_BEFORE + W] = images
        return
    pad = [(0, 0)] + [(_PAD_BEFORE, _PAD_AFTER)] * 2 + [(0, 0)] * (images.ndim - 3)
    padded[...] = np.pad(images, pad, mode=_PAD_MODES[mode])  # type: ignore[call-overload]


def _resample(images: NDArray[Any], positions: NDArray[Any], mode: Mode,
              workspace: Optional[_Workspace] = None) -> NDArray[Any]:
    """Every image read at its (2, m, H*W) source positions by bilinear interpolation;
    same shape and dtype. `positions` is overwritten."""
    m, H, W = images.shape[:3]
    channels = images.shape[3:]
    Hp, Wp = H + _PAD_BEFORE + _PAD_AFTER, W + _PAD_BEFORE + _PAD_AFTER
    dtype = _work_dtype(images.dtype)
    padded = _scratch(workspace, f"padded {mode}", (m, Hp, Wp) + channels, dtype)
    _pad_into(padded, images, mode)
    flat = padded.reshape((m * Hp * Wp,) + channels)
    if flat.shape[0] >= 2**24:  # flat indices built in float32 would lose whole numbers
        positions = positions.astype(np.float64)
    # Folded, then moved into the padded frame, every position is >= 0. The flat index
    # of the upper-left neighbour is built in floating point and converted once.
    down, right = positions[0], positions[1]
    _fold(down, H, mode)
    _fold(right, W, mode)
    down += _PAD_BEFORE
    right += _PAD_BEFORE
    top = _scratch(workspace, "top", down.shape, positions.dtype)
    left = _scratch(workspace, "left", down.shape, positions.dtype)
    np.floor(down, out=top)
    np.floor(right, out=left)
    down -= top
    right -= left
    top *= Wp
    top += left
    top += (np.arange(m) * (Hp * Wp)).astype(top.dtype)[:, None]
    index = _scratch(workspace, "index", down.shape, np.intp)
    if flat.shape[0] < 2**31:  # through int32: twice as fast as float to int64 directly
        narrow = _scratch(workspace, "index32", down.shape, np.int32)
        np.copyto(narrow, top, casting="unsafe")
        np.copyto(index, narrow)
    else:
        np.copyto(index, top, casting="unsafe")
    if channels:
        down, right = down[..., None], right[..., None]
    shape = index.shape + channels

    def neighbour(name: str, offset: int) -> NDArray[Any]:
        # A shifted view reads the neighbour at `offset` with the same index array;
        # mode="wrap" lets take write into `out` unbuffered (indices are in range).
        out = _scratch(workspace, name, shape, dtype)
        return flat[offset:].take(index, axis=0, out=out, mode="wrap")

    upper, upper_right = neighbour("upper", 0), neighbour("upper_right", 1)
    lower, lower_right = neighbour("lower", Wp), neighbour("lower_right", Wp + 1)
    upper_right -= upper
    upper_right *= right
    upper += upper_right
    lower_right -= lower
    lower_right *= right
    lower += lower_right
    lower -= upper
    lower *= down
    out = np.add(upper, lower, dtype=dtype)  # a fresh array: the caller keeps it
    return _restore_dtype(out.reshape(images.shape), images.dtype)


def _warp(images: NDArray[Any], matrices: NDArray[np.float64], shifts: NDArray[Any],
          mode: Mode, displacement: Optional[NDArray[np.float64]] = None) -> NDArray[Any]:
    """Every image through its affine map (and displacement field); see _source_positions."""
    dtype = _work_dtype(images.dtype)
    positions = _source_positions(matrices, shifts, images.shape[1:3], dtype, displacement)
    return _resample(images, positions, mode)


def _shift_whole_pixels(images: NDArray[Any], offsets: NDArray[np.int64], padding: int,
                        flipped: Optional[NDArray[np.bool_]] = None) -> NDArray[Any]:
    """Each image (mirrored first where `flipped`) moved by whole pixels, zeros shifted
    in: ``out[k, i, j] = images[k, i + offsets[k, 0], j + offsets[k, 1]]``, with
    ``|offsets| <= padding``. Exact, in the images' dtype: a window of the zero-padded
    batch per image, all taken in one indexing operation."""
    m, H, W = images.shape[:3]
    pad = [(0, 0), (padding, padding), (padding, padding)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, pad)
    if flipped is not None:
        padded[flipped] = padded[flipped][:, :, ::-1]
    windows = sliding_window_view(padded, (H, W), axis=(1, 2))  # (m, 2p+1, 2p+1, [C,] H, W)
    out = windows[np.arange(m), offsets[:, 0] + padding, offsets[:, 1] + padding]
    return np.ascontiguousarray(np.moveaxis(out, 1, -1)) if images.ndim == 4 else out


def _identities(m: int) -> NDArray[np.float64]:
    return np.broadcast_to(np.eye(2), (m, 2, 2)).copy()


# --------------------------------------------------------------------------- #
# transforms
# --------------------------------------------------------------------------- #
def flip_horizontal(images: ArrayLike) -> NDArray[Any]:
    """Mirror every image left-right (never upside down).

    Parameters
    ----------
    images : array_like, shape (m, H, W) or (m, H, W, C)

    Returns
    -------
    flipped : ndarray, same shape and dtype
        ``flipped[k, i, j] == images[k, i, W - 1 - j]``; a new array.
    """
    images = _check_images(images)
    return images[:, :, ::-1].copy()


def random_crop(images: ArrayLike, rng: np.random.Generator, padding: int = 4) -> NDArray[Any]:
    """Pad each image with zeros and crop a random window of the original size.

    Like torchvision's ``RandomCrop(size, padding=padding)``: the result is the
    image translated by an offset drawn uniformly per image from
    ``[-padding, padding]`` along each axis, with zeros shifted in. Exact (whole
    pixels, no interpolation), in the images' dtype.

    Parameters
    ----------
    images : array_like, shape (m, H, W) or (m, H, W, C)
    rng : numpy.random.Generator
    padding : int, default 4
        Zeros added on each side before cropping; 0 returns a copy.

    Returns
    -------
    cropped : ndarray, same shape and dtype as `images`
    """
    images = _check_images(images)
    rng = _check_rng(rng)
    padding = _check_int_amount(padding, "padding")
    if padding == 0:
        return images.copy()
    return _shift_whole_pixels(images, _draw_offsets(rng, images.shape[0], padding), padding)


def rotate(images: ArrayLike, rng: np.random.Generator, max_degrees: float, *,
           mode: Mode = "constant") -> NDArray[Any]:
    """Rotate each image about its centre by a random angle.

    Positive angles turn the picture counter-clockwise as displayed (rows downwards),
    as ``scipy.ndimage.rotate(image, angle, reshape=False)`` does.

    Parameters
    ----------
    images : array_like, shape (m, H, W) or (m, H, W, C)
    rng : numpy.random.Generator
    max_degrees : float
        Angles are drawn uniformly from ``[-max_degrees, max_degrees]``, one per
        image; 0 returns a copy.
    mode : {"constant", "nearest", "reflect", "mirror", "wrap"}, default "constant"
        How pixels from outside the image are filled (see `Mode`; "constant" fills
        zeros).

    Returns
    -------
    rotated : ndarray, same shape and dtype as `images`
        Bilinear interpolation; integer images rounded and clipped to their range.
    """
    images = _check_images(images)
    rng = _check_rng(rng)
    max_degrees = _check_amount(max_degrees, "max_degrees")
    mode = _check_mode(mode)
    if max_degrees == 0:
        return images.copy()
    angles = _draw_angles(rng, images.shape[0], max_degrees)
    return _warp(images, _rotation_matrices(angles), np.zeros((len(angles), 2)), mode)


def zoom(images: ArrayLike, rng: np.random.Generator, max_zoom: float, *,
         mode: Mode = "constant") -> NDArray[Any]:
    """Scale each image about its centre by a random factor, keeping its size.

    Like ``scipy.ndimage.zoom`` followed by a centre crop (zoom in) or a centre pad
    (zoom out), with the centre exactly in place.

    Parameters
    ----------
    images : array_like, shape (m, H, W) or (m, H, W, C)
    rng : numpy.random.Generator
    max_zoom : float
        Scale factors are drawn log-uniformly from
        ``[1 / (1 + max_zoom), 1 + max_zoom]``, one per image, so zooming in and out
        are equally likely; 0 returns a copy.
    mode : {"constant", "nearest", "reflect", "mirror", "wrap"}, default "constant"
        Fill for pixels from outside the image when zooming out.

    Returns
    -------
    zoomed : ndarray, same shape and dtype as `images`
    """
    images = _check_images(images)
    rng = _check_rng(rng)
    max_zoom = _check_amount(max_zoom, "max_zoom")
    mode = _check_mode(mode)
    if max_zoom == 0:
        return images.copy()
    scales = _draw_scales(rng, images.shape[0], max_zoom)
    matrices = _identities(len(scales)) / scales[:, None, None]
    return _warp(images, matrices, np.zeros((len(scales), 2)), mode)


def distort(images: ArrayLike, rng: np.random.Generator, strength: float, *,
            sigma: Optional[float] = None, mode: Mode = "constant") -> NDArray[Any]:
    """Apply a small, smooth random elastic distortion to each image.

    A displacement field of white noise smoothed by a Gaussian (Simard et al.,
    2003) moves every pixel by at most `strength` pixels along each axis; the
    image is resampled bilinearly at the displaced positions. Suited to
    handwriting/OCR-like data.

    Parameters
    ----------
    images : array_like, shape (m, H, W) or (m, H, W, C)
    rng : numpy.random.Generator
    strength : float
        Largest displacement in pixels; 0 returns a copy.
    sigma : float, optional
        Smoothness of the field (Gaussian standard deviation in pixels).
        Default ``max(1, min(H, W) / 7)``, about 4 for 28x28 digits.
    mode : {"constant", "nearest", "reflect", "mirror", "wrap"}, default "constant"
        Fill for pixels pulled from outside the image.

    Returns
    -------
    distorted : ndarray, same shape and dtype as `images`
        One field per image, shared by its channels so colours stay aligned.
    """
    images = _check_images(images)
    rng = _check_rng(rng)
    strength = _check_amount(strength, "strength")
    mode = _check_mode(mode)
    m, H, W = images.shape[:3]
    sigma = _default_sigma((H, W)) if sigma is None else _check_amount(sigma, "sigma")
    if strength == 0:
        return images.copy()
    displacement = _draw_displacement(rng, m, (H, W), sigma, strength)
    return _warp(images, _identities(m), np.zeros((m, 2)), mode, displacement)


# --------------------------------------------------------------------------- #
# the object passed to model.fit(augment=...)
# --------------------------------------------------------------------------- #
def _check_image_shape(image_shape: Any) -> Optional[tuple[int, ...]]:
    if image_shape is None:
        return None
    if isinstance(image_shape, (str, bytes)) or not hasattr(image_shape, "__len__"):
        raise TypeError("image_shape must be a tuple (H, W) or (H, W, C)")
    shape = tuple(image_shape)
    if len(shape) not in (2, 3) or not all(
        isinstance(n, Integral) and not isinstance(n, (bool, np.bool_)) and int(n) > 0
        for n in shape
    ):
        raise ValueError(
            f"image_shape must be 2 or 3 positive ints (H, W[, C]), got {image_shape!r}"
        )
    return tuple(int(n) for n in shape)


class Augmentation:
    """Random image augmentation applied to each training batch.

    Pass it to ``model.fit(..., augment=Augmentation(...))``. Every transform is off
    unless you turn it on, because which ones keep a label true depends on the data:
    horizontal flips suit natural images (a cat mirrored is a cat) but not digits or
    text (a mirrored 3 is no digit); small rotations, zooms and crops suit both;
    subtle distortions suit handwriting. With nothing on, a call returns a copy.

    Each call draws, per image and in this order, whether to flip it, a crop offset,
    an angle, a scale factor and a distortion field, from the `rng` it is given (the
    same generator state gives the same batch), and applies them as one map per image:
    a flip, then the crop, rotation, zoom and distortion of the functions of the same
    names, interpolated once (bilinear, zeros from outside the image). The draws are
    those of calling the functions one after another with the same generator; one pass
    blurs less than several, and keeps content that one transform would push out of
    the frame and a later one bring back.

    It keeps scratch arrays of its last batch's size (per thread; a few MB for 128
    28x28 images) so that a batch costs no fresh memory but its output; they are not
    pickled.

    Parameters
    ----------
    image_shape : tuple of int, optional
        (H, W) or (H, W, C) of one image when the model's inputs are flattened
        rows of shape (m, H*W*C). None means inputs already have shape
        (m, H, W) or (m, H, W, C).
    flip : bool, default False
        Flip horizontally (never vertically). Off by default: right for natural
        images only.
    flip_prob : float in [0, 1], optional
        Probability that each image is flipped, with ``flip=True``; default 0.5.
        A positive value needs ``flip=True``.
    crop_padding : int, default 0
        Padding of the random crop (`random_crop`): shifts of up to this many pixels
        along each axis; 0 disables it.
    max_rotation : float, default 0.0
        Largest rotation in degrees (`rotate`); 0 disables it.
    max_zoom : float, default 0.0
        Zoom range (`zoom`); 0 disables it.
    distortion : float, default 0.0
        Largest elastic displacement in pixels (`distort`); 0 disables it.

    Examples
    --------
    Digits, 28x28 flattened: small shifts and turns, no flips.

    >>> aug = Augmentation((28, 28), crop_padding=2, max_rotation=10, max_zoom=0.1)
    >>> aug(np.zeros((5, 784), np.float32), np.random.default_rng(0)).shape
    (5, 784)
    """

    image_shape: Optional[tuple[int, ...]]
    flip: bool
    flip_prob: float
    crop_padding: int
    max_rotation: float
    max_zoom: float
    distortion: float

    def __init__(self, image_shape: Optional[Sequence[int]] = None, *, flip: bool = False,
                 flip_prob: Optional[float] = None, crop_padding: int = 0,
                 max_rotation: float = 0.0, max_zoom: float = 0.0,
                 distortion: float = 0.0) -> None:
        if not isinstance(flip, (bool, np.bool_)):
            raise TypeError(f"flip must be a bool, got {type(flip).__name__}")
        if flip_prob is None:
            flip_prob = 0.5 if flip else 0.0
        flip_prob = _check_amount(flip_prob, "flip_prob")
        if flip_prob > 1:
            raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob!r}")
        if flip_prob > 0 and not flip:
            raise ValueError(f"flip_prob={flip_prob!r} flips nothing: flips are off by "
                             "default (right for natural images, wrong for digits and "
                             "text); pass flip=True to flip")
        self.image_shape = _check_image_shape(image_shape)
        self.flip = bool(flip)
        self.flip_prob = flip_prob
        self.crop_padding = _check_int_amount(crop_padding, "crop_padding")
        self.max_rotation = _check_amount(max_rotation, "max_rotation")
        self.max_zoom = _check_amount(max_zoom, "max_zoom")
        self.distortion = _check_amount(distortion, "distortion")
        self._workspace = _Workspace()

    def __getstate__(self) -> dict[str, Any]:
        # The scratch arrays are a cache (and thread-local): not part of the state.
        return self._settings()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._workspace = _Workspace()

    def _settings(self) -> dict[str, Any]:
        return {
            "image_shape": self.image_shape,
            "flip": self.flip,
            "flip_prob": self.flip_prob,
            "crop_padding": self.crop_padding,
            "max_rotation": self.max_rotation,
            "max_zoom": self.max_zoom,
            "distortion": self.distortion,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self._settings().items())
        return f"Augmentation({args})"

    def _as_images(self, X: NDArray[Any]) -> NDArray[Any]:
        if self.image_shape is None:
            if X.ndim not in (3, 4):
                raise ValueError(
                    f"X must have shape (m, H, W) or (m, H, W, C) when image_shape is "
                    f"None, got {X.shape}; give image_shape for flattened rows"
                )
            return X
        if X.ndim < 2 or np.prod(X.shape[1:]) != np.prod(self.image_shape):
            raise ValueError(
                f"X of shape {X.shape} does not hold images of image_shape "
                f"{self.image_shape}: each row needs {int(np.prod(self.image_shape))} values"
            )
        return X.reshape((X.shape[0],) + self.image_shape)

    def __call__(self, X: ArrayLike, rng: np.random.Generator) -> NDArray[Any]:
        """Return an augmented copy of a batch.

        Parameters
        ----------
        X : array_like, shape (m, H*W*C), (m, H, W) or (m, H, W, C)
            Flattened rows if `image_shape` was given, else images.
        rng : numpy.random.Generator
            Source of every random choice; the same state gives the same output.

        Returns
        -------
        X_aug : ndarray, same shape and dtype as `X`
        """
        X = np.asarray(X)
        rng = _check_rng(rng)
        images = _check_images(self._as_images(X), name="X")
        m, H, W = images.shape[:3]
        flipped = (_draw_flips(rng, m, self.flip_prob) if self.flip and self.flip_prob > 0
                   else None)
        shifts = (_draw_offsets(rng, m, self.crop_padding) if self.crop_padding
                  else np.zeros((m, 2), np.int64))
        if not (self.max_rotation or self.max_zoom or self.distortion):
            if flipped is None and not self.crop_padding:
                return images.copy().reshape(X.shape)
            return _shift_whole_pixels(images, shifts, self.crop_padding,
                                       flipped).reshape(X.shape)
        # Output to source, the last transform first: source = F (R (p + d - c) / s
        # + shift) + c for flip F, rotation R, scale s, crop shift and distortion d.
        matrices = (_rotation_matrices(_draw_angles(rng, m, self.max_rotation))
                    if self.max_rotation else _identities(m))
        if self.max_zoom:
            matrices /= _draw_scales(rng, m, self.max_zoom)[:, None, None]
        displacement = None
        if self.distortion:
            displacement = _draw_displacement(rng, m, (H, W), _default_sigma((H, W)),
                                              self.distortion, self._workspace)
        shifts = shifts.astype(np.float64)
        if flipped is not None:
            matrices[flipped, 1] *= -1
            shifts[flipped, 1] *= -1
        positions = _source_positions(matrices, shifts, (H, W), _work_dtype(images.dtype),
                                      displacement, self._workspace)
        return _resample(images, positions, "constant", self._workspace).reshape(X.shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly settings; `from_dict` rebuilds an equal Augmentation."""
        settings = self._settings()
        if settings["image_shape"] is not None:
            settings["image_shape"] = list(settings["image_shape"])
        return settings

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Augmentation:
        """Rebuild an Augmentation from `to_dict` output.

        Parameters
        ----------
        d : dict
            Keys among ``image_shape, flip, flip_prob, crop_padding,
            max_rotation, max_zoom, distortion``; missing ones take their defaults.

        Returns
        -------
        Augmentation
        """
        if not isinstance(d, dict):
            raise TypeError(f"d must be a dict, got {type(d).__name__}")
        known = {"image_shape", "flip", "flip_prob", "crop_padding", "max_rotation",
                 "max_zoom", "distortion"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"d has unknown Augmentation settings {sorted(unknown)}")
        settings = dict(d)
        image_shape = settings.pop("image_shape", None)
        if image_shape is not None:
            image_shape = tuple(image_shape)
        return cls(image_shape, **settings)
