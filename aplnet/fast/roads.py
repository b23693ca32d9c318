"""Which road a convolution of the fast engine takes: one function, :func:`choose`, decides.

Every convolution of :mod:`aplnet.fast`, forward or backward, is one of
three contractions, each computed by one of four roads:

============  =============================================================
road          how
============  =============================================================
'winograd'    Winograd's F(2×2, 3×3) (:mod:`aplnet.fast.winograd`): 16
              products per 2x2 output tile instead of 36; 3x3 kernels,
              stride 1, float32 or float64.
'rows'        stride 1: the image raveled into rows of pixels, kernel row
              ``a`` of every window a run of ``kw`` rows ``a·W`` further
              on; ``kh`` products per block of rows.
'taps'        the input gradient at stride 1: one product per tap, each
              reading a run of rows of the framed ``dz`` in place.
'windows'     any stride: the windows copied out a block at a time
              (im2col) and multiplied with the kernel as one matrix; the
              input gradient as the correlation of the dilated, framed
              ``dz`` (which then chooses its own road).
============  =============================================================

The contractions (``step``): ``'correlate'``, the valid correlation of an
(already padded) image with a kernel, the forward pass; and the stride-1
gradients, ``'input_gradient'`` and ``'weight_gradient'``. A road that
cannot compute a contraction is never chosen: ``'taps'`` serves only the
input gradient, ``'rows'`` and ``'taps'`` only stride 1.

:func:`using` forces a road (and, for tests, smaller blocks) within a
``with`` block: every contraction takes it where it can and its own
choice elsewhere. The choice is otherwise made from the shapes by
:func:`choose`, by thresholds measured on the U-Net (the history is in
``benchmarks/README.md``).
"""

from __future__ import annotations

import contextlib
import contextvars

import numpy as np

__all__ = ["ROADS", "STEPS", "choose", "using", "block_bytes", "least_tiles"]

ROADS = ("winograd", "rows", "taps", "windows")
STEPS = ("correlate", "input_gradient", "weight_gradient")

BLOCK_BYTES = 4 << 20
"""About how much of the windows (or rows) the convolutions copy out at a
time: enough for each product to run at BLAS speed, little enough for the
copy to stay in cache (the whole im2col matrix of the U-Net's first level
is 750 MB)."""

WINOGRAD_LEAST_TILES_PER_BLOCK = 1024
"""Tiles per block of the Winograd road at least: its 16 products have a
row per tile, and BLAS wants many rows (on the U-Net's deep layers a
block is then the whole image)."""

ROWS_LEAST_CHANNELS = 2
"""Below this many channels a kernel row is too thin a product: the windows road."""

WINOGRAD_LEAST_CHANNELS = 128
"""From this many channels in and out on, a 3x3 stride-1 contraction takes
the Winograd road: its transforms cost per pixel grows with C + K, the
products' with C·K."""

WINOGRAD_LEAST_TILES = 100
"""...and this many 2x2 output tiles per image (an output of 20x20 has
100): on smaller images the kernel's transform costs more than the
products save."""

ROWS_MOST_OVERHANG = 1.2
"""The rows road computes an output for every pixel of the input's grid,
``H·W``, and keeps ``Ho·Wo`` of them: past this ratio (images of about 20
pixels a side or less at 3x3) the forward pass takes the windows road,
which computes the outputs alone (the U-Net's deep layers at 188/16/5:
10–35% faster)."""

TAPS_LEAST_CHANNELS = 256
"""From this many channels of dz on, the input gradient takes one product
per tap: deep enough products for BLAS, and no transposing copy of the kernel."""

_forced = contextvars.ContextVar("aplnet_fast_roads", default={})


@contextlib.contextmanager
def using(road=None, block_bytes=None, least_tiles=None):
    """Within the block, force ``road`` wherever it applies (and blocks of ``block_bytes``).

    Parameters
    ----------
    road : one of :data:`ROADS`, or None for the choice by shapes.
    block_bytes : int, optional
        The block size of the rows, taps and windows roads and of
        Winograd's tile rows (a few bytes splits every image into many
        blocks; for tests).
    least_tiles : int, optional
        Winograd's least tiles per block.

    Examples
    --------
    >>> with using("windows"):
    ...     choose("correlate", (40, 40, 4), (3, 3, 4, 4), 1, np.float64)
    'windows'
    >>> choose("correlate", (40, 40, 4), (3, 3, 4, 4), 1, np.float64)
    'rows'
    >>> with using("taps"):          # taps serve the input gradient only
    ...     choose("correlate", (40, 40, 4), (3, 3, 4, 4), 1, np.float64)
    'rows'
    """
    if road is not None and road not in ROADS:
        raise ValueError(f"using: road must be one of {ROADS} or None; got road={road!r}")
    for name, n in (("block_bytes", block_bytes), ("least_tiles", least_tiles)):
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ValueError(f"using: {name} must be a positive integer; got {name}={n!r}")
    token = _forced.set({"road": road, "block_bytes": block_bytes, "least_tiles": least_tiles})
    try:
        yield
    finally:
        _forced.reset(token)


