"""Tests of aplnet.data: synthetic cells, loaders, weight maps, augmentation."""

import itertools
import math
from collections import deque

import numpy as np
import pytest
import tifffile
from data_oracles import old_label_components, old_warp, old_weight_map
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from aplnet.apl import DomainError, LengthError, RankError
from aplnet.data import (augment, dihedral, elastic_field, label_components, load_folder,
                         read_image, read_mask, synthetic_cells, warp, weight_map)

# ---------------------------------------------------------------- synthetic


def test_synthetic_cells_is_deterministic_per_seed():
    a, b = synthetic_cells(3, 64, seed=5), synthetic_cells(3, 64, seed=5)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)


def test_synthetic_cells_of_another_seed_differ():
    assert not np.array_equal(synthetic_cells(1, 64, 0).masks, synthetic_cells(1, 64, 1).masks)


def test_synthetic_cells_prefix_is_the_smaller_set():
    np.testing.assert_array_equal(synthetic_cells(4, 64, 2).images[:2],
                                  synthetic_cells(2, 64, 2).images)


def test_synthetic_cells_shapes_and_ranges():
    images, masks, names = synthetic_cells(2, 96, seed=0)
    assert images.shape == (2, 96, 96, 1) and images.dtype == np.float32
    assert masks.shape == (2, 96, 96) and masks.dtype == np.uint8
    assert images.min() >= 0 and images.max() <= 1
    assert set(np.unique(masks)) == {0, 1}
    assert names == ["synthetic(seed=0)[0]", "synthetic(seed=0)[1]"]


def test_synthetic_cells_are_brighter_than_background():
    images, masks, _ = synthetic_cells(4, 128, seed=0)
    assert images[..., 0][masks == 1].mean() > images[..., 0][masks == 0].mean() + 0.2


def test_synthetic_cells_are_noisy_and_textured():
    images, masks, _ = synthetic_cells(2, 128, seed=0)
    # neighbouring pixels inside cells differ: noise and texture, not flat fills
    inside = (masks[:, :, 1:] == 1) & (masks[:, :, :-1] == 1)
    steps = np.abs(np.diff(images[..., 0], axis=2))[inside]
    assert steps.mean() > 0.03


def test_synthetic_cells_touch_across_thin_seams():
    _, masks, _ = synthetic_cells(2, 128, seed=0)
    seams = 0
    for mask in masks:
        labels, _ = label_components(mask)
        # a background pixel with different cells two pixels left and right of it
        left, right = labels[:, :-4], labels[:, 4:]
        seams += np.count_nonzero((mask[:, 2:-2] == 0) & (left > 0) & (right > 0) & (left != right))
    assert seams > 20


@pytest.mark.parametrize("kwargs, match", [
    ({"n": -1}, "n must be at least 0"),
    ({"n": 1, "size": 4}, "size must be at least 8"),
    ({"n": 1.5}, "n must be an integer"),
])
def test_synthetic_cells_rejects_bad_arguments(kwargs, match):
    with pytest.raises((DomainError, TypeError), match=match):
        synthetic_cells(**kwargs)


# ------------------------------------------------------------------ loaders


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


def _pair_folders(tmp_path, sizes=((20, 30), (16, 16))):
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    arrays = []
    for i, hw in enumerate(sizes):
        image = rng.integers(0, 256, hw, dtype=np.uint8)
        mask = (rng.random(hw) > 0.5).astype(np.uint8) * 255
        _save(tmp_path / "images" / f"cell{i}.png", image)
        _save(tmp_path / "masks" / f"cell{i}.tif", mask)
        arrays.append((image, mask))
    return arrays


