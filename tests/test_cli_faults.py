"""The command line under faults a user meets: issue 15, one test per fault.

Each test drives ``python -m aplnet`` as a user does (a subprocess), on
tiny nets of a few hundred weights, except where a fault must be injected
into the process (a memory error, an exploding gradient): those call
``aplnet.cli.main`` in-process. Full disks are simulated with a file-size
limit (``RLIMIT_FSIZE``, with ``SIGXFSZ`` ignored, so a write past it fails
with ``EFBIG`` as a write to a full disk fails with ``ENOSPC``).
"""

import fcntl
import json
import os
import re
import resource
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import numpy as np
import pytest
from PIL import Image

from aplnet import cli
from aplnet.data import read_mask
from aplnet.runs import LOCK_FILE
from aplnet.train import CHECKPOINT, TrainingDiverged, resume
from aplnet.unet import UNet, valid_input_sizes

TINY = ["--data", "synthetic", "--size", "20", "--depth", "2", "--width", "2", "--images", "4",
        "--batch", "2", "--w0", "0", "--epochs", "1", "--steps-per-epoch", "2", "--no-progress"]
"""One epoch of two steps, a few milliseconds."""

assert 20 in valid_input_sizes(2, 21)


def aplnet(*args, limit=None, umask=None, **popen):
    """``python -m aplnet args``, finished; ``limit`` caps the size of files it writes."""
    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return subprocess.run([sys.executable, "-m", "aplnet", *args], capture_output=True,
                          text=True, timeout=300, preexec_fn=None if limit is None else limited,
                          umask=-1 if umask is None else umask, **popen)


def one_line(done, status=2):
    """The single line ``done`` printed on stderr, after checking its exit status."""
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def epoch_of(path):
    with np.load(path) as z:
        return json.loads(str(z["train/state"]))["epoch"]


