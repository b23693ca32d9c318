"""The Dask road (aplnet.lazy) against in-memory overlap-tile: equal to the last bit."""

import os
import re

import numpy as np
import pytest

from aplnet import UNet, tiling
from aplnet.apl import DomainError
from aplnet.cli import main
from aplnet.data import read_image

da = pytest.importorskip("dask.array")
tifffile = pytest.importorskip("tifffile")
zarr = pytest.importorskip("zarr")
lazy = pytest.importorskip("aplnet.lazy")


@pytest.fixture(scope="module")
def tiny_net():
    return UNet(depth=2, width=2, seed=0)


@pytest.fixture(scope="module")
def big(tiny_net):
    """A 3000x2000 synthetic image and its in-memory overlap-tile prediction, a tile a pass.

    Each Dask block runs one tile through the network; tiling.predict's default
    batch of 4 tiles is another matrix shape for BLAS, whose last bit differs
    under some kernel families (Core2, Prescott), so the two compare at batch 1.
    """
    image = np.random.default_rng(0).random((3000, 2000, 1), np.float32)
    return image, tiling.predict(tiny_net, image, batch=1, progress=False)


def test_a_3000_by_2000_image_through_dask_equals_tiling_exactly(tiny_net, big):
    image, expected = big
    probs = lazy.predict(tiny_net, da.from_array(image, chunks=(700, 900, 1)))
    assert probs.numblocks[:2] == (6, 4)
    assert np.array_equal(probs.compute(scheduler="threads"), expected)


@pytest.mark.slow   # starts a scheduler and two worker processes: about 20 s
def test_a_local_cluster_of_two_processes_gives_the_same(tiny_net, big, tmp_path):
    distributed = pytest.importorskip("distributed")
    image, expected = big
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, image[..., 0])     # float32: read back as stored
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        lazy.write_labels(lazy.segment(tiny_net, lazy.open_image(path)), tmp_path / "out.zarr",
                          scheduler=cluster.scheduler_address, progress=False)
    labels = zarr.open_array(tmp_path / "out.zarr", mode="r")[...]
    assert np.array_equal(labels, expected.argmax(axis=-1).astype(np.uint8))


@pytest.mark.parametrize("depth, size, tile", [(3, (333, 250), 100), (4, (400, 230), 172)])
def test_deeper_nets_and_odd_sizes_equal_tiling_tile_by_tile(depth, size, tile):
    net = UNet(depth=depth, width=2, seed=1)
    image = np.random.default_rng(depth).random(size + (1,), np.float32)
    # one tile per pass, as each block runs: batches of several tiles are other
    # matrix shapes for BLAS and may differ in the last bit
    expected = tiling.predict(net, image, tile=tile, batch=1, progress=False)
    assert np.array_equal(lazy.predict(net, image, tile=tile).compute(), expected)


def test_a_small_image_is_predicted_in_memory(tiny_net):
    image = np.random.default_rng(1).random((30, 17, 1), np.float32)
    assert np.array_equal(lazy.predict(tiny_net, image).compute(),
                          tiling.predict(tiny_net, image, progress=False))


def test_a_tile_too_small_for_its_overlap_is_refused():
    net = UNet(depth=4, width=1)
    with pytest.raises(DomainError, match="tile 100 is too small for the lazy road"):
        lazy.predict(net, np.zeros((500, 500, 1), np.float32), tile=100)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_tiff_is_read_in_regions_as_read_image_reads_it(tmp_path, dtype):
    top = np.iinfo(dtype).max
    pixels = np.random.default_rng(2).integers(0, top, (130, 70), dtype=dtype)
    tifffile.imwrite(tmp_path / "a.tif", pixels, rowsperstrip=16)
    image = lazy.open_image(tmp_path / "a.tif", chunks=(50, 30, -1))
    assert image.shape == (130, 70, 1) and image.dtype == dtype      # values as stored
    assert np.array_equal(image.compute(), read_image(tmp_path / "a.tif")[0])


