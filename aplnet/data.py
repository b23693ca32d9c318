"""Data for the U-Net: synthetic cells, image/mask files, weight maps, augmentation.

Images are channels-last arrays ``(H, W, C)``: synthetic ones float32 in
[0, 1], those read from files with their values and type as stored (the
network's input is made by :mod:`aplnet.intensity`). Masks are integer
arrays ``(H, W)`` of labels, 0 for background (read as stored; what the
labels mean, classes or instances, is decided by :mod:`aplnet.masks`).
A data set is a :class:`Samples` triple of images, masks and names, the
names saying where each pair came from so that every error can point at
the file.

===================  ========================================================
``synthetic_cells``  touching, textured, noisy cells with their true masks
``load_folder``      PNG/TIFF image–mask pairs, or multi-page TIFF stacks
                     (TIFF by tifffile, the rest by Pillow)
``weight_map``       the paper's class balance plus border-separation weights
``augment``          flips, 90° rotations and the paper's elastic deformation
===================  ========================================================
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np
import tifffile
from PIL import Image, ImageSequence
from scipy import ndimage

from .apl import DomainError, LengthError, RankError, as_array
from .checks import fits
from .intensity import Normalization
from .masks import describe_kinds, mask_targets

__all__ = [
    "Samples", "synthetic_cells", "load_folder", "read_image", "prepare_samples",
    "read_mask", "label_components", "weight_map", "dihedral",
    "elastic_field", "warp", "augment", "IMAGE_SUFFIXES", "image_files",
]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")


class Samples(NamedTuple):
    """Image–mask pairs: ``images[i]`` is ``(H, W, C)``, ``masks[i]`` is ``(H, W)``.

    ``images`` and ``masks`` are lists (sizes may differ from pair to pair)
    or, for synthetic data, stacked arrays. ``names[i]`` says where pair
    ``i`` came from (a file, a TIFF page, or the synthetic generator's
    seed), for error messages.
    """

    images: list
    masks: list
    names: list


# ------------------------------------------------------------ smooth fields


def _keys_cubic(d):
    """Keys' cubic convolution kernel (a = −1/2) at distances ``d``."""
    d = np.abs(d)
    near = 1.5 * d**3 - 2.5 * d**2 + 1
    far = -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _cubic_upsample(n, g):
    """The ``(n, g)`` matrix that resamples ``g`` knots to ``n`` points bicubically.

    The knots span the points end to end; a ``(g, g)`` grid ``G`` becomes the
    smooth ``(n, m)`` field ``U(n, g) @ G @ U(m, g).T``.
    """
    if g == 1:
        return np.ones((n, 1))
    t = np.arange(n) * ((g - 1) / max(n - 1, 1))
    base = np.minimum(np.floor(t).astype(int), g - 2)
    taps = base[:, None] + np.arange(-1, 3)
    weights = _keys_cubic(taps - t[:, None])
    m = np.zeros((n, g))
    np.add.at(m, (np.repeat(np.arange(n), 4), np.clip(taps, 0, g - 1).ravel()),
              weights.ravel())
    return m


def _smooth_noise(rng, shape, scale):
    """Zero-mean, unit-ish noise varying over about ``scale`` pixels."""
    gh, gw = (max(2, math.ceil(n / scale) + 1) for n in shape)
    grid = rng.standard_normal((gh, gw))
    return _cubic_upsample(shape[0], gh) @ grid @ _cubic_upsample(shape[1], gw).T


def _blur(a):
    """Separable [1 2 1]/4 blur of the two leading axes, edges repeated."""
    for axis in (0, 1):
        a = ndimage.correlate1d(a, [0.25, 0.5, 0.25], axis=axis, mode="nearest")
    return a


# --------------------------------------------------------- synthetic cells


