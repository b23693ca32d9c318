"""Training a U-Net: random tiles, augmentation, SGD with momentum, checkpoints.

A run lives in a directory: ``model.npz`` holds the network, the optimiser's
velocity, the settings and the loss history, rewritten atomically after every
epoch; ``loss.png`` charts the loss. Training is deterministic: epoch ``e``
draws its image order, tile positions and augmentations from a generator
seeded by ``(seed, e)``, so resuming from the checkpoint of epoch ``e``
repeats, bit for bit, what the uninterrupted run would have done (on the
same machine with the same number of BLAS threads, which fixes the order of
floating-point sums).

Tiles follow the paper: each training image is mirrored outward by the
network's margin, an input tile is cut at random, flipped/rotated and
elastically deformed together with its labels and weight map, and the loss
is taken on the tile's centre, where the output lies.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from .apl import DomainError, LengthError
from .data import augment, load_folder, prepare_samples, synthetic_cells, weight_map
from .intensity import METHODS, Normalization
from .masks import CLASS_ADVICE_LIMIT, MODES
from .memory import check_training_fits
from .pictures import loss_curve
from .tiling import margin
from .unet import SGD, UNet, check_input_size, output_size, read_npz, write_npz

__all__ = ["Settings", "TileSampler", "TrainingDiverged", "load_data", "train",
           "resume", "save_checkpoint", "load_checkpoint", "CHECKPOINT"]

CHECKPOINT = "model.npz"
SYNTHETIC_SIDE = 128


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN or infinite; training stopped."""


