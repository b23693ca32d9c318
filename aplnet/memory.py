"""How much memory a training step needs, worked out from the architecture.

A training step of the U-Net holds, at its peak (early in the backward
pass, at the top of the expanding path):

* the parameters, their gradients and the optimiser's velocity: three
  copies of the weights (an upper bound: at the peak only the top
  level's gradients exist yet), four for a batch that
  :meth:`aplnet.unet.UNet.loss_and_grad` takes in two halves at once
  (:mod:`aplnet.parallel`), each with gradients of its own;
* every activation the forward pass keeps for the backward one: the input
  of each convolution and its ReLU output (the tape of
  :meth:`aplnet.unet.UNet.forward`), the logits, and the softmax
  cross-entropy's gradient beside them. The backward pass lets each
  layer's activations go once their gradients are taken, so the skip
  connections' gradients, which it keeps until the contracting path
  takes them, are never held beside the whole tape;
* the scratch of the layer being differentiated, two arrays about the
  size of the network's largest activation (the first convolution of the
  top of the expanding path): the input gradient, and the incoming
  gradient with the copy of it laid on the input's grid, together about
  as large;
* a fixed 16 MiB: the convolutions' im2col and row blocks (three of about
  4 MB, :data:`aplnet.fast.roads.BLOCK_BYTES`, kept between calls by
  :mod:`aplnet.fast.buffers`) and the BLAS's own buffers; 48 MiB for a
  batch taken in halves, whose two threads each take blocks of their own.

The two and the 16 MiB are measured, not derived: on nine configurations
from 0.1 to 1032 MB the estimate came out 1.1 to 1.2 times the peak of
numpy's arrays in a real training step (traced by :mod:`tracemalloc`) where
the activations dominate, and up to 1.8 times where the fixed part does;
never below it (tests/test_memory.py holds the estimate between the
traced peak and 1.3 times it plus the fixed part).

:func:`estimate_training_bytes` adds these up for a batch of square or
oblong tiles without allocating anything; :func:`check_training_fits`
refuses a configuration whose estimate exceeds the memory available (a
ValueError giving both numbers), so a run that cannot fit fails at once
instead of being killed by the operating system an hour in.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import room
from .apl import DomainError

__all__ = ["estimate_training_bytes", "check_training_fits", "available_bytes",
           "format_bytes"]

_CONFIG_KEYS = ("depth", "width", "in_channels", "classes", "bias", "dtype")
_DEFAULTS = {"in_channels": 1, "classes": 2, "bias": False, "dtype": "float32"}
_FIXED_BYTES = 16 << 20
"""The im2col and row-block scratch buffers (three of about 4 MB) and BLAS's buffers."""
_FIXED_HALVES_BYTES = 48 << 20
"""The same for a batch taken in two halves at once: each thread takes blocks
of its own from the pool, 10 to 32 MB in all on the tests' configurations,
by how the two threads' requests interleave."""
_LAYER_SCRATCH = 2
"""Arrays the size of the largest activation alive while a layer is differentiated."""


def available_bytes():
    """The memory free for a new run: MemAvailable from /proc/meminfo, else free pages.

    Returns
    -------
    int or None
        Bytes, or None where the system does not say.

    Examples
    --------
    >>> available_bytes() is None or available_bytes() > 0
    True
    """
    return room.available_bytes()


def format_bytes(n):
    """``n`` bytes as a short human figure in binary units.

    Examples
    --------
    >>> format_bytes(3 * 2**30 // 2), format_bytes(512)
    ('1.5 GiB', '512 B')
    """
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _config(net_or_config, func):
    """The architecture as a dict, from a UNet or a mapping with its config keys."""
    config = getattr(net_or_config, "config", net_or_config)
    if not hasattr(config, "get"):
        raise TypeError(f"{func}: net_or_config must be a UNet or a dict of its config "
                        f"(depth, width, …); got {type(net_or_config).__name__}")
    missing = [k for k in ("depth", "width") if k not in config]
    if missing:
        raise DomainError(f"{func}: net_or_config must give depth and width; got keys "
                          f"{sorted(config)}")
    merged = {k: config.get(k, _DEFAULTS.get(k)) for k in _CONFIG_KEYS}
    for k in ("depth", "width", "in_channels", "classes"):
        v = merged[k]
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise DomainError(f"{func}: {k} must be a positive integer; got {k}={v!r}")
    try:
        merged["itemsize"] = np.dtype(merged["dtype"]).itemsize
    except TypeError:
        raise TypeError(f"{func}: dtype must be float32 or float64; got "
                        f"{merged['dtype']!r}") from None
    return merged


def _side(size, func):
    """``size`` as an (H, W) pair of positive ints."""
    pair = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
    if len(pair) != 2 or any(isinstance(s, bool) or not isinstance(s, numbers.Integral)
                             or s < 1 for s in pair):
        raise DomainError(f"{func}: size must be a positive integer or an (H, W) pair; "
                          f"got size={size!r}")
    return int(pair[0]), int(pair[1])


