"""Segmentation scores: pixel accuracy, IoU, Dice, the ISBI 2012 errors, instance AP.

Every score compares a predicted label image with the true one, both
``(H, W)`` integer arrays where 0 is background. The pixel scores look at
the foreground (label > 0) only; the object scores at the objects: the
predicted objects are the connected components (4-neighbours, as the ISBI
challenge's scripts label them) of the predicted foreground, the true ones
the instance labels of the truth when it holds more than one foreground
label (an instance mask, one label per object) and its components otherwise.

==========================  ===============================================
``foreground_counts``       true/false positives and negatives of the pixels
``pixel_scores``            accuracy, pixel error, foreground IoU, Dice
``rand_error``              the ISBI 2012 foreground-restricted Rand error
``warping_error``           the ISBI 2012 warping error (Jain et al. 2010)
``average_precision``       the Data Science Bowl 2018 score per IoU threshold
``score_image``, ``pool``   all of them for one image, and over many
==========================  ===============================================
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .apl import DomainError, LengthError, RankError

__all__ = ["THRESHOLDS", "RING", "foreground_counts", "pixel_scores", "components", "objects",
           "rand_error", "simple_points", "warping_error", "average_precision", "score_image",
           "pool"]

THRESHOLDS = np.arange(50, 100, 5) / 100
"""The IoU thresholds of the Data Science Bowl 2018: 0.5, 0.55, …, 0.95."""


def _labels(a, name, func):
    a = np.asarray(a)
    if a.ndim != 2:
        raise RankError(f"{func}: {name} must be an (H, W) label image; got shape {a.shape}")
    if a.dtype.kind not in "biu":
        raise TypeError(f"{func}: {name} must hold integer labels; got dtype {a.dtype}")
    if a.size and a.min() < 0:
        raise DomainError(f"{func}: {name} must hold non-negative labels; got {a.min()}")
    return a


def _pair(predicted, truth, func):
    predicted = _labels(predicted, "predicted", func)
    truth = _labels(truth, "truth", func)
    if predicted.shape != truth.shape:
        raise LengthError(f"{func}: predicted and truth must have one shape; got "
                          f"{predicted.shape} and {truth.shape}")
    return predicted, truth


def foreground_counts(predicted, truth):
    """``(tp, fp, fn, tn)``: pixels by predicted and true foreground (label > 0).

    >>> foreground_counts([[1, 1, 0, 0]], [[0, 1, 1, 0]])
    (1, 1, 1, 1)
    """
    p, t = _pair(predicted, truth, "foreground_counts")
    p, t = p > 0, t > 0
    tp = int(np.count_nonzero(p & t))
    fp, fn = int(np.count_nonzero(p)) - tp, int(np.count_nonzero(t)) - tp
    return tp, fp, fn, p.size - tp - fp - fn


def pixel_scores(tp, fp, fn, tn):
    """Pixel accuracy, pixel error, foreground IoU and Dice from the four counts.

    ``accuracy = (tp + tn) / n``; ``pixel_error = 1 − accuracy``, the
    fraction of pixels whose binary label differs (the ISBI 2012 challenge's
    pixel error, its squared Euclidean distance between 0/1 label images
    over the pixel count); ``iou = tp / (tp + fp + fn)``;
    ``dice = 2 tp / (2 tp + fp + fn)``. IoU and Dice are 1 when neither
    image has foreground.

    >>> pixel_scores(1, 1, 1, 1)
    {'accuracy': 0.5, 'pixel_error': 0.5, 'iou': 0.3333333333333333, 'dice': 0.5}
    """
    n = tp + fp + fn + tn
    accuracy = (tp + tn) / n if n else 1.0
    wrong = fp + fn
    return {"accuracy": accuracy, "pixel_error": 1.0 - accuracy,
            "iou": tp / (tp + wrong) if tp + wrong else 1.0,
            "dice": 2 * tp / (2 * tp + wrong) if tp + wrong else 1.0}


def components(mask):
    """Connected components (4-neighbours) of the foreground ``mask > 0``, numbered from 1.

    >>> components([[1, 1, 0, 2], [0, 0, 0, 2], [3, 0, 1, 1]])
    array([[1, 1, 0, 2],
           [0, 0, 0, 2],
           [3, 0, 2, 2]], dtype=int32)
    """
    mask = _labels(mask, "mask", "components")
    return ndimage.label(mask > 0)[0]


def objects(truth):
    """The true objects: ``truth`` itself if it holds several foreground labels, else its components.

    A mask with one foreground label (binary, or a class mask of one class)
    says nothing of where touching objects meet, so its objects are its
    connected components; an instance mask names each object.

    >>> objects([[0, 2, 2, 5, 5]])
    array([[0, 2, 2, 5, 5]])
    >>> objects([[0, 1, 1, 0, 1]])
    array([[0, 1, 1, 0, 2]], dtype=int32)
    """
    truth = _labels(truth, "truth", "objects")
    if np.unique(truth[truth > 0]).size > 1:
        return truth
    return components(truth)


def _contingency(a, b):
    """The distinct label pairs of two label images and each pair's pixel count."""
    a, b = a.ravel().astype(np.int64), b.ravel().astype(np.int64)
    codes, counts = np.unique(a * (int(b.max(initial=0)) + 1) + b, return_counts=True)
    width = int(b.max(initial=0)) + 1
    return codes // width, codes % width, counts


