"""What every benchmark here shares: the environment report and the second run.

OpenBLAS reads ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` once, when it
loads, and otherwise picks its kernels by CPUID (``SkylakeX`` on an
AVX-512 CPU). Some machines export the variables to hold OpenBLAS to older
kernels (``Haswell``, AVX2); so each benchmark measures twice in one
command, each in a child process: with the kernels OpenBLAS picks by CPUID
(both variables removed), and with the environment's setting where it
sets one, else with ``OPENBLAS_CORETYPE=Haswell``, the older kernels such
machines force. Thread counts are set the same way, before numpy (and
torch) load: ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
``MKL_NUM_THREADS``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
FORCED = "Haswell"
"""The kernels measured second when the environment forces none."""
SETTINGS = ("unset", "as set" if os.environ.get("OPENBLAS_CORETYPE") else FORCED)
"""The runs of each benchmark: OpenBLAS's own choice first, then the forced one."""
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The checkout the benchmarks belong to: its aplnet is the one measured."""


def parse_config(text):
    """``size/width/depth`` as three ints, refused (ArgumentTypeError) where aplnet's U-Net would refuse it."""
    if ROOT not in sys.path:                      # a checkout run without installing aplnet
        sys.path.insert(0, ROOT)
    from aplnet.unet import check_input_size

    try:
        size, width, depth = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"config must be size/width/depth, e.g. 572/64/5; "
                                         f"got {text!r}") from None
    if width < 1:
        raise argparse.ArgumentTypeError(f"width must be at least 1; got {width}")
    try:
        check_input_size(size, depth)
    except ValueError as e:                       # aplnet's DomainError is a ValueError
        raise argparse.ArgumentTypeError(str(e)) from None
    return size, width, depth


def child_env(setting, threads):
    """The environment of a measuring child: the BLAS variables as set or removed, the thread count fixed."""
    env = dict(os.environ)
    if setting != "as set":
        for name in BLAS_VARIABLES:
            env.pop(name, None)
    if setting == FORCED:
        env["OPENBLAS_CORETYPE"] = FORCED
    if threads:
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return env


def run_child(script, args, setting, threads):
    """Run ``script`` with ``args`` in a fresh process; its stdout, or a RuntimeError (its stderr is ours)."""
    proc = subprocess.run([sys.executable, script, *args], env=child_env(setting, threads),
                          stdout=subprocess.PIPE, stderr=None, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{os.path.basename(script)} {' '.join(args)} failed "
                           f"(exit {proc.returncode}) with OpenBLAS variables {setting}")
    return proc.stdout


class Worker:
    """``script`` with ``args`` in a process of its own that answers a line on stdin with a JSON line on stdout.

    A worker that dies is reported (RuntimeError) at the next question; one
    that hangs keeps the benchmark waiting, as a hung step would.
    """

    def __init__(self, script, args, setting, threads):
        self.name = f"{os.path.basename(script)} {' '.join(args)}"
        self.setting = setting
        self.proc = subprocess.Popen([sys.executable, script, *args],
                                     env=child_env(setting, threads), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=None, text=True)

    def ask(self, command):
        """Send ``command``; the reply, decoded."""
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            raise RuntimeError(f"{self.name} failed (exit {self.proc.wait()}) on {command!r} "
                               f"with OpenBLAS variables {self.setting}")
        return json.loads(line)

    def close(self):
        """End the process: its stdin closed, it leaves its loop."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def setting_title(setting):
    if setting == "unset":
        return f"{' and '.join(BLAS_VARIABLES)} unset (OpenBLAS picks its kernels for this CPU)"
    if setting == FORCED:
        return f"OPENBLAS_CORETYPE={FORCED} (the older AVX2 kernels some machines force)"
    values = ", ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in BLAS_VARIABLES)
    return f"OpenBLAS variables as the environment sets them: {values}"


def blas_report():
    """Which BLAS numpy uses, which kernel (architecture) it picked, how many threads."""
    from threadpoolctl import threadpool_info

    rows = [f"{i['internal_api']} {i.get('version')} kernel={i.get('architecture')} "
            f"threads={i['num_threads']}"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(rows) or "no BLAS found by threadpoolctl"


def environment_report():
    """One line: BLAS, kernel, threads, the OpenBLAS variables, the load, the cores."""
    variables = " ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in BLAS_VARIABLES)
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    return (f"BLAS: {blas_report()}; {variables}; load average {load} "
            f"on {os.cpu_count()} cores")


def timed(f):
    """Seconds taken by one call of ``f``, and its result."""
    start = time.perf_counter()
    out = f()
    return time.perf_counter() - start, out


def page_faults():
    """The minor page faults of this process so far: each a page the kernel mapped, zeroed, on first touch."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def progress(message):
    """A progress line on stderr (the figures go to stdout)."""
    print(f"  … {message}", file=sys.stderr, flush=True)
