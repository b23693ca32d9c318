"""The argument checks of every layer, shared by :mod:`aplnet.layers` and :mod:`aplnet.fast`.

Each layer makes one call here (``conv_args``, ``pool_args``, …) and gets
its arguments back normalised: arrays as arrays (integers and booleans
promoted to float64 where the layer does arithmetic), counts as ints,
sizes as pairs. Both tiers make the same call, so they refuse the same
input with the same message. Each check takes the calling function's
name and the argument's, and raises an :mod:`aplnet.apl` error (or a
TypeError) that names both, the shape or dtype received and what was
expected.

>>> x, w, b, stride, pad = conv_args(np.ones((4, 4, 1)), np.ones((3, 3, 1, 2)), None, 1, 0, "conv")
>>> conv_args(np.ones((4, 4, 1)), np.ones((3, 3, 2, 2)), None, 1, 0, "conv")
Traceback (most recent call last):
...
aplnet.apl.LengthError: conv: w.shape[2] (kernel channels) must equal x.shape[-1]; got w.shape=(3, 3, 2, 2), x.shape=(4, 4, 1)
"""

from __future__ import annotations

import numbers

import numpy as np

from . import room
from .apl import DomainError, LengthError, RankError, as_array, as_ints

__all__ = [
    "values", "real", "image", "kernel", "channels_match", "count", "bias",
    "same_shape", "same_shape_reals", "nonempty", "fits", "frame",
    "conv_shape", "conv_args", "conv_backward_args", "pool_args", "pool_backward_args",
    "pooled_shape", "upconv_args", "upconv_backward_args", "crop_args",
    "crop_backward_args", "concat_args", "concat_backward_args", "logits",
    "loss_args", "probabilities_args", "planes", "dense_args", "dense_backward_args", "flatten_backward_args",
    "plane_and_kernel", "gaussian_args",
]


# ---------------------------------------------------------------- arrays


def values(x, name, func):
    """``x`` as a real array, dtype kept: complex numbers have no order, no place in an image.

    >>> values(np.array([1, 2]), "x", "relu").dtype
    dtype('int64')
    """
    x = as_array(x, name, func)
    if x.dtype.kind == "c":
        raise TypeError(f"{func}: {name} must hold real numbers; got dtype={x.dtype} "
                        f"(shape {x.shape})")
    return x


def real(x, name, func):
    """``x`` as a real floating array: integers and booleans promoted to float64.

    >>> real([1, 2], "x", "sigmoid")
    array([1., 2.])
    """
    x = values(x, name, func)
    return x.astype(np.float64) if x.dtype.kind in "biu" else x


def image(x, name, func, exact=False):
    """``x`` as an array of rank >= 3, read as ``(…, H, W, C)``.

    Promoted by :func:`real`, unless ``exact`` (a layer that only moves
    values keeps their dtype).

    >>> image(np.zeros((2, 2)), "x", "conv")
    Traceback (most recent call last):
    ...
    aplnet.apl.RankError: conv: x must have shape (…, H, W, C) with at least 3 axes; got x.shape=(2, 2)
    """
    x = values(x, name, func) if exact else real(x, name, func)
    if x.ndim < 3:
        raise RankError(f"{func}: {name} must have shape (…, H, W, C) with at "
                        f"least 3 axes; got {name}.shape={x.shape}")
    return x


def kernel(w, name, func):
    """``w`` as a real ``(kh, kw, Cin, Cout)`` kernel, each axis at least 1.

    >>> kernel(np.ones((3, 3, 1, 1)), "w", "conv").shape
    (3, 3, 1, 1)
    """
    w = real(w, name, func)
    if w.ndim != 4:
        raise RankError(f"{func}: {name} must have shape (kh, kw, Cin, Cout); "
                        f"got {name}.shape={w.shape}")
    if min(w.shape) < 1:
        raise DomainError(f"{func}: {name} must have at least one tap and one channel "
                          f"in and out, shape (kh, kw, Cin, Cout) each >= 1; got "
                          f"{name}.shape={w.shape}")
    return w


def channels_match(x, w, func):
    """Refuse a kernel whose input channels are not the image's.

    >>> channels_match(np.ones((2, 2, 3)), np.ones((1, 1, 3, 5)), "conv")
    """
    if w.shape[2] != x.shape[-1]:
        raise LengthError(f"{func}: w.shape[2] (kernel channels) must equal "
                          f"x.shape[-1]; got w.shape={w.shape}, x.shape={x.shape}")


