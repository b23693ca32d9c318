"""Tests of aplnet.masks and of masks read from files: binary, classes, instances."""

import numpy as np
import pytest
import tifffile
from PIL import Image

from aplnet.apl import DomainError
from aplnet.data import read_mask, weight_map
from aplnet.masks import describe_kinds, mask_targets, touching


def _two_nuclei_touching():
    """Two square nuclei side by side, labels 3 and 9, touching along a column, and one apart."""
    labels = np.zeros((12, 16), np.uint16)
    labels[2:8, 2:6] = 3
    labels[2:8, 6:10] = 9
    labels[3:6, 12:15] = 40
    return labels


@pytest.mark.parametrize("top", [1, 128, 255, 65535])
def test_two_valued_masks_are_binary(top):
    mask = np.zeros((4, 5), np.uint32)
    mask[1:3, 1:4] = top
    target, instances, kind = mask_targets(mask)
    np.testing.assert_array_equal(target, mask > 0)
    assert instances is None and kind == f"binary 0/{top}"


def test_a_mask_of_one_label_only_is_binary():
    target, _, kind = mask_targets(np.full((3, 3), 7))
    assert kind == "binary 0/7" and target.all()


def test_more_labels_with_two_classes_are_instances_with_seams_cut():
    labels = _two_nuclei_touching()
    target, instances, kind = mask_targets(labels)
    assert kind == "instances"
    np.testing.assert_array_equal(instances, labels)
    # the columns where 3 meets 9 become background, the rest of each nucleus stays
    assert not target[2:8, 5:7].any()
    assert target[2:8, 2:5].all() and target[2:8, 7:10].all() and target[3:6, 12:15].all()


def test_touching_marks_both_sides_of_a_contact_only():
    edge = touching(_two_nuclei_touching())
    assert set(zip(*np.nonzero(edge))) == {(i, j) for i in range(2, 8) for j in (5, 6)}


def test_masks_instances_reads_even_two_classes_worth_of_labels_as_objects():
    labels = np.array([[0, 1, 2, 2]])
    target, instances, kind = mask_targets(labels, mode="instances")
    assert kind == "instances"
    np.testing.assert_array_equal(target, [[0, 0, 0, 1]])


def test_class_indices_below_the_classes_are_taken_as_they_are():
    labels = np.array([[0, 1, 2], [2, 1, 0]])
    target, instances, kind = mask_targets(labels, classes=3)
    np.testing.assert_array_equal(target, labels)
    assert instances is None and kind == "classes"


def test_three_classes_keep_a_two_valued_mask_as_indices():
    target, _, kind = mask_targets(np.array([[0, 2]]), classes=3)
    np.testing.assert_array_equal(target, [[0, 2]])
    assert kind == "classes"


def test_few_labels_beyond_the_classes_get_both_pieces_of_advice():
    with pytest.raises(DomainError, match=r"^a\.png: its mask holds 4 labels \(0, 1, 2, 3\), not "
                                          r"class indices below --classes 2; train with "
                                          r"--classes 4 if they are classes, or with --classes 2 "
                                          r"--masks instances"):
        mask_targets(np.array([[0, 1, 2, 3]]), mode="classes", name="a.png")


@pytest.mark.parametrize("labels", [[0, 1, 65535], list(range(0, 300, 7))])
def test_advice_never_asks_for_absurd_class_counts(labels):
    with pytest.raises(DomainError) as caught:
        mask_targets(np.array([labels]), classes=3, name="m.tif")
    message = str(caught.value)
    assert "--classes 2 --masks instances" in message and "--classes 6553" not in message
    assert "--classes 29" not in message and "if they are classes" not in message


def test_instances_need_two_classes():
    with pytest.raises(DomainError, match=r"m\.tif: instance masks give two classes.*--classes 2"):
        mask_targets(_two_nuclei_touching(), classes=3, mode="instances", name="m.tif")


def test_negative_labels_are_refused_by_name():
    with pytest.raises(DomainError, match=r"^m\.tif: a mask must hold non-negative labels; got -1"):
        mask_targets(np.array([[0, -1]]), name="m.tif")


