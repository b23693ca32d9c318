"""APL's operators and the few primitives the notes use, as numpy combinators.

Each combinator mirrors one APL operator and takes the operand first, then
the arrays, as APL does. Each has a vectorised fast path, taken when the
operand is a numpy ufunc or is marked :func:`pervasive` (it accepts whole
arrays and treats leading axes as a frame), and a generic path that calls
any Python function cell by cell.

=================  ==========  ==============================================
aplnet             APL         meaning
=================  ==========  ==============================================
``outer``          ``a∘.f b``  ``z[i…, j…] = f(a[i…], b[j…])``
``reduce``         ``f/ f⌿``   right fold along an axis
``scan``           ``f\\``     each prefix reduced
``inner``          ``a f.g b`` ``f/`` of ``g`` over last of a, first of b
``rank``           ``f⍤k``     ``f`` applied to the rank-``k`` cells
``stencil``        ``f⌺s``     ``f`` applied to each (centred) window
``windows``        ``{⍵}⌺s``   the windows themselves, a strided view
=================  ==========  ==============================================
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "RankError", "LengthError", "DomainError",
    "pervasive", "outer", "reduce", "scan", "inner", "rank", "stencil",
    "windows", "rotate", "reverse", "rot180", "transpose", "take", "drop",
    "reshape", "catenate",
]


class RankError(ValueError):
    """An argument has the wrong number of axes (APL's RANK ERROR)."""


class LengthError(ValueError):
    """Axis lengths do not agree (APL's LENGTH ERROR)."""


class DomainError(ValueError):
    """A value is outside what the function accepts (APL's DOMAIN ERROR)."""


# ---------------------------------------------------------------- helpers


def _array(a, name, func):
    """``a`` as an ndarray; refuse what numpy cannot hold as numbers."""
    if isinstance(a, np.ndarray):
        arr = a
    else:
        if callable(a) or isinstance(a, (str, bytes, dict, set)):
            raise TypeError(f"{func}: {name} must be an array or a number; "
                            f"got {type(a).__name__}")
        try:
            arr = np.asarray(a)
        except ValueError as err:  # ragged nested lists
            raise TypeError(f"{func}: {name} must be a rectangular array; "
                            f"got a ragged {type(a).__name__}") from err
    if arr.dtype == object:
        raise TypeError(f"{func}: {name} must hold numbers; got dtype=object")
    return arr


def _axis(axis, ndim, func, name="axis"):
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"{func}: {name} must be an integer; got {axis!r}")
    if not -ndim <= axis < ndim:
        raise RankError(f"{func}: {name}={axis} is out of range for an array "
                        f"of rank {ndim}; expected {-ndim} <= {name} < {ndim}")
    return int(axis) % ndim


def _is_fast(f):
    return isinstance(f, np.ufunc) or getattr(f, "pervasive", False)


def pervasive(f):
    """Mark ``f`` as rank-polymorphic, so combinators pass it whole arrays.

    A pervasive function applies itself item by item when given arrays (as
    APL's scalar functions do) or, for ``rank`` and ``stencil``, treats the
    leading axes of its argument as a frame of cells.

    >>> double = pervasive(lambda x: 2 * x)
    >>> outer(pervasive(lambda x, y: 10 * x + y), [1, 2], [3, 4])
    array([[13, 14],
           [23, 24]])
    """
    f.pervasive = True
    return f


def _elementwise(f, nin):
    """A function applying a Python scalar function item by item."""
    vf = np.frompyfunc(f, nin, 1)

    def g(*args):
        out = vf(*args)
        return np.array(out.tolist()) if isinstance(out, np.ndarray) else out
    return g


# ----------------------------------------------------------------- outer


def outer(f, a, b):
    """Outer product ``a ∘.f b``: ``z[i…, j…] = f(a[i…], b[j…])``.

    The result has shape ``a.shape + b.shape``.

    >>> outer(np.multiply, np.arange(1, 4), np.arange(1, 3))
    array([[1, 2],
           [2, 4],
           [3, 6]])
    >>> outer(lambda x, y: max(x, y), [1, 5], [3])
    array([[3],
           [5]])
    """
    a, b = _array(a, "a", "outer"), _array(b, "b", "outer")
    if not _is_fast(f):
        f = _elementwise(f, 2)
    return np.asarray(f(a.reshape(a.shape + (1,) * b.ndim), b))


# ---------------------------------------------------------------- reduce

