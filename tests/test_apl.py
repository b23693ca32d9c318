"""aplnet.apl against its plain-loop oracle, its algebraic laws, and its errors.

The oracle is tests/apl_naive.py (itself pinned by test_apl_naive.py). Each
property draws small shapes, axes and values with hypothesis and checks
that one path of one combinator (the ufunc fast path, the pervasive fast
path, or the generic per-cell path) equals the loop.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import apl_naive as naive
from aplnet import apl
from aplnet.apl import DomainError, LengthError, RankError, pervasive
from strategies import (array_and_axis, axes, float_arrays, int_arrays, shapes,
                        window_specs)

EXACT_UFUNCS = [np.add, np.subtract, np.multiply, np.maximum, np.minimum]


def agree(fast, slow, exact=True):
    """Same shape and the same numbers (to 1e-10 for floats unless ``exact``)."""
    fast, slow = np.asarray(fast), np.asarray(slow)
    assert fast.shape == slow.shape
    if exact:
        np.testing.assert_array_equal(fast, slow)
    else:
        np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-10)


def weighted(w):
    """A window function that sees every item and where it sits."""
    return (w * np.arange(1, w.size + 1).reshape(w.shape)).sum()


small = settings(deadline=None)


# ----------------------------------------------------------------- outer

@small
@given(st.sampled_from(EXACT_UFUNCS + [np.equal]), int_arrays(max_dims=2),
       int_arrays(max_dims=2))
def test_outer_ufunc_matches_naive(f, a, b):
    agree(apl.outer(f, a, b), naive.outer(f, a, b))


@small
@given(int_arrays(max_dims=2), int_arrays(max_dims=2))
def test_outer_generic_matches_naive(a, b):
    f = lambda x, y: 3 * x - y  # noqa: E731
    agree(apl.outer(f, a, b), naive.outer(f, a, b))


@small
@given(int_arrays(max_dims=2), int_arrays(max_dims=2))
def test_outer_pervasive_matches_naive(a, b):
    f = pervasive(lambda x, y: np.where(x > y, x, 2 * y))
    agree(apl.outer(f, a, b), naive.outer(f, a, b))


@small
@given(int_arrays(max_dims=2, lo=0, hi=3), int_arrays(max_dims=1, lo=0, hi=3))
def test_outer_mixes_ragged_results_as_naive(a, b):
    f = lambda x, y: np.arange(x + y)  # noqa: E731
    agree(apl.outer(f, a, b), naive.outer(f, a, b))


@small
@given(int_arrays(max_dims=3), st.integers(0, 4))
def test_outer_times_ones_repeats_the_array(a, m):
    expected = np.repeat(a[..., None], m, axis=-1)
    agree(apl.outer(np.multiply, a, np.ones(m, int)), expected)


# ---------------------------------------------------------------- reduce

@small
@given(st.sampled_from(EXACT_UFUNCS), array_and_axis(min_side=1))
def test_reduce_ufunc_matches_naive(f, a_axis):
    a, axis = a_axis
    agree(apl.reduce(f, a, axis), naive.reduce(f, a, axis))


@small
@given(array_and_axis(float_arrays(min_dims=1, min_side=1)))
def test_reduce_float_subtract_matches_naive(a_axis):
    a, axis = a_axis
    agree(apl.reduce(np.subtract, a, axis), naive.reduce(np.subtract, a, axis), exact=False)


@small
@given(st.sampled_from([np.divide, np.power]),
       array_and_axis(float_arrays(min_dims=1, min_side=1, lo=0.5, hi=2.0)))
def test_reduce_nonassociative_ufunc_matches_naive(f, a_axis):
    a, axis = a_axis  # numpy's array and scalar power may differ in the last bit
    agree(apl.reduce(f, a, axis), naive.reduce(f, a, axis), exact=False)


@small
@given(array_and_axis(min_side=1))
def test_reduce_generic_matches_naive(a_axis):
    a, axis = a_axis
    f = lambda x, y: x - 2 * y  # noqa: E731
    agree(apl.reduce(f, a, axis), naive.reduce(f, a, axis))


@small
@given(array_and_axis(min_side=1))
def test_reduce_pervasive_matches_naive(a_axis):
    a, axis = a_axis
    f = pervasive(lambda x, y: x - 2 * y)
    agree(apl.reduce(f, a, axis), naive.reduce(f, a, axis))


@small
@given(st.sampled_from(list(naive.IDENTITY)), shapes(min_dims=1), st.data())
def test_reduce_of_an_empty_axis_is_the_identity(f, shape, data):
    axis = data.draw(axes(len(shape)))
    shape = shape[:axis % len(shape)] + (0,) + shape[axis % len(shape) + 1:]
    a = np.zeros(shape, int)
    agree(apl.reduce(f, a, axis), naive.reduce(f, a, axis))


@small
@given(array_and_axis())
def test_plus_reduce_is_sum(a_axis):
    a, axis = a_axis
    agree(apl.reduce(np.add, a, axis), a.sum(axis=axis))


# ------------------------------------------------------------------ scan

@small
@given(st.sampled_from(EXACT_UFUNCS), array_and_axis())
def test_scan_ufunc_matches_naive(f, a_axis):
    a, axis = a_axis
    agree(apl.scan(f, a, axis), naive.scan(f, a, axis))


@small
@given(array_and_axis(float_arrays(min_dims=1, lo=0.5, hi=2.0)))
def test_scan_divide_matches_naive(a_axis):
    a, axis = a_axis
    agree(apl.scan(np.divide, a, axis), naive.scan(np.divide, a, axis), exact=False)


@small
@given(array_and_axis(max_side=3))
def test_scan_generic_matches_naive(a_axis):
    a, axis = a_axis
    f = lambda x, y: x - 2 * y  # noqa: E731
    agree(apl.scan(f, a, axis), naive.scan(f, a, axis))


@small
@given(st.sampled_from(EXACT_UFUNCS), array_and_axis(min_side=1))
def test_scan_ends_with_the_reduction(f, a_axis):
    a, axis = a_axis
    agree(np.take(apl.scan(f, a, axis), -1, axis=axis), apl.reduce(f, a, axis))


# ----------------------------------------------------------------- inner

@st.composite
def inner_pair(draw, lo=-9, hi=9):
    n = draw(st.integers(0, 4))
    a = draw(int_arrays(draw(shapes(max_dims=2)) + (n,), lo=lo, hi=hi))
    b = draw(int_arrays((n,) + draw(shapes(max_dims=2)), lo=lo, hi=hi))
    return a, b


@small
@given(st.sampled_from([(np.add, np.multiply), (np.maximum, np.add),
                        (np.subtract, np.multiply), (np.multiply, np.subtract)]),
       inner_pair())
def test_inner_ufuncs_match_naive(fg, ab):
    (f, g), (a, b) = fg, ab
    agree(apl.inner(f, g, a, b), naive.inner(f, g, a, b))


@small
@given(inner_pair())
def test_inner_generic_matches_naive(ab):
    a, b = ab
    f, g = (lambda x, y: x - y), (lambda x, y: x * 2 + y)
    assume(a.shape[-1] > 0)  # a lambda has no identity
    agree(apl.inner(f, g, a, b), naive.inner(f, g, a, b))


@small
@given(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4), st.data())
def test_plus_times_is_matmul(m, n, p, data):
    a = data.draw(int_arrays((m, n)))
    b = data.draw(int_arrays((n, p)))
    agree(apl.inner(np.add, np.multiply, a, b), a @ b)


# ------------------------------------------------------------------ rank

RANK_CELL_FUNCTIONS = [
    lambda c: c.sum(),
    lambda c: np.ravel(c)[::-1],
    lambda c: np.arange(int(np.abs(c).sum()) % 4),   # ragged results
]


@small
@given(st.sampled_from(RANK_CELL_FUNCTIONS), int_arrays(), st.integers(-4, 4))
def test_rank_monadic_generic_matches_naive(f, a, k):
    agree(apl.rank(f, k)(a), naive.rank(f, k)(a))


@small
@given(int_arrays(), st.integers(-4, 4))
def test_rank_monadic_ufunc_matches_naive(a, k):
    agree(apl.rank(np.negative, k)(a), naive.rank(np.negative, k)(a))


@small
@given(int_arrays(min_dims=1), st.integers(1, 4))
def test_rank_monadic_pervasive_matches_naive(a, k):
    f = pervasive(lambda c: c.sum(axis=-1))  # rank 1, leading axes a frame
    agree(apl.rank(f, k)(a), naive.rank(f, k)(a))


@st.composite
def rank_pair(draw):
    """(a, b, k): frames equal or one empty, a's cells a suffix of b's (or scalar)."""
    frame = draw(shapes(max_dims=2))
    cell = draw(shapes(max_dims=2))
    ra = draw(st.integers(0, len(cell)))
    a_frame = frame if draw(st.booleans()) else ()
    b_frame = frame if draw(st.booleans()) or not a_frame else ()
    a = draw(int_arrays(a_frame + cell[len(cell) - ra:]))
    b = draw(int_arrays(b_frame + cell))
    ka = ra - a.ndim if draw(st.booleans()) and a.ndim > ra else ra
    kb = len(cell) - b.ndim if draw(st.booleans()) and b.ndim > len(cell) else len(cell)
    return a, b, (ka, kb)


@small
@given(rank_pair())
def test_rank_dyadic_ufunc_matches_naive(abk):
    a, b, k = abk
    agree(apl.rank(np.subtract, k)(a, b), naive.rank(np.subtract, k)(a, b))


@small
@given(rank_pair())
def test_rank_dyadic_generic_matches_naive(abk):
    a, b, k = abk
    f = lambda x, y: np.concatenate([np.ravel(x), -np.ravel(y)])  # noqa: E731
    agree(apl.rank(f, k)(a, b), naive.rank(f, k)(a, b))


@small
@given(st.sampled_from(RANK_CELL_FUNCTIONS[:2] + [lambda c: 2 * c - np.sum(c)]),
       int_arrays(), st.integers(0, 2))
def test_rank_at_or_above_the_array_rank_is_f(f, a, extra):
    agree(apl.rank(f, a.ndim + extra)(a), f(a))


# --------------------------------------------------------------- stencil

@st.composite
def stencil_case(draw, min_side=0):
    valid = draw(st.booleans())
    a = draw(int_arrays(min_dims=1, max_dims=3, min_side=1 if valid else min_side))
    size, step = draw(window_specs(a.shape, valid))
    return a, size, step, valid


@small
@given(stencil_case())
def test_stencil_generic_matches_naive(case):
    a, size, step, valid = case
    agree(apl.stencil(weighted, a, size, step, valid),
          naive.stencil(weighted, a, size, step, valid))


@small
@given(stencil_case())
def test_stencil_pervasive_matches_naive(case):
    a, size, step, valid = case
    cell_axes = tuple(range(-(a.ndim), 0))  # the window and trailing axes of each cell
    f = pervasive(lambda w: (w * np.arange(1, 1 + np.prod(w.shape[len(w.shape) - a.ndim:]))
                             .reshape(w.shape[len(w.shape) - a.ndim:])).sum(axis=cell_axes))
    agree(apl.stencil(f, a, size, step, valid), naive.stencil(weighted, a, size, step, valid))


@small
@given(stencil_case())
def test_stencil_edges_match_naive(case):
    a, size, step, valid = case
    f = lambda p, w: np.concatenate([p, np.ravel(w)])  # noqa: E731
    agree(apl.stencil(f, a, size, step, valid, edges=True),
          naive.stencil(f, a, size, step, valid, edges=True))


@small
@given(stencil_case(min_side=1))
def test_stencil_edges_pervasive_match_naive(case):
    a, size, step, valid = case
    d = len(size)
    f = pervasive(lambda p, w: p * 100 + w[(Ellipsis,) + (0,) * (w.ndim - d)][..., None])
    g = lambda p, w: p * 100 + np.ravel(w)[0]  # noqa: E731
    agree(apl.stencil(f, a, size, step, valid, edges=True),
          naive.stencil(g, a, size, step, valid, edges=True))


@small
@given(stencil_case())
def test_windows_match_naive(case):
    a, size, step, valid = case
    agree(apl.windows(a, size, step, valid), naive.windows(a, size, step, valid))


@small
@given(int_arrays(min_dims=1, max_dims=3, min_side=1), st.data())
def test_stencil_centre_pick_is_the_array(a, data):
    d = data.draw(st.integers(1, a.ndim))
    size = tuple(data.draw(st.sampled_from([1, 3, 5])) for _ in range(d))
    step = tuple(data.draw(st.integers(1, 3)) for _ in range(d))
    centre = tuple(s // 2 for s in size)
    every = tuple(slice(None, None, m) for m in step)
    agree(apl.stencil(lambda w: w[centre], a, size, step), a[every])


@small
@given(int_arrays(min_dims=1, max_dims=2, min_side=1), st.data())
def test_valid_windows_are_the_inner_dyalog_windows(a, data):
    size = data.draw(st.sampled_from([1, 3, 5]))
    assume(size <= a.shape[0])
    inner = slice(size // 2, a.shape[0] - size // 2)
    agree(apl.windows(a, size), apl.windows(a, size, valid=False)[inner])


# ------------------------------------------------------------ primitives

@small
@given(array_and_axis(), st.integers(-6, 6))
def test_rotate_matches_naive(a_axis, n):
    a, axis = a_axis
    agree(apl.rotate(a, n, axis), naive.rotate(a, n, axis))


@small
@given(array_and_axis(min_side=1), st.integers(-6, 6))
def test_rotate_back_is_the_array(a_axis, n):
    a, axis = a_axis
    agree(apl.rotate(apl.rotate(a, n, axis), -n, axis), a)


@small
@given(array_and_axis())
def test_reverse_matches_naive(a_axis):
    a, axis = a_axis
    agree(apl.reverse(a, axis), naive.reverse(a, axis))


@small
@given(int_arrays(min_dims=2, max_dims=4))
def test_rot180_matches_naive(a):
    agree(apl.rot180(a), naive.rot180(a))


@st.composite
def array_and_perm(draw, distinct=False):
    a = draw(int_arrays())
    if distinct:
        perm = tuple(draw(st.permutations(range(a.ndim))))
    else:
        r = draw(st.integers(min(1, a.ndim), a.ndim))
        perm = draw(st.lists(st.integers(0, max(0, r - 1)), min_size=a.ndim,
                             max_size=a.ndim))
        assume(set(perm) == set(range(r)))
    return a, tuple(perm)


@small
@given(array_and_perm())
def test_transpose_matches_naive(a_perm):
    a, perm = a_perm
    agree(apl.transpose(a, perm), naive.transpose(a, perm))


@small
@given(array_and_perm(distinct=True))
def test_transpose_round_trips(a_perm):
    a, perm = a_perm
    agree(apl.transpose(apl.transpose(a, perm), tuple(np.argsort(perm))), a)


@small
@given(int_arrays())
def test_monadic_transpose_twice_is_the_array(a):
    agree(apl.transpose(apl.transpose(a)), a)
    agree(apl.transpose(a), naive.transpose(a))


@st.composite
def array_and_counts(draw):
    a = draw(int_arrays(min_dims=1))
    d = draw(st.integers(1, a.ndim))
    return a, tuple(draw(st.integers(-6, 6)) for _ in range(d))


@small
@given(array_and_counts())
def test_take_matches_naive(a_n):
    a, n = a_n
    agree(apl.take(a, n), naive.take(a, n))


@small
@given(array_and_counts())
def test_drop_matches_naive(a_n):
    a, n = a_n
    agree(apl.drop(a, n), naive.drop(a, n))


@small
@given(int_arrays(min_dims=1), st.data())
def test_take_and_drop_catenate_to_the_array(a, data):
    n = data.draw(st.integers(0, a.shape[0]))
    agree(apl.catenate(apl.take(a, n), apl.drop(a, n), axis=0), a)


@small
@given(int_arrays(), shapes(max_dims=3))
def test_reshape_matches_naive(a, shape):
    agree(apl.reshape(a, shape), naive.reshape(a, shape))


@small
@given(int_arrays(min_side=1))
def test_reshape_to_its_own_shape_is_the_array(a):
    agree(apl.reshape(a, a.shape), a)


@st.composite
def catenate_case(draw):
    b_shape = draw(shapes(min_dims=1))
    axis = draw(axes(len(b_shape)))
    ax = axis % len(b_shape)
    form = draw(st.sampled_from(["same", "lower", "scalar"]))
    if form == "same":
        a_shape = b_shape[:ax] + (draw(st.integers(0, 3)),) + b_shape[ax + 1:]
    elif form == "lower":
        a_shape = b_shape[:ax] + b_shape[ax + 1:]
    else:
        a_shape = ()
    a, b = draw(int_arrays(a_shape)), draw(int_arrays(b_shape))
    return (a, b, axis) if draw(st.booleans()) else (b, a, axis)


@small
@given(catenate_case())
def test_catenate_matches_naive(case):
    a, b, axis = case
    agree(apl.catenate(a, b, axis), naive.catenate(a, b, axis))


# ---------------------------------------------------------------- dtypes

F32 = np.arange(1, 13, dtype=np.float32).reshape(3, 4)


@pytest.mark.parametrize("call", [
    lambda: apl.outer(np.subtract, F32[0], F32[1]),
    lambda: apl.outer(lambda x, y: x - y, F32[0], F32[1]),
    lambda: apl.reduce(np.subtract, F32),
    lambda: apl.reduce(np.divide, F32, axis=0),
    lambda: apl.reduce(lambda x, y: x - y, F32),
    lambda: apl.reduce(np.maximum, F32[:, :0]),
    lambda: apl.scan(np.subtract, F32),
    lambda: apl.inner(np.add, np.multiply, F32, F32.T),
    lambda: apl.inner(np.maximum, np.add, F32, F32.T),
    lambda: apl.rank(lambda c: c.sum(), 1)(F32),
    lambda: apl.stencil(lambda w: w.sum(), F32, (3, 3)),
    lambda: apl.windows(F32, 2, valid=False),
    lambda: apl.take(F32, (4, 5)),
    lambda: apl.reshape(F32, 20),
    lambda: apl.transpose(F32, (0, 0)),
], ids=["outer", "outer-generic", "reduce-minus", "reduce-divide", "reduce-generic",
        "reduce-empty", "scan-minus", "inner-matmul", "inner-maxplus", "rank",
        "stencil", "windows", "take", "reshape", "transpose-diagonal"])
def test_float32_stays_float32(call):
    assert np.asarray(call()).dtype == np.float32


def test_windows_valid_is_a_read_only_view():
    a = np.arange(10)
    w = apl.windows(a, 3)
    assert np.shares_memory(w, a) and not w.flags.writeable


def test_unary_ufunc_is_not_fed_an_output_array():
    b = np.arange(3)
    with pytest.raises(TypeError):
        apl.outer(np.negative, np.arange(2), b)
    np.testing.assert_array_equal(b, np.arange(3))


def test_pervasive_wraps_functions_that_refuse_attributes():
    f = pervasive(abs)
    assert f.pervasive and f(-3) == 3


def test_rank_names_the_derived_function():
    assert apl.rank(np.add, (0, 1)).__name__ == "add⍤(0, 1)"


def test_stencil_of_an_empty_frame_uses_the_function_prototype():
    z = apl.stencil(lambda w: np.array([w.sum(), w.max()]), np.zeros((0, 3)), 3)
    assert z.shape == (0, 2)


def test_reduce_of_a_vector_is_a_numpy_scalar():
    assert isinstance(apl.reduce(np.subtract, [1, 2, 3]), np.integer)


# ---------------------------------------------------------------- errors

Z23 = np.zeros((2, 3))
V3 = np.arange(3)

ERRORS = [
    (lambda: apl.outer(np.add, "ab", V3), TypeError,
     r"outer: a must be an array or a number; got str"),
    (lambda: apl.outer(np.negative, V3, V3), TypeError,
     r"outer: f is called with 2 array\(s\) here; got the ufunc negative, which takes 1"),
    (lambda: apl.outer(5, V3, V3), TypeError, r"outer: f must be a function; got int"),
    (lambda: apl.reduce(np.add, [[1], [2, 3]]), TypeError,
     r"reduce: a must be a rectangular array; got a ragged list"),
    (lambda: apl.reduce(np.add, [None, 1]), TypeError,
     r"reduce: a must hold numbers; got dtype=object \(shape \(2,\)\)"),
    (lambda: apl.reduce(np.add, Z23, axis=2), RankError,
     r"reduce: axis=2 is out of range for a.shape=\(2, 3\); expected -2 <= axis < 2"),
    (lambda: apl.reduce(np.add, Z23, axis=1.0), TypeError,
     r"reduce: axis must be an integer; got 1.0"),
    (lambda: apl.reduce(np.arctan2, np.zeros((2, 0))), DomainError,
     r"reduce: f=arctan2 has no identity element, so it cannot reduce the empty axis 1 "
     r"of shape \(2, 0\)"),
    (lambda: apl.reduce(lambda x, y: [x, y], [1, 2]), DomainError,
     r"reduce: f=<lambda> must return a scalar for each pair of items; got a result of "
     r"shape \(2,\)"),
    (lambda: apl.reduce(pervasive(lambda x, y: np.stack([x, y])), V3), DomainError,
     r"reduce: f=<lambda> is marked pervasive, so on arrays of shape \(\) it must return "
     r"that shape; got \(2,\)"),
    (lambda: apl.scan(np.add, V3, axis=-2), RankError,
     r"scan: axis=-2 is out of range for a.shape=\(3,\)"),
    (lambda: apl.inner(np.add, np.multiply, Z23, Z23), LengthError,
     r"inner: a.shape\[-1\] must equal b.shape\[0\]; got a.shape=\(2, 3\), "
     r"b.shape=\(2, 3\)"),
    (lambda: apl.inner(np.arctan2, np.add, np.zeros((2, 0)), np.zeros((0, 3))),
     DomainError, r"inner: f=arctan2 has no identity element, so it cannot fold the "
     r"empty inner axis of a.shape=\(2, 0\), b.shape=\(0, 3\)"),
    (lambda: apl.inner(np.add, "g", Z23, Z23.T), TypeError,
     r"inner: g must be a function; got str"),
    (lambda: apl.rank(np.add, "x"), TypeError,
     r"rank: k must be an integer or 1 to 3 integers \(monadic, left, right\); got 'x'"),
    (lambda: apl.rank(np.add, (1, 2, 3, 4)), TypeError, r"rank: k must be an integer"),
    (lambda: apl.rank(3, 1), TypeError, r"rank: f must be a function; got int"),
    (lambda: apl.rank(np.add, 0)(V3, V3, V3), TypeError,
     r"rank: the derived function takes 1 or 2 arrays; got 3"),
    (lambda: apl.rank(np.add, 0)(V3), TypeError,
     r"rank: f is called with 1 array\(s\) here; got the ufunc add, which takes 2"),
    (lambda: apl.rank(np.add, (0, 1))(V3, Z23), LengthError,
     r"rank: the frames must agree, or one be empty; got left frame \(3,\) "
     r"\(a.shape=\(3,\), cells of rank 0\) and right frame \(2,\) "
     r"\(b.shape=\(2, 3\), cells of rank 1\)"),
    (lambda: apl.rank(lambda x, y: x, 0)("a", V3), TypeError,
     r"rank: left argument must be an array or a number; got str"),
    (lambda: apl.rank(pervasive(lambda c: c.sum()), 1)(Z23), LengthError,
     r"rank: f=<lambda> is marked pervasive, so its result must keep the frame \(2,\) "
     r"as its leading axes; got shape \(\)"),
    (lambda: apl.windows(V3, 5), DomainError,
     r"windows: size=\(5,\) is larger than the array's leading axes \(3,\) "
     r"\(a.shape=\(3,\)\); in valid mode each window must fit"),
    (lambda: apl.stencil(np.sum, Z23, (3, 4), valid=True), DomainError,
     r"stencil|windows: size=\(3, 4\) is larger than the array's leading axes \(2, 3\)"),
    (lambda: apl.windows(V3, (1, 1)), RankError,
     r"windows: size=\(1, 1\) names 2 axes but a.shape=\(3,\) has 1; expected at most 1"),
    (lambda: apl.windows(V3, 0), DomainError,
     r"windows: size and step must be positive; got size=\(0,\), step=\(1,\)"),
    (lambda: apl.windows(Z23, (2, 2), step=(1, 2, 3)), LengthError,
     r"windows: step must have one entry per axis of size, or one for all; got "
     r"size=\(2, 2\), step=\(1, 2, 3\)"),
    (lambda: apl.windows(V3, 2.5), TypeError,
     r"windows: size must be an integer or a sequence of integers; got 2.5"),
    (lambda: apl.windows(V3, ()), LengthError,
     r"windows: size must name at least one axis; got size=\(\)"),
    (lambda: apl.stencil(np.add, V3, 3), TypeError,
     r"stencil: f is called with 1 array\(s\) here; got the ufunc add, which takes 2"),
    (lambda: apl.stencil(pervasive(np.sum), V3, 3), LengthError,
     r"stencil: f=sum is marked pervasive, so its result must keep the frame \(3,\)"),
    (lambda: apl.rotate(V3, 1.5), TypeError, r"rotate: n must be an integer; got 1.5"),
    (lambda: apl.rotate(Z23, 1, axis=3), RankError,
     r"rotate: axis=3 is out of range for a.shape=\(2, 3\)"),
    (lambda: apl.reverse(Z23, axis=-3), RankError,
     r"reverse: axis=-3 is out of range for a.shape=\(2, 3\)"),
    (lambda: apl.rot180(V3), RankError,
     r"rot180: a must have at least 2 axes; got a.shape=\(3,\)"),
    (lambda: apl.transpose(Z23, (0,)), LengthError,
     r"transpose: perm must name one result axis per axis of a; got perm=\(0,\), "
     r"a.shape=\(2, 3\)"),
    (lambda: apl.transpose(Z23, (0, 2)), DomainError,
     r"transpose: perm must use every result axis 0..2 and no negative one; got "
     r"perm=\(0, 2\), a.shape=\(2, 3\)"),
    (lambda: apl.transpose(Z23, (1, -1)), DomainError, r"transpose: perm must use every"),
    (lambda: apl.transpose(Z23, ("a", "b")), TypeError,
     r"transpose: perm must be an integer or a sequence of integers; got \('a', 'b'\)"),
    (lambda: apl.take(V3, (1, 2)), LengthError,
     r"take: n=\(1, 2\) has 2 counts but a.shape=\(3,\) has 1 axes; expected at most 1"),
    (lambda: apl.take(V3, 1.5), TypeError,
     r"take: n must be an integer or a sequence of integers; got 1.5"),
    (lambda: apl.drop(V3, (1, 2)), LengthError,
     r"drop: n=\(1, 2\) has 2 counts but a.shape=\(3,\) has 1 axes"),
    (lambda: apl.drop({1: 2}, 1), TypeError, r"drop: a must be an array or a number; got dict"),
    (lambda: apl.reshape(V3, (-1, 2)), DomainError,
     r"reshape: shape must be non-negative; got shape=\(-1, 2\)"),
    (lambda: apl.catenate(Z23, np.zeros((2, 4)), axis=0), LengthError,
     r"catenate: the shapes must agree off axis 0; got a.shape=\(2, 3\), b.shape=\(2, 4\)"),
    (lambda: apl.catenate(np.zeros((2, 3, 4)), np.zeros(4)), RankError,
     r"catenate: the ranks of a and b must differ by at most one, or one be a scalar; "
     r"got a.shape=\(2, 3, 4\), b.shape=\(4,\)"),
    (lambda: apl.catenate(Z23, Z23, axis=2), RankError,
     r"catenate: axis=2 is out of range for a.shape=\(2, 3\)"),
    (lambda: apl.pervasive(3), TypeError, r"pervasive: f must be a function; got int"),
]


@pytest.mark.parametrize("call, error, message", ERRORS,
                         ids=[f"{i:02d}-{m.split(':')[0]}" for i, (_, _, m) in enumerate(ERRORS)])
def test_bad_input_is_refused_with_a_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_errors_are_value_errors():
    assert all(issubclass(e, ValueError) for e in (RankError, LengthError, DomainError))
