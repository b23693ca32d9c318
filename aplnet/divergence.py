"""The divergence guard: is a training step still sane?

Training can die without a single NaN: under an absurd learning rate the
first updates throw the weights to ~1e30, every ReLU goes dark, the
gradients become zero and the loss stays flat, and the run goes on
"training" a dead network. So each step is checked twice:

* before its update (:func:`gradient_fault`): the loss and every gradient
  finite;
* after it (:func:`update_fault`): for every parameter array, the update
  just applied (the momentum's velocity, ``W ← W + v``) and the weights
  themselves finite, and their root mean square within a limit.

The limits are multiples of the scale He initialisation gives a layer,
``√(2 / fan_in)`` (fan-in = the kernel's ``kh·kw·c_in``; 1 for a bias):

``UPDATE_LIMIT = 100``
    One step moving a layer by a hundred times the size of its initial
    weights. On sane training the largest update measured was 0.01 of that
    scale (the demo, 640 steps at ``lr = 0.003``, momentum 0.99) and 0.22
    at a learning rate of 10 on a tiny net, which still did not diverge;
    ``lr = 1e6`` gave 6e30.
``WEIGHT_LIMIT = 1000``
    Weights a thousand times larger than initialisation made them. The
    demo's largest layer ended at 2.0 times its He scale, tiny nets at
    2.2; ``lr = 1e6`` reached 3e31 and ``lr = 1e38`` overflowed float32.

Both leave orders of magnitude on either side, so they never fire on a run
that is learning and always fire within a step of one that has blown up.
The sums of squares are taken with BLAS's dot product in the weights' own
dtype (no copies): a sum that overflows is infinite, which the limits
catch too.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["UPDATE_LIMIT", "WEIGHT_LIMIT", "he_scale", "gradient_fault", "update_fault"]

UPDATE_LIMIT = 100.0
WEIGHT_LIMIT = 1000.0


def he_scale(shape):
    """``√(2 / fan_in)`` for a weight of ``shape`` (fan-in: all but the last axis); 1 for a vector.

    >>> he_scale((3, 3, 2, 8)), he_scale((4,))
    (0.3333333333333333, 1.0)
    """
    if len(shape) < 2:
        return 1.0
    return math.sqrt(2.0 / max(1, math.prod(shape[:-1])))


def _rms(a):
    """Root mean square by one dot product in ``a``'s dtype; inf or nan if it overflows."""
    flat = a.reshape(-1)
    with np.errstate(all="ignore"):
        return math.sqrt(float(np.dot(flat, flat)) / max(1, flat.size))


def _too_large(a, limit, subject, plural):
    """The fault in ``a`` if its RMS exceeds ``limit`` times its He scale, else None."""
    size, scale = _rms(a), he_scale(a.shape)
    if size <= limit * scale:
        return None
    if not np.isfinite(a).all():
        return f"{subject} {'are' if plural else 'is'} not finite (overflowed {a.dtype})"
    if not math.isfinite(size):    # finite, but the sum of squares overflowed the dtype
        size = math.sqrt(float(np.mean(np.square(a, dtype=np.float64))))
    return (f"{subject} {'have' if plural else 'has'} RMS {size:.3g}, more than {limit:g} "
            f"times the {scale:.3g} of He initialisation")


def gradient_fault(loss, grads):
    """Why a step's loss and gradients are unusable, or None if they are fine.

    >>> gradient_fault(0.7, {"w": np.ones(3)}) is None
    True
    >>> gradient_fault(0.7, {"w": np.array([1.0, np.inf])})
    'a gradient is not finite'
    >>> gradient_fault(float("nan"), {})
    'the loss is nan'
    """
    if not math.isfinite(loss):
        return f"the loss is {loss}"
    for g in grads.values():
        if not math.isfinite(_rms(g)) and not np.isfinite(g).all():
            return "a gradient is not finite"
    return None


def update_fault(params, velocity):
    """Why the weights after an update show divergence, or None if they are fine.

    Parameters
    ----------
    params, velocity : dict of str → ndarray
        The weights after the step and the update just added to them.

    Examples
    --------
    >>> w = {"conv.w": np.full((3, 3, 1, 2), 0.4, np.float32)}
    >>> update_fault(w, {"conv.w": np.full((3, 3, 1, 2), 0.01, np.float32)}) is None
    True
    >>> print(update_fault(w, {"conv.w": np.full((3, 3, 1, 2), 80, np.float32)}))
    the update to conv.w has RMS 80, more than 100 times the 0.471 of He initialisation: the step exploded
    >>> print(update_fault(w, {"conv.w": np.full((3, 3, 1, 2), np.inf, np.float32)}))
    the update to conv.w is not finite (overflowed float32): the step exploded
    """
    for name, v in velocity.items():
        fault = _too_large(v, UPDATE_LIMIT, f"the update to {name}", plural=False)
        if fault:
            return f"{fault}: the step exploded"
    for name, w in params.items():
        fault = _too_large(w, WEIGHT_LIMIT, f"the weights {name}", plural=True)
        if fault:
            return f"{fault}: they diverged"
    return None
