"""Scratch arrays of the layers, kept for reuse: no fresh pages on every call.

Each convolution works through scratch blocks of up to a few megabytes
(rows copied out for BLAS, partial products, Winograd's transforms), made
and dropped within the call. Made with ``np.empty``, they go back to
glibc's malloc at the end of the call, which gives the memory back to the
system once a few megabytes lie free at the top of its heap (and maps
larger blocks afresh each time); the next call takes it again a page at a
time, each page zeroed by the kernel first: on the small U-Nets, a
quarter of the training step (``benchmarks/README.md``).

:func:`empty` keeps every buffer it makes, a flat byte array, and hands
out views of it (``buf[:size].view(dtype).reshape(shape)``). Every view
made from those views too points its ``base`` at the buffer, so while any
of them lives the buffer's reference count says so; when the count is back
to the pool's own reference, nothing can read or write the buffer any more,
and it is free for the next request that fits in it (the smallest such
buffer is taken). Nothing is handed out twice at once, and nothing needs
to be given back by hand.

When no idle buffer fits, a new one is made in place of the idle ones
smaller than it (it serves whatever they served), so the pool keeps about
as many bytes as the most scratch that was in use at once, not a buffer of
every size ever asked for. It is meant for arrays that die with the call
that made them: an output kept by the caller (a layer's result, on the
U-Net's tape) would hold its buffer for as long, and is made by
``np.empty``. Requests under ``_LEAST_BYTES`` (malloc's free lists serve
those) or over ``_MOST_BYTES`` are passed to ``np.empty``, and so is one
that would take the buffers in use past ``_CAP_BYTES``.

The test of idleness reads ``sys.getrefcount``, CPython's count, against
what it reads for a buffer held by the pool alone (measured at import). A
raw address taken from an array (``a.ctypes.data``) holds no reference, as
with any numpy array that is freed.
"""

from __future__ import annotations

import bisect
import math
import sys
import threading

import numpy as np

__all__ = ["empty", "zeros", "clear", "held"]

_LEAST_BYTES = 64 << 10
_MOST_BYTES = 8 << 20
_CAP_BYTES = 128 << 20

_lock = threading.Lock()
_kept: list[np.ndarray] = []          # flat uint8 buffers, smallest first
_sizes: list[int] = []                # their sizes, for bisect

_REFCOUNTS_TELL = getattr(sys, "_is_gil_enabled", lambda: True)()
"""Whether a reference count can say a buffer is idle: not without the GIL
(free-threaded CPython defers counts), where :func:`empty` is ``np.empty``."""


def _refcount(i):
    return sys.getrefcount(_kept[i])


_kept.append(np.empty(0, np.uint8))
_IDLE = _refcount(0)
"""What :func:`_refcount` reads for a buffer that only the pool holds."""
_kept.clear()


def _is_idle(i):
    return _refcount(i) == _IDLE


def _idle_fitting(size):
    """The index of the smallest idle buffer of at least ``size`` bytes, or None."""
    for i in range(bisect.bisect_left(_sizes, size), len(_kept)):
        if _is_idle(i):
            return i
    return None


def _drop_idle(keep):
    """Drop the idle buffers for which ``keep(size)`` is false."""
    for i in reversed(range(len(_kept))):
        if _is_idle(i) and not keep(_sizes[i]):
            del _kept[i], _sizes[i]


def _add(size):
    """A new buffer of ``size`` bytes, in place of the idle ones smaller than it; its index, or None past the cap.

    The smaller idle buffers go because the new one serves whatever they
    served, so the pool does not keep a buffer of every size it was asked
    for. Over the cap even without the other idle ones, nothing is dropped.
    """
    busy = sum(s for i, s in enumerate(_sizes) if not _is_idle(i))
    if busy + size > _CAP_BYTES:
        return None
    _drop_idle(lambda s: s >= size)
    if sum(_sizes) + size > _CAP_BYTES:
        _drop_idle(lambda s: False)
    i = bisect.bisect_right(_sizes, size)
    _kept.insert(i, np.empty(size, np.uint8))
    _sizes.insert(i, size)
    return i


def empty(shape, dtype=float):
    """``np.empty(shape, dtype)`` for scratch, C order, in a kept buffer that nothing uses any more.

    Parameters
    ----------
    shape : int or tuple of int
    dtype : data-type, default float64

    Returns
    -------
    ndarray
        Uninitialised, as from ``np.empty``; a view of a kept buffer (its
        ``base``) when its size is between ``_LEAST_BYTES`` and
        ``_MOST_BYTES``.

    Examples
    --------
    >>> clear()
    >>> a = empty((256, 256), np.float32)
    >>> a.shape, a.dtype
    ((256, 256), dtype('float32'))
    >>> address = a.ctypes.data
    >>> del a                                   # nothing refers to the buffer now
    >>> empty((128, 256), np.float32).ctypes.data == address   # it fits: reused
    True
    >>> b = empty((256, 256), np.float32)
    >>> c = empty((256, 256), np.float32)       # b holds the first: another buffer
    >>> np.shares_memory(b, c)
    False
    """
    dtype = np.dtype(dtype)
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    size = math.prod(shape) * dtype.itemsize
    if not _LEAST_BYTES <= size <= _MOST_BYTES or dtype.hasobject or not _REFCOUNTS_TELL:
        return np.empty(shape, dtype)
    with _lock:                                  # found idle and viewed, as one step
        i = _idle_fitting(size)
        if i is None:
            i = _add(size)
        if i is None:
            return np.empty(shape, dtype)
        return _kept[i][:size].view(dtype).reshape(shape)


def zeros(shape, dtype=float):
    """``np.zeros(shape, dtype)`` by :func:`empty`.

    >>> zeros((2, 3), int)
    array([[0, 0, 0],
           [0, 0, 0]])
    """
    out = empty(shape, dtype)
    out.fill(0)
    return out


def held():
    """``(buffers, bytes, idle bytes)`` kept now.

    >>> a = empty(1 << 20, np.uint8)
    >>> count, kept, idle = held()
    >>> count >= 1 and kept - idle >= a.nbytes
    True
    """
    with _lock:
        idle = sum(_sizes[i] for i in range(len(_kept)) if _is_idle(i))
        return len(_kept), sum(_sizes), idle


def clear():
    """Let go of every idle buffer (those in use stay until their arrays are gone).

    >>> clear()
    >>> held()[2]
    0
    """
    with _lock:
        _drop_idle(lambda s: False)
