"""Argument checks shared by :mod:`aplnet.layers` and :mod:`aplnet.winograd`.

Each takes the calling function's name and the argument's, and raises an
:mod:`aplnet.apl` error (or a TypeError) that names both, the shape or
dtype received and what was expected.
"""

from __future__ import annotations

import numpy as np

from .apl import DomainError, LengthError, RankError, _array


def _values(x, name, func):
    """``x`` as a real array, dtype kept: complex numbers have no order, no place in an image."""
    x = _array(x, name, func)
    if x.dtype.kind == "c":
        raise TypeError(f"{func}: {name} must hold real numbers; got dtype={x.dtype} "
                        f"(shape {x.shape})")
    return x


def _real(x, name, func):
    """``x`` as a real floating array: integers and booleans promoted to float64."""
    x = _values(x, name, func)
    return x.astype(np.float64) if x.dtype.kind in "biu" else x


def _image(x, name, func, exact=False):
    """``x`` as an array of rank >= 3, read as ``(…, H, W, C)``.

    Promoted by :func:`_real`, unless ``exact`` (a layer that only moves
    values keeps their dtype).
    """
    x = _values(x, name, func) if exact else _real(x, name, func)
    if x.ndim < 3:
        raise RankError(f"{func}: {name} must have shape (…, H, W, C) with at "
                        f"least 3 axes; got {name}.shape={x.shape}")
    return x


def _kernel(w, name, func):
    w = _real(w, name, func)
    if w.ndim != 4:
        raise RankError(f"{func}: {name} must have shape (kh, kw, Cin, Cout); "
                        f"got {name}.shape={w.shape}")
    if min(w.shape) < 1:
        raise DomainError(f"{func}: {name} must have at least one tap and one channel "
                          f"in and out, shape (kh, kw, Cin, Cout) each >= 1; got "
                          f"{name}.shape={w.shape}")
    return w


def _channels_match(x, w, func):
    if w.shape[2] != x.shape[-1]:
        raise LengthError(f"{func}: w.shape[2] (kernel channels) must equal "
                          f"x.shape[-1]; got w.shape={w.shape}, x.shape={x.shape}")
