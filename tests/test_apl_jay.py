"""aplnet.apl against libjay, a Python-hosted APL interpreter, as a second oracle.

libjay runs the APL line with the arrays bound to ``{x}`` and ``{y}`` holes
(``⎕IO`` is 1, so dyadic ``⍉`` counts axes from 1 there). Scalars come back
as Python numbers, arrays as values with ``tolist()``. Where libjay and
Dyalog part ways the case is left out and the reason given beside it:

* libjay's ``⌺`` pads an even window after the array, so its result is as
  long as the axis; Dyalog centres an even window on the gaps between items
  and pads nothing for size 2 (its ``({⊂⍵}⌺2 2)3 4⍴⍳12`` is 2 by 3), which
  aplnet follows. Only odd sizes are compared here; even ones are pinned in
  test_apl_naive.py.
* libjay rejects the two-row (size; step) operand and ``⍺`` inside the
  stencil's operand, so steps and fill counts are hand-worked there too.
* libjay's ``⌈/⍬`` is the most negative float, not ``-inf``.
* libjay's ``n↑`` and ``n↓`` want one count per axis; Dyalog (and aplnet)
  take fewer, leaving the trailing axes whole.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aplnet import apl
from strategies import array_and_axis, int_arrays, shapes

jay = pytest.importorskip("jay")

small = settings(deadline=None, max_examples=25)

GLYPHS = {"+": np.add, "-": np.subtract, "×": np.multiply, "⌈": np.maximum,
          "⌊": np.minimum}


def run(source, **arrays):
    """libjay's value of ``source`` as an ndarray."""
    value = jay.apl(source, arrays)
    if not hasattr(value, "tolist"):
        return np.array(value)
    return np.array(value.tolist()).reshape(tuple(value.shape))


def numbers(values):
    """An APL numeric vector literal, with APL's high minus."""
    return " ".join(str(int(v)).replace("-", "¯") for v in np.ravel(values))


def same(ours, theirs):
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@small
@given(st.sampled_from(sorted(GLYPHS)), array_and_axis(min_side=1, max_dims=2))
def test_reduce_agrees_with_libjay(glyph, a_axis):
    a, axis = a_axis
    slash = "/" if axis % a.ndim == a.ndim - 1 else "⌿"
    if a.ndim == 1 or slash == "/":
        same(apl.reduce(GLYPHS[glyph], a, axis), run(f"{glyph}{slash}{{x}}", x=a))
    else:
        same(apl.reduce(GLYPHS[glyph], a, 0), run(f"{glyph}⌿{{x}}", x=a))


@pytest.mark.parametrize("glyph", ["+", "×"])
def test_reduce_of_empty_agrees_with_libjay(glyph):
    same(apl.reduce(GLYPHS[glyph], np.zeros(0, int)), run(f"{glyph}/⍳0"))


@small
@given(st.sampled_from(["+", "-", "×", "⌈"]), int_arrays(min_dims=1, max_dims=2, min_side=1))
def test_scan_agrees_with_libjay(glyph, a):
    same(apl.scan(GLYPHS[glyph], a), run(f"{glyph}\\{{x}}", x=a))


@small
@given(st.sampled_from(["+", "-", "×", "⌈"]), int_arrays(max_dims=2, min_side=1),
       int_arrays(max_dims=2, min_side=1))
def test_outer_agrees_with_libjay(glyph, a, b):
    same(apl.outer(GLYPHS[glyph], a, b), run(f"{{x}}∘.{glyph}{{y}}", x=a, y=b))


@small
@given(st.sampled_from([("+", "×"), ("⌈", "+"), ("-", "×"), ("×", "-")]),
       st.integers(1, 4), shapes(min_dims=1, max_dims=1, min_side=1),
       shapes(min_dims=1, max_dims=1, min_side=1), st.data())
def test_inner_agrees_with_libjay(fg, n, lead, trail, data):
    a = data.draw(int_arrays(lead + (n,), lo=-4, hi=4))
    b = data.draw(int_arrays((n,) + trail, lo=-4, hi=4))
    f, g = fg
    same(apl.inner(GLYPHS[f], GLYPHS[g], a, b), run(f"{{x}}{f}.{g}{{y}}", x=a, y=b))


