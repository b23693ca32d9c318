"""Time the paper's weight map on a 512x512 mask of 600 cells (issue 18, item 6).

    python benchmarks/weight_map.py

Prints the median of five runs of :func:`aplnet.data.weight_map`, which
uses scipy.ndimage, and of the hand-written version it replaced (kept in
``tests/data_oracles.py``), and checks that the two agree bit for bit.
"""

import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from aplnet.data import label_components, weight_map  # noqa: E402
from data_oracles import old_weight_map  # noqa: E402


def six_hundred_cells(seed=0):
    """A 512x512 mask of 600 discs of radius 5-8 px on a jittered 25x24 grid."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:512, :512]
    mask = np.zeros((512, 512), np.uint8)
    for i in range(24):
        for j in range(25):
            cy, cx = 16 + 20.5 * i + rng.uniform(-2, 2), 10 + 20.3 * j + rng.uniform(-2, 2)
            mask[(yy - cy) ** 2 + (xx - cx) ** 2 < rng.uniform(5, 8) ** 2] = 1
    return mask


def median_seconds(f, mask, repeat=5):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f(mask)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    mask = six_hundred_cells()
    _, count = label_components(mask)
    new, old = median_seconds(weight_map, mask), median_seconds(old_weight_map, mask)
    same = np.array_equal(weight_map(mask), old_weight_map(mask))
    print(f"512x512 mask, {count} cells: scipy.ndimage {new * 1000:.0f} ms, hand-written "
          f"{old * 1000:.0f} ms ({old / new:.1f}x); identical: {same}")


if __name__ == "__main__":
    main()
