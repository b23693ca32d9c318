"""Shared hypothesis strategies: small numpy arrays, their axes, window specs.

Sides are small (the oracles are plain loops) and drawn independently, so
non-square shapes are always reachable; 0 is a possible side unless a
strategy says otherwise. Integer values are small, so products and folds
stay exact.
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims=0, max_dims=3, min_side=0, max_side=4):
    """Array shapes with ``min_dims..max_dims`` axes of ``min_side..max_side`` each."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims,
                            min_side=min_side, max_side=max_side)


def int_arrays(shape=None, lo=-9, hi=9, dtype=np.int64, **shape_kw):
    """Integer arrays with values in ``lo..hi``, of ``shape`` (tuple or strategy) or ``shapes``."""
    return hnp.arrays(dtype, shape if shape is not None else shapes(**shape_kw),
                      elements=st.integers(lo, hi))


def float_arrays(shape=None, lo=-10.0, hi=10.0, dtype=np.float64, **shape_kw):
    """Finite float arrays (float64 unless ``dtype`` says) with values in ``[lo, hi]``."""
    width = 32 if np.dtype(dtype) == np.float32 else 64
    elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=width)
    return hnp.arrays(dtype, shape if shape is not None else shapes(**shape_kw),
                      elements=elements)


def axes(ndim):
    """An axis of a rank-``ndim`` array, negative ones included."""
    return st.integers(-ndim, ndim - 1)


@st.composite
def array_and_axis(draw, arrays=None, min_dims=1, max_dims=3, min_side=0, max_side=4):
    """``(a, axis)``: an int array of rank at least 1 and one of its axes."""
    if arrays is None:
        arrays = int_arrays(min_dims=min_dims, max_dims=max_dims,
                            min_side=min_side, max_side=max_side)
    a = draw(arrays)
    return a, draw(axes(a.ndim))


@st.composite
def window_specs(draw, a_shape, valid):
    """``(size, step)`` for the leading axes of ``a_shape``; valid sizes fit the array."""
    d = draw(st.integers(1, len(a_shape)))
    size = tuple(draw(st.integers(1, max(1, a_shape[i]) if valid else 5)) for i in range(d))
    step = tuple(draw(st.integers(1, 3)) for _ in range(d))
    return size, step


def images(frame_dims=1, min_hw=1, max_hw=6, max_channels=3, dtype=np.float64):
    """Images ``frame + (H, W, C)`` with ``frame_dims`` leading (batch) axes of 1 or 2."""
    frame = st.tuples(*[st.integers(1, 2)] * frame_dims)
    hw = st.tuples(st.integers(min_hw, max_hw), st.integers(min_hw, max_hw))
    shape = st.tuples(frame, hw, st.integers(1, max_channels)).map(
        lambda t: t[0] + t[1] + (t[2],))
    return float_arrays(shape, lo=-1.0, hi=1.0, dtype=dtype)
