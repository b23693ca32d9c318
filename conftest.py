"""Shared test set-up: hypothesis profiles, the ``rng`` fixture, and the notes' stage.

One conftest at the root, because pytest's ``--doctest-modules`` imports every
``conftest.py`` under the test paths as a module named ``conftest``, and two
of them in non-package folders clash.

Hypothesis profiles follow numpy's: ``dev`` (the default), ``ci`` (chosen
when ``CI`` is set: derandomized, no database) and ``fuzz`` (2000 examples;
``HYPOTHESIS_PROFILE=fuzz``).

The notes' chapters run as doctests, and for them two things hold.

Optional extras skip cleanly. (So do the doctests of the bridges to
PyTorch, ONNX and Dask, ``aplnet/interop.py``, ``onnx_export.py`` and
``lazy.py``, which need the torch, onnx and dask extras.) Chapter 03
trains its small CNN on scikit-learn's 8x8 digits, an optional extra (``pip install -e .[test]``),
and imports it plainly, as a reader would. While a chapter runs, a
last-resort import finder is installed: it is asked only when no real
finder knows the module, so with scikit-learn installed nothing changes,
and without it the import raises pytest's skip exception. pytest's doctest
runner lets that outcome through, so the chapter stops there and is
reported as skipped, naming the extra, after every example above the
import has passed.

One BLAS thread. The chapters multiply small matrices, where threads only
add overhead, and on a busy two-core machine OpenBLAS's threads fight the
other processes: chapter 06's training loop took 13 s with them and 1.1 s
without. ``threadpoolctl`` (also in the test extra) limits them while a
chapter runs, when it is installed.
"""

import contextlib
import importlib.abc
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

NOTES = Path(__file__).resolve().parent / "notes"

settings.register_profile("dev", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True,
                          database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", deadline=None, max_examples=2000,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE",
                                     "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def rng():
    """A fixed-seed generator, so every test draws the same numbers."""
    return np.random.default_rng(0)


OPTIONAL = {"sklearn": ("scikit-learn", "test"), "torch": ("torch", "torch"),
            "onnx": ("onnx", "onnx"), "onnxruntime": ("onnxruntime", "onnx"),
            "dask": ("dask", "dask"), "distributed": ("distributed", "dask"),
            "zarr": ("zarr", "dask"), "tifffile": ("tifffile", "dask")}

BRIDGES = {Path(__file__).resolve().parent / name for name in
           ("aplnet/interop.py", "aplnet/onnx_export.py", "aplnet/lazy.py", "README.md")}
"""Doctests that need an optional extra (the README's last example needs torch):
without it they skip, like a chapter, from the example that imports it."""


class _SkipMissingExtra(importlib.abc.MetaPathFinder):
    def __init__(self, what="chapter"):
        self.what = what

    def find_spec(self, name, path=None, target=None):
        # only a missing package itself: an installed one (torch, dask) asks for
        # optional submodules of its own that it expects may be absent
        package, extra = OPTIONAL.get(name, (None, None))
        if package is not None:
            pytest.skip(f"the rest of this {self.what} needs {package}, an optional "
                        f"extra: pip install -e .[{extra}]")
        return None


def _one_blas_thread():
    try:  # numpy is imported above: threadpoolctl limits only a BLAS already loaded
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@pytest.fixture(autouse=True)
def _chapter_stage(request):
    """For a chapter of the notes: skip on a missing extra, one BLAS thread.

    The bridges' doctests skip on a missing extra too.
    """
    path = Path(str(request.node.path)).resolve()
    if path in BRIDGES:
        finder = _SkipMissingExtra("example")
        sys.meta_path.append(finder)
        try:
            yield
        finally:
            sys.meta_path.remove(finder)
        return
    if NOTES not in path.parents:
        yield
        return
    finder = _SkipMissingExtra()
    sys.meta_path.append(finder)
    try:
        with _one_blas_thread():
            yield
    finally:
        sys.meta_path.remove(finder)
