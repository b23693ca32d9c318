"""aplnet.heap: freed memory kept in the process, so the next step takes no fresh pages."""

import os
import platform
import subprocess
import sys

import pytest

FAULTS = """
import resource, sys
import numpy as np
from aplnet.heap import keep_freed_memory
took = keep_freed_memory() if sys.argv[1] == "keep" else None

def faults_of_a_fresh_array():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.empty(64 << 20, np.uint8)
    a.fill(1)                                   # touch every page
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults_of_a_fresh_array()                       # the first array maps its pages
print(took, faults_of_a_fresh_array())          # the second: fresh pages, or the first's
"""


def run(mode):
    # numpy's huge pages off: 4 KiB pages, so that a fresh 64 MiB is thousands of faults
    env = dict(os.environ, NUMPY_MADVISE_HUGEPAGE="0")
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_freed_array_is_reused_without_page_faults():
    """64 MiB made, freed and made again: glibc maps it afresh by default, not after the call."""
    took, kept_faults = run("keep")
    _, default_faults = run("default")
    assert took == "True"
    assert kept_faults < 100 and default_faults > 10_000, (kept_faults, default_faults)


def test_elsewhere_it_says_it_did_nothing(monkeypatch):
    from aplnet import heap
    monkeypatch.setattr(heap.platform, "libc_ver", lambda: ("", ""))
    assert heap.keep_freed_memory() is False
