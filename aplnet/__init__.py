"""aplnet: the U-Net as APL-style array expressions in numpy.

The combinators of :mod:`aplnet.apl` and the boxed display are at the top
level; the layers, their loop oracles and the network are submodules
(``aplnet.layers``, ``aplnet.naive``, ``aplnet.unet``).
"""

from .apl import (DomainError, LengthError, RankError, catenate, drop, inner,
                  outer, pervasive, rank, reduce, reshape, reverse, rot180,
                  rotate, scan, stencil, take, transpose, windows)
from .data import load_folder, synthetic_cells, weight_map
from .display import box
from .tiling import predict
from .unet import SGD, UNet, output_size, valid_input_sizes

__version__ = "0.1.0"

__all__ = [
    "DomainError", "LengthError", "RankError", "SGD", "UNet", "box",
    "catenate", "drop", "inner", "load_folder", "outer", "output_size",
    "pervasive", "predict", "rank", "reduce", "reshape", "reverse", "rot180",
    "rotate", "scan", "stencil", "synthetic_cells", "take", "transpose",
    "valid_input_sizes", "weight_map", "windows",
]
