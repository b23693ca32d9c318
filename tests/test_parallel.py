"""aplnet.parallel and UNet.loss_and_grad in halves: the batch's loss and gradients, to rounding."""

import threading

import numpy as np
import pytest

from aplnet import fast, parallel
from aplnet.apl import DomainError
from aplnet.unet import UNet


def batch(n, net, size=44, seed=0):
    rng = np.random.default_rng(seed)
    out = net.output_size(size)
    x = rng.standard_normal((n, size, size, 1)).astype(net.dtype)
    return x, rng.integers(0, 2, (n, out, out)), rng.uniform(0.5, 2, (n, out, out))


@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("bias", [False, True])
def test_halves_give_the_whole_batchs_loss_gradients_and_logits(monkeypatch, n, bias):
    net = UNet(depth=3, width=4, bias=bias, seed=1, dtype=np.float64)
    x, labels, weights = batch(n, net)
    logits, tape = net.forward(x)
    want_loss, dlogits = net.loss(logits, labels, weights)
    want = net.backward(dlogits, tape)
    monkeypatch.setattr(parallel, "blas_threads", lambda: 2)
    calls = []
    real = parallel.both_halves
    monkeypatch.setattr(parallel, "both_halves", lambda *a: calls.append(1) or real(*a))
    loss, grads, got_logits = net.loss_and_grad(x, labels, weights, with_logits=True)
    assert calls == [1]
    assert loss == pytest.approx(want_loss, rel=1e-12)
    assert np.allclose(got_logits, logits, rtol=1e-12, atol=1e-12)
    assert grads.keys() == want.keys()
    for name in want:
        assert grads[name].dtype == want[name].dtype
        assert np.allclose(grads[name], want[name], rtol=1e-10, atol=1e-13), name


def test_one_image_or_one_thread_is_computed_whole(monkeypatch):
    net = UNet(depth=2, width=2, seed=0)
    x, labels, _ = batch(2, net, size=20)
    monkeypatch.setattr(parallel, "both_halves", lambda *a: pytest.fail("split"))
    monkeypatch.setattr(parallel, "blas_threads", lambda: 1)
    net.loss_and_grad(x, labels)
    monkeypatch.setattr(parallel, "blas_threads", lambda: 2)
    net.loss_and_grad(x[:1], labels[:1])
    net.loss_and_grad(x[0], labels[0])
    UNet(depth=2, width=2, seed=0, engine="apl").loss_and_grad(x, labels)


def test_bad_input_is_named_for_the_whole_batch(monkeypatch):
    monkeypatch.setattr(parallel, "blas_threads", lambda: 2)
    net = UNet(depth=2, width=2, seed=0)
    x, labels, _ = batch(4, net, size=20)
    x[3, 5, 6, 0] = np.nan
    with pytest.raises(DomainError, match=r"x must be finite; got nan at index \(3, 5, 6, 0\)"):
        net.loss_and_grad(x, labels)
    with pytest.raises(DomainError, match=r"labels must lie in 0…1"):
        net.loss_and_grad(x[:2], labels[:2] + 1)


def test_both_halves_carries_the_context_and_raises_a_halfs_error():
    def road(_):
        return fast.choose("correlate", (40, 40, 4), (3, 3, 4, 4), 1, np.float64)
    with fast.using("windows"):
        assert parallel.both_halves(road, (0,), (1,)) == ("windows", "windows")

    def fails(i):
        if i == 1:
            raise ValueError("second half")
        return i
    with pytest.raises(ValueError, match="second half"):
        parallel.both_halves(fails, (0,), (1,))
    assert parallel.both_halves(fails, (0,), (2,)) == (0, 2)     # the pool still works


def test_a_call_that_comes_while_halves_run_is_computed_here():
    started, release, threads = threading.Event(), threading.Event(), []

    def slow(i):
        threads.append((i, threading.current_thread().name))
        if i == 0:
            started.set()
            release.wait(10)
        return i

    outer = threading.Thread(target=parallel.both_halves, args=(slow, (0,), (9,)))
    outer.start()
    started.wait(10)
    assert parallel.both_halves(slow, (1,), (2,)) == (1, 2)
    here = threading.current_thread().name
    assert [t for i, t in threads if i in (1, 2)] == [here, here]
    release.set()
    outer.join(10)


def test_the_forward_pass_in_halves_gives_the_whole_batchs_logits(monkeypatch):
    net = UNet(depth=3, width=4, bias=True, seed=2, dtype=np.float64)
    x, _, _ = batch(3, net)
    want = net.forward(x)[0]
    monkeypatch.setattr(parallel, "blas_threads", lambda: 2)
    calls = []
    real = parallel.both_halves
    monkeypatch.setattr(parallel, "both_halves", lambda *a: calls.append(1) or real(*a))
    got = net(x)
    assert calls == [1] and got.shape == want.shape
    assert np.allclose(got, want, rtol=1e-12, atol=1e-13)
