"""Winograd's minimal filtering F(2×2, 3×3): a 3x3 valid correlation in 16 products instead of 36.

Cut the output into 2x2 tiles. Each tile reads a 4x4 patch ``d`` of the
input (patches overlap by two rows and columns), and over one channel pair

    Y = Aᵀ ((G w Gᵀ) × (Bᵀ d B)) A          (× elementwise, 4x4)

is the tile's 2x2 correlation, exactly (Lavin & Gray, *Fast Algorithms for
Convolutional Neural Networks*, 2016). The sum over input channels moves
inside, between the transforms, where it is an inner product: for each of
the 16 positions ``(u, v)`` of the 4x4 tile,

    M[u,v] = V[u,v] +.× U[u,v]      V[u,v] : (tiles, C)   U[u,v] : (C, K)

so a 3x3 convolution costs 16 matrix products of (tiles, C)·(C, K), where
the windows ``+.×`` kernel way costs 9 of (pixels, C)·(C, K), with 4
pixels to a tile: 16/36 of the multiplications. The transforms are sums
and differences of strided slices (the matrices hold only 0, ±1 and ±½),
``O(C)`` work per pixel against the products' ``O(C·K)``, so the trade pays
when the channels are many (see :data:`aplnet.fast.roads.WINOGRAD_LEAST_CHANNELS`).

In APL, for one tile ``d`` (4 4) and one kernel ``w`` (3 3)::

    U←G+.×w+.×⍉G ⋄ V←(⍉B)+.×d+.×B ⋄ Y←(⍉A)+.×(U×V)+.×A

with ``B``, ``G``, ``A`` the matrices below. The weight gradient is the
adjoint of the same steps, in reverse: ``dU[u,v] = ⍉V[u,v] +.× dM[u,v]``
with ``dM = A dY Aᵀ`` and ``dw = Gᵀ dU G``.

``G`` holds halves, so integer arrays are computed in float64, as the
layers do. In float32 the result differs from the direct sum by a few
units in the last place (relative error about 1e-6 on the U-Net's layers).
"""

from __future__ import annotations

import numpy as np

from .. import checks
from ..apl import DomainError, LengthError
from . import buffers, roads

__all__ = ["B", "G", "A", "correlate", "input_gradient", "weight_gradient"]

B = np.array([[1, 0, 0, 0],
              [0, 1, -1, 1],
              [-1, 1, 1, 0],
              [0, 0, 0, -1]], float)
"""Input transform: ``V = Bᵀ d B``."""

G = np.array([[1, 0, 0],
              [.5, .5, .5],
              [.5, -.5, .5],
              [0, 0, 1]])
"""Kernel transform: ``U = G w Gᵀ``."""

A = np.array([[1, 0],
              [1, 1],
              [1, -1],
              [0, -1]], float)
"""Output transform: ``Y = Aᵀ M A``."""

def _transform_kernel(w, g=G):
    """``U[u,v] = Σ_ab g[u,a] w[a,b] g[v,b]``, i.e. ``g+.×w+.×⍉g`` for every channel pair; ``(4, 4, C, K)``.

    The two products with the tiny ``G`` are one with their Kronecker
    product, ``(G⊗G)[(u,v),(a,b)] = G[u,a]·G[v,b]``, a 16x9 matrix times
    the taps raveled to ``(9, C·K)``: one pass over ``w``, and no
    ``(4, 3, C, K)`` array half-way. ``g`` is ``G`` or, for the turned
    kernel of :func:`input_gradient`, ``G[_TURN]``.
    """
    return (_kron(g, w.dtype) @ w.reshape(9, -1)).reshape((4, 4) + w.shape[2:])


def _untransform_kernel(du):
    """The adjoint of :func:`_transform_kernel`: ``dw[a,b] = Σ_uv G[u,a] dU[u,v] G[v,b]``, ``(G⊗G)ᵀ`` times ``dU``."""
    return (_kron(G, du.dtype).T @ du.reshape(16, -1)).reshape((3, 3) + du.shape[2:])


def _kron(g, dtype):
    """``g⊗g`` in ``dtype``, ``16 9⍴1 3 2 4⍉g∘.×g``: for ``G`` (or its rows reordered) the entries, 0, ±¼, ±½ and 1, are exact in float32."""
    return np.kron(g, g).astype(dtype)


def _transform_rows(r0, r1, r2, r3, out):
    """``out[u] = Σ_a B[a,u] r_a``: the 1-D input transform, ``(d0−d2, d1+d2, d2−d1, d1−d3)``."""
    np.subtract(r0, r2, out=out[0])
    np.add(r1, r2, out=out[1])
    np.subtract(r2, r1, out=out[2])
    np.subtract(r1, r3, out=out[3])