@dataclasses.dataclass
class Settings:
    """Everything that determines a training run (stored in its checkpoint).

    ``data`` is ``"synthetic"`` or a directory holding ``images/`` and
    ``masks/`` (or ``train-volume.tif`` and ``train-labels.tif``). ``size``
    is the side of the input tiles; ``images`` the count of synthetic images
    (ignored for a directory). ``w0`` and ``sigma`` shape the weight map
    (``w0 = 0`` keeps only the class balance); ``elastic`` is the standard
    deviation, in pixels, of the elastic deformation (0 turns it off).
    ``normalize`` scales the images (:mod:`aplnet.intensity`: ``percentile``,
    ``range`` or ``none``), the same way again at prediction; ``masks`` says
    how to read the labels (:mod:`aplnet.masks`: ``auto``, ``classes`` or
    ``instances``).
    """

    data: str = "synthetic"
    size: int = 124
    depth: int = 3
    width: int = 8
    epochs: int = 40
    batch: int = 4
    lr: float = 0.003
    momentum: float = 0.99
    seed: int = 0
    classes: int = 2
    images: int = 64
    w0: float = 10.0
    sigma: float = 5.0
    elastic: float = 4.0
    normalize: str = "percentile"
    masks: str = "auto"

    def check(self):
        """Self, after checking each field; DomainError names the first bad one."""
        for name in ("size", "depth", "width", "epochs", "batch", "classes", "images"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise DomainError(f"train: --{name} must be a positive integer; got {value!r}")
        if self.seed < 0:
            raise DomainError(f"train: --seed must be non-negative; got {self.seed}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise DomainError(f"train: --lr must be a positive number; got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise DomainError(f"train: --momentum must be in [0, 1); got {self.momentum}")
        if self.classes < 2:
            raise DomainError(f"train: --classes must be at least 2; got {self.classes}")
        if self.w0 < 0 or self.sigma <= 0 or self.elastic < 0:
            raise DomainError(f"train: need w0 >= 0, sigma > 0, elastic >= 0; got "
                              f"w0={self.w0}, sigma={self.sigma}, elastic={self.elastic}")
        if self.normalize not in METHODS:
            raise DomainError(f"train: --normalize must be one of {', '.join(METHODS)}; "
                              f"got {self.normalize!r}")
        if self.masks not in MODES:
            raise DomainError(f"train: --masks must be one of {', '.join(MODES)}; "
                              f"got {self.masks!r}")
        check_input_size(self.size, self.depth, "train: --size")
        return self


# ------------------------------------------------------------------ data


def load_data(settings):
    """The training samples the settings name (synthetic, or read from a directory)."""
    if settings.data == "synthetic":
        side = max(SYNTHETIC_SIDE, output_size(settings.size, settings.depth))
        return synthetic_cells(settings.images, side, settings.seed)
    root = settings.data
    if not os.path.isdir(root):
        raise DomainError(f"train: --data must be 'synthetic' or a directory; {root} is neither")
    folders = os.path.join(root, "images"), os.path.join(root, "masks")
    stacks = os.path.join(root, "train-volume.tif"), os.path.join(root, "train-labels.tif")
    for images, masks in (folders, stacks):
        if os.path.exists(images) and os.path.exists(masks):
            return load_folder(images, masks)
    raise DomainError(f"train: {root} must hold images/ and masks/ folders, or the ISBI "
                      f"stacks train-volume.tif and train-labels.tif")


def _prepare(samples, settings):
    """Normalised images, target masks, instances and log notes, as the settings say."""
    return prepare_samples(samples, Normalization(settings.normalize), settings.classes,
                           settings.masks)


def check_samples(samples, in_channels, classes):
    """Every image finite with ``in_channels`` channels, every mask labels below ``classes``."""
    for image, mask, name in zip(*samples):
        if image.shape[-1] != in_channels:
            raise LengthError(f"{name}: the image has {image.shape[-1]} channel(s) but the "
                              f"network takes {in_channels}")
        if not np.isfinite(image).all():
            raise DomainError(f"{name}: the image must be finite; got "
                              f"{int(np.sum(~np.isfinite(image)))} NaN or Inf values")
        top = int(mask.max(initial=0))
        if top >= classes:
            advice = (f"; train with --classes {top + 1}" if top < CLASS_ADVICE_LIMIT else
                      "; see aplnet.masks.mask_targets for instance masks")
            raise DomainError(f"{name}: its mask has label {top} but the network has "
                              f"classes={classes} (labels 0…{classes - 1}){advice}")


class TileSampler:
    """Random, augmented training tiles cut from mirrored images.

    Parameters
    ----------
    samples : Samples
    size : int
        Input tile side (valid for ``depth``).
    depth : int
    w0, sigma : float
        Weight-map parameters (see :func:`aplnet.data.weight_map`).
    elastic : float
        Elastic deformation's standard deviation in pixels (0: none).
    instances : list, optional
        Per image, instance labels for the weight map, or None (see
        :func:`aplnet.data.prepare_samples`).
    """

    def __init__(self, samples, size, depth, w0=10.0, sigma=5.0, elastic=4.0, instances=None):
        self.size, self.out = size, output_size(size, depth)
        self.elastic = elastic
        m = margin(depth)
        self.images, self.masks, self.weights, self.spans = [], [], [], []
        instances = [None] * len(samples.images) if instances is None else instances
        for image, mask, objects in zip(samples.images, samples.masks, instances):
            h, w = mask.shape
            pads = ((m, m + max(0, self.out - h)), (m, m + max(0, self.out - w)))
            self.images.append(np.pad(image, pads + ((0, 0),), mode="reflect"))
            self.masks.append(np.pad(mask, pads, mode="reflect"))
            self.weights.append(np.pad(weight_map(mask, w0, sigma, objects), pads,
                                       mode="reflect"))
            self.spans.append((max(0, h - self.out), max(0, w - self.out)))

    def __len__(self):
        return len(self.images)

    def tile(self, rng, i):
        """One augmented tile of image ``i``: ``(x, labels, weights)``."""
        y = int(rng.integers(self.spans[i][0] + 1))
        x = int(rng.integers(self.spans[i][1] + 1))
        window = (slice(y, y + self.size), slice(x, x + self.size))
        image, mask, weights = augment(rng, self.images[i][window], self.masks[i][window],
                                       self.weights[i][window], self.elastic)
        c = (self.size - self.out) // 2
        centre = (slice(c, c + self.out), slice(c, c + self.out))
        return image, mask[centre], weights[centre]

    def batch(self, rng, indices):
        """Tiles of the images ``indices``, stacked: ``(x, labels, weights)``."""
        tiles = [self.tile(rng, i) for i in indices]
        return tuple(np.stack(t) for t in zip(*tiles))


# ----------------------------------------------------------- checkpoints


def save_checkpoint(path, net, opt, settings, state):
    """Network, velocity, settings and progress in one .npz, written atomically."""
    arrays = net.to_arrays()
    arrays.update({f"train/velocity/{k}": v for k, v in opt.velocity.items()})
    arrays["train/settings"] = np.array(json.dumps(dataclasses.asdict(settings)))
    arrays["train/state"] = np.array(json.dumps(state))
    write_npz(path, arrays)


def load_checkpoint(path):
    """``(net, opt, settings, state)`` from a training checkpoint.

    Raises
    ------
    DomainError
        Not a checkpoint, or one without training state (a bare saved net).
    """
    arrays = read_npz(path)
    net = UNet.from_arrays(arrays, source=os.fspath(path))
    if "train/settings" not in arrays or "train/state" not in arrays:
        raise DomainError(f"{path}: holds a network but no training state; cannot resume from it")
    try:
        stored = json.loads(str(arrays["train/settings"]))
        if isinstance(stored, dict):   # runs from before normalisation was a setting
            stored.setdefault("normalize", "range")
        settings = Settings(**stored).check()
        state = json.loads(str(arrays["train/state"]))
        _check_state(state)
    except (ValueError, TypeError) as err:
        raise DomainError(f"{path}: its training settings or state are damaged "
                          f"({type(err).__name__}: {err})") from None
    opt = SGD(net.params, settings.lr, settings.momentum)
    for k in opt.velocity:
        key = f"train/velocity/{k}"
        if key not in arrays or arrays[key].shape != net.params[k].shape:
            raise DomainError(f"{path}: the optimiser state lacks {k} or has the wrong shape")
        if arrays[key].dtype != net.dtype or not np.isfinite(arrays[key]).all():
            raise DomainError(f"{path}: the optimiser state {k} is not finite {net.dtype}; "
                              f"got a damaged checkpoint")
        opt.velocity[k] = np.array(arrays[key])
    return net, opt, settings, state


def _check_state(state):
    """A checkpoint's progress record: ``epoch``, ``losses``, ``accuracy``, ``seconds``."""
    if not isinstance(state, dict):
        raise TypeError(f"the state must be a JSON object; got {type(state).__name__}")
    epoch = state.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"state['epoch'] must be a non-negative integer; got {epoch!r}")
    for key in ("losses", "accuracy"):
        if not isinstance(state.get(key), list):
            raise ValueError(f"state[{key!r}] must be a list; got {state.get(key)!r}")
    if not isinstance(state.get("seconds"), (int, float)):
        raise ValueError(f"state['seconds'] must be a number; got {state.get('seconds')!r}")


# --------------------------------------------------------------- training


def _finite(loss, grads):
    return math.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())


