"""aplnet.display.box prints what Dyalog APL prints with ]box on."""

import numpy as np
import pytest
from hypothesis import given, settings

from aplnet.display import box, number
from strategies import float_arrays, int_arrays


@pytest.mark.parametrize("value, text", [
    (0, "0"), (-3, "¯3"), (np.int8(-7), "¯7"), (2.0, "2"), (-2.5, "¯2.5"),
    (1 / 3, "0.3333333333"), (np.float32(1 / 3), "0.3333333"), (1e-5, "1E¯5"),
    (-1.5e20, "¯1.5E20"), (True, "1"), (np.bool_(False), "0"), (1 - 2j, "1J¯2"),
    (3 + 0j, "3"), (float("inf"), "∞"), (float("-inf"), "¯∞"), (float("nan"), "NaN"),
])
def test_scalar_is_written_as_apl_writes_it(value, text):
    assert box(value) == text


def test_number_keeps_the_digits_asked_for():
    assert number(np.pi, digits=3) == "3.14"


def test_vector_is_one_line_single_spaced():
    assert box(np.array([3, -1, 20])) == "3 ¯1 20"


def test_matrix_columns_are_right_aligned():
    assert box(np.array([[1, -20], [300, 4]])) == "  1 ¯20\n300   4"


def test_float_columns_align_on_the_decimal_point():
    assert box(np.array([[1.5, 2], [10, 3.25]])) == " 1.5 2\n10   3.25"


def test_rank_three_is_planes_separated_by_a_blank_line():
    assert box(np.arange(8).reshape(2, 2, 2)) == "0 1\n2 3\n\n4 5\n6 7"


def test_rank_four_puts_two_blank_lines_between_blocks():
    text = box(np.arange(8).reshape(2, 2, 1, 2))
    assert text == "0 1\n\n2 3\n\n\n4 5\n\n6 7"


def test_columns_align_through_all_planes():
    assert box(np.array([[[1, 2]], [[100, 3]]])) == "  1 2\n\n100 3"


def test_nested_vector_is_framed_item_by_item():
    assert box((np.arange(3), np.array([[1, 2], [3, 4]]))) == (
        "┌─────┬───┐\n"
        "│0 1 2│1 2│\n"
        "│     │3 4│\n"
        "└─────┴───┘")


def test_nesting_recurses():
    assert box([1, (2, np.array([3, 4]))]) == (
        "┌─┬───────┐\n"
        "│1│┌─┬───┐│\n"
        "│ ││2│3 4││\n"
        "│ │└─┴───┘│\n"
        "└─┴───────┘")


def test_object_matrix_is_a_grid_of_frames():
    cells = np.empty((2, 2), object)
    cells[0, 0], cells[0, 1] = np.arange(2), 5
    cells[1, 0], cells[1, 1] = np.eye(2, dtype=int), "ab"
    assert box(cells) == (
        "┌───┬──┐\n"
        "│0 1│5 │\n"
        "├───┼──┤\n"
        "│1 0│ab│\n"
        "│0 1│  │\n"
        "└───┴──┘")


def test_list_of_numbers_is_a_simple_vector():
    assert box([1, -2, 3.5]) == "1 ¯2 3.5"


def test_empty_vector_prints_nothing():
    assert box(np.zeros(0)) == ""


def test_strings_print_as_themselves():
    assert box(("ab", 1)) == "┌──┬─┐\n│ab│1│\n└──┴─┘"


@settings(deadline=None)
@given(int_arrays(min_dims=2, max_dims=2, min_side=1))
def test_matrix_has_a_line_per_row_and_every_number(a):
    lines = box(a).split("\n")
    assert len(lines) == a.shape[0]
    for line, row in zip(lines, a):
        assert [int(t.replace("¯", "-")) for t in line.split()] == row.tolist()


@settings(deadline=None)
@given(float_arrays(min_dims=1, max_dims=1, min_side=1))
def test_vector_reads_back_as_its_numbers(a):
    values = [float(t.replace("¯", "-").replace("E", "e")) for t in box(a).split()]
    np.testing.assert_allclose(values, a, rtol=1e-9, atol=0)


@settings(deadline=None)
@given(int_arrays(min_dims=2, max_dims=2, min_side=1))
def test_matrix_lines_end_each_column_together(a):
    lines = box(a).split("\n")
    assert len({len(line) for line in lines}) == 1
