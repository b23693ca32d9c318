"""Loop-by-loop oracles of every layer in :mod:`aplnet.layers`.

The same names and signatures as the fast layers, written as explicit index
loops that read like the notes' Σ formulas: slow, plain, and easy to check
by hand. The tests pin each one on the notes' worked cases and then hold the
fast layers to them. numpy only, and only for storage: no vectorised maths
beyond a scalar ``exp``/``log``.

Frames (batch axes) are handled the plain way: the leading axes are
flattened and looped over.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "conv", "conv_backward", "relu", "relu_backward",
    "maxpool", "maxpool_backward", "upconv", "upconv_backward",
    "crop", "crop_backward", "concat", "concat_backward",
    "softmax", "softmax_cross_entropy",
    "sigmoid", "sigmoid_backward", "softplus", "softplus_backward",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse",
    "dense", "dense_backward", "flatten", "flatten_backward",
    "correlate", "convolve", "gaussian_kernel", "sobel", "sobel_gradient",
]


def _cells(x, rank):
    """``x`` as a stack of rank-``rank`` cells, and the frame to restore."""
    x = np.asarray(x)
    return x.reshape((-1,) + x.shape[x.ndim - rank:]), x.shape[:x.ndim - rank]


def _dtype(*arrays):
    return np.result_type(*[np.asarray(a) for a in arrays if a is not None], np.float16)


# ------------------------------------------------------------ convolution


def _padded(x, pad):
    """One image (H, W, C) with ``pad`` zeros on each side of H and W."""
    h, w, c = x.shape
    xp = np.zeros((h + 2 * pad, w + 2 * pad, c), x.dtype)
    for i in range(h):
        for j in range(w):
            for ch in range(c):
                xp[i + pad, j + pad, ch] = x[i, j, ch]
    return xp


def conv(x, w, b=None, stride=1, pad=0):
    """z[i,j,k] = b[k] + Σ_a Σ_b Σ_c xp[i·s+a, j·s+b, c] × w[a,b,c,k]."""
    cells, frame = _cells(x, 3)
    w = np.asarray(w)
    kh, kw, cin, k_out = w.shape
    hp, wp = cells.shape[1] + 2 * pad, cells.shape[2] + 2 * pad
    ho, wo = (hp - kh) // stride + 1, (wp - kw) // stride + 1
    z = np.zeros((len(cells), ho, wo, k_out), _dtype(x, w, b))
    for n in range(len(cells)):
        xp = _padded(cells[n], pad)
        for i in range(ho):
            for j in range(wo):
                for k in range(k_out):
                    total = 0 if b is None else b[k]
                    for a in range(kh):
                        for bb in range(kw):
                            for c in range(cin):
                                total += xp[i * stride + a, j * stride + bb, c] * w[a, bb, c, k]
                    z[n, i, j, k] = total
    return z.reshape(frame + z.shape[1:])


def conv_backward(dz, x, w, stride=1, pad=0):
    """dw[a,b,c,k] = Σ_ij dz[i,j,k] × xp[i·s+a, j·s+b, c];  dx[i,j,c] = Σ_k Σ_ab dz[i−a, j−b, k] × w[a,b,c,k].

    ``dx`` is written as note 000 writes it: for each input pixel, the sum
    over every output pixel whose window covered it, i.e. the full
    correlation of ``dz`` with ``rot180(w)``.
    """
    cells, frame = _cells(x, 3)
    dzc, _ = _cells(dz, 3)
    w = np.asarray(w)
    kh, kw, cin, k_out = w.shape
    h, wd = cells.shape[1], cells.shape[2]
    ho, wo = dzc.shape[1], dzc.shape[2]
    dtype = _dtype(dz, x, w)
    dw = np.zeros(w.shape, dtype)
    db = np.zeros(k_out, dtype)
    dx = np.zeros(cells.shape, dtype)
    for n in range(len(cells)):
        xp = _padded(cells[n], pad)
        for a in range(kh):
            for bb in range(kw):
                for c in range(cin):
                    for k in range(k_out):
                        for i in range(ho):
                            for j in range(wo):
                                dw[a, bb, c, k] += dzc[n, i, j, k] * xp[i * stride + a, j * stride + bb, c]
        for k in range(k_out):
            for i in range(ho):
                for j in range(wo):
                    db[k] += dzc[n, i, j, k]
        for ip in range(pad, pad + h):                 # padded coordinates
            for jp in range(pad, pad + wd):
                for c in range(cin):
                    total = 0
                    for k in range(k_out):
                        for a in range(kh):
                            for bb in range(kw):
                                si, sj = ip - a, jp - bb       # = i·s, the window start
                                if si % stride or sj % stride:
                                    continue
                                i, j = si // stride, sj // stride
                                if 0 <= i < ho and 0 <= j < wo:
                                    total += dzc[n, i, j, k] * w[a, bb, c, k]
                    dx[n, ip - pad, jp - pad, c] = total
    return dx.reshape(frame + dx.shape[1:]), dw, db


# ------------------------------------------------------------------ ReLU


def relu(z):
    """y = max(0, z), item by item."""
    z = np.asarray(z)
    flat = z.reshape(-1)
    y = np.zeros(flat.shape, z.dtype)
    for t in range(flat.size):
        y[t] = flat[t] if flat[t] > 0 else 0
    return y.reshape(z.shape)


def relu_backward(dy, z):
    """dz = dy where z > 0, else 0."""
    dy, z = np.asarray(dy), np.asarray(z)
    fd, fz = dy.reshape(-1), z.reshape(-1)
    dz = np.zeros(fd.shape, dy.dtype)
    for t in range(fd.size):
        dz[t] = fd[t] if fz[t] > 0 else 0
    return dz.reshape(dy.shape)


# --------------------------------------------------------------- max pool


def _first_max(x, i0, j0, size, c):
    """(a, b) of the first maximum of one window, scanning rows then columns."""
    best, where = x[i0, j0, c], (0, 0)
    for a in range(size):
        for b in range(size):
            if x[i0 + a, j0 + b, c] > best:
                best, where = x[i0 + a, j0 + b, c], (a, b)
    return where


def maxpool(x, size=2, stride=2):
    """y[i,j,c] = max_ab x[i·s+a, j·s+b, c], whole windows only."""
    cells, frame = _cells(x, 3)
    _, h, w, ch = cells.shape
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
    y = np.zeros((len(cells), ho, wo, ch), cells.dtype)
    for n in range(len(cells)):
        for i in range(ho):
            for j in range(wo):
                for c in range(ch):
                    a, b = _first_max(cells[n], i * stride, j * stride, size, c)
                    y[n, i, j, c] = cells[n, i * stride + a, j * stride + b, c]
    return y.reshape(frame + y.shape[1:])


def maxpool_backward(dy, x, size=2, stride=2):
    """dx[i·s+a, j·s+b, c] += dy[i,j,c] at each window's first maximum (a, b)."""
    cells, frame = _cells(x, 3)
    dyc, _ = _cells(dy, 3)
    dx = np.zeros(cells.shape, _dtype(dy))
    for n in range(len(cells)):
        for i in range(dyc.shape[1]):
            for j in range(dyc.shape[2]):
                for c in range(dyc.shape[3]):
                    a, b = _first_max(cells[n], i * stride, j * stride, size, c)
                    dx[n, i * stride + a, j * stride + b, c] += dyc[n, i, j, c]
    return dx.reshape(frame + dx.shape[1:])