def _cells(rng, size):
    """Owner of each pixel (−1 for background), its normalised radius, and nuclei.

    Cells are wobbly ellipses scattered densely enough to touch; a pixel
    belongs to the cell whose normalised distance is smallest, so touching
    cells meet along a curve.
    """
    mean_area = math.pi * 11.5**2 * 0.85
    count = max(1, round(0.75 * (size + 24) ** 2 / mean_area))
    owner = np.full((size, size), -1)
    dist = np.full((size, size), np.inf)
    nucleus = np.zeros((size, size))
    placed = []
    for cell in range(count):
        # a few tries for a centre not too deep inside an earlier cell,
        # so that cells touch rather than nest
        for _ in range(8):
            cy, cx = rng.uniform(-12, size + 12, 2)
            r = rng.uniform(8, 15)
            if all(math.hypot(cy - y, cx - x) > 0.8 * (r + q) for y, x, q in placed):
                break
        placed.append((cy, cx, r))
        aspect = rng.uniform(0.65, 1.0)
        angle = rng.uniform(0, np.pi)
        amp = rng.uniform(0, 0.12)
        phase = rng.uniform(0, 2 * np.pi, 2)
        ny, nx = rng.uniform(-0.3, 0.3, 2) * r
        reach = 1.2 * r
        y0, y1 = max(0, int(cy - reach)), min(size, int(cy + reach) + 2)
        x0, x1 = max(0, int(cx - reach)), min(size, int(cx + reach) + 2)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(float)
        u = (yy - cy) * np.cos(angle) + (xx - cx) * np.sin(angle)
        v = (xx - cx) * np.cos(angle) - (yy - cy) * np.sin(angle)
        theta = np.arctan2(v, u)
        wobble = 1 + amp * (np.sin(3 * theta + phase[0]) + 0.5 * np.sin(5 * theta + phase[1]))
        d = np.hypot(u / r, v / (aspect * r)) / wobble
        nuc = np.hypot(yy - cy - ny, xx - cx - nx) / (0.35 * r)
        window = (slice(y0, y1), slice(x0, x1))
        mine = (d < 1) & (d < dist[window])
        owner[window][mine] = cell
        dist[window][mine] = d[mine]
        nucleus[window][mine] = np.exp(-nuc[mine] ** 2 * 2)
    return owner, dist, nucleus


def _touching(owner):
    """Pixels of a cell with a 4-neighbour in a different cell."""
    p = np.pad(owner, 1, constant_values=-1)
    centre = p[1:-1, 1:-1]
    edge = np.zeros(owner.shape, bool)
    for n in (p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]):
        edge |= (n >= 0) & (n != centre)
    return edge & (owner >= 0)


def _one_cell_image(rng, size):
    owner, dist, nucleus = _cells(rng, size)
    cell = owner >= 0
    gap = _touching(owner)
    brightness = rng.uniform(0.5, 0.85, owner.max() + 2)[owner]
    texture = 1 + 0.18 * _smooth_noise(rng, (size, size), 3)
    body = brightness * (1 - 0.25 * dist**2) * texture * (1 - 0.35 * nucleus)
    ground = 0.18 + 0.05 * _smooth_noise(rng, (size, size), 24)
    image = np.where(cell & ~gap, body, ground)
    image = np.where(gap, 0.45 * np.where(cell, body, 0) + 0.55 * ground, image)
    image = _blur(image)
    shade = np.linspace(-1, 1, size)
    image = image * (1 + 0.1 * rng.uniform(-1, 1) * shade[:, None]
                     + 0.1 * rng.uniform(-1, 1) * shade[None, :])
    image = image + rng.normal(0, 0.06, image.shape)
    mask = (cell & ~gap).astype(np.uint8)
    return np.clip(image, 0, 1).astype(np.float32)[..., None], mask


