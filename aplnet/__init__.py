"""aplnet: the U-Net as APL-style array expressions in numpy."""

from .apl import (DomainError, LengthError, RankError, catenate, drop, inner,
                  outer, pervasive, rank, reduce, reshape, reverse, rot180,
                  rotate, scan, stencil, take, transpose, windows)

__version__ = "0.1.0"
