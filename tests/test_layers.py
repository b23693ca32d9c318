"""The layers' expressions against their loop twins, finite differences and adjoints.

The chain of trust: naive ← the notes' hand-worked cases (test_naive.py);
layers ← naive on hypothesis data (rtol 1e-10, float64); every backward ←
centred finite differences along a random direction; the linear maps ←
their adjoint identities ⟨A x, y⟩ = ⟨x, Aᵀ y⟩; and aplnet.fast ← layers
in test_fast_vs_layers.py. Bad input gets the same message from both
tiers (one call to aplnet.checks each).
"""

import inspect
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aplnet import fast, layers, naive
from aplnet.apl import DomainError, LengthError, RankError
from strategies_layers import (conv_cases, crop_cases, dense_cases,
                                     images, logits_cases, planes, pool_cases,
                                     upconv_cases)

RTOL = 1e-10


def close(fast, slow):
    """fast equals slow to rtol 1e-10 (and an absolute floor for the zeros)."""
    return np.allclose(fast, slow, rtol=RTOL, atol=1e-10)


def all_close(fast, slow):
    return all(close(f, s) for f, s in zip(fast, slow, strict=True))


# ============================================================ fast == naive


@settings(deadline=None)
@given(conv_cases())
def test_conv_equals_naive(case):
    x, w, b, stride, pad = case
    assert close(layers.conv(x, w, b, stride, pad), naive.conv(x, w, b, stride, pad))


@settings(deadline=None)
@given(conv_cases(bias=False), st.integers(0, 2**32 - 1))
def test_conv_backward_equals_naive(case, seed):
    x, w, _, stride, pad = case
    dz = np.random.default_rng(seed).standard_normal(layers.conv(x, w, None, stride, pad).shape)
    assert all_close(layers.conv_backward(dz, x, w, stride, pad),
                     naive.conv_backward(dz, x, w, stride, pad))


@settings(deadline=None)
@given(images())
def test_relu_equals_naive(z):
    assert close(layers.relu(z), naive.relu(z))


@settings(deadline=None)
@given(images(), st.integers(0, 2**32 - 1))
def test_relu_backward_equals_naive(z, seed):
    dy = np.random.default_rng(seed).standard_normal(z.shape)
    assert close(layers.relu_backward(dy, z), naive.relu_backward(dy, z))


@settings(deadline=None)
@given(pool_cases())
def test_maxpool_equals_naive(case):
    x, size, stride = case
    assert close(layers.maxpool(x, size, stride), naive.maxpool(x, size, stride))


@settings(deadline=None)
@given(pool_cases(), st.integers(0, 2**32 - 1))
def test_maxpool_backward_equals_naive_ties_included(case, seed):
    x, size, stride = case
    dy = np.random.default_rng(seed).standard_normal(layers.maxpool(x, size, stride).shape)
    assert close(layers.maxpool_backward(dy, x, size, stride),
                 naive.maxpool_backward(dy, x, size, stride))


@settings(deadline=None)
@given(upconv_cases())
def test_upconv_equals_naive(case):
    x, w, b = case
    assert close(layers.upconv(x, w, b), naive.upconv(x, w, b))


@settings(deadline=None)
@given(upconv_cases(bias=False), st.integers(0, 2**32 - 1))
def test_upconv_backward_equals_naive(case, seed):
    x, w, _ = case
    dy = np.random.default_rng(seed).standard_normal(layers.upconv(x, w).shape)
    assert all_close(layers.upconv_backward(dy, x, w), naive.upconv_backward(dy, x, w))


@settings(deadline=None)
@given(crop_cases())
def test_crop_equals_naive(case):
    x, hw = case
    assert close(layers.crop(x, hw), naive.crop(x, hw))


@settings(deadline=None)
@given(crop_cases())
def test_crop_backward_equals_naive(case):
    x, hw = case
    dy = layers.crop(x, hw)
    assert close(layers.crop_backward(dy, x.shape[-3:-1]),
                 naive.crop_backward(dy, x.shape[-3:-1]))


@settings(deadline=None)
@given(images(), st.integers(1, 3))
def test_concat_equals_naive(skip, c2):
    up = np.arange(np.prod(skip.shape[:-1]) * c2, dtype=float).reshape(skip.shape[:-1] + (c2,))
    assert close(layers.concat(skip, up), naive.concat(skip, up))


@settings(deadline=None)
@given(images(), st.integers(0, 3))
def test_concat_backward_equals_naive(dy, channels):
    channels = min(channels, dy.shape[-1])
    assert all_close(layers.concat_backward(dy, channels), naive.concat_backward(dy, channels))


@settings(deadline=None)
@given(logits_cases())
def test_softmax_equals_naive(case):
    a, _, _ = case
    assert close(layers.softmax(a), naive.softmax(a))


@settings(deadline=None)
@given(logits_cases())
def test_softmax_cross_entropy_equals_naive(case):
    a, labels, weights = case
    assert all_close(layers.softmax_cross_entropy(a, labels, weights),
                     naive.softmax_cross_entropy(a, labels, weights))


ELEMENTWISE = [
    (layers.sigmoid, naive.sigmoid),
    (layers.softplus, naive.softplus),
]


@pytest.mark.parametrize("fast, slow", ELEMENTWISE, ids=lambda f: f.__name__)
@settings(deadline=None)
@given(x=images())
def test_elementwise_equals_naive(fast, slow, x):
    assert close(fast(10 * x), slow(10 * x))


