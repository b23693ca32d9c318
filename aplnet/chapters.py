"""The notes' chapters: list them, print one, find the APL lines they check.

The chapters are the markdown files ``notes/NN-name.md`` beside the package
(the install is editable, so they are found from this file). A chapter's
title is its first ``#`` heading and its summary the first paragraph's first
sentence. ``aplnet notes`` lists them in reading order; ``aplnet notes N``
prints one, chosen by number (``2``, ``02``) or name (``convolution``, or a
prefix of it that only one chapter has).

The APL lines of a chapter are fenced ``apl`` blocks, each followed by a
marker comment naming what it checks::

    ```apl
    (1+(⍴x)-⍴k)↑{+/,k×⍵}⌺2 2⊢x
    ```
    <!-- libjay: x k | layers.correlate(x, k) -->

``libjay:`` means the block runs in libjay and its value must equal the
Python expression on the right; the names on the left are bound from the
chapter's doctest namespace (``∆z=dz`` binds APL ``∆z`` to Python ``dz``).
``dyalog:`` marks a block that is valid Dyalog APL which libjay cannot run,
with a third field saying why; the chapter says so beside the line too.

>>> [c.name for c in chapters() if 1 <= c.number <= 6]
['unet', 'convolution', 'small-cnn', 'chain-rule', 'activations', 'training']
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NOTES", "Chapter", "AplBlock", "chapters", "find", "apl_blocks", "code", "main"]

NOTES = Path(__file__).resolve().parent.parent / "notes"

_FILE = re.compile(r"^(\d{2})-([a-z0-9][a-z0-9-]*)\.md$")


@dataclass(frozen=True)
class Chapter:
    """One chapter file: its number, name, title and one-line summary."""

    number: int
    name: str
    path: Path
    title: str
    summary: str

    @property
    def text(self):
        """The chapter's markdown."""
        return self.path.read_text(encoding="utf-8")