def rand_error(predicted, truth):
    """The ISBI 2012 challenge's foreground-restricted Rand error, ``1 − F``.

    As defined by Arganda-Carreras et al. (2015), "Crowdsourcing the
    creation of image segmentation algorithms for connectomics", Frontiers
    in Neuroanatomy 9:142, and scored by the challenge's Fiji scripts:
    only the ``n`` pixels inside true objects count. With ``p_ij`` the
    fraction of them in true object ``i`` and predicted object ``j``
    (``j = 0``: predicted background, each such pixel an object of its own),
    ``s_j = Σ_i p_ij`` and ``t_i = Σ_j p_ij``::

        precision = (Σ_{i, j≥1} p_ij² + Σ_i p_i0 / n) / (Σ_{j≥1} s_j² + Σ_i p_i0 / n)
        recall    = (Σ_{i, j≥1} p_ij² + Σ_i p_i0 / n) / Σ_i t_i²
        F = 2 · precision · recall / (precision + recall)

    precision being the chance that two of those pixels (drawn with
    replacement) in one predicted object are in one true object, recall the
    reverse. The challenge scored a probability map by the best F over
    thresholds; here the prediction is already a label image (the network's
    argmax), so the error is at that one threshold, never below the
    challenge's.

    Parameters
    ----------
    predicted : int array (H, W)
        Predicted labels; its objects are the components of ``> 0``.
    truth : int array (H, W)
        True labels; its objects as :func:`objects` finds them.

    Returns
    -------
    float
        In [0, 1]; NaN when the truth has no foreground (no pairs to score).

    Examples
    --------
    Two true objects merged into one predicted object:

    >>> print(round(rand_error([[1, 1, 1, 1]], [[1, 1, 0, 1]]), 4))
    0.2857
    """
    predicted, truth = _pair(predicted, truth, "rand_error")
    t = objects(truth)
    inside = t > 0
    n = int(np.count_nonzero(inside))
    if n == 0:
        return math.nan
    i, j, counts = _contingency(t[inside], components(predicted)[inside])
    p = counts / n
    alone = p[j == 0].sum() / n                       # predicted-background pixels, singletons
    both = np.sum(p[j > 0] ** 2) + alone
    s = np.bincount(j[j > 0], weights=p[j > 0])
    t_sizes = np.bincount(i, weights=p)
    precision, recall = both / (np.sum(s ** 2) + alone), both / np.sum(t_sizes ** 2)
    return float(1.0 - 2 * precision * recall / (precision + recall))


RING = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
"""The 8 neighbours of a pixel, in the order of the bits of a ring code (bit k: RING[k])."""


def _is_simple(code):
    """Whether flipping the centre of the ring ``code`` keeps the topology (see simple_points)."""
    patch = np.zeros((3, 3), bool)
    for k, (dy, dx) in enumerate(RING):
        patch[1 + dy, 1 + dx] = bool(code >> k & 1)
    touching = ndimage.label(patch)[0][[0, 1, 1, 2], [1, 0, 2, 1]]   # the 4-neighbours' parts
    return np.unique(touching[touching > 0]).size == 1 and not patch.sum() == 8


