"""The interactive console: ``aplnet repl``, or ``python -m aplnet`` with no command.

A Python console (:class:`code.InteractiveConsole`) with numpy as ``np``,
aplnet's names (as ``from aplnet import *`` gives them), ``aplnet.layers`` as
``layers`` and :func:`aplnet.display.box` loaded. Arrays, numpy scalars and
tuples or lists holding arrays are echoed in APL's boxed style; anything
else as Python shows it. It reads piped input as well as a terminal (with
no prompts then). At the end of the input it returns 0, or, for piped
input in which a statement raised an error, 1 (as ``python -`` does), so
a script fed to it fails visibly; the statements after the error still
run.
"""

from __future__ import annotations

import builtins
import code
import importlib
import sys

import numpy as np

from .display import box

__all__ = ["main", "namespace", "show", "BANNER"]

BANNER = """\
aplnet: the U-Net as APL-style array expressions in numpy.
numpy is np; aplnet's combinators, layers and box are loaded. Try:
  outer(np.multiply, np.arange(1, 4), np.arange(1, 5))    # 1 2 3∘.×⍳4
  reduce(np.subtract, [1, 2, 3])                          # -/1 2 3 is 2
  stencil(lambda w: w.sum(), np.arange(1, 6), 3)          # {+/⍵}⌺3⊢⍳5
  rank(lambda r: r[::-1], 1)(np.arange(6).reshape(2, 3))  # ⌽⍤1⊢2 3⍴⍳6
  layers.relu(np.array([-1.5, 0, 2]))
  (np.arange(3), np.eye(2, dtype=int))                    # nested: framed
  print(box(x))                                           # any x, APL style
End with Ctrl-D (or exit())."""

# beyond this many items an array is summarised the numpy way instead of boxed
LARGE = 2000


def namespace():
    """The console's globals: ``np``, aplnet's public names, ``layers``, ``box``.

    >>> ns = namespace()
    >>> ns["np"] is np, callable(ns["outer"]), callable(ns["box"])
    (True, True, True)
    """
    import aplnet

    ns = {"__name__": "__console__", "__doc__": None, "np": np, "aplnet": aplnet,
          "box": box}
    exported = getattr(aplnet, "__all__", None)
    names = exported or [n for n in dir(aplnet) if not n.startswith("_")]
    ns.update({name: getattr(aplnet, name) for name in names})
    try:
        ns["layers"] = importlib.import_module("aplnet.layers")
    except ImportError:
        pass
    return ns


def _boxable(value):
    if isinstance(value, (np.ndarray, np.generic)):
        return True
    return isinstance(value, (tuple, list)) and any(
        isinstance(item, np.ndarray) or _boxable(item) for item in value)


def show(value):
    """The console's echo of ``value``: APL's boxed style for arrays, else ``repr``.

    Arrays of more than ``LARGE`` items get a shape line and numpy's
    summary instead of every number.

    >>> print(show(np.array([[1, -2], [30, 4]])))
     1 ¯2
    30  4
    >>> print(show({"a": 1}))
    {'a': 1}
    """
    if isinstance(value, np.ndarray) and value.size > LARGE:
        return (f"⍴ {' '.join(map(str, value.shape))}  ({value.dtype}; {value.size} "
                f"items, shown as numpy shows them)\n{value!r}")
    if _boxable(value):
        return box(value)
    return repr(value)


def _displayhook(value):
    if value is None:
        return
    builtins._ = None  # as sys.__displayhook__ does, so _ is not printed as itself
    print(show(value))
    builtins._ = value


class _Console(code.InteractiveConsole):
    """A console that asks with no prompt when its input is not a terminal, and counts errors."""

    errors = 0

    def raw_input(self, prompt=""):
        return input(prompt if sys.stdin.isatty() else "")

    def showtraceback(self):
        self.errors += 1
        super().showtraceback()

    def showsyntaxerror(self, *args, **kwargs):
        self.errors += 1
        super().showsyntaxerror(*args, **kwargs)


def main(argv=None):
    """Run the console until the end of its input; return the exit status.

    0, or 1 when the input was piped and a statement in it raised an error.

    ``argv`` is accepted for symmetry with the other commands and ignored.
    """
    if sys.stdin.isatty():
        try:  # line editing and history at a terminal; importing is enough
            importlib.import_module("readline")
        except ImportError:
            pass
    saved = sys.displayhook
    sys.displayhook = _displayhook
    console = _Console(namespace())
    try:
        console.interact(banner=BANNER, exitmsg="")
    finally:
        sys.displayhook = saved
    return 1 if console.errors and not sys.stdin.isatty() else 0