@pytest.fixture
def run(tmp_path, tiny_net):
    tiny_net.save(tmp_path / "model.npz")
    pixels = np.random.default_rng(3).integers(0, 255, (700, 450), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "big.tif", pixels)
    stored = read_image(tmp_path / "big.tif")[0]
    expected = tiling.segment(tiny_net, tiny_net.normalization(stored), tile=100, batch=1)
    return tmp_path, expected


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_predict_command_writes_zarr_or_tiff(run, suffix):
    folder, expected = run
    out = folder / f"labels{suffix}"
    assert main(["predict", "--model", str(folder / "model.npz"), str(folder / "big.tif"),
                 "--out", str(out), "--tile", "100", "--no-progress"]) == 0
    labels = (zarr.open_array(out, mode="r")[...] if suffix == ".zarr"
              else tifffile.imread(out))
    assert labels.dtype == np.uint8 and np.array_equal(labels, expected)
    assert not [n for n in os.listdir(folder) if n.startswith(".tmp")]


def refused(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert re.match("aplnet predict: ", err)
    return err


def test_predict_refuses_an_existing_output_unless_overwrite(run, capsys):
    folder, expected = run
    out = folder / "labels.zarr"
    zarr.open_array(out, mode="w", shape=(2, 2), dtype=np.uint8)
    argv = ["predict", "--model", str(folder / "model.npz"), str(folder / "big.tif"),
            "--out", str(out), "--tile", "100", "--no-progress"]
    err = refused(capsys, argv)
    assert str(out) in err and "--overwrite" in err
    assert zarr.open_array(out, mode="r").shape == (2, 2)
    assert main(argv + ["--overwrite"]) == 0
    assert np.array_equal(zarr.open_array(out, mode="r")[...], expected)


@pytest.mark.parametrize("name, content, says", [("missing.tif", None, "no such image file"),
                                                 ("notes.tif", b"not an image", "cannot read"),
                                                 ("bad.tif", b"II*\0garbage", "not a readable TIFF")])
def test_predict_refuses_a_missing_or_unreadable_image(run, capsys, name, content, says):
    folder, _ = run
    if content is not None:
        (folder / name).write_bytes(content)
    err = refused(capsys, ["predict", "--model", str(folder / "model.npz"), str(folder / name),
                           "--out", str(folder / "out.zarr")])
    assert name in err and says in err
    assert not os.path.exists(folder / "out.zarr")
    assert not [n for n in os.listdir(folder) if n.startswith(".tmp")]


def test_a_failure_part_way_leaves_nothing_behind(tmp_path):
    def fail_on_the_diagonal(block):
        if block.any():
            raise RuntimeError("the disk is gone")
        return block

    labels = da.eye(60, chunks=20, dtype=np.uint8).map_blocks(fail_on_the_diagonal)
    for out in ("out.zarr", "out.tif"):
        with pytest.raises(RuntimeError, match="the disk is gone"):
            lazy.write_labels(labels, tmp_path / out, progress=False)
        assert os.listdir(tmp_path) == []


def test_a_large_image_takes_its_percentiles_from_a_strided_sample(monkeypatch):
    import dask.array as da
    from aplnet.intensity import Normalization, normalize
    stored = np.random.default_rng(4).integers(0, 4096, (300, 200, 1)).astype(np.uint16)
    how = Normalization()
    whole = lazy.normalized(da.from_array(stored, chunks=(64, 64, -1)), how).compute()
    assert np.array_equal(whole, normalize(stored, how))       # small: the whole image
    monkeypatch.setattr(lazy, "SAMPLE_PIXELS", 1000)          # large: every 8th row and column
    sampled = lazy.normalized(da.from_array(stored, chunks=(64, 64, -1)), how).compute()
    expected = normalize(stored[::8, ::8], how)                # the sample's own bounds ...
    assert not np.array_equal(sampled, normalize(stored, how))
    assert np.array_equal(sampled[::8, ::8], expected)         # ... applied to every pixel
    assert np.abs(sampled - normalize(stored, how)).max() < 0.02
