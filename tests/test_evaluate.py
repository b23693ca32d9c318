"""Tests of ``aplnet evaluate`` (aplnet.evaluate): pairing files, reading masks, the table and JSON, refusals."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from aplnet.apl import DomainError
from aplnet.cli import main
from aplnet.data import synthetic_cells
from aplnet.demo import demo
from aplnet.evaluate import evaluate_folders, evaluate_network, read_labels, table
from aplnet.metrics import score_image
from aplnet.tiling import segment
from aplnet.train import read_directory
from aplnet.unet import UNet

TRUTH = np.array([[0, 0, 0, 0, 0, 0],
                  [0, 1, 1, 0, 2, 2],
                  [0, 1, 1, 0, 2, 2],
                  [0, 0, 0, 0, 0, 0]], np.uint16)     # an instance mask: two objects
PRED = np.array([[0, 0, 0, 0, 0, 0],
                 [0, 1, 1, 0, 1, 0],
                 [0, 1, 1, 0, 0, 0],
                 [0, 0, 0, 0, 0, 0]], np.uint8) * 255


def _folders(tmp_path, pred=PRED, truth=TRUTH, pred_name="a_mask.png", truth_name="a.tif"):
    (tmp_path / "pred").mkdir()
    (tmp_path / "truth").mkdir()
    Image.fromarray(pred).save(tmp_path / "pred" / pred_name)
    Image.fromarray(truth).save(tmp_path / "truth" / truth_name)
    return str(tmp_path / "pred"), str(tmp_path / "truth")


def refused(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("aplnet evaluate: "), lines[0]
    return lines[0]


def test_instance_masks_are_read_as_stored(tmp_path):
    Image.fromarray(TRUTH).save(tmp_path / "t.tif")
    np.testing.assert_array_equal(read_labels(tmp_path / "t.tif")[0], TRUTH)


def test_predicted_masks_pair_with_true_ones_by_name(tmp_path):
    pred, truth = _folders(tmp_path)
    [(name, s)] = evaluate_folders(pred, truth)
    assert name.endswith("a.tif")
    assert s == score_image(PRED, TRUTH)
    # object 1 found exactly; object 2 met by one pixel, IoU 1/4: one match, one false
    # object, one missed, 1/3 at every threshold
    assert s["ap"] == pytest.approx(1 / 3) and s["true_objects"] == 2 and s["predicted_objects"] == 2


def test_the_overlays_beside_predicted_masks_are_left_alone(tmp_path):
    pred, truth = _folders(tmp_path)
    Image.fromarray(PRED).save(tmp_path / "pred" / "a_overlay.png")
    assert len(evaluate_folders(pred, truth)) == 1


def test_predictions_named_as_the_truth_pair_too(tmp_path):
    pred, truth = _folders(tmp_path, pred_name="a.png")
    assert evaluate_folders(pred, truth)[0][1] == score_image(PRED, TRUTH)


def test_the_command_prints_a_table_and_json(tmp_path, capsys):
    pred, truth = _folders(tmp_path)
    assert main(["evaluate", "--pred", pred, "--truth", truth]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["image", "acc", "IoU", "Dice"] and len(out) == 3
    assert out[2].startswith("pooled (1)")
    assert main(["evaluate", "--pred", pred, "--truth", truth, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pooled"]["iou"] == pytest.approx(5 / 8)
    assert report["images"][0]["ap"] == pytest.approx(1 / 3)


def test_an_undefined_rand_error_is_a_dash_and_null(tmp_path, capsys):
    empty = np.zeros((4, 6), np.uint8)
    pred, truth = _folders(tmp_path, pred=empty, truth=empty)
    assert main(["evaluate", "--pred", pred, "--truth", truth, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pooled"]["rand_error"] is None
    assert " - " in table(evaluate_folders(pred, truth))


def test_a_model_is_evaluated_by_overlap_tile(tmp_path, capsys):
    images, masks, _ = synthetic_cells(2, 30, seed=0)
    for sub in ("images", "masks"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    for i in range(2):
        Image.fromarray((images[i, ..., 0] * 255).round().astype(np.uint8)).save(
            tmp_path / "data" / "images" / f"{i}.png")
        Image.fromarray(masks[i] * 255).save(tmp_path / "data" / "masks" / f"{i}.png")
    net = UNet(depth=2, width=2, seed=0)
    net.save(tmp_path / "model.npz")
    assert main(["evaluate", "--model", str(tmp_path / "model.npz"), "--data",
                 str(tmp_path / "data"), "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = evaluate_network(net, read_directory(str(tmp_path / "data")))
    assert [r["dice"] for r in report["images"]] == [s["dice"] for _, s in expected]
    image = read_directory(str(tmp_path / "data")).images[0]
    assert expected[0][1] == score_image(segment(net, net.normalization(image)), masks[0])


# -------------------------------------------------------------- refusals


def test_a_true_mask_without_prediction_is_named(tmp_path, capsys):
    pred, truth = _folders(tmp_path, pred_name="b_mask.png")
    line = refused(capsys, ["evaluate", "--pred", pred, "--truth", truth])
    assert re.search(r"truth/a\.tif has no prediction in .*pred", line)


def test_a_prediction_without_true_mask_is_named(tmp_path, capsys):
    pred, truth = _folders(tmp_path)
    Image.fromarray(PRED).save(tmp_path / "pred" / "z_mask.png")
    assert re.search(r"pred/z_mask\.png has no true mask in .*truth",
                     refused(capsys, ["evaluate", "--pred", pred, "--truth", truth]))


def test_sizes_that_differ_are_named(tmp_path, capsys):
    pred, truth = _folders(tmp_path, pred=PRED[:, :5])
    line = refused(capsys, ["evaluate", "--pred", pred, "--truth", truth])
    assert re.search(r"a_mask\.png is 4x5 but .*a\.tif is 4x6", line)


def test_an_unreadable_mask_is_named(tmp_path, capsys):
    pred, truth = _folders(tmp_path)
    (tmp_path / "pred" / "a_mask.png").write_bytes(b"not a png")
    assert "cannot read" in refused(capsys, ["evaluate", "--pred", pred, "--truth", truth])


def test_a_negative_mask_is_refused(tmp_path):
    Image.fromarray(np.array([[-1, 0]], np.int32)).save(tmp_path / "n.tif")
    with pytest.raises(DomainError, match=r"n\.tif: a mask must hold non-negative labels"):
        read_labels(tmp_path / "n.tif")


@pytest.mark.parametrize("argv, match", [
    (["evaluate"], "give --model RUN/model.npz --data DIR, or --pred DIR --truth DIR"),
    (["evaluate", "--model", "m.npz"], "--model needs --data DIR"),
    (["evaluate", "--pred", "p"], "--pred needs --truth DIR"),
])
def test_incomplete_options_are_refused(capsys, argv, match):
    assert match in refused(capsys, argv)


def test_a_missing_model_is_named(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    line = refused(capsys, ["evaluate", "--model", str(tmp_path / "none.npz"), "--data",
                            str(tmp_path / "data")])
    assert "none.npz" in line


def test_the_demo_prints_the_instance_score(tmp_path):
    lines = []
    result = demo(str(tmp_path / "demo"), quick=True, log=lines.append, progress=False)
    assert 0 <= result["ap"] <= 1
    assert f"instance AP {result['ap']:.3f} (IoU 0.5:0.95" in lines[-1]