# ---------------------------------------------------------------- up-conv


def upconv(x, w, b=None):
    """y[i·kh+a, j·kw+b, k] = b[k] + Σ_c x[i,j,c] × w[a,b,c,k]."""
    cells, frame = _cells(x, 3)
    w = np.asarray(w)
    kh, kw, cin, k_out = w.shape
    _, h, wd, _ = cells.shape
    y = np.zeros((len(cells), h * kh, wd * kw, k_out), _dtype(x, w, b))
    for n in range(len(cells)):
        for i in range(h):
            for j in range(wd):
                for a in range(kh):
                    for bb in range(kw):
                        for k in range(k_out):
                            total = 0 if b is None else b[k]
                            for c in range(cin):
                                total += cells[n, i, j, c] * w[a, bb, c, k]
                            y[n, i * kh + a, j * kw + bb, k] = total
    return y.reshape(frame + y.shape[1:])


def upconv_backward(dy, x, w):
    """dx[i,j,c] = Σ_abk dy[i·kh+a, j·kw+b, k] w[a,b,c,k];  db[k] = Σ_ij dy[i,j,k];
    dw[a,b,c,k] = Σ_ij x[i,j,c] dy[i·kh+a, j·kw+b, k]."""
    cells, frame = _cells(x, 3)
    dyc, _ = _cells(dy, 3)
    w = np.asarray(w)
    kh, kw, cin, k_out = w.shape
    _, h, wd, _ = cells.shape
    dtype = _dtype(dy, x, w)
    dx = np.zeros(cells.shape, dtype)
    dw = np.zeros(w.shape, dtype)
    db = np.zeros(k_out, dtype)
    for n in range(len(cells)):
        for i in range(h):
            for j in range(wd):
                for a in range(kh):
                    for bb in range(kw):
                        for k in range(k_out):
                            g = dyc[n, i * kh + a, j * kw + bb, k]
                            for c in range(cin):
                                dx[n, i, j, c] += g * w[a, bb, c, k]
                                dw[a, bb, c, k] += cells[n, i, j, c] * g
        for i in range(dyc.shape[1]):
            for j in range(dyc.shape[2]):
                for k in range(k_out):
                    db[k] += dyc[n, i, j, k]
    return dx.reshape(frame + dx.shape[1:]), dw, db


