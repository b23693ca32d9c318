"""Tests of sampling by area, held-out scoring, best.npz, patience and the schedules (aplnet.validation, aplnet.train)."""

import dataclasses
import os

import numpy as np
import pytest
from PIL import Image

from aplnet import train as train_module
from aplnet.apl import DomainError
from aplnet.cli import main
from aplnet.data import Samples, synthetic_cells
from aplnet.metrics import foreground_counts, pixel_scores
from aplnet.tiling import segment
from aplnet.train import BEST, Settings, TileSampler, load_checkpoint, resume, train
from aplnet.unet import UNet
from aplnet.validation import cross_entropy, learning_rate, split

TINY = Settings(size=52, depth=3, width=2, epochs=2, batch=2, lr=0.005, images=4, w0=0.0,
                steps_per_epoch=2)


def _quiet(line):
    pass


def _samples(sides):
    """Blank images of the given (h, w) sizes, named by index."""
    return Samples([np.zeros((h, w, 1), np.float32) for h, w in sides],
                   [np.zeros((h, w), np.uint8) for h, w in sides],
                   [str(i) for i in range(len(sides))])


def _line(lines, start):
    """The first log line that starts with ``start``."""
    return next(line for line in lines if line.startswith(start))


def _run(tmp_path, name="run", log=_quiet, **changes):
    out = str(tmp_path / name)
    net, state = train(dataclasses.replace(TINY, **changes), out, log=log, progress=False)
    return out, net, state


# --------------------------------------------------------------- sampling


def test_images_are_drawn_in_proportion_to_their_tile_positions():
    # output 12: a 12x12 image has 1 position, 21x12 has 10, 21x21 has 100
    sampler = TileSampler(_samples([(12, 12), (21, 12), (21, 21)]), size=52, depth=3)
    counts = np.bincount(sampler.draw(np.random.default_rng(0), 111_000), minlength=3)
    np.testing.assert_allclose(counts / 111_000, np.array([1, 10, 100]) / 111, atol=0.003)


def test_an_epoch_covers_the_training_pixels_once_by_default():
    # 30x30 + 10x10 = 1000 pixels; tiles give 12x12 = 144, two a step: ceil(1000 / 288) = 4
    assert TileSampler(_samples([(30, 30), (10, 10)]), size=52, depth=3).steps_to_cover(2) == 4


def test_one_large_image_gets_the_steps_of_the_same_pixels_cut_small():
    one = TileSampler(_samples([(96, 96)]), size=52, depth=3)
    many = TileSampler(_samples([(24, 24)] * 16), size=52, depth=3)
    assert one.steps_to_cover(4) == many.steps_to_cover(4) == 16


def test_steps_per_epoch_sets_the_steps(tmp_path):
    _, _, state = _run(tmp_path, steps_per_epoch=3)
    assert len(state["losses"]) == 6


def test_the_default_epoch_covers_the_images(tmp_path):
    lines = []
    samples = synthetic_cells(1, 24, seed=0)   # 576 pixels, 12x12 outputs, batch 2: 2 steps
    train(dataclasses.replace(TINY, steps_per_epoch=0, epochs=1), str(tmp_path / "run"),
          log=lines.append, progress=False, samples=samples)
    assert "1 epochs of 2 steps" in _line(lines, "training UNet")


# ------------------------------------------------------------ splitting


def test_a_split_is_seeded_and_disjoint():
    s = _samples([(5, 5)] * 10)
    train_a, held_a = split(s, 0.3, seed=4)
    train_b, held_b = split(s, 0.3, seed=4)
    assert held_a.names == held_b.names and len(held_a.names) == 3
    assert sorted(train_a.names + held_a.names, key=int) == s.names
    assert split(s, 0.3, seed=5)[1].names != held_a.names


@pytest.mark.parametrize("fraction, match", [
    (0.1, r"--val-split 0.1 of 4 image\(s\) holds out 0, leaving 4"),
    (0.9, r"--val-split 0.9 of 4 image\(s\) holds out 4, leaving 0"),
])
def test_a_split_that_leaves_a_side_empty_is_refused(fraction, match):
    with pytest.raises(DomainError, match=match):
        split(_samples([(5, 5)] * 4), fraction, seed=0)


