"""Every layer of the notes, forward and backward, as the APL expression that computes it.

Each function is its docstring's APL line written with the combinators of
:mod:`aplnet.apl`: the windows ``{⍵}⌺`` and the inner product ``+.×`` for
the convolutions, ``⊖⌽`` and the dilated, zero-framed ``dz`` for their
input gradient, ``∘.=`` for one-hot labels and for routing the pooling
gradient to the first maximum, take ``↑`` and drop ``↓`` for the crop and
its gradient, catenate ``,`` for the skip connection, and rank ``⍤3``
where the APL lifts a function of one image over the frame. One call to
:mod:`aplnet.checks` validates the arguments; a handful of lines follows.
No loops, no blocks, no thresholds: this is the specification, read beside
the notes; :mod:`aplnet.fast` computes the U-Net's layers faster, to the
same numbers, and :mod:`aplnet.naive` computes them index by index.

Images are channels-last cells ``(H, W, C)``; any leading axes are a frame
(a batch) and every function maps over it, as APL's rank operator would.
Kernels are ``(kh, kw, Cin, Cout)``, the notes' ``W[a,b,c,k]``. Each
forward sits directly above its backward; each has a loop twin of the same
name in :mod:`aplnet.naive`, its oracle. The index letters are the notes':
``x w z dz dx dw``, pixels ``i j``, kernel offsets ``a b``, channels
``c k``. Dtypes follow the inputs (float32 stays float32).

Integer and boolean arrays are promoted to float64, the checking dtype,
by every layer that does arithmetic; the layers that only move, compare
or pick values (:func:`relu`, :func:`maxpool`, :func:`crop`,
:func:`crop_backward`, :func:`concat`, :func:`concat_backward`,
:func:`flatten`, :func:`flatten_backward`) keep the dtype they are given,
so that integer label maps stay integers. Complex and object arrays are
refused with a TypeError everywhere; NaN and inf pass through as numpy
passes them (the training loop is where they are caught).
"""

from __future__ import annotations

import numpy as np

from . import checks
from .apl import catenate, drop, inner, outer, rank, reduce, rot180, take, transpose, windows

__all__ = [
    "conv", "conv_backward", "relu", "relu_backward",
    "maxpool", "maxpool_backward", "upconv", "upconv_backward",
    "crop", "crop_backward", "concat", "concat_backward",
    "softmax", "softmax_cross_entropy",
    "sigmoid", "sigmoid_backward", "softplus", "softplus_backward",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse",
    "dense", "dense_backward", "flatten", "flatten_backward",
    "correlate", "convolve", "gaussian_kernel", "sobel", "sobel_gradient",
]


# ---------------------------------------------------- the shared phrases


def _per_image(f):
    """``f⍤3``: ``f`` applied to each image ``(H, W, C)`` of the frame."""
    return rank(f, 3)


def _ravel_cells(a, r):
    """``,⍤r⊢a``: each rank-``r`` cell raveled into a vector."""
    return a.reshape(a.shape[:a.ndim - r] + (int(np.prod(a.shape[a.ndim - r:])),))


def _rows(a):
    """``((×/¯1↓⍴a),¯1↑⍴a)⍴a``: the items of the last axis as the rows of a matrix."""
    return a.reshape(int(np.prod(a.shape[:-1])), a.shape[-1])


def _windows(x, kh, kw, stride):
    """``{⍵}⌺kh kw⍤3⊢x``, the shards trimmed: ``(…, Ho, Wo, kh, kw, C)``."""
    return _per_image(lambda image: windows(image, (kh, kw), stride))(x)


def _framed(x, before, after):
    """``(n+b+a)↑(-n+b)↑x`` on H and W of each image: zeros ``before`` and ``after``."""
    def frame(image):
        h, w = image.shape[:2]
        return take(take(image, (-(h + before[0]), -(w + before[1]))),
                    (h + before[0] + after[0], w + before[1] + after[1]))
    return _per_image(frame)(x)


def _cut(x, top_left, hw):
    """``hw↑top_left↓x`` on H and W of each image."""
    return _per_image(lambda image: take(drop(image, top_left), hw))(x)


def _swap_kh_w(n):
    """``1 3 2 4 5⍉`` behind a frame of ``n`` axes: the axes (H, W, kh, kw, K) as (H, kh, W, kw, K)."""
    return tuple(range(n)) + tuple(n + np.array([0, 2, 1, 3, 4]))


def _laid_out(blocks):
    """Blocks ``(…, H, W, kh, kw, K)`` side by side: ``((H×kh),(W×kw),K)⍴1 3 2 4 5⍉blocks``."""
    *frame, h, w, kh, kw, k = blocks.shape
    return transpose(blocks, _swap_kh_w(len(frame))).reshape((*frame, h * kh, w * kw, k))


