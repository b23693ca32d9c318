"""Tests of the command line: aplnet train, predict and demo."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from aplnet.cli import main
from aplnet.data import read_mask
from aplnet.unet import UNet

TINY = ["--size", "52", "--width", "2", "--epochs", "1", "--batch", "2", "--images", "4",
        "--steps-per-epoch", "2",
        "--w0", "0", "--no-progress"]


def _fails_cleanly(capsys, argv, status=2):
    """Run ``aplnet argv``; expect ``status`` and one clean error line; return the line."""
    assert main(argv) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err


def _folder(tmp_path, image_hw=(30, 30), mask_hw=(30, 30), label=1):
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir(parents=True)
    ramp = np.add.outer(np.arange(image_hw[0]), np.arange(image_hw[1])) % 256
    Image.fromarray(ramp.astype(np.uint8)).save(tmp_path / "images" / "a.png")
    mask = np.zeros(mask_hw, np.uint8)
    mask[5:10, 5:10] = label
    Image.fromarray(mask).save(tmp_path / "masks" / "a.png")
    return str(tmp_path)


# ---------------------------------------------------------------- commands


def test_demo_quick_runs_and_reports_iou(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "d"), "--no-progress"]) == 0
    assert "held-out foreground IoU" in capsys.readouterr().out
    assert os.path.isfile(tmp_path / "d" / "overlay.png")


def test_train_then_resume_then_predict(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "--data", "synthetic", *TINY, "--out", run]) == 0
    assert "epoch 1/1" in capsys.readouterr().out
    assert main(["train", "--resume", run, "--epochs", "2", "--no-progress"]) == 0
    assert "epoch 2/2" in capsys.readouterr().out
    Image.fromarray(np.arange(1000).reshape(25, 40).astype(np.uint8)).save(tmp_path / "cells.png")
    assert main(["predict", "--model", os.path.join(run, "model.npz"), str(tmp_path / "cells.png"),
                 "--out", str(tmp_path / "pred"), "--no-progress"]) == 0
    mask = read_mask(tmp_path / "pred" / "cells_mask.png")[0]
    assert mask.shape == (25, 40)
    assert os.path.isfile(tmp_path / "pred" / "cells_overlay.png")


def test_train_no_bias_trains_a_network_without_biases(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", *TINY, "--no-bias", "--out", run]) == 0
    assert not UNet.load(os.path.join(run, "model.npz")).bias
    assert main(["train", "--resume", run, "--epochs", "2", "--no-bias", "--no-progress"]) == 0
    assert "epoch 2/2" in capsys.readouterr().out


def test_train_on_a_folder(tmp_path, capsys):
    data = _folder(tmp_path / "data")
    assert main(["train", "--data", data, *TINY, "--out", str(tmp_path / "run")]) == 0
    assert "1 images" in capsys.readouterr().out


def test_python_dash_m_runs_the_cli(tmp_path):
    done = subprocess.run([sys.executable, "-m", "aplnet", "demo", "--quick", "--no-progress",
                           "--out", str(tmp_path / "d")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "held-out foreground IoU" in done.stdout


def test_the_console_script_is_installed():
    script = shutil.which("aplnet")
    assert script is not None
    done = subprocess.run([script, "train", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--resume RUN" in done.stdout


# --------------------------------------------------------------- bad input


def test_an_invalid_size_names_the_nearest(capsys):
    err = _fails_cleanly(capsys, ["train", "--size", "61", "--no-progress"])
    assert "--size 61 is not valid for a depth-3 U-Net" in err and "60 and 64" in err


def test_labels_beyond_the_classes_name_the_file(tmp_path, capsys):
    data = _folder(tmp_path / "data", label=2)
    mask = np.array(Image.open(tmp_path / "data" / "masks" / "a.png"))
    mask[20:25, 20:25] = 1
    Image.fromarray(mask).save(tmp_path / "data" / "masks" / "a.png")
    err = _fails_cleanly(capsys, ["train", "--data", data, *TINY, "--masks", "classes",
                                  "--out", str(tmp_path / "r")])
    assert "a.png: its mask holds 3 labels (0, 1, 2), not class indices below --classes 2" in err
    assert "--classes 3 if they are classes" in err and "--masks instances" in err


def test_image_and_mask_of_different_sizes_name_both(tmp_path, capsys):
    data = _folder(tmp_path / "data", mask_hw=(30, 31))
    err = _fails_cleanly(capsys, ["train", "--data", data, *TINY, "--out", str(tmp_path / "r")])
    assert "a.png is 30x30 but its mask" in err and "is 30x31" in err


def test_predict_names_an_image_of_the_wrong_channel_count(tmp_path, capsys):
    UNet(depth=2, width=2).save(tmp_path / "m.npz")
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(tmp_path / "rgb.png")
    err = _fails_cleanly(capsys, ["predict", "--model", str(tmp_path / "m.npz"),
                                  str(tmp_path / "rgb.png"), "--out", str(tmp_path / "o")])
    assert "rgb.png: the image has 3 channel(s)" in err


def test_predict_names_an_unreadable_image(tmp_path, capsys):
    UNet(depth=2, width=2).save(tmp_path / "m.npz")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG but not really")
    err = _fails_cleanly(capsys, ["predict", "--model", str(tmp_path / "m.npz"),
                                  str(tmp_path / "junk.png"), "--out", str(tmp_path / "o")])
    assert "cannot read" in err and "junk.png" in err


def test_predict_names_a_model_that_is_not_a_checkpoint(tmp_path, capsys):
    (tmp_path / "m.npz").write_bytes(b"nope")
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "a.png")
    err = _fails_cleanly(capsys, ["predict", "--model", str(tmp_path / "m.npz"),
                                  str(tmp_path / "a.png"), "--out", str(tmp_path / "o")])
    assert "m.npz: not a readable .npz checkpoint" in err


def test_resume_with_another_architecture_is_refused(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", *TINY, "--out", run]) == 0
    err = _fails_cleanly(capsys, ["train", "--resume", run, "--depth", "4", "--epochs", "2"])
    assert "--depth 4 differs from the run's 3" in err


def test_out_and_resume_must_agree(tmp_path, capsys):
    err = _fails_cleanly(capsys, ["train", "--resume", str(tmp_path / "a"),
                                  "--out", str(tmp_path / "b")])
    assert "differ; a resumed run writes to its own directory" in err


def test_a_nan_loss_exits_1_with_a_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(UNet, "loss", lambda self, logits, labels, weights=None:
                        (float("nan"), np.zeros_like(logits)))
    err = _fails_cleanly(capsys, ["train", *TINY, "--out", str(tmp_path / "r")], status=1)
    assert "training stopped: epoch 1, step 1: the loss is nan" in err


@pytest.mark.parametrize("argv", [["train", "--size", "abc"], ["predict", "x.png"]])
def test_argument_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
