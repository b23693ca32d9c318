"""Training a U-Net: random tiles, augmentation, SGD with momentum, checkpoints.

A run lives in a directory: ``model.npz`` holds the network, the optimiser's
velocity, the settings and the loss history, rewritten atomically after every
epoch; ``loss.png`` charts the loss. With held-out images (``val`` or
``val_split``) each epoch ends with their foreground IoU and Dice, and
``best.npz`` keeps the epoch of the best Dice so far; ``patience`` stops the
run after that many epochs without a better one. Training is deterministic:
epoch ``e`` draws its tiles and augmentations from a generator seeded by
``(seed, e)``, so resuming from the checkpoint of epoch ``e`` repeats, bit
for bit, what the uninterrupted run would have done (on the same machine
with the same number of BLAS threads, which fixes the order of
floating-point sums).

Tiles follow the paper: each training image is mirrored outward by the
network's margin, an input tile is cut at random, flipped/rotated and
elastically deformed together with its labels and weight map, and the loss
is taken on the tile's centre, where the output lies. A tile is drawn
uniformly from all the tile positions of all the images, so each image is
drawn in proportion to its area: a few large images train as many small
ones do. An epoch is ``steps_per_epoch`` steps, by default as many as cover
the training pixels once.
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
from .divergence import gradient_fault, update_fault
from .files import save_image
from .intensity import METHODS, Normalization
from .masks import CLASS_ADVICE_LIMIT, MODES
from .memory import check_training_fits
from .pictures import loss_curve
from .tiling import margin
from .unet import MAX_DEPTH, SGD, UNet, check_input_size, output_size, read_npz, write_npz
from .validation import SCHEDULES, cross_entropy, learning_rate, split, validate

__all__ = ["Settings", "TileSampler", "TrainingDiverged", "load_data", "read_directory", "train",
           "epoch_steps", "epoch_batches",
           "resume", "save_checkpoint", "load_checkpoint", "CHECKPOINT", "BEST"]

CHECKPOINT = "model.npz"
BEST = "best.npz"
SYNTHETIC_SIDE = 128


class TrainingDiverged(RuntimeError):
    """The loss, a gradient, an update or the weights diverged (see :mod:`aplnet.divergence`)."""


@dataclasses.dataclass
class Settings:
    """Everything that determines a training run (stored in its checkpoint).

    ``data`` is ``"synthetic"`` or a directory holding ``images/`` and
    ``masks/`` (or ``train-volume.tif`` and ``train-labels.tif``). ``size``
    is the side of the input tiles; ``images`` the count of synthetic images
    (ignored for a directory). ``w0`` and ``sigma`` shape the weight map
    (``w0 = 0`` keeps only the class balance); ``elastic`` is the standard
    deviation, in pixels, of the elastic deformation (0 turns it off).
    ``steps_per_epoch`` 0 means enough steps to cover the training pixels
    once. ``val`` is a directory of held-out images (as ``data``) or ``""``;
    ``val_split`` the share of the training images to hold out instead (0:
    none); ``patience`` the epochs without a better held-out Dice after
    which training stops (0: never); ``lr_schedule`` one of
    :data:`aplnet.validation.SCHEDULES` (see
    :func:`aplnet.validation.learning_rate`).
    ``normalize`` scales the images (:mod:`aplnet.intensity`: ``percentile``,
    ``range`` or ``none``), the same way again at prediction; ``masks`` says
    how to read the labels (:mod:`aplnet.masks`: ``auto``, ``classes`` or
    ``instances``).
    ``bias`` gives every convolution a bias, as convolutions have by
    default in Caffe, the paper's framework. Without biases every layer's
    input is non-negative (the image in [0, 1], ReLU outputs), so the
    network can lower its foreground score on most pixels only by switching
    units off; once every unit of the narrow top level is off, the output
    is constant and every gradient zero, for good (measured on real nuclei:
    see the README, "Your own data"). The defaults ``lr = 0.001`` and
    ``epochs = 120`` with the paper's momentum 0.99 were chosen there too:
    at 0.003 runs ended swinging between growing and shrinking the nuclei.
    """

    data: str = "synthetic"
    size: int = 124
    depth: int = 3
    width: int = 8
    epochs: int = 120
    batch: int = 4
    lr: float = 0.001
    momentum: float = 0.99
    seed: int = 0
    classes: int = 2
    images: int = 64
    w0: float = 10.0
    sigma: float = 5.0
    elastic: float = 4.0
    steps_per_epoch: int = 0
    val: str = ""
    val_split: float = 0.0
    patience: int = 0
    lr_schedule: str = "constant"
    normalize: str = "percentile"
    masks: str = "auto"
    bias: bool = True

    def check(self):
        """Self, after checking each field; DomainError names the first bad one."""
        for name in ("size", "depth", "width", "epochs", "batch", "classes", "images"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise DomainError(f"train: --{name} must be a positive integer; got {value!r}")
        if self.depth > MAX_DEPTH:
            raise DomainError(f"train: --depth must be at most {MAX_DEPTH}; got {self.depth}")
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
        if not isinstance(self.bias, bool):
            raise DomainError(f"train: bias must be true or false; got {self.bias!r}")
        check_input_size(self.size, self.depth, "train: --size")
        self._check_validation()
        return self

    def _check_validation(self):
        for name in ("steps_per_epoch", "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise DomainError(f"train: --{name.replace('_', '-')} must be a non-negative "
                                  f"integer; got {value!r}")
        if not 0 <= self.val_split < 1:
            raise DomainError(f"train: --val-split must be in [0, 1); got {self.val_split}")
        if self.val and self.val_split:
            raise DomainError(f"train: give --val {self.val} or --val-split "
                              f"{self.val_split}, not both")
        if self.patience and not (self.val or self.val_split):
            raise DomainError(f"train: --patience {self.patience} needs held-out images; "
                              f"give --val DIR or --val-split F")
        if self.lr_schedule not in SCHEDULES:
            raise DomainError(f"train: --lr-schedule must be one of {', '.join(SCHEDULES)}; "
                              f"got {self.lr_schedule!r}")


# ------------------------------------------------------------------ data


def load_data(settings):
    """The training samples the settings name (synthetic, or read from a directory)."""
    if settings.data == "synthetic":
        side = max(SYNTHETIC_SIDE, output_size(settings.size, settings.depth))
        return synthetic_cells(settings.images, side, settings.seed)
    return read_directory(settings.data, "--data", "'synthetic' or a directory")


def read_directory(root, option="--data", what="a directory"):
    """The samples of a data directory: ``images/`` and ``masks/``, or the ISBI stacks.

    Raises
    ------
    DomainError
        ``root`` is not a directory or holds neither; the message names
        the ``option`` that gave it.
    """
    if not os.path.isdir(root):
        raise DomainError(f"{option} must be {what}; {root} is neither")
    folders = os.path.join(root, "images"), os.path.join(root, "masks")
    stacks = os.path.join(root, "train-volume.tif"), os.path.join(root, "train-labels.tif")
    for images, masks in (folders, stacks):
        if os.path.exists(images) and os.path.exists(masks):
            return load_folder(images, masks)
    raise DomainError(f"{option}: {root} must hold images/ and masks/ folders, or the ISBI "
                      f"stacks train-volume.tif and train-labels.tif")


def load_datasets(settings):
    """``(train, held_out)``: the training samples and the held-out ones (or None).

    Held out are the images of ``settings.val``, or a seeded share
    ``settings.val_split`` of the training images (see
    :func:`aplnet.validation.split`).
    """
    samples = load_data(settings)
    if settings.val:
        return samples, read_directory(settings.val, "--val")
    if settings.val_split:
        return split(samples, settings.val_split, settings.seed)
    return samples, None


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
        self.area = 0
        instances = [None] * len(samples.images) if instances is None else instances
        for image, mask, objects in zip(samples.images, samples.masks, instances):
            h, w = mask.shape
            self.area += h * w
            pads = ((m, m + max(0, self.out - h)), (m, m + max(0, self.out - w)))
            self.images.append(np.pad(image, pads + ((0, 0),), mode="reflect"))
            self.masks.append(np.pad(mask, pads, mode="reflect"))
            self.weights.append(np.pad(weight_map(mask, w0, sigma, objects), pads,
                                       mode="reflect"))
            self.spans.append((max(0, h - self.out), max(0, w - self.out)))

    def __len__(self):
        return len(self.images)

    def steps_to_cover(self, batch):
        """Steps of ``batch`` tiles whose outputs add up to the images' area at least."""
        return max(1, -(-self.area // (self.out * self.out * batch)))

    def draw(self, rng, count):
        """``count`` image indices, each image as often as it has tile positions."""
        positions = np.array([(a + 1) * (b + 1) for a, b in self.spans], float)
        return rng.choice(len(positions), size=count, p=positions / positions.sum())

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
        """Tiles of the images ``indices`` (a uniform position in each), stacked: ``(x, labels, weights)``."""
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
            stored.setdefault("bias", net.bias)   # runs from before bias was a setting
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
    _check_validation_state(state)


def _check_validation_state(state):
    """The per-epoch ``ce`` and ``val`` lists, ``best`` and ``stopped``, filled in if absent."""
    state.setdefault("ce", [])
    state.setdefault("val", [])
    state.setdefault("best", None)
    state.setdefault("stopped", False)
    for key in ("ce", "val"):
        if not isinstance(state[key], list):
            raise ValueError(f"state[{key!r}] must be a list; got {state[key]!r}")
    best = state["best"]
    if best is not None and not (isinstance(best, dict) and isinstance(best.get("epoch"), int)
                                 and isinstance(best.get("dice"), (int, float))):
        raise ValueError(f"state['best'] must be null or {{'epoch': int, 'dice': float}}; "
                         f"got {best!r}")
    if not isinstance(state["stopped"], bool):
        raise ValueError(f"state['stopped'] must be true or false; got {state['stopped']!r}")


# --------------------------------------------------------------- training


def epoch_steps(sampler, settings):
    """The steps of one epoch: ``settings.steps_per_epoch``, or if 0 enough to cover the images once.

    >>> from aplnet.data import synthetic_cells
    >>> sampler = TileSampler(synthetic_cells(2, 64, seed=0), size=20, depth=2)
    >>> sampler.out, epoch_steps(sampler, Settings(batch=4))   # 2 * 64 * 64 / (4 * 4 * 4)
    (4, 128)
    >>> epoch_steps(sampler, Settings(steps_per_epoch=3))
    3
    """
    return settings.steps_per_epoch or sampler.steps_to_cover(settings.batch)


def epoch_batches(sampler, settings, epoch):
    """The training batches of epoch ``epoch`` (1, 2, …), in order: ``(x, labels, weights)`` per step.

    The tiles and their augmentations come from a generator seeded by
    ``(settings.seed, epoch)``: the images of all
    :func:`epoch_steps` steps are drawn first (:meth:`TileSampler.draw`),
    then each step's tiles are cut (:meth:`TileSampler.batch`). :func:`train`
    takes its steps on exactly these batches; so can another framework
    (``benchmarks/real_nuclei.py`` trains PyTorch on them).

    >>> from aplnet.data import synthetic_cells
    >>> sampler = TileSampler(synthetic_cells(2, 64, seed=0), size=20, depth=2)
    >>> settings = Settings(size=20, depth=2, steps_per_epoch=3)
    >>> [x.shape for x, labels, weights in epoch_batches(sampler, settings, 1)]
    [(4, 20, 20, 1), (4, 20, 20, 1), (4, 20, 20, 1)]
    >>> first, again = (next(epoch_batches(sampler, settings, 1)) for _ in "ab")
    >>> all(np.array_equal(a, b) for a, b in zip(first, again))
    True
    """
    rng = np.random.default_rng([settings.seed, epoch])
    steps = epoch_steps(sampler, settings)
    chosen = sampler.draw(rng, steps * settings.batch)
    for step in range(steps):
        yield sampler.batch(rng, chosen[step * settings.batch:(step + 1) * settings.batch])


def _epoch(net, opt, sampler, settings, epoch, progress, note=""):
    """One epoch of :func:`epoch_batches`: per-step losses, accuracies and unweighted cross-entropies."""
    steps = epoch_steps(sampler, settings)
    losses, accuracies, entropies = [], [], []
    seen, start = 0, time.perf_counter()
    bar = tqdm(zip(range(steps), epoch_batches(sampler, settings, epoch)), total=steps,
               desc=f"epoch {epoch}/{settings.epochs}", unit="step", file=sys.stderr,
               disable=None if progress is None else not progress, leave=False,
               dynamic_ncols=True)
    for step, (x, labels, weights) in bar:
        with np.errstate(all="ignore"):   # a non-finite loss is caught just below
            # The batch whole, not in UNet.loss_and_grad's halves: those agree to float32
            # rounding, but 120 epochs at momentum 0.99 carry a rounding apart, and the
            # real nuclei's seed 0 ended at Dice 0.786 in halves against 0.904 whole.
            logits, tape = net.forward(x.astype(net.dtype, copy=False))
            loss, dlogits = net.loss(logits, labels, weights)
            grads = net.backward(dlogits, tape)
        fault = gradient_fault(loss, grads)
        if fault is None:
            with np.errstate(over="ignore", invalid="ignore"):   # named by update_fault
                opt.step(grads)
            fault = update_fault(opt.params, opt.velocity)
        if fault is not None:
            raise TrainingDiverged(f"epoch {epoch}, step {step + 1}: {fault}")
        losses.append(loss)
        entropies.append(cross_entropy(logits, labels))
        accuracies.append(float(np.mean(logits.argmax(-1) == labels)))
        seen += len(x)
        rate = seen / (time.perf_counter() - start)
        bar.set_postfix_str(f"loss {loss:.4f} ce {entropies[-1]:.4f} acc {accuracies[-1]:.3f} "
                            f"{rate:.1f} img/s{note}")
    return losses, accuracies, entropies, seen / (time.perf_counter() - start)


def _stop_reason(settings, state):
    """Why a run with this state stops early, or "" (``--patience`` epochs without a better Dice)."""
    best = state["best"]
    if not settings.patience or best is None or state["epoch"] - best["epoch"] < settings.patience:
        return ""
    return (f"stopped early at epoch {state['epoch']}: no better held-out Dice in "
            f"{settings.patience} epochs (--patience) since epoch {best['epoch']} "
            f"(Dice {best['dice']:.4f})")


def _fit(net, opt, sampler, held_out, settings, state, out, log, progress):
    """Train from ``state['epoch'] + 1`` to ``settings.epochs``, checkpointing each epoch."""
    path, best_path = os.path.join(out, CHECKPOINT), os.path.join(out, BEST)
    for epoch in range(state["epoch"] + 1, settings.epochs + 1):
        start = time.perf_counter()
        opt.lr = learning_rate(settings.lr_schedule, settings.lr, epoch, settings.epochs)
        last = state["val"][-1] if state["val"] else None
        note = f" | val IoU {last['iou']:.3f} Dice {last['dice']:.3f}" if last else ""
        try:
            losses, accuracies, entropies, rate = _epoch(net, opt, sampler, settings, epoch,
                                                         progress, note)
        except TrainingDiverged as err:
            kept = (f"the last good checkpoint, epoch {state['epoch']}, is {path}"
                    if state["epoch"] else "no checkpoint was written")
            raise TrainingDiverged(f"training stopped: {err}; {kept}. Try a smaller --lr "
                                   f"(now {settings.lr}).") from None
        state = {**state, "epoch": epoch, "losses": state["losses"] + losses,
                 "accuracy": state["accuracy"] + [float(np.mean(accuracies))],
                 "ce": state["ce"] + [float(np.mean(entropies))]}
        line = (f"epoch {epoch}/{settings.epochs}  loss {np.mean(losses):.4f}  "
                f"ce {np.mean(entropies):.4f}  acc {np.mean(accuracies):.3f}")
        if held_out is not None:
            scores = validate(net, held_out, settings.size)
            state["val"] = state["val"] + [scores]
            if state["best"] is None or scores["dice"] > state["best"]["dice"]:
                state["best"] = {"epoch": epoch, "dice": scores["dice"]}
            line += (f"  val IoU {scores['iou']:.3f} Dice {scores['dice']:.3f} "
                     f"(best {state['best']['dice']:.3f}, epoch {state['best']['epoch']})")
        state["seconds"] = state["seconds"] + time.perf_counter() - start
        reason = _stop_reason(settings, state)
        state["stopped"] = bool(reason)
        if state["best"] is not None and state["best"]["epoch"] == epoch:
            save_checkpoint(best_path, net, opt, settings, state)
        save_checkpoint(path, net, opt, settings, state)
        save_image(loss_curve(state["losses"], epoch_steps(sampler, settings),
                              title="training loss per step"), os.path.join(out, "loss.png"))
        if settings.lr_schedule != "constant":
            line += f"  lr {opt.lr:.3g}"
        log(f"{line}  {rate:.1f} img/s  -> {path}")
        if reason:
            log(f"{reason}; the best network is {best_path}")
            break
    return state


def _prepare(settings, samples, held_out, in_channels, classes):
    """``(sampler, held_out, notes)``: both sets ready, the tile sampler, lines for the log.

    The training and the held-out images are normalised and their masks
    read alike, as the settings say (:func:`aplnet.data.prepare_samples`),
    then checked against the network's channels and classes.
    """
    ready, notes = [], []
    for data in (samples, held_out):
        if data is None:
            ready.append((None, None))
            continue
        if len(data.images) == 0:
            raise DomainError("train: no training images" if data is samples else
                              "train: no held-out images")
        data, instances, said = prepare_samples(data, Normalization(settings.normalize),
                                                classes, settings.masks)
        check_samples(data, in_channels, classes)
        notes += [line for line in said if line not in notes]
        ready.append((data, instances))
    (samples, instances), (held_out, _) = ready
    sampler = TileSampler(samples, settings.size, settings.depth, settings.w0, settings.sigma,
                          settings.elastic, instances)
    return sampler, held_out, notes


def train(settings, out, log=print, progress=None, samples=None, held_out=None,
          before_writing=None):
    """Train a new U-Net as ``settings`` say, writing the run to directory ``out``.

    Parameters
    ----------
    settings : Settings
    out : str
        Run directory (created); ``out/model.npz`` and ``out/loss.png`` are
        rewritten after each epoch, ``out/best.npz`` after each epoch that
        improves the held-out Dice.
    log : callable
        Receives one summary line per epoch.
    progress : bool or None
        Progress bar on stderr: True, False, or None (only on a terminal).
    samples : Samples, optional
        Training data to use instead of loading ``settings.data`` (and
        splitting it as ``settings.val_split`` says).
    held_out : Samples, optional
        Held-out data to score after each epoch, with ``samples``.
    before_writing : callable, optional
        Called with ``out`` once the data has been read and checked, before
        anything is written (``aplnet train --overwrite`` clears the old run
        there, so bad data does not cost the old run).

    Returns
    -------
    net : UNet
    state : dict
        ``epoch``, per-step ``losses``, per-epoch ``accuracy`` and ``ce``
        (unweighted cross-entropy), ``val`` (per-epoch held-out ``iou`` and
        ``dice``), ``best`` (``epoch`` and ``dice``, or None), ``stopped``
        (by ``patience``), ``seconds``.

    Raises
    ------
    DomainError, LengthError
        Bad settings or data (messages name the option or the file), or a
        step that memory cannot hold (checked before anything is allocated;
        the message gives the estimate of :mod:`aplnet.memory` and the
        memory available).
    TrainingDiverged
        The loss or a gradient became NaN or infinite, or an update or the
        weights grew far beyond their initial scale (see
        :mod:`aplnet.divergence`); the last good checkpoint is kept.
    """
    settings.check()
    # before the data is made or read: the input's channels barely move the estimate
    check_training_fits({"depth": settings.depth, "width": settings.width,
                         "classes": settings.classes}, settings.size, settings.batch)
    if samples is None:
        samples, held_out = load_datasets(settings)
    if len(samples.images) == 0:
        raise DomainError("train: no training images")
    in_channels = samples.images[0].shape[-1]
    sampler, held_out, notes = _prepare(settings, samples, held_out, in_channels,
                                        settings.classes)
    net = UNet(settings.depth, settings.width, in_channels, settings.classes,
               bias=settings.bias, seed=settings.seed)
    net.normalization = Normalization(settings.normalize)
    opt = SGD(net.params, settings.lr, settings.momentum)
    if before_writing is not None:
        before_writing(out)
    os.makedirs(out, exist_ok=True)
    for note in notes:
        log(note)
    state = {"epoch": 0, "losses": [], "accuracy": [], "seconds": 0.0}
    _check_validation_state(state)
    held = f", {len(held_out.images)} held out" if held_out is not None else ""
    log(f"training {net!r}: {net.n_params:,} parameters, {len(sampler)} images{held}, "
        f"tiles {settings.size} -> {sampler.out}, {settings.epochs} epochs of "
        f"{epoch_steps(sampler, settings)} steps")
    return net, _fit(net, opt, sampler, held_out, settings, state, out, log, progress)


def resume(out, changes=None, log=print, progress=None):
    """Continue the run in directory ``out`` from its last checkpoint.

    Parameters
    ----------
    out : str
        A run directory written by :func:`train`.
    changes : dict, optional
        Settings given again; only ``epochs`` may differ from the run's
        (to train longer), any other difference is an error. A run stopped
        by ``patience`` stays stopped.

    Returns
    -------
    net, state
        As :func:`train`.
    """
    net, opt, settings, state = load_checkpoint(os.path.join(out, CHECKPOINT))
    for name, value in (changes or {}).items():
        if name != "epochs" and value != getattr(settings, name):
            raise DomainError(f"train --resume: --{name.replace('_', '-')} {value} differs "
                              f"from the run's {getattr(settings, name)}; a resumed run keeps "
                              f"its settings (only --epochs may change)")
    if changes and "epochs" in changes:
        settings = dataclasses.replace(settings, epochs=changes["epochs"])
    settings.check()
    check_training_fits(net, settings.size, settings.batch)
    samples, held_out = load_datasets(settings)
    sampler, held_out, notes = _prepare(settings, samples, held_out, net.in_channels,
                                        net.classes)
    if state["stopped"]:
        log(f"{out}: {_stop_reason(settings, state)}; not resuming")
        return net, state
    if state["epoch"] >= settings.epochs:
        log(f"{out}: already trained for {state['epoch']} of {settings.epochs} epochs; "
            f"pass a larger --epochs to continue")
        return net, state
    for note in notes:
        log(note)
    log(f"resuming {out} at epoch {state['epoch'] + 1} of {settings.epochs}")
    return net, _fit(net, opt, sampler, held_out, settings, state, out, log, progress)
