"""The plain-loop oracles of tests/apl_naive.py, pinned on hand-worked APL cases.

Each expected value is worked out by hand from the APL definition (origin 0
where an index shows), or is an output printed by Dyalog APL; the APL line
is beside each case.
"""

import numpy as np
import pytest

import apl_naive as naive


def same(actual, expected):
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))
    assert np.shape(actual) == np.shape(expected)


# --------------------------------------------------------------- outer

def test_outer_times_table():
    same(naive.outer(np.multiply, [1, 2, 3], [1, 2]), [[1, 2], [2, 4], [3, 6]])  # 1 2 3∘.×1 2


def test_outer_minus_keeps_left_argument_on_the_left():
    same(naive.outer(np.subtract, [10, 20], [1, 2, 3]),
         [[9, 8, 7], [19, 18, 17]])  # 10 20∘.-1 2 3


def test_outer_of_scalars_is_a_scalar():
    same(naive.outer(np.add, 2, 3), 5)  # 2∘.+3


def test_outer_mixes_vector_results_with_zero_fill():
    # 0 1∘.{⍳⍺+⍵}1 gives (,0)(0 1); mixed: 2 1 2 ⍴ 0 0 0 1
    same(naive.outer(lambda x, y: np.arange(x + y), [0, 1], [1]), [[[0, 0]], [[0, 1]]])


# -------------------------------------------------------------- reduce

def test_reduce_minus_is_a_right_fold():
    assert naive.reduce(np.subtract, [1, 2, 3]) == 2  # -/1 2 3 ←→ 1-(2-3)


def test_reduce_divide_is_a_right_fold():
    assert naive.reduce(np.divide, [8, 4, 2]) == 4  # ÷/8 4 2 ←→ 8÷(4÷2)


def test_reduce_power_is_a_right_fold():
    assert naive.reduce(np.power, [2, 3, 2]) == 512  # */2 3 2 ←→ 2*(3*2)


def test_reduce_first_axis():
    same(naive.reduce(np.subtract, [[1, 2], [3, 4], [5, 6]], axis=0), [3, 4])  # -⌿3 2⍴⍳6


def test_reduce_of_one_item_is_the_item():
    assert naive.reduce(lambda x, y: 1 / 0, [7]) == 7  # f/,7 never calls f


def test_reduce_of_a_scalar_is_the_scalar():
    assert naive.reduce(np.subtract, 5) == 5  # -/5


@pytest.mark.parametrize("f, identity", [
    (np.add, 0), (np.multiply, 1), (np.maximum, -np.inf), (np.minimum, np.inf),
    (np.logical_and, True), (np.logical_or, False),
])
def test_reduce_of_empty_is_the_identity(f, identity):
    assert naive.reduce(f, np.zeros(0)) == identity  # +/⍬ ×/⍬ ⌈/⍬ ⌊/⍬ ∧/⍬ ∨/⍬


def test_reduce_of_empty_without_identity_raises():
    with pytest.raises(ValueError, match="no identity"):
        naive.reduce(lambda x, y: x, np.zeros(0))


# ---------------------------------------------------------------- scan

def test_scan_minus_alternates():
    same(naive.scan(np.subtract, [1, 2, 3, 4]), [1, -1, 2, -2])  # -\1 2 3 4


def test_scan_divide_reduces_each_prefix():
    same(naive.scan(np.divide, [1, 2, 4]), [1, 0.5, 2])  # ÷\1 2 4 ←→ 1, 1÷2, 1÷(2÷4)


def test_scan_first_axis():
    same(naive.scan(np.add, [[1, 2], [3, 4]], axis=0), [[1, 2], [4, 6]])  # +⍀2 2⍴1 2 3 4


# --------------------------------------------------------------- inner

def test_inner_plus_times_is_the_matrix_product():
    same(naive.inner(np.add, np.multiply, [[1, 2], [3, 4]], [[5, 6], [7, 8]]),
         [[19, 22], [43, 50]])


def test_inner_minus_times_folds_from_the_right():
    # 1 2 3-.×4 5 6 ←→ -/4 10 18 ←→ 4-(10-18)
    assert naive.inner(np.subtract, np.multiply, [1, 2, 3], [4, 5, 6]) == 12


def test_inner_max_plus():
    same(naive.inner(np.maximum, np.add, [[1, 2]], [[10], [0]]), [[11]])  # ⌈.+


def test_inner_scalar_extends():
    assert naive.inner(np.add, np.multiply, [1, 2, 3], 4) == 24  # 1 2 3+.×4


def test_inner_and_equal_finds_matching_rows():
    rows = [[1, 2], [3, 4], [1, 2]]
    same(naive.inner(np.logical_and, np.equal, rows, [1, 2]), [True, False, True])  # ∧.=


