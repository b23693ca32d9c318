"""Data for the U-Net: synthetic cells, image/mask files, weight maps, augmentation.

Images are channels-last ``float32`` arrays ``(H, W, C)`` scaled to [0, 1];
masks are integer arrays ``(H, W)`` of class indices (0 is background).
A data set is a :class:`Samples` triple of images, masks and names, the
names saying where each pair came from so that every error can point at
the file.

===================  ========================================================
``synthetic_cells``  touching, textured, noisy cells with their true masks
``load_folder``      PNG/TIFF image–mask pairs, or multi-page TIFF stacks
``weight_map``       the paper's class balance plus border-separation weights
``augment``          flips, 90° rotations and the paper's elastic deformation
===================  ========================================================
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageSequence

from .apl import DomainError, LengthError, RankError, as_array
from .checks import fits

__all__ = [
    "Samples", "synthetic_cells", "load_folder", "read_image",
    "read_mask", "label_components", "weight_map", "dihedral",
    "elastic_field", "warp", "augment", "IMAGE_SUFFIXES",
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
        p = np.pad(a, [(1, 1) if i == axis else (0, 0) for i in range(a.ndim)], mode="edge")
        lo, mid, hi = (np.take(p, np.arange(s, s + a.shape[axis]), axis=axis) for s in range(3))
        a = (lo + 2 * mid + hi) / 4
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


def _read(path, convert):
    """Every page of an image file (one for PNG, a stack for TIFF), each through ``convert``.

    Raises
    ------
    DomainError
        The file cannot be opened or decoded as an image; the message names it.
    """
    try:
        with Image.open(path) as im:
            return [convert(page, path) for page in ImageSequence.Iterator(im)]
    except DomainError:
        raise
    except Exception as err:  # a damaged file makes PIL raise almost anything
        raise DomainError(f"cannot read {path} as an image ({type(err).__name__}: "
                          f"{err})") from None


def _image_page(page, path):
    """A page as float32 ``(H, W, C)`` in [0, 1]."""
    if page.mode in ("1", "LA", "La"):
        page = page.convert("L")
    elif page.mode not in ("L", "I", "F", "RGB") and not page.mode.startswith("I;16"):
        page = page.convert("RGB")  # palette, alpha, CMYK, …
    a = np.array(page)
    if np.issubdtype(a.dtype, np.integer):
        top = 65535 if page.mode.startswith("I;16") or a.max(initial=0) > 255 else 255
        a = a / top
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise DomainError(f"{path}: the image holds NaN or Inf values")
    return a if a.ndim == 3 else a[..., None]


def read_image(path):
    """The pages of an image file as float32 ``(H, W, C)`` arrays in [0, 1].

    8-bit pages are divided by 255, 16-bit ones by 65535; float pages are
    kept. Alpha is dropped; palette and other colour modes become RGB.

    Raises
    ------
    DomainError
        An unreadable file, or float values that are NaN or infinite.
    """
    return _read(path, _image_page)


def _mask_page(page, path):
    """A page as an integer ``(H, W)`` array of labels."""
    if page.mode == "1":
        return np.array(page.convert("L")) // 255
    if page.mode in ("PA", "LA", "La"):
        page = page.convert(page.mode[0].upper())
    elif page.mode not in ("P", "L", "I", "F") and not page.mode.startswith("I;16"):
        page = page.convert("RGB")
    a = np.array(page)
    if a.ndim == 3:
        if not np.all(a == a[..., :1]):
            raise DomainError(f"{path}: a mask must be single-channel class indices; "
                              f"got {a.shape[-1]} colour channels that differ")
        a = a[..., 0]
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise DomainError(f"{path}: a mask must hold integer labels; got non-integer values")
        a = a.astype(np.int64)
    return a


def read_mask(path):
    """The pages of a mask file as integer ``(H, W)`` class-index arrays.

    A mask whose values are exactly {0, 255} (or one of them) is binary, as
    in the ISBI challenge's labels and in the masks ``aplnet predict`` writes:
    255 becomes 1. Palette PNGs give their indices. Any other mask is taken as
    class indices as stored.

    Raises
    ------
    DomainError
        A colour (RGB) mask whose channels differ, or a float mask holding
        non-integers; the message names the file.
    """
    masks = []
    for a in _read(path, _mask_page):
        values = np.unique(a)
        if values.max(initial=0) == 255 and np.isin(values, (0, 255)).all():
            a = a // 255
        if a.min(initial=0) < 0:
            raise DomainError(f"{path}: a mask must hold non-negative labels; got {a.min()}")
        masks.append(a.astype(np.uint8 if a.max(initial=0) < 256 else np.int32))
    return masks


def _listing(directory):
    files = sorted(f for f in os.listdir(directory)
                   if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith("."))
    return {os.path.splitext(f)[0]: os.path.join(directory, f) for f in files}


def _pairs(images_dir, masks_dir):
    """(image file, mask file) pairs matched by file name without extension."""
    images, masks = _listing(images_dir), _listing(masks_dir)
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
        ``images``: float32 ``(H, W, C)`` in [0, 1] (see :func:`read_image`);
        ``masks``: integer ``(H, W)`` (see :func:`read_mask`); ``names``: the
        image file, with ``[page k]`` for stacks.

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


# ------------------------------------------------------------ weight maps


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
    big = fg.size
    lab = np.where(fg, np.arange(big).reshape(fg.shape), big)
    while True:
        # each pixel takes its smallest 4-neighbour's label, then labels jump
        # to their own label's label, which collapses long chains quickly
        p = np.pad(lab, 1, constant_values=big)
        low = np.minimum.reduce([lab, p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
        low = np.where(fg, low, big)
        flat = np.append(low.ravel(), big)
        for _ in range(4):
            flat[:-1] = flat[flat[:-1]]
        new = flat[:-1].reshape(fg.shape)
        if np.array_equal(new, lab):
            break
        lab = new
    roots, labels = np.unique(lab, return_inverse=True)
    labels = labels.reshape(fg.shape) + 1
    labels[~fg] = 0
    return labels, int(np.count_nonzero(roots < big))


def _distances(labels, count, reach):
    """Per pixel, the distances to the nearest and second-nearest component.

    Each component's distance is taken over the pixels within ``reach`` of
    its bounding box (infinity beyond), from its edge pixels, in chunks so
    memory stays bounded.
    """
    h, w = labels.shape
    d1 = np.full(labels.shape, np.inf)
    d2 = np.full(labels.shape, np.inf)
    p = np.pad(labels, 1)
    inner = (p[:-2, 1:-1] == labels) & (p[2:, 1:-1] == labels) & \
            (p[1:-1, :-2] == labels) & (p[1:-1, 2:] == labels)
    edge_labels = np.where(inner, 0, labels)
    ys, xs = np.nonzero(edge_labels)
    order = np.argsort(edge_labels[ys, xs], kind="stable")
    ys, xs = ys[order], xs[order]
    bounds = np.searchsorted(edge_labels[ys, xs], np.arange(1, count + 2))
    for c in range(count):
        ey, ex = ys[bounds[c]:bounds[c + 1]], xs[bounds[c]:bounds[c + 1]]
        y0, y1 = max(0, ey.min() - reach), min(h, ey.max() + reach + 1)
        x0, x1 = max(0, ex.min() - reach), min(w, ex.max() + reach + 1)
        py, px = np.mgrid[y0:y1, x0:x1]
        py, px = py.ravel(), px.ravel()
        d = np.empty(py.size)
        step = max(1, 2_000_000 // ey.size)
        for s in range(0, py.size, step):
            dy = py[s:s + step, None] - ey
            dx = px[s:s + step, None] - ex
            d[s:s + step] = np.sqrt((dy * dy + dx * dx).min(axis=1))
        d = d.reshape(y1 - y0, x1 - x0)
        window = (slice(y0, y1), slice(x0, x1))
        d2[window] = np.minimum(d2[window], np.maximum(d1[window], d))
        d1[window] = np.minimum(d1[window], d)
    return d1, d2


def weight_map(mask, w0=10.0, sigma=5.0):
    """The U-Net paper's loss weights: class balance plus border separation.

    ``w(x) = w_c(x) + w0 · exp(−(d1(x) + d2(x))² / (2σ²))`` on background
    pixels and ``w_c(x)`` on foreground, where ``d1`` and ``d2`` are the
    distances to the nearest and second-nearest cell (4-connected component
    of ``mask > 0``) and ``w_c`` balances the classes: a pixel of class ``l``
    weighs ``N / (K · N_l)`` (``N`` pixels, ``K`` classes present, ``N_l`` of
    class ``l``), so a balanced mask weighs 1 everywhere. Thin background
    seams between touching cells get the largest weights, which is what
    teaches the network to keep touching cells apart.

    Distances reach ``6σ`` beyond each cell; farther, the border term is
    below ``w0·e⁻¹⁸`` and is taken as 0.

    Parameters
    ----------
    mask : array_like of int, shape (H, W)
        Class indices; cells are the components of ``mask > 0``.
    w0 : float
        Height of the border term (10 in the paper).
    sigma : float
        Its width in pixels (5 in the paper).

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
    labels, count = label_components(mask)
    if count and w0:
        reach = min(math.ceil(6 * sigma), sum(mask.shape))   # past the image changes nothing
        d1, d2 = _distances(labels, count, reach)
        w = w + np.where(labels == 0, w0 * np.exp(-((d1 + d2) / sigma) ** 2 / 2), 0.0)
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


def _mirror(i, n):
    """Indices reflected into 0…n−1 (``dcb|abcd|cba``)."""
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i < n, i, period - i)


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
    if order == 0:
        return a[_mirror(np.rint(yy).astype(int), h), _mirror(np.rint(xx).astype(int), w)]
    if order != 1:
        raise DomainError(f"warp: order must be 0 (nearest) or 1 (bilinear); got {order}")
    y0, x0 = np.floor(yy).astype(int), np.floor(xx).astype(int)
    fy, fx = yy - y0, xx - x0
    extra = (slice(None), slice(None)) + (None,) * (a.ndim - 2)
    fy, fx = fy[extra], fx[extra]
    rows = _mirror(y0, h), _mirror(y0 + 1, h)
    cols = _mirror(x0, w), _mirror(x0 + 1, w)
    top = a[rows[0], cols[0]] * (1 - fx) + a[rows[0], cols[1]] * fx
    bottom = a[rows[1], cols[0]] * (1 - fx) + a[rows[1], cols[1]] * fx
    return (top * (1 - fy) + bottom * fy).astype(a.dtype)


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
