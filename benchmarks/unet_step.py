"""The U-Net's forward pass and training step: aplnet against PyTorch, time and memory.

    python benchmarks/unet_step.py                          # 572/64/5, 188/16/5, 92/8/3
    python benchmarks/unet_step.py --config 572/64/5 --repeat 3 --threads 2
    python benchmarks/unet_step.py --config 188/16/5 --dtype float64 --once

A config is ``size/width/depth``: a ``size``² one-channel input, ``width``
channels at the top level, ``depth`` levels (572/64/5 is the paper's). The
training step is forward, loss, backward and the SGD update, batch 1 by
default. The PyTorch model is the same network (valid 3x3 convolutions
without bias or batch norm, in-place ReLU, 2x2 max pooling, 2x2 transposed
convolutions, centre crop and concatenation, a 1x1 convolution), starts
from the same weights and takes the same weighted pixel-wise softmax
cross-entropy and the same SGD with momentum 0.99; the first losses of the
two are printed side by side as a check that they compute the same thing.

Time: the two sides take turns, ``--repeat`` rounds of one step each
(several for configs that take under a second), each turn in a fresh
process that sets its side up, takes ``--warmup`` untimed steps (or
half a second of them) and a forward pass, is timed, and exits before the other side's turn; the
medians are compared, and so are the two sides round by round. Taking
turns lets a load that comes and goes on the machine fall on both; a side
alone on the machine, in a process of its own, is measured as a program
that trains with it runs. A second framework's process beside it, even
idle, slowed the other's step: at 572/64/5 with the Haswell kernels an
idle PyTorch worker made aplnet's step 8–14% slower (three pairs of runs,
medians of four steps: 5.25/5.65, 5.05/5.78, 4.94/5.41 s), and an idle
aplnet worker PyTorch's 0–18% (3.57/3.57, 3.44/3.57, 3.29/3.89 s).
``--same-process`` runs both sides in one process instead, as this
benchmark did at first. There the memory one side frees is what the
other's next arrays are made of, and that skewed the figures both ways:
at 572/64/5 aplnet's step ran 8% slower than in a process of its own and
PyTorch's 6% faster; at 92/8/3 aplnet's ran a quarter faster, spared the
page faults of its own heap (medians of five, 2026-11-25; since then
aplnet keeps its scratch, see ``aplnet/fast/buffers.py``). The forward
pass is timed as inference (``net(x)``, ``torch.no_grad()``).

Memory: each side in its own process (so neither's allocations count
against the other), with ``MALLOC_MMAP_THRESHOLD_`` fixed so that freed
arrays go back to the system: one warm-up step, then the rise of the
resident set (peak, ``VmHWM``, reset before the step) over what was resident
before it (parameters, momentum, data, libraries, and what either side
keeps between steps: PyTorch's caches, aplnet's scratch buffers, whose
size is printed beside).

Freed memory: the ``aplnet`` command tells glibc's malloc to keep the
memory a step frees for the next one (:mod:`aplnet.heap`), which spares
each step its page faults; ``--keep-freed`` says which timed sides run
so: ``aplnet`` (the default: each side as its own training runs),
``both`` (PyTorch given the same setting) or ``none``. The memory
children never set it: they measure what a step needs.

PyTorch's resident set before the step holds the gradients of the step
before (``zero_grad(set_to_none=True)`` frees them at the start of the
next step, as a PyTorch training loop runs); aplnet's gradients are gone
when its step returns, so its rise counts them (a copy of the weights,
124 MB at 572/64/5) and PyTorch's does not. The peak counts both.

Every figure is measured twice in one command: with the kernels OpenBLAS
picks by CPUID, and with ``OPENBLAS_CORETYPE=Haswell`` (or the
environment's own setting where it forces one; see ``_env.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _env  # noqa: E402

DEFAULT_CONFIGS = ("572/64/5", "188/16/5", "92/8/3")
LR, MOMENTUM = 1e-5, 0.99
WARM_SECONDS = 0.5
"""A fresh process warms up for at least this long: a small config's first
steps run slower (the BLAS's threads and buffers, aplnet's scratch, the
heap, settling), and one step of it takes a few milliseconds."""
IDLE = 0.3
"""Seconds of rest before each side's turn: OpenBLAS's and OpenMP's worker
threads spin for a while after their last call, and on two cores one side's
spinning threads would slow the other's first calls."""


# ------------------------------------------------------------ the two models


