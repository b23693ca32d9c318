"""Overlap-tile prediction: a U-Net on an image of any size (the paper's figure 2).

The network's valid convolutions shrink each tile by a fixed margin, so
the image is first mirrored outward by that margin: every output pixel then
sees a full context, made of the image itself near the middle and of its
reflection beyond the edges. Tiles are cut from the mirrored image, run
through the network in batches, and their outputs laid side by side.

Tiles start on multiples of ``2**(depth−1)`` pixels, the grid of the
deepest pooling, so each output pixel is computed exactly as a single pass
over the whole mirrored image would compute it: tiled and whole-image
predictions agree wherever both are possible. Where a tile's output is not
a multiple of that grid, neighbouring outputs overlap by the remainder.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
from tqdm import tqdm

from . import layers
from .apl import DomainError, LengthError, RankError, windows
from .data import read_image
from .files import save_image
from .pictures import mask_image, overlay_image
from .unet import check_input_size, input_size_for, output_size, valid_input_sizes

__all__ = ["predict", "segment", "predict_files", "default_tile", "margin", "tile_grid",
           "AxisGrid"]

LARGEST_DEFAULT_TILE = 572


def margin(depth):
    """Pixels lost on each side by a depth-``depth`` U-Net: ``6·2**(depth−1) − 4``.

    >>> margin(5), margin(3)
    (92, 20)
    """
    return 6 * 2 ** (depth - 1) - 4


def _smallest_tile(depth):
    """The smallest valid input whose output spans one cell of the pooling grid."""
    return input_size_for(2 ** (depth - 1), depth)


def default_tile(depth, side):
    """The input tile for an image side: the smallest covering it, at most 572 or so.

    >>> default_tile(5, 388), default_tile(5, 2000), default_tile(3, 30)
    (572, 572, 72)
    """
    smallest = _smallest_tile(depth)
    largest = max([smallest, *valid_input_sizes(depth, LARGEST_DEFAULT_TILE + 1)])
    return min(max(input_size_for(side, depth), smallest), largest)


def _tile_sizes(net, image_hw, tile):
    grid = 2 ** (net.depth - 1)
    if tile is None:
        tiles = tuple(default_tile(net.depth, n) for n in image_hw)
    else:
        tiles = (tile, tile) if np.isscalar(tile) else tuple(tile)
        if len(tiles) != 2:
            raise LengthError(f"predict: tile must be a size or a (height, width) pair; got {tile!r}")
        for t in tiles:
            check_input_size(t, net.depth, "predict: tile")
            if output_size(t, net.depth) < grid:
                raise DomainError(f"predict: tile {t} gives {output_size(t, net.depth)}-pixel "
                                  f"outputs, less than the {grid}-pixel pooling grid; use at "
                                  f"least {_smallest_tile(net.depth)}")
        # a tile larger than the image needs only costs memory: cut it to the smallest covering
        tiles = tuple(min(t, max(input_size_for(n, net.depth), _smallest_tile(net.depth)))
                      for t, n in zip(tiles, image_hw))
    return tiles


def _layout(n, tile_in, depth):
    """(tile output, stride, tile count, padded length) along one axis of length ``n``."""
    grid = 2 ** (depth - 1)
    out = output_size(tile_in, depth)
    stride = out - out % grid
    count = 1 + -(-max(0, n - out) // stride)
    return out, stride, count, (count - 1) * stride + tile_in


class AxisGrid(tuple):
    """The tiles along one image axis: ``(tile, out, stride, count, padded)``.

    ``tile`` is the input tile's side, ``out`` its output's, ``stride`` the
    step between tiles (``out`` rounded down to the pooling grid), ``count``
    the number of tiles and ``padded`` the length of the mirrored axis they
    are cut from (the image, ``margin`` pixels of mirror before it and the
    rest after it). Tile ``i`` reads ``[i·stride, i·stride + tile)`` of the
    mirrored axis and gives output pixels ``[i·stride, i·stride + out)``.
    """

    __slots__ = ()
    tile = property(lambda self: self[0])
    out = property(lambda self: self[1])
    stride = property(lambda self: self[2])
    count = property(lambda self: self[3])
    padded = property(lambda self: self[4])


def tile_grid(net, image_hw, tile=None):
    """The overlap-tile grid of an image: one :class:`AxisGrid` per axis (height, width).

    :func:`predict` and the Dask road (:mod:`aplnet.lazy`) both cut their
    tiles by it, which is why they agree to the last bit.

    Parameters
    ----------
    net : UNet
    image_hw : (int, int)
        The image's height and width.
    tile : int or (int, int), optional
        As in :func:`predict`.

    Examples
    --------
    >>> from aplnet.unet import UNet
    >>> rows, cols = tile_grid(UNet(depth=3, width=4), (30, 1000))
    >>> rows
    (72, 32, 32, 1, 72)
    >>> cols.tile, cols.out, cols.stride, cols.count, cols.padded
    (572, 532, 532, 2, 1104)
    """
    tiles = _tile_sizes(net, tuple(image_hw), tile)
    return tuple(AxisGrid((t,) + _layout(n, t, net.depth)) for n, t in zip(image_hw, tiles))


def _check_image(net, image):
    if not isinstance(image, np.ndarray):
        raise TypeError(f"predict: image must be a numpy array (H, W, C); got {type(image).__name__}")
    if image.ndim != 3:
        raise RankError(f"predict: image must have shape (H, W, C); got shape {image.shape}")
    if image.shape[-1] != net.in_channels:
        raise LengthError(f"predict: the image has {image.shape[-1]} channel(s) but the network "
                          f"expects in_channels={net.in_channels}; got image.shape={image.shape}")
    if min(image.shape[:2]) < 1:
        raise DomainError(f"predict: the image is empty; got image.shape={image.shape}")
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"predict: image must hold floats (scaled as in training); "
                        f"got dtype {image.dtype}")
    if not np.isfinite(image).all():
        raise DomainError(f"predict: image must be finite; got "
                          f"{int(np.sum(~np.isfinite(image)))} NaN or Inf values")


def predict(net, image, tile=None, batch=4, progress=None):
    """Class probabilities of every pixel of ``image``, by overlap-tile.

    Parameters
    ----------
    net : UNet
    image : ndarray (H, W, in_channels), floating
        Any size; converted to the network's dtype.
    tile : int or (int, int), optional
        Input tile size (valid for the network). By default the smallest
        tile covering the image, at most about 572 pixels.
    batch : int
        Tiles per forward pass.
    progress : bool or None
        Show a progress bar (stderr) over the batches; None: only on a terminal.

    Returns
    -------
    ndarray (H, W, classes)
        Softmax probabilities, in the network's dtype.

    Raises
    ------
    RankError, LengthError, TypeError
        An image not ``(H, W, C)``, of the wrong channel count, or not float.
    DomainError
        A tile size the network does not accept.

    Examples
    --------
    >>> from aplnet.unet import UNet
    >>> net = UNet(depth=3, width=4)
    >>> predict(net, np.zeros((30, 50, 1), np.float32)).shape
    (30, 50, 2)
    """
    _check_image(net, image)
    h, w = image.shape[:2]
    (tile_h, out_h, step_h, n_h, pad_h), (tile_w, out_w, step_w, n_w, pad_w) = tile_grid(
        net, (h, w), tile)
    tiles = tile_h, tile_w
    m = margin(net.depth)
    mirrored = np.pad(image.astype(net.dtype, copy=False),
                      ((m, pad_h - h - m), (m, pad_w - w - m), (0, 0)), mode="reflect")
    cut = windows(mirrored, tiles, (step_h, step_w))          # (n_h, n_w, th, tw, C)
    cut = cut.reshape((n_h * n_w,) + cut.shape[2:])
    canvas = np.zeros(((n_h - 1) * step_h + out_h, (n_w - 1) * step_w + out_w, net.classes),
                      net.dtype)
    starts = [(i * step_h, j * step_w) for i in range(n_h) for j in range(n_w)]
    for first in tqdm(range(0, len(starts), batch), desc="predict", unit="batch",
                      disable=None if progress is None else not progress, file=sys.stderr,
                      leave=False):
        probs = layers.softmax(net(np.ascontiguousarray(cut[first:first + batch])))
        for (y, x), p in zip(starts[first:first + batch], probs):
            canvas[y:y + out_h, x:x + out_w] = p
    return canvas[:h, :w]


def segment(net, image, tile=None, batch=4, progress=None):
    """The most probable class of every pixel: ``argmax`` of :func:`predict`.

    Returns
    -------
    ndarray of uint8 (H, W)
    """
    return predict(net, image, tile, batch, progress).argmax(axis=-1).astype(np.uint8)


def _unique_names(stem, pages, taken):
    """Output names for a file of ``pages`` pages: ``stem`` (``stem_p<k>``), else ``stem-2``, ….

    ``taken`` holds the names given so far, case-folded (on a case-blind
    disk ``A`` and ``a`` are one file), and gets the new ones.

    >>> taken = set()
    >>> _unique_names("c0", 1, taken), _unique_names("C0", 1, taken), _unique_names("c0", 2, taken)
    (['c0'], ['C0-2'], ['c0_p0', 'c0_p1'])
    >>> _unique_names("c0_p1", 1, taken), _unique_names("c0", 1, taken)
    (['c0_p1-2'], ['c0-3'])
    """
    for n in itertools.count(1):
        base = stem if n == 1 else f"{stem}-{n}"
        names = [base] if pages == 1 else [f"{base}_p{k}" for k in range(pages)]
        if not taken.intersection(name.casefold() for name in names):
            taken.update(name.casefold() for name in names)
            return names


def predict_files(net, paths, out, tile=None, log=print, progress=None):
    """Segment image files: write ``<name>_mask.png`` and ``<name>_overlay.png`` to ``out``.

    Each page is normalised as the network's training did
    (``net.normalization``, see :mod:`aplnet.intensity`) before it is
    segmented. ``<name>`` is the file's name without its suffix; each page of a
    multi-page TIFF is written as ``<name>_p<k>_…``. Should two inputs give
    the same name (``a/c0.png`` and ``b/c0.png``), the later ones, in the
    order given, become ``<name>-2``, ``<name>-3``, … (the log names each
    output). Each file is written under a temporary name and renamed when
    complete, so a failure leaves no partial PNG. Masks
    are 0/255 for two classes and palette PNGs (index = class) otherwise, so
    :func:`aplnet.data.read_mask` reads them back as the classes.

    Raises
    ------
    DomainError
        An unreadable image file, or one that cannot be normalised (named).
    LengthError
        An image whose channel count differs from the network's (named).

    Returns
    -------
    list of str
        The files written.
    """
    pages, taken = [], set()
    for path in paths:
        images = read_image(path)
        for image in images:
            if image.shape[-1] != net.in_channels:
                raise LengthError(f"{path}: the image has {image.shape[-1]} channel(s) but the "
                                  f"network was trained on {net.in_channels}")
        images = [net.normalization(image, path) for image in images]
        stem = os.path.splitext(os.path.basename(path))[0]
        names = _unique_names(stem, len(images), taken)
        pages += zip(names, images, [path] * len(images))
    os.makedirs(out, exist_ok=True)
    written = []
    for name, image, path in pages:
        labels = segment(net, image, tile, progress=progress)
        files = os.path.join(out, f"{name}_mask.png"), os.path.join(out, f"{name}_overlay.png")
        save_image(mask_image(labels, net.classes), files[0])
        save_image(overlay_image(image, labels), files[1])
        written += files
        share = np.count_nonzero(labels) / labels.size
        log(f"{path}: {image.shape[0]}x{image.shape[1]}, foreground {share:.1%} -> {files[0]}")
    return written
