"""Plain-loop definitions of aplnet.apl's combinators and primitives.

Each function is written from APL's definition of the operator or primitive,
index by index, with no vectorisation and nothing shared with aplnet.apl, so
that it can serve as the oracle the fast paths are checked against. The
names and signatures are aplnet.apl's. Origin 0 throughout.
"""

import numpy as np

IDENTITY = {
    np.add: 0, np.subtract: 0, np.multiply: 1, np.divide: 1, np.power: 1,
    np.maximum: -np.inf, np.fmax: -np.inf, np.minimum: np.inf, np.fmin: np.inf,
    np.logical_and: True, np.logical_or: False, np.logical_xor: False,
    np.equal: True, np.not_equal: False, np.bitwise_and: -1, np.bitwise_or: 0,
    np.bitwise_xor: 0,
}


def mix(results, frame):
    """APL's ``↑``: results placed in ``frame``, padded with zeros to a common shape."""
    results = [np.asarray(r) for r in results]
    depth = max(r.ndim for r in results)
    results = [r.reshape((1,) * (depth - r.ndim) + r.shape) for r in results]
    shape = tuple(max(r.shape[k] for r in results) for k in range(depth))
    z = np.zeros(frame + shape, np.result_type(*results))
    for position, r in zip(np.ndindex(*frame), results):
        for index in np.ndindex(*r.shape):
            z[position + index] = r[index]
    return z


def assemble(results, frame, prototype, dtype):
    """``mix``, or for an empty frame zeros shaped like ``f`` of fill cells."""
    if results:
        return mix(results, frame)
    try:
        proto = np.asarray(prototype())
    except Exception:  # APL: a function failing on fill cells gives simple scalars
        return np.zeros(frame, dtype)
    return np.zeros(frame + proto.shape, proto.dtype)


def outer(f, a, b):
    """``a∘.f b``: ``z[i…, j…] = f(a[i…], b[j…])``."""
    a, b = np.asarray(a), np.asarray(b)
    results = [f(a[i], b[j]) for i in np.ndindex(*a.shape) for j in np.ndindex(*b.shape)]
    return assemble(results, a.shape + b.shape,
                    lambda: f(a.dtype.type(0), b.dtype.type(0)), a.dtype)


def _fold(f, items):
    """``f/`` of a list: the last item is the seed, folded leftwards."""
    acc = items[-1]
    for item in reversed(items[:-1]):
        acc = f(item, acc)
    return acc


def _line(a, index, axis, k):
    """``a`` at ``index`` with position ``k`` inserted on ``axis``."""
    return a[index[:axis] + (k,) + index[axis:]]


def reduce(f, a, axis=-1):
    """``f/a``: each line along ``axis`` folded from the right."""
    a = np.asarray(a)
    if a.ndim == 0:
        a = a.reshape(1)
    axis %= a.ndim
    n = a.shape[axis]
    rest = a.shape[:axis] + a.shape[axis + 1:]
    if n == 0:
        if f not in IDENTITY:
            raise ValueError(f"no identity for {f}")
        return np.full(rest, IDENTITY[f], np.result_type(a.dtype, IDENTITY[f]))[()]
    results = [_fold(f, [_line(a, i, axis, k) for k in range(n)]) for i in np.ndindex(*rest)]
    return np.array(results).reshape(rest)[()]


def scan(f, a, axis=-1):
    """``f\\a``: position ``k`` of each line is ``f/`` of the line's first ``k+1`` items."""
    a = np.asarray(a)
    if a.ndim == 0 or a.size == 0:
        return a.copy()
    axis %= a.ndim
    n = a.shape[axis]
    rest = a.shape[:axis] + a.shape[axis + 1:]
    values = {}
    for i in np.ndindex(*rest):
        line = [_line(a, i, axis, k) for k in range(n)]
        for k in range(n):
            values[i[:axis] + (k,) + i[axis:]] = _fold(f, line[:k + 1])
    z = np.array([values[i] for i in np.ndindex(*a.shape)])
    return z.reshape(a.shape)