def _epoch(net, opt, sampler, settings, epoch, progress):
    """One pass over the images in a seeded order: per-step losses and accuracies."""
    rng = np.random.default_rng([settings.seed, epoch])
    order = rng.permutation(len(sampler))
    steps = range(0, len(order), settings.batch)
    losses, accuracies = [], []
    seen, start = 0, time.perf_counter()
    bar = tqdm(steps, desc=f"epoch {epoch}/{settings.epochs}", unit="step", file=sys.stderr,
               disable=None if progress else True, leave=False, dynamic_ncols=True)
    for step in bar:
        x, labels, weights = sampler.batch(rng, order[step:step + settings.batch])
        with np.errstate(all="ignore"):   # a non-finite loss is caught just below
            logits, tape = net.forward(x.astype(net.dtype, copy=False))
            loss, dlogits = net.loss(logits, labels, weights)
            grads = net.backward(dlogits, tape)
        if not _finite(loss, grads):
            what = "a gradient is not finite" if math.isfinite(loss) else f"the loss is {loss}"
            raise TrainingDiverged(f"epoch {epoch}, step {step // settings.batch + 1}: {what}")
        opt.step(grads)
        losses.append(loss)
        accuracies.append(float(np.mean(logits.argmax(-1) == labels)))
        seen += len(x)
        rate = seen / (time.perf_counter() - start)
        bar.set_postfix_str(f"loss {loss:.4f} acc {accuracies[-1]:.3f} {rate:.1f} img/s")
    return losses, accuracies, seen / (time.perf_counter() - start)