def image_file(path, shape, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(noise).save(path)
    return str(path)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A trained tiny run's checkpoint, to predict with."""
    out = tmp_path_factory.mktemp("model") / "run"
    assert aplnet("train", *TINY, "--out", str(out)).returncode == 0
    return str(out / CHECKPOINT)


# ------------------------------------------------- 1: an existing run folder


def test_train_refuses_existing_run_folder(tmp_path):
    out = tmp_path / "run"
    assert aplnet("train", *TINY, "--out", str(out)).returncode == 0
    before = (out / CHECKPOINT).read_bytes()
    line = one_line(aplnet("train", *TINY, "--epochs", "3", "--out", str(out)))
    assert line == (f"aplnet train: --out {out} holds a run with 1 of 1 epochs done; continue it "
                    f"with --resume {out}, replace it with --overwrite, or choose another --out")
    assert (out / CHECKPOINT).read_bytes() == before


def test_train_overwrite_replaces_the_run_and_other_folders_are_used_as_they_are(tmp_path):
    out = tmp_path / "run"
    assert aplnet("train", *TINY, "--out", str(out)).returncode == 0
    done = aplnet("train", *TINY, "--epochs", "2", "--overwrite", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert epoch_of(out / CHECKPOINT) == 2
    other = tmp_path / "notes"                 # a folder holding something, but no run
    other.mkdir()
    (other / "readme.txt").write_text("mine")
    assert aplnet("train", *TINY, "--out", str(other)).returncode == 0
    assert sorted(os.listdir(other)) == ["loss.png", "model.npz", "readme.txt"]


# ------------------------------------------------ 2: two runs in one folder


def wait_until(ready, run, timeout=120):
    """Until ``ready()``; fails if the process ends first or it takes ``timeout`` seconds."""
    start = time.monotonic()
    while not ready():
        assert run.poll() is None, run.stderr.read()
        assert time.monotonic() - start < timeout
        time.sleep(0.01)


def wait_for_lock(path, run):
    wait_until(lambda: path.exists() and path.read_text().startswith("pid "), run)


def test_a_second_run_on_the_same_folder_is_refused_with_the_holders_pid(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "aplnet", "train", *TINY, "--epochs",
                              "100000", "--out", str(out)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_for_lock(out / LOCK_FILE, first)
        busy = f"is in use by another run (pid {first.pid} on "
        for argv in (["--out", str(out)], ["--out", str(out), "--overwrite"]):
            line = one_line(aplnet("train", *TINY, *argv))
            assert line.startswith(f"aplnet train: --out {out} {busy}")
        line = one_line(aplnet("train", "--resume", str(out), "--no-progress"))
        assert line.startswith(f"aplnet train: --resume {out} {busy}")
        assert first.poll() is None
    finally:
        first.kill()
        first.wait()


def test_a_stale_lock_from_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "run"
    run = subprocess.Popen([sys.executable, "-m", "aplnet", "train", *TINY, "--epochs", "100000",
                            "--out", str(out)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    wait_for_lock(out / LOCK_FILE, run)
    wait_until((out / CHECKPOINT).exists, run)
    run.send_signal(signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL
    assert (out / LOCK_FILE).read_text().startswith(f"pid {run.pid} ")   # left behind
    done = aplnet("train", "--resume", str(out), "--epochs", str(epoch_of(out / CHECKPOINT) + 1),
                  "--no-progress")
    assert done.returncode == 0, done.stderr
    assert not (out / LOCK_FILE).exists()


# ---------------------------------------------- 3: inputs of the same name


def test_predict_keeps_every_output_when_inputs_share_a_name(tmp_path, model):
    first = image_file(tmp_path / "a" / "c0.png", (24, 30), seed=1)
    second = image_file(tmp_path / "b" / "c0.png", (24, 30), seed=2)
    alone = []
    for k, path in enumerate((first, second)):
        assert aplnet("predict", path, "--model", model, "--out", str(tmp_path / f"alone{k}"),
                      "--no-progress").returncode == 0
        alone.append(Image.open(tmp_path / f"alone{k}" / "c0_overlay.png").tobytes())
    out = tmp_path / "both"
    done = aplnet("predict", first, second, "--model", model, "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(out)) == ["c0-2_mask.png", "c0-2_overlay.png", "c0_mask.png",
                                       "c0_overlay.png"]
    assert Image.open(out / "c0_overlay.png").tobytes() == alone[0]
    assert Image.open(out / "c0-2_overlay.png").tobytes() == alone[1]
    assert f"{second}: 24x30, " in done.stdout and done.stdout.rstrip().endswith(
        str(out / "c0-2_mask.png"))


# --------------------------------------------------- 4: the progress bar


def on_a_terminal(*args):
    """Run ``python -m aplnet args`` with stderr on a pseudo-terminal; what it drew there."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    run = subprocess.Popen([sys.executable, "-m", "aplnet", *args], stdout=subprocess.DEVNULL,
                           stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    drawn = b""
    try:
        while True:
            if select.select([leader], [], [], 120)[0]:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:          # EIO: the terminal's last writer has gone
                    break
                if not chunk:
                    break
                drawn += chunk
            else:
                pytest.fail("no output for 120 s")
    finally:
        os.close(leader)
        assert run.wait(timeout=60) == 0, drawn.decode(errors="replace")
    return drawn.decode(errors="replace")


def test_train_shows_its_progress_bar_on_a_terminal(tmp_path):
    argv = [a for a in TINY if a != "--no-progress"]
    drawn = on_a_terminal("train", *argv, "--out", str(tmp_path / "run"))
    assert re.search(r"epoch 1/1.*loss \d+\.\d{4} ce \d+\.\d{4} acc \d\.\d{3} [\d.]+ img/s", drawn), drawn
    quiet = on_a_terminal("train", *TINY, "--out", str(tmp_path / "quiet"))
    assert "epoch 1/1" not in quiet and "img/s" not in quiet, quiet
    piped = aplnet("train", *argv, "--out", str(tmp_path / "piped"))
    assert piped.returncode == 0 and piped.stderr == ""


# ------------------------------------------------------------ 5: divergence


@pytest.mark.parametrize("lr", ["1e6", "1e38"])
def test_an_absurd_learning_rate_stops_training_at_its_first_step(tmp_path, lr):
    out = tmp_path / "run"
    line = one_line(aplnet("train", *TINY, "--epochs", "3", "--lr", lr, "--out", str(out)),
                    status=1)
    assert re.fullmatch(r"aplnet train: training stopped: epoch 1, step 1: the update to "
                        r"[\w.]+ (has RMS \S+, more than 100 times the [\d.]+ of He "
                        r"initialisation|is not finite \(overflowed float32\)): the step "
                        r"exploded; no checkpoint was written\. Try a smaller --lr "
                        rf"\(now {re.escape(str(float(lr)))}\)\.", line), line
    assert not out.exists()


def test_an_exploding_update_stops_at_its_step_keeping_the_last_good_checkpoint(
        tmp_path, monkeypatch, capsys):
    """Finite but huge gradients, as on the way to overflow: no NaN yet to see."""
    out = tmp_path / "run"
    assert aplnet("train", *TINY, "--out", str(out)).returncode == 0
    before = (out / CHECKPOINT).read_bytes()
    real_backward = UNet.backward
    calls = []

    def backward(self, dlogits, tape):
        calls.append(1)
        grads = real_backward(self, dlogits, tape)
        return {k: g * 1e12 for k, g in grads.items()} if len(calls) == 2 else grads
    monkeypatch.setattr(UNet, "backward", backward)
    assert cli.main(["train", "--resume", str(out), "--epochs", "3", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"^aplnet train: training stopped: epoch 2, step 2: the update to \S+ has "
                     r"RMS .* the step exploded; the last good checkpoint, epoch 1, is ", err)
    assert (out / CHECKPOINT).read_bytes() == before


def test_weights_that_grow_far_beyond_their_initial_scale_stop_training(tmp_path, monkeypatch):
    """A steady push of moderate steps can carry the weights away too, before any update is huge.

    The gradient ``−w`` makes momentum SGD grow the weights by a few
    percent a step, ever faster: about 150 steps to a thousandfold, the
    last update still half of the limit's hundredfold.
    """
    out = str(tmp_path / "run")
    assert aplnet("train", *TINY, "--out", out).returncode == 0
    monkeypatch.setattr(UNet, "backward", lambda self, dlogits, tape: {
        k: -w for k, w in self.params.items()})
    with pytest.raises(TrainingDiverged, match=r"epoch \d+, step \d: the weights \S+ have RMS "
                                               r".* more than 1000 times .* they diverged"):
        resume(out, {"epochs": 1000}, log=lambda line: None, progress=False)


# ------------------------------------------------------- 8: failed writes


def test_an_unwritable_out_is_refused_before_training(tmp_path):
    out = tmp_path / "run"
    done = aplnet("train", *TINY, "--epochs", "1000", "--out", str(out), limit=0)
    line = one_line(done)
    assert line == f"aplnet train: {out}: cannot write in this folder (File too large)"
    assert done.stdout == "" and not out.exists()
    line = one_line(aplnet("predict", image_file(tmp_path / "a.png", (20, 20)), "--model",
                           str(tmp_path / "no.npz"), "--out", str(out), limit=0))
    assert line == f"aplnet predict: {out}: cannot write in this folder (File too large)"


def test_an_out_inside_a_file_is_refused_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "run"
    line = one_line(aplnet("train", *TINY, "--out", str(out)))
    assert line == f"aplnet train: --out {out}: {blocker} is a file, not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_a_read_only_out_is_refused_before_training(tmp_path):
    out = tmp_path / "run"
    out.mkdir(mode=0o500)
    try:
        done = aplnet("train", *TINY, "--epochs", "1000", "--out", str(out))
    finally:
        out.chmod(0o700)
    assert "cannot write in this folder (Permission denied)" in one_line(done)
    assert done.stdout == ""


def test_a_full_disk_during_predict_leaves_no_partial_png(tmp_path, model):
    image = image_file(tmp_path / "cells.png", (40, 40))
    whole = tmp_path / "whole"
    assert aplnet("predict", image, "--model", model, "--out", str(whole),
                  "--no-progress").returncode == 0
    mask, overlay = ((whole / f"cells_{kind}.png").stat().st_size for kind in ("mask", "overlay"))
    assert mask < overlay - 1
    out = tmp_path / "full"
    line = one_line(aplnet("predict", image, "--model", model, "--out", str(out),
                           "--no-progress", limit=overlay - 1))
    assert line == f"aplnet predict: {out / 'cells_overlay.png'}: cannot write (File too large)"
    assert os.listdir(out) == ["cells_mask.png"]          # complete; no overlay, no temporary
    assert read_mask(out / "cells_mask.png")[0].shape == (40, 40)


def test_stale_checkpoint_temporaries_are_removed_on_resume(tmp_path):
    out = tmp_path / "run"
    assert aplnet("train", *TINY, "--out", str(out)).returncode == 0
    (out / ".tmp-k1ll3d.npz").write_bytes(b"half a checkpoint")
    (out / ".tmp-k1ll3d.png").write_bytes(b"half a loss chart")
    (out / "mine.npz").write_bytes(b"the user's")
    done = aplnet("train", "--resume", str(out), "--epochs", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(out)) == ["loss.png", "mine.npz", "model.npz"]


def test_an_io_error_names_its_file(tmp_path, monkeypatch, capsys, model):
    """An OSError that carries no file name (as a failed write() does) gets the file's."""
    image = image_file(tmp_path / "cells.png", (20, 20))

    def full(self, fp, format=None, **params):
        with open(fp, "wb") if isinstance(fp, (str, os.PathLike)) else fp as f:
            f.write(b"\x89PNG half")
            raise OSError(28, "No space left on device")
    monkeypatch.setattr(Image.Image, "save", full)
    (tmp_path / "o").mkdir()
    assert cli.main(["predict", image, "--model", model, "--out", str(tmp_path / "o"),
                     "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err == (f"aplnet predict: {tmp_path / 'o' / 'cells_mask.png'}: cannot write "
                   f"(No space left on device)\n")
    assert os.listdir(tmp_path / "o") == []


# -------------------------------------------------------- 9: a huge tile


def test_predict_caps_a_huge_tile_at_what_the_image_needs(tmp_path, model):
    image = image_file(tmp_path / "cells.png", (20, 20))
    start = time.monotonic()
    huge = aplnet("predict", image, "--tile", "100000", "--model", model, "--out",
                  str(tmp_path / "huge"), "--no-progress")
    assert huge.returncode == 0, huge.stderr
    assert time.monotonic() - start < 60
    plain = aplnet("predict", image, "--model", model, "--out", str(tmp_path / "plain"),
                   "--no-progress")
    assert plain.returncode == 0, plain.stderr
    assert np.array_equal(read_mask(tmp_path / "huge" / "cells_mask.png")[0],
                          read_mask(tmp_path / "plain" / "cells_mask.png")[0])


def test_predict_memory_advice_names_only_predicts_options(tmp_path, monkeypatch, capsys, model):
    import aplnet.tiling

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 37.3 GiB for an array")
    monkeypatch.setattr(aplnet.tiling, "segment", exhausted)
    image = image_file(tmp_path / "cells.png", (20, 20))
    assert cli.main(["predict", image, "--model", model, "--out", str(tmp_path / "o"),
                     "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--tile" in err
    options = {a.lstrip("-") for a in re.findall(r"--[a-z-]+", err)}
    predict_options = {"tile", "model", "out", "no-progress"}
    assert options <= predict_options, err


# ------------------------------------------------------------- 10: smaller


def test_model_npz_gets_the_umasks_mode(tmp_path):
    for umask, mode in ((0o022, 0o644), (0o027, 0o640)):
        out = tmp_path / f"run{umask:o}"
        assert aplnet("train", *TINY, "--out", str(out), umask=umask).returncode == 0
        assert (out / CHECKPOINT).stat().st_mode & 0o777 == mode
        assert (out / "loss.png").stat().st_mode & 0o777 == mode


def test_predict_prints_sizes_as_height_by_width(tmp_path, model):
    image = image_file(tmp_path / "wide.png", (20, 30))
    done = aplnet("predict", image, "--model", model, "--out", str(tmp_path / "o"),
                  "--no-progress")
    assert done.returncode == 0, done.stderr
    assert f"{image}: 20x30, foreground" in done.stdout


def test_repl_exits_1_after_an_error_in_piped_input():
    done = subprocess.run([sys.executable, "-m", "aplnet", "repl"], input="1/0\n2 + 2\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout.strip() == "4" and "ZeroDivisionError" in done.stderr
    syntax = subprocess.run([sys.executable, "-m", "aplnet"], input="def f(:\n\n",
                            capture_output=True, text=True, timeout=60)
    assert syntax.returncode == 1 and "SyntaxError" in syntax.stderr
    clean = subprocess.run([sys.executable, "-m", "aplnet"], input="2 + 2\n",
                           capture_output=True, text=True, timeout=60)
    assert clean.returncode == 0 and clean.stdout.strip() == "4"


def test_the_depth_error_names_the_option_not_a_function():
    line = one_line(aplnet("train", "--depth", "40", "--no-progress"))
    assert line == "aplnet train: --depth must be at most 24; got 40"
