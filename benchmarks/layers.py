"""Each layer of the U-Net, timed: GFLOP/s against numpy matmul, share of the step.

    python benchmarks/layers.py                    # 572/64/5 float32, both OpenBLAS settings
    python benchmarks/layers.py --config 188/16/5 --repeat 5
    python benchmarks/layers.py --naive            # also: speed-up over the naive loops
    python benchmarks/layers.py --once             # only with the kernels OpenBLAS picks by CPUID
    python benchmarks/layers.py --config 188/16/5 --torch   # and each layer's time in PyTorch

The layers are the ones a forward pass of ``aplnet.unet.UNet`` at the
config (``size/width/depth``, batch 1) calls, with the shapes it calls them
with, on random data; each is timed forward and backward (best of
``--repeat`` after a warm-up), and each convolution's GFLOP/s is set
against the practical roofline: numpy's matmul, in the same run, of the
very matrix products the convolution amounts to (im2col, contiguous, built
in advance): ``(Ho·Wo, kh·kw·C) @ (kh·kw·C, K)`` forward,
``(H·W, kh·kw·K) @ (kh·kw·K, C)`` for dx and ``(kh·kw·C, Ho·Wo) @ (Ho·Wo, K)``
for dw backward. A square 2048³ matmul is printed too. The network's first
convolution is timed backward as ``UNet.backward`` runs it: dw only (the
gradient of the input image is not asked for), against dw's product alone.

GF/s always counts the direct convolution's multiply-adds,
``2·Ho·Wo·kh·kw·C·K`` per pass. The 3x3 layers with 128 channels or more in
and out, on outputs of about 20x20 pixels or more, take Winograd's
F(2×2, 3×3) (column 'road': ``F23``), which does 16/36 of those
multiplications: for them 'of mm' says how much faster than the direct
products' matmul the layer ran, and can pass 100%.

``--torch`` adds PyTorch's time for each convolution and up-convolution
(same shapes and data, NCHW, its own process): where the step's gap to
PyTorch lies, layer by layer.

``--naive`` adds the older table: the fast layers against their loop
twins in :mod:`aplnet.naive`, timed on a small case and scaled by work.

Both OpenBLAS settings are measured in one command, each in a fresh process
(see ``_env.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _env  # noqa: E402

from aplnet import fast, naive  # noqa: E402
from aplnet.unet import UNet  # noqa: E402


def best_of(f, repeat):
    """The fastest of ``repeat`` timed calls, in seconds (one warm-up first)."""
    f()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_seconds(m, k, n, dtype, repeat, transpose_a=False):
    """Best time of a contiguous ``(m, k) @ (k, n)`` (``a`` stored transposed if asked)."""
    a = np.full((k, m) if transpose_a else (m, k), 0.5, dtype)   # values do not change BLAS's speed
    b = np.full((k, n), 0.25, dtype)
    left = a.T if transpose_a else a
    return best_of(lambda: left @ b, repeat)


# ----------------------------------------------------- the network's layers


def network_calls(size, width, depth, dtype):
    """``(kind, name, x shape, w shape)`` of every conv and up-conv a forward pass makes, in order."""
    net = UNet(depth=depth, width=width, dtype=dtype)
    calls, names = [], iter(name for name, _, _ in net.layout())
    originals = fast.conv, fast.conv_relu, fast.upconv

    def spy(kind, original):
        def call(x, w, *args, **kwargs):
            calls.append((kind, next(names), x.shape, w.shape))
            return original(x, w, *args, **kwargs)
        return call

    fast.conv, fast.conv_relu, fast.upconv = (spy("conv", fast.conv), spy("conv", fast.conv_relu),
                                              spy("upconv", fast.upconv))
    try:
        net(np.zeros((1, size, size, 1), dtype))
    finally:
        fast.conv, fast.conv_relu, fast.upconv = originals
    return calls


def random_layer(xs, ws, dtype):
    """``(rng, x, w)``: a seeded generator, an input of shape ``xs`` and a small kernel of shape ``ws``."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs, dtype=np.float32).astype(dtype)
    w = (rng.standard_normal(ws, dtype=np.float32) * 0.05).astype(dtype)
    return rng, x, w


