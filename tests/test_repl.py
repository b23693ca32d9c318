"""The console, driven the way a pipe drives it: ``python -m aplnet`` with stdin.

Each test starts the real program in a subprocess, feeds it lines, and
reads what it printed: echoes on stdout, the banner and tracebacks on
stderr, and the exit status at the end of the input (0, or 1 if a
statement raised).
"""

import subprocess
import sys

import numpy as np
import pytest

from aplnet import repl


def console(lines, *args):
    """Run ``python -m aplnet [args]`` on ``lines``; return (status, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "aplnet", *args],
                          input="\n".join(lines) + "\n", capture_output=True, text=True,
                          encoding="utf-8", timeout=60)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def session():
    """One run of the console over a script that exercises most of it."""
    return console([
        "outer(np.multiply, np.arange(1, 4), np.arange(1, 5))",
        "reduce(np.subtract, [1, 2, 3])",
        "1/0",
        "(np.arange(3), np.eye(2, dtype=int))",
        "callable(layers.conv)",
        "def double(x):",
        "    return 2 * x",
        "",
        "double(np.arange(3) - 1)",
        "'a string'",
        "print(box(np.array([[-1, 20]])))",
    ])


def test_console_exits_1_at_the_end_of_piped_input_that_raised(session):
    assert session[0] == 1          # its 1/0; input without errors exits 0 (below)


def test_console_shows_the_banner_with_things_to_try(session):
    banner = session[2]
    assert "numpy is np" in banner and "outer(np.multiply" in banner


def test_arrays_echo_as_apl_grids(session):
    assert "1 2 3  4\n2 4 6  8\n3 6 9 12\n" in session[1]


def test_numpy_scalars_echo_bare(session):
    assert "\n2\n" in session[1]


def test_errors_are_reported_and_the_session_goes_on(session):
    assert "ZeroDivisionError" in session[2]
    framed = "┌─────┬───┐\n│0 1 2│1 0│\n│     │0 1│\n└─────┴───┘"
    assert framed in session[1]


def test_layers_are_loaded(session):
    assert "\nTrue\n" in session[1]


def test_multi_line_definitions_work_and_negatives_use_high_minus(session):
    assert "¯2 0 2" in session[1]


def test_other_values_echo_as_python_does(session):
    assert "'a string'" in session[1]


def test_box_prints_directly(session):
    assert "¯1 20" in session[1]


def test_repl_command_opens_the_same_console():
    status, out, err = console(["take(np.arange(1, 4), -5)"], "repl")
    assert status == 0 and out.strip() == "0 0 1 2 3" and "Try" in err


def test_empty_input_exits_zero_at_once():
    status, out, _ = console([])
    assert status == 0 and out.strip() == ""


def test_show_summarises_large_arrays():
    text = repl.show(np.zeros((100, 100)))
    assert text.startswith("⍴ 100 100  (float64; 10000 items")


def test_show_leaves_plain_values_to_python():
    assert repl.show([1, "x"]) == "[1, 'x']"


def test_namespace_has_numpy_aplnet_and_layers():
    ns = repl.namespace()
    assert ns["np"] is np and callable(ns["stencil"]) and hasattr(ns["layers"], "conv")
