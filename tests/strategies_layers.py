"""Hypothesis strategies for the layers: images with a frame, kernels, and valid geometries.

Every strategy keeps the arrays small (the naive oracles are loops) and
keeps non-square shapes reachable: H and W, kh and kw, are drawn apart.
Values come from hypothesis (so shrinking and repeated values, i.e. ties,
happen) within a modest range, float64.
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

VALUES = st.floats(-4, 4, allow_nan=False, allow_infinity=False, width=64)

frames = st.lists(st.integers(1, 2), min_size=0, max_size=2).map(tuple)
"""The leading (batch) axes: none, one or two of them."""

frames_or_empty = st.lists(st.integers(0, 2), min_size=0, max_size=2).map(tuple)
"""The same, and frames with no images in them: ``(0,)``, ``(2, 0)``."""


def arrays(shape, elements=VALUES):
    """A float64 array of ``shape`` with hypothesis-drawn values."""
    return hnp.arrays(np.float64, shape, elements=elements)


@st.composite
def sizes_that_fit(draw, kernel, stride, pad, most=3):
    """A side n with ``(n + 2·pad − kernel)`` a non-negative multiple of ``stride``."""
    steps = draw(st.integers(0, most))
    least = max(1, kernel - 2 * pad)
    first = least + (-(least + 2 * pad - kernel)) % stride
    return first + steps * stride


@st.composite
def conv_cases(draw, bias=None, frame_of=frames):
    """``(x, w, b, stride, pad)`` for conv: any kernel, stride, padding and frame."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h = draw(sizes_that_fit(kh, stride, pad))
    w = draw(sizes_that_fit(kw, stride, pad))
    c, k = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    frame = draw(frame_of)
    x = draw(arrays(frame + (h, w, c)))
    kernel = draw(arrays((kh, kw, c, k)))
    with_bias = draw(st.booleans()) if bias is None else bias
    b = draw(arrays((k,))) if with_bias else None
    return x, kernel, b, stride, pad


@st.composite
def pool_cases(draw, frame_of=frames):
    """``(x, size, stride)``: overlapping, tiling and non-tiling pools, ties likely."""
    size, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(size, size + 4)), draw(st.integers(size, size + 4))
    frame = draw(frame_of)
    small = st.integers(-2, 2).map(float)          # few distinct values: ties
    x = draw(arrays(frame + (h, w, draw(st.integers(1, 3))), elements=small | VALUES))
    return x, size, stride


@st.composite
def upconv_cases(draw, bias=None, frame_of=frames):
    """``(x, w, b)`` for up-convolution with any kernel (stride = kernel)."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    frame = draw(frame_of)
    c, k = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x = draw(arrays(frame + (draw(st.integers(1, 3)), draw(st.integers(1, 3)), c)))
    w = draw(arrays((kh, kw, c, k)))
    with_bias = draw(st.booleans()) if bias is None else bias
    b = draw(arrays((k,))) if with_bias else None
    return x, w, b


@st.composite
def crop_cases(draw, frame_of=frames):
    """``(x, hw)`` with hw inside x's (H, W); odd margins included."""
    frame = draw(frame_of)
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    x = draw(arrays(frame + (h, w, draw(st.integers(1, 3)))))
    return x, (draw(st.integers(1, h)), draw(st.integers(1, w)))


@st.composite
def logits_cases(draw, weighted=None):
    """``(a, labels, weights)``: logits (…, K), labels in [0, K), an optional weight map."""
    frame = draw(frames)
    spatial = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    classes = draw(st.integers(1, 4))
    a = draw(arrays(frame + spatial + (classes,),
                    elements=st.floats(-30, 30, allow_nan=False, width=64)))
    labels = draw(hnp.arrays(np.int64, frame + spatial, elements=st.integers(0, classes - 1)))
    with_weights = draw(st.booleans()) if weighted is None else weighted
    weights = draw(arrays(frame + spatial, elements=st.floats(0, 3, width=64))) \
        if with_weights else None
    return a, labels, weights


@st.composite
def planes(draw):
    """``(x, k)``: 2-D images with a frame, and a 2-D kernel that fits them."""
    frame = draw(frames)
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    k = draw(arrays((draw(st.integers(1, min(4, h))), draw(st.integers(1, min(4, w))))))
    return draw(arrays(frame + (h, w))), k


@st.composite
def dense_cases(draw, bias=None):
    """``(x, w, b)``: x (…, N), w (N, M)."""
    frame = draw(frames)
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    with_bias = draw(st.booleans()) if bias is None else bias
    b = draw(arrays((m,))) if with_bias else None
    return draw(arrays(frame + (n,))), draw(arrays((n, m))), b


@st.composite
def images(draw, frame_of=frames):
    """Any small image array (…, H, W, C)."""
    frame = draw(frame_of)
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    return draw(arrays(frame + shape))
