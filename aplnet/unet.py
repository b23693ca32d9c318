"""The U-Net (Ronneberger, Fischer and Brox, 2015) built from the layers of a chosen tier.

Contracting path: at each level two valid 3x3 convolutions with ReLU, then
a 2x2 max pool (stride 2); channels double per level. Expanding path: a 2x2
up-convolution halving the channels, the centre crop of the matching
contracting level's output concatenated in front ("copy and crop"), two
valid 3x3 convolutions with ReLU. A final 1x1 convolution gives one logit
per class and pixel; the loss is the pixel-wise softmax cross-entropy with
an optional weight map.

Every convolution, pooling and crop goes through one of three tiers of the
same layers, the network's ``engine``: :mod:`aplnet.fast` (the default),
the APL expressions of :mod:`aplnet.layers` (``"apl"``), or the loops of
:mod:`aplnet.naive` (``"naive"``); this module only wires them together,
keeps the parameters, and knows the sizes.
Images are channels-last with a leading batch (frame) axis allowed.

Sizes: each level loses 4 pixels to its two valid convolutions and the
size must be even at each pooling, so a depth-``d`` network accepts
``s + 2**(d-1)·k`` for a smallest size ``s`` (188 at depth 5, 44 at depth 3)
and returns ``n − (12·2**(d-1) − 8)`` pixels (572 → 388 at depth 5).
"""

from __future__ import annotations

import json
import os

import numpy as np

from . import fast, layers, naive, parallel
from .apl import DomainError, LengthError, RankError, as_array
from .checks import fits
from .files import atomic_write
from .intensity import DEFAULT, LEGACY, Normalization

__all__ = [
    "UNet", "SGD", "output_size", "valid_input_sizes", "input_size_for",
    "check_input_size", "write_npz", "NOTES_PRESET",
]

RELEASED_FROM_BYTES = 32 << 20
"""Activations of this size or more are let go as soon as the backward pass is
done with them; smaller ones at the end of the pass. glibc's malloc serves
arrays under 32 MiB (its largest mmap threshold) from its heap, and an
activation freed half-way through the pass leaves the top of the heap free,
which it gives back to the system, so the next step takes those pages again
one by one: at 188/16/5 that was 2,800 page faults and a tenth of the step.
Larger arrays are mapped and unmapped by themselves whenever they are freed."""

NOTES_PRESET = {"bias": False, "init": "uniform"}
"""The notes' setting (note 000): no bias, weights uniform in [−.5, .5]."""

INITS = ("he", "uniform")
ENGINES = ("fast", "apl", "naive")
"""The tiers a network can run on: :mod:`aplnet.fast`, :mod:`aplnet.layers`, :mod:`aplnet.naive`."""
_TIERS = {"fast": fast, "apl": layers, "naive": naive}
DTYPES = ("float32", "float64")


# ------------------------------------------------------------------ sizes


MAX_DEPTH = 24
"""Deeper nets would need inputs of more than 2**26 pixels a side."""


def _check_depth(depth, func):
    if not isinstance(depth, (int, np.integer)) or isinstance(depth, bool):
        raise TypeError(f"{func}: depth must be an integer; got {depth!r}")
    if not 1 <= depth <= MAX_DEPTH:
        raise DomainError(f"{func}: depth must be in 1…{MAX_DEPTH}; got {depth}")
    return int(depth)


def _walk(n, depth):
    """The size out of the network for input ``n``, or None if some level fails."""
    for _ in range(depth - 1):
        n -= 4
        if n < 2 or n % 2:
            return None
        n //= 2
    n -= 4
    for _ in range(depth - 1):
        n = 2 * n - 4
    return n if n >= 1 else None


def valid_input_sizes(depth=5, stop=1024):
    """The input sizes a depth-``depth`` U-Net accepts, below ``stop``.

    They form the arithmetic progression ``first, first + 2**(depth-1), …``:
    the size must be even at each of the ``depth − 1`` poolings and the
    output at least one pixel.

    Parameters
    ----------
    depth : int >= 1
        Levels of the network (5 in the paper).
    stop : int
        Exclusive upper bound.

    Returns
    -------
    range

    Examples
    --------
    >>> valid_input_sizes(5, 260)
    range(188, 260, 16)
    >>> list(valid_input_sizes(3, 60))
    [44, 48, 52, 56]
    >>> 572 in valid_input_sizes(5, 1000)
    True
    """
    depth = _check_depth(depth, "valid_input_sizes")
    step = 2 ** (depth - 1)
    first = next(n for n in range(1, 16 * step + 8) if _walk(n, depth) is not None)
    return range(first, max(first, stop), step)


