"""Intensity normalisation: images as stored, brought to the range the network learns in.

Microscopes store 8-bit, 12-bit (in 16-bit words), 16-bit and float images;
a network trained on one scale sees nothing on another. Every image is
therefore normalised, the same way in training and in prediction, by one of
three methods, and the method is stored in the checkpoint so that
``aplnet predict`` applies what training did.

==============  =============================================================
``percentile``  the default, as csbdeep and stardist do: per image and per
                channel, the ``low``-th percentile (1) goes to 0 and the
                ``high``-th (99.8) to 1; a few hot or saturated pixels do not
                set the scale, and a 12-bit image in 16-bit words comes out
                as a 16-bit one does
``range``       integers by their type's range (uint8 by 255, uint16 by
                65535, signed types from their minimum); floats by each
                image's own minimum and maximum
``none``        values as stored, as float32 (data already scaled)
==============  =============================================================

``percentile`` and ``range`` clip the result to [0, 1]. Without clipping a
single outlier (a hot pixel, a float image holding 1e36) would reach the
network at any size; with it, the brightest 0.2% and darkest 1% of pixels
saturate, which moves no boundary between a nucleus and the background. A
percentile range that is empty (a mostly constant image: its 1st and 99.8th
percentiles equal) falls back to the image's minimum and maximum; an image
that is constant in a channel cannot be normalised and is refused by name.

Checkpoints written before normalisation was stored get ``range``: what
their training did to integer files (8-bit by 255, 16-bit by 65535).
"""

from __future__ import annotations

import json
import math

import numpy as np

from .apl import DomainError

__all__ = ["METHODS", "DEFAULT", "LEGACY", "Normalization", "normalize", "bounds", "rescale"]

METHODS = ("percentile", "range", "none")


class Normalization:
    """How images are normalised: a method and, for ``percentile``, its percentiles.

    Parameters
    ----------
    method : {"percentile", "range", "none"}
    low, high : float
        Percentiles mapped to 0 and 1 (``percentile`` only), ``0 <= low < high <= 100``.

    Examples
    --------
    >>> Normalization()
    Normalization('percentile', low=1.0, high=99.8)
    >>> Normalization.from_json(Normalization("range").to_json())
    Normalization('range')
    """

    def __init__(self, method="percentile", low=1.0, high=99.8):
        if method not in METHODS:
            raise DomainError(f"normalize: the method must be one of {', '.join(METHODS)}; "
                              f"got {method!r}")
        for name, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                                 np.floating)):
                raise TypeError(f"normalize: {name} must be a number; got {value!r}")
        if not (0 <= low < high <= 100):
            raise DomainError(f"normalize: need 0 <= low < high <= 100 percentiles; got "
                              f"low={low}, high={high}")
        self.method, self.low, self.high = method, float(low), float(high)

    def __repr__(self):
        if self.method == "percentile":
            return f"Normalization('percentile', low={self.low}, high={self.high})"
        return f"Normalization({self.method!r})"

    def __eq__(self, other):
        return isinstance(other, Normalization) and repr(self) == repr(other)

    def describe(self):
        """One line for the run's log.

        >>> print(Normalization().describe())
        intensities: per image and channel, percentile 1.0 -> 0 and 99.8 -> 1, clipped to [0, 1]
        """
        if self.method == "percentile":
            return (f"intensities: per image and channel, percentile {self.low} -> 0 and "
                    f"{self.high} -> 1, clipped to [0, 1]")
        if self.method == "range":
            return ("intensities: integers by their type's range (8-bit / 255, 16-bit / 65535), "
                    "floats by each image's min..max, clipped to [0, 1]")
        return "intensities: as stored (no normalisation)"

    def to_json(self):
        """The normalisation as a JSON string (stored in checkpoints)."""
        return json.dumps({"method": self.method, "low": self.low, "high": self.high})

    @classmethod
    def from_json(cls, text, source="checkpoint"):
        """The normalisation a JSON string describes; a DomainError naming ``source`` if damaged."""
        try:
            spec = json.loads(text)
            return cls(spec["method"], spec.get("low", 1.0), spec.get("high", 99.8))
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise DomainError(f"{source}: its stored normalisation is damaged "
                              f"({type(err).__name__}: {err})") from None

    def __call__(self, image, name="image"):
        """``image`` normalised; see :func:`normalize`."""
        return normalize(image, self, name)


DEFAULT = Normalization()
LEGACY = Normalization("range")
"""What a checkpoint without a stored normalisation gets."""


def _type_range(dtype):
    info = np.iinfo(dtype)
    return float(info.min), float(info.max)


