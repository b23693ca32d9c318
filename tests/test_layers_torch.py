"""The layers against torch.nn.functional, forward and gradients (where torch is installed).

torch is channels-first: images are NCHW and conv kernels (K, C, kh, kw),
transposed-conv kernels (C, K, kh, kw); ours are channels-last NHWC with
kernels (kh, kw, C, K). The helpers below convert; everything is float64.
"""

import numpy as np
import pytest

from aplnet import layers

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = 1e-10


def nchw(x):
    """Our (N, H, W, C) as a torch (N, C, H, W) leaf that records its gradient."""
    return torch.tensor(np.moveaxis(x, -1, 1), dtype=torch.float64, requires_grad=True)


def nhwc(t):
    return np.moveaxis(t.detach().numpy(), 1, -1)


def leaf(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def close(ours, theirs):
    return np.allclose(ours, theirs, rtol=RTOL, atol=1e-10)


CONV_CASES = [  # (N, H, W, C, kh, kw, K, stride, pad)
    (2, 7, 6, 3, 3, 3, 4, 1, 0),
    (1, 9, 8, 2, 3, 2, 5, 2, 1),
    (3, 5, 7, 1, 1, 1, 2, 1, 0),
    (2, 12, 11, 4, 4, 3, 3, 3, 2),
    (1, 6, 6, 16, 5, 5, 8, 1, 2),
]


@pytest.mark.parametrize("n, h, w, c, kh, kw, k, stride, pad", CONV_CASES)
def test_conv_forward_and_gradients_match_torch(n, h, w, c, kh, kw, k, stride, pad, rng):
    x, kernel, b = (rng.standard_normal(s) for s in ((n, h, w, c), (kh, kw, c, k), (k,)))
    z = layers.conv(x, kernel, b, stride, pad)
    dz = rng.standard_normal(z.shape)
    tx, tw, tb = nchw(x), leaf(np.transpose(kernel, (3, 2, 0, 1))), leaf(b)
    tz = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
    tz.backward(torch.tensor(np.moveaxis(dz, -1, 1)))
    dx, dw, db = layers.conv_backward(dz, x, kernel, stride, pad)
    assert close(z, nhwc(tz))
    assert close(dx, nhwc(tx.grad))
    assert close(dw, np.transpose(tw.grad.numpy(), (2, 3, 1, 0)))
    assert close(db, tb.grad.numpy())


UPCONV_CASES = [(2, 3, 4, 3, 2, 2, 5), (1, 5, 2, 2, 3, 2, 1), (3, 2, 2, 4, 1, 1, 3)]


@pytest.mark.parametrize("n, h, w, c, kh, kw, k", UPCONV_CASES)
def test_upconv_forward_and_gradients_match_torch(n, h, w, c, kh, kw, k, rng):
    x, kernel, b = (rng.standard_normal(s) for s in ((n, h, w, c), (kh, kw, c, k), (k,)))
    y = layers.upconv(x, kernel, b)
    dy = rng.standard_normal(y.shape)
    tx, tw, tb = nchw(x), leaf(np.transpose(kernel, (2, 3, 0, 1))), leaf(b)
    ty = F.conv_transpose2d(tx, tw, tb, stride=(kh, kw))
    ty.backward(torch.tensor(np.moveaxis(dy, -1, 1)))
    dx, dw, db = layers.upconv_backward(dy, x, kernel)
    assert close(y, nhwc(ty))
    assert close(dx, nhwc(tx.grad))
    assert close(dw, np.transpose(tw.grad.numpy(), (2, 3, 0, 1)))
    assert close(db, tb.grad.numpy())


POOL_CASES = [(2, 2), (3, 2), (2, 3), (3, 3), (2, 1)]


@pytest.mark.parametrize("size, stride", POOL_CASES)
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_maxpool_forward_and_gradient_match_torch(size, stride, ties, rng):
    x = rng.integers(0, 3, (2, 7, 9, 3)).astype(float) if ties else rng.standard_normal((2, 7, 9, 3))
    y = layers.maxpool(x, size, stride)
    dy = rng.standard_normal(y.shape)
    tx = nchw(x)
    ty = F.max_pool2d(tx, size, stride)
    ty.backward(torch.tensor(np.moveaxis(dy, -1, 1)))
    assert close(y, nhwc(ty))
    assert close(layers.maxpool_backward(dy, x, size, stride), nhwc(tx.grad))


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("scale", [1.0, 1000.0], ids=["logits", "huge_logits"])
def test_softmax_cross_entropy_matches_torch(weighted, scale, rng):
    a = scale * rng.standard_normal((2, 4, 5, 3))
    labels = rng.integers(0, 3, (2, 4, 5))
    weights = rng.random((2, 4, 5)) if weighted else np.ones((2, 4, 5))
    loss, da = layers.softmax_cross_entropy(a, labels, weights if weighted else None)
    ta = nchw(a)
    per_pixel = F.cross_entropy(ta, torch.tensor(labels), reduction="none")
    tloss = (torch.tensor(weights) * per_pixel).sum() / labels.size
    tloss.backward()
    assert np.isclose(loss, tloss.item(), rtol=RTOL)
    assert close(da, nhwc(ta.grad))


def test_softmax_matches_torch(rng):
    a = 50 * rng.standard_normal((3, 4, 6))
    assert close(layers.softmax(a), torch.softmax(torch.tensor(a), dim=-1).numpy())


@pytest.mark.parametrize("ours, theirs", [
    (layers.sigmoid, torch.sigmoid),
    (layers.softplus, F.softplus),
    (layers.relu, torch.relu),
], ids=["sigmoid", "softplus", "relu"])
def test_activations_match_torch(ours, theirs, rng):
    x = 5 * rng.standard_normal((3, 4, 5))
    assert close(ours(x), theirs(torch.tensor(x)).numpy())


@pytest.mark.parametrize("ours, theirs, prepare", [
    (layers.binary_cross_entropy, F.binary_cross_entropy, torch.sigmoid),
    (layers.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, None),
    (layers.mse, F.mse_loss, None),
], ids=["bce", "bce_with_logits", "mse"])
def test_losses_and_gradients_match_torch(ours, theirs, prepare, rng):
    x, y = rng.standard_normal((4, 5)), rng.random((4, 5))
    t = leaf(x)
    inputs = prepare(t) if prepare else t
    if prepare:
        x = prepare(torch.tensor(x)).numpy()
        inputs.retain_grad()
    tloss = theirs(inputs, torch.tensor(y))
    tloss.backward()
    loss, grad = ours(x, y)
    assert np.isclose(loss, tloss.item(), rtol=RTOL)
    assert close(grad, inputs.grad.numpy())


def test_dense_and_gradients_match_torch(rng):
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    dy = rng.standard_normal((3, 2))
    tx, tw, tb = leaf(x), leaf(w.T.copy()), leaf(b)
    tz = F.linear(tx, tw, tb)
    tz.backward(torch.tensor(dy))
    dx, dw, db = layers.dense_backward(dy, x, w)
    assert close(layers.dense(x, w, b), tz.detach().numpy())
    assert close(dx, tx.grad.numpy()) and close(dw, tw.grad.numpy().T) and close(db, tb.grad.numpy())
