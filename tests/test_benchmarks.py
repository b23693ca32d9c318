"""The benchmark scripts run end to end on a tiny U-Net (their figures are not checked: timing is for benchmarks)."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from aplnet.train import Settings, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--config", "20/2/2", "--repeat", "1", "--once"]


def run(script, *args, expect=0):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == expect, proc.stderr
    return proc


@pytest.mark.slow
def test_unet_step_times_each_side_alone_in_turns():
    out = run("unet_step.py", *TINY, "--min-time", "0").stdout
    assert "processes: a fresh one per side and round, alone" in out and "first loss: aplnet" in out
    assert any(line.split()[:1] == ["step"] for line in out.splitlines())
    assert "page faults per step (median): aplnet" in out and "memory aplnet" in out


@pytest.mark.slow
def test_unet_step_in_one_process():
    out = run("unet_step.py", *TINY, "--min-time", "0", "--same-process", "--no-memory").stdout
    assert "processes: one, shared" in out and "memory" not in out


def test_layers_times_every_layer():
    out = run("layers.py", *TINY).stdout
    assert "down0.conv0" in out and "all products" in out and "maxpool" in out


def test_layers_sets_pytorch_beside_every_layer():
    pytest.importorskip("torch")
    out = run("layers.py", *TINY, "--torch").stdout
    rows = [line.split() for line in out.splitlines() if line.startswith(("down", "up", "out", "bottom"))]
    assert "torch fwd" in out and "all products, PyTorch" in out
    assert rows and all(len(r) == 12 and float(r[-1]) >= 0 and float(r[-2]) >= 0 for r in rows)


@pytest.mark.parametrize("script", ["unet_step.py", "layers.py"])
@pytest.mark.parametrize("config, says", [("20x2x2", "size/width/depth"),
                                          ("93/8/3", "nearest valid sizes are 92 and 96"),
                                          ("92/0/3", "width must be at least 1")])
def test_a_bad_config_is_refused_before_any_child_starts(script, config, says):
    err = run(script, "--config", config, expect=2).stderr
    assert says in err and "Traceback" not in err


def load_benchmark(name):
    """A benchmark script imported as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "benchmarks",
                                                                     f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_real_nuclei_trains_pytorch_on_the_batches_aplnet_trained_on(tmp_path):
    pytest.importorskip("torch")
    real_nuclei = load_benchmark("real_nuclei")
    settings = Settings(size=20, depth=2, width=2, images=2, epochs=2, steps_per_epoch=3,
                        seed=1)
    net, state = train(settings, str(tmp_path), log=lambda line: None, progress=False)
    torch_net, losses = real_nuclei.train_torch(settings, threads=1)
    # float32 sums in another order part the losses by ~1e-7 relative over six steps; another
    # batch (a tile, flip or deformation) moves a loss by 10-80%, momentum 0.9 for 0.99 by 7e-4
    assert len(losses) == len(state["losses"]) == 6
    np.testing.assert_allclose(losses, state["losses"], rtol=1e-4)
    for name, value in net.params.items():
        np.testing.assert_allclose(torch_net.params[name], value, rtol=1e-3, atol=1e-5,
                                   err_msg=name)
