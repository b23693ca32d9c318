"""The loop oracles pinned on the notes' worked cases (exact, by hand)."""

import math

import numpy as np
import pytest

from aplnet import naive

# Note 004's worked example: input, kernel and the three results.
X004 = np.array([[1, 6, 2], [5, 3, 1], [7, 0, 4]], float)
K004 = np.array([[1, 2], [-1, 0]], float)
VALID004 = [[8, 7], [4, 5]]
FULL004 = [[0, -1, -6, -2], [2, 8, 7, 1], [10, 4, 5, -3], [14, 7, 8, 4]]
CONVOLVED004 = [[7, 5], [11, 3]]

# Note 003's 7x7 Gaussian table, the top-left quarter as printed.
GAUSS003 = np.array([
    [0.00000067, 0.00002292, 0.00019117, 0.00038771],
    [0.00002292, 0.00078633, 0.00655965, 0.01330373],
    [0.00019117, 0.00655965, 0.05472157, 0.11098164],
    [0.00038771, 0.01330373, 0.11098164, 0.22518352],
])


def mirrored(quarter):
    """The full symmetric table from its top-left quarter (centre row/column shared)."""
    top = np.hstack([quarter, quarter[:, -2::-1]])
    return np.vstack([top, top[-2::-1]])


# ------------------------------------------------------- note 004


def test_correlate_valid_is_note_004():
    assert np.array_equal(naive.correlate(X004, K004), VALID004)


def test_correlate_full_is_note_004():
    assert np.array_equal(naive.correlate(X004, K004, "full"), FULL004)


def test_convolve_is_correlation_with_rot180_note_004():
    assert np.array_equal(naive.convolve(X004, K004), CONVOLVED004)


def test_correlate_same_keeps_the_size_and_pads_as_dyalog():
    # 2x2 kernel: ⌺ pads 0 before and 1 after, so 'same' is full's rows/cols 1..3
    assert np.array_equal(naive.correlate(X004, K004, "same"),
                          np.array(FULL004)[1:, 1:])


def test_conv_one_channel_is_note_004():
    z = naive.conv(X004[..., None], K004[..., None, None])
    assert np.array_equal(z[..., 0], VALID004)


def test_conv_bias_pad_and_stride_by_hand():
    # pad 1 = note 004's full case; stride 3 keeps its corners; b adds 10
    z = naive.conv(X004[..., None], K004[..., None, None], b=np.array([10.]),
                   stride=3, pad=1)
    assert np.array_equal(z[..., 0], [[10, 8], [24, 14]])


def test_conv_sums_over_input_channels_note_004():
    # Y1 = B1 + X1 ⋆ K11 + X2 ⋆ K12: two input channels, one output
    x = np.stack([X004, 2 * X004], axis=-1)
    w = np.stack([K004, -K004], axis=-1)[..., None]
    z = naive.conv(x, w, b=np.array([1.]))
    assert np.array_equal(z[..., 0], np.array(VALID004) - 2 * np.array(VALID004) + 1)


def test_conv_dx_is_full_correlation_with_rot180_note_004():
    dz = np.array([[1., -2.], [3., 5.]])
    dx, _, _ = naive.conv_backward(dz[..., None], X004[..., None], K004[..., None, None])
    assert np.array_equal(dx[..., 0], naive.correlate(dz, K004[::-1, ::-1], "full"))


def test_conv_dx_expanded_by_hand_note_004():
    # ∂E/∂x22 = dy11 K22 + dy12 K21 + dy21 K12 + dy22 K11 (the notes' 1-based names)
    dz = np.array([[1., -2.], [3., 5.]])
    dx, _, _ = naive.conv_backward(dz[..., None], X004[..., None], K004[..., None, None])
    assert dx[1, 1, 0] == 1 * 0 + (-2) * (-1) + 3 * 2 + 5 * 1
    assert dx[0, 0, 0] == 1 * 1 and dx[2, 2, 0] == 5 * 0


def test_conv_dw_is_x_correlated_with_dz_note_001():
    # dL/dw1 = conv(X, dL/dz1)
    dz = np.array([[1., -2.], [3., 5.]])
    _, dw, _ = naive.conv_backward(dz[..., None], X004[..., None], K004[..., None, None])
    assert np.array_equal(dw[..., 0, 0], naive.correlate(X004, dz))


def test_conv_dw_expanded_by_hand_note_001():
    # ∂L/∂w12 = dz11 x12 + dz12 x13 + dz21 x22 + dz22 x23
    dz = np.array([[1., -2.], [3., 5.]])
    _, dw, _ = naive.conv_backward(dz[..., None], X004[..., None], K004[..., None, None])
    assert dw[0, 1, 0, 0] == 1 * 6 + (-2) * 2 + 3 * 3 + 5 * 1


