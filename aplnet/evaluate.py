"""``aplnet evaluate``: score a trained network, or predicted masks, against the truth.

Two ways in: a checkpoint and a data directory (the network segments each
image by overlap-tile, :func:`aplnet.tiling.segment`), or a folder of
predicted masks and a folder of true ones, paired by file name (a
prediction ``NAME_mask.png``, as ``aplnet predict`` writes it, pairs with
the truth ``NAME.*``; in a folder without such files, ``NAME.*`` does). Each image gets every score of
:func:`aplnet.metrics.score_image`; the last row pools them
(:func:`aplnet.metrics.pool`). Output is a table, or JSON.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
from PIL import Image, ImageSequence

from .apl import DomainError, LengthError
from .data import image_files
from .metrics import pool, score_image
from .tiling import segment

__all__ = ["read_labels", "evaluate_network", "evaluate_folders", "table", "to_json"]


def read_labels(path):
    """The pages of a label image as stored: integer ``(H, W)`` arrays, instance labels kept.

    Raises
    ------
    DomainError
        An unreadable file, a colour image, non-integer or negative values;
        the message names the file.
    """
    try:
        with Image.open(path) as im:
            pages = [np.array(page) for page in ImageSequence.Iterator(im)]
    except Exception as err:  # a damaged file makes PIL raise almost anything
        raise DomainError(f"cannot read {path} as an image ({type(err).__name__}: "
                          f"{err})") from None
    labels = []
    for a in pages:
        if a.ndim != 2:
            raise DomainError(f"{path}: a mask must be one channel of labels; got shape "
                              f"{a.shape}")
        if a.dtype.kind == "b":
            a = a.astype(np.uint8)
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                raise DomainError(f"{path}: a mask must hold integer labels; got "
                                  f"non-integer values")
            a = a.astype(np.int64)
        if a.size and a.min() < 0:
            raise DomainError(f"{path}: a mask must hold non-negative labels; got {a.min()}")
        labels.append(a)
    return labels


def evaluate_network(net, samples, tile=None, progress=None):
    """``[(name, scores)]``: ``net``'s segmentation of each image against its mask.

    Parameters
    ----------
    net : UNet
    samples : Samples
        Images as stored (normalised here as ``net``'s training did, see
        :mod:`aplnet.intensity`) and true masks (class or instance labels).
    tile : int, optional
        Input tile side for :func:`aplnet.tiling.segment`.

    Raises
    ------
    LengthError
        An image whose channel count differs from the network's (named).
    """
    results = []
    for image, mask, name in zip(*samples):
        if image.shape[-1] != net.in_channels:
            raise LengthError(f"{name}: the image has {image.shape[-1]} channel(s) but the "
                              f"network takes {net.in_channels}")
        predicted = segment(net, net.normalization(image, name), tile, progress=progress)
        results.append((name, score_image(predicted, np.asarray(mask))))
    return results


def _pair_files(pred_dir, truth_dir):
    """(prediction, truth) file pairs; ``aplnet predict``'s ``NAME_mask.*`` files if there are any."""
    predicted, truth = image_files(pred_dir), image_files(truth_dir)
    if not truth:
        raise DomainError(f"--truth {truth_dir} holds no PNG or TIFF files")
    masks = {stem[:-len("_mask")]: path for stem, path in predicted.items()
             if stem.endswith("_mask")}
    predicted = masks or predicted          # beside the masks, predict writes overlays
    pairs = []
    for stem, path in truth.items():
        if stem not in predicted:
            raise LengthError(f"{path} has no prediction in {pred_dir} (looked for "
                              f"{stem}_mask.* and {stem}.*)")
        pairs.append((predicted.pop(stem), path))
    if predicted:
        raise LengthError(f"{sorted(predicted.values())[0]} has no true mask in {truth_dir}")
    return pairs


def evaluate_folders(pred_dir, truth_dir):
    """``[(name, scores)]``: each predicted mask file against the true one of its name.

    Raises
    ------
    DomainError
        A folder that is missing or holds no masks, an unreadable mask.
    LengthError
        A true mask without a prediction or the reverse, page counts or
        sizes that differ; the message names the files.
    """
    results = []
    for pred_file, truth_file in _pair_files(pred_dir, truth_dir):
        predicted, truth = read_labels(pred_file), read_labels(truth_file)
        if len(predicted) != len(truth):
            raise LengthError(f"{pred_file} has {len(predicted)} page(s) but {truth_file} "
                              f"has {len(truth)}")
        for k, (p, t) in enumerate(zip(predicted, truth)):
            name = truth_file if len(truth) == 1 else f"{truth_file}[page {k}]"
            if p.shape != t.shape:
                raise LengthError(f"{pred_file} is {p.shape[0]}x{p.shape[1]} but {truth_file} "
                                  f"is {t.shape[0]}x{t.shape[1]}")
            results.append((name, score_image(p, t)))
    return results


COLUMNS = [("accuracy", "acc"), ("iou", "IoU"), ("dice", "Dice"), ("pixel_error", "pixel err"),
           ("rand_error", "Rand err"), ("warping_error", "warp err"), ("ap", "AP .5:.95"),
           ("ap_0.5", "AP .5")]


def table(results):
    """The scores as a text table, one row per image and a pooled row.

    >>> from aplnet.metrics import score_image
    >>> print(table([("a.png", score_image(np.array([[1, 0]]), np.array([[1, 0]])))]))
    image             acc      IoU     Dice  pixel err  Rand err  warp err  AP .5:.95    AP .5  true/pred
    a.png           1.000    1.000    1.000      0.000     0.000     0.000      1.000    1.000        1/1
    pooled (1)      1.000    1.000    1.000      0.000     0.000     0.000      1.000    1.000        1/1
    """
    rows = [(name, s) for name, s in results] + [(f"pooled ({len(results)})",
                                                  pool([s for _, s in results]))]
    width = max(len("image"), *(len(name) for name, _ in rows)) + 2
    head = "image".ljust(width) + "".join(f"{label:>{max(7, len(label)) + 2}}"
                                          for _, label in COLUMNS) + "  true/pred"
    lines = [head]
    for name, s in rows:
        cells = "".join(f"{_cell(s[key]):>{max(7, len(label)) + 2}}" for key, label in COLUMNS)
        objects = f"{s['true_objects']}/{s['predicted_objects']}"
        lines.append(name.ljust(width) + cells + f"{objects:>11}")
    return "\n".join(lines)


def _cell(value):
    return "-" if math.isnan(value) else f"{value:.3f}"


def _plain(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def to_json(results):
    """The scores as JSON: ``{"images": [{"name": …, scores…}], "pooled": {…}}`` (NaN as null)."""
    images = [{"name": name, **{k: _plain(v) for k, v in s.items()}} for name, s in results]
    pooled = {k: _plain(v) for k, v in pool([s for _, s in results]).items()}
    return json.dumps({"images": images, "pooled": pooled}, indent=2)
