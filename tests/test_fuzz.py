"""Fuzzing the public boundary of aplnet.apl and aplnet.layers.

Each public function gets a well-formed case from a strategy, and then up
to two mutations of its arguments: another dtype (bool, integers, float32,
float64, complex, object), NaN or ±inf in one item, values scaled to ±1e4,
an empty axis, an axis too many or too few, a random array of a random
shape, something that is not an array at all, a non-contiguous view, and
for the scalar parameters zero, negative, absurdly large, fractional,
boolean, None or string values. The contract checked on every call:

* it raises ValueError or TypeError (the documented errors, APL's
  RankError/LengthError/DomainError included) whose message starts with
  the function's name (the messages themselves are pinned where each
  module is tested), or
* it returns numbers (never object or complex from real input), with no
  NaN when every input was finite, float32 in giving float32 out, and,
  for float64 and integer data, the values of the loop oracle
  (aplnet.naive for the layers, tests/apl_naive.py for the combinators).

An error raised by an operand ``f`` itself (numpy refusing ``-`` on
booleans, say) is the operand's, and passes through unchanged; the harness
recognises it by calling ``f`` on the items directly.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import apl_naive
from aplnet import apl, layers, naive
from strategies_layers import (conv_cases, crop_cases, dense_cases, images,
                               logits_cases, planes, pool_cases, upconv_cases)

ERRORS = (ValueError, TypeError)
DTYPES = [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.float32,
          np.float64, np.complex128, object]
ABSURD = [10 ** 12, 2 ** 70]
"""Sizes no machine can hold: refused before anything is allocated."""
VALUES = st.floats(-4, 4, allow_nan=False, width=64)


# ----------------------------------------------------------------- arguments


class Arg:
    """One argument of a call: its value and what kind of thing it is."""

    def __init__(self, value, kind):
        self.value, self.kind = value, kind


def A(v):
    return Arg(v, "array")


def L(v):
    return Arg(v, "labels")


def I(v):
    return Arg(v, "int")


def S(v):
    return Arg(v, "shape")


def F(v):
    return Arg(v, "func")


def arrays(shape, elements=VALUES, dtype=np.float64):
    return hnp.arrays(dtype, shape, elements=elements)


def random_arrays():
    """Any small array: rank 0 to 5, sides 0 to 3, any of the dtypes."""
    shape = hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=3)
    return st.tuples(shape, st.sampled_from(DTYPES[:7])).flatmap(
        lambda t: hnp.arrays(t[1], t[0]))


NOT_ARRAYS = [None, "abc", {}, [[1, 2], [3]], object(), lambda: 0]
INT_MUTANTS = [0, -1, -3, 1.5, True, None, "2", np.int64(2), (2, 2)] + ABSURD
SHAPE_MUTANTS = [(0, 0), (-1, 2), (2,), (2.0, 2), None, 5, "ab", (2, 2, 2),
                 (-2, -2, 1), (ABSURD[0], ABSURD[0]), (ABSURD[1], 1)]
MODE_MUTANTS = ["VALID", "", None, 3, ["full"]]
FLOAT_MUTANTS = [0.0, -1.0, math.nan, math.inf, 1e-300, 1e300, "1", None, 1j]
AXIS_MUTANTS = [5, -7, 1.0, None, True, (0,)]
FUNC_MUTANTS = [3, None, np.negative, "add"]
BOOL_MUTANTS = [0, 1, "yes", None]


@st.composite
def mutate_array(draw, x):
    x = np.asarray(x)
    how = draw(st.sampled_from(["dtype", "nonfinite", "extreme", "empty", "add_axis",
                                "drop_axis", "random", "not_array", "strided"]))
    if how == "dtype":
        dtype = draw(st.sampled_from(DTYPES))
        return x.astype(dtype) if dtype is not object else x.astype(object)
    if how == "nonfinite" and x.size:
        y = x.astype(np.float64) if x.dtype.kind not in "fc" else x.copy()
        y.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return y
    if how == "extreme" and x.size:
        y = x.astype(np.float64) if x.dtype.kind not in "fc" else x.copy()
        y.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([1e4, -1e4]))
        return y
    if how == "empty" and x.ndim:
        return np.take(x, [], axis=draw(st.integers(0, x.ndim - 1)))
    if how == "add_axis":
        return x[None] if draw(st.booleans()) else x[..., None]
    if how == "drop_axis" and x.ndim:
        return x[0] if x.shape[0] else np.zeros(x.shape[1:], x.dtype)
    if how == "random":
        return draw(random_arrays())
    if how == "not_array":
        return draw(st.sampled_from(NOT_ARRAYS))
    if how == "strided" and x.ndim:
        return x[..., ::-1]
    return x


@st.composite
def mutant(draw, arg):
    kind = arg.kind
    if kind in ("array", "labels"):
        if arg.value is None:
            return draw(st.sampled_from([None, np.zeros(3)]) | random_arrays())
        return draw(mutate_array(arg.value))
    table = {"int": INT_MUTANTS, "shape": SHAPE_MUTANTS, "mode": MODE_MUTANTS,
             "float": FLOAT_MUTANTS, "axis": AXIS_MUTANTS, "func": FUNC_MUTANTS,
             "bool": BOOL_MUTANTS}
    return draw(st.sampled_from(table[kind]))


@st.composite
def mutated(draw, base):
    """``(values, mutated?)``: the base arguments with 0 to 2 of them mutated."""
    args = draw(base)
    values = [a.value for a in args]
    count = draw(st.integers(0, min(2, len(args))))
    picks = draw(st.lists(st.integers(0, len(args) - 1), min_size=count,
                          max_size=count, unique=True)) if args else []
    for i in picks:
        values[i] = draw(mutant(args[i]))
    return args, values, bool(picks)


# ------------------------------------------------------------------- checks


def _arrays_in(values):
    for v in values:
        if isinstance(v, np.ndarray):
            yield v


def _real_finite(values):
    """Every array argument real, numeric and finite, and every number finite."""
    for v in values:
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in "biuf" or not np.isfinite(v.astype(np.float64)).all():
                return False
        elif isinstance(v, (float, complex)) and not np.isfinite(v):
            return False
    return True


def _outputs(result):
    """The arrays a call returned (numbers become arrays; None, the absent weights, is dropped)."""
    if isinstance(result, tuple):
        return [o for r in result for o in _outputs(r)]
    return [] if result is None else [np.asarray(result)]


def _all_float32(args, values):
    """True when every array (or numpy scalar) argument but the labels is float32."""
    arrays = [v for a, v in zip(args, values)
              if isinstance(v, (np.ndarray, np.generic)) and a.kind != "labels"]
    return bool(arrays) and all(v.dtype == np.float32 for v in arrays)


def _scale(values):
    """A bound on the size of terms summed by the layers, for an absolute tolerance."""
    bound = 1.0
    for v in _arrays_in(values):
        if v.size and v.dtype.kind in "biuf":
            bound *= max(1.0, float(np.abs(v.astype(np.float64)).max())) * max(1, v.size)
    return bound


def _operand_error(err, values):
    """True when ``err`` is raised by the operand ``f`` on the items themselves."""
    funcs = [v for v in values if callable(v) and not isinstance(v, np.ndarray)]
    samples = [a.flat[0] if a.size else a for a in _arrays_in(values)]
    for f in funcs:
        for items in ((s,) * 2 for s in samples):
            for n in (1, 2):
                try:
                    f(*items[:n])
                except type(err):
                    return True
                except Exception:  # noqa: BLE001 - any other reaction is not this error
                    pass
    return False


def check(name, call, args, values, oracle=None, prefixes=()):
    """Call and hold the outcome to the contract; return the result or None.

    ``prefixes``: other openings a message may have (the size helpers name
    the argument, "input size", as their callers set it).
    """
    try:
        result = call(*values)
    except ERRORS as err:
        message = str(err)
        if message.startswith((f"{name}:", *prefixes)):
            return None
        if _operand_error(err, values):
            return None
        raise AssertionError(f"{name} raised {type(err).__name__} without its own "
                             f"message: {message!r}") from err
    outs = _outputs(result)
    real_in = all(v.dtype.kind != "c" for v in _arrays_in(values))
    for out in outs:
        assert out.dtype.kind in ("biuf" if real_in else "biufc"), \
            f"{name} returned dtype {out.dtype}"
    if _real_finite(values):
        for out in outs:
            assert not np.isnan(out).any(), f"{name} returned NaN from finite input"
    if _all_float32(args, values):
        for out in _outputs(tuple(r for r in (result if isinstance(result, tuple) else (result,))
                                  if not isinstance(r, float))):   # a Python float loss is fine
            assert out.dtype.kind != "f" or out.dtype == np.float32, \
                f"{name} turned float32 into {out.dtype}"
    if oracle is not None and _real_finite(values) and \
            all(v.dtype != np.float32 for v in _arrays_in(values)):
        oracle(result, args, values)
    return result


def agree_with(slow_fn, rtol=1e-9):
    """An oracle: ``slow_fn`` on the values promoted as the layers promote them
    (integers and booleans to float64, labels kept) gives the same numbers."""
    def oracle(result, args, values):
        promoted = [v.astype(np.float64) if isinstance(v, np.ndarray) and
                    v.dtype.kind in "biu" and a.kind != "labels" else v
                    for a, v in zip(args, values)]
        try:
            slow = slow_fn(*promoted)
        except Exception:  # noqa: BLE001 - the oracle only speaks for inputs it accepts
            return
        if not all(np.isfinite(ref).all() for ref in _outputs(slow)):
            return                                  # the loop overflowed where the layer did not
        scale = _scale(values)
        for fast, ref in zip(_outputs(result), _outputs(slow)):
            assert fast.shape == ref.shape
            np.testing.assert_allclose(fast.astype(np.float64), ref.astype(np.float64),
                                       rtol=rtol, atol=rtol * scale)
    return oracle


def fuzz(name, call, base, oracle=None):
    """A hypothesis test of ``call`` on mutated cases of ``base``."""
    @given(mutated(base))
    def test(case):
        args, values, changed = case
        result = check(name, call, args, values, oracle)
        if not changed:
            assert result is not None, f"{name} refused a well-formed case"
    return test


# ------------------------------------------------------------ layer cases


@st.composite
def conv_base(draw):
    x, w, b, stride, pad = draw(conv_cases())
    return [A(x), A(w), A(b), I(stride), I(pad)]


@st.composite
def conv_backward_base(draw):
    x, w, _, stride, pad = draw(conv_cases(bias=False))
    dz = draw(arrays(layers.conv(x, w, None, stride, pad).shape))
    return [A(dz), A(x), A(w), I(stride), I(pad)]


@st.composite
def one_image(draw):
    return [A(draw(images()))]


@st.composite
def two_images(draw):
    x = draw(images())
    return [A(draw(arrays(x.shape))), A(x)]


@st.composite
def pool_base(draw):
    x, size, stride = draw(pool_cases())
    return [A(x), I(size), I(stride)]


@st.composite
def pool_backward_base(draw):
    x, size, stride = draw(pool_cases())
    dy = draw(arrays(layers.maxpool(x, size, stride).shape))
    return [A(dy), A(x), I(size), I(stride)]


@st.composite
def upconv_base(draw):
    x, w, b = draw(upconv_cases())
    return [A(x), A(w), A(b)]


@st.composite
def upconv_backward_base(draw):
    x, w, _ = draw(upconv_cases(bias=False))
    return [A(draw(arrays(layers.upconv(x, w).shape))), A(x), A(w)]


@st.composite
def crop_base(draw):
    x, hw = draw(crop_cases())
    return [A(x), S(hw)]


@st.composite
def crop_backward_base(draw):
    x, hw = draw(crop_cases())
    return [A(layers.crop(x, hw).copy()), S(x.shape[-3:-1])]


@st.composite
def concat_base(draw):
    x = draw(images())
    return [A(x), A(draw(arrays(x.shape[:-1] + (draw(st.integers(1, 3)),))))]


@st.composite
def concat_backward_base(draw):
    x = draw(images())
    return [A(x), I(draw(st.integers(0, x.shape[-1])))]


@st.composite
def sce_base(draw):
    a, labels, weights = draw(logits_cases())
    return [A(a), L(labels), A(weights)]


@st.composite
def bce_base(draw):
    p = draw(images().map(lambda x: (np.tanh(x) + 1.02) / 2.04))
    return [A(p), A(draw(arrays(p.shape, st.floats(0, 1))))]


@st.composite
def logits_and_targets(draw):
    z = draw(images())
    return [A(z), A(draw(arrays(z.shape, st.floats(0, 1))))]


@st.composite
def dense_base(draw):
    x, w, b = draw(dense_cases())
    return [A(x), A(w), A(b)]


@st.composite
def dense_backward_base(draw):
    x, w, _ = draw(dense_cases(bias=False))
    return [A(draw(arrays(x.shape[:-1] + w.shape[1:]))), A(x), A(w)]


@st.composite
def flatten_backward_base(draw):
    x = draw(images())
    return [A(layers.flatten(x)), S(x.shape)]


@st.composite
def plane_base(draw):
    x, k = draw(planes())
    return [A(x), A(k), Arg(draw(st.sampled_from(["valid", "full", "same"])), "mode")]


@st.composite
def gaussian_base(draw):
    return [I(draw(st.integers(1, 7))), Arg(draw(st.floats(0.1, 5)), "float")]


@st.composite
def sobel_gradient_base(draw):
    return [A(draw(arrays(draw(st.tuples(st.integers(1, 5), st.integers(1, 5))))))]


LAYER_CASES = {
    "conv": conv_base(), "conv_backward": conv_backward_base(),
    "relu": one_image(), "relu_backward": two_images(),
    "maxpool": pool_base(), "maxpool_backward": pool_backward_base(),
    "upconv": upconv_base(), "upconv_backward": upconv_backward_base(),
    "crop": crop_base(), "crop_backward": crop_backward_base(),
    "concat": concat_base(), "concat_backward": concat_backward_base(),
    "softmax": one_image(), "softmax_cross_entropy": sce_base(),
    "sigmoid": one_image(), "sigmoid_backward": two_images(),
    "softplus": one_image(), "softplus_backward": two_images(),
    "binary_cross_entropy": bce_base(),
    "binary_cross_entropy_with_logits": logits_and_targets(),
    "mse": two_images(), "dense": dense_base(), "dense_backward": dense_backward_base(),
    "flatten": one_image(), "flatten_backward": flatten_backward_base(),
    "correlate": plane_base(), "convolve": plane_base(),
    "gaussian_kernel": gaussian_base(), "sobel": st.just([]),
    "sobel_gradient": sobel_gradient_base(),
}


def test_every_public_layer_is_fuzzed():
    assert set(LAYER_CASES) == set(layers.__all__)


def sobel_oracle(result, args, values):
    """Magnitudes agree; directions only where there is an edge (atan2 of rounding is noise)."""
    agree_with(lambda image: naive.sobel_gradient(image)[0])(result[0], args, values)
    if values[0].size == 0:
        return
    magnitude, direction = result
    _, slow = naive.sobel_gradient(values[0].astype(np.float64))
    edge = magnitude > 1e-6 * max(1.0, float(np.abs(values[0]).max()))
    turn = np.angle(np.exp(1j * (direction[edge] - slow[edge])))   # π and −π are one angle
    np.testing.assert_allclose(turn, 0, atol=1e-9)


ORACLES = {name: agree_with(getattr(naive, name)) for name in LAYER_CASES}
ORACLES["sobel_gradient"] = sobel_oracle

for _name, _base in LAYER_CASES.items():
    globals()[f"test_fuzz_layers_{_name}"] = fuzz(_name, getattr(layers, _name), _base,
                                                  ORACLES[_name])


# -------------------------------------------------------- combinator cases

DYADIC = [np.add, np.subtract, np.multiply, np.maximum, np.minimum,
          apl.pervasive(lambda x, y: x * y + 1), lambda x, y: x - y]
MONADIC_CELL = [lambda c: np.asarray(c).sum(), apl.pervasive(np.negative), np.abs,
                lambda c: np.asarray(c).ravel()[:2]]
small_arrays = hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                     max_side=3),
                          elements=st.integers(-9, 9))
nonempty_arrays = hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                                                        max_side=3),
                             elements=st.integers(-9, 9))


@st.composite
def outer_base(draw):
    return [F(draw(st.sampled_from(DYADIC))), A(draw(small_arrays)), A(draw(small_arrays))]


@st.composite
def fold_base(draw):
    a = draw(nonempty_arrays)
    return [F(draw(st.sampled_from(DYADIC))), A(a), Arg(draw(st.integers(-a.ndim, a.ndim - 1)),
                                                        "axis")]


@st.composite
def inner_base(draw):
    n = draw(st.integers(1, 3))
    a = draw(arrays(draw(st.tuples(st.integers(1, 3))) + (n,), st.integers(-9, 9), np.int64))
    b = draw(arrays((n,) + draw(st.tuples(st.integers(1, 3))), st.integers(-9, 9), np.int64))
    return [F(draw(st.sampled_from(DYADIC))), F(draw(st.sampled_from(DYADIC))), A(a), A(b)]


@st.composite
def rank_base(draw):
    a = draw(small_arrays)
    return [F(draw(st.sampled_from(MONADIC_CELL))), I(draw(st.integers(-3, 3))), A(a)]


def rank_call(f, k, a):
    return apl.rank(f, k)(a)


def rank_oracle(f, k, a):
    return apl_naive.rank(f, k)(a)


@st.composite
def window_base(draw):
    a = draw(nonempty_arrays)
    d = draw(st.integers(1, a.ndim))
    valid = draw(st.booleans())
    size = tuple(draw(st.integers(1, a.shape[i] if valid else 4)) for i in range(d))
    step = tuple(draw(st.integers(1, 3)) for _ in range(d))
    return [A(a), S(size), S(step), Arg(valid, "bool")]


@st.composite
def stencil_base(draw):
    return [F(draw(st.sampled_from(MONADIC_CELL)))] + draw(window_base())


@st.composite
def rotate_base(draw):
    a = draw(nonempty_arrays)
    return [A(a), I(draw(st.integers(-5, 5))), Arg(draw(st.integers(-a.ndim, a.ndim - 1)),
                                                   "axis")]


@st.composite
def reverse_base(draw):
    a = draw(nonempty_arrays)
    return [A(a), Arg(draw(st.integers(-a.ndim, a.ndim - 1)), "axis")]


@st.composite
def rot180_base(draw):
    return [A(draw(arrays(draw(hnp.array_shapes(min_dims=2, max_dims=4, max_side=3)),
                          st.integers(-9, 9), np.int64)))]


@st.composite
def transpose_base(draw):
    a = draw(nonempty_arrays)
    return [A(a), S(tuple(draw(st.permutations(range(a.ndim)))))]


@st.composite
def take_base(draw):
    a = draw(nonempty_arrays)
    return [A(a), S(tuple(draw(st.integers(-4, 4)) for _ in range(draw(st.integers(1, a.ndim)))))]


@st.composite
def reshape_base(draw):
    return [A(draw(small_arrays)),
            S(draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)))]


@st.composite
def catenate_base(draw):
    a = draw(nonempty_arrays)
    axis = draw(st.integers(-a.ndim, a.ndim - 1))
    shape = list(a.shape)
    shape[axis] = draw(st.integers(0, 3))
    b = draw(arrays(tuple(shape), st.integers(-9, 9), np.int64))
    return [A(a), A(b), Arg(axis, "axis")]


def pervasive_call(f):
    """The mark that the combinators read."""
    return apl.pervasive(f).pervasive


@st.composite
def pervasive_base(draw):
    return [F(draw(st.sampled_from(DYADIC[:3])))]


def _exact(slow_fn):
    """The combinators' oracle: exactly the loop's numbers.

    Only for int64 and float64 arrays: the loops fold numpy scalars, so on
    booleans ``True + True`` is ``True`` where ``np.add.reduce`` counts (as
    APL does), and on int8 they wrap where ``np.add.reduce`` widens.
    """
    def oracle(result, args, values):
        if any(v.dtype not in (np.int64, np.float64) for v in _arrays_in(values)):
            return
        try:
            slow = slow_fn(*values)
        except Exception:  # noqa: BLE001 - the oracle only speaks for inputs it accepts
            return
        fast, ref = np.asarray(result), np.asarray(slow)
        assert fast.shape == ref.shape
        np.testing.assert_array_equal(fast, ref)
    return oracle


APL_CASES = {
    "outer": (apl.outer, outer_base(), _exact(apl_naive.outer)),
    "reduce": (apl.reduce, fold_base(), _exact(apl_naive.reduce)),
    "scan": (apl.scan, fold_base(), _exact(apl_naive.scan)),
    "inner": (apl.inner, inner_base(), _exact(apl_naive.inner)),
    "rank": (rank_call, rank_base(), _exact(rank_oracle)),
    "stencil": (apl.stencil, stencil_base(), _exact(apl_naive.stencil)),
    "windows": (apl.windows, window_base(), _exact(apl_naive.windows)),
    "rotate": (apl.rotate, rotate_base(), _exact(apl_naive.rotate)),
    "reverse": (apl.reverse, reverse_base(), _exact(apl_naive.reverse)),
    "rot180": (apl.rot180, rot180_base(), _exact(apl_naive.rot180)),
    "transpose": (apl.transpose, transpose_base(), _exact(apl_naive.transpose)),
    "take": (apl.take, take_base(), _exact(apl_naive.take)),
    "drop": (apl.drop, take_base(), _exact(apl_naive.drop)),
    "reshape": (apl.reshape, reshape_base(), _exact(apl_naive.reshape)),
    "catenate": (apl.catenate, catenate_base(), _exact(apl_naive.catenate)),
    "pervasive": (pervasive_call, pervasive_base(), None),
}


def test_every_combinator_is_fuzzed():
    errors = {"RankError", "LengthError", "DomainError"}
    assert set(APL_CASES) == set(apl.__all__) - errors


for _name, (_call, _base, _oracle) in APL_CASES.items():
    globals()[f"test_fuzz_apl_{_name}"] = fuzz(_name, _call, _base, _oracle)


def test_a_mutant_outside_the_contract_is_caught():
    """The harness itself: a bare numpy error, and a NaN from finite input, both fail it."""
    with pytest.raises(AssertionError, match="without its own message"):
        check("f", lambda a: np.reshape(a, (7,)), [A(None)], [np.zeros(1)])
    with pytest.raises(AssertionError, match="NaN from finite input"), \
            np.errstate(invalid="ignore"):
        check("f", lambda a: a / a.sum(), [A(None)], [np.zeros(2)])


# ------------------------------------------------- the network and the data

from aplnet import data, tiling, unet  # noqa: E402 - grouped with the cases that use them

NET = unet.UNet(depth=2, width=2, classes=3, seed=0)
JUNK = st.sampled_from([None, "x", 3, -1, 0, 2.5, math.nan, math.inf, [[1, 2], [3]],
                        ABSURD[0], ABSURD[1], np.zeros(0), np.zeros((2, 2), complex),
                        np.zeros((2, 2)).astype(object)])


def images_for(net, count=st.integers(0, 2)):
    """Network inputs: valid sizes for ``net`` and, mutated, anything else."""
    side = st.sampled_from(net.valid_input_sizes(70)[:3])
    shape = st.tuples(count, side, side, st.just(net.in_channels))
    return shape.flatmap(lambda s: arrays(s, st.floats(-3, 3, width=32), np.float32))


@st.composite
def forward_base(draw):
    return [A(draw(images_for(NET)))]


@st.composite
def loss_base(draw):
    out = NET.output_size(draw(st.sampled_from(NET.valid_input_sizes(70)[:3])))
    shape = (draw(st.integers(1, 2)), out, out)
    logits = draw(arrays(shape + (NET.classes,), st.floats(-50, 50, width=32), np.float32))
    labels = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, NET.classes - 1)))
    weights = draw(st.none() | arrays(shape, st.floats(0, 5, width=32), np.float32))
    return [A(logits), L(labels), A(weights)]


@st.composite
def predict_base(draw):
    h, w = draw(st.integers(1, 30)), draw(st.integers(1, 30))
    return [A(draw(arrays((h, w, NET.in_channels), st.floats(0, 1, width=32), np.float32)))]


@st.composite
def mask_base(draw):
    shape = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    return [L(draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 2))))]


@st.composite
def weight_map_base(draw):
    return draw(mask_base()) + [Arg(draw(st.floats(0, 10)), "float"),
                                Arg(draw(st.floats(0.5, 5)), "float")]


@st.composite
def dihedral_base(draw):
    return [A(draw(images())), I(draw(st.integers(0, 7)))]


@st.composite
def warp_base(draw):
    a = draw(arrays((draw(st.integers(1, 6)), draw(st.integers(1, 6)), 2)))
    field = draw(arrays((2,) + a.shape[:2], st.floats(-3, 3)))
    return [A(a), A(field), I(draw(st.sampled_from([0, 1])))]


@st.composite
def augment_base(draw):
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    image = draw(arrays((h, w, 1), st.floats(0, 1, width=32), np.float32))
    mask = draw(hnp.arrays(np.uint8, (h, w), elements=st.integers(0, 1)))
    return [A(image), L(mask), A(draw(st.none() | arrays((h, w), st.floats(0, 3)))),
            Arg(draw(st.floats(0, 3)), "float")]


@st.composite
def sizes_base(draw):
    depth = draw(st.integers(1, 5))
    return [I(draw(st.sampled_from(unet.valid_input_sizes(depth, 300)))), I(depth)]


@st.composite
def outputs_base(draw):
    return [I(draw(st.integers(1, 300))), I(draw(st.integers(1, 5)))]


def seeded(f):
    """``f(rng, *args)`` with a fixed generator, so the call is a function of its arguments."""
    return lambda *args: f(np.random.default_rng(0), *args)


NETWORK_CASES = {
    "UNet.forward": (lambda x: NET.forward(x)[0], forward_base()),
    "UNet": (NET, forward_base()),
    "UNet.loss": (NET.loss, loss_base()),
    "predict": (lambda image: tiling.predict(NET, image, progress=False), predict_base()),
    "label_components": (data.label_components, mask_base()),
    "weight_map": (data.weight_map, weight_map_base()),
    "dihedral": (data.dihedral, dihedral_base()),
    "warp": (data.warp, warp_base()),
    "augment": (seeded(data.augment), augment_base()),
    "elastic_field": (seeded(data.elastic_field),
                      st.tuples(st.integers(1, 6), st.integers(1, 6)).map(lambda s: [S(s)])),
    "synthetic_cells": (lambda n, size: data.synthetic_cells(n, size)[:2],
                        st.integers(0, 2).map(lambda n: [I(n), I(16)])),
    "output_size": (unet.output_size, sizes_base()),
    "input_size_for": (unet.input_size_for, outputs_base()),
    "check_input_size": (unet.check_input_size, sizes_base()),
}


@st.composite
def with_junk(draw, base):
    """The network cases' mutants: the array mutations, or plain junk in one place."""
    args, values, changed = draw(mutated(base))
    if values and draw(st.booleans()):
        values = list(values)
        values[draw(st.integers(0, len(values) - 1))] = draw(JUNK)
        changed = True
    return args, values, changed