def conv_row(name, xs, ws, dtype, repeat, input_grad=True):
    """A 3x3 (or 1x1) layer; backward without dx if ``input_grad`` is false, as the U-Net's first."""
    rng, x, w = random_layer(xs, ws, dtype)
    kh, kw, c, k = ws
    h, wd = xs[-3:-1]
    ho, wo = h - kh + 1, wd - kw + 1
    dz = rng.standard_normal(xs[:-3] + (ho, wo, k), dtype=np.float32).astype(dtype)
    flops = 2 * ho * wo * kh * kw * c * k
    fwd = best_of(lambda: fast.conv(x, w), repeat)
    mm_fwd = matmul_seconds(ho * wo, kh * kw * c, k, dtype, repeat)
    mm_dw = matmul_seconds(kh * kw * c, ho * wo, k, dtype, repeat, transpose_a=True)
    if input_grad:
        bwd = best_of(lambda: fast.conv_backward(dz, x, w, need_db=False), repeat)
        mm_bwd = matmul_seconds(h * wd, kh * kw * k, c, dtype, repeat) + mm_dw
    else:
        bwd = best_of(lambda: fast.conv_backward(dz, x, w, need_dx=False, need_db=False), repeat)
        mm_bwd = mm_dw
    return dict(name=name, shape=f"{h}x{wd}x{c}→{k} {kh}x{kw}", fwd=fwd, bwd=bwd,
                flops=flops, bwd_flops=(2 if input_grad else 1) * flops, mm_fwd=mm_fwd,
                mm_bwd=mm_bwd, road=conv_road(x, w), input_grad=input_grad)


def conv_road(x, w):
    """How ``fast.conv`` computes this stride-1 call (the U-Net has no other): ``F23`` or ``direct``."""
    return "F23" if fast.choose("correlate", x.shape, w.shape, 1, x.dtype) == "winograd" else "direct"


def upconv_row(name, xs, ws, dtype, repeat):
    rng, x, w = random_layer(xs, ws, dtype)
    kh, kw, c, k = ws
    h, wd = xs[-3:-1]
    dy = rng.standard_normal(xs[:-3] + (h * kh, wd * kw, k), dtype=np.float32).astype(dtype)
    flops = 2 * h * wd * kh * kw * c * k
    fwd = best_of(lambda: fast.upconv(x, w), repeat)
    bwd = best_of(lambda: fast.upconv_backward(dy, x, w), repeat)
    mm_fwd = matmul_seconds(h * wd, c, kh * kw * k, dtype, repeat)
    mm_bwd = (matmul_seconds(h * wd, kh * kw * k, c, dtype, repeat)
              + matmul_seconds(c, h * wd, kh * kw * k, dtype, repeat, transpose_a=True))
    return dict(name=name, shape=f"{h}x{wd}x{c}→{k} {kh}x{kw}↑", fwd=fwd, bwd=bwd,
                flops=flops, bwd_flops=2 * flops, mm_fwd=mm_fwd, mm_bwd=mm_bwd, road="direct")


def torch_times(size, width, depth, dtype, repeat):
    """``{name: (forward, backward)}`` seconds of each conv and up-conv of the network in PyTorch.

    The same shapes, random data and timing as :func:`conv_row` and
    :func:`upconv_row`, in PyTorch's layout (NCHW); backward is the
    gradients (the first layer's weights' alone, as in aplnet) less the
    forward pass that autograd needs first. Run in a process of its own
    (``--torch-child``): PyTorch's OpenMP threads, idle, still spin on the
    cores for a while after each call.
    """
    import torch
    from torch.nn import functional as F

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    times = {}
    for i, (kind, name, xs, ws) in enumerate(network_calls(size, width, depth, dtype)):
        _, x, w = random_layer(xs, ws, dtype)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(i > 0)
        if kind == "conv":
            wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_()
            def op():
                return F.conv2d(xt, wt)
        else:
            wt = torch.from_numpy(np.ascontiguousarray(w.transpose(2, 3, 0, 1))).requires_grad_()
            def op():
                return F.conv_transpose2d(xt, wt, stride=2)
        with torch.no_grad():
            fwd = best_of(op, repeat)
        grad = torch.ones_like(op())
        both = best_of(lambda: op().backward(grad), repeat)
        times[name] = (fwd, max(both - fwd, 0.0))
    return times