# APL's identity elements: what f/ of an empty axis gives.
_IDENTITY = {
    np.add: 0, np.subtract: 0, np.multiply: 1, np.divide: 1,
    np.true_divide: 1, np.power: 1, np.maximum: -np.inf, np.fmax: -np.inf,
    np.minimum: np.inf, np.fmin: np.inf, np.logical_and: True,
    np.logical_or: False, np.logical_xor: False, np.equal: True,
    np.not_equal: False, np.bitwise_and: -1, np.bitwise_or: 0,
    np.bitwise_xor: 0,
}
_ASSOCIATIVE = (np.add, np.multiply, np.maximum, np.minimum, np.fmax, np.fmin,
                np.logical_and, np.logical_or, np.logical_xor, np.bitwise_and,
                np.bitwise_or, np.bitwise_xor)


def reduce(f, a, axis=-1):
    """Reduce ``f/ a`` (``f⌿ a`` for ``axis=0``): a right fold, as APL folds.

    ``f/ a b c d`` is ``a f (b f (c f d))``, so ``-/ 1 2 3`` is ``1-(2-3)``.
    The axis disappears from the result. An empty axis gives ``f``'s
    identity element where APL has one (``+ - × ÷ ⌈ ⌊ ∧ ∨ = ≠ *``).

    Raises
    ------
    DomainError
        ``f`` has no identity and the axis is empty.

    >>> print(reduce(np.subtract, np.array([1, 2, 3])))
    2
    >>> reduce(np.add, np.arange(6).reshape(2, 3), axis=0)
    array([3, 5, 7])
    >>> reduce(np.maximum, np.zeros((2, 0)))
    array([-inf, -inf])
    """
    a = _array(a, "a", "reduce")
    if a.ndim == 0:
        a = a.reshape(1)
    ax = _axis(axis, a.ndim, "reduce")
    n = a.shape[ax]
    if n == 0:
        if f not in _IDENTITY:
            raise DomainError(f"reduce: {getattr(f, '__name__', f)} has no "
                              f"identity element, so it cannot reduce the "
                              f"empty axis {axis} of a.shape={a.shape}")
        ident = _IDENTITY[f]
        dtype = np.result_type(a.dtype, np.asarray(ident).dtype)
        return np.full(a.shape[:ax] + a.shape[ax + 1:], ident, dtype)
    if f in _ASSOCIATIVE:
        return f.reduce(a, axis=ax)
    if f is np.subtract:  # a - (b - (c - d)) = a - b + c - d
        signs = np.where(np.arange(n) % 2 == 0, 1, -1)
        return np.tensordot(signs, np.moveaxis(a, ax, 0), axes=1)[()]
    if not _is_fast(f):
        f = _elementwise(f, 2)
    a = np.moveaxis(a, ax, 0)
    acc = a[-1]
    for item in a[-2::-1]:  # a loop over the axis only, whole cells at once
        acc = f(item, acc)
    return np.asarray(acc)[()] if np.ndim(acc) == 0 else np.asarray(acc)


def scan(f, a, axis=-1):
    """Scan ``f\\ a``: item ``i`` is ``f/`` of the first ``i+1`` items.

    Associative ufuncs use ``f.accumulate``; any other ``f`` reduces each
    prefix with :func:`reduce`, so ``-\\`` gives APL's alternating sums.

    >>> scan(np.add, np.array([1, 2, 3, 4]))
    array([ 1,  3,  6, 10])
    >>> scan(np.subtract, np.array([1, 2, 3, 4]))
    array([ 1, -1,  2, -2])
    """
    a = _array(a, "a", "scan")
    if a.ndim == 0:
        a = a.reshape(1)
    ax = _axis(axis, a.ndim, "scan")
    if f in _ASSOCIATIVE:
        return f.accumulate(a, axis=ax)
    moved = np.moveaxis(a, ax, -1)
    cells = [reduce(f, moved[..., :i + 1], axis=-1)
             for i in range(moved.shape[-1])]
    if not cells:
        return a.copy()
    return np.moveaxis(np.stack([np.asarray(c) for c in cells], axis=-1), -1, ax)


# ----------------------------------------------------------------- inner


