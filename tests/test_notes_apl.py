"""Every APL line of the notes runs in libjay and agrees with aplnet.

Each chapter's fenced ``apl`` blocks carry a marker (see
:mod:`aplnet.chapters`): ``libjay: names | expression``. The chapter's
doctest examples run, in order, up to the block; the names are bound from
that namespace into the APL, the block runs in libjay, and its value (the
last statement's, or the variable it assigns) must equal the Python
expression, evaluated in the same namespace, to ``allclose``. A
``dyalog:`` block is valid Dyalog APL that libjay cannot run; the test
holds libjay to that claim, so the marker goes once libjay learns the line.
"""

import contextlib
import doctest
import functools
import io
import re

import numpy as np
import pytest

from aplnet.chapters import apl_blocks, chapters

jay = pytest.importorskip("jay")

BLOCKS = [(chapter, block) for chapter in chapters()
          for block in apl_blocks(chapter.text) if block.kind]

# An APL name (Dyalog's letters, plus ∆ ⍙ _) assigned at the start of a statement.
_ASSIGNED = re.compile(r"^\s*([A-Za-zÀ-ÖØ-öø-þ∆⍙_][A-Za-zÀ-ÖØ-öø-þ∆⍙_0-9¯]*)\s*←")


def _statements(line):
    """``line`` split at the diamonds outside any dfn braces."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(line):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "⋄" and depth == 0:
            parts.append(line[start:i])
            start = i + 1
    return parts + [line[start:]]


def _program(block):
    """The block as a libjay program: the bindings, the lines, the result.

    Every bound name gets a hole ``{_hN}`` (libjay's way in for arrays). A
    block whose last statement assigns returns the assigned variable.
    """
    holes = {f"_h{i}": apl for i, apl in enumerate(block.names)}
    binds = [f"{apl}←{{{hole}}}" for hole, apl in holes.items()]
    code = [line.split("⍝")[0] for line in block.source.splitlines()]
    code = [line for line in code if line.strip()]
    last = _ASSIGNED.match(_statements(code[-1])[-1])
    tail = [last.group(1)] if last else []
    return "\n".join(binds + code + tail), holes


def _run_until(examples, line, ns, done):
    """Run the chapter's examples above ``line`` that have not run yet."""
    while done[0] < len(examples) and examples[done[0]].lineno < line:
        example = examples[done[0]]
        done[0] += 1
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(example.source, "<chapter>", "single"), ns)
            except Exception:
                if example.exc_msg is None:
                    raise


@functools.lru_cache(maxsize=None)
def _evaluated(path):
    """For each marked block of a chapter: (libjay's value or error, expected).

    Examples below the last block are not run (chapter 03's training sits
    there and the doctest run covers it).
    """
    text = path.read_text(encoding="utf-8")
    examples = doctest.DocTestParser().get_examples(text)
    ns, done, results = {"__name__": "__chapter__"}, [0], {}
    for block in apl_blocks(text):
        if not block.kind:
            continue
        _run_until(examples, block.line, ns, done)
        program, holes = _program(block)
        # libjay reads only contiguous buffers; aplnet may hand back views
        values = {hole: np.array(eval(block.names[apl], ns), order="C")
                  for hole, apl in holes.items()}
        try:
            got = jay.apl(program, values)
        except jay.JayError as err:
            got = err
        results[block.line] = (got, eval(block.expected, ns), program)
    return results


def _array(value):
    return np.array(value.tolist()) if hasattr(value, "tolist") else np.array(value)


@pytest.mark.parametrize(
    "chapter, block", BLOCKS,
    ids=[f"{c.path.stem}:{b.line + 1}" for c, b in BLOCKS])
def test_apl_line_agrees_with_aplnet(chapter, block):
    got, expected, program = _evaluated(chapter.path)[block.line]
    if block.kind == "dyalog":
        assert isinstance(got, jay.JayError), (
            f"libjay now runs this line ({block.reason!r} no longer holds); "
            f"mark it libjay:\n{program}")
        pytest.xfail(f"libjay cannot run it: {block.reason}")
    assert not isinstance(got, Exception), f"libjay failed:\n{program}\n{got}"
    got, expected = _array(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{program}\ngot {got}\nexpected {expected}"
    np.testing.assert_allclose(got.astype(float), expected.astype(float),
                               rtol=1e-9, atol=1e-12, err_msg=program)


def test_a_block_sees_the_examples_above_it_and_returns_what_it_assigns(tmp_path):
    probe = tmp_path / "99-probe.md"
    probe.write_text(">>> import numpy as np\n>>> v = np.arange(3.)\n\n"
                     "```apl\nw←{⍵×2}v ⋄ w←w+1\n```\n<!-- libjay: v | v * 2 + 1 -->\n\n"
                     ">>> v = None\n", encoding="utf-8")
    ((got, expected, _),) = _evaluated(probe).values()
    np.testing.assert_array_equal(_array(got), [1., 3., 5.])
    np.testing.assert_array_equal(expected, [1., 3., 5.])


def test_diamonds_inside_a_dfn_do_not_end_the_statement():
    assert _statements("f←{a←⍵ ⋄ a+1} ⋄ y←f 2") == ["f←{a←⍵ ⋄ a+1} ", " y←f 2"]
