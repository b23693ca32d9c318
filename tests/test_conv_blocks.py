"""The blocked convolution core (and up-convolution) against the naive loops, with blocks small enough to split.

test_layers.py compares conv, conv_backward, upconv and upconv_backward with their loop
twins on hypothesis shapes, but at those sizes every product fits in one block of
``layers._BLOCK_BYTES``. Here the block size is cut to a few bytes so that the
images are split into many blocks (of rows, of whole images, of part of an image),
the halo rows are copied again at each block, and the last block is partial.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aplnet import layers, naive
from strategies_layers import conv_cases, upconv_cases


@contextlib.contextmanager
def blocks_of(nbytes, taps_from=None):
    """Blocks of ``nbytes``; and the one-product-per-tap input gradient from ``taps_from`` channels."""
    saved = layers._BLOCK_BYTES, layers._TAPS_LEAST_CHANNELS
    layers._BLOCK_BYTES = nbytes
    layers._TAPS_LEAST_CHANNELS = taps_from or saved[1]
    try:
        yield
    finally:
        layers._BLOCK_BYTES, layers._TAPS_LEAST_CHANNELS = saved


def close(fast, slow):
    return fast.shape == slow.shape and np.allclose(fast, slow, rtol=1e-10, atol=1e-10)


BLOCKS = st.sampled_from([1, 40, 300, 2000])
TAPS_FROM = st.sampled_from([None, 1])


@settings(deadline=None)
@given(conv_cases(), BLOCKS)
def test_conv_in_small_blocks_equals_naive(case, nbytes):
    x, w, b, stride, pad = case
    with blocks_of(nbytes):
        assert close(layers.conv(x, w, b, stride, pad), naive.conv(x, w, b, stride, pad))


@settings(deadline=None)
@given(conv_cases(bias=False), BLOCKS, TAPS_FROM, st.integers(0, 2**32 - 1))
def test_conv_backward_in_small_blocks_equals_naive(case, nbytes, taps_from, seed):
    x, w, _, stride, pad = case
    dz = np.random.default_rng(seed).standard_normal(layers.conv(x, w, None, stride, pad).shape)
    with blocks_of(nbytes, taps_from):
        fast = layers.conv_backward(dz, x, w, stride, pad)
    assert all(close(f, s) for f, s in zip(fast, naive.conv_backward(dz, x, w, stride, pad)))


@pytest.mark.parametrize("frame", [(), (3,), (2, 2)])
@pytest.mark.parametrize("channels", [(1, 5), (6, 1), (9, 7)])
@pytest.mark.parametrize("taps_from", [None, 1])
def test_stride_one_paths_with_many_channels_equal_naive(frame, channels, taps_from):
    """The kernel-row, per-tap and windows paths, split into blocks."""
    c, k = channels
    rng = np.random.default_rng(0)
    x = rng.standard_normal(frame + (9, 7, c))
    w = rng.standard_normal((3, 2, c, k))
    dz = rng.standard_normal(frame + (7, 6, k))
    with blocks_of(64, taps_from):
        z = layers.conv(x, w)
        grads = layers.conv_backward(dz, x, w)
    assert close(z, naive.conv(x, w))
    assert all(close(f, s) for f, s in zip(grads, naive.conv_backward(dz, x, w)))


def test_float32_stays_float32_through_the_blocks():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 12, 11, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 4)).astype(np.float32)
    dz = rng.standard_normal((2, 10, 9, 4)).astype(np.float32)
    with blocks_of(256):
        outputs = (layers.conv(x, w), *layers.conv_backward(dz, x, w))
    assert [o.dtype for o in outputs] == [np.float32] * 4


@settings(deadline=None)
@given(upconv_cases(), BLOCKS)
def test_upconv_in_small_blocks_equals_naive(case, nbytes):
    """Blocks of image rows, of whole images, and a last block shorter than the rest."""
    x, w, b = case
    with blocks_of(nbytes):
        assert close(layers.upconv(x, w, b), naive.upconv(x, w, b))


def test_upconv_blocks_split_rows_and_frames():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 4, 2))
    w = rng.standard_normal((2, 3, 2, 3))
    row = 4 * 2 * 3 * 3 * 8                 # an image row's product: W·kh·kw·K float64s
    # 1 row; 2 rows (each image's last block 1); 3 rows (the last 2); 2 whole images (the last 1)
    for nbytes in (8, 2 * row + 1, 3 * row, 10 * row):
        with blocks_of(nbytes):
            assert close(layers.upconv(x, w), naive.upconv(x, w))


@pytest.mark.parametrize("shape", [(0, 3, 2), (3, 0, 2), (0, 3, 3, 2), (2, 0, 3, 2)])
def test_upconv_of_an_empty_image_is_empty(shape):
    w = np.ones((2, 2, 2, 3))
    y = layers.upconv(np.zeros(shape), w, np.ones(3))
    h, wd = shape[-3:-1]
    assert y.shape == shape[:-3] + (2 * h, 2 * wd, 3) and y.dtype == np.float64
