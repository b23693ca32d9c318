"""Images larger than memory: overlap-tile prediction block by block with Dask.

The same overlap-tile as :mod:`aplnet.tiling`, cut by the same
:func:`aplnet.tiling.tile_grid`, but lazy: the image is read a region at a
time (tifffile), mirrored outward by the network's margin (numpy's
``'reflect'``, the edge pixel not repeated — Dask's own
``boundary='reflect'`` repeats it, numpy's ``'symmetric'``, so the mirror is
made with ``dask.array.pad`` and the overlap taken with ``boundary='none'``),
and each block of output computed from its tile by
``dask.array.map_overlap``. A block's overlap ("depth") is the margin on
the left and the margin plus ``out − stride`` on the right, so that every
block reads exactly the tile :func:`aplnet.tiling.predict` reads, and
the results are equal to the last bit. (Each block is one tile through the
network; ``tiling.predict`` passes ``batch`` tiles at once, other matrix
shapes for BLAS, which for some nets and tiles differ from one tile at a
time in the last bit: with ``batch=1`` the two are always equal.)

Output goes to zarr (a directory) or to a TIFF, written under a temporary
name and renamed when complete. The local threaded scheduler runs by
default; a ``dask.distributed`` scheduler address runs it on a cluster.

dask, distributed, zarr and tifffile are an optional extra
(``pip install "aplnet[dask]"``), imported when a function here is called.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile

import numpy as np

from . import layers
from .apl import DomainError, LengthError, RankError
from .data import read_image
from .tiling import margin, predict as predict_in_memory, tile_grid

__all__ = ["predict", "segment", "predict_file", "open_image", "TiffRegions", "write_labels",
           "OUTPUT_SUFFIXES"]

OUTPUT_SUFFIXES = (".zarr", ".tif", ".tiff")
"""Output names that select the lazy road in ``aplnet predict``."""

STORED = (np.dtype(np.uint8), np.dtype(np.uint16))
"""The integer sample types read lazily (besides floats)."""

SAMPLE_PIXELS = 4096 * 4096
"""At most this many pixels, evenly strided, give a large image's percentiles."""


class TiffRegions:
    """A TIFF page as an array-like that reads only the region asked for.

    Dask slices it chunk by chunk; each slice opens the file and reads the
    region through tifffile's zarr store, so a graph holds only the path
    (it pickles small, for a cluster's workers). Values come as stored, as
    :func:`aplnet.data.read_image` gives them, ``(H, W, C)``; the network's
    normalisation is applied afterwards (:func:`normalized`).

    Parameters
    ----------
    path : str
        A single-page (or single-series, one image) TIFF.

    Raises
    ------
    DomainError
        Not a TIFF, several images, or samples of another type; the
        message names the file.
    """

    def __init__(self, path):
        import tifffile

        self.path = os.fspath(path)
        try:
            with tifffile.TiffFile(self.path) as tif:
                series = tif.series[0]
                shape, dtype, axes = series.shape, np.dtype(series.dtype), series.axes
        except Exception as err:  # tifffile raises TiffFileError, ValueError, struct.error …
            raise DomainError(f"{self.path}: not a readable TIFF ({type(err).__name__}: "
                              f"{err})") from None
        if dtype not in STORED and dtype.kind != "f":
            raise DomainError(f"{self.path}: samples of {dtype} are not read lazily "
                              f"(8- or 16-bit unsigned, or float)")
        squeezed = [(n, a) for n, a in zip(shape, axes) if n != 1 or a in "YX"]
        names = "".join(a for _, a in squeezed)
        if names not in ("YX", "YXS"):
            raise DomainError(f"{self.path}: one image (height, width[, samples]) is read "
                              f"lazily; this file holds {shape} ({axes})")
        self.source_axes = axes
        self.shape = tuple(n for n, _ in squeezed) + ((1,) if names == "YX" else ())
        self.dtype = dtype
        self.ndim = 3

    def __getitem__(self, key):
        import tifffile
        import zarr

        spatial = iter(key[:2])
        index = tuple(next(spatial) if axis in "YX" else slice(None) if axis == "S" else 0
                      for axis in self.source_axes)
        with tifffile.TiffFile(self.path) as tif:
            store = tif.series[0].aszarr()
            try:
                region = np.asarray(zarr.open_array(store, mode="r")[index])
            finally:
                store.close()
        region = region.reshape(region.shape[:2] + (-1,))
        region = region[..., key[2] if len(key) > 2 else slice(None)]
        if region.dtype.kind == "f" and not np.isfinite(region).all():
            raise DomainError(f"{self.path}: the image holds NaN or Inf values")
        return region


