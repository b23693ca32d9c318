"""APL-style display of arrays, as Dyalog shows them with ``]box on``.

:func:`box` turns a value into the text Dyalog APL would print for it:

* a number as APL writes it: ``¯3`` (APL's high minus), ``2.5``, ``1E¯5``,
  ``1J2``; booleans as ``1 0``; ``∞`` and ``¯∞`` for infinities;
* a simple vector as its numbers separated by single spaces;
* a simple matrix as a grid, each column right-aligned (and aligned on the
  decimal point), one space between columns;
* a higher-rank array as its matrices one below the other, a blank line
  between them and one more for each outer axis that moves on, columns
  aligned through all of them;
* a nested array (a tuple or list holding arrays, or a numpy object array)
  as a row (or grid) of frames drawn with ``┌─┬┐│├┼┤└┴┘``, each item in its
  frame's top-left corner, recursively.

>>> print(box(np.array([[1, -20], [300, 4]])))
  1 ¯20
300   4
>>> print(box((np.arange(3), np.array([[1, 2], [3, 4]]))))
┌─────┬───┐
│0 1 2│1 2│
│     │3 4│
└─────┴───┘
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["box", "number"]

# significant digits, as Dyalog's ⎕PP (10) for double precision
_DIGITS = {np.dtype(np.float16): 4, np.dtype(np.float32): 7}


def number(value, digits=10):
    """A scalar written as APL writes it: high minus, ``E`` exponents, ``J`` for complex.

    Whole floats lose their ``.0`` and ``digits`` significant digits are
    kept, as with Dyalog's ``⎕PP``.

    Parameters
    ----------
    value : number or numpy scalar
        Boolean, integer, float or complex.
    digits : int, default 10
        Significant digits of a float.

    Returns
    -------
    str

    Examples
    --------
    >>> [number(v) for v in (-3, 2.5, 1e-5, -1.5e20, True, 1 - 2j, float("-inf"))]
    ['¯3', '2.5', '1E¯5', '¯1.5E20', '1', '1J¯2', '¯∞']
    """
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, numbers.Integral):
        return str(int(value)).replace("-", "¯")
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        if value.imag == 0:
            return number(value.real, digits)
        return f"{number(value.real, digits)}J{number(value.imag, digits)}"
    value = float(value)
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "∞" if value > 0 else "¯∞"
    text = f"{value:.{digits}g}"
    mantissa, _, exponent = text.partition("e")
    if exponent:
        mantissa += "E" + str(int(exponent))
    return mantissa.replace("-", "¯")


def _digits(dtype):
    return _DIGITS.get(np.dtype(dtype), 10)


def _is_simple(x):
    """A number, a numeric ndarray, or a flat list of numbers."""
    if isinstance(x, (numbers.Number, np.generic)):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype != object
    if isinstance(x, (list, tuple)):
        return all(isinstance(i, (numbers.Number, np.generic)) for i in x)
    return False


def _align(column):
    """Strings of one column padded to one width, aligned on the decimal point."""
    heads, tails = [], []
    for text in column:
        cut = min((i for i in (text.find("."), text.find("E")) if i >= 0), default=len(text))
        heads.append(text[:cut])
        tails.append(text[cut:])
    head = max(map(len, heads), default=0)
    tail = max(map(len, tails), default=0)
    return [h.rjust(head) + t.ljust(tail) for h, t in zip(heads, tails)]


def _simple_lines(a):
    """The lines of a simple (non-nested) array."""
    a = np.asarray(a)
    digits = _digits(a.dtype)
    if a.ndim == 0:
        return [number(a[()], digits)]
    if a.ndim == 1:
        return [" ".join(number(v, digits) for v in a)]
    if a.size == 0:
        return [""] * (int(np.prod(a.shape[:-1])) if a.shape[-1] == 0 else 0)
    rows = a.reshape(-1, a.shape[-1])
    texts = [[number(v, digits) for v in row] for row in rows]
    columns = [_align(col) for col in zip(*texts)]
    lines = [" ".join(cells).rstrip() for cells in zip(*columns)]
    rows = a.shape[-2]
    return _join_planes([lines[i:i + rows] for i in range(0, len(lines), rows)], a.shape)


def _join_planes(planes, shape):
    """The matrices of an array one below the other, with APL's blank lines between.

    One blank line separates neighbouring matrices, and one more for each
    further axis whose index rolls over between them.
    """
    out = []
    for i, (frame, plane) in enumerate(zip(np.ndindex(*shape[:-2]), planes)):
        if i:
            rolled = len(frame) - len(np.trim_zeros(frame, "b"))
            out.extend([""] * (rolled + 1))
        out.extend(plane)
    return out


def _block(x):
    """The lines of any value: simple arrays as text, nested ones framed."""
    if isinstance(x, str):
        return [x]
    if _is_simple(x):
        return _simple_lines(np.asarray(x))
    if isinstance(x, (list, tuple)):
        return _grid([[_block(item) for item in x]])
    if isinstance(x, np.ndarray):  # object array: nested
        if x.ndim == 0:
            return _grid([[_block(x[()])]])
        if x.ndim == 1:
            return _grid([[_block(item) for item in x]])
        grids = [_grid([[_block(item) for item in row] for row in matrix])
                 for matrix in x.reshape((-1,) + x.shape[-2:])]
        return _join_planes(grids, x.shape)
    return str(x).splitlines() or [""]


def _grid(cells):
    """Frame a matrix of blocks (lists of lines) with box-drawing characters."""
    if not cells or not cells[0]:
        return ["┌┐", "└┘"]
    widths = [max(max((len(line) for line in cell), default=0) for cell in column)
              for column in zip(*cells)]
    heights = [max(len(cell) for cell in row) for row in cells]

    def rule(left, middle, right):
        return left + middle.join("─" * w for w in widths) + right

    lines = [rule("┌", "┬", "┐")]
    for r, (row, height) in enumerate(zip(cells, heights)):
        if r:
            lines.append(rule("├", "┼", "┤"))
        for k in range(height):
            parts = [(cell[k] if k < len(cell) else "").ljust(w)
                     for cell, w in zip(row, widths)]
            lines.append("│" + "│".join(parts) + "│")
    lines.append(rule("└", "┴", "┘"))
    return lines


def box(x):
    """The text Dyalog APL (``]box on``) prints for ``x``: a grid, or frames for nesting.

    Parameters
    ----------
    x : array_like, number, str, or a tuple/list of them
        A numeric array of any rank is shown simple; a tuple or list with
        anything but numbers in it, or a numpy object array, is nested and
        framed item by item.

    Returns
    -------
    str
        The lines joined by newlines, without trailing spaces; an empty
        vector gives ``""``.

    See Also
    --------
    number : one scalar in APL's notation.

    Examples
    --------
    >>> print(box(np.arange(-2, 3)))
    ¯2 ¯1 0 1 2
    >>> print(box(np.array([[1.5, 2], [10, 3.25]])))
     1.5 2
    10   3.25
    >>> print(box(np.arange(8).reshape(2, 2, 2)))
    0 1
    2 3
    <BLANKLINE>
    4 5
    6 7
    >>> print(box([1, (2, np.array([3, 4]))]))
    ┌─┬───────┐
    │1│┌─┬───┐│
    │ ││2│3 4││
    │ │└─┴───┘│
    └─┴───────┘
    """
    return "\n".join(line.rstrip() for line in _block(x))
