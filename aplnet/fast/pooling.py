"""The fast engine's max pooling and its gradient: one pass over a plane per window offset.

The same functions as :func:`aplnet.layers.maxpool` and
:func:`aplnet.layers.maxpool_backward` (same arguments, checks and
results), computed without the ``(s·s)``-fold masks of the expressions.
"""

from __future__ import annotations

import numpy as np

from .. import checks
from . import buffers, strides

__all__ = ["maxpool", "maxpool_backward"]


def maxpool(x, size=2, stride=2):
    """Max pooling, as :func:`aplnet.layers.maxpool`.

    >>> from aplnet import layers
    >>> x = np.arange(30).reshape(5, 6, 1) % 7
    >>> np.array_equal(maxpool(x, 3, 2), layers.maxpool(x, 3, 2))
    True
    """
    x, size, stride = checks.pool_args(x, size, stride, "maxpool")
    if x.size == 0:                      # an empty batch: no windows to read
        return np.zeros(checks.pooled_shape(x, size, stride), x.dtype)
    return _window_max(strides.windows_hw(x, size, size, stride))


def _window_max(win):
    """``⌈/,`` of each window of ``win``, ``(…, Ho, Wo, s, s, C)`` → ``(…, Ho, Wo, C)``.

    Folded one window offset at a time (``s·s`` passes over a plane of
    contiguous channel rows), rather than reducing the short, strided
    window axes.
    """
    top = win[..., 0, 0, :].copy()
    for a in range(win.shape[-3]):
        for b in range(win.shape[-2]):
            if a or b:
                np.maximum(top, win[..., a, b, :], out=top)
    return top



def maxpool_backward(dy, x, size=2, stride=2):
    """Gradient of :func:`maxpool`, as :func:`aplnet.layers.maxpool_backward`: to each window's first maximum.

    >>> x = np.array([[1, 4], [4, 0]], float)[..., None]     # a tie: the first takes it
    >>> maxpool_backward(np.array([[[10.]]]), x)[..., 0]
    array([[ 0., 10.],
           [ 0.,  0.]])
    """
    dy, x, size, stride = checks.pool_backward_args(dy, x, size, stride, "maxpool_backward")
    if x.size == 0:                      # an empty batch: nothing to route
        return np.zeros(x.shape, dy.dtype)
    return _route_to_first_max(dy, strides.windows_hw(x, size, size, stride), x.shape, stride)


def _route_to_first_max(dy, win, shape, stride):
    """``dy`` sent to the first maximum of each window of ``win``, ``(…, Ho, Wo, s, s, C)``.

    The window offsets ``(a, b)`` are visited in row-major order; each takes
    the windows whose maximum it holds and that no earlier offset took
    (``hit←(v=⌈/w)∧~taken``), so a tie goes to the first. One pass over a
    plane per offset, no ``(s·s)``-fold mask. Where windows do not overlap
    (``stride >= size``, the U-Net's pooling) each offset's plane is written
    once, ``dy×hit`` (a negative ``dy`` leaves ``−0`` where it is not hit);
    overlapping windows add.
    """
    *_, ho, wo, size, _, _ = win.shape
    top = _window_max(win)
    taken = buffers.zeros(top.shape, bool)
    hit = buffers.empty(top.shape, bool)
    tiled = stride == size and shape[-3] == ho * size and shape[-2] == wo * size
    dx = np.empty(shape, dy.dtype) if tiled else np.zeros(shape, dy.dtype)
    for a in range(size):
        for b in range(size):
            np.equal(win[..., a, b, :], top, out=hit)
            np.greater(hit, taken, out=hit)                  # hit ∧ ~taken
            taken |= hit
            plane = dx[..., a:a + (ho - 1) * stride + 1:stride, b:b + (wo - 1) * stride + 1:stride, :]
            if stride >= size:
                np.multiply(dy, hit, out=plane)
            else:
                np.add(plane, dy * hit, out=plane)           # 0 + (−0) is +0 where not hit
    return dx