def test_the_command_line_refuses_an_empty_split(tmp_path, capsys):
    argv = ["train", "--data", "synthetic", "--images", "4", "--size", "52", "--width", "2",
            "--val-split", "0.95", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("aplnet train: --val-split 0.95 of 4 image(s)")


@pytest.mark.parametrize("changes, match", [
    ({"val_split": 1.0}, r"--val-split must be in \[0, 1\); got 1.0"),
    ({"val_split": 0.5, "val": "x"}, "give --val x or --val-split 0.5, not both"),
    ({"patience": 2}, "--patience 2 needs held-out images"),
    ({"lr_schedule": "linear"}, "--lr-schedule must be one of constant, cosine, step; got"),
    ({"steps_per_epoch": -1}, "--steps-per-epoch must be a non-negative integer; got -1"),
])
def test_bad_validation_settings_are_named(changes, match):
    with pytest.raises(DomainError, match=match):
        dataclasses.replace(TINY, **changes).check()


# ------------------------------------------------------------ validation


def test_each_epoch_scores_the_held_out_images_and_keeps_the_best(tmp_path):
    lines = []
    out, _, state = _run(tmp_path, log=lines.append, epochs=3, val_split=0.5)
    assert len(state["val"]) == 3 and all(0 <= v["dice"] <= 1 for v in state["val"])
    dice = [v["dice"] for v in state["val"]]
    assert state["best"] == {"epoch": int(np.argmax(dice)) + 1, "dice": max(dice)}
    best, _, _, best_state = load_checkpoint(os.path.join(out, BEST))
    assert best_state["epoch"] == state["best"]["epoch"]
    assert UNet.load(os.path.join(out, BEST)).config == best.config
    epoch = _line(lines, "epoch 1/")
    assert "val IoU" in epoch and "Dice" in epoch and "2 held out" in _line(lines, "training UNet")


def test_the_held_out_scores_are_those_of_the_whole_images(tmp_path):
    samples, held = split(synthetic_cells(4, 40, seed=0), 0.5, seed=0)
    out = str(tmp_path / "run")
    net, state = train(dataclasses.replace(TINY, epochs=1), out, log=_quiet, progress=False,
                       samples=samples, held_out=held)
    counts = np.sum([foreground_counts(segment(net, net.normalization(im), 52), m)
                     for im, m in zip(held.images, held.masks)], axis=0)
    assert state["val"][0]["dice"] == pixel_scores(*counts)["dice"]


def test_a_val_directory_is_read_and_scored(tmp_path):
    for sub in ("images", "masks"):
        (tmp_path / "val" / sub).mkdir(parents=True)
    Image.fromarray(np.arange(900).reshape(30, 30).astype(np.uint8)).save(
        tmp_path / "val/images/a.png")
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(tmp_path / "val/masks/a.png")
    _, _, state = _run(tmp_path, epochs=1, val=str(tmp_path / "val"))
    assert len(state["val"]) == 1


def test_the_log_shows_the_unweighted_cross_entropy(tmp_path):
    lines = []
    _, _, state = _run(tmp_path, log=lines.append, w0=10.0)
    assert " ce " in _line(lines, "epoch 1/") and len(state["ce"]) == 2
    assert state["ce"][0] != pytest.approx(np.mean(state["losses"][:2]))   # weighted differs


def test_cross_entropy_is_the_unweighted_loss():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 3))
    labels = rng.integers(0, 3, size=(2, 3, 4))
    loss, _ = UNet(depth=2, width=2, classes=3, dtype=np.float64).loss(logits, labels)
    assert cross_entropy(logits, labels) == pytest.approx(loss, rel=1e-12)


# -------------------------------------------------------------- patience


def _fake_validate(dices):
    calls = iter(dices)

    def validate(net, samples, tile):
        d = next(calls)
        return {"iou": d / (2 - d), "dice": d}
    return validate


def test_patience_stops_the_run_and_resume_respects_it(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "validate", _fake_validate([0.5, 0.7, 0.6, 0.65, 0.9]))
    lines = []
    out, _, state = _run(tmp_path, log=lines.append, epochs=5, val_split=0.5, patience=2)
    assert state["epoch"] == 4 and state["stopped"] and state["best"]["epoch"] == 2
    assert "stopped early at epoch 4: no better held-out Dice in 2 epochs" in lines[-1]
    assert load_checkpoint(os.path.join(out, BEST))[3]["epoch"] == 2
    lines.clear()
    _, again = resume(out, {"epochs": 8}, log=lines.append, progress=False)
    assert again["epoch"] == 4 and "not resuming" in lines[-1]


def test_resume_with_validation_reproduces_the_uninterrupted_run(tmp_path):
    changes = {"val_split": 0.5, "patience": 5, "lr_schedule": "cosine"}
    straight, _, a = _run(tmp_path, "straight", epochs=3, **changes)
    halted, _, _ = _run(tmp_path, "halted", epochs=1, **changes)
    _, b = resume(halted, {"epochs": 3}, log=_quiet, progress=False)
    assert (a["val"], a["best"], a["losses"], a["ce"]) == (b["val"], b["best"], b["losses"],
                                                          b["ce"])
    for name in ("model.npz", BEST):
        x, y = np.load(os.path.join(straight, name)), np.load(os.path.join(halted, name))
        for k in x.files:
            if k.startswith(("params/", "train/velocity/")):
                np.testing.assert_array_equal(x[k], y[k], err_msg=f"{name} {k}")


# ------------------------------------------------------------- schedules


def test_the_schedules_by_epoch():
    assert [learning_rate("constant", 0.5, e, 3) for e in (1, 2, 3)] == [0.5] * 3
    assert [learning_rate("step", 1.0, e, 9) for e in range(1, 10)] == \
        [1.0] * 3 + [0.1] * 3 + [pytest.approx(0.01)] * 3
    cosine = [learning_rate("cosine", 1.0, e, 10) for e in range(1, 11)]
    assert cosine[0] == 1.0 and all(a > b > 0 for a, b in zip(cosine, cosine[1:]))


def test_the_schedule_sets_the_optimisers_rate_each_epoch(tmp_path, monkeypatch):
    rates = []
    real_epoch = train_module._epoch

    def spy(net, opt, *args, **kwargs):
        rates.append(opt.lr)
        return real_epoch(net, opt, *args, **kwargs)
    monkeypatch.setattr(train_module, "_epoch", spy)
    _run(tmp_path, epochs=3, lr=0.01, lr_schedule="step")
    assert rates == [0.01, pytest.approx(0.001), pytest.approx(0.0001)]
