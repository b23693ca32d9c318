"""What training needs besides the steps: held-out images, their scores, the learning-rate schedule.

==================  ==========================================================
``split``           a seeded split of the training images into train and held-out
``validate``        held-out foreground IoU and Dice by overlap-tile on whole images
``learning_rate``   the rate of an epoch under ``constant``, ``cosine`` or ``step``
``cross_entropy``   the unweighted pixel-wise cross-entropy of logits
==================  ==========================================================
"""

from __future__ import annotations

import math

import numpy as np

from .apl import DomainError
from .data import Samples
from .metrics import foreground_counts, pixel_scores
from .tiling import segment

__all__ = ["SCHEDULES", "split", "validate", "learning_rate", "cross_entropy"]

SCHEDULES = ("constant", "cosine", "step")


def split(samples, fraction, seed):
    """``(train, held_out)``: a seeded share ``fraction`` of the images held out.

    ``round(fraction × n)`` images, drawn by a generator seeded with
    ``seed``, are held out; the rest keep their order.

    Raises
    ------
    DomainError
        A fraction that would leave no training image or no held-out one.

    Examples
    --------
    >>> s = Samples([np.zeros((2, 2, 1))] * 4, [np.zeros((2, 2), int)] * 4, list("abcd"))
    >>> train, held = split(s, 0.25, seed=0)
    >>> len(train.names), len(held.names)
    (3, 1)
    """
    n = len(samples.names)
    held = round(fraction * n)
    if held < 1 or held >= n:
        raise DomainError(f"train: --val-split {fraction} of {n} image(s) holds out {held}, "
                          f"leaving {n - held} to train on; need at least one of each")
    order = np.random.default_rng(seed).permutation(n)
    out = np.sort(order[:held])
    keep = np.setdiff1d(np.arange(n), out)

    def take(idx):
        return Samples([samples.images[i] for i in idx], [samples.masks[i] for i in idx],
                       [samples.names[i] for i in idx])
    return take(keep), take(out)


def validate(net, samples, tile):
    """Foreground IoU and Dice of ``net`` on whole images, pooled over their pixels.

    Each image is segmented by overlap-tile (:func:`aplnet.tiling.segment`)
    with input tiles of side ``tile``; the foreground is every class but 0.

    Returns
    -------
    dict
        ``iou`` and ``dice`` (see :func:`aplnet.metrics.pixel_scores`).

    Examples
    --------
    >>> from aplnet.unet import UNet
    >>> s = Samples([np.zeros((20, 20, 1), np.float32)], [np.zeros((20, 20), int)], ["a"])
    >>> sorted(validate(UNet(depth=2, width=2), s, tile=28))
    ['dice', 'iou']
    """
    counts = np.zeros(4, np.int64)
    for image, mask in zip(samples.images, samples.masks):
        counts += foreground_counts(segment(net, image, tile, progress=False),
                                    np.asarray(mask))
    scores = pixel_scores(*(int(c) for c in counts))
    return {"iou": scores["iou"], "dice": scores["dice"]}


def learning_rate(schedule, lr, epoch, epochs):
    """The learning rate of epoch ``epoch`` (1 … ``epochs``) under a schedule.

    ``constant``: ``lr`` throughout. ``cosine``: ``lr · (1 + cos(π (e−1)/E)) / 2``,
    from ``lr`` at the first epoch down towards 0 at the last. ``step``:
    ``lr`` divided by 10 at the start of the second third and again of the
    last third of the epochs, ``lr / 10^⌊3 (e−1) / E⌋``. The rate is held
    for a whole epoch, so a run resumed with the same ``--epochs`` repeats
    the uninterrupted one; resuming with more epochs stretches what is left
    of the schedule over them.

    >>> [learning_rate("step", 1.0, e, 6) for e in range(1, 7)]
    [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    >>> [round(learning_rate("cosine", 1.0, e, 4), 4) for e in range(1, 5)]
    [1.0, 0.8536, 0.5, 0.1464]
    """
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        return lr * (1 + math.cos(math.pi * (epoch - 1) / epochs)) / 2
    if schedule == "step":
        return lr / 10 ** ((3 * (epoch - 1)) // epochs)
    raise DomainError(f"train: --lr-schedule must be one of {', '.join(SCHEDULES)}; "
                      f"got {schedule!r}")


def cross_entropy(logits, labels):
    """The unweighted softmax cross-entropy, ``−mean log p_label``, over every pixel.

    The weighted loss training minimises depends on ``--w0``; this one does
    not, so runs with different weight maps can be compared by it.

    >>> print(round(cross_entropy(np.array([[0.0, 0.0], [0.0, np.log(3)]]), np.array([0, 1])), 6))
    0.490415
    """
    logits = np.asarray(logits, np.float64)
    top = logits.max(axis=-1, keepdims=True)
    log_total = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(logits, np.asarray(labels)[..., None].astype(np.intp),
                                axis=-1)[..., 0]
    return float(np.mean(log_total - picked))
