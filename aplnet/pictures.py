"""Pictures of results, drawn with Pillow alone: masks, overlays, loss curves.

==================  ==========================================================
``mask_image``      class indices as a PNG-ready image (0/255, or a palette)
``overlay_image``   the image with predicted classes tinted, truth outlined
``loss_curve``      training loss per step (and its running mean) as a chart
``grid``            pictures side by side
==================  ==========================================================
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["PALETTE", "mask_image", "overlay_image", "loss_curve", "grid", "outline"]

PALETTE = [(0, 0, 0), (40, 200, 90), (235, 90, 60), (70, 130, 235), (240, 200, 40),
           (190, 90, 220), (40, 200, 210), (240, 140, 190)]
"""Class colours: background black, then green, red, blue, …"""


def _colour(k):
    return PALETTE[k % len(PALETTE)] if k < len(PALETTE) else \
        tuple(int(c) for c in np.random.default_rng(k).integers(60, 256, 3))


def mask_image(labels, classes=2):
    """Class indices as an image: 0/255 greyscale for two classes, else a palette.

    Both forms read back to the same labels with :func:`aplnet.data.read_mask`.

    >>> mask_image(np.array([[0, 1]]), 2).getpixel((1, 0))
    255
    >>> mask_image(np.array([[0, 2]]), 3).mode
    'P'
    """
    labels = np.asarray(labels)
    if classes <= 2:
        return Image.fromarray((labels > 0).astype(np.uint8) * 255, mode="L")
    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette([c for k in range(256) for c in _colour(k)])
    return im


def _grey_rgb(image):
    """An ``(H, W, C)`` float image in [0, 1] as uint8 RGB (the first channel if not 3)."""
    image = np.asarray(image, float)
    rgb = image if image.shape[-1] == 3 else np.repeat(image[..., :1], 3, axis=-1)
    lo, hi = float(rgb.min(initial=0)), float(rgb.max(initial=1))
    scale = 1.0 if lo >= 0 and hi <= 1 else 1 / max(hi - lo, 1e-12)
    return np.clip((rgb - min(lo, 0)) * scale * 255, 0, 255).astype(np.uint8)


def outline(labels):
    """Pixels whose 4-neighbourhood holds another label (the edges of regions)."""
    labels = np.asarray(labels)
    p = np.pad(labels, 1, mode="edge")
    return ((p[:-2, 1:-1] != labels) | (p[2:, 1:-1] != labels) |
            (p[1:-1, :-2] != labels) | (p[1:-1, 2:] != labels))


def overlay_image(image, labels, truth=None, alpha=0.45):
    """The image in grey with each non-background class tinted in its colour.

    Parameters
    ----------
    image : ndarray (H, W, C), values in [0, 1]
    labels : int ndarray (H, W), the predicted classes
    truth : int ndarray (H, W), optional
        True classes, drawn as yellow outlines.
    alpha : float
        Opacity of the tint.

    Returns
    -------
    PIL.Image.Image (RGB)
    """
    rgb = _grey_rgb(image).astype(float)
    labels = np.asarray(labels)
    for k in np.unique(labels):
        if k:
            where = labels == k
            rgb[where] = (1 - alpha) * rgb[where] + alpha * np.array(_colour(int(k)))
    if truth is not None:
        rgb[outline(np.asarray(truth) > 0) & (np.asarray(truth) > 0)] = (255, 230, 0)
    return Image.fromarray(rgb.astype(np.uint8), mode="RGB")


def grid(pictures, columns, gap=4, background=(255, 255, 255)):
    """Pictures (PIL images of one size) in rows of ``columns``."""
    w, h = pictures[0].size
    rows = -(-len(pictures) // columns)
    sheet = Image.new("RGB", (columns * w + (columns - 1) * gap, rows * h + (rows - 1) * gap),
                      background)
    for i, pic in enumerate(pictures):
        sheet.paste(pic.convert("RGB"), ((i % columns) * (w + gap), (i // columns) * (h + gap)))
    return sheet


def _running_mean(values, n):
    """The mean of the last ``n`` values at each position (of fewer at the start)."""
    c = np.concatenate([[0.0], np.cumsum(values, dtype=float)])
    i = np.arange(1, len(values) + 1)
    k = np.minimum(i, n)
    return (c[i] - c[i - k]) / k


def _ticks(lo, hi, count=5):
    span = hi - lo if hi > lo else 1.0
    raw = span / count
    step = 10 ** np.floor(np.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    first = np.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def loss_curve(losses, steps_per_epoch=None, title="training loss", size=(720, 420)):
    """A line chart of the loss per step, with its running mean over ~2% of the steps.

    Parameters
    ----------
    losses : sequence of float
        One per step; non-finite values are left out.
    steps_per_epoch : int, optional
        Draw a faint vertical line at each epoch boundary.

    Returns
    -------
    PIL.Image.Image (RGB)
    """
    losses = np.asarray(losses, float)
    width, height = size
    left, right, top, bottom = 64, 20, 36, 44
    pw, ph = width - left - right, height - top - bottom
    im = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    draw.text((left, 10), title, fill="black", font=font)
    finite = np.isfinite(losses)
    if not finite.any():
        draw.text((left, top + ph // 2), "no finite loss to plot", fill="black", font=font)
        return im
    lo, hi = 0.0, float(losses[finite].max()) * 1.05
    n = len(losses)

    def xy(i, v):
        return left + pw * (i / max(n - 1, 1)), top + ph * (1 - (v - lo) / (hi - lo or 1))
    for t in _ticks(lo, hi):
        y = xy(0, t)[1]
        draw.line([(left, y), (left + pw, y)], fill=(230, 230, 230))
        draw.text((4, y - 6), f"{t:.3g}", fill="black", font=font)
    if steps_per_epoch:
        for e in range(steps_per_epoch, n, steps_per_epoch):
            x = xy(e, 0)[0]
            draw.line([(x, top), (x, top + ph)], fill=(235, 235, 250))
    for t in _ticks(0, n - 1):
        x = xy(t, 0)[0]
        draw.text((x - 8, top + ph + 6), f"{int(t)}", fill="black", font=font)
    draw.text((left + pw // 2 - 12, height - 18), "step", fill="black", font=font)
    draw.rectangle([left, top, left + pw, top + ph], outline="black")
    idx = np.flatnonzero(finite)
    points = [xy(i, losses[i]) for i in idx]
    if len(points) > 1:
        draw.line(points, fill=(150, 180, 230), width=1)
    mean = _running_mean(losses[finite], max(1, n // 50))
    smooth = [xy(i, v) for i, v in zip(idx, mean)]
    if len(smooth) > 1:
        draw.line(smooth, fill=(20, 60, 160), width=2)
    return im