def count(n, name, func, least):
    """``n`` as an int of at least ``least``.

    >>> count(2, "stride", "conv", 1)
    2
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{func}: {name} must be an integer; got {n!r}")
    if n < least:
        raise DomainError(f"{func}: {name} must be >= {least}; got {name}={n}")
    return int(n)


def bias(b, channels, func):
    """``b`` as a real ``(K,)`` vector, or None.

    >>> bias(None, 3, "conv") is None
    True
    """
    if b is None:
        return None
    b = real(b, "b", func)
    if b.shape != (channels,):
        raise LengthError(f"{func}: b.shape must be (K,) = ({channels},), one "
                          f"bias per output channel; got b.shape={b.shape}")
    return b


def same_shape(a, b, names, func):
    """Refuse two arrays of different shapes, naming both.

    >>> same_shape(np.ones(2), np.ones(2), ("dy", "z"), "relu_backward")
    """
    if a.shape != b.shape:
        raise LengthError(f"{func}: {names[0]}.shape must equal {names[1]}.shape; "
                          f"got {names[0]}.shape={a.shape}, {names[1]}.shape={b.shape}")


def same_shape_reals(a, b, names, func, average=None):
    """Two real arrays of one shape (and the one named ``average`` holding at least one item).

    >>> same_shape_reals([1, 2], [3, 4], ("dy", "y"), "sigmoid_backward")[1]
    array([3., 4.])
    """
    a, b = real(a, names[0], func), real(b, names[1], func)
    same_shape(a, b, names, func)
    if average is not None:
        nonempty(a if average == names[0] else b, average, func)
    return a, b


def nonempty(x, name, func):
    """A mean over no items would be 0/0: refuse it rather than return NaN.

    >>> nonempty(np.ones(1), "y", "mse")
    """
    if x.size == 0:
        raise DomainError(f"{func}: {name} must hold at least one item to average "
                          f"over; got {name}.shape={x.shape}")


def fits(shape, dtype, func, what):
    """Refuse, before allocating it, an array of ``shape`` that memory cannot hold.

    A DomainError naming ``what`` and the bytes needed and free, rather
    than numpy's MemoryError (:func:`aplnet.room.shortfall` probes).

    >>> fits((2 ** 40, 2 ** 40), np.float32, "UNet", "the weights")
    Traceback (most recent call last):
    ...
    aplnet.apl.DomainError: UNet: the weights would have shape (1099511627776, 1099511627776), 4,835,703,278,458,516,698,824,704 bytes; expected at most what numpy can index
    """
    reason = room.shortfall(shape, dtype)
    if reason:
        raise DomainError(f"{func}: {what} {reason}")


def frame(x):
    """The leading axes of an image array, before ``(H, W, C)``.

    >>> frame(np.zeros((2, 5, 4, 4, 1)))
    (2, 5)
    """
    return x.shape[:-3]


# ----------------------------------------------------------- convolution


def _fitting_sizes(n, k, stride):
    """The two sizes nearest ``n`` for which ``(n - k)`` is a multiple of ``stride``."""
    below = n - (n - k) % stride
    return [s for s in (below, below + stride) if s >= k]


def conv_shape(x, w, stride, pad, func):
    """``(Ho, Wo)``, each ``(n + 2·pad − k)/stride + 1``; refuse a kernel that does not fit or tile.

    >>> conv_shape(np.zeros((7, 6, 1)), np.zeros((3, 2, 1, 1)), 2, 0, "conv")
    (3, 3)
    """
    out = []
    for axis, n, k in (("H", x.shape[-3], w.shape[0]), ("W", x.shape[-2], w.shape[1])):
        span = n + 2 * pad - k
        if span < 0:
            raise DomainError(f"{func}: the kernel is larger than the padded image: "
                              f"{axis} + 2·pad = {n} + 2·{pad} = {n + 2 * pad} < {k}; "
                              f"got w.shape={w.shape}, x.shape={x.shape}, pad={pad}")
        if span % stride:
            sizes = " or ".join(str(s - 2 * pad) for s in
                                _fitting_sizes(n + 2 * pad, k, stride) if s > 2 * pad)
            raise DomainError(f"{func}: stride={stride} leaves a non-integer output "
                              f"size: ({axis} + 2·pad − k)/stride = ({n} + 2·{pad} − "
                              f"{k})/{stride} = {span}/{stride}; {axis} = {sizes} "
                              f"would work; got x.shape={x.shape}, w.shape={w.shape}")
        out.append(span // stride + 1)
    return tuple(out)


def _padded_fits(x, pad, func):
    h, w, c = x.shape[-3:]
    fits(frame(x) + (h + 2 * pad, w + 2 * pad, c), x.dtype, func, f"x padded by pad={pad}")


def conv_args(x, w, b, stride, pad, func):
    """The checked arguments of a convolution: ``(x, w, b, stride, pad)``.

    Refuses ranks, channel counts, a bias of the wrong length, a kernel
    larger than the padded image, and a stride that does not tile it.
    """
    x, w = image(x, "x", func), kernel(w, "w", func)
    channels_match(x, w, func)
    b = bias(b, w.shape[3], func)
    stride, pad = count(stride, "stride", func, 1), count(pad, "pad", func, 0)
    conv_shape(x, w, stride, pad, func)
    _padded_fits(x, pad, func)
    return x, w, b, stride, pad


def conv_backward_args(dz, x, w, stride, pad, func):
    """:func:`conv_args` for the gradients, and ``dz`` of the forward output's shape: ``(dz, x, w, stride, pad)``."""
    x, w = image(x, "x", func), kernel(w, "w", func)
    dz = image(dz, "dz", func)
    channels_match(x, w, func)
    stride, pad = count(stride, "stride", func, 1), count(pad, "pad", func, 0)
    want = frame(x) + conv_shape(x, w, stride, pad, func) + (w.shape[3],)
    if dz.shape != want:
        raise LengthError(f"{func}: dz.shape must be the shape of "
                          f"conv(x, w) = {want}; got dz.shape={dz.shape}")
    _padded_fits(x, pad, func)
    return dz, x, w, stride, pad