# ---------------------------------------------------------------- rank

def test_rank_one_sums_rows():
    same(naive.rank(np.sum, 1)(np.arange(6).reshape(2, 3)), [3, 12])  # +/⍤1⊢2 3⍴⍳6


def test_rank_minus_one_takes_major_cells():
    same(naive.rank(np.sum, -1)(np.arange(6).reshape(2, 3)), [3, 12])  # +/⍤¯1


def test_rank_at_or_above_the_array_rank_is_one_call():
    same(naive.rank(np.sum, 5)(np.arange(6).reshape(2, 3)), 15)


def test_rank_mixes_ragged_results():
    same(naive.rank(np.arange, 0)(np.array([1, 3])), [[0, 0, 0], [0, 1, 2]])  # ⍳⍤0⊢1 3


def test_rank_dyadic_pairs_scalars_with_rows():
    same(naive.rank(np.add, (0, 1))(np.array([10, 20]), np.arange(6).reshape(2, 3)),
         [[10, 11, 12], [23, 24, 25]])  # 10 20(+⍤0 1)2 3⍴⍳6


def test_rank_dyadic_single_cell_pairs_with_all():
    same(naive.rank(np.add, 1)(np.array([1, 2, 3]), np.zeros((2, 3), int)),
         [[1, 2, 3], [1, 2, 3]])  # 1 2 3(+⍤1)2 3⍴0


def test_rank_dyadic_frames_must_agree():
    with pytest.raises(ValueError, match="frames differ"):
        naive.rank(np.add, (0, 1))(np.arange(3), np.zeros((2, 3)))


# ------------------------------------------------------------- stencil

M = np.arange(1, 13).reshape(3, 4)  # 3 4⍴⍳12 in origin 1


def test_stencil_three_by_three_corner_window_and_fills():
    # {⊂⍺ ⍵}⌺3 3⊢3 4⍴⍳12, first cell: ⍺ = 1 1, ⍵ = 3 3⍴0 0 0 0 1 2 0 5 6
    cells = naive.stencil(lambda p, w: np.concatenate([p, w.ravel()]), M, (3, 3), edges=True)
    same(cells[0, 0], [1, 1, 0, 0, 0, 0, 1, 2, 0, 5, 6])
    same(cells[0, 1], [1, 0, 0, 0, 0, 1, 2, 3, 5, 6, 7])
    same(cells[2, 3], [-1, -1, 7, 8, 0, 11, 12, 0, 0, 0, 0])


def test_stencil_fills_along_the_first_row():
    # {⍺}⌺3 3⊢3 3⍴⍳9, first row: (1 1)(1 0)(1 ¯1)  (Dyalog's manual)
    fills = naive.stencil(lambda p, w: p, np.arange(1, 10).reshape(3, 3), (3, 3), edges=True)
    same(fills[0], [[1, 1], [1, 0], [1, -1]])


def test_stencil_sums_three_by_three():
    # {+/,⍵}⌺3 3⊢3 4⍴⍳12
    same(naive.stencil(np.sum, M, (3, 3)),
         [[14, 24, 30, 22], [33, 54, 63, 45], [30, 48, 54, 38]])


def test_stencil_size_two_needs_no_fill():
    # ({⊂⍵}⌺2 2)3 4⍴⍳12 in Dyalog is a 2 by 3 array of the unpadded 2 by 2 blocks,
    # and ({⊂⍺}⌺2 2) is 0 0 everywhere
    cells = naive.stencil(lambda w: w, M, (2, 2))
    assert cells.shape == (2, 3, 2, 2)
    same(cells[0, 0], [[1, 2], [5, 6]])
    same(cells[1, 2], [[7, 8], [11, 12]])
    same(naive.stencil(lambda p, w: p, M, (2, 2), edges=True), np.zeros((2, 3, 2)))


def test_stencil_size_four_centres_on_gaps():
    # {⊂⍵}⌺4⊢⍳5: gaps after items 0 1 2 3, one fill each side at most
    same(naive.windows(np.arange(1, 6), 4, valid=False),
         [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 0]])


def test_stencil_with_step_centres_on_every_other_item():
    # {+/⍵}⌺(⍪3 2)⊢⍳5: windows centred on items 0 2 4
    same(naive.stencil(np.sum, np.arange(1, 6), 3, step=2), [3, 9, 9])


def test_stencil_even_size_with_step():
    # {⊂⍵}⌺(⍪4 2)⊢⍳6: gaps after items 0 2 4
    same(naive.windows(np.arange(1, 7), 4, step=2, valid=False),
         [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 0]])


def test_stencil_window_longer_than_the_axis():
    # {+/⍵}⌺5⊢1 2: both windows hold the whole vector
    same(naive.stencil(np.sum, [1, 2], 5), [3, 3])


