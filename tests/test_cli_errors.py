"""Every refusal of the command line: one line naming what is wrong, no traceback, status 2.

Each case runs ``aplnet.cli.main`` in-process (fast) and checks the exit
status, that stderr is exactly one line starting ``aplnet <command>:``, that
no traceback leaks, and the words that name the culprit. A few cases run
``python -m aplnet`` as a real process too, where a traceback would show.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from aplnet.cli import main
from aplnet.train import CHECKPOINT

TINY = ["--data", "synthetic", "--size", "52", "--depth", "3", "--width", "2", "--epochs", "1",
        "--steps-per-epoch", "2",
        "--batch", "2", "--images", "4", "--w0", "0", "--no-progress"]


def refused(capsys, argv, command):
    """Run ``aplnet argv``: status 2 and one clean line; return the line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.match(f"aplnet {command}( --[a-z]+)?: ", lines[0]), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished one-epoch run, to resume and to predict with."""
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


# ----------------------------------------------------------------- train


@pytest.mark.parametrize("option, value, match", [
    ("--depth", "0", r"--depth must be a positive integer; got 0"),
    ("--width", "-2", r"--width must be a positive integer; got -2"),
    ("--batch", "0", r"--batch must be a positive integer; got 0"),
    ("--epochs", "0", r"--epochs must be a positive integer; got 0"),
    ("--lr", "-1", r"--lr must be a positive number; got -1\.0"),
    ("--lr", "nan", r"--lr must be a positive number; got nan"),
    ("--momentum", "1", r"--momentum must be in \[0, 1\); got 1\.0"),
    ("--classes", "1", r"--classes must be at least 2; got 1"),
    ("--size", "53", r"--size 53 is not valid for a depth-3 U-Net.* 52 and 56"),
    ("--elastic", "-1", r"elastic >= 0; got .*elastic=-1\.0"),
])
def test_a_bad_training_setting_is_named(capsys, tmp_path, option, value, match):
    argv = ["train", *TINY, "--out", str(tmp_path / "run"), option, value]
    assert re.search(match, refused(capsys, argv, "train"))
    assert not (tmp_path / "run").exists()


def test_a_step_too_big_for_memory_is_refused_with_the_estimate(capsys, tmp_path):
    argv = ["train", *TINY, "--size", "572", "--depth", "5", "--width", "64", "--batch",
            "100000", "--out", str(tmp_path / "run")]
    line = refused(capsys, argv, "train")
    assert re.search(r"train: a step with batch=100000 of 572x572 tiles through a depth-5, "
                     r"width-64 float32 U-Net needs about [\d.]+ GiB \([\d,]+ bytes, estimated "
                     r"from the architecture\); got only [\d.]+ [GMK]iB", line)
    assert not (tmp_path / "run").exists()


def test_data_that_is_neither_synthetic_nor_a_folder_is_named(capsys, tmp_path):
    argv = ["train", *TINY, "--data", str(tmp_path / "missing")]
    assert "missing is neither" in refused(capsys, argv, "train")


def test_a_damaged_image_in_the_training_folder_is_named(capsys, tmp_path):
    for sub in ("images", "masks"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "data" / "masks" / "a.png")
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "data" / "images" / "a.png")
    damaged = tmp_path / "data" / "images" / "a.png"
    damaged.write_bytes(damaged.read_bytes()[:30])
    argv = ["train", *TINY, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")]
    assert f"cannot read {damaged} as an image" in refused(capsys, argv, "train")


def test_an_output_path_that_is_a_file_is_named(capsys, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a run directory")
    assert str(blocker) in refused(capsys, ["train", *TINY, "--out", str(blocker)], "train")


# ---------------------------------------------------------------- resume


def test_resuming_a_directory_without_a_checkpoint_is_named(capsys, tmp_path):
    line = refused(capsys, ["train", "--resume", str(tmp_path)], "train")
    assert f"{tmp_path / CHECKPOINT}: no such checkpoint file" in line


@pytest.mark.parametrize("damage", ["truncated", "junk", "nan weight"])
def test_resuming_a_damaged_checkpoint_is_named(capsys, tmp_path, run_dir, damage):
    path = tmp_path / CHECKPOINT
    data = (run_dir / CHECKPOINT).read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif damage == "junk":
        path.write_bytes(os.urandom(len(data)))
    else:
        with np.load(run_dir / CHECKPOINT) as z:
            arrays = {k: z[k] for k in z.files}
        key = next(k for k in arrays if k.startswith("params/"))
        arrays[key] = np.full_like(arrays[key], np.nan)
        np.savez(path, **arrays)
    line = refused(capsys, ["train", "--resume", str(tmp_path), "--no-progress"], "train")
    assert str(path) in line


def test_resuming_with_a_changed_setting_is_named(capsys, run_dir):
    line = refused(capsys, ["train", "--resume", str(run_dir), "--width", "4"], "train")
    assert "--width 4 differs from the run's 2" in line


# --------------------------------------------------------------- predict


def test_predicting_with_a_missing_model_is_named(capsys, tmp_path):
    argv = ["predict", "x.png", "--model", str(tmp_path / "none.npz"), "--out", str(tmp_path)]
    assert "none.npz: no such checkpoint file" in refused(capsys, argv, "predict")


def test_predicting_a_truncated_image_names_it(capsys, tmp_path, run_dir):
    image = tmp_path / "cells.png"
    noise = np.random.default_rng(0).integers(0, 256, (60, 60), dtype=np.uint8)
    Image.fromarray(noise).save(image)
    image.write_bytes(image.read_bytes()[:200])
    argv = ["predict", str(image), "--model", str(run_dir / CHECKPOINT), "--out",
            str(tmp_path / "out"), "--no-progress"]
    assert f"cannot read {image} as an image" in refused(capsys, argv, "predict")


def test_predicting_an_image_of_nan_is_named(capsys, tmp_path, run_dir):
    image = tmp_path / "nan.tif"
    Image.fromarray(np.full((60, 60), np.nan, np.float32)).save(image)
    argv = ["predict", str(image), "--model", str(run_dir / CHECKPOINT), "--out",
            str(tmp_path / "out"), "--no-progress"]
    assert f"{image}: the image holds NaN or Inf values" in refused(capsys, argv, "predict")


# ------------------------------------------------------ as a real process


@pytest.mark.parametrize("argv, words", [
    (["train", "--depth", "0", "--no-progress"], "--depth must be a positive integer"),
    (["train", "--resume", "/nonexistent/run"], "no such checkpoint file"),
    (["predict", "a.png", "--model", "/nonexistent/model.npz", "--out", "/tmp"],
     "no such checkpoint file"),
])
def test_the_process_exits_2_with_one_line_and_no_traceback(argv, words):
    done = subprocess.run([sys.executable, "-m", "aplnet", *argv], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"aplnet {argv[0]}: ") and words in lines[0]


def test_argument_errors_exit_2_with_usage_and_no_traceback():
    done = subprocess.run([sys.executable, "-m", "aplnet", "train", "--batch", "two"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "argument --batch: invalid int value: 'two'" in done.stderr


def test_the_finished_run_is_a_valid_checkpoint(run_dir):
    """The fixture the resume and predict cases lean on is itself sound."""
    with np.load(run_dir / CHECKPOINT) as z:
        assert json.loads(str(z["train/state"]))["epoch"] == 1


def test_running_out_of_memory_anyway_is_one_line_and_status_2(capsys, monkeypatch, tmp_path):
    """Should the estimate fall short, numpy's MemoryError still ends the run cleanly."""
    import aplnet.train

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 9.0 GiB for an array")
    monkeypatch.setattr(aplnet.train, "load_data", exhausted)
    line = refused(capsys, ["train", *TINY, "--out", str(tmp_path / "run")], "train")
    assert line == ("aplnet train: out of memory (Unable to allocate 9.0 GiB for an array); "
                    "checkpoints written so far are kept; use a smaller --batch, --size or "
                    "--width")
