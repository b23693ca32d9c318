"""Training and prediction on data as microscopists store it (issue 18, items 1 and 2).

16-bit TIFF images, instance-labelled masks, binary masks in odd values;
the normalisation stored in the checkpoint and applied again by predict;
checkpoints from before it was stored.
"""

import dataclasses
import json
import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from aplnet.apl import DomainError
from aplnet.cli import main
from aplnet.data import (Samples, label_components, load_folder, prepare_samples,
                         synthetic_cells, weight_map)
from aplnet.intensity import LEGACY, Normalization, normalize
from aplnet.tiling import predict_files, segment
from aplnet.train import CHECKPOINT, Settings, TileSampler, load_checkpoint, resume, train
from aplnet.unet import UNet, read_npz, write_npz

TINY = Settings(size=52, depth=3, width=2, epochs=1, batch=2, lr=0.005, w0=10.0)


def _quiet(line):
    pass


def _nuclei_folder(root, n=2, side=40, top=4000, seed=0):
    """Synthetic cells stored as a microscope would: 12-bit values in 16-bit TIFF, one label per cell."""
    images, masks, _ = synthetic_cells(n, side, seed)
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for i, (image, mask) in enumerate(zip(images, masks)):
        labels, _ = label_components(mask)
        instances = np.where(labels > 0, labels + 100, 0).astype(np.uint16)   # 101, 102, …
        tifffile.imwrite(os.path.join(root, "images", f"n{i}.tif"),
                         (image[..., 0] * top).astype(np.uint16))
        tifffile.imwrite(os.path.join(root, "masks", f"n{i}.tif"), instances)
    return root