def _nearest(n, depth):
    sizes = valid_input_sizes(depth, n + 2 * 2 ** depth + 200)
    below = [s for s in sizes if s < n]
    above = [s for s in sizes if s > n]
    return (below[-1], above[0]) if below else (above[0], above[1])


def check_input_size(n, depth, what="input size"):
    """``n`` if a depth-``depth`` U-Net accepts it; else a DomainError naming the nearest.

    Raises
    ------
    DomainError
        The message names the two nearest valid sizes.

    Examples
    --------
    >>> check_input_size(570, 5)
    Traceback (most recent call last):
    ...
    aplnet.apl.DomainError: input size 570 is not valid for a depth-5 U-Net (the size must be even at every 2x2 pooling and the output at least 1 pixel); the nearest valid sizes are 556 and 572
    """
    depth = _check_depth(depth, "check_input_size")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"{what} must be an integer; got {n!r}")
    if n > 2 ** 26:
        raise DomainError(f"{what} {n} is more than 2**26 pixels; no image is that large")
    if _walk(int(n), depth) is None:
        lo, hi = _nearest(int(n), depth)
        raise DomainError(f"{what} {n} is not valid for a depth-{depth} U-Net (the size must "
                          f"be even at every 2x2 pooling and the output at least 1 pixel); "
                          f"the nearest valid sizes are {lo} and {hi}")
    return int(n)


def output_size(n, depth=5):
    """The side of the output for an input of side ``n``: ``n − (12·2**(depth−1) − 8)``.

    Parameters
    ----------
    n : int
        Input height or width.
    depth : int >= 1

    Returns
    -------
    int

    Raises
    ------
    DomainError
        ``n`` is not a valid input size; the message names the two nearest.

    Examples
    --------
    >>> output_size(572, 5), output_size(188, 5), output_size(44, 3)
    (388, 4, 4)
    """
    return _walk(check_input_size(n, depth), depth)


def input_size_for(out, depth=5):
    """The smallest valid input size whose output covers ``out`` pixels.

    >>> input_size_for(388, 5), input_size_for(389, 5), input_size_for(1, 3)
    (572, 588, 44)
    """
    depth = _check_depth(depth, "input_size_for")
    if not isinstance(out, (int, np.integer)) or isinstance(out, bool) or not 1 <= out <= 2 ** 26:
        raise DomainError(f"input_size_for: out must be an integer in 1…2**26 (pixels a "
                          f"side); got out={out!r}")
    return next(n for n in valid_input_sizes(depth, out + 16 * 2 ** depth + 8)
                if _walk(n, depth) >= out)


# ------------------------------------------------------------ checkpoints