def open_image(path, chunks=None):
    """An image file as a lazy ``(H, W, C)`` dask array, values as stored.

    A TIFF is read region by region (:class:`TiffRegions`); any other image
    :func:`aplnet.data.read_image` reads (a PNG) is read whole, as it cannot
    be read in parts.

    Parameters
    ----------
    path : str
    chunks : dask chunks, optional
        Default: 1024-pixel squares.

    Raises
    ------
    DomainError
        A missing file, or one that is not an image (or holds several).
    """
    import dask.array as da

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DomainError(f"{path}: no such image file")
    chunks = chunks or (1024, 1024, -1)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return da.from_array(TiffRegions(path), chunks=chunks, asarray=False, fancy=False,
                             name=f"tiff-{os.path.abspath(path)}-{os.path.getmtime(path)}")
    pages = read_image(path)
    if len(pages) != 1:
        raise DomainError(f"{path}: holds {len(pages)} images; the lazy road takes one")
    return da.from_array(pages[0], chunks=chunks)


def _axis_chunks(axis, length, margin_):
    """Chunks of the mirrored axis (map_overlap's input) and of the output axis."""
    tile, out, stride, count, padded = axis
    if count == 1:
        return (padded,), (length,)
    mirrored = (margin_ + stride,) + (stride,) * (count - 2) + (tile - margin_,)
    return mirrored, (stride,) * (count - 1) + (length - (count - 1) * stride,)


def predict(net, image, tile=None):
    """Class probabilities of every pixel, lazily: equal to :func:`aplnet.tiling.predict`.

    Parameters
    ----------
    net : UNet
    image : dask array or ndarray (H, W, in_channels), floating
        E.g. :func:`open_image`'s; converted to the network's dtype.
    tile : int or (int, int), optional
        The input tile (one per block), as in :func:`aplnet.tiling.predict`;
        its stride must be at least the margin plus ``out − stride``.

    Returns
    -------
    dask array (H, W, classes)
        Chunked by the tile grid's stride; nothing is computed yet.

    Raises
    ------
    RankError, LengthError, TypeError, DomainError
        As :func:`aplnet.tiling.predict`, and a tile too small for its
        overlap.

    Examples
    --------
    >>> from aplnet.unet import UNet
    >>> from aplnet import tiling
    >>> net = UNet(depth=2, width=2)
    >>> image = np.random.default_rng(0).random((300, 200, 1), np.float32)
    >>> probs = predict(net, image, tile=64)
    >>> probs.chunks[:2]
    ((48, 48, 48, 48, 48, 48, 12), (48, 48, 48, 48, 8))
    >>> bool((probs.compute() == tiling.predict(net, image, tile=64, batch=1)).all())
    True
    """
    import dask.array as da

    if not isinstance(image, da.Array):
        if not isinstance(image, np.ndarray):
            raise TypeError(f"predict: image must be a dask or numpy array (H, W, C); got "
                            f"{type(image).__name__}")
        image = da.from_array(image, chunks=(1024, 1024, -1))
    if image.ndim != 3:
        raise RankError(f"predict: image must have shape (H, W, C); got shape {image.shape}")
    if image.shape[-1] != net.in_channels:
        raise LengthError(f"predict: the image has {image.shape[-1]} channel(s) but the network "
                          f"expects in_channels={net.in_channels}; got image.shape={image.shape}")
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"predict: image must hold floats (scaled as in training); "
                        f"got dtype {image.dtype}")
    h, w = image.shape[:2]
    grid = tile_grid(net, (h, w), tile)
    m = margin(net.depth)
    pads = [(m, axis.padded - n - m) for axis, n in zip(grid, (h, w))]
    if any(after >= n or m >= n for (_, after), n in zip(pads, (h, w))):
        # dask's pad mirrors once; numpy's mirrors again and again. An image
        # this small is one or two tiles: predict it in memory.
        whole = image.compute()
        return da.from_array(predict_in_memory(net, whole, tile, progress=False),
                             chunks=(grid[0].stride, grid[1].stride, -1))
    for axis in grid:
        if axis.count > 1 and axis.stride < m + axis.out - axis.stride:
            raise DomainError(f"predict: tile {axis.tile} is too small for the lazy road "
                              f"(its stride {axis.stride} is less than its overlap "
                              f"{m + axis.out - axis.stride}); use a larger --tile")
    (rows_in, rows_out), (cols_in, cols_out) = (
        _axis_chunks(axis, n, m) for axis, n in zip(grid, (h, w)))
    mirrored = da.pad(image.astype(net.dtype), pads + [(0, 0)], mode="reflect")
    mirrored = mirrored.rechunk((rows_in, cols_in, -1))
    keep = rows_out, cols_out

    def block(x, block_id=None):
        i, j = block_id[0], block_id[1]
        probs = layers.softmax(net(np.ascontiguousarray(x[None])))[0]
        return probs[:keep[0][i], :keep[1][j]]

    depth = {0: (m, m + grid[0].out - grid[0].stride),
             1: (m, m + grid[1].out - grid[1].stride), 2: 0}
    return da.map_overlap(block, mirrored, depth=depth, boundary="none", trim=False,
                          chunks=(rows_out, cols_out, (net.classes,)), dtype=net.dtype,
                          meta=np.empty((0, 0, 0), net.dtype))


