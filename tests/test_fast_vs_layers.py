"""The fast engine against the expressions it computes, on every road.

The chain of trust: naive ← the notes' worked cases (test_naive.py);
layers ← naive on hypothesis data (test_layers.py); fast ← layers here.
Each of the U-Net's layers is run by :mod:`aplnet.fast` under
:func:`aplnet.fast.using` with every road forced in turn (and the choice
by shapes), with the default blocks and with blocks of a few bytes (so
that images split into many blocks, halo rows are copied again, and the
last block is partial), on hypothesis cases: strides, padding, odd and
non-square sizes, ties in pooling, and frames with no images in them.
Forced onto a road that cannot compute a case (Winograd for a 2x3 kernel,
rows at stride 2), fast takes its own choice, so every case is checked
under every setting. Results must match in shape and dtype, and in value
to 1e-10 in float64.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aplnet import fast, layers
from aplnet.fast import roads
from strategies_layers import (arrays, conv_cases, crop_cases, frames_or_empty, images,
                               logits_cases, pool_cases, upconv_cases)

SETTINGS = [(road, None) for road in (None, *fast.ROADS)] + [
    (road, 64) for road in (None, *fast.ROADS)]
IDS = [f"{road or 'chosen'}-{'small' if nbytes else 'default'}-blocks" for road, nbytes in SETTINGS]
SEEDS = st.integers(0, 2**32 - 1)
examples = settings(deadline=None, max_examples=15)


def same(got, want):
    """fast's result is the expression's: shape, dtype and values to 1e-10 (None alike)."""
    if want is None or got is None:
        return got is want
    return (got.shape == want.shape and got.dtype == want.dtype
            and np.allclose(got, want, rtol=1e-10, atol=1e-10))


def all_same(got, want):
    return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))


@st.composite
def three_by_three(draw):
    """``(x, w, pad)``: Winograd's 3x3 kernels on images of any frame, odd and even sides."""
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    pad = draw(st.integers(0, 2))
    h, w = max(h, 3 - 2 * pad), max(w, 3 - 2 * pad)
    c, k = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    frame = draw(frames_or_empty)
    return draw(arrays(frame + (h, w, c))), draw(arrays((3, 3, c, k))), pad


# ------------------------------------------------------------ convolution


@pytest.mark.parametrize("road, nbytes", SETTINGS, ids=IDS)
@examples
@given(conv_cases(frame_of=frames_or_empty))
def test_conv(road, nbytes, case):
    x, w, b, stride, pad = case
    with fast.using(road, nbytes):
        z = fast.conv(x, w, b, stride, pad)
    assert same(z, layers.conv(x, w, b, stride, pad))


@pytest.mark.parametrize("road, nbytes", SETTINGS, ids=IDS)
@examples
@given(conv_cases(frame_of=frames_or_empty))
def test_conv_relu(road, nbytes, case):
    """The convolution rectified block by block as it is made: ``relu(conv …)`` of the expressions."""
    x, w, b, stride, pad = case
    with fast.using(road, nbytes):
        z = fast.conv_relu(x, w, b, stride, pad)
    assert same(z, layers.relu(layers.conv(x, w, b, stride, pad)))


