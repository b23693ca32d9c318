"""Name the OpenBLAS kernel family in force, and one other for a second run.

CI runs the numerics a second time under ``OPENBLAS_CORETYPE`` set to the
family this prints on stdout, so a doctest or test whose figures depend on
the last bits of BLAS's sums fails here, not on a user's machine.
``--now`` only reports (on stderr) the family the process runs with.
"""

import sys

import numpy  # noqa: F401  (threadpoolctl sees only a BLAS already loaded)
from threadpoolctl import threadpool_info

running = ", ".join(sorted({info.get("architecture") or "?" for info in threadpool_info()
                            if info.get("internal_api") == "openblas"})) or "no OpenBLAS"
if sys.argv[1:] == ["--now"]:
    print(f"OpenBLAS kernels in force: {running}", file=sys.stderr)
else:
    second = "Haswell" if running == "Sandybridge" else "Sandybridge"
    print(f"OpenBLAS kernels as this machine runs them: {running}; the second run "
          f"uses OPENBLAS_CORETYPE={second}", file=sys.stderr)
    print(second)