def synthetic_cells(n, size=128, seed=0):
    """Synthetic microscopy: ``n`` images of touching, textured, noisy cells.

    Cells are wobbly ellipses of radius 8–15 px with a textured body, a
    darker nucleus and smooth shading, packed so that many touch; where two
    touch, the two-pixel seam between them is background in the mask (as in
    the ISBI membrane labels), so instances stay separate. The images are
    blurred, unevenly lit and carry Gaussian noise. Image ``i`` depends only
    on ``(seed, i)``: the first ``k`` images of a larger set are the ``k``
    of a smaller one.

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Side of the square images, in pixels.
    seed : int
        Seed of the generator.

    Returns
    -------
    Samples
        ``images`` float32 ``(n, size, size, 1)`` in [0, 1]; ``masks`` uint8
        ``(n, size, size)``, 1 inside cells; ``names`` ``"synthetic(seed=s)[i]"``.

    Raises
    ------
    DomainError
        ``n`` negative or ``size`` below 8.

    Examples
    --------
    >>> images, masks, names = synthetic_cells(2, size=64, seed=1)
    >>> images.shape, images.dtype, masks.shape, sorted(np.unique(masks).tolist())
    ((2, 64, 64, 1), dtype('float32'), (2, 64, 64), [0, 1])
    >>> names[1]
    'synthetic(seed=1)[1]'
    """
    for name, value, low in (("n", n, 0), ("size", size, 8), ("seed", seed, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"synthetic_cells: {name} must be an integer; got {value!r}")
        if value < low:
            raise DomainError(f"synthetic_cells: {name} must be at least {low}; got {value}")
    fits((n, size, size, 1), np.float32, "synthetic_cells", f"{n} images of {size}x{size}")
    pairs = [_one_cell_image(np.random.default_rng([seed, i]), size) for i in range(n)]
    images = np.stack([p[0] for p in pairs]) if pairs else np.zeros((0, size, size, 1), np.float32)
    masks = np.stack([p[1] for p in pairs]) if pairs else np.zeros((0, size, size), np.uint8)
    return Samples(images, masks, [f"synthetic(seed={seed})[{i}]" for i in range(n)])


# ------------------------------------------------------------------ files


def _tiff_pages(path):
    """The pages of a TIFF file read by tifffile, each ``(H, W, C)`` as stored.

    Every series is read; its ``S`` (samples) or else ``C`` (channel) axis
    becomes the last axis, and all axes other than ``Y`` and ``X`` (pages,
    z, time…) are taken apart into pages.
    """
    pages = []
    with tifffile.TiffFile(path) as tif:
        for series in tif.series:
            a, axes = series.asarray(), series.axes
            channel = "S" if "S" in axes else "C" if "C" in axes else None
            order = [axes.index(k) for k in axes if k not in ("Y", "X", channel)]
            order += [axes.index("Y"), axes.index("X")]
            a = np.transpose(a, order + ([axes.index(channel)] if channel else []))
            if not channel:
                a = a[..., None]
            pages += list(a.reshape((-1,) + a.shape[-3:]))
    return pages


def _pillow_pages(path, palette_indices):
    """The pages of an image file read by Pillow, each ``(H, W, C)`` as stored.

    A palette page gives its indices if ``palette_indices`` (masks), else its colours.
    """
    pages = []
    with Image.open(path) as im:
        for page in ImageSequence.Iterator(im):
            if page.mode in ("1", "LA", "La"):
                page = page.convert("L")
            elif page.mode in ("P", "PA"):
                page = page.convert("P" if palette_indices else "RGB")
            elif page.mode not in ("L", "I", "F", "RGB") and not page.mode.startswith("I;16"):
                page = page.convert("RGB")  # alpha, CMYK, …
            a = np.array(page)
            if page.mode.startswith("I;16"):
                a = a.astype(np.uint16)           # big-endian words to native
            elif page.mode == "I" and a.size and a.min() >= 0 and a.max() <= 65535:
                a = a.astype(np.uint16)           # how older Pillows give 16-bit PNGs
            pages.append(a if a.ndim == 3 else a[..., None])
    return pages


def _read(path, palette_indices=False):
    """Every page of an image file, ``(H, W, C)`` with the values and type as stored.

    TIFF goes through tifffile (16-bit, float, multi-page, BigTIFF), and
    through Pillow when tifffile cannot decode it (a compression that needs
    the imagecodecs package); other formats through Pillow.

    Raises
    ------
    DomainError
        The file cannot be opened or decoded as an image; the message names it.
    """
    path = os.fspath(path)
    try:
        if path.lower().endswith((".tif", ".tiff")):
            try:
                pages = _tiff_pages(path)
            except Exception as tiff_error:   # e.g. LZW without imagecodecs
                try:
                    pages = _pillow_pages(path, palette_indices)
                except Exception:
                    raise tiff_error from None
        else:
            pages = _pillow_pages(path, palette_indices)
    except Exception as err:  # a damaged file makes either reader raise almost anything
        raise DomainError(f"cannot read {path} as an image ({type(err).__name__}: "
                          f"{err})") from None
    if not pages:
        raise DomainError(f"cannot read {path} as an image (it holds no pages)")
    for a in pages:
        if a.dtype.kind not in "biuf" or min(a.shape[:2]) < 1:
            raise DomainError(f"cannot read {path} as an image (a page of dtype {a.dtype} "
                              f"and shape {a.shape})")
    return pages


def read_image(path):
    """The pages of an image file as ``(H, W, C)`` arrays, values as stored.

    Nothing is scaled: uint8, uint16, float32… come back as they are in the
    file, for :func:`aplnet.intensity.normalize` to bring to the network's
    range. A bilevel image gives 0/255 (uint8); alpha is dropped; palette
    images give their colours, other colour modes RGB. A multi-page TIFF
    gives a list of pages (z, time and page axes all taken apart).

    Raises
    ------
    DomainError
        An unreadable file, or float values that are NaN or infinite; the
        message names the file.

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "twelve_bit.tif")
    >>> tifffile.imwrite(path, np.array([[0, 4095]], np.uint16))
    >>> page, = read_image(path)
    >>> page.dtype, page.shape, int(page.max())
    (dtype('uint16'), (1, 2, 1), 4095)
    """
    path = os.fspath(path)
    # a bilevel TIFF comes from tifffile as booleans, from Pillow as 0/255
    pages = [p.astype(np.uint8) * np.uint8(255) if p.dtype == bool else p for p in _read(path)]
    for page in pages:
        if page.dtype.kind == "f" and not np.isfinite(page).all():
            raise DomainError(f"{path}: the image holds NaN or Inf values")
    return pages


def read_mask(path):
    """The pages of a mask file as integer ``(H, W)`` label arrays, as stored.

    Labels are read, not interpreted (:func:`aplnet.masks.mask_targets`
    decides what they mean), with one exception kept from the ISBI
    challenge's labels and the masks ``aplnet predict`` writes: a mask
    whose values are exactly {0, 255} (or one of them) gives 0 and 1.
    Palette PNGs give their indices; a grey RGB mask its grey.

    Raises
    ------
    DomainError
        A colour mask whose channels differ, a float mask holding values
        that are not whole numbers, or negative labels; the message names
        the file.

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "nuclei.tif")
    >>> tifffile.imwrite(path, np.array([[0, 7, 7], [0, 0, 300]], np.uint16))
    >>> print(read_mask(path)[0])
    [[  0   7   7]
     [  0   0 300]]
    """
    path = os.fspath(path)
    masks = []
    for a in _read(path, palette_indices=True):
        if a.shape[-1] > 1 and not np.all(a == a[..., :1]):
            raise DomainError(f"{path}: a mask must be single-channel labels; got "
                              f"{a.shape[-1]} colour channels that differ")
        a = a[..., 0]
        if a.dtype == bool:
            a = a.astype(np.uint8)
        if a.dtype.kind == "f":
            whole = np.isfinite(a) & (a == np.round(a))
            if not whole.all():
                bad = a[~whole].flat[0]
                raise DomainError(f"{path}: a mask must hold whole-number labels; got "
                                  f"{np.count_nonzero(~whole)} pixel(s) like {bad:g}")
            if a.size and (a.max() >= 2**31 or a.min() < -2**31):
                raise DomainError(f"{path}: its labels reach {a.max():g}, beyond 32-bit labels")
            a = a.astype(np.int64)
        if a.size and a.min() < 0:
            raise DomainError(f"{path}: a mask must hold non-negative labels; got {a.min()} "
                              f"at {np.count_nonzero(a < 0)} pixel(s)")
        top = int(a.max(initial=0))
        if top == 255 and np.isin(a, (0, 255)).all():
            a = a // 255
            top = int(a.max(initial=0))
        if top > np.iinfo(np.int32).max:
            raise DomainError(f"{path}: its labels reach {top}, beyond 32-bit labels")
        masks.append(a.astype(np.uint8 if top < 256 else np.int32))
    return masks


def image_files(directory):
    """``{name: path}``: the PNG and TIFF files of ``directory`` by name without suffix.

    Hidden files are left out; a ``directory`` that is not one is refused.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("b.tif", "a.png", ".hidden.png", "notes.txt"):
    ...     open(os.path.join(folder, name), "w").close()
    >>> sorted(image_files(folder))
    ['a', 'b']
    """
    if not os.path.isdir(directory):
        raise DomainError(f"{directory} is not a directory")
    files = sorted(f for f in os.listdir(directory)
                   if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith("."))
    return {os.path.splitext(f)[0]: os.path.join(directory, f) for f in files}


def _pairs(images_dir, masks_dir):
    """(image file, mask file) pairs matched by file name without extension."""
    images, masks = image_files(images_dir), image_files(masks_dir)
    if not images:
        raise DomainError(f"load_folder: no PNG or TIFF images in {images_dir}")
    lonely = sorted(set(images) ^ set(masks))
    if lonely:
        first = lonely[0]
        where = (f"image {images[first]} has no mask named {first}.png/.tif in {masks_dir}"
                 if first in images else
                 f"mask {masks[first]} has no image named {first}.png/.tif in {images_dir}")
        raise LengthError(f"load_folder: {where} ({len(lonely)} unmatched file(s))")
    return [(images[k], masks[k]) for k in images]


def load_folder(images_dir, masks_dir):
    """Image–mask pairs from two folders, or from two multi-page TIFF stacks.

    Given two directories, each image is paired with the mask of the same
    name (extension aside) in ``masks_dir``; PNG and TIFF are read, and a
    multi-page TIFF contributes one pair per page. Given two files, they are
    read as stacks of pages paired in order, as the ISBI 2012 challenge's
    ``train-volume.tif`` and ``train-labels.tif``.

    Parameters
    ----------
    images_dir, masks_dir : str or os.PathLike
        Two directories, or two image files.

    Returns
    -------
    Samples
        ``images``: ``(H, W, C)`` with the values and type as stored (see
        :func:`read_image`; :func:`aplnet.intensity.normalize` scales them);
        ``masks``: integer ``(H, W)`` labels as stored (see :func:`read_mask`;
        :func:`aplnet.masks.mask_targets` says what they mean); ``names``:
        the image file, with ``[page k]`` for stacks.

    Raises
    ------
    DomainError
        A path that does not exist, an unreadable file, a folder with no
        images, or a directory paired with a file.
    LengthError
        An image without a mask (or the reverse), page counts that differ,
        an image and mask of different sizes, or images of different channel
        counts; each message names the files.
    """
    images_dir, masks_dir = os.fspath(images_dir), os.fspath(masks_dir)
    for p in (images_dir, masks_dir):
        if not os.path.exists(p):
            raise DomainError(f"load_folder: {p} does not exist")
    if os.path.isdir(images_dir) != os.path.isdir(masks_dir):
        raise DomainError(f"load_folder: give two folders or two image files; got "
                          f"{images_dir} and {masks_dir}")
    pairs = _pairs(images_dir, masks_dir) if os.path.isdir(images_dir) else [(images_dir, masks_dir)]
    samples = Samples([], [], [])
    for image_file, mask_file in pairs:
        pages, labels = read_image(image_file), read_mask(mask_file)
        if len(pages) != len(labels):
            raise LengthError(f"load_folder: {image_file} has {len(pages)} page(s) but "
                              f"{mask_file} has {len(labels)}")
        for k, (image, mask) in enumerate(zip(pages, labels)):
            name = image_file if len(pages) == 1 else f"{image_file}[page {k}]"
            if image.shape[:2] != mask.shape:
                raise LengthError(f"load_folder: image {name} is {image.shape[0]}x{image.shape[1]} "
                                  f"but its mask {mask_file} is {mask.shape[0]}x{mask.shape[1]}")
            if samples.images and image.shape[-1] != samples.images[0].shape[-1]:
                raise LengthError(f"load_folder: {name} has {image.shape[-1]} channel(s) but "
                                  f"{samples.names[0]} has {samples.images[0].shape[-1]}")
            samples.images.append(image)
            samples.masks.append(mask)
            samples.names.append(name)
    return samples


def prepare_samples(samples, normalization=None, classes=2, masks="auto"):
    """Samples as stored made ready for training: normalised images, target masks.

    Parameters
    ----------
    samples : Samples
        Images and mask labels as read (or made).
    normalization : Normalization, optional
        How to scale the images (:mod:`aplnet.intensity`; default percentile).
    classes : int
    masks : {"auto", "classes", "instances"}
        How to read the labels (:func:`aplnet.masks.mask_targets`).

    Returns
    -------
    prepared : Samples
        float32 images, uint8 class targets, the same names.
    instances : list
        Per pair, its instance labels (for the weight map) or None.
    notes : list of str
        What was done, for the run's log: the normalisation, and how the
        masks were read where it was not plain.

    Raises
    ------
    DomainError
        An image that cannot be normalised (constant) or a mask that cannot
        be read as asked; the message names the file.

    Examples
    --------
    >>> raw = Samples([np.array([[0, 300], [600, 4000]], np.uint16)[..., None]],
    ...               [np.array([[3, 0], [0, 8]], np.uint16)], ["a.tif"])
    >>> ready, instances, notes = prepare_samples(raw)
    >>> print(ready.images[0][..., 0].round(3))
    [[0.    0.073]
     [0.149 1.   ]]
    >>> print(ready.masks[0])
    [[1 0]
     [0 1]]
    >>> print(notes[1][:45])
    masks: 1 read as instance labels (foreground
    """
    normalization = Normalization() if normalization is None else normalization
    images, targets, instances, kinds = [], [], [], []
    for image, mask, name in zip(*samples):
        images.append(normalization(image, name))
        target = mask_targets(mask, classes, masks, name)
        targets.append(target.target)
        instances.append(target.instances)
        kinds.append(target.kind)
    notes = [normalization.describe(), describe_kinds(kinds)]
    return Samples(images, targets, list(samples.names)), instances, [n for n in notes if n]


# ------------------------------------------------------------ weight maps


_FOUR_NEIGHBOURS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])


