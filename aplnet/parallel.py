"""The two halves of a batch at once, each on a thread of its own with single-threaded BLAS.

On the small U-Nets (the demo's 92/8/3, 124/16/3 at batch 4) a training
step is a few hundred small matrix products and as many elementwise passes.
The BLAS shares each product between its threads, which pays little on
products this small, and the elementwise passes (ReLU, pooling, the
copies around the products) run on one core. Splitting the batch instead,
each half a whole forward and backward pass on a thread of its own with a
single-threaded BLAS, keeps every core busy with work of its own, and the
two halves' gradients add up to the batch's (``UNet.loss_and_grad``
weighs them by their images).

:func:`aplnet.train.train` takes its steps whole still: the halves agree
with the whole batch to float32 rounding, but a long training run carries
such a difference far, and the real nuclei's held-out Dice moved with it
(README, "Performance").

The BLAS is held to one thread (threadpoolctl) only while the two halves
run; that is a setting of the whole process, so a second call that comes
while one is running takes its two halves one after the other, on its own
thread with the BLAS as it is, instead of waiting.
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["blas_threads", "both_halves"]

_lock = threading.Lock()
_state = {"controller": None, "pool": None}


def _controller():
    if _state["controller"] is None:
        from threadpoolctl import ThreadpoolController
        _state["controller"] = ThreadpoolController().select(user_api="blas")
    return _state["controller"]


def blas_threads():
    """The threads numpy's BLAS may use now: the fewest of the BLAS libraries loaded (1 if none is found).

    >>> blas_threads() >= 1
    True
    """
    return min((info["num_threads"] for info in _controller().info()), default=1)


def both_halves(f, first, second):
    """``(f(*first), f(*second))``, the second on another thread, each with a single-threaded BLAS.

    The second half runs in a copy of this thread's context, so that what
    a ``with`` block set here (``aplnet.fast.using``) holds there too. An
    error in either half is raised once both are done. If another call is
    running its halves already, both halves run here, one after the other,
    with the BLAS as it is.

    >>> both_halves(lambda a, b: a + b, (1, 2), (3, 4))
    (3, 7)
    """
    if not _lock.acquire(blocking=False):
        return f(*first), f(*second)
    try:
        if _state["pool"] is None:
            _state["pool"] = ThreadPoolExecutor(1, thread_name_prefix="aplnet-half")
        context = contextvars.copy_context()
        with _controller().limit(limits=1):
            other = _state["pool"].submit(context.run, f, *second)
            try:
                mine = f(*first)
            finally:
                theirs = other.result()
        return mine, theirs
    finally:
        _lock.release()