@small
@given(int_arrays(min_dims=1, max_dims=3, min_side=1), st.integers(-2, 3))
def test_rank_agrees_with_libjay(a, k):
    ours = apl.rank(lambda c: apl.reduce(np.add, c), k)(a)
    same(ours, run(f"{{+/⍵}}⍤{numbers([k])}⊢{{x}}", x=a))


@small
@given(shapes(max_dims=1, min_side=1), st.integers(1, 3), st.data())
def test_dyadic_rank_agrees_with_libjay(frame, n, data):
    a = data.draw(int_arrays(frame))
    b = data.draw(int_arrays(frame + (n,)))
    same(apl.rank(np.add, (0, 1))(a, b), run("{x}(+⍤0 1){y}", x=a, y=b))


@small
@given(int_arrays(min_dims=1, max_dims=2, min_side=1),
       st.lists(st.sampled_from([1, 3, 5]), min_size=1, max_size=2))
def test_stencil_sum_agrees_with_libjay_for_odd_sizes(a, size):
    size = tuple(size[:a.ndim])
    same(apl.stencil(lambda w: w.sum(), a, size),
         run(f"{{+/,⍵}}⌺{numbers(size)}⊢{{x}}", x=a))


@small
@given(int_arrays(min_dims=1, max_dims=1, min_side=1), st.sampled_from([1, 3, 5]))
def test_windows_agree_with_libjay_for_odd_sizes(a, size):
    same(apl.windows(a, size, valid=False), run(f"{{⍵}}⌺{size}⊢{{x}}", x=a))


@small
@given(int_arrays(min_dims=1, max_dims=2, min_side=1), st.integers(-5, 5))
def test_rotate_agrees_with_libjay(a, n):
    same(apl.rotate(a, n), run(f"{numbers([n])}⌽{{x}}", x=a))
    same(apl.rotate(a, n, axis=0), run(f"{numbers([n])}⊖{{x}}", x=a))


@small
@given(int_arrays(min_dims=1, max_dims=2, min_side=1))
def test_reverse_agrees_with_libjay(a):
    same(apl.reverse(a), run("⌽{x}", x=a))
    same(apl.reverse(a, axis=0), run("⊖{x}", x=a))


@small
@given(int_arrays(min_dims=2, max_dims=3, min_side=1), st.data())
def test_transpose_agrees_with_libjay(a, data):
    perm = tuple(data.draw(st.permutations(range(a.ndim))))
    same(apl.transpose(a, perm), run(f"{numbers(np.add(perm, 1))}⍉{{x}}", x=a))
    same(apl.transpose(a), run("⍉{x}", x=a))


def test_transpose_diagonal_agrees_with_libjay():
    a = np.arange(1, 13).reshape(2, 2, 3)
    same(apl.transpose(a, (0, 0, 1)), run("1 1 2⍉{x}", x=a))


@small
@given(int_arrays(min_dims=1, max_dims=2, min_side=1), st.data())
def test_take_and_drop_agree_with_libjay(a, data):
    n = tuple(data.draw(st.integers(-5, 5)) for _ in range(a.ndim))  # libjay wants all axes
    same(apl.take(a, n), run(f"{numbers(n)}↑{{x}}", x=a))
    same(apl.drop(a, n), run(f"{numbers(n)}↓{{x}}", x=a))


@small
@given(int_arrays(min_dims=1, max_dims=2, min_side=1), shapes(min_dims=1, max_dims=2))
def test_reshape_agrees_with_libjay(a, shape):
    same(apl.reshape(a, shape), run(f"{numbers(shape)}⍴{{x}}", x=a))


@small
@given(shapes(min_dims=2, max_dims=2, min_side=1), st.integers(1, 3), st.data())
def test_catenate_agrees_with_libjay(shape, extra, data):
    a = data.draw(int_arrays(shape))
    b = data.draw(int_arrays((shape[0], extra)))
    c = data.draw(int_arrays((extra, shape[1])))
    same(apl.catenate(a, b), run("{x},{y}", x=a, y=b))
    same(apl.catenate(a, c, axis=0), run("{x}⍪{y}", x=a, y=c))
    same(apl.catenate(a, 7), run("{x},7", x=a))
    same(apl.catenate(a, 7, axis=0), run("{x}⍪7", x=a))