def block_bytes():
    """The block size in force: :data:`BLOCK_BYTES` unless :func:`using` says otherwise.

    >>> block_bytes() == BLOCK_BYTES
    True
    """
    return _forced.get().get("block_bytes") or BLOCK_BYTES


def least_tiles():
    """Winograd's least tiles per block in force (:data:`WINOGRAD_LEAST_TILES_PER_BLOCK`).

    >>> with using(block_bytes=1, least_tiles=3):
    ...     block_bytes(), least_tiles()
    (1, 3)
    """
    return _forced.get().get("least_tiles") or WINOGRAD_LEAST_TILES_PER_BLOCK


def _winograd_fits(xp_shape, w_shape, stride, dtype):
    dtype = np.dtype(dtype)
    return (tuple(w_shape[:2]) == (3, 3) and stride == 1 and dtype.kind == "f"
            and dtype.itemsize >= 4)


def _winograd_pays(xp_shape, w_shape):
    tiles = -(-(xp_shape[-3] - 2) // 2) * -(-(xp_shape[-2] - 2) // 2)
    return min(w_shape[2:]) >= WINOGRAD_LEAST_CHANNELS and tiles >= WINOGRAD_LEAST_TILES


def _overhang(xp_shape, w_shape):
    """``(H·W) ÷ Ho·Wo``: the rows road's outputs over the valid ones (stride 1)."""
    h, w = xp_shape[-3], xp_shape[-2]
    return h * w / max(1, (h - w_shape[0] + 1) * (w - w_shape[1] + 1))


def _possible(step, xp_shape, w_shape, stride, dtype, empty):
    roads = ["windows"]
    if stride == 1 and not empty:
        roads += ["rows"] + (["taps"] if step == "input_gradient" else [])
        if _winograd_fits(xp_shape, w_shape, stride, dtype):
            roads.append("winograd")
    return roads


def choose(step, xp_shape, w_shape, stride, dtype, empty=False):
    """The road one contraction takes, from its shapes.

    Parameters
    ----------
    step : one of :data:`STEPS`
    xp_shape : the (padded) input's shape ``(…, H, W, C)``.
    w_shape : the kernel's shape ``(kh, kw, C, K)``.
    stride : int, or an (H, W) pair.
    dtype : the computation's dtype.
    empty : whether the input (or ``dz``) holds no pixels.

    Returns
    -------
    str, one of :data:`ROADS`: the forced one if :func:`using` forces one
    that can compute this contraction, else:

    * 'winograd' for a 3x3 float kernel at stride 1 with at least
      :data:`WINOGRAD_LEAST_CHANNELS` channels in and out on at least
      :data:`WINOGRAD_LEAST_TILES` tiles;
    * 'windows' for any other stride, for an empty input, and for fewer
      than :data:`ROWS_LEAST_CHANNELS` channels (of ``x`` forward and for
      the weight gradient; of ``dz`` for both gradients);
    * for the input gradient, 'taps' from :data:`TAPS_LEAST_CHANNELS`
      channels of ``dz`` on;
    * for the forward pass, 'windows' on images small enough that the
      rows road's outputs outnumber the valid ones by more than
      :data:`ROWS_MOST_OVERHANG`;
    * 'rows' otherwise.

    Examples
    --------
    >>> choose("correlate", (1, 572, 572, 1), (3, 3, 1, 64), 1, np.float32)
    'windows'
    >>> choose("input_gradient", (1, 66, 66, 256), (3, 3, 256, 256), 1, np.float32)
    'winograd'
    >>> choose("input_gradient", (1, 12, 12, 256), (3, 3, 256, 256), 1, np.float32)
    'taps'
    >>> choose("weight_gradient", (1, 284, 284, 64), (3, 3, 64, 64), 1, np.float32)
    'rows'
    >>> choose("correlate", (1, 42, 42, 64), (3, 3, 64, 64), 1, np.float32)
    'rows'
    >>> choose("correlate", (1, 8, 8, 128), (3, 3, 128, 256), 1, np.float32)
    'windows'
    """
    if step not in STEPS:
        raise ValueError(f"choose: step must be one of {STEPS}; got step={step!r}")
    stride = stride if isinstance(stride, (int, np.integer)) else (
        stride[0] if stride[0] == stride[1] else 0)
    possible = _possible(step, xp_shape, w_shape, stride, dtype, empty)
    forced = _forced.get().get("road")
    if forced in possible:
        return forced
    c, k = w_shape[2], w_shape[3]
    if "winograd" in possible and _winograd_pays(xp_shape, w_shape):
        return "winograd"
    if "rows" not in possible or (k if step != "correlate" else c) < ROWS_LEAST_CHANNELS:
        return "windows"
    if step == "input_gradient":
        return "taps" if k >= TAPS_LEAST_CHANNELS else "rows"
    if step == "correlate" and _overhang(xp_shape, w_shape) > ROWS_MOST_OVERHANG:
        return "windows"
    if step == "weight_gradient" and c < ROWS_LEAST_CHANNELS:
        return "windows"
    return "rows"
