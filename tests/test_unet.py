"""Tests of aplnet.unet: sizes, architecture, gradients, loss, SGD, save and load."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aplnet import fast, layers, naive
from aplnet.apl import DomainError, LengthError, RankError
from aplnet.unet import (SGD, UNet, check_input_size, input_size_for, output_size,
                         valid_input_sizes, write_npz)

# -------------------------------------------------------------------- sizes


def test_the_papers_572_gives_388():
    assert output_size(572, 5) == 388


@pytest.mark.parametrize("depth, first, step, lost", [
    (1, 5, 1, 4), (2, 18, 2, 16), (3, 44, 4, 40), (4, 92, 8, 88), (5, 188, 16, 184)])
def test_valid_sizes_form_a_progression_with_a_fixed_loss(depth, first, step, lost):
    sizes = valid_input_sizes(depth, 700)
    assert (sizes.start, sizes.step) == (first, step)
    assert all(output_size(n, depth) == n - lost for n in sizes)


@settings(deadline=None)
@given(st.integers(1, 5), st.integers(1, 700))
def test_a_size_is_valid_exactly_when_every_level_works(depth, n):
    """Walk the levels by hand: -4, even, halve … -4, then double and -4 back up."""
    m, ok = n, True
    for _ in range(depth - 1):
        m -= 4
        ok &= m >= 2 and m % 2 == 0
        m //= 2
    m -= 4
    for _ in range(depth - 1):
        m = 2 * m - 4
    ok &= m >= 1
    assert (n in valid_input_sizes(depth, 701)) == ok


def test_an_invalid_size_names_the_two_nearest():
    with pytest.raises(DomainError, match="570 is not valid for a depth-5 U-Net.*556 and 572"):
        output_size(570, 5)


def test_a_size_below_the_smallest_names_the_two_smallest():
    with pytest.raises(DomainError, match="100 is not valid .* 188 and 204"):
        check_input_size(100, 5)


def test_input_size_for_covers_the_output():
    assert [input_size_for(k, 5) for k in (1, 4, 5, 388, 389)] == [188, 188, 204, 572, 588]


@pytest.mark.parametrize("bad, error", [(0, DomainError), (2.0, TypeError), (True, TypeError)])
def test_depth_must_be_a_positive_integer(bad, error):
    with pytest.raises(error, match="depth"):
        valid_input_sizes(bad)


# ------------------------------------------------------------- architecture


def test_paper_unet_has_31_million_parameters():
    assert UNet(depth=5, width=64).n_params == 31_023_808


def test_layout_doubles_channels_down_and_halves_them_up():
    net = UNet(depth=3, width=4, in_channels=3, classes=5)
    shapes = {name: shape for name, _, shape in net.layout()}
    assert shapes == {
        "down0.conv0": (3, 3, 3, 4), "down0.conv1": (3, 3, 4, 4),
        "down1.conv0": (3, 3, 4, 8), "down1.conv1": (3, 3, 8, 8),
        "bottom.conv0": (3, 3, 8, 16), "bottom.conv1": (3, 3, 16, 16),
        "up1.upconv": (2, 2, 16, 8), "up1.conv0": (3, 3, 16, 8), "up1.conv1": (3, 3, 8, 8),
        "up0.upconv": (2, 2, 8, 4), "up0.conv0": (3, 3, 8, 4), "up0.conv1": (3, 3, 4, 4),
        "out.conv": (1, 1, 4, 5)}


def test_bias_adds_one_vector_per_layer():
    net = UNet(depth=2, width=2, bias=True)
    assert all(net.params[n + ".b"].shape == (s[-1],) for n, _, s in net.layout())


def test_he_init_has_the_papers_spread():
    w = UNet(depth=2, width=32, seed=3).params["bottom.conv1.w"]   # fan_in = 9·64
    assert abs(w.std() / np.sqrt(2 / (9 * 64)) - 1) < 0.02


def test_notes_preset_is_bias_free_and_uniform():
    net = UNet.as_in_notes(depth=3, width=4)
    assert net.config["bias"] is False and net.config["init"] == "uniform"
    w = np.concatenate([p.ravel() for p in net.params.values()])
    assert -0.5 <= w.min() < -0.45 and 0.45 < w.max() <= 0.5


def test_float32_weights_are_the_float64_ones_rounded():
    a, b = UNet(3, 4, dtype=np.float32), UNet(3, 4, dtype=np.float64)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k].astype(np.float32))


def test_same_seed_same_weights_and_another_seed_others():
    a, b, c = UNet(2, 3, seed=1), UNet(2, 3, seed=1), UNet(2, 3, seed=2)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["out.conv.w"], c.params["out.conv.w"])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"width": 0}, DomainError, "width must be at least 1"),
    ({"classes": 1}, DomainError, "classes must be at least 2"),
    ({"init": "xavier"}, DomainError, "init must be one of"),
    ({"dtype": np.int32}, TypeError, "dtype must be float32 or float64"),
    ({"bias": 1}, TypeError, "bias must be True or False"),
])
def test_bad_architecture_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        UNet(**{"depth": 2, "width": 2, **kwargs})


# ------------------------------------------------------------------ forward


def test_forward_shape_on_a_non_square_batch(rng):
    net = UNet(depth=3, width=4)
    x = rng.random((2, 48, 60, 1)).astype(np.float32)
    logits, _ = net.forward(x)
    assert logits.shape == (2, 8, 20, 2) and logits.dtype == np.float32


def test_call_equals_forward(rng):
    net = UNet(depth=2, width=3, dtype=np.float64)
    x = rng.random((22, 18, 1))
    np.testing.assert_array_equal(net(x), net.forward(x)[0])


@pytest.mark.parametrize("engine, tier", [("fast", fast), ("apl", layers), ("naive", naive)])
def test_every_convolution_goes_through_the_engines_tier(engine, tier, monkeypatch, rng):
    calls = []
    for name in ("conv", "conv_relu"):        # the fast tier rectifies as it convolves
        if hasattr(tier, name):
            real = getattr(tier, name)
            monkeypatch.setattr(tier, name, lambda *a, real=real, **k: calls.append(a[1].shape)
                                or real(*a, **k))
    net = UNet(depth=2, width=2, engine=engine)
    net(rng.random((18, 18, 1)).astype(np.float32))
    assert calls == [s for _, kind, s in net.layout() if kind == "conv"]


# ------------------------------------------------------------------ engines


def _step(net, x, labels, weights):
    """One training step's loss and gradients, and the weights after an SGD update."""
    loss, grads = net.loss_and_grad(x, labels, weights)
    params = {k: v.copy() for k, v in net.params.items()}
    SGD(params, lr=0.1, momentum=0.9).step(grads)
    return loss, grads, params