def normalize(image, how=DEFAULT, name="image"):
    """An image ``(H, W, C)`` as stored, normalised to float32 as ``how`` says.

    Parameters
    ----------
    image : ndarray (H, W, C)
        Integer or float values as read from a file.
    how : Normalization
    name : str
        Names the image (its file) in error messages.

    Returns
    -------
    ndarray of float32, shape (H, W, C)

    Raises
    ------
    DomainError
        NaN or infinite values, or a channel that is constant (its range is
        empty) under ``percentile`` or float ``range``; the message names
        ``name``.

    Examples
    --------
    A 12-bit image in 16-bit words and the same picture in 8 bits come out
    alike; by the type's range the 12-bit one would stay below 0.07:

    >>> twelve = np.array([[160, 800], [2000, 4080]], np.uint16)[..., None]
    >>> eight = (twelve // 16).astype(np.uint8)
    >>> how = Normalization("percentile", low=0, high=100)
    >>> print(normalize(twelve, how)[..., 0].round(3))
    [[0.    0.163]
     [0.469 1.   ]]
    >>> print(normalize(eight, how)[..., 0].round(3))
    [[0.    0.163]
     [0.469 1.   ]]
    >>> print(normalize(twelve, Normalization("range"))[..., 0].round(3))
    [[0.002 0.012]
     [0.031 0.062]]
    """
    image = np.asarray(image)
    return rescale(image, *bounds(image, how, name))


def bounds(image, how=DEFAULT, name="image"):
    """``(lo, hi)``: per channel, the values ``how`` maps to 0 and 1 (None, None for ``none``).

    :func:`normalize` is ``rescale(image, *bounds(image, how))``. The two
    are apart so that an image too large for memory can take its bounds
    from a sample and be rescaled block by block (:mod:`aplnet.lazy`).

    Raises
    ------
    DomainError
        As :func:`normalize`.

    Examples
    --------
    >>> lo, hi = bounds(np.array([[0, 300], [600, 4000]], np.uint16)[..., None],
    ...                 Normalization("percentile", low=0, high=100))
    >>> print(lo, hi)
    [0.] [4000.]
    >>> print(bounds(np.zeros((1, 2, 1), np.uint8), Normalization("range")))
    (array([0.]), array([255.]))
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise DomainError(f"{name}: an image must be (H, W, C); got shape {image.shape}")
    if image.dtype.kind not in "biuf":
        raise DomainError(f"{name}: an image must hold numbers; got dtype {image.dtype}")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise DomainError(f"{name}: the image must be finite; got "
                          f"{int(np.sum(~np.isfinite(image)))} NaN or Inf values")
    if how.method == "none":
        return None, None
    channels = image.shape[-1]
    if how.method == "range" and image.dtype.kind in "iu":
        lo, hi = _type_range(image.dtype)
        return np.full(channels, lo), np.full(channels, hi)
    if image.dtype == bool:
        image = image.astype(np.uint8)
    x = image.astype(np.float64)
    if how.method == "percentile":
        lo, hi = np.percentile(x, [how.low, how.high], axis=(0, 1))
    else:
        lo, hi = x.min(axis=(0, 1)), x.max(axis=(0, 1))
    empty = ~(hi > lo)
    if empty.any():   # a mostly constant channel: fall back to its whole range
        lo = np.where(empty, x.min(axis=(0, 1)), lo)
        hi = np.where(empty, x.max(axis=(0, 1)), hi)
    flat = np.flatnonzero(~(hi > lo))
    if flat.size:
        c = int(flat[0])
        raise DomainError(f"{name}: the image is constant ({_value(lo[c])} everywhere"
                          f"{'' if channels == 1 else f' in channel {c}'}): its intensity "
                          f"range is empty, so it cannot be normalised (leave it out, or use a "
                          f"network trained with --normalize none)")
    return lo, hi


def rescale(image, lo, hi):
    """``image`` with ``lo`` → 0 and ``hi`` → 1 per channel, clipped to [0, 1], float32.

    ``lo`` and ``hi`` None: the values as they are, in float32.

    >>> print(rescale(np.array([[[0], [5], [20]]], np.uint8), np.array([0.]), np.array([10.]))[..., 0])
    [[0.  0.5 1. ]]
    """
    if lo is None:
        return np.asarray(image).astype(np.float32)
    x = np.asarray(image).astype(np.float64)
    return np.clip((x - lo) / (hi - lo), 0, 1).astype(np.float32)


def _value(v):
    return str(int(v)) if math.isfinite(v) and v == int(v) else f"{v:g}"
