"""How much memory is free, and whether an array of a given shape fits in it.

The probing only: :func:`aplnet.checks.fits` (and the combinators of
:mod:`aplnet.apl`) turn a shortfall into a DomainError naming the function
and the array, before numpy would raise a MemoryError (or an OverflowError
for a shape past what it can index) or the system would kill the process.
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["available_bytes", "shortfall", "CHECKED_BYTES"]

CHECKED_BYTES = 1 << 30
"""Arrays smaller than this are allocated without asking how much memory is free."""

_INDEX_MAX = int(np.iinfo(np.intp).max)


def available_bytes():
    """Memory free for new arrays: MemAvailable from /proc/meminfo, else free pages, else None.

    >>> available_bytes() is None or available_bytes() > 0
    True
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def shortfall(shape, dtype):
    """Why an array of ``shape`` and ``dtype`` cannot be made, or None if it can.

    Only arrays of :data:`CHECKED_BYTES` or more (or past numpy's index
    range) are checked against the free memory.

    Returns
    -------
    str or None
        ``"would have shape …, N bytes; expected at most …"``, to follow
        the name of the array in an error message.

    Examples
    --------
    >>> shortfall((10, 10), np.float64) is None
    True
    >>> shortfall((2 ** 40, 2 ** 40), np.float64)
    'would have shape (1099511627776, 1099511627776), 9,671,406,556,917,033,397,649,408 bytes; expected at most what numpy can index'
    """
    shape = tuple(int(n) for n in shape)   # Python ints: numpy's would wrap around
    itemsize = np.dtype(dtype).itemsize
    nbytes = math.prod(shape) * itemsize
    span = math.prod(n for n in shape if n) * itemsize  # numpy's own limit
    if nbytes <= CHECKED_BYTES and span <= _INDEX_MAX:
        return None
    free = None if span > _INDEX_MAX else available_bytes()
    if span <= _INDEX_MAX and (free is None or nbytes <= free):
        return None
    room = "what numpy can index" if free is None else f"the {free:,} bytes of memory available"
    return f"would have shape {shape}, {nbytes:,} bytes; expected at most {room}"
