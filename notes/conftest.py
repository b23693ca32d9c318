"""pytest runs every chapter as a doctest; this sets the stage for them.

Optional extras skip cleanly. Chapter 03 trains its small CNN on
scikit-learn's 8x8 digits, an optional extra (``pip install -e .[test]``),
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
import sys

import pytest

OPTIONAL = {"sklearn": "scikit-learn"}


class _SkipMissingExtra(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        package = OPTIONAL.get(name.partition(".")[0])
        if package is not None:
            pytest.skip(f"the rest of this chapter needs {package}, an optional "
                        f"extra: pip install -e .[test]")
        return None


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    import numpy  # noqa: F401  (threadpoolctl limits only the BLAS already loaded)
    return threadpool_limits(limits=1, user_api="blas")


@pytest.fixture(autouse=True)
def _chapter_stage():
    finder = _SkipMissingExtra()
    sys.meta_path.append(finder)
    try:
        with _one_blas_thread():
            yield
    finally:
        sys.meta_path.remove(finder)
