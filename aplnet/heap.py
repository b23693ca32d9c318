"""Freed memory kept in the process for the next training step: glibc's malloc told not to give it back.

A training step of the U-Net makes and frees the same large arrays every
step (the activations, their gradients, the convolutions' outputs: 1.3 GB
at 572/64/5). glibc's malloc maps an array of more than a few megabytes
afresh from the system and unmaps it when it is freed, and gives back the
top of its heap once enough of it is free; every step then takes those
pages again, one page fault at a time, each page zeroed by the kernel (and,
with transparent huge pages on ``madvise``, memory compacted to make them).
On the machine of ``benchmarks/README.md`` that was a fifth of the step at
572/64/5: 7.7 s with 63,000 page faults, 6.1 s with none.

:func:`keep_freed_memory` sets glibc's mmap threshold to 1 GiB (arrays
smaller than that come from the heap) and its trim threshold to the most
it takes (the heap is not given back), with ``mallopt``, for the whole
process: after the first step the process keeps the most it ever used,
and the next steps reuse it. It is a choice for the whole process, so the
library leaves it to the application: the ``aplnet`` command makes it for
``train``, ``predict``, ``evaluate`` and ``demo``; a program of one's own
can call it, or set ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` in the environment. Elsewhere than glibc
(macOS, Windows, musl) it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

__all__ = ["keep_freed_memory", "MMAP_THRESHOLD"]

MMAP_THRESHOLD = 1 << 30
"""Arrays below this many bytes are served from the heap, and kept there when freed."""

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3          # glibc's <malloc.h>
_LARGEST_INT = 2 ** 31 - 1


def keep_freed_memory():
    """Tell glibc's malloc to keep freed memory in the process: True if it took the setting.

    Returns
    -------
    bool
        False where the C library is not glibc (nothing is changed there),
        or where glibc refused a value.

    Examples
    --------
    >>> import platform
    >>> keep_freed_memory() == (platform.libc_ver()[0] == "glibc")
    True
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, _LARGEST_INT))
