"""Speed of the fast layers: speed-up over their naive loops, GFLOP/s against matmul.

    python benchmarks/layers.py            # as the environment is, then again
                                           # with OPENBLAS_CORETYPE/L2_SIZE unset
    python benchmarks/layers.py --once     # only as the environment is

The naive loops are far too slow at the stated sizes (a 3x3 conv at
64x64x16 → 16 is 8.9 M multiply-adds, tens of seconds of Python per pass), so
each naive twin is timed on a small case and scaled to the stated size by
its work (multiply-adds, or items touched), which is what a loop's time is
proportional to; the fast layer is timed at the stated size itself. Both the
measured small-case ratio and the scaled one are printed.

OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE when it loads, so the
second set of figures comes from a child process started without them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info

from aplnet import layers, naive

BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def best_of(f, repeat):
    """The fastest of ``repeat`` timed calls, in seconds (one warm-up first)."""
    f()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def blas_description():
    rows = [f"{i['internal_api']} {i.get('version')} kernel={i.get('architecture')} "
            f"threads={i['num_threads']}"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(rows) or "no BLAS found by threadpoolctl"


def environment_line():
    variables = " ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in BLAS_VARIABLES)
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    return f"{variables}; load average {load} on {os.cpu_count()} cores"


def matmul_gflops(dtype, m, k, n, repeat):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    return 2 * m * k * n / best_of(lambda: a @ b, repeat) / 1e9


# ------------------------------------------------------------------ cases


def conv_pass(lib, x, w, dz):
    z = lib.conv(x, w)
    return z, lib.conv_backward(dz, x, w)


def conv_case(n, h, c, k, size, dtype):
    """Arrays for a valid size×size conv of (n, h, h, c) → k, and its multiply-adds."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, h, c)).astype(dtype)
    w = rng.standard_normal((size, size, c, k)).astype(dtype)
    ho = h - size + 1
    dz = rng.standard_normal((n, ho, ho, k)).astype(dtype)
    return (x, w, dz), n * ho * ho * size * size * c * k


def upconv_case(n, h, c, k, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, h, c)).astype(dtype)
    w = rng.standard_normal((2, 2, c, k)).astype(dtype)
    dy = rng.standard_normal((n, 2 * h, 2 * h, k)).astype(dtype)
    return (x, w, dy), n * h * h * 4 * c * k


def image_case(n, h, c, dtype):
    x = np.random.default_rng(0).standard_normal((n, h, h, c)).astype(dtype)
    return (x,), x.size


def logits_case(n, h, k, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, h, h, k)).astype(dtype)
    labels = rng.integers(0, k, (n, h, h))
    weights = rng.random((n, h, h)).astype(dtype)
    return (a, labels, weights), a.size


CASES = [
    # name, pass (lib, *arrays), stated case, small case, flops per unit of work
    ("conv 3x3 fwd+bwd 64x64x16→16 f32",
     conv_pass, conv_case(1, 64, 16, 16, 3, np.float32), conv_case(1, 10, 4, 4, 3, np.float32), 6),
    ("conv 3x3 fwd+bwd 64x64x16→16 f64",
     conv_pass, conv_case(1, 64, 16, 16, 3, np.float64), conv_case(1, 10, 4, 4, 3, np.float64), 6),
    ("conv 3x3 fwd     64x64x16→16 f32",
     lambda lib, x, w, dz: lib.conv(x, w),
     conv_case(1, 64, 16, 16, 3, np.float32), conv_case(1, 10, 4, 4, 3, np.float32), 2),
    ("conv 3x3 fwd+bwd 4x64x64x32→32 f32",
     conv_pass, conv_case(4, 64, 32, 32, 3, np.float32), conv_case(1, 10, 4, 4, 3, np.float32), 6),
    ("conv 1x1 fwd+bwd 64x64x16→2 f32",
     conv_pass, conv_case(1, 64, 16, 2, 1, np.float32), conv_case(1, 10, 4, 2, 1, np.float32), 6),
    ("upconv 2x2 fwd+bwd 32x32x16→8 f32",
     lambda lib, x, w, dy: (lib.upconv(x, w), lib.upconv_backward(dy, x, w)),
     upconv_case(1, 32, 16, 8, np.float32), upconv_case(1, 5, 4, 4, np.float32), 6),
    ("maxpool 2x2 fwd+bwd 64x64x16 f32",
     lambda lib, x: lib.maxpool_backward(lib.maxpool(x), x),
     image_case(1, 64, 16, np.float32), image_case(1, 12, 4, np.float32), None),
    ("relu fwd+bwd 64x64x16 f32",
     lambda lib, x: lib.relu_backward(x, lib.relu(x)),
     image_case(1, 64, 16, np.float32), image_case(1, 12, 4, np.float32), None),
    ("crop+pad 64x64x16 → 56x56 f32",
     lambda lib, x: lib.crop_backward(lib.crop(x, (56, 56)), (64, 64)) if x.shape[1] == 64
     else lib.crop_backward(lib.crop(x, (8, 8)), x.shape[1:3]),
     image_case(1, 64, 16, np.float32), image_case(1, 12, 4, np.float32), None),
    ("softmax cross-entropy 64x64x2 f32",
     lambda lib, a, labels, weights: lib.softmax_cross_entropy(a, labels, weights),
     logits_case(1, 64, 2, np.float32), logits_case(1, 12, 2, np.float32), None),
]


def run(repeat):
    print(f"environment: {environment_line()}", flush=True)
    print(f"BLAS: {blas_description()}", flush=True)
    mm32 = matmul_gflops(np.float32, 1024, 1024, 1024, repeat)
    mm64 = matmul_gflops(np.float64, 1024, 1024, 1024, repeat)
    im2col32 = matmul_gflops(np.float32, 62 * 62, 144, 16, repeat)
    print(f"numpy matmul: 1024³ {mm32:.0f} GFLOP/s f32, {mm64:.0f} f64; "
          f"im2col-shaped (3844×144)@(144×16) f32 {im2col32:.0f}", flush=True)
    print(f"{'layer':36} {'fast':>9} {'naive*':>9} {'speed-up':>9} {'(small)':>8} "
          f"{'GFLOP/s':>8} {'of matmul':>9}", flush=True)
    for name, step, (big, big_work), (small, small_work), flops_per_work in CASES:
        fast = best_of(lambda: step(layers, *big), repeat)
        fast_small = best_of(lambda: step(layers, *small), repeat)
        slow_small = best_of(lambda: step(naive, *small), 3)
        slow = slow_small * big_work / small_work
        line = (f"{name:36} {fast * 1e3:8.2f}ms {slow:8.2f}s {slow / fast:8.0f}x "
                f"{slow_small / fast_small:7.0f}x")
        if flops_per_work:
            gflops = flops_per_work * big_work / fast / 1e9
            reference = mm32 if big[0].dtype == np.float32 else mm64
            line += f" {gflops:8.1f} {gflops / reference:8.0%}"
        print(line, flush=True)
    print("naive* = the naive loop's time at the stated size, scaled from the small case "
          "by work; (small) = the speed-up measured on the small case itself", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true",
                        help="measure only as the environment is (no second run)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per figure (best kept)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run(args.repeat)
        return 0
    print("== OpenBLAS variables as the environment sets them ==", flush=True)
    run(args.repeat)
    if args.once:
        return 0
    print(f"\n== {' and '.join(BLAS_VARIABLES)} unset (a fresh process) ==", flush=True)
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES}
    return subprocess.run([sys.executable, __file__, "--child", "--repeat", str(args.repeat)],
                          env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