def simple_points():
    """For each of the 256 rings of 8 neighbours, whether the centre pixel is *simple*.

    A pixel is simple when flipping it between foreground and background
    changes no object's topology: no object split, merged, created or
    removed, no hole made or filled. With objects 4-connected and the
    background 8-connected, as the ISBI challenge's Fiji code takes them
    (``simple2DBertrand(patch, 4)``, after Bertrand and Malandain 1994), the
    centre is simple when the foreground of its ring touching its
    4-neighbours is one 4-connected piece and the ring holds some
    background. Bit ``k`` of a ring's code is the neighbour ``RING[k]``.

    Returns
    -------
    ndarray of bool, shape (256,)

    Examples
    --------
    The end of a line is simple; its middle is not (flipping it splits the line):

    >>> table = simple_points()
    >>> bool(table[0b00010000]), bool(table[0b00011000])
    (True, False)
    """
    return np.array([_is_simple(code) for code in range(256)])


_SIMPLE = None


def _ring_codes(mask):
    """Each pixel's ring code (bit k: its neighbour ``RING[k]`` is foreground); outside is 0."""
    h, w = mask.shape
    framed = np.pad(mask, 1).astype(np.int64)
    return sum(framed[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] << k
               for k, (dy, dx) in enumerate(RING))


def warping_error(predicted, truth):
    """The ISBI 2012 challenge's warping error: pixels still wrong after a topology-keeping warp.

    Jain et al. (2010), "Boundary learning by optimization with topological
    constraints", CVPR: the truth's foreground (``truth > 0``) is warped
    towards the prediction's by flipping, one at a time, pixels where the
    two differ and whose flip is *simple* (:func:`simple_points`), until a
    pass over the remaining differences flips none; the error is the share
    of pixels that still differ. Differences that only move a boundary
    warp away; what is left are the splits, merges, and objects or holes
    added or lost. As in the challenge's Fiji code (``WarpingError.java``,
    ``simplePointWarp2d``): the image is framed by one pixel of background,
    the differences are visited column by column (for a binary prediction
    every difference is equally sure, so the stable sort by certainty keeps
    that order), and each flip is seen by the pixels visited after it. The
    visits are a loop: each flip decides the next one's neighbourhood. The
    challenge took the best over thresholds of a probability map; here the
    prediction is a label image, at the one threshold.

    Parameters
    ----------
    predicted, truth : int array (H, W)
        Foreground is label > 0 in both.

    Returns
    -------
    float

    Examples
    --------
    A prediction that cuts an object in two keeps one pixel of the cut
    (removing it would split the object), out of 3 × 5 = 15:

    >>> truth = [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]]
    >>> predicted = [[1, 1, 0, 1, 1], [1, 1, 0, 1, 1], [0, 0, 0, 0, 0]]
    >>> print(round(warping_error(predicted, truth) * 15, 6))
    1.0
    """
    global _SIMPLE
    predicted, truth = _pair(predicted, truth, "warping_error")
    if _SIMPLE is None:
        _SIMPLE = simple_points()
    target = np.pad(predicted > 0, 1)
    source = np.pad(truth > 0, 1)
    codes = _ring_codes(source)
    before = -1
    while True:
        wrong = source != target
        count = int(np.count_nonzero(wrong))
        if count == 0 or count == before:
            break
        before = count
        xs, ys = np.nonzero(wrong.T)                 # column by column, as Fiji visits them
        for y, x in zip(ys.tolist(), xs.tolist()):
            if _SIMPLE[codes[y, x]]:
                source[y, x] = not source[y, x]
                for k, (dy, dx) in enumerate(RING):  # (y, x) is neighbour k of (y−dy, x−dx)
                    codes[y - dy, x - dx] ^= 1 << k
    return count / truth.size