def inner(f, g, a, b):
    """``a f.g b``: ``z[i…, j…] = f/ [g(a[i…, k], b[k, j…]) for k]``."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 0 and b.ndim == 0:
        a, b = a.reshape(1), b.reshape(1)
    elif a.ndim == 0:
        a = np.full(b.shape[0], a)
    elif b.ndim == 0:
        b = np.full(a.shape[-1], b)
    n = a.shape[-1]
    if n != b.shape[0]:
        raise ValueError("inner axes differ")
    frame = a.shape[:-1] + b.shape[1:]
    results = []
    for i in np.ndindex(*a.shape[:-1]):
        for j in np.ndindex(*b.shape[1:]):
            pairs = [g(a[i + (k,)], b[(k,) + j]) for k in range(n)]
            results.append(_fold(f, pairs) if pairs else IDENTITY[f])
    if not results:
        return np.zeros(frame, np.result_type(a.dtype, b.dtype))
    return np.array(results).reshape(frame)[()]


def _rank_spec(k):
    ks = (k,) if np.ndim(k) == 0 else tuple(k)
    if len(ks) == 1:
        return ks * 3
    return (ks[1],) + tuple(ks) if len(ks) == 2 else tuple(ks)


def _split(a, k):
    """(frame, cells) of ``a`` for cell rank ``k`` (negative: rank less ``-k``)."""
    r = min(k, a.ndim) if k >= 0 else max(0, a.ndim + k)
    frame = a.shape[:a.ndim - r]
    return frame, [a[i] for i in np.ndindex(*frame)], a.shape[a.ndim - r:]


def rank(f, k):
    """``f⍤k``: ``f`` on each cell of the frame; a single cell pairs with all."""
    monadic_k, left_k, right_k = _rank_spec(k)

    def ranked(*args):
        if len(args) == 1:
            a = np.asarray(args[0])
            frame, cells, cell = _split(a, monadic_k)
            return assemble([f(c) for c in cells], frame,
                            lambda: f(np.zeros(cell, a.dtype)), a.dtype)
        a, b = np.asarray(args[0]), np.asarray(args[1])
        fa, lefts, ca = _split(a, left_k)
        fb, rights, cb = _split(b, right_k)
        if fa and fb and fa != fb:
            raise ValueError("frames differ")
        frame = fa or fb
        if not fa:
            lefts = lefts * len(rights)
        if not fb:
            rights = rights * len(lefts)
        return assemble([f(x, y) for x, y in zip(lefts, rights)], frame,
                        lambda: f(np.zeros(ca, a.dtype), np.zeros(cb, b.dtype)), a.dtype)
    return ranked


def _starts(n, size, step, valid):
    """Where each window starts on one axis.

    Valid windows start at 0, step, … and fit. Dyalog's are centred on the
    items 0, step, … (odd size) or on the gap after each such item (even
    size, so the last item, with no gap after it, centres none).
    """
    if valid:
        return list(range(0, n - size + 1, step))
    last = n - 1 if size % 2 else n - 2
    return [c - (size - 1) // 2 for c in range(0, last + 1, step)]


def stencil(f, a, size, step=1, valid=False, edges=False):
    """``f⌺size``: ``f`` of each window, zeros outside ``a``; ``⍺`` = fills per axis."""
    a = np.asarray(a)
    size = (size,) if np.ndim(size) == 0 else tuple(size)
    step = (step,) * len(size) if np.ndim(step) == 0 else tuple(step)
    d = len(size)
    trailing = a.shape[d:]
    starts = [_starts(a.shape[i], size[i], step[i], valid) for i in range(d)]
    frame = tuple(len(s) for s in starts)
    results = []
    for position in np.ndindex(*frame):
        first = [starts[i][position[i]] for i in range(d)]
        window = np.zeros(size + trailing, a.dtype)
        for offset in np.ndindex(*size):
            source = tuple(first[i] + offset[i] for i in range(d))
            if all(0 <= source[i] < a.shape[i] for i in range(d)):
                window[offset] = a[source]
        fills = []
        for i in range(d):
            lead = sum(1 for o in range(size[i]) if first[i] + o < 0)
            tail = sum(1 for o in range(size[i]) if first[i] + o >= a.shape[i])
            fills.append(lead if lead else -tail)
        results.append(f(np.array(fills), window) if edges else f(window))
    cell = size + trailing
    if edges:
        return assemble(results, frame,
                        lambda: f(np.zeros(d, int), np.zeros(cell, a.dtype)), a.dtype)
    return assemble(results, frame, lambda: f(np.zeros(cell, a.dtype)), a.dtype)


def windows(a, size, step=1, valid=True):
    """``{⍵}⌺size``: the windows themselves."""
    return stencil(lambda w: w, a, size, step, valid)


def rotate(a, n, axis=-1):
    """``n⌽a``: ``z[…, i, …] = a[…, (i + n) mod len, …]``."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a.copy()
    axis %= a.ndim
    length = a.shape[axis]
    z = np.zeros_like(a)
    for index in np.ndindex(*a.shape):
        source = list(index)
        source[axis] = (index[axis] + n) % length
        z[index] = a[tuple(source)]
    return z