def _activations(cfg, h, w):
    """Per image, in items: (kept for backward, largest activation, logits).

    Walks the network as :meth:`aplnet.unet.UNet.forward` does. A layer that
    would shrink to nothing counts as size 0 (the sizes are the network's
    business to check; an estimate only needs to be an upper bound).
    """
    depth, width = cfg["depth"], cfg["width"]
    kept = h * w * cfg["in_channels"]          # the input tile
    largest, levels = kept, []
    c_in = cfg["in_channels"]
    for level in range(depth):
        c = width * 2 ** level
        h0, w0 = max(0, h - 2), max(0, w - 2)
        h1, w1 = max(0, h - 4), max(0, w - 4)
        kept += h0 * w0 * c + h1 * w1 * c       # the two ReLU outputs (the conv inputs)
        largest = max(largest, h * w * c_in, h0 * w0 * c)
        levels.append((h1, w1, c))
        c_in = c
        if level < depth - 1:
            h, w = h1 // 2, w1 // 2
            kept += h * w * c                   # the pooled map, next level's input
    h, w = levels[-1][0], levels[-1][1]
    for level in reversed(range(depth - 1)):
        c = width * 2 ** level
        h, w = 2 * h, 2 * w
        kept += h * w * 2 * c                   # the concatenation, first conv's input
        largest = max(largest, h * w * 2 * c)
        h, w = max(0, h - 4), max(0, w - 4)
        kept += (h + 2) * (w + 2) * c + h * w * c
    logits = h * w * cfg["classes"]
    return kept, largest, logits


def _n_params(cfg):
    depth, width, classes = cfg["depth"], cfg["width"], cfg["classes"]
    total, c_in = 0, cfg["in_channels"]
    for level in range(depth):
        c = width * 2 ** level
        total += 9 * c_in * c + 9 * c * c + (2 * c if cfg["bias"] else 0)
        c_in = c
    for level in range(depth - 1):
        c = width * 2 ** level
        total += 4 * 2 * c * c + 9 * 2 * c * c + 9 * c * c + (3 * c if cfg["bias"] else 0)
    return total + width * classes + (classes if cfg["bias"] else 0)


def estimate_training_bytes(net_or_config, size, batch):
    """The peak memory of one training step (forward, backward, SGD update), in bytes.

    Parameters
    ----------
    net_or_config : UNet or dict
        The network, or its config (``depth`` and ``width`` required;
        ``in_channels`` 1, ``classes`` 2, ``bias`` False, ``dtype``
        float32 by default).
    size : int or (int, int)
        The input tile's side, or its (H, W).
    batch : int >= 1
        Tiles per step.

    Returns
    -------
    int
        Parameters, gradients and velocity (3 copies of the weights, 4 for a
        batch of two or more), plus,
        per tile, the activations kept for the backward pass, the logits
        three times (logits, softmax gradient, the loss's temporaries) and
        the backward pass's scratch (two arrays the size of the largest
        activation), plus 16 MiB of
        block and BLAS buffers (48 MiB for a batch of two or more).

    Raises
    ------
    DomainError
        A config without depth or width, non-positive sizes, or a batch < 1.
    TypeError
        ``net_or_config`` is neither a UNet nor a mapping.

    See Also
    --------
    check_training_fits : refuse what will not fit.

    Examples
    --------
    >>> mib = estimate_training_bytes({"depth": 3, "width": 8}, 124, 4) / 2**20
    >>> 20 < mib < 80
    True
    """
    func = "estimate_training_bytes"
    cfg = _config(net_or_config, func)
    h, w = _side(size, func)
    if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
        raise DomainError(f"{func}: batch must be a positive integer; got batch={batch!r}")
    kept, largest, logits = _activations(cfg, h, w)
    per_tile = kept + 3 * logits + _LAYER_SCRATCH * largest
    halves = 2 if batch >= 2 else 1             # aplnet.parallel: a batch taken in two halves
    items = (2 + halves) * _n_params(cfg) + int(batch) * per_tile
    return items * cfg["itemsize"] + (_FIXED_BYTES if halves == 1 else _FIXED_HALVES_BYTES)


def check_training_fits(net_or_config, size, batch, available=None):
    """Refuse, before allocating anything, a training step that memory cannot hold.

    Parameters
    ----------
    net_or_config, size, batch
        As :func:`estimate_training_bytes`.
    available : int, optional
        Bytes free; by default :func:`available_bytes` (MemAvailable from
        /proc/meminfo). When the system does not say, nothing is refused.

    Returns
    -------
    int
        The estimate, in bytes, when it fits.

    Raises
    ------
    DomainError
        The estimate exceeds the memory available; the message gives both,
        and what to make smaller.

    Examples
    --------
    >>> check_training_fits({"depth": 3, "width": 8}, 124, 4, available=2**40) > 0
    True
    >>> check_training_fits({"depth": 5, "width": 64}, 572, 16, available=2**30)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    aplnet.apl.DomainError: train: a step with batch=16 of 572x572 tiles ...
    """
    need = estimate_training_bytes(net_or_config, size, batch)
    free = available_bytes() if available is None else available
    if free is not None and need > free:
        cfg = _config(net_or_config, "check_training_fits")
        h, w = _side(size, "check_training_fits")
        raise DomainError(
            f"train: a step with batch={batch} of {h}x{w} tiles through a depth-"
            f"{cfg['depth']}, width-{cfg['width']} {np.dtype(cfg['dtype']).name} U-Net needs "
            f"about {format_bytes(need)} ({need:,} bytes, estimated from the architecture); "
            f"got only {format_bytes(free)} ({free:,} bytes) of memory available. Use a "
            f"smaller batch, tile size or width")
    return need
