"""Two versions of aplnet, A and B, timed on one U-Net training step in turns: is B as fast?

    python benchmarks/ab_step.py --a /path/to/old/checkout --b . --config 188/16/5
    python benchmarks/ab_step.py --a OLD --b . --config 572/64/5 --rounds 7 --steps 2

Each turn is a fresh process with ``PYTHONPATH`` set to one of the two
trees: it builds the network (seed 0, float32, batch 1), takes one untimed
step, then times ``--steps`` steps (forward, loss, backward; no update)
and reports their median (and the fastest). The two sides take turns, the one going first
alternating from round to round, so that a load that comes and goes on
the machine (other processes) falls on both; the figure to read is the
median over the rounds of each round's ratio B/A, each of two turns
seconds apart (also given for each turn's fastest step, which a load
from other processes moves less). ``--engine`` times B on another of its engines (A always
runs the default). The BLAS and its kernel (threadpoolctl) and the load
average before and after are printed, since both move the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
import numpy as np
import aplnet
from aplnet.unet import UNet

size, width, depth, steps, engine = json.loads(sys.argv[1])
kwargs = {} if engine == "fast" else {"engine": engine}
net = UNet(depth=depth, width=width, seed=0, dtype=np.float32, **kwargs)
rng = np.random.default_rng(0)
out = net.output_size(size)
x = rng.standard_normal((1, size, size, 1)).astype(np.float32)
labels = rng.integers(0, 2, (1, out, out))
weights = rng.uniform(0.5, 2, (1, out, out)).astype(np.float32)

def step():
    logits, tape = net.forward(x)
    loss, dlogits = net.loss(logits, labels, weights)
    net.backward(dlogits, tape)

step()
times = []
for _ in range(steps):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
blas = "unknown"
try:
    from threadpoolctl import threadpool_info
    blas = "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                     f"threads={i.get('num_threads')}" for i in threadpool_info()
                     if i.get("user_api") == "blas")
except ImportError:
    pass
print(json.dumps({"median": sorted(times)[len(times) // 2], "least": min(times),
                  "where": aplnet.__file__,
                  "blas": blas}))
"""


def turn(tree, config, steps, engine, threads):
    """One fresh process on ``tree``: the median step time in seconds, and what it ran."""
    size, width, depth = config
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    if threads:
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    run = subprocess.run([sys.executable, "-c", CHILD, json.dumps([size, width, depth, steps, engine])],
                         env=env, capture_output=True, text=True, cwd="/", check=False)
    if run.returncode:
        raise SystemExit(f"ab_step: the turn on {tree} failed:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="the tree to compare against (its aplnet/)")
    parser.add_argument("--b", required=True, help="the tree under test")
    parser.add_argument("--config", default="188/16/5", help="size/width/depth")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per turn")
    parser.add_argument("--engine", default="fast", help="B's engine (A runs its default)")
    parser.add_argument("--threads", type=int, default=0,
                        help="BLAS threads (default: the BLAS's own choice)")
    args = parser.parse_args(argv)
    try:
        config = tuple(int(n) for n in args.config.split("/"))
        assert len(config) == 3
    except (ValueError, AssertionError):
        parser.error(f"--config must be size/width/depth, e.g. 188/16/5; got {args.config!r}")
    for name in ("a", "b"):
        if not os.path.isdir(os.path.join(getattr(args, name), "aplnet")):
            parser.error(f"--{name} {getattr(args, name)}: no aplnet/ package there")
    print(f"load average before: {os.getloadavg()}", flush=True)
    ratios, least, sides = [], [], {"a": [], "b": []}
    for r in range(args.rounds):
        order = ("a", "b") if r % 2 == 0 else ("b", "a")
        got = {}
        for side in order:
            got[side] = turn(getattr(args, side), config, args.steps,
                             args.engine if side == "b" else "fast", args.threads)
            sides[side].append(got[side]["median"])
        ratios.append(got["b"]["median"] / got["a"]["median"])
        least.append(got["b"]["least"] / got["a"]["least"])
        print(f"round {r + 1}: A {got['a']['median'] * 1e3:9.1f} ms   B {got['b']['median'] * 1e3:9.1f} ms"
              f"   B/A {ratios[-1]:.3f}   (first: {order[0].upper()})", flush=True)
    print(f"A: {got['a']['where']}\nB: {got['b']['where']} (engine {args.engine})")
    print(f"BLAS: {got['b']['blas']}")
    print(f"load average after: {os.getloadavg()}")
    print(f"config {args.config}: A median {statistics.median(sides['a']) * 1e3:.1f} ms, "
          f"B median {statistics.median(sides['b']) * 1e3:.1f} ms; "
          f"median of the rounds' B/A: {statistics.median(ratios):.3f} "
          f"(from {min(ratios):.3f} to {max(ratios):.3f}); of the fastest steps' B/A: "
          f"{statistics.median(least):.3f}")


if __name__ == "__main__":
    main()