def test_a_folder_of_16_bit_tiffs_with_instance_masks_trains_with_no_option(tmp_path, capsys):
    data = _nuclei_folder(str(tmp_path / "data"))
    assert main(["train", "--data", data, "--epochs", "1", "--size", "52", "--width", "2",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "intensities: per image and channel, percentile 1.0 -> 0 and 99.8 -> 1" in out
    assert "masks: 2 read as instance labels (foreground where label > 0" in out
    net = UNet.load(tmp_path / "run" / CHECKPOINT)
    assert net.normalization == Normalization()


def test_the_checkpoint_stores_the_normalisation_and_predict_applies_it(tmp_path):
    data = _nuclei_folder(str(tmp_path / "data"))
    net, _ = train(dataclasses.replace(TINY, data=data, normalize="range"), str(tmp_path / "run"),
                   log=_quiet, progress=False)
    loaded = UNet.load(tmp_path / "run" / CHECKPOINT)
    assert loaded.normalization == Normalization("range")
    page = os.path.join(data, "images", "n0.tif")
    written = predict_files(loaded, [page], str(tmp_path / "pred"), log=_quiet, progress=False)
    stored = tifffile.imread(page)[..., None]
    expected = segment(loaded, (stored / 65535).astype(np.float32))
    got = np.array(Image.open(written[0])) // 255
    np.testing.assert_array_equal(got, expected)


def test_training_sees_the_images_normalised_as_predict_will(tmp_path):
    data = _nuclei_folder(str(tmp_path / "data"), top=4095)
    samples, _, _ = prepare_samples(load_folder(os.path.join(data, "images"),
                                                os.path.join(data, "masks")))
    stored = tifffile.imread(os.path.join(data, "images", "n1.tif"))[..., None]
    np.testing.assert_array_equal(samples.images[1], normalize(stored))
    assert samples.images[1].min() == 0 and samples.images[1].max() == 1


def test_the_weight_map_of_training_comes_from_the_instances(tmp_path):
    """Two touching cells given as instances: the sampler's weights are the instances' map."""
    labels = np.zeros((40, 40), np.uint16)
    labels[5:30, 5:20] = 7
    labels[5:30, 20:35] = 8
    image = np.random.default_rng(0).random((40, 40, 1)).astype(np.float32)
    samples, instances, _ = prepare_samples(Samples([image], [labels], ["two.tif"]))
    sampler = TileSampler(samples, 52, 3, 10.0, 5.0, 0.0, instances)
    m = 20   # the depth-3 margin
    weights = sampler.weights[0][m:m + 40, m:m + 40]
    np.testing.assert_array_equal(weights, weight_map(samples.masks[0], 10, 5, labels))
    assert weights[5:30, 19:21].min() > 9      # the seam between 7 and 8


def test_a_checkpoint_without_a_stored_normalisation_gets_the_types_range(tmp_path):
    net = UNet(depth=2, width=2)
    arrays = net.to_arrays()
    del arrays["normalization"]
    write_npz(tmp_path / "old.npz", arrays)
    assert UNet.load(tmp_path / "old.npz").normalization == LEGACY


def test_an_old_run_resumes_with_the_scaling_it_trained_with(tmp_path):
    data = _nuclei_folder(str(tmp_path / "data"))
    out = str(tmp_path / "run")
    train(dataclasses.replace(TINY, data=data, normalize="range"), out, log=_quiet, progress=False)
    path = os.path.join(out, CHECKPOINT)
    arrays = read_npz(path)
    settings = json.loads(str(arrays["train/settings"]))
    del settings["normalize"], settings["masks"]
    arrays["train/settings"] = np.array(json.dumps(settings))
    del arrays["normalization"]
    write_npz(path, arrays)
    _, _, loaded, _ = load_checkpoint(path)
    assert loaded.normalize == "range" and loaded.masks == "auto"
    _, state = resume(out, {"epochs": 2}, log=_quiet, progress=False)
    assert state["epoch"] == 2


def test_a_constant_training_image_is_refused_by_name(tmp_path):
    data = _nuclei_folder(str(tmp_path / "data"))
    tifffile.imwrite(os.path.join(data, "images", "n1.tif"), np.full((40, 40), 300, np.uint16))
    with pytest.raises(DomainError, match=r"n1\.tif: the image is constant \(300 everywhere\)"):
        train(dataclasses.replace(TINY, data=data), str(tmp_path / "run"), log=_quiet,
              progress=False)


def test_a_constant_training_image_on_the_command_line_exits_2(tmp_path, capsys):
    data = _nuclei_folder(str(tmp_path / "data"))
    tifffile.imwrite(os.path.join(data, "images", "n0.tif"), np.zeros((40, 40), np.uint16))
    assert main(["train", "--data", data, "--size", "52", "--width", "2", "--epochs", "1",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "n0.tif: the image is constant (0 everywhere)" in err
    assert "nan" not in err.lower()


def test_negative_labels_on_the_command_line_name_the_mask(tmp_path, capsys):
    data = _nuclei_folder(str(tmp_path / "data"))
    tifffile.imwrite(os.path.join(data, "masks", "n1.tif"), np.full((40, 40), -2, np.int16))
    assert main(["train", "--data", data, "--size", "52", "--width", "2", "--epochs", "1",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 2
    assert "n1.tif: a mask must hold non-negative labels; got -2" in capsys.readouterr().err


def test_non_integer_labels_on_the_command_line_name_the_mask(tmp_path, capsys):
    data = _nuclei_folder(str(tmp_path / "data"))
    tifffile.imwrite(os.path.join(data, "masks", "n0.tif"), np.full((40, 40), 0.25, np.float32))
    assert main(["train", "--data", data, "--size", "52", "--width", "2", "--epochs", "1",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 2
    assert "n0.tif: a mask must hold whole-number labels" in capsys.readouterr().err


def test_an_instance_mask_read_as_classes_gets_advice_that_fits(tmp_path, capsys):
    data = _nuclei_folder(str(tmp_path / "data"))
    assert main(["train", "--data", data, "--masks", "classes", "--size", "52", "--width", "2",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "labels (0, 101, 102, 103, …" in err and "--classes 2 --masks instances" in err
    assert "if they are classes" not in err      # never --classes 104 for one label per cell


def test_an_unknown_normalisation_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["train", "--normalize", "zscore"])
    assert caught.value.code == 2 and "invalid choice: 'zscore'" in capsys.readouterr().err


def test_a_bad_normalisation_setting_is_named():
    with pytest.raises(DomainError, match="--normalize must be one of percentile, range, none"):
        dataclasses.replace(TINY, normalize="zscore").check()


def test_a_float_tiff_of_values_up_to_1020_reaches_the_network_in_0_1(tmp_path, capsys):
    """Issue 15.6: such a file used to train as stored, with a loss of 219."""
    data = _nuclei_folder(str(tmp_path / "data"))
    for name in ("n0.tif", "n1.tif"):
        path = os.path.join(data, "images", name)
        tifffile.imwrite(path, tifffile.imread(path).astype(np.float32) / 4000 * 1020)
    samples, _, _ = prepare_samples(load_folder(os.path.join(data, "images"),
                                                os.path.join(data, "masks")))
    assert all(image.min() == 0 and image.max() == 1 for image in samples.images)
    assert main(["train", "--data", data, "--size", "52", "--width", "2", "--epochs", "1",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 0
    loss = float(capsys.readouterr().out.split("epoch 1/1  loss ")[1].split()[0])
    assert loss < 5


@pytest.mark.parametrize("top", [128, 65535])
def test_a_binary_mask_of_0_and_top_trains_and_says_what_was_assumed(tmp_path, capsys, top):
    """Issue 15.7: a 0/128 mask used to get 'train with --classes 129'."""
    data = _nuclei_folder(str(tmp_path / "data"))
    for name in ("n0.tif", "n1.tif"):
        path = os.path.join(data, "masks", name)
        tifffile.imwrite(path, (tifffile.imread(path) > 0).astype(np.uint16) * top)
    assert main(["train", "--data", data, "--size", "52", "--width", "2", "--epochs", "1",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert f"masks: 2 binary (0/{top} read as 0/1)" in out and "--classes" not in out
