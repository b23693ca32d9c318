"""Tests of aplnet.metrics: each score against a loop oracle, on hand-worked cases and hypothesis data.

The oracles below count what the definitions count, pixel by pixel and
pair by pair: a flood fill for the components, every ordered pair of
foreground pixels for the Rand score, every pair of objects for the
matching, Bertrand's topological numbers of each ring for the warp. None
of them calls scipy or aplnet.metrics (the ring order ``RING`` aside).
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aplnet.apl import DomainError, LengthError, RankError
from aplnet.metrics import (RING, THRESHOLDS, average_precision, components, foreground_counts,
                            objects, pixel_scores, pool, rand_error, score_image, simple_points,
                            warping_error)
from strategies import int_arrays

# ----------------------------------------------------------------- oracles


def naive_components(mask):
    """4-neighbour components by flood fill, numbered in row-major order of first pixel."""
    mask = np.asarray(mask) > 0
    h, w = mask.shape
    out = np.zeros((h, w), int)
    count = 0
    for y in range(h):
        for x in range(w):
            if mask[y, x] and not out[y, x]:
                count += 1
                stack = [(y, x)]
                out[y, x] = count
                while stack:
                    a, b = stack.pop()
                    for c, d in ((a - 1, b), (a + 1, b), (a, b - 1), (a, b + 1)):
                        if 0 <= c < h and 0 <= d < w and mask[c, d] and not out[c, d]:
                            out[c, d] = count
                            stack.append((c, d))
    return out


def naive_objects(truth):
    truth = np.asarray(truth)
    labels = {int(v) for v in truth.ravel() if v > 0}
    return truth if len(labels) > 1 else naive_components(truth)


def naive_rand_error(predicted, truth):
    """1 − F over ordered pairs (p, q) of true-object pixels, predicted background alone."""
    t = naive_objects(truth)
    s = naive_components(predicted)
    pixels = [(y, x) for y in range(t.shape[0]) for x in range(t.shape[1]) if t[y, x] > 0]
    if not pixels:
        return math.nan
    same_t = same_s = same_both = 0
    for p in pixels:
        for q in pixels:
            st_ = t[p] == t[q]
            ss = p == q or (s[p] > 0 and s[p] == s[q])
            same_t += st_
            same_s += ss
            same_both += st_ and ss
    precision, recall = same_both / same_s, same_both / same_t
    return 1 - 2 * precision * recall / (precision + recall)


def naive_average_precision(predicted, truth, thresholds):
    t = naive_objects(truth)
    s = naive_components(predicted)
    true_ids = sorted({int(v) for v in t.ravel() if v > 0})
    pred_ids = sorted({int(v) for v in s.ravel() if v > 0})
    if not true_ids and not pred_ids:
        return [1.0] * len(thresholds)
    scores = []
    for tau in thresholds:
        matched_t, matched_p = set(), set()
        for a in true_ids:
            for b in pred_ids:
                inter = union = 0
                for y in range(t.shape[0]):
                    for x in range(t.shape[1]):
                        inter += t[y, x] == a and s[y, x] == b
                        union += t[y, x] == a or s[y, x] == b
                if inter / union > tau:
                    matched_t.add(a)
                    matched_p.add(b)
        tp = len(matched_t)
        assert tp == len(matched_p)          # matches above 0.5 are one-to-one
        fp, fn = len(pred_ids) - tp, len(true_ids) - tp
        scores.append(tp / (tp + fp + fn))
    return scores


def ring_parts(ring, connected):
    """Components of the ring's true pixels (8 neighbours, centre out) under ``connected``."""
    cells = [RING[k] for k in range(8) if ring[k]]
    parts, seen = [], set()
    for c in cells:
        if c in seen:
            continue
        part, stack = {c}, [c]
        seen.add(c)
        while stack:
            a = stack.pop()
            for b in cells:
                if b not in seen and connected(a, b):
                    seen.add(b)
                    part.add(b)
                    stack.append(b)
        parts.append(part)
    return parts


def four(a, b):
    return abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1


def eight(a, b):
    return max(abs(a[0] - b[0]), abs(a[1] - b[1])) == 1