def upconv_args(x, w, b, func):
    """The checked arguments of an up-convolution: ``(x, w, b)``."""
    x, w = image(x, "x", func), kernel(w, "w", func)
    channels_match(x, w, func)
    return x, w, bias(b, w.shape[3], func)


def upconv_backward_args(dy, x, w, func):
    """The checked arguments of the up-convolution's gradients: ``(dy, x, w)``."""
    x, w = image(x, "x", func), kernel(w, "w", func)
    dy = image(dy, "dy", func)
    channels_match(x, w, func)
    kh, kw, _, k = w.shape
    want = frame(x) + (x.shape[-3] * kh, x.shape[-2] * kw, k)
    if dy.shape != want:
        raise LengthError(f"{func}: dy.shape must be the shape of "
                          f"upconv(x, w) = {want}; got dy.shape={dy.shape}")
    return dy, x, w


# --------------------------------------------------------------- pooling


def _pool_sizes(x, size, stride, func):
    size, stride = count(size, "size", func, 1), count(stride, "stride", func, 1)
    h, w = x.shape[-3], x.shape[-2]
    if size > h or size > w:
        raise DomainError(f"{func}: size={size} is larger than the image's "
                          f"(H, W)=({h}, {w}); x.shape={x.shape}")
    return size, stride


