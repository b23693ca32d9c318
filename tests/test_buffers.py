"""aplnet.buffers: a kept buffer is never handed out while any array still reads it."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aplnet import fast
from aplnet.fast import buffers
from aplnet.unet import UNet

KB = 1 << 10


@pytest.fixture(autouse=True)
def empty_pool():
    buffers.clear()
    yield
    buffers.clear()


def test_a_dropped_buffer_is_reused_and_a_held_one_is_not():
    a = buffers.empty((100, KB), np.float32)
    address = a.ctypes.data
    b = buffers.empty((100, KB), np.float32)
    assert not np.shares_memory(a, b)
    del a
    c = buffers.empty((50, KB), np.float64)      # the same bytes, another shape and dtype
    assert c.ctypes.data == address and c.shape == (50, KB) and c.dtype == np.float64
    assert isinstance(c.base, np.ndarray)


@pytest.mark.parametrize("keep", [
    lambda a: a[::2],
    lambda a: a.T,
    lambda a: a.reshape(-1),
    lambda a: a.view(np.int32),
    lambda a: a[3],
    lambda a: memoryview(a),
])
def test_a_view_of_the_array_keeps_its_buffer(keep):
    a = buffers.empty((100, KB), np.float32)
    a.fill(7)
    view = keep(a)
    del a
    b = buffers.empty((100, KB), np.float32)
    b.fill(-1)
    assert (np.asarray(view).view(np.float32) == 7).all()


def test_sizes_outside_the_range_and_object_arrays_are_plain_numpy():
    small = buffers.empty(buffers._LEAST_BYTES // 8 - 1)
    large = buffers.empty(buffers._MOST_BYTES // 8 + 1)
    objects = buffers.empty(buffers._LEAST_BYTES, object)
    assert small.base is None and large.base is None and objects.base is None
    assert buffers.held()[0] == 0


def test_zeros_are_zero_in_a_used_buffer():
    a = buffers.empty(100 * KB, np.float32)
    a.fill(np.nan)
    del a
    z = buffers.zeros((10, 10 * KB), np.float32)
    assert not z.any()


def test_past_the_cap_idle_buffers_go_first_then_requests_are_plain(monkeypatch):
    monkeypatch.setattr(buffers, "_CAP_BYTES", 1024 * KB)
    a = buffers.empty(256 * KB, np.uint8)
    idle = buffers.empty(256 * KB, np.uint8)
    del idle
    assert buffers.held() == (2, 512 * KB, 256 * KB)
    b = buffers.empty(640 * KB, np.uint8)          # too big for the idle one; fits once it goes
    assert buffers.held() == (2, 896 * KB, 0)
    c = buffers.empty(256 * KB, np.uint8)          # nothing idle to drop: plain numpy
    assert c.base is None and buffers.held() == (2, 896 * KB, 0)
    assert not np.shares_memory(a, b)


def test_clear_keeps_the_buffers_in_use():
    a = buffers.empty(256 * KB, np.uint8)
    b = buffers.empty(256 * KB, np.uint8)
    del b
    buffers.clear()
    assert buffers.held() == (1, 256 * KB, 0)
    a[:] = 1


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5), st.integers(1, 300)),
                min_size=1, max_size=40))
def test_no_two_live_arrays_share_memory(ops):
    """Random requests and drops: every live array keeps the value written into it."""
    live = []
    for n, (drop, which, kb) in enumerate(ops):
        if drop and live:
            live.pop(which % len(live))
        else:
            a = buffers.empty(kb * KB // 4, np.float32)
            a.fill(n)
            live.append((n, a))
        for value, array in live:
            assert (array == value).all()
    arrays = [a for _, a in live]
    for i, a in enumerate(arrays):
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)


def test_threads_get_distinct_buffers():
    """Four threads asking at once; a race the lock prevents (a switch between
    finding a buffer idle and viewing it) is rare, so this is a smoke test."""
    got, barrier = [], threading.Barrier(4)

    def take():
        barrier.wait()
        for _ in range(200):
            a = buffers.empty(128 * KB, np.uint8)
            a.fill(threading.get_ident() % 251)
            mine = a[0]
            assert (a == mine).all()
        got.append(a)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4
    assert not any(np.shares_memory(a, b) for i, a in enumerate(got) for b in got[i + 1:])


def test_a_training_step_keeps_no_buffer_beyond_its_calls():
    """Only scratch comes from the pool: the tape, logits and gradients hold none of it."""
    net = UNet(depth=3, width=8, dtype=np.float32, seed=0)
    x = np.random.default_rng(0).standard_normal((1, 92, 92, 1)).astype(np.float32)
    logits, tape = net.forward(x)
    kept = dict(tape)                       # backward empties the tape as it goes
    grads = net.backward(np.ones_like(logits), tape)
    count, held, idle = buffers.held()
    assert count > 0 and idle == held
    assert grads and kept and not tape


def test_a_new_buffer_takes_the_place_of_smaller_idle_ones():
    for kb in range(64, 8 * 1024 + 1, 256):            # one at a time, each dropped
        a = buffers.empty(kb * KB, np.uint8)
        del a
    assert buffers.held()[0] == 1


def _every_road(rng):
    """Each layer road that takes scratch from the pool, with its inputs."""
    def r(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    x, odd, w = r(2, 30, 30, 16), r(2, 31, 31, 16), r(3, 3, 16, 8)
    wide, wide_w = r(22, 22, 128), r(3, 3, 128, 128)        # Winograd: 20x20 output tiles
    deep, deep_w = r(12, 12, 256), r(3, 3, 256, 256)        # the input gradient tap by tap
    pooled, up_w, plane_k = r(30, 30, 8), r(2, 2, 8, 4), r(3, 3)
    return [
        lambda: fast.conv(x, w),                                   # rows
        lambda: fast.conv(odd, w, stride=2, pad=1),                # windows, padded
        lambda: fast.conv(x[..., :1], w[:, :, :1]),                # one channel
        lambda: fast.conv_backward(fast.conv(x, w), x, w),
        lambda: fast.conv_backward(fast.conv(odd, w, stride=2), odd, w, stride=2),
        lambda: fast.conv(wide, wide_w),
        lambda: fast.conv_backward(fast.conv(wide, wide_w), wide, wide_w),
        lambda: fast.conv_backward(fast.conv(deep, deep_w), deep, deep_w),
        lambda: fast.maxpool_backward(fast.maxpool(pooled), pooled),
        lambda: fast.upconv(pooled, up_w),
        lambda: fast.correlate_valid(pooled[..., :1], plane_k[:, :, None, None]),  # one channel
    ]


def test_no_layer_result_holds_a_kept_buffer_and_each_survives_later_calls():
    roads = _every_road(np.random.default_rng(0))
    results = [road() for road in roads]
    count, held, idle = buffers.held()
    assert count > 0 and idle == held                  # the results hold none of it
    again = [road() for road in roads]                 # reusing every buffer
    for first, second in zip(results, again):
        for a, b in zip(*(r if isinstance(r, tuple) else (r,) for r in (first, second))):
            np.testing.assert_array_equal(a, b)