def label_components(mask):
    """Connected components of the foreground ``mask > 0`` (4-neighbours).

    Parameters
    ----------
    mask : array_like, shape (H, W)

    Returns
    -------
    labels : ndarray of int, shape (H, W)
        0 on background, 1…count on the components, numbered in order of
        their first pixel (row-major).
    count : int

    Examples
    --------
    >>> labels, count = label_components([[1, 1, 0, 1],
    ...                                   [0, 0, 0, 1],
    ...                                   [1, 0, 1, 1]])
    >>> print(labels)
    [[1 1 0 2]
     [0 0 0 2]
     [3 0 2 2]]
    >>> count
    3
    """
    mask = as_array(mask, "mask", "label_components")
    if mask.dtype.kind not in "biuf":
        raise TypeError(f"label_components: mask must hold real numbers; got dtype {mask.dtype}")
    fg = mask > 0
    if fg.ndim != 2:
        raise RankError(f"label_components: mask must be (H, W); got shape {fg.shape}")
    labels, count = ndimage.label(fg, structure=_FOUR_NEIGHBOURS)
    return labels, int(count)


def _distances(labels, reach):
    """Per pixel, the distances to the nearest and second-nearest labelled cell.

    Each cell's Euclidean distance transform is taken over its bounding box
    widened by ``reach`` (infinity beyond), which holds all of the cell, so
    the distances there are exact.
    """
    d1 = np.full(labels.shape, np.inf)
    d2 = np.full(labels.shape, np.inf)
    for c, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        window = tuple(slice(max(0, s.start - reach), min(n, s.stop + reach))
                       for s, n in zip(box, labels.shape))
        d = ndimage.distance_transform_edt(labels[window] != c)
        d2[window] = np.minimum(d2[window], np.maximum(d1[window], d))
        d1[window] = np.minimum(d1[window], d)
    return d1, d2