def test_load_folder_pairs_files_by_name(tmp_path):
    arrays = _pair_folders(tmp_path)
    images, masks, names = load_folder(tmp_path / "images", tmp_path / "masks")
    assert [n.rsplit("/", 1)[-1] for n in names] == ["cell0.png", "cell1.png"]
    for (image, mask), got_image, got_mask in zip(arrays, images, masks):
        np.testing.assert_array_equal(got_image[..., 0], image)   # as stored
        np.testing.assert_array_equal(got_mask, mask // 255)


def _write_stack(path, pages):
    first, *rest = [Image.fromarray(p) for p in pages]
    first.save(path, save_all=True, append_images=rest)
    return path


def test_load_folder_reads_multipage_tiff_stacks(tmp_path):
    rng = np.random.default_rng(1)
    volume = [rng.integers(0, 256, (12, 14), dtype=np.uint8) for _ in range(3)]
    labels = [(rng.random((12, 14)) > 0.3).astype(np.uint8) * 255 for _ in range(3)]
    images, masks, names = load_folder(_write_stack(tmp_path / "train-volume.tif", volume),
                                       _write_stack(tmp_path / "train-labels.tif", labels))
    assert len(images) == 3 and names[2].endswith("train-volume.tif[page 2]")
    np.testing.assert_array_equal(masks[1], labels[1] // 255)
    np.testing.assert_array_equal(images[2][..., 0], volume[2])


def test_read_image_keeps_colour_channels(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image, = read_image(_save(tmp_path / "c.png", rgb))
    assert image.shape == (5, 7, 3)


def test_read_image_gives_16_bit_png_as_stored(tmp_path):
    a = np.array([[0, 65535], [1000, 30000]], np.uint16)
    image, = read_image(_save(tmp_path / "d.png", a))
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image[..., 0], a)


def test_read_mask_gives_palette_indices(tmp_path):
    labels = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    im = Image.fromarray(labels, mode="P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    im.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "p.png")[0], labels)


def test_read_mask_rejects_colour_masks(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    with pytest.raises(DomainError, match=r"m\.png: a mask must be single-channel"):
        read_mask(_save(tmp_path / "m.png", rgb))


def test_load_folder_names_an_image_without_mask(tmp_path):
    _pair_folders(tmp_path)
    (tmp_path / "masks" / "cell1.tif").unlink()
    with pytest.raises(LengthError, match=r"image .*cell1\.png has no mask named cell1"):
        load_folder(tmp_path / "images", tmp_path / "masks")


def test_load_folder_names_both_files_when_sizes_differ(tmp_path):
    _pair_folders(tmp_path)
    _save(tmp_path / "masks" / "cell1.tif", np.zeros((15, 16), np.uint8))
    with pytest.raises(LengthError, match=r"cell1\.png is 16x16 but its mask .*cell1\.tif is 15x16"):
        load_folder(tmp_path / "images", tmp_path / "masks")


def test_load_folder_names_an_unreadable_file(tmp_path):
    _pair_folders(tmp_path)
    (tmp_path / "images" / "cell1.png").write_bytes(b"not a png")
    with pytest.raises(DomainError, match=r"cannot read .*cell1\.png as an image"):
        load_folder(tmp_path / "images", tmp_path / "masks")


def test_load_folder_rejects_mixed_channel_counts(tmp_path):
    _pair_folders(tmp_path)
    _save(tmp_path / "images" / "cell1.png", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(LengthError, match=r"cell1\.png has 3 channel\(s\) but .*cell0\.png has 1"):
        load_folder(tmp_path / "images", tmp_path / "masks")


def test_load_folder_rejects_page_counts_that_differ(tmp_path):
    pages = [np.zeros((4, 4), np.uint8)] * 2
    with pytest.raises(LengthError, match=r"has 2 page\(s\) but .*l\.tif has 1"):
        load_folder(_write_stack(tmp_path / "v.tif", pages),
                    _write_stack(tmp_path / "l.tif", pages[:1]))


def test_load_folder_rejects_a_missing_path(tmp_path):
    with pytest.raises(DomainError, match="nowhere does not exist"):
        load_folder(tmp_path / "nowhere", tmp_path)


def test_load_folder_rejects_a_folder_paired_with_a_file(tmp_path):
    f = _save(tmp_path / "x.png", np.zeros((3, 3), np.uint8))
    with pytest.raises(DomainError, match="two folders or two image files"):
        load_folder(tmp_path, f)


# ---------------------------------------------------------- components


def _flood_labels(fg):
    """Breadth-first flood fill, components numbered by first pixel in row order."""
    labels = np.zeros(fg.shape, int)
    count = 0
    for start in zip(*np.nonzero(fg)):
        if labels[start]:
            continue
        count += 1
        labels[start] = count
        queue = deque([start])
        while queue:
            i, j = queue.popleft()
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = i + di, j + dj
                if 0 <= a < fg.shape[0] and 0 <= b < fg.shape[1] and fg[a, b] and not labels[a, b]:
                    labels[a, b] = count
                    queue.append((a, b))
    return labels, count


@settings(deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.floats(0.2, 0.8), st.integers(0, 2**16))
def test_label_components_equals_flood_fill(h, w, p, seed):
    fg = np.random.default_rng(seed).random((h, w)) < p
    labels, count = label_components(fg)
    expected, expected_count = _flood_labels(fg)
    np.testing.assert_array_equal(labels, expected)
    assert count == expected_count


def test_label_components_follows_a_long_serpentine():
    fg = np.zeros((41, 41), bool)
    fg[::2] = True               # rows joined at alternate ends: one path of ~860 pixels
    fg[1::4, -1] = True
    fg[3::4, 0] = True
    labels, count = label_components(fg)
    assert count == 1 and set(np.unique(labels)) == {0, 1}


def test_label_components_rejects_3d():
    with pytest.raises(RankError, match=r"label_components: mask must be \(H, W\)"):
        label_components(np.zeros((2, 2, 2)))


# -------------------------------------------------------------- weight map


def _naive_weight_map(mask, w0, sigma):
    """The paper's formula with every distance found by looping over pixels."""
    labels, count = _flood_labels(mask > 0)
    classes, counts = np.unique(mask, return_counts=True)
    balance = dict(zip(classes, mask.size / (len(classes) * counts)))
    cells = [list(zip(*np.nonzero(labels == c + 1))) for c in range(count)]
    w = np.zeros(mask.shape)
    for i, j in itertools.product(*map(range, mask.shape)):
        w[i, j] = balance[mask[i, j]]
        if labels[i, j] == 0 and count >= 1:
            d = sorted(min(math.hypot(i - a, j - b) for a, b in cell) for cell in cells)
            d2 = d[1] if count >= 2 else math.inf
            w[i, j] += w0 * math.exp(-(d[0] + d2) ** 2 / (2 * sigma**2))
    return w


@pytest.mark.parametrize("seed", range(4))
def test_weight_map_equals_the_formula_by_loops(seed):
    mask = (np.random.default_rng(seed).random((9, 11)) < 0.35).astype(np.uint8)
    np.testing.assert_allclose(weight_map(mask, w0=10, sigma=2), _naive_weight_map(mask, 10, 2),
                               rtol=1e-6)


def test_weight_map_of_a_balanced_mask_without_border_term_is_one():
    mask = np.array([[0, 1], [1, 0]])
    np.testing.assert_array_equal(weight_map(mask, w0=0), np.ones((2, 2), np.float32))


def test_weight_map_is_heaviest_on_the_seam_between_touching_cells():
    _, masks, _ = synthetic_cells(1, 64, seed=3)
    w = weight_map(masks[0])
    labels, _ = label_components(masks[0])
    seam = (masks[0, :, 1:-1] == 0) & (labels[:, :-2] > 0) & (labels[:, 2:] > 0) & \
           (labels[:, :-2] != labels[:, 2:])
    assert w[:, 1:-1][seam].mean() > 3 * w[masks[0] == 0].mean()


@pytest.mark.parametrize("args, error, match", [
    ((np.zeros(4, int),), RankError, r"mask must be \(H, W\)"),
    ((np.zeros((2, 2)),), TypeError, "integer labels"),
    ((np.full((2, 2), -1),), DomainError, "non-negative"),
    ((np.zeros((2, 2), int), 10, 0), DomainError, "sigma > 0"),
])
def test_weight_map_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        weight_map(*args)


# ----------------------------------------------------------- augmentation


def test_dihedral_gives_eight_different_symmetries():
    a = np.arange(9).reshape(3, 3)
    results = {dihedral(a, k).tobytes() for k in range(8)}
    assert len(results) == 8


def test_dihedral_moves_channels_along():
    a = np.arange(24).reshape(2, 4, 3)
    np.testing.assert_array_equal(dihedral(a, 1)[..., 2], dihedral(a[..., 2], 1))


def test_warp_with_zero_field_is_identity(rng):
    a = rng.random((5, 6, 2))
    np.testing.assert_allclose(warp(a, np.zeros((2, 5, 6))), a, rtol=1e-12)
    np.testing.assert_array_equal(warp(a, np.zeros((2, 5, 6)), order=0), a)


def test_warp_by_whole_pixels_shifts_with_mirrored_edges():
    a = np.arange(20.0).reshape(4, 5)
    field = np.stack([np.zeros((4, 5)), np.ones((4, 5))])   # read one column to the right
    expected = np.concatenate([a[:, 1:], a[:, 3:4]], axis=1)
    np.testing.assert_array_equal(warp(a, field), expected)


def test_warp_interpolates_half_pixels_linearly():
    a = np.array([[0.0, 2.0, 4.0]])
    field = np.stack([np.zeros((1, 3)), np.full((1, 3), 0.5)])
    np.testing.assert_allclose(warp(a, field), [[1.0, 3.0, 3.0]])


def test_elastic_field_has_the_requested_spread():
    fields = [elastic_field(np.random.default_rng(s), (33, 33), sigma=10) for s in range(200)]
    knots = np.array([f[:, ::16, ::16] for f in fields])     # the 3x3 lattice points
    assert abs(knots.std() - 10) < 1


def test_augment_moves_image_and_mask_together():
    _, masks, _ = synthetic_cells(1, 64, seed=0)
    mask = masks[0]
    image = mask[..., None].astype(np.float32)
    for seed in range(5):
        im, m, w = augment(np.random.default_rng(seed), image, mask, mask.astype(np.float32),
                           elastic=6.0)
        assert np.mean(np.round(im[..., 0]) == m) > 0.97
        np.testing.assert_array_equal(np.unique(m), [0, 1])
        assert im.shape == image.shape and w.dtype == np.float32


def test_augment_without_elastic_is_an_exact_symmetry():
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    mask = np.arange(16).reshape(4, 4)
    im, m, w = augment(np.random.default_rng(0), image, mask, elastic=0)
    assert w is None
    np.testing.assert_array_equal(im[..., 0], m)
    assert any(np.array_equal(m, dihedral(mask, k)) for k in range(8))


def test_augment_keeps_non_square_shapes():
    image, mask = np.zeros((4, 6, 1), np.float32), np.zeros((4, 6), int)
    for seed in range(8):
        im, m, _ = augment(np.random.default_rng(seed), image, mask, elastic=2.0)
        assert im.shape == (4, 6, 1) and m.shape == (4, 6)


# ------------------------------------------- scipy against the hand-written oracles


@settings(deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.floats(0.2, 0.8), st.integers(0, 2**16))
def test_label_components_equals_the_hand_written_labelling(h, w, p, seed):
    fg = np.random.default_rng(seed).random((h, w)) < p
    labels, count = label_components(fg)
    expected, expected_count = old_label_components(fg)
    np.testing.assert_array_equal(labels, expected)
    assert count == expected_count


@pytest.mark.parametrize("seed", range(3))
def test_weight_map_equals_the_hand_written_one_bit_for_bit_on_synthetic_cells(seed):
    _, masks, _ = synthetic_cells(2, 96, seed=seed)
    for mask in masks:
        np.testing.assert_array_equal(weight_map(mask), old_weight_map(mask))
        np.testing.assert_array_equal(weight_map(mask, 5, 2), old_weight_map(mask, 5, 2))


@settings(deadline=None)
@given(st.integers(1, 14), st.integers(1, 14), st.integers(0, 2**16), st.floats(0.1, 30))
def test_weight_map_equals_the_hand_written_one_on_random_masks(h, w, seed, sigma):
    mask = (np.random.default_rng(seed).random((h, w)) < 0.4).astype(np.uint8)
    np.testing.assert_array_equal(weight_map(mask, 10, sigma), old_weight_map(mask, 10, sigma))


@settings(deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 3), st.integers(0, 2**16),
       st.sampled_from([0.3, 3.0, 40.0]), st.sampled_from([0, 1]))
def test_warp_equals_the_hand_written_warp_bit_for_bit(h, w, c, seed, spread, order):
    rng = np.random.default_rng(seed)
    a = rng.random((h, w, c)).astype(np.float32)
    if order == 0:
        a = rng.integers(0, 5, (h, w, c))
    field = rng.normal(0, spread, (2, h, w))
    np.testing.assert_array_equal(warp(a, field, order), old_warp(a, field, order))


# ------------------------------------------------------------------- TIFF


def test_read_image_gives_16_bit_and_float_tiffs_as_stored(tmp_path):
    a = np.array([[0, 4095], [17, 300]], np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", a)
    f = np.array([[0.5, -3.0], [1020.0, 2.0]], np.float32)
    tifffile.imwrite(tmp_path / "f.tif", f)
    image, = read_image(tmp_path / "a.tif")
    assert image.dtype == np.uint16 and image.shape == (2, 2, 1)
    np.testing.assert_array_equal(image[..., 0], a)
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif")[0][..., 0], f)


def test_read_image_takes_a_bigtiff_stack_apart_into_pages(tmp_path):
    stack = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    tifffile.imwrite(tmp_path / "big.tif", stack, bigtiff=True, photometric="minisblack")
    pages = read_image(tmp_path / "big.tif")
    assert len(pages) == 3
    np.testing.assert_array_equal(pages[2][..., 0], stack[2])


def test_read_image_puts_colour_samples_and_imagej_channels_last(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.tif")[0], rgb)
    hyper = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)   # z, channel, y, x
    tifffile.imwrite(tmp_path / "zc.tif", hyper, imagej=True, metadata={"axes": "ZCYX"})
    pages = read_image(tmp_path / "zc.tif")
    assert len(pages) == 2 and pages[1].shape == (4, 5, 3)
    np.testing.assert_array_equal(pages[1][..., 2], hyper[1, 2])


def test_read_image_falls_back_to_pillow_for_compressions_tifffile_cannot_decode(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    Image.fromarray(a).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    np.testing.assert_array_equal(read_image(tmp_path / "lzw.tif")[0][..., 0], a)


def test_a_float_tiff_of_nan_is_named(tmp_path):
    tifffile.imwrite(tmp_path / "n.tif", np.full((3, 3), np.nan, np.float32))
    with pytest.raises(DomainError, match=r"n\.tif: the image holds NaN or Inf values"):
        read_image(tmp_path / "n.tif")


def test_a_palette_png_image_gives_its_colours_and_a_palette_mask_its_indices(tmp_path):
    indices = np.array([[0, 1], [1, 2]], np.uint8)
    im = Image.fromarray(indices, mode="P")
    im.putpalette([0, 0, 0, 200, 10, 20, 5, 250, 9] + [0] * 759)
    im.save(tmp_path / "p.png")
    image, = read_image(tmp_path / "p.png")
    assert image.shape == (2, 2, 3) and tuple(image[1, 1]) == (5, 250, 9)
    np.testing.assert_array_equal(read_mask(tmp_path / "p.png")[0], indices)


def test_augment_refuses_an_image_without_channels():
    """Found by tests/test_fuzz.py: numpy's 'need at least one array to stack' before."""
    from aplnet.apl import DomainError
    with pytest.raises(DomainError, match=r"augment: image must have a channel at least; got "
                                          r"image.shape=\(1, 1, 0\)"):
        augment(np.random.default_rng(0), np.zeros((1, 1, 0), np.float32),
                np.zeros((1, 1), np.uint8), None, 1.0)
