"""The fast engine's ReLU, crop and concatenation gradients: in place and as views.

The same functions as :mod:`aplnet.layers` (same arguments, checks and
results), with what the U-Net needs to keep one array fewer per layer: an
``out=`` for the ReLU and its gradient, an ``into=`` for the crop's
gradient, and views where the expressions copy.
"""

from __future__ import annotations

import numpy as np

from .. import checks

__all__ = ["relu", "relu_backward", "crop", "crop_backward", "concat_backward"]


def _out(out, like, func):
    """``out`` if it can hold a result shaped and typed as ``like``; else a ValueError naming it."""
    if out is not None and (not isinstance(out, np.ndarray) or out.shape != like.shape
                            or not np.can_cast(like.dtype, out.dtype, "same_kind")):
        raise ValueError(f"{func}: out must be an array of shape {like.shape} that "
                         f"holds {like.dtype}; got {type(out).__name__} "
                         f"{getattr(out, 'shape', '')} {getattr(out, 'dtype', '')}")
    return out


def relu(z, out=None):
    """Rectifier ``0⌈z``, as :func:`aplnet.layers.relu`; written into ``out`` if given (``out=z`` is fine).

    >>> z = np.array([-2., 0., 3.])
    >>> relu(z, out=z) is z, z
    (True, array([0., 0., 3.]))
    """
    z = checks.values(z, "z", "relu")
    return np.maximum(z, 0, out=_out(out, z, "relu"))


def relu_backward(dy, z, out=None):
    """Gradient of :func:`relu`, ``dy×z>0``, as :func:`aplnet.layers.relu_backward`; into ``out`` if given.

    ``z`` may be the ReLU's input or its output (``y > 0`` is ``z > 0``).

    >>> dy = np.array([5., 5., 5.])
    >>> relu_backward(dy, np.array([-1., 0., 2.]), out=dy) is dy, dy
    (True, array([0., 0., 5.]))
    """
    dy, z = checks.real(dy, "dy", "relu_backward"), checks.values(z, "z", "relu_backward")
    checks.same_shape(dy, z, ("dy", "z"), "relu_backward")
    return np.multiply(dy, z > 0, out=_out(out, dy, "relu_backward"))


def _margins(big, small):
    """The (top, left) offset of a centred ``small`` inside ``big``: ``⌊(big−small)÷2``."""
    return (big[0] - small[0]) // 2, (big[1] - small[1]) // 2


def crop(x, hw):
    """Centre crop to ``hw``, as :func:`aplnet.layers.crop`, but a view of ``x``.

    >>> crop(np.arange(16).reshape(4, 4, 1), (2, 3))[..., 0]
    array([[ 4,  5,  6],
           [ 8,  9, 10]])
    """
    x, (h, w) = checks.crop_args(x, hw, "crop")
    top, left = _margins(x.shape[-3:-1], (h, w))
    return x[..., top:top + h, left:left + w, :]


def crop_backward(dy, hw, into=None):
    """Gradient of :func:`crop`, as :func:`aplnet.layers.crop_backward`; or added into ``into``.

    ``into`` (…, H, W, C), the other gradient of the same activation (in
    the U-Net, what max pooling sent back), takes ``dy`` added to its
    centre in place, and is returned: no zero array is made.

    >>> crop_backward(np.ones((1, 2, 1)), (3, 3))[..., 0]
    array([[0., 0., 0.],
           [1., 1., 0.],
           [0., 0., 0.]])
    >>> crop_backward(np.ones((1, 2, 1)), (3, 3), into=np.full((3, 3, 1), 5.))[..., 0]
    array([[5., 5., 5.],
           [6., 6., 5.],
           [5., 5., 5.]])
    """
    dy, big = checks.crop_backward_args(dy, hw, "crop_backward")
    shape = checks.frame(dy) + big + dy.shape[-1:]
    if into is None:
        into = np.zeros(shape, dy.dtype)
    elif not isinstance(into, np.ndarray) or into.shape != shape:
        raise ValueError(f"crop_backward: into must be an array of shape {shape}; got "
                         f"{type(into).__name__} {getattr(into, 'shape', '')}")
    top, left = _margins(big, dy.shape[-3:-1])
    into[..., top:top + dy.shape[-3], left:left + dy.shape[-2], :] += dy
    return into


def concat_backward(dy, channels):
    """Gradient of the channel concatenation, as :func:`aplnet.layers.concat_backward`, as two views of ``dy``.

    >>> dskip, dup = concat_backward(np.arange(3.).reshape(1, 1, 3), 2)
    >>> dskip, dup
    (array([[[0., 1.]]]), array([[[2.]]]))
    """
    dy, channels = checks.concat_backward_args(dy, channels, "concat_backward")
    return dy[..., :channels], dy[..., channels:]
