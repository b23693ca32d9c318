"""aplnet.interop against PyTorch: the same logits, the same gradients, an exact round trip."""

import numpy as np
import pytest

from aplnet import UNet
from aplnet.apl import LengthError

torch = pytest.importorskip("torch")
interop = pytest.importorskip("aplnet.interop")
F = torch.nn.functional

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def batch(net, size, n, rng):
    x = rng.standard_normal((n, size, size, net.in_channels)).astype(net.dtype)
    out = net.output_size(size)
    labels = rng.integers(0, net.classes, (n, out, out))
    weights = rng.uniform(0.5, 2.0, (n, out, out)).astype(net.dtype)
    return x, labels, weights


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def relative_error(ours, theirs):
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("depth, width, size, bias, classes, channels",
                         [(2, 2, 20, False, 2, 1), (3, 3, 48, True, 3, 2), (1, 2, 7, True, 2, 1)])
def test_logits_equal_torch(dtype, depth, width, size, bias, classes, channels, rng):
    net = UNet(depth=depth, width=width, bias=bias, classes=classes, in_channels=channels,
               seed=1, dtype=dtype)
    if bias:   # the biases start at zero: make them count
        for k in net.params:
            if k.endswith(".b"):
                net.params[k][...] = rng.standard_normal(net.params[k].shape)
    x, _, _ = batch(net, size, 2, rng)
    module = interop.to_torch(net)
    logits = module(nchw(x)).detach().numpy().transpose(0, 2, 3, 1)
    assert logits.dtype == dtype
    assert relative_error(net(x), logits) < TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_training_step_gives_torch_gradients(dtype, rng):
    net = UNet(depth=3, width=2, bias=True, seed=2, dtype=dtype)
    x, labels, weights = batch(net, 44, 2, rng)
    module = interop.to_torch(net)
    loss, grads = net.loss_and_grad(x, labels, weights)
    tloss = (F.cross_entropy(module(nchw(x)), torch.from_numpy(labels), reduction="none")
             * torch.from_numpy(weights)).sum() / labels.size
    tloss.backward()
    assert abs(loss - float(tloss.detach())) <= 10 * TOLERANCE[dtype] * abs(loss)
    back = interop.from_torch({k: p.grad for k, p in module.named_parameters()},
                              **{k: net.config[k] for k in ("depth", "width", "bias", "dtype")})
    for name, grad in grads.items():
        assert relative_error(grad, back.params[name]) < 10 * TOLERANCE[dtype], name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_exact(dtype):
    net = UNet(depth=3, width=3, bias=True, classes=3, seed=4, dtype=dtype)
    module = interop.to_torch(net)
    for back in (UNet.from_torch(module), UNet.from_torch(module.state_dict()),
                 interop.from_torch({k: v.numpy() for k, v in module.state_dict().items()})):
        assert back.config["dtype"] == net.config["dtype"]
        assert back.params.keys() == net.params.keys()
        for k, v in net.params.items():
            assert back.params[k].dtype == v.dtype and np.array_equal(back.params[k], v), k


def test_training_continued_in_torch_comes_back(rng):
    net = UNet(depth=2, width=2, seed=0)
    x, labels, weights = batch(net, 20, 1, rng)
    module = interop.to_torch(net)
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    loss = F.cross_entropy(module(nchw(x)), torch.from_numpy(labels))
    loss.backward()
    opt.step()
    back = UNet.from_torch(module)
    assert not np.array_equal(back.params["down0.conv0.w"], net.params["down0.conv0.w"])
    logits = module(nchw(x)).detach().numpy().transpose(0, 2, 3, 1)
    assert relative_error(back(x), logits) < 1e-5


def test_the_weights_are_copies():
    net = UNet(depth=2, width=2, seed=0)
    module = interop.to_torch(net)
    with torch.no_grad():
        module.layers["down0"]["conv0"].weight.add_(1)
    assert not np.shares_memory(UNet.from_torch(module).params["out.conv.w"],
                                module.layers["out"]["conv"].weight.detach().numpy())
    assert np.array_equal(interop.to_torch(net).layers["down0"]["conv0"].weight.detach().numpy(),
                          net.params["down0.conv0.w"].transpose(3, 2, 0, 1))


def other_architectures():
    net = UNet(depth=3, width=4, bias=True)
    good = interop.state_dict(net)
    wrong_shape = dict(good, **{"up1.conv0.weight": np.zeros((8, 8, 3, 3), np.float32)})
    missing = {k: v for k, v in good.items() if k != "bottom.conv1.bias"}
    extra = dict(good, **{"bn.running_mean": np.zeros(4, np.float32)})
    resnet = {"conv1.weight": np.zeros((64, 3, 7, 7), np.float32),
              "fc.weight": np.zeros((10, 64), np.float32)}
    return [(wrong_shape, "'up1.conv0.weight' has shape (8, 8, 3, 3)", "(8, 16, 3, 3)"),
            (missing, "'bottom.conv1.bias' (shape (16,)) is missing", "depth=3"),
            (extra, "unexpected key 'bn.running_mean' (shape (4,))", "width=4"),
            (resnet, "no key 'down0.conv0.weight'", "'conv1.weight' of shape (64, 3, 7, 7)")]


@pytest.mark.parametrize("index", range(4))
def test_another_architecture_is_refused_naming_the_first_mismatch(index):
    states, says, shape = other_architectures()[index]
    with pytest.raises(LengthError) as err:
        UNet.from_torch(states)
    message = str(err.value)
    assert says in message and shape in message and "\n" not in message


def test_a_given_architecture_must_match_the_weights():
    states = interop.state_dict(UNet(depth=2, width=2))
    with pytest.raises(LengthError, match="'down0.conv0.weight' has shape \\(2, 1, 3, 3\\) but"):
        UNet.from_torch(states, width=4)
