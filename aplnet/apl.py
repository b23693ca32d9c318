"""APL's operators and the few primitives the notes use, as numpy combinators.

Each combinator mirrors one APL operator and takes the operand first, then
the arrays, as APL does. Each has a vectorised fast path, taken when the
operand is a numpy ufunc or is marked :func:`pervasive` (it accepts whole
arrays and treats leading axes as a frame), and a generic path that calls
any Python function once per cell.

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
``rotate``         ``n⌽a``     items move ``n`` places towards the front
``reverse``        ``⌽a ⊖a``   one axis flipped
``rot180``         ``⊖⌽a``     first two axes flipped (a kernel turned round)
``transpose``      ``p⍉a``     axis ``i`` of ``a`` becomes axis ``p[i]``
``take``           ``n↑a``     first (last) items, zero fill past the end
``drop``           ``n↓a``     all but the first (last) items
``reshape``        ``s⍴a``     items in ravel order, reused cyclically
``catenate``       ``a,b``     joined along an axis, a scalar extending
=================  ==========  ==============================================

Errors are ``ValueError`` subclasses named after APL's (:class:`RankError`,
:class:`LengthError`, :class:`DomainError`), or ``TypeError`` for an argument
of the wrong kind; each message names the function, the argument, what it
got and what it expected.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import room

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


# ---------------------------------------------------------------- checking
# (how much memory is free is aplnet.room's business; _fits asks it)


def as_array(a, name, func):
    """``a`` as a numeric ndarray, or a TypeError naming ``func`` and ``name``.

    The argument check of every combinator, public for the checks of the
    layers (:mod:`aplnet.checks`) and of the network.

    >>> as_array([[1, 2], [3, 4]], "a", "demo").shape
    (2, 2)
    >>> as_array("12", "a", "demo")
    Traceback (most recent call last):
    ...
    TypeError: demo: a must be an array or a number; got str
    """
    if isinstance(a, np.ndarray):
        arr = a
    elif isinstance(a, (numbers.Number, np.generic, list, tuple)) or hasattr(a, "__array__"):
        try:
            arr = np.asarray(a)
        except ValueError as err:  # ragged nested lists
            raise TypeError(f"{func}: {name} must be a rectangular array; got a "
                            f"ragged {type(a).__name__}") from err
    else:
        raise TypeError(f"{func}: {name} must be an array or a number; "
                        f"got {type(a).__name__}")
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{func}: {name} must hold numbers; got dtype={arr.dtype} "
                        f"(shape {arr.shape})")
    return arr


def _integer(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def _fits(shape, dtype, func, what):
    """Refuse, before allocating it, an array of ``shape`` that memory cannot hold."""
    reason = room.shortfall(shape, dtype)
    if reason:
        raise DomainError(f"{func}: {what} {reason}")


def as_ints(x, name, func):
    """One integer or a sequence of them, as a tuple of ints; else a TypeError naming them.

    >>> as_ints(3, "n", "demo"), as_ints([2, -1], "n", "demo")
    ((3,), (2, -1))
    """
    items = (x,) if _integer(x) else x
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{func}: {name} must be an integer or a sequence of "
                        f"integers; got {x!r}") from None
    if not all(_integer(i) for i in items):
        raise TypeError(f"{func}: {name} must be an integer or a sequence of "
                        f"integers; got {x!r}")
    return tuple(int(i) for i in items)


def _axis(axis, shape, func, name="a"):
    """``axis`` as a non-negative index into ``shape``; negative counts from the end."""
    ndim = len(shape)
    if not _integer(axis):
        raise TypeError(f"{func}: axis must be an integer; got {axis!r}")
    if not -ndim <= axis < ndim:
        raise RankError(f"{func}: axis={axis} is out of range for {name}.shape={shape}; "
                        f"expected {-ndim} <= axis < {ndim}")
    return int(axis) % ndim


def _operand(f, func, nargs, name="f"):
    """Refuse a non-callable operand, or a ufunc taking the wrong number of arrays.

    A one-argument ufunc given two arrays would write its result into the
    second one (numpy's ``out``), so the count is checked up front.
    """
    if not callable(f):
        raise TypeError(f"{func}: {name} must be a function; got {type(f).__name__}")
    if isinstance(f, np.ufunc) and f.nin != nargs:
        raise TypeError(f"{func}: {name} is called with {nargs} array(s) here; got "
                        f"the ufunc {f.__name__}, which takes {f.nin}")


def _is_fast(f):
    return isinstance(f, np.ufunc) or getattr(f, "pervasive", False) is True


def _name(f):
    return getattr(f, "__name__", type(f).__name__)


def _frame_kept(z, frame, func, f):
    """A pervasive ``f`` must return one result cell per frame position."""
    z = np.asarray(z)
    if not isinstance(f, np.ufunc) and z.shape[:len(frame)] != frame:
        raise LengthError(f"{func}: f={_name(f)} is marked pervasive, so its result must "
                          f"keep the frame {frame} as its leading axes; got shape "
                          f"{z.shape}")
    return z


def _scalar_if_0d(z):
    """Rank-0 results are numpy scalars, as numpy's own reductions give."""
    z = np.asarray(z)
    return z[()] if z.ndim == 0 else z


# ------------------------------------------------- cell-by-cell application


def pervasive(f):
    """Mark ``f`` as rank-polymorphic, so combinators call it once on whole arrays.

    APL's scalar functions are pervasive: given arrays they apply item by
    item. Marking ``f`` promises that, called on an array whose leading axes
    are a frame of cells, it returns the frame of its results on each cell,
    for the cells the combinator uses: single items (with numpy broadcasting)
    for :func:`outer`, :func:`reduce`, :func:`scan` and :func:`inner`, rank-k
    cells for :func:`rank`, windows for :func:`stencil`. Combinators then take
    their fast path and check that the result keeps the frame.

    Parameters
    ----------
    f : callable
        The function to mark. Functions that refuse attributes (builtins) are
        wrapped first.

    Returns
    -------
    callable
        ``f`` itself (or its wrapper), with ``f.pervasive = True``.

    Raises
    ------
    TypeError
        ``f`` is not callable.

    See Also
    --------
    rank : ``f⍤k``, which makes any function treat leading axes as a frame.

    Examples
    --------
    >>> tens = pervasive(lambda x, y: 10 * x + y)
    >>> outer(tens, [1, 2], [3, 4])
    array([[13, 14],
           [23, 24]])
    """
    if not callable(f):
        raise TypeError(f"pervasive: f must be a function; got {type(f).__name__}")
    try:
        f.pervasive = True
        return f
    except AttributeError:
        @functools.wraps(f)
        def marked(*args):
            return f(*args)
        marked.pervasive = True
        return marked


def _mix(results, frame):
    """Assemble cell results into ``frame + cell``, as APL's mix ``↑`` does.

    Results of lower rank gain leading axes of length 1; shorter ones are
    padded with zeros to the longest along each axis.
    """
    results = [np.asarray(r) for r in results]
    ndim = max(r.ndim for r in results)
    results = [r.reshape((1,) * (ndim - r.ndim) + r.shape) for r in results]
    shape = tuple(max(s) for s in zip(*(r.shape for r in results))) if ndim else ()
    if any(r.shape != shape for r in results):
        results = [take(r, shape) for r in results]
    return np.stack(results).reshape(frame + shape)


def _assemble(results, frame, prototype, dtype):
    """Mix the results of ``f`` on each cell, or, for an empty frame, use f's prototype.

    With no cells APL still learns the result's cell shape by applying
    ``f`` to fill cells (zeros); ``prototype`` does that. If ``f`` fails on
    them the cells are taken to be scalars of ``dtype``.
    """
    if results:
        return _mix(results, frame)
    try:
        proto = np.asarray(prototype())
    except Exception:  # APL's rule: a function that fails on fill gives simple scalars
        return np.zeros(frame, dtype)
    return np.zeros(frame + proto.shape, proto.dtype)


def _each(f, arrays, func, scalar=False):
    """``f`` applied item by item to same-shaped ``arrays``, the generic path.

    Items are numpy scalars, so float32 stays float32. With ``scalar`` each
    result must be a scalar (reduce, scan and inner fold scalars).
    """
    frame = arrays[0].shape
    results = [f(*items) for items in zip(*(x.flat for x in arrays))]
    if scalar:
        for r in results:
            if np.ndim(r) != 0:
                raise DomainError(f"{func}: f={_name(f)} must return a scalar for each "
                                  f"pair of items; got a result of shape {np.shape(r)}")
    return _assemble(results, frame, lambda: f(*(x.dtype.type(0) for x in arrays)),
                     arrays[0].dtype)


# ----------------------------------------------------------------- outer


def outer(f, a, b):
    """Outer product ``a ∘.f b``: ``z[i…, j…] = f(a[i…], b[j…])``.

    Parameters
    ----------
    f : callable
        A dyadic function. A numpy ufunc or a :func:`pervasive` function is
        called once with ``a`` reshaped to ``a.shape + (1,) * b.ndim`` against
        ``b``; any other function is called once per pair of items.
    a, b : array_like
        Any shapes, scalars included.

    Returns
    -------
    ndarray
        Shape ``a.shape + b.shape`` (followed by the result shape of ``f``
        when ``f`` returns arrays, padded as APL's mix pads).

    Raises
    ------
    TypeError
        ``f`` is not callable or is a one-argument ufunc; ``a`` or ``b`` is
        not a numeric array.

    See Also
    --------
    inner : ``a f.g b``, the product that reduces as it goes.

    Examples
    --------
    >>> outer(np.multiply, np.arange(1, 4), np.arange(1, 3))
    array([[1, 2],
           [2, 4],
           [3, 6]])
    >>> outer(lambda x, y: max(x, y), [1, 5], [3])
    array([[3],
           [5]])
    """
    _operand(f, "outer", 2)
    a, b = as_array(a, "a", "outer"), as_array(b, "b", "outer")
    frame = a.shape + b.shape
    left = a.reshape(a.shape + (1,) * b.ndim)
    if _is_fast(f):
        return _frame_kept(f(left, b), frame, "outer", f)
    return _each(f, np.broadcast_arrays(left, b), "outer")


# ---------------------------------------------------------------- reduce

# What f/ of an empty axis gives: APL's identity elements (right identities
# for - ÷ *), plus numpy's bitwise functions.
_IDENTITY = (
    (np.add, 0), (np.subtract, 0), (np.multiply, 1), (np.divide, 1),
    (np.power, 1), (np.maximum, -np.inf), (np.fmax, -np.inf),
    (np.minimum, np.inf), (np.fmin, np.inf), (np.logical_and, True),
    (np.logical_or, False), (np.logical_xor, False), (np.equal, True),
    (np.not_equal, False), (np.bitwise_and, -1), (np.bitwise_or, 0),
    (np.bitwise_xor, 0),
)
_ASSOCIATIVE = (np.add, np.multiply, np.maximum, np.minimum, np.fmax, np.fmin,
                np.logical_and, np.logical_or, np.logical_xor, np.bitwise_and,
                np.bitwise_or, np.bitwise_xor)


def _identity(f):
    """``f``'s identity element, or None where APL has none."""
    return next((e for g, e in _IDENTITY if g is f), None)


def _associative(f):
    return any(f is g for g in _ASSOCIATIVE)


def _alternating(n, axis, ndim, dtype):
    """1, -1, 1, … along ``axis``, shaped to broadcast against a rank-``ndim`` array."""
    signs = np.where(np.arange(n) % 2 == 0, 1, -1).astype(dtype)
    return signs.reshape((n,) + (1,) * (ndim - axis - 1))


def reduce(f, a, axis=-1):
    """Reduce ``f/ a`` (``f⌿ a`` for ``axis=0``): a right fold, as APL folds.

    ``f/ a b c d`` is ``a f (b f (c f d))``, so ``-/ 1 2 3`` is ``1-(2-3)``,
    which is 2, not numpy's left fold ``(1-2)-3``. One item reduces to
    itself without calling ``f``. An empty axis gives ``f``'s identity
    element where APL has one: 0 for ``+ - ≠ ∨``, 1 for ``× ÷ * = ∧``,
    ``-inf`` for ``⌈`` and ``inf`` for ``⌊``.

    Associative ufuncs go through ``f.reduce`` and ``np.subtract`` through an
    alternating sum; other ufuncs and pervasive functions fold one item of
    the axis at a time over whole cells; any other function is called once
    per pair of items and must return a scalar.

    Parameters
    ----------
    f : callable
        A dyadic function.
    a : array_like
        Any shape; a scalar is a one-item vector.
    axis : int, default -1
        The axis folded away (negative counts from the end).

    Returns
    -------
    ndarray or numpy scalar
        Shape ``a.shape`` without ``axis``; a numpy scalar for a vector.

    Raises
    ------
    DomainError
        The axis is empty and ``f`` has no identity element.
    RankError
        ``axis`` is out of range for ``a``.
    TypeError
        ``f`` is not a dyadic function; ``a`` is not a numeric array.

    See Also
    --------
    scan : every prefix reduced.

    Examples
    --------
    >>> print(reduce(np.subtract, np.array([1, 2, 3])))
    2
    >>> reduce(np.add, np.arange(6).reshape(2, 3), axis=0)
    array([3, 5, 7])
    >>> reduce(np.maximum, np.zeros((2, 0)))
    array([-inf, -inf])
    """
    _operand(f, "reduce", 2)
    a = as_array(a, "a", "reduce")
    if a.ndim == 0:
        a = a.reshape(1)
    ax = _axis(axis, a.shape, "reduce")
    n = a.shape[ax]
    if n == 0:
        return _empty_reduce(f, a, ax, "reduce")
    if _associative(f):
        return f.reduce(a, axis=ax)
    if f is np.subtract and a.dtype.kind in "iufc":  # a - (b - (c - d)) = a - b + c - d
        return np.add.reduce(a * _alternating(n, ax, a.ndim, a.dtype), axis=ax)
    return _scalar_if_0d(_fold(f, np.moveaxis(a, ax, 0), "reduce"))


def _empty_reduce(f, a, ax, func):
    ident = _identity(f)
    if ident is None:
        raise DomainError(f"{func}: f={_name(f)} has no identity element, so it cannot "
                          f"reduce the empty axis {ax} of shape {a.shape}; APL gives "
                          f"identities for + × ⌈ ⌊ ∧ ∨ - ÷ * = ≠")
    shape = a.shape[:ax] + a.shape[ax + 1:]
    return _scalar_if_0d(np.full(shape, ident, np.result_type(a.dtype, ident)))


def _fold(f, items, func):
    """Right fold of the major cells of ``items``: the last is the seed."""
    acc = items[-1]
    for item in items[-2::-1]:  # a loop along the axis only, whole cells at a time
        if isinstance(f, np.ufunc):
            acc = f(item, acc)
        elif _is_fast(f):
            acc = np.asarray(f(item, acc))
            if acc.shape != item.shape:
                raise DomainError(f"{func}: f={_name(f)} is marked pervasive, so on arrays "
                                  f"of shape {item.shape} it must return that shape; got "
                                  f"{acc.shape}")
        else:
            acc = _each(f, (item, np.asarray(acc)), func, scalar=True)
    return acc


def scan(f, a, axis=-1):
    """Scan ``f\\ a``: item ``i`` along the axis is ``f/`` of the first ``i+1`` items.

    The result has the shape of ``a``. Associative ufuncs use
    ``f.accumulate``, and ``np.subtract`` an alternating cumulative sum, so
    ``-\\`` gives APL's alternating sums; any other ``f`` reduces each prefix
    with :func:`reduce` (APL's definition, quadratic in the axis length).

    Parameters
    ----------
    f : callable
        A dyadic function.
    a : array_like
        Any shape; a scalar scans to itself.
    axis : int, default -1
        The axis scanned along.

    Returns
    -------
    ndarray
        Shape ``a.shape``.

    Raises
    ------
    RankError
        ``axis`` is out of range for ``a``.
    TypeError
        ``f`` is not a dyadic function; ``a`` is not a numeric array.

    See Also
    --------
    reduce : the fold applied to each prefix.

    Examples
    --------
    >>> scan(np.add, np.array([1, 2, 3, 4]))
    array([ 1,  3,  6, 10])
    >>> scan(np.subtract, np.array([1, 2, 3, 4]))
    array([ 1, -1,  2, -2])
    """
    _operand(f, "scan", 2)
    a = as_array(a, "a", "scan")
    if a.ndim == 0:
        return a.copy()
    ax = _axis(axis, a.shape, "scan")
    n = a.shape[ax]
    if n == 0:
        return a.copy()
    if _associative(f):
        return f.accumulate(a, axis=ax)
    if f is np.subtract and a.dtype.kind in "iufc":
        return np.add.accumulate(a * _alternating(n, ax, a.ndim, a.dtype), axis=ax)
    moved = np.moveaxis(a, ax, 0)
    prefixes = [np.asarray(reduce(f, moved[:i + 1], axis=0)) for i in range(n)]
    return np.moveaxis(np.stack(prefixes), 0, ax)


# ----------------------------------------------------------------- inner


def inner(f, g, a, b):
    """Inner product ``a f.g b``: ``f/`` of ``g`` over the last axis of ``a`` and first of ``b``.

    ``z[i…, j…] = f/ g(a[i…, :], b[:, j…])``. ``+.×`` is the matrix product
    and goes through ``np.tensordot``; other ufuncs (or pervasive functions)
    pair every row of ``a`` with every column of ``b`` in one broadcast call
    and fold with :func:`reduce`. A scalar argument extends to the length of
    the other's inner axis, as in APL.

    Parameters
    ----------
    f, g : callable
        Dyadic functions: ``g`` combines items, ``f`` folds the combinations.
    a : array_like
        Shape ``(…, n)``.
    b : array_like
        Shape ``(n, …)``.

    Returns
    -------
    ndarray or numpy scalar
        Shape ``a.shape[:-1] + b.shape[1:]``.

    Raises
    ------
    LengthError
        ``a.shape[-1] != b.shape[0]``.
    DomainError
        ``n`` is 0 and ``f`` has no identity element.
    TypeError
        ``f`` or ``g`` is not a dyadic function; ``a`` or ``b`` is not a
        numeric array.

    See Also
    --------
    outer : every pairing without the fold.

    Examples
    --------
    >>> inner(np.add, np.multiply, [[1, 2], [3, 4]], [[5, 6], [7, 8]])
    array([[19, 22],
           [43, 50]])
    >>> inner(np.maximum, np.add, [[1, 2]], [[10], [0]])  # ⌈.+
    array([[11]])
    """
    _operand(f, "inner", 2)
    _operand(g, "inner", 2, name="g")
    a, b = as_array(a, "a", "inner"), as_array(b, "b", "inner")
    if a.ndim == 0 and b.ndim == 0:
        a, b = a.reshape(1), b.reshape(1)
    elif a.ndim == 0:
        a = np.broadcast_to(a, b.shape[:1])
    elif b.ndim == 0:
        b = np.broadcast_to(b, a.shape[-1:])
    if a.shape[-1] != b.shape[0]:
        raise LengthError(f"inner: a.shape[-1] must equal b.shape[0]; got "
                          f"a.shape={a.shape}, b.shape={b.shape}")
    n = a.shape[-1]
    if n == 0 and _identity(f) is None:
        raise DomainError(f"inner: f={_name(f)} has no identity element, so it cannot "
                          f"fold the empty inner axis of a.shape={a.shape}, "
                          f"b.shape={b.shape}")
    if f is np.add and g is np.multiply:
        return _scalar_if_0d(np.tensordot(a, b, axes=([-1], [0])))
    left = a.reshape(a.shape[:-1] + (1,) * (b.ndim - 1) + (n,))
    right = np.moveaxis(b, 0, -1)
    frame = a.shape[:-1] + b.shape[1:] + (n,)
    if _is_fast(g):
        pairs = _frame_kept(g(left, right), frame, "inner", g)
    else:
        pairs = _each(g, np.broadcast_arrays(left, right), "inner", scalar=True)
    return reduce(f, pairs, axis=-1)


# ------------------------------------------------------------------ rank


def _rank_spec(k):
    """Dyalog's ``k`` in ``f⍤k``: (monadic, left, right) cell ranks."""
    ks = (k,) if _integer(k) else k
    try:
        ks = tuple(ks)
    except TypeError:
        ks = ()
    if not 1 <= len(ks) <= 3 or not all(_integer(i) for i in ks):
        raise TypeError(f"rank: k must be an integer or 1 to 3 integers "
                        f"(monadic, left, right); got {k!r}")
    ks = tuple(int(i) for i in ks)
    if len(ks) == 1:
        return ks * 3
    return (ks[1],) + ks if len(ks) == 2 else ks


def _cell_rank(k, ndim):
    """A rank spec made concrete: negative counts down from the argument's rank."""
    return min(k, ndim) if k >= 0 else max(0, ndim + k)


def rank(f, k):
    """Rank operator ``f⍤k``: a function applying ``f`` to the rank-``k`` cells.

    A rank-``r`` cell of an array is a subarray on its last ``r`` axes; the
    axes before them are the frame. ``k`` is one number, or ``(left,
    right)`` for a dyadic call, or ``(monadic, left, right)`` as in Dyalog. A
    rank above the argument's is its rank; a negative rank ``-r`` means
    "all but ``r`` axes", so ``f⍤-1`` applies to the major cells.

    Results are assembled in the frame, padded to a common shape as APL's mix
    does. In a dyadic call the two frames must be equal, or one of them empty
    (its single cell then pairs with every cell of the other). A ufunc or a
    :func:`pervasive` ``f`` is called once, on the whole arrays reshaped so
    that cells line up; any other ``f`` is called once per cell (pair).

    Parameters
    ----------
    f : callable
        Monadic, dyadic, or both.
    k : int or sequence of 1 to 3 ints
        The cell ranks.

    Returns
    -------
    callable
        ``ranked(a)`` or ``ranked(a, b)``, returning an ndarray of shape
        ``frame + cell-result shape``.

    Raises
    ------
    TypeError
        ``k`` is not 1 to 3 integers; ``f`` is not callable (or, when called,
        a ufunc with the wrong number of arguments); an argument is not a
        numeric array.
    LengthError
        (when called) the two frames disagree and neither is empty.

    See Also
    --------
    pervasive : mark ``f`` so that it is called once on whole arrays.

    Examples
    --------
    >>> rows_sum = rank(lambda v: v.sum(), 1)
    >>> rows_sum(np.arange(6).reshape(2, 3))
    array([ 3, 12])
    >>> rank(lambda x, v: x * v.sum(), (0, 1))(np.array([1, 2]), np.arange(6).reshape(2, 3))
    array([ 3, 24])
    >>> rank(np.add, (0, 1))(np.array([10, 20]), np.arange(6).reshape(2, 3))
    array([[10, 11, 12],
           [23, 24, 25]])
    """
    if not callable(f):
        raise TypeError(f"rank: f must be a function; got {type(f).__name__}")
    monadic_k, left_k, right_k = _rank_spec(k)

    def ranked(*args):
        if len(args) == 1:
            return _rank_monadic(f, monadic_k, args[0])
        if len(args) == 2:
            return _rank_dyadic(f, left_k, right_k, *args)
        raise TypeError(f"rank: the derived function takes 1 or 2 arrays; got {len(args)}")

    ranked.__name__ = f"{_name(f)}⍤{k}"
    ranked.__doc__ = f"{_name(f)} applied to cells of rank {k} (APL's f⍤k)."
    return ranked


def _major(a, d):
    """``a`` with its first ``d`` axes merged into one (empty cells allowed)."""
    return a.reshape((int(np.prod(a.shape[:d])),) + a.shape[d:])


def _cells(a, r):
    """The rank-``r`` cells of ``a`` as a list, in ravel order of the frame."""
    return list(_major(a, a.ndim - r))


def _rank_monadic(f, k, a):
    _operand(f, "rank", 1)
    a = as_array(a, "argument", "rank")
    r = _cell_rank(k, a.ndim)
    frame, cell = a.shape[:a.ndim - r], a.shape[a.ndim - r:]
    if not frame:
        return np.asarray(f(a))
    if _is_fast(f):
        return _frame_kept(f(a), frame, "rank", f)
    return _assemble([f(c) for c in _cells(a, r)], frame,
                     lambda: f(np.zeros(cell, a.dtype)), a.dtype)


def _rank_dyadic(f, left_k, right_k, a, b):
    _operand(f, "rank", 2)
    a = as_array(a, "left argument", "rank")
    b = as_array(b, "right argument", "rank")
    ra, rb = _cell_rank(left_k, a.ndim), _cell_rank(right_k, b.ndim)
    fa, fb = a.shape[:a.ndim - ra], b.shape[:b.ndim - rb]
    if fa and fb and fa != fb:
        raise LengthError(f"rank: the frames must agree, or one be empty; got left "
                          f"frame {fa} (a.shape={a.shape}, cells of rank {ra}) and right "
                          f"frame {fb} (b.shape={b.shape}, cells of rank {rb})")
    frame = fa or fb
    if not frame:
        return np.asarray(f(a, b))
    ca, cb = a.shape[len(fa):], b.shape[len(fb):]
    if _is_fast(f):
        # frame axes first (length 1 where a frame is empty), then the cells
        # right-aligned, as f would align one pair of cells
        depth = max(ra, rb)
        left = a.reshape((fa or (1,) * len(frame)) + (1,) * (depth - ra) + ca)
        right = b.reshape((fb or (1,) * len(frame)) + (1,) * (depth - rb) + cb)
        return _frame_kept(f(left, right), frame, "rank", f)
    count = int(np.prod(frame))
    lefts = _cells(a, ra) if fa else [a] * count
    rights = _cells(b, rb) if fb else [b] * count
    return _assemble([f(x, y) for x, y in zip(lefts, rights)], frame,
                     lambda: f(np.zeros(ca, a.dtype), np.zeros(cb, b.dtype)),
                     np.result_type(a.dtype, b.dtype))


# --------------------------------------------------------------- stencil


def _size_step(size, step, shape, func):
    """Validated window ``size`` and ``step`` tuples for the leading axes of ``shape``."""
    size = as_ints(size, "size", func)
    step = as_ints(step, "step", func)
    if len(step) == 1:
        step = step * len(size)
    if not size:
        raise LengthError(f"{func}: size must name at least one axis; got size={size}")
    if len(size) > len(shape):
        raise RankError(f"{func}: size={size} names {len(size)} axes but a.shape={shape} "
                        f"has {len(shape)}; expected at most {len(shape)}")
    if len(step) != len(size):
        raise LengthError(f"{func}: step must have one entry per axis of size, or one "
                          f"for all; got size={size}, step={step}")
    if min(size) < 1 or min(step) < 1:
        raise DomainError(f"{func}: size and step must be positive; got size={size}, "
                          f"step={step}")
    return size, step


def _layout(n, size, step, valid):
    """One axis of a stencil: (zero fill before the first window, number of windows).

    Dyalog centres odd windows on the items ``0, step, 2·step, …`` and even
    ones on the gaps after them, so ``(size-1)//2`` fills go before (and at
    most as many after), and there are ``⌈n÷step⌉`` windows (odd size) or
    ``⌈(n-1)÷step⌉`` (even size). Valid windows start at ``0, step, …`` and
    lie inside the axis.
    """
    before = 0 if valid else (size - 1) // 2
    span = n + 2 * before - size
    return before, (span // step + 1 if span >= 0 else 0)


def windows(a, size, step=1, valid=True):
    """Windows ``{⍵}⌺size``: every (``step``-spaced) window of the leading axes.

    ``size`` and ``step`` name the first ``len(size)`` axes; the trailing axes
    are taken whole (a window of an image ``(H, W, C)`` with ``size=(3, 3)``
    is ``(3, 3, C)``). With ``valid=True`` (the default) only complete windows
    are kept: they start at ``0, step, 2·step, …`` and there are
    ``(n - size) // step + 1`` of them along each axis; the result is a
    read-only strided view of ``a``. With ``valid=False`` the windows are
    Dyalog's ``⌺`` ones: centred, with zeros beyond the edges, ``⌈n÷step⌉``
    of them for an odd size and ``⌈(n-1)÷step⌉`` for an even size; the result
    is then a view of a zero-filled copy.

    Parameters
    ----------
    a : array_like
        Shape ``leading + trailing``, ``len(leading) == len(size)``.
    size : int or sequence of int
        Window extent along each leading axis, each at least 1.
    step : int or sequence of int, default 1
        Movement along each leading axis (one number for all), each at least 1.
    valid : bool, default True
        Keep only windows inside ``a`` (True), or Dyalog's zero-filled,
        centred windows (False).

    Returns
    -------
    ndarray
        Shape ``positions + size + trailing``.

    Raises
    ------
    DomainError
        ``valid=True`` and a window is larger than its axis; a size or step
        below 1.
    RankError
        ``size`` names more axes than ``a`` has.
    LengthError
        ``step`` and ``size`` have different lengths.
    TypeError
        ``a`` is not a numeric array; ``size`` or ``step`` is not integers.

    See Also
    --------
    stencil : a function applied to each of these windows.

    Examples
    --------
    >>> windows(np.arange(5), 3)
    array([[0, 1, 2],
           [1, 2, 3],
           [2, 3, 4]])
    >>> windows(np.arange(1, 6), 3, step=2, valid=False)
    array([[0, 1, 2],
           [2, 3, 4],
           [4, 5, 0]])
    >>> windows(np.arange(1, 6), 4, valid=False)
    array([[0, 1, 2, 3],
           [1, 2, 3, 4],
           [2, 3, 4, 5],
           [3, 4, 5, 0]])
    """
    a = as_array(a, "a", "windows")
    size, step = _size_step(size, step, a.shape, "windows")
    return _windows(a, size, step, valid, "windows")


def _windows(a, size, step, valid, func):
    """:func:`windows` of a checked array, size and step; errors name ``func``."""
    d = len(size)
    if valid and any(s > n for s, n in zip(size, a.shape)):
        raise DomainError(f"{func}: size={size} is larger than the array's leading "
                          f"axes {a.shape[:d]} (a.shape={a.shape}); in valid mode each "
                          f"window must fit")
    _fits(size + a.shape[d:], a.dtype, func, f"one window of size={size}")
    layout = [_layout(a.shape[i], size[i], step[i], valid) for i in range(d)]
    positions = tuple(p for _, p in layout)
    if 0 in positions:
        return np.zeros(positions + size + a.shape[d:], a.dtype)
    if not valid:
        fills = [(before, max(0, (p - 1) * m + s - before - n))
                 for (before, p), s, m, n in zip(layout, size, step, a.shape)]
        _fits(tuple(n + sum(f) for n, f in zip(a.shape, fills)) + a.shape[d:], a.dtype,
              func, f"a zero-filled for windows of size={size}")
        a = np.pad(a, fills + [(0, 0)] * (a.ndim - d))
    view = sliding_window_view(a, size, axis=tuple(range(d)))
    # sliding_window_view puts the window axes last; move them behind the positions
    view = np.moveaxis(view, tuple(range(a.ndim, a.ndim + d)), tuple(range(d, 2 * d)))
    return view[tuple(slice(0, (p - 1) * m + 1, m) for p, m in zip(positions, step))]


def _fill_counts(shape, size, step, valid, positions):
    """Dyalog's ``⍺`` for every window: fills before (+) or after (-) on each axis.

    A window that overhangs both ends (longer than its axis) reports the fill
    before it; Dyalog does not document that case.
    """
    counts = []
    for n, s, m, p in zip(shape, size, step, positions):
        before = 0 if valid else (s - 1) // 2
        start = np.arange(p) * m - before
        lead, tail = np.maximum(0, -start), np.maximum(0, start + s - n)
        counts.append(np.where(lead > 0, lead, -tail))
    grids = np.meshgrid(*counts, indexing="ij")
    return np.stack(grids, axis=-1)


def stencil(f, a, size, step=1, valid=False, edges=False):
    """Stencil ``f⌺size`` (Dyalog's ``⌺``): ``f`` of each window of ``a``.

    The windows are those of :func:`windows`: by default Dyalog's, centred on
    the items ``0, step, 2·step, …`` of each leading axis (an even size is
    centred on the gap after the item), with zeros beyond the edges;
    ``valid=True`` keeps only windows inside the array, starting at ``0,
    step, …``. With ``edges=True`` ``f`` is called as ``f(fills, window)``,
    ``fills`` being Dyalog's ``⍺``: per axis, the number of zeros added before
    (positive) or after (negative) that window.

    A ufunc or :func:`pervasive` ``f`` is called once with all the windows,
    shape ``positions + size + trailing`` (and, with ``edges``, the fills,
    shape ``positions + (len(size),)``); it must keep the positions as its
    leading axes. Any other ``f`` is called once per window.

    Parameters
    ----------
    f : callable
        ``f(window)``, or ``f(fills, window)`` with ``edges=True``.
    a : array_like
        Shape ``leading + trailing``.
    size, step : int or sequence of int
        As in :func:`windows`.
    valid : bool, default False
        Only complete windows (True) or Dyalog's zero-filled ones (False).
    edges : bool, default False
        Pass the fill counts ``⍺`` as a first argument.

    Returns
    -------
    ndarray
        Shape ``positions + result shape of f``.

    Raises
    ------
    DomainError, RankError, LengthError, TypeError
        As :func:`windows` raises them; TypeError also for a non-callable
        ``f``; LengthError if a pervasive ``f`` drops the positions.

    See Also
    --------
    windows : the windows themselves.

    Examples
    --------
    >>> stencil(lambda w: w.sum(), np.arange(1, 5), 3)
    array([3, 6, 9, 7])
    >>> stencil(pervasive(lambda w: w.sum(axis=-1)), np.arange(1, 5), 3, valid=True)
    array([6, 9])
    >>> stencil(lambda fills, w: fills[0], np.arange(1, 5), 3, edges=True)
    array([ 1,  0,  0, -1])
    """
    _operand(f, "stencil", 2 if edges else 1)
    a = as_array(a, "a", "stencil")
    size, step = _size_step(size, step, a.shape, "stencil")
    win = _windows(a, size, step, valid, "stencil")
    d = len(size)
    frame, cell = win.shape[:d], win.shape[d:]
    if edges:
        fills = _fill_counts(a.shape[:d], size, step, valid, frame)
        if _is_fast(f):
            return _frame_kept(f(fills, win), frame, "stencil", f)
        cells = zip(_major(fills, d), _major(win, d))
        return _assemble([f(p, w) for p, w in cells], frame,
                         lambda: f(np.zeros(d, int), np.zeros(cell, a.dtype)), a.dtype)
    if _is_fast(f):
        return _frame_kept(f(win), frame, "stencil", f)
    return _assemble([f(w) for w in _major(win, d)], frame,
                     lambda: f(np.zeros(cell, a.dtype)), a.dtype)


# ------------------------------------------------------------ primitives


def rotate(a, n, axis=-1):
    """Rotate ``n⌽a`` (``n⊖a`` for ``axis=0``): items move ``n`` places towards the front.

    ``z[i] = a[(i + n) mod len]`` along the axis; a negative ``n`` moves them
    back. A scalar rotates to itself.

    Parameters
    ----------
    a : array_like
        Any shape.
    n : int
        Places to rotate.
    axis : int, default -1
        The axis rotated along.

    Returns
    -------
    ndarray
        Shape ``a.shape`` (a new array).

    Raises
    ------
    RankError
        ``axis`` out of range.
    TypeError
        ``n`` is not an integer; ``a`` is not a numeric array.

    See Also
    --------
    reverse : ``⌽a``.

    Examples
    --------
    >>> rotate(np.arange(5), 2)
    array([2, 3, 4, 0, 1])
    >>> rotate(np.arange(5), -1)
    array([4, 0, 1, 2, 3])
    """
    a = as_array(a, "a", "rotate")
    if not _integer(n):
        raise TypeError(f"rotate: n must be an integer; got {n!r}")
    if a.ndim == 0:
        return a.copy()
    return np.roll(a, -int(n), axis=_axis(axis, a.shape, "rotate"))


def reverse(a, axis=-1):
    """Reverse ``⌽a`` (``⊖a`` for ``axis=0``): one axis flipped, ``z[i] = a[len-1-i]``.

    Parameters
    ----------
    a : array_like
        Any shape; a scalar reverses to itself.
    axis : int, default -1
        The axis flipped.

    Returns
    -------
    ndarray
        A view of ``a``, shape ``a.shape``.

    Raises
    ------
    RankError
        ``axis`` out of range.
    TypeError
        ``a`` is not a numeric array.

    See Also
    --------
    rot180 : both kernel axes flipped.

    Examples
    --------
    >>> reverse(np.arange(4))
    array([3, 2, 1, 0])
    """
    a = as_array(a, "a", "reverse")
    if a.ndim == 0:
        return a[...]
    return np.flip(a, axis=_axis(axis, a.shape, "reverse"))


def rot180(a):
    """Rotate by 180° ``⊖⌽a`` in the first two axes (a kernel's ``kh, kw``).

    ``z[i, j, …] = a[kh-1-i, kw-1-j, …]``. Convolution is cross-correlation
    with ``rot180`` of the kernel.

    Parameters
    ----------
    a : array_like
        Shape ``(kh, kw, …)``.

    Returns
    -------
    ndarray
        A view of ``a``, shape ``a.shape``.

    Raises
    ------
    RankError
        ``a`` has fewer than 2 axes.
    TypeError
        ``a`` is not a numeric array.

    See Also
    --------
    reverse : one axis flipped.

    Examples
    --------
    >>> rot180(np.array([[1, 2], [-1, 0]]))
    array([[ 0, -1],
           [ 2,  1]])
    """
    a = as_array(a, "a", "rot180")
    if a.ndim < 2:
        raise RankError(f"rot180: a must have at least 2 axes; got a.shape={a.shape}")
    return a[::-1, ::-1]


def transpose(a, perm=None):
    """Transpose ``⍉a``, or dyadic ``perm⍉a`` with APL's meaning of ``perm``.

    Monadic ``⍉`` reverses the axes. In ``perm⍉a``, ``perm[i]`` is where axis
    ``i`` of ``a`` goes in the result (the inverse of numpy's ``axes``;
    APL's ``2 3 1⍉`` is ``perm=(1, 2, 0)`` here, origin 0). Axes sent to the
    same place take the diagonal, as long as the shortest of them.

    Parameters
    ----------
    a : array_like
        Any shape.
    perm : sequence of int, optional
        One result axis per axis of ``a``, using every result axis
        ``0 … max(perm)``.

    Returns
    -------
    ndarray
        ``z[j…] = a[j[perm[0]], j[perm[1]], …]``, a view unless a diagonal is
        taken. Result axis ``r`` has the least length among the axes sent to
        it.

    Raises
    ------
    LengthError
        ``len(perm) != a.ndim``.
    DomainError
        ``perm`` skips a result axis or is negative.
    TypeError
        ``perm`` is not integers; ``a`` is not a numeric array.

    See Also
    --------
    numpy.transpose : the inverse permutation convention.

    Examples
    --------
    >>> transpose(np.arange(6).reshape(2, 3)).shape
    (3, 2)
    >>> transpose(np.zeros((2, 3, 4)), (1, 2, 0)).shape
    (4, 2, 3)
    >>> transpose(np.arange(6).reshape(2, 3), (0, 0))  # the diagonal
    array([0, 4])
    """
    a = as_array(a, "a", "transpose")
    if perm is None:
        return a.T
    perm = as_ints(perm, "perm", "transpose")
    if len(perm) != a.ndim:
        raise LengthError(f"transpose: perm must name one result axis per axis of a; "
                          f"got perm={perm}, a.shape={a.shape}")
    r = max(perm) + 1 if perm else 0
    if min(perm, default=0) < 0 or r > len(perm) or set(perm) != set(range(r)):
        raise DomainError(f"transpose: perm must use every result axis 0..{r - 1} and "
                          f"no negative one; got perm={perm}, a.shape={a.shape}")
    if r == a.ndim:
        return np.transpose(a, np.argsort(perm))
    shape = [min(n for n, p in zip(a.shape, perm) if p == j) for j in range(r)]
    index = [np.arange(n).reshape((1,) * j + (n,) + (1,) * (r - j - 1))
             for j, n in enumerate(shape)]
    return a[tuple(index[p] for p in perm)]


def _counts(n, a, func):
    """Take/drop counts, and ``a`` with a scalar raised to one item per count."""
    n = as_ints(n, "n", func)
    if a.ndim == 0:
        a = a.reshape((1,) * max(1, len(n)))
    if len(n) > a.ndim:
        raise LengthError(f"{func}: n={n} has {len(n)} counts but a.shape={a.shape} has "
                          f"{a.ndim} axes; expected at most {a.ndim}")
    return n, a


def take(a, n):
    """Take ``n↑a``: the first ``n[i]`` items along axis ``i`` (the last, if negative).

    Taking more items than there are pads with zeros (overtake): after them
    for a positive count, before them for a negative one. Axes beyond
    ``len(n)`` are kept whole; a scalar is an array of one item.

    Parameters
    ----------
    a : array_like
        Any shape.
    n : int or sequence of int
        One count per leading axis.

    Returns
    -------
    ndarray
        A new array of shape ``abs(n) + a.shape[len(n):]``, dtype of ``a``.

    Raises
    ------
    LengthError
        More counts than axes.
    TypeError
        ``n`` is not integers; ``a`` is not a numeric array.

    See Also
    --------
    drop : the complement.

    Examples
    --------
    >>> take(np.arange(1, 6), 2)
    array([1, 2])
    >>> take(np.arange(1, 6), -7)
    array([0, 0, 1, 2, 3, 4, 5])
    >>> take(np.arange(4).reshape(2, 2), (3, -1))
    array([[1],
           [3],
           [0]])
    """
    n, a = _counts(n, as_array(a, "a", "take"), "take")
    shape = tuple(abs(m) for m in n) + a.shape[len(n):]
    _fits(shape, a.dtype, "take", f"the result of take with n={n}")
    out = np.zeros(shape, a.dtype)
    src, dst = [], []
    for have, m in zip(a.shape, n):
        want = abs(m)
        k = min(have, want)
        src.append(slice(0, k) if m >= 0 else slice(have - k, have))
        dst.append(slice(0, k) if m >= 0 else slice(want - k, want))
    out[tuple(dst)] = a[tuple(src)]
    return out


def drop(a, n):
    """Drop ``n↓a``: all but the first ``n[i]`` items along axis ``i`` (the last, if negative).

    Dropping more items than there are leaves an empty axis. Axes beyond
    ``len(n)`` are kept whole; a scalar is an array of one item.

    Parameters
    ----------
    a : array_like
        Any shape.
    n : int or sequence of int
        One count per leading axis.

    Returns
    -------
    ndarray
        A view of ``a``, shape ``max(0, a.shape[i] - abs(n[i]))`` on the
        leading axes.

    Raises
    ------
    LengthError
        More counts than axes.
    TypeError
        ``n`` is not integers; ``a`` is not a numeric array.

    See Also
    --------
    take : the complement.

    Examples
    --------
    >>> drop(np.arange(1, 6), 2)
    array([3, 4, 5])
    >>> drop(np.arange(1, 6), -2)
    array([1, 2, 3])
    >>> drop(np.arange(12).reshape(3, 4), (2, -1))
    array([[ 8,  9, 10]])
    """
    n, a = _counts(n, as_array(a, "a", "drop"), "drop")
    index = tuple(slice(m, None) if m >= 0 else slice(0, max(0, have + m))
                  for have, m in zip(a.shape, n))
    return a[index]


def reshape(a, shape):
    """Reshape ``shape⍴a``: the items of ``a`` in ravel order, reused cyclically.

    Unlike numpy's reshape the item count need not match: items repeat from
    the start when ``a`` runs out, and extra ones are left out. An empty
    ``a`` fills with zeros, as APL fills with its prototype.

    Parameters
    ----------
    a : array_like
        Any shape.
    shape : int or sequence of int
        The result's shape, each length at least 0.

    Returns
    -------
    ndarray
        A new array of shape ``shape``, dtype of ``a``.

    Raises
    ------
    DomainError
        A negative length.
    TypeError
        ``shape`` is not integers; ``a`` is not a numeric array.

    See Also
    --------
    numpy.resize : the same cycling, without the empty case.

    Examples
    --------
    >>> reshape(np.arange(1, 4), (2, 4))
    array([[1, 2, 3, 1],
           [2, 3, 1, 2]])
    """
    a = as_array(a, "a", "reshape")
    shape = as_ints(shape, "shape", "reshape")
    if any(s < 0 for s in shape):
        raise DomainError(f"reshape: shape must be non-negative; got shape={shape}")
    _fits(shape, a.dtype, "reshape", "the result")
    if a.size == 0:
        return np.zeros(shape, a.dtype)
    return np.resize(a.ravel(), shape)


def catenate(a, b, axis=-1):
    """Catenate ``a,b`` (``a⍪b`` for ``axis=0``), a scalar extending along the axis.

    The arrays join along ``axis``; their other axes must agree. An array
    of one rank less is a single slice along the axis, and a scalar is
    extended to one.

    Parameters
    ----------
    a, b : array_like
        Same shape off ``axis``; ranks differ by at most one, or one is a
        scalar.
    axis : int, default -1
        The axis joined along, counted in the higher-ranked argument.

    Returns
    -------
    ndarray
        A new array; its ``axis`` is as long as both together.

    Raises
    ------
    LengthError
        The shapes differ off the axis.
    RankError
        The ranks differ by more than one; ``axis`` out of range.
    TypeError
        ``a`` or ``b`` is not a numeric array.

    See Also
    --------
    numpy.concatenate : without scalar extension.

    Examples
    --------
    >>> catenate(np.arange(3), 9)
    array([0, 1, 2, 9])
    >>> catenate(np.zeros((1, 2), int), np.ones((2, 2), int), axis=0)
    array([[0, 0],
           [1, 1],
           [1, 1]])
    """
    a, b = as_array(a, "a", "catenate"), as_array(b, "b", "catenate")
    if a.ndim == 0 and b.ndim == 0:
        return np.stack([a, b])
    ref = a if a.ndim >= b.ndim else b
    ax = _axis(axis, ref.shape, "catenate", name="a" if ref is a else "b")

    def lift(x):
        if x.ndim == ref.ndim:
            return x
        if x.ndim == 0:
            return np.broadcast_to(x, ref.shape[:ax] + (1,) + ref.shape[ax + 1:])
        if x.ndim == ref.ndim - 1:
            return np.expand_dims(x, ax)
        raise RankError(f"catenate: the ranks of a and b must differ by at most one, or "
                        f"one be a scalar; got a.shape={a.shape}, b.shape={b.shape}")

    a2, b2 = lift(a), lift(b)
    if a2.shape[:ax] + a2.shape[ax + 1:] != b2.shape[:ax] + b2.shape[ax + 1:]:
        raise LengthError(f"catenate: the shapes must agree off axis {axis}; got "
                          f"a.shape={a.shape}, b.shape={b.shape}")
    return np.concatenate([a2, b2], axis=ax)
