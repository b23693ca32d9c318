"""Tests of training (aplnet.train) and the demo (aplnet.demo)."""

import dataclasses
import json
import os

import numpy as np
import pytest
from PIL import Image

from aplnet import demo as demo_module
from aplnet.apl import DomainError, LengthError
from aplnet.data import Samples, synthetic_cells
from aplnet.train import (Settings, TileSampler, TrainingDiverged, check_samples, load_checkpoint,
                          load_data, resume, train)
from aplnet.unet import UNet, read_npz, write_npz

TINY = Settings(size=52, depth=3, width=2, epochs=2, batch=2, lr=0.005, images=4, w0=0.0,
                steps_per_epoch=2)


def _quiet(line):
    pass


def _run(tmp_path, name="run", **changes):
    out = str(tmp_path / name)
    net, state = train(dataclasses.replace(TINY, **changes), out, log=_quiet, progress=False)
    return out, net, state


def _checkpoint_arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


# ------------------------------------------------------------------ tiles


def test_tile_labels_sit_under_the_centre_of_the_input():
    """With the mask as the image, the labels must equal the input tile's centre."""
    _, masks, _ = synthetic_cells(3, 40, seed=0)
    samples = Samples(masks[..., None].astype(np.float32), masks, ["a", "b", "c"])
    sampler = TileSampler(samples, size=52, depth=3, w0=0.0, elastic=0.0)
    x, labels, weights = sampler.batch(np.random.default_rng(0), [0, 1, 2, 0, 1])
    assert x.shape == (5, 52, 52, 1) and labels.shape == weights.shape == (5, 12, 12)
    np.testing.assert_array_equal(x[:, 20:32, 20:32, 0], labels)


def test_tiles_of_small_images_are_mirrored_to_size():
    samples = Samples([np.zeros((5, 7, 2), np.float32)], [np.zeros((5, 7), np.uint8)], ["s"])
    x, labels, _ = TileSampler(samples, size=60, depth=3).batch(np.random.default_rng(0), [0])
    assert x.shape == (1, 60, 60, 2) and labels.shape == (1, 20, 20)


# --------------------------------------------------------------- training


def test_training_writes_a_checkpoint_per_epoch_and_a_loss_curve(tmp_path):
    lines = []
    out = str(tmp_path / "run")
    net, state = train(TINY, out, log=lines.append, progress=False)
    assert state["epoch"] == 2 and len(state["losses"]) == 4
    assert sum(line.startswith("epoch ") for line in lines) == 2
    assert os.path.isfile(os.path.join(out, "loss.png"))
    saved, _, settings, saved_state = load_checkpoint(os.path.join(out, "model.npz"))
    assert settings == TINY and saved_state["epoch"] == 2
    assert all(np.array_equal(saved.params[k], net.params[k]) for k in net.params)


def test_the_checkpoint_loads_as_a_plain_network(tmp_path):
    out, net, _ = _run(tmp_path)
    assert UNet.load(os.path.join(out, "model.npz")).config == net.config


def test_same_seed_same_run_bit_for_bit(tmp_path):
    _, a, sa = _run(tmp_path, "a")
    _, b, sb = _run(tmp_path, "b")
    assert sa["losses"] == sb["losses"]
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_another_seed_another_run(tmp_path):
    _, _, sa = _run(tmp_path, "a")
    _, _, sb = _run(tmp_path, "b", seed=1)
    assert sa["losses"] != sb["losses"]


def test_resuming_reproduces_the_uninterrupted_run(tmp_path):
    straight, _, _ = _run(tmp_path, "straight", epochs=3)
    halted, _, _ = _run(tmp_path, "halted", epochs=1)
    resume(halted, {"epochs": 3}, log=_quiet, progress=False)
    a = _checkpoint_arrays(os.path.join(straight, "model.npz"))
    b = _checkpoint_arrays(os.path.join(halted, "model.npz"))
    assert a.keys() == b.keys()
    for k in a:
        if k != "train/state":           # the state holds wall-clock seconds
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert load_checkpoint(os.path.join(halted, "model.npz"))[3]["losses"] == \
        load_checkpoint(os.path.join(straight, "model.npz"))[3]["losses"]


def test_resume_refuses_to_change_settings(tmp_path):
    out, _, _ = _run(tmp_path, epochs=1)
    with pytest.raises(DomainError, match="--lr 0.1 differs from the run's 0.005"):
        resume(out, {"lr": 0.1, "epochs": 3}, log=_quiet, progress=False)


def test_resume_of_a_finished_run_says_so(tmp_path):
    out, _, _ = _run(tmp_path, epochs=1)
    lines = []
    _, state = resume(out, {"epochs": 1}, log=lines.append, progress=False)
    assert state["epoch"] == 1 and "already trained for 1 of 1 epochs" in lines[0]


def test_resume_needs_training_state(tmp_path):
    UNet(depth=2, width=2).save(tmp_path / "model.npz")
    with pytest.raises(DomainError, match="holds a network but no training state"):
        resume(str(tmp_path), log=_quiet)


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    out, _, _ = _run(tmp_path, epochs=1)
    path = os.path.join(out, "model.npz")
    before = open(path, "rb").read()
    real_loss = UNet.loss
    calls = []

    def failing_loss(self, logits, labels, weights=None):
        calls.append(1)
        loss, d = real_loss(self, logits, labels, weights)
        return (float("nan") if len(calls) == 2 else loss), d
    monkeypatch.setattr(UNet, "loss", failing_loss)
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 2: the loss is nan; the last "
                                               r"good checkpoint, epoch 1, is .*model\.npz"):
        resume(out, {"epochs": 3}, log=_quiet, progress=False)
    assert open(path, "rb").read() == before


