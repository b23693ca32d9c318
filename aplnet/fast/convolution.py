"""The fast engine's convolutions: the U-Net's conv and up-conv, forward and backward, at BLAS speed.

The same functions as :mod:`aplnet.layers` (same names, arguments, checks,
results to rounding), computed for speed. Every convolution, forward or
backward, is one of three contractions of the windows of a (padded) image
``{⍵}⌺kh kw`` with a kernel ``+.×`` over ``(kh, kw, C)``: the valid
correlation (:func:`correlate_valid`), and at stride 1 the input gradient
and the weight gradient, which share one zero-framed copy of ``dz``. Each
contraction takes the road :func:`aplnet.fast.roads.choose` picks from
the shapes: Winograd's F(2×2, 3×3), rows of the raveled image, one product
per tap, or im2col windows, a block of a few MB at a time so that the
copies stay in cache and the products run at BLAS speed (scratch from
:mod:`aplnet.fast.buffers`).
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import checks
from ..apl import rot180
from . import buffers, roads, strides, winograd

__all__ = ["conv", "conv_relu", "conv_backward", "upconv", "upconv_backward", "correlate_valid"]

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
    return strides.windows_hw(xp, kh, kw, *_pair(stride))


def _one_frame(x):
    """``x`` with its frame raveled into one leading axis: ``(F, H, W, C)``."""
    return x.reshape((-1,) + x.shape[-3:])


def _raveled(xp):
    """The pixels of ``xp`` as the rows of an ``(F·H·W, C)`` matrix: ``((×/¯1↓⍴x),¯1↑⍴x)⍴x``."""
    return np.ascontiguousarray(xp).reshape(-1, xp.shape[-1])


def _rows_per_block(halo, width, itemsize):
    """Rows per block of the kw-wide rows: :func:`roads.block_bytes` of ``width`` items,
    and at least four halos, so the halo rows copied again with each block
    stay a small part of the copy."""
    return max(1, roads.block_bytes() // (width * itemsize), 4 * halo)


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


def correlate_valid(xp, w, stride=1, finish=None):
    """Valid cross-correlation ``(,⍤3⊢{⍵}⌺kh kw⊢xp)+.×(kh×kw×C) K⍴w``, by the road :func:`roads.choose` picks.

    The contraction under every convolution here; ``xp`` is already padded,
    the shapes already checked. The result has ``np.result_type(xp, w)``:
    float32 in, float32 out. ``finish(dst, src)``, if given, writes each
    block of the result into its place instead of a copy (``src`` may be
    ``dst``): :func:`conv_relu` adds the bias and rectifies there, while
    the block is in cache.

    >>> xp = np.arange(12.).reshape(3, 4, 1)
    >>> correlate_valid(xp, np.ones((2, 2, 1, 1)))[..., 0]
    array([[10., 14., 18.],
           [26., 30., 34.]])
    """
    road = roads.choose("correlate", xp.shape, w.shape, _stride_of(stride),
                        np.result_type(xp, w), empty=xp.size == 0)
    if road == "winograd":
        z = winograd.correlate(xp, w)
        if finish is not None:
            finish(z, z)
        return z
    if road == "rows":
        return _correlate_rows(xp, w, finish)
    return _correlate_windows(xp, w, stride, finish)


def _stride_of(stride):
    """One stride for both axes, or 0 for a pair that differs (no stride-1 road takes it)."""
    sh, sw = _pair(stride)
    return sh if sh == sw else 0


def _correlate_rows(xp, w, finish=None):
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
    put = np.copyto if finish is None else finish
    for r0, block in _rows_product(_raveled(xp), w, width, count, z.dtype, whole_rows=True):
        g0, (rows, rest) = r0 // width, divmod(block.shape[0], width)
        put(z[g0:g0 + rows], block[:rows * width].reshape(rows, width, k)[:, :wo])
        if rest:                                          # the last row, cut at Wo
            put(z[g0 + rows, :rest], block[rows * width:])
    return z.reshape(f, h, wo, k)[:, :h - kh + 1].reshape(
        xp.shape[:-3] + (h - kh + 1, wo, k))


def _rows_product(flat, w, width, count, dtype, whole_rows=False, out=None):
    """``z[r] = Σ_a wide[r + a·width] +.× w[a]`` for ``r < count``, a block of rows at a time.

    ``wide`` are the kw-wide rows of ``flat`` (:func:`strides.kernel_rows`),
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
    wide = strides.kernel_rows(flat, kw)
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
    copied into one reused scratch buffer of about :func:`roads.block_bytes`.
    An image of one channel is copied tap by tap into a ``(kh·kw, n)``
    matrix, and ``cols`` is its transpose: each tap's copy is a run of
    rows ``Wo`` long (not a step of ``kh·kw`` numbers at a time), and the
    weight gradient's ``(⍉cols)+.×dz`` reads its left matrix in rows, which
    BLAS does faster on this shape (a third of the U-Net's first layer's
    gradient time).
    """
    win = _windows_hw(_one_frame(xp), kh, kw, stride)       # (F, Ho, Wo, kh, kw, C)
    f, ho, wo = win.shape[:3]
    width = kh * kw * xp.shape[-1]
    per_block = max(1, roads.block_bytes() // (wo * width * dtype.itemsize))
    buf = buffers.empty(min(per_block, f * ho) * wo * width, dtype)
    for f0, f1, r0, r1 in _window_blocks(f, ho, per_block):
        src = win[f0:f1, r0:r1]
        start = (f0 * ho + r0) * wo
        if xp.shape[-1] == 1:
            by_tap = np.moveaxis(src[..., 0], (-2, -1), (0, 1))   # (kh, kw, F, rows, Wo)
            block = buf[:src.size].reshape(by_tap.shape)
            np.copyto(block, by_tap)
            yield start, start + src.size // width, block.reshape(width, -1).T
        else:
            block = buf[:src.size].reshape(src.shape)
            np.copyto(block, src)
            yield start, start + block.size // width, block.reshape(-1, width)


def _correlate_windows(xp, w, stride, finish=None):
    """Valid correlation, any stride: each block of raveled windows ``+.×`` the kernel matrix.

    The windows of a block of output rows are copied out (im2col, a block at
    a time, so the scratch stays about :func:`roads.block_bytes`) and multiplied with
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
        if finish is not None:
            finish(rows[start:stop], rows[start:stop])
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
    """Convolution layer, as :func:`aplnet.layers.conv`: the same arguments, checks and result.

    The APL, the index formula and the parameters are documented there;
    here the padded image is correlated with ``w`` by the road
    :func:`roads.choose` picks (:func:`correlate_valid`).

    Examples
    --------
    >>> from aplnet import layers
    >>> x, w = np.arange(60.).reshape(5, 4, 3), np.ones((3, 2, 3, 2))
    >>> np.array_equal(conv(x, w, stride=2, pad=1), layers.conv(x, w, stride=2, pad=1))
    True
    """
    x, w, b, stride, pad = checks.conv_args(x, w, b, stride, pad, "conv")
    xp = _pad_hw(x, (pad, pad), (pad, pad)) if pad else x
    return _add_bias(correlate_valid(xp, w, stride), b)


