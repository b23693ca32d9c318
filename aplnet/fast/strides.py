"""The engine's windows: ``{⍵}⌺`` as strided views, made without :func:`aplnet.apl.windows`' checks.

:func:`aplnet.apl.windows` checks its arguments, probes the memory a window
needs and goes through ``sliding_window_view`` and ``moveaxis``: about 30 µs
a call, which a U-Net of the demo's size (92/8/3, a step of a few
milliseconds) made about forty times a step. The engine's callers have
checked their shapes already, so here the same views are written down as
shapes and strides: a few µs. ``tests/test_fast_vs_layers.py`` holds them
to :func:`aplnet.apl.windows` on hypothesis data.
"""

from __future__ import annotations

import numpy as np

__all__ = ["windows_hw", "kernel_rows"]


def windows_hw(x, kh, kw, sh=1, sw=None):
    """The ``(kh, kw)`` windows of the H, W axes of ``x`` every ``(sh, sw)``: ``(…, Ho, Wo, kh, kw, C)``.

    ``{⍵}⌺kh kw`` with the shards trimmed (only whole windows), a read-only
    view of ``x``, no copy. ``x`` is ``(…, H, W, C)`` with ``H >= kh`` and
    ``W >= kw``; ``sw`` defaults to ``sh``.

    >>> x = np.arange(12).reshape(3, 4, 1)
    >>> windows_hw(x, 2, 2, 2)[..., 0].tolist()
    [[[[0, 1], [4, 5]], [[2, 3], [6, 7]]]]
    """
    sw = sh if sw is None else sw
    *frame, h, w, c = x.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    *lead, s_h, s_w, s_c = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (*frame, ho, wo, kh, kw, c), (*lead, s_h * sh, s_w * sw, s_h, s_w, s_c),
        writeable=False)


def kernel_rows(flat, kw):
    """The ``kw``-wide rows ``{,⍵}⌺kw`` of raveled pixels ``(N, C)``: ``(N − kw + 1, kw·C)``, a view.

    Row ``r`` is pixels ``r … r + kw − 1`` side by side; consecutive rows
    overlap. ``flat`` must be C-contiguous (its rows one after another).
    Raveling an image's H and W, pixel ``(i + a, j + b)`` is row
    ``(i·W + j) + a·W + b``: so row ``a`` of the window at ``(i, j)`` is
    row ``i·W + j + a·W`` of the kw-wide rows (the convolutions' rows road).

    >>> kernel_rows(np.arange(8).reshape(4, 2), 3).tolist()
    [[0, 1, 2, 3, 4, 5], [2, 3, 4, 5, 6, 7]]
    """
    n, c = flat.shape
    return np.lib.stride_tricks.as_strided(flat, (n - kw + 1, kw * c), flat.strides,
                                           writeable=False)