def segment(net, image, tile=None):
    """The most probable class of every pixel, lazily: a uint8 ``(H, W)`` dask array.

    Equal to :func:`aplnet.tiling.segment` on the same image.

    >>> from aplnet.unet import UNet
    >>> from aplnet import tiling
    >>> net = UNet(depth=2, width=2, seed=1)
    >>> image = np.random.default_rng(1).random((250, 120, 1), np.float32)
    >>> labels = segment(net, image, tile=60)
    >>> labels.shape, labels.dtype.name
    ((250, 120), 'uint8')
    >>> bool((labels.compute() == tiling.segment(net, image, tile=60, batch=1)).all())
    True
    """
    return predict(net, image, tile).argmax(axis=-1).astype(np.uint8)


@contextlib.contextmanager
def _scheduler(address):
    if address is None:
        import dask

        with dask.config.set(scheduler="threads"):
            yield None
        return
    from distributed import Client

    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise DomainError(f"--scheduler {address}: cannot connect to a dask scheduler "
                          f"({type(err).__name__}: {err})") from None
    try:
        yield client
    finally:
        client.close()


def _temporary_path(out):
    folder = os.path.dirname(os.path.abspath(out)) or "."
    base = os.path.basename(os.path.normpath(out))
    return os.path.join(folder, f".tmp-{os.getpid()}-{base}")


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def write_labels(labels, out, overwrite=False, scheduler=None, progress=None):
    """Compute ``labels`` (a 2-D dask array) into ``out``, a .zarr directory or a .tif file.

    The result is written under a temporary name beside ``out`` and renamed
    when complete, so an interrupted run leaves nothing under ``out``.

    Parameters
    ----------
    labels : dask array (H, W)
    out : str
        Ends with ``.zarr`` (a zarr array, chunked as ``labels``) or
        ``.tif``/``.tiff`` (a plain TIFF, written one row of blocks at a time).
    overwrite : bool
        Replace an existing ``out``; otherwise it is refused.
    scheduler : str, optional
        A ``dask.distributed`` scheduler address; default: local threads.
    progress : bool or None
        A progress bar on stderr; None: only on a terminal.

    Raises
    ------
    DomainError
        ``out`` exists (without ``overwrite``), has another suffix, or the
        scheduler cannot be reached.

    Examples
    --------
    >>> import dask.array as da, zarr
    >>> folder = tempfile.mkdtemp()
    >>> out = os.path.join(folder, "labels.zarr")
    >>> write_labels(da.eye(5, chunks=2, dtype=np.uint8), out, progress=False)
    >>> zarr.open_array(out, mode="r")[...].trace(), os.listdir(folder)
    (np.uint64(5), ['labels.zarr'])
    >>> write_labels(da.eye(5, chunks=2, dtype=np.uint8), out)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    aplnet.apl.DomainError: .../labels.zarr: exists; refusing to overwrite it (give --overwrite)
    >>> shutil.rmtree(folder)
    """
    out = os.fspath(out)
    if not out.lower().rstrip("/").endswith(OUTPUT_SUFFIXES):
        raise DomainError(f"{out}: the output must end with .zarr, .tif or .tiff")
    if os.path.lexists(out) and not overwrite:
        raise DomainError(f"{out}: exists; refusing to overwrite it (give --overwrite)")
    show = sys.stderr.isatty() if progress is None else progress
    tmp = _temporary_path(out)
    _remove(tmp)
    try:
        with _scheduler(scheduler) as client:
            if out.lower().rstrip("/").endswith(".zarr"):
                _write_zarr(labels, tmp, client, show)
            else:
                _write_tiff(labels, tmp, show)
        if os.path.lexists(out):
            _remove(out)
        os.replace(tmp, out)
    except BaseException:
        _remove(tmp)
        raise


