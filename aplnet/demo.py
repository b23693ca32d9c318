"""``aplnet demo``: train a small U-Net on synthetic cells and show what it learned.

The demo trains on synthetic microscopy (:func:`aplnet.data.synthetic_cells`),
then segments held-out images it never saw (drawn from another seed) by
overlap-tile, and writes:

- ``model.npz``: the trained network (usable with ``aplnet predict``);
- ``loss.png``: the training loss per step;
- ``overlay.png``: held-out images with the predicted cells tinted green
  and the true cells outlined in yellow;
- ``predictions/heldout_NN.png`` and ``heldout_NN_mask.png``: each
  held-out image and its predicted mask;

and prints the held-out foreground IoU, ``|P ∩ T| / |P ∪ T|`` pooled over
all held-out pixels, and the instance score of the Data Science Bowl 2018
(:func:`aplnet.metrics.average_precision`, averaged over the images): the
cells touch, and only a prediction that keeps them apart finds each one.
"""

from __future__ import annotations

import os
import time

import numpy as np
from PIL import Image

from .data import synthetic_cells
from .metrics import average_precision
from .pictures import grid, mask_image, overlay_image
from .tiling import segment
from .train import Settings, train

__all__ = ["DEMO", "QUICK", "demo", "foreground_iou"]

DEMO = Settings(data="synthetic", size=124, depth=3, width=8, epochs=40, batch=4, lr=0.003,
                momentum=0.99, seed=0, images=64, w0=0.0, elastic=4.0, steps_per_epoch=16)
"""The demo's run: 640 steps of a 29k-parameter U-Net on 124-pixel tiles.

The weight map's border term is off (``w0 = 0``): it teaches the network to
keep touching cells apart, at some cost to the foreground IoU the demo
reports; ``aplnet train`` uses the paper's ``w0 = 10`` by default.
"""

QUICK = Settings(data="synthetic", size=60, depth=3, width=4, epochs=2, batch=4, lr=0.003,
                 momentum=0.99, seed=0, images=8, w0=0.0, elastic=4.0, steps_per_epoch=2)
"""A seconds-long demo for tests: the same code on a tiny problem."""

HELD_OUT = 16
SIDE = 128


def foreground_iou(predicted, truth):
    """Intersection over union of the foregrounds (label > 0), pooled over all pixels.

    >>> foreground_iou(np.array([1, 1, 0, 0]), np.array([0, 1, 1, 0]))
    0.3333333333333333
    """
    p, t = np.asarray(predicted) > 0, np.asarray(truth) > 0
    union = np.count_nonzero(p | t)
    return float(np.count_nonzero(p & t) / union) if union else 1.0


def demo(out="aplnet-demo", quick=False, seed=0, log=print, progress=None):
    """Train on synthetic cells, segment held-out ones, write pictures, report IoU.

    Parameters
    ----------
    out : str
        Output directory.
    quick : bool
        The tiny :data:`QUICK` run (seconds, for tests) instead of :data:`DEMO`.
    seed : int
        Seed of the network, the training images and their order; the
        held-out images use ``seed + 1``.

    Returns
    -------
    dict
        ``iou``, ``ap`` (the instance score), ``train_seconds``, ``seconds``
        (wall time of the whole demo) and ``out``.
    """
    start = time.perf_counter()
    settings = Settings(**{**vars(QUICK if quick else DEMO), "seed": seed})
    net, state = train(settings, out, log=log, progress=progress)
    held = synthetic_cells(4 if quick else HELD_OUT, SIDE, seed + 1)
    masks = [segment(net, net.normalization(image), tile=settings.size, progress=False)
             for image in held.images]
    iou = foreground_iou(np.stack(masks), held.masks)
    ap = float(np.mean([average_precision(m, t).mean() for m, t in zip(masks, held.masks)]))
    folder = os.path.join(out, "predictions")
    os.makedirs(folder, exist_ok=True)
    for i, (image, mask) in enumerate(zip(held.images, masks)):
        Image.fromarray((image[..., 0] * 255).round().astype(np.uint8)).save(
            os.path.join(folder, f"heldout_{i:02d}.png"))
        mask_image(mask, net.classes).save(os.path.join(folder, f"heldout_{i:02d}_mask.png"))
    overlays = [overlay_image(image, mask, truth) for image, mask, truth
                in zip(held.images[:4], masks[:4], held.masks[:4])]
    grid([o.resize((2 * SIDE, 2 * SIDE), Image.NEAREST) for o in overlays], 4).save(
        os.path.join(out, "overlay.png"))
    seconds = time.perf_counter() - start
    log(f"held-out foreground IoU {iou:.3f}, instance AP {ap:.3f} (IoU 0.5:0.95, as the Data "
        f"Science Bowl 2018) on {len(masks)} synthetic {SIDE}x{SIDE} images (seed {seed + 1}); "
        f"trained {state['seconds']:.0f} s, {seconds:.0f} s in all; pictures in {out}/")
    return {"iou": iou, "ap": ap, "train_seconds": state["seconds"], "seconds": seconds,
            "out": out}