def pooled_shape(x, size, stride):
    """``(…, Ho, Wo, C)`` of max pooling: ``Ho = (H − size)//stride + 1``.

    >>> pooled_shape(np.zeros((5, 4, 3)), 2, 2)
    (2, 2, 3)
    """
    h, w, c = x.shape[-3:]
    return frame(x) + ((h - size) // stride + 1, (w - size) // stride + 1, c)


def pool_args(x, size, stride, func):
    """The checked arguments of max pooling, dtype kept: ``(x, size, stride)``."""
    x = image(x, "x", func, exact=True)
    return (x,) + _pool_sizes(x, size, stride, func)


def pool_backward_args(dy, x, size, stride, func):
    """The checked arguments of max pooling's gradient: ``(dy, x, size, stride)``."""
    x, dy = image(x, "x", func), image(dy, "dy", func)
    size, stride = _pool_sizes(x, size, stride, func)
    want = pooled_shape(x, size, stride)
    if dy.shape != want:
        raise LengthError(f"{func}: dy.shape must be the shape of "
                          f"maxpool(x) = {want}; got dy.shape={dy.shape}")
    return dy, x, size, stride


# --------------------------------------------------------- copy and crop


def _hw(hw, func):
    """``hw`` as two positive ints."""
    try:
        pair = tuple(hw)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(isinstance(n, numbers.Integral) and not
                                 isinstance(n, (bool, np.bool_)) for n in pair):
        raise TypeError(f"{func}: hw must be two integers (h, w); got hw={hw!r}")
    if min(pair) < 1:
        raise DomainError(f"{func}: hw must be positive; got hw={pair}")
    return int(pair[0]), int(pair[1])


def crop_args(x, hw, func):
    """The checked arguments of a centre crop, dtype kept: ``(x, (h, w))``."""
    x = image(x, "x", func, exact=True)
    h, w = _hw(hw, func)
    if h > x.shape[-3] or w > x.shape[-2]:
        raise DomainError(f"{func}: hw={(h, w)} must fit inside x's (H, W)="
                          f"{x.shape[-3:-1]}; got x.shape={x.shape}")
    return x, (h, w)


def crop_backward_args(dy, hw, func):
    """The checked arguments of the crop's gradient, dtype kept: ``(dy, (H, W))``."""
    dy = image(dy, "dy", func, exact=True)
    big = _hw(hw, func)
    fits(frame(dy) + big + dy.shape[-1:], dy.dtype, func, f"the gradient padded to hw={big}")
    small = dy.shape[-3:-1]
    if small[0] > big[0] or small[1] > big[1]:
        raise DomainError(f"{func}: hw={big} must be at least dy's (h, w)="
                          f"{small}; got dy.shape={dy.shape}")
    return dy, big


def concat_args(skip, up, func):
    """The checked arguments of the channel concatenation, dtypes kept: ``(skip, up)``."""
    skip, up = image(skip, "skip", func, True), image(up, "up", func, True)
    if skip.shape[:-1] != up.shape[:-1]:
        raise LengthError(f"{func}: skip and up must agree in all but the channel "
                          f"axis; got skip.shape={skip.shape}, up.shape={up.shape}")
    return skip, up


def concat_backward_args(dy, channels, func):
    """The checked arguments of the concatenation's gradient: ``(dy, channels)``."""
    dy = image(dy, "dy", func, exact=True)
    channels = count(channels, "channels", func, 0)
    if channels > dy.shape[-1]:
        raise DomainError(f"{func}: channels={channels} must be at most "
                          f"dy.shape[-1]={dy.shape[-1]}; got dy.shape={dy.shape}")
    return dy, channels


# ------------------------------------------------------- softmax and loss


def logits(a, func):
    """Real logits ``a`` with a class axis of at least one class.

    >>> logits([[1, 2]], "softmax")
    array([[1., 2.]])
    """
    a = real(a, "a", func)
    if a.ndim < 1 or a.shape[-1] == 0:
        raise RankError(f"{func}: a must have a last axis of at least one class, "
                        f"shape (…, K) with K >= 1; got a.shape={a.shape}")
    return a


def _labels(labels, a, func):
    labels = as_array(labels, "labels", func)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{func}: labels must be integers (class indices); "
                        f"got labels.dtype={labels.dtype}")
    if labels.shape != a.shape[:-1]:
        raise LengthError(f"{func}: labels.shape must be a.shape[:-1] = "
                          f"{a.shape[:-1]} (one class per pixel); got "
                          f"labels.shape={labels.shape}, a.shape={a.shape}")
    classes = a.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise DomainError(f"{func}: labels must lie in [0, classes) = [0, {classes}); "
                          f"got values from {labels.min()} to {labels.max()}")
    return labels


def _weights(weights, labels, dtype, func):
    """A weight map of the labels' shape, finite and non-negative, in the logits' dtype."""
    weights = real(weights, "weights", func)
    if weights.shape != labels.shape:
        raise LengthError(f"{func}: weights.shape must equal labels.shape = "
                          f"{labels.shape}; got weights.shape={weights.shape}")
    bad = weights[~(np.isfinite(weights) & (weights >= 0))]
    if bad.size:
        raise DomainError(f"{func}: weights must be finite and non-negative (a loss "
                          f"weight per pixel); got {bad.size} that are not, the first "
                          f"{bad[0]}")
    return weights.astype(dtype, copy=False)


def loss_args(a, labels, weights, func):
    """The checked arguments of the softmax cross-entropy: ``(a, labels, weights)``.

    ``weights`` is None, or finite and non-negative: a negative weight
    would reward a wrong class, a NaN would poison the whole loss.

    >>> loss_args(np.zeros((1, 2)), np.array([0]), np.array([-1.]), "softmax_cross_entropy")
    Traceback (most recent call last):
    ...
    aplnet.apl.DomainError: softmax_cross_entropy: weights must be finite and non-negative (a loss weight per pixel); got 1 that are not, the first -1.0
    """
    a = logits(a, func)
    labels = _labels(labels, a, func)
    nonempty(labels, "labels", func)
    if weights is not None:
        weights = _weights(weights, labels, a.dtype, func)
    return a, labels, weights


# ------------------------------------------------- the notes' other layers