def conv_relu(x, w, b=None, stride=1, pad=0):
    """``0⌈conv x``: :func:`conv` and :func:`aplnet.fast.relu` in one pass over the output.

    The same arguments, checks and result as ``relu(conv(x, w, b, stride,
    pad))``; the bias is added and the result rectified block by block as
    the products come out, rather than in two more passes over the whole
    output (the U-Net's convolutions are all followed by a ReLU).

    Examples
    --------
    >>> from aplnet import layers
    >>> x, w = np.arange(60.).reshape(5, 4, 3) - 30, np.ones((3, 2, 3, 2))
    >>> np.array_equal(conv_relu(x, w, np.array([1., -2.]), pad=1),
    ...                layers.relu(layers.conv(x, w, np.array([1., -2.]), pad=1)))
    True
    """
    x, w, b, stride, pad = checks.conv_args(x, w, b, stride, pad, "conv_relu")
    xp = _pad_hw(x, (pad, pad), (pad, pad)) if pad else x
    dtype = np.result_type(xp, w)
    if b is not None and np.result_type(dtype, b) != dtype:   # the bias widens the result
        return np.maximum(_add_bias(correlate_valid(xp, w, stride), b), 0)

    def finish(dst, src):
        if b is not None:
            np.add(src, b, out=dst)
            src = dst
        np.maximum(src, 0, out=dst)

    return correlate_valid(xp, w, stride, finish)


