"""Every layer of the notes, forward and backward, as APL-style array expressions.

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

Every convolution in the module, forward or backward, is one contraction:
the strided windows of a (padded) image, ``{⍵}⌺kh kw``, against a kernel,
``+.×`` over ``(kh, kw, C)``: :func:`_correlate_valid`. It is computed a
block of output rows at a time, so that the scratch copy stays a few MB
and the matrix products run at BLAS speed: at stride 1 as ``kh`` products
of kw-wide rows of the raveled image (:func:`_rows_product`), otherwise as
im2col (:func:`_correlate_windows`); the weight gradient is the adjoint of
the same blocks, and shares one zero-framed copy of ``dz`` with the input
gradient (:func:`_conv_gradients`). A 3x3 stride-1 kernel with 128
channels or more in and out, on an output of about 20x20 pixels or more,
takes a faster road to the same numbers, Winograd's F(2×2, 3×3)
(:mod:`aplnet.winograd`): 16 products per 2x2 output tile instead of 36.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import buffers, winograd
from .apl import (DomainError, LengthError, RankError, _array, _fits, _ints, inner, outer,
                  reduce, rot180, windows)
from .checks import _channels_match, _image, _kernel, _real, _values

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


# ------------------------------------------------------------ validation


def _bias(b, channels, func):
    if b is None:
        return None
    b = _real(b, "b", func)
    if b.shape != (channels,):
        raise LengthError(f"{func}: b.shape must be (K,) = ({channels},), one "
                          f"bias per output channel; got b.shape={b.shape}")
    return b


def _count(n, name, func, least):
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{func}: {name} must be an integer; got {n!r}")
    if n < least:
        raise DomainError(f"{func}: {name} must be >= {least}; got {name}={n}")
    return int(n)


def _same_shape(a, b, names, func):
    if a.shape != b.shape:
        raise LengthError(f"{func}: {names[0]}.shape must equal {names[1]}.shape; "
                          f"got {names[0]}.shape={a.shape}, {names[1]}.shape={b.shape}")


def _fitting_sizes(n, k, stride):
    """The two sizes nearest ``n`` for which ``(n - k)`` is a multiple of ``stride``."""
    below = n - (n - k) % stride
    return [s for s in (below, below + stride) if s >= k]


def _conv_out(func, x, w, stride, pad):
    """``(Ho, Wo)``, each ``(n + 2·pad − k)/stride + 1``; refuse a kernel that does not fit or tile."""
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


def _frame(x):
    """The leading axes of an image array, before ``(H, W, C)``."""
    return x.shape[:-3]


def _padded_fits(x, pad, func):
    """Refuse a ``pad`` whose padded copy of ``x`` memory cannot hold."""
    h, w, c = x.shape[-3:]
    _fits(_frame(x) + (h + 2 * pad, w + 2 * pad, c), x.dtype, func,
          f"x padded by pad={pad}")


# --------------------------------------------------- the shared contraction


def _pad_hw(x, before, after, spread=1):
    """Zero-fill ``x`` in H and W: APL's overtake ``(n+b+a)↑(−n+b)↑x``.

    ``spread`` puts ``spread − 1`` zeros between neighbouring pixels too
    (a strided convolution's gradient, dilated back onto the input grid).
    With nothing to add it is ``x`` itself, not a copy.
    """
    if before == after == (0, 0) and spread == 1:
        return x
    *frame, h, w, c = x.shape
    out = buffers.zeros((*frame, before[0] + (h - 1) * spread + 1 + after[0],
                         before[1] + (w - 1) * spread + 1 + after[1], c), x.dtype)
    out[..., before[0]:out.shape[-3] - after[0]:spread,
        before[1]:out.shape[-2] - after[1]:spread, :] = x
    return out


def _pair(stride):
    return (stride, stride) if isinstance(stride, numbers.Integral) else tuple(stride)


def _windows_hw(xp, kh, kw, stride):
    """The ``(kh, kw)`` windows of the H, W axes: ``{⍵}⌺kh kw`` with the shards trimmed.

    A read-only strided view of shape ``(…, Ho, Wo, kh, kw, C)``, no copy;
    ``stride`` is one step or an (H, W) pair.
    """
    lead = (1,) * len(_frame(xp))
    view = windows(xp, lead + (kh, kw), lead + _pair(stride))
    positions = view.shape[:len(lead) + 2]
    return view.reshape(positions + (kh, kw, xp.shape[-1]))


_BLOCK_BYTES = 4 << 20
"""About how much of the windows the convolutions copy out at a time.

Large enough for each matrix product to run at BLAS speed, small enough
for the copy to stay in cache and for the scratch memory to stay a few MB
(the whole im2col matrix of the U-Net's first level is 750 MB).
"""

_ROWS_LEAST_CHANNELS = 2
"""Below this many channels a kernel row is too thin a product: use the windows."""

_WINOGRAD_LEAST_CHANNELS = 128
"""From this many channels in and out on, a 3x3 stride-1 correlation and
both its gradients go through :mod:`aplnet.winograd`: 16 products per 2x2
tile instead of 36, and transforms whose cost per pixel grows with C + K
while the products' grows with C·K. The U-Net's training step at 572/64/5,
timed with the threshold at 64, at 128 and at infinity in turn in one
process, ran fastest with 128, with OpenBLAS's AVX2 kernels (64 about as
fast) and with its AVX-512 ones (64 a fifth slower: the transforms of the
first levels cost more than they save when the products are fast). With
the AVX-512 kernels the 128-channel layers alone run faster by the direct
road, but the step took the same time with the threshold at 256 (3.64 s,
against 3.61 s at 128)."""

_WINOGRAD_LEAST_TILES = 100
"""...and this many 2x2 output tiles per image (an output of 20x20 has 100):
on smaller images the kernel's transform (``16·C·K`` numbers, and as many
again for the weight gradient's) costs more than the products save, and
the weight gradient's products, summed over the tiles, are too short for
BLAS. Timed layer by layer, both roads in turn in one process: with 512
channels, 22x22 and 24x24 inputs ran a quarter faster forward and a fifth
faster backward by Winograd, 16x16 and 18x18 broke even and 12x12 ran
backward at half the speed; the U-Net's bottom layers at 572/64/5
(32x32x512→1024, 30x30x1024→1024) ran 30–40% faster."""

_TAPS_LEAST_CHANNELS = 256
"""From this many channels of dz on, the input gradient takes one product per
tap with ``w[a,b]`` transposed in place (:func:`_taps_product`): the products
are deep enough for BLAS, and turning the whole kernel into ``(kw·K, C)``
slabs would be a transposing copy as slow as the products themselves on the
small images of the deep levels."""


def _one_frame(x):
    """``x`` with its frame raveled into one leading axis: ``(F, H, W, C)``."""
    return x.reshape((-1,) + x.shape[-3:])


def _raveled(xp):
    """The pixels of ``xp`` as the rows of an ``(F·H·W, C)`` matrix: ``((×/¯1↓⍴x),¯1↑⍴x)⍴x``."""
    return np.ascontiguousarray(xp).reshape(-1, xp.shape[-1])


def _kernel_rows(flat, kw):
    """The kw-wide rows ``{,⍵}⌺kw`` of raveled pixels: ``(N − kw + 1, kw·C)``, a strided view.

    Raveling H and W, pixel ``(i + a, j + b)`` is row ``(i·W + j) + a·W + b``
    of the image: so row ``a`` of the window at ``(i, j)`` is kw consecutive
    rows, i.e. row ``i·W + j + a·W`` of the kw-wide rows. Consecutive rows
    overlap.
    """
    wide = windows(flat, (kw,))
    return wide.reshape(wide.shape[0], -1)


def _rows_per_block(halo, width, itemsize):
    """Rows per block of the kw-wide rows: ``_BLOCK_BYTES`` of ``width`` items,
    and at least four halos, so the halo rows copied again with each block
    stay a small part of the copy."""
    return max(1, _BLOCK_BYTES // (width * itemsize), 4 * halo)


def _rows_block(wide, start, length, buf):
    """Rows ``start:start+length`` of the kw-wide rows, as a matrix BLAS can take.

    A one-column kernel's rows do not overlap: they are the image's own
    contiguous rows, used in place. Otherwise they are copied into ``buf``.
    """
    rows = wide[start:start + length]
    if rows.flags.c_contiguous and rows.dtype == buf.dtype:
        return rows
    block = buf[:length]
    np.copyto(block, rows)
    return block


def _correlate_valid(xp, w, stride):
    """Valid cross-correlation ``(,⍤3⊢{⍵}⌺kh kw⊢xp)+.×(kh×kw×C) K⍴w``.

    The hot path of every convolution here, forward and input gradient.
    Stride 1: :func:`_correlate_rows` (kh products of kw-wide rows per
    block of the image), or :func:`aplnet.winograd.correlate` for a wide
    3x3 kernel on a large enough image (:func:`_by_winograd`); other
    strides, or a single channel: :func:`_correlate_windows` (im2col, a
    block of windows at a time). The result has ``np.result_type(xp, w)``:
    float32 in, float32 out.
    """
    if _pair(stride) == (1, 1) and xp.size and _by_winograd(xp, w):
        return winograd.correlate(xp, w)
    if _pair(stride) == (1, 1) and w.shape[2] >= _ROWS_LEAST_CHANNELS and xp.size:
        return _correlate_rows(xp, w)
    return _correlate_windows(xp, w, stride)


def _by_winograd(xp, w):
    """Whether a stride-1 correlation of ``xp`` with ``w`` goes through :mod:`aplnet.winograd`."""
    dtype = np.result_type(xp, w)
    tiles = -(-(xp.shape[-3] - 2) // 2) * -(-(xp.shape[-2] - 2) // 2)
    return (w.shape[:2] == (3, 3) and min(w.shape[2:]) >= _WINOGRAD_LEAST_CHANNELS
            and tiles >= _WINOGRAD_LEAST_TILES and dtype.kind == "f" and dtype.itemsize >= 4)


def _correlate_rows(xp, w):
    """Stride-1 valid correlation: :func:`_rows_product` over the raveled image.

    Rows are computed at the full width W and for every image row; as each
    block of whole image rows comes out, its first ``Wo`` columns are kept
    (the others' windows wrap past the right edge), and at the end the rows
    past ``Ho`` (whose windows run into the next image) are cut off.
    """
    kh, kw, c, k = w.shape
    f, h, width, _ = _one_frame(xp).shape
    wo = width - kw + 1
    z = np.empty((f * h, wo, k), np.result_type(xp, w))
    count = f * h * width - (kh - 1) * width - (kw - 1)   # rows whose windows lie inside
    for r0, block in _rows_product(_raveled(xp), w, width, count, z.dtype, whole_rows=True):
        g0, (rows, rest) = r0 // width, divmod(block.shape[0], width)
        z[g0:g0 + rows] = block[:rows * width].reshape(rows, width, k)[:, :wo]
        if rest:                                          # the last row, cut at Wo
            z[g0 + rows, :rest] = block[rows * width:]
    return z.reshape(f, h, wo, k)[:, :h - kh + 1].reshape(
        xp.shape[:-3] + (h - kh + 1, wo, k))


def _rows_product(flat, w, width, count, dtype, whole_rows=False, out=None):
    """``z[r] = Σ_a wide[r + a·width] +.× w[a]`` for ``r < count``, a block of rows at a time.

    ``wide`` are the kw-wide rows of ``flat`` (see :func:`_kernel_rows`),
    ``w[a]`` a ``(kw·C, K)`` matrix. For each block the kw-wide rows (and
    the ``(kh − 1)·width`` rows below it that the lower kernel rows read)
    are copied into a scratch buffer, then ``kh`` products with ``out=`` a
    scratch block of ``z``, the later ones added in while it is in cache.
    Yields ``(r0, block)``, the block of ``z`` starting at row ``r0`` (the
    scratch: use it before the next), or, given ``out`` (``(count, K)``),
    computes each block straight into it; ``whole_rows`` starts every block
    on a multiple of ``width``.
    """
    kh, kw, c, k = w.shape
    wide = _kernel_rows(flat, kw)
    halo = (kh - 1) * width
    taps = w.astype(dtype, copy=False).reshape(kh, kw * c, k)
    step = _rows_per_block(halo, kw * c, dtype.itemsize)
    if whole_rows:
        step = max(width, step - step % width)
    step = min(step, count)
    buf = buffers.empty((step + halo, kw * c), dtype)
    scratch, part = buffers.empty((step, k), dtype), buffers.empty((step, k), dtype)
    for r0 in range(0, count, step):
        n = min(step, count - r0)
        acc = scratch[:n] if out is None else out[r0:r0 + n]
        block = _rows_block(wide, r0, n + halo, buf)
        np.matmul(block[:n], taps[0], out=acc)
        for a in range(1, kh):
            np.matmul(block[a * width:a * width + n], taps[a], out=part[:n])
            acc += part[:n]
        yield r0, acc


def _window_blocks(frames, rows, per_block):
    """``(f0, f1, r0, r1)`` pieces of a frames × rows grid, about ``per_block`` rows each.

    Each piece is a run of whole images, or a run of rows of one image, so
    that it is one contiguous stretch of a row-major ``(F, rows, …)`` array.
    """
    if per_block >= rows:
        step = per_block // rows
        for f0 in range(0, frames, step):
            yield f0, min(frames, f0 + step), 0, rows
    else:
        for f in range(frames):
            for r0 in range(0, rows, per_block):
                yield f, f + 1, r0, min(rows, r0 + per_block)


def _windows_in_blocks(xp, kh, kw, stride, dtype):
    """The im2col matrix of ``xp`` a block at a time: ``(start, stop, cols)`` triples.

    ``cols`` is the ``(stop − start, kh·kw·C)`` matrix of the windows at the
    raveled output positions ``start:stop`` (frame, then Ho, then Wo),
    copied into one reused scratch buffer of about ``_BLOCK_BYTES``.
    """
    win = _windows_hw(_one_frame(xp), kh, kw, stride)       # (F, Ho, Wo, kh, kw, C)
    f, ho, wo = win.shape[:3]
    width = kh * kw * xp.shape[-1]
    per_block = max(1, _BLOCK_BYTES // (wo * width * dtype.itemsize))
    buf = buffers.empty(min(per_block, f * ho) * wo * width, dtype)
    for f0, f1, r0, r1 in _window_blocks(f, ho, per_block):
        src = win[f0:f1, r0:r1]
        block = buf[:src.size].reshape(src.shape)
        if xp.shape[-1] == 1:
            # One channel: tap by tap, each copy is one strided run per output row, Wo long,
            # where the whole window copy would step kw numbers at a time (3x slower).
            for a in range(kh):
                for b in range(kw):
                    np.copyto(block[..., a, b, :], src[..., a, b, :])
        else:
            np.copyto(block, src)
        start = (f0 * ho + r0) * wo
        yield start, start + block.size // width, block.reshape(-1, width)


def _correlate_windows(xp, w, stride):
    """Valid correlation, any stride: each block of raveled windows ``+.×`` the kernel matrix.

    The windows of a block of output rows are copied out (im2col, a block at
    a time, so the scratch stays about ``_BLOCK_BYTES``) and multiplied with
    ``w`` as a ``(kh·kw·C, K)`` matrix straight into the result.
    """
    kh, kw, c, k = w.shape
    dtype = np.result_type(xp, w)
    sh, sw = _pair(stride)
    ho, wo = (xp.shape[-3] - kh) // sh + 1, (xp.shape[-2] - kw) // sw + 1
    z = np.empty(xp.shape[:-3] + (ho, wo, k), dtype)
    if z.size == 0:
        return z
    rows = z.reshape(-1, k)
    taps = w.astype(dtype, copy=False).reshape(kh * kw * c, k)
    for start, stop, cols in _windows_in_blocks(xp, kh, kw, stride, dtype):
        np.matmul(cols, taps, out=rows[start:stop])
    return z


def _add_bias(z, b):
    """``z + b`` over the last axis, in place when the dtype allows."""
    if b is None:
        return z
    if np.result_type(z, b) == z.dtype:
        z += b
        return z
    return z + b


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
    x, w = _image(x, "x", "conv"), _kernel(w, "w", "conv")
    _channels_match(x, w, "conv")
    b = _bias(b, w.shape[3], "conv")
    stride = _count(stride, "stride", "conv", 1)
    pad = _count(pad, "pad", "conv", 0)
    _conv_out("conv", x, w, stride, pad)
    _padded_fits(x, pad, "conv")
    xp = _pad_hw(x, (pad, pad), (pad, pad)) if pad else x
    return _add_bias(_correlate_valid(xp, w, stride), b)


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
    x, w = _image(x, "x", "conv_backward"), _kernel(w, "w", "conv_backward")
    dz = _image(dz, "dz", "conv_backward")
    _channels_match(x, w, "conv_backward")
    stride = _count(stride, "stride", "conv_backward", 1)
    pad = _count(pad, "pad", "conv_backward", 0)
    kh, kw, _, k = w.shape
    want = _frame(x) + _conv_out("conv_backward", x, w, stride, pad) + (k,)
    if dz.shape != want:
        raise LengthError(f"conv_backward: dz.shape must be the shape of "
                          f"conv(x, w) = {want}; got dz.shape={dz.shape}")
    _padded_fits(x, pad, "conv_backward")
    xp = _pad_hw(x, (pad, pad), (pad, pad)) if pad else x
    dxp, dw = _conv_gradients(xp, dz, w, stride)
    dx = dxp[..., pad:pad + x.shape[-3], pad:pad + x.shape[-2], :]
    db = dz.reshape(-1, k).sum(axis=0)
    return dx, dw, db


def _conv_gradients(xp, dz, w, stride):
    """``(dxp, dw)`` of the valid correlation of ``xp`` with ``w``: the two contractions of dz.

    ``dxp`` is the full correlation of ``dz`` (dilated by the stride) with
    ``⊖⌽w``, its channel axes swapped; ``dw`` is :func:`_weight_gradient`.
    At stride 1 both read one array: ``dz`` framed in zeros, ``kh − 1``
    rows above and below and ``kw − 1`` columns on the left, each row as
    wide as ``xp``'s, so that raveled it serves :func:`_rows_product` as the
    padded image of ``dx`` (a right edge wraps into the next row's zeros)
    and, shifted by ``(kh − 1)·W + kw − 1`` rows, lines ``dz`` up with the
    raveled ``xp`` for :func:`_weight_gradient_rows` (the wrapped columns
    and the rows past ``Ho`` read zeros). A 3x3 kernel with many channels
    on a large enough image (:func:`_by_winograd`) takes both from
    :mod:`aplnet.winograd` instead; at a stride above 1, ``dxp`` (a stride-1
    correlation of the dilated ``dz``) can take that road too.
    """
    kh, kw, c, k = w.shape
    if _pair(stride) == (1, 1) and dz.size and _by_winograd(xp, w):
        return winograd.input_gradient(dz, w), winograd.weight_gradient(xp, dz)
    back = rot180(w).swapaxes(2, 3)
    if _pair(stride) != (1, 1) or k < _ROWS_LEAST_CHANNELS or dz.size == 0:
        spread = _pad_hw(dz, (kh - 1, kw - 1), (kh - 1, kw - 1), stride)
        return _correlate_valid(spread, back, 1), _weight_gradient(xp, dz, kh, kw, stride)
    f, h, width, _ = _one_frame(xp).shape
    pixels, head = f * h * width, (kh - 1) * width
    framed = buffers.zeros(((f * h + kh - 1) * width + kw - 1, k), dz.dtype)
    framed[head:head + pixels].reshape(f, h, width, k)[:, :dz.shape[-3], kw - 1:] = _one_frame(dz)
    dxp = np.empty((pixels, c), np.result_type(dz, w))
    if k >= _TAPS_LEAST_CHANNELS:
        _taps_product(framed, back, width, dxp)
    else:
        for _ in _rows_product(framed, back, width, pixels, dxp.dtype, out=dxp):
            pass                                          # each block lands in dxp
    if c >= _ROWS_LEAST_CHANNELS:
        grads = framed[head + kw - 1:head + kw - 1 + pixels]
        dw = _weight_gradient_rows(xp, grads, kh, kw, np.result_type(xp, dz))
    else:
        dw = _weight_gradient(xp, dz, kh, kw, stride)
    return dxp.reshape(xp.shape[:-1] + (c,)), dw


def _taps_product(flat, w, width, out):
    """``out[r] = Σ_ab flat[r + a·width + b] +.× w[a,b]``: one product per tap, no copy.

    The sum of ``kh·kw`` shifted products: each tap reads a contiguous run
    of rows of ``flat`` in place, and ``w[a,b]`` is taken as it is (a
    transposed view is fine: BLAS reads it either way). A block of rows at
    a time, the later taps added in while the block is in cache.
    """
    kh, kw, _, k = w.shape
    count, dtype = out.shape[0], out.dtype
    taps = w.astype(dtype, copy=False)
    step = min(count, max(1, _BLOCK_BYTES // (k * dtype.itemsize)))
    part = buffers.empty((step, k), dtype)
    for r0 in range(0, count, step):
        n = min(step, count - r0)
        acc = out[r0:r0 + n]
        for a in range(kh):
            for b in range(kw):
                rows = flat[r0 + a * width + b:r0 + a * width + b + n]
                if a == b == 0:
                    np.matmul(rows, taps[a, b], out=acc)
                else:
                    np.matmul(rows, taps[a, b], out=part[:n])
                    acc += part[:n]
    return out


def _weight_gradient(xp, dz, kh, kw, stride):
    """``dw[a,b,c,k] = Σ_ij dz[i,j,k] × xp[i·s+a, j·s+b, c]``: windows ``+.×`` dz.

    ``(⍉cols)+.×dz`` summed over blocks of output positions, the same
    blocks of windows as :func:`_correlate_windows` copies.
    """
    dtype = np.result_type(xp, dz)
    c, k = xp.shape[-1], dz.shape[-1]
    dw = np.zeros((kh * kw * c, k), dtype)
    if dz.size and xp.size:
        grads = dz.reshape(-1, k)
        for start, stop, cols in _windows_in_blocks(xp, kh, kw, stride, dtype):
            dw += cols.T @ grads[start:stop]
    return dw.reshape(kh, kw, c, k)


def _weight_gradient_rows(xp, grads, kh, kw, dtype):
    """Stride-1 ``dw``: ``dw[a] = Σ_r ⍉wide[r + a·W] +.× grads[r]``, the adjoint of :func:`_rows_product`.

    ``grads`` is ``dz`` laid on the input's raveled pixel grid (zeros where
    no output pixel is: the wrapped columns and the rows past ``Ho``), see
    :func:`_conv_gradients`. The same blocks of kw-wide rows are copied as
    in the forward pass, and each kernel row's ``(kw·C, K)`` slab of ``dw``
    takes one product per block.
    """
    f, h, width, c = _one_frame(xp).shape
    k = grads.shape[-1]
    wide = _kernel_rows(_raveled(xp), kw)
    halo = (kh - 1) * width
    count = wide.shape[0] - halo
    dw = np.zeros((kh, kw * c, k), dtype)
    step = _rows_per_block(halo, kw * c, dtype.itemsize)
    buf = buffers.empty((min(step, count) + halo, kw * c), dtype)
    for r0 in range(0, count, step):
        n = min(step, count - r0)
        block = _rows_block(wide, r0, n + halo, buf)
        for a in range(kh):
            dw[a] += block[a * width:a * width + n].T @ grads[r0:r0 + n]
    return dw.reshape(kh, kw, c, k)


# ------------------------------------------------------------------ ReLU


def relu(z):
    """Rectifier ``0⌈z``.

    APL     y←0⌈z
    Index   y[…] = max(0, z[…])
    Oracle  naive.relu

    >>> relu(np.array([-2, 0, 3]))
    array([0, 0, 3])
    """
    return np.maximum(_values(z, "z", "relu"), 0)


def relu_backward(dy, z):
    """Gradient of :func:`relu`: ``dy×z>0`` (0 at the kink ``z = 0``).

    APL     dz←dy×z>0
    Index   dz[…] = dy[…] × (z[…] > 0)
    Oracle  naive.relu_backward

    >>> relu_backward(np.array([5., 5., 5.]), np.array([-1., 0., 2.]))
    array([0., 0., 5.])
    """
    dy, z = _real(dy, "dy", "relu_backward"), _values(z, "z", "relu_backward")
    _same_shape(dy, z, ("dy", "z"), "relu_backward")
    return dy * (z > 0)


# --------------------------------------------------------------- max pool


def _pool_sizes(x, size, stride, func):
    size = _count(size, "size", func, 1)
    stride = _count(stride, "stride", func, 1)
    h, w = x.shape[-3], x.shape[-2]
    if size > h or size > w:
        raise DomainError(f"{func}: size={size} is larger than the image's "
                          f"(H, W)=({h}, {w}); x.shape={x.shape}")
    return size, stride


def _pooled_shape(x, size, stride):
    """``(…, Ho, Wo, C)`` of :func:`maxpool`: ``Ho = (H − size)//stride + 1``."""
    h, w, c = x.shape[-3:]
    return _frame(x) + ((h - size) // stride + 1, (w - size) // stride + 1, c)


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
    x = _image(x, "x", "maxpool", exact=True)
    size, stride = _pool_sizes(x, size, stride, "maxpool")
    if x.size == 0:                      # an empty batch: no windows to read
        return np.zeros(_pooled_shape(x, size, stride), x.dtype)
    return _window_max(_windows_hw(x, size, size, stride))


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
    """Gradient of :func:`maxpool`: each ``dy`` goes to its window's first maximum.

    APL     h2←.5×1⊃⍴x ⋄ w2←.5×2⊃⍴x ⋄ m←(h2,w2,(¯1↑⍴x),4)⍴1 4 2 5 3⍉(h2,2,w2,2,¯1↑⍴x)⍴x
            r←(({⍵⍳⌈/⍵}⍤1⊢m)∘.=⍳4)×⍤1 0⊢dy ⋄ dx←(⍴x)⍴1 3 5 2 4⍉(h2,w2,(¯1↑⍴x),2 2)⍴r
    Index   dx[i·s+a, j·s+b, c] += dy[i,j,c]  where (a,b) is the first
            argmax of the window (i,j,c) in row-major order
    Oracle  naive.maxpool_backward

    (the APL line is the 2x2, stride 2 case; ``⍳`` finds the first
    maximum.) Ties are the rule in small windows, so they are defined: the first
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
    x = _image(x, "x", "maxpool_backward")
    dy = _image(dy, "dy", "maxpool_backward")
    size, stride = _pool_sizes(x, size, stride, "maxpool_backward")
    want = _pooled_shape(x, size, stride)
    if dy.shape != want:
        raise LengthError(f"maxpool_backward: dy.shape must be the shape of "
                          f"maxpool(x) = {want}; got dy.shape={dy.shape}")
    if x.size == 0:                      # an empty batch: nothing to route
        return np.zeros(x.shape, dy.dtype)
    win = _windows_hw(x, size, size, stride)
    return _route_to_first_max(dy, win, x.shape, stride)


def _route_to_first_max(dy, win, shape, stride):
    """``dy`` sent to the first maximum of each window of ``win``, ``(…, Ho, Wo, s, s, C)``.

    The window offsets ``(a, b)`` are visited in row-major order; each takes
    the windows whose maximum it holds and that no earlier offset took
    (``hit←(v=⌈/w)∧~taken``), so a tie goes to the first. One pass over a
    plane per offset, no ``(s·s)``-fold mask; overlapping windows add.
    """
    *_, ho, wo, size, _, _ = win.shape
    top = _window_max(win)
    taken = buffers.zeros(top.shape, bool)
    hit = buffers.empty(top.shape, bool)
    dx = np.zeros(shape, dy.dtype)
    for a in range(size):
        for b in range(size):
            np.equal(win[..., a, b, :], top, out=hit)
            np.greater(hit, taken, out=hit)                  # hit ∧ ~taken
            taken |= hit
            plane = dx[..., a:a + (ho - 1) * stride + 1:stride, b:b + (wo - 1) * stride + 1:stride, :]
            np.add(plane, dy * hit, out=plane)               # 0 + (−0) is +0 where not hit
    return dx


# ---------------------------------------------------------------- up-conv


def upconv(x, w, b=None):
    """Up-convolution: transposed convolution, stride = kernel size (the U-Net's 2x2, 2).

    APL     y←((2×2↑⍴x),¯1↑⍴w)⍴1 3 2 4 5⍉x+.×2 3 1 4⍉w
    Index   y[i·kh+a, j·kw+b, k] = b[k] + Σ_c x[i,j,c] × w[a,b,c,k]
    Oracle  naive.upconv

    (the APL line is the 2x2 case.) Each input pixel paints a ``kh×kw``
    block of the output, its channel vector ``+.×`` the kernel; the blocks do
    not overlap, so laying them out is a transpose and a reshape. That is
    done a block of image rows at a time (about ``_BLOCK_BYTES`` of
    product): each block's product goes to scratch and is laid into the
    output while still in cache, instead of the whole product being made
    and then copied (the U-Net's top up-convolution ran a quarter faster).

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
    x, w = _image(x, "x", "upconv"), _kernel(w, "w", "upconv")
    _channels_match(x, w, "upconv")
    b = _bias(b, w.shape[3], "upconv")
    kh, kw, c, k = w.shape
    *frame, h, wd, _ = x.shape
    if x.size == 0:                      # an empty batch or image (no rows to block): empty
        return _add_bias(np.zeros((*frame, h * kh, wd * kw, k), np.result_type(x, w)), b)
    frames = _one_frame(x)
    f = frames.shape[0]
    y = np.empty((f, h, kh, wd, kw, k), np.result_type(x, w))      # (F, H, kh, W, kw, K)
    taps = np.moveaxis(w, 2, 0).reshape(c, kh * kw * k).astype(y.dtype, copy=False)
    per_pixel = kh * kw * k
    per_block = max(1, _BLOCK_BYTES // (wd * per_pixel * y.itemsize))    # image rows
    buf = buffers.empty(min(per_block, f * h) * wd * per_pixel, y.dtype)
    for f0, f1, r0, r1 in _window_blocks(f, h, per_block):
        pixels = frames[f0:f1, r0:r1].reshape(-1, c)
        block = np.matmul(pixels, taps, out=buf[:pixels.shape[0] * per_pixel].reshape(-1, per_pixel))
        y[f0:f1, r0:r1] = block.reshape(f1 - f0, r1 - r0, wd, kh, kw, k).swapaxes(2, 3)
    return _add_bias(y.reshape(*frame, h * kh, wd * kw, k), b)


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
    x, w = _image(x, "x", "upconv_backward"), _kernel(w, "w", "upconv_backward")
    dy = _image(dy, "dy", "upconv_backward")
    _channels_match(x, w, "upconv_backward")
    kh, kw, c, k = w.shape
    want = _frame(x) + (x.shape[-3] * kh, x.shape[-2] * kw, k)
    if dy.shape != want:
        raise LengthError(f"upconv_backward: dy.shape must be the shape of "
                          f"upconv(x, w) = {want}; got dy.shape={dy.shape}")
    if x.size == 0:                      # an empty batch (or image): zero gradients
        dtype = np.result_type(dy, w)
        return np.zeros(x.shape, dtype), np.zeros(w.shape, dtype), np.zeros(k, dtype)
    blocks = _windows_hw(dy, kh, kw, (kh, kw)).reshape(-1, kh * kw * k)   # one copy, used twice
    dx = inner(np.add, np.multiply, blocks, w.swapaxes(2, 3).reshape(kh * kw * k, c))
    dw = inner(np.add, np.multiply, x.reshape(-1, c).T, blocks)
    return (dx.reshape(x.shape[:-1] + (c,)), np.moveaxis(dw.reshape(c, kh, kw, k), 0, 2),
            dy.reshape(-1, k).sum(axis=0))


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


def _margins(big, small):
    """The (top, left) offset of a centred ``small`` inside ``big``: ``⌊(big−small)÷2``."""
    return (big[0] - small[0]) // 2, (big[1] - small[1]) // 2


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
    x = _image(x, "x", "crop", exact=True)
    h, w = _hw(hw, "crop")
    if h > x.shape[-3] or w > x.shape[-2]:
        raise DomainError(f"crop: hw={(h, w)} must fit inside x's (H, W)="
                          f"{x.shape[-3:-1]}; got x.shape={x.shape}")
    top, left = _margins(x.shape[-3:-1], (h, w))
    return x[..., top:top + h, left:left + w, :]


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
    dy = _image(dy, "dy", "crop_backward", exact=True)
    big = _hw(hw, "crop_backward")
    _fits(_frame(dy) + big + dy.shape[-1:], dy.dtype, "crop_backward",
          f"the gradient padded to hw={big}")
    small = dy.shape[-3:-1]
    if small[0] > big[0] or small[1] > big[1]:
        raise DomainError(f"crop_backward: hw={big} must be at least dy's (h, w)="
                          f"{small}; got dy.shape={dy.shape}")
    top, left = _margins(big, small)
    dx = np.zeros(_frame(dy) + big + dy.shape[-1:], dy.dtype)
    dx[..., top:top + small[0], left:left + small[1], :] = dy
    return dx


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
    skip, up = _image(skip, "skip", "concat", True), _image(up, "up", "concat", True)
    if skip.shape[:-1] != up.shape[:-1]:
        raise LengthError(f"concat: skip and up must agree in all but the channel "
                          f"axis; got skip.shape={skip.shape}, up.shape={up.shape}")
    return np.concatenate([skip, up], axis=-1)


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
    dy = _image(dy, "dy", "concat_backward", exact=True)
    channels = _count(channels, "channels", "concat_backward", 0)
    if channels > dy.shape[-1]:
        raise DomainError(f"concat_backward: channels={channels} must be at most "
                          f"dy.shape[-1]={dy.shape[-1]}; got dy.shape={dy.shape}")
    return dy[..., :channels], dy[..., channels:]


# ------------------------------------------------------- softmax and loss


def _log_softmax(a):
    """``a − ⌈/a − ⍟+/*a−⌈/a`` over the last axis: log-sum-exp, finite for any logits."""
    shifted = a - a.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


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
    a = _classes(_real(a, "a", "softmax"), "softmax")
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _classes(a, func):
    """Logits ``a`` with a class axis of at least one class."""
    if a.ndim < 1 or a.shape[-1] == 0:
        raise RankError(f"{func}: a must have a last axis of at least one class, "
                        f"shape (…, K) with K >= 1; got a.shape={a.shape}")
    return a


def _nonempty(x, name, func):
    """A mean over no items would be 0/0: refuse it rather than return NaN."""
    if x.size == 0:
        raise DomainError(f"{func}: {name} must hold at least one item to average "
                          f"over; got {name}.shape={x.shape}")


def _labels(labels, a, func):
    labels = _array(labels, "labels", func)
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
    a = _classes(_real(a, "a", "softmax_cross_entropy"), "softmax_cross_entropy")
    labels = _labels(labels, a, "softmax_cross_entropy")
    _nonempty(labels, "labels", "softmax_cross_entropy")
    logp = _log_softmax(a)
    onehot = outer(np.equal, labels, np.arange(a.shape[-1]))
    picked = reduce(np.add, onehot * logp)                   # log p of each label
    n = labels.size
    if weights is None:
        return -picked.sum() / n, (np.exp(logp) - onehot) / n
    weights = _real(weights, "weights", "softmax_cross_entropy")
    if weights.shape != labels.shape:
        raise LengthError(f"softmax_cross_entropy: weights.shape must equal "
                          f"labels.shape = {labels.shape}; got "
                          f"weights.shape={weights.shape}")
    weights = weights.astype(logp.dtype, copy=False)
    return (-(weights * picked).sum() / n,
            weights[..., None] * (np.exp(logp) - onehot) / n)


# ------------------------------------------------- the notes' other layers


def sigmoid(x):
    """Logistic sigmoid ``÷1+*-x``, computed without overflow for any x.

    APL     y←÷1+*-x
    Index   y = 1 / (1 + exp(−x))
    Oracle  naive.sigmoid

    >>> sigmoid(np.array([-1000., 0., 1000.]))
    array([0. , 0.5, 1. ])
    """
    x = _real(x, "x", "sigmoid")
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
    dy, y = _real(dy, "dy", "sigmoid_backward"), _real(y, "y", "sigmoid_backward")
    _same_shape(dy, y, ("dy", "y"), "sigmoid_backward")
    return dy * y * (1 - y)


def softplus(x):
    """Softplus ``⍟1+*x``, the smooth rectifier of note 003, stable for any x.

    APL     y←(0⌈x)+⍟1+*-|x
    Index   y = log(1 + exp(x)) = max(x, 0) + log(1 + exp(−|x|))
    Oracle  naive.softplus

    >>> softplus(np.array([-1000., 0., 1000.]))
    array([0.00000000e+00, 6.93147181e-01, 1.00000000e+03])
    """
    x = _real(x, "x", "softplus")
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def softplus_backward(dy, x):
    """Gradient of :func:`softplus`: ``dy×÷1+*-x``, its derivative being the sigmoid.

    APL     dx←dy÷1+*-x
    Index   dx = dy × σ(x)
    Oracle  naive.softplus_backward

    >>> softplus_backward(np.array([2.]), np.array([0.]))
    array([1.])
    """
    dy, x = _real(dy, "dy", "softplus_backward"), _real(x, "x", "softplus_backward")
    _same_shape(dy, x, ("dy", "x"), "softplus_backward")
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
    p, y = _real(p, "p", "binary_cross_entropy"), _real(y, "y", "binary_cross_entropy")
    _same_shape(p, y, ("p", "y"), "binary_cross_entropy")
    _nonempty(p, "p", "binary_cross_entropy")
    if p.size and not (np.all(p > 0) and np.all(p < 1)):
        raise DomainError(f"binary_cross_entropy: p must lie in the open interval "
                          f"(0, 1); got values from {p.min()} to {p.max()}; "
                          f"use binary_cross_entropy_with_logits for saturated outputs")
    n = p.size
    loss = -(y * np.log(p) + (1 - y) * np.log1p(-p)).sum() / n
    return loss, ((1 - y) / (1 - p) - y / p) / n


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
    z = _real(z, "z", "binary_cross_entropy_with_logits")
    y = _real(y, "y", "binary_cross_entropy_with_logits")
    _same_shape(z, y, ("z", "y"), "binary_cross_entropy_with_logits")
    _nonempty(z, "z", "binary_cross_entropy_with_logits")
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
    yhat, y = _real(yhat, "yhat", "mse"), _real(y, "y", "mse")
    _same_shape(yhat, y, ("yhat", "y"), "mse")
    _nonempty(y, "y", "mse")
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
    x, w = _real(x, "x", "dense"), _real(w, "w", "dense")
    if x.ndim < 1 or w.ndim != 2:
        raise RankError(f"dense: x must have shape (…, N) and w shape (N, M); "
                        f"got x.shape={x.shape}, w.shape={w.shape}")
    if x.shape[-1] != w.shape[0]:
        raise LengthError(f"dense: w.shape[0] must equal x.shape[-1]; got "
                          f"w.shape={w.shape}, x.shape={x.shape}")
    b = _bias(b, w.shape[1], "dense")
    return _add_bias(inner(np.add, np.multiply, x, w), b)


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
    x, w = _real(x, "x", "dense_backward"), _real(w, "w", "dense_backward")
    dy = _real(dy, "dy", "dense_backward")
    if x.ndim < 1 or w.ndim != 2 or x.shape[-1] != w.shape[0]:
        raise LengthError(f"dense_backward: x must have shape (…, N) and w shape "
                          f"(N, M); got x.shape={x.shape}, w.shape={w.shape}")
    want = x.shape[:-1] + w.shape[1:]
    if dy.shape != want:
        raise LengthError(f"dense_backward: dy.shape must be the shape of "
                          f"dense(x, w) = {want}; got dy.shape={dy.shape}")
    n, m = w.shape
    dx = inner(np.add, np.multiply, dy, w.T)
    rows = int(np.prod(x.shape[:-1]))     # not -1: ambiguous when a size is 0
    dw = inner(np.add, np.multiply, x.reshape(rows, n).T, dy.reshape(rows, m))
    return dx, dw, dy.reshape(rows, m).sum(axis=0)


def flatten(x):
    """Flatten each image cell into a vector: ``,⍤3⊢x``.

    APL     f←,⍤3⊢x
    Index   f[…, (i·W + j)·C + c] = x[…, i, j, c]
    Oracle  naive.flatten

    >>> flatten(np.arange(8).reshape(2, 2, 2, 1))
    array([[0, 1, 2, 3],
           [4, 5, 6, 7]])
    """
    x = _image(x, "x", "flatten", exact=True)
    return x.reshape(_frame(x) + (x.shape[-3] * x.shape[-2] * x.shape[-1],))


def flatten_backward(dy, shape):
    """Gradient of :func:`flatten`: ``shape⍴dy``, the vectors back into images.

    APL     dx←shape⍴dy
    Index   dx[…, i, j, c] = dy[…, (i·W + j)·C + c]
    Oracle  naive.flatten_backward

    >>> flatten_backward(np.arange(4), (2, 2, 1))[..., 0]
    array([[0, 1],
           [2, 3]])
    """
    dy = _values(dy, "dy", "flatten_backward")
    shape = _ints(shape, "shape", "flatten_backward")
    if any(s < 0 for s in shape):
        raise DomainError(f"flatten_backward: shape must be non-negative; got shape={shape}")
    if len(shape) < 3 or dy.shape != shape[:-3] + (int(np.prod(shape[-3:])),):
        raise LengthError(f"flatten_backward: dy.shape must be the shape of "
                          f"flatten(x) for x.shape={shape}, i.e. "
                          f"{shape[:-3] + (int(np.prod(shape[-3:])),) if len(shape) >= 3 else '(…, H·W·C)'}; "
                          f"got dy.shape={dy.shape}")
    return dy.reshape(shape)


# ------------------------------------------------------ the image kernels


_MODES = ("valid", "full", "same")


def _plane_and_kernel(x, k, mode, func):
    x, k = _real(x, "x", func), _real(k, "k", func)
    if x.ndim < 2 or k.ndim != 2:
        raise RankError(f"{func}: x must have shape (…, H, W) and k shape (kh, kw); "
                        f"got x.shape={x.shape}, k.shape={k.shape}")
    if min(k.shape) < 1:
        raise DomainError(f"{func}: k must have at least one row and column; "
                          f"got k.shape={k.shape}")
    if mode not in _MODES:
        raise DomainError(f"{func}: mode must be one of {_MODES}; got mode={mode!r}")
    if mode == "valid" and (k.shape[0] > x.shape[-2] or k.shape[1] > x.shape[-1]):
        raise DomainError(f"{func}: in valid mode the kernel must fit the image; "
                          f"got k.shape={k.shape}, x.shape={x.shape}")
    return x, k


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
    x, k = _plane_and_kernel(x, k, mode, "correlate")
    kh, kw = k.shape
    if mode == "full":
        before = after = (kh - 1, kw - 1)
    elif mode == "same":
        before = ((kh - 1) // 2, (kw - 1) // 2)
        after = (kh - 1 - before[0], kw - 1 - before[1])
    else:
        before = after = (0, 0)
    xp = _pad_hw(x[..., None], before, after)
    return _correlate_valid(xp, k[:, :, None, None], 1)[..., 0]


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
    x, k = _plane_and_kernel(x, k, mode, "convolve")
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
    size = _count(size, "size", "gaussian_kernel", 1)
    if isinstance(sigma, (bool, np.bool_)) or not isinstance(sigma, numbers.Real):
        raise TypeError(f"gaussian_kernel: sigma must be a real number; got sigma={sigma!r}")
    if not np.isfinite(sigma) or sigma <= 0:
        raise DomainError(f"gaussian_kernel: sigma must be a positive number; got sigma={sigma!r}")
    _fits((size, size), np.float64, "gaussian_kernel", f"the kernel of size={size}")
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
    return gx, gx.T.copy()


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
    image = _real(image, "image", "sobel_gradient")
    if image.ndim < 2:
        raise RankError(f"sobel_gradient: image must have shape (…, H, W); "
                        f"got image.shape={image.shape}")
    gx, gy = (g.astype(image.dtype) for g in sobel())   # float32 stays float32
    sx, sy = correlate(image, gx, "same"), correlate(image, gy, "same")
    return np.hypot(sx, sy), np.arctan2(sy, sx)