def inner(f, g, a, b):
    """Inner product ``a f.g b``: ``f/`` over the last axis of ``a`` and first of ``b``.

    ``z[i…, j…] = f/ g(a[i…, :], b[:, j…])``, shape
    ``a.shape[:-1] + b.shape[1:]``. ``+.×`` is the matrix product and goes
    through ``np.tensordot``.

    Raises
    ------
    LengthError
        ``a.shape[-1] != b.shape[0]``.

    >>> inner(np.add, np.multiply, [[1, 2], [3, 4]], [[5, 6], [7, 8]])
    array([[19, 22],
           [43, 50]])
    >>> inner(np.maximum, np.add, [[1, 2]], [[10], [0]])  # ⌈.+
    array([[11]])
    """
    a, b = _array(a, "a", "inner"), _array(b, "b", "inner")
    a = a.reshape(1) if a.ndim == 0 else a
    b = b.reshape(1) if b.ndim == 0 else b
    if a.shape[-1] != b.shape[0]:
        raise LengthError(f"inner: a.shape[-1] must equal b.shape[0]; got "
                          f"a.shape={a.shape}, b.shape={b.shape}")
    if f is np.add and g is np.multiply:
        return np.tensordot(a, b, axes=([-1], [0]))
    bl = np.moveaxis(b, 0, -1)
    left = a.reshape(a.shape[:-1] + (1,) * (b.ndim - 1) + a.shape[-1:])
    gf = g if _is_fast(g) else _elementwise(g, 2)
    return reduce(f, np.asarray(gf(left, bl)), axis=-1)


# ------------------------------------------------------------------ rank


def _cell_rank(k, ndim):
    k = int(k)
    return min(k, ndim) if k >= 0 else max(0, ndim + k)


def _mix(results, frame):
    """Assemble cell results into one array, padding to a common shape (↑)."""
    results = [np.asarray(r) for r in results]
    if not results:
        return np.zeros(frame)
    ndim = max(r.ndim for r in results)
    results = [r.reshape((1,) * (ndim - r.ndim) + r.shape) for r in results]
    shape = tuple(max(s) for s in zip(*(r.shape for r in results))) if ndim else ()
    if all(r.shape == shape for r in results):
        return np.stack(results).reshape(frame + shape)
    return np.stack([take(r, shape) for r in results]).reshape(frame + shape)


def rank(f, k):
    """Rank operator ``f⍤k``: a function applying ``f`` to the rank-``k`` cells.

    ``k`` is one number, or ``(kl, kr)`` for a dyadic ``f``. A negative rank
    counts from the argument's rank (``f⍤¯1`` applies to the major cells).
    The frame is the shape left of the cells; results are assembled in the
    frame, padded to a common shape as APL's mix does. For a dyadic call the
    two frames must be equal, or one of them empty (a single cell extends).

    Raises
    ------
    LengthError
        The two frames disagree.

    >>> rows_sum = rank(lambda v: v.sum(), 1)
    >>> rows_sum(np.arange(6).reshape(2, 3))
    array([ 3, 12])
    >>> rank(lambda a, b: a * b.sum(), (0, 1))(np.array([1, 2]), np.arange(6).reshape(2, 3))
    array([ 3, 24])
    """
    ks = (k,) if isinstance(k, numbers.Integral) else tuple(k)
    if not ks or len(ks) > 3 or not all(isinstance(i, numbers.Integral) for i in ks):
        raise TypeError(f"rank: k must be an integer or 1 to 3 integers; got {k!r}")
    monadic_k = ks[0] if len(ks) != 2 else ks[1]
    left_k, right_k = {1: (ks[0], ks[0]), 2: ks, 3: ks[1:]}[len(ks)]
    fast = _is_fast(f)

    def ranked(*args):
        if len(args) == 1:
            a = _array(args[0], "argument", "rank")
            r = _cell_rank(monadic_k, a.ndim)
            frame = a.shape[:a.ndim - r]
            if fast or not frame:
                return np.asarray(f(a))
            cells = a.reshape((-1,) + a.shape[a.ndim - r:])
            return _mix([f(c) for c in cells], frame)
        if len(args) != 2:
            raise TypeError(f"rank: the derived function takes 1 or 2 arrays; got {len(args)}")
        a = _array(args[0], "left argument", "rank")
        b = _array(args[1], "right argument", "rank")
        ra, rb = _cell_rank(left_k, a.ndim), _cell_rank(right_k, b.ndim)
        fa, fb = a.shape[:a.ndim - ra], b.shape[:b.ndim - rb]
        if fa and fb and fa != fb:
            raise LengthError(f"rank: the frames must agree or one be empty; got "
                              f"left frame {fa} (shape {a.shape}, rank {ra} cells) "
                              f"and right frame {fb} (shape {b.shape}, rank {rb} cells)")
        frame = fa or fb
        if not frame:
            return np.asarray(f(a, b))
        n = int(np.prod(frame))
        ca = a.reshape((-1,) + a.shape[a.ndim - ra:]) if fa else [a] * n
        cb = b.reshape((-1,) + b.shape[b.ndim - rb:]) if fb else [b] * n
        return _mix([f(x, y) for x, y in zip(ca, cb)], frame)

    ranked.__name__ = f"{getattr(f, '__name__', 'f')}⍤{k}"
    return ranked