def naive_simple(ring):
    """Bertrand's 2D test for 4-connected objects, 8-connected background: T4(X) = T8(X̄) = 1."""
    t4 = sum(1 for part in ring_parts(ring, four) if part & {(-1, 0), (0, -1), (0, 1), (1, 0)})
    t8 = len(ring_parts([not v for v in ring], eight))
    return t4 == 1 and t8 == 1


def naive_warping_error(predicted, truth):
    """Jain's warp as the Fiji code runs it: visits column by column, passes until one flips nothing."""
    h, w = np.shape(truth)
    src = [[0] * (w + 2) for _ in range(h + 2)]
    tgt = [[0] * (w + 2) for _ in range(h + 2)]
    for y in range(h):
        for x in range(w):
            src[y + 1][x + 1] = int(truth[y][x] > 0)
            tgt[y + 1][x + 1] = int(predicted[y][x] > 0)
    before = -1
    while True:
        wrong = [(y, x) for x in range(w + 2) for y in range(h + 2) if src[y][x] != tgt[y][x]]
        if not wrong or len(wrong) == before:
            return len(wrong) / (h * w)
        before = len(wrong)
        for y, x in wrong:
            if naive_simple([src[y + dy][x + dx] for dy, dx in RING]):
                src[y][x] = 1 - src[y][x]


labels = int_arrays(lo=0, hi=3, min_dims=2, max_dims=2, min_side=1, max_side=6)


@st.composite
def label_pairs(draw):
    truth = draw(labels)
    predicted = draw(int_arrays(truth.shape, lo=0, hi=2))
    return predicted, truth


# ------------------------------------------------------------ hand-worked


def test_pixel_scores_of_a_hand_worked_case():
    predicted = [[1, 1, 0], [0, 1, 0]]
    truth = [[1, 0, 0], [1, 1, 0]]            # tp 2, fp 1, fn 1, tn 2
    counts = foreground_counts(predicted, truth)
    assert counts == (2, 1, 1, 2)
    assert pixel_scores(*counts) == {"accuracy": 4 / 6, "pixel_error": 1 - 4 / 6,
                                     "iou": 2 / 4, "dice": 4 / 6}


def test_a_perfect_prediction_has_no_error():
    truth = np.array([[0, 1, 1, 0, 2], [0, 1, 1, 0, 2]])
    s = score_image(truth, truth)
    assert (s["accuracy"], s["iou"], s["dice"], s["rand_error"], s["ap"]) == (1, 1, 1, 0, 1)


def test_rand_error_of_a_merge_by_hand():
    # true objects {a, b} and {c}; one predicted object holds all three:
    # same-true pairs 2²+1² = 5 of 9, same-predicted 9, both 5:
    # precision 5/9, recall 1, F = 10/14
    assert rand_error([[1, 1, 1, 1]], [[1, 1, 0, 1]]) == pytest.approx(1 - 10 / 14)


def test_rand_error_of_a_split_by_hand():
    # one true object of four pixels, predicted as two of two: both = 8 of 16
    # same-true pairs; precision 1, recall 1/2, F = 2/3
    assert rand_error([[1, 1, 0, 1, 1]], [[1, 1, 1, 1, 1]]) == pytest.approx(
        naive_rand_error([[1, 1, 0, 1, 1]], [[1, 1, 1, 1, 1]]))
    assert rand_error([[1, 1, 0, 1, 1]], [[1, 1, 1, 1, 1]]) != 0


def test_rand_error_ignores_the_true_background():
    """Predicted foreground where the truth has none is not scored (foreground-restricted)."""
    truth = [[1, 1, 0, 0]]
    assert rand_error([[1, 1, 0, 0]], truth) == rand_error([[1, 1, 0, 1]], truth) == 0


def test_rand_error_without_true_foreground_is_nan():
    assert math.isnan(rand_error([[1, 0]], [[0, 0]]))


def test_a_moved_boundary_is_no_warping_error():
    truth = np.zeros((6, 7), int)
    truth[1:4, 1:4] = 1
    moved = np.roll(truth, (1, 2), axis=(0, 1))            # the same square, elsewhere
    assert warping_error(moved, truth) == 0 and foreground_counts(moved, truth)[1] > 0


