"""The ONNX export run by onnxruntime against aplnet, and ``aplnet export``'s refusals."""

import json
import os
import re

import numpy as np
import pytest

from aplnet import UNet, layers
from aplnet.cli import main

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
onnx_export = pytest.importorskip("aplnet.onnx_export")


def session(net):
    return ort.InferenceSession(onnx_export.build_model(net).SerializeToString(),
                                providers=["CPUExecutionProvider"])


def with_random_biases(net, rng):
    for k in net.params:
        if k.endswith(".b"):
            net.params[k][...] = rng.standard_normal(net.params[k].shape)
    return net


def relative_error(ours, theirs):
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


@pytest.mark.parametrize("depth, width, bias, classes, channels, sizes",
                         [(2, 2, False, 2, 1, ((20, 26), (36, 22))),
                          (3, 3, True, 3, 2, ((44, 48), (60, 52))),
                          (4, 2, True, 2, 1, ((92, 100), (108, 92))),
                          (1, 2, True, 2, 1, ((7, 9), (12, 5)))])
def test_onnxruntime_gives_aplnets_outputs_at_two_sizes(depth, width, bias, classes, channels,
                                                         sizes, rng):
    net = with_random_biases(UNet(depth=depth, width=width, bias=bias, classes=classes,
                                  in_channels=channels, seed=1), rng)
    run = session(net)              # one model, both sizes, batch 1 and 2
    for n, (h, w) in enumerate(sizes):
        x = rng.standard_normal((n + 1, h, w, channels)).astype(np.float32)
        logits, probs = run.run(None, {"image": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})
        ours = net(x)
        assert logits.shape == (n + 1, classes) + ours.shape[1:3]
        assert relative_error(logits.transpose(0, 2, 3, 1), ours) < 1e-5
        assert np.max(np.abs(probs.transpose(0, 2, 3, 1) - layers.softmax(ours))) < 1e-5


def test_a_float64_net_is_exported_as_float32(rng):
    net = UNet(depth=2, width=2, dtype=np.float64, seed=2)
    x = rng.standard_normal((1, 20, 20, 1))
    logits, _ = session(net).run(None, {"image": x.transpose(0, 3, 1, 2).astype(np.float32)})
    assert logits.dtype == np.float32
    assert relative_error(logits.transpose(0, 2, 3, 1), net(x)) < 1e-5


def test_the_graph_states_its_sizes_and_dynamic_dims():
    model = onnx_export.build_model(UNet(depth=5, width=1))
    assert "valid U-Net sizes for depth 5: 188 + 16k (188, 204, 220, ...)" in model.doc_string
    assert "H - 184" in model.graph.doc_string
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 1, "H", "W"]
    assert onnx_export.crop_offsets(5) == [88, 40, 16, 4]


def test_export_command_writes_a_checked_model(tmp_path, capsys):
    net = UNet(depth=3, width=2, seed=0)
    net.save(tmp_path / "model.npz")
    out = tmp_path / "model.onnx"
    assert main(["export", str(tmp_path / "model.npz"), "--onnx", str(out)]) == 0
    onnx.checker.check_model(str(out))
    logits, _ = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(
        None, {"image": np.zeros((1, 1, 44, 48), np.float32)})
    assert logits.shape == (1, 2, 4, 8)
    assert sorted(os.listdir(tmp_path)) == ["model.npz", "model.onnx"]


def refused(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert re.match("aplnet export: ", err)
    return err


def test_export_refuses_an_existing_file_unless_overwrite(tmp_path, capsys):
    UNet(depth=2, width=2).save(tmp_path / "model.npz")
    out = tmp_path / "model.onnx"
    out.write_bytes(b"keep me")
    err = refused(capsys, ["export", str(tmp_path / "model.npz"), "--onnx", str(out)])
    assert str(out) in err and "--overwrite" in err and out.read_bytes() == b"keep me"
    assert main(["export", str(tmp_path / "model.npz"), "--onnx", str(out), "--overwrite"]) == 0
    onnx.checker.check_model(str(out))


@pytest.mark.parametrize("depth", [0, 25, "3"])
def test_export_refuses_a_checkpoint_of_a_bad_depth(tmp_path, capsys, depth):
    arrays = UNet(depth=2, width=2).to_arrays()
    config = json.loads(str(arrays["config"]))
    arrays["config"] = np.array(json.dumps({**config, "depth": depth}))
    np.savez(tmp_path / "model.npz", **arrays)
    err = refused(capsys, ["export", str(tmp_path / "model.npz"), "--onnx",
                           str(tmp_path / "m.onnx")])
    assert "model.npz" in err and "depth" in err
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_export_refuses_a_missing_checkpoint(tmp_path, capsys):
    err = refused(capsys, ["export", str(tmp_path / "nope.npz"), "--onnx",
                           str(tmp_path / "m.onnx")])
    assert "nope.npz" in err and os.listdir(tmp_path) == []