def aplnet_setup(size, width, depth, dtype, batch, seed=0):
    from aplnet.unet import SGD, UNet

    net = UNet(depth=depth, width=width, dtype=dtype, seed=seed)
    out = net.output_size(size)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, size, size, 1)).astype(dtype)
    labels = rng.integers(0, 2, (batch, out, out))
    weights = rng.uniform(0.5, 1.5, (batch, out, out)).astype(dtype)
    opt = SGD(net.params, lr=LR, momentum=MOMENTUM)

    def step():
        loss, grads = net.loss_and_grad(x, labels, weights)
        opt.step(grads)
        return loss

    return net, (x, labels, weights), step, lambda: net(x)


def torch_setup(size, width, depth, dtype, batch, threads, seed=0):
    import torch
    from torch.nn import functional as F

    from aplnet.interop import to_torch

    if threads:
        torch.set_num_threads(threads)
    net, (x, labels, weights), _, _ = aplnet_setup(size, width, depth, dtype, batch, seed)
    model = to_torch(net)
    del net
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(labels)
    wt = torch.from_numpy(weights)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = (F.cross_entropy(model(xt), yt, reduction="none") * wt).sum() / yt.numel()
        loss.backward()
        opt.step()
        return float(loss.detach())

    def forward():
        with torch.no_grad():
            return model(xt)

    return step, forward


# ---------------------------------------------------------------- children


