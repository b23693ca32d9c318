"""What a mask's labels mean: binary, class indices, or one label per object.

Masks come in three kinds, and the training target is made from each:

=============  ==============================================================
binary         at most two values, 0 and one other (0/1, 0/128, 0/255,
               0/65535): the other value is the foreground, class 1
classes        class indices 0…classes−1, taken as they are
instances      one label per object (nucleus, cell), as the Data Science
               Bowl 2018, stardist and cellpose store masks: the foreground
               is label > 0, except that where two objects touch, the pixels
               of each next to the other (4-neighbours) become background —
               a two-pixel seam, as in the ISBI challenge's membrane labels,
               which is what lets the network keep touching objects apart
=============  ==============================================================

With two classes (the default) a mask of two values is binary and a mask of
more is read as instances, unless ``mode`` says ``classes``; with more
classes, masks are class indices. The instances also go to the weight map
(:func:`aplnet.data.weight_map`), whose distances are then to the true
objects, not to the connected pieces of the foreground.
"""

from __future__ import annotations

import numpy as np

from .apl import DomainError

__all__ = ["MODES", "MaskTarget", "touching", "mask_targets", "describe_kinds"]

MODES = ("auto", "classes", "instances")

CLASS_ADVICE_LIMIT = 32
"""Masks whose largest label is below this may be advised ``--classes N``."""


class MaskTarget:
    """A mask made ready for training: ``target`` classes, ``instances`` or None, ``kind``."""

    __slots__ = ("target", "instances", "kind")

    def __init__(self, target, instances, kind):
        self.target, self.instances, self.kind = target, instances, kind

    def __iter__(self):
        return iter((self.target, self.instances, self.kind))


def touching(labels):
    """Pixels of an object with a 4-neighbour in another object (not background).

    >>> print(touching(np.array([[1, 1, 2, 2, 0, 3]])).astype(int))
    [[0 1 1 0 0 0]]
    """
    labels = np.asarray(labels)
    p = np.pad(labels, 1)
    edge = np.zeros(labels.shape, bool)
    for n in (p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]):
        edge |= (n > 0) & (n != labels)
    return edge & (labels > 0)


def _values_text(values):
    shown = ", ".join(str(v) for v in values[:4])
    return shown + (f", … {values[-1]}" if len(values) > 4 else "")


def mask_targets(mask, classes=2, mode="auto", name="mask"):
    """The training target a mask's labels give: ``(target, instances, kind)``.

    Parameters
    ----------
    mask : ndarray of int, shape (H, W)
        Labels as stored (non-negative).
    classes : int
        Classes of the network.
    mode : {"auto", "classes", "instances"}
        ``auto``: with two classes, a two-valued mask is binary and any other
        holds instances; with more, class indices. ``classes`` and
        ``instances`` say it outright (a two-valued mask stays binary with
        two classes: its objects are its connected pieces).
    name : str
        Names the mask (its file) in error messages.

    Returns
    -------
    MaskTarget
        ``target``: uint8 class indices; ``instances``: the instance labels
        (int32) or None; ``kind``: ``"binary 0/v"``, ``"classes"`` or
        ``"instances"``.

    Raises
    ------
    DomainError
        Labels the mode cannot read (with advice fitting the mask), negative
        or non-integer labels, or ``instances`` with more than two classes.

    Examples
    --------
    >>> target, instances, kind = mask_targets(np.array([[0, 128], [128, 0]]))
    >>> print(target, kind)
    [[0 1]
     [1 0]] binary 0/128
    >>> nuclei = np.array([[0, 5, 5, 9, 9], [0, 5, 5, 9, 9]])
    >>> target, instances, kind = mask_targets(nuclei)
    >>> print(target, kind)
    [[0 1 0 0 1]
     [0 1 0 0 1]] instances
    """
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biu":
        raise DomainError(f"{name}: a mask must hold integer labels; got dtype {mask.dtype}")
    if mask.ndim != 2:
        raise DomainError(f"{name}: a mask must be (H, W); got shape {mask.shape}")
    if mode not in MODES:
        raise DomainError(f"{name}: the mask mode must be one of {', '.join(MODES)}; got {mode!r}")
    if mask.size and mask.min() < 0:
        raise DomainError(f"{name}: a mask must hold non-negative labels; got {mask.min()}")
    values = np.unique(mask)
    top = int(values[-1]) if values.size else 0
    if mode == "instances" and classes != 2:
        raise DomainError(f"{name}: instance masks give two classes (background, object); "
                          f"got --classes {classes}: use --classes 2")
    if classes == 2 and values.size <= 2 and (values.size < 2 or values[0] == 0):
        binary = (mask > 0).astype(np.uint8)
        return MaskTarget(binary, None, f"binary 0/{top}" if top else "binary 0/1")
    if mode == "instances" or (mode == "auto" and classes == 2):
        instances = mask.astype(np.int32)
        target = ((instances > 0) & ~touching(instances)).astype(np.uint8)
        return MaskTarget(target, instances, "instances")
    if top >= classes:
        listed = f"{values.size} labels ({_values_text(values.tolist())})"
        advice = [f"train with --classes {top + 1} if they are classes"] \
            if top < CLASS_ADVICE_LIMIT else []
        advice.append("with --classes 2 --masks instances if each label is one object "
                      "(foreground where label > 0)")
        raise DomainError(f"{name}: its mask holds {listed}, not class indices below "
                          f"--classes {classes}; " + ", or ".join(advice))
    return MaskTarget(mask.astype(np.uint8), None, "classes")


def describe_kinds(kinds, classes=2):
    """One log line saying how a data set's masks were read, or None if there is nothing to say.

    >>> print(describe_kinds(["instances", "instances", "binary 0/255"]))
    masks: 2 read as instance labels (foreground where label > 0, seams between touching objects as background, the weight map from the objects); 1 binary (0/255 read as 0/1)
    """
    counts = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    parts = []
    if "instances" in counts:
        parts.append(f"{counts.pop('instances')} read as instance labels (foreground where "
                     f"label > 0, seams between touching objects as background, the weight "
                     f"map from the objects)")
    counts.pop("binary 0/1", None)
    for kind, n in sorted(counts.items()):
        if kind.startswith("binary"):
            parts.append(f"{n} binary ({kind.split()[1]} read as 0/1)")
    return "masks: " + "; ".join(parts) if parts else None
