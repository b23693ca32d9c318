"""aplnet against PyTorch on real nuclei: the same network, tiles and steps (issue 18, item 7).

    python benchmarks/real_nuclei.py                  # needs stardist and torch (.[test,torch])
    python benchmarks/real_nuclei.py --epochs 80

stardist's shipped image and instance mask are cut as in
``tests/test_real_nuclei.py`` (64x64 16-bit TIFF tiles, the right quarter
held out). aplnet trains with ``aplnet.train.train`` and the default
settings but ``bias=False`` (``--no-bias``), since the benchmarks' model
has no biases. PyTorch trains the benchmarks' model of the same network
(``unet_step.torch_model``: valid convolutions, no bias, the same initial
weights) on exactly the tiles aplnet's epochs draw — the same
:class:`aplnet.train.TileSampler`, seeded per epoch as training seeds it,
so the same crops, flips and elastic deformations and the same weight maps
— with the same weighted cross-entropy and SGD with momentum. Its weights
are then copied back into an aplnet U-Net, and both are scored by the same
overlap-tile prediction: held-out Dice of the foreground.
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

from test_real_nuclei import cut_into_tiles, dice  # noqa: E402
from unet_step import torch_model  # noqa: E402

from aplnet.data import prepare_samples, read_image, read_mask  # noqa: E402
from aplnet.intensity import Normalization  # noqa: E402
from aplnet.tiling import segment  # noqa: E402
from aplnet.train import Settings, TileSampler, load_data, train  # noqa: E402
from aplnet.unet import UNet  # noqa: E402


def held_out_dice(net, held_dir):
    predicted, truth = [], []
    for name in sorted(os.listdir(os.path.join(held_dir, "images"))):
        image, = read_image(os.path.join(held_dir, "images", name))
        predicted.append(segment(net, net.normalization(image, name)))
        truth.append(read_mask(os.path.join(held_dir, "masks", name))[0])
    return dice(np.stack(predicted), np.stack(truth))


def train_torch(settings, threads):
    """The same steps as aplnet's training, taken by PyTorch; the result as an aplnet UNet."""
    import torch
    from torch.nn import functional as F
    torch.set_num_threads(threads)
    samples, instances, _ = prepare_samples(load_data(settings), Normalization(settings.normalize),
                                            settings.classes, settings.masks)
    sampler = TileSampler(samples, settings.size, settings.depth, settings.w0, settings.sigma,
                          settings.elastic, instances)
    net = UNet(settings.depth, settings.width, 1, settings.classes, bias=settings.bias,
               seed=settings.seed)
    net.normalization = Normalization(settings.normalize)
    model = torch_model(net)
    opt = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    losses = []
    for epoch in range(1, settings.epochs + 1):
        rng = np.random.default_rng([settings.seed, epoch])
        order = rng.permutation(len(sampler))
        for step in range(0, len(order), settings.batch):
            x, labels, weights = sampler.batch(rng, order[step:step + settings.batch])
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            yt, wt = torch.from_numpy(labels.astype(np.int64)), torch.from_numpy(weights)
            opt.zero_grad(set_to_none=True)
            loss = (F.cross_entropy(model(xt), yt, reduction="none") * wt).sum() / yt.numel()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    for name, kind, _ in net.layout():
        w = model.w[name.replace(".", "_")].detach().numpy()
        back = (2, 3, 0, 1) if kind == "upconv" else (2, 3, 1, 0)
        net.params[name + ".w"] = np.ascontiguousarray(w.transpose(back))
    return net, losses


def loss_summary(losses, steps_per_epoch):
    """The mean loss of the first, middle and last epoch, and the largest epoch mean."""
    means = [float(np.mean(losses[i:i + steps_per_epoch]))
             for i in range(0, len(losses), steps_per_epoch)]
    return (f"epoch losses first {means[0]:.3f}, middle {means[len(means) // 2]:.3f}, "
            f"last {means[-1]:.3f}, largest {max(means):.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=Settings().epochs)
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads (default 1)")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="aplnet-nuclei-")
    train_dir, held_dir = cut_into_tiles(root)
    settings = dataclasses.replace(Settings(data=train_dir), epochs=args.epochs, bias=False)
    start = time.perf_counter()
    net, state = train(settings, os.path.join(root, "run"), log=lambda line: None,
                       progress=False)
    seconds = time.perf_counter() - start
    steps = len(state["losses"]) // settings.epochs
    print(f"aplnet   {settings.epochs} epochs: {seconds:5.0f} s, held-out Dice "
          f"{held_out_dice(net, held_dir):.3f}; {loss_summary(state['losses'], steps)}")
    start = time.perf_counter()
    net, losses = train_torch(settings, args.threads)
    seconds = time.perf_counter() - start
    print(f"PyTorch  {settings.epochs} epochs: {seconds:5.0f} s, held-out Dice "
          f"{held_out_dice(net, held_dir):.3f}; {loss_summary(losses, steps)}")


if __name__ == "__main__":
    main()