def conv_backward(dz, x, w, stride=1, pad=0, need_dx=True, need_db=True):
    """Gradients of :func:`conv`, as :func:`aplnet.layers.conv_backward`.

    ``need_dx=False`` leaves out the input gradient (``dx`` is None): the
    U-Net's first layer wants only its weights' (the image's gradient
    would be a 64-channel full correlation for nothing). ``need_db=False``
    leaves out the bias's (``db`` is None), a pass over ``dz`` that a
    network without biases does not need.

    Returns
    -------
    dx : array (…, H, W, C), or None
    dw : array (kh, kw, C, K)
    db : array (K,), or None

    Examples
    --------
    >>> from aplnet import layers
    >>> x, w, dz = np.arange(24.).reshape(4, 3, 2), np.ones((2, 2, 2, 1)), np.ones((3, 2, 1))
    >>> [np.array_equal(f, e) for f, e in zip(conv_backward(dz, x, w), layers.conv_backward(dz, x, w))]
    [True, True, True]
    >>> conv_backward(dz, x, w, need_dx=False)[0] is None
    True
    >>> conv_backward(dz, x, w, need_db=False)[2] is None
    True
    """
    dz, x, w, stride, pad = checks.conv_backward_args(dz, x, w, stride, pad, "conv_backward")
    for name, flag in (("need_dx", need_dx), ("need_db", need_db)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"conv_backward: {name} must be True or False; got {flag!r}")
    xp = _pad_hw(x, (pad, pad), (pad, pad)) if pad else x
    dxp, dw = _conv_gradients(xp, dz, w, stride, need_dx)
    dx = None if dxp is None else dxp[..., pad:pad + x.shape[-3], pad:pad + x.shape[-2], :]
    return dx, dw, dz.reshape(-1, w.shape[3]).sum(axis=0) if need_db else None


def _conv_gradients(xp, dz, w, stride, need_dx=True):
    """``(dxp, dw)`` of the valid correlation of ``xp`` with ``w``: the two contractions of dz.

    ``dxp`` is the full correlation of ``dz`` (dilated by the stride) with
    ``⊖⌽w``, its channel axes swapped; ``dw`` the windows of ``xp`` against
    ``dz``. Each takes the road :func:`roads.choose` picks. At stride 1 the
    rows and taps roads read one array: ``dz`` framed in zeros, ``kh − 1``
    rows above and below and ``kw − 1`` columns on the left, each row as
    wide as ``xp``'s, so that raveled it serves :func:`_rows_product` as the
    padded image of ``dx`` (a right edge wraps into the next row's zeros)
    and, shifted by ``(kh − 1)·W + kw − 1`` rows, lines ``dz`` up with the
    raveled ``xp`` for :func:`_weight_gradient_rows` (the wrapped columns
    and the rows past ``Ho`` read zeros).
    """
    kh, kw, c, k = w.shape
    dtype, empty = np.result_type(xp, dz, w), dz.size == 0 or xp.size == 0
    dx_road = roads.choose("input_gradient", xp.shape, w.shape, stride, dtype, empty)
    dw_road = roads.choose("weight_gradient", xp.shape, w.shape, stride, dtype, empty)
    back = rot180(w).swapaxes(2, 3)
    framed = None
    if (need_dx and dx_road in ("rows", "taps")) or dw_road == "rows":
        framed = _framed(xp, dz, kh, kw)
    dxp = None
    if need_dx and dx_road == "winograd":
        dxp = winograd.input_gradient(dz, w)
    elif need_dx and dx_road == "windows":
        spread = _pad_hw(dz, (kh - 1, kw - 1), (kh - 1, kw - 1), stride)
        dxp = correlate_valid(spread, back, 1)
    elif need_dx:
        width = xp.shape[-2]
        dxp = np.empty((_one_frame(xp).shape[0] * xp.shape[-3] * width, c), np.result_type(dz, w))
        if dx_road == "taps":
            _taps_product(framed, back, width, dxp)
        else:
            for _ in _rows_product(framed, back, width, dxp.shape[0], dxp.dtype, out=dxp):
                pass                                          # each block lands in dxp
        dxp = dxp.reshape(xp.shape[:-1] + (c,))
    if dw_road == "winograd":
        dw = winograd.weight_gradient(xp, dz)
    elif dw_road == "rows":
        head, pixels = (kh - 1) * xp.shape[-2], _one_frame(xp)[..., 0].size
        grads = framed[head + kw - 1:head + kw - 1 + pixels]
        dw = _weight_gradient_rows(xp, grads, kh, kw, np.result_type(xp, dz))
    else:
        dw = _weight_gradient(xp, dz, kh, kw, stride)
    return dxp, dw


