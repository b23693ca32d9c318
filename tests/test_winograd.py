"""Winograd's F(2×2, 3×3) (aplnet.fast.winograd) against its matrices and the naive loops.

Its three functions are called directly here, on hypothesis shapes, with
blocks cut small so that images split into many blocks of tile rows; the
fast engine's convolutions on the Winograd road are held to the
expressions in test_fast_vs_layers.py.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aplnet import apl, fast, naive
from aplnet.fast import winograd
from aplnet.fast.winograd import A, B, G
from strategies_layers import arrays, frames


def close(fast, slow):
    return fast.shape == slow.shape and np.allclose(fast, slow, rtol=1e-10, atol=1e-10)


def blocks_of(tiles_per_block):
    """Blocks of whole tile rows holding at least ``tiles_per_block`` tiles (so a block can
    be a single tile row, and the last block shorter than the others); None: the default."""
    if tiles_per_block is None:
        return fast.using()
    return fast.using(block_bytes=1, least_tiles=tiles_per_block)


@st.composite
def cases(draw):
    """``(x, w)``: a 3x3 kernel on an image of any frame, odd and even sides."""
    h, w = draw(st.integers(3, 9)), draw(st.integers(3, 9))
    c, k = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    frame = draw(frames)
    return draw(arrays(frame + (h, w, c))), draw(arrays((3, 3, c, k)))


BLOCKS = st.sampled_from([None, 1, 2, 3, 5])


# ------------------------------------------------------------- the matrices


def test_the_matrices_compute_a_1d_correlation_of_two_outputs():
    """``Aᵀ((G g) × (Bᵀ d))`` is the valid correlation of 4 values with 3: F(2, 3)."""
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(4), rng.standard_normal(3)
    assert np.allclose(A.T @ ((G @ g) * (B.T @ d)), [d[0:3] @ g, d[1:4] @ g], atol=1e-14)


def test_one_tile_by_the_matrices_is_the_2x2_correlation():
    """The APL line of the module, ``(⍉A)+.×((G+.×w+.×⍉G)×(⍉B)+.×d+.×B)+.×A``, on one tile."""
    d = np.arange(16.).reshape(4, 4)
    w = np.array([[1., 2, 0], [-1, 0, 3], [2, 1, -2]])
    tile = A.T @ ((G @ w @ G.T) * (B.T @ d @ B)) @ A
    expected = [[(d[i:i + 3, j:j + 3] * w).sum() for j in range(2)] for i in range(2)]
    assert np.array_equal(tile, expected)


def test_kernel_transform_is_g_w_gt():
    w = np.random.default_rng(1).standard_normal((3, 3, 2, 5))
    assert close(winograd._transform_kernel(w), np.einsum("ua,abck,vb->uvck", G, w, G))


def test_input_transform_is_bt_d_b_on_every_tile():
    x = np.random.default_rng(2).standard_normal((8, 10, 3))
    v = np.empty((4, 4, 3, 4, 3))
    winograd._transform_input(x, 3, 4, np.empty((4, 3, 10, 3)), v)
    for i in range(3):
        for j in range(4):
            d = x[2 * i:2 * i + 4, 2 * j:2 * j + 4]
            assert close(v[:, :, i, j], np.einsum("au,abc,bv->uvc", B, d, B))


def test_output_transform_is_at_m_a():
    m = np.random.default_rng(3).standard_normal((4, 4, 2, 3, 5))
    y = np.empty((2, 2, 3, 2, 5))
    winograd._transform_output(m, y, np.empty((2, 4, 2, 3, 5)))
    assert close(y.transpose(0, 2, 1, 3, 4), np.einsum("ua,uvijk,vb->ijabk", A, m, A))


def test_untransforms_are_the_adjoints_of_the_transforms():
    """``⟨T u, v⟩ = ⟨u, T* v⟩`` for the kernel and the output transforms."""
    rng = np.random.default_rng(4)
    w, du = rng.standard_normal((3, 3, 2, 3)), rng.standard_normal((4, 4, 2, 3))
    assert np.isclose(np.vdot(winograd._transform_kernel(w), du),
                      np.vdot(w, winograd._untransform_kernel(du)), rtol=1e-12)
    m, dy = rng.standard_normal((4, 4, 2, 3, 2)), rng.standard_normal((2, 2, 3, 2, 2))
    y, dm = np.empty_like(dy), np.empty_like(m)
    winograd._transform_output(m, y, np.empty((2, 4, 2, 3, 2)))
    winograd._untransform_output(dy, dm, np.empty((4, 2, 2, 3, 2)))
    assert np.isclose(np.vdot(y, dy), np.vdot(m, dm), rtol=1e-12)


def test_turning_the_kernel_permutes_the_rows_of_g():
    assert np.array_equal(G[winograd._TURN], G[:, ::-1])


def test_kron_is_the_apl_line_and_exact_in_float32():
    """``16 9⍴1 3 2 4⍉G∘.×G``, by the combinators, is ``G⊗G``; its entries need no rounding."""
    line = apl.reshape(apl.transpose(apl.outer(np.multiply, G, G), (0, 2, 1, 3)), (16, 9))
    assert np.array_equal(winograd._kron(G, np.float64), line)
    assert np.array_equal(winograd._kron(G, np.float32).astype(np.float64), line)


# ------------------------------------------------------ against the loops


@settings(deadline=None)
@given(cases(), BLOCKS)
def test_correlate_equals_naive(case, tiles_per_block):
    x, w = case
    with blocks_of(tiles_per_block):
        assert close(winograd.correlate(x, w), naive.conv(x, w))


@settings(deadline=None)
@given(cases(), BLOCKS, st.integers(0, 2**32 - 1))
def test_gradients_equal_naive(case, tiles_per_block, seed):
    x, w = case
    dz = np.random.default_rng(seed).standard_normal(naive.conv(x, w).shape)
    dx, dw, _ = naive.conv_backward(dz, x, w)
    with blocks_of(tiles_per_block):
        assert close(winograd.input_gradient(dz, w), dx)
        assert close(winograd.weight_gradient(x, dz), dw)


@pytest.mark.parametrize("func, args, error, message", [
    (winograd.correlate, (np.zeros((4, 4)), np.zeros((3, 3, 1, 1))), apl.RankError,
     r"correlate: xp must have shape \(…, H, W, C\) with at least 3 axes; got xp.shape=\(4, 4\)"),
    (winograd.correlate, (np.zeros((2, 5, 1)), np.zeros((3, 3, 1, 1))), apl.DomainError,
     r"correlate: xp must be at least 3x3 with one channel or more; got xp.shape=\(2, 5, 1\)"),
    (winograd.correlate, (np.zeros((5, 5, 2)), np.zeros((3, 3, 1, 1))), apl.LengthError,
     r"correlate: w.shape\[2\] \(kernel channels\) must equal x.shape\[-1\]; "
     r"got w.shape=\(3, 3, 1, 1\), x.shape=\(5, 5, 2\)"),
    (winograd.correlate, (np.zeros((5, 5, 1)), np.zeros((5, 5, 1, 1))), apl.LengthError,
     r"correlate: w must be a 3x3 kernel, shape \(3, 3, C, K\); got w.shape=\(5, 5, 1, 1\)"),
    (winograd.correlate, (np.zeros((5, 5, 1)), np.zeros((3, 3, 1))), apl.RankError,
     r"correlate: w must have shape \(kh, kw, Cin, Cout\); got w.shape=\(3, 3, 1\)"),
    (winograd.input_gradient, (np.zeros((2, 2, 4)), np.zeros((3, 3, 1, 2))), apl.LengthError,
     r"input_gradient: w.shape\[3\] \(kernel output channels\) must equal dz.shape\[-1\]; "
     r"got w.shape=\(3, 3, 1, 2\), dz.shape=\(2, 2, 4\)"),
    (winograd.input_gradient, (np.zeros((2, 2, 0)), np.zeros((3, 3, 1, 0))), apl.DomainError,
     r"input_gradient: dz must be at least 1x1 with one channel or more"),
    (winograd.weight_gradient, (np.zeros((5, 5, 0)), np.zeros((3, 3, 2))), apl.DomainError,
     r"weight_gradient: xp must be at least 3x3 with one channel or more"),
    (winograd.correlate, (np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 1), complex)), TypeError,
     r"correlate: w must hold real numbers"),
    (winograd.weight_gradient, (np.zeros((5, 5, 1)), np.zeros((2, 3, 1))), apl.LengthError,
     r"weight_gradient: dz.shape must be \(3, 3, 'K'\) for xp.shape=\(5, 5, 1\); "
     r"got dz.shape=\(2, 3, 1\)"),
    (winograd.weight_gradient, (np.zeros((5, 5, 1)), np.zeros(3)), apl.RankError,
     r"weight_gradient: dz must have shape"),
])
def test_bad_arguments_are_refused_by_name(func, args, error, message):
    with pytest.raises(error, match=message):
        func(*args)


def test_float32_stays_float32_and_near_float64():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 20, 18, 16))
    w = rng.standard_normal((3, 3, 16, 8)) / 12
    dz = rng.standard_normal((2, 18, 16, 8))
    exact = (winograd.correlate(x, w), winograd.input_gradient(dz, w),
             winograd.weight_gradient(x, dz))
    single = (winograd.correlate(x.astype(np.float32), w.astype(np.float32)),
              winograd.input_gradient(dz.astype(np.float32), w.astype(np.float32)),
              winograd.weight_gradient(x.astype(np.float32), dz.astype(np.float32)))
    for s, e in zip(single, exact):
        assert s.dtype == np.float32
        assert np.abs(s - e).max() <= 1e-5 * np.abs(e).max()


def test_integers_are_computed_in_float64():
    """``G`` holds halves: integer arrays must not be cut to integers on the way."""
    rng = np.random.default_rng(9)
    x, w = rng.integers(-3, 4, (6, 7, 2)), rng.integers(-3, 4, (3, 3, 2, 2))
    dz = rng.integers(-3, 4, (4, 5, 2))
    dx, dw, _ = naive.conv_backward(dz, x, w)
    results = (winograd.correlate(x, w), winograd.input_gradient(dz, w),
               winograd.weight_gradient(x, dz))
    assert [r.dtype for r in results] == [np.float64] * 3
    assert [close(r, e) for r, e in zip(results, (naive.conv(x, w), dx, dw))] == [True] * 3


def test_gradients_by_finite_differences():
    """Centred differences of ``⟨correlate(x, w), r⟩`` along a random direction."""
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((7, 6, 2)), rng.standard_normal((3, 3, 2, 3))
    r = rng.standard_normal((5, 4, 3))
    loss = lambda x, w: np.vdot(winograd.correlate(x, w), r)  # noqa: E731
    h, ex, ew = 1e-6, rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    along_x = (loss(x + h * ex, w) - loss(x - h * ex, w)) / (2 * h)
    along_w = (loss(x, w + h * ew) - loss(x, w - h * ew)) / (2 * h)
    assert np.isclose(np.vdot(winograd.input_gradient(r, w), ex), along_x, rtol=1e-6)
    assert np.isclose(np.vdot(winograd.weight_gradient(x, r), ew), along_w, rtol=1e-6)


@pytest.mark.parametrize("shape", [(3, 3, 1), (3, 8, 2), (2, 4, 3, 5, 1)])
def test_the_smallest_and_flattest_images(shape):
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal(shape), rng.standard_normal((3, 3, shape[-1], 2))
    assert close(winograd.correlate(x, w), naive.conv(x, w))