def test_conv_bias_gradient_is_sum_of_dz_note_001():
    dz = np.array([[1., -2.], [3., 5.]])
    _, _, db = naive.conv_backward(dz[..., None], X004[..., None], K004[..., None, None])
    assert np.array_equal(db, [7.])


def test_conv_backward_with_stride_by_hand():
    # 1x1 kernel, stride 2: only the even pixels were read, only they get gradient
    x = np.arange(9.).reshape(3, 3, 1)
    dx, dw, _ = naive.conv_backward(np.array([[1., 2.], [3., 4.]])[..., None], x,
                                    np.full((1, 1, 1, 1), 10.), stride=2)
    assert np.array_equal(dx[..., 0], [[10, 0, 20], [0, 0, 0], [30, 0, 40]])
    assert dw.item() == 1 * 0 + 2 * 2 + 3 * 6 + 4 * 8


def test_binary_cross_entropy_gradient_note_004():
    # ∂E/∂y_i = ((1 − y*_i)/(1 − y_i) − y*_i/y_i) / n
    loss, dp = naive.binary_cross_entropy(np.array([0.8, 0.25]), np.array([1., 0.]))
    assert loss == pytest.approx(-(math.log(0.8) + math.log(0.75)) / 2)
    assert np.allclose(dp, [-1 / 0.8 / 2, 1 / 0.75 / 2])


def test_sigmoid_derivative_is_sigma_times_one_minus_sigma_note_004():
    y = naive.sigmoid(np.array([0., 2.]))
    assert np.allclose(naive.sigmoid_backward(np.ones(2), y), y * (1 - y))
    assert y[0] == 0.5


# ------------------------------------------------------- note 002


def test_chain_rule_f_is_minus_12_note_002():
    # q = x + y is a dense layer with weights 1; f = q·z one with weight z
    q = naive.dense(np.array([-2., 5.]), np.ones((2, 1)))
    f = naive.dense(q, np.array([[-4.]]))
    assert q.item() == 3 and f.item() == -12


def test_chain_rule_gradients_note_002():
    xy, z = np.array([-2., 5.]), np.array([[-4.]])
    q = naive.dense(xy, np.ones((2, 1)))
    dq, dz, _ = naive.dense_backward(np.array([1.]), q, z)
    dxy, _, _ = naive.dense_backward(dq, xy, np.ones((2, 1)))
    assert dz.item() == 3 and np.array_equal(dxy, [-4, -4])


def test_mse_by_hand():
    loss, d = naive.mse(np.array([1., 3., 0.]), np.array([1., 1., 1.]))
    assert loss == pytest.approx(5 / 3) and np.allclose(d, [0, 4 / 3, -2 / 3])


# ------------------------------------------------------- note 003


def test_gaussian_kernel_is_note_003_table():
    table = mirrored(GAUSS003)
    table[3, 3] = 0.22508352                 # the notes misprint the centre
    assert np.array_equal(np.round(naive.gaussian_kernel(7, 0.84089642), 8), table)


def test_gaussian_table_centre_is_a_misprint():
    # the printed table sums to 1.0001; with 0.22508352 in the centre it sums to 1
    table = mirrored(GAUSS003)
    assert table.sum() == pytest.approx(1.0001, abs=2e-7)
    assert table.sum() - 0.0001 == pytest.approx(1, abs=2e-7)


def test_softplus_derivative_is_sigmoid_note_003():
    x = np.array([-3., 0., 2.])
    assert np.allclose(naive.softplus_backward(np.ones(3), x), naive.sigmoid(x))
    assert naive.softplus(np.array([0.]))[0] == pytest.approx(math.log(2))