def test_a_diverging_first_epoch_writes_no_checkpoint(tmp_path):
    with pytest.raises(TrainingDiverged, match="no checkpoint was written"):
        train(dataclasses.replace(TINY, lr=1e30), str(tmp_path / "run"), log=_quiet,
              progress=False)
    assert not os.path.exists(tmp_path / "run" / "model.npz")


# ----------------------------------------------------------------- biases


def test_training_gives_every_convolution_a_bias_by_default(tmp_path):
    out, net, _ = _run(tmp_path, epochs=1)
    assert Settings().bias and net.bias
    assert {k for k in net.params if k.endswith(".b")} == \
        {name + ".b" for name, _, _ in net.layout()}
    assert UNet.load(os.path.join(out, "model.npz")).bias


def test_without_bias_the_network_has_none(tmp_path):
    _, net, _ = _run(tmp_path, epochs=1, bias=False)
    assert not net.bias and not [k for k in net.params if k.endswith(".b")]


def test_a_run_from_before_bias_was_a_setting_resumes_without_biases(tmp_path):
    out, _, _ = _run(tmp_path, epochs=1, bias=False)
    path = os.path.join(out, "model.npz")
    arrays = read_npz(path)
    settings = json.loads(str(arrays["train/settings"]))
    del settings["bias"]
    arrays["train/settings"] = np.array(json.dumps(settings))
    write_npz(path, arrays)
    assert load_checkpoint(path)[2].bias is False
    net, state = resume(out, {"epochs": 2}, log=_quiet, progress=False)
    assert state["epoch"] == 2 and not net.bias


def test_a_dead_top_level_stops_a_network_without_biases_for_good():
    """The collapse measured on the real nuclei, in miniature.

    Every layer's input is non-negative (an image in [0, 1], ReLU outputs),
    so without biases a unit whose weights are all negative is zero on every
    pixel; once all the top level's units are, the logits are 0 everywhere
    and every gradient is 0: no step can change the network again. With
    biases the output's bias still has a gradient (the class balance can be
    learnt without switching units off, which is how biases prevent this).
    """
    rng = np.random.default_rng(0)
    x = rng.random((2, 44, 44, 1)).astype(np.float32)
    labels = (rng.random((2, 4, 4)) < 0.3).astype(np.int64)
    for bias in (False, True):
        net = UNet(depth=3, width=2, bias=bias, seed=0)
        net.params["down0.conv1.w"] = -np.abs(net.params["down0.conv1.w"])
        logits, tape = net.forward(x)
        _, dlogits = net.loss(logits, labels)
        dead = tape["down0.conv1"][1]
        grads = net.backward(dlogits, tape)
        assert not dead.any()
        live = [k for k, g in grads.items() if np.any(g)]
        if bias:
            assert live == ["out.conv.b"]
        else:
            assert not np.any(logits) and live == []


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize("changes, match", [
    ({"size": 50}, "train: --size 50 is not valid for a depth-3 U-Net.*48 and 52"),
    ({"lr": -1.0}, "--lr must be a positive number"),
    ({"momentum": 1.0}, r"--momentum must be in \[0, 1\)"),
    ({"batch": 0}, "--batch must be a positive integer"),
    ({"bias": "yes"}, "bias must be true or false"),
])
def test_bad_settings_are_named(changes, match):
    with pytest.raises(DomainError, match=match):
        dataclasses.replace(TINY, **changes).check()


def test_labels_beyond_the_classes_name_the_image():
    samples = Samples([np.zeros((4, 4, 1))], [np.full((4, 4), 2, np.uint8)], ["cells/a.png"])
    with pytest.raises(DomainError, match=r"cells/a\.png: its mask has label 2 but the network "
                                          r"has classes=2.*--classes 3"):
        check_samples(samples, 1, 2)


def test_an_image_of_other_channels_is_named():
    samples = Samples([np.zeros((4, 4, 3))], [np.zeros((4, 4), np.uint8)], ["cells/b.png"])
    with pytest.raises(LengthError, match=r"cells/b\.png: the image has 3 channel\(s\) but the "
                                          r"network takes 1"):
        check_samples(samples, 1, 2)


def test_a_data_directory_needs_images_and_masks(tmp_path):
    with pytest.raises(DomainError, match="must hold images/ and masks/ folders, or the ISBI"):
        load_data(dataclasses.replace(TINY, data=str(tmp_path)))


def test_a_data_directory_of_image_and_mask_folders_loads(tmp_path):
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
        Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / sub / "x.png")
    images, masks, names = load_data(dataclasses.replace(TINY, data=str(tmp_path)))
    assert len(images) == 1 and masks[0].shape == (9, 9)


# -------------------------------------------------------------------- demo


def test_quick_demo_writes_its_pictures(tmp_path):
    lines = []
    result = demo_module.demo(str(tmp_path / "demo"), quick=True, log=lines.append,
                              progress=False)
    assert 0 <= result["iou"] <= 1
    for name in ("model.npz", "loss.png", "overlay.png", "predictions/heldout_00_mask.png"):
        assert os.path.isfile(tmp_path / "demo" / name), name
    assert lines[-1].startswith("held-out foreground IoU")


@pytest.mark.slow
def test_the_demo_learns_to_segment_held_out_cells(tmp_path):
    result = demo_module.demo(str(tmp_path / "demo"), log=_quiet, progress=False)
    assert result["iou"] >= 0.85
