"""aplnet against PyTorch on real nuclei: the same network, batches, loss and steps (issue 18, item 7).

    python benchmarks/real_nuclei.py                  # needs stardist and torch (.[test,torch])
    python benchmarks/real_nuclei.py --seed 1 --threads 1

stardist's shipped image and instance mask are cut as in
``tests/test_real_nuclei.py`` (64x64 16-bit TIFF tiles, the right quarter
held out). aplnet trains with :func:`aplnet.train.train` and the default
settings (biases, lr 0.001, momentum 0.99, a constant rate, 120 epochs,
each epoch as many tiles as cover the training pixels once); ``--epochs``
and ``--seed`` change only those two. PyTorch then trains the same network
(:func:`aplnet.interop.to_torch` of a U-Net made as training makes it:
valid convolutions, biases, the same initial weights) on exactly the
batches aplnet's epochs took — :func:`aplnet.train.epoch_batches`, which
``train`` itself steps through, so the same crops, flips, elastic
deformations and weight maps — with the same weighted cross-entropy (the
sum over the batch's output pixels of weight times cross-entropy, over
their count) and ``torch.optim.SGD`` with the same rate and momentum
(``v ← μv + g, W ← W − ηv``: aplnet's ``v ← μv − ηg, W ← W + v`` under a
constant rate). Its weights come back with :func:`aplnet.interop.from_torch`
and both networks are scored by the same overlap-tile prediction: the
held-out Dice of the foreground.

Printed per side: the training time, the held-out Dice, and the mean
loss of the first, middle and last epoch and of the worst; then the
first epochs' mean losses side by side and the first epoch at which they
part by more than 1e-4 relative. ``--threads`` sets both sides' threads
(PyTorch's, and the BLAS's numpy uses, through threadpoolctl).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import _env  # noqa: E402
from test_real_nuclei import cut_into_tiles, dice  # noqa: E402

from aplnet.data import prepare_samples, read_image, read_mask  # noqa: E402
from aplnet.intensity import Normalization  # noqa: E402
from aplnet.tiling import segment  # noqa: E402
from aplnet.train import (Settings, TileSampler, epoch_batches, epoch_steps,  # noqa: E402
                          load_data, train)
from aplnet.unet import UNet  # noqa: E402
from aplnet.validation import learning_rate  # noqa: E402

AGREEMENT = 1e-4
"""Relative difference of two epoch-mean losses below which they are said to agree."""
SHOWN_EPOCHS = 3


def held_out_dice(net, held_dir):
    """Foreground Dice of ``net``'s overlap-tile prediction on the held-out tiles, pooled."""
    predicted, truth = [], []
    for name in sorted(os.listdir(os.path.join(held_dir, "images"))):
        image, = read_image(os.path.join(held_dir, "images", name))
        predicted.append(segment(net, net.normalization(image, name)))
        truth.append(read_mask(os.path.join(held_dir, "masks", name))[0])
    return dice(np.stack(predicted), np.stack(truth))


def training_sampler(settings):
    """The :class:`TileSampler` :func:`aplnet.train.train` builds for ``settings`` (no held-out images)."""
    samples, instances, _ = prepare_samples(load_data(settings), Normalization(settings.normalize),
                                            settings.classes, settings.masks)
    return TileSampler(samples, settings.size, settings.depth, settings.w0, settings.sigma,
                       settings.elastic, instances)