# --------------------------------------------------------- copy and crop


def crop(x, hw):
    """y[i,j,c] = x[i+t, j+l, c] with t = ⌊(H−h)/2⌋, l = ⌊(W−w)/2⌋."""
    cells, frame = _cells(x, 3)
    h, w = hw
    top, left = (cells.shape[1] - h) // 2, (cells.shape[2] - w) // 2
    y = np.zeros((len(cells), h, w, cells.shape[3]), cells.dtype)
    for n in range(len(cells)):
        for i in range(h):
            for j in range(w):
                for c in range(cells.shape[3]):
                    y[n, i, j, c] = cells[n, i + top, j + left, c]
    return y.reshape(frame + y.shape[1:])


def crop_backward(dy, hw):
    """dx[i+t, j+l, c] = dy[i,j,c], zero elsewhere in the (H, W) = hw image."""
    cells, frame = _cells(dy, 3)
    big_h, big_w = hw
    _, h, w, ch = cells.shape
    top, left = (big_h - h) // 2, (big_w - w) // 2
    dx = np.zeros((len(cells), big_h, big_w, ch), cells.dtype)
    for n in range(len(cells)):
        for i in range(h):
            for j in range(w):
                for c in range(ch):
                    dx[n, i + top, j + left, c] = cells[n, i, j, c]
    return dx.reshape(frame + dx.shape[1:])


def concat(skip, up):
    """y[…,c] = skip[…,c] for c < C1, then up[…,c−C1]."""
    skip, up = np.asarray(skip), np.asarray(up)
    c1, c2 = skip.shape[-1], up.shape[-1]
    s, u = skip.reshape(-1, c1), up.reshape(-1, c2)
    y = np.zeros((len(s), c1 + c2), np.result_type(skip, up))
    for p in range(len(s)):
        for c in range(c1):
            y[p, c] = s[p, c]
        for c in range(c2):
            y[p, c1 + c] = u[p, c]
    return y.reshape(skip.shape[:-1] + (c1 + c2,))


def concat_backward(dy, channels):
    """dskip = the first ``channels`` channels of dy, dup the rest."""
    dy = np.asarray(dy)
    flat = dy.reshape(-1, dy.shape[-1])
    dskip = np.zeros((len(flat), channels), dy.dtype)
    dup = np.zeros((len(flat), dy.shape[-1] - channels), dy.dtype)
    for p in range(len(flat)):
        for c in range(dy.shape[-1]):
            if c < channels:
                dskip[p, c] = flat[p, c]
            else:
                dup[p, c - channels] = flat[p, c]
    return dskip.reshape(dy.shape[:-1] + (channels,)), dup.reshape(dy.shape[:-1] + (-1,))


# ------------------------------------------------------- softmax and loss


def _log_softmax_row(row):
    m = max(row)
    total = 0.0
    for v in row:
        total += math.exp(v - m)
    return [v - m - math.log(total) for v in row]


def softmax(a):
    """p[…,k] = exp(a[…,k]) / Σ_k' exp(a[…,k']), each row shifted by its max."""
    a = np.asarray(a)
    rows = a.reshape(-1, a.shape[-1])
    p = np.zeros(rows.shape, _dtype(a))
    for r in range(len(rows)):
        lp = _log_softmax_row(rows[r])
        for k in range(rows.shape[1]):
            p[r, k] = math.exp(lp[k])
    return p.reshape(a.shape)