def test_stencil_fewer_axes_than_the_array_takes_major_cells():
    # {+/,⍵}⌺3⊢3 2⍴⍳6
    same(naive.stencil(np.sum, np.arange(1, 7).reshape(3, 2), 3), [10, 21, 18])


def test_windows_valid_keeps_complete_windows():
    same(naive.windows(np.arange(1, 6), 3), [[1, 2, 3], [2, 3, 4], [3, 4, 5]])
    same(naive.windows(np.arange(1, 6), 3, step=2), [[1, 2, 3], [3, 4, 5]])


# ---------------------------------------------------------- primitives

def test_rotate():
    same(naive.rotate(np.arange(1, 6), 2), [3, 4, 5, 1, 2])  # 2⌽⍳5
    same(naive.rotate(np.arange(1, 6), -2), [4, 5, 1, 2, 3])  # ¯2⌽⍳5
    same(naive.rotate(np.arange(1, 7).reshape(3, 2), 2, axis=0),
         [[5, 6], [1, 2], [3, 4]])  # 2⊖3 2⍴⍳6


def test_reverse():
    same(naive.reverse(np.arange(1, 5)), [4, 3, 2, 1])  # ⌽⍳4
    same(naive.reverse(np.arange(1, 5).reshape(2, 2), axis=0), [[3, 4], [1, 2]])  # ⊖


def test_rot180_of_the_notes_kernel():
    same(naive.rot180([[1, 2], [-1, 0]]), [[0, -1], [2, 1]])  # ⊖⌽


def test_transpose_sends_axis_i_to_perm_i():
    z = naive.transpose(np.arange(24).reshape(2, 3, 4), (1, 2, 0))  # 2 3 1⍉2 3 4⍴⍳24
    assert z.shape == (4, 2, 3)
    assert z[3, 1, 2] == 23


def test_transpose_diagonals():
    same(naive.transpose(np.arange(1, 10).reshape(3, 3), (0, 0)), [1, 5, 9])  # 1 1⍉3 3⍴⍳9
    same(naive.transpose(np.arange(1, 13).reshape(2, 2, 3), (0, 0, 1)),
         [[1, 2, 3], [10, 11, 12]])  # 1 1 2⍉2 2 3⍴⍳12
    same(naive.transpose(np.arange(1, 7).reshape(2, 3), (0, 0)), [1, 5])  # 1 1⍉2 3⍴⍳6


def test_transpose_monadic_reverses_axes():
    assert naive.transpose(np.zeros((2, 3, 4))).shape == (4, 3, 2)


def test_take():
    same(naive.take(np.arange(1, 6), 2), [1, 2])  # 2↑⍳5
    same(naive.take(np.arange(1, 6), -7), [0, 0, 1, 2, 3, 4, 5])  # ¯7↑⍳5
    same(naive.take(np.arange(1, 5).reshape(2, 2), (2, 3)), [[1, 2, 0], [3, 4, 0]])  # 2 3↑
    same(naive.take(np.arange(4).reshape(2, 2), (3, -1)), [[1], [3], [0]])  # 3 ¯1↑
    same(naive.take(5, 3), [5, 0, 0])  # 3↑5


def test_drop():
    same(naive.drop(np.arange(1, 6), 2), [3, 4, 5])  # 2↓⍳5
    same(naive.drop(np.arange(1, 6), -2), [1, 2, 3])  # ¯2↓⍳5
    same(naive.drop(np.arange(1, 13).reshape(3, 4), (2, -1)), [[9, 10, 11]])  # 2 ¯1↓3 4⍴⍳12
    assert naive.drop(np.arange(3), 5).shape == (0,)  # 5↓⍳3


def test_reshape():
    same(naive.reshape([1, 2], (2, 3)), [[1, 2, 1], [2, 1, 2]])  # 2 3⍴1 2
    same(naive.reshape(np.zeros(0, int), (2, 2)), [[0, 0], [0, 0]])  # 2 2⍴⍬
    same(naive.reshape([7, 8, 9], ()), 7)  # ⍬⍴7 8 9


def test_catenate():
    same(naive.catenate([[1, 2], [3, 4]], 5), [[1, 2, 5], [3, 4, 5]])  # (2 2⍴⍳4),5
    same(naive.catenate([[1, 2], [3, 4]], 5, axis=0), [[1, 2], [3, 4], [5, 5]])  # ⍪5
    same(naive.catenate([[1, 2], [3, 4]], [7, 8], axis=0), [[1, 2], [3, 4], [7, 8]])
    same(naive.catenate([1, 2], [3]), [1, 2, 3])
    same(naive.catenate(1, 2), [1, 2])