def write_npz(path, arrays):
    """Write ``arrays`` to ``path`` as .npz atomically: a temporary file, then a rename.

    A crash part-way leaves the previous file (if any) untouched and no
    half-written file under ``path``; the file gets the umask's permissions,
    as any other new file (see :func:`aplnet.files.atomic_write`).
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read_npz(path):
    """The arrays of an .npz file as a dict; a DomainError naming it if it is not one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DomainError(f"{path}: no such checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as err:  # zipfile.BadZipFile, ValueError, OSError, EOFError …
        raise DomainError(f"{path}: not a readable .npz checkpoint ({type(err).__name__}: {err})") from None


# ----------------------------------------------------------------- UNet


def _fits_parameters(depth, width, in_channels, classes, dtype):
    """Refuse, before allocating them, weights that memory cannot hold."""
    count = sum(9 * c_in * c + 9 * c * c for c_in, c in
                zip([in_channels] + [width * 2 ** l for l in range(depth - 1)],
                    [width * 2 ** l for l in range(depth)]))
    count += sum(35 * (width * 2 ** l) ** 2 for l in range(depth - 1)) + width * classes
    fits((count,), dtype, "UNet", f"the weights of depth={depth}, width={width}")


class UNet:
    """The U-Net: build, initialise, forward, backward, loss, sizes, save and load.

    Parameters
    ----------
    depth : int >= 1
        Levels, counting the bottom one (5 in the paper).
    width : int >= 1
        Channels of the first level (64 in the paper); level ``l`` has
        ``width · 2**l``.
    in_channels : int >= 1
        Channels of the input images.
    classes : int >= 2
        Output classes (logits per pixel).
    bias : bool
        Give every convolution a bias (initialised to 0).
    init : {'he', 'uniform'}
        'he': N(0, 2/fan_in) as in the paper (fan_in = kh·kw·Cin for a
        convolution, Cin for the up-convolution, whose outputs each see one
        tap per input channel); 'uniform': U[−.5, .5] as in the notes.
    seed : int
        Seed of the initialisation; the same seed gives the same weights
        (float32 weights are the float64 ones rounded).
    dtype : float32 or float64
        Parameter dtype; inputs must match it.
    engine : {'fast', 'apl', 'naive'}
        The tier the layers run on: :mod:`aplnet.fast` (the default), the
        APL expressions of :mod:`aplnet.layers` (about four times slower,
        and each convolution copies all its windows at once: for reading,
        checking and small nets), or the loops of :mod:`aplnet.naive` (for
        tiny nets). A runtime choice, settable as
        ``net.engine``; not saved with the weights (:meth:`load` takes it).

    Attributes
    ----------
    params : dict of str → ndarray
        The parameters in :meth:`layout` order: ``down{l}.conv{i}.w``,
        ``bottom.conv{i}.w``, ``up{l}.upconv.w``, ``up{l}.conv{i}.w``,
        ``out.conv.w`` (and ``….b`` with bias).

    Examples
    --------
    >>> net = UNet(depth=3, width=4, seed=0)
    >>> net
    UNet(depth=3, width=4, in_channels=1, classes=2, bias=False, init='he', seed=0, dtype='float32')
    >>> net.n_params, net.output_size(44)
    (7308, 4)
    >>> x = np.zeros((2, 44, 60, 1), np.float32)
    >>> net(x).shape
    (2, 4, 20, 2)
    >>> UNet(depth=5, width=64).n_params
    31023808
    """

    def __init__(self, depth=5, width=64, in_channels=1, classes=2, bias=False,
                 init="he", seed=0, dtype=np.float32, engine="fast"):
        depth = _check_depth(depth, "UNet")
        for name, value, low in (("width", width, 1), ("in_channels", in_channels, 1),
                                 ("classes", classes, 2), ("seed", seed, 0)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise TypeError(f"UNet: {name} must be an integer; got {value!r}")
            if value < low:
                raise DomainError(f"UNet: {name} must be at least {low}; got {value}")
        if init not in INITS:
            raise DomainError(f"UNet: init must be one of {INITS}; got {init!r}")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"UNet: bias must be True or False; got {bias!r}")
        dtype = np.dtype(dtype)
        if dtype.name not in DTYPES:
            raise TypeError(f"UNet: dtype must be float32 or float64; got {dtype}")
        _fits_parameters(depth, int(width), int(in_channels), int(classes), dtype)
        self.config = {"depth": depth, "width": int(width), "in_channels": int(in_channels),
                       "classes": int(classes), "bias": bool(bias), "init": init,
                       "seed": int(seed), "dtype": dtype.name}
        self.params = self._initial_params()
        # how images are scaled for this network; saved with it, applied by predict
        self.normalization = DEFAULT
        self.engine = engine

    @property
    def engine(self):
        """The tier the layers run on: one of :data:`ENGINES`."""
        return self._engine

    @engine.setter
    def engine(self, engine):
        if not isinstance(engine, str) or engine not in ENGINES:
            raise ValueError(f"UNet: engine must be one of {', '.join(map(repr, ENGINES))}; "
                             f"got {engine!r}")
        self._engine = engine
        self._tier = _TIERS[engine]

    @classmethod
    def as_in_notes(cls, **kwargs):
        """A U-Net with the notes' setting: no bias, uniform [−.5, .5] weights."""
        return cls(**{**kwargs, **NOTES_PRESET})

    # ----------------------------------------------------------- layout

    depth = property(lambda self: self.config["depth"])
    width = property(lambda self: self.config["width"])
    in_channels = property(lambda self: self.config["in_channels"])
    classes = property(lambda self: self.config["classes"])
    bias = property(lambda self: self.config["bias"])
    dtype = property(lambda self: np.dtype(self.config["dtype"]))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        if self.engine != "fast":
            args += f", engine={self.engine!r}"
        return f"UNet({args})"

    def channels(self, level):
        """Channels at ``level`` (0 is the top): ``width · 2**level``."""
        return self.width * 2 ** level

    def layout(self):
        """The layers in order, as ``(name, kind, kernel shape)``; kind is conv or upconv."""
        rows = []
        c_in = self.in_channels
        for level in range(self.depth):
            name = "bottom" if level == self.depth - 1 else f"down{level}"
            c = self.channels(level)
            rows += [(f"{name}.conv0", "conv", (3, 3, c_in, c)),
                     (f"{name}.conv1", "conv", (3, 3, c, c))]
            c_in = c
        for level in reversed(range(self.depth - 1)):
            c = self.channels(level)
            rows += [(f"up{level}.upconv", "upconv", (2, 2, 2 * c, c)),
                     (f"up{level}.conv0", "conv", (3, 3, 2 * c, c)),
                     (f"up{level}.conv1", "conv", (3, 3, c, c))]
        rows.append(("out.conv", "conv", (1, 1, self.width, self.classes)))
        return rows

    def param_shapes(self):
        """``{name: shape}`` of every parameter, in order."""
        shapes = {}
        for name, _, shape in self.layout():
            shapes[name + ".w"] = shape
            if self.bias:
                shapes[name + ".b"] = shape[-1:]
        return shapes

    @property
    def n_params(self):
        """The number of trainable numbers."""
        return int(sum(np.prod(s) for s in self.param_shapes().values()))

    def _initial_params(self):
        rng = np.random.default_rng(self.config["seed"])
        params = {}
        for name, kind, shape in self.layout():
            kh, kw, c_in, _ = shape
            if self.config["init"] == "he":
                fan_in = c_in if kind == "upconv" else kh * kw * c_in
                w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
            else:
                w = rng.uniform(-0.5, 0.5, shape)
            params[name + ".w"] = w.astype(self.dtype)
            if self.bias:
                params[name + ".b"] = np.zeros(shape[-1], self.dtype)
        return params

    def output_size(self, n):
        """The output side for input side ``n`` (see :func:`output_size`)."""
        return output_size(n, self.depth)

    def valid_input_sizes(self, stop=1024):
        """The input sizes this network accepts (see :func:`valid_input_sizes`)."""
        return valid_input_sizes(self.depth, stop)

    # ------------------------------------------------------- validation

    def _check_input(self, x, func):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{func}: x must be a numpy array (…, H, W, C); got {type(x).__name__}")
        if x.ndim < 3:
            raise RankError(f"{func}: x must have shape (…, H, W, C); got shape {x.shape}")
        if x.dtype != self.dtype:
            raise TypeError(f"{func}: x.dtype is {x.dtype} but the network's is {self.dtype}; "
                            f"convert with x.astype(np.{self.dtype})")
        if x.shape[-1] != self.in_channels:
            raise LengthError(f"{func}: x.shape[-1] (channels) must equal in_channels="
                              f"{self.in_channels}; got x.shape={x.shape}")
        for axis, what in ((-3, "height"), (-2, "width")):
            check_input_size(x.shape[axis], self.depth, f"{func}: x {what}")
        if not np.isfinite(x).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise DomainError(f"{func}: x must be finite; got {x[where]} at index {where} "
                              f"of x.shape={x.shape}")

    def _check_labels(self, labels, weights, out_shape, func):
        labels = as_array(labels, "labels", func)
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"{func}: labels must be integers; got dtype {labels.dtype}")
        if labels.size == 0:
            raise DomainError(f"{func}: labels must hold at least one pixel to average the "
                              f"loss over; got labels.shape={labels.shape}")
        if labels.shape != out_shape:
            raise LengthError(f"{func}: labels must have the output's shape {out_shape} "
                              f"(input minus {12 * 2 ** (self.depth - 1) - 8} pixels per side "
                              f"pair); got {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= self.classes):
            bad = labels.max() if labels.max() >= self.classes else labels.min()
            raise DomainError(f"{func}: labels must lie in 0…{self.classes - 1} "
                              f"(classes={self.classes}); got {bad}")
        if weights is None:
            return labels, None
        weights = as_array(weights, "weights", func)
        if weights.dtype.kind not in "biuf":
            raise TypeError(f"{func}: weights must be real numbers; got dtype {weights.dtype}")
        if weights.shape != out_shape:
            raise LengthError(f"{func}: weights must have the labels' shape {out_shape}; "
                              f"got {weights.shape}")
        if not np.all(np.isfinite(weights)) or weights.min(initial=0) < 0:
            raise DomainError(f"{func}: weights must be finite and non-negative")
        return labels, weights.astype(self.dtype)

    # ---------------------------------------------------------- forward

    def _conv(self, name, x):
        return self._tier.conv(x, self.params[name + ".w"], self.params.get(name + ".b"))

    def _conv_relu(self, name, x):
        """ReLU of the convolution; the fast tier rectifies each block as it is made (:func:`fast.conv_relu`)."""
        if self.engine == "fast":
            return fast.conv_relu(x, self.params[name + ".w"], self.params.get(name + ".b"))
        return self._tier.relu(self._conv(name, x))

    def _double_conv(self, name, h, tape):
        for i in (0, 1):
            x = h
            h = self._conv_relu(f"{name}.conv{i}", x)
            if tape is not None:
                tape[f"{name}.conv{i}"] = (x, h)  # the input, and the ReLU output (its mask)
        return h

    def _run(self, x, tape):
        skips = []
        h = x
        for level in range(self.depth - 1):
            h = self._double_conv(f"down{level}", h, tape)
            skips.append(h)
            h = self._tier.maxpool(h)
        h = self._double_conv("bottom", h, tape)
        for level in reversed(range(self.depth - 1)):
            w, b = self.params[f"up{level}.upconv.w"], self.params.get(f"up{level}.upconv.b")
            skip = skips.pop()
            if self.engine == "fast":
                h = self._up_into_concat(skip, h, w, b)
            else:
                u = self._tier.upconv(h, w, b)
                h = self._tier.concat(self._tier.crop(skip, u.shape[-3:-1]), u)
            del skip
            h = self._double_conv(f"up{level}", h, tape)
        return self._conv("out.conv", h)

    @staticmethod
    def _up_into_concat(skip, h, w, b):
        """``(crop skip),upconv h`` made in one buffer: the up-convolution written straight into its channels."""
        *frame, rows, cols, _ = h.shape
        kh, kw, _, k = w.shape
        c = skip.shape[-1]
        both = np.empty((*frame, kh * rows, kw * cols, c + k), np.result_type(h, w))
        both[..., :c] = fast.crop(skip, (kh * rows, kw * cols))
        fast.upconv(h, w, b, out=both[..., c:])
        return both

    def forward(self, x):
        """The logits, and the tape of what :meth:`backward` needs.

        Parameters
        ----------
        x : ndarray (…, H, W, in_channels) of the network's dtype
            H and W valid input sizes (see :func:`valid_input_sizes`).

        Returns
        -------
        logits : ndarray (…, Ho, Wo, classes), ``Ho = output_size(H)``
        tape : dict
            Per convolution, its input and its ReLU output (shared with the
            next layer's input, so each activation is kept once). The
            pooling, crop and up-convolution inputs are among these.

        Raises
        ------
        RankError, LengthError, DomainError, TypeError
            Wrong rank, channel count, size (naming the nearest valid
            sizes) or dtype.
        """
        self._check_input(x, "UNet.forward")
        tape = {}
        logits = self._run(x, tape)
        return logits, tape

    def __call__(self, x):
        """The logits alone, keeping no intermediates (for prediction).

        A batch of two or more on the fast engine is taken in two halves at
        once, as :meth:`loss_and_grad` takes it (:mod:`aplnet.parallel`).
        """
        self._check_input(x, "UNet")
        if self._in_halves_pays(x):
            n = len(x)
            first, second = parallel.both_halves(lambda rows: self._run(x[rows], None),
                                                 (slice(0, n // 2),), (slice(n // 2, n),))
            return np.concatenate([first, second])
        return self._run(x, None)

    def _in_halves_pays(self, x):
        """Whether :mod:`aplnet.parallel` takes this batch: fast engine, two images or more, two BLAS threads or more."""
        return (self.engine == "fast" and isinstance(x, np.ndarray) and x.ndim == 4
                and len(x) >= 2 and parallel.blas_threads() >= 2)

    # --------------------------------------------------------- backward

    def _level_output(self, name, tape):
        return tape[f"{name}.conv1"][1]

    def _conv_backward(self, name, dz, x, grads, input_grad=True):
        w = self.params[name + ".w"]
        if self.engine == "fast":  # the network's input's gradient (64→1 channels) is not wanted
            dx, dw, db = fast.conv_backward(dz, x, w, need_dx=input_grad, need_db=self.bias)
        else:
            dx, dw, db = self._tier.conv_backward(dz, x, w)
        grads[name + ".w"] = dw
        if self.bias:
            grads[name + ".b"] = db
        return dx

    def _relu_backward(self, dy, y):
        """ReLU's gradient from its output ``y`` (``y > 0`` is ``z > 0``); over ``dy`` in the fast tier."""
        if self.engine == "fast":
            return fast.relu_backward(dy, y, out=dy)
        return self._tier.relu_backward(dy, y)

    def _double_conv_backward(self, name, dh, tape, grads, held, input_grad=True):
        for i in (1, 0):
            x, y = tape.pop(f"{name}.conv{i}")   # gone from the tape once differentiated
            dh = self._conv_backward(f"{name}.conv{i}", self._relu_backward(dh, y), x, grads,
                                     input_grad or i == 1)
            held += [a for a in (x, y) if a.nbytes < RELEASED_FROM_BYTES]
            del x, y
        return dh

    def _backward(self, dlogits, tape, input_grad=True):
        grads, held = {}, []         # held: the activations too small to let go mid-pass
        top = "up0" if self.depth > 1 else "bottom"
        dh = self._conv_backward("out.conv", dlogits, self._level_output(top, tape), grads)
        dskips = []
        for level in range(self.depth - 1):
            dc = self._double_conv_backward(f"up{level}", dh, tape, grads, held)
            dskip, du = self._tier.concat_backward(dc, self.channels(level))
            dskips.append(dskip.copy())      # not a view: lets the rest of dc go
            del dc, dskip
            below = "bottom" if level == self.depth - 2 else f"up{level + 1}"
            dh, dw, db = self._tier.upconv_backward(du, self._level_output(below, tape),
                                                    self.params[f"up{level}.upconv.w"])
            del du
            grads[f"up{level}.upconv.w"] = dw
            if self.bias:
                grads[f"up{level}.upconv.b"] = db
        dh = self._double_conv_backward("bottom", dh, tape, grads, held,
                                        input_grad or self.depth > 1)
        for level in reversed(range(self.depth - 1)):
            dh = self._tier.maxpool_backward(dh, self._level_output(f"down{level}", tape))
            dskip = dskips.pop()
            if self.engine == "fast":   # added into max pooling's gradient, in place
                dh = fast.crop_backward(dskip, dh.shape[-3:-1], into=dh)
            else:
                dh = dh + self._tier.crop_backward(dskip, dh.shape[-3:-1])
            del dskip
            dh = self._double_conv_backward(f"down{level}", dh, tape, grads, held,
                                            input_grad or level > 0)
        return {k: grads[k] for k in self.params}, dh

    def backward(self, dlogits, tape):
        """The gradient of every parameter, given the logits' gradient.

        Parameters
        ----------
        dlogits : ndarray, the shape of the logits
        tape : dict from :meth:`forward` on the same input
            Emptied as the pass goes: each layer's activations leave it
            once their gradients are taken, so that the step's memory
            falls as the backward pass climbs the network. Pass
            ``dict(tape)`` to keep them.

        Returns
        -------
        dict of str → ndarray
            One entry per parameter, same names, shapes and dtype.
        """
        return self._backward(dlogits, tape, input_grad=False)[0]

    def backward_with_input(self, dlogits, tape):
        """The parameters' gradients and the input's: ``(grads, dx)``; it empties ``tape`` as :meth:`backward` does."""
        return self._backward(dlogits, tape)

    def loss(self, logits, labels, weights=None):
        """The weighted pixel-wise softmax cross-entropy and its logits' gradient.

        ``E = −Σ w(x) log p_label(x)(x) / N`` over the ``N`` output pixels
        (of every image in the batch).

        Parameters
        ----------
        logits : ndarray (…, Ho, Wo, classes)
        labels : int ndarray (…, Ho, Wo)
            Classes of the output pixels (the centre of the input).
        weights : ndarray (…, Ho, Wo), optional
            Per-pixel loss weights (e.g. :func:`aplnet.data.weight_map`);
            cast to the network's dtype.

        Returns
        -------
        loss : float
        dlogits : ndarray, the shape of ``logits``

        Raises
        ------
        TypeError
            Labels that are not integers.
        LengthError
            ``labels`` or ``weights`` not of the output's shape.
        DomainError
            A label outside ``0…classes−1``; negative or non-finite weights.
        """
        logits = as_array(logits, "logits", "UNet.loss")
        if logits.ndim < 3 or logits.shape[-1] != self.classes or logits.dtype.kind != "f":
            raise LengthError(f"UNet.loss: logits must be floats of shape (…, Ho, Wo, "
                              f"classes={self.classes}); got logits.shape={logits.shape}, "
                              f"dtype={logits.dtype}")
        labels, weights = self._check_labels(labels, weights, logits.shape[:-1], "UNet.loss")
        loss, dlogits = self._tier.softmax_cross_entropy(logits, labels, weights)
        return float(loss), dlogits

    def loss_and_grad(self, x, labels, weights=None, with_logits=False):
        """The loss of :meth:`loss` on input ``x`` and every parameter's gradient.

        On the fast engine, a batch of two images or more, with a BLAS
        allowed two threads or more, is computed as two halves at once,
        each on a thread of its own with a single-threaded BLAS
        (:mod:`aplnet.parallel`): the halves' losses and gradients, weighed
        by their images, are the batch's, to rounding.

        Parameters
        ----------
        x, labels, weights
            As :meth:`forward` and :meth:`loss`: a batch ``(N, H, W, C)``
            or one image ``(H, W, C)``.
        with_logits : bool
            Return the logits too.

        Returns
        -------
        loss : float
        grads : dict of str → ndarray, one per parameter (see :meth:`backward`)
        logits : ndarray, only ``with_logits``
        """
        if self._in_halves_pays(x):
            self._check_input(x, "UNet.loss_and_grad")
            labels, weights = self._check_labels(labels, weights,
                                                 x.shape[:1] + (self.output_size(x.shape[1]),
                                                                self.output_size(x.shape[2])),
                                                 "UNet.loss_and_grad")
            loss, grads, logits = self._in_halves(x, labels, weights)
        else:
            logits, tape = self.forward(x)
            loss, dlogits = self.loss(logits, labels, weights)
            grads = self.backward(dlogits, tape)
        return (loss, grads, logits) if with_logits else (loss, grads)

    def _in_halves(self, x, labels, weights):
        def step(rows):
            tape = {}
            logits = self._run(x[rows], tape)
            loss, dlogits = self.loss(logits, labels[rows],
                                      None if weights is None else weights[rows])
            return loss, self.backward(dlogits, tape), logits

        n = len(x)
        half = n // 2
        (loss0, grads0, logits0), (loss1, grads1, logits1) = parallel.both_halves(
            step, (slice(0, half),), (slice(half, n),))
        a, b = half / n, (n - half) / n              # every image has as many output pixels
        for name, g in grads0.items():
            g *= a
            g += b * grads1[name]
        return a * loss0 + b * loss1, grads0, np.concatenate([logits0, logits1])

    # ------------------------------------------------------- save, load

    def to_arrays(self):
        """The network as a dict of arrays for an .npz: config, normalisation, parameters."""
        arrays = {"config": np.array(json.dumps(self.config)),
                  "normalization": np.array(self.normalization.to_json())}
        arrays.update({f"params/{k}": v for k, v in self.params.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays, source="checkpoint", engine="fast"):
        """A network rebuilt from :meth:`to_arrays`' dict (other keys are ignored), on ``engine``.

        The engine is not in the dict: it is how the network runs, not what
        it is; a network saved from any engine loads on any.

        A checkpoint without a stored normalisation (written before it was
        stored) gets :data:`aplnet.intensity.LEGACY`, the type's range.

        Raises
        ------
        DomainError
            No config, or a config that does not describe a UNet.
        LengthError
            A parameter missing, unexpected, or of the wrong shape.
        """
        if "config" not in arrays:
            raise DomainError(f"{source}: not an aplnet U-Net checkpoint (no 'config' entry)")
        try:
            config = json.loads(str(arrays["config"]))
            net = cls(**config)
        except (ValueError, TypeError) as err:
            raise DomainError(f"{source}: its config does not describe a U-Net: {err}") from None
        net.engine = engine
        stored = {k[len("params/"):]: v for k, v in arrays.items() if k.startswith("params/")}
        shapes = net.param_shapes()
        missing = [k for k in shapes if k not in stored]
        extra = [k for k in stored if k not in shapes]
        if missing or extra:
            raise LengthError(f"{source}: parameters do not match {net!r}: "
                              f"missing {missing[:3]}, unexpected {extra[:3]}")
        for k, shape in shapes.items():
            if stored[k].shape != shape or stored[k].dtype != net.dtype:
                raise LengthError(f"{source}: parameter {k} is {stored[k].dtype}{stored[k].shape} "
                                  f"but {net!r} has {net.dtype}{shape}")
            if not np.isfinite(stored[k]).all():
                raise DomainError(f"{source}: parameter {k} holds NaN or Inf values; got a "
                                  f"damaged checkpoint (a diverged run keeps its last good one)")
            net.params[k] = np.array(stored[k])
        net.normalization = (Normalization.from_json(str(arrays["normalization"]), source)
                             if "normalization" in arrays else LEGACY)
        return net

    @classmethod
    def from_torch(cls, module_or_state_dict, **architecture):
        """The U-Net holding a PyTorch module's or state_dict's weights.

        Defers to :func:`aplnet.interop.from_torch` (torch is an optional
        extra, imported only then); ``architecture`` (depth, width,
        in_channels, classes, bias, dtype) is passed on.

        Raises
        ------
        LengthError
            A state_dict of another architecture, naming the first key that
            does not match and its shapes.
        """
        from .interop import from_torch
        return from_torch(module_or_state_dict, **architecture)

    def save(self, path):
        """Save to ``path`` (.npz), atomically: a crash never leaves a broken file."""
        write_npz(path, self.to_arrays())

    @classmethod
    def load(cls, path, engine="fast"):
        """A network saved by :meth:`save` (or a training checkpoint).

        Raises
        ------
        DomainError, LengthError
            The file is missing, not an .npz, or not a U-Net of a consistent
            architecture; the message names the file.
        """
        return cls.from_arrays(read_npz(path), source=os.fspath(path), engine=engine)


# ------------------------------------------------------------------ SGD


class SGD:
    """Stochastic gradient descent with momentum: ``v ← μv − ηg``, ``W ← W + v``.

    The paper uses momentum μ = 0.99, so each step's gradient keeps acting
    for about a hundred steps. Note 000's "learning rate 0.99" is read as
    that momentum: taken literally, plain steps of 0.99 on its summed
    energy, it diverges and then stalls (notes chapter 06, section 6).

    Parameters
    ----------
    params : dict of str → ndarray
        Updated in place (e.g. ``net.params``).
    lr : float > 0
        Learning rate η.
    momentum : float in [0, 1)
        μ.

    Attributes
    ----------
    velocity : dict of str → ndarray
        ``v``, zero at the start; saved with training checkpoints.

    Examples
    --------
    >>> w = {"w": np.array([1.0, 2.0])}
    >>> opt = SGD(w, lr=0.5, momentum=0.9)
    >>> opt.step({"w": np.array([1.0, -1.0])}); print(w["w"])
    [0.5 2.5]
    >>> opt.step({"w": np.array([0.0, 0.0])}); print(w["w"])
    [0.05 2.95]
    """

    def __init__(self, params, lr=0.01, momentum=0.99):
        if not lr > 0 or not np.isfinite(lr):
            raise DomainError(f"SGD: lr must be a positive number; got {lr}")
        if not 0 <= momentum < 1:
            raise DomainError(f"SGD: momentum must be in [0, 1); got {momentum}")
        self.params = params
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.velocity = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads):
        """One update from ``grads`` (same names and shapes as the parameters)."""
        for k, w in self.params.items():
            v = self.velocity[k]
            v *= self.momentum
            v -= self.lr * grads[k]
            w += v