BACKWARDS = [
    (layers.sigmoid_backward, naive.sigmoid_backward),
    (layers.softplus_backward, naive.softplus_backward),
]


@pytest.mark.parametrize("fast, slow", BACKWARDS, ids=lambda f: f.__name__)
@settings(deadline=None)
@given(x=images(), seed=st.integers(0, 2**32 - 1))
def test_elementwise_backward_equals_naive(fast, slow, x, seed):
    dy = np.random.default_rng(seed).standard_normal(x.shape)
    assert close(fast(dy, x), slow(dy, x))


LOSSES = [
    (layers.binary_cross_entropy, naive.binary_cross_entropy, layers.sigmoid),
    (layers.binary_cross_entropy_with_logits, naive.binary_cross_entropy_with_logits, np.asarray),
    (layers.mse, naive.mse, np.asarray),
]


@pytest.mark.parametrize("fast, slow, prepare", LOSSES, ids=lambda f: f.__name__)
@settings(deadline=None)
@given(x=images(), seed=st.integers(0, 2**32 - 1))
def test_losses_equal_naive(fast, slow, prepare, x, seed):
    y = np.random.default_rng(seed).random(x.shape)
    assert all_close(fast(prepare(x), y), slow(prepare(x), y))


@settings(deadline=None)
@given(dense_cases())
def test_dense_equals_naive(case):
    x, w, b = case
    assert close(layers.dense(x, w, b), naive.dense(x, w, b))


@settings(deadline=None)
@given(dense_cases(bias=False), st.integers(0, 2**32 - 1))
def test_dense_backward_equals_naive(case, seed):
    x, w, _ = case
    dy = np.random.default_rng(seed).standard_normal(x.shape[:-1] + w.shape[1:])
    assert all_close(layers.dense_backward(dy, x, w), naive.dense_backward(dy, x, w))


@settings(deadline=None)
@given(images())
def test_flatten_and_back_equal_naive(x):
    f = layers.flatten(x)
    assert close(f, naive.flatten(x))
    assert close(layers.flatten_backward(f, x.shape), naive.flatten_backward(f, x.shape))


@pytest.mark.parametrize("mode", ["valid", "full", "same"])
@settings(deadline=None)
@given(case=planes())
def test_correlate_equals_naive(mode, case):
    x, k = case
    assert close(layers.correlate(x, k, mode), naive.correlate(x, k, mode))


@pytest.mark.parametrize("mode", ["valid", "full", "same"])
@settings(deadline=None)
@given(case=planes())
def test_convolve_equals_naive(mode, case):
    x, k = case
    assert close(layers.convolve(x, k, mode), naive.convolve(x, k, mode))


@settings(deadline=None)
@given(st.integers(1, 9), st.floats(0.1, 5))
def test_gaussian_kernel_equals_naive(size, sigma):
    assert close(layers.gaussian_kernel(size, sigma), naive.gaussian_kernel(size, sigma))


def test_sobel_equals_the_notes_tables():
    assert all(np.array_equal(f, s) for f, s in zip(layers.sobel(), naive.sobel()))


@settings(deadline=None)
@given(case=planes())
def test_sobel_gradient_equals_naive(case):
    # compared as the vector G·e^{iθ}: θ itself jumps (π to −π) on rounding noise
    image, _ = case
    (g, theta), (g0, theta0) = layers.sobel_gradient(image), naive.sobel_gradient(image)
    assert close(g, g0) and close(g * np.exp(1j * theta), g0 * np.exp(1j * theta0))


# ================================================== the notes' worked cases


def test_correlate_full_is_note_004():
    x = np.array([[1, 6, 2], [5, 3, 1], [7, 0, 4]])
    k = np.array([[1, 2], [-1, 0]])
    assert np.array_equal(layers.correlate(x, k, "full"),
                          [[0, -1, -6, -2], [2, 8, 7, 1], [10, 4, 5, -3], [14, 7, 8, 4]])


def test_gaussian_kernel_reproduces_note_003_to_8_decimals():
    from test_naive import GAUSS003, mirrored
    table = mirrored(GAUSS003)
    printed = np.round(layers.gaussian_kernel(7, 0.84089642), 8)
    off_centre = np.ones((7, 7), bool)
    off_centre[3, 3] = False                 # printed 0.22518352 for 0.22508352
    assert np.array_equal(printed[off_centre], table[off_centre])
    assert printed[3, 3] == 0.22508352


def test_sobel_is_smoothing_times_difference():
    gx, gy = layers.sobel()
    assert np.array_equal(gx, np.outer([1, 2, 1], [-1, 0, 1])) and np.array_equal(gy, gx.T)


# ====================================================== scipy cross-checks


@pytest.mark.parametrize("mode", ["valid", "full", "same"])
def test_correlate_matches_scipy(mode, rng):
    signal = pytest.importorskip("scipy.signal")
    x, k = rng.standard_normal((7, 6)), rng.standard_normal((2, 3))
    assert close(layers.correlate(x, k, mode), signal.correlate2d(x, k, mode))


@pytest.mark.parametrize("mode", ["valid", "full"])
def test_convolve_matches_scipy(mode, rng):
    signal = pytest.importorskip("scipy.signal")
    x, k = rng.standard_normal((7, 6)), rng.standard_normal((2, 3))
    assert close(layers.convolve(x, k, mode), signal.convolve2d(x, k, mode))