def _title_and_summary(text):
    """The first ``#`` heading, and the first sentence of the first paragraph."""
    title, paragraph, in_code = "", [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_code = not in_code
            if paragraph:
                break
            continue
        if in_code:
            continue
        if not title:
            if stripped.startswith("# "):
                title = stripped[2:].strip()
            continue
        if not stripped or stripped.startswith(("#", ">>>", "<!--", "|")):
            if paragraph:
                break
            continue
        paragraph.append(stripped)
    summary = " ".join(paragraph).strip("*_ ")
    match = re.match(r"(.+?[.!?])(?=\s+[A-Z(`*]|$)", summary)  # not at "e.g. this"
    return title, (match.group(1) if match else summary).strip("*_ ")


def chapters(notes=NOTES):
    """The chapters of ``notes``, in reading order (by number).

    >>> [c.title for c in chapters() if c.number == 2]
    ['Convolution and cross-correlation']
    """
    found = []
    for path in sorted(Path(notes).glob("*.md")):
        match = _FILE.match(path.name)
        if match:
            title, summary = _title_and_summary(path.read_text(encoding="utf-8"))
            found.append(Chapter(int(match.group(1)), match.group(2), path,
                                 title or match.group(2), summary))
    return sorted(found, key=lambda c: c.number)


def find(key, notes=NOTES):
    """The chapter named by ``key``: a number, a file stem, or a name prefix.

    Raises
    ------
    LookupError
        No chapter, or more than one, answers to ``key``.

    >>> find("2").name, find("conv").number
    ('convolution', 2)
    """
    every = chapters(notes)
    key = str(key).strip().lower()
    if key.isdigit():
        hits = [c for c in every if c.number == int(key)]
    else:
        exact = [c for c in every if key in (c.name, c.path.stem)]
        hits = exact or [c for c in every if c.name.startswith(key)]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(f"{c.number:02d} {c.name}" for c in every) or "none"
    if hits:
        raise LookupError(f"chapter {key!r} is ambiguous: it could be "
                          + ", ".join(c.name for c in hits))
    raise LookupError(f"no chapter {key!r}; the chapters are: {known}")


def code(function):
    """The source of ``function`` as it runs, its docstring left out.

    The chapters print the layers with it, so that the code on the page
    is the code in the package: a doctest of ``print(code(layers.relu))``
    fails as soon as the two differ.

    >>> from aplnet import layers
    >>> print(code(layers.relu))
    def relu(z):
        return np.maximum(0, checks.values(z, "z", "relu"))
    """
    lines, _ = inspect.getsourcelines(function)
    lines = textwrap.dedent("".join(lines)).splitlines()
    body = ast.parse("\n".join(lines)).body[0].body
    if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        lines = lines[:body[0].lineno - 1] + lines[body[0].end_lineno:]
    return "\n".join(lines)


@dataclass(frozen=True)
class AplBlock:
    """One fenced ``apl`` block of a chapter and the check its marker asks for."""

    line: int          # 0-based line of the opening fence
    source: str        # the APL, as printed in the chapter
    kind: str          # "libjay" (runs and is compared) or "dyalog" (libjay cannot run it)
    names: dict        # APL name -> Python expression bound to it
    expected: str      # Python expression the block's value must equal
    reason: str        # why libjay cannot run a "dyalog" block ("" otherwise)


_BLOCK = re.compile(r"^```apl[ \t]*\n(.*?)^```[ \t]*\n(?:[ \t]*\n)?"
                    r"(?:<!--\s*(libjay|dyalog):(.*?)-->)?", re.S | re.M)


def _bindings(spec):
    names = {}
    for token in spec.split():
        apl_name, _, python = token.partition("=")
        names[apl_name] = python or apl_name
    return names


def apl_blocks(text):
    """The fenced ``apl`` blocks of ``text``, with their markers parsed.

    A block without a marker has ``kind=""``; the tests refuse those.

    >>> md = "```apl\\n1+x\\n```\\n<!-- libjay: x | x + 1 -->\\n"
    >>> b = apl_blocks(md)[0]
    >>> b.kind, b.source, b.names, b.expected
    ('libjay', '1+x', {'x': 'x'}, 'x + 1')
    """
    blocks = []
    for match in _BLOCK.finditer(text):
        kind, body = match.group(2) or "", match.group(3) or ""
        fields = [f.strip() for f in body.split("|")] if kind else []
        fields += [""] * (3 - len(fields))
        blocks.append(AplBlock(
            line=text.count("\n", 0, match.start()),
            source=match.group(1).rstrip("\n"),
            kind=kind,
            names=_bindings(fields[0]),
            expected=fields[1],
            reason=fields[2],
        ))
    return blocks


def _listing(every, columns):
    """Each chapter's number and title, and under it its summary, cut to fit."""
    lines = []
    for c in every:
        lines.append(f"{c.number:02d}  {c.title}")
        if c.summary:
            lines.append("    " + textwrap.shorten(c.summary, max(20, columns - 4),
                                                   placeholder=" …"))
    lines.append("")
    lines.append("aplnet notes N prints chapter N: its number, or its name "
                 "(e.g. 'aplnet notes convolution').")
    return "\n".join(lines)


def _print(text):
    """Print ``text``; a reader that stops early (``| head``) is not an error."""
    try:
        print(text, end="" if text.endswith("\n") else "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(chapter=None):
    """``aplnet notes [N]``: list the chapters, or print chapter ``N``.

    Returns 0, or 2 (with a message on stderr) for a chapter that does not
    exist.

    >>> main("no-such-chapter")
    2
    """
    if not NOTES.is_dir():
        print(f"aplnet notes: the notes directory {NOTES} is missing; the notes "
              f"ship with the source checkout (pip install -e .)", file=sys.stderr)
        return 2
    if chapter is None:
        every = chapters(NOTES)
        if not every:
            print(f"aplnet notes: no chapters in {NOTES}", file=sys.stderr)
            return 2
        _print(_listing(every, shutil.get_terminal_size((100, 24)).columns - 1))
        return 0
    try:
        found = find(chapter, NOTES)
    except LookupError as err:
        print(f"aplnet notes: {err}", file=sys.stderr)
        return 2
    _print(found.text)
    return 0