def _transform_input(x, tiles_h, tiles_w, rows, out):
    """``V = Bᵀ d B`` for the tiles of ``x`` (``(2·th + 2, W, C)``), into ``out`` ``(4, 4, th, tw, C)``.

    Along H on strided row slices (each tile's row ``a`` is image row
    ``2i + a``), then along W on strided column slices: no patch is copied out.
    ``rows`` is scratch of shape ``(4, th, W, C)``.
    """
    _transform_rows(*(x[a:a + 2 * tiles_h:2] for a in range(4)), rows)
    for u in range(4):
        _transform_rows(*(rows[u][:, b:b + 2 * tiles_w:2] for b in range(4)), out[u])


def _transform_output(m, out, cols):
    """``Y = Aᵀ M A``: ``m`` ``(4, 4, th, tw, K)`` into ``out`` ``(th, 2, tw, 2, K)``, tile row i, row a, …

    1-D: ``(m0 + m1 + m2, m1 − m2 − m3)``, along v then along u; ``cols`` is
    scratch of shape ``(2, 4, th, tw, K)``.
    """
    np.add(m[:, 0], m[:, 1], out=cols[0])
    cols[0] += m[:, 2]
    np.subtract(m[:, 1], m[:, 2], out=cols[1])
    cols[1] -= m[:, 3]
    for b in range(2):
        c = cols[b]
        top, bottom = out[:, 0, :, b], out[:, 1, :, b]
        np.add(c[0], c[1], out=top)
        top += c[2]
        np.subtract(c[1], c[2], out=bottom)
        bottom -= c[3]


def _untransform_output(dy, out, rows):
    """The adjoint of :func:`_transform_output`: ``dM = A dY Aᵀ``, ``dy`` ``(th, 2, tw, 2, K)`` into ``out`` ``(4, 4, th, tw, K)``.

    1-D: ``(y0, y0 + y1, y0 − y1, −y1)``, along u then along v; ``rows[u, b]``
    (scratch, ``(4, 2, th, tw, K)``) holds tile column b after the u step.
    """
    for b in range(2):
        y0, y1 = dy[:, 0, :, b], dy[:, 1, :, b]
        rows[0, b] = y0
        np.add(y0, y1, out=rows[1, b])
        np.subtract(y0, y1, out=rows[2, b])
        np.negative(y1, out=rows[3, b])
    for u in range(4):
        y0, y1 = rows[u, 0], rows[u, 1]
        out[u, 0] = y0
        np.add(y0, y1, out=out[u, 1])
        np.subtract(y0, y1, out=out[u, 2])
        np.negative(y1, out=out[u, 3])


def _even(xp, dz=None):
    """``xp`` (and ``dz``) padded with zeros at the bottom and right so that the output sides are even."""
    extra_h, extra_w = (xp.shape[-3] - 2) % 2, (xp.shape[-2] - 2) % 2
    if not (extra_h or extra_w):
        return xp, dz
    spread = [(0, 0)] * (xp.ndim - 3) + [(0, extra_h), (0, extra_w), (0, 0)]
    return np.pad(xp, spread), None if dz is None else np.pad(dz, spread)