SIZE_PREFIXES = ("input size", "check_input_size:")


def fuzz_network(name, call, base):
    @given(with_junk(base))
    def test(case):
        args, values, changed = case
        result = check(name, call, args, values, prefixes=SIZE_PREFIXES if "size" in name else ())
        if not changed:
            assert result is not None, f"{name} refused a well-formed case"
    return test


for _name, (_call, _base) in NETWORK_CASES.items():
    globals()[f"test_fuzz_{_name.replace('.', '_')}"] = fuzz_network(_name, _call, _base)


# ----------------------------------------- the refusals fuzzing led to, pinned

MEMORY = r"bytes; expected at most (the [\d,]+ bytes of memory available|what numpy can index)"
PINNED = [
    (lambda: layers.conv(np.zeros((3, 3, 1), complex), np.zeros((1, 1, 1, 1))), TypeError,
     r"conv: x must hold real numbers; got dtype=complex128 \(shape \(3, 3, 1\)\)"),
    (lambda: layers.relu(np.zeros(2, complex)), TypeError, r"relu: z must hold real numbers"),
    (lambda: layers.conv(np.zeros((3, 3, 1)), np.zeros((0, 1, 1, 1))), apl.DomainError,
     r"conv: w must have at least one tap and one channel in and out, shape \(kh, kw, Cin, "
     r"Cout\) each >= 1; got w.shape=\(0, 1, 1, 1\)"),
    (lambda: layers.conv(np.zeros((3, 3, 1)), np.zeros((1, 1, 1, 1)), pad=ABSURD[0]),
     apl.DomainError, r"conv: x padded by pad=1000000000000 would have shape "
                      r"\(2000000000003, 2000000000003, 1\), [\d,]+ " + MEMORY),
    (lambda: layers.softmax(np.zeros((2, 0))), apl.RankError,
     r"softmax: a must have a last axis of at least one class, shape \(…, K\) with K >= 1; "
     r"got a.shape=\(2, 0\)"),
    (lambda: layers.softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, int)), apl.DomainError,
     r"softmax_cross_entropy: labels must hold at least one item to average over; "
     r"got labels.shape=\(0,\)"),
    (lambda: layers.mse(np.zeros(0), np.zeros(0)), apl.DomainError,
     r"mse: y must hold at least one item to average over; got y.shape=\(0,\)"),
    (lambda: layers.flatten_backward(np.zeros(4), (-2, -2, 1)), apl.DomainError,
     r"flatten_backward: shape must be non-negative; got shape=\(-2, -2, 1\)"),
    (lambda: layers.flatten_backward(np.zeros(4), None), TypeError,
     r"flatten_backward: shape must be an integer or a sequence of integers; got None"),
    (lambda: layers.crop_backward(np.zeros((1, 1, 1)), (ABSURD[0], ABSURD[0])), apl.DomainError,
     r"crop_backward: the gradient padded to hw=\(1000000000000, 1000000000000\) would have "
     r"shape \(1000000000000, 1000000000000, 1\), [\d,]+ " + MEMORY),
    (lambda: layers.gaussian_kernel(10 ** 6, 1.0), apl.DomainError,
     r"gaussian_kernel: the kernel of size=1000000 would have shape \(1000000, 1000000\), "
     r"8,000,000,000,000 " + MEMORY),
    (lambda: layers.gaussian_kernel(3, "1"), TypeError,
     r"gaussian_kernel: sigma must be a real number; got sigma='1'"),
    (lambda: layers.correlate(np.zeros((3, 3)), np.zeros((0, 2))), apl.DomainError,
     r"correlate: k must have at least one row and column; got k.shape=\(0, 2\)"),
    (lambda: apl.take(np.arange(3), ABSURD[0]), apl.DomainError,
     r"take: the result of take with n=\(1000000000000,\) would have shape "
     r"\(1000000000000,\), 8,000,000,000,000 " + MEMORY),
    (lambda: apl.reshape(np.arange(3), (ABSURD[1],)), apl.DomainError,
     r"reshape: the result would have shape \(1180591620717411303424,\), [\d,]+ " + MEMORY),
    (lambda: apl.transpose(np.zeros((2, 2)), (ABSURD[0], ABSURD[0])), apl.DomainError,
     r"transpose: perm must use every result axis 0..1000000000000 and no negative one"),
    (lambda: apl.stencil(lambda w: w.sum(), np.arange(3), 5, valid=True), apl.DomainError,
     r"stencil: size=\(5,\) is larger than the array's leading axes \(3,\)"),
    (lambda: apl.windows(np.arange(3), ABSURD[0], valid=False), apl.DomainError,
     r"windows: one window of size=\(1000000000000,\) would have shape \(1000000000000,\), "
     r"[\d,]+ " + MEMORY),
    (lambda: unet.UNet(depth=3, width=ABSURD[0]), apl.DomainError,
     r"UNet: the weights of depth=3, width=1000000000000 would have shape \(\d+,\), [\d,]+ "
     + MEMORY),
    (lambda: unet.UNet(depth=25, width=2), apl.DomainError,
     r"UNet: depth must be in 1…24; got 25"),
    (lambda: unet.input_size_for(math.nan, 3), apl.DomainError,
     r"input_size_for: out must be an integer in 1…2\*\*26 \(pixels a side\); got out=nan"),
    (lambda: unet.check_input_size(ABSURD[1], 3), apl.DomainError,
     r"input size 1180591620717411303424 is more than 2\*\*26 pixels"),
    (lambda: NET.loss(np.zeros((1, 4, 4, 2), np.float32), np.zeros((1, 4, 4), int)),
     apl.LengthError, r"UNet.loss: logits must be floats of shape \(…, Ho, Wo, classes=3\); "
                      r"got logits.shape=\(1, 4, 4, 2\), dtype=float32"),
    (lambda: NET.loss(np.zeros((0, 4, 4, 3), np.float32), np.zeros((0, 4, 4), int)),
     apl.DomainError, r"UNet.loss: labels must hold at least one pixel to average the loss "
                      r"over; got labels.shape=\(0, 4, 4\)"),
    (lambda: tiling.predict(NET, np.full((20, 20, 1), np.nan, np.float32), progress=False),
     apl.DomainError, r"predict: image must be finite; got 400 NaN or Inf values"),
    (lambda: data.dihedral(np.zeros((2, 2)), 2.0), TypeError,
     r"dihedral: k must be an integer in 0…7; got 2.0"),
    (lambda: data.warp(np.zeros((2, 2)), np.zeros((2, 2, 2)), order=2), apl.DomainError,
     r"warp: order must be 0 \(nearest\) or 1 \(bilinear\); got 2"),
    (lambda: data.warp(np.zeros((2, 2)), np.zeros((2, 3, 2))), apl.LengthError,
     r"warp: field must have shape \(2, H, W\) = \(2, 2, 2\); got field.shape=\(2, 3, 2\)"),
    (lambda: data.augment(np.random.default_rng(0), np.zeros((2, 2, 1)), np.zeros((2, 2))),
     TypeError, r"augment: mask must hold integer labels; got dtype float64"),
    (lambda: data.elastic_field(np.random.default_rng(0), (3, 3), sigma=-1), apl.DomainError,
     r"elastic_field: sigma must be finite and at least 0; got sigma=-1"),
    (lambda: data.synthetic_cells(2, ABSURD[0]), apl.DomainError,
     r"synthetic_cells: 2 images of 1000000000000x1000000000000 would have shape "
     r"\(2, 1000000000000, 1000000000000, 1\), [\d,]+ " + MEMORY),
    (lambda: data.weight_map(np.zeros((2, 2), int), 1.0, math.nan), apl.DomainError,
     r"weight_map: sigma must be finite and at least 0; got sigma=nan"),
]