def average_precision(predicted, truth, thresholds=THRESHOLDS):
    """The Data Science Bowl 2018's score of one image, at each IoU threshold.

    Predicted objects (components of ``predicted > 0``) are matched to true
    ones (:func:`objects`) when their IoU exceeds the threshold ``τ``; from
    ``τ = 0.5`` on a match is unique. With ``TP`` the matches, ``FP`` the
    unmatched predicted objects and ``FN`` the unmatched true ones, the score
    at ``τ`` is ``TP / (TP + FP + FN)``; the competition took its mean over
    ``τ = 0.5, 0.55, …, 0.95`` (:data:`THRESHOLDS`), then over images.
    With no object on either side the score is 1.

    Returns
    -------
    ndarray of float, one per threshold

    Examples
    --------
    One object found with IoU 3/4, one missed, one invented:

    >>> truth = [[1, 1, 1, 1, 0, 2]]
    >>> predicted = [[1, 1, 1, 0, 1, 0]]
    >>> average_precision(predicted, truth, [0.5, 0.8])
    array([0.33333333, 0.        ])
    """
    predicted, truth = _pair(predicted, truth, "average_precision")
    thresholds = np.asarray(thresholds, float)
    if thresholds.ndim != 1 or np.any(thresholds < 0.5) or np.any(thresholds >= 1):
        raise ValueError(f"average_precision: thresholds must lie in [0.5, 1) for matches "
                         f"to be unique; got {thresholds}")
    t, p = objects(truth), components(predicted)
    n_true, n_pred = np.unique(t[t > 0]).size, int(p.max(initial=0))
    if n_true + n_pred == 0:
        return np.ones(thresholds.size)
    i, j, counts = _contingency(t, p)
    areas_t = np.bincount(t.ravel().astype(np.int64))
    areas_p = np.bincount(p.ravel())
    pairs = (i > 0) & (j > 0)
    i, j, inter = i[pairs], j[pairs], counts[pairs]
    iou = inter / (areas_t[i] + areas_p[j] - inter)
    tp = np.count_nonzero(iou[:, None] > thresholds, axis=0)
    return tp / (n_true + n_pred - tp)


def score_image(predicted, truth):
    """Every score of one image, as a dict (see :func:`pixel_scores` for the keys).

    Adds ``rand_error`` (:func:`rand_error`), ``warping_error``
    (:func:`warping_error`), ``ap`` (the mean of
    :func:`average_precision` over :data:`THRESHOLDS`), ``ap_0.5`` and
    the counts ``tp fp fn tn`` and ``true_objects predicted_objects``.

    >>> s = score_image([[1, 1, 0, 0]], [[1, 1, 0, 0]])
    >>> s["dice"], s["ap"], s["rand_error"]
    (1.0, 1.0, 0.0)
    """
    counts = foreground_counts(predicted, truth)
    ap = average_precision(predicted, truth)
    t = objects(truth)
    return {**pixel_scores(*counts), "rand_error": rand_error(predicted, truth),
            "warping_error": warping_error(predicted, truth),
            "ap": float(ap.mean()), "ap_0.5": float(ap[0]),
            **dict(zip(("tp", "fp", "fn", "tn"), counts)),
            "true_objects": int(np.unique(t[t > 0]).size),
            "predicted_objects": int(components(predicted).max(initial=0))}


def pool(scores):
    """The scores of many images together.

    Pixel accuracy, pixel error, IoU and Dice from the summed counts (every
    pixel of every image weighs the same); the Rand error and AP as means
    over the images, as the ISBI and Data Science Bowl leaderboards averaged
    them (images whose Rand error is undefined left out); the warping error
    from the pixels left wrong in all the images.

    >>> a = score_image([[1, 1, 0, 0]], [[1, 1, 0, 0]])
    >>> b = score_image([[0, 0, 0, 0]], [[0, 0, 1, 1]])
    >>> p = pool([a, b]); p["iou"], p["ap"], p["images"]
    (0.5, 0.5, 2)
    """
    def counts_of(s):
        return [s[k] for k in ("tp", "fp", "fn", "tn")]
    counts = np.sum([counts_of(s) for s in scores], axis=0).tolist()
    rand = [s["rand_error"] for s in scores if not math.isnan(s["rand_error"])]
    return {**pixel_scores(*counts),
            "rand_error": float(np.mean(rand)) if rand else math.nan,
            "warping_error": float(np.average([s["warping_error"] for s in scores],
                                              weights=[sum(counts_of(s)) for s in scores])),
            "ap": float(np.mean([s["ap"] for s in scores])),
            "ap_0.5": float(np.mean([s["ap_0.5"] for s in scores])),
            **dict(zip(("tp", "fp", "fn", "tn"), counts)),
            "true_objects": sum(s["true_objects"] for s in scores),
            "predicted_objects": sum(s["predicted_objects"] for s in scores),
            "images": len(scores)}