def _tile_row_blocks(frames, tiles_h, tiles_w, channels, itemsize):
    """``(f, i0, i1)``: frame ``f``, tile rows ``i0:i1``; about :func:`roads.block_bytes` of ``V`` each,
    but at least :func:`roads.least_tiles` tiles (as far as the image has them)."""
    per_row = 16 * tiles_w * channels * itemsize
    step = max(1, roads.block_bytes() // per_row, -(-roads.least_tiles() // tiles_w))
    step = min(tiles_h, step)
    for f in range(frames):
        for i0 in range(0, tiles_h, step):
            yield f, i0, min(tiles_h, i0 + step)


def _at_least(x, name, func, least):
    """``x`` (checked by :func:`aplnet.checks.image`) with H, W >= ``least`` and a channel."""
    if min(x.shape[-3:-1]) < least or x.shape[-1] < 1:
        raise DomainError(f"{func}: {name} must be at least {least}x{least} with one channel "
                          f"or more; got {name}.shape={x.shape}")
    return x


def _three_by_three(w, func):
    if w.shape[:2] != (3, 3):
        raise LengthError(f"{func}: w must be a 3x3 kernel, shape (3, 3, C, K); "
                          f"got w.shape={w.shape}")
    return w


def correlate(xp, w):
    """Valid 3x3 correlation by F(2×2, 3×3): ``(⍉A)+.×((G+.×w+.×⍉G)×(⍉B)+.×d+.×B)+.×A`` per tile.

    The same function as :func:`aplnet.layers.conv` with stride 1 and no
    padding (the sum over C taken between the transforms, as 16 products),
    computed a block of tile rows at a time.

    Parameters
    ----------
    xp : array (…, H, W, C), H, W >= 3
    w : array (3, 3, C, K)

    Returns
    -------
    z : array (…, H − 2, W − 2, K), of ``np.result_type(xp, w)``, integers promoted to float64.

    Raises
    ------
    TypeError
        Complex values.
    RankError
        ``xp`` has fewer than 3 axes, or ``w`` is not 4-D.
    LengthError
        ``w`` is not 3x3, or its input channels are not ``xp``'s.
    DomainError
        ``xp`` is smaller than 3x3 or has no channels, or ``w`` has an
        axis of length 0.

    See Also
    --------
    naive.conv : the loop oracle.
    input_gradient, weight_gradient : its two gradients.

    Examples
    --------
    >>> x = np.arange(16.).reshape(4, 4, 1)
    >>> w = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float)[..., None, None]
    >>> correlate(x, w)[..., 0]
    array([[0., 0.],
           [0., 0.]])
    >>> correlate(x, np.ones((3, 3, 1, 1)))[..., 0]
    array([[45., 54.],
           [81., 90.]])
    """
    xp = _at_least(checks.image(xp, "xp", "correlate"), "xp", "correlate", 3)
    w = _three_by_three(checks.kernel(w, "w", "correlate"), "correlate")
    checks.channels_match(xp, w, "correlate")
    dtype = np.result_type(xp, w)
    return _correlate_transformed(xp, _transform_kernel(w.astype(dtype, copy=False)), dtype)


def input_gradient(dz, w):
    """``dx`` of the valid 3x3 correlation by F(2×2, 3×3): ``dz`` padded by 2, correlated with ``1 2 4 3⍉⊖⊖⍤3⊢w``.

    Reversing a 3x3 kernel's taps reverses the columns of ``G``, and
    ``G[:, ::-1]`` is ``G`` with its rows in the order 3 1 2 0; so
    ``G (⊖⌽w) Gᵀ`` is ``w`` transformed with ``G[_TURN]`` in place of
    ``G``, and swapping the channel axes transposes each ``U[u,v]`` (a
    view): no turned copy of ``w`` or of its transform is made.

    Parameters
    ----------
    dz : array (…, Ho, Wo, K), Ho, Wo >= 1
    w : array (3, 3, C, K)

    Returns
    -------
    dx : array (…, Ho + 2, Wo + 2, C), of ``np.result_type(dz, w)``, integers promoted to float64.

    Raises
    ------
    As :func:`correlate`, with ``dz``'s channels matched against ``K``.

    See Also
    --------
    naive.conv_backward : the loop oracle (its ``dx``).

    Examples
    --------
    >>> w = np.arange(9.).reshape(3, 3, 1, 1)
    >>> input_gradient(np.ones((1, 1, 1)), w)[..., 0]
    array([[0., 1., 2.],
           [3., 4., 5.],
           [6., 7., 8.]])
    """
    dz = _at_least(checks.image(dz, "dz", "input_gradient"), "dz", "input_gradient", 1)
    w = _three_by_three(checks.kernel(w, "w", "input_gradient"), "input_gradient")
    if w.shape[3] != dz.shape[-1]:
        raise LengthError(f"input_gradient: w.shape[3] (kernel output channels) must equal "
                          f"dz.shape[-1]; got w.shape={w.shape}, dz.shape={dz.shape}")
    dtype = np.result_type(dz, w)
    turned = _transform_kernel(w.astype(dtype, copy=False), G[_TURN]).swapaxes(2, 3)
    spread = [(0, 0)] * (dz.ndim - 3) + [(2, 2), (2, 2), (0, 0)]
    return _correlate_transformed(np.pad(dz, spread), turned, dtype)


_TURN = [3, 1, 2, 0]
"""The order of ``G``'s rows that reverses its columns: ``G[_TURN] = G[:, ::-1]``."""


def _input_blocks(frames, k, dtype):
    """The blocks of tile rows of ``frames`` (``(F, H, W, C)``, even output sides), each with its ``V``.

    Yields ``(f, i0, n, v)``: frame ``f``, tile rows ``i0:i0+n``, and
    ``v = Bᵀ d B`` of their tiles as 16 ``(n·tw, C)`` matrices, in scratch
    that the next block overwrites. ``k`` (the other side's channels) sizes
    the blocks, as :func:`_tile_row_blocks` says.
    """
    f, h, width, c = frames.shape
    th, tw = (h - 2) // 2, (width - 2) // 2
    blocks = list(_tile_row_blocks(f, th, tw, max(c, k), dtype.itemsize))
    step = max((i1 - i0 for _, i0, i1 in blocks), default=0)
    rows = buffers.empty((4, step, width, c), dtype)
    v = buffers.empty((4, 4, step, tw, c), dtype)
    for f0, i0, i1 in blocks:
        n = i1 - i0
        _transform_input(frames[f0, 2 * i0:2 * i1 + 2], n, tw, rows[:, :n], v[:, :, :n])
        yield f0, i0, n, v[:, :, :n].reshape(16, n * tw, c)


def _correlate_transformed(xp, u, dtype):
    """:func:`correlate` with the kernel already transformed: ``u`` ``(4, 4, C, K)``."""
    ho, wo = xp.shape[-3] - 2, xp.shape[-2] - 2
    xe, _ = _even(xp)
    frames = xe.reshape((-1,) + xe.shape[-3:])
    f, h, width, c = frames.shape
    k = u.shape[-1]
    th, tw = (h - 2) // 2, (width - 2) // 2
    u = u.reshape(16, c, k)
    z = np.empty((f, 2 * th, 2 * tw, k), dtype)
    m = cols = None
    for f0, i0, n, v in _input_blocks(frames, k, dtype):
        if m is None:                                     # the first block is the longest
            m, cols = buffers.empty((16, n * tw, k), dtype), buffers.empty((2, 4, n, tw, k), dtype)
        mb = m[:, :n * tw]
        np.matmul(v, u, out=mb)
        _transform_output(mb.reshape(4, 4, n, tw, k),
                          z[f0, 2 * i0:2 * (i0 + n)].reshape(n, 2, tw, 2, k), cols[:, :, :n])
    z = z.reshape(xp.shape[:-3] + z.shape[-3:])
    return z[..., :ho, :wo, :] if z.shape[-3:-1] != (ho, wo) else z


def weight_gradient(xp, dz):
    """``dw`` of the valid 3x3 correlation, by F(2×2, 3×3): ``dU[u,v] = ⍉V[u,v] +.× dM[u,v]``, ``dw = Gᵀ dU G``.

    The adjoint of :func:`correlate` with respect to ``w``: equal to
    ``dw[a,b,c,k] = Σ_ij dz[i,j,k] × xp[i+a, j+b, c]``.

    Parameters
    ----------
    xp : array (…, H, W, C), H, W >= 3
    dz : array (…, H − 2, W − 2, K)

    Returns
    -------
    dw : array (3, 3, C, K), of ``np.result_type(xp, dz)``, integers promoted to float64.

    Raises
    ------
    TypeError
        Complex values.
    RankError
        ``xp`` or ``dz`` has fewer than 3 axes.
    LengthError
        ``dz`` is not ``(…, H − 2, W − 2, K)`` for the frame of ``xp``.
    DomainError
        ``xp`` is smaller than 3x3, or either has no channels.

    See Also
    --------
    naive.conv_backward : the loop oracle (its ``dw``).

    Examples
    --------
    >>> x = np.arange(16.).reshape(4, 4, 1)
    >>> weight_gradient(x, np.ones((2, 2, 1)))[..., 0, 0]
    array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]])
    """
    xp = _at_least(checks.image(xp, "xp", "weight_gradient"), "xp", "weight_gradient", 3)
    dz = _at_least(checks.image(dz, "dz", "weight_gradient"), "dz", "weight_gradient", 1)
    want = xp.shape[:-3] + (xp.shape[-3] - 2, xp.shape[-2] - 2)
    if dz.shape[:-1] != want:
        raise LengthError(f"weight_gradient: dz.shape must be {want + ('K',)} for "
                          f"xp.shape={xp.shape}; got dz.shape={dz.shape}")
    dtype = np.result_type(xp, dz)
    xe, de = _even(xp, dz)
    frames = xe.reshape((-1,) + xe.shape[-3:])
    grads = de.reshape((-1,) + de.shape[-3:])
    f, h, width, c = frames.shape
    k = grads.shape[-1]
    tw = (width - 2) // 2
    du = dm = dm_rows = None
    for f0, i0, n, v in _input_blocks(frames, k, dtype):
        if dm is None:                                    # the first block is the longest
            dm, dm_rows = buffers.empty((4, 4, n, tw, k), dtype), buffers.empty((4, 2, n, tw, k), dtype)
        dmb = dm[:, :, :n]
        _untransform_output(grads[f0, 2 * i0:2 * (i0 + n)].reshape(n, 2, tw, 2, k), dmb,
                            dm_rows[:, :, :n])
        block = np.matmul(v.transpose(0, 2, 1), dmb.reshape(16, n * tw, k))
        du = block if du is None else np.add(du, block, out=du)
    if du is None:                                        # an empty frame: no blocks
        du = np.zeros((16, c, k), dtype)
    return _untransform_kernel(du.reshape(4, 4, c, k))