def weight_map(mask, w0=10.0, sigma=5.0, instances=None):
    """The U-Net paper's loss weights: class balance plus border separation.

    ``w(x) = w_c(x) + w0 · exp(−(d1(x) + d2(x))² / (2σ²))`` on background
    pixels and ``w_c(x)`` on foreground, where ``d1`` and ``d2`` are the
    distances to the nearest and second-nearest cell (an instance of
    ``instances`` when given, else a 4-connected component of ``mask > 0``)
    and ``w_c`` balances the classes: a pixel of class ``l``
    weighs ``N / (K · N_l)`` (``N`` pixels, ``K`` classes present, ``N_l`` of
    class ``l``), so a balanced mask weighs 1 everywhere. Thin background
    seams between touching cells get the largest weights, which is what
    teaches the network to keep touching cells apart.

    Distances reach ``6σ`` beyond each cell; farther, the border term is
    below ``w0·e⁻¹⁸`` and is taken as 0.

    Parameters
    ----------
    mask : array_like of int, shape (H, W)
        Class indices; 0 is background.
    w0 : float
        Height of the border term (10 in the paper).
    sigma : float
        Its width in pixels (5 in the paper).
    instances : array_like of int, shape (H, W), optional
        Instance labels (0 for none, one label per object), as
        :func:`aplnet.masks.mask_targets` gives them: each object is a cell,
        however it touches others; only its pixels where ``mask > 0`` count
        (the seams cut between touching objects are background). Without
        it, the cells are the connected components of ``mask > 0``.

    Returns
    -------
    ndarray of float32, shape (H, W)

    Raises
    ------
    RankError
        ``mask`` not two-dimensional.
    DomainError
        Negative labels, negative ``w0`` or non-positive ``sigma``.

    Examples
    --------
    Two cells a pixel apart make the seam between them heavy:

    >>> m = np.array([[1, 1, 0, 1, 1]] * 3)
    >>> w = weight_map(m, w0=10, sigma=5)
    >>> print(np.round(w[0], 3))
    [ 0.625  0.625 11.731  0.625  0.625]

    Two nuclei that touch are one component of the mask but two instances;
    as instances they put a seam's weight on the background beside them:

    >>> m = np.array([[1, 1, 0, 0, 0]] * 3)
    >>> print(np.round(weight_map(m, 10, 5)[0], 3))
    [1.25  1.25  0.833 0.833 0.833]
    >>> nuclei = np.array([[1, 2, 0, 0, 0]] * 3)
    >>> print(np.round(weight_map(m, 10, 5, instances=nuclei)[0], 3))
    [1.25  1.25  9.186 6.899 4.586]
    """
    mask = _labels_array(mask, "weight_map")
    if mask.ndim != 2:
        raise RankError(f"weight_map: mask must be (H, W); got shape {mask.shape}")
    _real_number(w0, "w0", "weight_map", least=0)
    _real_number(sigma, "sigma", "weight_map", least=0)
    if not np.issubdtype(mask.dtype, np.integer) and mask.dtype != bool:
        raise TypeError(f"weight_map: mask must hold integer labels; got dtype {mask.dtype}")
    if mask.size and mask.min() < 0:
        raise DomainError(f"weight_map: mask labels must be non-negative; got {mask.min()}")
    if not w0 >= 0 or not sigma > 0:
        raise DomainError(f"weight_map: need w0 >= 0 and sigma > 0; got w0={w0}, sigma={sigma}")
    classes, inverse, counts = np.unique(mask, return_inverse=True, return_counts=True)
    balance = mask.size / (len(classes) * counts)
    w = balance[inverse.reshape(mask.shape)]
    if instances is None:
        labels, count = label_components(mask)
    else:
        instances = _labels_array(instances, "weight_map")
        if instances.shape != mask.shape:
            raise LengthError(f"weight_map: instances must have the mask's shape {mask.shape}; "
                              f"got {instances.shape}")
        if instances.size and instances.min() < 0:
            raise DomainError(f"weight_map: instance labels must be non-negative; got "
                              f"{instances.min()}")
        cells = np.where(mask > 0, instances, 0)
        values = np.union1d([0], cells)       # numbered 1…count, 0 stays background
        labels, count = np.searchsorted(values, cells), len(values) - 1
    if count and w0:
        reach = min(math.ceil(6 * sigma), sum(mask.shape))   # past the image changes nothing
        d1, d2 = _distances(labels, reach)
        w = w + np.where(mask == 0, w0 * np.exp(-((d1 + d2) / sigma) ** 2 / 2), 0.0)
    return w.astype(np.float32)