def test_convolve_same_matches_scipy_for_odd_kernels(rng):
    signal = pytest.importorskip("scipy.signal")
    x, k = rng.standard_normal((7, 6)), rng.standard_normal((3, 5))
    assert close(layers.convolve(x, k, "same"), signal.convolve2d(x, k, "same"))


# ==================================================== finite differences


def directional(f, x, v, h=1e-6):
    """The centred difference (f(x + hv) − f(x − hv)) / 2h of a scalar f."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


def agrees(numeric, analytic):
    return np.isclose(numeric, analytic, rtol=1e-6, atol=1e-8)


def test_conv_dx_by_finite_differences(rng):
    x, w = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4))
    dz = rng.standard_normal(layers.conv(x, w, stride=2, pad=1).shape)
    v = rng.standard_normal(x.shape)
    dx, _, _ = layers.conv_backward(dz, x, w, stride=2, pad=1)
    numeric = directional(lambda t: np.sum(layers.conv(t, w, stride=2, pad=1) * dz), x, v)
    assert agrees(numeric, np.sum(dx * v))


def test_conv_dw_by_finite_differences(rng):
    x, w = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4))
    dz = rng.standard_normal(layers.conv(x, w, stride=2, pad=1).shape)
    v = rng.standard_normal(w.shape)
    _, dw, _ = layers.conv_backward(dz, x, w, stride=2, pad=1)
    numeric = directional(lambda t: np.sum(layers.conv(x, t, stride=2, pad=1) * dz), w, v)
    assert agrees(numeric, np.sum(dw * v))


def test_conv_db_by_finite_differences(rng):
    x, w, b = rng.standard_normal((6, 5, 2)), rng.standard_normal((3, 3, 2, 4)), np.zeros(4)
    dz = rng.standard_normal(layers.conv(x, w).shape)
    v = rng.standard_normal(b.shape)
    _, _, db = layers.conv_backward(dz, x, w)
    numeric = directional(lambda t: np.sum(layers.conv(x, w, t) * dz), b, v)
    assert agrees(numeric, np.sum(db * v))


def test_relu_backward_by_finite_differences(rng):
    z = rng.standard_normal((3, 4, 2))
    z[np.abs(z) < 0.01] = 0.5                         # away from the kink
    dy, v = rng.standard_normal(z.shape), rng.standard_normal(z.shape)
    numeric = directional(lambda t: np.sum(layers.relu(t) * dy), z, v)
    assert agrees(numeric, np.sum(layers.relu_backward(dy, z) * v))


@pytest.mark.parametrize("size, stride", [(2, 2), (3, 2), (2, 3)])
def test_maxpool_backward_by_finite_differences(size, stride, rng):
    x = rng.permutation(2 * 7 * 8 * 3).reshape(2, 7, 8, 3) / 10.0   # no ties
    dy = rng.standard_normal(layers.maxpool(x, size, stride).shape)
    v = rng.standard_normal(x.shape)
    numeric = directional(lambda t: np.sum(layers.maxpool(t, size, stride) * dy), x, v)
    assert agrees(numeric, np.sum(layers.maxpool_backward(dy, x, size, stride) * v))


def test_upconv_dx_and_dw_by_finite_differences(rng):
    x, w = rng.standard_normal((2, 3, 4, 3)), rng.standard_normal((2, 3, 3, 2))
    dy = rng.standard_normal(layers.upconv(x, w).shape)
    dx, dw, _ = layers.upconv_backward(dy, x, w)
    vx, vw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    assert agrees(directional(lambda t: np.sum(layers.upconv(t, w) * dy), x, vx), np.sum(dx * vx))
    assert agrees(directional(lambda t: np.sum(layers.upconv(x, t) * dy), w, vw), np.sum(dw * vw))


def test_upconv_db_by_finite_differences(rng):
    x, w, b = rng.standard_normal((3, 4, 3)), rng.standard_normal((2, 2, 3, 2)), np.zeros(2)
    dy, v = rng.standard_normal(layers.upconv(x, w).shape), rng.standard_normal(2)
    _, _, db = layers.upconv_backward(dy, x, w)
    numeric = directional(lambda t: np.sum(layers.upconv(x, w, t) * dy), b, v)
    assert agrees(numeric, np.sum(db * v))


def test_crop_backward_by_finite_differences(rng):
    x = rng.standard_normal((2, 7, 6, 2))
    dy, v = rng.standard_normal((2, 4, 3, 2)), rng.standard_normal(x.shape)
    numeric = directional(lambda t: np.sum(layers.crop(t, (4, 3)) * dy), x, v)
    assert agrees(numeric, np.sum(layers.crop_backward(dy, (7, 6)) * v))


def test_concat_backward_by_finite_differences(rng):
    skip, up = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 3, 3))
    dy = rng.standard_normal((2, 3, 5))
    dskip, dup = layers.concat_backward(dy, 2)
    vs, vu = rng.standard_normal(skip.shape), rng.standard_normal(up.shape)
    numeric = directional(lambda t: np.sum(layers.concat(skip + t * vs, up + t * vu) * dy),
                          0.0, 1.0)
    assert agrees(numeric, np.sum(dskip * vs) + np.sum(dup * vu))


@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_cross_entropy_by_finite_differences(weighted, rng):
    a = 3 * rng.standard_normal((2, 3, 4, 5))
    labels = rng.integers(0, 5, (2, 3, 4))
    weights = rng.random((2, 3, 4)) if weighted else None
    v = rng.standard_normal(a.shape)
    _, da = layers.softmax_cross_entropy(a, labels, weights)
    numeric = directional(lambda t: layers.softmax_cross_entropy(t, labels, weights)[0], a, v)
    assert agrees(numeric, np.sum(da * v))


@pytest.mark.parametrize("forward, backward, uses_output", [
    (layers.sigmoid, layers.sigmoid_backward, True),
    (layers.softplus, layers.softplus_backward, False),
], ids=["sigmoid", "softplus"])
def test_activation_backward_by_finite_differences(forward, backward, uses_output, rng):
    x = 3 * rng.standard_normal((3, 4))
    dy, v = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    numeric = directional(lambda t: np.sum(forward(t) * dy), x, v)
    assert agrees(numeric, np.sum(backward(dy, forward(x) if uses_output else x) * v))


@pytest.mark.parametrize("loss, prepare", [
    (layers.binary_cross_entropy, layers.sigmoid),
    (layers.binary_cross_entropy_with_logits, np.asarray),
    (layers.mse, np.asarray),
], ids=["bce", "bce_with_logits", "mse"])
def test_loss_gradient_by_finite_differences(loss, prepare, rng):
    x, y = prepare(rng.standard_normal((3, 4))), rng.random((3, 4))
    v = rng.standard_normal(x.shape)
    numeric = directional(lambda t: loss(t, y)[0], x, v)
    assert agrees(numeric, np.sum(loss(x, y)[1] * v))


def test_dense_backward_by_finite_differences(rng):
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    dy = rng.standard_normal((2, 3, 5))
    dx, dw, db = layers.dense_backward(dy, x, w)
    vx, vw, vb = (rng.standard_normal(a.shape) for a in (x, w, b))
    step = lambda t: np.sum(layers.dense(x + t * vx, w + t * vw, b + t * vb) * dy)  # noqa: E731
    assert agrees(directional(step, 0.0, 1.0), np.sum(dx * vx) + np.sum(dw * vw) + np.sum(db * vb))


def test_flatten_backward_by_finite_differences(rng):
    x = rng.standard_normal((2, 3, 4, 2))
    dy, v = rng.standard_normal((2, 24)), rng.standard_normal(x.shape)
    numeric = directional(lambda t: np.sum(layers.flatten(t) * dy), x, v)
    assert agrees(numeric, np.sum(layers.flatten_backward(dy, x.shape) * v))


# ===================================================== adjoint identities


def adjoint(lhs, rhs):
    return np.isclose(lhs, rhs, rtol=1e-12, atol=1e-12)


@settings(deadline=None)
@given(conv_cases(bias=False), st.integers(0, 2**32 - 1))
def test_conv_adjoint_in_x(case, seed):
    x, w, _, stride, pad = case
    y = np.random.default_rng(seed).standard_normal(layers.conv(x, w, None, stride, pad).shape)
    dx, _, _ = layers.conv_backward(y, x, w, stride, pad)
    assert adjoint(np.sum(layers.conv(x, w, None, stride, pad) * y), np.sum(x * dx))


@settings(deadline=None)
@given(conv_cases(bias=False), st.integers(0, 2**32 - 1))
def test_conv_adjoint_in_w(case, seed):
    x, w, _, stride, pad = case
    y = np.random.default_rng(seed).standard_normal(layers.conv(x, w, None, stride, pad).shape)
    _, dw, _ = layers.conv_backward(y, x, w, stride, pad)
    assert adjoint(np.sum(layers.conv(x, w, None, stride, pad) * y), np.sum(w * dw))


@settings(deadline=None)
@given(upconv_cases(bias=False), st.integers(0, 2**32 - 1))
def test_upconv_adjoint(case, seed):
    x, w, _ = case
    y = np.random.default_rng(seed).standard_normal(layers.upconv(x, w).shape)
    dx, dw, _ = layers.upconv_backward(y, x, w)
    inner = np.sum(layers.upconv(x, w) * y)
    assert adjoint(inner, np.sum(x * dx)) and adjoint(inner, np.sum(w * dw))


@settings(deadline=None)
@given(crop_cases(), st.integers(0, 2**32 - 1))
def test_crop_and_pad_are_adjoint(case, seed):
    x, hw = case
    y = np.random.default_rng(seed).standard_normal(layers.crop(x, hw).shape)
    assert adjoint(np.sum(layers.crop(x, hw) * y),
                   np.sum(x * layers.crop_backward(y, x.shape[-3:-1])))


@settings(deadline=None)
@given(pool_cases(), st.integers(0, 2**32 - 1))
def test_maxpool_routing_is_adjoint_to_picking_the_max(case, seed):
    # maxpool(x) picks x at each window's first max: the routing's adjoint
    x, size, stride = case
    dy = np.random.default_rng(seed).standard_normal(layers.maxpool(x, size, stride).shape)
    assert adjoint(np.sum(layers.maxpool(x, size, stride) * dy),
                   np.sum(x * layers.maxpool_backward(dy, x, size, stride)))


def test_correlate_full_is_adjoint_of_valid(rng):
    # note 004: valid correlation with k, then back by full correlation with rot180(k)
    x, k = rng.standard_normal((6, 5)), rng.standard_normal((3, 2))
    y = rng.standard_normal((4, 4))
    assert adjoint(np.sum(layers.correlate(x, k) * y),
                   np.sum(x * layers.convolve(y, k, "full")))


# ============================================== frames, dtypes, stability


def test_conv_maps_over_any_frame(rng):
    x, w = rng.standard_normal((2, 3, 6, 5, 2)), rng.standard_normal((3, 3, 2, 4))
    z = layers.conv(x, w)
    assert np.allclose(z[1, 2], layers.conv(x[1, 2], w), rtol=RTOL)


@pytest.mark.parametrize("call", [
    lambda x, w: layers.conv(x, w),
    lambda x, w: layers.conv_backward(layers.conv(x, w), x, w)[0],
    lambda x, w: layers.conv_backward(layers.conv(x, w), x, w)[1],
    lambda x, w: layers.upconv(x, w[:2, :2]),
    lambda x, w: layers.upconv_backward(layers.upconv(x, w[:2, :2]), x, w[:2, :2])[0],
    lambda x, w: layers.maxpool(x),
    lambda x, w: layers.maxpool_backward(layers.maxpool(x), x),
    lambda x, w: layers.softmax(x),
    lambda x, w: layers.softmax_cross_entropy(x, np.zeros(x.shape[:-1], int),
                                              np.ones(x.shape[:-1]))[1],
    lambda x, w: layers.relu(x),
    lambda x, w: layers.sigmoid(x),
    lambda x, w: layers.softplus(x),
    lambda x, w: layers.crop_backward(layers.crop(x, (2, 2)), (4, 6)),
], ids=["conv", "conv_dx", "conv_dw", "upconv", "upconv_dx", "maxpool",
        "maxpool_dx", "softmax", "cross_entropy_da", "relu", "sigmoid",
        "softplus", "crop_pad"])
def test_float32_stays_float32(call, rng):
    x = rng.standard_normal((2, 4, 6, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 5)).astype(np.float32)
    assert call(x, w).dtype == np.float32


def test_softmax_cross_entropy_is_finite_for_logits_of_1000():
    a = np.array([[1000., -1000., 0.], [-1000., -1000., 1000.]])
    loss, da = layers.softmax_cross_entropy(a, np.array([1, 2]))
    assert np.isclose(loss, 1000.0) and np.allclose(da, [[0.5, -0.5, 0], [0, 0, 0]])


def test_softmax_is_finite_for_logits_of_1000():
    assert np.allclose(layers.softmax(np.array([1000., -1000.])), [1, 0])


def test_sigmoid_and_softplus_do_not_overflow():
    with np.errstate(over="raise"):
        assert np.array_equal(layers.sigmoid(np.array([-1000., 1000.])), [0, 1])
        assert np.array_equal(layers.softplus(np.array([-1000., 1000.])), [0, 1000])


def test_bce_with_logits_equals_bce_of_sigmoid(rng):
    z, y = rng.standard_normal(5), rng.random(5)
    assert np.allclose(layers.binary_cross_entropy_with_logits(z, y)[0],
                       layers.binary_cross_entropy(layers.sigmoid(z), y)[0], rtol=RTOL)


def test_maxpool_gradient_goes_to_the_first_of_tied_maxima():
    x = np.full((1, 2, 2, 1), 3.)
    dx = layers.maxpool_backward(np.ones((1, 1, 1, 1)), x)
    assert np.array_equal(dx[0, ..., 0], [[1, 0], [0, 0]])


def test_maxpool_drops_rows_and_columns_that_fill_no_window():
    x = np.arange(35.).reshape(5, 7, 1)
    assert layers.maxpool(x).shape == (2, 3, 1)
    assert not layers.maxpool_backward(np.ones((2, 3, 1)), x)[4].any()


def test_crop_of_odd_margin_cuts_the_end():
    x = np.arange(5).reshape(5, 1, 1)
    assert np.array_equal(layers.crop(x, (2, 1)).ravel(), [1, 2])


# ==================================================== bad input: messages


BAD = [
    (lambda tier: tier.conv(np.zeros((10, 10, 3)), np.zeros((3, 3, 4, 8))), LengthError,
     r"conv: w.shape\[2\] \(kernel channels\) must equal x.shape\[-1\]; "
     r"got w.shape=\(3, 3, 4, 8\), x.shape=\(10, 10, 3\)"),
    (lambda tier: tier.conv(np.zeros((4, 6, 1)), np.zeros((5, 5, 1, 1))), DomainError,
     r"conv: the kernel is larger than the padded image: H \+ 2·pad = 4 \+ 2·0 = 4 < 5; "
     r"got w.shape=\(5, 5, 1, 1\), x.shape=\(4, 6, 1\), pad=0"),
    (lambda tier: tier.conv(np.zeros((10, 10, 1)), np.zeros((3, 3, 1, 1)), stride=2), DomainError,
     r"conv: stride=2 leaves a non-integer output size: \(H \+ 2·pad − k\)/stride = "
     r"\(10 \+ 2·0 − 3\)/2 = 7/2; H = 9 or 11 would work; "
     r"got x.shape=\(10, 10, 1\), w.shape=\(3, 3, 1, 1\)"),
    (lambda tier: tier.conv(np.zeros((9, 10, 1)), np.zeros((3, 3, 1, 1)), stride=2), DomainError,
     r"W = 9 or 11 would work"),
    (lambda tier: tier.conv(np.zeros((10, 1)), np.zeros((3, 3, 1, 1))), RankError,
     r"conv: x must have shape \(…, H, W, C\) with at least 3 axes; got x.shape=\(10, 1\)"),
    (lambda tier: tier.conv(np.zeros((5, 5, 1)), np.zeros((3, 3, 1))), RankError,
     r"conv: w must have shape \(kh, kw, Cin, Cout\); got w.shape=\(3, 3, 1\)"),
    (lambda tier: tier.conv(np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 2)), b=np.zeros(3)), LengthError,
     r"conv: b.shape must be \(K,\) = \(2,\), one bias per output channel; got b.shape=\(3,\)"),
    (lambda tier: tier.conv(np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 2)), stride=0), DomainError,
     r"conv: stride must be >= 1; got stride=0"),
    (lambda tier: tier.conv(np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 2)), pad=1.5), TypeError,
     r"conv: pad must be an integer; got 1.5"),
    (lambda tier: tier.conv_backward(np.zeros((3, 3, 1)), np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 2))),
     LengthError, r"conv_backward: dz.shape must be the shape of conv\(x, w\) = \(3, 3, 2\); "
                  r"got dz.shape=\(3, 3, 1\)"),
    (lambda tier: tier.maxpool(np.zeros((1, 4, 2)), 2), DomainError,
     r"maxpool: size=2 is larger than the image's \(H, W\)=\(1, 4\); x.shape=\(1, 4, 2\)"),
    (lambda tier: tier.maxpool_backward(np.zeros((2, 2, 1)), np.zeros((4, 6, 1))), LengthError,
     r"maxpool_backward: dy.shape must be the shape of maxpool\(x\) = \(2, 3, 1\); "
     r"got dy.shape=\(2, 2, 1\)"),
    (lambda tier: tier.upconv(np.zeros((2, 2, 3)), np.zeros((2, 2, 2, 4))), LengthError,
     r"upconv: w.shape\[2\] \(kernel channels\) must equal x.shape\[-1\]; "
     r"got w.shape=\(2, 2, 2, 4\), x.shape=\(2, 2, 3\)"),
    (lambda tier: tier.upconv_backward(np.zeros((4, 4, 1)), np.zeros((2, 2, 3)), np.zeros((2, 2, 3, 4))),
     LengthError, r"upconv_backward: dy.shape must be the shape of upconv\(x, w\) = \(4, 4, 4\); "
                  r"got dy.shape=\(4, 4, 1\)"),
    (lambda tier: tier.crop(np.zeros((4, 4, 1)), (5, 2)), DomainError,
     r"crop: hw=\(5, 2\) must fit inside x's \(H, W\)=\(4, 4\); got x.shape=\(4, 4, 1\)"),
    (lambda tier: tier.crop(np.zeros((4, 4, 1)), 3), TypeError,
     r"crop: hw must be two integers \(h, w\); got hw=3"),
    (lambda tier: tier.crop_backward(np.zeros((4, 4, 1)), (3, 5)), DomainError,
     r"crop_backward: hw=\(3, 5\) must be at least dy's \(h, w\)=\(4, 4\)"),
    (lambda tier: tier.concat(np.zeros((4, 4, 1)), np.zeros((4, 5, 1))), LengthError,
     r"concat: skip and up must agree in all but the channel axis; "
     r"got skip.shape=\(4, 4, 1\), up.shape=\(4, 5, 1\)"),
    (lambda tier: tier.concat(np.zeros((4, 4, 1)), np.zeros((1, 4, 4, 1))), LengthError,
     r"concat: skip and up must agree"),
    (lambda tier: tier.concat_backward(np.zeros((4, 4, 3)), 4), DomainError,
     r"concat_backward: channels=4 must be at most dy.shape\[-1\]=3"),
    (lambda tier: tier.softmax_cross_entropy(np.zeros((2, 2, 3)), np.array([[0, 3], [1, -1]])),
     DomainError, r"softmax_cross_entropy: labels must lie in \[0, classes\) = \[0, 3\); "
                  r"got values from -1 to 3"),
    (lambda tier: tier.softmax_cross_entropy(np.zeros((2, 2, 3)), np.zeros((2, 3), int)),
     LengthError, r"softmax_cross_entropy: labels.shape must be a.shape\[:-1\] = \(2, 2\) "
                  r"\(one class per pixel\); got labels.shape=\(2, 3\), a.shape=\(2, 2, 3\)"),
    (lambda tier: tier.softmax_cross_entropy(np.zeros((2, 2, 3)), np.zeros((2, 2))), TypeError,
     r"softmax_cross_entropy: labels must be integers \(class indices\); got labels.dtype=float64"),
    (lambda tier: tier.softmax_cross_entropy(np.zeros((2, 2, 3)), np.zeros((2, 2), int),
                                          np.ones((2, 3))),
     LengthError, r"softmax_cross_entropy: weights.shape must equal labels.shape = \(2, 2\); "
                  r"got weights.shape=\(2, 3\)"),
    (lambda tier: tier.softmax_cross_entropy(np.zeros((2, 2)), np.zeros(2, int), np.array([1., -1.])),
     DomainError, r"softmax_cross_entropy: weights must be finite and non-negative \(a loss weight "
                  r"per pixel\); got 1 that are not, the first -1.0"),
    (lambda tier: tier.softmax_cross_entropy(np.zeros((2, 2)), np.zeros(2, int), np.array([np.nan, 1.])),
     DomainError, r"softmax_cross_entropy: weights must be finite and non-negative .*the first nan"),
    (lambda tier: tier.binary_cross_entropy(np.array([0., 0.5]), np.array([0., 1.])), DomainError,
     r"binary_cross_entropy: p must lie in the open interval \(0, 1\); got values from 0.0 to 0.5"),
    (lambda tier: tier.mse(np.zeros(3), np.zeros(4)), LengthError,
     r"mse: yhat.shape must equal y.shape; got yhat.shape=\(3,\), y.shape=\(4,\)"),
    (lambda tier: tier.dense(np.zeros((2, 3)), np.zeros((4, 5))), LengthError,
     r"dense: w.shape\[0\] must equal x.shape\[-1\]; got w.shape=\(4, 5\), x.shape=\(2, 3\)"),
    (lambda tier: tier.flatten_backward(np.zeros((2, 5)), (2, 2, 2, 1)), LengthError,
     r"flatten_backward: dy.shape must be the shape of flatten\(x\) for x.shape=\(2, 2, 2, 1\), "
     r"i.e. \(2, 4\); got dy.shape=\(2, 5\)"),
    (lambda tier: tier.relu_backward(np.zeros(3), np.zeros(4)), LengthError,
     r"relu_backward: dy.shape must equal z.shape; got dy.shape=\(3,\), z.shape=\(4,\)"),
    (lambda tier: tier.correlate(np.zeros((3, 3)), np.zeros((4, 2))), DomainError,
     r"correlate: in valid mode the kernel must fit the image; "
     r"got k.shape=\(4, 2\), x.shape=\(3, 3\)"),
    (lambda tier: tier.correlate(np.zeros((3, 3)), np.zeros((2, 2)), "wrap"), DomainError,
     r"correlate: mode must be one of \('valid', 'full', 'same'\); got mode='wrap'"),
    (lambda tier: tier.gaussian_kernel(7, 0), DomainError,
     r"gaussian_kernel: sigma must be a positive number; got sigma=0"),
    (lambda tier: tier.sobel_gradient(np.zeros(5)), RankError,
     r"sobel_gradient: image must have shape \(…, H, W\); got image.shape=\(5,\)"),
]


def _on_tiers(cases):
    """Each case on the expressions, and on the fast engine where it has the function."""
    return [(tier, *case) for case in cases for tier in (layers, fast)
            if tier is layers or case[2].split(":")[0] in fast.__all__]


@pytest.mark.parametrize("tier, call, error, message", _on_tiers(BAD),
                         ids=[f"{t.__name__}-{m[:40]}" for t, _, _, m in _on_tiers(BAD)])
def test_bad_input_is_refused_with_a_clear_message(tier, call, error, message):
    """The same message from both tiers: they make the same call to aplnet.checks."""
    with pytest.raises(error, match=message):
        call(tier)


def test_every_error_is_a_value_error_or_type_error():
    assert all(issubclass(error, (ValueError, TypeError)) for _, error, _ in BAD)


# ========================================== the docstrings' APL, in libjay


def apl_of(function):
    """The docstring's APL line(s) (continuation lines included), joined with ⋄."""
    doc = inspect.getdoc(function)
    block = re.search(r"^APL\s+(.*?)\n(?=Index)", doc, re.S | re.M).group(1)
    return " ⋄ ".join(line.split("⍝")[0].strip() for line in block.splitlines())


