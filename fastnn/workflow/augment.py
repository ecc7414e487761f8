"""Data augmentation for image batches: flips, random crops, rotations, zooms, distortions."""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Callable, Literal, Optional, Sequence

import numpy as np
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

# Bilinear interpolation: smooth enough for small warps and, unlike cubic
# splines, never overshoots, so integer images need no extra clipping care.
_ORDER = 1
Mode = Literal["constant", "nearest", "reflect", "mirror", "wrap"]
_MODES: tuple[Mode, ...] = ("constant", "nearest", "reflect", "mirror", "wrap")


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


def _warp_each(images: NDArray[Any],
               warp: Callable[[NDArray[Any], int, NDArray[Any]], None]) -> NDArray[Any]:
    """Apply ``warp(image_k, k, out_k)`` to every image into a float buffer."""
    out = np.empty(images.shape, dtype=_work_dtype(images.dtype))
    source = images.astype(out.dtype, copy=False)
    for k in range(images.shape[0]):
        warp(source[k], k, out[k])
    return _restore_dtype(out, images.dtype)


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
    ``[-padding, padding]`` along each axis, with zeros shifted in.

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
    m, H, W = images.shape[:3]
    pad = [(0, 0), (padding, padding), (padding, padding)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, pad)
    offsets = rng.integers(0, 2 * padding + 1, size=(m, 2))
    out = np.empty_like(images)
    for k, (top, left) in enumerate(offsets):
        out[k] = padded[k, top:top + H, left:left + W]
    return out


def rotate(images: ArrayLike, rng: np.random.Generator, max_degrees: float, *,
           mode: Mode = "constant") -> NDArray[Any]:
    """Rotate each image about its centre by a random angle.

    Parameters
    ----------
    images : array_like, shape (m, H, W) or (m, H, W, C)
    rng : numpy.random.Generator
    max_degrees : float
        Angles are drawn uniformly from ``[-max_degrees, max_degrees]``;
        0 returns a copy.
    mode : str, default "constant"
        How pixels from outside the image are filled (``scipy.ndimage`` mode;
        "constant" fills zeros).

    Returns
    -------
    rotated : ndarray, same shape and dtype as `images`
    """
    images = _check_images(images)
    rng = _check_rng(rng)
    max_degrees = _check_amount(max_degrees, "max_degrees")
    mode = _check_mode(mode)
    if max_degrees == 0:
        return images.copy()
    angles = rng.uniform(-max_degrees, max_degrees, size=(images.shape[0],))

    def warp(image: NDArray[Any], k: int, out: NDArray[Any]) -> None:
        ndimage.rotate(image, angles[k], axes=(1, 0), reshape=False, output=out,
                       order=_ORDER, mode=mode)

    return _warp_each(images, warp)