def train_torch(settings, threads=1):
    """aplnet's training steps taken by PyTorch: ``(net, losses)``, the net an aplnet UNet.

    The sampler, the initial weights and the batches are those of
    :func:`aplnet.train.train` with the same ``settings``; ``losses`` holds
    each step's weighted loss, as ``train``'s ``state["losses"]`` does.
    """
    import torch
    from torch.nn import functional as F

    from aplnet.interop import from_torch, to_torch

    torch.set_num_threads(threads)
    sampler = training_sampler(settings)
    net = UNet(settings.depth, settings.width, sampler.images[0].shape[-1], settings.classes,
               bias=settings.bias, seed=settings.seed)
    model = to_torch(net)
    dtype = getattr(torch, net.dtype.name)
    opt = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    losses = []
    for epoch in range(1, settings.epochs + 1):
        for group in opt.param_groups:
            group["lr"] = learning_rate(settings.lr_schedule, settings.lr, epoch, settings.epochs)
        for x, labels, weights in epoch_batches(sampler, settings, epoch):
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(dtype)
            yt = torch.from_numpy(labels.astype(np.int64))
            wt = torch.from_numpy(weights).to(dtype)
            opt.zero_grad(set_to_none=True)
            loss = (F.cross_entropy(model(xt), yt, reduction="none") * wt).sum() / yt.numel()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    trained = from_torch(model)
    trained.normalization = Normalization(settings.normalize)
    return trained, losses


def epoch_means(losses, steps_per_epoch):
    """The mean loss of each epoch."""
    return [float(np.mean(losses[i:i + steps_per_epoch]))
            for i in range(0, len(losses), steps_per_epoch)]


def loss_summary(means):
    """The mean loss of the first, middle and last epoch, and the largest epoch mean."""
    return (f"epoch losses first {means[0]:.3f}, middle {means[len(means) // 2]:.3f}, "
            f"last {means[-1]:.3f}, largest {max(means):.3f}")


def first_parting(a, b, tolerance=AGREEMENT):
    """The first epoch (1, 2, …) whose means differ by more than ``tolerance`` relative, or None.

    >>> first_parting([1.0, 0.5, 0.4], [1.00001, 0.5001, 0.3])
    2
    >>> first_parting([1.0], [1.0]) is None
    True
    """
    for epoch, (x, y) in enumerate(zip(a, b), 1):
        if abs(x - y) > tolerance * max(abs(x), abs(y)):
            return epoch
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=Settings().epochs)
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of each side: PyTorch's and numpy's BLAS (default 1)")
    args = parser.parse_args()
    if args.epochs < 1 or args.seed < 0 or args.threads < 1:
        parser.error(f"need --epochs >= 1, --seed >= 0, --threads >= 1; got {args.epochs}, "
                     f"{args.seed}, {args.threads}")
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads, user_api="blas")
    print(f"environment: {_env.environment_report()}; torch threads {args.threads}", flush=True)
    root = tempfile.mkdtemp(prefix="aplnet-nuclei-")
    train_dir, held_dir = cut_into_tiles(root)
    settings = dataclasses.replace(Settings(data=train_dir), epochs=args.epochs, seed=args.seed)
    start = time.perf_counter()
    net, state = train(settings, os.path.join(root, "run"), log=lambda line: None,
                       progress=False)
    seconds = time.perf_counter() - start
    steps = epoch_steps(training_sampler(settings), settings)
    ours = epoch_means(state["losses"], steps)
    print(f"aplnet   {settings.epochs} epochs of {steps} steps, seed {settings.seed}: "
          f"{seconds:5.0f} s, held-out Dice {held_out_dice(net, held_dir):.3f}; "
          f"{loss_summary(ours)}", flush=True)
    start = time.perf_counter()
    net, losses = train_torch(settings, args.threads)
    seconds = time.perf_counter() - start
    theirs = epoch_means(losses, steps)
    print(f"PyTorch  {settings.epochs} epochs of {steps} steps, seed {settings.seed}: "
          f"{seconds:5.0f} s, held-out Dice {held_out_dice(net, held_dir):.3f}; "
          f"{loss_summary(theirs)}")
    for epoch in range(min(SHOWN_EPOCHS, settings.epochs)):
        print(f"epoch {epoch + 1} mean loss: aplnet {ours[epoch]:.7f}  PyTorch {theirs[epoch]:.7f}")
    parting = first_parting(ours, theirs)
    print(f"epoch means agree within {AGREEMENT:g} relative "
          + ("throughout" if parting is None else f"until epoch {parting} "
             f"(aplnet {ours[parting - 1]:.6f}, PyTorch {theirs[parting - 1]:.6f})"))


if __name__ == "__main__":
    main()