def side_setup(args, side):
    """``(step, forward, facts)`` of one side, ``facts`` naming its libraries."""
    size, width, depth = args.config
    if args.keep_freed in (side, "both"):
        from aplnet.heap import keep_freed_memory
        keep_freed_memory()
    if side == "torch":
        import torch

        step, forward = torch_setup(size, width, depth, args.dtype, args.batch, args.threads)
        return step, forward, {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    _, _, step, forward = aplnet_setup(size, width, depth, args.dtype, args.batch)
    return step, forward, {"env": _env.environment_report()}


def timed_round(step, forward, n):
    """``n`` forward passes and ``n`` steps, in turn: their times and each step's page faults."""
    times = {"forward": [], "step": [], "faults": []}
    for _ in range(n):
        times["forward"].append(_env.timed(forward)[0])
        before = _env.page_faults()
        times["step"].append(_env.timed(step)[0])
        times["faults"].append(_env.page_faults() - before)
    return times


def steps_per_round(args, warm):
    """Steps of each side per round: enough that the slower side (``warm``, seconds a step by side) fills ``--min-time``."""
    return max(1, math.ceil(args.min_time / args.repeat / max(warm.values())))


def child_worker(args):
    """One side, set up once, answering the parent's commands on stdin, a JSON line each.

    ``warmup``: ``--warmup`` untimed steps, more if they take less than
    ``WARM_SECONDS``, and a forward pass; the reply names the libraries and
    gives the first step's loss. ``round N``: :func:`timed_round`. The
    replies go out on what was stdout; stdout
    itself is sent to stderr, so that nothing a library prints can come
    between a command and its reply.
    """
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    step, forward, facts = side_setup(args, args.side)
    for line in sys.stdin:
        command, *rest = line.split()
        if command == "warmup":
            start = time.perf_counter()
            reply = dict(facts, first_loss=step())
            done = 1
            while done < args.warmup or time.perf_counter() - start < WARM_SECONDS:
                step()
                done += 1
            forward()
        elif command == "round":
            reply = timed_round(step, forward, int(rest[0]))
        else:
            raise ValueError(f"unknown command {line!r}")
        print(json.dumps(reply), file=replies, flush=True)


def _turn(args, setting, side, command):
    """A fresh process of ``side``: its warm-up reply and its reply to ``command``; it exits after."""
    worker = _env.Worker(os.path.abspath(__file__),
                         child_args(args, "child-worker", ("--side", side)), setting, args.threads)
    try:
        return worker.ask("warmup"), worker.ask(command)
    finally:
        worker.close()


def time_alone_in_turns(args, setting, sides):
    """Each round, each side in a fresh process, alone on the machine; the timings, as :func:`child_time` prints them.

    A first turn of each side finds its step's time, which sets how many
    steps a round takes; then every round starts a process for aplnet,
    warms it up, times it and lets it exit, and does the same for PyTorch.
    """
    first_loss, facts, warm = {}, {"torch": None, "torch_threads": None}, {}
    for name in sides:
        _env.progress(f"{args.config_text} first turn: {name}")
        ready, probe = _turn(args, setting, name, "round 1")
        first_loss[name] = ready.pop("first_loss")
        facts.update(ready)
        warm[name] = probe["step"][0]
    per_round = steps_per_round(args, warm)
    times = {name: {"forward": [], "step": [], "faults": []} for name in sides}
    for i in range(args.repeat):
        _env.progress(f"{args.config_text} round {i + 1}/{args.repeat} "
                      f"({per_round} of each per round)")
        for name in sides:
            time.sleep(IDLE)
            _, reply = _turn(args, setting, name, f"round {per_round}")
            for what in ("forward", "step", "faults"):
                times[name][what] += reply[what]
    return dict(facts, repeat=args.repeat * per_round, rounds=args.repeat,
                first_loss=first_loss, times=times,
                processes="a fresh one per side and round, alone")


def child_time(args):
    """Alternate aplnet and torch in this one process (``--same-process``); print a JSON line of the timings."""
    size, width, depth = args.config
    _, _, a_step, a_forward = aplnet_setup(size, width, depth, args.dtype, args.batch)
    sides = {"aplnet": (a_step, a_forward)}
    try:
        import torch
    except ImportError:
        torch_version = torch_threads = None
    else:
        sides["torch"] = torch_setup(size, width, depth, args.dtype, args.batch, args.threads)
        torch_version, torch_threads = torch.__version__, torch.get_num_threads()
    first_loss, warm = {}, {}
    for name, (step, forward) in sides.items():
        _env.progress(f"{args.config_text} warm-up: {name}")
        first_loss[name] = step()
        for _ in range(args.warmup - 1):
            step()
        forward()
    for name, (step, _) in sides.items():
        time.sleep(IDLE)
        warm[name] = _env.timed(step)[0]
    per_round = steps_per_round(args, warm)
    times = {name: {"forward": [], "step": [], "faults": []} for name in sides}
    for i in range(args.repeat):
        _env.progress(f"{args.config_text} round {i + 1}/{args.repeat} "
                      f"({per_round} of each per round)")
        for name, (step, forward) in sides.items():
            time.sleep(IDLE)
            for what, values in timed_round(step, forward, per_round).items():
                times[name][what] += values
    repeat = args.repeat * per_round
    print(json.dumps({"env": _env.environment_report(), "torch": torch_version,
                      "torch_threads": torch_threads, "processes": "one, shared",
                      "repeat": repeat, "rounds": args.repeat, "first_loss": first_loss,
                      "times": times}))


def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def child_memory(args):
    """One side's resident memory around a training step; print a JSON line."""
    size, width, depth = args.config
    imported = _status("VmRSS")
    if args.side == "torch":
        step, _ = torch_setup(size, width, depth, args.dtype, args.batch, args.threads)
    else:
        _, _, step, _ = aplnet_setup(size, width, depth, args.dtype, args.batch)
    step()
    steady = _status("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                      # resets VmHWM to the current resident size
        how = "VmHWM"
    except OSError:
        how = "ru_maxrss (could not reset the peak: includes the warm-up step)"
    step()
    peak = _status("VmHWM") if how == "VmHWM" else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    kept = None
    if args.side == "aplnet":
        from aplnet.fast import buffers
        kept = buffers.held()[1]
    print(json.dumps({"side": args.side, "imported": imported, "steady": steady,
                      "peak": peak, "how": how, "kept": kept}))


# ------------------------------------------------------------------ parent


def child_args(args, mode, extra=()):
    return [f"--{mode}", "--config", args.config_text, "--dtype", args.dtype,
            "--batch", str(args.batch), "--threads", str(args.threads),
            "--repeat", str(args.repeat), "--warmup", str(args.warmup),
            "--min-time", str(args.min_time), "--keep-freed", args.keep_freed, *extra]


def fmt_time(t):
    return f"{t * 1e3:8.1f} ms" if t < 1 else f"{t:8.2f} s "


def round_ratios(a, t, rounds):
    """aplnet's time over PyTorch's, round by round (medians within a round).

    The two sides of a round ran seconds apart, so a load that comes and
    goes over minutes on a shared machine falls on both; the median of
    these ratios moves less from run to run than the ratio of the medians.
    """
    per = len(a) // rounds
    return [statistics.median(a[i * per:(i + 1) * per]) / statistics.median(t[i * per:(i + 1) * per])
            for i in range(rounds)]


def report_time(result, has_torch):
    times = result["times"]
    print(f"  {result['env']}")
    if has_torch:
        print(f"  torch {result['torch']} threads={result['torch_threads']}")
    print("  first loss: " + ", ".join(f"{k} {v:.6f}" for k, v in result["first_loss"].items()))
    print(f"  medians of {result['repeat']} (min in brackets); processes: {result['processes']}:")
    print(f"  {'':10} {'aplnet':>22} {'torch':>22} {'ratio':>7}   by round")
    for what in ("forward", "step"):
        a = times["aplnet"][what]
        row = f"  {what:10} {fmt_time(statistics.median(a))} ({fmt_time(min(a)).strip():>9})"
        if has_torch:
            t = times["torch"][what]
            by_round = round_ratios(a, t, result["rounds"])
            row += (f" {fmt_time(statistics.median(t))} ({fmt_time(min(t)).strip():>9})"
                    f" {statistics.median(a) / statistics.median(t):6.2f}x"
                    f"   {statistics.median(by_round):.2f}x ({min(by_round):.2f}–{max(by_round):.2f})")
        print(row, flush=True)
    print("  page faults per step (median): " + ", ".join(
        f"{name} {statistics.median(t['faults']):.0f}" for name, t in times.items()), flush=True)


def report_memory(results):
    mb = 1 << 20
    for r in results:
        print(f"  memory {r['side']:7} rise over the step {(r['peak'] - r['steady']) / mb:8.0f} MB; "
              f"resident before {r['steady'] / mb:6.0f} MB (libraries {r['imported'] / mb:4.0f} MB), "
              f"peak {r['peak'] / mb:6.0f} MB [{r['how']}]"
              + (f"; scratch kept between steps {r['kept'] / mb:.0f} MB" if r.get("kept") else ""))
    if len(results) == 2:
        a, t = ((r["peak"] - r["steady"]) for r in results)
        ratio = f"{a / t:.2f}x" if t > 0 else "n/a (PyTorch's resident set did not rise)"
        print(f"  memory ratio (rise over the step) aplnet/torch: {ratio}", flush=True)


def parent(args):
    script = os.path.abspath(__file__)
    has_torch = importlib.util.find_spec("torch") is not None
    settings = _env.SETTINGS[:1] if args.once else _env.SETTINGS
    print(f"aplnet U-Net training step vs PyTorch: {args.dtype}, batch {args.batch}, "
          f"{args.threads} threads, warm-up {args.warmup}, at least {args.repeat} repeats; "
          f"--keep-freed {args.keep_freed}", flush=True)
    for setting in settings:
        print(f"\n== {_env.setting_title(setting)} ==", flush=True)
        for text in args.configs:
            print(f"\n{text} ({args.dtype})", flush=True)
            args.config_text = text
            if args.same_process:
                out = _env.run_child(script, child_args(args, "child-time"), setting, args.threads)
                result = json.loads(out.splitlines()[-1])
            else:
                result = time_alone_in_turns(args, setting, ("aplnet", "torch") if has_torch
                                             else ("aplnet",))
            report_time(result, has_torch)
            if args.no_memory:
                continue
            results = []
            for side in (("aplnet", "torch") if has_torch else ("aplnet",)):
                _env.progress(f"{text} memory: {side}")
                env_args = child_args(args, "child-memory", ("--side", side))
                os.environ["MALLOC_MMAP_THRESHOLD_"] = str(128 << 10)
                try:
                    out = _env.run_child(script, env_args, setting, args.threads)
                finally:
                    del os.environ["MALLOC_MMAP_THRESHOLD_"]
                results.append(json.loads(out.splitlines()[-1]))
            report_memory(results)
    return 0


def _at_least_one(text):
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {n}")
    return n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", dest="configs", metavar="SIZE/WIDTH/DEPTH",
                        help=f"repeatable; default {' '.join(DEFAULT_CONFIGS)}")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="BLAS/OpenMP threads of both sides (default: all cores)")
    parser.add_argument("--repeat", type=_at_least_one, default=3,
                        help="rounds; each side takes one timed step per round (several for "
                             "small configs)")
    parser.add_argument("--warmup", type=_at_least_one, default=1,
                        help="untimed steps per turn, or more for half a second (the first gives "
                             "the loss compared)")
    parser.add_argument("--min-time", type=float, default=1.0,
                        help="repeat small configs until the slower side has about this many "
                             "seconds")
    parser.add_argument("--once", action="store_true",
                        help="only with the kernels OpenBLAS picks by CPUID (no second run)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory children")
    parser.add_argument("--keep-freed", choices=("aplnet", "both", "none"), default="aplnet",
                        help="the timed sides whose freed memory glibc keeps "
                             "(aplnet.heap.keep_freed_memory, as the aplnet command sets it; "
                             "default: aplnet's)")
    parser.add_argument("--same-process", action="store_true",
                        help="time both sides in one process, taking turns (default: a fresh process "
                             "per turn)")
    parser.add_argument("--child-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-time", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=("aplnet", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.configs = args.configs or list(DEFAULT_CONFIGS)
    for text in args.configs:
        try:
            _env.parse_config(text)
        except argparse.ArgumentTypeError as e:
            parser.error(f"--config {text}: {e}")
    if args.child_time or args.child_memory or args.child_worker:
        args.config_text = args.configs[0]
        args.config = _env.parse_config(args.config_text)
        (child_time if args.child_time else child_memory if args.child_memory
         else child_worker)(args)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
