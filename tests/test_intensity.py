"""Tests of aplnet.intensity: the normalisation shared by training and prediction."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aplnet.apl import DomainError
from aplnet.intensity import LEGACY, Normalization, normalize

PERCENTILE, RANGE, NONE = Normalization(), Normalization("range"), Normalization("none")


def _naive_percentile(image, low, high):
    """Each channel's percentiles by sorting, then the affine map and the clip, pixel by pixel."""
    out = np.zeros(image.shape)
    for c in range(image.shape[-1]):
        values = np.sort(image[..., c].ravel().astype(float))

        def at(q):
            # numpy's default ("linear"): the point q% of the way along the sorted values
            pos = q / 100 * (len(values) - 1)
            i = int(np.floor(pos))
            j = min(i + 1, len(values) - 1)
            return values[i] + (pos - i) * (values[j] - values[i])

        lo, hi = at(low), at(high)
        for i, j in np.ndindex(image.shape[:2]):
            out[i, j, c] = min(1.0, max(0.0, (image[i, j, c] - lo) / (hi - lo)))
    return out


@settings(deadline=None)
@given(st.integers(2, 9), st.integers(2, 9), st.integers(1, 3), st.integers(0, 2**16),
       st.sampled_from([np.uint8, np.uint16, np.float32]))
def test_percentile_normalisation_equals_the_formula_by_loops(h, w, c, seed, dtype):
    rng = np.random.default_rng(seed)
    image = (rng.random((h, w, c)) * 200).astype(dtype)
    image[0, 0], image[-1, -1] = 0, 199          # no channel constant
    np.testing.assert_allclose(normalize(image), _naive_percentile(image, 1, 99.8),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 4095), (np.uint16, 65535),
                                        (np.float32, 1.0), (np.float32, 1020.0),
                                        (np.float64, 1e30)])
def test_every_storage_comes_out_from_0_to_1(dtype, top):
    rng = np.random.default_rng(0)
    image = (rng.random((40, 50, 1)) * top).astype(dtype)
    out = normalize(image)
    assert out.dtype == np.float32 and out.min() == 0 and out.max() == 1
    assert 0.3 < out.mean() < 0.7


def test_a_12_bit_image_in_16_bit_words_comes_out_as_its_8_bit_copy():
    rng = np.random.default_rng(1)
    eight = rng.integers(0, 256, (30, 30, 1)).astype(np.uint8)
    twelve = eight.astype(np.uint16) * 16
    np.testing.assert_allclose(normalize(twelve), normalize(eight), atol=1e-6)


def test_range_divides_integers_by_their_types_range():
    a = np.array([[0, 51], [102, 255]], np.uint8)[..., None]
    np.testing.assert_allclose(normalize(a, RANGE)[..., 0], a[..., 0] / 255, rtol=1e-6)
    b = np.array([[0, 65535], [4095, 300]], np.uint16)[..., None]
    np.testing.assert_allclose(normalize(b, RANGE)[..., 0], b[..., 0] / 65535, rtol=1e-6)


def test_range_stretches_floats_from_their_min_to_their_max():
    a = np.array([[-2.0, 0.0], [2.0, 6.0]], np.float32)[..., None]
    np.testing.assert_allclose(normalize(a, RANGE)[..., 0], [[0, 0.25], [0.5, 1]])


def test_none_keeps_the_values_as_stored():
    a = np.array([[0, 7], [200, 255]], np.uint8)[..., None]
    np.testing.assert_array_equal(normalize(a, NONE), a.astype(np.float32))


def test_outliers_are_clipped_so_the_network_never_sees_them():
    image = np.random.default_rng(2).random((30, 30, 1))
    image[3, 4] = 1e36                           # one hot pixel in a float image
    out = normalize(image)
    assert out.max() == 1 and np.count_nonzero(out == 1) >= 2 and out[10:20].std() > 0.1


def test_a_mostly_constant_image_falls_back_to_its_min_and_max():
    image = np.zeros((20, 20, 1), np.uint16)
    image[5, 5] = 300                            # the 99.8th percentile is still 0
    out = normalize(image)
    assert np.isfinite(out).all() and out[5, 5, 0] == 1 and out.sum() == 1


@pytest.mark.parametrize("how", [PERCENTILE, RANGE])
def test_a_constant_image_is_refused_by_name_not_made_nan(how):
    image = np.full((8, 8, 1), 17.0, np.float32)
    with pytest.raises(DomainError, match=r"^cells/a\.tif: the image is constant \(17 "
                                          r"everywhere\): its intensity range is empty"):
        normalize(image, how, "cells/a.tif")


def test_a_constant_channel_is_named():
    image = np.random.default_rng(3).random((8, 8, 3))
    image[..., 2] = 0.5
    with pytest.raises(DomainError, match=r"0\.5 everywhere in channel 2"):
        normalize(image, PERCENTILE, "rgb.tif")


def test_a_constant_integer_image_by_its_types_range_is_fine():
    np.testing.assert_array_equal(normalize(np.zeros((3, 3, 1), np.uint8), RANGE), 0)


def test_non_finite_values_are_named():
    image = np.ones((4, 4, 1), np.float32)
    image[1, 1] = np.nan
    with pytest.raises(DomainError, match=r"^x\.tif: the image must be finite; got 1 NaN"):
        normalize(image, PERCENTILE, "x.tif")


def test_the_normalisation_survives_json():
    for how in (PERCENTILE, RANGE, NONE, Normalization("percentile", 2, 99)):
        assert Normalization.from_json(how.to_json()) == how


@pytest.mark.parametrize("args, match", [
    (("zscore",), "must be one of percentile, range, none"),
    (("percentile", 50, 10), "0 <= low < high <= 100"),
    (("percentile", 1, 101), "0 <= low < high <= 100"),
])
def test_bad_normalisations_are_refused(args, match):
    with pytest.raises(DomainError, match=match):
        Normalization(*args)


def test_a_damaged_stored_normalisation_is_named():
    with pytest.raises(DomainError, match=r"run/model\.npz: its stored normalisation is damaged"):
        Normalization.from_json('{"method": "zscore"}', "run/model.npz")


def test_legacy_checkpoints_get_the_old_scaling_of_integer_files():
    assert LEGACY == RANGE
    a = np.array([[0, 1000]], np.uint16)[..., None]
    np.testing.assert_allclose(normalize(a, LEGACY)[..., 0], [[0, 1000 / 65535]], rtol=1e-6)
