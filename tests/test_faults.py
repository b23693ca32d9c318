"""Faults a long training run meets, injected on purpose.

* The process killed with SIGKILL mid-epoch (and, in the slow test, at
  several random moments, checkpoint writes included): ``--resume`` ends
  with the parameters and velocity of the uninterrupted run, bit for bit.
* Checkpoints truncated, overwritten with junk, emptied, or damaged inside
  (a NaN weight, a broken settings record): a DomainError naming the file.
* Image and mask files truncated or with flipped bytes: a DomainError
  naming the file, or, where the damage leaves a decodable image, an image.
* A loss or gradient that turns NaN or infinite, or an update that
  explodes: training stops naming the epoch and step, and the last good
  checkpoint is left exactly as it was.
* Non-finite training data and inputs: refused before the first step.
"""

import dataclasses
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from aplnet.apl import DomainError
from aplnet.data import Samples, read_image, read_mask, synthetic_cells
from aplnet.train import (CHECKPOINT, Settings, TrainingDiverged, load_checkpoint, resume,
                          train)
from aplnet.unet import UNet

RUN = ["--data", "synthetic", "--images", "12", "--size", "92", "--depth", "2", "--width", "8",
       "--batch", "2", "--epochs", "3", "--seed", "3", "--steps-per-epoch", "6", "--no-progress"]
"""A run of 3 epochs of 6 steps, each epoch a few tenths of a second."""

TINY = Settings(size=52, depth=3, width=2, epochs=2, batch=2, lr=0.005, images=4, w0=0.0,
                steps_per_epoch=2)


def _quiet(line):
    pass


def aplnet(*args, wait=True):
    """``python -m aplnet args`` in a subprocess (waited for, unless ``wait`` is False)."""
    command = [sys.executable, "-m", "aplnet", *args]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def arrays_of(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files if k.startswith(("params/", "train/velocity/"))}


def epoch_of(path):
    with np.load(path) as z:
        return json.loads(str(z["train/state"]))["epoch"]


def wait_for(path, process, timeout=120):
    """Until ``path`` exists; fails if the process ends first."""
    start = time.monotonic()
    while not os.path.exists(path):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() - start < timeout
        time.sleep(0.005)