@pytest.mark.parametrize("road", [None, *fast.ROADS])
def test_conv_relu_with_a_wider_bias_and_integers(road):
    """A float64 bias on float32 data widens the result, as in ``conv``; integers give float64."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    b = rng.standard_normal(4)
    xi, wi = np.arange(48).reshape(4, 4, 3) - 24, np.ones((2, 2, 3, 2), int)
    with fast.using(road, 128):
        got = fast.conv_relu(x, w, b), fast.conv_relu(xi, wi, np.array([1, -60]))
    want = layers.relu(layers.conv(x, w, b))             # float32 products: to float32 rounding
    assert got[0].dtype == want.dtype and np.allclose(got[0], want, rtol=1e-5, atol=1e-5)
    assert same(got[1], layers.relu(layers.conv(xi, wi, np.array([1, -60]))))
    assert got[0].dtype == np.float64 and got[1].dtype == layers.conv(xi, wi).dtype


@pytest.mark.parametrize("road, nbytes", SETTINGS, ids=IDS)
@examples
@given(conv_cases(bias=False, frame_of=frames_or_empty), st.booleans(), st.booleans(), SEEDS)
def test_conv_backward(road, nbytes, case, need_dx, need_db, seed):
    x, w, _, stride, pad = case
    dz = np.random.default_rng(seed).standard_normal(layers.conv(x, w, None, stride, pad).shape)
    with fast.using(road, nbytes):
        got = fast.conv_backward(dz, x, w, stride, pad, need_dx=need_dx, need_db=need_db)
    dx, dw, db = layers.conv_backward(dz, x, w, stride, pad)
    assert all_same(got, (dx if need_dx else None, dw, db if need_db else None))


@pytest.mark.parametrize("least_tiles", [None, 1, 2, 5])
@examples
@given(three_by_three(), SEEDS)
def test_conv_and_its_gradients_by_winograd(least_tiles, case, seed):
    """Winograd's blocks of whole tile rows: one tile row, a last block shorter than the rest."""
    x, w, pad = case
    dz = np.random.default_rng(seed).standard_normal(layers.conv(x, w, pad=pad).shape)
    with fast.using("winograd", 1 if least_tiles else None, least_tiles):
        got = (fast.conv(x, w, pad=pad), *fast.conv_backward(dz, x, w, pad=pad))
    assert all_same(got, (layers.conv(x, w, pad=pad), *layers.conv_backward(dz, x, w, pad=pad)))


@pytest.mark.parametrize("road", fast.ROADS)
@pytest.mark.parametrize("frame", [(), (3,), (2, 2)])
@pytest.mark.parametrize("channels", [(1, 5), (6, 1), (9, 7)])
def test_many_channels_in_small_blocks(road, frame, channels):
    """Every road split into blocks, with more channels than hypothesis draws."""
    c, k = channels
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(frame + (9, 7, c)), rng.standard_normal((3, 3, c, k))
    dz = rng.standard_normal(frame + (7, 5, k))
    with fast.using(road, 64, 2):
        got = (fast.conv(x, w), *fast.conv_backward(dz, x, w))
    assert all_same(got, (layers.conv(x, w), *layers.conv_backward(dz, x, w)))


@pytest.mark.parametrize("road", fast.ROADS)
def test_float32_stays_float32_on_every_road(road):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 12, 11, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 4)).astype(np.float32)
    dz = rng.standard_normal((2, 10, 9, 4)).astype(np.float32)
    with fast.using(road, 256):
        got = (fast.conv(x, w), *fast.conv_backward(dz, x, w))
    want = (layers.conv(x, w), *layers.conv_backward(dz, x, w))
    assert [g.dtype for g in got] == [np.float32] * 4
    assert all(np.abs(g - v).max() <= 1e-5 * np.abs(v).max() for g, v in zip(got, want))


@pytest.mark.parametrize("nbytes", [None, 8, 200, 1000])
@examples
@given(upconv_cases(frame_of=frames_or_empty), SEEDS)
def test_upconv_and_its_gradients(nbytes, case, seed):
    """Blocks of image rows, of whole images, and a last block shorter than the rest."""
    x, w, b = case
    y = layers.upconv(x, w, b)
    dy = np.random.default_rng(seed).standard_normal(y.shape)
    with fast.using(block_bytes=nbytes):
        got = (fast.upconv(x, w, b), *fast.upconv_backward(dy, x, w))
    assert all_same(got, (y, *layers.upconv_backward(dy, x, w)))
    if b is None or np.result_type(x, w, b) == np.result_type(x, w):
        both = np.full(y.shape[:-1] + (3 + y.shape[-1],), 7.0, y.dtype)   # into a concatenation
        target = both[..., 3:]
        with fast.using(block_bytes=nbytes):
            into = fast.upconv(x, w, b, out=target)
        assert into is target and all_same(both[..., 3:], y)
        assert (both[..., :3] == 7).all()