def _same_step(a, b, rtol=1e-10):
    return (np.isclose(a[0], b[0], rtol=rtol) and all(
        np.allclose(a[i][k], b[i][k], rtol=rtol, atol=1e-12) for i in (1, 2) for k in a[1]))


def test_a_training_step_on_the_expressions_equals_the_fast_engines(rng):
    net = UNet(depth=3, width=3, bias=True, seed=2, dtype=np.float64)
    x, labels = rng.standard_normal((2, 48, 44, 1)), rng.integers(0, 2, (2, 8, 4))
    weights = rng.uniform(0.5, 2, (2, 8, 4))
    fast_step = _step(net, x, labels, weights)
    net.engine = "apl"
    assert _same_step(_step(net, x, labels, weights), fast_step)


def test_a_training_step_on_the_loops_equals_both_on_a_tiny_net(rng):
    net = UNet(depth=2, width=2, seed=3, dtype=np.float64)
    x, labels = rng.standard_normal((1, 18, 18, 1)), rng.integers(0, 2, (1, 2, 2))
    steps = {}
    for engine in ("fast", "apl", "naive"):
        net.engine = engine
        steps[engine] = _step(net, x, labels, None)
    assert _same_step(steps["naive"], steps["fast"]) and _same_step(steps["naive"], steps["apl"])


def test_an_unknown_engine_is_refused_naming_the_three():
    with pytest.raises(ValueError, match="UNet: engine must be one of 'fast', 'apl', 'naive'; "
                                         "got 'torch'"):
        UNet(depth=2, width=2, engine="torch")
    net = UNet(depth=2, width=2)
    with pytest.raises(ValueError, match="engine must be one of"):
        net.engine = "Fast"
    assert net.engine == "fast"


