"""The probabilistic layers at extreme logits (±1e4), in float32 and float64.

A logit of 1e4 overflows ``exp`` in both dtypes (float32 already past 88.7,
float64 past 709.8), so every formula has to be the shifted or log-sum-exp
one. Each test runs under ``np.errstate`` raising on overflow, invalid
operations and division by zero: a stable layer never produces an
intermediate inf or NaN, not merely a finite end result. Underflow (``exp``
of −2e4 is 0) is the expected, harmless rounding and is left alone.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from aplnet import layers, naive
from aplnet.apl import DomainError

DTYPES = [np.float32, np.float64]
EXTREME = 1e4


def strict():
    """Raise on any overflow, 0/0, inf−inf or x/0 inside the layer."""
    return np.errstate(over="raise", invalid="raise", divide="raise", under="ignore")


def logit_arrays(dtype, shape):
    """Logits mixing ±1e4, 0 and moderate values, so rows are both saturated and not."""
    element = st.sampled_from([EXTREME, -EXTREME, 0.0]) | st.floats(-50, 50, width=32)
    return hnp.arrays(dtype, shape, elements=element)


shapes = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 4))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_softmax_is_a_distribution_at_extreme_logits(dtype, data):
    a = data.draw(logit_arrays(dtype, data.draw(shapes)))
    with strict():
        p = layers.softmax(a)
    assert p.dtype == dtype
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=-1), 1, rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_saturates_exactly(dtype):
    with strict():
        p = layers.softmax(np.array([EXTREME, -EXTREME, 0], dtype))
    np.testing.assert_array_equal(p, np.array([1, 0, 0], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_cross_entropy_matches_float64_loop_at_extreme_logits(dtype, data):
    a = data.draw(logit_arrays(dtype, data.draw(shapes)))
    labels = data.draw(hnp.arrays(np.int64, a.shape[:-1], elements=st.integers(0, a.shape[-1] - 1)))
    with strict():
        loss, da = layers.softmax_cross_entropy(a, labels)
    slow_loss, slow_da = naive.softmax_cross_entropy(a.astype(np.float64), labels)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.isfinite(loss) and loss.dtype == dtype and da.dtype == dtype
    np.testing.assert_allclose(float(loss), slow_loss, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(da, slow_da, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_of_a_confident_wrong_answer_is_the_logit_gap(dtype):
    """−log softmax([1e4, −1e4])[1] = 2e4 exactly; the gradient is (1, −1)/N."""
    a = np.array([[EXTREME, -EXTREME]], dtype)
    weights = np.array([2.0], dtype)
    with strict():
        loss, da = layers.softmax_cross_entropy(a, np.array([1]), weights)
    assert float(loss) == 4 * EXTREME
    np.testing.assert_array_equal(da, np.array([[2, -2]], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_saturates_without_overflow(dtype):
    with strict():
        y = layers.sigmoid(np.array([-EXTREME, 0, EXTREME], dtype))
        dx = layers.sigmoid_backward(np.ones(3, dtype), y)
    np.testing.assert_array_equal(y, np.array([0, 0.5, 1], dtype))
    np.testing.assert_array_equal(dx, np.array([0, 0.25, 0], dtype))
    assert y.dtype == dx.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_sigmoid_matches_float64_loop_at_extreme_logits(dtype, data):
    z = data.draw(logit_arrays(dtype, data.draw(shapes)))
    with strict():
        y = layers.sigmoid(z)
    np.testing.assert_allclose(y, naive.sigmoid(z.astype(np.float64)),
                               rtol=1e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_is_the_rectifier_at_extreme_logits(dtype):
    with strict():
        y = layers.softplus(np.array([-EXTREME, EXTREME], dtype))
        dx = layers.softplus_backward(np.ones(2, dtype), np.array([-EXTREME, EXTREME], dtype))
    np.testing.assert_array_equal(y, np.array([0, EXTREME], dtype))
    np.testing.assert_array_equal(dx, np.array([0, 1], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_bce_with_logits_matches_float64_loop_at_extreme_logits(dtype, data):
    z = data.draw(logit_arrays(dtype, data.draw(shapes)))
    y = data.draw(hnp.arrays(dtype, z.shape, elements=st.sampled_from([0.0, 1.0, 0.5])))
    with strict():
        loss, dz = layers.binary_cross_entropy_with_logits(z, y)
    slow_loss, slow_dz = naive.binary_cross_entropy_with_logits(z.astype(np.float64),
                                                                y.astype(np.float64))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss.dtype == dz.dtype == dtype
    np.testing.assert_allclose(float(loss), slow_loss, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(dz, slow_dz, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_of_confident_answers(dtype):
    """Right at ±1e4 costs 0; wrong costs the logit, 1e4, with gradient ±1/n."""
    z = np.array([EXTREME, -EXTREME, EXTREME, -EXTREME], dtype)
    y = np.array([1, 0, 0, 1], dtype)
    with strict():
        loss, dz = layers.binary_cross_entropy_with_logits(z, y)
    assert float(loss) == 2 * EXTREME / 4
    np.testing.assert_array_equal(dz, np.array([0, 0, 0.25, -0.25], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_of_saturated_probabilities_is_refused_with_the_way_out(dtype):
    """sigmoid(±1e4) is exactly 0 or 1, where log p is −inf: a clear error, not inf."""
    p = layers.sigmoid(np.array([EXTREME, -EXTREME], dtype))
    with pytest.raises(DomainError, match=r"binary_cross_entropy: p must lie in the open "
                                          r"interval \(0, 1\); got values from 0\.0 to 1\.0; "
                                          r"use binary_cross_entropy_with_logits"):
        layers.binary_cross_entropy(p, np.array([1, 0], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_at_the_most_confident_representable_probabilities(dtype):
    """p one ulp inside (0, 1): the loss is finite and agrees with the logits form."""
    tiny = np.finfo(dtype).tiny                       # smallest normal: 1/p still fits
    p = np.array([tiny, np.nextafter(dtype(1), dtype(0))], dtype)
    y = np.array([1, 0], dtype)
    with strict():
        loss, dp = layers.binary_cross_entropy(p, y)
    assert loss.dtype == dp.dtype == dtype
    assert np.isfinite(loss) and np.all(np.isfinite(dp))
    expected = -(np.log(np.float64(p[0])) + np.log1p(-np.float64(p[1]))) / 2
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