def test_a_lost_object_leaves_one_pixel_and_a_cut_one_pixel():
    truth = np.zeros((5, 6), int)
    truth[1:3, 1:3] = 1
    assert warping_error(np.zeros_like(truth), truth) == 1 / 30     # the last pixel stays
    cut = np.ones((3, 5), int)
    cut[:, 2] = 0                                                   # a line across
    assert warping_error(cut, np.ones((3, 5), int)) == 1 / 15


def test_simple_points_are_bertrands_for_every_ring():
    """The Fiji test (T4 = 1 and some background) equals the 2D pair of topological numbers."""
    expected = [naive_simple([bool(code >> k & 1) for k in range(8)]) for code in range(256)]
    assert simple_points().tolist() == expected


def test_average_precision_of_a_hand_worked_case():
    truth = [[1, 1, 1, 1, 0, 2]]
    predicted = [[1, 1, 1, 0, 1, 0]]             # IoU 3/4 with object 1; one false object
    assert list(average_precision(predicted, truth, [0.5, 0.7, 0.75, 0.8])) == \
        [1 / 3, 1 / 3, 0, 0]                    # IoU must exceed τ: 0.75 is not a match


def test_touching_true_instances_merged_by_the_prediction_score_zero():
    truth = [[1, 1, 2, 2]]                       # an instance mask: two touching objects
    assert list(average_precision([[1, 1, 1, 1]], truth, [0.5])) == [0.0]
    assert objects(truth).max() == 2 and objects([[1, 1, 1, 1]]).max() == 1


def test_no_objects_anywhere_scores_one():
    assert list(average_precision([[0, 0]], [[0, 0]])) == [1.0] * len(THRESHOLDS)


def test_the_thresholds_are_the_data_science_bowls():
    assert list(THRESHOLDS) == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]


def test_pool_sums_the_pixels_and_averages_the_object_scores():
    a = score_image([[1, 1, 0, 0]], [[1, 1, 0, 0]])
    b = score_image([[1, 0, 0, 0]], [[0, 0, 1, 1]])
    p = pool([a, b])
    # b's true object lies in predicted background: two singletons, precision 1,
    # recall 1/2, Rand error 1/3
    assert p["iou"] == 2 / 5 and p["ap"] == 0.5 and p["rand_error"] == pytest.approx(1 / 6)
    assert p["images"] == 2 and p["true_objects"] == 2


# -------------------------------------------------------------- oracles


@settings(deadline=None)
@given(labels)
def test_components_match_a_flood_fill(mask):
    np.testing.assert_array_equal(components(mask), naive_components(mask))


@settings(deadline=None)
@given(label_pairs())
def test_pixel_counts_match_the_loop(pair):
    predicted, truth = pair
    p, t = predicted.ravel() > 0, truth.ravel() > 0
    expected = tuple(sum(1 for a, b in zip(p, t) if (a, b) == case)
                     for case in ((True, True), (True, False), (False, True), (False, False)))
    assert foreground_counts(predicted, truth) == expected


@settings(deadline=None)
@given(label_pairs())
def test_rand_error_matches_the_pair_count(pair):
    predicted, truth = pair
    expected = naive_rand_error(predicted, truth)
    got = rand_error(predicted, truth)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, 1e-12)


@settings(deadline=None)
@given(label_pairs())
def test_warping_error_matches_the_loop(pair):
    predicted, truth = pair
    assert warping_error(predicted, truth) == naive_warping_error(predicted, truth)


@settings(deadline=None)
@given(label_pairs())
def test_average_precision_matches_the_object_loop(pair):
    predicted, truth = pair
    np.testing.assert_allclose(average_precision(predicted, truth),
                               naive_average_precision(predicted, truth, THRESHOLDS),
                               rtol=1e-12)


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize("predicted, truth, error, match", [
    ([[1, 0]], [[1, 0, 0]], LengthError, r"one shape; got \(1, 2\) and \(1, 3\)"),
    ([1, 0], [1, 0], RankError, r"predicted must be an \(H, W\) label image; got shape \(2,\)"),
    ([[0.5, 0]], [[1, 0]], TypeError, "predicted must hold integer labels"),
    ([[1, 0]], [[-1, 0]], DomainError, "truth must hold non-negative labels; got -1"),
])
def test_bad_label_images_are_named(predicted, truth, error, match):
    with pytest.raises(error, match=match):
        score_image(predicted, truth)
