"""Real nuclei: stardist's shipped image and expert mask, trained with the defaults.

The stardist package (in the test extra) ships, inside its wheel, one
fluorescence image of nuclei from the 2018 Data Science Bowl (Caicedo et
al., Nature Methods 16, 2019) with its instance mask: ``img2d.tif`` (512x512,
16-bit, values 0–235) and ``mask2d.tif`` (one label per nucleus, 125
nuclei). Nothing is downloaded: the files are found where pip put them,
without importing stardist. The tests cut the files as stored into 64x64
tiles, written as 16-bit TIFF, keep the right quarter of the image out of
training, and train and score as a user would.
"""

import importlib.util
import os

import numpy as np
import pytest
import tifffile

from aplnet.cli import main
from aplnet.data import read_image, read_mask
from aplnet.tiling import segment
from aplnet.train import CHECKPOINT
from aplnet.unet import UNet

TILE = 64


def stardist_files():
    """Paths of stardist's shipped ``img2d.tif`` and ``mask2d.tif``, or a skip."""
    spec = importlib.util.find_spec("stardist")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs the stardist package (pip install -e '.[test]')")
    folder = os.path.join(spec.submodule_search_locations[0], "data", "images")
    return os.path.join(folder, "img2d.tif"), os.path.join(folder, "mask2d.tif")


def cut_into_tiles(root):
    """Tiles of the image and mask as stored; the right quarter (x >= 384) held out."""
    image_file, mask_file = stardist_files()
    image, mask = tifffile.imread(image_file), tifffile.imread(mask_file)
    for part in ("train", "held"):
        for sub in ("images", "masks"):
            os.makedirs(os.path.join(root, part, sub), exist_ok=True)
    for y in range(0, image.shape[0], TILE):
        for x in range(0, image.shape[1], TILE):
            part = "held" if x >= 384 else "train"
            window = (slice(y, y + TILE), slice(x, x + TILE))
            for sub, a in (("images", image), ("masks", mask)):
                tifffile.imwrite(os.path.join(root, part, sub, f"y{y:03d}x{x:03d}.tif"), a[window])
    return os.path.join(root, "train"), os.path.join(root, "held")


def dice(predicted, truth):
    """Dice coefficient of the foregrounds (label > 0), pooled over all pixels."""
    p, t = np.asarray(predicted) > 0, np.asarray(truth) > 0
    total = np.count_nonzero(p) + np.count_nonzero(t)
    return 2 * np.count_nonzero(p & t) / total if total else 1.0


def test_the_shipped_files_are_what_this_test_expects():
    image_file, mask_file = stardist_files()
    image, = read_image(image_file)
    mask, = read_mask(mask_file)
    assert image.dtype == np.uint16 and image.shape == (512, 512, 1) and image.max() == 235
    assert mask.shape == (512, 512) and len(np.unique(mask)) == 126


@pytest.mark.slow
def test_defaults_train_on_real_nuclei_and_segment_the_held_out_quarter(tmp_path, capsys):
    train_dir, held_dir = cut_into_tiles(str(tmp_path))
    run = str(tmp_path / "run")
    assert main(["train", "--data", train_dir, "--out", run, "--no-progress"]) == 0
    log = capsys.readouterr().out
    assert "read as instance labels (foreground where label > 0" in log
    net = UNet.load(os.path.join(run, CHECKPOINT))
    predicted, truth = [], []
    for name in sorted(os.listdir(os.path.join(held_dir, "images"))):
        image, = read_image(os.path.join(held_dir, "images", name))
        predicted.append(segment(net, net.normalization(image, name)))
        truth.append(read_mask(os.path.join(held_dir, "masks", name))[0])
    score = dice(np.stack(predicted), np.stack(truth))
    # 840 steps at momentum 0.99 carry a float32 rounding a long way: the held-out Dice of one
    # seed turns on the order the machine's sums are taken in. Seed 0 measured 0.877-0.927
    # under the SkylakeX, Haswell and Sandybridge kernels, one or two threads and PyTorch's
    # sums, and 0.846 and 0.786 with two summation orders tried and dropped; seeds 0-4 under
    # the three kernels 0.859-0.925 (2026-12-06, README "Your own data"). The bound is the
    # lowest of those less a margin: what fails it is a recipe that no longer trains (the old
    # defaults' 0.000 for seeds 0 and 2), not a machine whose sums round otherwise.
    assert score >= 0.75, f"held-out Dice {score:.3f}"