def torch_columns(args):
    """:func:`torch_times` from a child process with this one's environment, or None with the reason printed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        print("(--torch: PyTorch is not installed: pip install -e .[torch])", flush=True)
        return None
    size, width, depth = args.config
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--config",
                           f"{size}/{width}/{depth}", "--dtype", args.dtype, "--repeat",
                           str(args.repeat), "--torch-child"],
                          stdout=subprocess.PIPE, text=True, check=True)
    return {name: tuple(t) for name, t in json.loads(proc.stdout).items()}


def other_rows(calls, dtype, repeat):
    """The layers without a matrix product, each timed wherever the network calls it, summed by kind."""
    rng = np.random.default_rng(0)

    def data(shape):
        return rng.standard_normal(shape, dtype=np.float32).astype(dtype)

    def relu(xs, ws):
        y = data(xs[:-3] + (xs[-3] - ws[0] + 1, xs[-2] - ws[1] + 1, ws[-1]))
        return y.shape, (lambda: fast.relu(y)), (lambda: fast.relu_backward(y, y))

    def maxpool(xs):
        x = data(xs)
        y = fast.maxpool(x)
        return xs, (lambda: fast.maxpool(x)), (lambda: fast.maxpool_backward(y, x))

    def copy_and_crop(skip_shape, up_shape):
        skip, up = data(skip_shape), data(up_shape)
        joined = fast.concat(fast.crop(skip, up_shape[-3:-1]), up)
        return skip_shape, (lambda: fast.concat(fast.crop(skip, up_shape[-3:-1]), up)), \
            (lambda: fast.crop_backward(fast.concat_backward(joined, skip_shape[-1])[0],
                                          skip_shape[-3:-1]))

    def loss(xs, ws):
        a = data(xs[:-1] + (ws[-1],))
        labels = rng.integers(0, ws[-1], xs[:-1])
        weights = rng.random(xs[:-1]).astype(dtype)
        return a.shape, (lambda: fast.softmax_cross_entropy(a, labels, weights)), (lambda: None)

    places = {"relu": [], "maxpool": [], "crop+concat": [], "softmax cross-entropy": []}
    skips = []
    for i, (kind, name, xs, ws) in enumerate(calls):
        if kind == "conv" and ws[0] > 1:
            places["relu"].append(relu(xs, ws))
            if name.endswith("conv1") and name.startswith("down"):
                pooled = xs[:-3] + (xs[-3] - 2, xs[-2] - 2, ws[-1])
                skips.append(pooled)
                places["maxpool"].append(maxpool(pooled))
        elif kind == "upconv":
            up = xs[:-3] + (2 * xs[-3], 2 * xs[-2], ws[-1])
            places["crop+concat"].append(copy_and_crop(skips.pop(), up))
        else:
            places["softmax cross-entropy"].append(loss(xs, ws))
    rows = []
    for kind, found in places.items():
        if found:
            rows.append(dict(name=f"{kind} ×{len(found)}", shape="x".join(map(str, found[0][0][-3:])),
                             fwd=sum(best_of(f, repeat) for _, f, _ in found),
                             bwd=sum(best_of(b, repeat) for _, _, b in found)))
    return rows


def run_network(args):
    size, width, depth = args.config
    dtype = np.dtype(args.dtype)
    print(f"environment: {_env.environment_report()}", flush=True)
    square = 2 * 2048 ** 3 / matmul_seconds(2048, 2048, 2048, dtype, args.repeat) / 1e9
    print(f"numpy matmul 2048³ {args.dtype}: {square:.0f} GFLOP/s", flush=True)
    calls = network_calls(size, width, depth, dtype)
    torch_ms = torch_columns(args) if args.torch else None
    print(f"\nU-Net {size}/{width}/{depth} {args.dtype}, batch 1: forward / backward (dx, dw) "
          f"per layer, best of {args.repeat}; 'mm' = numpy matmul of the same products"
          + ("; 'torch' = PyTorch's time for the layer, in a process of its own" if torch_ms
             else ""), flush=True)
    print(f"{'layer':16} {'shape':22} {'road':6} {'fwd ms':>8} {'GF/s':>6} {'of mm':>6}  "
          f"{'bwd ms':>8} {'GF/s':>6} {'of mm':>6}"
          + (f"  {'torch fwd':>9} {'torch bwd':>9}" if torch_ms else ""), flush=True)
    rows = []
    for i, (kind, name, xs, ws) in enumerate(calls):
        _env.progress(f"{name}")
        if kind == "conv":
            row = conv_row(name, xs, ws, dtype, args.repeat, input_grad=i > 0)
        else:
            row = upconv_row(name, xs, ws, dtype, args.repeat)
        rows.append(row)
        f, b = row["flops"], row["bwd_flops"]
        print(f"{name:16} {row['shape']:22} {row['road']:6} {row['fwd'] * 1e3:8.1f} {f / row['fwd'] / 1e9:6.0f} "
              f"{row['mm_fwd'] / row['fwd']:6.0%}  {row['bwd'] * 1e3:8.1f} "
              f"{b / row['bwd'] / 1e9:6.0f} {row['mm_bwd'] / row['bwd']:6.0%}"
              + (f"  {torch_ms[name][0] * 1e3:9.2f} {torch_ms[name][1] * 1e3:9.2f}"
                 if torch_ms else ""), flush=True)
    products = sum(r["fwd"] + r["bwd"] for r in rows)
    if torch_ms:
        print(f"{'all products, PyTorch':46} {sum(map(sum, torch_ms.values())):8.3f} s "
              f"(forward {sum(f for f, _ in torch_ms.values()) * 1e3:.1f} ms, aplnet's "
              f"{sum(r['fwd'] for r in rows) * 1e3:.1f} ms)", flush=True)
    roof = sum(r["mm_fwd"] + r["mm_bwd"] for r in rows)
    flops = sum(r["flops"] + r["bwd_flops"] for r in rows)
    print(f"{'all products':46} {products:8.2f} s  {flops / products / 1e9:.0f} GFLOP/s, "
          f"{roof / products:.0%} of the same products in matmul ({roof:.2f} s)", flush=True)
    for row in rows:
        if not row.get("input_grad", True):
            print(f"({row['name']} backward: dw only, as UNet.backward computes it; the input "
                  f"image's gradient is not asked for)", flush=True)
    print("\nother layers, summed over the places the network calls them (shape: the first)",
          flush=True)
    print(f"{'layer':26} {'shape':14} {'fwd ms':>8} {'bwd ms':>8} {'of all layers':>14}", flush=True)
    others = other_rows(calls, dtype, args.repeat)
    total = products + sum(r["fwd"] + r["bwd"] for r in others)
    for r in others:
        print(f"{r['name']:26} {r['shape']:14} {r['fwd'] * 1e3:8.1f} {r['bwd'] * 1e3:8.1f} "
              f"{(r['fwd'] + r['bwd']) / total:14.1%}", flush=True)


# ------------------------------------------------ fast against the naive loops


def naive_cases(dtype):
    rng = np.random.default_rng(0)

    def conv_case(n, h, c, k, size):
        x = rng.standard_normal((n, h, h, c)).astype(dtype)
        w = rng.standard_normal((size, size, c, k)).astype(dtype)
        ho = h - size + 1
        return (x, w, rng.standard_normal((n, ho, ho, k)).astype(dtype)), n * ho * ho * size ** 2 * c * k

    def image_case(h, c):
        x = rng.standard_normal((1, h, h, c)).astype(dtype)
        return (x,), x.size

    def conv_pass(lib, x, w, dz):
        return lib.conv(x, w), lib.conv_backward(dz, x, w)

    def pool_pass(lib, x):
        return lib.maxpool_backward(lib.maxpool(x), x)

    return [
        ("conv 3x3 fwd+bwd 64x64x16→16", conv_pass, conv_case(1, 64, 16, 16, 3),
         conv_case(1, 10, 4, 4, 3)),
        ("conv 1x1 fwd+bwd 64x64x16→2", conv_pass, conv_case(1, 64, 16, 2, 1),
         conv_case(1, 10, 4, 2, 1)),
        ("maxpool 2x2 fwd+bwd 64x64x16", pool_pass, image_case(64, 16), image_case(12, 4)),
    ]


def run_naive(args):
    print(f"\nfast layers against their naive loops ({args.dtype}); the loop's time at the "
          f"stated size is scaled from a small case by work", flush=True)
    print(f"{'layer':32} {'fast':>9} {'naive*':>9} {'speed-up':>9}", flush=True)
    for name, step, (big, big_work), (small, small_work) in naive_cases(np.dtype(args.dtype)):
        fast = best_of(lambda: step(layers, *big), args.repeat)
        slow = best_of(lambda: step(naive, *small), 1) * big_work / small_work
        print(f"{name:32} {fast * 1e3:7.2f}ms {slow:8.2f}s {slow / fast:8.0f}x", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="572/64/5", metavar="SIZE/WIDTH/DEPTH")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per figure (best kept)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="BLAS threads (set before numpy loads, in the child)")
    parser.add_argument("--naive", action="store_true", help="also time the naive loops")
    parser.add_argument("--once", action="store_true",
                        help="only with the kernels OpenBLAS picks by CPUID (no second run)")
    parser.add_argument("--torch", action="store_true",
                        help="also time each layer in PyTorch (in a process of its own)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.config = _env.parse_config(args.config)
    except argparse.ArgumentTypeError as e:
        parser.error(f"--config {args.config}: {e}")
    if args.torch_child:
        print(json.dumps(torch_times(*args.config, np.dtype(args.dtype), args.repeat)))
        return 0
    if args.child:
        run_network(args)
        if args.naive:
            run_naive(args)
        return 0
    forward = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--once"]
    for setting in _env.SETTINGS[:1] if args.once else _env.SETTINGS:
        print(f"\n== {_env.setting_title(setting)} ==", flush=True)
        print(_env.run_child(os.path.abspath(__file__), [*forward, "--child"], setting,
                             args.threads), end="", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