def test_upconv_refuses_an_out_it_cannot_fill():
    x, w = np.ones((2, 3, 4)), np.ones((2, 2, 4, 5))
    with pytest.raises(ValueError, match=r"upconv: out must be an array of shape \(4, 6, 5\) "
                                         r"and dtype float64"):
        fast.upconv(x, w, out=np.zeros((4, 6, 5), np.float32))
    frames = np.zeros((3, 2, 4, 6, 5)).transpose(1, 0, 2, 3, 4)       # frame axes not mergeable
    with pytest.raises(ValueError, match="upconv: out's frame axes must be mergeable"):
        fast.upconv(np.ones((2, 3, 2, 3, 4)), w, out=frames)


@pytest.mark.parametrize("shape", [(0, 3, 2), (3, 0, 2), (0, 3, 3, 2), (2, 0, 3, 2)])
def test_upconv_of_an_empty_image_is_empty(shape):
    w, dy = np.ones((2, 2, 2, 3)), np.ones(shape[:-3] + (2 * shape[-3], 2 * shape[-2], 3))
    got = (fast.upconv(np.zeros(shape), w, np.ones(3)), *fast.upconv_backward(dy, np.zeros(shape), w))
    want = (layers.upconv(np.zeros(shape), w, np.ones(3)),
            *layers.upconv_backward(dy, np.zeros(shape), w))
    assert all_same(got, want)


# ----------------------------------------------------- the other layers


@examples
@given(pool_cases(frame_of=frames_or_empty), SEEDS)
def test_maxpool_and_its_gradient_ties_included(case, seed):
    x, size, stride = case
    y = layers.maxpool(x, size, stride)
    dy = np.random.default_rng(seed).standard_normal(y.shape)
    assert same(fast.maxpool(x, size, stride), y)
    assert same(fast.maxpool_backward(dy, x, size, stride),
                layers.maxpool_backward(dy, x, size, stride))


@examples
@given(images(frame_of=frames_or_empty), SEEDS)
def test_relu_and_its_gradient_in_place_or_not(z, seed):
    dy = np.random.default_rng(seed).standard_normal(z.shape)
    y, dz = layers.relu(z), layers.relu_backward(dy, z)
    assert same(fast.relu(z), y) and same(fast.relu_backward(dy, z), dz)
    assert same(fast.relu_backward(dy, y), dz)            # from the output, as the U-Net asks
    written = fast.relu_backward(dy, z, out=dy)
    assert written is dy and same(dy, dz)
    assert fast.relu(z, out=z) is z and same(z, y)


@examples
@given(crop_cases(frame_of=frames_or_empty), SEEDS)
def test_crop_and_its_gradient_added_into_another(case, seed):
    x, hw = case
    assert same(fast.crop(x, hw), layers.crop(x, hw))
    dy = np.random.default_rng(seed).standard_normal(layers.crop(x, hw).shape)
    big = x.shape[-3:-1]
    padded = layers.crop_backward(dy, big)
    assert same(fast.crop_backward(dy, big), padded)
    other = np.random.default_rng(seed + 1).standard_normal(padded.shape)
    want = other + padded
    assert fast.crop_backward(dy, big, into=other) is other and same(other, want)


@examples
@given(images(frame_of=frames_or_empty), st.integers(0, 3))
def test_concat_and_its_gradient(dy, channels):
    channels = min(channels, dy.shape[-1])
    assert all_same(fast.concat_backward(dy, channels), layers.concat_backward(dy, channels))
    skip, up = layers.concat_backward(dy, channels)
    assert same(fast.concat(skip, up), layers.concat(skip, up))


@examples
@given(logits_cases())
def test_softmax_cross_entropy(case):
    a, labels, weights = case
    loss, da = fast.softmax_cross_entropy(a, labels, weights)
    want_loss, want_da = layers.softmax_cross_entropy(a, labels, weights)
    assert np.isclose(loss, want_loss, rtol=1e-10, atol=1e-10) and same(da, want_da)