def _write_zarr(labels, path, client, show):
    import dask.array as da
    import zarr

    target = zarr.open_array(path, mode="w", shape=labels.shape, dtype=labels.dtype,
                             chunks=tuple(c[0] for c in labels.chunks))
    if client is None:
        from dask.diagnostics import ProgressBar

        bar = ProgressBar(out=sys.stderr) if show else contextlib.nullcontext()
        with bar:
            da.store(labels, target, lock=False)
        return
    from distributed import progress, wait

    future = client.compute(da.store(labels, target, lock=False, compute=False))
    if show:
        progress(future)
    wait(future)
    future.result()


def _write_tiff(labels, path, show):
    import tifffile
    from tqdm import tqdm

    target = tifffile.memmap(path, shape=labels.shape, dtype=labels.dtype)
    try:
        start = 0
        for i in tqdm(range(labels.numblocks[0]), desc="predict", unit="row of blocks",
                      disable=not show, file=sys.stderr, leave=False):
            rows = labels.blocks[i].compute()
            target[start:start + len(rows)] = rows
            start += len(rows)
        target.flush()
    finally:
        del target


def predict_file(net, path, out, tile=None, overwrite=False, scheduler=None, progress=None):
    """Segment one image file into ``out`` (.zarr or .tif): ``aplnet predict``'s lazy road.

    The labels (uint8 class indices, ``(H, W)``) equal
    :func:`aplnet.tiling.segment`'s on the same image; they are computed
    block by block and written as they come (:func:`write_labels`).

    Raises
    ------
    DomainError
        A missing or unreadable image, an existing ``out`` without
        ``overwrite``; the message names the file.
    LengthError
        An image whose channel count differs from the network's (named).
    """
    out = os.fspath(out)
    if not out.lower().rstrip("/").endswith(OUTPUT_SUFFIXES):
        raise DomainError(f"{out}: the output must end with .zarr, .tif or .tiff")
    if os.path.lexists(out) and not overwrite:
        raise DomainError(f"{out}: exists; refusing to overwrite it (give --overwrite)")
    image = open_image(path)
    if image.shape[-1] != net.in_channels:
        raise LengthError(f"{path}: the image has {image.shape[-1]} channel(s) but the "
                          f"network was trained on {net.in_channels}")
    image = normalized(image, net.normalization, os.fspath(path))
    write_labels(segment(net, image, tile), out, overwrite, scheduler, progress)
    return out


def normalized(image, how, name="image"):
    """A lazy image as stored, normalised as ``how`` says (the network's training did).

    The bounds come from the whole image when it has at most
    :data:`SAMPLE_PIXELS` pixels (then every value equals
    :func:`aplnet.intensity.normalize`'s), else from every k-th row and
    column, about that many pixels: a percentile of an evenly strided
    sample, close to the whole image's without reading it into memory
    twice. The rescaling runs block by block.

    >>> import dask.array as da
    >>> from aplnet.intensity import Normalization, normalize
    >>> stored = np.arange(24, dtype=np.uint16).reshape(4, 6, 1) * 100
    >>> lazy_image = normalized(da.from_array(stored, chunks=(2, 3, 1)), Normalization())
    >>> bool(np.array_equal(lazy_image.compute(), normalize(stored)))
    True
    """
    from .intensity import bounds, rescale

    h, w = image.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(h * w / SAMPLE_PIXELS))))
    lo, hi = bounds(np.asarray(image[::step, ::step].compute()), how, name)
    return image.map_blocks(rescale, lo, hi, dtype=np.float32)