def test_describe_kinds_says_what_was_assumed_once_per_data_set():
    line = describe_kinds(["instances"] * 3 + ["binary 0/128", "binary 0/1", "binary 0/128"])
    assert line.startswith("masks: 3 read as instance labels (foreground where label > 0")
    assert line.endswith("; 2 binary (0/128 read as 0/1)")
    assert describe_kinds(["binary 0/1", "classes"]) is None


# ------------------------------------------------------------------ files


def test_a_16_bit_instance_mask_reads_as_stored(tmp_path):
    path = tmp_path / "nuclei.tif"
    tifffile.imwrite(path, _two_nuclei_touching())
    np.testing.assert_array_equal(read_mask(path)[0], _two_nuclei_touching())


def test_a_0_65535_mask_is_binary_after_reading(tmp_path):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, np.array([[0, 65535], [65535, 0]], np.uint16))
    target, _, kind = mask_targets(read_mask(path)[0])
    assert kind == "binary 0/65535"
    np.testing.assert_array_equal(target, [[0, 1], [1, 0]])


def test_a_negative_label_file_is_refused_by_name(tmp_path):
    path = tmp_path / "signed.tif"
    tifffile.imwrite(path, np.array([[0, -3], [2, 1]], np.int16))
    with pytest.raises(DomainError, match=r"signed\.tif: a mask must hold non-negative labels; "
                                          r"got -3"):
        read_mask(path)


def test_a_non_integer_float_mask_is_refused_by_name(tmp_path):
    path = tmp_path / "soft.tif"
    tifffile.imwrite(path, np.array([[0, 0.5], [1, 1]], np.float32))
    with pytest.raises(DomainError, match=r"soft\.tif: a mask must hold whole-number labels; "
                                          r"got 1 pixel\(s\) like 0\.5"):
        read_mask(path)


def test_a_whole_number_float_mask_is_read_as_labels(tmp_path):
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, np.array([[0, 4], [4, 9]], np.float32))
    np.testing.assert_array_equal(read_mask(path)[0], [[0, 4], [4, 9]])


def test_a_0_255_png_mask_gives_0_1(tmp_path):
    Image.fromarray(np.array([[0, 255]], np.uint8)).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png")[0], [[0, 1]])


# -------------------------------------------------------------- weight map


def test_the_weight_map_of_instances_weighs_the_seam_between_touching_nuclei():
    labels = _two_nuclei_touching()
    target, instances, _ = mask_targets(labels)
    by_instances = weight_map(target, 10, 5, instances)
    seam = (slice(2, 8), slice(5, 7))
    # the seam is background lying between two objects a pixel or two apart
    assert by_instances[seam].min() > 9
    # connected components of a mask without the seam cut see one blob: no seam weight
    merged = weight_map((labels > 0).astype(np.uint8), 10, 5)
    assert merged[seam].max() < 2


def test_the_weight_map_of_instances_equals_the_formula_by_loops():
    labels = _two_nuclei_touching()
    target, instances, _ = mask_targets(labels)
    w = weight_map(target, 10, 3, instances)
    cells = {k: list(zip(*np.nonzero((instances == k) & (target > 0)))) for k in (3, 9, 40)}
    classes, counts = np.unique(target, return_counts=True)
    balance = dict(zip(classes, target.size / (len(classes) * counts)))
    for i, j in np.ndindex(target.shape):
        expected = balance[target[i, j]]
        if target[i, j] == 0:
            d = sorted(min(np.hypot(i - a, j - b) for a, b in cell) for cell in cells.values())
            expected += 10 * np.exp(-(d[0] + d[1]) ** 2 / (2 * 3**2))
        assert w[i, j] == pytest.approx(expected, rel=1e-6, abs=1e-6), (i, j)


def test_instances_of_another_shape_are_refused():
    with pytest.raises(Exception, match="instances must have the mask's shape"):
        weight_map(np.zeros((3, 3), np.uint8), 10, 5, np.zeros((3, 4), np.int32))
