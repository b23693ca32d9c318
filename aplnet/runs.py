"""Run folders: one run at a time in each, and no run replaced by accident.

A run folder (``aplnet train --out RUN``) holds the checkpoint ``model.npz``
and the chart ``loss.png``. While a run trains or resumes in it, it also
holds the lock file ``.aplnet.lock``, which names the process holding it:

==============================  ================================================
``run_lock``                    hold the folder's lock for a block of code
``describe_run``                what a folder holds: a run (epochs done of how
                                many), or nothing
``refuse_existing_run``         a DomainError if a new run would replace one
``clear_run``                   remove a run's files, for ``--overwrite``
``remove_stale_temporaries``    the ``.tmp-*.npz`` and ``.png`` a run killed
                                while writing left behind
==============================  ================================================

The lock is ``flock(2)`` on the lock file. The kernel drops it when its
holder exits in any way, ``kill -9`` included, so a lock file left by a
killed run is simply taken over by the next one: no pid has to be judged
alive or dead, and the pid in the file only serves to name the holder in a
refusal. The holder removes the file when it lets go; a process that opened
the file just before that checks, once it holds the lock, that the file it
locked is still the one in the folder, and starts again if not.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import socket

import numpy as np

from .apl import DomainError
from .files import TEMPORARY_PREFIX, output_folder
from .train import BEST, CHECKPOINT

__all__ = ["LOCK_FILE", "LOSS_CHART", "RunBusy", "run_lock", "describe_run",
           "refuse_existing_run", "clear_run", "remove_stale_temporaries"]

LOCK_FILE = ".aplnet.lock"
LOSS_CHART = "loss.png"


class RunBusy(DomainError):
    """Another process holds the run folder's lock."""


def _holder(fd):
    """What the lock file open as ``fd`` says about its holder."""
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "a process that has not written its pid yet"


def _acquire(folder, what):
    """The open lock file of ``folder``, locked by this process; RunBusy if another holds it."""
    path = os.path.join(folder, LOCK_FILE)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise OSError(err.errno, f"cannot make the run's lock file ({err.strerror})",
                          path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunBusy(f"{what} {folder} is in use by another run ({holder}) until it "
                          f"ends") from None
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)    # its holder removed it as we opened it: lock the new one
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    return fd


@contextlib.contextmanager
def run_lock(folder, what="--out"):
    """Hold the lock of run folder ``folder`` (made if needed) for the ``with`` block.

    Parameters
    ----------
    folder : str or PathLike
    what : str
        How to name the folder in messages (the option that gave it).

    Raises
    ------
    RunBusy
        Another live process holds the lock; the message names its pid and host.
    DomainError, OSError
        ``folder`` cannot be made or written (see :func:`aplnet.files.output_folder`).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as top:
    ...     with run_lock(top):
    ...         try:
    ...             with run_lock(top):
    ...                 pass
    ...         except RunBusy as err:
    ...             print(str(err).split("(")[1].startswith(f"pid {os.getpid()} on "))
    ...     print(os.listdir(top))
    True
    []
    """
    with output_folder(folder, what) as path:
        fd = _acquire(path, what)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(path, LOCK_FILE))
            os.close(fd)


def describe_run(folder):
    """What run folder ``folder`` holds, in words, or None if it holds no checkpoint.

    >>> describe_run("/nonexistent") is None
    True
    """
    path = os.path.join(folder, CHECKPOINT)
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            done = json.loads(str(z["train/state"]))["epoch"]
            total = json.loads(str(z["train/settings"]))["epochs"]
    except Exception:  # a damaged or foreign .npz: still not to be replaced unasked
        return f"{CHECKPOINT}, which cannot be read as a training checkpoint"
    return f"a run with {done} of {total} epochs done"


def refuse_existing_run(folder, overwrite=False):
    """A DomainError if ``folder`` holds a run and ``overwrite`` is not set.

    >>> refuse_existing_run("/nonexistent")
    """
    what = describe_run(folder)
    if what is not None and not overwrite:
        raise DomainError(f"--out {folder} holds {what}; continue it with --resume {folder}, "
                          f"replace it with --overwrite, or choose another --out")


def remove_stale_temporaries(folder):
    """Remove the ``.tmp-*.npz`` and ``.tmp-*.png`` of a run killed while writing; their names.

    Only safe under :func:`run_lock`: no live run is then writing one.
    """
    where = glob.escape(os.fspath(folder))
    stale = sorted(path for suffix in (".npz", ".png")
                   for path in glob.glob(os.path.join(where, f"{TEMPORARY_PREFIX}*{suffix}")))
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return stale


def clear_run(folder):
    """Remove a run's checkpoints, loss chart and stale temporaries (under :func:`run_lock`)."""
    for name in (CHECKPOINT, BEST, LOSS_CHART):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(folder, name))
    remove_stale_temporaries(folder)