def _fit(net, opt, sampler, settings, state, out, log, progress):
    """Train from ``state['epoch'] + 1`` to ``settings.epochs``, checkpointing each epoch."""
    path = os.path.join(out, CHECKPOINT)
    for epoch in range(state["epoch"] + 1, settings.epochs + 1):
        start = time.perf_counter()
        try:
            losses, accuracies, rate = _epoch(net, opt, sampler, settings, epoch, progress)
        except TrainingDiverged as err:
            kept = (f"the last good checkpoint, epoch {state['epoch']}, is {path}"
                    if state["epoch"] else "no checkpoint was written")
            raise TrainingDiverged(f"training stopped: {err}; {kept}. Try a smaller --lr "
                                   f"(now {settings.lr}).") from None
        state = {"epoch": epoch, "losses": state["losses"] + losses,
                 "accuracy": state["accuracy"] + [float(np.mean(accuracies))],
                 "seconds": state["seconds"] + time.perf_counter() - start}
        save_checkpoint(path, net, opt, settings, state)
        loss_curve(state["losses"], -(-len(sampler) // settings.batch),
                   title="training loss per step").save(os.path.join(out, "loss.png"))
        log(f"epoch {epoch}/{settings.epochs}  loss {np.mean(losses):.4f}  "
            f"acc {np.mean(accuracies):.3f}  {rate:.1f} img/s  -> {path}")
    return state


def train(settings, out, log=print, progress=None, samples=None):
    """Train a new U-Net as ``settings`` say, writing the run to directory ``out``.

    Parameters
    ----------
    settings : Settings
    out : str
        Run directory (created); ``out/model.npz`` and ``out/loss.png`` are
        rewritten after each epoch.
    log : callable
        Receives one summary line per epoch.
    progress : bool or None
        Progress bar on stderr: True, False, or None (only on a terminal).
    samples : Samples, optional
        Training data to use instead of loading ``settings.data``.

    Returns
    -------
    net : UNet
    state : dict
        ``epoch``, per-step ``losses``, per-epoch ``accuracy``, ``seconds``.

    Raises
    ------
    DomainError, LengthError
        Bad settings or data (messages name the option or the file), or a
        step that memory cannot hold (checked before anything is allocated;
        the message gives the estimate of :mod:`aplnet.memory` and the
        memory available).
    TrainingDiverged
        The loss became NaN or infinite; the last good checkpoint is kept.
    """
    settings.check()
    # before the data is made or read: the input's channels barely move the estimate
    check_training_fits({"depth": settings.depth, "width": settings.width,
                         "classes": settings.classes}, settings.size, settings.batch)
    samples = load_data(settings) if samples is None else samples
    if len(samples.images) == 0:
        raise DomainError("train: no training images")
    samples, instances, notes = _prepare(samples, settings)
    in_channels = samples.images[0].shape[-1]
    check_samples(samples, in_channels, settings.classes)
    net = UNet(settings.depth, settings.width, in_channels, settings.classes, seed=settings.seed)
    net.normalization = Normalization(settings.normalize)
    opt = SGD(net.params, settings.lr, settings.momentum)
    sampler = TileSampler(samples, settings.size, settings.depth, settings.w0, settings.sigma,
                          settings.elastic, instances)
    os.makedirs(out, exist_ok=True)
    for note in notes:
        log(note)
    state = {"epoch": 0, "losses": [], "accuracy": [], "seconds": 0.0}
    log(f"training {net!r}: {net.n_params:,} parameters, {len(sampler)} images, "
        f"tiles {settings.size} -> {sampler.out}, {settings.epochs} epochs of "
        f"{-(-len(sampler) // settings.batch)} steps")
    return net, _fit(net, opt, sampler, settings, state, out, log, progress)


def resume(out, changes=None, log=print, progress=None):
    """Continue the run in directory ``out`` from its last checkpoint.

    Parameters
    ----------
    out : str
        A run directory written by :func:`train`.
    changes : dict, optional
        Settings given again; only ``epochs`` may differ from the run's
        (to train longer), any other difference is an error.

    Returns
    -------
    net, state
        As :func:`train`.
    """
    net, opt, settings, state = load_checkpoint(os.path.join(out, CHECKPOINT))
    for name, value in (changes or {}).items():
        if name != "epochs" and value != getattr(settings, name):
            raise DomainError(f"train --resume: --{name} {value} differs from the run's "
                              f"{getattr(settings, name)}; a resumed run keeps its settings "
                              f"(only --epochs may change)")
    if changes and "epochs" in changes:
        settings = dataclasses.replace(settings, epochs=changes["epochs"])
    settings.check()
    check_training_fits(net, settings.size, settings.batch)
    samples, instances, notes = _prepare(load_data(settings), settings)
    check_samples(samples, net.in_channels, net.classes)
    sampler = TileSampler(samples, settings.size, settings.depth, settings.w0, settings.sigma,
                          settings.elastic, instances)
    if state["epoch"] >= settings.epochs:
        log(f"{out}: already trained for {state['epoch']} of {settings.epochs} epochs; "
            f"pass a larger --epochs to continue")
        return net, state
    log(f"resuming {out} at epoch {state['epoch'] + 1} of {settings.epochs}")
    return net, _fit(net, opt, sampler, settings, state, out, log, progress)
