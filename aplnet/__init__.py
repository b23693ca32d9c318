"""aplnet: the U-Net as APL-style array expressions in numpy.

The combinators of :mod:`aplnet.apl` and the boxed display are at the top
level; the layers, their loop oracles and the network are submodules
(``aplnet.layers``, ``aplnet.naive``, ``aplnet.unet``).
"""

from .apl import (DomainError, LengthError, RankError, catenate, drop, inner,
                  outer, pervasive, rank, reduce, reshape, reverse, rot180,
                  rotate, scan, stencil, take, transpose, windows)
from .display import box

__version__ = "0.1.0"

__all__ = [
    "DomainError", "LengthError", "RankError", "box", "catenate", "drop",
    "inner", "outer", "pervasive", "rank", "reduce", "reshape", "reverse",
    "rot180", "rotate", "scan", "stencil", "take", "transpose", "windows",
]