# --------------------------------------------------------------- stencil


def _size_step(size, step, ndim, func):
    size = (size,) if isinstance(size, numbers.Integral) else tuple(size)
    step = (step,) * len(size) if isinstance(step, numbers.Integral) else tuple(step)
    if not all(isinstance(s, numbers.Integral) for s in size + step):
        raise TypeError(f"{func}: size and step must be integers; got size={size}, step={step}")
    if len(size) > ndim:
        raise RankError(f"{func}: size has {len(size)} axes but the array has rank "
                        f"{ndim}; expected at most {ndim}")
    if len(step) != len(size):
        raise LengthError(f"{func}: step must have one entry per axis of size; "
                          f"got size={size}, step={step}")
    if any(s < 1 for s in size) or any(s < 1 for s in step):
        raise DomainError(f"{func}: size and step must be positive; got size={size}, step={step}")
    return tuple(int(s) for s in size), tuple(int(s) for s in step)


def _edge_pad(n, size, step):
    """Dyalog's zero fill for one axis: (before, after) for ``⌈n÷step`` windows."""
    before = (size - 1) // 2
    positions = -(-n // step)
    after = max(0, (positions - 1) * step + size - before - n)
    return before, after


def windows(a, size, step=1, valid=True):
    """Windows ``{⍵}⌺size``: every (``step``-spaced) window of the leading axes.

    ``size`` and ``step`` name the first ``len(size)`` axes; the trailing axes
    are taken whole. The result has shape ``positions + size + trailing``.
    With ``valid=True`` (the default) only complete windows are kept:
    ``positions[d] = (n[d] - size[d]) // step[d] + 1`` and the result is a
    read-only strided view of ``a``. With ``valid=False`` the array is
    zero-filled as Dyalog's ``⌺`` does (centred windows, ``⌈n÷step``
    positions), and the view is of the filled copy.

    Raises
    ------
    ValueError
        A window larger than the array in valid mode.

    >>> windows(np.arange(5), 3)
    array([[0, 1, 2],
           [1, 2, 3],
           [2, 3, 4]])
    >>> windows(np.arange(5), 2, step=2, valid=False)
    array([[0, 1],
           [2, 3],
           [4, 0]])
    """
    a = _array(a, "a", "windows")
    size, step = _size_step(size, step, a.ndim, "windows")
    d = len(size)
    if not valid:
        pads = [_edge_pad(a.shape[i], size[i], step[i]) for i in range(d)]
        a = np.pad(a, pads + [(0, 0)] * (a.ndim - d))
    elif any(s > n for s, n in zip(size, a.shape)):
        raise DomainError(f"windows: size={size} is larger than the array's leading "
                          f"axes {a.shape[:d]} (a.shape={a.shape}); in valid mode "
                          f"each window must fit")
    view = sliding_window_view(a, size, axis=tuple(range(d)))
    # sliding_window_view puts the window axes last; move them behind the positions
    view = np.moveaxis(view, tuple(range(a.ndim, a.ndim + d)), tuple(range(d, 2 * d)))
    return view[tuple(slice(None, None, s) for s in step)]


def stencil(f, a, size, step=1, valid=False, edges=False):
    """Stencil ``f⌺size`` (Dyalog's ``⌺``): ``f`` of each window of ``a``.

    Windows are centred on each item (an even size has one more item after
    the centre than before), and cells beyond the edges are zero, as in
    Dyalog. With ``step`` the windows start every ``step`` items, giving
    ``⌈n÷step`` of them. ``valid=True`` keeps only windows inside the array.
    With ``edges=True``, ``f`` is called as ``f(pad, window)`` where ``pad``
    is Dyalog's ``⍺``: per axis, the count of fill items at the start
    (positive) or the end (negative) of that window.

    The fast path (``f`` marked :func:`pervasive`) calls ``f`` once with all
    the windows, shape ``positions + window``, and ``f`` must reduce the
    window axes; otherwise ``f`` is called once per window.

    >>> stencil(lambda w: w.sum(), np.arange(1, 5), 3)
    array([3, 6, 9, 7])
    >>> stencil(pervasive(lambda w: w.sum(axis=-1)), np.arange(1, 5), 3, valid=True)
    array([6, 9])
    >>> stencil(lambda p, w: p[0], np.arange(1, 5), 3, edges=True)
    array([ 1,  0,  0, -1])
    """
    a = _array(a, "a", "stencil")
    size, step = _size_step(size, step, a.ndim, "stencil")
    win = windows(a, size, step, valid=valid)
    d = len(size)
    frame = win.shape[:d]
    if edges:
        pads = []
        for i in range(d):
            before, _ = (0, 0) if valid else _edge_pad(a.shape[i], size[i], step[i])
            start = np.arange(frame[i]) * step[i] - before
            lead = np.maximum(0, -start)
            tail = np.maximum(0, start + size[i] - a.shape[i])
            pads.append(lead - tail)
        grids = np.meshgrid(*pads, indexing="ij")
        pad = np.stack(grids, axis=-1).reshape(-1, d)
        cells = win.reshape((-1,) + win.shape[d:])
        return _mix([f(p, c) for p, c in zip(pad, cells)], frame)
    if _is_fast(f):
        return np.asarray(f(win))
    cells = win.reshape((-1,) + win.shape[d:])
    return _mix([f(c) for c in cells], frame)


# ------------------------------------------------------------ primitives


def rotate(a, n, axis=-1):
    """Rotate ``n⌽a`` (``n⊖a`` for ``axis=0``): items move ``n`` places left.

    >>> rotate(np.arange(5), 2)
    array([2, 3, 4, 0, 1])
    >>> rotate(np.arange(5), -1)
    array([4, 0, 1, 2, 3])
    """
    a = _array(a, "a", "rotate")
    if a.ndim == 0:
        return a.copy()
    ax = _axis(axis, a.ndim, "rotate")
    return np.roll(a, -int(n), axis=ax)


def reverse(a, axis=-1):
    """Reverse ``⌽a`` (``⊖a`` for ``axis=0``): a view with one axis flipped.

    >>> reverse(np.arange(4))
    array([3, 2, 1, 0])
    """
    a = _array(a, "a", "reverse")
    if a.ndim == 0:
        return a
    return np.flip(a, axis=_axis(axis, a.ndim, "reverse"))


def rot180(a):
    """Rotate by 180° ``⊖⌽a`` in the first two axes (a kernel's ``kh, kw``).

    Convolution is cross-correlation with ``rot180`` of the kernel.

    >>> rot180(np.array([[1, 2], [-1, 0]]))
    array([[ 0, -1],
           [ 2,  1]])
    """
    a = _array(a, "a", "rot180")
    if a.ndim < 2:
        raise RankError(f"rot180: a must have at least 2 axes; got a.shape={a.shape}")
    return a[::-1, ::-1]


def transpose(a, perm=None):
    """Transpose ``⍉a``, or dyadic ``perm⍉a`` with APL's meaning of ``perm``.

    Monadic ``⍉`` reverses the axes. In ``perm⍉a``, ``perm[i]`` is where axis
    ``i`` of ``a`` goes in the result (the inverse of numpy's ``axes``); a
    result axis named twice takes the diagonal.

    >>> transpose(np.arange(6).reshape(2, 3)).shape
    (3, 2)
    >>> transpose(np.zeros((2, 3, 4)), (2, 0, 1)).shape
    (3, 4, 2)
    >>> transpose(np.arange(9).reshape(3, 3), (0, 0))  # the diagonal
    array([0, 4, 8])
    """
    a = _array(a, "a", "transpose")
    if perm is None:
        return a.T
    perm = tuple(int(p) for p in perm)
    if len(perm) != a.ndim:
        raise LengthError(f"transpose: perm must name one result axis per axis of a; "
                          f"got perm={perm}, a.shape={a.shape}")
    r = max(perm) + 1 if perm else 0
    if sorted(set(perm)) != list(range(r)) or min(perm, default=0) < 0:
        raise DomainError(f"transpose: perm must use every result axis 0..{r - 1}; got perm={perm}")
    if r == a.ndim:
        return np.transpose(a, np.argsort(perm))
    letters = "abcdefghijklmnopqrstuvwxyz"
    src = "".join(letters[p] for p in perm)
    return np.einsum(f"{src}->{letters[:r]}", a).copy()


def _counts(n, ndim, func):
    n = (n,) if isinstance(n, numbers.Integral) else tuple(n)
    if not all(isinstance(i, numbers.Integral) for i in n):
        raise TypeError(f"{func}: n must be integers; got {n!r}")
    if len(n) > ndim:
        raise LengthError(f"{func}: n has {len(n)} counts but a has rank {ndim}; "
                          f"expected at most {ndim}")
    return tuple(int(i) for i in n)


def take(a, n):
    """Take ``n↑a``: the first ``n`` items of each leading axis (last, if negative).

    Taking more items than there are pads with zeros (overtake).

    >>> take(np.arange(1, 6), 2)
    array([1, 2])
    >>> take(np.arange(1, 6), -7)
    array([0, 0, 1, 2, 3, 4, 5])
    >>> take(np.arange(4).reshape(2, 2), (3, -1))
    array([[1],
           [3],
           [0]])
    """
    a = _array(a, "a", "take")
    if a.ndim == 0:
        a = a.reshape(1)
    n = _counts(n, a.ndim, "take")
    shape = tuple(abs(i) for i in n) + a.shape[len(n):]
    out = np.zeros(shape, a.dtype)
    src, dst = [], []
    for i, m in enumerate(n):
        have, want = a.shape[i], abs(m)
        k = min(have, want)
        if m >= 0:
            src.append(slice(0, k))
            dst.append(slice(0, k))
        else:
            src.append(slice(have - k, have))
            dst.append(slice(want - k, want))
    out[tuple(dst)] = a[tuple(src)]
    return out


def drop(a, n):
    """Drop ``n↓a``: all but the first ``n`` items of each leading axis (last, if negative).

    >>> drop(np.arange(1, 6), 2)
    array([3, 4, 5])
    >>> drop(np.arange(1, 6), -2)
    array([1, 2, 3])
    """
    a = _array(a, "a", "drop")
    if a.ndim == 0:
        a = a.reshape(1)
    n = _counts(n, a.ndim, "drop")
    index = tuple(slice(m, None) if m >= 0 else slice(0, max(0, a.shape[i] + m))
                  for i, m in enumerate(n))
    return a[index]


def reshape(a, shape):
    """Reshape ``shape⍴a``: the items of ``a`` in ravel order, reused cyclically.

    An empty ``a`` fills with zeros, as APL fills with its prototype.

    >>> reshape(np.arange(1, 4), (2, 4))
    array([[1, 2, 3, 1],
           [2, 3, 1, 2]])
    """
    a = _array(a, "a", "reshape")
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    if any(int(s) < 0 for s in shape):
        raise DomainError(f"reshape: shape must be non-negative; got {shape}")
    if a.size == 0:
        return np.zeros(shape, a.dtype)
    return np.resize(a.ravel(), shape)


def catenate(a, b, axis=-1):
    """Catenate ``a,b`` (``a⍪b`` for ``axis=0``), a scalar extending along the axis.

    >>> catenate(np.arange(3), 9)
    array([0, 1, 2, 9])
    >>> catenate(np.zeros((1, 2), int), np.ones((2, 2), int), axis=0)
    array([[0, 0],
           [1, 1],
           [1, 1]])
    """
    a, b = _array(a, "a", "catenate"), _array(b, "b", "catenate")
    if a.ndim == 0 and b.ndim == 0:
        return np.array([a, b])
    ref = a if a.ndim >= b.ndim else b
    ax = _axis(axis, ref.ndim, "catenate")

    def lift(x):
        if x.ndim == ref.ndim:
            return x
        if x.ndim == 0:
            shape = list(ref.shape)
            shape[ax] = 1
            return np.broadcast_to(x, shape)
        if x.ndim == ref.ndim - 1:
            return np.expand_dims(x, ax)
        raise RankError(f"catenate: ranks must differ by at most one; got "
                        f"a.shape={a.shape}, b.shape={b.shape}")
    a2, b2 = lift(a), lift(b)
    other = [i for i in range(ref.ndim) if i != ax]
    if any(a2.shape[i] != b2.shape[i] for i in other):
        raise LengthError(f"catenate: shapes must agree off axis {axis}; got "
                          f"a.shape={a.shape}, b.shape={b.shape}")
    return np.concatenate([a2, b2], axis=ax)