@pytest.mark.parametrize("call, error, message", PINNED)
def test_a_refusal_found_by_fuzzing_keeps_its_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int64, np.bool_])
def test_integer_and_boolean_images_are_promoted_to_float64(dtype):
    """The documented promotion: arithmetic layers compute in float64, exactly."""
    x = np.array([[1, 0], [1, 1]], dtype)[..., None]
    w = np.ones((2, 2, 1, 1), dtype)
    z = layers.conv(x, w)
    assert z.dtype == np.float64 and z.item() == 3.0


def test_moving_layers_keep_integer_labels():
    labels = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    assert layers.crop(labels, (2, 2)).dtype == np.uint8
    assert layers.maxpool(labels).dtype == np.uint8


def test_an_even_gaussian_kernel_of_tiny_sigma_is_the_four_centre_cells():
    """σ → 0 concentrates the kernel on the nearest cells; no 0/0 on the way."""
    np.testing.assert_array_equal(layers.gaussian_kernel(2, 1e-300), np.full((2, 2), 0.25))


def test_a_huge_warp_is_a_mirrored_shift_not_nan():
    a = np.arange(12.0).reshape(3, 4)
    period = np.zeros((2, 3, 4))
    period[0] = 2 * (3 - 1) * 1e6         # a whole number of mirror periods: no movement
    np.testing.assert_array_equal(data.warp(a, period), a)