def test_fast_has_every_layer_the_unet_uses_with_the_same_arguments():
    import inspect
    for name in ("conv", "conv_backward", "relu", "relu_backward", "maxpool", "maxpool_backward",
                 "upconv", "upconv_backward", "crop", "crop_backward", "concat",
                 "concat_backward", "softmax_cross_entropy"):
        expression = list(inspect.signature(getattr(layers, name)).parameters)
        engine = list(inspect.signature(getattr(fast, name)).parameters)
        assert engine[:len(expression)] == expression, name


# --------------------------------------------------------------- the roads


def test_the_roads_are_chosen_from_the_shapes_at_the_thresholds():
    """Winograd from its channel and tile thresholds on; one channel or one tile row
    fewer, another kernel, another stride or float16: not."""
    least, tiles = roads.WINOGRAD_LEAST_CHANNELS, roads.WINOGRAD_LEAST_TILES
    big = next(n for n in range(3, 200) if ((n - 2 + 1) // 2) ** 2 >= tiles)
    x, w = (1, big, big, least), (3, 3, least, least)
    for step in roads.STEPS:
        assert roads.choose(step, x, w, 1, np.float32) == "winograd"
    for xs, ws, stride, dtype in (((1, big - 1, big - 1, least), w, 1, np.float32),
                                  ((1, big, big, least - 1), (3, 3, least - 1, least), 1, np.float32),
                                  (x, (3, 3, least, least - 1), 1, np.float32),
                                  (x, (2, 3, least, least), 1, np.float32),
                                  (x, w, 2, np.float32), (x, w, 1, np.float16)):
        assert roads.choose("correlate", xs, ws, stride, dtype) != "winograd"
    assert roads.choose("input_gradient", (1, 12, 12, 512), (3, 3, 512, 512), 1, np.float32) == "taps"
    assert roads.choose("input_gradient", (1, 12, 12, 64), (3, 3, 64, 64), 1, np.float32) == "rows"
    assert roads.choose("weight_gradient", (1, 12, 12, 1), (3, 3, 1, 64), 1, np.float32) == "windows"
    assert roads.choose("correlate", (1, 12, 12, 8), (3, 3, 8, 8), 2, np.float32) == "windows"


def test_a_forced_road_is_taken_only_where_it_applies_and_only_within_the_block():
    with fast.using("taps"):
        assert roads.choose("input_gradient", (9, 9, 2), (3, 3, 2, 2), 1, np.float64) == "taps"
        assert roads.choose("correlate", (30, 30, 2), (3, 3, 2, 2), 1, np.float64) == "rows"
    with fast.using("winograd"):
        assert roads.choose("correlate", (9, 9, 2), (3, 3, 2, 2), 1, np.float64) == "winograd"
        assert roads.choose("correlate", (9, 9, 2), (3, 3, 2, 2), 2, np.float64) == "windows"
    assert roads.choose("correlate", (30, 30, 2), (3, 3, 2, 2), 1, np.float64) == "rows"


def test_small_images_are_correlated_by_windows_past_the_rows_roads_overhang():
    """The rows road's outputs over the valid ones: 20x20 in 3x3 has 400/324 > 1.2, 24x24 576/484 < 1.2."""
    assert roads.ROWS_MOST_OVERHANG == 1.2
    assert roads.choose("correlate", (1, 20, 20, 64), (3, 3, 64, 64), 1, np.float32) == "windows"
    assert roads.choose("correlate", (1, 24, 24, 64), (3, 3, 64, 64), 1, np.float32) == "rows"
    assert roads.choose("correlate", (1, 200, 5, 8), (3, 3, 8, 8), 1, np.float32) == "windows"
    assert roads.choose("correlate", (1, 200, 5, 8), (1, 1, 8, 8), 1, np.float32) == "rows"
    for step in ("input_gradient", "weight_gradient"):      # the gradients keep their roads
        assert roads.choose(step, (1, 8, 8, 64), (3, 3, 64, 64), 1, np.float32) == "rows"


def test_the_u_nets_wide_layers_by_winograd_equal_the_direct_road():
    """At the thresholds, float32: the two roads agree to float32's rounding."""
    least = roads.WINOGRAD_LEAST_CHANNELS
    rng = np.random.default_rng(5)
    x = rng.standard_normal((22, 22, least)).astype(np.float32)
    w = (rng.standard_normal((3, 3, least, least)) / least).astype(np.float32)
    dz = rng.standard_normal((20, 20, least)).astype(np.float32)
    assert roads.choose("correlate", x.shape, w.shape, 1, x.dtype) == "winograd"
    by_winograd = (fast.conv(x, w), *fast.conv_backward(dz, x, w))
    with fast.using("rows"):
        direct = (fast.conv(x, w), *fast.conv_backward(dz, x, w))
    for got, want in zip(by_winograd, direct):
        assert got.dtype == np.float32
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize("kwargs, message", [
    ({"road": "fft"}, r"using: road must be one of \('winograd', 'rows', 'taps', 'windows'\)"),
    ({"block_bytes": 0}, "using: block_bytes must be a positive integer; got block_bytes=0"),
])
def test_an_unknown_road_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        with fast.using(**kwargs):
            pass


def test_out_and_into_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"relu: out must be an array of shape \(3,\)"):
        fast.relu(np.zeros(3), out=np.zeros(4))
    with pytest.raises(ValueError, match=r"crop_backward: into must be an array of shape \(3, 3, 1\)"):
        fast.crop_backward(np.ones((1, 1, 1)), (3, 3), into=np.zeros((2, 2, 1)))
    with pytest.raises(TypeError, match="conv_backward: need_dx must be True or False"):
        fast.conv_backward(np.zeros((1, 1, 1)), np.zeros((3, 3, 1)), np.zeros((3, 3, 1, 1)),
                           need_dx="no")
    with pytest.raises(TypeError, match="conv_backward: need_db must be True or False"):
        fast.conv_backward(np.zeros((1, 1, 1)), np.zeros((3, 3, 1)), np.zeros((3, 3, 1, 1)),
                           need_db=1)


@pytest.mark.parametrize("stride", [2, 3])
def test_a_strided_input_gradient_by_winograd(stride):
    """At a stride, dx is a stride-1 correlation of the dilated dz: that can take Winograd's road."""
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal((2, 3 + 2 * stride, 3 + 3 * stride, 2)), rng.standard_normal((3, 3, 2, 3))
    dz = rng.standard_normal(layers.conv(x, w, stride=stride).shape)
    with fast.using("winograd", 1, 1):
        got = fast.conv_backward(dz, x, w, stride=stride)
    assert all_same(got, layers.conv_backward(dz, x, w, stride=stride))


@examples
@given(st.lists(st.integers(1, 3), min_size=0, max_size=2), st.integers(1, 4), st.integers(1, 4),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), SEEDS)
def test_the_engines_windows_are_apls(frame, kh, kw, sh, sw, c, seed):
    """``strides.windows_hw`` and ``strides.kernel_rows``: the views :func:`aplnet.apl.windows` makes."""
    from aplnet.apl import windows
    from aplnet.fast import strides
    rng = np.random.default_rng(seed)
    h, w = kh + int(rng.integers(0, 5)), kw + int(rng.integers(0, 5))
    x = rng.standard_normal((*frame, h, w, c))
    lead = (1,) * len(frame)
    want = windows(x, lead + (kh, kw), lead + (sh, sw))
    want = want.reshape(want.shape[:len(frame) + 2] + (kh, kw, c))
    got = strides.windows_hw(x, kh, kw, sh, sw)
    assert got.shape == want.shape and np.array_equal(got, want)
    flat = x.reshape(-1, c)
    if flat.shape[0] >= kw:
        wide = windows(flat, (kw,))
        assert np.array_equal(strides.kernel_rows(flat, kw), wide.reshape(wide.shape[0], -1))