def _framed(xp, dz, kh, kw):
    """``dz`` on ``xp``'s raveled pixel grid, framed in zeros for the stride-1 rows and taps roads."""
    f, h, width, _ = _one_frame(xp).shape
    k = dz.shape[-1]
    pixels, head = f * h * width, (kh - 1) * width
    framed = buffers.zeros(((f * h + kh - 1) * width + kw - 1, k), dz.dtype)
    framed[head:head + pixels].reshape(f, h, width, k)[:, :dz.shape[-3], kw - 1:] = _one_frame(dz)
    return framed


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
    step = min(count, max(1, roads.block_bytes() // (k * dtype.itemsize)))
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
    wide = strides.kernel_rows(_raveled(xp), kw)
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


# ---------------------------------------------------------------- up-conv


def upconv(x, w, b=None, out=None):
    """Up-convolution, as :func:`aplnet.layers.upconv`: each pixel paints a ``kh×kw`` block.

    The blocks do not overlap, so laying them out is a transpose and a
    reshape. That is done a block of image rows at a time (about
    :func:`roads.block_bytes` of product): each block's product goes to
    scratch and is laid into the output while still in cache.

    ``out``, if given, takes the result and is returned: an array (or a
    view, e.g. the channels of a concatenation's buffer that the
    up-convolution fills) of the result's shape and dtype.

    Examples
    --------
    >>> from aplnet import layers
    >>> x, w = np.arange(12.).reshape(2, 3, 2), np.arange(12.).reshape(2, 1, 2, 3)
    >>> np.array_equal(upconv(x, w), layers.upconv(x, w))
    True
    >>> both = np.zeros((4, 3, 5))
    >>> upconv(x, w, out=both[..., 2:]) is not None, np.array_equal(both[..., 2:], upconv(x, w))
    (True, True)
    """
    x, w, b = checks.upconv_args(x, w, b, "upconv")
    kh, kw, c, k = w.shape
    *frame, h, wd, _ = x.shape
    dtype = np.result_type(x, w)
    shape = (*frame, h * kh, wd * kw, k)
    if out is None:
        out = np.empty(shape, dtype)
    elif (not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype
          or (b is not None and np.result_type(dtype, b) != dtype)):
        raise ValueError(f"upconv: out must be an array of shape {shape} and dtype {dtype} "
                         f"(with a bias of that dtype); got {type(out).__name__} "
                         f"{getattr(out, 'shape', '')} {getattr(out, 'dtype', '')}")
    if x.size == 0:                      # an empty batch or image (no rows to block): zeros
        out[...] = 0
        return _add_bias(out, b)
    frames = _one_frame(x)
    f = frames.shape[0]
    y = out.reshape(f, h, kh, wd, kw, k)                  # H and W split, the frame merged
    if not np.may_share_memory(y, out):
        raise ValueError(f"upconv: out's frame axes must be mergeable into one without a copy; "
                         f"got strides {out.strides} for shape {out.shape}")
    taps = np.moveaxis(w, 2, 0).reshape(c, kh * kw * k).astype(dtype, copy=False)
    per_pixel = kh * kw * k
    per_block = max(1, roads.block_bytes() // (wd * per_pixel * dtype.itemsize))
    buf = buffers.empty(min(per_block, f * h) * wd * per_pixel, dtype)
    for f0, f1, r0, r1 in _window_blocks(f, h, per_block):
        pixels = frames[f0:f1, r0:r1].reshape(-1, c)
        block = np.matmul(pixels, taps, out=buf[:pixels.shape[0] * per_pixel].reshape(-1, per_pixel))
        y[f0:f1, r0:r1] = block.reshape(f1 - f0, r1 - r0, wd, kh, kw, k).swapaxes(2, 3)
    return _add_bias(out, b)


def upconv_backward(dy, x, w):
    """Gradients of :func:`upconv`, as :func:`aplnet.layers.upconv_backward`.

    The blocks of ``dy`` (its windows with stride = size) do not overlap:
    they are copied out once, and each gradient is one matrix product with them.

    Examples
    --------
    >>> from aplnet import layers
    >>> x, w, dy = np.arange(12.).reshape(2, 3, 2), np.ones((2, 1, 2, 3)), np.ones((4, 3, 3))
    >>> [np.array_equal(f, e) for f, e in zip(upconv_backward(dy, x, w),
    ...                                       layers.upconv_backward(dy, x, w))]
    [True, True, True]
    """
    dy, x, w = checks.upconv_backward_args(dy, x, w, "upconv_backward")
    kh, kw, c, k = w.shape
    if x.size == 0:                      # an empty batch (or image): zero gradients
        dtype = np.result_type(dy, w)
        return np.zeros(x.shape, dtype), np.zeros(w.shape, dtype), np.zeros(k, dtype)
    blocks = _windows_hw(dy, kh, kw, (kh, kw)).reshape(-1, kh * kw * k)   # one copy, used twice
    dx = blocks @ w.swapaxes(2, 3).reshape(kh * kw * k, c)
    dw = x.reshape(-1, c).T @ blocks
    return (dx.reshape(x.shape[:-1] + (c,)), np.moveaxis(dw.reshape(c, kh, kw, k), 0, 2),
            dy.reshape(-1, k).sum(axis=0))

