"""The fast engine: the U-Net's layers at BLAS speed, the same functions as :mod:`aplnet.layers`.

Same names, arguments, argument checks (:mod:`aplnet.checks`) and results
(to rounding) as the expressions of :mod:`aplnet.layers`, which are their
specification; ``tests/test_fast_vs_layers.py`` holds every road to them.
What the engine adds:

* the convolutions' roads (:mod:`aplnet.fast.convolution`): Winograd's
  F(2×2, 3×3), rows of the raveled image, one product per tap, im2col
  blocks, chosen from the shapes by one function,
  :func:`aplnet.fast.roads.choose`, and forced by
  :func:`aplnet.fast.roads.using` (``with fast.using("winograd"): …``);
* scratch kept from call to call (:mod:`aplnet.fast.buffers`);
* ``conv_relu``, the convolution rectified block by block as its products
  come out (the U-Net's convolutions are all followed by a ReLU);
* what the U-Net needs to hold fewer arrays: ``relu(z, out=z)``,
  ``relu_backward(dy, y, out=dy)``, ``crop_backward(dy, hw, into=dx)``,
  ``crop`` and ``concat_backward`` as views, and
  ``conv_backward(…, need_dx=False)`` for the first layer, whose input's
  gradient is not wanted.

``concat`` and ``softmax_cross_entropy`` are the expressions themselves:
there is nothing to gain on them.

>>> import numpy as np
>>> from aplnet import fast, layers
>>> rng = np.random.default_rng(0)
>>> x, w = rng.standard_normal((1, 24, 24, 128)), rng.standard_normal((3, 3, 128, 128))
>>> fast.choose("correlate", x.shape, w.shape, 1, x.dtype)
'winograd'
>>> bool(np.allclose(fast.conv(x, w), layers.conv(x, w)))
True
"""

from ..layers import concat, softmax_cross_entropy
from .convolution import conv, conv_backward, conv_relu, correlate_valid, upconv, upconv_backward
from .pooling import maxpool, maxpool_backward
from .roads import ROADS, choose, using
from .wiring import concat_backward, crop, crop_backward, relu, relu_backward

__all__ = [
    "conv", "conv_relu", "conv_backward", "relu", "relu_backward",
    "maxpool", "maxpool_backward", "upconv", "upconv_backward",
    "crop", "crop_backward", "concat", "concat_backward",
    "softmax_cross_entropy", "correlate_valid", "ROADS", "choose", "using",
]
