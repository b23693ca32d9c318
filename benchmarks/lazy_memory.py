"""Peak memory and time of prediction on a large TIFF: the Dask road against in-memory tiling.

Each measurement runs in a fresh process (its peak resident set is the
process's ``ru_maxrss``): the in-memory road reads the whole image
(:func:`aplnet.data.read_image`), segments it with
:func:`aplnet.tiling.segment` and saves the labels as .npy; the Dask road
is ``aplnet predict … --out labels.zarr`` (:func:`aplnet.lazy.predict_file`),
on the local threaded scheduler. Images are uint8 noise written as TIFF
strips; the network is untrained (the time does not depend on the weights).

"The largest block" is the largest tile the Dask graph holds at once: the
overlapped input of one output block, ``tile x tile`` pixels (572 x 572 by
default at depth 5). ``--blocks 10`` makes an image of about ten times that.

    python benchmarks/lazy_memory.py                         # 10 and 100 blocks, both roads
    python benchmarks/lazy_memory.py --blocks 10 --depth 3 --width 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def child(args):
    from aplnet import tiling
    from aplnet.data import read_image
    from aplnet.unet import UNet

    net = UNet(depth=args.depth, width=args.width, seed=0)
    start = time.perf_counter()
    if args.road == "memory":
        labels = tiling.segment(net, read_image(args.image)[0], progress=False)
        np.save(args.out, labels)
    else:
        from aplnet.lazy import predict_file
        predict_file(net, args.image, args.out, progress=False)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak}))


def measure(road, image, out, args):
    proc = subprocess.run([sys.executable, __file__, "--child", road, "--image", image,
                           "--out", out, "--depth", str(args.depth), "--width", str(args.width)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, nargs="+", default=[10, 100],
                        help="image sizes, in largest blocks (default 10 100)")
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--child", choices=["memory", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--road", help=argparse.SUPPRESS)
    parser.add_argument("--image", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.road = args.child
        return child(args)
    import tifffile

    from aplnet import tiling
    from aplnet.unet import UNet

    net = UNet(depth=args.depth, width=args.width)
    tile = tiling.default_tile(args.depth, 10 ** 5)
    print(f"U-Net depth {args.depth}, width {args.width}; largest block {tile}x{tile} "
          f"input pixels; {os.cpu_count()} cores; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    with tempfile.TemporaryDirectory() as folder:
        for blocks in args.blocks:
            side = math.isqrt(blocks * tile * tile)
            image = os.path.join(folder, f"{side}.tif")
            tifffile.imwrite(image, np.random.default_rng(0).integers(
                0, 256, (side, side), dtype=np.uint8), rowsperstrip=64)
            rows = {}
            for road, out in (("memory", "labels.npy"), ("dask", "labels.zarr")):
                rows[road] = measure(road, image, os.path.join(folder, f"{side}-{out}"), args)
            same = np.array_equal(np.load(os.path.join(folder, f"{side}-labels.npy")),
                                  __import__("zarr").open_array(
                                      os.path.join(folder, f"{side}-labels.zarr"), mode="r")[...])
            print(f"{side}x{side} ({blocks} blocks, {side * side / 1e6:.1f} Mpixel): "
                  f"in memory {rows['memory']['seconds']:.1f} s, peak "
                  f"{rows['memory']['peak_mb']:.0f} MB; dask {rows['dask']['seconds']:.1f} s, "
                  f"peak {rows['dask']['peak_mb']:.0f} MB; labels equal: {same}", flush=True)
    del net
    return 0


if __name__ == "__main__":
    sys.exit(main())
