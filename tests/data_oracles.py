"""The hand-written image functions aplnet.data had before it used scipy.ndimage.

Kept as test oracles: labelling, the weight map's distances, the [1 2 1]
blur and the bilinear/nearest warp with mirrored edges, exactly as they
were (argument checks aside), so that scipy's versions are checked against
the results the project trained with.
"""

import math

import numpy as np


def old_weight_map(mask, w0=10.0, sigma=5.0):
    """The weight map as aplnet.data computed it with :func:`old_distances`."""
    mask = np.asarray(mask)
    classes, inverse, counts = np.unique(mask, return_inverse=True, return_counts=True)
    balance = mask.size / (len(classes) * counts)
    w = balance[inverse.reshape(mask.shape)]
    labels, count = old_label_components(mask)
    if count and w0:
        reach = min(math.ceil(6 * sigma), sum(mask.shape))
        d1, d2 = old_distances(labels, count, reach)
        w = w + np.where(labels == 0, w0 * np.exp(-((d1 + d2) / sigma) ** 2 / 2), 0.0)
    return w.astype(np.float32)


def old_blur(a):
    """Separable [1 2 1]/4 blur of the two leading axes, edges repeated."""
    for axis in (0, 1):
        p = np.pad(a, [(1, 1) if i == axis else (0, 0) for i in range(a.ndim)], mode="edge")
        lo, mid, hi = (np.take(p, np.arange(s, s + a.shape[axis]), axis=axis) for s in range(3))
        a = (lo + 2 * mid + hi) / 4
    return a


def old_label_components(mask):
    """Connected components of ``mask > 0`` (4-neighbours), numbered by first pixel."""
    mask = np.asarray(mask)
    fg = mask > 0
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


def old_distances(labels, count, reach):
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


def mirror(i, n):
    """Indices reflected into 0…n−1 (``dcb|abcd|cba``)."""
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i < n, i, period - i)


def old_warp(a, field, order=1):
    """``a`` resampled at ``pixel + field``, bilinear or nearest, edges mirrored."""
    a, field = np.asarray(a), np.asarray(field)
    h, w = a.shape[:2]
    # the mirrored image repeats every 2(n − 1) pixels: displacements taken modulo
    # that period sample the same pixels, and stay small enough to index with
    yy = np.arange(h)[:, None] + np.fmod(field[0], max(1, 2 * (h - 1)))
    xx = np.arange(w)[None, :] + np.fmod(field[1], max(1, 2 * (w - 1)))
    if order == 0:
        return a[mirror(np.rint(yy).astype(int), h), mirror(np.rint(xx).astype(int), w)]
    y0, x0 = np.floor(yy).astype(int), np.floor(xx).astype(int)
    fy, fx = yy - y0, xx - x0
    extra = (slice(None), slice(None)) + (None,) * (a.ndim - 2)
    fy, fx = fy[extra], fx[extra]
    rows = mirror(y0, h), mirror(y0 + 1, h)
    cols = mirror(x0, w), mirror(x0 + 1, w)
    top = a[rows[0], cols[0]] * (1 - fx) + a[rows[0], cols[1]] * fx
    bottom = a[rows[1], cols[0]] * (1 - fx) + a[rows[1], cols[1]] * fx
    return (top * (1 - fy) + bottom * fy).astype(a.dtype)