def _blocks(y, kh, kw):
    """The ``kh×kw`` blocks of ``y``, the inverse of :func:`_laid_out`: ``1 3 2 4 5⍉(H,kh,W,kw,K)⍴y``."""
    *frame, h, w, k = y.shape
    return transpose(y.reshape((*frame, h // kh, kh, w // kw, kw, k)), _swap_kh_w(len(frame)))


def _spread(dz, s):
    """``dz`` with ``s−1`` zeros between its pixels: each pixel's block ``dz∘.×s s↑1``, laid out, ``(1−s)↓``."""
    one = take(np.ones((1, 1), dz.dtype), (s, s))
    blocks = np.moveaxis(outer(np.multiply, dz, one), -3, -1)        # (…, Ho, Wo, s, s, K)
    return _cut(_laid_out(blocks), (0, 0), ((dz.shape[-3] - 1) * s + 1, (dz.shape[-2] - 1) * s + 1))


def _correlate(xp, w, stride):
    """Valid correlation ``(,⍤3⊢{⍵}⌺kh kw⍤3⊢xp)+.×((×/3↑⍴w),¯1↑⍴w)⍴w``."""
    kh, kw, c, k = w.shape
    return inner(np.add, np.multiply, _ravel_cells(_windows(xp, kh, kw, stride), 3),
                 w.reshape(kh * kw * c, k))


def _correlate_adjoint(dz, w, stride, hw):
    """The input gradient of :func:`_correlate` for an input of ``hw``: the full correlation of
    the dilated ``dz`` with ``⊖⌽w``, channels swapped; rows and columns no window read get 0."""
    kh, kw = w.shape[:2]
    framed = _framed(_spread(dz, stride), (kh - 1, kw - 1), (kh - 1, kw - 1))
    covered = _correlate(framed, transpose(rot180(w), (0, 1, 3, 2)), 1)
    return _per_image(lambda image: take(image, hw))(covered)


# ------------------------------------------------------------ convolution


def conv(x, w, b=None, stride=1, pad=0):
    """Convolution layer: cross-correlation ``{+/,w×⍵}⌺(⍴w)`` with the shards trimmed.

    APL     z←(,⍤3⊢1 1 0 0 0↓¯1 ¯1 0 0 0↓{⍵}⌺3 3⊢x)+.×((×/3↑⍴w),¯1↑⍴w)⍴w
    Index   z[i,j,k] = b[k] + Σ_abc xp[i·s+a, j·s+b, c] × w[a,b,c,k]
    Oracle  naive.conv

    (the APL line is the 3x3, stride 1 case; ``xp`` is ``x`` zero-padded by
    ``pad`` on each side of H and W.) Any kernel size, stride and padding.

    Parameters
    ----------
    x : array (…, H, W, C)
    w : array (kh, kw, C, K)
    b : array (K,), optional
    stride : int >= 1
    pad : int >= 0, zero cells added on each side of H and W.

    Returns
    -------
    z : array (…, Ho, Wo, K), ``Ho = (H + 2·pad − kh)/stride + 1`` (likewise Wo).

    Raises
    ------
    RankError
        ``x`` has fewer than 3 axes, or ``w`` is not 4-D.
    LengthError
        ``w.shape[2] != x.shape[-1]``, or ``b.shape != (K,)``.
    DomainError
        The kernel is larger than the padded image, or ``stride`` does not
        divide ``H + 2·pad − kh`` (the message names the sizes that would).

    See Also
    --------
    naive.conv : the loop oracle.
    conv_backward : its gradients.

    Examples
    --------
    Note 004's worked case, one channel in and out:

    >>> x = np.array([[1, 6, 2], [5, 3, 1], [7, 0, 4]], float)[..., None]
    >>> w = np.array([[1, 2], [-1, 0]], float)[..., None, None]
    >>> conv(x, w)[..., 0]
    array([[8., 7.],
           [4., 5.]])
    >>> conv(x, w, pad=1)[..., 0]                  # pad kh-1: 004's full case
    array([[ 0., -1., -6., -2.],
           [ 2.,  8.,  7.,  1.],
           [10.,  4.,  5., -3.],
           [14.,  7.,  8.,  4.]])
    >>> conv(x, w, b=np.array([10.]), pad=1, stride=3)[..., 0]
    array([[10.,  8.],
           [24., 14.]])
    """
    x, w, b, stride, pad = checks.conv_args(x, w, b, stride, pad, "conv")
    z = _correlate(_framed(x, (pad, pad), (pad, pad)), w, stride)
    return z if b is None else z + b


def conv_backward(dz, x, w, stride=1, pad=0):
    """Gradients of :func:`conv`: ``dx`` a full correlation with ``⊖⌽w``, ``dw`` windows ``+.×`` dz.

    APL     v←1 1 0 0 0↓¯1 ¯1 0 0 0↓{⍵}⌺3 3⊢x ⋄ n←×/2↑⍴dz
            dw←(3 3,(¯1↑⍴x),¯1↑⍴dz)⍴(⍉(n,×/2↓⍴v)⍴v)+.×(n,¯1↑⍴dz)⍴dz
            p←(4 4 0+⍴dz)↑(-2 2 0+⍴dz)↑dz
            dx←(,⍤3⊢1 1 0 0 0↓¯1 ¯1 0 0 0↓{⍵}⌺3 3⊢p)+.×((×/(2↑⍴w),¯1↑⍴w),3⊃⍴w)⍴1 2 4 3⍉⊖⊖⍤3⊢w
            db←+⌿+⌿dz
    Index   dw[a,b,c,k] = Σ_ij dz[i,j,k] × xp[i·s+a, j·s+b, c]
            dx[i,j,c]   = Σ_k Σ_ab dz[(i−a)/s, (j−b)/s, k] × w[a,b,c,k]
            db[k]       = Σ_ij dz[i,j,k]
    Oracle  naive.conv_backward

    (the APL lines are the 3x3, stride 1, unpadded case; ``dx``'s sum runs
    over the terms whose indices are whole and inside ``dz``, in padded
    coordinates.)

    In the notes' words (000, 001, 004): ``dW = conv(X, dZ)``, the
    windows of ``x`` against ``dz`` summed over the frame and the pixels;
    ``dX = dZ ⋆_full rot180(W)``, i.e. :func:`conv` of ``dz`` (zero-dilated by
    the stride and padded by ``kh − 1, kw − 1``) with ``rot180(w)`` with its
    two channel axes swapped; the padding of the forward pass is then cut off.

    Parameters
    ----------
    dz : array (…, Ho, Wo, K), the gradient of the loss with respect to z.
    x : array (…, H, W, C), the forward input.
    w : array (kh, kw, C, K)
    stride, pad : as in :func:`conv`.

    Returns
    -------
    dx : array (…, H, W, C)
    dw : array (kh, kw, C, K)
    db : array (K,), always returned (ignore it for a layer without bias).

    Raises
    ------
    As :func:`conv`, and LengthError when ``dz`` is not the shape of ``z``.

    See Also
    --------
    naive.conv_backward : the loop oracle.

    Examples
    --------
    Note 004: the input gradient of a valid correlation is the full
    correlation of ``dz`` with the kernel turned by 180°.

    >>> x = np.zeros((3, 3, 1))
    >>> w = np.array([[1, 2], [-1, 0]], float)[..., None, None]
    >>> dz = np.array([[1, 0], [0, 0]], float)[..., None]
    >>> dx, dw, db = conv_backward(dz, x, w)
    >>> dx[..., 0]
    array([[ 1.,  2.,  0.],
           [-1.,  0.,  0.],
           [ 0.,  0.,  0.]])
    >>> print(db)
    [1.]
    """
    dz, x, w, stride, pad = checks.conv_backward_args(dz, x, w, stride, pad, "conv_backward")
    kh, kw = w.shape[:2]
    xp = _framed(x, (pad, pad), (pad, pad))
    v = _rows(_ravel_cells(_windows(xp, kh, kw, stride), 3))
    dw = inner(np.add, np.multiply, transpose(v), _rows(dz)).reshape(w.shape)
    dxp = _correlate_adjoint(dz, w, stride, xp.shape[-3:-1])
    return _cut(dxp, (pad, pad), x.shape[-3:-1]), dw, reduce(np.add, _rows(dz), axis=0)


# ------------------------------------------------------------------ ReLU


def relu(z):
    """Rectifier ``0⌈z``.

    APL     y←0⌈z
    Index   y[…] = max(0, z[…])
    Oracle  naive.relu

    >>> relu(np.array([-2, 0, 3]))
    array([0, 0, 3])
    """
    return np.maximum(0, checks.values(z, "z", "relu"))


def relu_backward(dy, z):
    """Gradient of :func:`relu`: ``dy×z>0`` (0 at the kink ``z = 0``).

    APL     dz←dy×z>0
    Index   dz[…] = dy[…] × (z[…] > 0)
    Oracle  naive.relu_backward

    >>> relu_backward(np.array([5., 5., 5.]), np.array([-1., 0., 2.]))
    array([0., 0., 5.])
    """
    dy, z = checks.real(dy, "dy", "relu_backward"), checks.values(z, "z", "relu_backward")
    checks.same_shape(dy, z, ("dy", "z"), "relu_backward")
    return dy * (z > 0)


# --------------------------------------------------------------- max pool


def maxpool(x, size=2, stride=2):
    """Max pooling ``⌈/`` of each ``size×size`` window, every ``stride`` pixels.

    APL     h2←.5×1⊃⍴x ⋄ w2←.5×2⊃⍴x ⋄ y←⌈/⌈/1 4 2 5 3⍉(h2,2,w2,2,¯1↑⍴x)⍴x
    Index   y[i,j,c] = max_ab x[i·s+a, j·s+b, c]
    Oracle  naive.maxpool

    (the APL line is the 2x2, stride 2 case.) Only whole windows are
    pooled: ``Ho = (H − size)//stride + 1``, so when
    the stride does not tile the image the last rows and columns that do
    not fill a window are left out (and get no gradient).

    Parameters
    ----------
    x : array (…, H, W, C)
    size, stride : int >= 1

    Returns
    -------
    y : array (…, Ho, Wo, C)

    See Also
    --------
    naive.maxpool : the loop oracle.
    maxpool_backward : routes the gradient to each window's maximum.

    Examples
    --------
    >>> x = np.array([[1, 2, 5, 0], [3, 4, 1, 1], [0, 0, 2, 2], [7, 0, 2, 2]])[..., None]
    >>> maxpool(x)[..., 0]
    array([[4, 5],
           [7, 2]])
    """
    x, size, stride = checks.pool_args(x, size, stride, "maxpool")
    return reduce(np.maximum, reduce(np.maximum, _windows(x, size, size, stride), axis=-3), axis=-2)


def maxpool_backward(dy, x, size=2, stride=2):
    """Gradient of :func:`maxpool`: each ``dy`` goes to its window's first maximum.

    APL     h2←.5×1⊃⍴x ⋄ w2←.5×2⊃⍴x ⋄ m←(h2,w2,(¯1↑⍴x),4)⍴1 4 2 5 3⍉(h2,2,w2,2,¯1↑⍴x)⍴x
            r←(({⍵⍳⌈/⍵}⍤1⊢m)∘.=⍳4)×⍤1 0⊢dy ⋄ dx←(⍴x)⍴1 3 5 2 4⍉(h2,w2,(¯1↑⍴x),2 2)⍴r
    Index   dx[i·s+a, j·s+b, c] += dy[i,j,c]  where (a,b) is the first
            argmax of the window (i,j,c) in row-major order
    Oracle  naive.maxpool_backward

    (the APL line is the 2x2, stride 2 case; ``⍳`` finds the first
    maximum.) For any size and stride the routed values ``r`` go back onto
    the image by the windows' adjoint: the windows are the correlation
    with the identity kernel ``∘.=⍨⍳s×s×C``, so ``r`` is laid back by that
    correlation's input gradient, which adds where windows overlap and is
    the APL's transpose and reshape when they tile. (A NaN or inf in
    ``dy`` reaches the whole window there, through the zeros of the
    identity; :mod:`aplnet.fast` keeps it at the maximum and, through
    ``dy×hit``, puts NaN on the window's other pixels.)
    Ties are the rule in small windows, so they are defined: the first
    maximum in row-major order takes the whole gradient (PyTorch's rule).
    Overlapping windows (``stride < size``) add their gradients.

    Parameters
    ----------
    dy : array (…, Ho, Wo, C)
    x : array (…, H, W, C), the forward input.
    size, stride : as in :func:`maxpool`.

    Returns
    -------
    dx : array (…, H, W, C)

    Examples
    --------
    >>> x = np.array([[1, 4], [4, 0]], float)[..., None]
    >>> maxpool_backward(np.array([[[10.]]]), x)[..., 0]
    array([[ 0., 10.],
           [ 0.,  0.]])
    """
    dy, x, size, stride = checks.pool_backward_args(dy, x, size, stride, "maxpool_backward")
    c = x.shape[-1]
    m = _ravel_cells(np.moveaxis(_windows(x, size, size, stride), -1, -3), 2)  # (…, Ho, Wo, C, s·s)
    first = np.argmax(m == reduce(np.maximum, m)[..., None], axis=-1)       # {⍵⍳⌈/⍵}⍤1
    routed = outer(np.equal, first, np.arange(size * size)) * dy[..., None]
    picks = _ravel_cells(np.moveaxis(routed, -2, -1), 2)                     # (…, Ho, Wo, s·s·C)
    identity = outer(np.equal, np.arange(size * size * c), np.arange(size * size * c))
    return _correlate_adjoint(picks, identity.reshape(size, size, c, -1).astype(dy.dtype),
                              stride, x.shape[-3:-1])


# ---------------------------------------------------------------- up-conv


def upconv(x, w, b=None):
    """Up-convolution: transposed convolution, stride = kernel size (the U-Net's 2x2, 2).

    APL     y←((2×2↑⍴x),¯1↑⍴w)⍴1 3 2 4 5⍉x+.×2 3 1 4⍉w
    Index   y[i·kh+a, j·kw+b, k] = b[k] + Σ_c x[i,j,c] × w[a,b,c,k]
    Oracle  naive.upconv

    (the APL line is the 2x2 case.) Each input pixel paints a ``kh×kw``
    block of the output, its channel vector ``+.×`` the kernel; the blocks do
    not overlap, so laying them out is a transpose and a reshape.

    Parameters
    ----------
    x : array (…, H, W, C)
    w : array (kh, kw, C, K)
    b : array (K,), optional

    Returns
    -------
    y : array (…, H·kh, W·kw, K)

    Raises
    ------
    RankError, LengthError
        As :func:`conv`.

    See Also
    --------
    naive.upconv : the loop oracle.
    upconv_backward : its gradients.

    Examples
    --------
    >>> x = np.array([[1, 2]], float)[..., None]
    >>> w = np.array([[1, 2], [3, 4]], float)[..., None, None]
    >>> upconv(x, w)[..., 0]
    array([[1., 2., 2., 4.],
           [3., 4., 6., 8.]])
    """
    x, w, b = checks.upconv_args(x, w, b, "upconv")
    y = _laid_out(inner(np.add, np.multiply, x, transpose(w, (1, 2, 0, 3))))
    return y if b is None else y + b


def upconv_backward(dy, x, w):
    """Gradients of :func:`upconv`: the blocks of ``dy`` are its windows with stride = size.

    APL     v←1 3 2 4 5⍉((1⊃⍴x),2,(2⊃⍴x),2,¯1↑⍴w)⍴dy ⋄ n←×/2↑⍴x
            dx←(,⍤3⊢v)+.×((4×¯1↑⍴w),3⊃⍴w)⍴1 2 4 3⍉w
            dw←3 1 2 4⍉((3⊃⍴w),2 2,¯1↑⍴w)⍴(⍉(n,3⊃⍴w)⍴x)+.×(n,4×¯1↑⍴w)⍴v
            db←+⌿+⌿dy
    Index   dx[i,j,c]   = Σ_abk dy[i·kh+a, j·kw+b, k] × w[a,b,c,k]
            dw[a,b,c,k] = Σ_ij x[i,j,c] × dy[i·kh+a, j·kw+b, k]
            db[k]       = Σ_ij dy[i,j,k]
    Oracle  naive.upconv_backward

    ``dx`` is the stride-``(kh, kw)`` valid correlation of ``dy`` with ``w``
    (channels swapped): up-convolution's adjoint is a strided convolution.
    ``dw`` pairs each input pixel with the block it painted. The blocks
    ``v`` do not overlap: they are copied out once, and both gradients are
    one matrix product with them.

    Parameters
    ----------
    dy : array (…, H·kh, W·kw, K)
    x : array (…, H, W, C), the forward input.
    w : array (kh, kw, C, K)

    Returns
    -------
    dx : array (…, H, W, C)
    dw : array (kh, kw, C, K)
    db : array (K,)

    See Also
    --------
    naive.upconv_backward : the loop oracle.

    Examples
    --------
    >>> x = np.array([[1, 2]], float)[..., None]
    >>> w = np.array([[1, 2], [3, 4]], float)[..., None, None]
    >>> dx, dw, db = upconv_backward(np.ones((2, 4, 1)), x, w)
    >>> dx[..., 0]
    array([[10., 10.]])
    >>> dw[..., 0, 0]
    array([[3., 3.],
           [3., 3.]])
    >>> print(db)
    [8.]
    """
    dy, x, w = checks.upconv_backward_args(dy, x, w, "upconv_backward")
    kh, kw, c, k = w.shape
    v = _ravel_cells(_blocks(dy, kh, kw), 3)                                # (…, H, W, kh·kw·K)
    dx = inner(np.add, np.multiply, v, transpose(w, (0, 1, 3, 2)).reshape(kh * kw * k, c))
    dw = inner(np.add, np.multiply, transpose(_rows(x)), _rows(v)).reshape(c, kh, kw, k)
    return dx, transpose(dw, (2, 0, 1, 3)), reduce(np.add, _rows(dy), axis=0)


# --------------------------------------------------------- copy and crop


def crop(x, hw):
    """Centre crop ("copy and crop") of H and W to ``hw``: ``h w↑t l↓x``.

    APL     y←(hw,¯1↑⍴x)↑((⌊.5×(2↑⍴x)-hw),0)↓x
    Index   y[i,j,c] = x[i+t, j+l, c],  t = ⌊(H−h)/2⌋, l = ⌊(W−w)/2⌋
    Oracle  naive.crop

    When ``H − h`` is odd the extra row is cut from the bottom (the top
    margin is rounded down), and likewise the extra column from the right.

    Parameters
    ----------
    x : array (…, H, W, C)
    hw : (h, w), with h <= H and w <= W.

    Returns
    -------
    y : array (…, h, w, C), a view of ``x``.

    Raises
    ------
    DomainError
        ``hw`` is larger than ``x``'s ``(H, W)``.

    See Also
    --------
    naive.crop : the loop oracle.
    crop_backward : pads the gradient back.

    Examples
    --------
    >>> x = np.arange(16).reshape(4, 4, 1)
    >>> crop(x, (2, 3))[..., 0]
    array([[ 4,  5,  6],
           [ 8,  9, 10]])
    """
    x, hw = checks.crop_args(x, hw, "crop")
    return _cut(x, ((x.shape[-3] - hw[0]) // 2, (x.shape[-2] - hw[1]) // 2), hw)


def crop_backward(dy, hw):
    """Gradient of :func:`crop`: ``dy`` zero-padded back to ``hw = (H, W)``, ``H W↑(-h w+t l)↑dy``.

    APL     dx←(hw,¯1↑⍴dy)↑(-((⌊.5×hw-2↑⍴dy)+2↑⍴dy),¯1↑⍴dy)↑dy
    Index   dx[i+t, j+l, c] = dy[i,j,c], 0 elsewhere (t, l as in crop)
    Oracle  naive.crop_backward

    Parameters
    ----------
    dy : array (…, h, w, C)
    hw : (H, W), the spatial size of the cropped input.

    Returns
    -------
    dx : array (…, H, W, C)

    Examples
    --------
    >>> crop_backward(np.ones((1, 2, 1)), (3, 3))[..., 0]
    array([[0., 0., 0.],
           [1., 1., 0.],
           [0., 0., 0.]])
    """
    dy, hw = checks.crop_backward_args(dy, hw, "crop_backward")
    h, w = dy.shape[-3:-1]
    top, left = (hw[0] - h) // 2, (hw[1] - w) // 2
    return _per_image(lambda image: take(take(image, (-(top + h), -(left + w))), hw))(dy)


def concat(skip, up):
    """Channel concatenation ``skip,up`` (APL's ``,`` joins along the last axis).

    APL     y←skip,up
    Index   y[i,j,c] = skip[i,j,c] for c < C1, up[i,j,c−C1] after
    Oracle  naive.concat

    Parameters
    ----------
    skip : array (…, H, W, C1), the copied (and cropped) encoder map.
    up : array (…, H, W, C2), the up-convolved decoder map.

    Returns
    -------
    y : array (…, H, W, C1+C2)

    Raises
    ------
    LengthError
        The arrays differ in anything but the channel axis.

    Examples
    --------
    >>> concat(np.zeros((1, 1, 2)), np.ones((1, 1, 1)))
    array([[[0., 0., 1.]]])
    """
    skip, up = checks.concat_args(skip, up, "concat")
    return catenate(skip, up, axis=-1)


def concat_backward(dy, channels):
    """Gradient of :func:`concat`: the split ``(channels↑⍤1⊢dy)(channels↓⍤1⊢dy)``.

    APL     dskip←channels↑⍤1⊢dy ⋄ dup←channels↓⍤1⊢dy
    Index   dskip[i,j,c] = dy[i,j,c], dup[i,j,c] = dy[i,j,C1+c]
    Oracle  naive.concat_backward

    Parameters
    ----------
    dy : array (…, H, W, C1+C2)
    channels : int, C1, the channel count of ``skip``.

    Returns
    -------
    dskip : array (…, H, W, C1), a view of ``dy``.
    dup : array (…, H, W, C2), a view of ``dy``.

    Examples
    --------
    >>> dskip, dup = concat_backward(np.arange(3.).reshape(1, 1, 3), 2)
    >>> dskip, dup
    (array([[[0., 1.]]]), array([[[2.]]]))
    """
    dy, channels = checks.concat_backward_args(dy, channels, "concat_backward")
    frame = dy.shape[:-1]                       # taken whole: the ⍤1
    return take(dy, frame + (channels,)), drop(dy, (0,) * len(frame) + (channels,))


# ------------------------------------------------------- softmax and loss


def _log_softmax(a):
    """``⍵-(⌈/⍵)+⍟+/*⍵-⌈/⍵`` over the last axis: log-sum-exp, finite for any logits."""
    shifted = a - reduce(np.maximum, a)[..., None]
    return shifted - np.log(reduce(np.add, np.exp(shifted)))[..., None]


def softmax(a):
    """Softmax over the last axis ``{e÷+/e←*⍵-⌈/⍵}⍤1``: p_k = exp(a_k) / Σ exp(a_k').

    APL     p←{e÷+/e←*⍵-⌈/⍵}⍤1⊢a
    Index   p[…,k] = exp(a[…,k] − m) / Σ_k' exp(a[…,k'] − m),  m = max_k a[…,k]
    Oracle  naive.softmax

    Subtracting the maximum first keeps ``exp`` finite for any logits.

    Parameters
    ----------
    a : array (…, K), logits.

    Returns
    -------
    p : array (…, K), each row summing to 1.

    Examples
    --------
    >>> softmax(np.array([1000., 1000.]))
    array([0.5, 0.5])
    >>> softmax(np.log([[1., 3.]]))
    array([[0.25, 0.75]])
    """
    a = checks.logits(a, "softmax")
    e = np.exp(a - reduce(np.maximum, a)[..., None])
    return e / reduce(np.add, e)[..., None]


def softmax_cross_entropy(a, labels, weights=None):
    """Pixel-wise softmax cross-entropy with an optional weight map, and its gradient.

    APL     lp←{⍵-(⌈/⍵)+⍟+/*⍵-⌈/⍵}⍤1⊢a ⋄ y←labels∘.=¯1+⍳⊢/⍴a
            loss←-(+/,weights×+/y×lp)÷×/⍴labels
            da←(weights×⍤0 1⊢(*lp)-y)÷×/⍴labels
    Index   loss = −Σ_ij w[i,j] × log p[i,j,l[i,j]] / N,  N = labels.size
            da[i,j,k] = w[i,j] × (p[i,j,k] − (k = l[i,j])) / N
    Oracle  naive.softmax_cross_entropy

    with ``lp`` the log-softmax and ``y`` the one-hot labels (``⎕IO←1``,
    so classes count from ``¯1+⍳K``). The notes' energy
    ``E = Σ w(x) log p_l(x)(x)``, averaged over the pixels and negated so it
    is minimised, with note 000's gradient ``p − y`` (times the weight).
    Log-sum-exp keeps it finite for logits of ±1000.

    Parameters
    ----------
    a : array (…, K), logits (the last 1x1 convolution's output).
    labels : int array (…), a.shape[:-1], each in [0, K).
    weights : array (…), labels.shape, optional (1 everywhere by default).

    Returns
    -------
    loss : scalar of a's float dtype.
    da : array (…, K), the gradient of loss with respect to a.

    Raises
    ------
    TypeError
        labels are not integers.
    LengthError
        labels.shape != a.shape[:-1] or weights.shape != labels.shape.
    DomainError
        A label outside [0, K).

    See Also
    --------
    naive.softmax_cross_entropy : the loop oracle.

    Examples
    --------
    >>> a = np.array([[0., 0.], [1000., -1000.]])
    >>> loss, da = softmax_cross_entropy(a, np.array([0, 1]))
    >>> print(round(float(loss), 6))
    1000.346574
    >>> da
    array([[-0.25,  0.25],
           [ 0.5 , -0.5 ]])
    """
    a, labels, weights = checks.loss_args(a, labels, weights, "softmax_cross_entropy")
    weights = np.ones(labels.shape, a.dtype) if weights is None else weights
    lp, y = _log_softmax(a), outer(np.equal, labels, np.arange(a.shape[-1]))
    n = labels.size
    loss = -reduce(np.add, (weights * reduce(np.add, y * lp)).ravel()) / n
    return loss, weights[..., None] * (np.exp(lp) - y) / n


# ------------------------------------------------- the notes' other layers


def sigmoid(x):
    """Logistic sigmoid ``÷1+*-x``, computed without overflow for any x.

    APL     y←÷1+*-x
    Index   y = 1 / (1 + exp(−x))
    Oracle  naive.sigmoid

    >>> sigmoid(np.array([-1000., 0., 1000.]))
    array([0. , 0.5, 1. ])
    """
    x = checks.real(x, "x", "sigmoid")
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def sigmoid_backward(dy, y):
    """Gradient of :func:`sigmoid` from its output: ``dy×y×1-y`` (note 004's σ′ = σ(1−σ)).

    APL     dx←dy×y×1-y
    Index   dx = dy × y × (1 − y)
    Oracle  naive.sigmoid_backward

    >>> sigmoid_backward(np.array([1.]), np.array([0.5]))
    array([0.25])
    """
    dy, y = checks.same_shape_reals(dy, y, ("dy", "y"), "sigmoid_backward")
    return dy * y * (1 - y)


def softplus(x):
    """Softplus ``⍟1+*x``, the smooth rectifier of note 003, stable for any x.

    APL     y←(0⌈x)+⍟1+*-|x
    Index   y = log(1 + exp(x)) = max(x, 0) + log(1 + exp(−|x|))
    Oracle  naive.softplus

    >>> softplus(np.array([-1000., 0., 1000.]))
    array([0.00000000e+00, 6.93147181e-01, 1.00000000e+03])
    """
    x = checks.real(x, "x", "softplus")
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def softplus_backward(dy, x):
    """Gradient of :func:`softplus`: ``dy×÷1+*-x``, its derivative being the sigmoid.

    APL     dx←dy÷1+*-x
    Index   dx = dy × σ(x)
    Oracle  naive.softplus_backward

    >>> softplus_backward(np.array([2.]), np.array([0.]))
    array([1.])
    """
    dy, x = checks.same_shape_reals(dy, x, ("dy", "x"), "softplus_backward")
    return dy * sigmoid(x)


def binary_cross_entropy(p, y):
    """Binary cross-entropy of probabilities (note 004) and its gradient.

    APL     loss←-(+/,(y×⍟p)+(1-y)×⍟1-p)÷×/⍴p ⋄ dp←(((1-y)÷1-p)-y÷p)÷×/⍴p
    Index   loss = −Σ (y log p + (1 − y) log(1 − p)) / n,  n = p.size
            dp = ((1 − y)/(1 − p) − y/p) / n
    Oracle  naive.binary_cross_entropy

    ``p`` must lie strictly inside (0, 1); for saturated predictions use
    :func:`binary_cross_entropy_with_logits`.

    Parameters
    ----------
    p : array, predicted probabilities.
    y : array, p.shape, targets in [0, 1].

    Returns
    -------
    loss : scalar
    dp : array, p.shape

    Raises
    ------
    LengthError
        ``y.shape != p.shape``.
    DomainError
        Some ``p`` outside (0, 1).

    Examples
    --------
    >>> loss, dp = binary_cross_entropy(np.array([0.5, 0.5]), np.array([1., 0.]))
    >>> print(round(float(loss), 6), dp)
    0.693147 [-1.  1.]
    """
    p, y = checks.probabilities_args(p, y, "binary_cross_entropy")
    n = p.size
    return -(y * np.log(p) + (1 - y) * np.log1p(-p)).sum() / n, ((1 - y) / (1 - p) - y / p) / n


def binary_cross_entropy_with_logits(z, y):
    """Binary cross-entropy of ``sigmoid(z)``, from the logits, and its gradient.

    APL     loss←(+/,((0⌈z)+⍟1+*-|z)-y×z)÷×/⍴z ⋄ dz←((÷1+*-z)-y)÷×/⍴z
    Index   loss = Σ (softplus(z) − y z) / n,  dz = (σ(z) − y) / n
    Oracle  naive.binary_cross_entropy_with_logits

    The same loss as ``binary_cross_entropy(sigmoid(z), y)``, finite for
    any logits; the gradient collapses to ``σ(z) − y`` (note 001's
    ``A2 − y``).

    Examples
    --------
    >>> loss, dz = binary_cross_entropy_with_logits(np.array([1000., -1000.]), np.array([1., 1.]))
    >>> print(float(loss), dz)
    500.0 [ 0.  -0.5]
    """
    z, y = checks.same_shape_reals(z, y, ("z", "y"), "binary_cross_entropy_with_logits",
                                   average="z")
    n = z.size
    return (softplus(z) - y * z).sum() / n, (sigmoid(z) - y) / n


def mse(yhat, y):
    """Mean squared error ``(+/,d×d)÷n`` and its gradient ``2×d÷n``, ``d←yhat−y``.

    APL     loss←(+/,d×d←yhat-y)÷×/⍴y ⋄ dyhat←2×(yhat-y)÷×/⍴y
    Index   loss = Σ (ŷ − y)² / n,  dŷ = 2 (ŷ − y) / n,  n = y.size
    Oracle  naive.mse

    The mean over all items (PyTorch's default); note 002 writes
    ``½ Σ (ŷ − y)²``, which is ``n/2`` times this.

    Examples
    --------
    >>> loss, d = mse(np.array([1., 3.]), np.array([1., 1.]))
    >>> print(float(loss), d)
    2.0 [0. 2.]
    """
    yhat, y = checks.same_shape_reals(yhat, y, ("yhat", "y"), "mse", average="y")
    d = yhat - y
    return (d * d).sum() / y.size, 2 * d / y.size


def dense(x, w, b=None):
    """Fully connected layer ``b+⍤1⊢x+.×w``.

    APL     z←b+⍤1⊢x+.×w
    Index   z[…,m] = b[m] + Σ_n x[…,n] × w[n,m]
    Oracle  naive.dense

    Parameters
    ----------
    x : array (…, N)
    w : array (N, M)
    b : array (M,), optional

    Returns
    -------
    z : array (…, M)

    Examples
    --------
    >>> dense(np.array([1., 2.]), np.array([[1., 0.], [1., 1.]]), np.array([0., 10.]))
    array([ 3., 12.])
    """
    x, w, b = checks.dense_args(x, w, b, "dense")
    z = inner(np.add, np.multiply, x, w)
    return z if b is None else z + b


def dense_backward(dy, x, w):
    """Gradients of :func:`dense`: ``dy+.×⍉w``, ``(⍉x)+.×dy``, ``+⌿dy``.

    APL     dx←dy+.×⍉w ⋄ dw←(⍉x)+.×dy ⋄ db←+⌿dy
    Index   dx[…,n] = Σ_m dy[…,m] w[n,m],  dw[n,m] = Σ_… x[…,n] dy[…,m],
            db[m] = Σ_… dy[…,m]
    Oracle  naive.dense_backward

    The frame (batch) axes are summed out of ``dw`` and ``db``.

    Returns
    -------
    dx : array (…, N)
    dw : array (N, M)
    db : array (M,)

    Examples
    --------
    Note 002's chain rule, f = (x + y)·z at (−2, 5, −4): ``q = x + y`` is
    a dense layer with weights 1, ``f = q·z`` one with weight z.

    >>> q = dense(np.array([-2., 5.]), np.ones((2, 1)))
    >>> dq, dz, _ = dense_backward(np.array([1.]), q, np.array([[-4.]]))
    >>> dxy, _, _ = dense_backward(dq, np.array([-2., 5.]), np.ones((2, 1)))
    >>> print(dxy, dz.item())
    [-4. -4.] 3.0
    """
    dy, x, w = checks.dense_backward_args(dy, x, w, "dense_backward")
    dw = inner(np.add, np.multiply, transpose(_rows(x)), _rows(dy))
    return inner(np.add, np.multiply, dy, transpose(w)), dw, reduce(np.add, _rows(dy), axis=0)


def flatten(x):
    """Flatten each image cell into a vector: ``,⍤3⊢x``.

    APL     f←,⍤3⊢x
    Index   f[…, (i·W + j)·C + c] = x[…, i, j, c]
    Oracle  naive.flatten

    >>> flatten(np.arange(8).reshape(2, 2, 2, 1))
    array([[0, 1, 2, 3],
           [4, 5, 6, 7]])
    """
    return _ravel_cells(checks.image(x, "x", "flatten", exact=True), 3)


def flatten_backward(dy, shape):
    """Gradient of :func:`flatten`: ``shape⍴dy``, the vectors back into images.

    APL     dx←shape⍴dy
    Index   dx[…, i, j, c] = dy[…, (i·W + j)·C + c]
    Oracle  naive.flatten_backward

    >>> flatten_backward(np.arange(4), (2, 2, 1))[..., 0]
    array([[0, 1],
           [2, 3]])
    """
    dy, shape = checks.flatten_backward_args(dy, shape, "flatten_backward")
    return dy.reshape(shape)


# ------------------------------------------------------ the image kernels


def correlate(x, k, mode="valid"):
    """Cross-correlation ``x ⋆ k`` of 2-D single-channel images: ``{+/,k×⍵}⌺(⍴k)``.

    APL     z←{+/,k×⍵}⌺3 3⊢x               ⍝ mode 'same', a 3x3 k
    Index   z[i,j] = Σ_ab x[i+a−p, j+b−q] × k[a,b], zero outside x
    Oracle  naive.correlate

    ``mode`` sets the padding ``(p, q)`` before each axis (and the size):

    =========  ======================  =========================
    mode       padding before          output
    =========  ======================  =========================
    'valid'    0                       H − kh + 1  (note 004)
    'full'     kh − 1                  H + kh − 1  (note 004)
    'same'     ⌊(kh−1)/2⌋ (Dyalog ⌺)   H
    =========  ======================  =========================

    'same' pads as Dyalog's ``⌺`` and ``scipy.signal.correlate2d`` do.

    Parameters
    ----------
    x : array (…, H, W), any leading frame.
    k : array (kh, kw)
    mode : 'valid', 'full' or 'same'

    Returns
    -------
    z : array (…, Ho, Wo)

    Raises
    ------
    DomainError
        An unknown mode, or a kernel larger than the image in valid mode.

    See Also
    --------
    convolve : correlation with the kernel turned by 180°.
    naive.correlate : the loop oracle.

    Examples
    --------
    Note 004's valid and full cases:

    >>> x = np.array([[1, 6, 2], [5, 3, 1], [7, 0, 4]])
    >>> k = np.array([[1, 2], [-1, 0]])
    >>> correlate(x, k)                          # integers promoted to float64
    array([[8., 7.],
           [4., 5.]])
    >>> correlate(x, k, mode="full")
    array([[ 0., -1., -6., -2.],
           [ 2.,  8.,  7.,  1.],
           [10.,  4.,  5., -3.],
           [14.,  7.,  8.,  4.]])
    """
    x, k = checks.plane_and_kernel(x, k, mode, "correlate")
    kh, kw = k.shape
    before = {"valid": (0, 0), "full": (kh - 1, kw - 1), "same": ((kh - 1) // 2, (kw - 1) // 2)}[mode]
    after = {"valid": (0, 0), "full": before, "same": (kh - 1 - before[0], kw - 1 - before[1])}[mode]
    xp = _framed(x[..., None], before, after)[..., 0]
    if xp.shape[-2] < kh or xp.shape[-1] < kw:       # an empty image, framed short of a window
        return np.zeros(xp.shape[:-2] + (max(0, xp.shape[-2] - kh + 1), max(0, xp.shape[-1] - kw + 1)), xp.dtype)
    return _correlate(xp[..., None], k[:, :, None, None], 1)[..., 0]


def convolve(x, k, mode="valid"):
    """True convolution ``x * k`` = correlation with ``⊖⌽k`` (note 004's rot180).

    APL     z←{+/,(⊖⌽k)×⍵}⌺3 3⊢x           ⍝ mode 'same', a 3x3 k
    Index   z[i,j] = Σ_ab x[i−a+p', j−b+q'] × k[a,b]
    Oracle  naive.convolve

    Exactly ``correlate(x, rot180(k), mode)``. For 'valid' and 'full' this
    is the textbook convolution; for 'same' with an even kernel the window
    sits one cell off ``scipy.signal.convolve2d``'s.

    Examples
    --------
    Note 004's convolution case:

    >>> x = np.array([[1, 6, 2], [5, 3, 1], [7, 0, 4]])
    >>> convolve(x, np.array([[1, 2], [-1, 0]]))
    array([[ 7.,  5.],
           [11.,  3.]])
    """
    x, k = checks.plane_and_kernel(x, k, mode, "convolve")
    return correlate(x, rot180(k), mode)


def gaussian_kernel(size, sigma):
    """Gaussian blur kernel, ``e÷+/,e←*-(∘.+⍨×⍨d)÷2×σ*2``, summing to 1.

    APL     g←e÷+/,e←*-(∘.+⍨×⍨(⍳size)-(1+size)÷2)÷2×sigma*2
    Index   g[i,j] ∝ exp(−(u_i² + u_j²) / 2σ²),  u_i = i − (size−1)/2
    Oracle  naive.gaussian_kernel

    Note 003's 7x7 table is ``gaussian_kernel(7, 0.84089642)`` (σ = 2^−¼)
    to its 8 printed decimals, except the centre, printed 0.22518352 for
    0.22508352 (a misprint: the printed table sums to 1.0001).

    Parameters
    ----------
    size : int >= 1
    sigma : float > 0

    Returns
    -------
    g : array (size, size), float64, symmetric, sum 1.

    Examples
    --------
    >>> print(np.round(gaussian_kernel(7, 0.84089642)[3], 8))
    [0.00038771 0.01330373 0.11098164 0.22508352 0.11098164 0.01330373
     0.00038771]
    """
    size, sigma = checks.gaussian_args(size, sigma, "gaussian_kernel")
    u = np.arange(size) - (size - 1) / 2
    q = outer(np.add, u * u, u * u)
    # shifted by the smallest exponent and divided by σ twice, so that neither
    # σ² underflowing nor every exp underflowing (an even size, tiny σ) gives 0/0
    e = np.exp(-((q - q.min()) / sigma) / sigma / 2)
    return e / e.sum()


def sobel():
    """Sobel kernels ``(gx, gy)`` of note 003: smoothing ``1 2 1∘.×¯1 0 1`` and its transpose.

    APL     gx←1 2 1∘.×¯1 0 1 ⋄ gy←⍉gx
    Index   gx[a,b] = s[a] × d[b],  s = (1, 2, 1), d = (−1, 0, 1)
    Oracle  naive.sobel (the notes' printed tables)

    Returns
    -------
    gx, gy : int arrays (3, 3); gx responds to change along W (left to
    right), gy along H (top to bottom), under :func:`correlate`.

    Examples
    --------
    >>> gx, gy = sobel()
    >>> gx
    array([[-1,  0,  1],
           [-2,  0,  2],
           [-1,  0,  1]])
    """
    gx = outer(np.multiply, np.array([1, 2, 1]), np.array([-1, 0, 1]))
    return gx, transpose(gx).copy()


def sobel_gradient(image):
    """Sobel edge strength and direction: ``G←((Gx*2)+Gy*2)*.5`` and ``θ←12○Gx+0J1×Gy``.

    APL     gx←1 2 1∘.×¯1 0 1 ⋄ gy←⍉gx ⋄ Gx←{+/,gx×⍵}⌺3 3⊢image ⋄ Gy←{+/,gy×⍵}⌺3 3⊢image
            G←((Gx*2)+Gy*2)*.5 ⋄ theta←12○Gx+0J1×Gy
    Index   G = √(Gx² + Gy²),  θ = atan2(Gy, Gx)
    Oracle  naive.sobel_gradient

    ``Gx`` and ``Gy`` are ``correlate(image, gx, 'same')`` and likewise for
    ``gy`` (zero beyond the edges, so the border pixels see an edge to 0);
    θ is the full-circle angle, atan2 rather than the notes' atan(Gy/Gx).

    Parameters
    ----------
    image : array (…, H, W)

    Returns
    -------
    magnitude : array (…, H, W)
    direction : array (…, H, W), radians in [−π, π].

    Examples
    --------
    >>> image = np.array([[0, 0, 1, 1]] * 3, float)
    >>> magnitude, direction = sobel_gradient(image)
    >>> magnitude[1]
    array([0., 4., 4., 4.])
    >>> print(np.round(direction[1], 4))
    [0.     0.     0.     3.1416]
    """
    image = checks.planes(image, "image", "sobel_gradient")
    gx, gy = sobel()
    sx = correlate(image, gx.astype(image.dtype), "same")     # float32 stays float32
    sy = correlate(image, gy.astype(image.dtype), "same")
    return np.hypot(sx, sy), np.arctan2(sy, sx)