def reverse(a, axis=-1):
    """``⌽a``: ``z[…, i, …] = a[…, len-1-i, …]``."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a.copy()
    axis %= a.ndim
    z = np.zeros_like(a)
    for index in np.ndindex(*a.shape):
        source = list(index)
        source[axis] = a.shape[axis] - 1 - index[axis]
        z[index] = a[tuple(source)]
    return z


def rot180(a):
    """``⊖⌽a``: ``z[i, j, …] = a[h-1-i, w-1-j, …]``."""
    a = np.asarray(a)
    h, w = a.shape[:2]
    z = np.zeros_like(a)
    for i in range(h):
        for j in range(w):
            z[i, j] = a[h - 1 - i, w - 1 - j]
    return z


def transpose(a, perm=None):
    """``perm⍉a``: ``z[j…] = a[j[perm[0]], j[perm[1]], …]``.

    Result axis ``r`` is as long as the shortest axis of ``a`` sent to it.
    """
    a = np.asarray(a)
    if perm is None:
        perm = tuple(range(a.ndim))[::-1]
    r = max(perm) + 1 if perm else 0
    shape = tuple(min(a.shape[k] for k in range(a.ndim) if perm[k] == j) for j in range(r))
    z = np.zeros(shape, a.dtype)
    for index in np.ndindex(*shape):
        z[index] = a[tuple(index[perm[k]] for k in range(a.ndim))]
    return z


def _as_counts(n, a):
    n = (n,) if np.ndim(n) == 0 else tuple(n)
    if a.ndim == 0:
        a = a.reshape((1,) * max(1, len(n)))
    return n, a


def take(a, n):
    """``n↑a``: first (last, if negative) ``|n[i]|`` items on axis ``i``, zeros past the ends."""
    n, a = _as_counts(n, np.asarray(a))
    shape = tuple(abs(m) for m in n) + a.shape[len(n):]
    z = np.zeros(shape, a.dtype)
    for index in np.ndindex(*shape):
        source = list(index)
        for i, m in enumerate(n):
            source[i] = index[i] if m >= 0 else a.shape[i] + m + index[i]
        if all(0 <= source[i] < a.shape[i] for i in range(len(n))):
            z[index] = a[tuple(source)]
    return z


def drop(a, n):
    """``n↓a``: without the first (last, if negative) ``|n[i]|`` items on axis ``i``."""
    n, a = _as_counts(n, np.asarray(a))
    shape = tuple(max(0, a.shape[i] - abs(m)) for i, m in enumerate(n)) + a.shape[len(n):]
    z = np.zeros(shape, a.dtype)
    for index in np.ndindex(*shape):
        source = list(index)
        for i, m in enumerate(n):
            source[i] = index[i] + max(m, 0)
        z[index] = a[tuple(source)]
    return z


def reshape(a, shape):
    """``shape⍴a``: item ``i`` of the result is item ``i mod ≢,a`` of ``a``; zeros if none."""
    a = np.asarray(a)
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    items = list(a.flat)
    z = np.zeros(shape, a.dtype)
    for i, index in enumerate(np.ndindex(*shape)):
        if items:
            z[index] = items[i % len(items)]
    return z


def catenate(a, b, axis=-1):
    """``a,b``: the items of ``a``, then of ``b``, along ``axis``.

    A scalar, or an array of one rank less, is one slice along the axis.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 0 and b.ndim == 0:
        a, b = a.reshape(1), b.reshape(1)
    depth = max(a.ndim, b.ndim)
    axis %= depth
    ref = a if a.ndim == depth else b

    def lift(x):
        if x.ndim == depth:
            return x
        slice_shape = ref.shape[:axis] + (1,) + ref.shape[axis + 1:]
        if x.ndim == 0:
            return np.full(slice_shape, x)
        return x.reshape(slice_shape)

    a, b = lift(a), lift(b)
    shape = a.shape[:axis] + (a.shape[axis] + b.shape[axis],) + a.shape[axis + 1:]
    z = np.zeros(shape, np.result_type(a.dtype, b.dtype))
    for index in np.ndindex(*shape):
        k = index[axis]
        if k < a.shape[axis]:
            z[index] = a[index]
        else:
            z[index] = b[index[:axis] + (k - a.shape[axis],) + index[axis + 1:]]
    return z