def run_apl(source, result, **arrays):
    jay = pytest.importorskip("jay")
    binds = "".join(f"{name}←{{{name}}}⋄" for name in arrays)
    value = jay.apl(f"{binds}{source} ⋄ {result}",
                    {n: np.ascontiguousarray(a) for n, a in arrays.items()})
    return np.array(value.tolist() if hasattr(value, "tolist") else value)


def _apl_cases():
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (6, 5, 2)).astype(float)
    w3 = rng.integers(-2, 3, (3, 3, 2, 3)).astype(float)
    dz = rng.integers(-2, 3, layers.conv(x, w3).shape).astype(float)
    conv_grads = layers.conv_backward(dz, x, w3)
    xp = rng.integers(-3, 4, (4, 6, 2)).astype(float)
    dyp = rng.integers(-2, 3, (2, 3, 2)).astype(float)
    xu, wu = x[:2, :3], rng.integers(-2, 3, (2, 2, 2, 3)).astype(float)
    dyu = rng.integers(-2, 3, layers.upconv(xu, wu).shape).astype(float)
    up_grads = layers.upconv_backward(dyu, xu, wu)
    a, labels, weights = rng.standard_normal((3, 4, 5)), rng.integers(0, 5, (3, 4)), rng.random((3, 4))
    loss, da = layers.softmax_cross_entropy(a, labels, weights)
    v, y = rng.standard_normal((3, 4)), rng.random((3, 4))
    p = layers.sigmoid(v)
    xd, wd, bd = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    dyd = rng.standard_normal((3, 2))
    dense_grads = layers.dense_backward(dyd, xd, wd)
    k3 = rng.standard_normal((3, 3))
    image = rng.random((5, 6))
    return [
        (layers.conv, "z", layers.conv(x, w3), dict(x=x, w=w3)),
        (layers.conv_backward, "dw", conv_grads[1], dict(x=x, w=w3, dz=dz)),
        (layers.conv_backward, "dx", conv_grads[0], dict(x=x, w=w3, dz=dz)),
        (layers.conv_backward, "db", conv_grads[2], dict(x=x, w=w3, dz=dz)),
        (layers.relu, "y", layers.relu(x), dict(z=x)),
        (layers.relu_backward, "dz", layers.relu_backward(x[::-1], x), dict(dy=x[::-1], z=x)),
        (layers.maxpool, "y", layers.maxpool(xp), dict(x=xp)),
        (layers.maxpool_backward, "dx", layers.maxpool_backward(dyp, xp), dict(x=xp, dy=dyp)),
        (layers.upconv, "y", layers.upconv(xu, wu), dict(x=xu, w=wu)),
        (layers.upconv_backward, "dx", up_grads[0], dict(x=xu, w=wu, dy=dyu)),
        (layers.upconv_backward, "dw", up_grads[1], dict(x=xu, w=wu, dy=dyu)),
        (layers.upconv_backward, "db", up_grads[2], dict(x=xu, w=wu, dy=dyu)),
        (layers.crop, "y", layers.crop(x, (3, 2)), dict(x=x, hw=np.array([3, 2]))),
        (layers.crop_backward, "dx", layers.crop_backward(x, (9, 8)), dict(dy=x, hw=np.array([9, 8]))),
        (layers.concat, "y", layers.concat(x, x[..., :1]), dict(skip=x, up=x[..., :1])),
        (layers.concat_backward, "dup", layers.concat_backward(x, 1)[1], dict(dy=x, channels=np.array(1))),
        (layers.softmax, "p", layers.softmax(a), dict(a=a)),
        (layers.softmax_cross_entropy, "loss", loss, dict(a=a, labels=labels, weights=weights)),
        (layers.softmax_cross_entropy, "da", da, dict(a=a, labels=labels, weights=weights)),
        (layers.sigmoid, "y", layers.sigmoid(v), dict(x=v)),
        (layers.sigmoid_backward, "dx", layers.sigmoid_backward(v, p), dict(dy=v, y=p)),
        (layers.softplus, "y", layers.softplus(v), dict(x=v)),
        (layers.softplus_backward, "dx", layers.softplus_backward(y, v), dict(dy=y, x=v)),
        (layers.binary_cross_entropy, "dp", layers.binary_cross_entropy(p, y)[1], dict(p=p, y=y)),
        (layers.binary_cross_entropy, "loss", layers.binary_cross_entropy(p, y)[0], dict(p=p, y=y)),
        (layers.binary_cross_entropy_with_logits, "dz",
         layers.binary_cross_entropy_with_logits(v, y)[1], dict(z=v, y=y)),
        (layers.binary_cross_entropy_with_logits, "loss",
         layers.binary_cross_entropy_with_logits(v, y)[0], dict(z=v, y=y)),
        (layers.mse, "loss", layers.mse(v, y)[0], dict(yhat=v, y=y)),
        (layers.mse, "dyhat", layers.mse(v, y)[1], dict(yhat=v, y=y)),
        (layers.dense, "z", layers.dense(xd, wd, bd), dict(x=xd, w=wd, b=bd)),
        (layers.dense_backward, "dx", dense_grads[0], dict(dy=dyd, x=xd, w=wd)),
        (layers.dense_backward, "dw", dense_grads[1], dict(dy=dyd, x=xd, w=wd)),
        (layers.dense_backward, "db", dense_grads[2], dict(dy=dyd, x=xd, w=wd)),
        (layers.flatten, "f", layers.flatten(x), dict(x=x)),
        (layers.flatten_backward, "dx", x, dict(dy=x.ravel(), shape=np.array(x.shape))),
        (layers.correlate, "z", layers.correlate(image, k3, "same"), dict(x=image, k=k3)),
        (layers.convolve, "z", layers.convolve(image, k3, "same"), dict(x=image, k=k3)),
        (layers.gaussian_kernel, "g", layers.gaussian_kernel(7, 0.84089642),
         dict(size=np.array(7), sigma=np.array(0.84089642))),
        (layers.sobel, "gy", layers.sobel()[1], {}),
        (layers.sobel_gradient, "G", layers.sobel_gradient(image)[0], dict(image=image)),
        (layers.sobel_gradient, "theta", layers.sobel_gradient(image)[1], dict(image=image)),
    ]


APL_CASES = _apl_cases()


@pytest.mark.parametrize("function, result, expected, arrays", APL_CASES,
                         ids=[f"{f.__name__}-{r}" for f, r, _, _ in APL_CASES])
def test_docstring_apl_runs_and_agrees(function, result, expected, arrays):
    assert close(run_apl(apl_of(function), result, **arrays), expected)


def test_every_public_layer_has_an_apl_line_and_an_oracle():
    for name in layers.__all__:
        doc = inspect.getdoc(getattr(layers, name))
        assert re.search(r"^APL\s+\S", doc, re.M) and f"naive.{name}" in doc, name


def test_every_public_layer_has_a_naive_twin_of_the_same_signature():
    for name in layers.__all__:
        fast, slow = getattr(layers, name), getattr(naive, name)
        assert inspect.signature(fast) == inspect.signature(slow), name