# ------------------------------------------------------------ augmentation


def dihedral(a, k):
    """One of the square's eight symmetries applied to the two leading axes.

    ``k`` in 0…7: ``rot90`` by ``k % 4`` quarter turns, then a left–right
    flip when ``k >= 4`` (APL's ``⌽⍉`` family).

    >>> print(dihedral(np.array([[1, 2], [3, 4]]), 5))
    [[4 2]
     [3 1]]
    """
    a = _planes(a, "a", "dihedral")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"dihedral: k must be an integer in 0…7; got {k!r}")
    if not 0 <= k < 8:
        raise DomainError(f"dihedral: k must be in 0…7; got {k}")
    a = np.rot90(a, k % 4, axes=(0, 1))
    return a[:, ::-1] if k >= 4 else a


def elastic_field(rng, shape, sigma=10.0, grid=3):
    """The paper's random elastic deformation: a smooth displacement field.

    Displacements drawn from N(0, σ²) (pixels) on a coarse ``grid × grid``
    lattice spanning the image are interpolated bicubically to every pixel.

    Returns
    -------
    ndarray, shape (2, H, W)
        Row and column displacement of each pixel.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"elastic_field: rng must be a numpy Generator; got {type(rng).__name__}")
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"elastic_field: shape must be two integers (H, W); "
                        f"got {shape!r}") from None
    if min(h, w) < 1:
        raise DomainError(f"elastic_field: shape must be positive; got {shape!r}")
    fits((2, h, w), np.float64, "elastic_field", "the field")
    _real_number(sigma, "sigma", "elastic_field", least=0)
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 1:
        raise DomainError(f"elastic_field: grid must be a positive integer; got {grid!r}")
    coarse = rng.normal(0, sigma, (2, grid, grid))
    uh, uw = _cubic_upsample(h, grid), _cubic_upsample(w, grid)
    return np.stack([uh @ c @ uw.T for c in coarse])


def _real_number(value, name, func, least):
    """A finite real ``value >= least``, or a TypeError/DomainError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{func}: {name} must be a real number; got {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:            # an int too large for a float
        finite = False
    if not (finite and value >= least):
        raise DomainError(f"{func}: {name} must be finite and at least {least}; "
                          f"got {name}={value!r}")


def _planes(a, name, func):
    """``a`` as a real array with at least two (non-empty) leading axes, H and W."""
    a = as_array(a, name, func)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{func}: {name} must hold real numbers; got dtype={a.dtype}")
    if a.ndim < 2 or min(a.shape[:2]) < 1:
        raise RankError(f"{func}: {name} must have shape (H, W, …) with H, W >= 1; "
                        f"got {name}.shape={a.shape}")
    return a


def _labels_array(mask, func):
    """``mask`` as an array of integer (or boolean) labels, or a TypeError naming ``func``."""
    mask = as_array(mask, "mask", func)
    if mask.dtype.kind not in "biu":
        raise TypeError(f"{func}: mask must hold integer labels; got dtype {mask.dtype}")
    return mask


def warp(a, field, order=1):
    """``a`` resampled at ``pixel + field``: bilinear (``order=1``) or nearest (0).

    The two leading axes are warped; trailing axes (channels) ride along.
    Beyond the edges the image is mirrored. Use ``order=0`` for masks.
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order not in (0, 1):
        raise DomainError(f"warp: order must be 0 (nearest) or 1 (bilinear); got {order!r}")
    a = _planes(a, "a", "warp")
    field = as_array(field, "field", "warp")
    h, w = a.shape[:2]
    if field.shape != (2, h, w):
        raise LengthError(f"warp: field must have shape (2, H, W) = (2, {h}, {w}); got "
                          f"field.shape={field.shape}")
    if field.dtype.kind not in "biuf" or not np.isfinite(field).all():
        raise DomainError(f"warp: field must hold finite real displacements; got "
                          f"dtype={field.dtype}")
    # the mirrored image repeats every 2(n − 1) pixels: displacements taken modulo
    # that period sample the same pixels, and stay small enough to index with
    yy = np.arange(h)[:, None] + np.fmod(field[0], max(1, 2 * (h - 1)))
    xx = np.arange(w)[None, :] + np.fmod(field[1], max(1, 2 * (w - 1)))
    yy, xx = np.broadcast_arrays(yy, xx)
    # map_coordinates' "mirror" is the reflection dcb|abcd|cba; order 0 rounds
    # to the nearest pixel, order 1 interpolates bilinearly
    planes = a.reshape(h, w, -1)
    out = np.stack([ndimage.map_coordinates(planes[..., c], (yy, xx), order=order,
                                            mode="mirror", prefilter=False)
                    for c in range(planes.shape[-1])], axis=-1)
    return out.reshape(a.shape).astype(a.dtype, copy=False)


def augment(rng, image, mask, weights=None, elastic=10.0):
    """A random symmetry and elastic deformation of an image and its labels.

    The same transformation is applied to the image (bilinear), the mask
    (nearest) and the weights (bilinear): one of the eight flips/quarter
    turns, then, when ``elastic > 0``, the paper's deformation with that
    standard deviation in pixels. A non-square image only gets the
    symmetries that keep its shape.

    Returns
    -------
    (image, mask, weights)
        Same shapes and dtypes as given; ``weights`` stays None if None.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"augment: rng must be a numpy Generator; got {type(rng).__name__}")
    image = _planes(image, "image", "augment")
    if image.ndim == 3 and image.shape[2] == 0:
        raise DomainError(f"augment: image must have a channel at least; got "
                          f"image.shape={image.shape}")
    mask = _planes(_labels_array(mask, "augment"), "mask", "augment")
    if mask.shape[:2] != image.shape[:2]:
        raise LengthError(f"augment: mask must cover the image's (H, W); got "
                          f"image.shape={image.shape}, mask.shape={mask.shape}")
    if weights is not None:
        weights = _planes(weights, "weights", "augment")
        if weights.shape[:2] != image.shape[:2]:
            raise LengthError(f"augment: weights must cover the image's (H, W); got "
                              f"image.shape={image.shape}, weights.shape={weights.shape}")
    _real_number(elastic, "elastic", "augment", least=0)
    square = image.shape[0] == image.shape[1]
    k = int(rng.integers(8)) if square else int(rng.choice([0, 2, 4, 6]))
    image, mask = dihedral(image, k), dihedral(mask, k)
    weights = None if weights is None else dihedral(weights, k)
    if elastic > 0:
        field = elastic_field(rng, image.shape[:2], elastic)
        image, mask = warp(image, field), warp(mask, field, order=0)
        weights = None if weights is None else warp(weights, field)
    return (np.ascontiguousarray(image), np.ascontiguousarray(mask),
            None if weights is None else np.ascontiguousarray(weights))