def test_the_engine_is_chosen_at_load_not_saved(tmp_path):
    net = UNet(depth=2, width=2, seed=4, engine="apl")
    net.save(tmp_path / "m.npz")
    assert "engine" not in net.to_arrays()["config"].item()
    assert UNet.load(tmp_path / "m.npz").engine == "fast"
    loaded = UNet.load(tmp_path / "m.npz", engine="naive")
    assert loaded.engine == "naive" and repr(loaded).endswith("engine='naive')")
    with pytest.raises(ValueError, match="engine must be one of"):
        UNet.load(tmp_path / "m.npz", engine="gpu")


@pytest.mark.parametrize("x, error, match", [
    (np.zeros((44, 44)), RankError, r"x must have shape \(…, H, W, C\)"),
    (np.zeros((44, 44, 3), np.float32), LengthError, "channels.*in_channels=1"),
    (np.zeros((44, 44, 1)), TypeError, "x.dtype is float64 but the network's is float32"),
    (np.zeros((44, 46, 1), np.float32), DomainError, "x width 46 is not valid.*44 and 48"),
])
def test_bad_input_is_named(x, error, match):
    with pytest.raises(error, match=match):
        UNet(depth=3, width=2)(x)


# ---------------------------------------------------------------- gradients


def _loss(net, x, labels, weights):
    return net.loss(net(x), labels, weights)[0]


def _centred(f, array, direction, h=1e-6):
    array += h * direction
    up = f()
    array -= 2 * h * direction
    down = f()
    array += h * direction
    return (up - down) / (2 * h)


def _sampled_direction(rng, shape, count=6):
    d = np.zeros(shape)
    d.flat[rng.choice(d.size, min(count, d.size), replace=False)] = rng.standard_normal(min(count, d.size))
    return d