def softmax_cross_entropy(a, labels, weights=None):
    """loss = −Σ w·log p[label] / N; da[…,k] = w·(p[…,k] − [k = label]) / N."""
    a = np.asarray(a)
    rows = a.reshape(-1, a.shape[-1])
    lab = np.asarray(labels).reshape(-1)
    wts = np.ones(len(lab)) if weights is None else np.asarray(weights).reshape(-1)
    n = len(lab)
    loss = 0.0
    da = np.zeros(rows.shape, _dtype(a))
    for r in range(n):
        lp = _log_softmax_row(rows[r])
        loss -= wts[r] * lp[lab[r]] / n
        for k in range(rows.shape[1]):
            da[r, k] = wts[r] * (math.exp(lp[k]) - (k == lab[r])) / n
    return loss, da.reshape(a.shape)


# ------------------------------------------------- the notes' other layers


def _map(f, *arrays):
    """f applied to the items of equally shaped arrays, one by one."""
    arrays = [np.asarray(a) for a in arrays]
    flats = [a.reshape(-1) for a in arrays]
    out = np.zeros(flats[0].shape, _dtype(*arrays))
    for t in range(out.size):
        out[t] = f(*(float(fl[t]) for fl in flats))
    return out.reshape(arrays[0].shape)


def _sigmoid(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def _softplus(v):
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def sigmoid(x):
    """y = 1 / (1 + exp(−x))."""
    return _map(_sigmoid, x)


def sigmoid_backward(dy, y):
    """dx = dy × y × (1 − y)."""
    return _map(lambda g, v: g * v * (1 - v), dy, y)


def softplus(x):
    """y = log(1 + exp(x))."""
    return _map(_softplus, x)


def softplus_backward(dy, x):
    """dx = dy × σ(x)."""
    return _map(lambda g, v: g * _sigmoid(v), dy, x)


def binary_cross_entropy(p, y):
    """loss = −Σ (y log p + (1−y) log(1−p)) / n; dp = ((1−y)/(1−p) − y/p) / n."""
    p, y = np.asarray(p), np.asarray(y)
    n = p.size
    loss = 0.0
    for pi, yi in zip(p.reshape(-1), y.reshape(-1)):
        loss -= (yi * math.log(pi) + (1 - yi) * math.log(1 - pi)) / n
    return loss, _map(lambda pi, yi: ((1 - yi) / (1 - pi) - yi / pi) / n, p, y)


def binary_cross_entropy_with_logits(z, y):
    """loss = Σ (softplus(z) − y z) / n; dz = (σ(z) − y) / n."""
    z, y = np.asarray(z), np.asarray(y)
    n = z.size
    loss = 0.0
    for zi, yi in zip(z.reshape(-1), y.reshape(-1)):
        loss += (_softplus(float(zi)) - yi * zi) / n
    return loss, _map(lambda zi, yi: (_sigmoid(zi) - yi) / n, z, y)


def mse(yhat, y):
    """loss = Σ (ŷ − y)² / n; dŷ = 2 (ŷ − y) / n."""
    yhat, y = np.asarray(yhat), np.asarray(y)
    n = y.size
    loss = 0.0
    for a, b in zip(yhat.reshape(-1), y.reshape(-1)):
        loss += (a - b) ** 2 / n
    return loss, _map(lambda a, b: 2 * (a - b) / n, yhat, y)


def dense(x, w, b=None):
    """z[…,m] = b[m] + Σ_n x[…,n] w[n,m]."""
    cells, frame = _cells(x, 1)
    w = np.asarray(w)
    z = np.zeros((len(cells), w.shape[1]), _dtype(x, w, b))
    for r in range(len(cells)):
        for m in range(w.shape[1]):
            total = 0 if b is None else b[m]
            for n in range(w.shape[0]):
                total += cells[r, n] * w[n, m]
            z[r, m] = total
    return z.reshape(frame + (w.shape[1],))


def dense_backward(dy, x, w):
    """dx[…,n] = Σ_m dy[…,m] w[n,m]; dw[n,m] = Σ_… x[…,n] dy[…,m]; db[m] = Σ_… dy[…,m]."""
    cells, frame = _cells(x, 1)
    dyc, _ = _cells(dy, 1)
    w = np.asarray(w)
    dtype = _dtype(dy, x, w)
    dx = np.zeros(cells.shape, dtype)
    dw = np.zeros(w.shape, dtype)
    db = np.zeros(w.shape[1], dtype)
    for r in range(len(cells)):
        for n in range(w.shape[0]):
            for m in range(w.shape[1]):
                dx[r, n] += dyc[r, m] * w[n, m]
                dw[n, m] += cells[r, n] * dyc[r, m]
        for m in range(w.shape[1]):
            db[m] += dyc[r, m]
    return dx.reshape(frame + (w.shape[0],)), dw, db


def flatten(x):
    """f[…, (i·W + j)·C + c] = x[…, i, j, c]."""
    cells, frame = _cells(x, 3)
    _, h, w, ch = cells.shape
    f = np.zeros((len(cells), h * w * ch), cells.dtype)
    for n in range(len(cells)):
        for i in range(h):
            for j in range(w):
                for c in range(ch):
                    f[n, (i * w + j) * ch + c] = cells[n, i, j, c]
    return f.reshape(frame + (h * w * ch,))


def flatten_backward(dy, shape):
    """dx[…, i, j, c] = dy[…, (i·W + j)·C + c], for x.shape = shape."""
    shape = tuple(shape)
    h, w, ch = shape[-3:]
    rows = np.asarray(dy).reshape(-1, h * w * ch)
    dx = np.zeros((len(rows), h, w, ch), rows.dtype)
    for n in range(len(rows)):
        for i in range(h):
            for j in range(w):
                for c in range(ch):
                    dx[n, i, j, c] = rows[n, (i * w + j) * ch + c]
    return dx.reshape(shape)


# ------------------------------------------------------ the image kernels


def correlate(x, k, mode="valid"):
    """z[i,j] = Σ_ab x[i+a−p, j+b−q] × k[a,b], zero outside x (p, q set by mode)."""
    cells, frame = _cells(x, 2)
    k = np.asarray(k)
    kh, kw = k.shape
    _, h, w = cells.shape
    p, q = {"valid": (0, 0), "full": (kh - 1, kw - 1),
            "same": ((kh - 1) // 2, (kw - 1) // 2)}[mode]
    ho, wo = {"valid": (h - kh + 1, w - kw + 1), "full": (h + kh - 1, w + kw - 1),
              "same": (h, w)}[mode]
    z = np.zeros((len(cells), ho, wo), np.result_type(cells, k))
    for n in range(len(cells)):
        for i in range(ho):
            for j in range(wo):
                total = 0
                for a in range(kh):
                    for b in range(kw):
                        u, v = i + a - p, j + b - q
                        if 0 <= u < h and 0 <= v < w:
                            total += cells[n, u, v] * k[a, b]
                z[n, i, j] = total
    return z.reshape(frame + (ho, wo))


def convolve(x, k, mode="valid"):
    """z = correlate(x, rot180(k)): z[i,j] = Σ_ab x[i−a+p', j−b+q'] × k[a,b]."""
    k = np.asarray(k)
    kh, kw = k.shape
    turned = np.zeros_like(k)
    for a in range(kh):
        for b in range(kw):
            turned[a, b] = k[kh - 1 - a, kw - 1 - b]
    return correlate(x, turned, mode)


def gaussian_kernel(size, sigma):
    """g[i,j] = exp(−(u_i² + u_j²)/2σ²) / Σ, u_i = i − (size−1)/2."""
    g = np.zeros((size, size))
    total = 0.0
    for i in range(size):
        for j in range(size):
            u, v = i - (size - 1) / 2, j - (size - 1) / 2
            g[i, j] = math.exp(-(u * u + v * v) / (2 * sigma * sigma))
            total += g[i, j]
    for i in range(size):
        for j in range(size):
            g[i, j] /= total
    return g


def sobel():
    """Note 003's printed Sobel tables, Gx and Gy."""
    gx = np.array([[-1, 0, 1],
                   [-2, 0, 2],
                   [-1, 0, 1]])
    gy = np.array([[-1, -2, -1],
                   [0, 0, 0],
                   [1, 2, 1]])
    return gx, gy


def sobel_gradient(image):
    """G = √(Gx² + Gy²), θ = atan2(Gy, Gx), with Gx, Gy the 'same' correlations."""
    gx, gy = sobel()
    sx, sy = correlate(image, gx, "same"), correlate(image, gy, "same")
    return (_map(lambda u, v: math.sqrt(u * u + v * v), sx, sy),
            _map(lambda u, v: math.atan2(v, u), sx, sy))