def zoom(images: ArrayLike, rng: np.random.Generator, max_zoom: float, *,
         mode: Mode = "constant") -> NDArray[Any]:
    """Scale each image about its centre by a random factor, keeping its size.

    Equivalent to ``scipy.ndimage.zoom`` followed by a centre crop (zoom in) or a
    centre pad (zoom out), done as one ``affine_transform`` so the centre stays
    exactly in place.

    Parameters
    ----------
    images : array_like, shape (m, H, W) or (m, H, W, C)
    rng : numpy.random.Generator
    max_zoom : float
        Scale factors are drawn log-uniformly from
        ``[1 / (1 + max_zoom), 1 + max_zoom]``, so zooming in and out are
        equally likely; 0 returns a copy.
    mode : str, default "constant"
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
    limit = np.log1p(max_zoom)
    scales = np.exp(rng.uniform(-limit, limit, size=(images.shape[0],)))
    spatial = np.zeros(images.ndim - 1, dtype=bool)
    spatial[:2] = True
    centre = (np.asarray(images.shape[1:], dtype=np.float64) - 1) / 2

    def warp(image: NDArray[Any], k: int, out: NDArray[Any]) -> None:
        # Output pixel p samples the input at centre + (p - centre) / scale;
        # channels (if any) map to themselves.
        inverse = np.where(spatial, 1.0 / scales[k], 1.0)
        offset = np.where(spatial, centre * (1.0 - inverse), 0.0)
        ndimage.affine_transform(image, inverse, offset=offset, output=out,
                                 order=_ORDER, mode=mode)

    return _warp_each(images, warp)


def distort(images: ArrayLike, rng: np.random.Generator, strength: float, *,
            sigma: Optional[float] = None, mode: Mode = "constant") -> NDArray[Any]:
    """Apply a small, smooth random elastic distortion to each image.

    A displacement field of white noise smoothed by a Gaussian (Simard et al.,
    2003) moves every pixel by at most `strength` pixels along each axis; the
    image is resampled with ``scipy.ndimage.map_coordinates``. Suited to
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
    mode : str, default "constant"
        Fill for pixels pulled from outside the image.

    Returns
    -------
    distorted : ndarray, same shape and dtype as `images`
    """
    images = _check_images(images)
    rng = _check_rng(rng)
    strength = _check_amount(strength, "strength")
    mode = _check_mode(mode)
    H, W = images.shape[1:3]
    sigma = max(1.0, min(H, W) / 7) if sigma is None else _check_amount(sigma, "sigma")
    if strength == 0:
        return images.copy()
    grid = np.mgrid[0:H, 0:W].astype(np.float64)

    def warp(image: NDArray[Any], k: int, out: NDArray[Any]) -> None:
        coords = grid + _displacement(rng, (H, W), sigma, strength)
        if image.ndim == 2:
            ndimage.map_coordinates(image, coords, output=out, order=_ORDER, mode=mode)
            return
        # One field for all channels, so colours stay aligned.
        for c in range(image.shape[2]):
            ndimage.map_coordinates(image[:, :, c], coords, output=out[:, :, c],
                                    order=_ORDER, mode=mode)

    return _warp_each(images, warp)


def _displacement(rng: np.random.Generator, shape: tuple[int, int], sigma: float,
                  strength: float) -> NDArray[np.float64]:
    """Smoothed noise field of shape (2, H, W) scaled to a peak of `strength`."""
    field = rng.uniform(-1.0, 1.0, size=(2,) + shape)
    for axis in range(2):
        field[axis] = ndimage.gaussian_filter(field[axis], sigma, mode="reflect")
        peak = np.abs(field[axis]).max()
        if peak > 0:
            field[axis] *= strength / peak
    return field


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

    Pass it to ``model.fit(..., augment=Augmentation(...))``. Each call flips
    a random subset of the images horizontally, then applies the enabled random
    crop, rotation, zoom and distortion, each drawn independently per image.

    Parameters
    ----------
    image_shape : tuple of int, optional
        (H, W) or (H, W, C) of one image when the model's inputs are flattened
        rows of shape (m, H*W*C). None means inputs already have shape
        (m, H, W) or (m, H, W, C).
    flip : bool, default True
        Whether to flip horizontally (never vertically).
    flip_prob : float in [0, 1], default 0.5
        Probability that each image is flipped.
    crop_padding : int, default 0
        Padding of the random crop (`random_crop`); 0 disables it.
    max_rotation : float, default 0.0
        Largest rotation in degrees (`rotate`); 0 disables it.
    max_zoom : float, default 0.0
        Zoom range (`zoom`); 0 disables it.
    distortion : float, default 0.0
        Largest elastic displacement in pixels (`distort`); 0 disables it.
    """

    image_shape: Optional[tuple[int, ...]]
    flip: bool
    flip_prob: float
    crop_padding: int
    max_rotation: float
    max_zoom: float
    distortion: float

    def __init__(self, image_shape: Optional[Sequence[int]] = None, *, flip: bool = True,
                 flip_prob: float = 0.5, crop_padding: int = 0, max_rotation: float = 0.0,
                 max_zoom: float = 0.0, distortion: float = 0.0) -> None:
        if not isinstance(flip, (bool, np.bool_)):
            raise TypeError(f"flip must be a bool, got {type(flip).__name__}")
        flip_prob = _check_amount(flip_prob, "flip_prob")
        if flip_prob > 1:
            raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob!r}")
        self.image_shape = _check_image_shape(image_shape)
        self.flip = bool(flip)
        self.flip_prob = flip_prob
        self.crop_padding = _check_int_amount(crop_padding, "crop_padding")
        self.max_rotation = _check_amount(max_rotation, "max_rotation")
        self.max_zoom = _check_amount(max_zoom, "max_zoom")
        self.distortion = _check_amount(distortion, "distortion")

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
        out = images.copy()
        if self.flip and self.flip_prob > 0:
            chosen = rng.random(out.shape[0]) < self.flip_prob
            out[chosen] = flip_horizontal(out[chosen])
        if self.crop_padding:
            out = random_crop(out, rng, padding=self.crop_padding)
        if self.max_rotation:
            out = rotate(out, rng, self.max_rotation)
        if self.max_zoom:
            out = zoom(out, rng, self.max_zoom)
        if self.distortion:
            out = distort(out, rng, self.distortion)
        return out.reshape(X.shape)

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