def probabilities_args(p, y, func):
    """Probabilities strictly inside (0, 1) and targets of their shape: ``(p, y)``."""
    p, y = same_shape_reals(p, y, ("p", "y"), func, average="p")
    if not (np.all(p > 0) and np.all(p < 1)):
        raise DomainError(f"{func}: p must lie in the open interval "
                          f"(0, 1); got values from {p.min()} to {p.max()}; "
                          f"use binary_cross_entropy_with_logits for saturated outputs")
    return p, y


def planes(x, name, func):
    """``x`` as a real array of rank >= 2, read as ``(…, H, W)``."""
    x = real(x, name, func)
    if x.ndim < 2:
        raise RankError(f"{func}: {name} must have shape (…, H, W); "
                        f"got {name}.shape={x.shape}")
    return x


def dense_args(x, w, b, func):
    """The checked arguments of a dense layer: ``(x, w, b)``, x ``(…, N)``, w ``(N, M)``."""
    x, w = real(x, "x", func), real(w, "w", func)
    if x.ndim < 1 or w.ndim != 2:
        raise RankError(f"{func}: x must have shape (…, N) and w shape (N, M); "
                        f"got x.shape={x.shape}, w.shape={w.shape}")
    if x.shape[-1] != w.shape[0]:
        raise LengthError(f"{func}: w.shape[0] must equal x.shape[-1]; got "
                          f"w.shape={w.shape}, x.shape={x.shape}")
    return x, w, bias(b, w.shape[1], func)


def dense_backward_args(dy, x, w, func):
    """The checked arguments of the dense layer's gradients: ``(dy, x, w)``."""
    x, w = real(x, "x", func), real(w, "w", func)
    dy = real(dy, "dy", func)
    if x.ndim < 1 or w.ndim != 2 or x.shape[-1] != w.shape[0]:
        raise LengthError(f"{func}: x must have shape (…, N) and w shape "
                          f"(N, M); got x.shape={x.shape}, w.shape={w.shape}")
    want = x.shape[:-1] + w.shape[1:]
    if dy.shape != want:
        raise LengthError(f"{func}: dy.shape must be the shape of "
                          f"dense(x, w) = {want}; got dy.shape={dy.shape}")
    return dy, x, w


def flatten_backward_args(dy, shape, func):
    """The checked arguments of flatten's gradient: ``(dy, shape)``."""
    dy = values(dy, "dy", func)
    shape = as_ints(shape, "shape", func)
    if any(s < 0 for s in shape):
        raise DomainError(f"{func}: shape must be non-negative; got shape={shape}")
    if len(shape) < 3 or dy.shape != shape[:-3] + (int(np.prod(shape[-3:])),):
        want = shape[:-3] + (int(np.prod(shape[-3:])),) if len(shape) >= 3 else "(…, H·W·C)"
        raise LengthError(f"{func}: dy.shape must be the shape of "
                          f"flatten(x) for x.shape={shape}, i.e. {want}; "
                          f"got dy.shape={dy.shape}")
    return dy, shape


MODES = ("valid", "full", "same")
"""The padding modes of :func:`aplnet.layers.correlate` and ``convolve``."""


def plane_and_kernel(x, k, mode, func):
    """The checked arguments of a 2-D correlation: ``(x, k)``, x ``(…, H, W)``, k ``(kh, kw)``."""
    x, k = real(x, "x", func), real(k, "k", func)
    if x.ndim < 2 or k.ndim != 2:
        raise RankError(f"{func}: x must have shape (…, H, W) and k shape (kh, kw); "
                        f"got x.shape={x.shape}, k.shape={k.shape}")
    if min(k.shape) < 1:
        raise DomainError(f"{func}: k must have at least one row and column; "
                          f"got k.shape={k.shape}")
    if mode not in MODES:
        raise DomainError(f"{func}: mode must be one of {MODES}; got mode={mode!r}")
    if mode == "valid" and (k.shape[0] > x.shape[-2] or k.shape[1] > x.shape[-1]):
        raise DomainError(f"{func}: in valid mode the kernel must fit the image; "
                          f"got k.shape={k.shape}, x.shape={x.shape}")
    return x, k


def gaussian_args(size, sigma, func):
    """The checked arguments of a Gaussian kernel: ``(size, sigma)``."""
    size = count(size, "size", func, 1)
    if isinstance(sigma, (bool, np.bool_)) or not isinstance(sigma, numbers.Real):
        raise TypeError(f"{func}: sigma must be a real number; got sigma={sigma!r}")
    if not np.isfinite(sigma) or sigma <= 0:
        raise DomainError(f"{func}: sigma must be a positive number; got sigma={sigma!r}")
    fits((size, size), np.float64, func, f"the kernel of size={size}")
    return size, sigma