_SECONDS = {}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The parameters and velocity of the run done in one go (its seconds, start to end, in ``_SECONDS``)."""
    out = tmp_path_factory.mktemp("whole") / "run"
    start = time.monotonic()
    done = aplnet("train", *RUN, "--out", str(out))
    _SECONDS["run"] = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    return arrays_of(out / CHECKPOINT)


def assert_same_run(path, expected):
    got = arrays_of(path)
    assert got.keys() == expected.keys()
    for k in expected:
        assert got[k].dtype == expected[k].dtype and np.array_equal(got[k], expected[k]), k


# ---------------------------------------------------------- killed runs


def test_a_run_killed_mid_epoch_resumes_to_the_same_parameters(tmp_path, uninterrupted):
    out = tmp_path / "run"
    run = aplnet("train", *RUN, "--out", str(out), wait=False)
    wait_for(out / CHECKPOINT, run)
    time.sleep(0.05)                          # into epoch 2, a few steps long
    run.send_signal(signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL
    assert epoch_of(out / CHECKPOINT) == 1    # it died inside epoch 2
    done = aplnet("train", "--resume", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert epoch_of(out / CHECKPOINT) == 3
    assert_same_run(out / CHECKPOINT, uninterrupted)


@pytest.mark.slow
def test_a_run_killed_again_and_again_at_random_moments_still_ends_the_same(
        tmp_path, uninterrupted):
    """Kills anywhere, before the first checkpoint, inside epochs, during writes.

    Each kill comes at a random fraction of the whole run's time (the
    import, about half a second, included), so the kills land alike on a
    fast machine and a slow one; a run that ends before three kills is
    done again from the start, with the kills drawn from half the time (the
    first run may have been timed on a busier machine).
    """
    out = tmp_path / "run"
    rng = np.random.default_rng(0)
    seconds = _SECONDS["run"]
    kills = 0
    for _ in range(40):
        resuming = (out / CHECKPOINT).exists()
        args = ["--resume", str(out), "--no-progress"] if resuming else [*RUN, "--out", str(out)]
        run = aplnet("train", *args, wait=False)
        if kills < 6:
            time.sleep(rng.uniform(0.25, 0.95) * seconds)
            if run.poll() is None:
                run.send_signal(signal.SIGKILL)
                kills += 1
        if run.wait() == 0:
            if kills >= 3:
                break
            shutil.rmtree(out)
            seconds /= 2
            continue
        assert run.returncode == -signal.SIGKILL, run.stderr.read()
    else:
        pytest.fail(f"40 runs and still not three kills and an end ({kills} kills)")
    assert_same_run(out / CHECKPOINT, uninterrupted)


# ------------------------------------------------------ damaged checkpoints


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "run"
    train(dataclasses.replace(TINY, epochs=1), str(out), log=_quiet, progress=False)
    return (out / CHECKPOINT).read_bytes()


def _rewrite(data, change):
    """The .npz bytes with ``change(arrays)`` applied (a well-formed file, wrong inside)."""
    with np.load(io.BytesIO(data)) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _nan_weight(arrays):
    key = next(k for k in arrays if k.startswith("params/"))
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] = np.nan


def _broken_settings(arrays):
    arrays["train/settings"] = np.array("{not json")


def _negative_epoch(arrays):
    arrays["train/state"] = np.array(json.dumps({"epoch": -1, "losses": [], "accuracy": [],
                                                 "seconds": 0}))


def _inf_velocity(arrays):
    key = next(k for k in arrays if k.startswith("train/velocity/"))
    arrays[key] = np.full_like(arrays[key], np.inf)


def _zip_of_text():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("notes.txt", "not arrays")
    return buffer.getvalue()


DAMAGE = {
    "truncated to half": (lambda d: d[:len(d) // 2], r"not a readable \.npz checkpoint"),
    "truncated to 10 bytes": (lambda d: d[:10], r"not a readable \.npz checkpoint"),
    "empty": (lambda d: b"", r"not a readable \.npz checkpoint"),
    "junk": (lambda d: bytes(range(256)) * 8, r"not a readable \.npz checkpoint"),
    "a byte flipped inside": (lambda d: d[:len(d) // 3] + bytes([d[len(d) // 3] ^ 0xFF]) +
                              d[len(d) // 3 + 1:], r"not a readable \.npz checkpoint"),
    "a zip of text": (lambda d: _zip_of_text(), r"not an aplnet U-Net checkpoint"),
    "a NaN weight": (lambda d: _rewrite(d, _nan_weight), r"holds NaN or Inf values"),
    "broken settings": (lambda d: _rewrite(d, _broken_settings),
                        r"training settings or state are damaged \(JSONDecodeError"),
    "a negative epoch": (lambda d: _rewrite(d, _negative_epoch),
                         r"training settings or state are damaged .*epoch"),
    "an infinite velocity": (lambda d: _rewrite(d, _inf_velocity),
                             r"optimiser state .* is not finite"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_is_named(tmp_path, checkpoint, damage):
    change, match = DAMAGE[damage]
    path = tmp_path / "run" / CHECKPOINT
    path.parent.mkdir()
    path.write_bytes(change(checkpoint))
    with pytest.raises(DomainError, match=f"^{re.escape(str(path))}: .*{match}"):
        load_checkpoint(path)


@pytest.mark.parametrize("damage", ["truncated to half", "junk", "a NaN weight"])
def test_a_damaged_model_is_named_by_unet_load(tmp_path, checkpoint, damage):
    change, match = DAMAGE[damage]
    path = tmp_path / "model.npz"
    path.write_bytes(change(checkpoint))
    with pytest.raises(DomainError, match=f"^{re.escape(str(path))}: .*{match}"):
        UNet.load(path)


def test_a_missing_checkpoint_is_named(tmp_path):
    where = re.escape(str(tmp_path / "nowhere" / "model.npz"))
    with pytest.raises(DomainError, match=f"^{where}: no such checkpoint"):
        load_checkpoint(tmp_path / "nowhere" / "model.npz")


# ------------------------------------------------------------ damaged images


def _png_and_tiff(tmp_path):
    rng = np.random.default_rng(0)
    image = (rng.random((12, 16)) * 255).astype(np.uint8)
    mask = np.where(rng.random((12, 16)) > 0.5, 255, 0).astype(np.uint8)
    files = {}
    for name, array in (("image", image), ("mask", mask)):
        for suffix in (".png", ".tif"):
            path = tmp_path / f"{name}{suffix}"
            Image.fromarray(array).save(path)
            files[name + suffix] = path.read_bytes()
    return files


def _damaged(data, rng):
    """One random damage: a truncation, flipped bits, a run of 0xFF, or junk."""
    kind = rng.integers(4)
    d = bytearray(data)
    if kind == 0:
        return bytes(d[:rng.integers(len(d))])
    if kind == 1:
        for _ in range(rng.integers(1, 4)):
            d[rng.integers(len(d))] ^= 1 << int(rng.integers(8))
        return bytes(d)
    if kind == 2:
        i = rng.integers(len(d))
        d[i:i + 8] = b"\xff" * 8
        return bytes(d)
    return rng.integers(0, 256, rng.integers(200), dtype=np.uint8).tobytes()


@pytest.mark.filterwarnings("ignore::UserWarning")    # PIL warns about the EXIF it skips
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # a damaged header
def test_damaged_image_and_mask_files_are_named_or_read(tmp_path):
    """300 damaged files per format and reader: a named DomainError, or a sane array."""
    rng = np.random.default_rng(1)
    refused = 0
    for name, data in _png_and_tiff(tmp_path).items():
        reader = read_image if name.startswith("image") else read_mask
        path = tmp_path / f"damaged-{name}"
        for _ in range(300):
            path.write_bytes(_damaged(data, rng))
            try:
                pages = reader(path)
            except DomainError as err:
                assert str(path) in str(err)
                refused += 1
                continue
            for page in pages:
                assert page.dtype.kind in "fiu" and np.isfinite(page).all()
    assert refused > 300


@pytest.mark.parametrize("keep", [0, 8, 40, 0.5, 0.9])
def test_a_truncated_png_is_named(tmp_path, keep):
    path = tmp_path / "cells.png"
    noise = np.random.default_rng(0).integers(0, 256, (64, 48), dtype=np.uint8)
    Image.fromarray(noise).save(path)                  # noise: compressed data to the end
    data = path.read_bytes()
    path.write_bytes(data[:int(keep * len(data)) if isinstance(keep, float) else keep])
    with pytest.raises(DomainError, match=f"cannot read {re.escape(str(path))} as an image"):
        read_image(path)


# ------------------------------------------------------------ divergence


def test_an_infinite_gradient_stops_training_at_its_step(tmp_path, monkeypatch):
    out = str(tmp_path / "run")
    train(dataclasses.replace(TINY, epochs=1), out, log=_quiet, progress=False)
    path = os.path.join(out, CHECKPOINT)
    before = open(path, "rb").read()
    real_backward = UNet.backward
    calls = []

    def backward(self, dlogits, tape):
        calls.append(1)
        grads = real_backward(self, dlogits, tape)
        if len(calls) == 2:
            key = next(iter(grads))
            grads[key] = np.full_like(grads[key], np.inf)
        return grads
    monkeypatch.setattr(UNet, "backward", backward)
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 2: a gradient is not finite; "
                                               r"the last good checkpoint, epoch 1, is "):
        resume(out, {"epochs": 3}, log=_quiet, progress=False)
    assert open(path, "rb").read() == before


def test_a_diverging_run_on_the_command_line_exits_1_keeping_its_checkpoint(tmp_path):
    out = tmp_path / "run"
    first = aplnet("train", "--data", "synthetic", "--images", "4", "--size", "52", "--depth",
                   "3", "--width", "2", "--batch", "2", "--epochs", "1", "--steps-per-epoch", "2",
                   "--no-progress",
                   "--out", str(out))
    assert first.returncode == 0, first.stderr
    before = (out / CHECKPOINT).read_bytes()
    settings = json.loads(str(np.load(out / CHECKPOINT)["train/settings"]))
    assert settings["lr"] > 0
    # the same run again under a learning rate that blows it up, in a fresh directory
    blown = aplnet("train", "--data", "synthetic", "--images", "4", "--size", "52", "--depth",
                   "3", "--width", "2", "--batch", "2", "--epochs", "2", "--steps-per-epoch", "2",
                   "--lr", "1e30",
                   "--no-progress", "--out", str(tmp_path / "blown"))
    assert blown.returncode == 1
    assert "Traceback" not in blown.stderr
    # caught at the first update, a step before the loss turns NaN (issue 15)
    assert re.match(r"aplnet train: training stopped: epoch 1, step 1: the update to \S+ has "
                    r"RMS .*: the step exploded; no checkpoint was written", blown.stderr)
    assert (out / CHECKPOINT).read_bytes() == before


def test_non_finite_training_images_are_refused_before_the_first_step(tmp_path):
    images, masks, names = synthetic_cells(2, 40, seed=0)
    images[1, 5, 7, 0] = np.nan
    with pytest.raises(DomainError, match=f"^{re.escape(names[1])}: the image must be finite; "
                                          f"got 1 NaN or Inf values"):
        train(TINY, str(tmp_path / "run"), log=_quiet, progress=False,
              samples=Samples(images, masks, names))
    assert not os.path.exists(tmp_path / "run")


def test_a_non_finite_input_to_the_network_is_named():
    net = UNet(depth=2, width=2)
    x = np.zeros((1, 44, 44, 1), np.float32)
    x[0, 3, 4, 0] = np.inf
    with pytest.raises(DomainError, match=r"UNet.forward: x must be finite; got inf at index "
                                          r"\(0, 3, 4, 0\) of x.shape=\(1, 44, 44, 1\)"):
        net.forward(x)