@pytest.mark.parametrize("bias", [False, True])
def test_whole_network_gradient_matches_finite_differences(bias):
    rng = np.random.default_rng(7)
    net = UNet(depth=3, width=4, bias=bias, seed=1, dtype=np.float64)
    if bias:
        for k in net.params:
            if k.endswith(".b"):
                net.params[k][:] = rng.normal(0, 0.1, net.params[k].shape)
    x = rng.standard_normal((44, 44, 1))
    labels = rng.integers(0, 2, (4, 4))
    weights = rng.uniform(0.5, 2.0, (4, 4))
    logits, tape = net.forward(x)
    _, dlogits = net.loss(logits, labels, weights)
    grads, dx = net.backward_with_input(dlogits, tape)
    assert set(grads) == set(net.params)
    f = lambda: _loss(net, x, labels, weights)  # noqa: E731
    for name, p in list(net.params.items()) + [("input", x)]:
        d = _sampled_direction(rng, p.shape)
        analytic = np.sum((dx if name == "input" else grads[name]) * d)
        np.testing.assert_allclose(_centred(f, p, d), analytic, rtol=1e-6, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("engine", ["fast", "apl", "naive"])
def test_backward_gives_every_parameter_its_shape_and_dtype(engine, rng):
    net = UNet(depth=2, width=2, bias=True, engine=engine)
    x = rng.random((1, 18, 18, 1)).astype(np.float32)
    _, grads = net.loss_and_grad(x, np.zeros((1, 2, 2), int))
    assert list(grads) == list(net.params)
    assert all(grads[k].shape == p.shape and grads[k].dtype == np.float32
               for k, p in net.params.items())


def test_loss_and_grad_equals_forward_loss_backward(rng):
    net = UNet(depth=2, width=3, dtype=np.float64)
    x, labels = rng.random((2, 22, 22, 1)), rng.integers(0, 2, (2, 6, 6))
    loss, grads = net.loss_and_grad(x, labels)
    logits, tape = net.forward(x)
    expected_loss, dlogits = net.loss(logits, labels)
    expected = net.backward(dlogits, tape)
    # to rounding: with two BLAS threads the batch is taken in halves (test_parallel.py)
    assert loss == pytest.approx(expected_loss, rel=1e-13)
    assert all(np.allclose(grads[k], expected[k], rtol=1e-12, atol=1e-15) for k in grads)


def test_unit_weights_equal_no_weights(rng):
    net = UNet(depth=2, width=3, dtype=np.float64)
    x, labels = rng.random((22, 22, 1)), rng.integers(0, 2, (6, 6))
    assert net.loss_and_grad(x, labels)[0] == pytest.approx(
        net.loss_and_grad(x, labels, np.ones((6, 6)))[0], rel=1e-14)


@pytest.mark.parametrize("labels, weights, error, match", [
    (np.full((4, 4), 2), None, DomainError, r"labels must lie in 0…1 \(classes=2\); got 2"),
    (np.zeros((5, 4), int), None, LengthError, r"labels must have the output's shape \(4, 4\)"),
    (np.zeros((4, 4)), None, TypeError, "labels must be integers"),
    (np.zeros((4, 4), int), -np.ones((4, 4)), DomainError, "weights must be finite and non-negative"),
    (np.zeros((4, 4), int), np.ones((4, 5)), LengthError, "weights must have the labels' shape"),
])
def test_bad_labels_and_weights_are_named(labels, weights, error, match):
    net = UNet(depth=3, width=2)
    with pytest.raises(error, match=match):
        net.loss_and_grad(np.zeros((44, 44, 1), np.float32), labels, weights)


# ----------------------------------------------------------------------- SGD


def test_sgd_is_momentum_then_step():
    w = {"w": np.array([1.0])}
    opt = SGD(w, lr=0.1, momentum=0.5)
    for g in (2.0, 4.0):
        opt.step({"w": np.array([g])})
    # v1 = -0.2, w = 0.8; v2 = 0.5·(-0.2) - 0.4 = -0.5, w = 0.3
    np.testing.assert_allclose(w["w"], [0.3])
    np.testing.assert_allclose(opt.velocity["w"], [-0.5])


def test_sgd_defaults_to_the_papers_momentum():
    assert SGD({}).momentum == 0.99


@pytest.mark.parametrize("kwargs, match", [({"lr": 0}, "lr must be a positive"),
                                           ({"momentum": 1.0}, r"momentum must be in \[0, 1\)")])
def test_sgd_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(DomainError, match=match):
        SGD({}, **kwargs)


def test_a_few_sgd_steps_lower_the_loss(rng):
    net = UNet(depth=2, width=4, dtype=np.float64, seed=2)
    x = rng.random((2, 26, 26, 1))
    labels = (x[:, 8:18, 8:18, 0] > 0.5).astype(int)
    opt = SGD(net.params, lr=0.1, momentum=0.9)
    first, _ = net.loss_and_grad(x, labels)
    for _ in range(40):
        loss, grads = net.loss_and_grad(x, labels)
        opt.step(grads)
    assert loss < 0.5 * first


# ------------------------------------------------------------------ save/load


def test_save_and_load_round_trip(tmp_path):
    net = UNet(depth=3, width=3, in_channels=2, classes=3, bias=True, seed=4)
    net.save(tmp_path / "m.npz")
    back = UNet.load(tmp_path / "m.npz")
    assert back.config == net.config
    assert all(np.array_equal(back.params[k], net.params[k]) and back.params[k].dtype == np.float32
               for k in net.params)


def test_a_failed_save_leaves_the_old_file_and_no_litter(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    UNet(depth=2, width=2, seed=0).save(path)
    before = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"half a file")
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        UNet(depth=2, width=2, seed=1).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def test_load_names_a_file_that_is_not_a_checkpoint(tmp_path):
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(DomainError, match=r"x\.npz: not a readable \.npz checkpoint"):
        UNet.load(tmp_path / "x.npz")


def test_load_names_a_missing_file(tmp_path):
    with pytest.raises(DomainError, match=r"nope\.npz: no such checkpoint file"):
        UNet.load(tmp_path / "nope.npz")


def test_load_rejects_an_npz_without_config(tmp_path):
    np.savez(tmp_path / "a.npz", w=np.zeros(3))
    with pytest.raises(DomainError, match=r"a\.npz: not an aplnet U-Net checkpoint"):
        UNet.load(tmp_path / "a.npz")


def test_load_rejects_parameters_of_another_architecture(tmp_path):
    arrays = UNet(depth=3, width=2).to_arrays()
    arrays["params/up0.conv0.w"] = np.zeros((3, 3, 4, 3), np.float32)
    write_npz(tmp_path / "b.npz", arrays)
    with pytest.raises(LengthError, match=r"b\.npz: parameter up0\.conv0\.w is float32\(3, 3, 4, 3\)"):
        UNet.load(tmp_path / "b.npz")


def test_load_rejects_a_missing_parameter(tmp_path):
    arrays = UNet(depth=2, width=2).to_arrays()
    del arrays["params/out.conv.w"]
    write_npz(tmp_path / "c.npz", arrays)
    with pytest.raises(LengthError, match=r"missing \['out\.conv\.w'\]"):
        UNet.load(tmp_path / "c.npz")