def test_sobel_tables_note_003():
    gx, gy = naive.sobel()
    assert np.array_equal(gx, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    assert np.array_equal(gy, gx.T)


def test_sobel_gradient_on_a_step_by_hand():
    image = np.array([[0, 0, 1, 1]] * 3, float)
    magnitude, direction = naive.sobel_gradient(image)
    assert np.array_equal(magnitude[1], [0, 4, 4, 4])
    assert np.allclose(direction[1], [0, 0, 0, math.pi])


def test_max_pooling_keeps_the_max_note_003():
    x = np.array([[1, 2, 5, 0], [3, 4, 1, 1], [0, 0, 2, 2], [7, 0, 2, 2]], float)
    assert np.array_equal(naive.maxpool(x[..., None])[..., 0], [[4, 5], [7, 2]])


def test_max_pool_gradient_goes_to_the_first_max_note_003():
    # the window [[2, 2], [2, 2]] ties four ways: the top-left one takes it
    x = np.array([[1, 2, 5, 0], [3, 4, 1, 1], [0, 0, 2, 2], [7, 0, 2, 2]], float)
    dx = naive.maxpool_backward(np.array([[1., 2.], [3., 4.]])[..., None], x[..., None])
    assert np.array_equal(dx[..., 0], [[0, 0, 2, 0], [0, 1, 0, 0], [0, 0, 4, 0], [3, 0, 0, 0]])


def test_max_pool_drops_what_does_not_fill_a_window():
    x = np.arange(15.).reshape(3, 5, 1)
    assert np.array_equal(naive.maxpool(x)[..., 0], [[6, 8]])


# ------------------------------------------------------- note 000


def test_upconv_paints_blocks_by_hand():
    x = np.array([[1., 2.]])[..., None]
    w = np.array([[1., 2.], [3., 4.]])[..., None, None]
    assert np.array_equal(naive.upconv(x, w)[..., 0], [[1, 2, 2, 4], [3, 4, 6, 8]])


def test_upconv_backward_by_hand():
    x = np.array([[1., 2.]])[..., None]
    w = np.array([[1., 2.], [3., 4.]])[..., None, None]
    dy = np.arange(8.).reshape(2, 4, 1)
    dx, dw, db = naive.upconv_backward(dy, x, w)
    assert np.array_equal(dx[..., 0], [[0 + 2 + 12 + 20, 2 + 6 + 18 + 28]])
    assert np.array_equal(dw[..., 0, 0], [[0 + 2 * 2, 1 + 2 * 3], [4 + 2 * 6, 5 + 2 * 7]])
    assert db.item() == 28


def test_crop_is_centred_and_cuts_the_odd_row_at_the_end():
    x = np.arange(20).reshape(5, 4, 1)
    assert np.array_equal(naive.crop(x, (2, 2))[..., 0], [[5, 6], [9, 10]])


def test_crop_backward_puts_the_gradient_back_in_place():
    dx = naive.crop_backward(np.ones((2, 2, 1)), (5, 4))
    assert np.array_equal(dx[..., 0], [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0],
                                       [0, 0, 0, 0], [0, 0, 0, 0]])


def test_concat_and_split_by_hand():
    y = naive.concat(np.zeros((1, 1, 2)), np.ones((1, 1, 1)))
    dskip, dup = naive.concat_backward(np.array([[[1., 2., 3.]]]), 2)
    assert np.array_equal(y, [[[0, 0, 1]]])
    assert np.array_equal(dskip, [[[1, 2]]]) and np.array_equal(dup, [[[3]]])


def test_softmax_gradient_is_p_minus_y_note_000():
    # uniform logits: p = 1/K; loss = log K; da = (p − onehot)/N
    a = np.zeros((2, 3))
    loss, da = naive.softmax_cross_entropy(a, np.array([0, 2]))
    assert loss == pytest.approx(math.log(3))
    assert np.allclose(da, np.array([[1 / 3 - 1, 1 / 3, 1 / 3], [1 / 3, 1 / 3, 1 / 3 - 1]]) / 2)


def test_weighted_cross_entropy_by_hand():
    a = np.log(np.array([[1., 3.], [1., 1.]]))
    loss, da = naive.softmax_cross_entropy(a, np.array([1, 0]), np.array([2., 0.]))
    assert loss == pytest.approx(-2 * math.log(0.75) / 2)
    assert np.allclose(da, [[2 * 0.25 / 2, 2 * -0.25 / 2], [0, 0]])


def test_softmax_rows_sum_to_one_for_huge_logits():
    p = naive.softmax(np.array([[1000., -1000., 1000.]]))
    assert np.allclose(p, [[0.5, 0, 0.5]])


def test_flatten_order_by_hand():
    x = np.arange(12).reshape(2, 3, 2)
    assert np.array_equal(naive.flatten(x), np.arange(12))
    assert np.array_equal(naive.flatten_backward(np.arange(12), (2, 3, 2)), x)


def test_relu_and_its_gradient_by_hand():
    z = np.array([-1., 0., 2.])
    assert np.array_equal(naive.relu(z), [0, 0, 2])
    assert np.array_equal(naive.relu_backward(np.array([5., 5., 5.]), z), [0, 0, 5])


def test_bce_from_logits_matches_bce_of_sigmoid():
    z, y = np.array([-1., 0.5]), np.array([0., 1.])
    loss, dz = naive.binary_cross_entropy_with_logits(z, y)
    assert loss == pytest.approx(naive.binary_cross_entropy(naive.sigmoid(z), y)[0])
    assert np.allclose(dz, (naive.sigmoid(z) - y) / 2)
